//! The console's API budget on AWS, counted by the harness's proxy per service and operation:
//! the console open at rest (no release, nothing changing) against moto behaving as AWS
//! documents (ELB's Describe bucket, FilterLogEvents' 5 per second, CloudWatch's minutes),
//! for a minute. The budget (docs/aws-setup.md, "API calls"): at most 120 calls a minute in
//! all, at most 40 ELB `Describe*` calls and 30 FilterLogEvents.

use std::time::Duration;

use bluegreen_tests::aws::{AwsLike, Stack, TopologyOptions};
use bluegreen_tests::tmux::Tmux;

/// Calls a minute at rest, at most (docs/aws-setup.md).
const AT_REST_TOTAL: f64 = 120.0;
const AT_REST_ELB_DESCRIBE: f64 = 40.0;
const AT_REST_FILTER_LOG_EVENTS: f64 = 30.0;

// Multi-threaded: the tmux waits block their thread, and the proxy must keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_at_rest_stays_within_its_api_budget() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    stack
        .proxy
        .aws_like(AwsLike::documented(Duration::from_secs(5)))
        .await
        .expect("aws-like");
    let dir = tempfile::tempdir().expect("tempdir");
    let tmux = Tmux::start_aws(
        &dir.path().join("tmux.sock"),
        dir.path(),
        &stack.config,
        &stack.env(),
        160,
        48,
    );
    // The first reads of every panel, then a minute at rest.
    tmux.wait_for("the console's first snapshot", &["Traffic · stable blue"]);
    tokio::time::sleep(Duration::from_secs(15)).await;
    let from = stack.proxy.mark();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let counts = stack.proxy.calls_since(from);
    let screen = tmux.screen();
    eprintln!("{screen}");
    eprintln!(
        "aws console at rest, API calls by operation:\n{}",
        counts.table()
    );
    let total = counts.per_minute(counts.total());
    let elb = counts.per_minute(counts.elb_describe());
    let logs = counts.per_minute(counts.op("logs:FilterLogEvents"));
    assert!(
        total <= AT_REST_TOTAL,
        "{total:.0} calls a minute at rest (at most {AT_REST_TOTAL}):\n{}",
        counts.table()
    );
    assert!(
        elb <= AT_REST_ELB_DESCRIBE,
        "{elb:.0} ELB Describe calls a minute at rest (at most {AT_REST_ELB_DESCRIBE}):\n{}",
        counts.table()
    );
    assert!(
        logs <= AT_REST_FILTER_LOG_EVENTS,
        "{logs:.0} FilterLogEvents a minute at rest (at most {AT_REST_FILTER_LOG_EVENTS}):\n{}",
        counts.table()
    );
    // Still the console, still showing the stack, and the account it is connected to.
    assert!(screen.contains("Traffic · stable blue"), "{screen}");
    assert!(screen.contains("aws 123456789012 us-east-1"), "{screen}");
}
