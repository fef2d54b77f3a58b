//! The header line: where the console points and how fresh the screen is.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;

use super::theme;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::fmt;
use crate::platform::PlatformKind;
use crate::tui::state::State;

pub(super) fn render(frame: &mut Frame, area: Rect, state: &State) {
    let mut line = header(state, true);
    if line.width() > area.width as usize {
        line = header(state, false);
    }
    frame.render_widget(Paragraph::new(line), area);
}

/// The header, with labels (`profile`, `cluster`) when there is room.
fn header(state: &State, labels: bool) -> Line<'static> {
    let label = |l: &str| {
        if labels {
            format!("{l} ")
        } else {
            String::new()
        }
    };
    let sep = || Span::styled(" │ ", theme::MUTED);
    let mut spans = vec![
        Span::styled(
            " bluegreen ",
            theme::ACCENT_BADGE.add_modifier(Modifier::BOLD),
        ),
        Span::raw(" "),
        Span::raw(format!("{}{}", label("profile"), state.info.profile)),
        sep(),
    ];
    match &state.info.kind {
        PlatformKind::Local { .. } => spans.push(Span::raw("local")),
        PlatformKind::Aws { account, region } => spans.push(Span::raw(format!(
            "aws {} {region}",
            account.as_deref().unwrap_or("account ?")
        ))),
    }
    // Locally the cluster is the state directory: only worth its room when there is some.
    if labels || !state.is_local() {
        spans.extend([
            sep(),
            Span::raw(format!("{}{}", label("cluster"), state.info.cluster)),
        ]);
    }
    spans.push(sep());
    match state.snapshot() {
        Some(s) => match s.live() {
            Some(c) => spans.extend([
                Span::raw("live "),
                Span::styled(c.as_str(), fmt::bold(fmt::color_style(c))),
            ]),
            None => spans.push(Span::styled(
                // B:G, the CLI's notation, to stay short on narrow screens.
                format!(
                    "shift {}:{}",
                    s.listener.weights.share(crate::rollout::Color::Blue),
                    s.listener.weights.share(crate::rollout::Color::Green)
                ),
                theme::WARN,
            )),
        },
        None => spans.push(Span::styled("live ?", theme::MUTED)),
    }
    spans.push(sep());
    let access = &state.access;
    spans.push(if access.read_only {
        Span::styled("READ-ONLY", theme::WARN_BADGE)
    } else if access.profile_read_only && !access.armed {
        Span::styled("read-only (:arm)", theme::WARN_BADGE)
    } else if access.profile_read_only {
        Span::styled("ARMED", fmt::bold(theme::DANGER_BADGE))
    } else {
        Span::styled("writable", theme::MUTED)
    });
    // The deploy lock, while someone holds it (or took this console's over).
    if let Some(Some(record)) = &state.lock.data
        && let Some(me) = &state.operator
    {
        let line = crate::ops::lock::header(Some(record), me, state.now);
        let style = if line.starts_with("lock taken over") {
            fmt::bold(theme::DANGER_BADGE)
        } else if record.holder.same_person(me) {
            theme::GOOD
        } else {
            theme::WARN
        };
        spans.extend([sep(), Span::styled(line, style)]);
    }
    if let Some(age) = state.oldest_age() {
        spans.push(sep());
        let style = if age > 30_000 {
            theme::WARN
        } else {
            theme::MUTED
        };
        spans.push(Span::styled(format!("data {}", fmt::age(age)), style));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Operator;
    use crate::rollout::lock::{Hold, LockRecord};
    use crate::tui::fixtures::{self, NOW};

    fn text(state: &State) -> String {
        header(state, true)
            .spans
            .iter()
            .map(|s| s.content.to_string())
            .collect()
    }

    fn held_by(name: &str, taken_from: Option<&str>) -> LockRecord {
        LockRecord {
            holder: Operator::new(name, "desk").expect("valid"),
            hold: if taken_from.is_some() {
                Hold::Rollback
            } else {
                Hold::Explicit
            },
            purpose: "lock take".into(),
            reason: None,
            since: NOW - 60_000,
            renewed: NOW - 60_000,
            expires: NOW + 3_600_000,
            token: "t".into(),
            taken_over_from: taken_from.map(|n| Operator::new(n, "laptop").expect("valid")),
            handed_over_from: None,
        }
    }

    #[test]
    fn the_header_shows_the_holder_and_a_takeover_of_my_lock() {
        let mut s = fixtures::healthy_blue_live();
        s.operator = Some(Operator::new("alice", "laptop").expect("valid"));
        assert!(!text(&s).contains("lock"), "{}", text(&s));
        s.lock.loaded(Some(held_by("bob", None)), NOW);
        assert!(
            text(&s).contains("lock: bob@desk (lock take, 1h00m left)"),
            "{}",
            text(&s)
        );
        s.lock.loaded(Some(held_by("bob", Some("alice"))), NOW);
        assert!(
            text(&s).contains("lock taken over by bob@desk for a rollback at"),
            "{}",
            text(&s)
        );
    }
}
