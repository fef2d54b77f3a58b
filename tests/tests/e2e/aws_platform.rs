//! The AWS adapter used as a library (as the console's pollers use it), against moto: the
//! refresh's API-call budget, the incremental log tail, and ALB metrics.

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use bluegreen::platform::aws::AwsPlatform;
use bluegreen::platform::{LogCursor, Platform};
use bluegreen::rollout::Color;
use bluegreen_tests::aws::{Stack, TopologyOptions};

struct Env {
    stack: Stack,
    platform: AwsPlatform,
}

impl std::ops::Deref for Env {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.stack
    }
}

async fn start() -> Env {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    let platform = stack.adapter().await;
    Env { stack, platform }
}

fn now_ms() -> i64 {
    bluegreen::clock::now_millis()
}

/// snapshot + builds + images, and the calls they cost.
async fn full_refresh(p: &AwsPlatform) -> u64 {
    let before = p.api_calls();
    let snap = p.snapshot().await.expect("snapshot");
    assert_eq!(
        u64::from(snap.api_calls),
        p.api_calls() - before,
        "the snapshot reports what it cost"
    );
    p.builds(5).await.expect("builds");
    p.images().await.expect("images");
    p.api_calls() - before
}

#[tokio::test]
async fn a_full_refresh_costs_at_most_twelve_calls() {
    let env = start().await;
    env.platform
        .start_build(None)
        .await
        .expect("a build, so BatchGetBuilds is called");
    let cold = full_refresh(&env.platform).await;
    let warm = full_refresh(&env.platform).await;
    // DescribeListeners, DescribeTags, DescribeServices, ListTasks, DescribeTasks,
    // DescribeTargetHealth ×2, ListBuildsForProject, BatchGetBuilds, DescribeImages, and the
    // two task definitions once (they are cached by ARN).
    assert_eq!(cold, 12, "cold refresh");
    assert_eq!(warm, 10, "warm refresh");
}

#[tokio::test]
async fn logs_are_tailed_incrementally_with_color_and_task() {
    let env = start().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&env.topo.sdk);
    let put = |color: Color, index: usize, messages: Vec<&'static str>| {
        let logs = logs.clone();
        let task = env.topo.tasks.get(color)[index].clone();
        let group = env.topo.log_group.clone();
        async move {
            let stream = format!("{color}/blog/{task}");
            let events = messages
                .into_iter()
                .enumerate()
                .map(|(i, m)| {
                    InputLogEvent::builder()
                        .timestamp(now_ms() + i as i64)
                        .message(m)
                        .build()
                        .expect("event")
                })
                .collect();
            logs.put_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .set_log_events(Some(events))
                .send()
                .await
                .expect("put log events");
            task
        }
    };
    let since = now_ms() - 60_000;
    let blue_task = put(Color::Blue, 0, vec!["GET / 200", "GET /post/1 200"]).await;
    let green_task = put(Color::Green, 1, vec!["GET /health 200"]).await;

    let cursor = LogCursor {
        since: Some(since),
        ..Default::default()
    };
    let first = env
        .platform
        .read_logs(&cursor, 100)
        .await
        .expect("read logs");
    let seen: Vec<(Color, &str, &str)> = first
        .lines
        .iter()
        .map(|l| (l.color, l.task_id.as_str(), l.message.as_str()))
        .collect();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.contains(&(Color::Blue, blue_task.as_str(), "GET / 200")));
    assert!(seen.contains(&(Color::Blue, blue_task.as_str(), "GET /post/1 200")));
    assert!(seen.contains(&(Color::Green, green_task.as_str(), "GET /health 200")));

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    put(Color::Green, 1, vec!["POST /new 303"]).await;
    let second = env
        .platform
        .read_logs(&first.cursor, 100)
        .await
        .expect("read logs");
    let messages: Vec<&str> = second.lines.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["POST /new 303"], "only the new line");
    let third = env
        .platform
        .read_logs(&second.cursor, 100)
        .await
        .expect("read logs");
    assert!(third.lines.is_empty(), "{:?}", third.lines);
}

#[tokio::test]
async fn alb_metrics_per_color() {
    let env = start().await;
    let cw = aws_sdk_cloudwatch::Client::new(&env.topo.sdk);
    let dim = |arn: &str| arn.splitn(6, ':').nth(5).unwrap_or_default().to_string();
    let lb = dim(&env.topo.load_balancer)
        .trim_start_matches("loadbalancer/")
        .to_string();
    for (color, requests, errors) in [(Color::Blue, 120.0, 3.0), (Color::Green, 30.0, 0.0)] {
        let dims = vec![
            Dimension::builder()
                .name("TargetGroup")
                .value(dim(env.topo.target_groups.get(color)))
                .build(),
            Dimension::builder().name("LoadBalancer").value(&lb).build(),
        ];
        let datum = |name: &str, value: f64, unit: StandardUnit| {
            MetricDatum::builder()
                .metric_name(name)
                .set_dimensions(Some(dims.clone()))
                .value(value)
                .unit(unit)
                .timestamp(aws_smithy_types_now())
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
    let metrics = env
        .platform
        .metrics(900)
        .await
        .expect("metrics")
        .expect("AWS has metrics");
    let total = |c: Color| -> (u64, u64) {
        metrics
            .get(c)
            .points
            .iter()
            .fold((0, 0), |(r, e), p| (r + p.requests, e + p.errors_5xx))
    };
    assert_eq!(total(Color::Blue), (120, 3));
    assert_eq!(total(Color::Green), (30, 0));
    let p99 = metrics.blue.points.iter().find_map(|p| p.p99_ms);
    assert_eq!(p99, Some(25.0), "latency in milliseconds");
}

fn aws_smithy_types_now() -> aws_sdk_cloudwatch::primitives::DateTime {
    aws_sdk_cloudwatch::primitives::DateTime::from_millis(now_ms())
}

#[tokio::test]
async fn listeners_given_as_name_and_port_are_resolved() {
    let env = start().await;
    let text = env
        .topo
        .profile_toml("moto", false)
        .replace(&env.topo.prod_listener, "blog:80")
        .replace(&env.topo.test_listener, "blog:8080");
    let platform = env.adapter_for(&text).await.expect("adapter");
    let listener = platform.listener().await.expect("listener");
    assert_eq!(listener.id, env.topo.prod_listener);
    assert_eq!(
        listener.test_id.as_deref(),
        Some(env.topo.test_listener.as_str())
    );
    assert_eq!(listener.test_color, Some(Color::Green));

    let wrong = text.replace("blog:80\"", "blog:81\"");
    let err = env
        .adapter_for(&wrong)
        .await
        .err()
        .expect("no listener on port 81");
    assert!(
        err.to_string()
            .contains("the load balancer has no listener on port 81"),
        "{err}"
    );
}

#[tokio::test]
async fn a_second_promote_during_the_bake_is_refused() {
    use bluegreen::ops::{Access, OpError, Ops, PromoteOptions};
    let env = start().await;
    let ops = Ops::new(
        std::sync::Arc::new(env.stack.adapter().await),
        Access::default(),
    );
    let opts = PromoteOptions {
        bake: std::time::Duration::from_secs(600),
        keep_old: false,
    };
    let first = ops.promote(opts, None).await.expect("promote");
    assert_eq!(first.promoted, Color::Green);
    let err = ops.promote(opts, None).await.expect_err("bake pending");
    let OpError::Refused(refusal) = &err else {
        panic!("refused, got {err}")
    };
    assert!(
        refusal
            .reason
            .contains("green is already promoted and its bake is pending"),
        "{refusal}"
    );
    assert_eq!(env.topo.weights().await.expect("weights"), (0, 100));
    // Rollback still undoes it.
    assert_eq!(ops.rollback().await.expect("rollback").target, Color::Blue);
}
