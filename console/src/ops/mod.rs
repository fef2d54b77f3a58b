//! The command layer: the verbs (shift, promote, rollback, deploy, build, scale, wait) over
//! `Arc<dyn Platform>`. Read-only/arming and the guard rules are enforced here, once, so the
//! CLI, the TUI and both adapters share them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::now_millis;
use crate::platform::{
    DeployReceipt, FaultKind, LogCursor, Platform, PlatformError, WeightChange, WeightOutcome,
};
use crate::rollout::guard::{self, Refusal};
use crate::rollout::{
    Bake, BakeStep, Build, Color, LogLine, Operator, OperatorError, PerColor, Snapshot, UnixMillis,
    Weights, bake, drift, healthy_count, limits, split,
};

mod journal;
pub mod lock;
pub mod probe;
pub mod release;
mod wait;
pub mod watch;

pub use journal::Journaled;
pub use release::{Driver, Note, Observer};
pub use wait::WaitFor;

/// Process exit codes of the headless CLI. 0 only when the requested state holds.
pub mod exit {
    pub const OK: i32 = 0;
    /// Bad input: flags, configuration files, a tag or a resource that does not exist.
    pub const FAILURE: i32 = 1;
    /// Command-line usage error (clap's code).
    pub const USAGE: i32 = 2;
    /// Refused by a guard or by read-only mode.
    pub const REFUSED: i32 = 3;
    /// The platform (AWS or the local daemon) failed, or a weight change was not applied or
    /// could not be verified.
    pub const PLATFORM: i32 = 4;
    /// Waiting for a state timed out.
    pub const TIMED_OUT: i32 = 5;
    /// A release rolled back: a gate or the smoke test failed, or it was aborted.
    pub const ROLLED_BACK: i32 = 6;
    /// A release paused, awaiting a person (only when asked to stop there).
    pub const PAUSED: i32 = 7;
    /// `status --check`: drift (weights someone else wrote, or traffic that does not follow
    /// the listener).
    pub const DRIFT: i32 = 8;
}

/// Whether writes are allowed in this session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// `--read-only`: every write is refused, rollback included.
    pub read_only: bool,
    /// The profile says `read_only = true`: writes need arming.
    pub profile_read_only: bool,
    /// `--arm` or `:arm` was given.
    pub armed: bool,
}

impl Access {
    /// Refuses a write verb when the session may not write.
    pub fn check(&self, verb: &str) -> Result<(), Refusal> {
        if self.read_only {
            return Err(guard::read_only_refusal(verb, false));
        }
        if self.profile_read_only && !self.armed {
            return Err(guard::read_only_refusal(verb, true));
        }
        Ok(())
    }
}

/// Why a verb did not reach its requested state.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OpError {
    #[error("refused: {0}")]
    Refused(Refusal),
    #[error(transparent)]
    Platform(PlatformError),
    /// The weight change was made (or attempted) but the read-back does not show it.
    #[error("{}", describe_weight_failure(.0))]
    Weights(Box<WeightChange>),
}

impl OpError {
    pub fn exit_code(&self) -> i32 {
        match self {
            OpError::Refused(_) => exit::REFUSED,
            OpError::Platform(PlatformError::TimedOut { .. }) => exit::TIMED_OUT,
            // The request named something that does not exist or cannot be: the input is
            // wrong (a tag, a resource in the profile), not the platform.
            OpError::Platform(PlatformError::Call {
                fault: FaultKind::NotFound | FaultKind::Invalid,
                ..
            }) => exit::FAILURE,
            OpError::Platform(_) | OpError::Weights(_) => exit::PLATFORM,
        }
    }
}

impl From<Refusal> for OpError {
    fn from(r: Refusal) -> Self {
        OpError::Refused(r)
    }
}

impl From<PlatformError> for OpError {
    fn from(e: PlatformError) -> Self {
        OpError::Platform(e)
    }
}

fn describe_weight_failure(c: &WeightChange) -> String {
    let cause = c
        .write_error
        .as_ref()
        .map(|e| format!(": {e}"))
        .unwrap_or_default();
    match (c.outcome(), c.observed) {
        (WeightOutcome::NotApplied, Some(obs)) => {
            format!(
                "weights NOT applied (wanted {}, listener shows {obs}){cause}",
                c.desired
            )
        }
        (WeightOutcome::Unknown, _) => {
            let read = c
                .read_error
                .as_ref()
                .map(|e| format!("; read-back failed: {e}"))
                .unwrap_or_default();
            format!(
                "weights UNKNOWN (wanted {}; could not read them back{read}){cause}",
                c.desired
            )
        }
        _ => format!("weights applied ({})", c.desired),
    }
}

/// Options of a promote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromoteOptions {
    /// How long the old color keeps running before it is scaled to zero.
    pub bake: Duration,
    /// Keep the old color running after the bake.
    pub keep_old: bool,
}

impl Default for PromoteOptions {
    fn default() -> Self {
        PromoteOptions {
            bake: Duration::from_secs(300),
            keep_old: false,
        }
    }
}

/// What a promote did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromoteReport {
    pub promoted: Color,
    pub change: WeightChange,
    pub bake: Option<Bake>,
    /// The platform finishes the bake by itself (local daemon); otherwise the caller should
    /// wait until `bake.until` and call [`Ops::finish_bake`].
    pub platform_finishes_bake: bool,
    /// Follow-up calls that failed after the weights were in force (the test listener):
    /// reported, never fatal.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// Log lines asked for per read, by `log_tail` and by `logs --follow`.
pub const LOG_BATCH: usize = 1000;

/// The end of a log window.
#[derive(Debug, Clone, PartialEq)]
pub struct LogTail {
    /// Oldest first.
    pub lines: Vec<LogLine>,
    /// Matching lines of the window left out before these.
    pub cut: usize,
    /// The window held more lines than one call reads; the rest was not read.
    pub unread: bool,
    /// Where to continue (`--follow`).
    pub cursor: LogCursor,
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackReport {
    pub target: Color,
    pub change: WeightChange,
    /// Follow-up calls that failed after the weights were in force (stable tag, test listener):
    /// reported, never fatal.
    pub warnings: Vec<String>,
    /// The deploy lock's lease this rollback took over (it is never blocked by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_over_from: Option<Box<crate::rollout::lock::LockRecord>>,
    /// Nothing needed changing (the target had all traffic, no bake or release was
    /// pending): nothing was written, and nobody's lock was taken.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unchanged: bool,
    /// The running release this rollback ended (as an abort does), by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_release: Option<String>,
}

/// This machine's name for the journal and the lock.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

/// The OS user running this process (by uid, so `sudo -u` and containers are right), or
/// `$USER` when the uid has no passwd entry.
pub fn os_user() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("USER").ok())
        .filter(|n| !n.trim().is_empty())
}

/// The operator on this machine: `named` (from `--as NAME` or `BLUEGREEN_USER`), else
/// `fallback` (the AWS caller identity's name), else the OS user.
pub fn operator_here(
    named: Option<&str>,
    fallback: Option<&str>,
) -> Result<Operator, OperatorError> {
    let name = named
        .map(str::to_string)
        .or_else(|| fallback.map(str::to_string))
        .or_else(os_user)
        .unwrap_or_default();
    Operator::new(&name, &host_name())
}

/// The verbs, over one platform, with one access policy, on behalf of one operator.
#[derive(Clone)]
pub struct Ops {
    platform: Arc<dyn Platform>,
    access: Access,
    /// Tasks per color the profile allows (`max_tasks`).
    max_tasks: u32,
    /// Who the lock and the journal name for this session's writes.
    operator: Operator,
    /// Why (`--reason`), kept with the lock and in the journal.
    reason: Option<String>,
    /// `--accept-unmeasured`: a bake may finish with too few requests measured to judge the
    /// split (never with a measured mismatch).
    accept_unmeasured: bool,
    /// The release (and step) this session's writes belong to, for the journal.
    journal_release: Option<crate::rollout::journal::ReleaseRef>,
    /// Journal appends that failed, shared by the clones of this session.
    journal_warnings: Arc<std::sync::Mutex<Vec<String>>>,
    /// When this session's release driver last checked its deploy-lock lease (shared by
    /// clones), so the lease costs calls only every half lease.
    lease_checked: Arc<std::sync::atomic::AtomicI64>,
}

/// How a bake finished: the bake, and the measured split its scale-in relied on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinishedBake {
    pub bake: Bake,
    /// The requests' split since the promote, judged against 100% on the stable color;
    /// `None` when nothing was scaled in (keep-old).
    pub split: Option<split::SplitVerdict>,
    /// The split could not be judged and `--accept-unmeasured` let the scale-in go ahead.
    pub accepted_unmeasured: bool,
}

impl Ops {
    /// The verbs on behalf of this process's OS user (see [`Ops::with_operator`]).
    pub fn new(platform: Arc<dyn Platform>, access: Access) -> Self {
        let operator = operator_here(None, None).unwrap_or_else(|_| Operator {
            name: "unknown".into(),
            host: host_name(),
        });
        Ops {
            platform,
            access,
            max_tasks: crate::rollout::limits::DEFAULT_MAX_TASKS,
            operator,
            reason: None,
            accept_unmeasured: false,
            journal_release: None,
            journal_warnings: Arc::default(),
            lease_checked: Arc::default(),
        }
    }

    /// The same verbs, giving `reason` for every write.
    pub fn with_reason(mut self, reason: Option<String>) -> Self {
        self.reason = reason;
        self
    }

    /// Why this session writes, if it said.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// The same verbs on behalf of `operator`.
    pub fn with_operator(mut self, operator: Operator) -> Self {
        self.operator = operator;
        self
    }

    /// Who this session's writes are made by.
    pub fn operator(&self) -> &Operator {
        &self.operator
    }

    /// The same verbs, letting a bake finish when too few requests were measured to judge
    /// the split (`--accept-unmeasured`).
    pub fn with_accept_unmeasured(mut self, accept: bool) -> Self {
        self.accept_unmeasured = accept;
        self
    }

    pub fn accepts_unmeasured(&self) -> bool {
        self.accept_unmeasured
    }

    /// Desired, listener and observed weights, with the verdict on the requests since the
    /// last write ([`split::window_for`]). A metrics failure is reported inside, never fatal.
    pub async fn measure(&self, listener: &crate::rollout::Listener) -> split::Measured {
        let info = self.platform.info();
        let window = split::window_for(listener, now_millis(), info.metrics_resolution_ms);
        // The window starts after the console's write when the listener still shows it.
        let written = listener
            .written
            .filter(|w| w.weights == listener.weights)
            .map(|w| w.at);
        let requests = match window {
            None => Ok(PerColor::new(0, 0)),
            Some(secs) => match self.platform.metrics(secs).await {
                Ok(Some(m)) => Ok(match written {
                    Some(at) => split::requests_after(&m, at, info.metrics_per_period),
                    None => split::counts(&m),
                }),
                Ok(None) => Err("the platform reports no request metrics".to_string()),
                Err(e) => Err(format!("request metrics unavailable: {e}")),
            },
        };
        split::measured(listener, window, requests)
    }

    /// The same verbs with another task ceiling per color.
    pub fn with_max_tasks(mut self, max_tasks: u32) -> Self {
        self.max_tasks = max_tasks;
        self
    }

    pub fn platform(&self) -> &Arc<dyn Platform> {
        &self.platform
    }

    pub fn access(&self) -> Access {
        self.access
    }

    /// Arms the session (the TUI's `:arm`).
    pub fn arm(&mut self) {
        self.access.armed = true;
    }

    /// Moves traffic to `desired`, after the guard (unless `force`).
    pub async fn shift(&self, desired: Weights, force: bool) -> Result<WeightChange, OpError> {
        self.access.check("shift")?;
        let forced = if force { " (forced)" } else { "" };
        let asked = format!("to {desired}{forced}");
        let _lock = self.lock("shift", "shift", &asked).await?;
        let result = self.shift_unjournaled(desired, force).await;
        self.journaled("shift", asked, result).await
    }

    /// Moves traffic to `desired` and tells the guard to leave these weights alone while
    /// they hold (`shift --unguarded --reason TEXT`). The reason is required, and both go to
    /// the journal. The mark is recorded before the write, so the guard never judges the
    /// new weights in between; a platform that cannot record it refuses the shift.
    pub async fn shift_unguarded(
        &self,
        desired: Weights,
        force: bool,
    ) -> Result<WeightChange, OpError> {
        self.access.check("shift")?;
        let Some(reason) = self.reason.clone() else {
            return Err(Refusal::new(
                guard::GuardRule::Unguarded,
                "an unguarded shift needs a reason, which the journal keeps: `bluegreen --reason TEXT shift --unguarded …`",
            )
            .into());
        };
        let forced = if force { " (forced)" } else { "" };
        let asked = format!("to {desired}{forced}, unguarded");
        let _lock = self.lock("shift", "shift", &asked).await?;
        let mark = crate::rollout::watch::Unguarded {
            weights: desired,
            by: self.operator.to_string(),
            reason,
            at: now_millis(),
        };
        let result = match self.platform.record_unguarded(&mark).await {
            Ok(()) => self.shift_unjournaled(desired, force).await,
            Err(e) => Err(Refusal::new(
                guard::GuardRule::Unguarded,
                format!(
                    "the shift was not made: the guard could not be told to leave it alone ({e})"
                ),
            )
            .into()),
        };
        self.journaled("shift", asked, result).await
    }

    async fn shift_unjournaled(
        &self,
        desired: Weights,
        force: bool,
    ) -> Result<WeightChange, OpError> {
        let mut snap = self.platform.snapshot().await?;
        let resting = adopt_resting(&mut snap);
        guard::check_shift(&snap, desired, force)?;
        self.record_resting(resting).await?;
        let change = self.platform.set_weights(desired).await;
        verified(change)
    }

    /// Gives the canary 100%, records it as stable with a pending bake, and points the test
    /// listener at the old color. `pending` is the last shift the caller asked for, if any.
    pub async fn promote(
        &self,
        opts: PromoteOptions,
        pending: Option<Weights>,
    ) -> Result<PromoteReport, OpError> {
        self.access.check("promote")?;
        let _lock = self.lock("promote", "promote", "").await?;
        let result = self.promote_unjournaled(opts, pending).await;
        self.journaled("promote", String::new(), result).await
    }

    async fn promote_unjournaled(
        &self,
        opts: PromoteOptions,
        pending: Option<Weights>,
    ) -> Result<PromoteReport, OpError> {
        let mut snap = self.platform.snapshot().await?;
        let resting = adopt_resting(&mut snap);
        let finishes = self.platform.info().finishes_bake;
        let target = guard::check_promote(&snap, pending, finishes)?;
        self.record_resting(resting).await?;
        let old = target.other();
        let change = verified(self.platform.set_weights(Weights::all(target)).await)?;
        let bake = Bake::starting(old, now_millis(), opts.bake.as_millis(), opts.keep_old);
        self.platform
            .record_stable(target, Some(bake.clone()))
            .await?;
        // The test listener follows the new idle color; not on any critical path.
        let mut warnings = Vec::new();
        if let Err(e) = self.platform.point_test_listener(old).await {
            warnings.push(format!("test listener not repointed to {old}: {e}"));
        }
        Ok(PromoteReport {
            promoted: target,
            change,
            bake: Some(bake),
            platform_finishes_bake: finishes,
            warnings,
        })
    }

    /// Ends a pending bake now, early or not: clears it, then scales the old color to zero
    /// (unless keep-old), as [`crate::rollout::bake`] decides. Does nothing when no bake is
    /// pending; a stale bake is only cleared.
    pub async fn finish_bake(&self) -> Result<Option<Bake>, OpError> {
        Ok(self.finish_bake_measured().await?.map(|f| f.bake))
    }

    /// [`Ops::finish_bake`], saying what the scale-in relied on. The old color is scaled in
    /// only when the requests since the promote all went to the stable color
    /// ([`split::judge`]); too few requests hold the bake unless `--accept-unmeasured`.
    pub async fn finish_bake_measured(&self) -> Result<Option<FinishedBake>, OpError> {
        self.access.check("promote")?;
        let lock = self.lock("finish bake", "finish-bake", "").await?;
        let result = self.finish_bake_unjournaled(&lock).await;
        // Nothing pending is no write, and no entry.
        if matches!(result, Ok(None)) {
            return result;
        }
        self.journaled("finish-bake", String::new(), result).await
    }

    async fn finish_bake_unjournaled(
        &self,
        lock: &lock::LockGuard,
    ) -> Result<Option<FinishedBake>, OpError> {
        let listener = self.platform.listener().await?;
        match listener.bake_step(UnixMillis::MAX) {
            BakeStep::Nothing | BakeStep::Baking { .. } => Ok(None),
            BakeStep::ClearStale { stable } => {
                self.platform.record_stable(stable, None).await?;
                Ok(None)
            }
            BakeStep::Hold(refusal) => Err(refusal.into()),
            BakeStep::Finish { stable, bake } => {
                let (split, accepted_unmeasured) = if bake.keep_old {
                    (None, false)
                } else {
                    let verdict = self.measure_promote(&listener, stable).await;
                    let accepted =
                        split::check_scale_in(&verdict, bake.old, self.accept_unmeasured)?;
                    (Some(verdict), accepted)
                };
                // Cleared first: from here on a rollback targets the stable color, not the old
                // one that is about to go away.
                lock.still_held("finish bake").await?;
                self.platform.record_stable(stable, None).await?;
                let now = self.platform.listener().await?;
                if let Some(old) = bake::scale_in(now.weights, stable, &bake)? {
                    lock.still_held("finish bake").await?;
                    self.platform.scale(old, 0).await?;
                }
                Ok(Some(FinishedBake {
                    bake,
                    split,
                    accepted_unmeasured,
                }))
            }
        }
    }

    /// The requests since the promote's write, judged against all of them on `stable`.
    async fn measure_promote(
        &self,
        listener: &crate::rollout::Listener,
        stable: Color,
    ) -> split::SplitVerdict {
        let m = self.measure(listener).await;
        let need = split::MIN_ALL_REQUESTS;
        match m.verdict {
            Some(_) if m.desired == Weights::all(stable) || m.listener == Weights::all(stable) => {
                split::judge(Weights::all(stable), m.requests)
            }
            _ => split::SplitVerdict::TooFewRequests {
                n: m.requests.blue + m.requests.green,
                need,
            },
        }
    }

    /// Gives the rollback target 100% with one weight change. Needs only the listener and
    /// target health; stable/bake bookkeeping and the test listener follow afterwards.
    ///
    /// A rollback that would change nothing writes nothing, and so takes nobody's lock over
    /// ([`guard::rollback_changes_nothing`]). A person's rollback during a release ends the
    /// release, as an abort does; the release's own rollback (a failed gate) ends it itself.
    pub async fn rollback(&self) -> Result<RollbackReport, OpError> {
        self.rollback_because(String::new()).await
    }

    /// [`Ops::rollback`], its journal entry saying why (`rolled back by the guard: …`, with
    /// the failed gates' values and thresholds). Empty: a person's rollback.
    pub async fn rollback_because(&self, why: String) -> Result<RollbackReport, OpError> {
        self.access.check("rollback")?;
        // The one read the rollback needs anyway; a release record is read only when the
        // listener shows nothing to change.
        let listener = self.platform.listener().await;
        if let Ok(l) = &listener
            && let Some(report) = self.rollback_noop(l).await
        {
            return Ok(report);
        }
        let lock = self.lock("rollback", "rollback", "").await?;
        let mut result = match listener {
            Ok(l) => self.rollback_unjournaled(&lock, l).await,
            Err(e) => Err(e.into()),
        };
        if let Ok(report) = &mut result
            && self.journal_release.is_none()
        {
            report.ended_release = self.end_release_after_rollback(&mut report.warnings).await;
        }
        self.journaled("rollback", why, result).await
    }

    /// The report of a rollback with nothing to do, or `None` when it has something to do
    /// (or that cannot be told: then it goes ahead as usual).
    async fn rollback_noop(&self, listener: &crate::rollout::Listener) -> Option<RollbackReport> {
        guard::rollback_changes_nothing(listener, false)?;
        let running = match self.platform.release().await {
            Ok(r) => r.is_some_and(|r| !r.is_over()),
            Err(_) => return None,
        };
        let target = guard::rollback_changes_nothing(listener, running)?;
        Some(RollbackReport {
            target,
            change: WeightChange {
                previous: Some(listener.weights),
                desired: listener.weights,
                observed: Some(listener.weights),
                write_error: None,
                read_error: None,
            },
            warnings: Vec::new(),
            taken_over_from: None,
            unchanged: true,
            ended_release: None,
        })
    }

    /// Ends the running release, if any, as aborted by this operator: its weights were just
    /// rolled back, so its driver must take no further step. Returns its id.
    async fn end_release_after_rollback(&self, warnings: &mut Vec<String>) -> Option<String> {
        let r = match self.platform.release().await {
            Ok(Some(r)) if !r.is_over() => r,
            Ok(_) => return None,
            Err(e) => {
                warnings.push(format!(
                    "the release record could not be read to end a running release: {e}"
                ));
                return None;
            }
        };
        let by = format!("{} (rollback)", self.operator);
        let mut ended = r.clone();
        let ops = self.in_release(&r.id, None);
        match ops
            .end_release(&mut ended, crate::rollout::release::Outcome::Aborted { by })
            .await
        {
            Ok(()) => Some(r.id),
            Err(e) => {
                warnings.push(format!(
                    "release {} could not be ended after the rollback: {e}; `bluegreen abort` ends it",
                    r.id
                ));
                None
            }
        }
    }

    async fn rollback_unjournaled(
        &self,
        lock: &lock::LockGuard,
        listener: crate::rollout::Listener,
    ) -> Result<RollbackReport, OpError> {
        let mut healthy = PerColor::new(0usize, 0usize);
        for color in guard::rollback_candidates(&listener) {
            let targets = self.platform.target_health(color).await?;
            *healthy.get_mut(color) = healthy_count(&targets);
        }
        let target = guard::rollback_target(&listener, |c| *healthy.get(c))?;
        let change = verified(self.platform.set_weights(Weights::all(target)).await)?;
        let mut warnings: Vec<String> = lock.warning.iter().cloned().collect();
        if guard::rollback_rewrites_stable(&listener, target)
            && let Err(e) = self.platform.record_stable(target, None).await
        {
            warnings.push(format!(
                "weights are in force, but recording {target} as stable failed: {e}"
            ));
        }
        if let Err(e) = self.platform.point_test_listener(target.other()).await {
            warnings.push(format!(
                "test listener not repointed to {}: {e}",
                target.other()
            ));
        }
        Ok(RollbackReport {
            target,
            change,
            warnings,
            taken_over_from: lock
                .outcome
                .as_ref()
                .and_then(|o| o.previous.clone().map(Box::new)),
            unchanged: false,
            ended_release: None,
        })
    }

    /// Deploys `tag` to the idle color (or `color`, if given), with the live color's desired
    /// count, as [`guard::check_deploy`] allows.
    pub async fn deploy(&self, tag: &str, color: Option<Color>) -> Result<DeployReceipt, OpError> {
        self.access.check("deploy")?;
        let to = color.map_or("the idle color".to_string(), |c| c.to_string());
        let asked = format!("{tag} to {to}");
        let _lock = self.lock("deploy", "deploy", &asked).await?;
        let result = self.deploy_unjournaled(tag, color).await;
        self.journaled("deploy", asked, result).await
    }

    async fn deploy_unjournaled(
        &self,
        tag: &str,
        color: Option<Color>,
    ) -> Result<DeployReceipt, OpError> {
        let mut snap = self.platform.snapshot().await?;
        let resting = adopt_resting(&mut snap);
        let target = guard::check_deploy(&snap, color)?;
        let desired = guard::deploy_count(&snap, target);
        guard::check_count(target, desired, self.max_tasks)?;
        self.record_resting(resting).await?;
        Ok(self.platform.deploy(target, tag, desired).await?)
    }

    /// Makes `color` stable with all the traffic if its healthy release is the environment's
    /// first ([`guard::settles_first_release`]); returns whether it did. Idempotent, so it
    /// does no harm where the platform settles the first release itself.
    pub async fn settle_first_release(&self, color: Color) -> Result<bool, OpError> {
        let snap = self.platform.snapshot().await?;
        if !guard::settles_first_release(&snap, color) {
            return Ok(false);
        }
        self.access.check("deploy")?;
        let asked = format!("{color} stable with all traffic");
        let _lock = self.lock("deploy", "settle-first-release", &asked).await?;
        let result = self.settle_unjournaled(&snap, color).await;
        self.journaled("settle-first-release", asked, result).await
    }

    async fn settle_unjournaled(&self, snap: &Snapshot, color: Color) -> Result<bool, OpError> {
        if snap.listener.weights != Weights::all(color) {
            verified(self.platform.set_weights(Weights::all(color)).await)?;
        }
        self.platform.record_stable(color, None).await?;
        // The test listener shows the idle color; not on any critical path.
        let _ = self.platform.point_test_listener(color.other()).await;
        Ok(true)
    }

    /// Records the stable color [`adopt_resting`] found, with the verb's first write (after
    /// its guards passed, so a refused verb writes nothing).
    pub(crate) async fn record_resting(&self, resting: Option<Color>) -> Result<(), OpError> {
        if let Some(color) = resting {
            self.platform.record_stable(color, None).await?;
        }
        Ok(())
    }

    /// Records `stable` on a listener with no stable color, after checking the stack against
    /// `expected` (the profile's services and task families, when the caller has them), as
    /// [`crate::rollout::drift::check_adopt`] decides. Idempotent for the color recorded.
    pub async fn adopt(
        &self,
        stable: Color,
        expected: Option<&PerColor<drift::Expected>>,
    ) -> Result<drift::Adopted, OpError> {
        self.access.check("adopt")?;
        let snap = self.platform.snapshot().await?;
        let adopted = drift::check_adopt(&snap, stable, expected)?;
        if adopted.recorded {
            self.platform.record_stable(stable, None).await?;
        }
        Ok(adopted)
    }

    /// Sets a color's desired count, as [`guard::check_scale`] allows.
    pub async fn scale(&self, color: Color, desired: u32) -> Result<(), OpError> {
        self.access.check("scale")?;
        let asked = format!("{color} to {desired}");
        let _lock = self.lock("scale", "scale", &asked).await?;
        let result = self.scale_unjournaled(color, desired).await;
        self.journaled("scale", asked, result).await
    }

    async fn scale_unjournaled(&self, color: Color, desired: u32) -> Result<(), OpError> {
        guard::check_count(color, desired, self.max_tasks)?;
        if desired == 0 {
            let listener = self.platform.listener().await?;
            guard::check_scale(&listener, color, desired, self.max_tasks)?;
        }
        Ok(self.platform.scale(color, desired).await?)
    }

    /// Starts a build.
    pub async fn build(&self, source_version: Option<String>) -> Result<Build, OpError> {
        self.access.check("build")?;
        let what = source_version
            .clone()
            .unwrap_or_else(|| "the default branch".into());
        let result = self.platform.start_build(source_version).await;
        self.journaled("build", format!("of {what}"), result.map_err(OpError::from))
            .await
    }

    /// The latest `keep` log lines from `cursor` on (of `color` only, if given), filtered
    /// before the limit: the window is read through, at most [`limits::MAX_LOG_SCAN`] lines.
    pub async fn log_tail(
        &self,
        mut cursor: LogCursor,
        color: Option<Color>,
        keep: usize,
    ) -> Result<LogTail, OpError> {
        let mut lines = VecDeque::with_capacity(keep.min(LOG_BATCH));
        let (mut matched, mut scanned) = (0usize, 0usize);
        loop {
            let batch = self.platform.read_logs(&cursor, LOG_BATCH).await?;
            let read = batch.lines.len();
            scanned += read;
            for line in batch
                .lines
                .into_iter()
                .filter(|l| color.is_none_or(|c| c == l.color))
            {
                matched += 1;
                if lines.len() == keep {
                    lines.pop_front();
                }
                lines.push_back(line);
            }
            // A platform may answer a short batch before the end: only an empty one, or a
            // cursor that did not move, is the end.
            let moved = batch.cursor != cursor;
            cursor = batch.cursor;
            if read == 0 || !moved || scanned >= limits::MAX_LOG_SCAN {
                break;
            }
        }
        Ok(LogTail {
            cut: matched - lines.len(),
            lines: lines.into(),
            unread: scanned >= limits::MAX_LOG_SCAN,
            cursor,
        })
    }

    /// Polls until `what` holds or `timeout` passes.
    pub async fn wait(&self, what: &WaitFor, timeout: Duration) -> Result<Snapshot, OpError> {
        wait::wait(self.platform.as_ref(), what, timeout, None).await
    }

    /// [`Ops::wait`], showing every snapshot that does not hold yet to `watch`.
    pub async fn wait_watching(
        &self,
        what: &WaitFor,
        timeout: Duration,
        watch: wait::Watch<'_>,
    ) -> Result<Snapshot, OpError> {
        wait::wait(self.platform.as_ref(), what, timeout, Some(watch)).await
    }
}

/// On a stack with no recorded stable color at rest, the color with 100% is stable
/// (AGREEMENTS "Existing stacks"): it is set in `snap` for the guards, and returned so the
/// verb records it with its first write.
pub(crate) fn adopt_resting(snap: &mut Snapshot) -> Option<Color> {
    let color = guard::resting_stable(snap)?;
    snap.listener.stable = Some(color);
    Some(color)
}

/// Turns a weight change that was not verified into an error.
fn verified(change: WeightChange) -> Result<WeightChange, OpError> {
    match change.outcome() {
        WeightOutcome::Applied => Ok(change),
        _ => Err(OpError::Weights(Box::new(change))),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) mod release_tests;

#[cfg(test)]
mod journal_tests;

#[cfg(test)]
mod lock_tests;
