//! Workers: carry out [`Command`]s off the UI loop. Reads come from one poller per resource;
//! writes run as tasks over [`Ops`] and report back as [`Event::Done`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use super::command::Command;
use super::event::{Event, OpResult};
use super::state::Resource;
use crate::ops::Ops;

mod poller;

pub use poller::{Intervals, Pace};

/// The running pollers and the command executor. Dropping it stops every task it started.
pub struct Workers {
    ops: Ops,
    tx: mpsc::UnboundedSender<Event>,
    nudges: HashMap<Resource, Arc<Notify>>,
    /// The flags of the on-demand pollers: up while their view is open.
    watched: HashMap<Resource, Arc<AtomicBool>>,
    /// Each poller's flag: up while its resource is changing or its panel has the focus
    /// (it then polls at its active pace).
    active: HashMap<Resource, Arc<AtomicBool>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts one poller per resource; results arrive on `tx`.
    pub fn start(ops: Ops, tx: mpsc::UnboundedSender<Event>, intervals: Intervals) -> Self {
        let mut nudges = HashMap::new();
        let mut tasks = Vec::new();
        let mut watched = HashMap::new();
        let mut active = HashMap::new();
        for resource in Resource::ALL {
            let busy = Arc::new(AtomicBool::new(false));
            active.insert(resource, busy.clone());
            let nudge = Arc::new(Notify::new());
            nudges.insert(resource, nudge.clone());
            let flag = resource
                .on_demand()
                .then(|| Arc::new(AtomicBool::new(false)));
            if let Some(f) = &flag {
                watched.insert(resource, f.clone());
            }
            tasks.push(tokio::spawn(poller::run(
                resource,
                ops.platform().clone(),
                tx.clone(),
                nudge,
                intervals.of(resource),
                busy,
                flag,
            )));
        }
        Workers {
            ops,
            tx,
            nudges,
            watched,
            active,
            tasks,
        }
    }

    /// Says whether `resource` is changing or in focus: its poller then polls at its active
    /// pace, and reads at once when it becomes active.
    pub fn activate(&self, resource: Resource, on: bool) {
        if let Some(f) = self.active.get(&resource)
            && f.swap(on, Ordering::Relaxed) != on
            && on
            && let Some(n) = self.nudges.get(&resource)
        {
            n.notify_one();
        }
    }

    /// Says whether the screen shows `resource` now: an on-demand poller keeps its interval
    /// only while it does ([`Resource::on_demand`]).
    pub fn watch(&self, resource: Resource, shown: bool) {
        if let Some(f) = self.watched.get(&resource) {
            f.store(shown, Ordering::Relaxed);
        }
    }

    /// Carries out a command without waiting for it.
    pub fn execute(&mut self, cmd: Command) {
        tracing::debug!(?cmd, "command");
        match cmd {
            Command::Refresh(r) => {
                // A permit is stored if the poller is busy: at most one queued refresh.
                if let Some(n) = self.nudges.get(&r) {
                    n.notify_one();
                }
            }
            Command::Arm => self.ops.arm(),
            Command::Shift { weights, force } => {
                self.spawn(
                    move |ops| async move { OpResult::Shifted(ops.shift(weights, force).await) },
                )
            }
            Command::Promote { opts, pending } => self.spawn(move |ops| async move {
                OpResult::Promoted(ops.promote(opts, pending).await)
            }),
            Command::FinishBake { accept_unmeasured } => self.spawn(move |ops| async move {
                let ops = ops.with_accept_unmeasured(accept_unmeasured);
                OpResult::BakeFinished(ops.finish_bake().await)
            }),
            Command::Rollback => {
                self.spawn(|ops| async move { OpResult::RolledBack(ops.rollback().await) })
            }
            Command::Deploy { tag, color } => self
                .spawn(move |ops| async move { OpResult::Deployed(ops.deploy(&tag, color).await) }),
            Command::Build { source_version } => self.spawn(move |ops| async move {
                OpResult::BuildStarted(ops.build(source_version).await)
            }),
            Command::StartRelease(spec) => {
                // Locally the daemon drives it; on AWS this task does, until the release
                // ends or the console quits (then it holds its weight for `resume`).
                let ops = self.ops.clone();
                let tx = self.tx.clone();
                self.tasks.retain(|t| !t.is_finished());
                self.tasks.push(tokio::spawn(async move {
                    let (r, driver) = match ops.launch_release(*spec).await {
                        Ok(started) => started,
                        Err(e) => {
                            let _ = tx.send(Event::Done(OpResult::ReleaseStarted(Err(e))));
                            return;
                        }
                    };
                    let here = driver == crate::ops::Driver::Caller;
                    let _ = tx.send(Event::Done(OpResult::ReleaseStarted(Ok((
                        Box::new(r.clone()),
                        here,
                    )))));
                    if here {
                        let ended = ops
                            .drive_release(r, &crate::ops::release::Quiet, false)
                            .await;
                        tracing::info!(?ended, "release driven");
                        let _ = tx.send(Event::Done(OpResult::ReleaseDriven(ended.map(Box::new))));
                    }
                }));
            }
            Command::ReleaseRequest(request) => self.spawn(move |ops| async move {
                let by = format!(
                    "console {}",
                    crate::ops::release::driver_name(ops.operator())
                );
                OpResult::ReleaseRequested(
                    request,
                    ops.request_release(request, &by).await.map(Box::new),
                )
            }),
            Command::Scale { color, desired } => self.spawn(move |ops| async move {
                OpResult::Scaled {
                    color,
                    desired,
                    result: ops.scale(color, desired).await,
                }
            }),
        }
    }

    fn spawn<Fut>(&mut self, f: impl FnOnce(Ops) -> Fut)
    where
        Fut: std::future::Future<Output = OpResult> + Send + 'static,
    {
        let ops = self.ops.clone();
        let tx = self.tx.clone();
        self.tasks.retain(|t| !t.is_finished());
        let fut = f(ops);
        self.tasks.push(tokio::spawn(async move {
            let result = fut.await;
            tracing::info!(?result, "operation finished");
            let _ = tx.send(Event::Done(result));
        }));
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
