//! The supervisor: the local stand-in for an ECS service per color. It keeps each color's
//! desired count of blog processes running, health-checks them as a target group does,
//! replaces crashed or unhealthy tasks, and rolls a new release out by starting the new
//! tasks first and draining the old ones only once the new ones are healthy.
//!
//! Its three jobs, one file each: the reconcile loop (here, with [`task`]'s processes),
//! the task records and their adoption by the next daemon ([`records`]), and the ECS-shaped
//! view of a color the platform reports ([`color_state`]).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::paths::Paths;
use super::proxy::route::Routes;
use super::proxy::upstream::Upstream;
use super::registry::{Digest, Registry};
use crate::clock::now_millis;
use crate::format::short_digest;
use crate::rollout::{Color, PerColor, ServiceEvent, UnixMillis};

mod color_state;
pub mod health;
mod pipes;
mod process;
mod records;
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
mod tests;
