use super::*;

fn point(requests: u64, errors_5xx: u64, p99_ms: Option<f64>) -> MetricPoint {
    MetricPoint {
        at: 0,
        requests,
        errors_5xx,
        p99_ms,
    }
}

fn input(canary: MetricPoint, stable: Option<MetricPoint>) -> GateInput {
    GateInput {
        healthy: 2,
        desired: 2,
        canary: Ok(Some(canary)),
        stable,
        alarms: Ok(Vec::new()),
    }
}

fn verdict_of(results: &[GateResult], gate: Gate) -> Verdict {
    results
        .iter()
        .find(|r| r.gate == gate)
        .map(|r| r.verdict)
        .expect("gate present")
}

#[test]
fn the_error_rate_passes_at_the_bound_and_fails_just_over_it() {
    let cfg = GateConfig::default();
    let stable = Some(point(10_000, 100, Some(10.0))); // 1%: the delta does not bind
    let at = evaluate(
        &cfg,
        Color::Green,
        &input(point(1000, 10, Some(10.0)), stable),
    );
    assert_eq!(verdict_of(&at, Gate::Errors), Verdict::Pass);
    let over = evaluate(
        &cfg,
        Color::Green,
        &input(point(1000, 11, Some(10.0)), stable),
    );
    assert_eq!(verdict_of(&over, Gate::Errors), Verdict::Fail);
    let r = over
        .iter()
        .find(|r| r.gate == Gate::Errors)
        .expect("errors");
    assert_eq!(r.measured, "1.1% (11/1000)");
    assert!(r.threshold.contains("≤ 1%"), "{}", r.threshold);
}

#[test]
fn the_canary_may_not_exceed_the_stable_rate_by_more_than_the_delta() {
    let cfg = GateConfig {
        max_error_rate: 10.0,
        ..GateConfig::default()
    };
    let stable = Some(point(1000, 2, None)); // 0.2%
    // 0.7% = 0.2 + 0.5: passes; 0.8% fails although under the absolute 10%.
    let ok = evaluate(&cfg, Color::Blue, &input(point(1000, 7, None), stable));
    assert_eq!(verdict_of(&ok, Gate::Errors), Verdict::Pass);
    let bad = evaluate(&cfg, Color::Blue, &input(point(1000, 8, None), stable));
    assert_eq!(verdict_of(&bad, Gate::Errors), Verdict::Fail);
    let r = bad.iter().find(|r| r.gate == Gate::Errors).expect("errors");
    assert!(r.threshold.contains("green 0.2% + 0.5"), "{}", r.threshold);
    assert!(
        r.reason
            .as_deref()
            .is_some_and(|w| w.contains("points over green"))
    );
}

#[test]
fn too_little_traffic_is_inconclusive_unless_the_errors_already_decide() {
    let cfg = GateConfig::default(); // 20 requests, 1%
    let few = evaluate(&cfg, Color::Green, &input(point(19, 0, Some(5.0)), None));
    assert_eq!(verdict_of(&few, Gate::Errors), Verdict::Inconclusive);
    assert_eq!(verdict_of(&few, Gate::Latency), Verdict::Inconclusive);
    assert_eq!(overall(&few), Verdict::Inconclusive);
    // 1 error in 5 requests: over 1% even if the next 15 all succeed.
    let certain = evaluate(&cfg, Color::Green, &input(point(5, 1, None), None));
    assert_eq!(verdict_of(&certain, Gate::Errors), Verdict::Fail);
    // No traffic at all.
    let none = evaluate(&cfg, Color::Green, &input(point(0, 0, None), None));
    assert_eq!(verdict_of(&none, Gate::Errors), Verdict::Inconclusive);
    // Exactly the minimum is judged.
    let enough = evaluate(&cfg, Color::Green, &input(point(20, 0, Some(5.0)), None));
    assert_eq!(verdict_of(&enough, Gate::Errors), Verdict::Pass);
}

#[test]
fn latency_is_judged_against_the_stable_p99_times_the_ratio_plus_the_floor() {
    let cfg = GateConfig::default(); // × 2 + 50 ms
    let stable = Some(point(1000, 0, Some(100.0)));
    let at = evaluate(
        &cfg,
        Color::Green,
        &input(point(100, 0, Some(250.0)), stable),
    );
    assert_eq!(verdict_of(&at, Gate::Latency), Verdict::Pass);
    let over = evaluate(
        &cfg,
        Color::Green,
        &input(point(100, 0, Some(250.1)), stable),
    );
    assert_eq!(verdict_of(&over, Gate::Latency), Verdict::Fail);
    // An absolute bound binds when it is lower.
    let strict = GateConfig {
        max_p99_ms: Some(200.0),
        ..GateConfig::default()
    };
    let r = evaluate(
        &strict,
        Color::Green,
        &input(point(100, 0, Some(201.0)), stable),
    );
    assert_eq!(verdict_of(&r, Gate::Latency), Verdict::Fail);
}

#[test]
fn a_stable_color_with_no_traffic_leaves_only_the_absolute_bounds() {
    let cfg = GateConfig::default();
    let idle = Some(point(0, 0, None));
    let r = evaluate(&cfg, Color::Green, &input(point(100, 0, Some(900.0)), idle));
    assert_eq!(verdict_of(&r, Gate::Latency), Verdict::Pass);
    assert_eq!(verdict_of(&r, Gate::Errors), Verdict::Pass);
    let e = r.iter().find(|r| r.gate == Gate::Errors).expect("errors");
    assert!(
        e.reason
            .as_deref()
            .is_some_and(|w| w.contains("no traffic"))
    );
    let bad = evaluate(&cfg, Color::Green, &input(point(100, 2, None), idle));
    assert_eq!(verdict_of(&bad, Gate::Errors), Verdict::Fail);
}

#[test]
fn health_fails_below_the_desired_count_and_unreadable_metrics_never_pass() {
    let cfg = GateConfig::default();
    let mut i = input(point(100, 0, Some(1.0)), None);
    i.healthy = 1;
    assert_eq!(overall(&evaluate(&cfg, Color::Green, &i)), Verdict::Fail);
    i.healthy = 2;
    i.canary = Err("timed out".into());
    let r = evaluate(&cfg, Color::Green, &i);
    assert_eq!(overall(&r), Verdict::Inconclusive);
    assert!(
        r.iter()
            .any(|g| g.reason.as_deref().is_some_and(|w| w.contains("timed out")))
    );
    // Zero desired still needs one healthy target.
    i.desired = 0;
    i.healthy = 0;
    assert_eq!(
        verdict_of(&evaluate(&cfg, Color::Green, &i), Gate::Health),
        Verdict::Fail
    );
}

#[test]
fn an_alarm_in_alarm_fails_and_a_missing_one_is_inconclusive() {
    let cfg = GateConfig {
        alarms: vec!["a".into(), "b".into()],
        ..GateConfig::default()
    };
    let mut i = input(point(100, 0, Some(1.0)), None);
    i.alarms = Ok(vec![
        ("a".into(), AlarmState::Ok),
        ("b".into(), AlarmState::Alarm),
    ]);
    let r = evaluate(&cfg, Color::Green, &i);
    assert_eq!(verdict_of(&r, Gate::Alarms), Verdict::Fail);
    assert_eq!(
        r.last().and_then(|g| g.reason.clone()).as_deref(),
        Some("b")
    );
    i.alarms = Ok(vec![
        ("a".into(), AlarmState::Ok),
        ("b".into(), AlarmState::Missing),
    ]);
    assert_eq!(
        verdict_of(&evaluate(&cfg, Color::Green, &i), Gate::Alarms),
        Verdict::Inconclusive
    );
    i.alarms = Err("throttled".into());
    assert_eq!(
        verdict_of(&evaluate(&cfg, Color::Green, &i), Gate::Alarms),
        Verdict::Inconclusive
    );
    // No alarms configured: no alarm gate.
    let plain = evaluate(&GateConfig::default(), Color::Green, &i);
    assert!(plain.iter().all(|g| g.gate != Gate::Alarms));
}

#[test]
fn validation_names_the_field() {
    let bad = GateConfig {
        max_error_rate: 101.0,
        ..GateConfig::default()
    };
    assert!(
        bad.validate()
            .expect_err("bad")
            .contains("gates.max_error_rate")
    );
    let bad = GateConfig {
        min_requests: 0,
        ..GateConfig::default()
    };
    assert!(
        bad.validate()
            .expect_err("bad")
            .contains("gates.min_requests")
    );
    assert!(GateConfig::default().validate().is_ok());
}

#[test]
fn a_minute_that_straddles_the_write_is_not_the_steps() {
    let point = |at, requests, errors_5xx| MetricPoint {
        at,
        requests,
        errors_5xx,
        p99_ms: Some(20.0),
    };
    // Minutes at 0, 60 s and 120 s; the step's write at 30 s.
    let m = ColorMetrics {
        points: vec![
            point(0, 100, 80),
            point(60_000, 50, 1),
            point(120_000, 40, 0),
        ],
        window: Some(point(0, 190, 81)),
    };
    let w = window_after(&m, 30_000, true).expect("two minutes of its own");
    assert_eq!((w.at, w.requests, w.errors_5xx), (120_000, 90, 1));
    // A write on the minute owns it.
    assert_eq!(window_after(&m, 60_000, true).map(|w| w.requests), Some(90));
    // Before the first whole minute of its own is published: nothing to judge.
    assert_eq!(window_after(&m, 120_001, true), None);
    // The local platform's summary is its own count since the write.
    assert_eq!(window_after(&m, 30_000, false), m.window);
    // The errors of the minute before the write never fail the step.
    let cfg = GateConfig::default();
    let before = input(window_after(&m, 120_001, true).unwrap_or_default(), None);
    assert_ne!(
        verdict_of(&evaluate(&cfg, Color::Green, &before), Gate::Errors),
        Verdict::Fail
    );
}
