use super::bake::{BakeStep, scale_in};
use super::guard::{
    already_promoted, check_deploy, check_promote, check_promote_kept, check_scale, check_shift,
    deploy_count, read_only_refusal, rollback_candidates, rollback_rewrites_stable,
};
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
            faults: Vec::new(),
            written: None,
            written_services: Vec::new(),
            guard: None,
        },
        colors: PerColor::new(
            color_state(Color::Blue, blue),
            color_state(Color::Green, green),
        ),
        api_calls: 0,
        stale: Vec::new(),
    }
}

fn w(green: u8) -> Weights {
    Weights::with_green_percent(green).expect("valid weights")
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
            .contains("green has 1 healthy target(s) of its deployed revision but desired count 2"),
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
    assert_eq!(check_promote(&s, Some(w(90)), false), Ok(Color::Green));
    assert_eq!(check_promote(&s, None, false), Ok(Color::Green));
}

#[test]
fn promote_refused_when_not_converged() {
    let s = snap(w(50), Some(Color::Blue), (2, 2), (2, 2));
    let r = check_promote(&s, Some(w(90)), false).expect_err("asked 90, shows 50");
    assert_eq!(r.rule, GuardRule::NotConverged);
    assert!(!r.overridable);
}

#[test]
fn promote_refused_when_canary_unhealthy() {
    let s = snap(w(10), Some(Color::Blue), (2, 2), (2, 1));
    let r = check_promote(&s, None, false).expect_err("green unhealthy");
    assert_eq!(r.rule, GuardRule::PromoteUnhealthy);
}

#[test]
fn promote_refused_without_stable() {
    let s = snap(w(10), None, (2, 2), (2, 2));
    let r = check_promote(&s, None, false).expect_err("no stable");
    assert_eq!(r.rule, GuardRule::NoStable);
    assert!(
        r.reason
            .contains("traffic is split (blue 90 / green 10): say which color is stable with `bluegreen adopt --stable blue`"),
        "{}",
        r.reason
    );
}

/// A stack made outside this project at rest: the color with 100% is stable (and is what
/// the first write records); split, `adopt` decides; with nothing running, it is a first
/// release and nothing is guessed.
#[test]
fn a_resting_listener_with_no_record_has_its_live_color_as_stable() {
    let rest = snap(w(0), None, (2, 2), (0, 0));
    assert_eq!(guard::resting_stable(&rest), Some(Color::Blue));
    assert_eq!(rest.rollback_target(), Ok(Color::Blue));
    assert_eq!(
        guard::rollback_candidates(&rest.listener),
        vec![Color::Blue]
    );
    assert_eq!(
        guard::resting_stable(&snap(w(10), None, (2, 2), (2, 2))),
        None
    );
    assert_eq!(
        guard::resting_stable(&snap(w(0), None, (0, 0), (0, 0))),
        None
    );
    assert_eq!(
        guard::resting_stable(&snap(w(0), Some(Color::Blue), (2, 2), (0, 0))),
        None
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
    let r = s.rollback_target().expect_err("no stable");
    assert_eq!(r.rule, GuardRule::NoStable);
    assert!(
        r.reason.contains("bluegreen adopt --stable"),
        "{}",
        r.reason
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

fn baking(mut s: Snapshot, old: Color, until: UnixMillis, keep_old: bool) -> Snapshot {
    s.listener.bake = Some(Bake {
        old,
        until,
        keep_old,
    });
    s
}

#[test]
fn a_second_promote_during_the_bake_is_refused_as_bake_pending() {
    let s = baking(
        snap(w(100), Some(Color::Green), (2, 2), (2, 2)),
        Color::Blue,
        1_000,
        false,
    );
    let r = check_promote(&s, None, true).expect_err("already promoted");
    assert_eq!(r.rule, GuardRule::BakePending);
    assert!(
        r.reason
            .contains("green is already promoted and its bake is pending"),
        "{r}"
    );
    assert!(r.reason.contains("the platform scales blue down"), "{r}");
    let r = check_promote(&s, None, false).expect_err("already promoted");
    assert!(r.reason.contains("`bluegreen promote`"), "{r}");
    assert_eq!(
        already_promoted(&s.listener).map(|b| b.old),
        Some(Color::Blue)
    );
}

#[test]
fn a_stale_bake_or_a_moved_listener_is_not_an_earlier_promote() {
    // The bake names the stable color: bookkeeping, the idle color may be promoted.
    let s = baking(
        snap(w(100), Some(Color::Green), (2, 2), (2, 2)),
        Color::Green,
        1_000,
        false,
    );
    assert_eq!(already_promoted(&s.listener), None);
    assert_eq!(check_promote(&s, None, false), Ok(Color::Blue));
    // Traffic moved off the promoted color: not "already promoted".
    let s = baking(
        snap(w(50), Some(Color::Green), (2, 2), (2, 2)),
        Color::Blue,
        1_000,
        false,
    );
    assert_eq!(already_promoted(&s.listener), None);
}

#[test]
fn deploy_goes_to_the_idle_color_at_rest() {
    let s = snap(w(0), Some(Color::Blue), (3, 3), (0, 0));
    assert_eq!(check_deploy(&s, None), Ok(Color::Green));
    assert_eq!(check_deploy(&s, Some(Color::Green)), Ok(Color::Green));
    assert_eq!(deploy_count(&s, Color::Green), 3, "the live color's count");
    let empty = snap(w(0), None, (0, 0), (0, 0));
    assert_eq!(deploy_count(&empty, Color::Green), 1, "at least one task");
}

#[test]
fn deploy_to_a_color_with_traffic_is_refused_as_serves_traffic() {
    let s = snap(w(0), Some(Color::Blue), (2, 2), (0, 0));
    let r = check_deploy(&s, Some(Color::Blue)).expect_err("blue is live");
    assert_eq!(r.rule, GuardRule::ServesTraffic);
    assert!(r.reason.contains("blue serves 100% of traffic"), "{r}");
}

#[test]
fn deploy_during_a_shift_is_refused_as_shift_in_progress() {
    let s = snap(w(30), Some(Color::Blue), (2, 2), (2, 2));
    let r = check_deploy(&s, None).expect_err("no idle color");
    assert_eq!(r.rule, GuardRule::ShiftInProgress);
}

#[test]
fn deploy_during_a_bake_is_refused_as_bake_pending() {
    let s = baking(
        snap(w(100), Some(Color::Green), (2, 2), (2, 2)),
        Color::Blue,
        1_000,
        false,
    );
    let r = check_deploy(&s, None).expect_err("blue still runs the previous release");
    assert_eq!(r.rule, GuardRule::BakePending);
    // A stale bake does not block.
    let s = baking(
        snap(w(100), Some(Color::Green), (2, 2), (2, 2)),
        Color::Green,
        1_000,
        false,
    );
    assert_eq!(check_deploy(&s, None), Ok(Color::Blue));
}

#[test]
fn scale_to_zero_of_a_color_with_traffic_is_refused() {
    let s = snap(w(10), Some(Color::Blue), (2, 2), (2, 2));
    let r = check_scale(&s.listener, Color::Green, 0, 20).expect_err("green has 10%");
    assert_eq!(r.rule, GuardRule::ServesTraffic);
    assert!(
        check_scale(&s.listener, Color::Green, 4, 20).is_ok(),
        "scaling up is fine"
    );
    let s = snap(w(0), Some(Color::Blue), (2, 2), (2, 2));
    assert!(check_scale(&s.listener, Color::Green, 0, 20).is_ok());
}

#[test]
fn bake_step_waits_until_the_end_then_finishes() {
    let s = baking(
        snap(w(100), Some(Color::Green), (2, 2), (2, 2)),
        Color::Blue,
        1_000,
        false,
    );
    assert_eq!(s.listener.bake_step(999), BakeStep::Baking { until: 1_000 });
    let bake = s.listener.bake.clone().expect("bake");
    assert_eq!(
        s.listener.bake_step(1_000),
        BakeStep::Finish {
            stable: Color::Green,
            bake: bake.clone()
        },
        "due at its end, exactly"
    );
    assert_eq!(
        s.listener.bake_step(UnixMillis::MAX),
        BakeStep::Finish {
            stable: Color::Green,
            bake
        },
        "finishing early is the step at the end of time"
    );
}

#[test]
fn bake_step_holds_when_traffic_moved_and_clears_a_stale_bake() {
    let s = baking(
        snap(w(60), Some(Color::Green), (2, 2), (2, 2)),
        Color::Blue,
        1_000,
        false,
    );
    let BakeStep::Hold(r) = s.listener.bake_step(2_000) else {
        panic!("traffic moved: hold");
    };
    assert_eq!(r.rule, GuardRule::TrafficMoved);
    assert!(r.reason.contains("blue keeps running"), "{r}");
    // Never scale the stable color, whatever the time.
    let s = baking(
        snap(w(100), Some(Color::Green), (2, 2), (2, 2)),
        Color::Green,
        1_000,
        false,
    );
    assert_eq!(
        s.listener.bake_step(0),
        BakeStep::ClearStale {
            stable: Color::Green
        }
    );
    let s = snap(w(100), Some(Color::Green), (2, 2), (2, 2));
    assert_eq!(s.listener.bake_step(0), BakeStep::Nothing);
    let s = baking(snap(w(100), None, (2, 2), (2, 2)), Color::Blue, 0, false);
    assert_eq!(
        s.listener.bake_step(5),
        BakeStep::Nothing,
        "no stable: nothing to finish"
    );
}

#[test]
fn scale_in_rechecks_the_weights_and_honours_keep_old() {
    let bake = Bake {
        old: Color::Blue,
        until: 0,
        keep_old: false,
    };
    assert_eq!(scale_in(w(100), Color::Green, &bake), Ok(Some(Color::Blue)));
    let r = scale_in(w(90), Color::Green, &bake).expect_err("moved after the clear");
    assert_eq!(r.rule, GuardRule::TrafficMoved);
    let keep = Bake {
        keep_old: true,
        ..bake
    };
    assert_eq!(scale_in(w(90), Color::Green, &keep), Ok(None));
}

#[test]
fn a_bake_too_long_to_represent_never_ends_by_itself() {
    let b = Bake::starting(Color::Blue, 1_000, u128::MAX, false);
    assert_eq!(b.until, UnixMillis::MAX);
    assert!(!b.is_due(UnixMillis::MAX - 1));
    let b = Bake::starting(Color::Blue, 1_000, 10_000_000_000_000_000, false);
    assert!(!b.is_due(1_000 + 1_000_000), "no wrap into the past");
    let b = Bake::starting(Color::Blue, 1_000, 500, true);
    assert_eq!((b.until, b.left(1_200), b.left(2_000)), (1_500, 300, 0));
}

#[test]
fn rollback_reads_only_the_colors_it_may_go_to() {
    let s = snap(w(60), Some(Color::Blue), (2, 2), (2, 2));
    assert_eq!(rollback_candidates(&s.listener), vec![Color::Blue]);
    assert!(!rollback_rewrites_stable(&s.listener, Color::Blue));
    let s = baking(
        snap(w(100), Some(Color::Green), (2, 2), (2, 2)),
        Color::Blue,
        1_000,
        false,
    );
    assert_eq!(
        rollback_candidates(&s.listener),
        vec![Color::Blue, Color::Green]
    );
    assert!(
        rollback_rewrites_stable(&s.listener, Color::Blue),
        "undo the promote"
    );
    assert!(
        rollback_rewrites_stable(&s.listener, Color::Green),
        "clear the bake"
    );
}

#[test]
fn a_promote_undone_meanwhile_is_refused_as_promote_undone() {
    let s = snap(w(100), Some(Color::Blue), (2, 2), (2, 2));
    let r = check_promote_kept(&s.listener, Color::Green).expect_err("rolled back");
    assert_eq!(r.rule, GuardRule::PromoteUndone);
    assert!(r.reason.contains("stable is blue"), "{r}");
    let s = snap(w(100), Some(Color::Green), (2, 2), (2, 2));
    assert!(check_promote_kept(&s.listener, Color::Green).is_ok());
}

#[test]
fn the_first_deploy_goes_where_the_weight_is() {
    let s = snap(w(0), None, (0, 0), (0, 0));
    assert!(super::guard::first_release(&s));
    assert_eq!(check_deploy(&s, None), Ok(Color::Blue));
    assert_eq!(
        check_deploy(&s, Some(Color::Blue)),
        Ok(Color::Blue),
        "no task serves"
    );
    let s = snap(w(100), None, (0, 0), (0, 0));
    assert_eq!(check_deploy(&s, None), Ok(Color::Green));
    // Once something runs, or a stable color is recorded, it is a normal deploy.
    let s = snap(w(0), None, (1, 0), (0, 0));
    assert!(!super::guard::first_release(&s));
    assert_eq!(check_deploy(&s, None), Ok(Color::Green));
    let s = snap(w(0), Some(Color::Blue), (0, 0), (0, 0));
    assert_eq!(check_deploy(&s, None), Ok(Color::Green));
}

#[test]
fn counts_above_the_ceiling_are_refused_with_the_way_to_raise_it() {
    let s = snap(w(0), Some(Color::Blue), (2, 2), (0, 0));
    let r = check_scale(&s.listener, Color::Green, 10_000, 20).expect_err("typo");
    assert_eq!(r.rule, GuardRule::OverCeiling);
    assert!(r.reason.contains("ceiling of 20"), "{r}");
    assert!(r.reason.contains("max_tasks"), "{r}");
    assert!(
        check_scale(&s.listener, Color::Green, 20, 20).is_ok(),
        "at the ceiling"
    );
}

/// Green with `current` healthy tasks of revision 4 and `old` healthy tasks of revision 3,
/// desired 2, its primary deployment in `rollout`.
fn green_revisions(current: u32, old: u32, rollout: Option<&str>) -> ColorState {
    let mut s = snap(w(0), Some(Color::Blue), (2, 2), (2, 0)).colors.green;
    s.service.revision = 4;
    s.service.running = current + old;
    s.service.deployments = vec![Deployment {
        id: "d".into(),
        status: "PRIMARY".into(),
        task_definition: "blog-green:4".into(),
        desired: 2,
        running: current,
        pending: 0,
        rollout_state: rollout.map(str::to_string),
        updated_at: None,
    }];
    let revisions = (0..current).map(|_| 4).chain((0..old).map(|_| 3));
    for (i, revision) in revisions.enumerate() {
        let id = format!("green-{i}");
        s.tasks.push(TaskState {
            id: id.clone(),
            last_status: "RUNNING".into(),
            health: TaskHealth::Healthy,
            started_at: None,
            revision,
            image: None,
            stopped_reason: None,
        });
        s.targets.push(TargetState {
            id: format!("127.0.0.1:{}", 4000 + i),
            task_id: Some(id),
            health: TargetHealth::Healthy,
            reason: None,
        });
    }
    s
}

#[test]
fn healthy_means_the_deployed_revision_not_the_old_tasks() {
    // The old release's two tasks are healthy; the new ones are still starting.
    let s = green_revisions(0, 2, Some("IN_PROGRESS"));
    // The guards count as the waits do: the old revision's healthy targets do not count.
    assert_eq!(s.healthy_targets(), 2);
    assert!(
        !s.can_take_traffic(),
        "the old revision's targets are not the canary's"
    );
    let mut deployed = snap(w(0), Some(Color::Blue), (2, 2), (2, 0));
    deployed.colors.green = s.clone();
    let e = check_shift(
        &deployed,
        Weights::with_green_percent(10).expect("valid"),
        false,
    )
    .expect_err("the shift guard refuses");
    assert!(
        e.reason
            .contains("0 healthy target(s) of its deployed revision"),
        "{}",
        e.reason
    );
    assert!(green_revisions(2, 0, Some("COMPLETED")).can_take_traffic());
    assert!(!s.release_healthy());
    // New ones healthy, but an old one still takes traffic.
    assert!(!green_revisions(2, 1, Some("IN_PROGRESS")).release_healthy());
    assert!(
        !green_revisions(2, 1, None).release_healthy(),
        "by the targets alone"
    );
    // Only the new revision, deployment completed.
    assert!(green_revisions(2, 0, Some("COMPLETED")).release_healthy());
    assert!(
        !green_revisions(1, 0, Some("COMPLETED")).release_healthy(),
        "desired 2"
    );
}

#[test]
fn without_task_joins_the_deployment_decides() {
    let mut s = green_revisions(2, 0, Some("IN_PROGRESS"));
    for t in &mut s.targets {
        t.task_id = None;
    }
    assert!(
        !s.release_healthy(),
        "the primary deployment has not completed"
    );
    s.service.deployments[0].rollout_state = Some("COMPLETED".into());
    assert!(s.release_healthy());
}

/// A release starts on a stack made outside this project at rest, as status, shift and promote
/// do: the color with all the traffic is stable. The refusals left say what fits each case.
#[test]
fn a_release_starts_on_a_resting_stack_with_no_record() {
    let rest = snap(w(0), None, (2, 2), (2, 2));
    assert_eq!(
        crate::rollout::release::check_start(&rest, None).ok(),
        Some(Color::Green)
    );
    let split = snap(w(10), None, (2, 2), (2, 2));
    let e = crate::rollout::release::check_start(&split, None).expect_err("split");
    assert!(e.reason.contains("adopt --stable"), "{}", e.reason);
    let first = snap(w(0), None, (0, 0), (0, 0));
    let e = crate::rollout::release::check_start(&first, None).expect_err("nothing runs");
    assert!(e.reason.contains("deploy --wait"), "{}", e.reason);
}
