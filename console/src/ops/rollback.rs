//! `rollback`: the rollback target to 100% with one weight change, needing only the listener
//! and target health; the stable record and the test listener follow, as warnings when they
//! fail. Never blocked by a lock, a running release or a pending bake.

use serde::{Deserialize, Serialize};

use super::{OpError, Ops, lock, verified};
use crate::platform::WeightChange;
use crate::rollout::{Color, PerColor, Weights, guard, healthy_count};

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackReport {
    pub target: Color,
    pub change: WeightChange,
    /// Follow-up calls that failed after the weights were in force (stable tag, test listener):
    /// reported, never fatal.
    pub warnings: Vec<String>,
    /// The deploy lock's lease this rollback took over (it is never blocked by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_over_from: Option<Box<crate::rollout::lock::LockRecord>>,
    /// Nothing needed changing (the target had all traffic, no bake or release was
    /// pending): nothing was written, and nobody's lock was taken.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unchanged: bool,
    /// The running release this rollback ended (as an abort does), by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_release: Option<String>,
}

impl Ops {
    /// Gives the rollback target 100% with one weight change. Needs only the listener and
    /// target health; stable/bake bookkeeping and the test listener follow afterwards.
    ///
    /// A rollback that would change nothing writes nothing, and so takes nobody's lock over
    /// ([`guard::rollback_changes_nothing`]). A person's rollback during a release ends the
    /// release, as an abort does; the release's own rollback (a failed gate) ends it itself.
    pub async fn rollback(&self) -> Result<RollbackReport, OpError> {
        self.rollback_because(String::new()).await
    }

    /// [`Ops::rollback`], its journal entry saying why (`rolled back by the guard: …`, with
    /// the failed gates' values and thresholds). Empty: a person's rollback.
    pub async fn rollback_because(&self, why: String) -> Result<RollbackReport, OpError> {
        self.access.check("rollback")?;
        // The one read the rollback needs anyway; a release record is read only when the
        // listener shows nothing to change.
        let listener = self.platform.listener().await;
        if let Ok(l) = &listener
            && let Some(report) = self.rollback_noop(l).await
        {
            return Ok(report);
        }
        let lock = self.lock("rollback", "rollback", "").await?;
        let mut result = match listener {
            Ok(l) => self.rollback_unjournaled(&lock, l).await,
            Err(e) => Err(e.into()),
        };
        if let Ok(report) = &mut result
            && self.journal_release.is_none()
        {
            report.ended_release = self.end_release_after_rollback(&mut report.warnings).await;
        }
        self.journaled("rollback", why, result).await
    }

    /// The report of a rollback with nothing to do, or `None` when it has something to do
    /// (or that cannot be told: then it goes ahead as usual).
    pub(super) async fn rollback_noop(
        &self,
        listener: &crate::rollout::Listener,
    ) -> Option<RollbackReport> {
        guard::rollback_changes_nothing(listener, false)?;
        let running = match self.platform.release().await {
            Ok(r) => r.is_some_and(|r| !r.is_over()),
            Err(_) => return None,
        };
        let target = guard::rollback_changes_nothing(listener, running)?;
        Some(RollbackReport {
            target,
            change: WeightChange {
                previous: Some(listener.weights),
                desired: listener.weights,
                observed: Some(listener.weights),
                write_error: None,
                read_error: None,
            },
            warnings: Vec::new(),
            taken_over_from: None,
            unchanged: true,
            ended_release: None,
        })
    }

    /// Ends the running release, if any, as aborted by this operator: its weights were just
    /// rolled back, so its driver must take no further step. Returns its id.
    pub(super) async fn end_release_after_rollback(
        &self,
        warnings: &mut Vec<String>,
    ) -> Option<String> {
        let r = match self.platform.release().await {
            Ok(Some(r)) if !r.is_over() => r,
            Ok(_) => return None,
            Err(e) => {
                warnings.push(format!(
                    "the release record could not be read to end a running release: {e}"
                ));
                return None;
            }
        };
        let by = format!("{} (rollback)", self.operator);
        let mut ended = r.clone();
        let ops = self.in_release(&r.id, None);
        match ops
            .end_release(&mut ended, crate::rollout::release::Outcome::Aborted { by })
            .await
        {
            Ok(()) => Some(r.id),
            Err(e) => {
                warnings.push(format!(
                    "release {} could not be ended after the rollback: {e}; `bluegreen abort` ends it",
                    r.id
                ));
                None
            }
        }
    }

    pub(super) async fn rollback_unjournaled(
        &self,
        lock: &lock::LockGuard,
        listener: crate::rollout::Listener,
    ) -> Result<RollbackReport, OpError> {
        let mut healthy = PerColor::new(0usize, 0usize);
        for color in guard::rollback_candidates(&listener) {
            let targets = self.platform.target_health(color).await?;
            *healthy.get_mut(color) = healthy_count(&targets);
        }
        let target = guard::rollback_target(&listener, |c| *healthy.get(c))?;
        let change = verified(self.platform.set_weights(Weights::all(target)).await)?;
        let mut warnings: Vec<String> = lock.warning.iter().cloned().collect();
        if guard::rollback_rewrites_stable(&listener, target)
            && let Err(e) = self.platform.record_stable(target, None).await
        {
            warnings.push(format!(
                "weights are in force, but recording {target} as stable failed: {e}"
            ));
        }
        if let Err(e) = self.platform.point_test_listener(target.other()).await {
            warnings.push(format!(
                "test listener not repointed to {}: {e}",
                target.other()
            ));
        }
        Ok(RollbackReport {
            target,
            change,
            warnings,
            taken_over_from: lock
                .outcome
                .as_ref()
                .and_then(|o| o.previous.clone().map(Box::new)),
            unchanged: false,
            ended_release: None,
        })
    }
}
