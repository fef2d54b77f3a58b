//! Faults between the console and AWS: a loopback proxy in front of moto injects 500s,
//! throttling, AccessDenied and dropped connections. The SDK's retries absorb short bursts;
//! what survives them is reported naming the call and the resource, and a weight change that
//! failed says "not applied" with the weights the listener shows.

use bluegreen::ops::exit;
use bluegreen_tests::aws::{Fault, Stack, TopologyOptions};

/// Attempts per call the adapter allows (first included).
const MAX_ATTEMPTS: usize = 4;

async fn start() -> Stack {
    Stack::start(TopologyOptions::default(), false).await
}

#[tokio::test]
async fn short_bursts_are_retried_by_the_sdk() {
    let env = start().await;
    env.proxy
        .inject("DescribeServices", Fault::ServerError, Some(2));
    env.proxy
        .inject("DescribeTargetHealth", Fault::Throttle, Some(2));
    env.proxy.inject("DescribeListeners", Fault::Drop, Some(1));
    env.proxy.inject("ListTasks", Fault::Drop, Some(1));
    let run = env.cli(&["status", "--json"]).await;
    run.expect_code(exit::OK);
    assert_eq!(run.json()["snapshot"]["listener"]["stable"], "blue");
    assert_eq!(env.proxy.attempts("DescribeServices"), (3, 2));
    assert_eq!(env.proxy.attempts("DescribeTargetHealth"), (4, 2));
    assert_eq!(env.proxy.attempts("DescribeListeners"), (2, 1));
    assert_eq!(env.proxy.attempts("ListTasks"), (2, 1));
}

#[tokio::test]
async fn a_lasting_fault_names_the_call_and_the_resource() {
    let env = start().await;
    env.proxy
        .inject("DescribeServices", Fault::ServerError, None);
    let run = env.cli(&["status"]).await;
    run.expect_code(exit::PLATFORM);
    assert!(
        run.stderr
            .contains("ecs:DescribeServices on blog failed (server error)"),
        "{}",
        run.stderr
    );
    assert_eq!(
        env.proxy.attempts("DescribeServices"),
        (MAX_ATTEMPTS, MAX_ATTEMPTS)
    );

    env.proxy.heal();
    env.proxy.inject("DescribeImages", Fault::Throttle, None);
    let run = env.cli(&["--json", "status"]).await;
    run.expect_code(exit::PLATFORM);
    let doc = run.json();
    assert_eq!(
        doc["snapshot"]["listener"]["stable"], "blue",
        "the rest of the status is shown"
    );
    let errors = doc["errors"].to_string();
    assert!(
        errors.contains("ecr:DescribeImages on blog failed (throttled)"),
        "{errors}"
    );
}

#[tokio::test]
async fn a_throttled_shift_is_not_applied_and_shows_the_observed_weights() {
    let env = start().await;
    env.proxy.inject("ModifyListener", Fault::Throttle, None);
    let run = env.cli(&["shift", "--green", "20"]).await;
    run.expect_code(exit::PLATFORM);
    assert!(
        run.stderr.contains(
            "weights NOT applied (wanted blue 80 / green 20, listener shows blue 100 / green 0)"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("elbv2:ModifyListener on arn:aws:elasticloadbalancing:"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("(throttled)"), "{}", run.stderr);
    assert_eq!(
        env.proxy.attempts("ModifyListener"),
        (MAX_ATTEMPTS, MAX_ATTEMPTS)
    );
    assert_eq!(env.topo.weights().await.expect("weights"), (100, 0));

    let run = env.cli(&["--json", "shift", "--green", "20"]).await;
    run.expect_code(exit::PLATFORM);
    let doc = run.json();
    assert_eq!(doc["detail"]["outcome"], "not-applied");
    assert_eq!(
        doc["detail"]["weights"]["observed"],
        serde_json::json!({"blue": 100, "green": 0})
    );
    assert_eq!(
        doc["detail"]["weights"]["write_error"]["fault"],
        "throttled"
    );
}

#[tokio::test]
async fn a_dropped_rollback_is_not_applied() {
    let env = start().await;
    env.cli(&["shift", "--green", "20"])
        .await
        .expect_code(exit::OK);
    env.proxy.inject("ModifyListener", Fault::Drop, None);
    let run = env.cli(&["rollback"]).await;
    run.expect_code(exit::PLATFORM);
    assert!(
        run.stderr.contains(
            "weights NOT applied (wanted blue 100 / green 0, listener shows blue 80 / green 20)"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("(network error)"), "{}", run.stderr);
    assert_eq!(env.topo.weights().await.expect("weights"), (80, 20));
    env.proxy.heal();
    env.cli(&["rollback"]).await.expect_code(exit::OK);
    assert_eq!(env.topo.weights().await.expect("weights"), (100, 0));
}

#[tokio::test]
async fn a_failed_read_back_is_unknown_never_guessed() {
    let env = start().await;
    // The shift's snapshot reads the listener once; the read-back after the write fails.
    env.proxy
        .inject_after("DescribeListeners", 1, Fault::ServerError, None);
    let run = env.cli(&["shift", "--green", "20"]).await;
    run.expect_code(exit::PLATFORM);
    assert!(
        run.stderr
            .contains("weights UNKNOWN (wanted blue 80 / green 20; could not read them back"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("elbv2:DescribeListeners"),
        "{}",
        run.stderr
    );
    env.proxy.heal();
    assert_eq!(env.topo.weights().await.expect("weights"), (80, 20));
}

#[tokio::test]
async fn access_denied_names_the_missing_iam_action() {
    let env = start().await;
    env.proxy
        .inject("ModifyListener", Fault::AccessDenied, None);
    let run = env.cli(&["shift", "--green", "20"]).await;
    run.expect_code(exit::PLATFORM);
    assert!(
        run.stderr
            .contains("[missing IAM permission: elasticloadbalancing:ModifyListener]"),
        "{}",
        run.stderr
    );
    assert_eq!(
        env.proxy.attempts("ModifyListener"),
        (1, 1),
        "AccessDenied is not retried"
    );

    env.proxy.heal();
    env.proxy.inject("UpdateService", Fault::AccessDenied, None);
    let run = env
        .cli(&["scale", "--color", "green", "--count", "1"])
        .await;
    run.expect_code(exit::PLATFORM);
    assert!(
        run.stderr
            .contains("ecs:UpdateService on blog-green failed (access denied)")
            && run
                .stderr
                .contains("[missing IAM permission: ecs:UpdateService]"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_call_that_hangs_times_out_as_a_timeout() {
    let env = start().await;
    let text = std::fs::read_to_string(&env.config).expect("config");
    let text = text.replacen(
        "[profiles.moto]\n",
        "[profiles.moto]\ncall_timeout = 1\n",
        1,
    );
    std::fs::write(&env.config, text).expect("config");
    env.proxy.inject(
        "DescribeServices",
        Fault::Delay(std::time::Duration::from_secs(3)),
        None,
    );
    let started = std::time::Instant::now();
    let run = env.cli(&["status"]).await;
    run.expect_code(exit::PLATFORM);
    assert!(
        run.stderr
            .contains("ecs:DescribeServices on blog failed (timeout)"),
        "{}",
        run.stderr
    );
    assert_eq!(env.proxy.attempts("DescribeServices").0, MAX_ATTEMPTS);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
