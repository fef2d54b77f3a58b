//! The release driver: carries out what [`crate::rollout::plan::decide`] decides, over
//! `Arc<dyn Platform>`. The same code drives a release in the local daemon and in the console
//! process on AWS. Every change of stage is recorded with the listener before the next write,
//! so another console shows it, and a person's pause, resume or abort recorded there is
//! picked up at the next interval.
//!
//! AWS API calls per gate interval: target health (1), metrics (1), the release record (1),
//! and the alarms when the profile names some (1); the record is rewritten only when the
//! verdicts change or every [`HEARTBEAT_MS`], and with it the driver's deploy-lock lease is
//! read and renewed (GetItem + PutItem) once half of it has passed.

use std::time::Duration;

use super::{OpError, Ops, PromoteOptions, WaitFor};
use crate::clock::now_millis;
use crate::platform::{PlatformError, SmokeRun, WeightOutcome};
use crate::rollout::gate::{self, GateInput, GateResult, Verdict};
use crate::rollout::journal::{self, Interval};
use crate::rollout::plan::{self, StepDecision};
use crate::rollout::release::{self, Outcome, ReleaseOptions, Request, Stage};
use crate::rollout::resolve::ReleaseSpec;
use crate::rollout::split::{self, SplitVerdict};
use crate::rollout::step_split::{self, StepSplit};
use crate::rollout::{PerColor, Release, Weights, healthy_count};

/// The driver rewrites the record at least this often, so `status` can tell a live driver
/// from one that went away ([`release::DRIVER_GONE_MS`]).
pub const HEARTBEAT_MS: i64 = 20_000;

/// How long a deploy may take to become healthy before the release fails.
pub const DEPLOY_TIMEOUT: Duration = Duration::from_secs(900);

/// How long one smoke check may take.
pub const SMOKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The smoke task's last log lines a failure quotes.
const SMOKE_TASK_LINES_SHOWN: usize = 5;

/// The waits before the release record is written again after a failed write (each write is
/// already retried by the platform): past them, a release with traffic split pauses instead
/// of stopping ([`Ops::hold_unrecorded`]).
const RECORD_RETRIES: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// Who drives a release once [`Ops::launch_release`] started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// The platform (the local daemon): it survives the caller.
    Platform,
    /// The caller, with [`Ops::drive_release`]: on AWS a release whose driver quits holds its
    /// weight until someone resumes it.
    Caller,
}

/// Something worth a line of output, with the release as it is now.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    Started,
    Deployed {
        task_definition: String,
    },
    Healthy,
    SmokePassed {
        check: String,
        latency_ms: u64,
    },
    /// A line about the smoke test that is not one check's pass: the profile skips it (and
    /// why), or a one-off task ran the checks (its id, its exit code, its log lines).
    Smoke {
        line: String,
    },
    StepEntered {
        index: usize,
        weights: Weights,
    },
    Gates {
        index: usize,
        left_ms: u64,
    },
    Paused {
        reason: String,
    },
    Resumed,
    Promoted,
    Ended,
}

/// Where the driver reports what it does (the CLI prints lines; the daemon logs).
pub trait Observer: Send + Sync {
    fn note(&self, release: &Release, note: &Note);
}

/// An observer that ignores everything.
pub struct Quiet;

impl Observer for Quiet {
    fn note(&self, _: &Release, _: &Note) {}
}

/// A release's driver and its requests, named after the session's operator (who `--as`,
/// `BLUEGREEN_USER` or the OS user names, as the lock and the journal do) and this process:
/// `ops@host pid N`.
pub fn driver_name(operator: &crate::rollout::Operator) -> String {
    format!("{operator} pid {}", std::process::id())
}

impl Ops {
    /// Checks that a release may start, deploys the tag to the idle color and records the
    /// release; [`Ops::drive_release`] then walks it.
    pub async fn start_release(&self, spec: ReleaseSpec) -> Result<Release, OpError> {
        self.access.check("release")?;
        spec.plan
            .validate()
            .map_err(|e| PlatformError::Config(e.to_string()))?;
        let mut snap = self.platform.snapshot().await?;
        let current = self.platform.release().await?;
        // A stack with no record at rest: its live color is stable, recorded below.
        let resting = super::adopt_resting(&mut snap);
        let canary = release::check_start(&snap, current.as_ref())?;
        let alarms = if spec.plan.gates.alarms.is_empty() {
            Vec::new()
        } else {
            self.platform.alarms(&spec.plan.gates.alarms).await?
        };
        let found = release::preflight(&snap, canary.other(), &alarms);
        if let Err(refusal) = release::check_preflight(&found, spec.force, self.reason.as_deref()) {
            let e = OpError::from(refusal);
            self.journal_unstarted(journal::RELEASE_START, spec.tag.clone(), &e)
                .await;
            return Err(e);
        }
        let now = now_millis();
        let id = format!("r{now}");
        // The driver's lease first: a release another engineer's lock refuses is never
        // recorded (it would wait for a driver that cannot take the lock).
        let interval_ms = (spec.plan.interval_secs as i64).saturating_mul(1000);
        if let Err(e) = self.lock_drive(&id, interval_ms).await {
            self.journal_unstarted(journal::RELEASE_START, spec.tag.clone(), &e)
                .await;
            return Err(e);
        }
        if let Err(e) = self.record_resting(resting).await {
            self.lock_drive_done().await;
            return Err(e);
        }
        let r = Release {
            id,
            tag: spec.tag,
            canary,
            desired: crate::rollout::guard::deploy_count(&snap, canary),
            plan: spec.plan,
            // `--accept-unmeasured` is recorded with the release, so whoever drives it (the
            // daemon, a console that resumes it) honours it.
            options: ReleaseOptions {
                accept_unmeasured: spec.options.accept_unmeasured || self.accepts_unmeasured(),
                ..spec.options
            },
            started_at: now,
            stage: Stage::Deploying,
            driver: self.driver(),
            driven_at: now,
            by: Some(self.operator.clone()),
            reason: self.reason.clone(),
            gates: Vec::new(),
            split: None,
            request: None,
            outcome: None,
            ended_at: None,
        };
        if let Err(e) = self.platform.record_release(&r).await {
            self.lock_drive_done().await;
            // Another release was accepted meanwhile: refused, with its reason.
            if let Ok(current) = self.platform.release().await
                && let Err(refusal) = release::check_record(current.as_ref(), &r)
            {
                return Err(refusal.into());
            }
            return Err(e.into());
        }
        self.journal_release(&r, journal::RELEASE_START).await;
        if !found.is_empty() {
            let mut e = self
                .in_release(&r.id, None)
                .journal_entry(journal::RELEASE_FORCED);
            e.message = Some(format!("forced past pre-flight: {}", found.join("; ")));
            self.append_journal(e).await;
        }
        Ok(r)
    }

    /// Who drives a release this session starts: the platform's own driver where it has one
    /// (the local daemon), else this session (`ops@host pid N`).
    fn driver(&self) -> String {
        self.platform
            .release_driver()
            .map_or_else(|| driver_name(&self.operator), str::to_string)
    }

    /// Starts the release and hands it to its driver: the platform, where it drives releases
    /// itself; else the caller, who then walks it with [`Ops::drive_release`].
    pub async fn launch_release(&self, spec: ReleaseSpec) -> Result<(Release, Driver), OpError> {
        let r = self.start_release(spec).await?;
        if self.platform.release_driver().is_some() {
            self.platform.drive_release().await?;
            Ok((r, Driver::Platform))
        } else {
            Ok((r, Driver::Caller))
        }
    }

    /// After `r` was resumed: the platform that drives releases is asked to drive it on (a
    /// daemon restarted meanwhile may have left it); elsewhere, a release whose driver went
    /// away is this session's to drive on, and comes back renamed for it (`Some`).
    pub async fn take_over(&self, r: &Release) -> Result<Option<Release>, OpError> {
        if self.platform.release_driver().is_some() {
            self.platform.drive_release().await?;
            return Ok(None);
        }
        if !r.driver_gone(now_millis()) {
            return Ok(None);
        }
        let mut taken = r.clone();
        taken.driver = driver_name(&self.operator);
        Ok(Some(taken))
    }

    /// The recorded release, if any.
    pub async fn current_release(&self) -> Result<Option<Release>, OpError> {
        Ok(self.platform.release().await?)
    }

    /// Records a person's request to the running release. An abort rolls back here and
    /// now (the panic key never waits for the driver) and ends the release as aborted.
    pub async fn request_release(&self, request: Request, by: &str) -> Result<Release, OpError> {
        let verb = match request {
            Request::Abort => "abort",
            Request::Pause => "pause",
            Request::Resume => "resume",
        };
        self.access.check(verb)?;
        let recorded = self.platform.release().await;
        let ops = match &recorded {
            Ok(Some(r)) => self.in_release(&r.id, None),
            _ => self.clone(),
        };
        // A resume is the explicit override of what paused the release (a lasting split
        // mismatch, gates that could not judge): the journal says which.
        let detail = match (&request, &recorded) {
            (Request::Resume, Ok(Some(r))) => match &r.stage {
                Stage::Paused { reason, .. } if !r.is_over() => {
                    format!("overrides the pause: {reason}")
                }
                _ => String::new(),
            },
            _ => String::new(),
        };
        let result = ops.request_unjournaled(request, by, recorded).await;
        ops.journaled(verb, detail, result).await
    }

    async fn request_unjournaled(
        &self,
        request: Request,
        by: &str,
        recorded: Result<Option<Release>, crate::platform::PlatformError>,
    ) -> Result<Release, OpError> {
        let mut r = release::check_request(recorded?)?;
        if request == Request::Abort {
            let moved = !matches!(r.stage, Stage::Deploying | Stage::Smoke);
            if moved {
                self.rollback().await?;
            }
            self.end(&mut r, Outcome::Aborted { by: by.to_string() })
                .await?;
            return Ok(r);
        }
        r.request = Some(request);
        self.platform.record_release(&r).await?;
        Ok(r)
    }

    /// Walks `release` to its end (or, with `until_paused`, to its first pause), recording
    /// every stage. Returns the release as recorded last.
    pub async fn drive_release(
        &self,
        mut r: Release,
        observer: &dyn Observer,
        until_paused: bool,
    ) -> Result<Release, OpError> {
        observer.note(&r, &Note::Started);
        if !r.is_over() {
            // The driver holds the lock for the whole release (`resume` takes an ended one).
            self.lock_drive(&r.id, (r.plan.interval_secs as i64).saturating_mul(1000))
                .await?;
        }
        loop {
            if r.is_over() {
                self.lock_drive_done().await;
                observer.note(&r, &Note::Ended);
                return Ok(r);
            }
            match r.stage.clone() {
                Stage::Deploying => {
                    self.in_release(&r.id, None)
                        .deploy_canary(&mut r, observer)
                        .await?
                }
                Stage::Smoke => self.smoke_test(&mut r, observer).await?,
                Stage::Step { index, since } => {
                    self.hold_step(&mut r, index, since, observer).await?
                }
                Stage::Paused {
                    index,
                    since,
                    reason,
                } => {
                    if until_paused {
                        return Ok(r);
                    }
                    self.hold_paused(&mut r, index, since, &reason, observer)
                        .await?
                }
                Stage::Promoting => {
                    self.in_release(&r.id, None)
                        .promote_canary(&mut r, observer)
                        .await?
                }
                Stage::Done => {
                    self.end(&mut r, Outcome::Released).await?;
                }
            }
        }
    }

    /// Records `r` as driven now.
    async fn record(&self, r: &mut Release) -> Result<(), OpError> {
        if !r.is_over() {
            // The driver's lease, renewed with the record (each stage, every heartbeat): a
            // driver that went away lets it end, and `resume` takes it over.
            self.renew_drive(&r.id, (r.plan.interval_secs as i64).saturating_mul(1000))
                .await?;
        }
        r.driven_at = now_millis();
        self.platform.record_release(r).await?;
        Ok(())
    }

    /// [`Ops::record`], tried again after a failure ([`RECORD_RETRIES`]). A refusal (the
    /// driver's lease taken over) is not retried.
    async fn record_retried(&self, r: &mut Release) -> Result<(), OpError> {
        let mut result = self.record(r).await;
        for wait in RECORD_RETRIES {
            match &result {
                Err(OpError::Platform(e)) => {
                    tracing::warn!(
                        "release {}: the record was not written ({e}); again in {wait:?}",
                        r.id
                    );
                }
                _ => return result,
            }
            tokio::time::sleep(wait).await;
            result = self.record(r).await;
        }
        result
    }

    /// Records `r` during a step. When the record cannot be written while this release splits
    /// the traffic, the release pauses instead of stopping with traffic split
    /// ([`Ops::hold_unrecorded`]): `r.stage` is then `Paused`, and the caller returns.
    async fn record_or_pause(&self, r: &mut Release, obs: &dyn Observer) -> Result<(), OpError> {
        let error = match self.record_retried(r).await {
            Ok(()) => return Ok(()),
            Err(e @ OpError::Platform(_)) if !r.is_over() && r.step_weights().is_some() => e,
            Err(e) => return Err(e),
        };
        self.hold_unrecorded(r, error, obs).await
    }

    /// Where traffic is now and which verbs fix it, for a release that stopped or paused
    /// after it moved traffic: `traffic is at blue 90% / green 10% (…)`.
    async fn traffic_now(&self, r: &Release) -> String {
        let stable = r.canary.other();
        match self.platform.listener().await {
            Ok(l) if l.weights == Weights::all(stable) => {
                format!("traffic is back on {stable} (all of it)")
            }
            Ok(l) => format!(
                "traffic is at {}: `bluegreen rollback` gives {stable} all of it",
                l.weights
            ),
            Err(e) => format!(
                "where traffic is could not be read ({e}); it was at {} when last written: `bluegreen status` shows it, `bluegreen rollback` gives {stable} all of it",
                r.step_weights()
                    .map_or_else(|| "an unknown split".to_string(), |w| w.to_string())
            ),
        }
    }

    /// The record cannot be written and this release splits the traffic: it holds its
    /// weights and keeps judging its gates (a failing gate still rolls back), says where
    /// traffic is and what fixes it, and tries the record again each interval; once written,
    /// the release is recorded paused, for a person to resume or abort.
    async fn hold_unrecorded(
        &self,
        r: &mut Release,
        error: OpError,
        obs: &dyn Observer,
    ) -> Result<(), OpError> {
        let (index, since) = match r.stage {
            Stage::Step { index, since } => (Some(index), since),
            Stage::Paused { index, since, .. } => (index, since),
            _ => (None, now_millis()),
        };
        let traffic = self.traffic_now(r).await;
        let reason = format!(
            "paused: the release record could not be written ({error}); {traffic}; the release holds its weights and its gates, and once the record is written it waits for `bluegreen resume` (go on) or `bluegreen abort` (roll back)"
        );
        tracing::warn!("release {}: {reason}", r.id);
        obs.note(
            r,
            &Note::Paused {
                reason: reason.clone(),
            },
        );
        let interval = Duration::from_secs(r.plan.interval_secs.max(1));
        loop {
            tokio::time::sleep(interval).await;
            let (results, judged, _) = self.check_gates(r, since).await;
            let why = "a gate failed while the record could not be written";
            if let Some(ended) = self
                .roll_back_if_failed(r, index, &results, judged, why)
                .await
            {
                return ended;
            }
            r.gates = results;
            r.stage = Stage::Paused {
                index,
                since: now_millis(),
                reason: reason.clone(),
            };
            if self.record(r).await.is_ok() {
                if let Some(i) = index {
                    self.journal_step(r, i, Vec::new(), &reason).await;
                }
                return Ok(());
            }
        }
    }

    /// Ends `r` with `outcome`, recorded and journaled.
    pub(super) async fn end_release(
        &self,
        r: &mut Release,
        outcome: Outcome,
    ) -> Result<(), OpError> {
        self.end(r, outcome).await
    }

    async fn end(&self, r: &mut Release, outcome: Outcome) -> Result<(), OpError> {
        r.outcome = Some(outcome);
        r.stage = Stage::Done;
        r.request = None;
        r.ended_at = Some(now_millis());
        let recorded = self.record(r).await;
        self.journal_release(r, journal::RELEASE_END).await;
        recorded
    }

    /// Ends the release as failed with `e`, recorded, and returns `e` for the caller. After
    /// traffic moved, the reason (and `e`) say where traffic is and what gives it back.
    async fn fail(&self, r: &mut Release, e: OpError) -> OpError {
        let moved = r.step_weights().is_some() || matches!(r.stage, Stage::Promoting);
        let (reason, e) = if moved {
            let traffic = self.traffic_now(r).await;
            (format!("{e}; {traffic}"), with_detail(e, &traffic))
        } else {
            (e.to_string(), e)
        };
        let _ = self.end(r, Outcome::Failed { reason }).await;
        e
    }

    async fn deploy_canary(&self, r: &mut Release, obs: &dyn Observer) -> Result<(), OpError> {
        let receipt = match self.deploy(&r.tag, Some(r.canary)).await {
            Ok(receipt) => receipt,
            Err(e) => return Err(self.fail(r, e).await),
        };
        r.desired = receipt.desired;
        obs.note(
            r,
            &Note::Deployed {
                task_definition: receipt.task_definition.clone(),
            },
        );
        if let Err(e) = self.wait(&WaitFor::Healthy(r.canary), DEPLOY_TIMEOUT).await {
            return Err(self.fail(r, e).await);
        }
        obs.note(r, &Note::Healthy);
        // The test listener shows the canary alone for the smoke test.
        if let Err(e) = self.platform.point_test_listener(r.canary).await {
            return Err(self.fail(r, e.into()).await);
        }
        r.stage = Stage::Smoke;
        self.record(r).await
    }

    async fn smoke_test(&self, r: &mut Release, obs: &dyn Observer) -> Result<(), OpError> {
        match self
            .platform
            .smoke_elsewhere(r.canary, &r.options.smoke)
            .await
        {
            Ok(None) => self.smoke_here(r, obs).await?,
            Ok(Some(SmokeRun::Skipped { reason })) => {
                let line = format!("skipped, as the profile says: {reason}");
                let mut e = self
                    .in_release(&r.id, None)
                    .journal_entry(journal::SMOKE_SKIPPED);
                e.message = Some(format!("smoke test {line}"));
                self.append_journal(e).await;
                obs.note(r, &Note::Smoke { line });
            }
            Ok(Some(SmokeRun::Task {
                task,
                exit_code,
                why,
                lines,
            })) => {
                for line in &lines {
                    obs.note(
                        r,
                        &Note::Smoke {
                            line: format!("task {task}: {line}"),
                        },
                    );
                }
                if exit_code != Some(0) {
                    let tail: Vec<&str> = lines
                        .iter()
                        .rev()
                        .take(SMOKE_TASK_LINES_SHOWN)
                        .rev()
                        .map(String::as_str)
                        .collect();
                    let response = if tail.is_empty() {
                        format!("{why}; the task logged nothing")
                    } else {
                        format!("{why}; its last lines: {}", tail.join(" | "))
                    };
                    return self
                        .smoke_failed(r, format!("one-off task {task}"), response)
                        .await;
                }
                obs.note(
                    r,
                    &Note::Smoke {
                        line: format!(
                            "passed in one-off task {task} ({} checks, exit code 0)",
                            r.options.smoke.len()
                        ),
                    },
                );
            }
            Err(e) => {
                return self
                    .smoke_failed(r, "the smoke task".into(), format!("no answer: {e}"))
                    .await;
            }
        }
        if r.is_over() {
            return Ok(());
        }
        if r.plan.steps.is_empty() {
            r.stage = Stage::Promoting;
            return self.record(r).await;
        }
        self.enter_step(r, 0, obs).await
    }

    /// Ends `r` as failed at its smoke test, the canary scaled in if the release says so.
    async fn smoke_failed(
        &self,
        r: &mut Release,
        check: String,
        response: String,
    ) -> Result<(), OpError> {
        if r.options.scale_in_on_rollback {
            let _ = self.platform.scale(r.canary, 0).await;
        }
        self.end(r, Outcome::SmokeFailed { check, response }).await
    }

    /// The checks one GET at a time through the test listener (or the profile's URL).
    async fn smoke_here(&self, r: &mut Release, obs: &dyn Observer) -> Result<(), OpError> {
        for check in r.options.smoke.clone() {
            let answer = self.platform.smoke_get(&check.path, SMOKE_TIMEOUT).await;
            let failure = match &answer {
                Ok(a) => check.judge(a.status, &a.body, a.latency_ms).map(|why| {
                    let body: String = a.body.chars().take(200).collect();
                    format!("{why}; body: {}", body.trim())
                }),
                Err(e) => Some(format!("no answer: {e}")),
            };
            if let Some(response) = failure {
                return self.smoke_failed(r, check.to_string(), response).await;
            }
            let latency_ms = answer.map(|a| a.latency_ms).unwrap_or(0);
            obs.note(
                r,
                &Note::SmokePassed {
                    check: check.to_string(),
                    latency_ms,
                },
            );
        }
        Ok(())
    }

    /// Sets step `index`'s weights with one verified change; a change not applied or unknown
    /// ends the release as failed with that outcome, and no next step is taken.
    async fn enter_step(
        &self,
        r: &mut Release,
        index: usize,
        obs: &dyn Observer,
    ) -> Result<(), OpError> {
        // Someone may have aborted meanwhile: never move traffic for a release that ended.
        if let Some(latest) = self.platform.release().await?
            && latest.id == r.id
            && latest.is_over()
        {
            *r = latest;
            return Ok(());
        }
        let Some(weights) = r.plan.weights_at(index, r.canary) else {
            r.stage = Stage::Promoting;
            return self.record(r).await;
        };
        match self
            .in_release(&r.id, Some(index))
            .shift(weights, false)
            .await
        {
            Ok(_) => {}
            Err(e) => return Err(self.fail(r, e).await),
        }
        r.stage = Stage::Step {
            index,
            since: now_millis(),
        };
        r.gates.clear();
        r.split = None;
        obs.note(r, &Note::StepEntered { index, weights });
        self.record_or_pause(r, obs).await
    }

    /// Waits until the step at `since` has a metrics window of its own.
    async fn first_window(&self, since: i64) {
        let resolution = self.platform.info().metrics_resolution_ms;
        let ready = since.saturating_add(plan::first_window_ms(resolution) as i64);
        let wait = ready - now_millis();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }

    /// Reads the gates' inputs and evaluates them; with them, the requests per color of the
    /// same window (the step's own), for its split (`Err` when they could not be read).
    async fn check_gates(
        &self,
        r: &Release,
        since: i64,
    ) -> (Vec<GateResult>, Interval, Result<PerColor<u64>, String>) {
        let resolution = self.platform.info().metrics_resolution_ms;
        let window = plan::window_secs(since, now_millis(), resolution).unwrap_or(1);
        let healthy = match self.platform.target_health(r.canary).await {
            Ok(t) => healthy_count(&t),
            Err(_) => 0,
        };
        let metrics = self.platform.metrics(window).await;
        let per_period = self.platform.info().metrics_per_period;
        let requests = match &metrics {
            Ok(Some(m)) => Ok(split::requests_after(m, since, per_period)),
            Ok(None) => Err("this platform has no metrics".to_string()),
            Err(e) => Err(format!("metrics could not be read: {e}")),
        };
        // Only the periods after the step's write are the step's (gate::window_after).
        let (canary, stable) = match metrics {
            Ok(Some(m)) => (
                Ok(gate::window_after(m.get(r.canary), since, per_period)),
                gate::window_after(m.get(r.canary.other()), since, per_period),
            ),
            Ok(None) => (Err("this platform has no metrics".to_string()), None),
            Err(e) => (Err(e.to_string()), None),
        };
        let alarms = if r.plan.gates.alarms.is_empty() {
            Ok(Vec::new())
        } else {
            self.platform
                .alarms(&r.plan.gates.alarms)
                .await
                .map_err(|e| e.to_string())
        };
        let canary_point = canary.as_ref().ok().copied().flatten();
        let input = GateInput {
            healthy,
            desired: r.desired,
            canary,
            stable,
            alarms,
        };
        let results = gate::evaluate(&r.plan.gates, r.canary, &input);
        let (blue, green) = match r.canary {
            crate::rollout::Color::Blue => (canary_point, stable),
            crate::rollout::Color::Green => (stable, canary_point),
        };
        let interval = Interval {
            at: now_millis(),
            weights: r.step_weights(),
            blue,
            green,
            gates: results.clone(),
        };
        (results, interval, requests)
    }

    /// Picks up a request recorded by another console; `true` when the release ended
    /// meanwhile (an abort) and the driver must stop.
    async fn pick_up_request(&self, r: &mut Release) -> Result<bool, OpError> {
        let Some(latest) = self.platform.release().await? else {
            return Ok(false);
        };
        if latest.id != r.id {
            // Another release replaced this one: this driver has nothing left to do.
            *r = latest;
            return Ok(true);
        }
        if latest.is_over() {
            *r = latest;
            return Ok(true);
        }
        r.request = latest.request;
        Ok(false)
    }

    async fn hold_step(
        &self,
        r: &mut Release,
        index: usize,
        since: i64,
        obs: &dyn Observer,
    ) -> Result<(), OpError> {
        let interval = Duration::from_secs(r.plan.interval_secs);
        // The verdicts last recorded (the gates', then the split's kind): the record is
        // rewritten when they change, or at the heartbeat.
        let mut recorded_verdicts: Option<(Vec<Verdict>, SplitKey)> = None;
        // The step's gate intervals, journaled in one entry when the step ends.
        let mut intervals: Vec<Interval> = Vec::new();
        self.first_window(since).await;
        loop {
            if self.pick_up_request(r).await? {
                self.journal_step(r, index, intervals, "the release ended meanwhile")
                    .await;
                return Ok(());
            }
            if r.request.take() == Some(Request::Pause) {
                self.journal_step(r, index, intervals, "paused by request")
                    .await;
                r.stage = Stage::Paused {
                    index: Some(index),
                    since: now_millis(),
                    reason: "paused by request".into(),
                };
                self.record(r).await?;
                obs.note(
                    r,
                    &Note::Paused {
                        reason: "paused by request".into(),
                    },
                );
                return Ok(());
            }
            let (results, judged, requests) = self.check_gates(r, since).await;
            intervals.push(judged);
            if intervals.len() > journal::MAX_INTERVALS {
                intervals.remove(0);
            }
            let gated = plan::decide(&r.plan, index, since, now_millis(), &results);
            // The step counts as reached only when its own requests show its weights.
            let desired = r.step_weights().unwrap_or(Weights::all(r.canary.other()));
            let measured = requests.map(|counts| split::judge(desired, counts));
            let (decision, judged_split) = step_split::reached(
                index,
                gated,
                measured,
                r.split.as_ref(),
                // Recorded with the release, or given to this driver (`--accept-unmeasured
                // resume` on AWS).
                r.options.accept_unmeasured || self.accepts_unmeasured(),
            );
            let verdicts = Some((
                results.iter().map(|g| g.verdict).collect::<Vec<_>>(),
                split_key(&judged_split),
            ));
            r.gates = results;
            r.split = Some(judged_split);
            match decision {
                StepDecision::RollBack { failed } => {
                    self.journal_step(r, index, intervals, "a gate failed: rolling back")
                        .await;
                    return self.roll_back(r, failed).await;
                }
                StepDecision::Hold { left_ms } => {
                    obs.note(r, &Note::Gates { index, left_ms });
                    if verdicts != recorded_verdicts || now_millis() - r.driven_at >= HEARTBEAT_MS {
                        self.record_or_pause(r, obs).await?;
                        if matches!(r.stage, Stage::Paused { .. }) {
                            return Ok(());
                        }
                        recorded_verdicts = verdicts;
                    }
                    // The last check lands on the hold's end; after it, a step waiting for a
                    // conclusive verdict checks once per interval.
                    let nap = match left_ms {
                        0 => interval,
                        left => interval.min(Duration::from_millis(left)),
                    };
                    tokio::time::sleep(nap).await;
                }
                StepDecision::Advance => {
                    obs.note(r, &Note::Gates { index, left_ms: 0 });
                    let why = match r.split.as_ref() {
                        Some(s) if s.accepted_unmeasured => format!(
                            "the gates passed; {}: next step",
                            s.describe().unwrap_or_default()
                        ),
                        _ => {
                            "the gates passed and the requests showed the step's weights: next step"
                                .to_string()
                        }
                    };
                    self.journal_step(r, index, intervals, &why).await;
                    return self.enter_step(r, index + 1, obs).await;
                }
                StepDecision::Pause { reason } => {
                    self.journal_step(r, index, intervals, &format!("paused: {reason}"))
                        .await;
                    r.stage = Stage::Paused {
                        index: Some(index),
                        since: now_millis(),
                        reason: reason.clone(),
                    };
                    obs.note(r, &Note::Paused { reason });
                    return self.record_or_pause(r, obs).await;
                }
            }
        }
    }

    /// A paused release keeps its weight and its gates: a failing gate still rolls back.
    async fn hold_paused(
        &self,
        r: &mut Release,
        index: Option<usize>,
        paused_since: i64,
        _reason: &str,
        obs: &dyn Observer,
    ) -> Result<(), OpError> {
        let interval = Duration::from_secs(r.plan.interval_secs);
        loop {
            if self.pick_up_request(r).await? {
                return Ok(());
            }
            if r.request.take() == Some(Request::Resume) {
                obs.note(r, &Note::Resumed);
                return match index {
                    Some(i) => self.enter_step(r, i + 1, obs).await,
                    None => self.enter_step(r, 0, obs).await,
                };
            }
            if let Some(step) = index {
                let (results, judged, _) = self.check_gates(r, paused_since).await;
                let why = "a gate failed while paused";
                if let Some(ended) = self
                    .roll_back_if_failed(r, Some(step), &results, judged, why)
                    .await
                {
                    return ended;
                }
                r.gates = results;
            }
            if now_millis() - r.driven_at >= HEARTBEAT_MS {
                self.record_or_pause(r, obs).await?;
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// When a gate of `results` fails: journals the step's check with `why` and rolls back
    /// (`Some`, the roll back's answer); `None` when none fails.
    async fn roll_back_if_failed(
        &self,
        r: &mut Release,
        index: Option<usize>,
        results: &[GateResult],
        judged: Interval,
        why: &str,
    ) -> Option<Result<(), OpError>> {
        let failed = gate::failed(results)?;
        if let Some(i) = index {
            self.journal_step(r, i, vec![judged], why).await;
        }
        r.gates = results.to_vec();
        Some(self.roll_back(r, failed).await)
    }

    /// The one weight change that rollback is, then the record; the canary keeps running
    /// (at 0%) unless the release scales it in.
    async fn roll_back(&self, r: &mut Release, failed: Vec<GateResult>) -> Result<(), OpError> {
        let reason = failed
            .iter()
            .map(|g| g.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        let step = match r.stage {
            Stage::Step { index, .. } => Some(index),
            Stage::Paused { index, .. } => index,
            _ => None,
        };
        let report = match self.in_release(&r.id, step).rollback().await {
            Ok(rep) => rep,
            Err(e) => {
                let traffic = self.traffic_now(r).await;
                let outcome = Outcome::Failed {
                    reason: format!(
                        "a gate failed ({reason}) and the rollback did not complete: {e}; {traffic}"
                    ),
                };
                let _ = self.end(r, outcome).await;
                return Err(with_detail(e, &traffic));
            }
        };
        debug_assert_eq!(report.change.outcome(), WeightOutcome::Applied);
        if r.options.scale_in_on_rollback
            && let Err(e) = self.platform.scale(r.canary, 0).await
        {
            tracing::warn!("rolled back, but scaling {} in failed: {e}", r.canary);
        }
        self.end(r, Outcome::RolledBack { reason, failed }).await
    }

    /// The gates during the console's bake, on the periods after the promote's write at
    /// `promoted_at` only ([`gate::window_after`], as a step's): the minute that straddles the
    /// promote holds the canary's requests at its last step's weight, and the ones before it
    /// the step's own; neither is the bake's. A failing gate undoes the promote (rollback
    /// within the bake gives the old color all traffic) and ends the release rolled back.
    async fn bake_gates(&self, r: &mut Release, promoted_at: i64) -> Option<Result<(), OpError>> {
        let (results, judged, _) = self.check_gates(r, promoted_at).await;
        let why = "a gate failed during the bake: undoing the promote";
        if let Some(ended) = self
            .roll_back_if_failed(r, None, &results, judged, why)
            .await
        {
            return Some(ended);
        }
        r.gates = results;
        None
    }

    async fn promote_canary(&self, r: &mut Release, obs: &dyn Observer) -> Result<(), OpError> {
        let opts = PromoteOptions {
            bake: Duration::from_secs(r.options.bake_secs),
            keep_old: r.options.keep_old,
        };
        let pending = Some(self.platform.listener().await?.weights);
        let ops = self
            .clone()
            .with_accept_unmeasured(self.accepts_unmeasured() || r.options.accept_unmeasured);
        let report = match ops.promote(opts, pending).await {
            Ok(rep) => rep,
            Err(e) => return Err(self.fail(r, e).await),
        };
        // The promote's write is done: the bake's gates judge only what came after it.
        let promoted_at = now_millis();
        obs.note(r, &Note::Promoted);
        if !report.platform_finishes_bake
            && let Some(b) = &report.bake
        {
            // The console finishes the bake on AWS: it judges the gates each interval (a
            // failing gate undoes the promote) and keeps the record alive while it waits.
            let interval = Duration::from_secs(r.plan.interval_secs.max(1));
            loop {
                let left = b.until - now_millis();
                if left <= 0 {
                    break;
                }
                if self.pick_up_request(r).await? {
                    return Ok(());
                }
                if let Some(ended) = self.bake_gates(r, promoted_at).await {
                    return ended;
                }
                self.record(r).await?;
                tokio::time::sleep(
                    interval
                        .min(Duration::from_millis(HEARTBEAT_MS as u64))
                        .min(Duration::from_millis(left as u64)),
                )
                .await;
            }
            if let Err(e) = ops.finish_bake().await {
                return Err(self.fail(r, e).await);
            }
        }
        self.end(r, Outcome::Released).await
    }
}

/// `e` with `detail` added to its message (where traffic is, what fixes it).
fn with_detail(e: OpError, detail: &str) -> OpError {
    match e {
        OpError::Platform(PlatformError::Call {
            call,
            resource,
            fault,
            iam_action,
            message,
        }) => OpError::Platform(PlatformError::Call {
            call,
            resource,
            fault,
            iam_action,
            message: format!("{message}; {detail}"),
        }),
        OpError::Platform(PlatformError::TimedOut { what, after_secs }) => {
            OpError::Platform(PlatformError::TimedOut {
                what: format!("{what} ({detail})"),
                after_secs,
            })
        }
        OpError::Platform(PlatformError::Config(m)) => {
            OpError::Platform(PlatformError::Config(format!("{m}; {detail}")))
        }
        other => other,
    }
}

/// What changes in a step's split that is worth a record: its kind, how long a mismatch has
/// lasted, and the override (the growing request count is shown live, and at the heartbeat).
type SplitKey = (&'static str, u32, bool);

fn split_key(s: &StepSplit) -> SplitKey {
    let kind = match s.verdict {
        Some(SplitVerdict::Matches { .. }) => "matches",
        Some(SplitVerdict::Mismatch { .. }) => "mismatch",
        Some(SplitVerdict::TooFewRequests { .. }) => "too-few",
        None => "unmeasured",
    };
    (kind, s.mismatched, s.accepted_unmeasured)
}
