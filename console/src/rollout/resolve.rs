//! Which release a person asked for: the plan resolved from the profile and the flags (`--plan`,
//! `--steps`, `--hold`, …, or the console's picker), and the release's options. The CLI and
//! the console both ask here, so a plan named in either means the same release.

use super::Share;
use super::gate::GateConfig;
use super::plan::{OnInconclusive, Plan, PlanError, PlanKind, SmokeCheck, Step};
use super::release::ReleaseOptions;

/// How long each step holds when neither the plan nor `--hold` says (`release --hold`).
pub const DEFAULT_HOLD_SECS: u64 = 120;
/// Seconds between gate checks when neither the plan nor `--interval` says.
pub const DEFAULT_INTERVAL_SECS: u64 = 10;
/// How long the old color keeps running after the promote (`release --bake`, `promote --bake`).
pub const DEFAULT_BAKE_SECS: u64 = 300;

/// What a profile says about releases.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseSettings {
    /// Every plan in the file, by name, with this profile's gates where a plan has none.
    pub plans: Vec<Plan>,
    /// The plan `bluegreen release` uses without `--plan` or `--steps`.
    pub default_plan: Option<String>,
    pub smoke: Vec<SmokeCheck>,
    pub scale_in_on_rollback: bool,
    /// The profile's gates (the defaults when it gives none), for plans without their own.
    pub gates: GateConfig,
}

impl Default for ReleaseSettings {
    /// No plans of its own, the default smoke checks, the canary kept on a rollback.
    fn default() -> Self {
        ReleaseSettings {
            plans: Vec::new(),
            default_plan: None,
            smoke: SmokeCheck::defaults(),
            scale_in_on_rollback: false,
            gates: GateConfig::default(),
        }
    }
}

impl ReleaseSettings {
    pub fn plan(&self, name: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.name == name)
    }
}

/// What the flags say about the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanFlags {
    /// A plan of the file, or a built-in one (`default`, `all-at-once`).
    pub plan: Option<String>,
    /// The canary's weights, increasing: a plan of their own.
    pub steps: Option<Vec<Share>>,
    pub hold_secs: u64,
    pub interval_secs: u64,
    pub on_inconclusive: Option<OnInconclusive>,
}

impl PlanFlags {
    /// The plan named `plan` (`None`: the profile's), every other flag at its default.
    pub fn by_plan(plan: Option<&str>) -> Self {
        PlanFlags {
            plan: plan.map(str::to_string),
            steps: None,
            hold_secs: DEFAULT_HOLD_SECS,
            interval_secs: DEFAULT_INTERVAL_SECS,
            on_inconclusive: None,
        }
    }

    /// The plan these flags describe for a profile with `settings`: `--steps` makes one,
    /// `--plan` names one (else the profile's default plan, else `default`). A plan of the
    /// file keeps its own interval and gates; the others take the flags' interval and the
    /// profile's gates.
    pub fn resolve(&self, settings: &ReleaseSettings) -> Result<Plan, PlanError> {
        let named = self.plan.clone().or_else(|| {
            self.steps
                .is_none()
                .then(|| settings.default_plan.clone())
                .flatten()
        });
        let from_file = named.as_deref().and_then(|n| settings.plan(n)).cloned();
        let mut plan = match (&named, &self.steps) {
            (Some(_), None) if from_file.is_some() => {
                from_file.clone().unwrap_or_else(Plan::default_canary)
            }
            (_, Some(steps)) => Plan::stepped(
                "steps",
                PlanKind::Canary,
                steps
                    .iter()
                    .map(|&weight| Step {
                        weight,
                        hold_secs: self.hold_secs,
                    })
                    .collect(),
                self.interval_secs,
            )
            .map_err(|e| PlanError(format!("--steps: {e}")))?,
            (Some(name), None) if name == "all-at-once" => Plan::all_at_once("all-at-once"),
            (Some(name), None) if name == "default" => Plan::default_canary(),
            (Some(name), None) => {
                let mut known: Vec<&str> = settings.plans.iter().map(|p| p.name.as_str()).collect();
                known.extend(["default", "all-at-once"]);
                return Err(PlanError(format!(
                    "no plan named `{name}`: use one of {}, or give --steps 1,10,50 --hold 2m",
                    known.join(", ")
                )));
            }
            (None, None) => Plan::default_canary(),
        };
        // A plan of the file keeps its own interval; flags set the others'.
        if from_file.is_none() {
            plan.interval_secs = self.interval_secs;
            plan.gates = settings.gates.clone();
        }
        if let Some(o) = self.on_inconclusive {
            plan.on_inconclusive = o;
        }
        plan.validate()?;
        Ok(plan)
    }
}

/// A release as asked for: the tag, the plan's flags and the release's own.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseRequest {
    pub tag: String,
    pub plan: PlanFlags,
    pub bake_secs: u64,
    pub keep_old: bool,
    /// `--scale-in-on-rollback` (the profile's setting turns it on too).
    pub scale_in_on_rollback: bool,
    /// Go past what pre-flight found; needs a reason.
    pub force: bool,
}

impl ReleaseRequest {
    /// `tag` by the plan named `plan` (`None`: the profile's), every other flag at its
    /// default: what the console's release picker starts.
    pub fn by_plan(tag: &str, plan: Option<&str>) -> Self {
        ReleaseRequest {
            tag: tag.to_string(),
            plan: PlanFlags::by_plan(plan),
            bake_secs: DEFAULT_BAKE_SECS,
            keep_old: false,
            scale_in_on_rollback: false,
            force: false,
        }
    }

    /// The release to start for a profile with `settings`. `coarse_metrics`: the platform's
    /// metrics come in CloudWatch's minutes (AWS), so a step that holds less than one would
    /// end before one data point of it exists, and is refused.
    pub fn resolve(
        &self,
        settings: &ReleaseSettings,
        coarse_metrics: bool,
    ) -> Result<ReleaseSpec, PlanError> {
        let plan = self.plan.resolve(settings)?;
        if coarse_metrics {
            plan.validate_for_aws()?;
        }
        Ok(ReleaseSpec {
            tag: self.tag.clone(),
            plan,
            options: ReleaseOptions {
                bake_secs: self.bake_secs,
                keep_old: self.keep_old,
                scale_in_on_rollback: self.scale_in_on_rollback || settings.scale_in_on_rollback,
                smoke: settings.smoke.clone(),
                accept_unmeasured: false,
            },
            force: self.force,
        })
    }
}

/// A release resolved and ready to start ([`crate::ops::Ops::start_release`]); who drives it
/// is for the command layer and the platform to say.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseSpec {
    pub tag: String,
    pub plan: Plan,
    pub options: ReleaseOptions,
    /// Go past what pre-flight found ([`super::release::preflight`]); needs a reason, journaled.
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ReleaseSettings {
        let mut careful = Plan::default_canary();
        careful.name = "careful".into();
        careful.interval_secs = 5;
        ReleaseSettings {
            plans: vec![careful],
            ..ReleaseSettings::default()
        }
    }

    #[test]
    fn a_named_plan_of_the_file_keeps_its_interval_and_a_built_in_one_takes_the_flags() {
        let s = settings();
        let careful = PlanFlags::by_plan(Some("careful"))
            .resolve(&s)
            .expect("known");
        assert_eq!(careful.interval_secs, 5);
        let mut flags = PlanFlags::by_plan(Some("default"));
        flags.interval_secs = 20;
        assert_eq!(flags.resolve(&s).expect("built in").interval_secs, 20);
        let e = PlanFlags::by_plan(Some("nope"))
            .resolve(&s)
            .expect_err("unknown");
        assert!(
            e.to_string().contains("careful, default, all-at-once"),
            "{e}"
        );
    }

    #[test]
    fn the_profiles_default_plan_is_used_without_plan_or_steps() {
        let s = ReleaseSettings {
            default_plan: Some("careful".into()),
            ..settings()
        };
        assert_eq!(
            PlanFlags::by_plan(None).resolve(&s).expect("default").name,
            "careful"
        );
        let mut steps = PlanFlags::by_plan(None);
        steps.steps = Some(vec![Share::percent(5).expect("valid")]);
        assert_eq!(steps.resolve(&s).expect("steps").name, "steps");
    }

    #[test]
    fn a_hold_shorter_than_a_coarse_metric_period_is_refused_there_only() {
        let mut r = ReleaseRequest::by_plan("v2", None);
        r.plan.steps = Some(vec![Share::percent(10).expect("valid")]);
        r.plan.hold_secs = 30;
        let s = ReleaseSettings::default();
        assert!(r.resolve(&s, false).is_ok());
        let e = r.resolve(&s, true).expect_err("too short for CloudWatch");
        assert!(e.to_string().contains("metric period"), "{e}");
    }
}
