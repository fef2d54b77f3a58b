//! The pure core: `update(&mut State, Action) -> Vec<Command>` and `handle_event`, which turns
//! events into actions or state changes. No I/O here; the workers carry out the commands.

use std::time::Duration;

use super::action::Action;
use super::command::Command;
use super::event::Event;
use super::state::{Focus, Mode, NoticeLevel, PendingOp, Resource, State};
use crate::rollout::{Color, Weights};

mod apply;
mod cmdline;
mod dialogs;
pub mod guide;
mod prompt;

use dialogs::{
    apply_slider, confirm, open_deploy, open_promote, open_release, open_release_picker,
    open_rollback,
};
use prompt::{input, set_filter, submit};
pub mod keys;

pub use cmdline::{VERBS as COMMAND_VERBS, parse_command};

/// Bake time choices in the promote dialog are clamped to this range.
const MAX_BAKE: Duration = Duration::from_secs(crate::rollout::limits::MAX_BAKE_SECS);

/// Feeds one event into the state; returns the commands it causes. The guide follows.
pub fn handle_event(state: &mut State, event: Event) -> Vec<Command> {
    let commands = handle(state, event);
    state.guide = guide::next_step(state);
    commands
}

fn handle(state: &mut State, event: Event) -> Vec<Command> {
    match event {
        Event::Key(key) => match keys::action_for(state, key) {
            Some(action) => update(state, action),
            None => Vec::new(),
        },
        Event::Resize { .. } => Vec::new(),
        Event::Tick(now) => apply::tick(state, now),
        Event::Loading(resource, at) => {
            apply::loading(state, resource, at);
            Vec::new()
        }
        Event::Polled(polled, at) => apply::polled(state, polled, at),
        Event::Backoff(resource, backoff) => {
            apply::backoff(state, resource, backoff);
            Vec::new()
        }
        Event::Done(result) => apply::done(state, result),
    }
}

/// Applies one action.
pub fn update(state: &mut State, action: Action) -> Vec<Command> {
    match action {
        Action::Quit => {
            state.quit = true;
            vec![]
        }
        Action::ToggleGuide => {
            state.show_guide = !state.show_guide;
            vec![]
        }
        Action::FocusNext => {
            state.focus = state.focus.next();
            vec![]
        }
        Action::FocusPrev => {
            state.focus = state.focus.prev();
            vec![]
        }
        Action::ToggleHelp => {
            state.mode = match state.mode {
                Mode::Help => Mode::Normal,
                _ => Mode::Help,
            };
            vec![]
        }
        Action::ToggleJournal => {
            if state.mode == Mode::Journal {
                state.mode = Mode::Normal;
                return vec![];
            }
            state.mode = Mode::Journal;
            vec![Command::Refresh(Resource::Journal)]
        }
        Action::OpenCommandLine => {
            state.mode = Mode::Command {
                input: String::new(),
            };
            vec![]
        }
        Action::Cancel => {
            cancel(state);
            vec![]
        }
        Action::Refresh => Resource::ALL
            .into_iter()
            .filter(|r| !r.on_demand())
            .map(Command::Refresh)
            .collect(),
        Action::NudgeSlider { delta } => {
            nudge_slider(state, delta);
            vec![]
        }
        Action::SetSlider { share } => {
            state.traffic.pending = Some(Weights::with_share(state.slider_color(), share));
            vec![]
        }
        Action::ApplySlider => apply_slider(state),
        Action::Shift { color, share } => {
            let color = color.unwrap_or_else(|| state.slider_color());
            state.traffic.pending = Some(Weights::with_share(color, share));
            apply_slider(state)
        }
        Action::Promote {
            bake_secs,
            keep_old,
        } => {
            open_promote(state, bake_secs.map(Duration::from_secs), keep_old);
            vec![]
        }
        Action::AdjustBake { secs } => {
            if let Mode::Confirm(PendingOp::Promote { bake, .. }) = &mut state.mode {
                let next = bake.as_secs() as i64 + secs;
                *bake = Duration::from_secs(next.clamp(0, MAX_BAKE.as_secs() as i64) as u64);
            }
            vec![]
        }
        Action::ToggleKeepOld => {
            if let Mode::Confirm(PendingOp::Promote { keep_old, .. }) = &mut state.mode {
                *keep_old = !*keep_old;
            }
            vec![]
        }
        Action::Rollback => {
            open_rollback(state);
            vec![]
        }
        Action::ReleaseRequest { request } => release_request(state, request),
        Action::DismissRelease => {
            match state.release.data.as_ref().and_then(|r| r.as_ref()) {
                Some(r) if r.is_over() => state.release_dismissed = Some(r.id.clone()),
                Some(r) => state.notify(
                    NoticeLevel::Info,
                    format!("release {} is still running: abort it to end it", r.id),
                ),
                None => state.notify(NoticeLevel::Info, "no release to dismiss"),
            }
            vec![]
        }
        Action::FinishBake => {
            if write_refused(state, "promote") {
                return vec![];
            }
            let bake = state.snapshot().and_then(|s| s.bake_pending().cloned());
            match bake {
                Some(b) => {
                    state.mode = Mode::Confirm(PendingOp::FinishBake {
                        old: Some(b.old),
                        keep_old: b.keep_old,
                        accept_unmeasured: false,
                    })
                }
                None => state.notify(NoticeLevel::Info, "no bake is pending"),
            }
            vec![]
        }
        Action::StartBuild { source_version } => {
            if write_refused(state, "build") {
                return vec![];
            }
            start_busy(state, "starting a build");
            vec![Command::Build { source_version }]
        }
        Action::Deploy { tag } => {
            open_deploy(state, tag);
            vec![]
        }
        Action::OpenRelease => {
            open_release_picker(state);
            vec![]
        }
        Action::Release(args) => {
            open_release(state, &args);
            vec![]
        }
        Action::Scale { color, desired } => {
            if write_refused(state, "scale") {
                return vec![];
            }
            start_busy(state, format!("scaling {color} to {desired}"));
            vec![Command::Scale { color, desired }]
        }
        Action::Arm => {
            if state.access.read_only {
                state.notify(
                    NoticeLevel::Error,
                    "the session was started with --read-only: arming cannot lift that; restart without --read-only",
                );
                return vec![];
            }
            state.access.armed = true;
            state.notify(
                NoticeLevel::Warning,
                "armed: writes are allowed for this session",
            );
            vec![Command::Arm]
        }
        Action::Confirm => confirm(state),
        Action::ToggleForce => {
            if let Mode::Confirm(PendingOp::Shift {
                refusal: Some(r),
                force,
                ..
            }) = &mut state.mode
                && r.overridable
            {
                *force = !*force;
            }
            vec![]
        }
        Action::ToggleAcceptUnmeasured => {
            // The explicit override of a bake held for too few requests; a kept old color is
            // never scaled in, so there is nothing to override.
            if let Mode::Confirm(PendingOp::FinishBake {
                keep_old: false,
                accept_unmeasured,
                ..
            }) = &mut state.mode
            {
                *accept_unmeasured = !*accept_unmeasured;
            }
            vec![]
        }
        Action::SelectNext => {
            select(state, 1);
            vec![]
        }
        Action::SelectPrev => {
            select(state, -1);
            vec![]
        }
        Action::OlderBuild => {
            let n = state.builds.data.as_ref().map_or(0, Vec::len);
            state.build_index = (state.build_index + 1).min(n.saturating_sub(1));
            vec![]
        }
        Action::NewerBuild => {
            state.build_index = state.build_index.saturating_sub(1);
            vec![]
        }
        Action::ScrollUp { lines } => {
            state.log_view.scroll_up(&state.log_buffer, lines);
            vec![]
        }
        Action::ScrollDown { lines } => {
            state.log_view.scroll_down(&state.log_buffer, lines);
            vec![]
        }
        Action::ScrollTop => {
            state.log_view.scroll_top(&state.log_buffer);
            vec![]
        }
        Action::ScrollBottom => {
            state.log_view.resume();
            vec![]
        }
        Action::ToggleFollow => {
            if state.log_view.follow {
                state.log_view.pause(&state.log_buffer);
            } else {
                state.log_view.resume();
            }
            vec![]
        }
        Action::StartFilter => {
            let previous = state.log_view.filter.as_ref().map(|f| f.text.clone());
            state.mode = Mode::Filter {
                input: previous.clone().unwrap_or_default(),
                previous,
                error: None,
            };
            vec![]
        }
        Action::ToggleInvert => {
            state.log_view.invert = !state.log_view.invert;
            vec![]
        }
        Action::ToggleWrap => {
            state.log_view.wrap = !state.log_view.wrap;
            vec![]
        }
        Action::ToggleSplit => {
            state.log_view.split = !state.log_view.split;
            vec![]
        }
        Action::ToggleTimestamps => {
            state.log_view.timestamps = !state.log_view.timestamps;
            vec![]
        }
        Action::ShowColor { color } => {
            state.log_view.color = color;
            vec![]
        }
        Action::ToggleErrorsOnly => {
            state.log_view.errors_only = !state.log_view.errors_only;
            vec![]
        }
        Action::Input(c) => {
            input(state, Some(c));
            vec![]
        }
        Action::Backspace => {
            input(state, None);
            vec![]
        }
        Action::Submit => submit(state),
        Action::RunCommand(line) => match parse_command(&line) {
            Ok(action) => {
                state.mode = Mode::Normal;
                update(state, action)
            }
            Err(e) => {
                // Keep what was typed so it can be fixed.
                state.mode = Mode::Command { input: line };
                state.notify(NoticeLevel::Error, e);
                vec![]
            }
        },
    }
}

/// Whether the session may not write; if so, says why.
pub(super) fn write_refused(state: &mut State, verb: &str) -> bool {
    match state.access.check(verb) {
        Ok(()) => false,
        Err(r) => {
            state.notify(NoticeLevel::Error, r.reason);
            true
        }
    }
}

pub(super) fn start_busy(state: &mut State, what: impl Into<String>) {
    state.busy.push(super::state::Busy {
        what: what.into(),
        since: state.now,
    });
}

fn cancel(state: &mut State) {
    match std::mem::replace(&mut state.mode, Mode::Normal) {
        Mode::Filter { previous, .. } => {
            // Esc restores the filter that was active before the prompt opened.
            set_filter(state, previous.as_deref());
        }
        Mode::Normal if state.traffic.pending.take().is_some() => {
            state.notify(NoticeLevel::Info, "slider reset to the live weights");
        }
        _ => {}
    }
}

/// Pause and resume go straight to the command layer; abort asks first.
fn release_request(state: &mut State, request: crate::rollout::release::Request) -> Vec<Command> {
    use crate::rollout::release::Request;
    let verb = match request {
        Request::Pause => "pause",
        Request::Resume => "resume",
        Request::Abort => "abort",
    };
    if write_refused(state, verb) {
        return vec![];
    }
    let running = state
        .release
        .data
        .as_ref()
        .and_then(|r| r.as_ref())
        .filter(|r| !r.is_over())
        .cloned();
    let Some(r) = running else {
        state.notify(NoticeLevel::Info, format!("{verb}: no release is running"));
        return vec![];
    };
    match request {
        Request::Abort => {
            state.mode = Mode::Confirm(PendingOp::AbortRelease {
                id: r.id.clone(),
                tag: r.tag.clone(),
                stable: r.canary.other(),
            });
            vec![]
        }
        _ => vec![Command::ReleaseRequest(request)],
    }
}

fn nudge_slider(state: &mut State, delta: i32) {
    let Some(current) = state.slider() else {
        state.notify(
            NoticeLevel::Warning,
            "weights not known yet: waiting for the listener",
        );
        return;
    };
    // The slider counts per mille for the canary; nudge_green counts them for green.
    let signed = match state.slider_color() {
        Color::Green => delta,
        Color::Blue => -delta,
    };
    state.traffic.pending = Some(current.nudge_green(signed));
}

fn select(state: &mut State, delta: i64) {
    let images = state.images.data.as_ref().map_or(0, Vec::len);
    let choices = state.deploy_choices().len();
    let plans = state.plan_choices().len();
    let step = |i: usize, n: usize| -> usize {
        if n == 0 {
            0
        } else {
            (i as i64 + delta).clamp(0, n as i64 - 1) as usize
        }
    };
    match &mut state.mode {
        Mode::PickImage { selected } => *selected = step(*selected, choices),
        Mode::PickRelease { tag, selected } => {
            let n = if tag.is_some() { plans } else { choices };
            *selected = step(*selected, n);
        }
        _ => match state.focus {
            Focus::Images => state.image_index = step(state.image_index, images),
            Focus::Build => {
                if delta > 0 {
                    update(state, Action::OlderBuild);
                } else {
                    update(state, Action::NewerBuild);
                }
            }
            Focus::Logs => {
                if delta > 0 {
                    state.log_view.scroll_down(&state.log_buffer, 1);
                } else {
                    state.log_view.scroll_up(&state.log_buffer, 1);
                }
            }
            _ => {}
        },
    }
}
