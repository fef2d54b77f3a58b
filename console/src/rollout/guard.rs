//! Guard rules: what the console refuses to do, and why, in words the UI and CLI show as-is.

use serde::{Deserialize, Serialize};

use super::{Color, Listener, Snapshot, Weights};

/// Which rule refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuardRule {
    /// A shift would give traffic to a color without enough healthy targets.
    UnhealthyTarget,
    /// Promote while the canary is unhealthy.
    PromoteUnhealthy,
    /// Promote while the desired and observed weights disagree.
    NotConverged,
    /// Rollback's target color has no healthy target (scaled to zero, for example).
    RollbackNoTarget,
    /// No stable color is recorded, so there is nothing to roll back or promote from.
    NoStable,
    /// The session or profile is read-only, or the profile needs arming.
    ReadOnly,
}

/// A guard's refusal, with the reason to show and whether `--force` may override it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    pub rule: GuardRule,
    pub reason: String,
    /// `--force` (or the TUI's force option) overrides this refusal.
    pub overridable: bool,
}

impl Refusal {
    fn new(rule: GuardRule, reason: String, overridable: bool) -> Self {
        Refusal {
            rule,
            reason,
            overridable,
        }
    }
}

/// Checks a shift to `desired`. Every color whose share would grow needs at least one healthy
/// target and no fewer healthy targets than its desired count. `force` overrides.
pub fn check_shift(snap: &Snapshot, desired: Weights, force: bool) -> Result<(), Refusal> {
    if force {
        return Ok(());
    }
    let current = snap.listener.weights;
    for color in Color::ALL {
        if desired.get(color) <= current.get(color) {
            continue;
        }
        let state = snap.colors.get(color);
        if !state.can_take_traffic() {
            let healthy = state.healthy_targets();
            let reason = format!(
                "{color} has {healthy} healthy target(s) but desired count {}: giving it {}% of traffic could fail requests; wait for it to become healthy, or use --force",
                state.service.desired,
                desired.get(color)
            );
            return Err(Refusal::new(GuardRule::UnhealthyTarget, reason, true));
        }
    }
    Ok(())
}

/// Checks a promote and returns the color to promote (the canary: the color that is not
/// stable). `pending` is the last weights the console asked for, if any; they must match what
/// the listener shows.
pub fn check_promote(snap: &Snapshot, pending: Option<Weights>) -> Result<Color, Refusal> {
    let stable = snap.stable().ok_or_else(|| {
        Refusal::new(
            GuardRule::NoStable,
            "no stable color is recorded: deploy a first release (it becomes stable) before promoting".into(),
            false,
        )
    })?;
    let target = stable.other();
    if let Some(want) = pending
        && want != snap.listener.weights
    {
        return Err(Refusal::new(
            GuardRule::NotConverged,
            format!(
                "weights have not converged: asked for {want}, listener shows {}; wait or re-apply the shift",
                snap.listener.weights
            ),
            false,
        ));
    }
    let state = snap.colors.get(target);
    if !state.can_take_traffic() {
        return Err(Refusal::new(
            GuardRule::PromoteUnhealthy,
            format!(
                "cannot promote {target}: {} healthy target(s) of desired {}; deploy or scale {target} and wait until it is healthy",
                state.healthy_targets(),
                state.service.desired
            ),
            false,
        ));
    }
    Ok(target)
}

/// The color a rollback sends all traffic to: during a bake with the old color still healthy,
/// the old color (undo the promote); otherwise the stable color. Refused only when that color
/// has no healthy target. Needs only the listener and target health, so it works while every
/// other read fails.
pub fn rollback_target(
    listener: &Listener,
    healthy_targets: impl Fn(Color) -> usize,
) -> Result<Color, Refusal> {
    let target = match &listener.bake {
        // A bake whose old color is the stable one is stale bookkeeping, not an undo target.
        Some(bake) if Some(bake.old) != listener.stable && healthy_targets(bake.old) > 0 => {
            bake.old
        }
        _ => listener.stable.ok_or_else(|| {
            Refusal::new(
                GuardRule::NoStable,
                "no stable color is recorded, so there is nothing to roll back to; use `shift` to set weights explicitly".into(),
                false,
            )
        })?,
    };
    if healthy_targets(target) == 0 {
        return Err(Refusal::new(
            GuardRule::RollbackNoTarget,
            format!(
                "cannot roll back to {target}: it has no healthy target; scale {target} up or redeploy it first"
            ),
            false,
        ));
    }
    Ok(target)
}

/// Refusal for a write in a read-only session or an unarmed read-only profile.
pub fn read_only_refusal(verb: &str, needs_arming: bool) -> Refusal {
    let reason = if needs_arming {
        format!(
            "`{verb}` refused: this profile is read-only; arm it with --arm (or :arm in the console)"
        )
    } else {
        format!("`{verb}` refused: the session is read-only (--read-only)")
    };
    Refusal::new(GuardRule::ReadOnly, reason, false)
}
