//! What the platform reports: the observed state of the services, tasks, targets, listener,
//! builds and images. Plain data; everything derived lives in methods, never in fields.

use serde::{Deserialize, Serialize};

use super::{Color, PerColor, Share, Weights};

/// Milliseconds since the Unix epoch (UTC). Every timestamp that crosses the platform boundary
/// uses this, so the wire format and the JSON output stay simple and comparable.
pub type UnixMillis = i64;

/// One full refresh of the rollout-relevant state: both colors and the listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When the platform produced this snapshot.
    pub taken_at: UnixMillis,
    pub listener: Listener,
    pub colors: PerColor<ColorState>,
    /// API calls (AWS) or control requests (local) this refresh cost.
    pub api_calls: u32,
    /// Parts kept from an earlier read because their own read failed, each with why
    /// (`tasks (DescribeTasks …)`); only in a view's snapshot ([`crate::platform::Platform::snapshot_keeping`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale: Vec<String>,
}

/// The production listener (and the test listener's target).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    /// ARN on AWS, `host:port` locally.
    pub id: String,
    /// The weights in force, normalised to percent.
    pub weights: Weights,
    /// The stored stable color (a listener tag on AWS, daemon state locally).
    /// `None` when nothing was ever recorded.
    pub stable: Option<Color>,
    /// A promote whose bake has not finished yet.
    pub bake: Option<Bake>,
    /// The color the test listener forwards to, if it forwards to exactly one.
    pub test_color: Option<Color>,
    /// The test listener's id (ARN or `host:port`), if there is one.
    pub test_id: Option<String>,
    /// Faults the listener injects into a color's answers (`bluegreen local fault`; the local
    /// proxy only). Empty, and absent from JSON, everywhere else.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<InjectedFault>,
    /// The weights a console last wrote, recorded with the listener (a tag on AWS, the
    /// daemon's state locally) so every console on the environment shares it. `None` when no
    /// console has written them yet (a stack made elsewhere). Weights that differ from it
    /// were changed by someone else: drift ([`crate::rollout::drift`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<Written>,
    /// What a console last set on each color's service (AWS: listener tags beside the
    /// weights' record; the local daemon runs the services itself and records none). A
    /// service that differs was changed by someone else: drift.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub written_services: Vec<WrittenService>,
    /// The guard as its watcher last recorded it (the local daemon's; on AWS the holder of
    /// the watch lease's): what it watches, the gates' values, what it did last
    /// ([`crate::rollout::watch`]). `None` where nobody recorded one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<Box<super::watch::WatchRecord>>,
}

/// What a console last set on one color's service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenService {
    pub color: Color,
    pub desired: u32,
    /// `family:revision`, when the write named it (a deploy does; a scale reports what the
    /// service ran).
    pub task_definition: Option<String>,
}

/// What a console last wrote to the production listener, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub weights: Weights,
    /// When the write was made: the measured split counts only requests after it.
    pub at: UnixMillis,
}

/// A fault the local proxy injects into one color's answers, so a release's gates can be seen
/// catching a bad canary (`bluegreen local fault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectedFault {
    pub color: Color,
    /// The share of the color's requests the proxy answers with 503 instead of forwarding.
    pub error_rate: Share,
    /// Added to each of the color's requests before it is forwarded (or answered 503).
    pub latency_ms: u32,
    /// When it ends by itself; `None`: when cleared.
    pub until: Option<UnixMillis>,
}

impl InjectedFault {
    /// `20% 5xx +500ms, 1m40s left` (or `until cleared`): the fault, as every view shows it.
    pub fn describe(&self, now: UnixMillis) -> String {
        let mut parts = Vec::new();
        if self.error_rate.get() > 0 {
            parts.push(format!("{}% 5xx", self.error_rate));
        }
        if self.latency_ms > 0 {
            parts.push(format!("+{}ms", self.latency_ms));
        }
        let what = if parts.is_empty() {
            "nothing".to_string()
        } else {
            parts.join(" ")
        };
        match self.until {
            Some(until) => format!("{what}, {} left", crate::format::duration(until - now)),
            None => format!("{what}, until cleared"),
        }
    }
}

#[cfg(test)]
#[test]
fn a_fault_describes_itself() {
    let mut f = InjectedFault {
        color: Color::Green,
        error_rate: Share::percent(20).expect("valid"),
        latency_ms: 500,
        until: Some(100_000),
    };
    assert_eq!(f.describe(0), "20% 5xx +500ms, 1m40s left");
    f.error_rate = Share::permille(5).expect("valid");
    f.latency_ms = 0;
    f.until = None;
    assert_eq!(f.describe(0), "0.5% 5xx, until cleared");
    f.error_rate = Share::ZERO;
    f.latency_ms = 1500;
    assert_eq!(f.describe(0), "+1500ms, until cleared");
}

/// A promote in its bake period: the old color still runs, so rollback can undo the promote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bake {
    /// The color that was stable before the promote and still runs.
    pub old: Color,
    /// When the old color may be scaled down.
    pub until: UnixMillis,
    /// Keep the old color running after the bake.
    pub keep_old: bool,
}

/// One color's service, its tasks and its target group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColorState {
    pub color: Color,
    pub service: ServiceState,
    pub tasks: Vec<TaskState>,
    pub targets: Vec<TargetState>,
}

/// An ECS service (or a local supervisor service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceState {
    pub name: String,
    pub desired: u32,
    pub running: u32,
    pub pending: u32,
    /// e.g. `ACTIVE`, `DRAINING`; locally `ACTIVE`.
    pub status: String,
    /// Task definition family:revision (or the local equivalent).
    pub task_definition: String,
    pub revision: u32,
    /// The image the current task definition revision runs.
    pub image: Option<ImageRef>,
    pub deployments: Vec<Deployment>,
    /// Most recent first.
    pub events: Vec<ServiceEvent>,
}

/// An image by tag and digest, as a task definition or a task refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    /// Full reference as configured, e.g. `1234.dkr.ecr.us-east-1.amazonaws.com/blog:v2` or `blog:v2`.
    pub reference: String,
    pub tag: Option<String>,
    /// `sha256:…`, when known.
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: String,
    /// `PRIMARY`, `ACTIVE`, `INACTIVE`.
    pub status: String,
    pub task_definition: String,
    pub desired: u32,
    pub running: u32,
    pub pending: u32,
    /// `IN_PROGRESS`, `COMPLETED`, `FAILED`, when reported.
    pub rollout_state: Option<String>,
    pub updated_at: Option<UnixMillis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceEvent {
    pub at: UnixMillis,
    pub message: String,
}

/// One running (or stopping) task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    /// Short task id (the last ARN segment on AWS, `blue-1a2b` locally).
    pub id: String,
    /// `PROVISIONING`, `PENDING`, `RUNNING`, `DEACTIVATING`, `STOPPING`, `STOPPED`.
    pub last_status: String,
    pub health: TaskHealth,
    pub started_at: Option<UnixMillis>,
    pub revision: u32,
    pub image: Option<ImageRef>,
    /// Why the task stopped, when it did.
    pub stopped_reason: Option<String>,
}

/// The container health check's verdict, as ECS reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskHealth {
    Healthy,
    Unhealthy,
    Unknown,
}

/// One registered target of a color's target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetState {
    /// `ip:port` (AWS) or `127.0.0.1:port` (local).
    pub id: String,
    /// The task behind the target, when the platform can tell.
    pub task_id: Option<String>,
    pub health: TargetHealth,
    /// The load balancer's reason code and description for a non-healthy state.
    pub reason: Option<String>,
}

/// How many of `targets` receive traffic now: the one definition both the guards and the
/// rollback path (which reads target health alone) count with.
pub fn healthy_count(targets: &[TargetState]) -> usize {
    targets
        .iter()
        .filter(|t| t.health == TargetHealth::Healthy)
        .count()
}

/// The load balancer's view of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetHealth {
    Initial,
    Healthy,
    Unhealthy,
    Unused,
    Draining,
    Unavailable,
}

impl ColorState {
    /// Targets that receive traffic now.
    pub fn healthy_targets(&self) -> usize {
        healthy_count(&self.targets)
    }

    /// Whether the deployed revision carries the color: what `deploy --wait`, `wait --healthy`
    /// and every plan step wait for. The desired count of healthy targets run tasks *of the
    /// service's current revision*, no task of another revision is still a healthy target, and
    /// the primary deployment, where the platform reports its rollout, has completed. A
    /// platform that cannot join targets to tasks is judged by its deployment alone.
    pub fn release_healthy(&self) -> bool {
        let current = self.service.revision;
        let of_current = self.deployed_healthy_targets();
        let older = self
            .healthy_revisions()
            .iter()
            .flatten()
            .filter(|r| **r != current)
            .count();
        let rollout_done = self
            .service
            .deployments
            .iter()
            .find(|d| d.status == "PRIMARY")
            .and_then(|d| d.rollout_state.as_deref())
            .is_none_or(|state| state == "COMPLETED");
        of_current >= 1
            && of_current >= self.service.desired as usize
            && older == 0
            && rollout_done
            && self.service.running >= self.service.desired
    }

    /// The revision of each healthy target's task; `None` where the target joins no task.
    fn healthy_revisions(&self) -> Vec<Option<u32>> {
        let revision_of = |target: &TargetState| {
            let id = target.task_id.as_ref()?;
            self.tasks.iter().find(|t| &t.id == id).map(|t| t.revision)
        };
        self.targets
            .iter()
            .filter(|t| t.health == TargetHealth::Healthy)
            .map(revision_of)
            .collect()
    }

    /// Healthy targets whose task runs the service's deployed revision: right after a deploy
    /// the old revision's tasks are still healthy targets, and do not count. Where no target
    /// joins a task (a platform that cannot tell), every healthy target counts.
    pub fn deployed_healthy_targets(&self) -> usize {
        let healthy = self.healthy_revisions();
        if healthy.iter().flatten().next().is_none() {
            return healthy.len();
        }
        healthy
            .iter()
            .filter(|r| **r == Some(self.service.revision))
            .count()
    }

    /// Whether the color could take traffic: at least one healthy target of its deployed
    /// revision and no fewer than the service's desired count (the guard for giving traffic to
    /// a color, which counts as `deploy --wait` and the plan steps do).
    pub fn can_take_traffic(&self) -> bool {
        let healthy = self.deployed_healthy_targets();
        healthy >= 1 && healthy >= self.service.desired as usize
    }
}

/// A build (CodeBuild, or the local build runner).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Build {
    pub id: String,
    /// Build number within the project, when the platform numbers them.
    pub number: Option<u64>,
    pub status: BuildStatus,
    pub source_version: Option<String>,
    /// The resolved commit, when known.
    pub resolved_source: Option<String>,
    pub started_at: Option<UnixMillis>,
    pub ended_at: Option<UnixMillis>,
    /// In CodeBuild's order: SUBMITTED, QUEUED, PROVISIONING, DOWNLOAD_SOURCE, INSTALL,
    /// PRE_BUILD, BUILD, POST_BUILD, UPLOAD_ARTIFACTS, FINALIZING, COMPLETED.
    pub phases: Vec<BuildPhase>,
    /// Where the build's log is: a CloudWatch group/stream or a local file path.
    pub log_location: Option<String>,
    /// Variables the build exported, e.g. `IMAGE_DIGEST`, `IMAGE_TAG`.
    pub exported: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildPhase {
    /// CodeBuild's phase name, e.g. `PRE_BUILD`.
    pub name: String,
    pub status: BuildStatus,
    pub started_at: Option<UnixMillis>,
    pub ended_at: Option<UnixMillis>,
    pub duration_ms: Option<u64>,
    /// Messages the platform attached (a failed command, for example).
    pub context: Vec<String>,
}

/// A build's or a phase's status. `Queued` covers a phase that has not started yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BuildStatus {
    Queued,
    InProgress,
    Succeeded,
    Failed,
    Fault,
    TimedOut,
    Stopped,
}

impl BuildStatus {
    pub fn is_done(self) -> bool {
        !matches!(self, BuildStatus::Queued | BuildStatus::InProgress)
    }
}

/// An image in the registry (ECR, or the local registry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub digest: String,
    pub tags: Vec<String>,
    pub size_bytes: Option<u64>,
    pub pushed_at: Option<UnixMillis>,
}

/// Traffic metrics for one color over a recent window (CloudWatch's ALB metrics per target
/// group, or the local proxy's counters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColorMetrics {
    /// Points oldest first, one per period.
    pub points: Vec<MetricPoint>,
    /// The whole window as one point (`at` = its end), its p99 computed over every request
    /// of the window rather than combined from the points' p99s: what a release's gates
    /// judge. `None` when the platform gave no summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<MetricPoint>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub at: UnixMillis,
    pub requests: u64,
    pub errors_5xx: u64,
    /// p99 latency within the period, in milliseconds, when there were requests.
    pub p99_ms: Option<f64>,
}

/// One log line from a task, tagged the way the awslogs driver tags streams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub color: Color,
    pub task_id: String,
    pub at: UnixMillis,
    pub message: String,
}
