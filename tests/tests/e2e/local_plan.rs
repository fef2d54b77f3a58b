//! Release plans on the local platform, end to end: `bluegreen release` with the daemon
//! driving the plan through 5/25/50 → 100 under load, the smoke test on the test listener,
//! the gates reading the proxy's counters, and the exit codes and `--json` a pipeline reads.

use std::time::Duration;

use bluegreen::rollout::Color;
use bluegreen_tests::local::{Load, LocalPlatform};
use serde_json::Value;

const CLIENTS: usize = 8;

async fn cli(p: &LocalPlatform, args: &[&str]) -> (i32, Value, String) {
    p.cli_json(args).await
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
            "--until",
            "paused",
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

/// The bound on requests a bad canary may fail before the rollback is in force: the canary's
/// share × the fault rate × the detection time × the request rate. The fault starts as the
/// step starts, so the detection time is at most the step's first metrics window (2 s: the
/// proxy samples each second and a window never reaches before its step), then one gate
/// interval (1 s here), plus the time the driver takes to read the gates and make the one
/// weight change, bounded here at 0.5 s.
fn failure_bound(requests_per_sec: f64, share: f64, fault_rate: f64, interval_secs: f64) -> f64 {
    requests_per_sec * share * fault_rate * (2.0 + interval_secs + 0.5)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_answering_20_percent_5xx_is_rolled_back_by_its_gate() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    p.first_release("v1", 2).await;
    let load_started = std::time::Instant::now();
    let load = Load::start(p.production, CLIENTS, 1_000_000, Duration::from_secs(240));
    let (code, doc, out) = cli(
        &p,
        &[
            "release",
            "--tag",
            "v2",
            "--steps",
            "10,50",
            "--hold",
            "60",
            "--interval",
            "1",
            "--detach",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "detached: {out}");
    let id = doc["release"]["id"].as_str().expect("an id").to_string();
    // Once the canary holds step 1 (its smoke test passed), green starts failing 20%.
    p.wait_for_first_step().await;
    let faulted = std::time::Instant::now();
    let (code, _, out) = cli(
        &p,
        &["local", "fault", "--color", "green", "--error-rate", "20"],
    )
    .await;
    assert_eq!(code, 0, "fault set: {out}");
    let r = loop {
        let r = p.platform.release().await.expect("read").expect("recorded");
        if r.is_over() {
            break r;
        }
        assert!(
            faulted.elapsed() < Duration::from_secs(30),
            "not rolled back: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let detected = faulted.elapsed();
    assert_eq!(r.id, id);
    let Some(bluegreen::rollout::Outcome::RolledBack { failed, reason }) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(failed[0].gate, bluegreen::rollout::Gate::Errors, "{reason}");
    // The stable color serves everything, and the canary still runs for its logs.
    let snap = p.platform.snapshot().await.expect("snapshot");
    assert_eq!(snap.live(), Some(Color::Blue));
    assert_eq!(snap.stable(), Some(Color::Blue));
    assert!(snap.colors.green.service.desired > 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let report = load.stop().await;
    let rate = report.requests as f64 / load_started.elapsed().as_secs_f64();
    let bound = failure_bound(rate, 0.10, 0.20, 1.0).ceil() as usize;
    let failed = report.bad_status.len() + report.transport_errors.len();
    eprintln!(
        "rollback: fault → rollback recorded in {detected:?}; {failed} failed requests of {} ({rate:.0} req/s), bound {bound}",
        report.requests
    );
    assert!(failed > 0, "the fault was visible to clients");
    assert!(
        failed <= bound,
        "{failed} failed requests, over the bound of {bound}"
    );
    // Every failure was the injected 503 on green.
    assert!(
        report.transport_errors.is_empty(),
        "{:?}",
        report.transport_errors
    );
    // `status` names the gate and the values; the exit code of a rolled-back release is 6.
    let (code, status, _) = cli(&p, &["status", "--json"]).await;
    assert_eq!(code, 0);
    assert_eq!(
        status["release"]["release"]["outcome"]["outcome"],
        "rolled_back"
    );
    // A pipeline that waits for the release's end gets the rollback's exit code.
    let (code, doc, out) = cli(&p, &["wait", "--release", "--json"]).await;
    assert_eq!(code, 6, "wait --release after a rollback: {out}");
    assert_eq!(doc["release"]["id"], id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehearsal_reports_the_gate_the_step_the_time_and_the_failed_requests() {
    let p = LocalPlatform::start(&["v1"], &[]).await;
    p.first_release("v1", 1).await;
    let load = Load::start(p.production, CLIENTS, 1_000_000, Duration::from_secs(240));
    let (code, doc, out) = cli(
        &p,
        &[
            "rehearse",
            "--fault",
            "5xx=20%",
            "--steps",
            "10,50",
            "--hold",
            "60",
            "--interval",
            "1",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "caught: {out}");
    assert_eq!(doc["caught"], true, "{doc:#}");
    assert_eq!(doc["gate"], "errors");
    assert_eq!(doc["step"], 1);
    let failed = doc["failed_requests"].as_u64().expect("counted");
    assert!(failed > 0, "{doc:#}");
    let took = doc["rollback_ms"].as_i64().expect("timed");
    assert!((0..10_000).contains(&took), "{took} ms");
    eprintln!("rehearsal 5xx=20%: rollback {took} ms after the fault, {failed} failed requests");
    // A fault too small for the gates is reported as not caught, with exit code 1, and the
    // fault is cleared either way.
    let (code, doc, out) = cli(
        &p,
        &[
            "rehearse",
            "--fault",
            "latency=1ms",
            "--steps",
            "50",
            "--hold",
            "2",
            "--interval",
            "1",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 1, "not caught: {out}");
    assert_eq!(doc["caught"], false, "{doc:#}");
    let report = load.stop().await;
    assert!(
        report.transport_errors.is_empty(),
        "{:?}",
        report.transport_errors
    );
    let (_, faults, _) = cli(&p, &["local", "fault", "--json"]).await;
    assert_eq!(
        faults["active"].as_array().map(Vec::len),
        Some(0),
        "{faults:#}"
    );
    // Refused where it cannot work: bad fault text names the forms.
    let (code, _, out) = cli(&p, &["rehearse", "--fault", "5xx=0"]).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("5xx=PERCENT"), "{out}");
}

/// The proxy's weights moved behind the console while a step holds: the listener (the proxy)
/// was told 10%, but the requests show another split, so the step is never counted as
/// reached: the release warns, then pauses naming both numbers, and is never promoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_whose_requests_show_another_split_is_not_reached_and_pauses() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    p.first_release("v1", 1).await;
    let load = Load::start(p.production, CLIENTS, 1_000_000, Duration::from_secs(240));
    let (code, _, out) = cli(
        &p,
        &[
            "release",
            "--tag",
            "v2",
            "--steps",
            "10",
            "--hold",
            "4",
            "--interval",
            "1",
            "--bake",
            "0",
            "--detach",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "detached: {out}");
    p.wait_for_first_step().await;
    super::local_drift::set_behind_the_console(&p, 50, 50).await;
    let (code, doc, out) = cli(
        &p,
        &[
            "wait",
            "--release",
            "--until",
            "paused",
            "--json",
            "--timeout",
            "120",
        ],
    )
    .await;
    assert_eq!(code, 7, "paused for a person: {out}");
    let reason = doc["release"]["stage"]["reason"]
        .as_str()
        .expect("a reason")
        .to_string();
    assert!(
        reason.starts_with("step 1 not reached: observed split blue "),
        "{reason}"
    );
    assert!(
        reason.contains("does not match the desired blue 90 / green 10 (allowed ±"),
        "{reason}"
    );
    assert!(
        reason.contains("for 3 gate intervals after its hold"),
        "{reason}"
    );
    // Never promoted: blue is still stable, green never had 100%.
    let snap = p.platform.snapshot().await.expect("snapshot");
    assert_eq!(snap.stable(), Some(Color::Blue));
    assert_ne!(snap.live(), Some(Color::Green));
    // `status` shows the pause and the step's split, text and JSON.
    let (code, status, out) = cli(&p, &["status", "--json"]).await;
    assert_eq!(code, 0, "{out}");
    let words = status["release"]["step_split"].as_str().unwrap_or_default();
    assert!(
        words.starts_with("warning: observed split blue "),
        "{status:#}"
    );
    let out = bluegreen_tests::local::text(&p.cli(&["status"]));
    assert!(out.contains("split    warning: observed split"), "{out}");
    // Abort is the way out that is not an override: the stable color gets 100% back.
    let (code, _, out) = cli(&p, &["abort"]).await;
    assert_eq!(code, 0, "aborted: {out}");
    let snap = p.platform.snapshot().await.expect("snapshot");
    assert_eq!(snap.live(), Some(Color::Blue));
    let report = load.stop().await;
    assert!(report.requests > 100, "the load ran: {}", report.requests);
}
