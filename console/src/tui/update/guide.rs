//! The guide: one line naming the next sensible action for what the screen shows, so a demo
//! walkthrough (or an engineer new to the console) never has to know the order by heart. A
//! pure function of the state, recomputed by `update` after every event; `i` toggles it.

use crate::rollout::release::Stage;
use crate::rollout::{Color, Outcome};
use crate::tui::keymap::Bindable;
use crate::tui::state::{Mode, State};

/// The key the session's keymap binds to `b` on the main screen, or the `:` verb as a
/// fallback when a keymap file unbound it.
fn key(state: &State, b: Bindable, verb: &str) -> String {
    key_or(state, b, || format!(":{verb}"))
}

/// The key bound to `b`, or `fallback` when a keymap file unbound it.
fn key_or(state: &State, b: Bindable, fallback: impl FnOnce() -> String) -> String {
    state.keymap.key_for(&b.action()).unwrap_or_else(fallback)
}

/// The next step for the state on screen; `None` while a dialog or prompt says its own keys.
pub fn next_step(state: &State) -> Option<String> {
    if state.mode != Mode::Normal {
        return None;
    }
    if let Some(b) = state.busy.first() {
        return Some(format!("{}: the result shows here when it is done", b.what));
    }
    let Some(snap) = state.snapshot() else {
        return Some(match state.services.error() {
            Some(_) => format!(
                "the platform does not answer (the traffic panel says why); {} still rolls back",
                key(state, Bindable::Rollback, "rollback")
            ),
            None => "waiting for the platform's first answer…".into(),
        });
    };
    if let Some(r) = state.release.data.as_ref().and_then(|r| r.as_ref()) {
        let dismissed = state.release_dismissed.as_deref() == Some(r.id.as_str());
        match (&r.outcome, &r.stage) {
            (None, Stage::Paused { .. }) => {
                return Some(format!(
                    "release {} is paused: :resume goes on, :abort gives {} 100%",
                    r.id,
                    r.canary.other()
                ));
            }
            (None, Stage::Step { index, .. }) => {
                return Some(format!(
                    "release step {}/{} holds while its gates are checked: watch them; :pause holds the weight, :abort rolls back",
                    index + 1,
                    r.plan.steps.len()
                ));
            }
            (None, _) => {
                return Some(format!(
                    "release {} of {} is {}: its panel follows it",
                    r.id,
                    r.tag,
                    r.describe()
                ));
            }
            (Some(Outcome::RolledBack { .. }), _) if !dismissed => {
                return Some(format!(
                    "the release rolled back: {} shows {}'s logs only; :dismiss hides the release panel",
                    logs_key(state, r.canary),
                    r.canary
                ));
            }
            (Some(outcome), _) if !dismissed => {
                return Some(format!(
                    "release {} ended ({outcome}): :dismiss hides its panel",
                    r.id
                ));
            }
            _ => {}
        }
    }
    if let Some(desired) = state.traffic.desired {
        return Some(format!(
            "waiting for the listener to show {desired}; {} rolls back at any time",
            key(state, Bindable::Rollback, "rollback")
        ));
    }
    if let Some(bake) = snap.bake_pending() {
        return Some(format!(
            "promoted: {} keeps running through the bake so {} can undo the promote",
            bake.old,
            key(state, Bindable::Rollback, "rollback")
        ));
    }
    if let Some(canary) = snap.canary() {
        let share = snap.listener.weights.share(canary);
        return Some(format!(
            "{canary} has {share}%: press {} to promote, {} to roll back, or move the slider further",
            key(state, Bindable::Promote, "promote"),
            key(state, Bindable::Rollback, "rollback")
        ));
    }
    let idle = snap.idle()?;
    let cs = snap.colors.get(idle);
    let live = idle.other();
    let running = cs.service.image.as_ref().and_then(|i| i.tag.clone());
    let live_tag = snap
        .colors
        .get(live)
        .service
        .image
        .as_ref()
        .and_then(|i| i.tag.clone());
    if cs.service.desired == 0 || cs.tasks.is_empty() {
        let choices = state.deploy_choices();
        // The newest tag that is not what the live color already runs.
        let next = choices
            .iter()
            .map(|(t, _)| t.to_string())
            .find(|t| Some(t) != live_tag.as_ref());
        return Some(match (next, choices.is_empty()) {
            (Some(tag), _) => format!(
                "{idle} runs nothing: press {} to deploy {tag} to {idle}, or {} for a release by plan",
                key(state, Bindable::Deploy, "deploy"),
                key(state, Bindable::StartRelease, "release")
            ),
            (None, true) => format!(
                "no image yet: press {} to build one",
                key(state, Bindable::StartBuild, "build")
            ),
            (None, false) => format!(
                "{live} runs the only image there is: press {} to build a new one",
                key(state, Bindable::StartBuild, "build")
            ),
        });
    }
    let healthy = cs.healthy_targets();
    if !cs.release_healthy() {
        return Some(format!(
            "{idle} is starting ({healthy}/{} healthy): wait until its tasks are healthy",
            cs.service.desired
        ));
    }
    if running.is_some() && running == live_tag {
        return Some(format!(
            "{idle} runs the same image as {live}: build a new one ({}) or deploy another ({})",
            key(state, Bindable::StartBuild, "build"),
            key(state, Bindable::Deploy, "deploy")
        ));
    }
    Some(format!(
        "{idle} runs {} healthy at 0%: move the slider with {} and press {}, or {} for a release by plan",
        running.unwrap_or_else(|| "its image".into()),
        key(state, Bindable::SliderUp, "shift"),
        key(state, Bindable::ApplySlider, "shift"),
        key(state, Bindable::StartRelease, "release")
    ))
}

/// The key that shows one color's logs.
fn logs_key(state: &State, color: Color) -> String {
    let b = match color {
        Color::Blue => Bindable::ShowBlue,
        Color::Green => Bindable::ShowGreen,
    };
    key_or(state, b, || "the logs panel".into())
}
