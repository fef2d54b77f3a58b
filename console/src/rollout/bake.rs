//! The bake after a promote: the old color keeps running until the bake ends, so rollback can
//! undo the promote; then it is scaled to zero (unless keep-old). One rule, carried out by
//! whoever drives the bake: the local daemon, the console that promoted, or `promote` resuming.
//!
//! Finishing is two steps, so a rollback that races it is never left without a target:
//! 1. [`bake_step`]: decide from the listener whether the bake ends now, and clear it first;
//! 2. [`scale_in`]: with the bake cleared, read the weights again and only then scale the old
//!    color in.

use serde::{Deserialize, Serialize};

use super::guard::{GuardRule, Refusal};
use super::{Bake, Color, UnixMillis, Weights};

impl Bake {
    /// A bake of `old` that lasts `duration_ms` from `now`. A duration too long to represent
    /// ends at the end of time (it never ends by itself) rather than wrapping into the past.
    pub fn starting(old: Color, now: UnixMillis, duration_ms: u128, keep_old: bool) -> Bake {
        let length = UnixMillis::try_from(duration_ms).unwrap_or(UnixMillis::MAX);
        Bake {
            old,
            until: now.saturating_add(length),
            keep_old,
        }
    }

    /// Whether the bake has run its time at `now`.
    pub fn is_due(&self, now: UnixMillis) -> bool {
        now >= self.until
    }

    /// Milliseconds left at `now` (0 once due).
    pub fn left(&self, now: UnixMillis) -> u64 {
        u64::try_from(self.until.saturating_sub(now)).unwrap_or(0)
    }
}

/// What to do about a pending bake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum BakeStep {
    /// No bake is recorded (or no stable color): nothing to do.
    Nothing,
    /// The bake runs until `until`.
    Baking { until: UnixMillis },
    /// The recorded bake names the stable color as the old one: stale bookkeeping (a
    /// half-written update). Clear it and never scale the color that serves traffic.
    ClearStale { stable: Color },
    /// The bake is due, but traffic moved since the promote: keep the bake pending and the old
    /// color running; scaling it now could drop requests.
    Hold(Refusal),
    /// The bake is due: clear it (stable, no bake), then call [`scale_in`].
    Finish { stable: Color, bake: Bake },
}

/// Decides the bake at `now` from the listener's weights, stable color and bake. Pass
/// `UnixMillis::MAX` as `now` to finish a bake early (an operator asked to).
pub fn bake_step(
    weights: Weights,
    stable: Option<Color>,
    bake: Option<&Bake>,
    now: UnixMillis,
) -> BakeStep {
    let (Some(stable), Some(bake)) = (stable, bake) else {
        return BakeStep::Nothing;
    };
    if bake.old == stable {
        return BakeStep::ClearStale { stable };
    }
    if !bake.is_due(now) {
        return BakeStep::Baking { until: bake.until };
    }
    if weights != Weights::all(stable) {
        return BakeStep::Hold(traffic_moved(
            format!("bake not finished: {stable} is stable but the listener shows {weights}"),
            bake.old,
        ));
    }
    BakeStep::Finish {
        stable,
        bake: bake.clone(),
    }
}

/// After the bake was cleared: the color to scale to zero (`None` with keep-old), given the
/// weights read again now. Refused when traffic moved in between.
pub fn scale_in(
    weights_now: Weights,
    stable: Color,
    bake: &Bake,
) -> Result<Option<Color>, Refusal> {
    if bake.keep_old {
        return Ok(None);
    }
    if weights_now != Weights::all(stable) {
        return Err(traffic_moved(
            format!("bake cleared, but the listener now shows {weights_now}"),
            bake.old,
        ));
    }
    Ok(Some(bake.old))
}

fn traffic_moved(what: String, old: Color) -> Refusal {
    Refusal {
        rule: GuardRule::TrafficMoved,
        reason: format!(
            "{what}: {old} keeps running; scale it down yourself once traffic has left it"
        ),
        overridable: false,
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::prop::config())]

        /// However long the bake and whenever it starts, it ends no earlier than it starts and
        /// its time left never wraps.
        #[test]
        fn a_bake_never_ends_before_it_starts(
            now in any::<UnixMillis>(),
            ms in prop_oneof![any::<u128>(), (0u128..100_000_000), Just(u64::MAX as u128 + 1)],
            later in any::<UnixMillis>(),
            keep_old in any::<bool>(),
        ) {
            let bake = Bake::starting(Color::Blue, now, ms, keep_old);
            prop_assert!(bake.until >= now);
            prop_assert_eq!(bake.until as i128, (now as i128 + ms.min(i64::MAX as u128) as i128).min(i64::MAX as i128));
            prop_assert_eq!(bake.is_due(now), bake.until == now);
            prop_assert!(bake.is_due(bake.until));
            prop_assert_eq!(bake.left(later) == 0, bake.is_due(later));
            prop_assert!(bake.left(now) as u128 <= ms);
        }
    }
}
