//! Release plans on AWS, against moto: the steps go through ModifyListener and are read back,
//! synthetic 5xx metrics for the canary's target group (PutMetricData) trip the errors gate
//! and roll back with exactly one more ModifyListener, an alarm set to ALARM (SetAlarmState)
//! trips the alarms gate, and the release is recorded in the listener's tags so another
//! console reads it. The deploy and the smoke test are covered elsewhere (moto runs no
//! containers): these releases start at the smoke stage with no checks.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, StateValue};
use bluegreen::ops::{Access, Note, Observer, Ops};
use bluegreen::platform::Platform;
use bluegreen::rollout::plan::{Plan, PlanKind, Step};
use bluegreen::rollout::release::{ReleaseOptions, Stage};
use bluegreen::rollout::{Color, Gate, Outcome, Release, Share};
use bluegreen_tests::aws::{Stack, TopologyOptions};

/// The longest a release of these tests may take (the slowest holds 60 s).
const DRIVE_LIMIT: std::time::Duration = std::time::Duration::from_secs(150);

fn now_ms() -> i64 {
    bluegreen::clock::now_millis()
}

/// Posts one minute of ALB metrics for `color`, stamped now: requests, 5xx, p99 25 ms.
pub(super) async fn put(stack: &Stack, color: Color, requests: f64, errors: f64) {
    put_at(stack, color, requests, errors, now_ms()).await
}

/// The start of the next whole minute: a point stamped there is a step's own once the step
/// began before it.
pub(super) fn next_minute() -> i64 {
    (now_ms().div_euclid(60_000) + 1) * 60_000
}

/// Posts ALB metrics for `color` stamped `at_ms`: requests, 5xx, p99 25 ms.
pub(super) async fn put_at(stack: &Stack, color: Color, requests: f64, errors: f64, at_ms: i64) {
    let cw = aws_sdk_cloudwatch::Client::new(&stack.topo.sdk);
    let dim = |arn: &str| arn.splitn(6, ':').nth(5).unwrap_or_default().to_string();
    let lb = dim(&stack.topo.load_balancer)
        .trim_start_matches("loadbalancer/")
        .to_string();
    let dims = vec![
        Dimension::builder()
            .name("TargetGroup")
            .value(dim(stack.topo.target_groups.get(color)))
            .build(),
        Dimension::builder().name("LoadBalancer").value(&lb).build(),
    ];
    let datum = |name: &str, value: f64, unit: StandardUnit| {
        MetricDatum::builder()
            .metric_name(name)
            .set_dimensions(Some(dims.clone()))
            .value(value)
            .unit(unit)
            .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_millis(at_ms))
            .build()
    };
    cw.put_metric_data()
        .namespace("AWS/ApplicationELB")
        .metric_data(datum("RequestCount", requests, StandardUnit::Count))
        .metric_data(datum(
            "HTTPCode_Target_5XX_Count",
            errors,
            StandardUnit::Count,
        ))
        .metric_data(datum("TargetResponseTime", 0.025, StandardUnit::Seconds))
        .send()
        .await
        .expect("put metric data");
}

/// A CloudWatch alarm named `name` on the ALB's target 5xx (in state INSUFFICIENT_DATA).
pub(super) async fn put_alarm(stack: &Stack, name: &str) {
    aws_sdk_cloudwatch::Client::new(&stack.topo.sdk)
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/ApplicationELB")
        .metric_name("HTTPCode_Target_5XX_Count")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(10.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("alarm");
}

/// A release of v2 to green at the smoke stage (no checks), steps `percents` held `hold`.
pub(super) fn release(percents: &[u16], hold_secs: u64, alarms: &[&str]) -> Release {
    let mut plan = Plan::stepped(
        "moto",
        PlanKind::Canary,
        percents
            .iter()
            .map(|&p| Step {
                weight: Share::permille(p).expect("valid"),
                hold_secs,
            })
            .collect(),
        1,
    )
    .expect("valid");
    plan.gates.alarms = alarms.iter().map(|a| a.to_string()).collect();
    Release {
        id: format!("r{}", now_ms()),
        tag: "v2".into(),
        canary: Color::Green,
        desired: 2,
        plan,
        options: ReleaseOptions {
            bake_secs: 0,
            keep_old: true,
            scale_in_on_rollback: false,
            smoke: Vec::new(),
            accept_unmeasured: false,
        },
        started_at: now_ms(),
        stage: Stage::Smoke,
        driver: "moto-test".into(),
        driven_at: now_ms(),
        gates: Vec::new(),
        by: None,
        reason: None,
        split: None,
        request: None,
        outcome: None,
        ended_at: None,
    }
}

/// Counts gate intervals, and the API calls between two checks of the same step.
struct Intervals {
    count: AtomicUsize,
    platform: Arc<dyn Platform>,
    last: std::sync::Mutex<Option<(usize, u64)>>,
    between: std::sync::Mutex<Vec<u64>>,
}

impl Observer for Intervals {
    fn note(&self, _: &Release, note: &Note) {
        if let Note::Gates { index, .. } = note {
            self.count.fetch_add(1, Ordering::Relaxed);
            let now = self.platform.api_calls();
            let mut last = self.last.lock().expect("lock");
            if let Some((i, calls)) = *last
                && i == *index
            {
                self.between.lock().expect("lock").push(now - calls);
            }
            *last = Some((*index, now));
        }
    }
}

/// Drives `r` to its end: the release, the platform, the API calls it took, the gate
/// intervals, and the most API calls between two checks of one step.
async fn drive(stack: &Stack, r: Release) -> (Release, Arc<dyn Platform>, u64, usize, u64) {
    let platform: Arc<dyn Platform> = Arc::new(stack.adapter().await);
    platform.record_release(&r).await.expect("recorded");
    // moto serves no traffic, and its CloudWatch holds only the minutes posted before each
    // step (none of a step's own): these tests are about the gates and the listener, not the
    // split, so the steps' split and the promote's bake are accepted unmeasured, explicitly
    // (the split's own cases are the fake's and the local proxy's tests).
    let ops = Ops::new(platform.clone(), Access::default()).with_accept_unmeasured(true);
    let before = platform.api_calls();
    let intervals = Intervals {
        count: AtomicUsize::new(0),
        platform: platform.clone(),
        last: Default::default(),
        between: Default::default(),
    };
    // A release that stops moving (paused on inconclusive gates, say) fails the test
    // instead of holding up the run: every release here ends well within this.
    let id = r.id.clone();
    let ended =
        match tokio::time::timeout(DRIVE_LIMIT, ops.drive_release(r, &intervals, false)).await {
            Ok(ended) => ended.expect("driven"),
            Err(_) => {
                let at = platform.release().await.ok().flatten();
                panic!(
                    "release {id} did not end within {DRIVE_LIMIT:?}; its record: {:?}",
                    at.map(|r| (r.stage, r.gates))
                )
            }
        };
    let most = intervals
        .between
        .lock()
        .expect("lock")
        .iter()
        .copied()
        .max()
        .unwrap_or(0);
    (
        ended,
        platform.clone(),
        platform.api_calls() - before,
        intervals.count.load(Ordering::Relaxed),
        most,
    )
}

#[tokio::test]
async fn five_xx_on_the_canarys_target_group_rolls_back_with_one_modify_listener() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    // The step's own minute (the next one: the step begins before it) holds the errors; they
    // become readable once it begins.
    let own = next_minute() + 1_000;
    put_at(&stack, Color::Blue, 1000.0, 0.0, own).await;
    put_at(&stack, Color::Green, 100.0, 20.0, own).await;
    let before = stack.prod_modifies();
    // 0.5% then 10%: the first step is per mille, as the ALB takes it.
    let (r, platform, calls, intervals, _) = drive(&stack, release(&[5, 100], 60, &[])).await;
    let Some(Outcome::RolledBack { failed, .. }) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(failed[0].gate, Gate::Errors);
    assert_eq!(failed[0].measured, "20% (20/100)");
    // One ModifyListener for the step, one for the rollback: nothing else touched it.
    assert_eq!(stack.prod_modifies() - before, 2);
    assert_eq!(stack.topo.raw_weights().await.expect("weights"), (999, 0));
    // Another console reads the same record from the listener's tags.
    let recorded = platform.release().await.expect("read").expect("recorded");
    assert_eq!(recorded.outcome, r.outcome);
    eprintln!("aws rollback release: {calls} API calls, {intervals} gate interval(s)");
}

#[tokio::test]
async fn a_good_release_steps_through_modify_listener_and_reads_each_back() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    put(&stack, Color::Blue, 1000.0, 0.0).await;
    put(&stack, Color::Green, 100.0, 0.0).await;
    let before = stack.prod_modifies();
    // No minute of each step's own is published within its 2 s hold: the gates cannot judge,
    // and this plan goes on anyway (the listener is what this test is about).
    let mut good = release(&[1, 100, 500], 2, &[]);
    good.plan.on_inconclusive = bluegreen::rollout::plan::OnInconclusive::Proceed;
    let from = stack.proxy.mark();
    let (r, _, calls, intervals, per_interval) = drive(&stack, good).await;
    eprintln!(
        "aws good release, API calls by operation:\n{}",
        stack.proxy.calls_since(from).table()
    );
    assert_eq!(r.outcome, Some(Outcome::Released), "{:?}", r.gates);
    // Three steps and the promote, each one ModifyListener (read back by the driver).
    assert_eq!(stack.prod_modifies() - before, 4);
    assert_eq!(stack.topo.raw_weights().await.expect("weights"), (0, 999));
    // Target health, metrics, the release record, and now and then its rewrite.
    assert!(
        per_interval <= 4,
        "{per_interval} API calls in one gate interval"
    );
    eprintln!(
        "aws good release: {calls} API calls in all, {intervals} gate intervals, at most {per_interval} calls per interval"
    );
}

#[tokio::test]
async fn an_alarm_in_alarm_rolls_back() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    put(&stack, Color::Blue, 1000.0, 0.0).await;
    put(&stack, Color::Green, 100.0, 0.0).await;
    put_alarm(&stack, "blog-5xx").await;
    let cw = aws_sdk_cloudwatch::Client::new(&stack.topo.sdk);
    cw.set_alarm_state()
        .alarm_name("blog-5xx")
        .state_value(StateValue::Alarm)
        .state_reason("test")
        .send()
        .await
        .expect("set alarm state");
    let (r, _, _, _, _) = drive(&stack, release(&[100], 60, &["blog-5xx"])).await;
    let Some(Outcome::RolledBack { failed, .. }) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(failed[0].gate, Gate::Alarms);
    assert_eq!(failed[0].reason.as_deref(), Some("blog-5xx"));
    assert_eq!(stack.topo.weights().await.expect("weights"), (100, 0));
}

/// Errors green logged before the step's write (in the minute before, and in the minute the
/// write falls in, while it still ran the old revision or had no traffic) are not the step's:
/// with CloudWatch's one-minute periods, the release holds, inconclusive, instead of rolling
/// back for them.
#[tokio::test]
async fn errors_from_before_the_steps_write_never_fail_it() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    stack
        .proxy
        .aws_like(bluegreen_tests::aws::AwsLike {
            metrics_delay: Some(std::time::Duration::ZERO),
            elb_tags: false,
            elb_describe_bucket: None,
            filter_log_events_bucket: None,
        })
        .await
        .expect("aws-like");
    let before = now_ms() - 60_000;
    put_at(&stack, Color::Blue, 1000.0, 0.0, before).await;
    put_at(&stack, Color::Green, 100.0, 80.0, before).await;
    put(&stack, Color::Green, 100.0, 80.0).await;
    let platform: Arc<dyn Platform> = Arc::new(stack.adapter().await);
    let r = release(&[100], 60, &[]);
    platform.record_release(&r).await.expect("recorded");
    let ops = Ops::new(platform.clone(), Access::default()).with_accept_unmeasured(true);
    let held = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        ops.drive_release(r.clone(), &bluegreen::ops::release::Quiet, false),
    )
    .await;
    let recorded = platform.release().await.expect("read").expect("recorded");
    assert!(
        held.is_err(),
        "the release ended on errors from before its step: {:?}",
        held.map(|r| r.map(|r| (r.outcome, r.gates)))
    );
    assert_eq!(recorded.outcome, None, "{:?}", recorded.gates);
    let errors = recorded
        .gates
        .iter()
        .find(|g| g.gate == Gate::Errors)
        .expect("the errors gate was judged");
    assert_eq!(
        errors.verdict,
        bluegreen::rollout::Verdict::Inconclusive,
        "{errors:?}"
    );
    assert_eq!(stack.topo.weights().await.expect("weights"), (90, 10));
}
