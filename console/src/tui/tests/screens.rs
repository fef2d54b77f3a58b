use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;

use super::press;
use crate::tui::fixtures;
use crate::tui::state::{Focus, State};
use crate::tui::view::{layout, render};

fn draw(state: &State, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    t.draw(|f| render(f, state)).expect("draws");
    t
}

/// Snapshots the whole screen at 80×24 and 160×48.
fn screens(name: &str, state: &State) {
    for (w, h) in [(80, 24), (160, 48)] {
        let t = draw(state, w, h);
        insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), t.backend());
        });
    }
}

#[test]
fn healthy_blue_live() {
    screens("healthy_blue_live", &fixtures::healthy_blue_live());
}

#[test]
fn shift_in_progress_not_converged() {
    screens("shift_not_converged", &fixtures::shift_not_converged());
}

#[test]
fn green_unhealthy() {
    screens("green_unhealthy", &fixtures::green_unhealthy());
}

#[test]
fn failed_build() {
    screens("failed_build", &fixtures::failed_build());
}

#[test]
fn every_panel_in_error() {
    screens("every_panel_in_error", &fixtures::every_panel_in_error());
}

#[test]
fn help_overlay() {
    let mut s = fixtures::healthy_blue_live();
    press(&mut s, &[KeyCode::Char('?')]);
    screens("help", &s);
}

#[test]
fn confirm_shift_dialog() {
    let mut s = fixtures::healthy_blue_live();
    press(&mut s, &[KeyCode::Char('4'), KeyCode::Enter]);
    screens("confirm_shift", &s);
}

#[test]
fn confirm_shift_with_guard_refusal() {
    let mut s = fixtures::green_unhealthy();
    press(&mut s, &[KeyCode::Char('5'), KeyCode::Enter]);
    screens("confirm_shift_refused", &s);
}

#[test]
fn promote_dialog() {
    let mut s = fixtures::shift_not_converged();
    press(&mut s, &[KeyCode::Char('p')]);
    screens("promote_refused", &s);
}

#[test]
fn finish_bake_dialog_with_and_without_the_unmeasured_override() {
    let mut s = fixtures::healthy_blue_live();
    if let Some(snap) = s.services.data.as_mut() {
        snap.listener.bake = Some(crate::rollout::Bake {
            old: crate::rollout::Color::Green,
            until: fixtures::NOW - 1_000,
            keep_old: false,
        });
    }
    press(&mut s, &[KeyCode::Char('F')]);
    screens("finish_bake", &s);
    press(&mut s, &[KeyCode::Char('u')]);
    screens("finish_bake_unmeasured", &s);
}

#[test]
fn logs_filtered_and_paused() {
    let mut s = fixtures::healthy_blue_live();
    s.focus = Focus::Logs;
    press(&mut s, &[KeyCode::Char('/')]);
    press(&mut s, &super::chars("status=30[34]"));
    press(&mut s, &[KeyCode::Enter, KeyCode::Char('f')]);
    let more = fixtures::log_lines(7, fixtures::NOW);
    crate::tui::update::handle_event(
        &mut s,
        crate::tui::event::Event::Polled(crate::tui::event::Polled::Logs(Ok(more)), fixtures::NOW),
    );
    screens("logs_filtered_paused", &s);
}

fn all_fixture_states() -> Vec<State> {
    let mut states = vec![
        fixtures::nothing_loaded(),
        fixtures::healthy_blue_live(),
        fixtures::shift_not_converged(),
        fixtures::green_unhealthy(),
        fixtures::failed_build(),
        fixtures::every_panel_in_error(),
    ];
    let modal_keys: [&[KeyCode]; 6] = [
        &[KeyCode::Char('?')],
        &[KeyCode::Char('3'), KeyCode::Enter],
        &[KeyCode::Char('p')],
        &[KeyCode::Char('r')],
        &[KeyCode::Char('d')],
        &[KeyCode::Char(':'), KeyCode::Char('x')],
    ];
    for keys in modal_keys {
        let mut s = fixtures::green_unhealthy();
        press(&mut s, keys);
        states.push(s);
    }
    let mut wrapped = fixtures::healthy_blue_live();
    press(
        &mut wrapped,
        &[KeyCode::Char('w'), KeyCode::Char('/'), KeyCode::Char('o')],
    );
    states.push(wrapped);
    states
}

#[test]
fn every_size_from_40x10_to_100x30_renders() {
    let states = all_fixture_states();
    // Every size with a rotating fixture (every state meets every width and every height),
    // and every state at the edges of the range.
    for w in 40..=100u16 {
        for h in 10..=30u16 {
            draw(&states[(w as usize * 7 + h as usize) % states.len()], w, h);
        }
    }
    for (w, h) in [(40, 10), (40, 30), (100, 10), (100, 30), (80, 24), (60, 15)] {
        for s in &states {
            draw(s, w, h);
        }
    }
    // Below the supported minimum it must still not panic.
    for (w, h) in [(1, 1), (10, 3), (39, 9), (0, 0)] {
        for s in &states {
            draw(s, w, h);
        }
    }
}

#[test]
fn panels_never_overlap() {
    let states = all_fixture_states();
    for w in (40..=200).step_by(4) {
        for h in 10..=60 {
            let state = &states[(w as usize + h as usize) % states.len()];
            let screen = Rect::new(0, 0, w, h);
            let a = layout(screen, state);
            let rects: Vec<Rect> = [
                Some(a.header),
                a.traffic,
                a.blue,
                a.green,
                a.build,
                a.images,
                a.logs,
                a.release,
                a.notice,
                a.guide,
                Some(a.footer),
            ]
            .into_iter()
            .flatten()
            .filter(|r| !r.is_empty())
            .collect();
            for (i, r) in rects.iter().enumerate() {
                assert!(screen.contains(r.as_position()) && r.right() <= w && r.bottom() <= h);
                for o in &rects[i + 1..] {
                    assert!(!r.intersects(*o), "{w}x{h}: {r:?} overlaps {o:?}");
                }
            }
            assert!(
                a.traffic.is_some(),
                "{w}x{h}: the traffic panel always shows"
            );
        }
    }
}

#[test]
fn smallest_supported_screen() {
    let t = draw(&fixtures::shift_not_converged(), 40, 10);
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("shift_not_converged_40x10", t.backend());
    });
}

#[test]
fn filter_matches_are_highlighted() {
    let mut s = fixtures::healthy_blue_live();
    press(&mut s, &[KeyCode::Char('/')]);
    press(&mut s, &super::chars("status=30[34]"));
    press(&mut s, &[KeyCode::Enter]);
    let t = draw(&s, 160, 48);
    let buf = t.backend().buffer();
    let mut highlighted = 0;
    for y in 0..buf.area.height {
        let row: String = (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_string())
            .collect();
        // The title names the filter too; only log rows count.
        let Some(col) = row.find("status=30").filter(|_| !row.contains("Logs ·")) else {
            continue;
        };
        // The row is ASCII from the match on, so the byte offset is the cell's column
        // once the box-drawing prefix is counted in characters.
        let x = row[..col].chars().count() as u16;
        let cell = &buf[(x, y)];
        assert_eq!(
            cell.bg,
            ratatui::style::Color::Yellow,
            "the match on row {y} is highlighted: {row}"
        );
        let after = &buf[(x + "status=304".len() as u16 + 1, y)];
        assert_ne!(after.bg, ratatui::style::Color::Yellow, "only the match is");
        highlighted += 1;
    }
    assert!(highlighted >= 5, "matches are on screen");
}

/// The rows of a drawn screen, as text.
fn rows(t: &Terminal<TestBackend>) -> Vec<String> {
    let buf = t.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn help_and_footer_show_a_rebinding() {
    let keymap = crate::tui::keymap::file::parse(
        std::path::Path::new("keymap.toml"),
        "[keys]\n\"x\" = \"rollback\"\n\"r\" = \"refresh\"\n\"ctrl-p\" = \"promote\"\n\"p\" = \"deploy\"\n",
    )
    .expect("parses");
    let mut s = fixtures::healthy_blue_live();
    s.keymap = std::sync::Arc::new(keymap);
    let footer = rows(&draw(&s, 160, 48)).pop().expect("a footer");
    // A second key for an action the footer names already is in the help only.
    for hint in [" ctrl-p promote ", " x rollback ", " d deploy "] {
        assert!(footer.contains(hint), "footer has {hint:?}: {footer}");
    }
    assert!(!footer.contains(" r rollback "), "{footer}");
    // `x` rolls back, `r` refreshes.
    let cmds = press(&mut s, &[KeyCode::Char('r')]);
    assert_eq!(
        cmds.len(),
        crate::tui::state::Resource::ALL.len() - 1,
        "r refreshes (all but the closed journal)"
    );
    press(&mut s, &[KeyCode::Char('x')]);
    assert!(
        matches!(
            s.mode,
            crate::tui::state::Mode::Confirm(crate::tui::state::PendingOp::Rollback { .. })
        ),
        "x opens the rollback confirm"
    );
    press(&mut s, &[KeyCode::Esc, KeyCode::Char('?')]);
    let help = rows(&draw(&s, 160, 48)).join("\n");
    for (keys, what) in [
        ("x ", "roll back (⏎ or y)"),
        ("ctrl-p ", "promote (bake, keep old)"),
        ("d p ", "deploy an image to the idle color"),
        ("ctrl-r F5 r ", "refresh now"),
    ] {
        let line = format!("  {keys:<14}{what}");
        assert!(help.contains(&line), "help has {line:?}:\n{help}");
    }
}

#[test]
fn a_release_holding_its_second_step() {
    screens("release_holding", &fixtures::release_holding());
}

#[test]
fn a_release_rolled_back_keeps_naming_the_gate_until_dismissed() {
    let mut s = fixtures::release_rolled_back();
    screens("release_rolled_back", &s);
    let t = draw(&s, 160, 48);
    let text = format!("{:?}", t.backend());
    assert!(text.contains("20% (96/480)"), "the failed values show");
    crate::tui::update::update(
        &mut s,
        crate::tui::action::Action::RunCommand("dismiss".into()),
    );
    let t = draw(&s, 160, 48);
    assert!(
        !format!("{:?}", t.backend()).contains("Release"),
        "dismissed"
    );
}

#[test]
fn panels_take_the_rows_their_content_needs_and_the_logs_the_rest() {
    let s = fixtures::release_holding();
    let a = layout(Rect::new(0, 0, 160, 48), &s);
    // Build, images and traffic hold at most 4 lines here: 4 rows and the borders.
    let top = a.traffic.expect("traffic").height;
    assert!(top <= 6, "the top row takes {top} rows for 4 lines");
    assert_eq!(a.build.expect("build").height, top);
    // Two tasks a color: the service, its metrics, two tasks.
    assert!(a.blue.expect("blue").height <= 7);
    let logs = a.logs.expect("logs").height;
    assert!(logs >= 20, "the logs keep only {logs} rows of 48");
    // A converging shift's `desired · observed` line is never cut, even at 80×24.
    for (w, h) in [(80, 24), (160, 48), (60, 20)] {
        let rows = rows(&draw(&fixtures::shift_not_converged(), w, h)).join("\n");
        assert!(
            rows.contains("desired blue 60 / green 40"),
            "{w}x{h}:\n{rows}"
        );
        assert!(rows.contains("converging"), "{w}x{h}:\n{rows}");
    }
}

#[test]
fn logs_split_blue_and_green_side_by_side_on_a_wide_screen() {
    let mut s = fixtures::healthy_blue_live();
    press(&mut s, &[KeyCode::Char('s')]);
    let t = draw(&s, 160, 48);
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("logs_split_160x48", t.backend());
    });
    let screen = rows(&t);
    let logs: Vec<&String> = screen
        .iter()
        .filter(|r| r.contains(" blue-a1") || r.contains(" green-a1"))
        .collect();
    assert!(!logs.is_empty(), "{screen:#?}");
    for row in logs {
        // Blue's lines on the left half, green's on the right, never the other way.
        let (left, right) = row.split_at(row.char_indices().nth(80).map_or(row.len(), |(i, _)| i));
        assert!(!left.contains("green-a1"), "{row}");
        assert!(!right.contains("blue-a1"), "{row}");
    }
    // Too narrow: interleaved, and the title says why.
    let narrow = rows(&draw(&s, 120, 40)).join("\n");
    assert!(narrow.contains("split needs 140 columns"), "{narrow}");
    // One color only: the split waits for `a`.
    press(&mut s, &[KeyCode::Char('g')]);
    let one = rows(&draw(&s, 160, 48)).join("\n");
    assert!(one.contains("split: a shows both"), "{one}");
}

#[test]
fn starting_a_release_shows_the_plans_then_what_it_will_do() {
    let mut s = fixtures::healthy_blue_live();
    press(&mut s, &[KeyCode::Char('R'), KeyCode::Enter]);
    screens("release_pick_plan", &s);
    press(&mut s, &[KeyCode::Enter]);
    screens("release_confirm", &s);
    let text = rows(&draw(&s, 160, 48)).join("\n");
    assert!(
        text.contains("release v2 to green by plan default"),
        "{text}"
    );
    assert!(text.contains("GET /health → 200"), "{text}");
}

#[test]
fn the_guide_names_the_next_step_for_each_state_on_screen() {
    use crate::rollout::{Color, Weights};
    use crate::tui::event::{Event, Polled};
    let at = |s: &mut State, weights: Weights, green: crate::rollout::ColorState| {
        let snap = fixtures::snapshot(
            weights,
            Color::Blue,
            fixtures::color_state(Color::Blue, 2, 2, "v1", 1),
            green,
        );
        let now = s.now;
        crate::tui::update::handle_event(
            s,
            Event::Polled(Polled::Services(Ok(Box::new(snap))), now),
        );
    };
    let guide_row = |s: &State| {
        rows(&draw(s, 160, 48))
            .into_iter()
            .find(|r| r.contains('➜'))
            .unwrap_or_default()
    };
    let assert_guide = |s: &State, wanted: &str| {
        let row = guide_row(s);
        assert!(row.contains(wanted), "{row}");
    };
    let mut s = fixtures::healthy_blue_live();
    let all_blue = Weights::percent(100, 0).expect("valid");
    at(
        &mut s,
        all_blue,
        fixtures::color_state(Color::Green, 0, 0, "v2", 2),
    );
    assert_guide(&s, "green runs nothing: press d to deploy v2 to green");
    // The newest image is the one blue already runs: the guide offers the other one.
    if let Some(images) = s.images.data.as_mut() {
        images.reverse();
    }
    assert_eq!(s.deploy_choices()[0].0, "v1", "blue's tag comes first now");
    at(
        &mut s,
        all_blue,
        fixtures::color_state(Color::Green, 0, 0, "v2", 2),
    );
    assert_guide(&s, "green runs nothing: press d to deploy v2 to green");
    at(
        &mut s,
        all_blue,
        fixtures::color_state(Color::Green, 2, 1, "v2", 2),
    );
    assert_guide(&s, "green is starting (1/2 healthy)");
    at(
        &mut s,
        all_blue,
        fixtures::color_state(Color::Green, 2, 2, "v2", 2),
    );
    assert_guide(
        &s,
        "green runs v2 healthy at 0%: move the slider with → and press ⏎",
    );
    let half = Weights::percent(50, 50).expect("valid");
    at(
        &mut s,
        half,
        fixtures::color_state(Color::Green, 2, 2, "v2", 2),
    );
    assert_guide(&s, "green has 50%: press p to promote, r to roll back");
    // i hides it, and the logs get the row back.
    let logs = crate::tui::view::layout(Rect::new(0, 0, 160, 48), &s)
        .logs
        .expect("logs");
    press(&mut s, &[KeyCode::Char('i')]);
    assert_eq!(guide_row(&s), "");
    let more = crate::tui::view::layout(Rect::new(0, 0, 160, 48), &s)
        .logs
        .expect("logs");
    assert_eq!(more.height, logs.height + 1);
    // A release on screen: its own next step.
    let r = fixtures::release_holding();
    assert_guide(&r, "release step 2/3 holds");
    let rb = fixtures::release_rolled_back();
    assert_guide(&rb, "g shows green's logs only");
}

/// The journal view over a fixture: three writes by two people, one refused, newest last.
#[test]
fn the_journal_view_lists_who_changed_what_and_any_key_closes_it() {
    use crate::platform::JournalPage;
    use crate::rollout::journal::{Entry, Outcome, ReleaseRef};
    use crate::rollout::{Operator, Weights};
    use crate::tui::command::Command;
    use crate::tui::event::{Event, Polled};
    use crate::tui::state::{Mode, Resource};
    let mut s = fixtures::healthy_blue_live();
    let cmds = press(&mut s, &[KeyCode::Char('J')]);
    assert_eq!(s.mode, Mode::Journal);
    assert!(
        cmds.contains(&Command::Refresh(Resource::Journal)),
        "{cmds:?}"
    );
    let at = fixtures::NOW - 600_000;
    let who = |name: &str| Operator::new(name, "laptop").expect("valid");
    let mut shift = Entry::new(at, 1, who("alice"), "shift");
    shift.before = Some(Weights::all(crate::rollout::Color::Blue));
    shift.after = Weights::with_green_percent(10).ok();
    shift.reason = Some("weekly release".into());
    shift.release = Some(ReleaseRef {
        id: "r1795845000000".into(),
        step: Some(0),
    });
    let mut refused = Entry::new(at + 60_000, 2, who("bob"), "scale");
    refused.outcome = Outcome::Refused;
    refused.message = Some("blue serves traffic: not scaled to 0".into());
    let mut rollback = Entry::new(at + 120_000, 3, who("alice"), "rollback");
    rollback.before = shift.after;
    rollback.after = shift.before;
    let page = JournalPage {
        entries: vec![shift, refused, rollback],
        ..JournalPage::default()
    };
    crate::tui::update::handle_event(
        &mut s,
        Event::Polled(Polled::Journal(Ok(page)), fixtures::NOW),
    );
    screens("journal_view", &s);
    press(&mut s, &[KeyCode::Char('x')]);
    assert_eq!(s.mode, Mode::Normal, "any key closes it");
}

#[test]
fn a_release_step_whose_requests_mismatch_warns_with_both_numbers() {
    use crate::rollout::step_split::StepSplit;
    let ten = crate::rollout::Weights::with_green_percent(10).expect("valid");
    // The panel at 160×48 with the step's requests split `blue` / `green`.
    let shown = |blue: u64, green: u64| {
        let mut s = fixtures::release_holding();
        if let Some(Some(r)) = s.release.data.as_mut() {
            r.split = Some(StepSplit {
                verdict: Some(crate::rollout::split::judge(
                    ten,
                    crate::rollout::PerColor::new(blue, green),
                )),
                unavailable: None,
                mismatched: 1,
                accepted_unmeasured: false,
            });
        }
        format!("{:?}", draw(&s, 160, 48).backend())
    };
    let text = shown(250, 250);
    assert!(
        text.contains("split: warning: observed split blue 50 / green 50 over 500 requests"),
        "{text}"
    );
    // Too few requests: what the step waits for.
    let text = shown(5, 1);
    assert!(
        text.contains("split: waiting for 14 more requests to measure the split"),
        "{text}"
    );
    // A matching split says nothing more than the gates.
    let text = shown(450, 50);
    assert!(!text.contains("split:"), "{text}");
}

/// A view's snapshot with a part kept from an earlier read says which part is stale in the
/// panels' titles, and a poller backing off after being throttled says when it reads next.
#[test]
fn a_stale_part_and_a_throttled_poller_show_in_the_titles() {
    use crate::tui::event::{Event, Polled};
    use crate::tui::state::Resource;
    use crate::tui::update::handle_event;
    let mut s = fixtures::healthy_blue_live();
    let mut snap = s.services.data.clone().expect("a snapshot");
    snap.stale = vec!["tasks (ecs:DescribeTasks on blog failed (server error): boom)".into()];
    let at = s.now;
    let _ = handle_event(
        &mut s,
        Event::Polled(Polled::Services(Ok(Box::new(snap))), at),
    );
    let _ = handle_event(
        &mut s,
        Event::Backoff(Resource::Logs, Some(std::time::Duration::from_secs(8))),
    );
    let screen = format!("{}", draw(&s, 160, 48).backend());
    assert!(screen.contains("stale: tasks"), "{screen}");
    assert!(screen.contains("throttled: next read in 8s"), "{screen}");
    // Both clear once the reads succeed again.
    let _ = handle_event(&mut s, Event::Backoff(Resource::Logs, None));
    let fresh = fixtures::healthy_blue_live()
        .services
        .data
        .expect("a snapshot");
    let _ = handle_event(
        &mut s,
        Event::Polled(Polled::Services(Ok(Box::new(fresh))), at),
    );
    let screen = format!("{}", draw(&s, 160, 48).backend());
    assert!(
        !screen.contains("stale:") && !screen.contains("throttled"),
        "{screen}"
    );
}
