//! The release panel: the plan's steps in a row (done ✓, the current one with its countdown,
//! the next ones), what the step waits for besides its hold (requests that show its weights)
//! or the mismatch it warns about, then every gate's measured value next to its threshold
//! and its verdict.
//! After a rollback it keeps naming the gate that failed until dismissed (`:dismiss`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;

use super::theme;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{dim, error_line, fmt, panel_block};
use crate::rollout::Release;
use crate::rollout::release::{Outcome, Stage};
use crate::tui::state::{Focus, State};

/// Rows the panel takes: borders, the steps, the outcome or stage line, and the gates.
pub(super) const ROWS: u16 = 8;

/// The release the panel shows: the recorded one, unless it ended and was dismissed.
pub(super) fn shown(state: &State) -> Option<&Release> {
    let r = state.release.data.as_ref()?.as_ref()?;
    (!r.is_over() || state.release_dismissed.as_deref() != Some(r.id.as_str())).then_some(r)
}

/// The rows of content the panel wants: the error, the steps, the stage and each gate.
pub(super) fn wanted(state: &State) -> u16 {
    let Some(r) = shown(state) else {
        return 0;
    };
    let error = u16::from(state.release.error().is_some());
    let error = error + u16::from(split_line(r).is_some());
    let gates = u16::try_from(r.gates.len()).unwrap_or(u16::MAX).max(1);
    error + 2 + gates
}

pub(super) fn render(frame: &mut Frame, area: Rect, state: &State) {
    let Some(r) = shown(state) else {
        return;
    };
    let title = vec![Span::styled(
        format!("{} of {} → {}", r.id, r.tag, r.canary),
        fmt::color_style(r.canary),
    )];
    let block = panel_block("Release", title, &state.release, state, Focus::Logs, None);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines = Vec::new();
    if let Some(e) = error_line(&state.release) {
        lines.push(e);
    }
    lines.push(steps_line(r, state.now));
    lines.push(stage_line(r, state.now));
    lines.extend(split_line(r));
    lines.extend(r.gates.iter().map(super::guard::gate_line));
    if r.gates.is_empty() && !r.is_over() {
        lines.push(dim("gates: not checked yet"));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// `✓ 1% · ▶ 10% 1m20s · 50% · 100%`.
fn steps_line(r: &Release, now: i64) -> Line<'static> {
    let current = match &r.stage {
        Stage::Step { index, .. } => Some(*index),
        Stage::Paused { index, .. } => *index,
        _ => None,
    };
    let done_all = matches!(r.stage, Stage::Promoting) || r.outcome == Some(Outcome::Released);
    let mut spans = Vec::new();
    for (i, s) in r.plan.steps.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", theme::MUTED));
        }
        let passed = done_all || current.is_some_and(|c| i < c);
        if passed {
            spans.push(Span::styled(format!("✓ {}%", s.weight), theme::GOOD));
        } else if Some(i) == current && !r.is_over() {
            let left = r
                .hold_left_ms(now)
                .map(|ms| format!(" {}", crate::format::duration(ms as i64)))
                .unwrap_or_default();
            spans.push(Span::styled(
                format!("▶ {}%{left}", s.weight),
                theme::WARN.add_modifier(Modifier::BOLD),
            ));
        } else {
            spans.push(Span::styled(format!("{}%", s.weight), theme::HINT));
        }
    }
    if !spans.is_empty() {
        spans.push(Span::styled(" · ", theme::MUTED));
    }
    spans.push(Span::styled(
        "100%",
        if r.outcome == Some(Outcome::Released) {
            theme::GOOD
        } else {
            theme::HINT
        },
    ));
    Line::from(spans)
}

/// What the step's measured split says, while the release runs and it does not match.
fn split_line(r: &Release) -> Option<Line<'static>> {
    let split = r.split.as_ref().filter(|_| !r.is_over())?;
    let words = split.describe()?;
    let style = if split.is_mismatch() {
        theme::BAD.add_modifier(Modifier::BOLD)
    } else {
        theme::WARN
    };
    Some(Line::styled(format!("split: {words}"), style))
}

/// The stage, or how the release ended and the keys that apply.
fn stage_line(r: &Release, now: i64) -> Line<'static> {
    match &r.outcome {
        Some(Outcome::Released) => {
            Line::styled("released · :dismiss hides this panel", theme::GOOD)
        }
        Some(Outcome::RolledBack { failed, .. }) => Line::styled(
            format!(
                "rolled back by the {} gate · :dismiss hides this panel",
                failed
                    .iter()
                    .map(|g| g.gate.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            theme::BAD.add_modifier(Modifier::BOLD),
        ),
        Some(o) => Line::styled(
            format!("{o} · :dismiss hides this panel"),
            theme::BAD.add_modifier(Modifier::BOLD),
        ),
        None => {
            let mut text = format!("{} · plan {}", r.describe(), r.plan.name);
            if let Stage::Paused { reason, .. } = &r.stage {
                text = format!("paused: {reason}");
            }
            if r.driver_gone(now) {
                text.push_str(&format!(
                    " · nobody has driven it for {} (:resume takes it over)",
                    crate::format::duration(now - r.driven_at)
                ));
            } else {
                text.push_str(" · :pause :resume :abort");
            }
            Line::styled(text, theme::ACCENT)
        }
    }
}
