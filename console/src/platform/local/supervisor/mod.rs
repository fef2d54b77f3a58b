//! The supervisor: the local stand-in for an ECS service per color. It keeps each color's
//! desired count of blog processes running, health-checks them as a target group does,
//! replaces crashed or unhealthy tasks, and rolls a new release out by starting the new
//! tasks first and draining the old ones only once the new ones are healthy.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::files;
use super::paths::Paths;
use super::proxy::route::Routes;
use super::proxy::upstream::Upstream;
use super::registry::{Digest, Registry};
use crate::clock::now_millis;
use crate::format::short_digest;
use crate::rollout::{
    Color, ColorState, Deployment, ImageRef, PerColor, ServiceEvent, ServiceState, TargetHealth,
    TargetState, TaskHealth, TaskState, UnixMillis,
};

pub mod health;
mod pipes;
mod process;
mod task;

pub(crate) use task::signal;

use health::{Streaks, TargetPhase};

/// Timing of health checks, draining and stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorConfig {
    pub health_interval: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// The longest a deregistered target waits for its in-flight requests before SIGTERM.
    pub deregistration_delay: Duration,
    /// SIGTERM → SIGKILL.
    pub stop_timeout: Duration,
    /// How long a new task may take to listen and pass its first health checks.
    pub start_grace: Duration,
    pub logs: LogLimits,
}

/// How much of its tasks' output the daemon keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLimits {
    /// A task's log is rotated to `<task>.log.1` (replacing an older one) at this size, so a
    /// live task keeps at most twice this.
    pub max_bytes: u64,
    /// Ended tasks per color whose logs are kept.
    pub old_tasks: usize,
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            max_bytes: crate::rollout::limits::LOCAL_TASK_LOG_BYTES,
            old_tasks: crate::rollout::limits::LOCAL_OLD_TASK_LOGS,
        }
    }
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            health_interval: Duration::from_secs(1),
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            deregistration_delay: Duration::from_secs(5),
            stop_timeout: Duration::from_secs(10),
            start_grace: Duration::from_secs(30),
            logs: LogLimits::default(),
        }
    }
}

/// What a color runs: a tag, its digest and the revision number the deploy gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub tag: String,
    pub digest: Digest,
    pub revision: u32,
}

/// The persisted part of one color's service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub desired: u32,
    pub release: Option<Release>,
    /// The last revision number handed out.
    pub revisions: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(transparent)]
    Registry(#[from] super::registry::RegistryError),
    #[error("nothing is deployed to {0}: deploy a tag to it before scaling it up")]
    NothingDeployed(Color),
    #[error(
        "{desired} tasks for {color} is more than the local platform runs ({max} per color): each task is a process on this machine"
    )]
    TooMany {
        color: Color,
        desired: u32,
        max: u32,
    },
}

/// Refuses a task count the local platform will not run.
fn bounded(color: Color, desired: u32) -> Result<(), SupervisorError> {
    let max = crate::rollout::limits::LOCAL_MAX_TASKS;
    if desired > max {
        return Err(SupervisorError::TooMany {
            color,
            desired,
            max,
        });
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskStatus {
    Pending,
    Running,
    Deactivating,
    Stopping,
    Stopped,
}

impl TaskStatus {
    fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "PENDING",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Deactivating => "DEACTIVATING",
            TaskStatus::Stopping => "STOPPING",
            TaskStatus::Stopped => "STOPPED",
        }
    }
}

#[derive(Debug)]
struct Task {
    id: String,
    release: Release,
    pid: Option<u32>,
    /// The kernel's start time of `pid`, which tells it from a later process with its pid.
    start_time: Option<u64>,
    upstream: Option<Arc<Upstream>>,
    status: TaskStatus,
    /// `None` until the task listens and is registered with the proxy.
    target: Option<TargetPhase>,
    streaks: Streaks,
    last_check_error: Option<String>,
    started_at: UnixMillis,
    created: Instant,
    stopped_reason: Option<String>,
    stopped_at: Option<Instant>,
    stop_requested: bool,
    ever_healthy: bool,
    /// Signals for the process, delivered by the runner that owns and reaps it.
    signals: tokio::sync::mpsc::UnboundedSender<nix::sys::signal::Signal>,
}

impl Task {
    fn active(&self) -> bool {
        !self.stop_requested && self.status != TaskStatus::Stopped
    }

    fn healthy(&self) -> bool {
        self.active() && self.target == Some(TargetPhase::Healthy)
    }
}

#[derive(Debug, Default)]
struct Service {
    spec: ServiceSpec,
    tasks: Vec<Task>,
    events: VecDeque<ServiceEvent>,
    /// Tasks of the current release that died before ever becoming healthy, in a row.
    crash_streak: u32,
    next_start: Option<Instant>,
    /// The revision whose rollout completion was announced.
    completed_revision: u32,
}

const EVENTS_KEPT: usize = 50;
const STOPPED_KEPT: usize = 10;

impl Service {
    fn event(&mut self, message: String) {
        tracing::info!("{message}");
        self.events.push_front(ServiceEvent {
            at: now_millis(),
            message,
        });
        self.events.truncate(EVENTS_KEPT);
    }
}

/// Both colors' services.
pub struct Supervisor {
    cfg: SupervisorConfig,
    paths: Paths,
    registry: Registry,
    routes: Arc<Routes>,
    csrf_secret: String,
    services: Mutex<PerColor<Service>>,
    /// Held from reading the live pids to renaming `tasks.json`, so a slower writer never
    /// replaces a newer list with its older one.
    tasks_file: Mutex<()>,
    wake: Notify,
    shutdown: CancellationToken,
    /// Cancelled when this daemon hands its tasks over to a new one: it stops watching,
    /// checking and logging them, and leaves them running.
    detach: CancellationToken,
    /// The tasks that write task logs, waited for before a handover.
    log_writers: TaskTracker,
}

/// What `tasks.json` keeps of one live task, for the next daemon to adopt it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: String,
    pub color: Color,
    pub pid: u32,
    pub start_time: u64,
    pub release: Release,
    /// Where it listens; `None` while it starts.
    pub addr: Option<SocketAddr>,
    pub started_at: UnixMillis,
    pub healthy: bool,
    /// Being stopped: the next daemon finishes the stop.
    pub stopping: bool,
}

/// `tasks.json`: the records, or (as written before adoption existed) a bare pid list.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum TasksFile {
    Records { tasks: Vec<TaskRecord> },
    Pids(Vec<u32>),
}

/// A live task an earlier daemon left, ready to be adopted.
#[derive(Debug)]
pub struct Orphan {
    record: TaskRecord,
    addr: SocketAddr,
    pidfd: process::PidFd,
}

impl Supervisor {
    pub fn new(
        cfg: SupervisorConfig,
        paths: Paths,
        routes: Arc<Routes>,
        csrf_secret: String,
        specs: PerColor<ServiceSpec>,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let registry = Registry::new(paths.registry_dir());
        let services = specs.map(|_, spec| Service {
            spec: spec.clone(),
            completed_revision: spec.release.as_ref().map(|r| r.revision).unwrap_or(0),
            ..Service::default()
        });
        Arc::new(Supervisor {
            cfg,
            paths,
            registry,
            routes,
            csrf_secret,
            services: Mutex::new(services),
            tasks_file: Mutex::new(()),
            wake: Notify::new(),
            shutdown,
            detach: CancellationToken::new(),
            log_writers: TaskTracker::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, PerColor<Service>> {
        self.services.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The persisted part of both services.
    pub fn specs(&self) -> PerColor<ServiceSpec> {
        self.lock().map(|_, s| s.spec.clone())
    }

    /// Points `color` at `tag` with `desired` tasks: a new revision whose tasks start before
    /// the old ones drain.
    pub fn deploy(
        &self,
        color: Color,
        tag: &str,
        desired: u32,
    ) -> Result<Release, SupervisorError> {
        bounded(color, desired)?;
        let digest = self.registry.resolve(tag)?;
        let release = {
            let mut all = self.lock();
            let svc = all.get_mut(color);
            svc.spec.revisions += 1;
            let release = Release {
                tag: tag.to_string(),
                digest: digest.clone(),
                revision: svc.spec.revisions,
            };
            svc.spec.release = Some(release.clone());
            svc.spec.desired = desired;
            svc.crash_streak = 0;
            svc.next_start = None;
            svc.event(format!(
                "blog-{color}: deployment of revision {} started ({tag}, {}, desired {desired})",
                release.revision,
                short_digest(digest.as_str())
            ));
            release
        };
        self.wake.notify_one();
        Ok(release)
    }

    pub fn scale(&self, color: Color, desired: u32) -> Result<(), SupervisorError> {
        bounded(color, desired)?;
        {
            let mut all = self.lock();
            let svc = all.get_mut(color);
            if desired > 0 && svc.spec.release.is_none() {
                return Err(SupervisorError::NothingDeployed(color));
            }
            if svc.spec.desired != desired {
                svc.event(format!(
                    "blog-{color}: desired count {} → {desired}",
                    svc.spec.desired
                ));
            }
            svc.spec.desired = desired;
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Kills (SIGKILL) every running task of `color` once, as a crash would (`bluegreen local
    /// fault --crash`); the supervisor replaces them as it replaces any crashed task. Returns
    /// the tasks killed with their pids. The signal goes through each task's runner, so a pid
    /// already reaped is never signalled.
    pub fn crash(&self, color: Color) -> Vec<(String, u32)> {
        let mut all = self.lock();
        let svc = all.get_mut(color);
        let killed: Vec<(String, u32)> = svc
            .tasks
            .iter()
            .filter(|t| t.active())
            .filter_map(|t| {
                let pid = t.pid?;
                t.signals
                    .send(nix::sys::signal::Signal::SIGKILL)
                    .ok()
                    .map(|()| (t.id.clone(), pid))
            })
            .collect();
        for (id, pid) in &killed {
            svc.event(format!(
                "blog-{color}: task {id} (pid {pid}) killed by `bluegreen local fault --crash`"
            ));
        }
        killed
    }

    /// Whether `color` runs its current release with every desired task healthy.
    pub fn settled(&self, color: Color) -> bool {
        let all = self.lock();
        let svc = all.get(color);
        let Some(rel) = &svc.spec.release else {
            return false;
        };
        let healthy = svc
            .tasks
            .iter()
            .filter(|t| t.healthy() && t.release.revision == rel.revision)
            .count();
        svc.spec.desired > 0 && healthy >= svc.spec.desired as usize
    }

    /// The supervisor loop: reconciles on every change and at least twice a second.
    pub async fn run(self: Arc<Self>) {
        loop {
            self.reconcile();
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = self.detach.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    fn reconcile(self: &Arc<Self>) {
        let mut to_start: Vec<(Color, Release)> = Vec::new();
        let mut to_stop: Vec<(Color, String, String)> = Vec::new();
        {
            let mut all = self.lock();
            for color in Color::ALL {
                let svc = all.get_mut(color);
                prune_stopped(svc);
                let Some(rel) = svc.spec.release.clone() else {
                    continue;
                };
                let desired = svc.spec.desired as usize;
                let mut current: Vec<&Task> = svc
                    .tasks
                    .iter()
                    .filter(|t| t.active() && t.release.revision == rel.revision)
                    .collect();
                if current.len() < desired {
                    let may_start = svc.next_start.is_none_or(|at| Instant::now() >= at);
                    let starting = svc
                        .tasks
                        .iter()
                        .filter(|t| t.active() && t.status == TaskStatus::Pending)
                        .count();
                    if may_start {
                        for _ in 0..starts_now(desired - current.len(), starting) {
                            to_start.push((color, rel.clone()));
                        }
                    }
                } else if current.len() > desired {
                    // Scale in: the least useful first (not healthy, then newest).
                    current.sort_by_key(|t| (t.healthy(), std::cmp::Reverse(t.created)));
                    for t in &current[..current.len() - desired] {
                        to_stop.push((color, t.id.clone(), "scaled in".into()));
                    }
                }
                let healthy_current = svc
                    .tasks
                    .iter()
                    .filter(|t| t.healthy() && t.release.revision == rel.revision)
                    .count();
                if healthy_current >= desired {
                    for t in svc
                        .tasks
                        .iter()
                        .filter(|t| t.active() && t.release.revision != rel.revision)
                    {
                        to_stop.push((
                            color,
                            t.id.clone(),
                            format!("replaced by revision {}", rel.revision),
                        ));
                    }
                    let old_left = svc.tasks.iter().any(|t| {
                        t.status != TaskStatus::Stopped && t.release.revision != rel.revision
                    });
                    if !old_left && svc.completed_revision != rel.revision && desired > 0 {
                        svc.completed_revision = rel.revision;
                        svc.event(format!(
                            "blog-{color}: deployment of revision {} ({}) completed: {healthy_current} healthy task(s)",
                            rel.revision, rel.tag
                        ));
                    }
                }
            }
        }
        for (color, id, reason) in to_stop {
            self.stop_task(color, &id, &reason, true);
        }
        for (color, rel) in to_start {
            self.start_task(color, rel);
        }
    }

    /// Pushes a color's healthy, not-stopping targets to the proxy.
    fn update_routes(&self, all: &PerColor<Service>, color: Color) {
        let targets: Vec<Arc<Upstream>> = all
            .get(color)
            .tasks
            .iter()
            .filter(|t| t.healthy())
            .filter_map(|t| t.upstream.clone())
            .collect();
        self.routes.set_targets(color, targets);
    }

    /// Deregisters a task and stops it: with `drain`, in-flight requests finish first (up to
    /// the deregistration delay); then SIGTERM, and SIGKILL after the stop timeout. Both go
    /// through the task's runner, which owns the process: a pid it has reaped (and that
    /// another process may have by now) is never signalled.
    pub fn stop_task(self: &Arc<Self>, color: Color, id: &str, reason: &str, drain: bool) {
        let (upstream, signals) = {
            let mut all = self.lock();
            let Some(t) = all
                .get_mut(color)
                .tasks
                .iter_mut()
                .find(|t| t.id == id && t.active())
            else {
                return;
            };
            t.stop_requested = true;
            t.stopped_reason = Some(reason.to_string());
            t.status = TaskStatus::Deactivating;
            if t.target.is_some() {
                t.target = Some(TargetPhase::Draining);
            }
            let out = (t.upstream.clone(), t.signals.clone());
            if let Some(up) = &out.0 {
                // Stop routing to it and close its idle pooled connections at once.
                up.start_draining();
            }
            self.update_routes(&all, color);
            all.get_mut(color)
                .event(format!("blog-{color}: stopping task {id}: {reason}"));
            out
        };
        let me = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            if drain && let Some(up) = &upstream {
                let deadline = Instant::now() + me.cfg.deregistration_delay;
                while up.inflight() > 0 && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            me.set_status(color, &id, TaskStatus::Stopping);
            // Queued until the runner has a process to deliver it to; a send fails only once
            // the runner is gone, i.e. the process was reaped (or never started).
            let _ = signals.send(nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + me.cfg.stop_timeout;
            while Instant::now() < deadline {
                if me.is_stopped(color, &id) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tracing::warn!(
                "task {id} ignored SIGTERM for {:?}: SIGKILL",
                me.cfg.stop_timeout
            );
            let _ = signals.send(nix::sys::signal::Signal::SIGKILL);
        });
    }

    fn set_status(&self, color: Color, id: &str, status: TaskStatus) {
        let mut all = self.lock();
        if let Some(t) = all.get_mut(color).tasks.iter_mut().find(|t| t.id == id)
            && t.status != TaskStatus::Stopped
        {
            t.status = status;
        }
    }

    fn is_stopped(&self, color: Color, id: &str) -> bool {
        self.lock()
            .get(color)
            .tasks
            .iter()
            .find(|t| t.id == id)
            .is_none_or(|t| t.status == TaskStatus::Stopped)
    }

    /// Stops every task (SIGTERM, then SIGKILL after the stop timeout) and waits for them.
    pub async fn stop_all(self: &Arc<Self>) {
        let ids: Vec<(Color, String)> = {
            let all = self.lock();
            all.iter()
                .flat_map(|(c, s)| {
                    s.tasks
                        .iter()
                        .filter(|t| t.status != TaskStatus::Stopped)
                        .map(move |t| (c, t.id.clone()))
                })
                .collect()
        };
        for (color, id) in &ids {
            self.stop_task(*color, id, "the local platform is shutting down", false);
        }
        let deadline = Instant::now() + self.cfg.stop_timeout + Duration::from_secs(2);
        while Instant::now() < deadline && !ids.iter().all(|(c, id)| self.is_stopped(*c, id)) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One color as the platform reports it.
    pub fn color_state(&self, color: Color) -> ColorState {
        let all = self.lock();
        let svc = all.get(color);
        let rel = svc.spec.release.as_ref();
        let revision = rel.map(|r| r.revision).unwrap_or(0);
        let image_ref = |r: &Release| ImageRef {
            reference: format!("blog:{}", r.tag),
            tag: Some(r.tag.clone()),
            digest: Some(r.digest.to_string()),
        };
        let live = |t: &&Task| t.status != TaskStatus::Stopped;
        let running = svc
            .tasks
            .iter()
            .filter(live)
            .filter(|t| t.status == TaskStatus::Running)
            .count() as u32;
        let pending = svc
            .tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Pending)
            .count() as u32;
        let mut deployments = Vec::new();
        if let Some(r) = rel {
            let mine: Vec<&Task> = svc
                .tasks
                .iter()
                .filter(live)
                .filter(|t| t.release.revision == r.revision)
                .collect();
            let old_running = svc
                .tasks
                .iter()
                .filter(live)
                .any(|t| t.release.revision != r.revision);
            let healthy = mine.iter().filter(|t| t.healthy()).count() as u32;
            deployments.push(Deployment {
                id: format!("blog-{color}:{}", r.revision),
                status: "PRIMARY".into(),
                task_definition: format!("blog-{color}:{}", r.revision),
                desired: svc.spec.desired,
                running: mine
                    .iter()
                    .filter(|t| t.status == TaskStatus::Running)
                    .count() as u32,
                pending: mine
                    .iter()
                    .filter(|t| t.status == TaskStatus::Pending)
                    .count() as u32,
                rollout_state: Some(
                    if old_running || healthy < svc.spec.desired {
                        "IN_PROGRESS"
                    } else {
                        "COMPLETED"
                    }
                    .into(),
                ),
                updated_at: None,
            });
            let mut old_revisions: Vec<&Release> = svc
                .tasks
                .iter()
                .filter(live)
                .filter(|t| t.release.revision != r.revision)
                .map(|t| &t.release)
                .collect();
            old_revisions.sort_by_key(|r| r.revision);
            old_revisions.dedup_by_key(|r| r.revision);
            for old in old_revisions {
                let tasks: Vec<&Task> = svc
                    .tasks
                    .iter()
                    .filter(live)
                    .filter(|t| t.release.revision == old.revision)
                    .collect();
                deployments.push(Deployment {
                    id: format!("blog-{color}:{}", old.revision),
                    status: "ACTIVE".into(),
                    task_definition: format!("blog-{color}:{}", old.revision),
                    desired: 0,
                    running: tasks.len() as u32,
                    pending: 0,
                    rollout_state: None,
                    updated_at: None,
                });
            }
        }
        let tasks = svc
            .tasks
            .iter()
            .map(|t| TaskState {
                id: t.id.clone(),
                last_status: t.status.as_str().into(),
                health: match t.target {
                    Some(TargetPhase::Healthy) => TaskHealth::Healthy,
                    Some(TargetPhase::Unhealthy) => TaskHealth::Unhealthy,
                    _ => TaskHealth::Unknown,
                },
                started_at: Some(t.started_at),
                revision: t.release.revision,
                image: Some(image_ref(&t.release)),
                stopped_reason: if t.status == TaskStatus::Stopped || t.stop_requested {
                    t.stopped_reason.clone()
                } else {
                    None
                },
            })
            .collect();
        let targets = svc
            .tasks
            .iter()
            .filter(|t| t.status != TaskStatus::Stopped)
            .filter_map(|t| {
                let phase = t.target?;
                let up = t.upstream.as_ref()?;
                let (health, reason) = match phase {
                    TargetPhase::Initial => (
                        TargetHealth::Initial,
                        Some("Elb.RegistrationInProgress: health checks in progress".to_string()),
                    ),
                    TargetPhase::Healthy => (TargetHealth::Healthy, None),
                    TargetPhase::Unhealthy => (
                        TargetHealth::Unhealthy,
                        Some(format!(
                            "Target.FailedHealthChecks: {}",
                            t.last_check_error
                                .as_deref()
                                .unwrap_or("health checks failed")
                        )),
                    ),
                    TargetPhase::Draining => (
                        TargetHealth::Draining,
                        Some(format!(
                            "Target.DeregistrationInProgress: {} request(s) in flight",
                            up.inflight()
                        )),
                    ),
                };
                Some(TargetState {
                    id: up.addr.to_string(),
                    task_id: Some(t.id.clone()),
                    health,
                    reason,
                })
            })
            .collect();
        ColorState {
            color,
            service: ServiceState {
                name: format!("blog-{color}"),
                desired: svc.spec.desired,
                running,
                pending,
                status: "ACTIVE".into(),
                task_definition: format!("blog-{color}:{revision}"),
                revision,
                image: rel.map(image_ref),
                deployments,
                events: svc.events.iter().cloned().collect(),
            },
            tasks,
            targets,
        }
    }

    /// Target health of one color (registered, not-stopped tasks).
    pub fn targets(&self, color: Color) -> Vec<TargetState> {
        self.color_state(color).targets
    }

    /// Every live task as `tasks.json` keeps it.
    fn records(&self) -> Vec<TaskRecord> {
        self.lock()
            .iter()
            .flat_map(|(color, s)| s.tasks.iter().map(move |t| (color, t)))
            .filter(|(_, t)| t.status != TaskStatus::Stopped)
            .filter_map(|(color, t)| {
                Some(TaskRecord {
                    id: t.id.clone(),
                    color,
                    pid: t.pid?,
                    start_time: t.start_time?,
                    release: t.release.clone(),
                    addr: t.upstream.as_ref().map(|u| u.addr),
                    started_at: t.started_at,
                    healthy: t.healthy(),
                    stopping: t.stop_requested,
                })
            })
            .collect()
    }

    fn write_records(&self) {
        let _turn = self.tasks_file.lock().unwrap_or_else(|e| e.into_inner());
        let tasks = self.records();
        let path = self.paths.tasks_file();
        if let Err(e) = files::write_json(&path, &TasksFile::Records { tasks }) {
            tracing::warn!(
                "cannot write {}: {e}; if this daemon dies hard, the next one cannot adopt or stop its tasks",
                path.display()
            );
        }
    }

    /// The tasks an earlier daemon left running (it crashed, or handed over to this one):
    /// those still alive, running a binary of this registry, listening and not being stopped
    /// are returned for [`Supervisor::adopt`]; the rest are killed. A damaged list is an
    /// error: read as empty, it would leave the old tasks serving beside new ones.
    pub fn orphans(paths: &Paths) -> Result<Vec<Orphan>, files::StateFileError> {
        let path = paths.tasks_file();
        let blobs = paths.registry_dir().join("blobs");
        let file: Option<TasksFile> = files::read_json(&path, || {
            format!(
                "it lists the blog processes an earlier daemon started, for this one to adopt or stop; stop any still running (`pgrep -af {}/` lists them), then {} and run `bluegreen local up` again: the daemon writes a new list as it starts tasks",
                blobs.display(),
                files::move_aside(&path)
            )
        })?;
        let ours = |pid: u32| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.starts_with(&blobs))
        };
        let mut adoptable = Vec::new();
        match file {
            None => {}
            Some(TasksFile::Pids(pids)) => {
                for pid in pids.into_iter().filter(|&p| ours(p)) {
                    tracing::warn!("killing task process {pid} left behind by a previous daemon");
                    task::signal(pid, nix::sys::signal::Signal::SIGKILL);
                }
            }
            Some(TasksFile::Records { tasks }) => {
                for record in tasks {
                    let pidfd = match process::PidFd::open(record.pid, record.start_time) {
                        Ok(p) if ours(record.pid) => p,
                        // Gone, or its pid now names something else: nothing to do.
                        _ => continue,
                    };
                    match record.addr {
                        Some(addr) if !record.stopping => adoptable.push(Orphan {
                            record,
                            addr,
                            pidfd,
                        }),
                        _ => {
                            tracing::warn!(
                                "killing task {} (pid {}), which a previous daemon was {}",
                                record.id,
                                record.pid,
                                if record.stopping {
                                    "stopping"
                                } else {
                                    "starting"
                                }
                            );
                            pidfd.signal(nix::sys::signal::Signal::SIGKILL);
                        }
                    }
                }
            }
        }
        let keep: Vec<String> = adoptable.iter().map(|o| o.record.id.clone()).collect();
        pipes::remove_others(paths, &keep);
        Ok(adoptable)
    }

    /// Takes over tasks an earlier daemon left running. Each is checked once at once: one
    /// that was healthy and answers is a healthy target straight away, so the proxy serves
    /// the moment it listens; any other starts its health checks from the beginning.
    pub async fn adopt(self: &Arc<Self>, orphans: Vec<Orphan>) {
        let checks = orphans.into_iter().map(|o| async move {
            let answers = health::check(o.addr, Duration::from_millis(500))
                .await
                .is_ok();
            (o, answers)
        });
        let checked = futures::future::join_all(checks).await;
        for (orphan, answers) in checked {
            let Orphan {
                record,
                addr,
                pidfd,
            } = orphan;
            let color = record.color;
            let healthy = record.healthy && answers;
            let (signals, signal_rx) = tokio::sync::mpsc::unbounded_channel();
            {
                let mut all = self.lock();
                let svc = all.get_mut(color);
                svc.tasks.push(Task {
                    id: record.id.clone(),
                    release: record.release.clone(),
                    pid: Some(record.pid),
                    start_time: Some(record.start_time),
                    upstream: Some(Arc::new(Upstream::new(addr, record.id.as_str()))),
                    status: TaskStatus::Running,
                    target: Some(if healthy {
                        TargetPhase::Healthy
                    } else {
                        TargetPhase::Initial
                    }),
                    streaks: Streaks::default(),
                    last_check_error: None,
                    started_at: record.started_at,
                    created: Instant::now(),
                    stopped_reason: None,
                    stopped_at: None,
                    stop_requested: false,
                    ever_healthy: healthy,
                    signals,
                });
                svc.event(format!(
                    "blog-{color}: adopted task {} (pid {}, revision {}, {addr}) from the previous daemon{}",
                    record.id,
                    record.pid,
                    record.release.revision,
                    if healthy { ", healthy" } else { "" }
                ));
                self.update_routes(&all, color);
            }
            self.run_adopted(
                color,
                record.id,
                addr,
                process::Proc::Adopted(pidfd),
                signal_rx,
            );
        }
        self.write_records();
        self.wake.notify_one();
    }

    /// Tasks not stopped.
    pub fn live_tasks(&self) -> usize {
        self.records().len()
    }

    /// Stops watching, checking and logging every task and leaves them running, for the
    /// daemon that takes over; returns once their logs are flushed (at most `within`).
    pub async fn detach(&self, within: Duration) {
        self.write_records();
        self.detach.cancel();
        self.log_writers.close();
        let _ = tokio::time::timeout(within, self.log_writers.wait()).await;
    }
}

/// How many of `missing` tasks to start now, with `starting` still starting: at most
/// [`LOCAL_MAX_STARTING`](crate::rollout::limits::LOCAL_MAX_STARTING) at once, so a large
/// scale-out starts in waves as tasks come up rather than as one burst of processes.
fn starts_now(missing: usize, starting: usize) -> usize {
    missing.min(crate::rollout::limits::LOCAL_MAX_STARTING.saturating_sub(starting))
}

fn prune_stopped(svc: &mut Service) {
    let stopped = svc
        .tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Stopped)
        .count();
    if stopped > STOPPED_KEPT {
        let mut extra = stopped - STOPPED_KEPT;
        // Oldest stopped first (tasks are in start order).
        svc.tasks.retain(|t| {
            if extra > 0 && t.status == TaskStatus::Stopped {
                extra -= 1;
                false
            } else {
                true
            }
        });
    }
}

/// The listen address a blog prints on its first stdout line (`listening on
/// http://127.0.0.1:PORT`); any `host:port` token is accepted.
pub fn parse_listen_addr(line: &str) -> Option<SocketAddr> {
    if let Some(rest) = line.split("http://").nth(1) {
        let hostport: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/')
            .collect();
        if let Ok(a) = hostport.parse() {
            return Some(a);
        }
    }
    line.split(|c: char| c.is_whitespace() || c == ',' || c == '"')
        .find_map(|tok| tok.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_address_is_found_in_several_shapes() {
        let want: SocketAddr = "127.0.0.1:40123".parse().expect("addr");
        assert_eq!(
            parse_listen_addr("listening on http://127.0.0.1:40123"),
            Some(want)
        );
        assert_eq!(
            parse_listen_addr("listening on http://127.0.0.1:40123/ (blue)"),
            Some(want)
        );
        assert_eq!(parse_listen_addr("bound 127.0.0.1:40123"), Some(want));
        assert_eq!(parse_listen_addr("starting up"), None);
    }

    use crate::platform::local::files::tests::assert_damaged;

    #[test]
    fn a_damaged_task_list_stops_the_start_instead_of_forgetting_the_old_tasks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = Paths::new(dir.path()).expect("absolute");
        // A daemon killed while writing the list, as `fs::write` in place could leave it.
        std::fs::write(paths.tasks_file(), "[4121, 41").expect("write");
        let err = Supervisor::orphans(&paths)
            .expect_err("damaged")
            .to_string();
        let p = paths.tasks_file();
        assert_damaged(&err, &p, "line 1 column");
        let blobs = paths.registry_dir().join("blobs");
        assert_damaged(&err, &p, &format!("`pgrep -af {}/`", blobs.display()));
        assert!(p.exists(), "left for the user to look at");
        // Once moved aside, the start goes on; a list in the older pid-only shape is read.
        std::fs::rename(&p, dir.path().join("tasks.json.bad")).expect("mv");
        assert!(Supervisor::orphans(&paths).expect("no list").is_empty());
        crate::platform::local::files::write_json(&p, &[u32::MAX]).expect("write");
        assert!(Supervisor::orphans(&paths).expect("readable").is_empty());
    }

    /// Starts a copy of `sleep` from the registry's blobs, as a task runs its image.
    fn task_process(paths: &Paths, name: &str) -> (std::process::Child, u64) {
        let blobs = paths.registry_dir().join("blobs");
        std::fs::create_dir_all(&blobs).expect("blobs");
        let exe = blobs.join(name);
        std::fs::copy("/bin/sleep", &exe).expect("copy sleep");
        let child = std::process::Command::new(&exe)
            .arg("60")
            .spawn()
            .expect("starts");
        // Its exe link names the blob once exec has happened.
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_link(format!("/proc/{}/exe", child.id())).map_or(true, |e| e != exe)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let started = process::start_time(child.id()).expect("alive");
        (child, started)
    }

    fn record(
        id: &str,
        pid: u32,
        start_time: u64,
        addr: Option<&str>,
        stopping: bool,
    ) -> TaskRecord {
        TaskRecord {
            id: id.into(),
            color: Color::Blue,
            pid,
            start_time,
            release: Release {
                tag: "v1".into(),
                digest: format!("sha256:{}", "a".repeat(64))
                    .parse()
                    .expect("digest"),
                revision: 1,
            },
            addr: addr.map(|a| a.parse().expect("addr")),
            started_at: 0,
            healthy: true,
            stopping,
        }
    }

    #[tokio::test]
    async fn live_listening_tasks_are_adopted_and_the_rest_killed_or_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = Paths::new(dir.path()).expect("absolute");
        let (mut serving, serving_start) = task_process(&paths, "serving");
        let (mut stopping, stopping_start) = task_process(&paths, "stopping");
        let (mut starting, starting_start) = task_process(&paths, "starting");
        let tasks = vec![
            record(
                "blue-1",
                serving.id(),
                serving_start,
                Some("127.0.0.1:1"),
                false,
            ),
            record(
                "blue-2",
                stopping.id(),
                stopping_start,
                Some("127.0.0.1:2"),
                true,
            ),
            record("blue-3", starting.id(), starting_start, None, false),
            // Its pid now names another process (a later start time): left alone.
            record(
                "blue-4",
                serving.id(),
                serving_start + 1,
                Some("127.0.0.1:4"),
                false,
            ),
        ];
        files::write_json(&paths.tasks_file(), &TasksFile::Records { tasks }).expect("write");
        std::fs::create_dir_all(paths.pipes_dir()).expect("pipes");
        std::fs::write(paths.pipes_dir().join("blue-9.stdout"), "").expect("stale pipe");
        let orphans = Supervisor::orphans(&paths).expect("readable");
        let ids: Vec<&str> = orphans.iter().map(|o| o.record.id.as_str()).collect();
        assert_eq!(ids, ["blue-1"]);
        use std::os::unix::process::ExitStatusExt;
        for child in [&mut stopping, &mut starting] {
            let status = child.wait().expect("killed");
            assert_eq!(
                status.signal(),
                Some(nix::sys::signal::Signal::SIGKILL as i32)
            );
        }
        assert!(
            serving.try_wait().expect("alive").is_none(),
            "adoptable, left running"
        );
        assert!(
            !paths.pipes_dir().join("blue-9.stdout").exists(),
            "a dead task's pipe goes"
        );
        let _ = serving.kill();
        let _ = serving.wait();
    }

    #[test]
    fn tasks_start_in_bounded_waves() {
        let max = crate::rollout::limits::LOCAL_MAX_STARTING;
        assert_eq!(starts_now(64, 0), max);
        assert_eq!(starts_now(64, max - 1), 1);
        assert_eq!(starts_now(64, max), 0);
        assert_eq!(starts_now(64, max + 3), 0, "more starting than the bound");
        assert_eq!(starts_now(2, 0), 2);
        assert_eq!(starts_now(0, 0), 0);
    }

    #[test]
    fn the_daemon_refuses_more_tasks_than_it_runs_whoever_asks() {
        assert!(bounded(Color::Green, crate::rollout::limits::LOCAL_MAX_TASKS).is_ok());
        let e = bounded(Color::Green, 10_000).expect_err("a fork bomb from a typo");
        assert!(
            e.to_string()
                .contains("more than the local platform runs (64 per color)"),
            "{e}"
        );
    }

    mod proptests {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::prop::config())]

            #[test]
            fn any_line_gives_an_address_or_none(line in "\\PC{0,60}") {
                let _ = parse_listen_addr(&line);
            }

            #[test]
            fn a_printed_address_is_found(ip in any::<std::net::IpAddr>(), port in any::<u16>(), words in "[a-z ]{0,12}") {
                let addr = SocketAddr::new(ip, port);
                for line in [
                    format!("{words} listening on http://{addr}/ {words}"),
                    format!("{words} {addr}"),
                    format!(r#"{{"msg":"{words}","addr":"{addr}"}}"#),
                ] {
                    prop_assert_eq!(parse_listen_addr(&line), Some(addr), "{}", line);
                }
            }
        }
    }
}
