//! Rendering: a pure function of [`State`]. The clock is `state.now`, so the same state draws
//! the same screen (the snapshots rely on it).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color as Tint, Modifier, Style};

use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType};

use super::state::{Focus, LoadStatus, Panel, State};

mod build;
mod colors;
pub mod fmt;
mod footer;
mod guard;
mod header;
mod images;
mod logs;
mod overlay;
mod release;
mod theme;
mod traffic;

/// Where each panel goes at the current size; a panel without room is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Areas {
    pub header: Rect,
    pub traffic: Option<Rect>,
    pub blue: Option<Rect>,
    pub green: Option<Rect>,
    pub build: Option<Rect>,
    pub images: Option<Rect>,
    pub logs: Option<Rect>,
    /// The release panel, while a release shows (taken from the logs' rows).
    pub release: Option<Rect>,
    /// The guide's line, while it shows.
    pub guide: Option<Rect>,
    pub notice: Option<Rect>,
    pub footer: Rect,
}

/// Rows `lines` take in a panel of `width` columns, a wrapped line counted per row it fills.
pub(crate) fn rows_of(lines: &[Line], width: u16) -> u16 {
    let width = usize::from(width.max(1));
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(width).max(1)).sum();
    u16::try_from(rows).unwrap_or(u16::MAX)
}

/// A panel's height for `lines` of content: its borders, at least `min` and at most `max`.
fn fit(lines: u16, min: u16, max: u16) -> u16 {
    lines.saturating_add(2).clamp(min, max.max(min))
}

/// The fewest rows the logs keep on a wide screen before the panels above give up theirs.
const MIN_LOG_ROWS: u16 = 8;
/// The same on a small screen: a border and three lines.
const MIN_SMALL_LOG_ROWS: u16 = 5;

/// Splits the screen. Panels get the rows their content needs (within bounds) and the logs
/// get the rest. Wide screens put build, images and traffic side by side; small ones drop
/// the build and images panels first, then the color panels, keeping traffic (and so the
/// slider and rollback) and the logs.
pub fn layout(area: Rect, state: &State) -> Areas {
    // The guard's panel takes the release panel's place while no release shows.
    let shown = release::shown(state).is_some() || guard::shown(state);
    let notice_rows = u16::from(area.height >= 14);
    let guide_rows = u16::from(state.show_guide && state.guide.is_some() && area.height >= 20);
    let [header, body, guide, notice, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(guide_rows),
        Constraint::Length(notice_rows),
        Constraint::Length(1),
    ])
    .areas(area);
    let mut a = Areas {
        header,
        footer,
        guide: (guide_rows > 0).then_some(guide),
        notice: (notice_rows > 0).then_some(notice),
        ..Areas::default()
    };
    let halves = |r: Rect| -> [Rect; 2] {
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(r)
    };
    // Inner widths: a panel's borders take two columns.
    let inner = |w: u16| w.saturating_sub(2);
    let half = body.width / 2;
    let colors_rows = |width: u16| {
        [crate::rollout::Color::Blue, crate::rollout::Color::Green]
            .map(|c| rows_of(&colors::body(state, c, inner(width)), inner(width)))
            .into_iter()
            .max()
            .unwrap_or(1)
    };
    let traffic_rows =
        |width: u16| rows_of(&traffic::body(state, inner(width), None), inner(width));
    // Without the optional last line: what a small screen must show.
    let essential_traffic_rows =
        |width: u16| rows_of(&traffic::body(state, inner(width), Some(0)), inner(width));
    if body.width >= 120 && body.height >= 30 {
        let [build_w, images_w, traffic_w] = Layout::horizontal([
            Constraint::Percentage(30),
            Constraint::Percentage(30),
            Constraint::Percentage(40),
        ])
        .areas::<3>(Rect::new(0, 0, body.width, 1))
        .map(|r| r.width);
        let top_lines = [
            rows_of(&build::body(state, inner(build_w)), inner(build_w)),
            rows_of(&images::body(state, None), inner(images_w)),
            traffic_rows(traffic_w),
        ]
        .into_iter()
        .max()
        .unwrap_or(1);
        let mut top_h = fit(top_lines, 5, 13);
        let mut colors_h = fit(colors_rows(half), 5, 14);
        let release_h = if shown {
            fit(release::wanted(state).max(guard::wanted(state)), 5, 12)
        } else {
            0
        };
        // The logs keep their rows: the colors give theirs up first, then the top row.
        let fixed = |t: u16, c: u16| t + c + release_h + MIN_LOG_ROWS;
        while fixed(top_h, colors_h) > body.height && colors_h > 5 {
            colors_h -= 1;
        }
        while fixed(top_h, colors_h) > body.height && top_h > 5 {
            top_h -= 1;
        }
        let [top, colors, rel, logs] = Layout::vertical([
            Constraint::Length(top_h),
            Constraint::Length(colors_h),
            Constraint::Length(release_h),
            Constraint::Fill(1),
        ])
        .areas(body);
        let [build, images, traffic] = Layout::horizontal([
            Constraint::Percentage(30),
            Constraint::Percentage(30),
            Constraint::Percentage(40),
        ])
        .areas(top);
        let [blue, green] = halves(colors);
        a.build = Some(build);
        a.images = Some(images);
        a.traffic = Some(traffic);
        a.blue = Some(blue);
        a.green = Some(green);
        a.release = shown.then_some(rel);
        a.logs = Some(logs);
    } else if body.height >= 18 {
        let traffic_h = fit(essential_traffic_rows(body.width), 3, 6);
        let mut colors_h = fit(colors_rows(half), 4, (body.height * 3 / 10).max(6));
        // While a release shows, it takes the build and images row: a release is what the
        // engineer watches then, and the logs keep theirs.
        let mut lower_h = if shown { 7 } else { 6 };
        let fixed = |c: u16, l: u16| traffic_h + c + l + MIN_SMALL_LOG_ROWS;
        while fixed(colors_h, lower_h) > body.height && colors_h > 4 {
            colors_h -= 1;
        }
        while fixed(colors_h, lower_h) > body.height && lower_h > 5 {
            lower_h -= 1;
        }
        let [traffic, colors, lower, logs] = Layout::vertical([
            Constraint::Length(traffic_h),
            Constraint::Length(colors_h),
            Constraint::Length(lower_h),
            Constraint::Fill(1),
        ])
        .areas(body);
        let [blue, green] = halves(colors);
        a.traffic = Some(traffic);
        a.blue = Some(blue);
        a.green = Some(green);
        if shown {
            a.release = Some(lower);
        } else {
            let [build, images] = halves(lower);
            a.build = Some(build);
            a.images = Some(images);
        }
        a.logs = Some(logs);
    } else if body.height >= 10 {
        let traffic_h = fit(essential_traffic_rows(body.width), 3, 5).min(body.height - 6);
        let [traffic, colors, logs] = Layout::vertical([
            Constraint::Length(traffic_h),
            Constraint::Length(4),
            Constraint::Fill(1),
        ])
        .areas(body);
        let [blue, green] = halves(colors);
        a.traffic = Some(traffic);
        a.blue = Some(blue);
        a.green = Some(green);
        a.logs = Some(logs);
    } else {
        let traffic_h = body.height.min(4);
        let [traffic, logs] =
            Layout::vertical([Constraint::Length(traffic_h), Constraint::Fill(1)]).areas(body);
        a.traffic = (traffic.height >= 3).then_some(traffic);
        a.logs = (logs.height >= 3).then_some(logs);
    }
    // The release panel takes its rows from the logs while they keep a few of their own.
    if shown
        && a.release.is_none()
        && let Some(logs) = a.logs
        && logs.height >= release::ROWS + 4
    {
        let [r, rest] =
            Layout::vertical([Constraint::Length(release::ROWS), Constraint::Fill(1)]).areas(logs);
        a.release = Some(r);
        a.logs = Some(rest);
    }
    a
}

/// Draws the whole screen.
pub fn render(frame: &mut Frame, state: &State) {
    let a = layout(frame.area(), state);
    header::render(frame, a.header, state);
    if let Some(r) = a.traffic {
        traffic::render(frame, r, state);
    }
    if let Some(r) = a.blue {
        colors::render(frame, r, state, crate::rollout::Color::Blue);
    }
    if let Some(r) = a.green {
        colors::render(frame, r, state, crate::rollout::Color::Green);
    }
    if let Some(r) = a.build {
        build::render(frame, r, state);
    }
    if let Some(r) = a.images {
        images::render(frame, r, state);
    }
    if let Some(r) = a.logs {
        logs::render(frame, r, state);
    }
    if let Some(r) = a.release {
        if release::shown(state).is_some() {
            release::render(frame, r, state);
        } else {
            guard::render(frame, r, state);
        }
    }
    if let (Some(r), Some(text)) = (a.guide, &state.guide) {
        footer::guide(frame, r, state, text);
    }
    footer::render(frame, a.notice, a.footer, state);
    overlay::render(frame, frame.area(), state);
}

/// A panel's block: its name, extra title parts, and its load status with the data's age.
pub(crate) fn panel_block<'a, T>(
    name: &'a str,
    extra: Vec<Span<'a>>,
    panel: &Panel<T>,
    state: &State,
    focus: Focus,
    accent: Option<Tint>,
) -> Block<'a> {
    let focused = state.focus == focus;
    let mut spans = vec![Span::styled(
        format!(" {name}"),
        Style::new()
            .add_modifier(Modifier::BOLD)
            .fg(accent.unwrap_or(Tint::Reset)),
    )];
    for s in extra {
        spans.push(Span::raw(" · "));
        spans.push(s);
    }
    spans.push(Span::raw(" · "));
    spans.extend(status_spans(panel, state));
    spans.push(Span::raw(" "));
    let border = match (focused, accent) {
        (true, _) => theme::WARN,
        (false, Some(t)) => Style::new().fg(t),
        (false, None) => theme::MUTED,
    };
    Block::bordered()
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(border)
        .title(Line::from(spans))
}

/// `loading ⠋`, `3s`, `error: … (data 2m old)`.
pub(crate) fn status_spans<'a, T>(panel: &Panel<T>, state: &State) -> Vec<Span<'a>> {
    let mut spans = load_spans(panel, state);
    if !panel.stale.is_empty() {
        spans.push(Span::styled(
            format!(
                " stale: {}",
                panel
                    .stale
                    .iter()
                    .map(|s| s.split(" (").next().unwrap_or(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            theme::WARN,
        ));
    }
    if let Some(b) = panel.backoff {
        spans.push(Span::styled(
            format!(" throttled: next read in {}s", b.as_secs()),
            theme::WARN,
        ));
    }
    spans
}

fn load_spans<'a, T>(panel: &Panel<T>, state: &State) -> Vec<Span<'a>> {
    let age = panel.age(state.now).map(fmt::age);
    match &panel.status {
        LoadStatus::Idle => vec![Span::styled("waiting", theme::MUTED)],
        LoadStatus::Loading { .. } => match age {
            Some(a) => vec![Span::styled(a, theme::MUTED)],
            None => vec![Span::styled(
                format!("loading {}", fmt::spinner(state.spinner)),
                theme::WARN,
            )],
        },
        LoadStatus::Loaded { .. } => vec![Span::styled(age.unwrap_or_default(), theme::MUTED)],
        LoadStatus::Error { short, .. } => {
            let mut v = vec![Span::styled(format!("✗ {short}"), theme::BAD)];
            if let Some(a) = age {
                v.push(Span::styled(format!(" (data {a} old)"), theme::WARN));
            }
            v
        }
    }
}

/// The panel's whole error message, in red, to put above its (stale) data.
pub(crate) fn error_line<T>(panel: &Panel<T>) -> Option<Line<'static>> {
    panel
        .error()
        .map(|m| Line::styled(format!("✗ {m}"), theme::BAD))
}

/// A dim one-liner for an empty panel.
pub(crate) fn dim(text: impl Into<String>) -> Line<'static> {
    Line::styled(text.into(), theme::MUTED)
}
