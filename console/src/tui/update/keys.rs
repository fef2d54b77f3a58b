//! The default keymap: which key means which action in which mode. Kept apart from
//! [`super::update`] so a keymap file could replace it.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::super::action::Action;
use super::super::state::{Focus, Mode, PendingOp, State};
use crate::rollout::Color;

/// Lines a page-up/down scrolls the logs.
const PAGE: usize = 10;

/// The action a key press means now, if any.
pub fn action_for(state: &State, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c')) {
        return Some(Action::Quit);
    }
    match &state.mode {
        Mode::Normal => normal(state, key, ctrl),
        Mode::Help => match key.code {
            KeyCode::Char('q') => Some(Action::Quit),
            _ => Some(Action::ToggleHelp),
        },
        Mode::Command { .. } | Mode::Filter { .. } => prompt(key),
        Mode::Confirm(op) => confirm(op, key),
        Mode::PickImage { .. } => match key.code {
            KeyCode::Up | KeyCode::Char('k') => Some(Action::SelectPrev),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::SelectNext),
            KeyCode::Enter => Some(Action::Confirm),
            KeyCode::Esc | KeyCode::Char('q') => Some(Action::Cancel),
            _ => None,
        },
    }
}

fn normal(state: &State, key: KeyEvent, ctrl: bool) -> Option<Action> {
    if ctrl {
        return match key.code {
            KeyCode::Char('r') => Some(Action::Refresh),
            KeyCode::Char('u') => Some(Action::ScrollUp { lines: PAGE }),
            KeyCode::Char('d') => Some(Action::ScrollDown { lines: PAGE }),
            _ => None,
        };
    }
    let logs = state.focus == Focus::Logs;
    Some(match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Tab => Action::FocusNext,
        KeyCode::BackTab => Action::FocusPrev,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Char(':') => Action::OpenCommandLine,
        KeyCode::Esc => Action::Cancel,
        KeyCode::F(5) => Action::Refresh,
        // Slider: points for the canary.
        KeyCode::Left | KeyCode::Char('h') => Action::NudgeSlider { delta: -5 },
        KeyCode::Right | KeyCode::Char('l') => Action::NudgeSlider { delta: 5 },
        KeyCode::Char('H') => Action::NudgeSlider { delta: -1 },
        KeyCode::Char('L') => Action::NudgeSlider { delta: 1 },
        KeyCode::Char(c @ '0'..='9') => Action::SetSlider {
            percent: (c as u8 - b'0') * 10,
        },
        KeyCode::Char(')') | KeyCode::Char('G') => Action::SetSlider { percent: 100 },
        KeyCode::Enter => Action::ApplySlider,
        // Verbs.
        KeyCode::Char('p') => Action::Promote {
            bake_secs: None,
            keep_old: false,
        },
        KeyCode::Char('r') => Action::Rollback,
        KeyCode::Char('B') => Action::StartBuild {
            source_version: None,
        },
        KeyCode::Char('d') => Action::Deploy { tag: None },
        KeyCode::Char('F') => Action::FinishBake,
        KeyCode::Char('[') => Action::OlderBuild,
        KeyCode::Char(']') => Action::NewerBuild,
        // Logs.
        KeyCode::Char('f') => Action::ToggleFollow,
        KeyCode::Char('/') => Action::StartFilter,
        KeyCode::Char('!') => Action::ToggleInvert,
        KeyCode::Char('w') => Action::ToggleWrap,
        KeyCode::Char('t') => Action::ToggleTimestamps,
        KeyCode::Char('b') => Action::ShowColor {
            color: Some(Color::Blue),
        },
        KeyCode::Char('g') => Action::ShowColor {
            color: Some(Color::Green),
        },
        KeyCode::Char('a') => Action::ShowColor { color: None },
        KeyCode::Char('e') => Action::ToggleErrorsOnly,
        KeyCode::PageUp => Action::ScrollUp { lines: PAGE },
        KeyCode::PageDown => Action::ScrollDown { lines: PAGE },
        KeyCode::Home if logs => Action::ScrollTop,
        KeyCode::End if logs => Action::ScrollBottom,
        KeyCode::Up | KeyCode::Char('k') => Action::SelectPrev,
        KeyCode::Down | KeyCode::Char('j') => Action::SelectNext,
        _ => return None,
    })
}

fn prompt(key: KeyEvent) -> Option<Action> {
    match key.code {
        KeyCode::Enter => Some(Action::Submit),
        KeyCode::Esc => Some(Action::Cancel),
        KeyCode::Backspace => Some(Action::Backspace),
        KeyCode::Char(c) => Some(Action::Input(c)),
        _ => None,
    }
}

fn confirm(op: &PendingOp, key: KeyEvent) -> Option<Action> {
    match key.code {
        KeyCode::Enter | KeyCode::Char('y') => Some(Action::Confirm),
        KeyCode::Esc | KeyCode::Char('n') | KeyCode::Char('q') => Some(Action::Cancel),
        KeyCode::Char('f') if matches!(op, PendingOp::Shift { .. }) => Some(Action::ToggleForce),
        KeyCode::Char('k') if matches!(op, PendingOp::Promote { .. }) => {
            Some(Action::ToggleKeepOld)
        }
        KeyCode::Char('+') | KeyCode::Right | KeyCode::Char('l')
            if matches!(op, PendingOp::Promote { .. }) =>
        {
            Some(Action::AdjustBake { secs: 60 })
        }
        KeyCode::Char('-') | KeyCode::Left | KeyCode::Char('h')
            if matches!(op, PendingOp::Promote { .. }) =>
        {
            Some(Action::AdjustBake { secs: -60 })
        }
        _ => None,
    }
}

/// The keys that apply in the current mode, for the footer: `(key, what)`.
pub fn hints(state: &State) -> Vec<(&'static str, &'static str)> {
    match &state.mode {
        Mode::Normal => {
            let mut h = vec![
                ("←/→", "slider"),
                ("⏎", "apply"),
                ("p", "promote"),
                ("r", "rollback"),
                ("B", "build"),
                ("d", "deploy"),
                ("?", "help"),
            ];
            if state.focus == Focus::Logs {
                h.extend([
                    ("f", "follow"),
                    ("/", "filter"),
                    ("b/g/a", "color"),
                    ("e", "errors"),
                ]);
            }
            h.extend([(":", "command"), ("tab", "focus"), ("q", "quit")]);
            h
        }
        Mode::Help => vec![("any key", "close help")],
        Mode::Command { .. } => vec![("⏎", "run"), ("esc", "cancel")],
        Mode::Filter { .. } => vec![("⏎", "keep filter"), ("esc", "restore previous")],
        Mode::PickImage { .. } => vec![("↑/↓", "choose"), ("⏎", "deploy…"), ("esc", "cancel")],
        Mode::Confirm(op) => {
            let mut h = vec![("⏎/y", "confirm"), ("esc/n", "cancel")];
            match op {
                PendingOp::Shift {
                    refusal: Some(r), ..
                } if r.overridable => h.push(("f", "force")),
                PendingOp::Promote { .. } => {
                    h.extend([("+/-", "bake ±60 s"), ("k", "keep old")]);
                }
                _ => {}
            }
            h
        }
    }
}
