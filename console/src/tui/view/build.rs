//! The build panel: one build's phases in order, with status glyphs and durations.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;

use super::theme;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{dim, error_line, fmt, panel_block};
use crate::rollout::{Build, BuildStatus};
use crate::tui::state::{Focus, State};

pub(super) fn render(frame: &mut Frame, area: Rect, state: &State) {
    let builds = state.builds.data.as_deref().unwrap_or_default();
    let shown = builds.get(state.build_index);
    let mut extra = Vec::new();
    if let Some(b) = shown {
        let label = match b.number {
            Some(n) => format!("#{n}"),
            None => short_id(&b.id),
        };
        extra.push(Span::raw(label));
        let (_, style, word) = status(b.status, state.spinner);
        extra.push(Span::styled(word, style));
        if state.build_index > 0 {
            extra.push(Span::styled(
                format!("{} of {} ([/] newer)", state.build_index + 1, builds.len()),
                theme::WARN,
            ));
        }
    }
    let block = panel_block("Build", extra, &state.builds, state, Focus::Build, None);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(body(state, inner.width)), inner);
}

/// The panel's lines at `width`: the build's summary, its phases packed in order, and a
/// failed phase's context. The layout sizes the panel from them.
pub(super) fn body(state: &State, width: u16) -> Vec<Line<'static>> {
    let builds = state.builds.data.as_deref().unwrap_or_default();
    let Some(b) = builds.get(state.build_index) else {
        if let Some(e) = error_line(&state.builds) {
            return vec![e];
        }
        let text = if state.builds.data.is_some() {
            "no builds yet · B starts one"
        } else {
            "no data yet"
        };
        return vec![dim(text)];
    };
    let mut lines: Vec<Line> = error_line(&state.builds).into_iter().collect();
    lines.push(summary(b, state.now));
    let phases: Vec<Span<'static>> = b
        .phases
        .iter()
        .map(|p| {
            let (glyph, style, _) = status(p.status, state.spinner);
            let dur = p
                .duration_ms
                .map(|d| d as i64)
                .or_else(|| match (p.started_at, p.ended_at) {
                    (Some(s), Some(e)) => Some(e - s),
                    (Some(s), None) if !p.status.is_done() => Some(state.now - s),
                    _ => None,
                })
                .map(|d| format!(" {}", fmt::duration(d)))
                .unwrap_or_default();
            Span::styled(format!("{glyph} {}{dur}", short_phase(&p.name)), style)
        })
        .collect();
    // Packed in order, as many to a line as fit: the rows go to the panels below.
    let mut line: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for p in phases {
        let w = p.content.chars().count() + 1;
        if used + w > width as usize && !line.is_empty() {
            lines.push(Line::from(std::mem::take(&mut line)));
            used = 0;
        }
        used += w;
        line.push(p);
        line.push(Span::raw(" "));
    }
    if !line.is_empty() {
        lines.push(Line::from(line));
    }
    if let Some(failed) = b.phases.iter().find(|p| {
        matches!(
            p.status,
            BuildStatus::Failed | BuildStatus::Fault | BuildStatus::TimedOut
        )
    }) {
        for c in &failed.context {
            lines.push(Line::styled(c.clone(), theme::BAD));
        }
    }
    lines
}

/// A phase's name in a few letters, for packed rows.
fn short_phase(name: &str) -> String {
    match name {
        "SUBMITTED" => "submit".into(),
        "PROVISIONING" => "prov".into(),
        "DOWNLOAD_SOURCE" => "src".into(),
        "PRE_BUILD" => "pre".into(),
        "POST_BUILD" => "post".into(),
        "UPLOAD_ARTIFACTS" => "upload".into(),
        "FINALIZING" => "final".into(),
        "COMPLETED" => "done".into(),
        other => other.to_ascii_lowercase(),
    }
}

fn short_id(id: &str) -> String {
    let tail = id.rsplit(':').next().unwrap_or(id);
    tail.chars().take(8).collect()
}

fn summary(b: &Build, now: i64) -> Line<'static> {
    let source = b.source_version.as_deref().unwrap_or("default source");
    let commit = b
        .resolved_source
        .as_deref()
        .map(|c| format!(" @ {}", &c[..c.len().min(8)]))
        .unwrap_or_default();
    let total = match (b.started_at, b.ended_at) {
        (Some(s), Some(e)) => format!(" · total {}", fmt::duration(e - s)),
        (Some(s), None) => format!(" · running {}", fmt::duration(now - s)),
        _ => String::new(),
    };
    let digest = b
        .exported
        .iter()
        .find(|(k, _)| k == "IMAGE_TAG")
        .map(|(_, v)| format!(" · tag {v}"))
        .unwrap_or_default();
    Line::from(vec![
        Span::raw(format!("{source}{commit}")),
        Span::styled(format!("{total}{digest}"), theme::MUTED),
    ])
}

/// Glyph, style and word for a status.
fn status(s: BuildStatus, spinner: usize) -> (&'static str, Style, &'static str) {
    match s {
        BuildStatus::Queued => ("·", theme::MUTED, "queued"),
        BuildStatus::InProgress => (fmt::spinner(spinner), theme::WARN, "running"),
        BuildStatus::Succeeded => ("✓", theme::GOOD, "succeeded"),
        BuildStatus::Failed => ("✗", theme::BAD, "failed"),
        BuildStatus::Fault => ("✗", theme::BAD, "fault"),
        BuildStatus::TimedOut => ("✗", theme::BAD, "timed out"),
        BuildStatus::Stopped => ("■", theme::MUTED, "stopped"),
    }
}
