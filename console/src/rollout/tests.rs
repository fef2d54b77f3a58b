use super::guard::{check_promote, check_shift, read_only_refusal};
use super::*;

/// A snapshot with `healthy` healthy targets of `desired` per color and the given weights.
pub(crate) fn snap(
    weights: Weights,
    stable: Option<Color>,
    blue: (u32, u32),
    green: (u32, u32),
) -> Snapshot {
    let color_state = |color: Color, (desired, healthy): (u32, u32)| ColorState {
        color,
        service: ServiceState {
            name: format!("blog-{color}"),
            desired,
            running: healthy,
            pending: 0,
            status: "ACTIVE".into(),
            task_definition: format!("blog-{color}:3"),
            revision: 3,
            image: None,
            deployments: vec![],
            events: vec![],
        },
        tasks: vec![],
        targets: (0..healthy)
            .map(|i| TargetState {
                id: format!("10.0.0.{i}:5000"),
                task_id: None,
                health: TargetHealth::Healthy,
                reason: None,
            })
            .collect(),
    };
    Snapshot {
        taken_at: 0,
        listener: Listener {
            id: "listener".into(),
            weights,
            stable,
            bake: None,
            test_color: None,
            test_id: None,
        },
        colors: PerColor::new(
            color_state(Color::Blue, blue),
            color_state(Color::Green, green),
        ),
        api_calls: 0,
    }
}

fn w(green: u8) -> Weights {
    Weights::with_green(green).expect("valid weights")
}

#[test]
fn derived_state_at_rest() {
    let s = snap(w(0), Some(Color::Blue), (2, 2), (0, 0));
    assert_eq!(s.live(), Some(Color::Blue));
    assert_eq!(s.idle(), Some(Color::Green));
    assert_eq!(s.deploy_target(), Some(Color::Green));
    assert!(!s.shift_in_progress());
    assert_eq!(s.canary(), None);
    assert!(s.converged(w(0)));
    assert!(!s.converged(w(10)));
}

#[test]
fn derived_state_during_shift() {
    let s = snap(w(20), Some(Color::Blue), (2, 2), (2, 2));
    assert_eq!(s.live(), None);
    assert_eq!(s.idle(), None);
    assert_eq!(s.deploy_target(), None);
    assert!(s.shift_in_progress());
    assert_eq!(s.canary(), Some(Color::Green));
}

#[test]
fn shift_refused_to_unhealthy_color() {
    let s = snap(w(0), Some(Color::Blue), (2, 2), (2, 1));
    let r = check_shift(&s, w(20), false).expect_err("green has 1 of 2 healthy");
    assert_eq!(r.rule, GuardRule::UnhealthyTarget);
    assert!(r.overridable);
    assert!(
        r.reason
            .contains("green has 1 healthy target(s) but desired count 2"),
        "{}",
        r.reason
    );
    assert!(check_shift(&s, w(20), true).is_ok(), "force overrides");
}

#[test]
fn shift_refused_to_color_with_no_targets_even_if_desired_zero() {
    let s = snap(w(0), Some(Color::Blue), (2, 2), (0, 0));
    let r = check_shift(&s, w(50), false).expect_err("green has no target");
    assert_eq!(r.rule, GuardRule::UnhealthyTarget);
}

#[test]
fn shift_away_from_unhealthy_color_is_allowed() {
    // Blue is unhealthy but loses share: moving traffic away from it is always allowed.
    let s = snap(w(50), Some(Color::Blue), (2, 0), (2, 2));
    assert!(check_shift(&s, w(100), false).is_ok());
    // Giving blue more share is refused.
    assert!(check_shift(&s, w(20), false).is_err());
}

#[test]
fn promote_targets_the_canary_when_healthy_and_converged() {
    let s = snap(w(90), Some(Color::Blue), (2, 2), (2, 2));
    assert_eq!(check_promote(&s, Some(w(90))), Ok(Color::Green));
    assert_eq!(check_promote(&s, None), Ok(Color::Green));
}

#[test]
fn promote_refused_when_not_converged() {
    let s = snap(w(50), Some(Color::Blue), (2, 2), (2, 2));
    let r = check_promote(&s, Some(w(90))).expect_err("asked 90, shows 50");
    assert_eq!(r.rule, GuardRule::NotConverged);
    assert!(!r.overridable);
}

#[test]
fn promote_refused_when_canary_unhealthy() {
    let s = snap(w(10), Some(Color::Blue), (2, 2), (2, 1));
    let r = check_promote(&s, None).expect_err("green unhealthy");
    assert_eq!(r.rule, GuardRule::PromoteUnhealthy);
}

#[test]
fn promote_refused_without_stable() {
    let s = snap(w(10), None, (2, 2), (2, 2));
    assert_eq!(
        check_promote(&s, None).expect_err("no stable").rule,
        GuardRule::NoStable
    );
}

#[test]
fn rollback_goes_to_stable_during_shift() {
    let s = snap(w(60), Some(Color::Blue), (2, 2), (2, 2));
    assert_eq!(s.rollback_target(), Ok(Color::Blue));
}

#[test]
fn rollback_ignores_canary_health_and_convergence() {
    // Green is broken and weights are mid-shift: rollback still goes.
    let s = snap(w(60), Some(Color::Blue), (2, 1), (2, 0));
    assert_eq!(s.rollback_target(), Ok(Color::Blue));
}

#[test]
fn rollback_during_bake_undoes_the_promote() {
    let mut s = snap(w(100), Some(Color::Green), (2, 2), (2, 2));
    s.listener.bake = Some(Bake {
        old: Color::Blue,
        until: 1_000,
        keep_old: false,
    });
    assert_eq!(s.rollback_target(), Ok(Color::Blue));
}

#[test]
fn rollback_after_bake_with_old_scaled_down_goes_to_stable() {
    let mut s = snap(w(100), Some(Color::Green), (0, 0), (2, 2));
    s.listener.bake = Some(Bake {
        old: Color::Blue,
        until: 1_000,
        keep_old: false,
    });
    // The old color no longer runs, so rollback means "stay on the stable color".
    assert_eq!(s.rollback_target(), Ok(Color::Green));
}

#[test]
fn rollback_refused_when_target_has_no_healthy_target() {
    let s = snap(w(60), Some(Color::Blue), (2, 0), (2, 2));
    let r = s.rollback_target().expect_err("blue has no healthy target");
    assert_eq!(r.rule, GuardRule::RollbackNoTarget);
    assert!(
        r.reason.contains("scale blue up or redeploy it"),
        "{}",
        r.reason
    );
}

#[test]
fn rollback_refused_without_stable() {
    let s = snap(w(60), None, (2, 2), (2, 2));
    assert_eq!(
        s.rollback_target().expect_err("no stable").rule,
        GuardRule::NoStable
    );
}

#[test]
fn read_only_refusals_name_the_way_out() {
    assert!(read_only_refusal("rollback", true).reason.contains("--arm"));
    assert!(
        read_only_refusal("shift", false)
            .reason
            .contains("--read-only")
    );
}

#[test]
fn rollback_ignores_a_stale_bake_whose_old_color_is_stable() {
    let mut s = snap(w(100), Some(Color::Green), (2, 2), (2, 2));
    s.listener.bake = Some(Bake {
        old: Color::Green,
        until: 1_000,
        keep_old: false,
    });
    assert_eq!(s.rollback_target(), Ok(Color::Green));
}
