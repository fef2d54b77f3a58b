//! Whether a plan step counts as reached: its gates may let it go on ([`plan::decide`]), but
//! the step is reached only when the requests made since its weight write show its weights
//! ([`split::judge`]). The listener's read-back says what the load balancer was told; only
//! the requests say what it does (argo-rollouts #3333: a release "finished" with the traffic
//! still on the old target group). Pure: the release driver measures and carries it out.
//!
//! - Matched: the gates' decision stands.
//! - Too few requests (or none readable): the step keeps holding and says how many more it
//!   needs, unless the release was started with `--accept-unmeasured`.
//! - A mismatch: a warning with both numbers while the step holds; once it has lasted
//!   [`MISMATCH_PAUSE_INTERVALS`] gate intervals after the hold, the release pauses for a
//!   person (`resume` is the explicit override, `abort` the other way out).
//! - A failing gate rolls back at once, whatever the split says.

use serde::{Deserialize, Serialize};

use super::plan::StepDecision;
use super::split::SplitVerdict;

/// Gate intervals in a row, after a step's hold, whose requests mismatch its weights before
/// the release pauses. One mismatched judgement can be chance (3 sigma: about 0.27% of correct
/// splits) or a window that still straddles a slow client's keep-alive connection; three in
/// a row of fresh, growing windows is a route the console does not know about. At the default
/// 10 s interval that is 30 s of warning after the hold, short against a 2-minute hold.
pub const MISMATCH_PAUSE_INTERVALS: u32 = 3;

/// The measured split of the step that holds, as the driver last judged it: recorded with the
/// release, so `status`, the TUI and a resuming driver see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSplit {
    /// The verdict on the step's own requests; `None` when they could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<SplitVerdict>,
    /// Why the requests could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// Judgements in a row, after the hold ended, that found a mismatch.
    #[serde(default)]
    pub mismatched: u32,
    /// The step went on unmeasured because the release was started with
    /// `--accept-unmeasured`.
    #[serde(default)]
    pub accepted_unmeasured: bool,
}

impl StepSplit {
    /// Whether the step's requests show its weights.
    pub fn matches(&self) -> bool {
        self.verdict.is_some_and(|v| v.matches())
    }

    /// Whether the requests show another split than the step's weights.
    pub fn is_mismatch(&self) -> bool {
        matches!(self.verdict, Some(SplitVerdict::Mismatch { .. }))
    }

    /// The words `status`, the CLI's gate line and the TUI show: what the step waits for,
    /// or the warning with both numbers. `None` when the split matches.
    pub fn describe(&self) -> Option<String> {
        let accepted = ", accepted unmeasured (--accept-unmeasured)";
        match (&self.verdict, &self.unavailable) {
            (Some(SplitVerdict::Matches { .. }), _) => None,
            (Some(SplitVerdict::TooFewRequests { n, need }), _) if self.accepted_unmeasured => {
                Some(format!(
                    "too few requests to measure the split ({n} of {need} since the step's weights){accepted}"
                ))
            }
            (Some(SplitVerdict::TooFewRequests { n, need }), _) => Some(format!(
                "waiting for {} more requests to measure the split ({n} of {need} since the step's weights)",
                need.saturating_sub(*n)
            )),
            (Some(v @ SplitVerdict::Mismatch { .. }), _) => {
                let lasting = if self.mismatched > 0 {
                    format!(
                        "; {} of {MISMATCH_PAUSE_INTERVALS} intervals after the hold before it pauses",
                        self.mismatched
                    )
                } else {
                    String::new()
                };
                Some(format!("warning: {}{lasting}", v.describe()))
            }
            (None, why) => Some(format!(
                "the split cannot be measured ({}){}",
                why.as_deref().unwrap_or("no request metrics"),
                if self.accepted_unmeasured {
                    accepted
                } else {
                    ""
                }
            )),
        }
    }
}

/// Decides whether step `index` is reached, given the gates' `decision` for it
/// ([`plan::decide`](super::plan::decide)), the verdict on the step's own requests
/// (`Err` when they could not be read), the split recorded at the previous interval and
/// whether the release accepts an unmeasured split. Returns the decision to carry out and
/// the split to record.
pub fn reached(
    index: usize,
    decision: StepDecision,
    measured: Result<SplitVerdict, String>,
    previous: Option<&StepSplit>,
    accept_unmeasured: bool,
) -> (StepDecision, StepSplit) {
    let (verdict, unavailable) = match measured {
        Ok(v) => (Some(v), None),
        Err(why) => (None, Some(why)),
    };
    let mut split = StepSplit {
        verdict,
        unavailable,
        mismatched: 0,
        accepted_unmeasured: false,
    };
    let hold_over = matches!(decision, StepDecision::Advance | StepDecision::Pause { .. });
    if split.is_mismatch() && hold_over {
        split.mismatched = previous.map_or(0, |p| p.mismatched).saturating_add(1);
    }
    let decision = match decision {
        // The panic key never waits for the split; a hold is a hold.
        StepDecision::RollBack { .. } | StepDecision::Hold { .. } => decision,
        _ if split.matches() => decision,
        // A person decides anyway: the pause says what the split shows, and `resume` is the
        // explicit override.
        StepDecision::Pause { reason } => StepDecision::Pause {
            reason: format!(
                "{reason}; the step's split: {}",
                split.describe().unwrap_or_default()
            ),
        },
        StepDecision::Advance if split.is_mismatch() => {
            if split.mismatched >= MISMATCH_PAUSE_INTERVALS {
                StepDecision::Pause {
                    reason: format!(
                        "step {} not reached: {} for {} gate intervals after its hold; something else routes the requests: find it (`bluegreen status`), then `resume` to go on anyway, or `abort`",
                        index + 1,
                        split.verdict.map(|v| v.describe()).unwrap_or_default(),
                        split.mismatched
                    ),
                }
            } else {
                StepDecision::Hold { left_ms: 0 }
            }
        }
        StepDecision::Advance if accept_unmeasured => {
            split.accepted_unmeasured = true;
            StepDecision::Advance
        }
        StepDecision::Advance => StepDecision::Hold { left_ms: 0 },
    };
    (decision, split)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::ColorMetrics;
    use crate::rollout::gate::{Gate, GateResult, Verdict};
    use crate::rollout::plan::{self, Plan, PlanKind, Step};
    use crate::rollout::split::{self, judge};
    use crate::rollout::{PerColor, Share, Weights};

    fn plan(kind: PlanKind) -> Plan {
        Plan::stepped(
            "t",
            kind,
            vec![Step {
                weight: Share::percent(10).expect("valid"),
                hold_secs: 60,
            }],
            10,
        )
        .expect("valid")
    }

    fn gate(verdict: Verdict) -> GateResult {
        GateResult {
            gate: Gate::Errors,
            verdict,
            measured: "m".into(),
            threshold: "t".into(),
            reason: Some("why".into()),
        }
    }

    fn ten_percent() -> Weights {
        Weights::with_green_percent(10).expect("valid")
    }

    /// The verdict on `blue` and `green` requests against the step's 10%.
    fn split(blue: u64, green: u64) -> Result<SplitVerdict, String> {
        Ok(judge(ten_percent(), PerColor::new(blue, green)))
    }

    /// The gates' decision for the step at `now` (entered at 0, held 60 s).
    fn gates(now: i64, verdict: Verdict) -> StepDecision {
        plan::decide(&plan(PlanKind::Canary), 0, 0, now, &[gate(verdict)])
    }

    #[test]
    fn a_cloudwatch_minute_that_began_before_the_step_is_not_the_steps() {
        let point = |at, requests| crate::rollout::MetricPoint {
            at,
            requests,
            errors_5xx: 0,
            p99_ms: None,
        };
        let color = |points: Vec<crate::rollout::MetricPoint>| ColorMetrics {
            window: points
                .iter()
                .copied()
                .reduce(|a, b| crate::rollout::MetricPoint {
                    requests: a.requests + b.requests,
                    ..b
                }),
            points,
        };
        // Minutes at 0 and 60 s; the step began at 30 s: the first minute mixes both steps.
        let m = PerColor::new(
            color(vec![point(0, 900), point(60_000, 500)]),
            color(vec![point(0, 100), point(60_000, 500)]),
        );
        assert_eq!(
            split::requests_after(&m, 30_000, true),
            PerColor::new(500, 500)
        );
        // The local proxy's window is the step's own: its summary counts.
        assert_eq!(
            split::requests_after(&m, 30_000, false),
            PerColor::new(1_400, 600)
        );
        // No minute of the step's own yet: nothing measured, so the step waits.
        assert_eq!(split::requests_after(&m, 61_000, true), PerColor::new(0, 0));
    }

    #[test]
    fn a_matched_split_leaves_the_gates_decision_as_it_is() {
        let (d, s) = reached(
            0,
            gates(60_000, Verdict::Pass),
            split(900, 100),
            None,
            false,
        );
        assert_eq!(d, StepDecision::Advance);
        assert!(s.matches() && s.describe().is_none());
        let (d, _) = reached(0, gates(1_000, Verdict::Pass), split(900, 100), None, false);
        assert_eq!(d, StepDecision::Hold { left_ms: 59_000 });
    }

    #[test]
    fn too_few_requests_keep_holding_and_say_how_many_more() {
        let (d, s) = reached(0, gates(60_000, Verdict::Pass), split(10, 2), None, false);
        assert_eq!(d, StepDecision::Hold { left_ms: 0 });
        assert_eq!(
            s.describe().as_deref(),
            Some(
                "waiting for 8 more requests to measure the split (12 of 20 since the step's weights)"
            )
        );
        assert!(!s.accepted_unmeasured);
        // Metrics that cannot be read are no measurement either.
        let (d, s) = reached(
            0,
            gates(60_000, Verdict::Pass),
            Err("metrics: throttled".into()),
            None,
            false,
        );
        assert_eq!(d, StepDecision::Hold { left_ms: 0 });
        assert!(
            s.describe()
                .is_some_and(|t| t.contains("metrics: throttled"))
        );
    }

    #[test]
    fn too_few_requests_go_on_when_the_release_accepts_unmeasured() {
        let (d, s) = reached(0, gates(60_000, Verdict::Pass), split(10, 2), None, true);
        assert_eq!(d, StepDecision::Advance);
        assert!(s.accepted_unmeasured);
        assert!(s.describe().is_some_and(|t| {
            t.contains("too few requests to measure the split (12 of 20")
                && t.ends_with("accepted unmeasured (--accept-unmeasured)")
        }));
        // During the hold nothing is accepted yet: a hold is a hold.
        let (d, s) = reached(0, gates(1_000, Verdict::Pass), split(10, 2), None, true);
        assert_eq!(d, StepDecision::Hold { left_ms: 59_000 });
        assert!(!s.accepted_unmeasured);
    }

    #[test]
    fn a_mismatch_holds_with_a_warning_naming_both_numbers_even_when_accepted() {
        // Half the requests reach green at a 10% step: another route exists.
        for accept in [false, true] {
            let (d, s) = reached(0, gates(60_000, Verdict::Pass), split(50, 50), None, accept);
            assert_eq!(d, StepDecision::Hold { left_ms: 0 }, "accept {accept}");
            let words = s.describe().expect("a warning");
            assert!(words.starts_with("warning: "), "{words}");
            assert!(words.contains("blue 50 / green 50"), "{words}");
            assert!(words.contains("blue 90 / green 10"), "{words}");
            assert!(words.contains("allowed ±"), "{words}");
            assert!(words.contains("1 of 3 intervals"), "{words}");
            assert_eq!(s.mismatched, 1);
        }
        // During the hold it warns, and the count has not started.
        let (d, s) = reached(0, gates(1_000, Verdict::Pass), split(50, 50), None, false);
        assert_eq!(d, StepDecision::Hold { left_ms: 59_000 });
        assert_eq!(s.mismatched, 0);
        assert!(s.describe().is_some_and(|t| t.starts_with("warning: ")));
    }

    #[test]
    fn a_mismatch_that_lasts_three_intervals_after_the_hold_pauses_with_both_numbers() {
        let mut previous: Option<StepSplit> = None;
        let mut decisions = Vec::new();
        for _ in 0..MISMATCH_PAUSE_INTERVALS {
            let (d, s) = reached(
                1,
                gates(60_000, Verdict::Pass),
                split(50, 50),
                previous.as_ref(),
                false,
            );
            decisions.push(d);
            previous = Some(s);
        }
        assert_eq!(decisions[0], StepDecision::Hold { left_ms: 0 });
        assert_eq!(decisions[1], StepDecision::Hold { left_ms: 0 });
        let StepDecision::Pause { reason } = &decisions[2] else {
            panic!("{decisions:?}")
        };
        assert!(reason.starts_with("step 2 not reached"), "{reason}");
        assert!(reason.contains("blue 50 / green 50"), "{reason}");
        assert!(reason.contains("desired blue 90 / green 10"), "{reason}");
        assert!(reason.contains("for 3 gate intervals"), "{reason}");
        assert!(reason.contains("`resume`") && reason.contains("`abort`"));
        // A matching interval in between starts the count again.
        let (_, s) = reached(
            1,
            gates(60_000, Verdict::Pass),
            split(900, 100),
            previous.as_ref(),
            false,
        );
        assert_eq!(s.mismatched, 0);
        let (d, s) = reached(
            1,
            gates(60_000, Verdict::Pass),
            split(50, 50),
            Some(&s),
            false,
        );
        assert_eq!((d, s.mismatched), (StepDecision::Hold { left_ms: 0 }, 1));
    }

    #[test]
    fn a_failing_gate_rolls_back_whatever_the_split_says() {
        for measured in [split(50, 50), split(1, 1), split(900, 100), Err("x".into())] {
            for now in [1_000, 60_000] {
                let (d, _) = reached(0, gates(now, Verdict::Fail), measured.clone(), None, false);
                assert!(matches!(d, StepDecision::RollBack { .. }), "{d:?}");
            }
        }
    }

    #[test]
    fn a_pause_for_a_person_says_what_the_split_shows() {
        let manual = plan::decide(
            &plan(PlanKind::Manual),
            0,
            0,
            60_000,
            &[gate(Verdict::Pass)],
        );
        let (d, _) = reached(0, manual.clone(), split(900, 100), None, false);
        assert_eq!(d, manual);
        let (d, _) = reached(0, manual, split(3, 2), None, false);
        let StepDecision::Pause { reason } = d else {
            panic!("{d:?}")
        };
        assert!(reason.starts_with("manual plan"), "{reason}");
        assert!(reason.contains("waiting for 15 more requests"), "{reason}");
    }
}
