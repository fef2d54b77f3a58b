//! `local down` then `local up` brings back the same release: weights, stable color, the
//! tag each color runs and its task count, and the posts.

use std::time::Duration;

use bluegreen::platform::http::HttpClient;
use bluegreen::rollout::{Color, Weights};
use bluegreen_tests::local::{Load, LocalPlatform, task_processes, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_then_up_restores_the_release() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    p.first_release("v1", 1).await;
    p.deploy_green("v2").await;
    let split = Weights::with_green_percent(30).expect("valid");
    p.ops.shift(split, false).await.expect("shift");
    let before = p.platform.listener().await.expect("listener");

    let out = p.cli(&["local", "down"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = p.cli(&["local", "status"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "status says it is down: {}",
        text(&out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("not running"));
    let out = p.cli(&["local", "status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON status");
    assert_eq!(doc["running"], false);
    let err = p.platform.listener().await.expect_err("the daemon is gone");
    assert!(err.to_string().contains("bluegreen local up"), "{err}");

    let out = p.cli(&["local", "up"]);
    assert!(out.status.success(), "{}", text(&out));
    // The same client object reconnects: one connection per request.
    let after = p.platform.listener().await.expect("listener after up");
    assert_eq!(after.weights, before.weights);
    assert_eq!(after.stable, Some(Color::Blue));
    assert_eq!(after.test_color, before.test_color);
    let snap = p
        .wait_until(Duration::from_secs(60), "both colors healthy again", |s| {
            s.colors.blue.healthy_targets() == 1 && s.colors.green.healthy_targets() == 1
        })
        .await;
    for (color, tag) in [(Color::Blue, "v1"), (Color::Green, "v2")] {
        let image = snap.colors.get(color).service.image.clone().expect("image");
        assert_eq!(image.tag.as_deref(), Some(tag), "{color} runs {tag} again");
    }
    let out = p.cli(&["--json", "local", "status"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON status");
    assert_eq!(doc["running"], true);
    assert_eq!(doc["colors"]["green"]["tag"], "v2");
    assert_eq!(doc["listener"]["weights"]["green"], 30);
    // Each task's output is its own stream, tagged with color and task, read incrementally.
    let batch = p
        .platform
        .read_logs(&bluegreen::platform::LogCursor::default(), 10_000)
        .await
        .expect("logs");
    assert!(!batch.lines.is_empty(), "the tasks logged");
    for line in &batch.lines {
        assert!(line.task_id.starts_with(line.color.as_str()), "{line:?}");
    }
    assert!(batch.lines.iter().any(|l| l.color == Color::Green));
    assert!(
        batch.lines.windows(2).all(|w| w[0].at <= w[1].at),
        "oldest first"
    );
    // A request the blog logs at info (a passing /health probe logs at debug) makes a line
    // after the first read, so the cursor has something newer to return.
    let production: std::net::SocketAddr = after.id.parse().expect("listener address");
    let mut http = HttpClient::new(production);
    let probe = format!("/cursor-probe-{}", std::process::id());
    let r = http.get(&probe).await.expect("served");
    assert_eq!(r.status, 404, "{probe} is no page");
    let mut newer = Vec::new();
    let mut cursor = batch.cursor.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let next = p.platform.read_logs(&cursor, 10_000).await.expect("logs");
        newer.extend(next.lines);
        cursor = next.cursor;
        // One more read after the line arrived, so a repeat would be caught too.
        if newer.iter().any(|l| l.message.contains(&probe)) {
            let tail = p.platform.read_logs(&cursor, 10_000).await.expect("logs");
            newer.extend(tail.lines);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the request's log line never arrived: {newer:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        newer.iter().filter(|l| l.message.contains(&probe)).count(),
        1,
        "the new line comes exactly once: {newer:?}"
    );
    let last = batch.lines.last().map(|l| l.at).unwrap_or(0);
    for line in &newer {
        assert!(
            line.at >= last,
            "the cursor returns only newer lines: {line:?}"
        );
        assert!(
            !batch.lines.contains(line),
            "a line from the first read came again: {line:?}"
        );
    }

    let r = http.get("/health").await.expect("served after restart");
    assert_eq!(r.status, 200);
    let version = r.header("x-blog-version").expect("version header");
    assert!(
        version == "v1" || version == "v2",
        "BLOG_VERSION is the tag: {version}"
    );
}

/// The daemon's pid, from `local status --json`.
fn daemon_pid(p: &LocalPlatform) -> u64 {
    let out = p.cli(&["--json", "local", "status"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON status");
    doc["daemon"]["pid"]
        .as_u64()
        .expect("a running daemon has a pid")
}

fn pids(p: &LocalPlatform) -> Vec<i32> {
    let mut pids: Vec<i32> = task_processes(&p.state, Color::Blue)
        .into_iter()
        .map(|(pid, _)| pid)
        .collect();
    pids.sort();
    pids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_restart_fails_no_request_and_keeps_every_task() {
    let p = LocalPlatform::start(&["v1"], &[]).await;
    p.first_release("v1", 2).await;
    let tasks = pids(&p);
    assert_eq!(tasks.len(), 2);
    let old_daemon = daemon_pid(&p);

    let load = Load::start(p.production, 8, 200_000, Duration::from_secs(120));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = p.cli(&["local", "restart"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("handed its listeners and 2 task(s)"),
        "{}",
        text(&out)
    );
    // Load on the new daemon too, over the connections clients reopened.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let report = load.stop().await;

    assert!(!report.ran_out, "the load covered the whole restart");
    assert!(report.requests > 100, "{} requests", report.requests);
    assert!(
        report.failed_requests().is_empty(),
        "{} of {} requests failed across the restart: {:?} {:?}",
        report.failed_requests().len(),
        report.requests,
        report.transport_errors.iter().take(5).collect::<Vec<_>>(),
        report.bad_status.iter().take(5).collect::<Vec<_>>()
    );
    assert_ne!(daemon_pid(&p), old_daemon, "a new daemon answers");
    assert_eq!(pids(&p), tasks, "the same task processes serve");
    // The new daemon runs the platform: a change goes through, and logs carry on.
    let out = p.cli(&["scale", "--color", "blue", "--count", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    p.wait_until(Duration::from_secs(60), "one blue task", |s| {
        s.colors.blue.service.running == 1
    })
    .await;
    let out = p.cli(&["logs", "--since", "60", "--lines", "100000"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("path=/"),
        "request logs from both daemons: {}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_daemon_crash_local_up_adopts_the_live_tasks_and_serves_at_once() {
    let p = LocalPlatform::start(&["v1"], &[]).await;
    p.first_release("v1", 2).await;
    let tasks = pids(&p);
    let daemon = daemon_pid(&p);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the daemon");
    // Dead: its socket no longer answers.
    p.wait_until_down().await;
    assert_eq!(pids(&p), tasks, "its tasks outlive it");

    let port = p.production.port().to_string();
    let out = p.cli(&["local", "up", "--port", &port]);
    assert!(out.status.success(), "{}", text(&out));
    // Served as soon as `up` returns: the adopted tasks were healthy and still answer.
    let mut http = HttpClient::new(p.production);
    let resp = http.get("/").await.expect("served right after up");
    assert_eq!(resp.status, 200);
    assert_eq!(pids(&p), tasks, "adopted, not replaced");
    let snap = p.platform.snapshot().await.expect("snapshot");
    assert_eq!(snap.colors.blue.healthy_targets(), 2);
    assert!(
        snap.colors
            .blue
            .service
            .events
            .iter()
            .any(|e| e.message.contains("adopted task")),
        "{:?}",
        snap.colors.blue.service.events
    );
    // Nothing extra starts later either.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pids(&p), tasks);
}
