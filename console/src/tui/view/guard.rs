//! The guard panel, in the release panel's place and of its shape while no release shows:
//! what the guard watches (a canary with traffic, a bake), each gate's value live against its
//! threshold, and what it did last; or, when nobody watches what should be watched, says so.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{dim, panel_block, theme};
use crate::rollout::gate::{GateResult, Verdict};
use crate::rollout::watch::{self, WatchRecord};
use crate::tui::state::{Focus, State};

/// How long the panel keeps showing what the guard did last, once nothing is watched.
const ACTION_SHOWN_MS: i64 = 15 * 60 * 1000;

/// The guard's record, when the panel shows: something is watched, or should be and nobody
/// does, or the guard acted within [`ACTION_SHOWN_MS`].
fn record(state: &State) -> Option<&crate::rollout::Listener> {
    let l = &state.services.data.as_ref()?.listener;
    let nobody = unguarded(state, l);
    let rec = l.guard.as_deref();
    let watching = rec.is_some_and(|r| r.watching.is_some() && !r.stale(state.now));
    let acted = rec
        .and_then(|r| r.last_action.as_ref())
        .is_some_and(|a| state.now.saturating_sub(a.at) < ACTION_SHOWN_MS);
    (watching || acted || nobody.is_some()).then_some(l)
}

/// The "nobody watches" line, when something should be watched and nobody does.
fn unguarded(state: &State, l: &crate::rollout::Listener) -> Option<String> {
    // A platform that finishes bakes by itself (the local daemon) watches by itself too.
    watch::unguarded_text(l, state.now, state.info.finishes_bake, crate::format::clock)
}

/// Whether the panel shows.
pub(super) fn shown(state: &State) -> bool {
    record(state).is_some()
}

/// The rows of content the panel wants.
pub(super) fn wanted(state: &State) -> u16 {
    lines(state).len().try_into().unwrap_or(u16::MAX)
}

fn lines(state: &State) -> Vec<Line<'static>> {
    let Some(l) = record(state) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(line) = unguarded(state, l) {
        out.push(Line::styled(line, theme::BAD.add_modifier(Modifier::BOLD)));
    }
    let Some(rec) = l.guard.as_deref() else {
        return out;
    };
    if !rec.stale(state.now) {
        out.push(Line::styled(rec.summary(), theme::ACCENT));
        out.extend(rec.gates.iter().map(gate_line));
        if let Some(u) = &rec.unguarded {
            out.push(Line::styled(
                format!("unguarded by {}: {}", u.by, u.reason),
                theme::WARN,
            ));
        }
        if rec.probe_sent > 0 {
            out.push(dim(format!("probe: {} requests sent", rec.probe_sent)));
        }
    }
    if let Some(a) = &rec.last_action {
        out.push(Line::styled(
            format!(
                "{} at {}: {}: {}",
                a.action,
                crate::format::clock(a.at),
                a.watched.describe(),
                watch::describe_failed(&a.failed)
            ),
            theme::BAD.add_modifier(Modifier::BOLD),
        ));
    }
    out
}

pub(super) fn render(frame: &mut Frame, area: Rect, state: &State) {
    let title = match record(state).and_then(|l| l.guard.as_deref()) {
        Some(WatchRecord { watcher, mode, .. }) => vec![Span::raw(format!("{mode} · {watcher}"))],
        None => Vec::new(),
    };
    let block = panel_block("Guard", title, &state.services, state, Focus::Logs, None);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(lines(state)), inner);
}

/// One gate: its name, verdict, measured value and threshold, and why when it did not pass.
/// The release panel draws its gates with it too.
pub(super) fn gate_line(g: &GateResult) -> Line<'static> {
    let style = match g.verdict {
        Verdict::Pass => theme::GOOD,
        Verdict::Inconclusive => theme::WARN,
        Verdict::Fail => theme::BAD.add_modifier(Modifier::BOLD),
    };
    let mut spans = vec![
        Span::raw(format!("{:<8} ", g.gate.as_str())),
        Span::styled(format!("{:<12} ", g.verdict.to_string()), style),
        Span::raw(format!("{:<18} ", g.measured)),
        Span::styled(g.threshold.clone(), theme::HINT),
    ];
    if let Some(why) = g.reason.as_ref().filter(|_| g.verdict != Verdict::Pass) {
        spans.push(Span::styled(format!("  {why}"), theme::MUTED));
    }
    Line::from(spans)
}
