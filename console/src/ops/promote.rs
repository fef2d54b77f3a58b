//! `promote` and the end of its bake: the canary to 100% and stable, the old color kept for
//! the bake, then scaled in only when the requests since the promote all reach the stable
//! color ([`crate::rollout::bake`], [`crate::rollout::split`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{OpError, Ops, adopt_resting, lock, verified};
use crate::clock::now_millis;
use crate::platform::WeightChange;
use crate::rollout::{Bake, BakeStep, Color, UnixMillis, Weights, bake, guard, split};

/// Options of a promote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromoteOptions {
    /// How long the old color keeps running before it is scaled to zero.
    pub bake: Duration,
    /// Keep the old color running after the bake.
    pub keep_old: bool,
}

impl Default for PromoteOptions {
    fn default() -> Self {
        PromoteOptions {
            bake: Duration::from_secs(300),
            keep_old: false,
        }
    }
}

/// What a promote did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromoteReport {
    pub promoted: Color,
    pub change: WeightChange,
    pub bake: Option<Bake>,
    /// The platform finishes the bake by itself (local daemon); otherwise the caller should
    /// wait until `bake.until` and call [`Ops::finish_bake`].
    pub platform_finishes_bake: bool,
    /// Follow-up calls that failed after the weights were in force (the test listener):
    /// reported, never fatal.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// How a bake finished: the bake, and the measured split its scale-in relied on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinishedBake {
    pub bake: Bake,
    /// The requests' split since the promote, judged against 100% on the stable color;
    /// `None` when nothing was scaled in (keep-old).
    pub split: Option<split::SplitVerdict>,
    /// The split could not be judged and `--accept-unmeasured` let the scale-in go ahead.
    pub accepted_unmeasured: bool,
}

impl Ops {
    /// Gives the canary 100%, records it as stable with a pending bake, and points the test
    /// listener at the old color. `pending` is the last shift the caller asked for, if any.
    pub async fn promote(
        &self,
        opts: PromoteOptions,
        pending: Option<Weights>,
    ) -> Result<PromoteReport, OpError> {
        self.access.check("promote")?;
        let _lock = self.lock("promote", "promote", "").await?;
        let result = self.promote_unjournaled(opts, pending).await;
        self.journaled("promote", String::new(), result).await
    }

    pub(super) async fn promote_unjournaled(
        &self,
        opts: PromoteOptions,
        pending: Option<Weights>,
    ) -> Result<PromoteReport, OpError> {
        let mut snap = self.platform.snapshot().await?;
        let resting = adopt_resting(&mut snap);
        let finishes = self.platform.info().finishes_bake;
        let target = guard::check_promote(&snap, pending, finishes)?;
        self.record_resting(resting).await?;
        let old = target.other();
        let change = verified(self.platform.set_weights(Weights::all(target)).await)?;
        let bake = Bake::starting(old, now_millis(), opts.bake.as_millis(), opts.keep_old);
        self.platform
            .record_stable(target, Some(bake.clone()))
            .await?;
        // The test listener follows the new idle color; not on any critical path.
        let mut warnings = Vec::new();
        if let Err(e) = self.platform.point_test_listener(old).await {
            warnings.push(format!("test listener not repointed to {old}: {e}"));
        }
        Ok(PromoteReport {
            promoted: target,
            change,
            bake: Some(bake),
            platform_finishes_bake: finishes,
            warnings,
        })
    }

    /// Ends a pending bake now, early or not: clears it, then scales the old color to zero
    /// (unless keep-old), as [`crate::rollout::bake`] decides. Does nothing when no bake is
    /// pending; a stale bake is only cleared.
    pub async fn finish_bake(&self) -> Result<Option<Bake>, OpError> {
        Ok(self.finish_bake_measured().await?.map(|f| f.bake))
    }

    /// [`Ops::finish_bake`], saying what the scale-in relied on. The old color is scaled in
    /// only when the requests since the promote all went to the stable color
    /// ([`split::judge`]); too few requests hold the bake unless `--accept-unmeasured`.
    pub async fn finish_bake_measured(&self) -> Result<Option<FinishedBake>, OpError> {
        self.access.check("promote")?;
        let lock = self.lock("finish bake", "finish-bake", "").await?;
        let result = self.finish_bake_unjournaled(&lock).await;
        // Nothing pending is no write, and no entry.
        if matches!(result, Ok(None)) {
            return result;
        }
        self.journaled("finish-bake", String::new(), result).await
    }

    pub(super) async fn finish_bake_unjournaled(
        &self,
        lock: &lock::LockGuard,
    ) -> Result<Option<FinishedBake>, OpError> {
        let listener = self.platform.listener().await?;
        match listener.bake_step(UnixMillis::MAX) {
            BakeStep::Nothing | BakeStep::Baking { .. } => Ok(None),
            BakeStep::ClearStale { stable } => {
                self.platform.record_stable(stable, None).await?;
                Ok(None)
            }
            BakeStep::Hold(refusal) => Err(refusal.into()),
            BakeStep::Finish { stable, bake } => {
                let (split, accepted_unmeasured) = if bake.keep_old {
                    (None, false)
                } else {
                    let verdict = self.measure_promote(&listener, stable).await;
                    let accepted =
                        split::check_scale_in(&verdict, bake.old, self.accept_unmeasured)?;
                    (Some(verdict), accepted)
                };
                // Cleared first: from here on a rollback targets the stable color, not the old
                // one that is about to go away.
                lock.still_held("finish bake").await?;
                self.platform.record_stable(stable, None).await?;
                let now = self.platform.listener().await?;
                if let Some(old) = bake::scale_in(now.weights, stable, &bake)? {
                    lock.still_held("finish bake").await?;
                    self.platform.scale(old, 0).await?;
                }
                Ok(Some(FinishedBake {
                    bake,
                    split,
                    accepted_unmeasured,
                }))
            }
        }
    }

    /// The requests since the promote's write, judged against all of them on `stable`.
    pub(super) async fn measure_promote(
        &self,
        listener: &crate::rollout::Listener,
        stable: Color,
    ) -> split::SplitVerdict {
        let m = self.measure(listener).await;
        let need = split::MIN_ALL_REQUESTS;
        match m.verdict {
            Some(_) if m.desired == Weights::all(stable) || m.listener == Weights::all(stable) => {
                split::judge(Weights::all(stable), m.requests)
            }
            _ => split::SplitVerdict::TooFewRequests {
                n: m.requests.blue + m.requests.green,
                need,
            },
        }
    }
}
