//! The stages a release driver walks ([`Ops::drive_release`]): recording, the canary's
//! deploy and smoke test, each step's hold with its gates and split, a pause, the roll back
//! and the promote with its bake.
//!
//! Over 700 lines on purpose: these stages are one state machine, each ending by recording
//! the next stage and most sharing the same record-or-pause and roll-back paths; split in
//! two, a reader would follow one release across files at every stage change.

use std::time::Duration;

use super::{
    DEPLOY_TIMEOUT, HEARTBEAT_MS, Note, Observer, RECORD_RETRIES, SMOKE_TASK_LINES_SHOWN,
    SMOKE_TIMEOUT,
};
use crate::clock::now_millis;
use crate::ops::{OpError, Ops, PromoteOptions, WaitFor};
use crate::platform::{PlatformError, SmokeRun, WeightOutcome};
use crate::rollout::gate::{self, GateInput, GateResult, Verdict};
use crate::rollout::journal::{self, Interval};
use crate::rollout::plan::{self, StepDecision};
use crate::rollout::release::{Outcome, Request, Stage};
use crate::rollout::split::{self, SplitVerdict};
use crate::rollout::step_split::{self, StepSplit};
use crate::rollout::{PerColor, Release, Weights, healthy_count};

impl Ops {
    /// Records `r` as driven now.
    pub(super) async fn record(&self, r: &mut Release) -> Result<(), OpError> {
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
    pub(super) async fn record_retried(&self, r: &mut Release) -> Result<(), OpError> {
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
    pub(super) async fn record_or_pause(
        &self,
        r: &mut Release,
        obs: &dyn Observer,
    ) -> Result<(), OpError> {
        let error = match self.record_retried(r).await {
            Ok(()) => return Ok(()),
            Err(e @ OpError::Platform(_)) if !r.is_over() && r.step_weights().is_some() => e,
            Err(e) => return Err(e),
        };
        self.hold_unrecorded(r, error, obs).await
    }

    /// Where traffic is now and which verbs fix it, for a release that stopped or paused
    /// after it moved traffic: `traffic is at blue 90% / green 10% (…)`.
    pub(super) async fn traffic_now(&self, r: &Release) -> String {
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
    pub(super) async fn hold_unrecorded(
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
    pub(in crate::ops) async fn end_release(
        &self,
        r: &mut Release,
        outcome: Outcome,
    ) -> Result<(), OpError> {
        self.end(r, outcome).await
    }

    pub(super) async fn end(&self, r: &mut Release, outcome: Outcome) -> Result<(), OpError> {
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
    pub(super) async fn fail(&self, r: &mut Release, e: OpError) -> OpError {
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

    pub(super) async fn deploy_canary(
        &self,
        r: &mut Release,
        obs: &dyn Observer,
    ) -> Result<(), OpError> {
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

    pub(super) async fn smoke_test(
        &self,
        r: &mut Release,
        obs: &dyn Observer,
    ) -> Result<(), OpError> {
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
    pub(super) async fn smoke_failed(
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
    pub(super) async fn smoke_here(
        &self,
        r: &mut Release,
        obs: &dyn Observer,
    ) -> Result<(), OpError> {
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
    pub(super) async fn enter_step(
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
    pub(super) async fn first_window(&self, since: i64) {
        let resolution = self.platform.info().metrics_resolution_ms;
        let ready = since.saturating_add(plan::first_window_ms(resolution) as i64);
        let wait = ready - now_millis();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }

    /// Reads the gates' inputs and evaluates them; with them, the requests per color of the
    /// same window (the step's own), for its split (`Err` when they could not be read).
    pub(super) async fn check_gates(
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
    pub(super) async fn pick_up_request(&self, r: &mut Release) -> Result<bool, OpError> {
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

    pub(super) async fn hold_step(
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
    pub(super) async fn hold_paused(
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
    pub(super) async fn roll_back_if_failed(
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
    pub(super) async fn roll_back(
        &self,
        r: &mut Release,
        failed: Vec<GateResult>,
    ) -> Result<(), OpError> {
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
    pub(super) async fn bake_gates(
        &self,
        r: &mut Release,
        promoted_at: i64,
    ) -> Option<Result<(), OpError>> {
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

    pub(super) async fn promote_canary(
        &self,
        r: &mut Release,
        obs: &dyn Observer,
    ) -> Result<(), OpError> {
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
