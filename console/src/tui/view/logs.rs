//! The logs panel: the newest lines that pass the filters, bottom-aligned, each tagged by color
//! and task; regex matches highlighted. Only the lines that fit are formatted, so a full buffer
//! costs no more to draw than a screenful.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};

use super::theme;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{dim, error_line, fmt, panel_block};
use crate::rollout::{Color, LogLine};
use crate::tui::state::logs::{SPLIT_MIN_WIDTH, is_error_line, strip_leading_timestamp};
use crate::tui::state::{Focus, State};

pub(super) fn render(frame: &mut Frame, area: Rect, state: &State) {
    let view = &state.log_view;
    let buf = &state.log_buffer;
    let mut extra = vec![if view.follow {
        Span::styled("following", theme::GOOD)
    } else {
        Span::styled(
            format!("paused · {} new", view.new_since_pause(buf)),
            theme::WARN,
        )
    }];
    extra.push(Span::raw(if buf.total() > buf.len() as u64 {
        // The ring dropped the oldest: say how many were seen in all.
        format!(
            "{}/{} lines, {} seen",
            buf.len(),
            buf.capacity(),
            buf.total()
        )
    } else {
        format!("{}/{} lines", buf.len(), buf.capacity())
    }));
    if let Some(f) = &view.filter {
        let bang = if view.invert { "!" } else { "" };
        extra.push(Span::styled(format!("{bang}/{}/", f.text), theme::FILTER));
    }
    if let Some(c) = view.color {
        extra.push(Span::styled(format!("{c} only"), fmt::color_style(c)));
    }
    if view.errors_only {
        extra.push(Span::styled("errors", theme::BAD));
    }
    if view.wrap {
        extra.push(Span::raw("wrap"));
    }
    if view.split {
        extra.push(if view.color.is_some() {
            Span::styled("split: a shows both", theme::WARN)
        } else if area.width < SPLIT_MIN_WIDTH {
            Span::styled(
                format!("split needs {SPLIT_MIN_WIDTH} columns"),
                theme::WARN,
            )
        } else {
            Span::raw("blue | green")
        });
    }
    let block = panel_block("Logs", extra, &state.logs, state, Focus::Logs, None);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let mut inner = inner;
    if let Some(e) = error_line(&state.logs) {
        frame.render_widget(Paragraph::new(e), Rect { height: 1, ..inner });
        inner.y += 1;
        inner.height -= 1;
        if inner.height == 0 {
            return;
        }
    }
    let split = view.split && view.color.is_none() && inner.width >= SPLIT_MIN_WIDTH - 2;
    if !split {
        let lines = column(state, inner, None);
        frame.render_widget(Paragraph::new(lines), inner);
        return;
    }
    // Blue | green: one column each, the same bottom, a rule between them.
    let [blue, rule, green] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .areas(inner);
    for (area, color) in [(blue, Color::Blue), (green, Color::Green)] {
        frame.render_widget(Paragraph::new(column(state, area, Some(color))), area);
    }
    let bar = vec![Line::styled("│", theme::MUTED); rule.height as usize];
    frame.render_widget(Paragraph::new(bar), rule);
}

/// The lines for `area`, bottom-aligned: the newest that pass the filters (and are of
/// `only`, in a split), or a dim word on why there are none.
fn column<'a>(state: &'a State, area: Rect, only: Option<Color>) -> Vec<Line<'a>> {
    let view = &state.log_view;
    let buf = &state.log_buffer;
    let rows = area.height as usize;
    let width = area.width as usize;
    let mut picked: Vec<Line> = Vec::with_capacity(rows);
    if let Some(bottom) = view.bottom(buf) {
        let mut used = 0;
        for (_, line) in buf.iter_back_from(bottom) {
            if used >= rows {
                break;
            }
            if !view.shows(line) || only.is_some_and(|c| line.color != c) {
                continue;
            }
            let formatted = format_line(state, line, only.is_none(), width);
            if view.wrap {
                let mut wrapped = wrap(formatted, width);
                let take = wrapped.len().min(rows - used);
                // Keep the tail of a line taller than what is left: the bottom stays newest.
                let rest = wrapped.split_off(wrapped.len() - take);
                used += rest.len();
                picked.extend(rest.into_iter().rev());
            } else {
                used += 1;
                picked.push(formatted);
            }
        }
    }
    if picked.is_empty() {
        let text = match only {
            _ if buf.is_empty() => "no log lines yet".to_string(),
            Some(c) => format!("no {c} line matches the filters"),
            None => "no line matches the filters (a shows all colors, e toggles errors, / edits the filter)".to_string(),
        };
        return vec![dim(text)];
    }
    picked.reverse();
    // Bottom-align: the newest line sits on the last row.
    let pad = rows.saturating_sub(picked.len());
    let mut lines = vec![Line::raw(""); pad];
    lines.extend(picked);
    lines
}

/// Below this many columns a long task id (ECS's are 32 hex digits) is shown by its first
/// [`SHORT_TASK_ID`] characters, as the local platform's ids already are, so the message keeps
/// most of the row. The full id is in `bluegreen logs` and the color panels.
const FULL_TASK_ID_MIN_WIDTH: usize = 120;
const SHORT_TASK_ID: usize = 8;

/// The task column of a row `width` wide: the id, or its first characters on a narrow pane.
fn task_label(id: &str, width: usize) -> &str {
    if width >= FULL_TASK_ID_MIN_WIDTH || id.chars().count() <= SHORT_TASK_ID + 5 {
        return id;
    }
    match id.char_indices().nth(SHORT_TASK_ID) {
        Some((cut, _)) => &id[..cut],
        None => id,
    }
}

/// One log line: time, color (unless a split's column already says it), task, message.
fn format_line<'a>(state: &State, line: &'a LogLine, with_color: bool, width: usize) -> Line<'a> {
    let view = &state.log_view;
    let mut spans = Vec::with_capacity(6);
    // With the console's own time column, the blog's timestamp would be a second clock; the
    // raw line keeps it (the filter matches on it, `t` shows it again).
    let msg = if view.timestamps {
        strip_leading_timestamp(&line.message)
    } else {
        line.message.as_str()
    };
    if view.timestamps {
        spans.push(Span::styled(fmt::clock_ms(line.at), theme::MUTED));
        spans.push(Span::raw(" "));
    }
    let task = task_label(&line.task_id, width);
    let tag = if with_color {
        format!("{:<5} {} ", line.color.as_str(), task)
    } else {
        format!("{task} ")
    };
    spans.push(Span::styled(tag, fmt::color_style(line.color)));
    let base = if is_error_line(&line.message) {
        theme::BAD
    } else {
        Style::new()
    };
    match (&view.filter, view.invert) {
        (Some(f), false) => {
            let mut at = 0;
            for m in f.regex.find_iter(msg) {
                if m.start() > at {
                    spans.push(Span::styled(&msg[at..m.start()], base));
                }
                if m.end() > m.start() {
                    spans.push(Span::styled(
                        &msg[m.start()..m.end()],
                        theme::WARN_BADGE.add_modifier(Modifier::BOLD),
                    ));
                }
                at = m.end();
            }
            if at < msg.len() {
                spans.push(Span::styled(&msg[at..], base));
            }
        }
        _ => spans.push(Span::styled(msg, base)),
    }
    Line::from(spans)
}

/// Splits a line into rows of at most `width` characters, keeping each span's style.
fn wrap(line: Line<'_>, width: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let mut rows = vec![];
    let mut row: Vec<Span<'static>> = vec![];
    let mut used = 0;
    for span in line.spans {
        let style = span.style;
        let content = span.content;
        let mut rest: &str = &content;
        while !rest.is_empty() {
            let room = width - used;
            let split = rest
                .char_indices()
                .nth(room)
                .map(|(i, _)| i)
                .unwrap_or(rest.len());
            let (head, tail) = rest.split_at(split);
            row.push(Span::styled(head.to_string(), style));
            used += head.chars().count();
            rest = tail;
            if used >= width {
                rows.push(Line::from(std::mem::take(&mut row)));
                used = 0;
            }
        }
    }
    if !row.is_empty() || rows.is_empty() {
        rows.push(Line::from(row));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_splits_by_width() {
        let line = Line::from(vec![Span::raw("abc"), Span::raw("defgh")]);
        let rows = wrap(line, 3);
        let text: Vec<String> = rows
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect();
        assert_eq!(text, vec!["abc", "def", "gh"]);
    }

    #[test]
    fn an_ecs_task_id_is_cut_on_a_narrow_pane_and_a_local_one_never() {
        let ecs = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
        assert_eq!(task_label(ecs, 78), "0f1e2d3c");
        assert_eq!(task_label(ecs, 158), ecs);
        assert_eq!(task_label("blue-7f309e1a", 78), "blue-7f309e1a");
        assert_eq!(task_label("", 10), "");
        // Not ASCII: cut on a character boundary, never inside one.
        assert_eq!(task_label("ééééééééééééééééé", 40), "éééééééé");
    }
}
