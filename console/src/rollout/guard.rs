//! Guard rules: what the console refuses to do, and why, in words the UI and CLI show as-is.
//!
//! Every refusal of a release verb is built here and nowhere else, so each rule has one home
//! and one name. `docs/runbook.md` lists the names with their exit code.

use serde::{Deserialize, Serialize};

use super::{Color, Listener, Share, Snapshot, Weights};

/// Which rule refused. The kebab-case name is what `--json` reports as `rule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuardRule {
    /// A shift would give traffic to a color without enough healthy targets.
    UnhealthyTarget,
    /// Promote while the canary is unhealthy.
    PromoteUnhealthy,
    /// Promote while the listener does not show the weights the console last asked for.
    NotConverged,
    /// A promote's bake is pending: a deploy would replace the release rollback returns to,
    /// and a second promote would hand the traffic back to the old color.
    BakePending,
    /// Traffic is split: there is no idle color to deploy to.
    ShiftInProgress,
    /// The verb would replace or stop a color that serves traffic.
    ServesTraffic,
    /// A bake cannot finish because the listener no longer gives the stable color 100%.
    TrafficMoved,
    /// The promote this command made was undone (rolled back) elsewhere meanwhile.
    PromoteUndone,
    /// Rollback's target color has no healthy target (scaled to zero, for example).
    RollbackNoTarget,
    /// No stable color is recorded, so there is nothing to roll back or promote from.
    NoStable,
    /// The session or profile is read-only, or the profile needs arming.
    ReadOnly,
    /// A task count above the profile's ceiling (`max_tasks`).
    OverCeiling,
    /// A release driven by a plan is running.
    ReleaseRunning,
    /// `adopt` on a listener that already records another stable color.
    StableRecorded,
    /// `adopt` found the stack differs from the profile (services, task families), or the
    /// color to adopt does not serve.
    StackMismatch,
    /// The requests' measured split does not (yet) show the desired weights: the old color
    /// is not scaled in (`--accept-unmeasured` overrides too few requests).
    SplitUnmeasured,
    /// Someone else holds the deploy lock.
    Locked,
    /// Pre-flight before a release's first production weight found a reason not to go: a gate
    /// alarm already in ALARM, the stable color running tasks of an older revision, a drifted
    /// listener (`--force` with a `--reason` overrides, journaled).
    Preflight,
    /// `shift --unguarded` without a `--reason`, or on a platform that cannot record it.
    Unguarded,
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
    pub(crate) fn new(rule: GuardRule, reason: impl Into<String>) -> Self {
        Refusal {
            rule,
            reason: reason.into(),
            overridable: false,
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
            let healthy = state.deployed_healthy_targets();
            let reason = format!(
                "{color} has {healthy} healthy target(s) of its deployed revision but desired count {}: giving it {}% of traffic could fail requests; wait for it to become healthy, or use --force",
                state.service.desired,
                desired.share(color)
            );
            return Err(Refusal {
                overridable: true,
                ..Refusal::new(GuardRule::UnhealthyTarget, reason)
            });
        }
    }
    Ok(())
}

/// Checks a promote and returns the color to promote (the canary: the color that is not
/// stable). `pending` is the last weights the console asked for, if any; they must match what
/// the listener shows. `platform_finishes_bake` only changes the advice in a refusal.
pub fn check_promote(
    snap: &Snapshot,
    pending: Option<Weights>,
    platform_finishes_bake: bool,
) -> Result<Color, Refusal> {
    let listener = &snap.listener;
    let stable = listener.stable.ok_or_else(|| {
        no_stable(
            listener,
            "deploy a first release (it becomes stable) before promoting",
        )
    })?;
    if let Some(bake) = already_promoted(listener) {
        let advice = if platform_finishes_bake {
            format!("the platform scales {} down when it ends", bake.old)
        } else {
            "`bluegreen promote` (F in the console) finishes it".into()
        };
        return Err(Refusal::new(
            GuardRule::BakePending,
            format!(
                "{stable} is already promoted and its bake is pending ({} still runs): {advice}; to undo the promote, roll back",
                bake.old
            ),
        ));
    }
    let target = stable.other();
    if let Some(want) = pending
        && want != listener.weights
    {
        return Err(Refusal::new(
            GuardRule::NotConverged,
            format!(
                "weights have not converged: asked for {want}, listener shows {}; wait or re-apply the shift",
                listener.weights
            ),
        ));
    }
    let state = snap.colors.get(target);
    if !state.can_take_traffic() {
        return Err(Refusal::new(
            GuardRule::PromoteUnhealthy,
            format!(
                "cannot promote {target}: {} healthy target(s) of its deployed revision, desired {}; deploy or scale {target} and wait until it is healthy",
                state.deployed_healthy_targets(),
                state.service.desired
            ),
        ));
    }
    Ok(target)
}

/// The bake of a promote that is done and in force (the stable color has 100%), if one is
/// pending. Promoting again then would hand all traffic back to the old color; on a platform
/// that does not finish bakes itself, the next `promote` finishes this one instead.
pub fn already_promoted(listener: &Listener) -> Option<&super::Bake> {
    let stable = listener.stable?;
    let bake = listener.bake.as_ref()?;
    (listener.weights == Weights::all(stable) && bake.old != stable).then_some(bake)
}

/// The colors whose target health a rollback needs: the stable color, and the old color of a
/// pending bake (the undo target).
pub fn rollback_candidates(listener: &Listener) -> Vec<Color> {
    Color::ALL
        .into_iter()
        .filter(|c| {
            listener.stable.or_else(|| resting(listener)) == Some(*c)
                || listener.bake.as_ref().map(|b| b.old) == Some(*c)
        })
        .collect()
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
        _ => listener
            .stable
            .or_else(|| resting(listener))
            .ok_or_else(|| {
                no_stable(
                    listener,
                    "there is nothing to roll back to; use `shift` to set weights explicitly",
                )
            })?,
    };
    if healthy_targets(target) == 0 {
        return Err(Refusal::new(
            GuardRule::RollbackNoTarget,
            format!(
                "cannot roll back to {target}: it has no healthy target; scale {target} up or redeploy it first"
            ),
        ));
    }
    Ok(target)
}

/// The refusal when no stable color is recorded. With traffic split (a stack made outside
/// this project, say) it names the verb that records one; at rest, `advice`.
fn no_stable(listener: &Listener, advice: &str) -> Refusal {
    let reason = if listener.weights.is_split() {
        format!(
            "no stable color is recorded and traffic is split ({}): say which color is stable with `bluegreen adopt --stable blue` (or green), which first checks the stack against the profile",
            listener.weights
        )
    } else {
        format!("no stable color is recorded: {advice}")
    };
    Refusal::new(GuardRule::NoStable, reason)
}

/// The stable color of a listener with no record at rest: the color with 100% (AGREEMENTS
/// "Existing stacks"). It is recorded with the console's first write.
fn resting(listener: &Listener) -> Option<Color> {
    match listener.stable {
        Some(_) => None,
        None => listener.weights.live(),
    }
}

/// The color to record as stable before the first write to a stack with no record: at rest
/// with a healthy target on the color that has 100%. `None` when a color is recorded, when
/// traffic is split (`bluegreen adopt` decides), or when nothing runs (a first release).
pub fn resting_stable(snap: &Snapshot) -> Option<Color> {
    resting(&snap.listener).filter(|c| snap.colors.get(*c).healthy_targets() > 0)
}

/// Whether a rollback to `target` must also rewrite the stable record: it moves the stable
/// color (undo a promote) or clears a pending bake.
pub fn rollback_rewrites_stable(listener: &Listener, target: Color) -> bool {
    listener.stable != Some(target) || listener.bake.is_some()
}

/// The color a rollback would leave as it is, when it would change nothing: the stable color
/// has all the traffic, no bake is pending and no release runs. Such a rollback writes
/// nothing, and so takes nobody's lock over.
pub fn rollback_changes_nothing(listener: &Listener, release_running: bool) -> Option<Color> {
    let stable = listener.stable?;
    (!release_running && listener.bake.is_none() && listener.weights == Weights::all(stable))
        .then_some(stable)
}

/// Checks a deploy and returns the color it goes to: `requested`, or the idle color at rest.
/// A color that serves traffic is never deployed to (a release always goes to the color that
/// can be tested before it gets traffic), and nothing is deployed while a promote bakes.
pub fn check_deploy(snap: &Snapshot, requested: Option<Color>) -> Result<Color, Refusal> {
    if let Some(bake) = &snap.listener.bake
        && Some(bake.old) != snap.stable()
    {
        return Err(Refusal::new(
            GuardRule::BakePending,
            format!(
                "a promote is baking: {} still runs the previous release so rollback can return to it; finish the bake (`bluegreen promote`) or roll back before deploying",
                bake.old
            ),
        ));
    }
    if first_release(snap) {
        // Nothing runs, so nothing serves: the first release goes where the weight already is,
        // so that it gets the traffic (and becomes stable) once healthy.
        return Ok(requested.unwrap_or_else(|| weighted_color(snap.listener.weights)));
    }
    match requested {
        Some(c) if snap.listener.weights.get(c) > 0 => Err(Refusal::new(
            GuardRule::ServesTraffic,
            format!(
                "{c} serves {}% of traffic: deploy only to the idle color ({})",
                snap.listener.weights.share(c),
                c.other()
            ),
        )),
        Some(c) => Ok(c),
        None => snap.deploy_target().ok_or_else(|| {
            Refusal::new(
                GuardRule::ShiftInProgress,
                format!(
                    "a shift is in progress ({}): promote or roll back before deploying",
                    snap.listener.weights
                ),
            )
        }),
    }
}

/// An environment with no live release: no stable color is recorded and neither color runs
/// or wants a task. Its first deploy goes to the color that holds the weight.
pub fn first_release(snap: &Snapshot) -> bool {
    snap.stable().is_none()
        && snap
            .colors
            .iter()
            .all(|(_, c)| c.service.desired == 0 && c.healthy_targets() == 0)
}

/// Whether `color`'s release settles an environment's first release: no stable color is
/// recorded yet, `color`'s deployed revision is healthy, and the other color neither runs nor
/// wants a task. It then becomes stable with all the traffic (the local daemon does this on
/// its own; on AWS the deploy's wait does it).
pub fn settles_first_release(snap: &Snapshot, color: Color) -> bool {
    let other = snap.colors.get(color.other());
    snap.stable().is_none()
        && snap.colors.get(color).release_healthy()
        && other.service.desired == 0
        && other.healthy_targets() == 0
}

/// The color with the larger share (blue on a tie).
fn weighted_color(w: Weights) -> Color {
    if w.get(Color::Green) > w.get(Color::Blue) {
        Color::Green
    } else {
        Color::Blue
    }
}

/// The desired count for a deploy to `target`: the other (live) color's desired count, at
/// least 1, so the new release can carry all the traffic the old one does.
pub fn deploy_count(snap: &Snapshot, target: Color) -> u32 {
    snap.colors.get(target.other()).service.desired.max(1)
}

/// Checks a task count against the profile's ceiling, so a typo cannot start thousands of
/// tasks (locally, processes; on AWS, a bill).
pub fn check_count(color: Color, desired: u32, max_tasks: u32) -> Result<(), Refusal> {
    if desired > max_tasks {
        return Err(Refusal::new(
            GuardRule::OverCeiling,
            format!(
                "{desired} tasks for {color} is over this profile's ceiling of {max_tasks} per color; raise `max_tasks` in the profile in bluegreen.toml (up to {}) if you mean it",
                super::limits::MAX_TASKS_CEILING
            ),
        ));
    }
    Ok(())
}

/// Checks setting `color`'s desired count to `desired`: never above the ceiling, and a color
/// that serves traffic is never scaled to zero.
pub fn check_scale(
    listener: &Listener,
    color: Color,
    desired: u32,
    max_tasks: u32,
) -> Result<(), Refusal> {
    check_count(color, desired, max_tasks)?;
    let share = listener.weights.share(color);
    if desired == 0 && share > Share::ZERO {
        return Err(Refusal::new(
            GuardRule::ServesTraffic,
            format!("{color} serves {share}% of traffic: shift it away before scaling to zero"),
        ));
    }
    Ok(())
}

/// After a command's promote of `promoted`, its bake was found ended by someone else: fine if
/// `promoted` is still stable (another console finished it), refused if a rollback undid it.
pub fn check_promote_kept(listener: &Listener, promoted: Color) -> Result<(), Refusal> {
    if listener.stable == Some(promoted) {
        return Ok(());
    }
    let stable = listener
        .stable
        .map_or("none".to_string(), |c| c.to_string());
    Err(Refusal::new(
        GuardRule::PromoteUndone,
        format!(
            "the bake was ended elsewhere during the wait: stable is {stable}, the listener shows {}; nothing was scaled down here (a rollback undid the promote of {promoted})",
            listener.weights
        ),
    ))
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
    Refusal::new(GuardRule::ReadOnly, reason)
}
