//! The traffic panel: live weights as a two-color bar, the slider, desired vs observed.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use super::theme;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{dim, error_line, fmt, panel_block};
use crate::rollout::{Color, Weights, drift, split};
use crate::tui::state::{Focus, State};

pub(super) fn render(frame: &mut Frame, area: Rect, state: &State) {
    let mut extra = Vec::new();
    if let Some(s) = state.snapshot() {
        if let Some(stable) = s.stable() {
            extra.push(Span::styled(
                format!("stable {stable}"),
                fmt::color_style(stable),
            ));
        }
        if let Some(b) = s.bake_pending() {
            let left = b.until - state.now;
            extra.push(Span::styled(
                if left > 0 {
                    format!("bake {} left", fmt::duration(left))
                } else {
                    "bake due".to_string()
                },
                theme::WARN,
            ));
        }
    }
    let block = panel_block(
        "Traffic",
        extra,
        &state.services,
        state,
        Focus::Traffic,
        None,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines = body(state, inner.width, Some(inner.height));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
}

/// The panel's lines at `width`: the bar, faults, the error, desired · observed while a
/// shift converges, the slider, and the test listener when `height` has room for it (all
/// with `None`: the rows the panel wants).
pub(super) fn body(state: &State, width: u16, height: Option<u16>) -> Vec<Line<'static>> {
    let error = error_line(&state.services);
    let Some(observed) = state.observed() else {
        let mut lines: Vec<Line> = error.into_iter().collect();
        lines.push(dim("weights unknown: waiting for the listener"));
        lines.push(dim("r rolls back even while this panel is in error"));
        return lines;
    };
    let mut lines = vec![bar(observed, width as usize)];
    let (three, drifts) = measured_lines(state);
    lines.extend(drifts);
    lines.extend(fault_lines(state));
    lines.extend(error);
    if let Some(desired) = state.traffic.desired {
        lines.push(Line::from(vec![
            Span::styled("desired ", theme::WARN),
            Span::raw(format!("{desired}")),
            Span::styled(" · observed ", theme::WARN),
            Span::raw(format!("{observed} ")),
            Span::styled(
                format!("{} converging", fmt::spinner(state.spinner)),
                theme::WARN,
            ),
        ]));
    }
    lines.push(slider_line(state, observed));
    if let Some(three) = three.filter(|_| height.is_none_or(|h| h as usize > lines.len())) {
        lines.push(three);
    }
    if height.is_none_or(|h| h as usize > lines.len())
        && let Some(s) = state.snapshot()
    {
        let canary = state.slider_color();
        let test = s
            .listener
            .test_color
            .map(|c| format!("test listener → {c}"))
            .unwrap_or_else(|| "test listener: none".into());
        lines.push(dim(format!("slider moves {canary} · {test}")));
    }
    lines
}

/// `blue 90·90·89.7  green 10·10·10.3  desired·listener·observed`: the three numbers per
/// color, observed from the requests after the last write (shown when the panel has room);
/// and a drift warning with both numbers when the weights are not what a console wrote, or
/// the requests do not follow them (always shown, under the bar).
fn measured_lines(state: &State) -> (Option<Line<'static>>, Vec<Line<'static>>) {
    let Some(s) = state.snapshot() else {
        return (None, Vec::new());
    };
    let l = &s.listener;
    let since = l.written.map_or(i64::MIN, |w| w.at);
    let counts = state
        .metrics
        .data
        .as_ref()
        .and_then(|m| m.as_ref())
        .map(|m| split::counts_since(m, since, state.info.metrics_resolution_ms));
    let measured = split::measured(
        l,
        counts.as_ref().map(|_| 0),
        counts.ok_or_else(|| "no metrics yet".to_string()),
    );
    let mut spans = Vec::new();
    for color in Color::ALL {
        let observed = measured
            .observed
            .map_or("-".to_string(), |o| o.share(color).to_string());
        spans.push(Span::styled(
            format!(
                "{color} {}·{}·{observed}  ",
                measured.desired.share(color),
                measured.listener.share(color)
            ),
            fmt::color_style(color),
        ));
    }
    spans.push(Span::styled(
        "desired·listener·observed",
        Style::new().add_modifier(Modifier::DIM),
    ));
    let mut lines = Vec::new();
    // Requests are judged only after a recorded write: without its time the polled window
    // may straddle a change.
    let verdict = measured
        .verdict
        .filter(|v| l.written.is_some() && matches!(v, split::SplitVerdict::Mismatch { .. }));
    for d in drift::find(s, verdict.as_ref()) {
        lines.push(Line::from(Span::styled(
            format!("⚠ drift: {}", d.describe()),
            theme::FAULT.add_modifier(Modifier::BOLD),
        )));
    }
    (Some(Line::from(spans)), lines)
}

/// `⚠ fault green: 20% 5xx +500ms, 1m40s left`, one line per fault the listener injects (the
/// local proxy's `bluegreen local fault`), right under the bar so a demo sees why a gate fails.
fn fault_lines(state: &State) -> Vec<Line<'static>> {
    let Some(s) = state.snapshot() else {
        return Vec::new();
    };
    let red = theme::FAULT;
    s.listener
        .faults
        .iter()
        .map(|f| {
            Line::from(vec![
                Span::styled("⚠ fault ", red.add_modifier(Modifier::BOLD)),
                Span::styled(f.color.to_string(), fmt::color_style(f.color)),
                Span::styled(format!(": {}", f.describe(state.now)), red),
            ])
        })
        .collect()
}

/// `blue 80 ████████████████░░░░ green 20`, the blue part first.
fn bar(w: Weights, width: usize) -> Line<'static> {
    let left = format!("blue {:>3} ", w.share(Color::Blue).to_string());
    let right = format!(" {:<3} green", w.share(Color::Green).to_string());
    let cells = width.saturating_sub(left.len() + right.len());
    let total = Weights::TOTAL as usize;
    let blue_cells = (cells * w.get(Color::Blue) as usize + total / 2) / total;
    let green_cells = cells - blue_cells;
    Line::from(vec![
        Span::styled(left, fmt::color_style(Color::Blue)),
        Span::styled("█".repeat(blue_cells), fmt::color_style(Color::Blue)),
        Span::styled("█".repeat(green_cells), fmt::color_style(Color::Green)),
        Span::styled(right, fmt::color_style(Color::Green)),
    ])
}

fn slider_line(state: &State, observed: Weights) -> Line<'static> {
    let canary = state.slider_color();
    match state.traffic.pending {
        Some(p) if p != observed => Line::from(vec![
            Span::styled("slider ", Style::new().add_modifier(Modifier::BOLD)),
            Span::styled(
                format!("{canary} {}%", p.share(canary)),
                fmt::bold(fmt::color_style(canary)),
            ),
            Span::raw(format!(" → {}", change(observed, p))),
            Span::styled("  ⏎ apply · esc reset", theme::MUTED),
        ]),
        _ => dim(format!(
            "slider {canary} {}% · ←/→ ±5 · H/L ±1 · </> ±0.1 · ⏎ apply",
            observed.share(canary)
        )),
    }
}

/// `blue 80 → 60, green 20 → 40`: the exact change, stated the same way everywhere.
pub(crate) fn change(from: Weights, to: Weights) -> String {
    format!(
        "blue {} → {}, green {} → {}",
        from.share(Color::Blue),
        to.share(Color::Blue),
        from.share(Color::Green),
        to.share(Color::Green)
    )
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use crate::rollout::{Color, InjectedFault, Share};
    use crate::tui::fixtures::{self, NOW};

    #[test]
    fn an_injected_fault_shows_under_the_bar_with_its_time_left() {
        let mut s = fixtures::healthy_blue_live();
        let fault = InjectedFault {
            color: Color::Green,
            error_rate: Share::percent(20).expect("valid"),
            latency_ms: 500,
            until: Some(NOW + 100_000),
        };
        if let Some(snap) = s.services.data.as_mut() {
            snap.listener.faults = vec![fault];
        }
        s.now = NOW;
        for (w, h) in [(80, 24), (160, 48)] {
            let mut t = Terminal::new(TestBackend::new(w, h)).expect("test backend");
            t.draw(|f| super::super::render(f, &s)).expect("draws");
            let screen: String = t
                .backend()
                .buffer()
                .content()
                .iter()
                .map(|c| c.symbol())
                .collect();
            assert!(
                screen.contains("⚠ fault green: 20% 5xx +500ms, 1m40s left"),
                "{w}x{h}:\n{}",
                t.backend()
            );
        }
    }

    /// Weights no console wrote: the panel warns with both, under the bar, on the smallest
    /// screen too; the three numbers per color show where there is room.
    #[test]
    fn drift_shows_under_the_bar_with_both_weights() {
        let mut s = fixtures::healthy_blue_live();
        if let Some(snap) = s.services.data.as_mut() {
            snap.listener.written = Some(crate::rollout::Written {
                weights: crate::rollout::Weights::percent(80, 20).expect("valid"),
                at: NOW - 60_000,
            });
        }
        s.now = NOW;
        let lines: Vec<String> = super::body(&s, 200, None)
            .iter()
            .map(|l| l.to_string())
            .collect();
        assert!(
            lines.iter().any(|l| l.starts_with("blue 80·100·")
                && l.contains("green 20·0·")
                && l.ends_with("desired·listener·observed")),
            "{lines:#?}"
        );
        let small: Vec<String> = super::body(&s, 200, Some(3))
            .iter()
            .map(|l| l.to_string())
            .collect();
        assert_eq!(
            small[1],
            "⚠ drift: weights changed outside the console: it wrote blue 80 / green 20, the listener shows blue 100 / green 0"
        );
    }
}
