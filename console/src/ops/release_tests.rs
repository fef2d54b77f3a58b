//! The release driver against the in-memory platform: good releases, gates that fail,
//! metrics that cannot be read, weight changes not applied, drivers that go away, aborts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::release::{Note, Observer};
use super::*;
use crate::platform::SmokeAnswer;
use crate::platform::fake::{FakePlatform, Fault};
use crate::rollout::plan::{OnInconclusive, Plan, PlanKind, SmokeCheck, Step};
use crate::rollout::release::{Outcome, ReleaseOptions, Request, Stage};
use crate::rollout::resolve::ReleaseSpec;
use crate::rollout::{ColorMetrics, Gate, MetricPoint, Release, Share};

fn ops(p: &Arc<FakePlatform>) -> Ops {
    Ops::new(p.clone(), Access::default())
}

/// A canary plan of `steps` percent, each held `hold_secs`, checked every second.
pub(super) fn plan(steps: &[u8], hold_secs: u64) -> Plan {
    Plan::stepped(
        "test",
        PlanKind::Canary,
        steps
            .iter()
            .map(|&p| Step {
                weight: Share::percent(p).expect("valid"),
                hold_secs,
            })
            .collect(),
        1,
    )
    .expect("valid plan")
}

pub(crate) fn spec(plan: Plan) -> ReleaseSpec {
    ReleaseSpec {
        tag: "v2".into(),
        plan,
        options: ReleaseOptions {
            bake_secs: 0,
            keep_old: false,
            scale_in_on_rollback: false,
            smoke: SmokeCheck::defaults(),
            accept_unmeasured: false,
        },
        force: false,
    }
}

/// Window totals per color: `(requests, errors)` each, p99 10 ms.
pub(super) fn metrics(blue: (u64, u64), green: (u64, u64)) -> PerColor<ColorMetrics> {
    let m = |(requests, errors_5xx): (u64, u64)| ColorMetrics {
        points: Vec::new(),
        window: Some(MetricPoint {
            at: 0,
            requests,
            errors_5xx,
            p99_ms: Some(10.0),
        }),
    };
    PerColor::new(m(blue), m(green))
}

/// 20,000 requests a window, none failing: 200 reach the canary at a 1% step.
pub(super) fn traffic() -> PerColor<ColorMetrics> {
    metrics((10_000, 0), (10_000, 0))
}

/// Starts `spec` and drives it to its first pause, which must be at step 1: the release and
/// the pause's reason.
async fn paused_at_first_step(o: &Ops, spec: ReleaseSpec) -> (Release, String) {
    let r = o.start_release(spec).await.expect("started");
    let r = o
        .drive_release(r, &super::release::Quiet, true)
        .await
        .expect("paused");
    let Stage::Paused { index, reason, .. } = &r.stage else {
        panic!("{:?}", r.stage)
    };
    assert_eq!(*index, Some(0));
    let reason = reason.clone();
    (r, reason)
}

/// Records every note, and runs `hook` on each, with the platform at hand.
struct Recorder<F: Fn(&Release, &Note) + Send + Sync> {
    notes: Mutex<Vec<Note>>,
    hook: F,
}

impl<F: Fn(&Release, &Note) + Send + Sync> Observer for Recorder<F> {
    fn note(&self, release: &Release, note: &Note) {
        self.notes.lock().expect("lock").push(note.clone());
        (self.hook)(release, note);
    }
}

fn recorder<F: Fn(&Release, &Note) + Send + Sync>(hook: F) -> Recorder<F> {
    Recorder {
        notes: Mutex::new(Vec::new()),
        hook,
    }
}

async fn run(p: &Arc<FakePlatform>, plan: Plan, obs: &dyn Observer) -> Result<Release, OpError> {
    // No override: the fake's requests follow its weights, so every step and the bake are
    // measured (the unmeasured and mismatched cases have their own tests).
    let o = ops(p);
    let r = o.start_release(spec(plan)).await?;
    o.drive_release(r, obs, false).await
}

#[tokio::test]
async fn a_good_release_walks_every_step_and_ends_released() {
    let p = Arc::new(FakePlatform::blue_live(2));
    p.state().metrics = Some(metrics((100_000, 100), (100_000, 0)));
    let obs = recorder(|_, _| {});
    let o = ops(&p);
    // A bake long enough for a window of requests after the promote (2 s on one-second
    // samples), so the scale-in is measured too.
    let mut good = spec(plan(&[1, 10, 50], 0));
    good.options.bake_secs = 3;
    let r = o.start_release(good).await.expect("started");
    let r = o.drive_release(r, &obs, false).await.expect("released");
    assert_eq!(r.outcome, Some(Outcome::Released));
    assert_eq!(r.canary, Color::Green);
    let s = p.state();
    assert_eq!(s.listener.weights, Weights::all(Color::Green));
    assert_eq!(s.listener.stable, Some(Color::Green));
    // Each step's weights were set once, in order, then 100% by the promote.
    let steps: Vec<Weights> = s
        .calls
        .iter()
        .filter_map(|c| match c {
            crate::platform::fake::Call::SetWeights(w) => Some(*w),
            _ => None,
        })
        .collect();
    let pct = |g| Weights::with_green_percent(g).expect("valid");
    assert_eq!(steps, [pct(1), pct(10), pct(50), pct(100)]);
    // The old color was scaled in after the (zero) bake.
    assert_eq!(s.services.get(Color::Blue).desired, 0);
    let notes = obs.notes.lock().expect("lock");
    assert!(notes.contains(&Note::Healthy) && notes.contains(&Note::Promoted));
    // Each step went on because its requests showed its weights (the journal says so).
    let steps: Vec<&str> = s
        .journal
        .iter()
        .filter(|e| e.verb == "release-step")
        .filter_map(|e| e.message.as_deref())
        .collect();
    assert_eq!(
        steps,
        ["the gates passed and the requests showed the step's weights: next step"; 3]
    );
    assert!(!r.options.accept_unmeasured);
}

#[tokio::test]
async fn five_xx_at_step_two_rolls_back_at_once_naming_the_gate_and_values() {
    let p = Arc::new(FakePlatform::blue_live(2));
    p.state().metrics = Some(traffic());
    let fake = p.clone();
    // The canary starts failing once it reaches step 2: 20% of its requests.
    let obs = recorder(move |_, note| {
        if let Note::StepEntered { index: 1, .. } = note {
            fake.state().metrics = Some(metrics((10_000, 0), (10_000, 2_000)));
        }
    });
    let r = run(&p, plan(&[1, 10, 50], 0), &obs).await.expect("driven");
    let Some(Outcome::RolledBack { failed, reason }) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(failed[0].gate, Gate::Errors);
    // 10% of 20,000 requests went to green, 400 of them failed.
    assert_eq!(failed[0].measured, "20% (400/2000)");
    assert!(reason.contains("errors fail"), "{reason}");
    assert_eq!(
        r.outcome.as_ref().map(Outcome::exit_code),
        Some(exit::ROLLED_BACK)
    );
    let s = p.state();
    assert_eq!(s.listener.weights, Weights::all(Color::Blue));
    // Step 3 was never set; the canary still runs at 0% for its logs.
    assert!(!s.calls.contains(&crate::platform::fake::Call::SetWeights(
        Weights::with_green_percent(50).expect("valid")
    )));
    assert_eq!(s.services.get(Color::Green).desired, 2);
}

#[tokio::test]
async fn unreadable_metrics_hold_and_never_pass() {
    let p = Arc::new(FakePlatform::blue_live(2));
    p.always(Fault::CallFails("metrics"));
    let o = ops(&p);
    let mut pl = plan(&[10, 50], 1);
    pl.on_inconclusive = OnInconclusive::Pause;
    let (r, reason) = paused_at_first_step(&o, spec(pl)).await;
    assert!(reason.contains("metrics could not be read"), "{reason}");
    // Step 1's weight holds; step 2 was never reached.
    assert_eq!(
        p.state().listener.weights,
        Weights::with_green_percent(10).expect("valid")
    );
    assert!(r.outcome.is_none());
}

#[tokio::test]
async fn a_weight_change_not_applied_stops_the_plan_with_no_next_step() {
    let p = Arc::new(FakePlatform::blue_live(2));
    p.state().metrics = Some(traffic());
    let fake = p.clone();
    let obs = recorder(move |_, note| {
        if let Note::StepEntered { index: 0, .. } = note {
            fake.inject(Fault::WeightNotApplied);
        }
    });
    let err = run(&p, plan(&[1, 10, 50], 0), &obs)
        .await
        .expect_err("fails");
    assert_eq!(err.exit_code(), exit::PLATFORM);
    let r = p.state().release.clone().expect("recorded");
    let Some(Outcome::Failed { reason }) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert!(reason.contains("NOT applied"), "{reason}");
    // The listener keeps step 1's weights: nothing guessed, nothing further written.
    assert_eq!(
        p.state().listener.weights,
        Weights::with_green_percent(1).expect("valid")
    );
    let unknown = Arc::new(FakePlatform::blue_live(2));
    unknown.state().metrics = Some(traffic());
    let fake = unknown.clone();
    let obs = recorder(move |_, note| {
        if let Note::StepEntered { index: 0, .. } = note {
            fake.inject(Fault::ReadBackFails);
        }
    });
    let err = run(&unknown, plan(&[1, 10], 0), &obs)
        .await
        .expect_err("unknown");
    assert!(err.to_string().contains("UNKNOWN"), "{err}");
}

#[tokio::test]
async fn a_driver_that_goes_away_leaves_the_weight_where_it_was() {
    let p = Arc::new(FakePlatform::blue_live(2));
    p.state().metrics = Some(traffic());
    let o = ops(&p);
    let r = o
        .start_release(spec(plan(&[10, 50], 3600)))
        .await
        .expect("started");
    // The driver is dropped mid-hold (a closed laptop).
    let gone = tokio::time::timeout(
        Duration::from_millis(300),
        o.drive_release(r, &super::release::Quiet, false),
    )
    .await;
    assert!(gone.is_err(), "still holding");
    let s = p.state();
    assert_eq!(
        s.listener.weights,
        Weights::with_green_percent(10).expect("valid")
    );
    let r = s.release.clone().expect("recorded");
    assert!(matches!(r.stage, Stage::Step { index: 0, .. }));
    assert!(!r.driver_gone(r.driven_at + 1_000));
    assert!(r.driver_gone(r.driven_at + 61_000));
}

#[tokio::test]
async fn an_abort_rolls_back_at_once_and_the_driver_stops() {
    let p = Arc::new(FakePlatform::blue_live(2));
    p.state().metrics = Some(traffic());
    let o = ops(&p);
    let r = o
        .start_release(spec(plan(&[10, 50], 3600)))
        .await
        .expect("started");
    let driver = {
        let o = o.clone();
        tokio::spawn(async move { o.drive_release(r, &super::release::Quiet, false).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let aborted = o
        .request_release(Request::Abort, "alice")
        .await
        .expect("aborted");
    assert_eq!(
        aborted.outcome,
        Some(Outcome::Aborted { by: "alice".into() })
    );
    assert_eq!(p.state().listener.weights, Weights::all(Color::Blue));
    let ended = tokio::time::timeout(Duration::from_secs(5), driver)
        .await
        .expect("the driver stops within an interval")
        .expect("joined")
        .expect("ok");
    assert_eq!(ended.outcome, Some(Outcome::Aborted { by: "alice".into() }));
    assert_eq!(p.state().listener.weights, Weights::all(Color::Blue));
    // A second release may start now.
    assert!(o.start_release(spec(plan(&[10], 0))).await.is_ok());
}

#[tokio::test]
async fn a_failing_smoke_check_moves_no_traffic() {
    let p = Arc::new(FakePlatform::blue_live(2));
    p.state().smoke.push((
        "/".into(),
        SmokeAnswer {
            status: 500,
            body: "boom".into(),
            latency_ms: 3,
        },
    ));
    let r = run(&p, plan(&[10], 0), &super::release::Quiet)
        .await
        .expect("driven");
    let Some(Outcome::SmokeFailed { check, response }) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(check, "GET / → 200");
    assert!(
        response.contains("status 500") && response.contains("boom"),
        "{response}"
    );
    assert_eq!(p.weight_writes(), 0);
    assert_eq!(p.state().listener.weights, Weights::all(Color::Blue));
}

#[tokio::test]
async fn a_release_is_refused_while_another_runs_or_traffic_is_split() {
    let p = Arc::new(FakePlatform::blue_live(2));
    let o = ops(&p);
    o.start_release(spec(plan(&[10], 0))).await.expect("first");
    let e = o
        .start_release(spec(plan(&[10], 0)))
        .await
        .expect_err("second");
    assert_eq!(e.exit_code(), exit::REFUSED);
    assert!(e.to_string().contains("still running"), "{e}");
    let split = Arc::new(FakePlatform::blue_live(2));
    split.state().listener.weights = Weights::with_green_percent(20).expect("valid");
    let e = ops(&split)
        .start_release(spec(plan(&[10], 0)))
        .await
        .expect_err("split");
    assert!(e.to_string().contains("traffic is split"), "{e}");
    let ro = Ops::new(
        p.clone(),
        Access {
            read_only: true,
            ..Access::default()
        },
    );
    assert!(ro.start_release(spec(plan(&[10], 0))).await.is_err());
}

#[tokio::test]
async fn a_last_step_whose_requests_do_not_follow_its_weights_pauses_until_a_person_resumes() {
    let p = Arc::new(FakePlatform::blue_live(2));
    p.state().metrics = Some(traffic());
    // The listener takes the step's 10%, but half the requests reach green (a route the
    // console does not know about); the gates pass on the canary's own requests.
    p.state().routed = Some(Weights::with_green_percent(50).expect("valid"));
    let o = ops(&p);
    let mut s = spec(plan(&[10], 0));
    s.options.keep_old = true;
    // Even the override of too few requests never passes a measured mismatch.
    s.options.accept_unmeasured = true;
    let (_, reason) = paused_at_first_step(&o, s).await;
    assert!(reason.starts_with("step 1 not reached"), "{reason}");
    assert!(
        reason.contains("observed split blue 50 / green 50 over 20000 requests does not match the desired blue 90 / green 10"),
        "{reason}"
    );
    assert!(reason.contains("for 3 gate intervals"), "{reason}");
    {
        let s = p.state();
        // The step was never counted as reached: no promote.
        assert_eq!(
            s.listener.weights,
            Weights::with_green_percent(10).expect("valid")
        );
        assert!(
            !s.calls
                .contains(&crate::platform::fake::Call::SetWeights(Weights::all(
                    Color::Green
                )))
        );
        // While it held, the record warned with both numbers.
        let warned = s
            .release_history
            .iter()
            .filter_map(|r| r.split.as_ref().and_then(|sp| sp.describe()))
            .any(|w| w.starts_with("warning: observed split blue 50 / green 50"));
        assert!(warned, "{:?}", s.release_history.last());
    }
    // `resume` is the explicit override, journaled as such.
    o.request_release(Request::Resume, "bob")
        .await
        .expect("resumed");
    let resumed = p
        .state()
        .journal
        .iter()
        .rev()
        .find(|e| e.verb == "resume")
        .and_then(|e| e.detail.clone())
        .expect("journaled");
    assert!(
        resumed.starts_with("overrides the pause: step 1 not reached"),
        "{resumed}"
    );
    let r = p.state().release.clone().expect("recorded");
    let r = o
        .drive_release(r, &super::release::Quiet, false)
        .await
        .expect("driven");
    assert_eq!(r.outcome, Some(Outcome::Released));
    assert_eq!(p.state().listener.weights, Weights::all(Color::Green));
}

/// Drives `r` in a task until the recorded release's split says `words`, then returns the
/// driver still running.
async fn drive_until_split_says(
    o: &Ops,
    p: &Arc<FakePlatform>,
    r: Release,
    words: &str,
) -> tokio::task::JoinHandle<Result<Release, OpError>> {
    let driver = {
        let o = o.clone();
        tokio::spawn(async move { o.drive_release(r, &super::release::Quiet, false).await })
    };
    let said = |p: &FakePlatform| {
        p.state()
            .release
            .as_ref()
            .and_then(|r| r.split.as_ref())
            .and_then(|s| s.describe())
            .filter(|d| d.contains(words))
    };
    let seen = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(d) = said(p) {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(seen.is_ok(), "the split never said {words:?}");
    driver
}

#[tokio::test]
async fn too_few_requests_hold_a_step_past_its_hold_until_traffic_arrives() {
    let p = Arc::new(FakePlatform::blue_live(2));
    // 10 requests a window: 1 to the canary at 10%, 20 needed to judge the split.
    p.state().metrics = Some(metrics((5, 0), (5, 0)));
    let o = ops(&p);
    let mut pl = plan(&[10], 0);
    // The gates cannot judge either; the plan would go on: only the split holds it.
    pl.on_inconclusive = OnInconclusive::Proceed;
    let mut s = spec(pl);
    s.options.keep_old = true;
    let r = o.start_release(s).await.expect("started");
    let driver = drive_until_split_says(
        &o,
        &p,
        r,
        "waiting for 10 more requests to measure the split (10 of 20",
    )
    .await;
    {
        let s = p.state();
        let r = s.release.as_ref().expect("recorded");
        assert!(
            matches!(r.stage, Stage::Step { index: 0, .. }),
            "{:?}",
            r.stage
        );
        assert_eq!(r.hold_left_ms(crate::clock::now_millis()), Some(0));
        assert!(
            crate::cli::release::status_lines(r, crate::clock::now_millis())
                .contains("split    waiting for 10 more requests")
        );
        // The CLI's gate line says it too.
        let line = crate::cli::release::line(
            r,
            &Note::Gates {
                index: 0,
                left_ms: 0,
            },
        )
        .expect("a line");
        assert!(
            line.ends_with("hold done · waiting for 10 more requests to measure the split (10 of 20 since the step's weights)"),
            "{line}"
        );
        assert_eq!(
            s.listener.weights,
            Weights::with_green_percent(10).expect("valid")
        );
    }
    // Traffic arrives: the step is reached and the release ends.
    p.state().metrics = Some(traffic());
    let r = tokio::time::timeout(Duration::from_secs(20), driver)
        .await
        .expect("the step goes on")
        .expect("joined")
        .expect("driven");
    assert_eq!(r.outcome, Some(Outcome::Released));
}

#[tokio::test]
async fn a_release_started_accepting_unmeasured_goes_on_with_too_few_requests() {
    let p = Arc::new(FakePlatform::blue_live(2));
    p.state().metrics = Some(metrics((5, 0), (5, 0)));
    // `bluegreen --accept-unmeasured release`: the session's flag is recorded with it.
    let o = ops(&p).with_accept_unmeasured(true);
    let mut pl = plan(&[10], 0);
    pl.on_inconclusive = OnInconclusive::Proceed;
    let r = o.start_release(spec(pl)).await.expect("started");
    assert!(r.options.accept_unmeasured);
    // Another driver (the daemon, a console resuming it) honours the record.
    let r = ops(&p)
        .drive_release(r, &super::release::Quiet, false)
        .await
        .expect("driven");
    assert_eq!(r.outcome, Some(Outcome::Released));
    let s = p.state();
    let start = s
        .journal
        .iter()
        .find(|e| e.verb == crate::rollout::journal::RELEASE_START)
        .and_then(|e| e.detail.clone());
    assert!(
        start.is_some_and(|d| d.ends_with("--accept-unmeasured")),
        "{:?}",
        s.journal.first()
    );
    let step = s
        .journal
        .iter()
        .find(|e| e.verb == "release-step")
        .and_then(|e| e.message.clone())
        .expect("journaled");
    assert_eq!(
        step,
        "the gates passed; too few requests to measure the split (10 of 20 since the step's weights), accepted unmeasured (--accept-unmeasured): next step"
    );
}

/// A stack made outside this project at rest (no stable color recorded, all traffic on a
/// healthy blue): a release starts, as status, shift and promote accept it, and records blue
/// as stable with its first write.
#[tokio::test]
async fn a_release_starts_on_a_resting_stack_with_no_record_and_records_its_stable_color() {
    let p = Arc::new(FakePlatform::blue_live(2));
    p.state().listener.stable = None;
    let r = ops(&p)
        .start_release(spec(plan(&[10], 0)))
        .await
        .expect("started");
    assert_eq!(r.canary, Color::Green);
    assert_eq!(p.state().listener.stable, Some(Color::Blue));
}

/// Pre-flight before the first production weight: a gate alarm already in ALARM refuses the
/// release (nothing deployed, nothing recorded); `--force` needs a reason, and with one the
/// release starts and the journal keeps what was overridden and why.
#[tokio::test]
async fn pre_flight_refuses_an_alarm_already_in_alarm_unless_forced_with_a_reason() {
    use crate::rollout::gate::AlarmState;
    let p = Arc::new(FakePlatform::blue_live(2));
    p.state().alarms = vec![("blog-5xx".into(), AlarmState::Alarm)];
    let mut gated = plan(&[10], 0);
    gated.gates.alarms = vec!["blog-5xx".into()];
    let e = ops(&p)
        .start_release(spec(gated.clone()))
        .await
        .expect_err("refused");
    assert_eq!(e.exit_code(), exit::REFUSED);
    assert!(
        e.to_string().contains("`blog-5xx` is already in ALARM"),
        "{e}"
    );
    assert!(p.state().release.is_none(), "nothing recorded");
    assert_eq!(p.weight_writes(), 0);
    let forced = ReleaseSpec {
        force: true,
        ..spec(gated.clone())
    };
    let e = ops(&p)
        .start_release(forced.clone())
        .await
        .expect_err("no reason");
    assert!(e.to_string().contains("--force needs a --reason"), "{e}");
    let r = ops(&p)
        .with_reason(Some("the alarm is the load test's".into()))
        .start_release(forced)
        .await
        .expect("forced");
    let journal = p.state().journal.clone();
    let entry = journal
        .iter()
        .find(|e| e.verb == crate::rollout::journal::RELEASE_FORCED)
        .expect("journaled");
    assert_eq!(
        entry.release.as_ref().map(|x| x.id.as_str()),
        Some(r.id.as_str())
    );
    assert_eq!(
        entry.reason.as_deref(),
        Some("the alarm is the load test's")
    );
    assert!(
        entry
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("already in ALARM"),
        "{entry:?}"
    );
}

/// Pre-flight also refuses a stable color running tasks of another revision and a listener
/// whose weights are not what a console last wrote.
#[tokio::test]
async fn pre_flight_finds_older_tasks_on_the_stable_color_and_a_drifted_listener() {
    use crate::rollout::release::preflight;
    let p = FakePlatform::blue_live(2);
    let mut snap = p.snapshot().await.expect("snapshot");
    assert!(preflight(&snap, Color::Blue, &[]).is_empty());
    snap.colors.blue.tasks[0].revision += 7;
    snap.listener.written = Some(crate::rollout::Written {
        weights: Weights::with_green_percent(20).expect("valid"),
        at: 1,
    });
    let found = preflight(&snap, Color::Blue, &[]);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].contains("1 task(s) of another revision"),
        "{found:?}"
    );
    assert!(found[1].contains("drift"), "{found:?}");
}

#[tokio::test]
async fn a_persons_rollback_during_a_release_ends_it_and_no_step_follows() {
    let p = Arc::new(FakePlatform::blue_live(2));
    p.state().metrics = Some(traffic());
    let o = ops(&p);
    // Recorded, not yet driven: the deploy, the smoke test and the first shift are ahead.
    let r = o
        .start_release(spec(plan(&[10, 50], 60)))
        .await
        .expect("started");
    let bob = ops(&p).with_operator(crate::rollout::Operator::new("bob", "desk").expect("ok"));
    let report = bob.rollback().await.expect("rollback");
    assert!(!report.unchanged, "a running release is something to stop");
    assert_eq!(report.ended_release.as_deref(), Some(r.id.as_str()));
    let ended = p.state().release.clone().expect("recorded");
    let Some(Outcome::Aborted { by }) = &ended.outcome else {
        panic!("{:?}", ended.outcome)
    };
    assert!(by.contains("bob@desk") && by.contains("rollback"), "{by}");
    // The driver, picking the release up with its stale copy, takes no step.
    let writes = p.weight_writes();
    let driven = o.drive_release(r, &super::release::Quiet, false).await;
    assert!(driven.map(|r| r.is_over()).unwrap_or(true));
    assert_eq!(p.weight_writes(), writes, "no shift after the rollback");
    assert_eq!(p.state().listener.weights, Weights::all(Color::Blue));
}

#[tokio::test]
async fn a_release_is_driven_in_the_name_of_the_sessions_operator() {
    // `--as ann` names ann in the journal and the lock; the driver is ann's too, never the
    // OS user's (the platform has no driver of its own here: the caller drives).
    let p = Arc::new(FakePlatform::blue_live(2));
    let ann = crate::rollout::Operator::new("ann", "laptop").expect("valid");
    let o = ops(&p).with_operator(ann);
    let (r, driver) = o
        .launch_release(spec(plan(&[10], 0)))
        .await
        .expect("started");
    assert_eq!(driver, super::Driver::Caller);
    assert_eq!(r.driver, format!("ann@laptop pid {}", std::process::id()));
    assert_eq!(r.by.map(|b| b.to_string()).as_deref(), Some("ann@laptop"));
}
