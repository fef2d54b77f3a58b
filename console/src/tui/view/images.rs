//! The images panel: registry tags with digest, size and age; which colors run which image;
//! a warning when a tag a color runs now points to another digest.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use super::theme;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{dim, error_line, fmt, panel_block};
use crate::rollout::{Color, Image};
use crate::tui::state::{Focus, State};

pub(super) fn render(frame: &mut Frame, area: Rect, state: &State) {
    let block = panel_block("Images", vec![], &state.images, state, Focus::Images, None);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(body(state, inner.height)), inner);
}

/// The most image rows the layout gives the panel: more tags scroll with the selection.
const WANTED_IMAGES: usize = 4;

/// The panel's lines in `height` rows (the selection kept in view), or with `None` the rows
/// it wants: the error, moved-tag warnings and up to [`WANTED_IMAGES`] images.
pub(super) fn body(state: &State, height: impl Into<Option<u16>>) -> Vec<Line<'static>> {
    let error = error_line(&state.images);
    let Some(images) = state.images.data.as_ref() else {
        return vec![error.unwrap_or_else(|| dim("no data yet"))];
    };
    if images.is_empty() {
        return vec![dim("registry is empty · B builds an image")];
    }
    let mut lines: Vec<Line> = error.into_iter().collect();
    lines.extend(
        moved_tags(state, images)
            .into_iter()
            .map(|w| Line::styled(w, theme::WARN)),
    );
    let rows = match height.into() {
        Some(h) => (h as usize).saturating_sub(lines.len()).max(1),
        None => WANTED_IMAGES,
    };
    // Keep the selection in view.
    let start = state.image_index.saturating_sub(rows.saturating_sub(1));
    for (i, img) in images.iter().enumerate().skip(start).take(rows) {
        lines.push(image_line(
            state,
            &img.tags.join(","),
            img,
            i == state.image_index && state.focus == Focus::Images,
        ));
    }
    lines
}

/// One image: `tags` (all of its tags, or the one a picker row stands for), the colors that
/// run it, digest, size and age.
pub(crate) fn image_line(state: &State, tags: &str, img: &Image, selected: bool) -> Line<'static> {
    let tags = if tags.is_empty() { "<untagged>" } else { tags };
    let mut spans = vec![Span::styled(
        format!("{tags:<6} "),
        if selected {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        },
    )];
    for c in runs(state, img) {
        spans.push(Span::styled(
            format!("● {c} "),
            fmt::bold(fmt::color_style(c)),
        ));
    }
    spans.push(Span::styled(
        format!("{} ", fmt::short_digest(&img.digest)),
        theme::MUTED,
    ));
    if let Some(s) = img.size_bytes {
        spans.push(Span::raw(format!("{} ", fmt::size(s))));
    }
    if let Some(at) = img.pushed_at {
        spans.push(Span::styled(
            format!("{} ago ", fmt::age(state.now - at)),
            theme::MUTED,
        ));
    }
    Line::from(spans)
}

/// Colors whose current image is this one (by digest, or by tag when no digest is known).
fn runs(state: &State, img: &Image) -> Vec<Color> {
    let Some(snap) = state.snapshot() else {
        return vec![];
    };
    Color::ALL
        .into_iter()
        .filter(|c| {
            let Some(r) = snap.colors.get(*c).service.image.as_ref() else {
                return false;
            };
            match (&r.digest, &r.tag) {
                (Some(d), _) => *d == img.digest,
                (None, Some(t)) => img.tags.contains(t),
                _ => false,
            }
        })
        .collect()
}

/// A mutable tag a color runs that now names another digest than the color runs.
fn moved_tags(state: &State, images: &[Image]) -> Vec<String> {
    let Some(snap) = state.snapshot() else {
        return vec![];
    };
    let mut out = Vec::new();
    for c in Color::ALL {
        let Some(r) = snap.colors.get(c).service.image.as_ref() else {
            continue;
        };
        let (Some(tag), Some(digest)) = (&r.tag, &r.digest) else {
            continue;
        };
        if let Some(now) = images.iter().find(|i| i.tags.contains(tag))
            && now.digest != *digest
        {
            out.push(format!(
                "⚠ tag {tag} now points to {}; {c} runs {}",
                fmt::short_digest(&now.digest),
                fmt::short_digest(digest)
            ));
        }
    }
    out
}
