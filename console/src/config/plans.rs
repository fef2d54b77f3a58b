//! Release plans in `bluegreen.toml`: `[plans.NAME]` tables, and each profile's default plan,
//! gates, smoke checks and rollback setting. Every error names the file, line and column.
//!
//! ```toml
//! [plans.careful]
//! type = "canary"                       # canary | linear | all-at-once | manual
//! steps = [{ weight = 1, hold = "2m" }, { weight = 10, hold = "5m" }, { weight = 50 }]
//! hold = "2m"                           # for steps that give none
//! interval = "10s"                      # gate checks
//! on_inconclusive = "pause"             # or "proceed"
//! [plans.careful.gates]                 # this plan's own thresholds
//! max_error_rate = 0.5
//!
//! [plans.steady]
//! type = "linear"
//! step = 20                             # percent more every…
//! every = "3m"
//!
//! [profiles.prod]
//! plan = "careful"                      # the default of `bluegreen release`
//! scale_in_on_rollback = false
//! smoke = [{ path = "/health", status = 200 }, { path = "/", body_contains = "Blog" }]
//! [profiles.prod.gates]                 # thresholds for plans without their own
//! alarms = ["blog-5xx"]
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use super::raw::Lines;
use crate::rollout::Share;
use crate::rollout::gate::GateConfig;
use crate::rollout::plan::{self, OnInconclusive, Plan, PlanKind, SmokeCheck, Step};
use crate::rollout::resolve::ReleaseSettings;

/// A duration as written: seconds, or `90s`, `2m`, `1h`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawDuration {
    Secs(i64),
    Text(String),
}

impl RawDuration {
    pub(super) fn secs(&self, max: u64) -> Result<u64, String> {
        match self {
            RawDuration::Secs(n) if *n >= 0 && (*n as u64) <= max => Ok(*n as u64),
            RawDuration::Secs(n) => Err(format!("{n} s is out of range; use 0 to {max} s")),
            RawDuration::Text(t) => plan::parse_duration(t, max),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    weight: f64,
    hold: Option<RawDuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlan {
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
    steps: Option<Spanned<Vec<RawStep>>>,
    hold: Option<Spanned<RawDuration>>,
    step: Option<Spanned<f64>>,
    every: Option<Spanned<RawDuration>>,
    interval: Option<Spanned<RawDuration>>,
    on_inconclusive: Option<Spanned<String>>,
    gates: Option<Spanned<GateConfig>>,
}

/// A profile's release settings as written.
#[derive(Default)]
pub(super) struct RawRelease {
    pub plan: Option<Spanned<String>>,
    pub gates: Option<Spanned<GateConfig>>,
    pub smoke: Option<Spanned<Vec<SmokeCheck>>>,
    pub scale_in_on_rollback: Option<bool>,
}

/// Plans as read: each with whether it set its own gates.
pub(super) struct FilePlans(Vec<(Plan, bool, std::ops::Range<usize>)>);

pub(super) fn plans(
    lines: &Lines,
    raw: BTreeMap<String, Spanned<RawPlan>>,
) -> Result<FilePlans, ConfigError> {
    let mut out = Vec::new();
    for (name, spanned) in raw {
        let span = spanned.span();
        let p = spanned.into_inner();
        let err = |span: std::ops::Range<usize>, m: String| {
            lines.error(span, format!("plan `{name}`: {m}"))
        };
        let kind = match p.kind.as_ref().map(|k| (k.get_ref().as_str(), k.span())) {
            None | Some(("canary", _)) => PlanKind::Canary,
            Some(("linear", _)) => PlanKind::Linear,
            Some(("all-at-once", _)) => PlanKind::AllAtOnce,
            Some(("manual", _)) => PlanKind::Manual,
            Some((other, s)) => {
                return Err(err(
                    s,
                    format!(
                        "type `{other}` is unknown; expected canary, linear, all-at-once or manual"
                    ),
                ));
            }
        };
        let interval = match &p.interval {
            Some(i) => i
                .get_ref()
                .secs(plan::MAX_INTERVAL_SECS)
                .map_err(|m| err(i.span(), format!("interval: {m}")))?,
            None => 10,
        };
        let default_hold = match &p.hold {
            Some(h) => Some(
                h.get_ref()
                    .secs(plan::MAX_HOLD_SECS)
                    .map_err(|m| err(h.span(), format!("hold: {m}")))?,
            ),
            None => None,
        };
        let share = |v: f64, s: std::ops::Range<usize>| {
            Share::from_percent_f64(v).ok_or_else(|| {
                err(
                    s,
                    format!("weight {v} is not a percentage in 0..=100 with at most one decimal"),
                )
            })
        };
        let mut plan = match kind {
            PlanKind::Canary | PlanKind::Manual => {
                let steps = p.steps.as_ref().ok_or_else(|| {
                    err(
                        span.clone(),
                        "needs `steps = [{ weight = 10, hold = \"2m\" }, …]`".into(),
                    )
                })?;
                let mut list = Vec::new();
                for s in steps.get_ref() {
                    let hold_secs = match (&s.hold, default_hold) {
                        (Some(h), _) => h
                            .secs(plan::MAX_HOLD_SECS)
                            .map_err(|m| err(steps.span(), format!("hold: {m}")))?,
                        (None, Some(h)) => h,
                        (None, None) => {
                            return Err(err(
                                steps.span(),
                                "a step has no hold: give it `hold = \"2m\"`, or set the plan's `hold`".into(),
                            ));
                        }
                    };
                    list.push(Step {
                        weight: share(s.weight, steps.span())?,
                        hold_secs,
                    });
                }
                Plan::stepped(name.clone(), kind, list, interval)
                    .map_err(|e| err(steps.span(), e.to_string()))?
            }
            PlanKind::Linear => {
                let step = p.step.as_ref().ok_or_else(|| {
                    err(
                        span.clone(),
                        "a linear plan needs `step` (percent) and `every`".into(),
                    )
                })?;
                let every = p.every.as_ref().ok_or_else(|| {
                    err(
                        span.clone(),
                        "a linear plan needs `every` (a duration)".into(),
                    )
                })?;
                let every_secs = every
                    .get_ref()
                    .secs(plan::MAX_HOLD_SECS)
                    .map_err(|m| err(every.span(), format!("every: {m}")))?;
                Plan::linear(
                    name.clone(),
                    share(*step.get_ref(), step.span())?,
                    every_secs,
                    interval,
                )
                .map_err(|e| err(step.span(), e.to_string()))?
            }
            PlanKind::AllAtOnce => Plan::all_at_once(name.clone()),
        };
        if let Some(o) = &p.on_inconclusive {
            plan.on_inconclusive = match o.get_ref().as_str() {
                "pause" => OnInconclusive::Pause,
                "proceed" => OnInconclusive::Proceed,
                other => {
                    return Err(err(
                        o.span(),
                        format!("on_inconclusive `{other}` is unknown; expected pause or proceed"),
                    ));
                }
            };
        }
        let own_gates = p.gates.is_some();
        if let Some(g) = p.gates {
            let s = g.span();
            plan.gates = g.into_inner();
            plan.gates.validate().map_err(|m| err(s, m))?;
        }
        out.push((plan, own_gates, span));
    }
    Ok(FilePlans(out))
}

/// A profile's release settings, checked against the file's plans (an AWS profile's
/// default plan may not hold a step shorter than CloudWatch's metric period).
pub(super) fn settings(
    lines: &Lines,
    profile: &str,
    aws: bool,
    file: &FilePlans,
    raw: RawRelease,
) -> Result<ReleaseSettings, ConfigError> {
    let err = |span: std::ops::Range<usize>, m: String| {
        lines.error(span, format!("profile `{profile}`: {m}"))
    };
    let gates = match raw.gates {
        Some(g) => {
            let s = g.span();
            let g = g.into_inner();
            g.validate().map_err(|m| err(s.clone(), m))?;
            if !aws && !g.alarms.is_empty() {
                return Err(err(
                    s,
                    "gates.alarms names CloudWatch alarms, which a local profile has none of; remove them".into(),
                ));
            }
            Some(g)
        }
        None => None,
    };
    let plans: Vec<Plan> = file
        .0
        .iter()
        .map(|(p, own, _)| {
            let mut p = p.clone();
            if let (false, Some(g)) = (own, &gates) {
                p.gates = g.clone();
            }
            p
        })
        .collect();
    let default_plan = match raw.plan {
        Some(name) => {
            let s = name.span();
            let name = name.into_inner();
            let Some(plan) = plans.iter().find(|p| p.name == name) else {
                return Err(err(
                    s,
                    format!("plan `{name}` is not a [plans.{name}] table in this file"),
                ));
            };
            if aws {
                plan.validate_for_aws().map_err(|e| {
                    let at = file
                        .0
                        .iter()
                        .find(|(p, _, _)| p.name == name)
                        .map_or(s.clone(), |(_, _, span)| span.clone());
                    err(at, format!("plan `{name}`: {e}"))
                })?;
            }
            Some(name)
        }
        None => None,
    };
    let smoke = match raw.smoke {
        Some(list) => {
            let s = list.span();
            let list = list.into_inner();
            if list.is_empty() || list.len() > 20 {
                return Err(err(s, "smoke lists 1 to 20 checks".into()));
            }
            for c in &list {
                c.validate().map_err(|m| err(s.clone(), m))?;
            }
            list
        }
        None => SmokeCheck::defaults(),
    };
    Ok(ReleaseSettings {
        plans,
        default_plan,
        smoke,
        scale_in_on_rollback: raw.scale_in_on_rollback.unwrap_or(false),
        gates: gates.unwrap_or_default(),
    })
}
