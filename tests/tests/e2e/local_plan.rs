//! Release plans on the local platform, end to end: `bluegreen release` with the daemon
//! driving the plan through 5/25/50 → 100 under load, the smoke test on the test listener,
//! the gates reading the proxy's counters, and the exit codes and `--json` a pipeline reads.

use std::time::Duration;

use bluegreen::rollout::Color;
use bluegreen_tests::local::{Load, LocalPlatform, text};
use serde_json::Value;

const CLIENTS: usize = 8;

async fn cli(p: &LocalPlatform, args: &[&str]) -> (i32, Value, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let state = p.state.clone();
    let out = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        bluegreen_tests::local::bluegreen(&state, state.parent().unwrap_or(&state), &refs)
    })
    .await
    .expect("joined");
    let code = out.status.code().unwrap_or(-1);
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code, doc, text(&out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_release_walks_its_steps_under_load_and_fails_no_request() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    p.first_release("v1", 2).await;
    let load = Load::start(p.production, CLIENTS, 1_000_000, Duration::from_secs(240));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, doc, out) = cli(
        &p,
        &[
            "release",
            "--tag",
            "v2",
            "--steps",
            "5,25,50",
            "--hold",
            "3",
            "--interval",
            "1",
            "--bake",
            "1",
            "--until-paused",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "released: {out}");
    let r = &doc["release"];
    assert_eq!(r["outcome"]["outcome"], "released", "{doc:#}");
    assert_eq!(r["canary"], "green");
    assert_eq!(r["tag"], "v2");
    let report = load.stop().await;
    assert!(
        report.requests > 1000,
        "the load ran: {} requests",
        report.requests
    );
    assert!(
        report.transport_errors.is_empty() && report.bad_status.is_empty(),
        "no request failed: {:?}",
        report.failed_requests()
    );
    let snap = p.platform.snapshot().await.expect("snapshot");
    assert_eq!(snap.stable(), Some(Color::Green));
    assert_eq!(snap.live(), Some(Color::Green));
    // `status --json` keeps the ended release and its last gate values.
    let (code, status, out) = cli(&p, &["status", "--json"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        status["release"]["release"]["outcome"]["outcome"],
        "released"
    );
    // A second release of the same tag goes to blue now; abort before any step is refused
    // once it is over.
    let (code, _, out) = cli(&p, &["abort"]).await;
    assert_eq!(code, 3, "nothing to abort: {out}");
    assert!(out.contains("is over"), "{out}");
}
