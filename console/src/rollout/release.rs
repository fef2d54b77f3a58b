//! A release driven by a plan: its stage, its latest gate results and how it ended. It is
//! recorded with the listener (the daemon's state locally, listener tags on AWS) each time
//! it changes, so any console shows it and `resume` can pick up one whose driver went away.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::gate::GateResult;
use super::plan::{Plan, SmokeCheck};
use super::step_split::StepSplit;
use super::{Color, UnixMillis, Weights};

/// Where a release is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// Deploying the tag to the canary and waiting for it to be healthy.
    Deploying,
    /// Running the smoke test against the test listener.
    Smoke,
    /// Holding step `index` (0-based), entered at `since`.
    Step { index: usize, since: UnixMillis },
    /// Paused at step `index` (or before the first step, `None`), waiting for a person.
    Paused {
        index: Option<usize>,
        since: UnixMillis,
        reason: String,
    },
    /// Giving the canary 100%, then the bake.
    Promoting,
    /// Over: see [`Release::outcome`].
    Done,
}

/// How a release ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The canary has 100% and is stable.
    Released,
    /// A gate failed (or the smoke test): the stable color got 100% back.
    RolledBack {
        reason: String,
        /// The gates that failed, with their values.
        #[serde(default)]
        failed: Vec<GateResult>,
    },
    /// The smoke test failed: no production traffic was moved.
    SmokeFailed { check: String, response: String },
    /// Someone aborted it: the stable color got 100% back.
    Aborted { by: String },
    /// The release stopped on an error (a weight change not applied or unknown, a deploy that
    /// failed): the weights are where the error left them, which `reason` states.
    Failed { reason: String },
}

impl Outcome {
    /// The CLI's exit code for this outcome (docs/runbook.md).
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Released => 0,
            Outcome::RolledBack { .. } | Outcome::SmokeFailed { .. } | Outcome::Aborted { .. } => 6,
            Outcome::Failed { .. } => 4,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Released => "released",
            Outcome::RolledBack { .. } => "rolled back",
            Outcome::SmokeFailed { .. } => "smoke test failed",
            Outcome::Aborted { .. } => "aborted",
            Outcome::Failed { .. } => "failed",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Released => f.write_str("released"),
            Outcome::RolledBack { reason, .. } => write!(f, "rolled back: {reason}"),
            Outcome::SmokeFailed { check, response } => {
                write!(f, "smoke test failed: {check}: {response}")
            }
            Outcome::Aborted { by } => write!(f, "aborted by {by}"),
            Outcome::Failed { reason } => write!(f, "failed: {reason}"),
        }
    }
}

/// A person's request to a running release, recorded beside it so the driver (the daemon,
/// or another console's process) acts on it at its next interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    Pause,
    Resume,
    Abort,
}

/// The options a release was started with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseOptions {
    pub bake_secs: u64,
    pub keep_old: bool,
    pub scale_in_on_rollback: bool,
    pub smoke: Vec<SmokeCheck>,
    /// `--accept-unmeasured`: a step whose requests are too few to judge its split goes on
    /// after its hold (a measured mismatch still holds it), and the bake may scale in.
    #[serde(default)]
    pub accept_unmeasured: bool,
}

/// One release and where it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// `r`, the start time in milliseconds and a random part: unique per environment, even
    /// for two releases started in the same millisecond.
    pub id: String,
    pub tag: String,
    pub canary: Color,
    /// The canary's desired task count (the live color's, when the release started).
    #[serde(default)]
    pub desired: u32,
    pub plan: Plan,
    pub options: ReleaseOptions,
    pub started_at: UnixMillis,
    pub stage: Stage,
    /// Who drives it (`user@host pid N`, or `daemon`), and when the driver last wrote.
    pub driver: String,
    pub driven_at: UnixMillis,
    /// Who started it, and why (`--reason`): a driver that is not that console (the local
    /// daemon) holds the deploy lock and journals in this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<super::Operator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The gates' latest results, while a step holds and after a rollback.
    #[serde(default)]
    pub gates: Vec<GateResult>,
    /// The measured split of the step that holds (or paused), as last judged: what the step
    /// waits for, or the mismatch it warns about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<StepSplit>,
    /// A pause, resume or abort someone asked for and the driver has not acted on yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    pub ended_at: Option<UnixMillis>,
}

/// A driver that has not written for this long is gone (`status` says so; `resume` may take
/// the release over).
pub const DRIVER_GONE_MS: i64 = 60_000;

/// Pre-flight before a release gives production traffic to its canary: every reason found not
/// to go, each a sentence. A gate alarm already in ALARM (the release would move traffic, then
/// roll back for it), the stable color running tasks of another revision than its service's
/// (a deployment that has not finished: rollback would return to a mix), a listener whose
/// weights are not what a console last wrote (someone changed them outside the console).
pub fn preflight(
    snap: &super::Snapshot,
    stable: Color,
    alarms: &[(String, super::gate::AlarmState)],
) -> Vec<String> {
    let mut found: Vec<String> = alarms
        .iter()
        .filter(|(_, s)| *s == super::gate::AlarmState::Alarm)
        .map(|(name, _)| format!("the gate alarm `{name}` is already in ALARM"))
        .collect();
    let c = snap.colors.get(stable);
    let older = c
        .tasks
        .iter()
        .filter(|t| t.last_status == "RUNNING" && t.revision != c.service.revision)
        .count();
    if older > 0 {
        found.push(format!(
            "{stable} (stable) runs {older} task(s) of another revision than its service's {}: a deployment has not finished, so a rollback would return to a mix",
            c.service.task_definition
        ));
    }
    if let Some(w) = snap
        .listener
        .written
        .filter(|w| w.weights != snap.listener.weights)
    {
        found.push(format!(
            "the listener shows {} but a console last wrote {} (drift: changed outside the console; `bluegreen status` shows it)",
            snap.listener.weights, w.weights
        ));
    }
    found
}

/// The refusal for what [`preflight`] found, unless forced with a reason.
pub fn check_preflight(
    found: &[String],
    force: bool,
    reason: Option<&str>,
) -> Result<(), super::Refusal> {
    if found.is_empty() || (force && reason.is_some()) {
        return Ok(());
    }
    let how = if force {
        "--force needs a --reason, which the journal keeps"
    } else {
        "fix it first, or go anyway with --force --reason TEXT (journaled)"
    };
    Err(super::Refusal {
        overridable: true,
        ..super::Refusal::new(
            super::guard::GuardRule::Preflight,
            format!("pre-flight: {}; {how}", found.join("; ")),
        )
    })
}

/// Whether a new release may start: the environment is at rest with a recorded stable color
/// and no bake pending, and no other release runs (one whose driver went away must be resumed
/// or aborted first).
pub fn check_start(
    snap: &super::Snapshot,
    current: Option<&Release>,
) -> Result<Color, super::Refusal> {
    use super::guard::GuardRule;
    if let Some(r) = current.filter(|r| !r.is_over()) {
        return Err(super::Refusal::new(
            GuardRule::ReleaseRunning,
            format!(
                "release {} of {} is still running ({}): wait for it, or `bluegreen abort` it (or `resume` it if its driver went away)",
                r.id,
                r.tag,
                r.describe()
            ),
        ));
    }
    // A stack with no record at rest (made outside this project) has the color with all the
    // traffic as stable (the caller records it with its first write).
    let Some(stable) = snap.stable().or_else(|| super::guard::resting_stable(snap)) else {
        let why = if super::guard::first_release(snap) {
            "nothing runs yet: a release needs a stable color to roll back to; deploy the first release with `bluegreen deploy --wait`".to_string()
        } else if snap.shift_in_progress() {
            format!(
                "no stable color is recorded and traffic is split ({}): say which color is stable with `bluegreen adopt --stable COLOR`",
                snap.listener.weights
            )
        } else {
            "no stable color is recorded and the color with the traffic has no healthy target: scale it up or redeploy it (`bluegreen deploy --wait`), or say which color is stable with `bluegreen adopt --stable COLOR`".to_string()
        };
        return Err(super::Refusal::new(GuardRule::NoStable, why));
    };
    if snap.shift_in_progress() {
        return Err(super::Refusal::new(
            GuardRule::ShiftInProgress,
            format!(
                "traffic is split ({}): a release starts at rest; promote or roll back first",
                snap.listener.weights
            ),
        ));
    }
    if snap.live() != Some(stable) {
        return Err(super::Refusal::new(
            GuardRule::NoStable,
            format!(
                "the stable color is {stable} but {} has the traffic: run `bluegreen rollback` or `promote` to settle it first",
                snap.live().map_or("neither".to_string(), |c| c.to_string())
            ),
        ));
    }
    if let Some(b) = snap.bake_pending() {
        return Err(super::Refusal::new(
            GuardRule::BakePending,
            format!(
                "a promote's bake is pending ({} still runs): run `bluegreen promote` to finish it, or wait",
                b.old
            ),
        ));
    }
    Ok(stable.other())
}

/// Whether `new` may be recorded over `current`, the record the platform holds: never a second
/// release while one runs (two accepted at once, one would vanish), and never an ended
/// release back to running (a driver that had not seen the abort or the rollback that ended
/// it would take its next step).
pub fn check_record(current: Option<&Release>, new: &Release) -> Result<(), super::Refusal> {
    use super::guard::GuardRule;
    match current {
        Some(cur) if cur.id != new.id && !cur.is_over() => Err(super::Refusal::new(
            GuardRule::ReleaseRunning,
            format!(
                "release {} of {} is still running ({}): a second release is not accepted while one runs; wait for it, or `bluegreen abort` it",
                cur.id,
                cur.tag,
                cur.describe()
            ),
        )),
        Some(cur) if cur.id == new.id && cur.is_over() && !new.is_over() => {
            Err(super::Refusal::new(
                GuardRule::ReleaseRunning,
                format!(
                    "release {} of {} ended meanwhile ({}): it takes no further step",
                    cur.id,
                    cur.tag,
                    cur.describe()
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// The release recorded here, running or over (what `wait --release` follows).
pub fn check_recorded(current: Option<Release>) -> Result<Release, super::Refusal> {
    current.ok_or_else(|| {
        super::Refusal::new(
            super::guard::GuardRule::ReleaseRunning,
            "no release has run here: start one with `bluegreen release --tag TAG`",
        )
    })
}

/// The running release a pause, resume or abort applies to.
pub fn check_request(current: Option<Release>) -> Result<Release, super::Refusal> {
    let r = check_recorded(current)?;
    if r.is_over() {
        return Err(super::Refusal::new(
            super::guard::GuardRule::ReleaseRunning,
            format!("release {} of {} is over ({})", r.id, r.tag, r.describe()),
        ));
    }
    Ok(r)
}

impl Release {
    pub fn is_over(&self) -> bool {
        self.outcome.is_some()
    }

    /// Whether the bake of the promote written at `promoted_at` to `stable` is this
    /// release's own, started with `--accept-unmeasured`: then it may finish with too few
    /// requests, as `promote --accept-unmeasured` would (never on a measured mismatch).
    pub fn accepts_unmeasured_bake(&self, stable: Color, promoted_at: Option<UnixMillis>) -> bool {
        self.options.accept_unmeasured
            && self.canary == stable
            && promoted_at.is_some_and(|at| at >= self.started_at)
            && matches!(self.outcome, None | Some(Outcome::Released))
    }

    /// The weights the plan wants now, if it is at a step.
    pub fn step_weights(&self) -> Option<Weights> {
        match &self.stage {
            Stage::Step { index, .. }
            | Stage::Paused {
                index: Some(index), ..
            } => self.plan.weights_at(*index, self.canary),
            _ => None,
        }
    }

    /// Whether the driver stopped writing (a closed laptop, a killed process).
    pub fn driver_gone(&self, now: UnixMillis) -> bool {
        !self.is_over() && now.saturating_sub(self.driven_at) > DRIVER_GONE_MS
    }

    /// The time left in the current step's hold.
    pub fn hold_left_ms(&self, now: UnixMillis) -> Option<u64> {
        match &self.stage {
            Stage::Step { index, since } => {
                let hold = self.plan.steps.get(*index)?.hold_secs.saturating_mul(1000);
                let elapsed = now.saturating_sub(*since).max(0) as u64;
                Some(hold.saturating_sub(elapsed))
            }
            _ => None,
        }
    }

    /// `step 2/3 (10%)`, `smoke test`, `released`: for one-line displays.
    pub fn describe(&self) -> String {
        if let Some(o) = &self.outcome {
            return o.name().to_string();
        }
        let n = self.plan.steps.len();
        let step = |i: usize| {
            let w = self
                .plan
                .steps
                .get(i)
                .map(|s| s.weight.to_string())
                .unwrap_or_default();
            format!("step {}/{n} ({w}%)", i + 1)
        };
        match &self.stage {
            Stage::Deploying => "deploying".into(),
            Stage::Smoke => "smoke test".into(),
            Stage::Step { index, .. } => step(*index),
            Stage::Paused { index: Some(i), .. } => format!("paused at {}", step(*i)),
            Stage::Paused { index: None, .. } => "paused before the first step".into(),
            Stage::Promoting => "promoting".into(),
            Stage::Done => "done".into(),
        }
    }
}
