//! `bluegreen local fault` on the real platform: at 50/50, a 20% fault on green fails exactly
//! 200 of green's 1000 requests out of 2000, with the proxy's own 503 (`X-Bluegreen-Fault:
//! injected`), and `Platform::metrics` shows those 5xx on green only; clearing ends them; a
//! fault on the test listener's color fails its share there too and ends by itself after
//! `--for`; a fault survives `local restart`; `--crash` kills green's task, which the
//! supervisor replaces.
//!
//! Every request here is sequential on one connection and bounded in number (3,300 in all);
//! the waits give up after 60 s.

use std::time::{Duration, Instant};

use bluegreen::ops::WaitFor;
use bluegreen::platform::http::HttpClient;
use bluegreen::rollout::{Color, Weights};
use bluegreen_tests::local::{LocalPlatform, task_processes, text};

/// What `n` sequential requests to `addr` got: (injected 503s, blue 200s, green 200s).
async fn send(addr: std::net::SocketAddr, n: usize) -> (usize, usize, usize) {
    let mut c = HttpClient::new(addr);
    let (mut injected, mut blue, mut green) = (0, 0, 0);
    for _ in 0..n {
        let r = c.get("/health").await.expect("answered");
        match (
            r.status,
            r.header("x-bluegreen-fault"),
            r.header("x-blog-color"),
        ) {
            (503, Some("injected"), None) => injected += 1,
            (200, None, Some("blue")) => blue += 1,
            (200, None, Some("green")) => green += 1,
            (status, fault, color) => {
                panic!("unexpected answer: {status} fault {fault:?} color {color:?}")
            }
        }
    }
    (injected, blue, green)
}

fn json(p: &LocalPlatform, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["local", "fault"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = p.cli(&all);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_fault_fails_its_exact_share_of_one_color_and_shows_in_its_metrics() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    // The exact shares below need the weights to stay put: with the guard on (the default),
    // the daemon would roll the faulty green back within an interval (local_guard tests that).
    let off = bluegreen::rollout::watch::WatchSettings {
        guard: bluegreen::rollout::watch::GuardConfig {
            mode: bluegreen::rollout::watch::GuardMode::Off,
            ..Default::default()
        },
        ..Default::default()
    };
    p.platform.configure_watch(&off).await.expect("guard off");
    p.first_release("v1", 1).await;
    p.deploy_green("v2").await;
    p.ops
        .shift(Weights::with_green_percent(50).expect("valid"), false)
        .await
        .expect("shift 50");

    // Refusals name the range and change nothing.
    let out = p.cli(&["local", "fault", "--color", "green", "--error-rate", "101"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("0..=100"), "{}", text(&out));

    let set = json(&p, &["--color", "green", "--error-rate", "20"]);
    assert_eq!(
        set["active"],
        serde_json::json!([{"color": "green", "error_rate": 20, "latency_ms": 0, "until": null}])
    );
    let snap = p.platform.snapshot().await.expect("snapshot");
    assert_eq!(
        snap.listener.faults.len(),
        1,
        "the snapshot shows the fault"
    );
    let status = p.cli(&["local", "status"]);
    assert!(
        text(&status).contains("fault on green: 20% 5xx, until cleared"),
        "{}",
        text(&status)
    );

    // 2000 at 50/50: green gets 1000, a whole block of its fault's sequence.
    let started = Instant::now();
    let (injected, blue, green) = send(p.production, 2000).await;
    eprintln!(
        "local_inject: 2000 sequential requests at 50/50 with 20% on green in {} ms",
        started.elapsed().as_millis()
    );
    assert_eq!((injected, blue, green), (200, 1000, 800));
    let m = p
        .platform
        .metrics(900)
        .await
        .expect("metrics")
        .expect("the local proxy has metrics");
    let (bw, gw) = (
        m.blue.window.expect("blue window"),
        m.green.window.expect("green window"),
    );
    assert_eq!((gw.requests, gw.errors_5xx), (1000, 200), "green: {gw:?}");
    assert_eq!((bw.requests, bw.errors_5xx), (1000, 0), "blue: {bw:?}");

    // Cleared: nothing fails.
    let cleared = json(&p, &["--clear"]);
    assert_eq!(cleared["active"], serde_json::json!([]));
    assert_eq!(cleared["cleared"][0]["color"], "green");
    assert_eq!(send(p.production, 200).await.0, 0);

    // The test listener (green alone) gets the fault too, until `--for` runs out.
    p.ops
        .shift(Weights::all(Color::Blue), false)
        .await
        .expect("shift 0");
    let snap = p.platform.snapshot().await.expect("snapshot");
    assert_eq!(snap.listener.test_color, Some(Color::Green));
    let set = json(
        &p,
        &[
            "--color",
            "green",
            "--error-rate",
            "20",
            "--latency-ms",
            "1",
            "--for",
            "8s",
        ],
    );
    let until = set["active"][0]["until"].as_i64().expect("an end");
    let set_at = Instant::now();
    let (injected, blue, green) = send(p.test, 1000).await;
    assert!(
        set_at.elapsed() < Duration::from_secs(8),
        "the 1000 requests ran within the fault's 8 s ({:?}); the share below counts them all",
        set_at.elapsed()
    );
    assert_eq!((injected, blue, green), (200, 0, 800));
    // Ends by itself: no longer applied, then gone from the list.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listed = json(&p, &[]);
        if listed["active"] == serde_json::json!([]) {
            break;
        }
        assert!(Instant::now() < deadline, "the fault never ended: {listed}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(bluegreen::clock::now_millis() >= until);
    assert_eq!(send(p.test, 100).await, (0, 0, 100));

    // A fault survives a restart's handover, with its end.
    let set = json(&p, &["--color", "blue", "--latency-ms", "5", "--for", "1h"]);
    let restarted = p.cli(&["local", "restart"]);
    assert!(restarted.status.success(), "{}", text(&restarted));
    let listed = json(&p, &[]);
    assert_eq!(listed["active"], set["active"], "{listed}");
    assert_eq!(
        json(&p, &["--clear", "--color", "blue"])["active"],
        serde_json::json!([])
    );

    // --crash kills green's one task; the supervisor starts another.
    let before = task_processes(&p.state, Color::Green);
    assert_eq!(before.len(), 1, "{before:?}");
    let crashed = json(&p, &["--color", "green", "--crash"]);
    assert_eq!(crashed["killed"][0]["pid"], before[0].0);
    p.ops
        .wait(&WaitFor::Healthy(Color::Green), Duration::from_secs(60))
        .await
        .expect("green healthy again");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let after = task_processes(&p.state, Color::Green);
        if after.len() == 1 && after[0].0 != before[0].0 {
            break;
        }
        assert!(Instant::now() < deadline, "no replacement: {after:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
