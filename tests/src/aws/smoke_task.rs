//! The container of the console's one-off smoke task (`[profiles.X.smoke] from = "task"`),
//! played by a test: moto starts no container, so [`play_smoke_task`] waits for the task the
//! console started, reads what ECS would have run (its command, environment and network),
//! writes its log lines where awslogs would, sets its exit code and stops it, as the
//! container's exit would.

use std::time::{Duration, Instant};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use bluegreen::rollout::Color;

use super::topology::CONTAINER;
use super::{FaultProxy, Topology};

/// What the console asked ECS to run.
#[derive(Debug, Clone)]
pub struct SmokeTaskSeen {
    pub task: String,
    pub task_definition: String,
    pub command: Vec<String>,
    pub environment: Vec<(String, String)>,
    /// The subnet of the task's network interface (from the service's configuration).
    pub subnets: Vec<String>,
    pub started_by: String,
}

/// Waits (at most 60 s) for a task started by `bluegreen-smoke`, writes `lines` to its
/// awslogs stream (`COLOR/CONTAINER/TASK_ID`), sets its exit code to `exit` and stops it.
pub async fn play_smoke_task(
    topo: &Topology,
    proxy: &FaultProxy,
    color: Color,
    exit: i32,
    lines: &[&str],
) -> anyhow::Result<SmokeTaskSeen> {
    let ecs = topo.ecs();
    let started = Instant::now();
    let arn = loop {
        let out = ecs
            .list_tasks()
            .cluster(&topo.cluster)
            .started_by(bluegreen::platform::aws::smoke::STARTED_BY)
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
            .send()
            .await?;
        if let Some(arn) = out.task_arns().first() {
            break arn.clone();
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "no smoke task was started within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let out = ecs
        .describe_tasks()
        .cluster(&topo.cluster)
        .tasks(&arn)
        .send()
        .await?;
    let t = out
        .tasks()
        .first()
        .ok_or_else(|| anyhow::anyhow!("task {arn} not described"))?;
    let task = arn.rsplit('/').next().unwrap_or_default().to_string();
    let o = t
        .overrides()
        .and_then(|o| o.container_overrides().first())
        .ok_or_else(|| anyhow::anyhow!("task {arn} has no container override"))?;
    let vpc = t.attachments().first();
    let detail = |name: &str| {
        vpc.map(|a| {
            a.details()
                .iter()
                .filter(|d| d.name() == Some(name))
                .filter_map(|d| d.value().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
    };
    let seen = SmokeTaskSeen {
        task: task.clone(),
        task_definition: t.task_definition_arn().unwrap_or_default().to_string(),
        command: o.command().to_vec(),
        environment: o
            .environment()
            .iter()
            .map(|kv| {
                (
                    kv.name().unwrap_or_default().to_string(),
                    kv.value().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        subnets: detail("subnetId"),
        started_by: t.started_by().unwrap_or_default().to_string(),
    };
    anyhow::ensure!(
        o.name() == Some(CONTAINER),
        "the override names container {:?}, not {CONTAINER}",
        o.name()
    );
    let logs = aws_sdk_cloudwatchlogs::Client::new(&topo.sdk);
    let stream = format!("{color}/{CONTAINER}/{task}");
    logs.create_log_stream()
        .log_group_name(&topo.log_group)
        .log_stream_name(&stream)
        .send()
        .await?;
    if !lines.is_empty() {
        let now = bluegreen::clock::now_millis();
        let mut put = logs
            .put_log_events()
            .log_group_name(&topo.log_group)
            .log_stream_name(&stream);
        for (i, line) in lines.iter().enumerate() {
            put = put.log_events(
                InputLogEvent::builder()
                    .timestamp(now + i as i64)
                    .message(*line)
                    .build()?,
            );
        }
        put.send().await?;
    }
    proxy.container_exit(&task, exit);
    ecs.stop_task()
        .cluster(&topo.cluster)
        .task(&arn)
        .reason("Essential container in task exited")
        .send()
        .await?;
    Ok(seen)
}
