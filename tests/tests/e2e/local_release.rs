//! Zero downtime on the local platform: 8 clients keep reading and writing through the
//! proxy while a whole release runs — blue 100 → deploy v2 to green → shift 10, 50, 90 →
//! promote → deploy v3 to blue → shift 50 → rollback to green 100. The load runs until the
//! sequence ends and stops it; as a bound it also stops by itself after 5 minutes or
//! 1,000,000 requests per client, which fails the test (the later phases went unloaded).

use std::time::Duration;

use bluegreen::ops::{PromoteOptions, WaitFor};
use bluegreen::platform::http::HttpClient;
use bluegreen::rollout::{Color, Weights};
use bluegreen_tests::local::{Load, LocalPlatform, TRANSITION};

const CLIENTS: usize = 8;
const PHASE: Duration = Duration::from_millis(1500);

fn w(green: u8) -> Weights {
    Weights::with_green_percent(green).expect("valid weights")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_release_under_load_fails_no_request() {
    let p = LocalPlatform::start(&["v1", "v2", "v3"], &[]).await;
    p.first_release("v1", 2).await;

    let load = Load::start(p.production, CLIENTS, 1_000_000, Duration::from_secs(300));
    // (phase, the weights in force during it)
    let mut phases: Vec<Weights> = vec![Weights::all(Color::Blue)];
    tokio::time::sleep(PHASE).await;

    // Deploy v2 to the idle color (green) while blue serves everything.
    let receipt = p.ops.deploy("v2", None).await.expect("deploy v2");
    assert_eq!(receipt.color, Color::Green);
    p.ops
        .wait(&WaitFor::Healthy(Color::Green), Duration::from_secs(60))
        .await
        .expect("green healthy");

    let shift = |green: u8, phases: &mut Vec<Weights>| {
        phases.push(w(green));
        phases.len() - 1
    };
    for green in [10, 50, 90] {
        load.set_phase(TRANSITION);
        p.ops.shift(w(green), false).await.expect("shift");
        load.set_phase(shift(green, &mut phases));
        tokio::time::sleep(PHASE).await;
    }

    load.set_phase(TRANSITION);
    let promoted = p
        .ops
        .promote(
            PromoteOptions {
                bake: Duration::from_secs(1),
                keep_old: false,
            },
            Some(w(90)),
        )
        .await
        .expect("promote");
    assert_eq!(promoted.promoted, Color::Green);
    assert!(promoted.platform_finishes_bake);
    load.set_phase(shift(100, &mut phases));
    // The daemon ends the bake: blue (the old color) drains and scales to zero.
    p.wait_until(Duration::from_secs(30), "the bake to finish", |s| {
        s.listener.bake.is_none() && s.colors.blue.service.desired == 0
    })
    .await;
    tokio::time::sleep(PHASE).await;

    let receipt = p.ops.deploy("v3", None).await.expect("deploy v3");
    assert_eq!(receipt.color, Color::Blue);
    p.ops
        .wait(&WaitFor::Healthy(Color::Blue), Duration::from_secs(60))
        .await
        .expect("blue healthy");

    load.set_phase(TRANSITION);
    p.ops.shift(w(50), false).await.expect("shift blue 50");
    load.set_phase(shift(50, &mut phases));
    tokio::time::sleep(PHASE).await;

    load.set_phase(TRANSITION);
    let rollback = p.ops.rollback().await.expect("rollback");
    assert_eq!(rollback.target, Color::Green);
    load.set_phase(shift(100, &mut phases));
    tokio::time::sleep(PHASE).await;

    let report = load.stop().await;
    eprintln!(
        "load: {} requests, {} posts created, per phase (blue, green): {:?}",
        report.requests,
        report.created.len(),
        report
            .per_phase
            .iter()
            .map(|c| (c.blue, c.green))
            .collect::<Vec<_>>()
    );
    assert!(
        report.transport_errors.is_empty(),
        "transport errors: {:?}",
        report.transport_errors
    );
    assert!(
        report.bad_status.is_empty(),
        "non-2xx/3xx: {:?}",
        report.bad_status
    );
    assert!(
        !report.ran_out,
        "the load hit its cap before the sequence ended"
    );
    assert_eq!(report.uncolored, 0, "every response names its color");
    assert!(report.created.len() >= 20, "the load created posts");

    // Per-color counts follow the weights. The proxy routes by a fixed permutation, so any
    // run of consecutive routing decisions deviates from the exact split by at most 2.4
    // requests (checked over every weight and window). Requests that straddle a weight
    // change are not counted (at most one per client at each end of a phase) but used
    // routing decisions, so the bound is 2.4 + 2 × 8 clients: 20 requests.
    for (i, weights) in phases.iter().enumerate() {
        let counts = report.per_phase.get(i).cloned().unwrap_or_default();
        let n = counts.blue + counts.green;
        assert!(n >= 50, "phase {i} ({weights}) saw only {n} requests");
        let expected_green = n as f64 * weights.share(Color::Green).as_percent() / 100.0;
        let deviation = (counts.green as f64 - expected_green).abs();
        assert!(
            deviation <= 20.0,
            "phase {i} ({weights}): {} blue / {} green of {n}, expected {expected_green:.0} green",
            counts.blue,
            counts.green
        );
    }

    // Everything the load wrote is there, whichever color serves the read.
    let mut http = HttpClient::new(p.production);
    for path in &report.created {
        let r = http.get(path).await.expect("read back");
        assert_eq!(r.status, 200, "{path} is readable after the release");
    }
    // The proxy's counters (the local CloudWatch) saw the same traffic, with no 5xx.
    let metrics = p
        .platform
        .metrics(300)
        .await
        .expect("metrics")
        .expect("the local platform has metrics");
    for (color, m) in metrics.iter() {
        let requests: u64 = m.points.iter().map(|pt| pt.requests).sum();
        let errors: u64 = m.points.iter().map(|pt| pt.errors_5xx).sum();
        assert!(
            requests > 100,
            "{color} served {requests} requests per the proxy"
        );
        assert_eq!(errors, 0, "{color} 5xx per the proxy");
        assert!(
            m.points.iter().any(|pt| pt.p99_ms.is_some()),
            "{color} has a p99"
        );
    }

    let listener = p.platform.listener().await.expect("listener");
    assert_eq!(listener.weights, Weights::all(Color::Green));
    assert_eq!(listener.stable, Some(Color::Green));
}
