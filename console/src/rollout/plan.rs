//! Release plans: the steps a canary walks (canary, linear, all-at-once, manual), the smoke
//! test before any production traffic, and the stepper that decides, from the gates' results
//! and the clock the caller passes in, whether a step holds, goes on, pauses or rolls back.
//! Pure: the release driver ([`crate::ops::release`]) reads, writes and sleeps.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::gate::{self, GateConfig, GateResult, Verdict};
use super::{Color, Share, UnixMillis, Weights};

/// The longest hold a step may ask for: a day.
pub const MAX_HOLD_SECS: u64 = 24 * 3600;
/// The most steps a plan may have.
pub const MAX_STEPS: usize = 100;
/// The gate interval's bounds, in seconds.
pub const MIN_INTERVAL_SECS: u64 = 1;
pub const MAX_INTERVAL_SECS: u64 = 3600;
/// The longest window the gates judge: the local proxy keeps 15 minutes of samples.
pub const MAX_WINDOW_SECS: u64 = 600;
/// The metric period on AWS (CloudWatch's ALB metrics are per minute): a hold must be at
/// least this long, or a step would pass before one data point of it exists.
pub const AWS_METRIC_PERIOD_SECS: u64 = 60;

/// One step: the canary's weight, then a hold while the gates are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub weight: Share,
    pub hold_secs: u64,
}

/// What to do when a step's hold has passed and the gates could not judge (too little
/// traffic, unreadable metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnInconclusive {
    /// Pause the plan and say why; a person resumes or aborts it.
    #[default]
    Pause,
    /// Go on to the next step, recording that the gates could not judge.
    Proceed,
}

/// The kinds of plan a profile can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanKind {
    /// The listed steps.
    Canary,
    /// N% more every T.
    Linear,
    /// Straight to 100% after the smoke test (the gates are not checked).
    AllAtOnce,
    /// The listed steps, pausing after each until someone resumes.
    Manual,
}

/// A plan, expanded to its steps and checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    pub kind: PlanKind,
    /// Strictly increasing weights, each above 0 and below 100%: 100% is the promote.
    pub steps: Vec<Step>,
    /// How often the gates are checked while a step holds.
    pub interval_secs: u64,
    pub on_inconclusive: OnInconclusive,
    pub gates: GateConfig,
}

/// Why a plan is not valid. The configuration adds the file, line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

impl Plan {
    /// A canary (or, with `manual`, a manual) plan of the given steps.
    pub fn stepped(
        name: impl Into<String>,
        kind: PlanKind,
        steps: Vec<Step>,
        interval_secs: u64,
    ) -> Result<Plan, PlanError> {
        let plan = Plan {
            name: name.into(),
            kind,
            steps,
            interval_secs,
            on_inconclusive: OnInconclusive::default(),
            gates: GateConfig::default(),
        };
        plan.validate()?;
        Ok(plan)
    }

    /// `step` more to the canary every `every_secs`, up to the last step below 100%.
    pub fn linear(
        name: impl Into<String>,
        step: Share,
        every_secs: u64,
        interval_secs: u64,
    ) -> Result<Plan, PlanError> {
        if step == Share::ZERO || step == Share::ALL {
            return Err(PlanError(format!(
                "a linear plan's step must be above 0 and below 100%, got {step}%"
            )));
        }
        let steps = (1..)
            .map(|i| step.get() as u32 * i)
            .take_while(|w| *w < Weights::TOTAL as u32)
            .filter_map(|w| Share::permille(w as u16))
            .map(|weight| Step {
                weight,
                hold_secs: every_secs,
            })
            .collect();
        Plan::stepped(name, PlanKind::Linear, steps, interval_secs)
    }

    /// No steps: the smoke test, then 100%.
    pub fn all_at_once(name: impl Into<String>) -> Plan {
        Plan {
            name: name.into(),
            kind: PlanKind::AllAtOnce,
            steps: Vec::new(),
            interval_secs: 10,
            on_inconclusive: OnInconclusive::default(),
            gates: GateConfig::default(),
        }
    }

    /// The plan used when a profile names none: 10% for 2 minutes, 50% for 2 minutes.
    pub fn default_canary() -> Plan {
        Plan {
            name: "default".into(),
            kind: PlanKind::Canary,
            steps: vec![
                Step {
                    weight: Share::percent(10).unwrap_or(Share::ZERO),
                    hold_secs: 120,
                },
                Step {
                    weight: Share::percent(50).unwrap_or(Share::ZERO),
                    hold_secs: 120,
                },
            ],
            interval_secs: 10,
            on_inconclusive: OnInconclusive::default(),
            gates: GateConfig::default(),
        }
    }

    /// Checks the steps, the interval and the gates; the message names what is wrong.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.kind != PlanKind::AllAtOnce && self.steps.is_empty() {
            return Err(PlanError(format!(
                "plan `{}` has no steps: give at least one, or use type = \"all-at-once\"",
                self.name
            )));
        }
        if self.steps.len() > MAX_STEPS {
            return Err(PlanError(format!(
                "plan `{}` has {} steps; at most {MAX_STEPS}",
                self.name,
                self.steps.len()
            )));
        }
        let mut previous = Share::ZERO;
        for (i, s) in self.steps.iter().enumerate() {
            let n = i + 1;
            if s.weight == Share::ZERO || s.weight == Share::ALL {
                return Err(PlanError(format!(
                    "step {n} gives the canary {}%: a step must be above 0 and below 100 (100% is the promote that ends the plan)",
                    s.weight
                )));
            }
            if s.weight <= previous {
                return Err(PlanError(format!(
                    "step {n} gives the canary {}%, not more than step {}'s {previous}%: steps must increase",
                    s.weight, i
                )));
            }
            if s.hold_secs > MAX_HOLD_SECS {
                return Err(PlanError(format!(
                    "step {n} holds {} s; at most {MAX_HOLD_SECS} s (a day)",
                    s.hold_secs
                )));
            }
            previous = s.weight;
        }
        if !(MIN_INTERVAL_SECS..=MAX_INTERVAL_SECS).contains(&self.interval_secs) {
            return Err(PlanError(format!(
                "the gate interval must be in {MIN_INTERVAL_SECS}..={MAX_INTERVAL_SECS} s, got {}",
                self.interval_secs
            )));
        }
        self.gates.validate().map_err(PlanError)
    }

    /// On AWS a hold shorter than the metric period would pass on no data: refuse it.
    pub fn validate_for_aws(&self) -> Result<(), PlanError> {
        if let Some((i, s)) = self
            .steps
            .iter()
            .enumerate()
            .find(|(_, s)| s.hold_secs < AWS_METRIC_PERIOD_SECS)
        {
            return Err(PlanError(format!(
                "step {} holds {} s, shorter than CloudWatch's {AWS_METRIC_PERIOD_SECS} s metric period: on AWS a step would end before one data point of it exists",
                i + 1,
                s.hold_secs
            )));
        }
        Ok(())
    }

    /// The listener's weights at step `index` for `canary`.
    pub fn weights_at(&self, index: usize, canary: Color) -> Option<Weights> {
        self.steps
            .get(index)
            .map(|s| Weights::with_share(canary, s.weight))
    }

    /// The whole plan's minimum time (the holds), for the docs and the progress display.
    pub fn total_hold_secs(&self) -> u64 {
        self.steps.iter().map(|s| s.hold_secs).sum()
    }
}

impl fmt::Display for Plan {
    /// `canary 1% 2m → 10% 2m → 50% 2m → 100%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        for s in &self.steps {
            write!(
                f,
                " {}% {}",
                s.weight,
                crate::format::duration(
                    s.hold_secs.saturating_mul(1000).min(i64::MAX as u64) as i64
                )
            )?;
            f.write_str(" →")?;
        }
        f.write_str(" 100%")
    }
}

/// What the stepper decided for a step that is holding.
#[derive(Debug, Clone, PartialEq)]
pub enum StepDecision {
    /// Keep holding: the hold has `left_ms` to go (0 while waiting for a conclusive verdict).
    Hold { left_ms: u64 },
    /// The hold passed and the gates passed (or the plan proceeds on inconclusive): set the
    /// next step's weights, or promote after the last one.
    Advance,
    /// The hold passed but the plan waits for a person: `reason` says why.
    Pause { reason: String },
    /// A gate failed: roll back at once.
    RollBack { failed: Vec<GateResult> },
}

/// Decides for step `index`, entered at `since`, at `now`, given the gates' latest results.
/// A failing gate rolls back at any moment of the hold; otherwise the step goes on only after
/// its hold, and only on a pass (or an inconclusive verdict where the plan says proceed).
pub fn decide(
    plan: &Plan,
    index: usize,
    since: UnixMillis,
    now: UnixMillis,
    results: &[GateResult],
) -> StepDecision {
    if let Some(failed) = gate::failed(results) {
        return StepDecision::RollBack { failed };
    }
    let verdict = gate::overall(results);
    let hold_ms = plan
        .steps
        .get(index)
        .map_or(0, |s| s.hold_secs.saturating_mul(1000));
    let elapsed = now.saturating_sub(since).max(0) as u64;
    if elapsed < hold_ms {
        return StepDecision::Hold {
            left_ms: hold_ms - elapsed,
        };
    }
    match verdict {
        Verdict::Inconclusive if plan.on_inconclusive == OnInconclusive::Pause => {
            let why: Vec<String> = results
                .iter()
                .filter(|r| r.verdict == Verdict::Inconclusive)
                .map(|r| {
                    format!(
                        "{}: {}",
                        r.gate,
                        r.reason.as_deref().unwrap_or("no verdict")
                    )
                })
                .collect();
            StepDecision::Pause {
                reason: format!(
                    "the gates could not judge step {} after its hold ({}); resume to go on anyway, or abort",
                    index + 1,
                    why.join("; ")
                ),
            }
        }
        _ if plan.kind == PlanKind::Manual => StepDecision::Pause {
            reason: format!(
                "manual plan: step {} held and its gates passed; resume to go on",
                index + 1
            ),
        },
        _ => StepDecision::Advance,
    }
}

/// The window the gates judge at `now` for a step entered at `since`: the step's own traffic
/// only, so an earlier step's (or an earlier release's) requests never count for this one.
/// Metrics are sampled every `resolution_ms`, and a window's baseline is the last sample at
/// or before its start, up to one resolution earlier: so the window is the step's whole
/// elapsed resolutions less one, at most [`MAX_WINDOW_SECS`]. `None` while the step is too
/// young to have a window of its own.
pub fn window_secs(since: UnixMillis, now: UnixMillis, resolution_ms: u64) -> Option<u64> {
    let elapsed = now.saturating_sub(since).max(0) as u64;
    let resolution = resolution_ms.max(1);
    let whole = (elapsed / resolution).checked_sub(1)?;
    let secs = (whole * resolution) / 1000;
    (secs >= 1).then_some(secs.min(MAX_WINDOW_SECS))
}

/// How long after `since` the first window of a step exists (see [`window_secs`]).
pub fn first_window_ms(resolution_ms: u64) -> u64 {
    let resolution = resolution_ms.max(1);
    // Whole resolutions making at least one second, plus the one the baseline may take.
    (1000u64.div_ceil(resolution) + 1) * resolution
}

/// One smoke check against the test listener (the idle color alone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeCheck {
    pub path: String,
    #[serde(default = "ok_status")]
    pub status: u16,
    /// Text the body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// The answer must arrive within this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency_ms: Option<u64>,
}

fn ok_status() -> u16 {
    200
}

impl SmokeCheck {
    pub fn get(path: &str) -> SmokeCheck {
        SmokeCheck {
            path: path.into(),
            status: 200,
            body_contains: None,
            max_latency_ms: None,
        }
    }

    /// The checks used when a profile lists none.
    pub fn defaults() -> Vec<SmokeCheck> {
        vec![SmokeCheck::get("/health"), SmokeCheck::get("/")]
    }

    /// Checks the check itself: a path from the root, a real status, a bounded latency.
    pub fn validate(&self) -> Result<(), String> {
        if !self.path.starts_with('/')
            || self.path.len() > 2048
            || self.path.contains(char::is_whitespace)
        {
            return Err(format!(
                "smoke check path `{}` must start with / and have no spaces (at most 2048 bytes)",
                self.path.chars().take(64).collect::<String>()
            ));
        }
        if !(100..=599).contains(&self.status) {
            return Err(format!(
                "smoke check status {} is not an HTTP status (100..=599)",
                self.status
            ));
        }
        if self
            .max_latency_ms
            .is_some_and(|ms| ms == 0 || ms > 600_000)
        {
            return Err("smoke check max_latency_ms must be in 1..=600000".into());
        }
        Ok(())
    }

    /// Judges one answer: `None` when it passes, else what was wrong.
    pub fn judge(&self, status: u16, body: &str, latency_ms: u64) -> Option<String> {
        if status != self.status {
            return Some(format!("status {status}, expected {}", self.status));
        }
        if let Some(text) = &self.body_contains
            && !body.contains(text.as_str())
        {
            return Some(format!("the body does not contain `{text}`"));
        }
        if let Some(max) = self.max_latency_ms
            && latency_ms > max
        {
            return Some(format!("answered in {latency_ms} ms, over {max} ms"));
        }
        None
    }
}

impl fmt::Display for SmokeCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GET {} → {}", self.path, self.status)?;
        if let Some(t) = &self.body_contains {
            write!(f, " containing `{t}`")?;
        }
        if let Some(ms) = self.max_latency_ms {
            write!(f, " within {ms} ms")?;
        }
        Ok(())
    }
}

/// Reads a duration as an operator writes it: `90` (seconds), `90s`, `2m`, `1h`, `1m30s`;
/// at most `max_secs`. The message names the accepted forms and the bound.
pub fn parse_duration(text: &str, max_secs: u64) -> Result<u64, String> {
    let shown: String = text.chars().take(32).collect();
    let bad = || {
        format!(
            "`{shown}` is not a duration: write seconds (90), or units such as 90s, 2m, 1h, 1m30s, up to {max_secs} s"
        )
    };
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        let n: u64 = t.parse().map_err(|_| bad())?;
        return (n <= max_secs).then_some(n).ok_or_else(bad);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut last_unit = u64::MAX;
    for c in t.chars() {
        if c.is_ascii_digit() {
            if number.len() >= 12 {
                return Err(bad());
            }
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        // Units must come once each, largest first: `1m30s`, not `30s1m` or `5ss`.
        if number.is_empty() || unit >= last_unit {
            return Err(bad());
        }
        last_unit = unit;
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(bad());
    }
    (total <= max_secs).then_some(total).ok_or_else(bad)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;

#[cfg(test)]
mod duration_tests {
    use super::parse_duration;

    #[test]
    fn durations_take_seconds_or_units_largest_first_and_are_bounded() {
        for (t, s) in [
            ("90", 90),
            ("90s", 90),
            ("2m", 120),
            ("1h", 3600),
            ("1m30s", 90),
            ("1d", 86_400),
        ] {
            assert_eq!(parse_duration(t, 86_400), Ok(s), "{t}");
        }
        for t in [
            "",
            "5ss",
            "30s1m",
            "m",
            "1x",
            "-1",
            "1.5m",
            "2d",
            "99999999999999999999",
        ] {
            let e = parse_duration(t, 86_400).expect_err(t);
            assert!(e.contains("86400"), "{e}");
        }
    }
}
