//! The guard's watcher: every interval it reads what the guard needs, lets
//! [`crate::rollout::watch`] decide, and carries the decision out with the one weight call
//! rollback already is ([`Ops::rollback_because`]). The same code watches in the local daemon
//! and, on AWS, in whichever process holds the watch lease.
//!
//! Per interval: one snapshot, one release read, one metrics read (and the alarms, when the
//! profile names some); during a bake one more metrics read, once, for the baseline.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Ops;
use crate::clock::now_millis;
use crate::rollout::gate::{self, Verdict};
use crate::rollout::journal::Outcome;
use crate::rollout::watch::{self, Decision, GuardAction, WatchRecord, WatchSettings, Watched};
use crate::rollout::{Color, MetricPoint, UnixMillis};

/// A bake (its old color and its promote's write) and the baseline read for it.
type Baseline = ((Color, Option<UnixMillis>), Option<MetricPoint>);

/// What the watcher remembers between intervals.
#[derive(Debug, Default)]
pub struct WatchMemo {
    /// The bake whose baseline was read (its old color and promote), and the baseline.
    baseline: Option<Baseline>,
    /// The judgement a warning was journaled for: one entry per failing episode, not one per
    /// interval.
    warned: Option<Watched>,
    /// What the guard did last.
    pub last_action: Option<GuardAction>,
}

impl Ops {
    /// One judgement of the guard, carried out: the record to show.
    pub async fn watch_once(&self, settings: &WatchSettings, memo: &mut WatchMemo) -> WatchRecord {
        let now = now_millis();
        let mut rec = WatchRecord::starting(&self.operator.to_string(), settings, now);
        rec.last_action = memo.last_action.clone();
        let snap = match self.platform.snapshot().await {
            Ok(s) => s,
            Err(e) => {
                rec.note = Some(format!("the platform could not be read: {e}"));
                return rec;
            }
        };
        // A release whose driver judges its step must be known, or the guard could act on
        // the same interval as the driver: without it, nothing is judged.
        let release = match self.platform.release().await {
            Ok(r) => r,
            Err(e) => {
                rec.note = Some(format!("the release record could not be read: {e}"));
                return rec;
            }
        };
        let unguarded = snap
            .listener
            .guard
            .as_ref()
            .and_then(|g| g.unguarded.clone());
        rec.unguarded = unguarded.clone();
        let watched = match watch::assess(
            settings.guard.mode,
            &snap.listener,
            release.as_ref(),
            unguarded.as_ref(),
            now,
        ) {
            Ok(w) => w,
            Err(idle) => {
                rec.idle = Some(idle);
                memo.warned = None;
                return rec;
            }
        };
        rec.watching = Some(watched.clone());
        let info = self.platform.info();
        let Some(window) = watch::window_secs(
            &watched,
            now,
            info.metrics_resolution_ms,
            info.metrics_per_period,
        ) else {
            rec.verdict = Some(Verdict::Inconclusive);
            rec.note = Some("the weights were written too recently to judge".into());
            return rec;
        };
        let baseline = match &watched {
            Watched::Bake { old, since, .. } => self.baseline(memo, *old, *since, settings).await,
            Watched::Shift { .. } => None,
        };
        let metrics = self
            .platform
            .metrics(window)
            .await
            .map_err(|e| e.to_string());
        let judged = snap.colors.get(watched.judged());
        let alarms = if settings.gates.alarms.is_empty() {
            Ok(Vec::new())
        } else {
            self.platform
                .alarms(&settings.gates.alarms)
                .await
                .map_err(|e| e.to_string())
        };
        let input = watch::gate_input(
            &watched,
            metrics,
            info.metrics_per_period,
            judged.healthy_targets(),
            judged.service.desired,
            baseline,
            alarms,
        );
        let results = watch::evaluate(&settings.gates, &watched, &input);
        rec.verdict = Some(gate::overall(&results));
        rec.gates = results.clone();
        rec.baseline = baseline;
        match watch::decide(settings.guard.mode, &watched, &results) {
            Decision::Pass => memo.warned = None,
            Decision::Inconclusive { .. } => {}
            Decision::Warn { failed } => {
                if memo.warned.as_ref() != Some(&watched) {
                    self.journal_warning(&watched, &failed).await;
                    memo.warned = Some(watched.clone());
                    memo.last_action = Some(GuardAction {
                        at: now_millis(),
                        action: "warned".into(),
                        watched: watched.clone(),
                        failed,
                        detail: Some("mode = \"warn\": nothing written".into()),
                    });
                }
            }
            Decision::RollBack { failed, .. } => {
                let why = watch::rollback_reason(&watched, &failed);
                tracing::warn!("{why}");
                let (action, detail) = match self.rollback_because(why).await {
                    Ok(report) => ("rolled back", format!("{} has all traffic", report.target)),
                    Err(e) => ("rollback failed", e.to_string()),
                };
                memo.last_action = Some(GuardAction {
                    at: now_millis(),
                    action: action.into(),
                    watched: watched.clone(),
                    failed,
                    detail: Some(detail),
                });
            }
        }
        rec.last_action = memo.last_action.clone();
        rec
    }

    /// The bake's baseline ([`watch::baseline`]), read once per bake.
    async fn baseline(
        &self,
        memo: &mut WatchMemo,
        old: Color,
        since: Option<UnixMillis>,
        settings: &WatchSettings,
    ) -> Option<MetricPoint> {
        if let Some((key, base)) = &memo.baseline
            && *key == (old, since)
        {
            return *base;
        }
        let info = self.platform.info();
        let base = match since
            .and_then(|at| watch::baseline_window_secs(at, now_millis()).zip(Some(at)))
        {
            Some((secs, at)) => match self.platform.metrics(secs).await {
                Ok(Some(m)) => watch::baseline(
                    m.get(old),
                    at,
                    info.metrics_per_period,
                    settings.gates.min_requests,
                ),
                // Read again at the next interval.
                Ok(None) | Err(_) => return None,
            },
            None => None,
        };
        memo.baseline = Some(((old, since), base));
        base
    }

    /// Journals what the guard would have done (`mode = "warn"`): one entry, nothing written.
    async fn journal_warning(
        &self,
        watched: &Watched,
        failed: &[crate::rollout::gate::GateResult],
    ) {
        let mut e = self.journal_entry("guard-warn");
        e.outcome = Outcome::Refused;
        e.message = Some(format!(
            "the guard would roll back {}, but mode = \"warn\": nothing written: {}",
            watched.describe(),
            watch::describe_failed(failed)
        ));
        self.append_journal(e).await;
    }

    /// Watches until `stop`: judges every interval with the settings `settings` gives at the
    /// time, and hands each record to `record`.
    pub async fn watch_until(
        &self,
        settings: impl Fn() -> WatchSettings,
        record: impl Fn(WatchRecord),
        stop: CancellationToken,
    ) {
        let mut memo = WatchMemo::default();
        loop {
            let s = settings();
            let rec = self.watch_once(&s, &mut memo).await;
            record(rec);
            let interval = Duration::from_secs(s.guard.interval_secs.max(1));
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}
