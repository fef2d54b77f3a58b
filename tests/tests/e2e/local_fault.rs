//! Fault test: kill -9 one green task while green has 50% of traffic. The proxy stops
//! routing to it, the supervisor starts a replacement, and the test reports how many requests
//! failed in that window.
//!
//! The bound: a request can fail only if it was in flight on the killed process at the
//! moment of the kill. Requests that meet the dead process afterwards (a refused connect, or
//! a pooled connection it closed) have sent nothing and go to another target; in-flight GETs
//! have no body and are replayed on another target. A POST whose bytes were sent is never
//! replayed (it may have been written), so only POSTs in flight on that one task can fail.
//! Each client has at most one request in flight, so the bound is the number of clients
//! (8), every failure must be a POST, and nothing may fail outside the window. Runs here see
//! 0 to 2 failures: POSTs wait on SQLite's write lock, so they are most of what is in flight.

use std::time::{Duration, Instant};

use bluegreen::rollout::{Color, TargetHealth, Weights};
use bluegreen_tests::local::{Load, LocalPlatform, task_processes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_task_at_50_percent_fails_at_most_its_in_flight_posts() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    p.first_release("v1", 2).await;
    p.deploy_green("v2").await;
    p.ops
        .shift(Weights::with_green_percent(50).expect("valid"), false)
        .await
        .expect("shift 50");

    // Runs until stopped below; the caps only bound a test that hangs (the replacement
    // wait gives up after 60 s).
    let load = Load::start(p.production, 8, 1_000_000, Duration::from_secs(180));
    tokio::time::sleep(Duration::from_secs(1)).await;

    let victims = task_processes(&p.state, Color::Green);
    assert_eq!(victims.len(), 2, "two green task processes: {victims:?}");
    let (pid, task) = victims[0].clone();
    let killed_at = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9");

    // The proxy stops routing to it.
    let mut gone_at = None;
    let mut replaced_at = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while replaced_at.is_none() {
        assert!(Instant::now() < deadline, "no replacement within 60 s");
        let targets = p
            .platform
            .target_health(Color::Green)
            .await
            .expect("targets");
        let victim_routed = targets.iter().any(|t| {
            t.task_id.as_deref() == Some(task.as_str()) && t.health == TargetHealth::Healthy
        });
        if !victim_routed && gone_at.is_none() {
            gone_at = Some(Instant::now());
        }
        let healthy_others = targets
            .iter()
            .filter(|t| {
                t.health == TargetHealth::Healthy && t.task_id.as_deref() != Some(task.as_str())
            })
            .count();
        if gone_at.is_some() && healthy_others >= 2 {
            replaced_at = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (gone_at, replaced_at) = (
        gone_at.unwrap_or(killed_at),
        replaced_at.unwrap_or(killed_at),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let report = load.stop().await;

    let in_window = report.failures_between(killed_at, replaced_at);
    let total = report.transport_errors.len() + report.bad_status.len();
    eprintln!(
        "fault: killed {task} (pid {pid}); out of routing after {} ms, replaced after {} ms; {} requests, {in_window} failed in the window, {total} failed in all: {:?} {:?}",
        gone_at.duration_since(killed_at).as_millis(),
        replaced_at.duration_since(killed_at).as_millis(),
        report.requests,
        report.transport_errors,
        report.bad_status,
    );
    assert!(
        !report.ran_out,
        "the load hit its cap before the test stopped it"
    );
    assert!(
        report.last_request.is_some_and(|t| t > replaced_at),
        "the load was still running after the replacement, so the whole window was under load"
    );
    assert!(
        in_window <= 8,
        "{in_window} requests failed in the window (bound: 8 clients)"
    );
    for failed in report.failed_requests() {
        assert!(
            failed.starts_with("POST "),
            "only in-flight POSTs may fail, not {failed}"
        );
    }
    assert_eq!(total, in_window, "no failure outside the fault window");
    let snap = p.platform.snapshot().await.expect("snapshot");
    let stopped = snap
        .colors
        .green
        .tasks
        .iter()
        .find(|t| t.id == task)
        .expect("the killed task is listed");
    assert_eq!(stopped.last_status, "STOPPED");
    assert!(
        stopped
            .stopped_reason
            .as_deref()
            .is_some_and(|r| r.contains("SIGKILL")),
        "{:?}",
        stopped.stopped_reason
    );
    assert!(
        snap.colors
            .green
            .service
            .events
            .iter()
            .any(|e| e.message.contains("stopped unexpectedly")),
        "the service says what happened"
    );
}

/// A task that stops answering (SIGSTOP: its port still accepts connections) is found by
/// the health checks alone: two failed checks make it unhealthy, the proxy stops routing to
/// it, and the supervisor replaces it (SIGTERM, then SIGKILL after the stop timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_stops_answering_fails_its_health_checks_and_is_replaced() {
    let p = LocalPlatform::start(&["v1"], &[]).await;
    p.first_release("v1", 2).await;
    let victims = task_processes(&p.state, Color::Blue);
    assert_eq!(victims.len(), 2, "two blue task processes: {victims:?}");
    let (pid, task) = victims[0].clone();
    let frozen_at = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .expect("kill -STOP");

    let snap = p
        .wait_until(
            Duration::from_secs(30),
            "the frozen target to leave routing",
            |s| {
                s.colors.blue.targets.iter().all(|t| {
                    t.task_id.as_deref() != Some(task.as_str()) || t.health != TargetHealth::Healthy
                })
            },
        )
        .await;
    let unhealthy_after = frozen_at.elapsed();
    let listed = snap
        .colors
        .blue
        .tasks
        .iter()
        .find(|t| t.id == task)
        .expect("still listed");
    assert!(
        listed
            .stopped_reason
            .as_deref()
            .is_some_and(|r| r.contains("health checks")),
        "{listed:?}"
    );
    // Only the healthy task serves now.
    let mut http = bluegreen::platform::http::HttpClient::new(p.production);
    for _ in 0..20 {
        let r = tokio::time::timeout(Duration::from_secs(5), http.get("/health"))
            .await
            .expect("no request waits on the frozen task")
            .expect("served");
        assert_eq!(r.status, 200);
    }
    p.wait_until(Duration::from_secs(60), "a replacement", |s| {
        let replaced = s
            .colors
            .blue
            .targets
            .iter()
            .filter(|t| {
                t.health == TargetHealth::Healthy && t.task_id.as_deref() != Some(task.as_str())
            })
            .count()
            == 2;
        let gone = s
            .colors
            .blue
            .tasks
            .iter()
            .any(|t| t.id == task && t.last_status == "STOPPED");
        replaced && gone
    })
    .await;
    eprintln!(
        "frozen task {task}: out of routing after {} ms; replaced and the frozen process killed after {} ms",
        unhealthy_after.as_millis(),
        frozen_at.elapsed().as_millis()
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z ")),
        "the frozen process is gone"
    );
}
