use super::*;
use crate::rollout::gate::{Gate, GateResult};

fn share(p: u8) -> Share {
    Share::percent(p).expect("valid")
}

fn canary(steps: &[(u8, u64)]) -> Result<Plan, PlanError> {
    Plan::stepped(
        "t",
        PlanKind::Canary,
        steps
            .iter()
            .map(|&(w, hold_secs)| Step {
                weight: share(w),
                hold_secs,
            })
            .collect(),
        10,
    )
}

fn result(verdict: Verdict) -> GateResult {
    GateResult {
        gate: Gate::Errors,
        verdict,
        measured: "m".into(),
        threshold: "t".into(),
        reason: Some("why".into()),
    }
}

#[test]
fn steps_must_increase_and_stay_below_100() {
    assert!(canary(&[(1, 60), (10, 60), (50, 60)]).is_ok());
    let e = canary(&[(10, 60), (10, 60)]).expect_err("flat");
    assert!(e.0.contains("steps must increase"), "{e}");
    assert!(canary(&[(50, 60), (10, 60)]).is_err());
    let e = canary(&[(100, 60)]).expect_err("100");
    assert!(e.0.contains("100% is the promote"), "{e}");
    assert!(canary(&[(0, 60)]).is_err());
    assert!(canary(&[]).is_err());
    assert!(canary(&[(1, MAX_HOLD_SECS + 1)]).is_err());
    let e = canary(&[(1, 30)])
        .expect("valid locally")
        .validate_for_aws()
        .expect_err("short on AWS");
    assert!(e.0.contains("60 s metric period"), "{e}");
}

#[test]
fn per_mille_steps_are_allowed() {
    let p = Plan::stepped(
        "fine",
        PlanKind::Canary,
        vec![Step {
            weight: Share::permille(1).expect("valid"),
            hold_secs: 60,
        }],
        10,
    )
    .expect("0.1% is a valid step");
    assert_eq!(
        p.weights_at(0, Color::Green),
        Some(Weights::permille(999, 1).expect("valid"))
    );
    assert_eq!(p.to_string(), "fine 0.1% 1m00s → 100%");
}

#[test]
fn linear_expands_to_every_step_below_100() {
    let p = Plan::linear("l", share(30), 60, 10).expect("valid");
    let w: Vec<u16> = p.steps.iter().map(|s| s.weight.get()).collect();
    assert_eq!(w, [300, 600, 900]);
    assert_eq!(
        Plan::linear("l", share(50), 60, 10)
            .expect("valid")
            .steps
            .len(),
        1
    );
    assert!(Plan::linear("l", Share::ZERO, 60, 10).is_err());
    // 0.1% a step would be 999 steps: refused, naming the limit.
    let e = Plan::linear("l", Share::permille(1).expect("valid"), 1, 10).expect_err("too many");
    assert!(e.0.contains("at most 100"), "{e}");
}

#[test]
fn a_step_holds_until_its_time_then_advances_only_on_a_pass() {
    let p = canary(&[(10, 60), (50, 60)]).expect("valid");
    let pass = [result(Verdict::Pass)];
    assert_eq!(
        decide(&p, 0, 1_000, 1_000, &pass),
        StepDecision::Hold { left_ms: 60_000 }
    );
    assert_eq!(
        decide(&p, 0, 1_000, 60_999, &pass),
        StepDecision::Hold { left_ms: 1 }
    );
    assert_eq!(decide(&p, 0, 1_000, 61_000, &pass), StepDecision::Advance);
    // A clock that went backwards holds the whole hold, never advances early.
    assert_eq!(
        decide(&p, 0, 1_000, 0, &pass),
        StepDecision::Hold { left_ms: 60_000 }
    );
}

#[test]
fn a_failing_gate_rolls_back_at_any_moment_of_the_hold() {
    let p = canary(&[(10, 60)]).expect("valid");
    let r = [result(Verdict::Pass), result(Verdict::Fail)];
    match decide(&p, 0, 1_000, 1_001, &r) {
        StepDecision::RollBack { failed } => assert_eq!(failed.len(), 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn inconclusive_holds_then_pauses_or_proceeds_as_the_plan_says() {
    let mut p = canary(&[(10, 60)]).expect("valid");
    let r = [result(Verdict::Inconclusive)];
    assert!(matches!(
        decide(&p, 0, 0, 59_999, &r),
        StepDecision::Hold { .. }
    ));
    match decide(&p, 0, 0, 60_000, &r) {
        StepDecision::Pause { reason } => assert!(reason.contains("errors: why"), "{reason}"),
        other => panic!("{other:?}"),
    }
    p.on_inconclusive = OnInconclusive::Proceed;
    assert_eq!(decide(&p, 0, 0, 60_000, &r), StepDecision::Advance);
}

#[test]
fn a_manual_plan_pauses_after_each_passing_step() {
    let mut p = canary(&[(10, 1)]).expect("valid");
    p.kind = PlanKind::Manual;
    assert!(matches!(
        decide(&p, 0, 0, 1_000, &[result(Verdict::Pass)]),
        StepDecision::Pause { .. }
    ));
}

#[test]
fn the_window_never_reaches_before_the_step() {
    // One-second samples: the baseline may be a second before the window's start.
    assert_eq!(window_secs(0, 0, 1000), None);
    assert_eq!(window_secs(0, 1_999, 1000), None);
    assert_eq!(window_secs(0, 2_000, 1000), Some(1));
    assert_eq!(window_secs(0, 35_500, 1000), Some(34));
    assert_eq!(window_secs(0, 10_000_000, 1000), Some(MAX_WINDOW_SECS));
    // A clock that went backwards has no window.
    assert_eq!(window_secs(10_000, 0, 1000), None);
    assert_eq!(first_window_ms(1000), 2_000);
    // A platform whose metrics are exact (resolution 1 ms) judges after a second.
    assert_eq!(window_secs(0, 1_001, 1), Some(1));
    assert_eq!(first_window_ms(1), 1_001);
    // CloudWatch: per minute.
    assert_eq!(window_secs(0, 119_000, 60_000), None);
    assert_eq!(window_secs(0, 120_000, 60_000), Some(60));
}

#[test]
fn smoke_checks_judge_status_body_and_latency() {
    let c = SmokeCheck {
        path: "/".into(),
        status: 200,
        body_contains: Some("Blog".into()),
        max_latency_ms: Some(100),
    };
    assert_eq!(c.judge(200, "My Blog", 5), None);
    assert_eq!(
        c.judge(500, "My Blog", 5).as_deref(),
        Some("status 500, expected 200")
    );
    assert!(
        c.judge(200, "nothing", 5)
            .is_some_and(|w| w.contains("Blog"))
    );
    assert!(
        c.judge(200, "Blog", 101)
            .is_some_and(|w| w.contains("over 100 ms"))
    );
    assert!(SmokeCheck::get("health").validate().is_err());
    assert!(
        SmokeCheck {
            status: 700,
            ..SmokeCheck::get("/")
        }
        .validate()
        .is_err()
    );
}
