//! Every verb and guard of the command layer, against the in-memory platform with scripted
//! faults.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::platform::fake::{Call, FakePlatform, Fault};
use crate::rollout::{Bake, GuardRule, UnixMillis};

fn w(blue: u8, green: u8) -> Weights {
    Weights::percent(blue, green).expect("valid weights")
}

fn ops(p: &Arc<FakePlatform>) -> Ops {
    Ops::new(p.clone(), Access::default())
}

fn refused(r: Result<impl std::fmt::Debug, OpError>) -> Refusal {
    match r {
        Err(OpError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn weights_error(r: Result<impl std::fmt::Debug, OpError>) -> WeightChange {
    match r {
        Err(OpError::Weights(c)) => *c,
        other => panic!("expected a weight failure, got {other:?}"),
    }
}

/// Blue live with 2 tasks, v2 deployed to green and healthy, no shift yet.
async fn green_deployed() -> Arc<FakePlatform> {
    let p = Arc::new(FakePlatform::blue_live(2));
    ops(&p).deploy("v2", None).await.expect("deploy v2");
    p.state().calls.clear();
    p
}

/// Green promoted at 100% and stable, baking until `until` with blue still running.
fn promoted(until: UnixMillis, keep_old: bool) -> Arc<FakePlatform> {
    let p = Arc::new(FakePlatform::blue_live(2));
    {
        let mut s = p.state();
        s.services.get_mut(Color::Green).desired = 2;
        s.services.get_mut(Color::Green).healthy = 2;
        s.listener.weights = Weights::all(Color::Green);
        s.listener.stable = Some(Color::Green);
        s.listener.bake = Some(Bake {
            old: Color::Blue,
            until,
            keep_old,
        });
    }
    p
}

#[tokio::test]
async fn shift_applies_and_reads_back() {
    let p = green_deployed().await;
    let change = ops(&p).shift(w(90, 10), false).await.expect("shift");
    assert_eq!(change.outcome(), WeightOutcome::Applied);
    assert_eq!(change.previous, Some(w(100, 0)));
    assert_eq!(p.weight_writes(), 1);
    assert_eq!(p.state().listener.weights, w(90, 10));
}

#[tokio::test]
async fn shift_to_a_color_still_starting_is_refused_unless_forced() {
    let p = Arc::new(FakePlatform::blue_live(2));
    p.state().auto_healthy = false;
    ops(&p).deploy("v2", None).await.expect("deploy");
    let r = refused(ops(&p).shift(w(50, 50), false).await);
    assert_eq!(r.rule, GuardRule::UnhealthyTarget);
    assert!(r.overridable);
    assert_eq!(p.weight_writes(), 0, "nothing written");
    let change = ops(&p).shift(w(50, 50), true).await.expect("forced");
    assert_eq!(change.observed, Some(w(50, 50)));
}

#[tokio::test]
async fn a_weight_write_that_is_not_applied_says_so() {
    let p = green_deployed().await;
    p.inject(Fault::WeightNotApplied);
    let c = weights_error(ops(&p).shift(w(90, 10), false).await);
    assert_eq!(c.outcome(), WeightOutcome::NotApplied);
    assert_eq!(c.observed, Some(w(100, 0)));
    let e = OpError::Weights(Box::new(c));
    assert_eq!(e.exit_code(), exit::PLATFORM);
    assert!(e.to_string().contains("NOT applied"), "{e}");
}

#[tokio::test]
async fn a_failed_read_back_is_unknown_never_a_guess() {
    let p = green_deployed().await;
    p.inject(Fault::ReadBackFails);
    let c = weights_error(ops(&p).shift(w(90, 10), false).await);
    assert_eq!(c.outcome(), WeightOutcome::Unknown);
    assert!(c.read_error.is_some());
    let e = OpError::Weights(Box::new(c));
    assert!(e.to_string().contains("UNKNOWN"), "{e}");
    assert_eq!(e.exit_code(), exit::PLATFORM);
}

#[tokio::test]
async fn a_failed_weight_write_is_not_applied_with_its_cause() {
    let p = green_deployed().await;
    p.inject(Fault::WeightWriteFails);
    let c = weights_error(ops(&p).shift(w(90, 10), false).await);
    assert_eq!(c.outcome(), WeightOutcome::NotApplied);
    let text = OpError::Weights(Box::new(c)).to_string();
    assert!(text.contains("scripted write failure"), "{text}");
}

#[tokio::test]
async fn a_failed_snapshot_is_a_platform_error_and_writes_nothing() {
    let p = green_deployed().await;
    p.inject(Fault::CallFails("snapshot"));
    let e = ops(&p)
        .shift(w(90, 10), false)
        .await
        .expect_err("no snapshot");
    assert!(matches!(e, OpError::Platform(_)), "{e}");
    assert_eq!(e.exit_code(), exit::PLATFORM);
    assert_eq!(p.weight_writes(), 0);
}

#[tokio::test]
async fn read_only_refuses_every_write_and_arming_lifts_a_profile_lock() {
    let p = green_deployed().await;
    let ro = Ops::new(
        p.clone(),
        Access {
            read_only: true,
            ..Access::default()
        },
    );
    assert_eq!(refused(ro.rollback().await).rule, GuardRule::ReadOnly);
    assert_eq!(
        refused(ro.shift(w(90, 10), false).await).rule,
        GuardRule::ReadOnly
    );
    assert_eq!(
        refused(ro.scale(Color::Green, 3).await).rule,
        GuardRule::ReadOnly
    );
    assert_eq!(refused(ro.build(None).await).rule, GuardRule::ReadOnly);
    assert!(p.calls().is_empty(), "refused before any call");

    let mut locked = Ops::new(
        p.clone(),
        Access {
            profile_read_only: true,
            ..Access::default()
        },
    );
    let r = refused(locked.deploy("v2", None).await);
    assert!(r.reason.contains("--arm"), "{r}");
    locked.arm();
    locked.shift(w(90, 10), false).await.expect("armed");
}

#[tokio::test]
async fn promote_gives_the_canary_everything_and_records_the_bake() {
    let p = green_deployed().await;
    let o = ops(&p);
    o.shift(w(50, 50), false).await.expect("shift");
    let opts = PromoteOptions {
        bake: Duration::from_secs(60),
        keep_old: false,
    };
    let before = now_millis();
    let report = o.promote(opts, Some(w(50, 50))).await.expect("promote");
    assert_eq!(report.promoted, Color::Green);
    let bake = report.bake.clone().expect("bake");
    assert_eq!(bake.old, Color::Blue);
    assert!(bake.until >= before + 60_000 && bake.until <= now_millis() + 60_000);
    assert!(!report.platform_finishes_bake);
    let s = p.state();
    assert_eq!(s.listener.weights, w(0, 100));
    assert_eq!(s.listener.stable, Some(Color::Green));
    assert_eq!(s.listener.bake, Some(bake));
    assert_eq!(s.listener.test_color, Some(Color::Blue));
}

#[tokio::test]
async fn promote_refusals() {
    // Not converged: the console asked for 50/50, the listener shows 90/10.
    let p = green_deployed().await;
    ops(&p).shift(w(90, 10), false).await.expect("shift");
    let r = refused(
        ops(&p)
            .promote(PromoteOptions::default(), Some(w(50, 50)))
            .await,
    );
    assert_eq!(r.rule, GuardRule::NotConverged);

    // The canary lost its targets.
    p.state().services.get_mut(Color::Green).healthy = 1;
    let r = refused(ops(&p).promote(PromoteOptions::default(), None).await);
    assert_eq!(r.rule, GuardRule::PromoteUnhealthy);

    // No stable color.
    p.state().listener.stable = None;
    let r = refused(ops(&p).promote(PromoteOptions::default(), None).await);
    assert_eq!(r.rule, GuardRule::NoStable);

    // Already promoted, baking.
    let p = promoted(now_millis() + 60_000, false);
    let r = refused(ops(&p).promote(PromoteOptions::default(), None).await);
    assert_eq!(r.rule, GuardRule::BakePending);
    assert_eq!(p.weight_writes(), 0, "no promote back to blue");
}

#[tokio::test]
async fn a_promote_whose_weights_did_not_apply_records_nothing() {
    let p = green_deployed().await;
    p.inject(Fault::WeightNotApplied);
    weights_error(ops(&p).promote(PromoteOptions::default(), None).await);
    assert!(
        !p.calls()
            .iter()
            .any(|c| matches!(c, Call::RecordStable { .. })),
        "stable stays blue"
    );
    assert_eq!(p.state().listener.stable, Some(Color::Blue));
}

#[tokio::test]
async fn a_test_listener_that_cannot_be_repointed_is_a_warning_not_a_failure() {
    let p = green_deployed().await;
    p.inject(Fault::CallFails("point-test-listener"));
    let report = ops(&p)
        .promote(PromoteOptions::default(), None)
        .await
        .expect("promote");
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("test listener"));
}

#[tokio::test]
async fn finish_bake_clears_first_then_scales_the_old_color_in() {
    let p = promoted(now_millis() + 60_000, false);
    p.state().metrics = Some(requests(0, 200));
    let done = ops(&p)
        .finish_bake_measured()
        .await
        .expect("finish")
        .expect("a bake");
    assert_eq!(done.bake.old, Color::Blue);
    assert!(done.split.is_some_and(|v| v.matches()));
    assert!(!done.accepted_unmeasured);
    let calls = p.calls();
    let clear = calls
        .iter()
        .position(|c| {
            *c == Call::RecordStable {
                stable: Color::Green,
                bake: None,
            }
        })
        .expect("cleared");
    let scale = calls
        .iter()
        .position(|c| {
            *c == Call::Scale {
                color: Color::Blue,
                desired: 0,
            }
        })
        .expect("scaled in");
    assert!(clear < scale, "{calls:?}");
    assert_eq!(p.state().services.get(Color::Blue).desired, 0);
    assert_eq!(p.state().listener.bake, None);
}

#[tokio::test]
async fn finish_bake_keeps_the_old_color_with_keep_old_and_does_nothing_without_a_bake() {
    let p = promoted(0, true);
    ops(&p)
        .finish_bake()
        .await
        .expect("finish")
        .expect("a bake");
    assert_eq!(p.state().services.get(Color::Blue).desired, 2);
    assert_eq!(ops(&p).finish_bake().await.expect("nothing"), None);
}

/// Request counts per color over any window (the fake splits their sum by the weights).
fn requests(blue: u64, green: u64) -> PerColor<crate::rollout::ColorMetrics> {
    let m = |requests| crate::rollout::ColorMetrics {
        points: Vec::new(),
        window: Some(crate::rollout::MetricPoint {
            at: 0,
            requests,
            errors_5xx: 0,
            p99_ms: None,
        }),
    };
    PerColor::new(m(blue), m(green))
}

#[tokio::test]
async fn finish_bake_holds_until_the_requests_show_the_promote() {
    // No metrics at all: too few requests; the refusal says how to override.
    let p = promoted(0, false);
    let r = refused(ops(&p).finish_bake().await);
    assert_eq!(r.rule, GuardRule::SplitUnmeasured);
    assert!(r.reason.contains("--accept-unmeasured"), "{r}");
    assert!(r.reason.contains("blue keeps running"), "{r}");
    assert_eq!(p.state().services.get(Color::Blue).desired, 2);
    assert!(p.state().listener.bake.is_some(), "still pending");

    // Too few requests, overridden: scaled in, and the answer says so.
    let done = ops(&p)
        .with_accept_unmeasured(true)
        .finish_bake_measured()
        .await
        .expect("finish")
        .expect("a bake");
    assert!(done.accepted_unmeasured);
    assert_eq!(p.state().services.get(Color::Blue).desired, 0);

    // Something still routes to the old color: held, even with the override.
    let p = promoted(0, false);
    p.state().metrics = Some(requests(40, 160));
    p.state().routed = Some(w(20, 80));
    let r = refused(ops(&p).with_accept_unmeasured(true).finish_bake().await);
    assert_eq!(r.rule, GuardRule::SplitUnmeasured);
    assert!(
        r.reason
            .contains("observed split blue 20 / green 80 over 200 requests does not match the desired blue 0 / green 100"),
        "{r}"
    );
    assert_eq!(p.state().services.get(Color::Blue).desired, 2);
}

#[tokio::test]
async fn finish_bake_holds_when_traffic_moved() {
    let p = promoted(0, false);
    p.state().listener.weights = w(30, 70);
    let r = refused(ops(&p).finish_bake().await);
    assert_eq!(r.rule, GuardRule::TrafficMoved);
    let s = p.state();
    assert!(s.listener.bake.is_some(), "the bake stays pending");
    assert_eq!(s.services.get(Color::Blue).desired, 2, "blue keeps running");
}

#[tokio::test]
async fn finish_bake_rechecks_after_the_clear_when_the_listener_moves_under_it() {
    let p = promoted(0, false);
    p.state().metrics = Some(requests(0, 200));
    // The requests measured all came before the move.
    p.state().routed = Some(Weights::all(Color::Green));
    // Another console shifts right after this one read the listener.
    p.inject(Fault::ListenerMoves(w(20, 80)));
    let r = refused(ops(&p).finish_bake().await);
    assert_eq!(r.rule, GuardRule::TrafficMoved);
    assert!(r.reason.contains("bake cleared"), "{r}");
    let s = p.state();
    assert_eq!(s.services.get(Color::Blue).desired, 2, "never scaled in");
    assert_eq!(
        s.listener.bake, None,
        "cleared: rollback goes to stable green"
    );
}

#[tokio::test]
async fn finish_bake_clears_a_stale_bake_without_scaling() {
    let p = promoted(0, false);
    p.state().listener.bake = Some(Bake {
        old: Color::Green,
        until: 0,
        keep_old: false,
    });
    assert_eq!(ops(&p).finish_bake().await.expect("cleared"), None);
    assert!(!p.calls().iter().any(|c| matches!(c, Call::Scale { .. })));
    assert_eq!(p.state().listener.bake, None);
}

#[tokio::test]
async fn rollback_during_a_shift_is_one_weight_write_to_stable() {
    let p = green_deployed().await;
    ops(&p).shift(w(40, 60), false).await.expect("shift");
    p.state().calls.clear();
    let report = ops(&p).rollback().await.expect("rollback");
    assert_eq!(report.target, Color::Blue);
    assert_eq!(p.weight_writes(), 1);
    let calls = p.calls_but_lock();
    assert_eq!(
        calls[..3],
        [
            Call::Listener,
            Call::TargetHealth(Color::Blue),
            Call::SetWeights(w(100, 0))
        ],
        "nothing but the listener and target health before the write"
    );
    assert!(
        !calls.iter().any(|c| matches!(c, Call::RecordStable { .. })),
        "blue was stable already"
    );
}

#[tokio::test]
async fn rollback_during_a_bake_undoes_the_promote() {
    let p = promoted(now_millis() + 60_000, false);
    let report = ops(&p).rollback().await.expect("rollback");
    assert_eq!(report.target, Color::Blue);
    let s = p.state();
    assert_eq!(s.listener.weights, w(100, 0));
    assert_eq!(s.listener.stable, Some(Color::Blue));
    assert_eq!(s.listener.bake, None);
    assert_eq!(s.listener.test_color, Some(Color::Green));
}

#[tokio::test]
async fn rollback_works_while_snapshots_fail_and_stops_when_target_health_fails() {
    let p = green_deployed().await;
    ops(&p).shift(w(40, 60), false).await.expect("shift");
    p.always(Fault::CallFails("snapshot"));
    p.always(Fault::CallFails("images"));
    ops(&p)
        .rollback()
        .await
        .expect("needs only the listener and health");

    ops(&p)
        .shift(w(40, 60), true)
        .await
        .expect_err("snapshots fail");
    p.heal();
    ops(&p).shift(w(40, 60), false).await.expect("shift");
    p.inject(Fault::TargetHealthFails(Color::Blue));
    let writes = p.weight_writes();
    let e = ops(&p).rollback().await.expect_err("health unknown");
    assert!(matches!(e, OpError::Platform(_)), "{e}");
    assert_eq!(p.weight_writes(), writes, "no write on unknown health");
}

#[tokio::test]
async fn rollback_refused_when_its_target_has_no_healthy_target() {
    let p = green_deployed().await;
    ops(&p).shift(w(40, 60), false).await.expect("shift");
    p.state().services.get_mut(Color::Blue).healthy = 0;
    let r = refused(ops(&p).rollback().await);
    assert_eq!(r.rule, GuardRule::RollbackNoTarget);
    assert_eq!(OpError::Refused(r).exit_code(), exit::REFUSED);
}

#[tokio::test]
async fn rollback_not_applied_is_an_error_and_a_failed_record_is_a_warning() {
    let p = promoted(now_millis() + 60_000, false);
    p.inject(Fault::WeightNotApplied);
    let c = weights_error(ops(&p).rollback().await);
    assert_eq!(c.outcome(), WeightOutcome::NotApplied);

    p.inject(Fault::CallFails("record-stable"));
    let report = ops(&p).rollback().await.expect("weights in force");
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("recording blue as stable failed")),
        "{:?}",
        report.warnings
    );
}

#[tokio::test]
async fn deploy_goes_to_the_idle_color_with_the_live_count() {
    let p = Arc::new(FakePlatform::blue_live(3));
    let receipt = ops(&p).deploy("v2", None).await.expect("deploy");
    assert_eq!((receipt.color, receipt.desired), (Color::Green, 3));
    assert_eq!(
        p.state().services.get(Color::Green).tag.as_deref(),
        Some("v2")
    );
}

#[tokio::test]
async fn deploy_refusals_each_have_their_own_rule() {
    let p = Arc::new(FakePlatform::blue_live(2));
    let r = refused(ops(&p).deploy("v2", Some(Color::Blue)).await);
    assert_eq!(r.rule, GuardRule::ServesTraffic);

    let p = green_deployed().await;
    ops(&p).shift(w(50, 50), false).await.expect("shift");
    let r = refused(ops(&p).deploy("v2", None).await);
    assert_eq!(r.rule, GuardRule::ShiftInProgress);

    let p = promoted(now_millis() + 60_000, false);
    let r = refused(ops(&p).deploy("v2", None).await);
    assert_eq!(r.rule, GuardRule::BakePending);
    assert!(!p.calls().iter().any(|c| matches!(c, Call::Deploy { .. })));
}

#[tokio::test]
async fn deploy_of_an_unknown_tag_is_the_platforms_error() {
    let p = Arc::new(FakePlatform::blue_live(2));
    let e = ops(&p).deploy("nope", None).await.expect_err("unknown tag");
    assert!(e.to_string().contains("no image is tagged `nope`"), "{e}");
    assert_eq!(
        e.exit_code(),
        exit::FAILURE,
        "bad input, not a platform failure"
    );
}

#[tokio::test]
async fn scale_refuses_zero_for_a_color_with_traffic_only() {
    let p = green_deployed().await;
    ops(&p).shift(w(90, 10), false).await.expect("shift");
    let r = refused(ops(&p).scale(Color::Green, 0).await);
    assert_eq!(r.rule, GuardRule::ServesTraffic);
    ops(&p).scale(Color::Green, 4).await.expect("scale up");
    ops(&p).rollback().await.expect("rollback");
    ops(&p).scale(Color::Green, 0).await.expect("idle to zero");
    assert_eq!(p.state().services.get(Color::Green).desired, 0);
}

#[tokio::test]
async fn build_starts_one() {
    let p = Arc::new(FakePlatform::blue_live(1));
    let b = ops(&p).build(Some("main".into())).await.expect("build");
    assert_eq!(b.source_version.as_deref(), Some("main"));
    assert_eq!(p.state().builds.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn wait_for_healthy_returns_once_the_tasks_are_healthy() {
    let p = Arc::new(FakePlatform::blue_live(2));
    p.state().auto_healthy = false;
    let o = ops(&p);
    o.deploy("v2", None).await.expect("deploy");
    let later = p.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        later.state().services.get_mut(Color::Green).healthy = 2;
    });
    let start = tokio::time::Instant::now();
    let snap = o
        .wait(&WaitFor::Healthy(Color::Green), Duration::from_secs(60))
        .await
        .expect("healthy");
    assert_eq!(snap.colors.get(Color::Green).healthy_targets(), 2);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn wait_times_out_with_its_own_exit_code() {
    let p = Arc::new(FakePlatform::blue_live(2));
    p.state().auto_healthy = false;
    let o = ops(&p);
    o.deploy("v2", None).await.expect("deploy");
    let e = o
        .wait(&WaitFor::Healthy(Color::Green), Duration::from_secs(10))
        .await
        .expect_err("never healthy");
    assert_eq!(e.exit_code(), exit::TIMED_OUT);
    assert!(e.to_string().contains("green to become healthy"), "{e}");
}

#[tokio::test]
async fn counts_above_the_ceiling_are_refused_before_any_call() {
    let p = Arc::new(FakePlatform::blue_live(2));
    let r = refused(ops(&p).scale(Color::Blue, 10_000).await);
    assert_eq!(r.rule, GuardRule::OverCeiling);
    assert!(p.calls_but_lock().is_empty());
    let roomy = ops(&p).with_max_tasks(50);
    roomy
        .scale(Color::Blue, 50)
        .await
        .expect("under a raised ceiling");
    let r = refused(ops(&p).deploy("v2", None).await);
    assert_eq!(r.rule, GuardRule::OverCeiling, "deploy would copy 50 tasks");
}

#[tokio::test]
async fn a_log_tail_is_the_latest_lines_filtered_before_the_limit() {
    let p = Arc::new(FakePlatform::blue_live(1));
    p.state().logs = (0..2_500)
        .map(|i| crate::rollout::LogLine {
            color: if i % 5 == 0 {
                Color::Green
            } else {
                Color::Blue
            },
            task_id: "t".into(),
            at: 1_000 + i,
            message: format!("line {i}"),
        })
        .collect();
    let since = LogCursor {
        since: Some(1_000),
        ..LogCursor::default()
    };
    let tail = ops(&p)
        .log_tail(since.clone(), Some(Color::Green), 100)
        .await
        .expect("tail");
    assert_eq!(tail.lines.len(), 100);
    assert_eq!(tail.cut, 400, "500 green lines in the window");
    assert!(tail.lines.iter().all(|l| l.color == Color::Green));
    assert_eq!(
        tail.lines.last().map(|l| l.message.as_str()),
        Some("line 2495")
    );
    assert_eq!(tail.lines[0].message, "line 2000", "oldest first");
    assert!(!tail.unread);

    let all = ops(&p).log_tail(since, None, 10_000).await.expect("tail");
    assert_eq!(
        (all.lines.len(), all.cut),
        (2_500, 0),
        "short batches are not the end"
    );
}

/// A new environment: nothing deployed, no stable color, the weight on `weighted`.
fn empty(weighted: Color) -> Arc<FakePlatform> {
    let p = FakePlatform::blue_live(0);
    {
        let mut s = p.state();
        s.services.blue.tag = None;
        s.services.blue.revision = 0;
        s.listener.stable = None;
        s.listener.weights = Weights::all(weighted);
    }
    Arc::new(p)
}

#[tokio::test]
async fn the_first_release_settles_as_stable_on_the_weighted_color() {
    for weighted in Color::ALL {
        let p = empty(weighted);
        let receipt = ops(&p).deploy("v1", None).await.expect("deploy");
        assert_eq!(
            receipt.color, weighted,
            "the first release goes where the weight is"
        );
        assert!(
            ops(&p)
                .settle_first_release(weighted)
                .await
                .expect("settled")
        );
        let s = p.state();
        assert_eq!(s.listener.stable, Some(weighted));
        assert_eq!(s.listener.weights, Weights::all(weighted));
        assert_eq!(s.listener.test_color, Some(weighted.other()));
    }
}

#[tokio::test]
async fn only_a_healthy_first_release_settles() {
    let p = empty(Color::Blue);
    p.state().auto_healthy = false;
    ops(&p).deploy("v1", None).await.expect("deploy");
    assert!(
        !ops(&p)
            .settle_first_release(Color::Blue)
            .await
            .expect("checked")
    );
    assert_eq!(
        p.state().listener.stable,
        None,
        "still starting: not stable yet"
    );
    // A live environment is never settled again: its stable color stays.
    let live = Arc::new(FakePlatform::blue_live(2));
    ops(&live).deploy("v2", None).await.expect("deploy v2");
    assert!(
        !ops(&live)
            .settle_first_release(Color::Green)
            .await
            .expect("checked")
    );
    assert_eq!(live.state().listener.stable, Some(Color::Blue));
}
