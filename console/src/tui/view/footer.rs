//! The notice line (an operation's outcome, a refusal, a write in progress) and the key hints
//! (or the open prompt).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use super::theme;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::fmt;
use crate::tui::state::{Mode, NoticeLevel, State};
use crate::tui::update::keys;

pub(super) fn render(frame: &mut Frame, notice: Option<Rect>, footer: Rect, state: &State) {
    let status = status_line(state);
    match notice {
        Some(r) => {
            if let Some(l) = status.clone() {
                frame.render_widget(Paragraph::new(l), r);
            }
            frame.render_widget(Paragraph::new(bottom_line(state)), footer);
        }
        None => {
            // No room for two lines: a prompt wins, then the notice, then the hints.
            let line = match (&state.mode, status) {
                (Mode::Command { .. } | Mode::Filter { .. }, _) | (_, None) => bottom_line(state),
                (_, Some(l)) => l,
            };
            frame.render_widget(Paragraph::new(line), footer);
        }
    }
}

/// `➜ green is healthy at 0%: move the slider with → and press ⏎ · i hides this`.
pub(super) fn guide(frame: &mut Frame, area: Rect, state: &State, text: &str) {
    let toggle = state
        .keymap
        .key_for(&crate::tui::action::Action::ToggleGuide)
        .map(|k| format!(" · {k} hides this"))
        .unwrap_or_default();
    let line = Line::from(vec![
        Span::styled("➜ ", theme::ACCENT.add_modifier(Modifier::BOLD)),
        Span::styled(text.to_string(), theme::ACCENT),
        Span::styled(toggle, theme::MUTED),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

fn status_line(state: &State) -> Option<Line<'static>> {
    if let Some(b) = state.busy.first() {
        return Some(Line::from(vec![
            Span::styled(
                format!("{} {}", fmt::spinner(state.spinner), b.what),
                theme::WARN,
            ),
            Span::styled(
                format!(" ({})", fmt::duration(state.now - b.since)),
                theme::MUTED,
            ),
        ]));
    }
    if let Mode::Filter { error: Some(e), .. } = &state.mode {
        return Some(Line::styled(e.clone(), theme::BAD));
    }
    state.notice.as_ref().map(|n| {
        let style = match n.level {
            NoticeLevel::Info => Style::new(),
            NoticeLevel::Success => theme::GOOD,
            NoticeLevel::Warning => theme::WARN,
            NoticeLevel::Error => theme::BAD,
        };
        Line::from(vec![
            Span::styled(format!("{} ", fmt::clock(n.at)), theme::MUTED),
            Span::styled(n.text.clone(), style),
        ])
    })
}

fn bottom_line(state: &State) -> Line<'static> {
    let cursor = Span::styled("▏", Style::new().add_modifier(Modifier::SLOW_BLINK));
    match &state.mode {
        Mode::Command { input } => Line::from(vec![
            Span::styled(":", theme::ACCENT),
            Span::raw(input.clone()),
            cursor,
            Span::styled(
                "   ⏎ run · esc cancel · :help lists the verbs",
                theme::MUTED,
            ),
        ]),
        Mode::Filter { input, .. } => Line::from(vec![
            Span::styled("/", theme::FILTER),
            Span::raw(input.clone()),
            cursor,
            Span::styled("   ⏎ keep · esc restore · ! inverts", theme::MUTED),
        ]),
        _ => {
            let mut spans = Vec::new();
            for (k, what) in keys::hints(state) {
                spans.push(Span::styled(
                    format!(" {k}"),
                    theme::ACCENT.add_modifier(Modifier::BOLD),
                ));
                spans.push(Span::styled(format!(" {what} "), theme::HINT));
            }
            Line::from(spans)
        }
    }
}
