//! `tasks.json`, the supervisor's record of its live tasks, and what it is for: a daemon that
//! takes over (after a crash, or a planned restart's handover) adopts the tasks an earlier one
//! left running ([`Supervisor::orphans`], [`Supervisor::adopt`]), and a daemon handing over
//! leaves its tasks running ([`Supervisor::detach`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::health::{self, Streaks, TargetPhase};
use super::{Release, Supervisor, Task, TaskStatus, pipes, process, task};
use crate::platform::local::files;
use crate::platform::local::paths::Paths;
use crate::platform::local::proxy::upstream::Upstream;
use crate::rollout::{Color, UnixMillis};

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
pub(super) enum TasksFile {
    Records { tasks: Vec<TaskRecord> },
    Pids(Vec<u32>),
}

/// A live task an earlier daemon left, ready to be adopted.
#[derive(Debug)]
pub struct Orphan {
    pub(super) record: TaskRecord,
    pub(super) addr: SocketAddr,
    pub(super) pidfd: process::PidFd,
}

impl Supervisor {
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

    pub(super) fn write_records(&self) {
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
