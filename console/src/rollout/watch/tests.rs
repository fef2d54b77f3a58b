use super::*;
use crate::rollout::gate::Gate;
use crate::rollout::plan::Plan;
use crate::rollout::release::{Outcome, ReleaseOptions};
use crate::rollout::{Bake, Written};

const NOW: UnixMillis = 1_000_000;

fn w(green: u8) -> Weights {
    Weights::with_green_percent(green).expect("valid weights")
}

/// Blue stable with `weights` written 30 s ago, and `bake` pending.
fn listener(weights: Weights, stable: Option<Color>, bake: Option<Bake>) -> Listener {
    let mut l = crate::rollout::tests::snap(weights, stable, (2, 2), (2, 2)).listener;
    l.bake = bake;
    l.written = Some(Written {
        weights,
        at: NOW - 30_000,
    });
    l
}

fn bake_of(old: Color) -> Bake {
    Bake {
        old,
        until: NOW + 120_000,
        keep_old: false,
    }
}

fn release(stage: Stage, driven_at: UnixMillis) -> Release {
    Release {
        id: "r1".into(),
        tag: "v2".into(),
        canary: Color::Green,
        desired: 2,
        plan: Plan::default_canary(),
        options: ReleaseOptions {
            bake_secs: 300,
            keep_old: false,
            scale_in_on_rollback: false,
            smoke: Vec::new(),
            accept_unmeasured: false,
        },
        started_at: 0,
        stage,
        driver: "daemon".into(),
        driven_at,
        by: None,
        reason: None,
        gates: Vec::new(),
        split: None,
        request: None,
        outcome: None,
        ended_at: None,
    }
}

fn point(at: UnixMillis, requests: u64, errors_5xx: u64, p99_ms: Option<f64>) -> MetricPoint {
    MetricPoint {
        at,
        requests,
        errors_5xx,
        p99_ms,
    }
}

fn result(gate: Gate, verdict: Verdict) -> GateResult {
    GateResult {
        gate,
        verdict,
        measured: "m".into(),
        threshold: "t".into(),
        reason: None,
    }
}

#[test]
fn a_canary_with_traffic_is_watched_against_the_stable_color() {
    let l = listener(w(20), Some(Color::Blue), None);
    let watched = assess(GuardMode::Rollback, &l, None, None, NOW).expect("watched");
    assert_eq!(
        watched,
        Watched::Shift {
            canary: Color::Green,
            weights: w(20),
            since: Some(NOW - 30_000),
        }
    );
    assert_eq!(watched.judged(), Color::Green);
    assert_eq!(watched.target(), Color::Blue);
    // Weights someone else wrote: watched all the same, without a known start.
    let mut drifted = l.clone();
    drifted.written = Some(Written {
        weights: w(10),
        at: 5,
    });
    let d = assess(GuardMode::Rollback, &drifted, None, None, NOW).expect("watched");
    assert_eq!(d.since(), None);
    // All the traffic on the color that is not stable, by hand: still a canary.
    let all = listener(w(100), Some(Color::Blue), None);
    assert_eq!(
        assess(GuardMode::Warn, &all, None, None, NOW).map(|w| w.judged()),
        Ok(Color::Green)
    );
}

#[test]
fn at_rest_off_or_without_a_stable_color_nothing_is_watched() {
    let rest = listener(w(0), Some(Color::Blue), None);
    assert_eq!(
        assess(GuardMode::Rollback, &rest, None, None, NOW),
        Err(Idle::AtRest)
    );
    let split = listener(w(20), Some(Color::Blue), None);
    assert_eq!(
        assess(GuardMode::Off, &split, None, None, NOW),
        Err(Idle::Off)
    );
    let unknown = listener(w(20), None, None);
    let idle = assess(GuardMode::Rollback, &unknown, None, None, NOW).expect_err("idle");
    assert_eq!(idle, Idle::NoStable);
    assert!(idle.to_string().contains("bluegreen adopt"));
    // A bake naming the stable color as old is stale bookkeeping: at rest.
    let stale = listener(w(0), Some(Color::Blue), Some(bake_of(Color::Blue)));
    assert_eq!(
        assess(GuardMode::Rollback, &stale, None, None, NOW),
        Err(Idle::AtRest)
    );
}

#[test]
fn a_pending_bake_is_watched_and_its_rollback_undoes_the_promote() {
    // Green promoted: it has everything, blue still runs.
    let l = listener(w(100), Some(Color::Green), Some(bake_of(Color::Blue)));
    let watched = assess(GuardMode::Rollback, &l, None, None, NOW).expect("watched");
    assert_eq!(
        watched,
        Watched::Bake {
            stable: Color::Green,
            old: Color::Blue,
            since: Some(NOW - 30_000),
            until: NOW + 120_000,
        }
    );
    assert_eq!(watched.judged(), Color::Green);
    assert_eq!(watched.target(), Color::Blue);
    let failed = vec![result(Gate::Errors, Verdict::Fail)];
    assert_eq!(
        decide(GuardMode::Rollback, &watched, &failed),
        Decision::RollBack {
            target: Color::Blue,
            undo_promote: true,
            failed: failed.clone(),
        }
    );
    // A shift during the bake is still the bake's: a rollback undoes the promote.
    let moved = listener(w(80), Some(Color::Green), Some(bake_of(Color::Blue)));
    let m = assess(GuardMode::Rollback, &moved, None, None, NOW).expect("watched");
    assert!(matches!(m, Watched::Bake { .. }));
}

#[test]
fn a_release_whose_driver_gates_its_step_is_not_judged_twice() {
    let l = listener(w(10), Some(Color::Blue), None);
    let at_step = release(Stage::Step { index: 0, since: 0 }, NOW - 1_000);
    assert_eq!(
        assess(GuardMode::Rollback, &l, Some(&at_step), None, NOW),
        Err(Idle::ReleaseGates { id: "r1".into() })
    );
    let paused = release(
        Stage::Paused {
            index: Some(0),
            since: 0,
            reason: "x".into(),
        },
        NOW - 1_000,
    );
    assert!(assess(GuardMode::Rollback, &l, Some(&paused), None, NOW).is_err());
    // A driver that went away leaves its step to the guard.
    let gone = release(Stage::Step { index: 0, since: 0 }, NOW - 120_000);
    assert!(assess(GuardMode::Rollback, &l, Some(&gone), None, NOW).is_ok());
    // An ended release gates nothing.
    let mut ended = at_step.clone();
    ended.outcome = Some(Outcome::Released);
    assert!(assess(GuardMode::Rollback, &l, Some(&ended), None, NOW).is_ok());
    // A release's bake only waits in its driver: the guard watches it.
    let baking = listener(w(100), Some(Color::Green), Some(bake_of(Color::Blue)));
    let promoting = release(Stage::Promoting, NOW - 1_000);
    assert!(assess(GuardMode::Rollback, &baking, Some(&promoting), None, NOW).is_ok());
}

#[test]
fn an_unguarded_shift_is_left_alone_until_its_weights_change() {
    let l = listener(w(20), Some(Color::Blue), None);
    let u = Unguarded {
        weights: w(20),
        by: "ann@host".into(),
        reason: "load test".into(),
        at: NOW - 30_000,
    };
    let idle = assess(GuardMode::Rollback, &l, None, Some(&u), NOW).expect_err("idle");
    assert!(idle.to_string().contains("ann@host: load test"), "{idle}");
    let moved = listener(w(30), Some(Color::Blue), None);
    assert!(assess(GuardMode::Rollback, &moved, None, Some(&u), NOW).is_ok());
}

#[test]
fn the_plans_gate_fail_rule_decides_and_the_mode_says_whether_to_write() {
    let watched = Watched::Shift {
        canary: Color::Green,
        weights: w(20),
        since: Some(0),
    };
    let failing = vec![
        result(Gate::Health, Verdict::Pass),
        result(Gate::Errors, Verdict::Fail),
        result(Gate::Latency, Verdict::Inconclusive),
    ];
    assert_eq!(
        decide(GuardMode::Rollback, &watched, &failing),
        Decision::RollBack {
            target: Color::Blue,
            undo_promote: false,
            failed: vec![result(Gate::Errors, Verdict::Fail)],
        }
    );
    assert_eq!(
        decide(GuardMode::Warn, &watched, &failing),
        Decision::Warn {
            failed: vec![result(Gate::Errors, Verdict::Fail)],
        }
    );
    // The same rule as a plan's step: a failing gate rolls a step back too.
    let step = plan::decide(&Plan::default_canary(), 0, 0, 1, &failing);
    assert!(matches!(step, plan::StepDecision::RollBack { .. }));
    let passing = vec![
        result(Gate::Health, Verdict::Pass),
        result(Gate::Errors, Verdict::Pass),
    ];
    assert_eq!(
        decide(GuardMode::Rollback, &watched, &passing),
        Decision::Pass
    );
    let mut unsure = result(Gate::Errors, Verdict::Inconclusive);
    unsure.reason = Some("3 requests to green, fewer than the 20 needed to judge".into());
    match decide(GuardMode::Rollback, &watched, &[unsure]) {
        Decision::Inconclusive { why } => assert!(why.contains("fewer than the 20"), "{why}"),
        other => panic!("expected inconclusive, got {other:?}"),
    }
}

#[test]
fn a_failing_canary_is_judged_by_the_gates_with_values_and_thresholds() {
    let watched = Watched::Shift {
        canary: Color::Green,
        weights: w(20),
        since: Some(NOW - 30_000),
    };
    let mut m = PerColor::<ColorMetrics>::default();
    m.green.window = Some(point(NOW, 40, 40, Some(1.0)));
    m.blue.window = Some(point(NOW, 160, 0, Some(1.0)));
    let input = gate_input(&watched, Ok(Some(m)), false, 2, 2, None, Ok(Vec::new()));
    let results = evaluate(&GateConfig::default(), &watched, &input);
    let decision = decide(GuardMode::Rollback, &watched, &results);
    let Decision::RollBack { failed, target, .. } = decision else {
        panic!("expected a rollback: {results:?}");
    };
    assert_eq!(target, Color::Blue);
    let reason = rollback_reason(&watched, &failed);
    assert!(
        reason.starts_with("rolled back by the guard: green (canary): errors fail: 100% (40/40)"),
        "{reason}"
    );
    assert!(reason.contains("≤ 1% and ≤ blue 0% + 0.5"), "{reason}");
    // Unreadable metrics never roll back.
    let unread = gate_input(
        &watched,
        Err("timed out".into()),
        false,
        2,
        2,
        None,
        Ok(Vec::new()),
    );
    let r = evaluate(&GateConfig::default(), &watched, &unread);
    assert!(matches!(
        decide(GuardMode::Rollback, &watched, &r),
        Decision::Inconclusive { .. }
    ));
    // A canary with too few healthy targets fails health.
    let mut m = PerColor::<ColorMetrics>::default();
    m.green.window = Some(point(NOW, 0, 0, None));
    let sick = gate_input(&watched, Ok(Some(m)), false, 1, 2, None, Ok(Vec::new()));
    let r = evaluate(&GateConfig::default(), &watched, &sick);
    assert!(matches!(
        decide(GuardMode::Rollback, &watched, &r),
        Decision::RollBack { .. }
    ));
}

#[test]
fn the_bake_is_judged_against_absolute_bounds_and_the_old_colors_figures_before_the_promote() {
    let promoted = NOW - 60_000;
    let watched = Watched::Bake {
        stable: Color::Green,
        old: Color::Blue,
        since: Some(promoted),
        until: NOW + 240_000,
    };
    let cfg = GateConfig {
        max_error_rate: 10.0,
        ..GateConfig::default()
    };
    // Blue before the promote: 0.2% errors over 1,000 requests; p99 100 ms. After it, a
    // smoke check through the test listener, which must not count.
    let old = ColorMetrics {
        points: vec![
            point(promoted - 60_000, 500, 1, Some(80.0)),
            point(promoted, 500, 1, Some(100.0)),
            point(promoted + 1_000, 1, 1, Some(9_000.0)),
        ],
        window: None,
    };
    let base = baseline(&old, promoted, false, cfg.min_requests).expect("a baseline");
    assert_eq!(
        (base.requests, base.errors_5xx, base.p99_ms),
        (1000, 2, Some(100.0))
    );
    // Green at 2% errors: under the absolute 10%, but over blue's 0.2% + 0.5.
    let mut m = PerColor::<ColorMetrics>::default();
    m.green.points = vec![point(promoted + 30_000, 500, 10, Some(120.0))];
    m.green.window = Some(point(NOW, 500, 10, Some(120.0)));
    let input = gate_input(
        &watched,
        Ok(Some(m.clone())),
        false,
        2,
        2,
        Some(base),
        Ok(Vec::new()),
    );
    let results = evaluate(&cfg, &watched, &input);
    let errors = results
        .iter()
        .find(|r| r.gate == Gate::Errors)
        .expect("errors");
    assert_eq!(errors.verdict, Verdict::Fail);
    assert!(
        errors.threshold.contains("blue 0.2% + 0.5"),
        "{}",
        errors.threshold
    );
    assert!(
        errors
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("before the promote")),
        "{errors:?}"
    );
    assert_eq!(
        decide(GuardMode::Rollback, &watched, &results),
        Decision::RollBack {
            target: Color::Blue,
            undo_promote: true,
            failed: vec![errors.clone()],
        }
    );
    // Without a baseline (blue was quiet before the promote): the absolute bound alone.
    let quiet = ColorMetrics {
        points: vec![point(promoted - 1_000, 5, 0, Some(1.0))],
        window: None,
    };
    assert_eq!(baseline(&quiet, promoted, false, cfg.min_requests), None);
    let alone = gate_input(&watched, Ok(Some(m)), false, 2, 2, None, Ok(Vec::new()));
    let results = evaluate(&cfg, &watched, &alone);
    let errors = results
        .iter()
        .find(|r| r.gate == Gate::Errors)
        .expect("errors");
    assert_eq!(errors.verdict, Verdict::Pass, "{errors:?}");
    assert!(
        errors
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("no baseline")),
        "{errors:?}"
    );
}

#[test]
fn per_minute_points_count_for_the_baseline_when_they_start_before_the_promote() {
    let promoted = 120_000 + 30_000;
    let old = ColorMetrics {
        points: vec![
            point(60_000, 100, 0, Some(10.0)),
            point(120_000, 100, 1, Some(20.0)),
            point(180_000, 1, 1, Some(9_000.0)),
        ],
        window: None,
    };
    let base = baseline(&old, promoted, true, 20).expect("a baseline");
    assert_eq!(
        (base.requests, base.errors_5xx, base.p99_ms),
        (200, 1, Some(20.0))
    );
}

#[test]
fn the_window_is_the_watched_colors_own_last_minutes() {
    let since = NOW - 30_000;
    let shift = Watched::Shift {
        canary: Color::Green,
        weights: w(20),
        since: Some(since),
    };
    assert_eq!(window_secs(&shift, NOW, 1000, false), Some(29));
    assert_eq!(
        window_secs(&shift, since + 3_600_000, 1000, false),
        Some(WINDOW_SECS)
    );
    // Too young to have a window of its own.
    assert_eq!(window_secs(&shift, since + 500, 1000, false), None);
    // Unknown start: the last five minutes.
    let unknown = Watched::Shift {
        canary: Color::Green,
        weights: Weights::all(Color::Green),
        since: None,
    };
    assert_eq!(window_secs(&unknown, NOW, 1000, false), Some(WINDOW_SECS));
    assert_eq!(
        window_secs(&unknown, NOW, 1, true),
        Some(PERIOD_WINDOW_SECS)
    );
    // The baseline read reaches before the promote, within the longest window.
    assert_eq!(
        baseline_window_secs(NOW - 60_000, NOW),
        Some(60 + BASELINE_SECS)
    );
    assert_eq!(baseline_window_secs(NOW - 3_600_000, NOW), None);
}

#[test]
fn settings_are_bounded_and_name_the_key() {
    assert!(GuardConfig::default().validate().is_ok());
    for bad in [0, MAX_INTERVAL_SECS + 1] {
        let e = GuardConfig {
            interval_secs: bad,
            ..GuardConfig::default()
        }
        .validate()
        .expect_err("bad");
        assert!(e.contains("guard.interval"), "{e}");
    }
    let ok = ProbeConfig {
        paths: vec!["/health".into()],
        ..ProbeConfig::default()
    };
    assert!(ok.validate().is_ok());
    assert!(ok.enabled());
    assert_eq!(ok.gap_ms(), Some(334));
    for rate in [-1.0, MAX_PROBE_RATE + 0.1, f64::NAN, f64::INFINITY] {
        let e = ProbeConfig { rate, ..ok.clone() }
            .validate()
            .expect_err("bad");
        assert!(e.contains("probe.rate"), "{e}");
    }
    let off = ProbeConfig {
        rate: 0.0,
        ..ok.clone()
    };
    assert!(off.validate().is_ok());
    assert!(!off.enabled());
    assert_eq!(off.gap_ms(), None);
    let e = ProbeConfig {
        paths: vec!["health".into()],
        ..ok.clone()
    }
    .validate()
    .expect_err("bad");
    assert!(e.contains("probe.paths"), "{e}");
    for url in ["ftp://x", "http://", "http://a b"] {
        let e = ProbeConfig {
            url: Some(url.into()),
            ..ok.clone()
        }
        .validate()
        .expect_err("bad");
        assert!(e.contains("probe.url"), "{e}");
    }
}

#[test]
fn a_record_says_what_it_watches_and_goes_stale_after_three_intervals() {
    let rec = WatchRecord {
        watcher: "daemon@host".into(),
        mode: GuardMode::Warn,
        interval_secs: 5,
        at: NOW,
        watching: Some(Watched::Shift {
            canary: Color::Green,
            weights: w(20),
            since: None,
        }),
        idle: None,
        gates: Vec::new(),
        verdict: Some(Verdict::Fail),
        baseline: None,
        last_action: None,
        probe_sent: 0,
        unguarded: None,
        note: None,
    };
    assert_eq!(
        rec.summary(),
        "guard (warn, every 5 s): watching green 20% (canary): fail"
    );
    assert!(!rec.stale(NOW + 15_000));
    assert!(rec.stale(NOW + 15_001));
}

#[test]
fn the_probe_sends_while_something_is_judged_and_the_service_is_quiet() {
    let probe = ProbeConfig::default();
    let quiet = 0;
    let busy = (probe.rate * PROBE_LOOKBACK_SECS as f64) as u64;
    let rest = listener(w(0), Some(Color::Blue), None);
    assert!(
        !probe_wanted(&rest, None, quiet, &probe),
        "at rest: nothing to judge"
    );
    let canary = listener(w(10), Some(Color::Blue), None);
    assert!(probe_wanted(&canary, None, quiet, &probe));
    assert!(probe_wanted(&canary, None, busy - 1, &probe));
    assert!(
        !probe_wanted(&canary, None, busy, &probe),
        "busy enough by itself"
    );
    let baking = listener(w(100), Some(Color::Green), Some(bake_of(Color::Blue)));
    assert!(probe_wanted(&baking, None, quiet, &probe));
    // A release's step, at rest before its first weight is written or after it.
    let step = release(Stage::Step { index: 0, since: 0 }, NOW);
    assert!(probe_wanted(&rest, Some(&step), quiet, &probe));
    let smoke = release(Stage::Smoke, NOW);
    assert!(!probe_wanted(&rest, Some(&smoke), quiet, &probe));
    let off = ProbeConfig {
        rate: 0.0,
        ..ProbeConfig::default()
    };
    assert!(!probe_wanted(&canary, None, quiet, &off));
}

#[test]
fn nobody_watching_what_should_be_watched_is_said_and_only_then() {
    let rec = |at| WatchRecord::starting("ann@jump pid 7", &WatchSettings::default(), at);
    let mut l = listener(w(20), Some(Color::Blue), None);
    // No record: on AWS nobody watches; a local daemon without one predates the guard.
    assert!(unwatched(&l, NOW, false).is_some());
    assert_eq!(unwatched(&l, NOW, true), None);
    l.guard = Some(Box::new(rec(NOW - 1_000)));
    assert_eq!(unwatched(&l, NOW, false), None, "a fresh record: watched");
    l.guard = Some(Box::new(rec(NOW - 16_000)));
    let nobody = unwatched(&l, NOW, true).expect("a stale record: nobody");
    assert_eq!(
        nobody.unguarded_line(Some("14:02".into())),
        "UNGUARDED: green 20% (canary) since 14:02, nobody watching"
    );
    let rest = listener(w(0), Some(Color::Blue), None);
    assert_eq!(
        unwatched(&rest, NOW, false),
        None,
        "at rest nothing needs watching"
    );
}
