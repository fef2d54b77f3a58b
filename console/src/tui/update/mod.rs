//! The pure core: `update(&mut State, Action) -> Vec<Command>` and `handle_event`, which turns
//! events into actions or state changes. No I/O here; the workers carry out the commands.

use std::time::Duration;

use regex::RegexBuilder;

use super::action::Action;
use super::command::Command;
use super::event::Event;
use super::state::{Focus, LogFilter, Mode, NoticeLevel, PendingOp, Resource, State};
use crate::ops::PromoteOptions;
use crate::rollout::guard::{self, Refusal};
use crate::rollout::{Color, Weights};

mod apply;
mod cmdline;
pub mod keys;

pub use cmdline::{VERBS as COMMAND_VERBS, parse_command};

/// Bake time choices in the promote dialog are clamped to this range.
const MAX_BAKE: Duration = Duration::from_secs(24 * 3600);

/// Feeds one event into the state; returns the commands it causes.
pub fn handle_event(state: &mut State, event: Event) -> Vec<Command> {
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
        Event::Done(result) => apply::done(state, result, true),
        Event::Background(result) => apply::done(state, result, false),
    }
}

/// Applies one action.
pub fn update(state: &mut State, action: Action) -> Vec<Command> {
    match action {
        Action::Quit => {
            state.quit = true;
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
        Action::Refresh => Resource::ALL.into_iter().map(Command::Refresh).collect(),
        Action::NudgeSlider { delta } => {
            nudge_slider(state, delta);
            vec![]
        }
        Action::SetSlider { percent } => {
            set_slider(state, percent);
            vec![]
        }
        Action::ApplySlider => apply_slider(state),
        Action::Shift { color, percent } => {
            let color = color.unwrap_or_else(|| state.slider_color());
            match Weights::with_share(color, percent) {
                Ok(w) => {
                    state.traffic.pending = Some(w);
                    apply_slider(state)
                }
                Err(e) => {
                    state.notify(NoticeLevel::Error, e.to_string());
                    vec![]
                }
            }
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
fn write_refused(state: &mut State, verb: &str) -> bool {
    match state.access.check(verb) {
        Ok(()) => false,
        Err(r) => {
            state.notify(NoticeLevel::Error, r.reason);
            true
        }
    }
}

fn start_busy(state: &mut State, what: impl Into<String>) {
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

fn nudge_slider(state: &mut State, delta: i16) {
    let Some(current) = state.slider() else {
        state.notify(
            NoticeLevel::Warning,
            "weights not known yet: waiting for the listener",
        );
        return;
    };
    // The slider counts points for the canary; nudge_green counts them for green.
    let signed = match state.slider_color() {
        Color::Green => delta,
        Color::Blue => -delta,
    };
    state.traffic.pending = Some(current.nudge_green(signed));
}

fn set_slider(state: &mut State, percent: u8) {
    match Weights::with_share(state.slider_color(), percent.min(Weights::TOTAL)) {
        Ok(w) => state.traffic.pending = Some(w),
        Err(e) => state.notify(NoticeLevel::Error, e.to_string()),
    }
}

fn apply_slider(state: &mut State) -> Vec<Command> {
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

fn open_promote(state: &mut State, bake: Option<Duration>, keep_old: bool) {
    if write_refused(state, "promote") {
        return;
    }
    let (target, refusal) = match state.snapshot() {
        Some(snap) => match guard::check_promote(snap, state.traffic.desired) {
            Ok(t) => (Some(t), None),
            Err(r) => (snap.stable().map(Color::other), Some(r)),
        },
        None => (None, None),
    };
    state.mode = Mode::Confirm(PendingOp::Promote {
        target,
        bake: bake.unwrap_or(PromoteOptions::default().bake).min(MAX_BAKE),
        keep_old,
        refusal,
    });
}

fn open_rollback(state: &mut State) {
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

fn open_deploy(state: &mut State, tag: Option<String>) {
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
        Some(snap) => match snap.deploy_target() {
            Some(c) => (Some(c), None),
            None => (
                None,
                Some(Refusal {
                    rule: guard::GuardRule::NotConverged,
                    reason: format!(
                        "a shift is in progress ({}): promote or roll back before deploying",
                        snap.listener.weights
                    ),
                    overridable: false,
                }),
            ),
        },
        None => (None, None),
    };
    state.mode = Mode::Confirm(PendingOp::Deploy {
        tag,
        color,
        refusal,
    });
}

fn confirm(state: &mut State) -> Vec<Command> {
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
        PendingOp::FinishBake { .. } => {
            start_busy(state, "finishing the bake");
            vec![Command::FinishBake]
        }
    }
}

fn select(state: &mut State, delta: i64) {
    let images = state.images.data.as_ref().map_or(0, Vec::len);
    let choices = state.deploy_choices().len();
    let step = |i: usize, n: usize| -> usize {
        if n == 0 {
            0
        } else {
            (i as i64 + delta).clamp(0, n as i64 - 1) as usize
        }
    };
    match &mut state.mode {
        Mode::PickImage { selected } => *selected = step(*selected, choices),
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

fn input(state: &mut State, c: Option<char>) {
    let live_filter = match &mut state.mode {
        Mode::Command { input } => {
            edit(input, c);
            None
        }
        Mode::Filter { input, .. } => {
            edit(input, c);
            Some(input.clone())
        }
        _ => None,
    };
    if let Some(text) = live_filter {
        // The filter applies as it is typed; an invalid regex keeps the last valid one.
        let err = compile_filter(&text).err();
        if err.is_none() {
            set_filter(state, Some(&text));
        }
        if let Mode::Filter { error, .. } = &mut state.mode {
            *error = err;
        }
    }
}

fn edit(input: &mut String, c: Option<char>) {
    match c {
        Some(c) => input.push(c),
        None => {
            input.pop();
        }
    }
}

fn submit(state: &mut State) -> Vec<Command> {
    match std::mem::replace(&mut state.mode, Mode::Normal) {
        Mode::Command { input } => {
            if input.trim().is_empty() {
                return vec![];
            }
            update(state, Action::RunCommand(input))
        }
        Mode::Filter {
            input, previous, ..
        } => {
            match compile_filter(&input) {
                Ok(_) => set_filter(state, Some(&input)),
                Err(e) => {
                    state.mode = Mode::Filter {
                        input,
                        previous,
                        error: Some(e.clone()),
                    };
                    state.notify(NoticeLevel::Error, e);
                }
            }
            vec![]
        }
        other => {
            state.mode = other;
            confirm(state)
        }
    }
}

/// Compiles a filter: case-insensitive unless the text has an upper-case letter.
fn compile_filter(text: &str) -> Result<regex::Regex, String> {
    RegexBuilder::new(text)
        .case_insensitive(!text.chars().any(char::is_uppercase))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("invalid regex `{text}`: {}", first_line(&e.to_string())))
}

fn first_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

fn set_filter(state: &mut State, text: Option<&str>) {
    state.log_view.filter = match text.filter(|t| !t.is_empty()) {
        Some(t) => compile_filter(t).ok().map(|regex| LogFilter {
            text: t.to_string(),
            regex,
        }),
        None => None,
    };
}
