//! One panel per color: service counts, tasks, target health and traffic metrics.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;

use super::theme;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{dim, fmt, panel_block};
use crate::rollout::{
    Color, ColorMetrics, ColorState, ImageRef, TargetHealth, TargetState, TaskHealth, TaskState,
};
use crate::tui::state::{Focus, State};

pub(super) fn render(frame: &mut Frame, area: Rect, state: &State, color: Color) {
    let snap = state.snapshot();
    let mut extra = Vec::new();
    if let Some(s) = snap {
        let w = s.listener.weights.share(color);
        extra.push(Span::styled(
            format!("{w}%"),
            fmt::bold(fmt::color_style(color)),
        ));
        if s.live() == Some(color) {
            extra.push(Span::styled("live", fmt::color_style(color)));
        } else if s.idle() == Some(color) {
            extra.push(Span::styled("idle", theme::MUTED));
        }
        if s.stable() == Some(color) {
            extra.push(Span::raw("stable"));
        }
    }
    let focus = match color {
        Color::Blue => Focus::Blue,
        Color::Green => Focus::Green,
    };
    let name = match color {
        Color::Blue => "Blue",
        Color::Green => "Green",
    };
    let block = panel_block(
        name,
        extra,
        &state.services,
        state,
        focus,
        Some(fmt::tint(color)),
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(body(state, color, inner.width)), inner);
}

/// The panel's lines at `width`: the service, its metrics, each task with its target's
/// health, targets without a task, failure reasons and the latest service event.
pub(super) fn body(state: &State, color: Color, width: u16) -> Vec<Line<'static>> {
    let Some(s) = state.snapshot() else {
        return vec![dim("no data yet")];
    };
    let cs = s.colors.get(color);
    let wide = width >= 70;
    let mut lines = vec![service_line(cs)];
    lines.extend(metric_lines(state, color, wide));
    // Each task with its target's health on one line; a target's failure reason below it.
    let mut reasons = Vec::new();
    for t in &cs.tasks {
        let target = cs
            .targets
            .iter()
            .find(|g| g.task_id.as_deref() == Some(&t.id));
        lines.push(task_line(t, target, state.now, wide));
        if let Some(r) = target.and_then(|g| g.reason.as_ref()) {
            reasons.push(Line::styled(
                format!("  {}: {r}", t.id),
                target_style(target.map_or(TargetHealth::Unused, |g| g.health)),
            ));
        }
    }
    if cs.tasks.is_empty() {
        lines.push(dim("no tasks"));
    }
    for g in cs
        .targets
        .iter()
        .filter(|g| !cs.tasks.iter().any(|t| g.task_id.as_deref() == Some(&t.id)))
    {
        lines.push(target_line(g));
    }
    if cs.targets.is_empty() {
        lines.push(dim("no registered targets"));
    }
    lines.extend(reasons);
    if let Some(ev) = cs.service.events.first() {
        lines.push(dim(format!(
            "{} ago: {}",
            fmt::age(state.now - ev.at),
            ev.message
        )));
    }
    lines
}

fn service_line(cs: &ColorState) -> Line<'static> {
    let sv = &cs.service;
    let counts_ok = sv.running >= sv.desired && sv.pending == 0;
    let style = if counts_ok { Style::new() } else { theme::WARN };
    Line::from(vec![
        Span::styled(format!("{}/{} running", sv.running, sv.desired), style),
        Span::raw(format!(" · {} pending · ", sv.pending)),
        Span::raw(image_label(sv.image.as_ref())),
        Span::styled(format!(" · rev {}", sv.revision), theme::MUTED),
    ])
}

pub(crate) fn image_label(image: Option<&ImageRef>) -> String {
    match image {
        Some(i) => match (&i.tag, &i.digest) {
            (Some(t), _) => t.clone(),
            (None, Some(d)) => fmt::short_digest(d).to_string(),
            (None, None) => i.reference.clone(),
        },
        None => "no image".into(),
    }
}

fn target_word(h: TargetHealth) -> &'static str {
    match h {
        TargetHealth::Healthy => "healthy",
        TargetHealth::Unhealthy => "unhealthy",
        TargetHealth::Draining => "draining",
        TargetHealth::Initial => "initial",
        TargetHealth::Unused => "unused",
        TargetHealth::Unavailable => "unavailable",
    }
}

fn target_style(h: TargetHealth) -> Style {
    match h {
        TargetHealth::Healthy => theme::GOOD,
        TargetHealth::Unhealthy => theme::BAD,
        TargetHealth::Draining | TargetHealth::Initial => theme::WARN,
        TargetHealth::Unused | TargetHealth::Unavailable => theme::MUTED,
    }
}

/// A target no task claims (the platform could not tell which task it is).
fn target_line(g: &TargetState) -> Line<'static> {
    let style = target_style(g.health);
    let mut spans = vec![
        Span::styled("◆ ", style),
        Span::raw(format!("{} ", g.id)),
        Span::styled(target_word(g.health), style),
    ];
    if let Some(r) = &g.reason {
        spans.push(Span::styled(format!(" ({r})"), style));
    }
    Line::from(spans)
}

fn task_line(t: &TaskState, target: Option<&TargetState>, now: i64, wide: bool) -> Line<'static> {
    let (glyph, style) = match t.health {
        TaskHealth::Healthy => ("●", theme::GOOD),
        TaskHealth::Unhealthy => ("●", theme::BAD),
        TaskHealth::Unknown => ("○", theme::WARN),
    };
    let up = t
        .started_at
        .filter(|_| t.last_status == "RUNNING")
        .map(|s| format!(" up {}", fmt::age(now - s)))
        .unwrap_or_default();
    let mut spans = vec![
        Span::styled(format!("{glyph} "), style),
        Span::raw(format!("{} ", t.id)),
    ];
    match target {
        Some(g) => spans.push(Span::styled(
            format!("◆{} ", target_word(g.health)),
            target_style(g.health),
        )),
        None => spans.push(Span::styled("◇no target ", theme::MUTED)),
    }
    if wide || t.last_status != "RUNNING" {
        spans.push(Span::raw(t.last_status.to_ascii_lowercase()));
    }
    if wide {
        spans.push(Span::styled(
            format!(" task {}", format!("{:?}", t.health).to_ascii_lowercase()),
            style,
        ));
        if let Some(g) = target {
            spans.push(Span::styled(format!(" {}", g.id), theme::MUTED));
        }
    }
    spans.push(Span::styled(up, theme::MUTED));
    spans.push(Span::raw(format!(" {}", image_label(t.image.as_ref()))));
    if let Some(r) = &t.stopped_reason {
        spans.push(Span::styled(format!(" ({r})"), theme::BAD));
    }
    Line::from(spans)
}

/// Request rate, 5xx rate and p99 as sparklines, with the difference to the other color.
fn metric_lines(state: &State, color: Color, wide: bool) -> Vec<Line<'static>> {
    let Some(Some(m)) = state.metrics.data.as_ref() else {
        return vec![];
    };
    let mine = m.get(color);
    let other = m.get(color.other());
    if mine.points.is_empty() {
        return vec![dim("no traffic metrics yet")];
    }
    let rate = |m: &ColorMetrics| last(m, |p| p.requests as f64);
    let err = |m: &ColorMetrics| {
        last(m, |p| {
            if p.requests == 0 {
                0.0
            } else {
                p.errors_5xx as f64 * 100.0 / p.requests as f64
            }
        })
    };
    let p99 = |m: &ColorMetrics| last(m, |p| p.p99_ms.unwrap_or(0.0));
    let series = |f: &dyn Fn(&crate::rollout::MetricPoint) -> f64| -> Vec<f64> {
        let n = mine.points.len();
        mine.points[n.saturating_sub(12)..].iter().map(f).collect()
    };
    let diff = |a: f64, b: f64, unit: &str| -> Span<'static> {
        if other.points.is_empty() {
            return Span::raw("");
        }
        Span::styled(
            format!(" Δ{:+.1}{unit} vs {}", a - b, color.other()),
            theme::MUTED,
        )
    };
    let err_style = if err(mine) > 1.0 {
        theme::BAD
    } else {
        Style::new()
    };
    if !wide {
        return vec![Line::from(vec![
            Span::styled(
                fmt::spark(&series(&|p| p.requests as f64)),
                fmt::color_style(color),
            ),
            Span::raw(format!(" {:.0} req", rate(mine))),
            Span::raw(" · 5xx "),
            Span::styled(format!("{:.1}%", err(mine)), err_style),
            Span::raw(format!(" · p99 {:.0}ms", p99(mine))),
        ])];
    }
    vec![Line::from(vec![
        Span::raw("req "),
        Span::styled(
            fmt::spark(&series(&|p| p.requests as f64)),
            fmt::color_style(color),
        ),
        Span::raw(format!(" {:.0}", rate(mine))),
        diff(rate(mine), rate(other), ""),
        Span::raw(" · 5xx "),
        Span::styled(format!("{:.1}%", err(mine)), err_style),
        diff(err(mine), err(other), "%"),
        Span::raw(" · p99 "),
        Span::styled(
            fmt::spark(&series(&|p| p.p99_ms.unwrap_or(0.0))),
            fmt::color_style(color),
        ),
        Span::raw(format!(" {:.0}ms", p99(mine))),
        diff(p99(mine), p99(other), "ms"),
    ])]
}

fn last(m: &ColorMetrics, f: impl Fn(&crate::rollout::MetricPoint) -> f64) -> f64 {
    m.points.last().map(f).unwrap_or(0.0)
}
