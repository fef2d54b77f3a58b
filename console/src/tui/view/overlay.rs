//! Modal overlays: the confirm dialogs, the image picker and the help screen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use super::theme;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};

use super::traffic::change;
use super::{dim, fmt, images};
use crate::rollout::guard::Refusal;
use crate::rollout::{Color, Weights};
use crate::tui::state::{Mode, PendingOp, State};

pub(super) fn render(frame: &mut Frame, area: Rect, state: &State) {
    match &state.mode {
        Mode::Confirm(op) => confirm(frame, area, state, op),
        Mode::Help => help(frame, area, state),
        Mode::Journal => journal(frame, area, state),
        Mode::PickImage { selected } => pick_image(frame, area, state, *selected),
        Mode::PickRelease { tag, selected } => {
            pick_release(frame, area, state, tag.as_deref(), *selected)
        }
        _ => {}
    }
}

/// A box of `w`×`h` centered in `area`, shrunk to fit.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn modal<'a>(title: &'a str, danger: bool) -> Block<'a> {
    let style = if danger { theme::BAD } else { theme::ACCENT };
    Block::bordered()
        .border_type(BorderType::Double)
        .border_style(style)
        .title(Span::styled(
            format!(" {title} "),
            style.add_modifier(Modifier::BOLD),
        ))
}

fn draw_modal(frame: &mut Frame, area: Rect, title: &str, danger: bool, lines: Vec<Line>) {
    let width = (area.width.saturating_sub(4)).min(76);
    // Rough height: wrapped lines plus borders.
    let inner_w = width.saturating_sub(2).max(1) as usize;
    let rows: usize = lines
        .iter()
        .map(|l| l.width().div_ceil(inner_w).max(1))
        .sum();
    let r = centered(area, width, rows as u16 + 2);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(modal(title, danger)),
        r,
    );
}

fn refusal_lines(r: &Refusal, force: bool) -> Vec<Line<'static>> {
    let mut v = vec![Line::from(vec![
        Span::styled("⚠ guard: ", theme::BAD.add_modifier(Modifier::BOLD)),
        Span::styled(r.reason.clone(), theme::BAD),
    ])];
    if r.overridable {
        v.push(override_line(
            force,
            "FORCE: the guard is overridden (f to undo)",
            "press f to force past this guard",
        ));
    } else {
        v.push(Line::styled(
            "this cannot be forced: fix the cause first",
            theme::WARN,
        ));
    }
    v
}

/// A dialog's explicit override: loud while it is on, a hint naming its key while off.
fn override_line(on: bool, on_text: &'static str, off_text: &'static str) -> Line<'static> {
    if on {
        Line::styled(on_text, theme::DANGER_BADGE)
    } else {
        Line::styled(off_text, theme::WARN)
    }
}

fn keys_line(op: &PendingOp, blocked: bool) -> Line<'static> {
    let forcible = matches!(op, PendingOp::Shift { refusal: Some(r), .. } if r.overridable);
    if blocked && forcible {
        Line::from(vec![
            Span::styled("f force", theme::WARN.add_modifier(Modifier::BOLD)),
            Span::styled("   esc/n cancel", theme::HINT),
        ])
    } else if blocked {
        dim("esc/n close")
    } else {
        Line::from(vec![
            Span::styled("⏎/y confirm", theme::ACCENT.add_modifier(Modifier::BOLD)),
            Span::styled("   esc/n cancel", theme::HINT),
        ])
    }
}

fn colored(c: Color) -> Span<'static> {
    Span::styled(c.as_str(), fmt::bold(fmt::color_style(c)))
}

fn confirm(frame: &mut Frame, area: Rect, state: &State, op: &PendingOp) {
    let observed = state.observed();
    let blocked = op.blocking_refusal().is_some();
    let mut lines: Vec<Line> = Vec::new();
    let title = match op {
        PendingOp::Shift {
            from,
            to,
            refusal,
            force,
        } => {
            lines.push(Line::styled(
                change(*from, *to),
                Style::new().add_modifier(Modifier::BOLD),
            ));
            if let Some(r) = refusal {
                lines.extend(refusal_lines(r, *force));
            }
            "Shift traffic"
        }
        PendingOp::Promote {
            target,
            bake,
            keep_old,
            refusal,
        } => {
            match (target, observed) {
                (Some(t), Some(o)) => {
                    lines.push(Line::from(vec![
                        Span::raw("promote "),
                        colored(*t),
                        Span::raw(format!(": {}; ", change(o, Weights::all(*t)))),
                        colored(*t),
                        Span::raw(" becomes stable"),
                    ]));
                    let old = t.other();
                    lines.push(Line::from(vec![
                        Span::raw(format!("bake {} s (+/-), then ", bake.as_secs())),
                        colored(old),
                        Span::raw(if *keep_old {
                            " keeps running (keep-old, k)"
                        } else {
                            " scales to 0 (k keeps it)"
                        }),
                    ]));
                }
                _ => lines.push(Line::raw(format!(
                    "promote the canary (bake {} s{})",
                    bake.as_secs(),
                    if *keep_old { ", keep old" } else { "" }
                ))),
            }
            if let Some(r) = refusal {
                lines.extend(refusal_lines(r, false));
            }
            "Promote"
        }
        PendingOp::Rollback { target, refusal } => {
            match (target, observed) {
                (Some(t), Some(o)) => lines.push(Line::from(vec![
                    Span::raw("roll back to "),
                    colored(*t),
                    Span::raw(format!(": {}", change(o, Weights::all(*t)))),
                ])),
                _ => lines.push(Line::raw(
                    "roll back: the stable color gets 100% (decided from the listener now)",
                )),
            }
            lines.push(dim(
                "one weight change; the test listener follows afterwards",
            ));
            if let Some(r) = refusal {
                lines.extend(refusal_lines(r, false));
            }
            "Roll back"
        }
        PendingOp::Deploy {
            tag,
            color,
            refusal,
        } => {
            match color {
                Some(c) => lines.push(Line::from(vec![
                    Span::raw(format!("deploy {tag} to ")),
                    colored(*c),
                    Span::raw(" (idle, 0% of traffic)"),
                ])),
                None => lines.push(Line::raw(format!("deploy {tag} to the idle color"))),
            }
            if let Some(r) = refusal {
                lines.extend(refusal_lines(r, false));
            }
            "Deploy"
        }
        PendingOp::FinishBake {
            old,
            keep_old,
            accept_unmeasured,
        } => {
            lines.push(match (old, keep_old) {
                (Some(c), false) => Line::from(vec![
                    Span::raw("finish the bake: scale "),
                    colored(*c),
                    Span::raw(" to 0"),
                ]),
                (Some(c), true) => Line::from(vec![
                    Span::raw("finish the bake: "),
                    colored(*c),
                    Span::raw(" keeps running (keep-old)"),
                ]),
                (None, _) => Line::raw("finish the bake"),
            });
            if !keep_old {
                lines.push(override_line(
                    *accept_unmeasured,
                    "UNMEASURED: scaled in even if too few requests show the split (u to undo)",
                    "scaled in only once the requests since the promote show none reach it; u: scale in even if too few were measured",
                ));
            }
            "Finish bake"
        }
        PendingOp::Release {
            spec,
            canary,
            refusal,
        } => {
            let plan = &spec.plan;
            lines.push(match canary {
                Some(c) => Line::from(vec![
                    Span::styled(
                        format!("release {} to ", spec.tag),
                        Style::new().add_modifier(Modifier::BOLD),
                    ),
                    colored(*c),
                    Span::styled(
                        format!(" by plan {}", plan.name),
                        Style::new().add_modifier(Modifier::BOLD),
                    ),
                ]),
                None => Line::raw(format!(
                    "release {} to the idle color by plan {}",
                    spec.tag, plan.name
                )),
            });
            lines.push(Line::raw(format!(
                "deploy, smoke test ({}), then {plan}",
                spec.options
                    .smoke
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
            lines.push(dim(format!(
                "gates every {} s; a failing gate rolls back at once",
                plan.interval_secs
            )));
            let old = canary.map(Color::other);
            lines.push(Line::raw(match (old, spec.options.keep_old) {
                (Some(o), false) => {
                    format!("bake {} s, then {o} scales to 0", spec.options.bake_secs)
                }
                (Some(o), true) => format!("bake {} s; {o} keeps running", spec.options.bake_secs),
                (None, _) => format!("bake {} s", spec.options.bake_secs),
            }));
            lines.push(dim(if state.is_local() {
                "the daemon drives it: it goes on when the console quits"
            } else {
                "this console drives it: quitting leaves it holding its weight until `bluegreen resume`"
            }));
            if let Some(r) = refusal {
                lines.extend(refusal_lines(r, false));
            }
            "Start a release"
        }
        PendingOp::AbortRelease { id, tag, stable } => {
            lines.push(Line::from(vec![
                Span::raw(format!("abort release {id} of {tag}: ")),
                colored(*stable),
                Span::raw(" gets 100% at once"),
            ]));
            "Abort release"
        }
    };
    lines.push(Line::raw(""));
    lines.push(keys_line(op, blocked));
    draw_modal(frame, area, title, true, lines);
}

fn pick_image(frame: &mut Frame, area: Rect, state: &State, selected: usize) {
    let choices = state.deploy_choices();
    let target = state
        .snapshot()
        .and_then(|s| s.deploy_target())
        .map(|c| c.to_string())
        .unwrap_or_else(|| "the idle color".into());
    let mut lines = vec![dim(format!("deploy which image to {target}?"))];
    let rows = (area.height.saturating_sub(6) as usize).max(1);
    let start = selected.saturating_sub(rows.saturating_sub(1));
    for (i, (tag, img)) in choices.iter().enumerate().skip(start).take(rows) {
        lines.push(images::image_line(state, tag, img, i == selected));
    }
    lines.push(dim("↑/↓ choose · ⏎ deploy… · esc cancel"));
    draw_modal(frame, area, "Deploy an image", false, lines);
}

/// The release picker: its image first, then its plan (the profile's default first).
fn pick_release(frame: &mut Frame, area: Rect, state: &State, tag: Option<&str>, selected: usize) {
    let rows = (area.height.saturating_sub(6) as usize).max(1);
    let start = selected.saturating_sub(rows.saturating_sub(1));
    let mut lines = Vec::new();
    match tag {
        None => {
            lines.push(dim("release which image? (then its plan)"));
            let choices = state.deploy_choices();
            for (i, (tag, img)) in choices.iter().enumerate().skip(start).take(rows) {
                lines.push(images::image_line(state, tag, img, i == selected));
            }
            lines.push(dim("↑/↓ choose · ⏎ next: the plan · esc cancel"));
        }
        Some(tag) => {
            lines.push(dim(format!("release {tag} by which plan?")));
            let settings = &state.release_settings;
            for (i, name) in state
                .plan_choices()
                .iter()
                .enumerate()
                .skip(start)
                .take(rows)
            {
                let about = match settings.plan(name) {
                    Some(p) => p.to_string(),
                    None if name == "all-at-once" => "100% at once, then the bake".into(),
                    None => crate::rollout::plan::Plan::default_canary().to_string(),
                };
                let default = if settings.default_plan.as_deref() == Some(name.as_str()) {
                    " (profile default)"
                } else {
                    ""
                };
                let style = if i == selected {
                    Style::new().add_modifier(Modifier::REVERSED)
                } else {
                    Style::new()
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("{name:<16}"), style.add_modifier(Modifier::BOLD)),
                    Span::styled(format!(" {about}{default}"), style),
                ]));
            }
            lines.push(dim("↑/↓ choose · ⏎ review and confirm… · esc cancel"));
        }
    }
    draw_modal(frame, area, "Start a release", false, lines);
}

/// The main screen's keys from the session's keymap, grouped; the command-line verbs come
/// from the parser's own list.
fn help(frame: &mut Frame, area: Rect, state: &State) {
    let key_style = theme::ACCENT.add_modifier(Modifier::BOLD);
    let mut lines = Vec::new();
    for (group, keys) in state.keymap.help() {
        lines.push(Line::styled(
            group,
            Style::new().add_modifier(Modifier::BOLD),
        ));
        for (k, what) in keys {
            lines.push(Line::from(vec![
                Span::styled(format!("  {k:<14}"), key_style),
                Span::raw(what),
            ]));
        }
    }
    lines.push(Line::styled(
        "Command line",
        Style::new().add_modifier(Modifier::BOLD),
    ));
    for (verb, what) in crate::tui::update::COMMAND_VERBS {
        lines.push(Line::from(vec![
            Span::styled(format!("  :{verb:<36}"), key_style),
            Span::raw(*what),
        ]));
    }
    let r = centered(
        area,
        area.width.saturating_sub(4).min(120),
        area.height.saturating_sub(2),
    );
    frame.render_widget(Clear, r);
    let block = modal("Help · any key closes", false);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    // As many columns as the lines need; each column is cut to its width.
    let rows = (inner.height as usize).max(1);
    let columns = lines.len().div_ceil(rows).max(1);
    let width = inner.width / columns as u16;
    for (i, chunk) in lines.chunks(rows).enumerate() {
        let col = Rect {
            x: inner.x + width * i as u16,
            width: if i + 1 == columns {
                inner.width - width * i as u16
            } else {
                width.saturating_sub(1)
            },
            ..inner
        };
        frame.render_widget(Paragraph::new(chunk.to_vec()), col);
    }
}

/// The journal view: the latest entries that fit, newest last, one line each.
fn journal(frame: &mut Frame, area: Rect, state: &State) {
    let r = centered(
        area,
        area.width.saturating_sub(4).min(160),
        area.height.saturating_sub(2),
    );
    frame.render_widget(Clear, r);
    let status: String = super::status_spans(&state.journal, state)
        .iter()
        .map(|s| s.content.to_string())
        .collect();
    let title = format!("Journal · newest last · {status} · any key closes");
    let block = modal(&title, false);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let mut lines: Vec<Line> = super::error_line(&state.journal).into_iter().collect();
    lines.extend(match &state.journal.data {
        Some(page) if page.entries.is_empty() => vec![dim(page
            .note
            .clone()
            .unwrap_or_else(|| "no writes journaled yet".into()))],
        Some(page) => page
            .entries
            .iter()
            .map(|e| Line::raw(entry_line(e)))
            .collect(),
        None => vec![dim("loading…".to_string())],
    });
    let rows = inner.height as usize;
    if lines.len() > rows {
        lines.drain(..lines.len() - rows);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// One journal entry, narrower than `history`'s line: the clock time, and the outcome before
/// the weights so an 80-column screen shows it.
fn entry_line(e: &crate::rollout::journal::Entry) -> String {
    let head = format!(
        "{} {} {} {} {}",
        crate::format::clock(e.at),
        e.operator,
        e.verb,
        e.outcome,
        e.weights_text()
    );
    head + &e.tail_text()
}
