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

/// The stack against moto behaving as AWS documents, and the console (the TUI) open on it in
/// tmux at 160x48 (the temporary directory holds its socket).
async fn console_open() -> (Stack, tempfile::TempDir, Tmux) {
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
    (stack, dir, tmux)
}

// Multi-threaded: the tmux waits block their thread, and the proxy must keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_at_rest_stays_within_its_api_budget() {
    let (stack, _dir, tmux) = console_open().await;
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

/// The console open (the TUI, in tmux) while a release is driven (in this process, through
/// its own adapter), against moto behaving as AWS documents: for a minute, every call the
/// proxy saw (console + driver) by operation, and the driver's own calls per gate interval.
/// `stage`: the release's stage when the minute starts (a step holding, or the bake).
async fn measure_release_minute(bake: bool) {
    use bluegreen::ops::{Access, Note, Observer, Ops};
    use bluegreen::platform::Platform;
    use bluegreen::rollout::Release;
    use bluegreen::rollout::release::Stage;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts the driver's gate intervals (a step's Gates notes).
    struct Count(AtomicUsize);
    impl Observer for Count {
        fn note(&self, _: &Release, note: &Note) {
            if matches!(note, Note::Gates { .. }) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    let (stack, _dir, tmux) = console_open().await;
    tmux.wait_for("the console's first snapshot", &["Traffic · stable blue"]);
    // The default plan's pace: gates every 10 s; a step that holds ten minutes, or a bake of
    // ten minutes after the promote.
    let mut r = super::aws_release::release(&[100], 600, &[]);
    r.plan.interval_secs = 10;
    if bake {
        r.stage = Stage::Promoting;
        r.options.bake_secs = 600;
    }
    let platform: Arc<dyn Platform> = Arc::new(stack.adapter().await);
    platform.record_release(&r).await.expect("recorded");
    let ops = Ops::new(platform.clone(), Access::default()).with_accept_unmeasured(true);
    let count: &'static Count = Box::leak(Box::new(Count(AtomicUsize::new(0))));
    let driver = tokio::spawn(async move { ops.drive_release(r, count, false).await });
    // A step's gates start once its first whole minute can be published (two minutes in);
    // the bake's at once.
    let settle = if bake { 20 } else { 140 };
    tokio::time::sleep(Duration::from_secs(settle)).await;
    let from = stack.proxy.mark();
    let (driver_before, intervals_before) = (platform.api_calls(), count.0.load(Ordering::Relaxed));
    tokio::time::sleep(Duration::from_secs(60)).await;
    let counts = stack.proxy.calls_since(from);
    let driver_calls = platform.api_calls() - driver_before;
    // A step notes each gate interval; the bake checks its gates every interval unnoted.
    let intervals = match bake {
        false => count.0.load(Ordering::Relaxed) - intervals_before,
        true => 60 / 10,
    };
    driver.abort();
    let what = if bake {
        "during a bake"
    } else {
        "during a release (a step holding)"
    };
    eprintln!(
        "aws console + release driver {what}, API calls by operation:\n{}",
        counts.table()
    );
    eprintln!(
        "the release driver alone: {driver_calls} calls in 60 s; {intervals} gate interval(s) noted{}",
        if intervals > 0 {
            format!(
                ", {:.1} calls per interval",
                driver_calls as f64 / intervals as f64
            )
        } else {
            String::new()
        }
    );
    assert!(
        counts.total() > 0,
        "the proxy counted nothing: {}",
        counts.table()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "figures: the API calls of a release, printed (docs/aws-setup.md, API calls)"]
async fn aws_release_api_calls_figures() {
    measure_release_minute(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "figures: the API calls of a bake, printed (docs/aws-setup.md, API calls)"]
async fn aws_bake_api_calls_figures() {
    measure_release_minute(true).await;
}
