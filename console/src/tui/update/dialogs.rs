//! Confirm dialogs: opening them with the guard's objection computed up front, and confirming
//! them into commands. Dangerous verbs never skip this step.

use std::time::Duration;

use super::super::command::Command;
use super::super::state::{Mode, NoticeLevel, PendingOp, State};
use super::{MAX_BAKE, start_busy, write_refused};
use crate::ops::PromoteOptions;
use crate::platform::PlatformKind;
use crate::rollout::Color;
use crate::rollout::guard;
use crate::rollout::resolve::ReleaseRequest;

pub(super) fn apply_slider(state: &mut State) -> Vec<Command> {
    if write_refused(state, "shift") {
        return vec![];
    }
    let (Some(snap), Some(to)) = (state.snapshot(), state.slider()) else {
        state.notify(
            NoticeLevel::Warning,
            "the listener's weights are not known yet: cannot compose a change",
        );
        return vec![];
    };
    let from = snap.listener.weights;
    if from == to {
        state.notify(
            NoticeLevel::Info,
            format!("the listener already shows {to}: move the slider first (←/→, 0–9)"),
        );
        return vec![];
    }
    let refusal = guard::check_shift(snap, to, false).err();
    state.mode = Mode::Confirm(PendingOp::Shift {
        from,
        to,
        refusal,
        force: false,
    });
    vec![]
}

pub(super) fn open_promote(state: &mut State, bake: Option<Duration>, keep_old: bool) {
    if write_refused(state, "promote") {
        return;
    }
    let (target, refusal) = match state.snapshot() {
        Some(snap) => {
            match guard::check_promote(snap, state.traffic.desired, state.info.finishes_bake) {
                Ok(t) => (Some(t), None),
                Err(r) => (snap.stable().map(Color::other), Some(r)),
            }
        }
        None => (None, None),
    };
    state.mode = Mode::Confirm(PendingOp::Promote {
        target,
        bake: bake.unwrap_or(PromoteOptions::default().bake).min(MAX_BAKE),
        keep_old,
        refusal,
    });
}

pub(super) fn open_rollback(state: &mut State) {
    if write_refused(state, "rollback") {
        return;
    }
    // Rollback must open even when every panel is in error: the target and the guard are
    // decided again by the command layer from the listener and target health alone.
    let (target, refusal) = match state.snapshot() {
        Some(snap) if !state.services.is_error() => match snap.rollback_target() {
            Ok(t) => (Some(t), None),
            Err(r) => (None, Some(r)),
        },
        _ => (None, None),
    };
    state.mode = Mode::Confirm(PendingOp::Rollback { target, refusal });
}

pub(super) fn open_deploy(state: &mut State, tag: Option<String>) {
    if write_refused(state, "deploy") {
        return;
    }
    let Some(tag) = tag else {
        if !state.deploy_choices().is_empty() {
            state.mode = Mode::PickImage { selected: 0 };
        } else {
            state.notify(
                NoticeLevel::Warning,
                "no images known yet: build one (B) or name a tag with `:deploy TAG`",
            );
        }
        return;
    };
    let known: Vec<&str> = state.deploy_choices().iter().map(|(t, _)| *t).collect();
    if state.images.data.is_some() && !known.contains(&tag.as_str()) {
        let listed = if known.is_empty() {
            "the registry is empty".to_string()
        } else {
            format!("tags: {}", known.join(", "))
        };
        state.notify(
            NoticeLevel::Error,
            format!("no image is tagged `{tag}` in the registry ({listed}); build it first (B)"),
        );
        return;
    }
    let (color, refusal) = match state.snapshot() {
        Some(snap) => match guard::check_deploy(snap, None) {
            Ok(c) => (Some(c), None),
            Err(r) => (None, Some(r)),
        },
        None => (None, None),
    };
    state.mode = Mode::Confirm(PendingOp::Deploy {
        tag,
        color,
        refusal,
    });
}

/// `R`: a release starts with its image, then its plan, then a confirm.
pub(super) fn open_release_picker(state: &mut State) {
    if write_refused(state, "release") {
        return;
    }
    if let Some(r) = running_release(state) {
        state.notify(NoticeLevel::Warning, r);
        return;
    }
    if state.deploy_choices().is_empty() {
        state.notify(
            NoticeLevel::Warning,
            "no images known yet: build one (B) or name a tag with `:release --tag TAG`",
        );
        return;
    }
    state.mode = Mode::PickRelease {
        tag: None,
        selected: 0,
    };
}

/// Why a new release cannot start while one runs, with the way out.
fn running_release(state: &State) -> Option<String> {
    let r = state.release.data.as_ref()?.as_ref()?;
    (!r.is_over()).then(|| {
        format!(
            "release {} of {} is running ({}): :pause, :resume or :abort it first",
            r.id,
            r.tag,
            r.describe()
        )
    })
}

/// The confirm dialog of a release: the plan resolved as `bluegreen release` resolves it, and
/// the start refusal computed up front from the last snapshot.
pub(super) fn open_release(state: &mut State, args: &ReleaseRequest) {
    if write_refused(state, "release") {
        return;
    }
    let known: Vec<&str> = state.deploy_choices().iter().map(|(t, _)| *t).collect();
    if state.images.data.is_some() && !known.contains(&args.tag.as_str()) {
        state.notify(
            NoticeLevel::Error,
            format!(
                "no image is tagged `{}` in the registry; build it first (B)",
                args.tag
            ),
        );
        return;
    }
    // Who drives it is the worker's to learn when it starts it (ops and the platform say).
    let coarse = matches!(state.info.kind, PlatformKind::Aws { .. });
    let spec = match args.resolve(&state.release_settings, coarse) {
        Ok(spec) => spec,
        Err(e) => {
            state.notify(NoticeLevel::Error, format!("release: {e}"));
            return;
        }
    };
    let current = state.release.data.as_ref().and_then(|r| r.as_ref());
    let (canary, refusal) = match state.snapshot() {
        Some(snap) => match crate::rollout::release::check_start(snap, current) {
            Ok(c) => (Some(c), None),
            Err(r) => (None, Some(r)),
        },
        None => (None, None),
    };
    state.mode = Mode::Confirm(PendingOp::Release {
        spec: Box::new(spec),
        canary,
        refusal,
    });
}

pub(super) fn confirm(state: &mut State) -> Vec<Command> {
    if let Mode::PickRelease { tag, selected } = &state.mode {
        let (tag, selected) = (tag.clone(), *selected);
        match tag {
            None => match state
                .deploy_choices()
                .get(selected)
                .map(|(t, _)| t.to_string())
            {
                Some(tag) => {
                    // The profile's default plan comes first.
                    state.mode = Mode::PickRelease {
                        tag: Some(tag),
                        selected: 0,
                    };
                }
                None => {
                    state.mode = Mode::Normal;
                    state.notify(NoticeLevel::Warning, "that image has no tag to release");
                }
            },
            Some(tag) => {
                let plan = state.plan_choices().get(selected).cloned();
                state.mode = Mode::Normal;
                open_release(state, &ReleaseRequest::by_plan(&tag, plan.as_deref()));
            }
        }
        return vec![];
    }
    match &state.mode {
        Mode::PickImage { selected } => {
            let tag = state
                .deploy_choices()
                .get(*selected)
                .map(|(t, _)| t.to_string());
            match tag {
                Some(tag) => open_deploy(state, Some(tag)),
                None => {
                    state.mode = Mode::Normal;
                    state.notify(NoticeLevel::Warning, "that image has no tag to deploy");
                }
            }
            return vec![];
        }
        Mode::Confirm(_) => {}
        _ => return vec![],
    }
    let Mode::Confirm(op) = std::mem::replace(&mut state.mode, Mode::Normal) else {
        return vec![];
    };
    if let Some(r) = op.blocking_refusal() {
        // The dialog already shows it; confirming anyway is a no-op with the reason repeated.
        let reason = r.reason.clone();
        state.mode = Mode::Confirm(op);
        state.notify(NoticeLevel::Error, reason);
        return vec![];
    }
    if write_refused(state, op.verb()) {
        return vec![];
    }
    // One write at a time, except the rescue: a rollback may overtake a slow write.
    if let (Some(b), false) = (state.busy.first(), matches!(op, PendingOp::Rollback { .. })) {
        let text = format!(
            "wait: {} is still running (r rolls back at any time)",
            b.what
        );
        state.notify(NoticeLevel::Warning, text);
        return vec![];
    }
    match op {
        PendingOp::Shift { to, force, .. } => {
            start_busy(state, format!("shifting to {to}"));
            state.traffic.desired = Some(to);
            vec![Command::Shift { weights: to, force }]
        }
        PendingOp::Promote { bake, keep_old, .. } => {
            start_busy(state, "promoting");
            vec![Command::Promote {
                opts: PromoteOptions { bake, keep_old },
                pending: state.traffic.desired,
            }]
        }
        PendingOp::Rollback { .. } => {
            start_busy(state, "rolling back");
            vec![Command::Rollback]
        }
        PendingOp::Deploy { tag, color, .. } => {
            start_busy(state, format!("deploying {tag}"));
            vec![Command::Deploy { tag, color }]
        }
        PendingOp::FinishBake {
            accept_unmeasured, ..
        } => {
            start_busy(state, "finishing the bake");
            vec![Command::FinishBake { accept_unmeasured }]
        }
        PendingOp::Release { spec, .. } => {
            start_busy(state, format!("starting the release of {}", spec.tag));
            vec![Command::StartRelease(spec)]
        }
        PendingOp::AbortRelease { .. } => {
            start_busy(state, "aborting the release");
            vec![Command::ReleaseRequest(
                crate::rollout::release::Request::Abort,
            )]
        }
    }
}
