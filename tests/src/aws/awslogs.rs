//! The awslogs log driver as ECS runs it, in front of moto's CloudWatch Logs: each task's
//! lines are stamped when the container writes them, kept in a buffer, and shipped with one
//! PutLogEvents per stream every few seconds (Docker's awslogs driver flushes every 5 s, or
//! sooner when a batch is full). So the lines of task B stamped before the newest visible line
//! of task A become visible after it: the late delivery a tail has to survive.
//!
//! A test logs lines and either flushes streams by hand ([`AwsLogs::flush`], to set up an
//! exact order) or lets each stream flush on its own period ([`AwsLogs::spawn_flushers`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use bluegreen::rollout::Color;

/// One line as it was written and when it became visible in CloudWatch.
#[derive(Debug, Clone)]
pub struct Shipped {
    pub stream: String,
    pub message: String,
    /// When the container wrote it (its timestamp), in Unix milliseconds.
    pub stamped_ms: i64,
    /// When PutLogEvents returned with it.
    pub visible: Instant,
}

#[derive(Default)]
struct Buffers {
    /// Stream → lines written and not shipped yet: (timestamp, message).
    pending: BTreeMap<String, Vec<(i64, String)>>,
    shipped: Vec<Shipped>,
}

/// The driver for one log group.
#[derive(Clone)]
pub struct AwsLogs {
    client: aws_sdk_cloudwatchlogs::Client,
    group: String,
    buffers: Arc<Mutex<Buffers>>,
}

impl AwsLogs {
    pub fn new(sdk: &aws_config::SdkConfig, group: &str) -> Self {
        AwsLogs {
            client: aws_sdk_cloudwatchlogs::Client::new(sdk),
            group: group.to_string(),
            buffers: Arc::default(),
        }
    }

    /// The stream awslogs makes for a task: `PREFIX/CONTAINER/TASK_ID`, created now unless
    /// it exists.
    pub async fn stream(&self, color: Color, task: &str) -> anyhow::Result<String> {
        let name = format!("{color}/{}/{task}", super::topology::CONTAINER);
        match self
            .client
            .create_log_stream()
            .log_group_name(&self.group)
            .log_stream_name(&name)
            .send()
            .await
        {
            Ok(_) => Ok(name),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_already_exists_exception()) =>
            {
                Ok(name)
            }
            Err(e) => Err(anyhow::anyhow!("create_log_stream {name}: {e:?}")),
        }
    }

    /// The container writes `message` now: stamped now, shipped at the stream's next flush.
    pub fn log(&self, stream: &str, message: &str) {
        let at = bluegreen::clock::now_millis();
        if let Ok(mut b) = self.buffers.lock() {
            b.pending
                .entry(stream.to_string())
                .or_default()
                .push((at, message.to_string()));
        }
    }

    /// Ships what `stream` holds with one PutLogEvents (nothing when it holds nothing).
    pub async fn flush(&self, stream: &str) -> anyhow::Result<usize> {
        let lines = match self.buffers.lock() {
            Ok(mut b) => b.pending.remove(stream).unwrap_or_default(),
            Err(_) => return Ok(0),
        };
        if lines.is_empty() {
            return Ok(0);
        }
        let events = lines
            .iter()
            .map(|(at, m)| InputLogEvent::builder().timestamp(*at).message(m).build())
            .collect::<Result<Vec<_>, _>>()?;
        self.client
            .put_log_events()
            .log_group_name(&self.group)
            .log_stream_name(stream)
            .set_log_events(Some(events))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("put_log_events {stream}: {e:?}"))?;
        let visible = Instant::now();
        if let Ok(mut b) = self.buffers.lock() {
            b.shipped.extend(lines.iter().map(|(at, m)| Shipped {
                stream: stream.to_string(),
                message: m.clone(),
                stamped_ms: *at,
                visible,
            }));
        }
        Ok(lines.len())
    }

    /// Flushes each stream every `every`, the streams' phases spread evenly over it, as
    /// independent tasks' drivers are; stops when the returned handles are dropped or aborted.
    pub fn spawn_flushers(&self, streams: &[String], every: Duration) -> Vec<Flusher> {
        let n = streams.len().max(1) as u32;
        streams
            .iter()
            .enumerate()
            .map(|(i, stream)| {
                let me = self.clone();
                let stream = stream.clone();
                let phase = every * i as u32 / n;
                Flusher(tokio::spawn(async move {
                    tokio::time::sleep(phase).await;
                    loop {
                        tokio::time::sleep(every).await;
                        let _ = me.flush(&stream).await;
                    }
                }))
            })
            .collect()
    }

    /// Every line shipped so far, in shipping order.
    pub fn shipped(&self) -> Vec<Shipped> {
        self.buffers
            .lock()
            .map(|b| b.shipped.clone())
            .unwrap_or_default()
    }
}

/// A stream's flusher; stops when dropped.
pub struct Flusher(tokio::task::JoinHandle<()>);

impl Drop for Flusher {
    fn drop(&mut self) {
        self.0.abort();
    }
}
