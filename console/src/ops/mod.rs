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
    Build, Color, LogLine, Operator, OperatorError, PerColor, Snapshot, Weights, drift, limits,
    split,
};

mod journal;
pub mod lock;
pub mod probe;
mod promote;
pub mod release;
mod rollback;
mod wait;
pub mod watch;

pub use journal::Journaled;
pub use promote::{FinishedBake, PromoteOptions, PromoteReport};
pub use release::{Driver, Note, Observer};
pub use rollback::RollbackReport;
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
