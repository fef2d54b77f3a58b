use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{chars, press};
use crate::ops::{Access, OpError, PromoteOptions, RollbackReport};
use crate::platform::{FaultKind, PlatformError, WeightChange};
use crate::rollout::guard::GuardRule;
use crate::rollout::{Color, Weights};
use crate::tui::action::Action;
use crate::tui::command::Command;
use crate::tui::event::{Event, OpResult, Polled};
use crate::tui::fixtures::{self, NOW};
use crate::tui::state::{Focus, LoadStatus, Mode, NoticeLevel, PendingOp, Resource, State};
use crate::tui::update::{handle_event, update};

fn w(blue: u8, green: u8) -> Weights {
    Weights::percent(blue, green).expect("valid weights")
}

fn notice(s: &State) -> String {
    s.notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default()
}

fn read_only(mut s: State, needs_arming: bool) -> State {
    s.access = Access {
        read_only: !needs_arming,
        profile_read_only: needs_arming,
        armed: false,
    };
    s
}

#[test]
fn slider_keys_move_the_pending_value_for_the_canary() {
    let mut s = fixtures::healthy_blue_live();
    assert_eq!(s.slider_color(), Color::Green);
    press(&mut s, &[KeyCode::Right, KeyCode::Char('l')]);
    assert_eq!(s.traffic.pending, Some(w(90, 10)));
    press(&mut s, &[KeyCode::Char('L'), KeyCode::Char('L')]);
    assert_eq!(s.traffic.pending, Some(w(88, 12)));
    press(
        &mut s,
        &[KeyCode::Char('H'), KeyCode::Left, KeyCode::Char('h')],
    );
    assert_eq!(s.traffic.pending, Some(w(99, 1)));
    press(&mut s, &[KeyCode::Left]);
    assert_eq!(s.traffic.pending, Some(w(100, 0)), "clamped at 0");
    press(&mut s, &[KeyCode::Char('4')]);
    assert_eq!(s.traffic.pending, Some(w(60, 40)));
    press(&mut s, &[KeyCode::Char('G')]);
    assert_eq!(s.traffic.pending, Some(w(0, 100)));
    press(&mut s, &[KeyCode::Char(')'), KeyCode::Char('0')]);
    assert_eq!(s.traffic.pending, Some(w(100, 0)));
    // Esc puts the slider back on the live weights.
    press(&mut s, &[KeyCode::Char('3'), KeyCode::Esc]);
    assert_eq!(s.traffic.pending, None);
    assert_eq!(s.slider(), Some(w(100, 0)));
}

#[test]
fn slider_moves_blue_when_green_is_stable() {
    let mut s = fixtures::healthy_blue_live();
    if let Some(snap) = s.services.data.as_mut() {
        snap.listener.stable = Some(Color::Green);
        snap.listener.weights = w(0, 100);
    }
    assert_eq!(s.slider_color(), Color::Blue);
    press(&mut s, &[KeyCode::Right]);
    assert_eq!(s.traffic.pending, Some(w(5, 95)));
    press(&mut s, &[KeyCode::Char('2')]);
    assert_eq!(s.traffic.pending, Some(w(20, 80)));
}

#[test]
fn slider_without_weights_says_so() {
    let mut s = fixtures::nothing_loaded();
    press(&mut s, &[KeyCode::Right]);
    assert_eq!(s.traffic.pending, None);
    assert!(notice(&s).contains("not known"));
}

#[test]
fn apply_opens_a_confirm_stating_the_exact_change_then_shifts() {
    let mut s = fixtures::healthy_blue_live();
    let cmds = press(&mut s, &[KeyCode::Char('4'), KeyCode::Enter]);
    assert!(cmds.is_empty(), "nothing happens before the confirm");
    assert_eq!(
        s.mode,
        Mode::Confirm(PendingOp::Shift {
            from: w(100, 0),
            to: w(60, 40),
            refusal: None,
            force: false
        })
    );
    let cmds = press(&mut s, &[KeyCode::Enter]);
    assert_eq!(
        cmds,
        vec![Command::Shift {
            weights: w(60, 40),
            force: false
        }]
    );
    assert_eq!(s.mode, Mode::Normal);
    assert_eq!(s.traffic.desired, Some(w(60, 40)));
    assert_eq!(s.busy.len(), 1);
    // Applied: the notice says so and a refresh follows.
    let change = WeightChange {
        previous: Some(w(100, 0)),
        desired: w(60, 40),
        observed: Some(w(60, 40)),
        write_error: None,
        read_error: None,
    };
    let cmds = handle_event(&mut s, Event::Done(OpResult::Shifted(Ok(change))));
    assert_eq!(cmds, vec![Command::Refresh(Resource::Services)]);
    assert!(s.busy.is_empty());
    assert_eq!(s.traffic.pending, None);
    assert!(notice(&s).contains("applied: blue 60 / green 40"));
}

#[test]
fn cancel_and_y_in_the_confirm() {
    let mut s = fixtures::healthy_blue_live();
    press(
        &mut s,
        &[KeyCode::Char('2'), KeyCode::Enter, KeyCode::Char('n')],
    );
    assert_eq!(s.mode, Mode::Normal);
    assert_eq!(
        s.traffic.pending,
        Some(w(80, 20)),
        "the slider keeps its value"
    );
    let cmds = press(&mut s, &[KeyCode::Enter, KeyCode::Char('y')]);
    assert_eq!(
        cmds,
        vec![Command::Shift {
            weights: w(80, 20),
            force: false
        }]
    );
}

#[test]
fn apply_with_no_change_explains() {
    let mut s = fixtures::healthy_blue_live();
    let cmds = press(&mut s, &[KeyCode::Enter]);
    assert!(cmds.is_empty());
    assert_eq!(s.mode, Mode::Normal);
    assert!(notice(&s).contains("already shows"));
}

#[test]
fn guard_refusal_shows_in_the_confirm_and_force_overrides_it() {
    let mut s = fixtures::green_unhealthy();
    press(&mut s, &[KeyCode::Char('5'), KeyCode::Enter]);
    let Mode::Confirm(PendingOp::Shift { refusal, .. }) = &s.mode else {
        panic!("expected the shift confirm, got {:?}", s.mode);
    };
    let r = refusal.clone().expect("the guard objects");
    assert_eq!(r.rule, GuardRule::UnhealthyTarget);
    assert!(r.overridable);
    // Confirming without force is refused, with the reason.
    let cmds = press(&mut s, &[KeyCode::Enter]);
    assert!(cmds.is_empty());
    assert!(matches!(s.mode, Mode::Confirm(_)));
    assert!(notice(&s).contains("green has 1 healthy target"));
    // f forces; Enter then shifts with force.
    let cmds = press(&mut s, &[KeyCode::Char('f'), KeyCode::Enter]);
    assert_eq!(
        cmds,
        vec![Command::Shift {
            weights: w(50, 50),
            force: true
        }]
    );
}

#[test]
fn shift_not_applied_clears_the_desired_weights_and_says_so() {
    let mut s = fixtures::shift_not_converged();
    s.busy.push(crate::tui::state::Busy {
        what: "shifting".into(),
        since: NOW,
    });
    let change = WeightChange {
        previous: Some(w(90, 10)),
        desired: w(60, 40),
        observed: Some(w(90, 10)),
        write_error: Some(PlatformError::call(
            "local:set-weights",
            "sock",
            FaultKind::ServerError,
            "boom",
        )),
        read_error: None,
    };
    handle_event(
        &mut s,
        Event::Done(OpResult::Shifted(Err(OpError::Weights(Box::new(change))))),
    );
    assert_eq!(s.traffic.desired, None);
    assert!(notice(&s).contains("NOT applied"));
    assert_eq!(s.notice.as_ref().map(|n| n.level), Some(NoticeLevel::Error));
}

#[test]
fn desired_weights_clear_once_observed() {
    let mut s = fixtures::shift_not_converged();
    assert_eq!(s.traffic.desired, Some(w(60, 40)));
    let mut snap = s.services.data.clone().expect("loaded");
    snap.listener.weights = w(60, 40);
    handle_event(
        &mut s,
        Event::Polled(Polled::Services(Ok(Box::new(snap))), NOW),
    );
    assert_eq!(s.traffic.desired, None);
}

#[test]
fn promote_dialog_with_bake_and_keep_old() {
    let mut s = fixtures::shift_not_converged();
    // Not converged: the guard objects and confirming does nothing.
    press(&mut s, &[KeyCode::Char('p')]);
    let Mode::Confirm(PendingOp::Promote { refusal, .. }) = &s.mode else {
        panic!("expected the promote dialog");
    };
    assert_eq!(
        refusal.as_ref().map(|r| r.rule),
        Some(GuardRule::NotConverged)
    );
    assert!(press(&mut s, &[KeyCode::Enter]).is_empty());
    press(&mut s, &[KeyCode::Esc]);

    let mut s = fixtures::healthy_blue_live();
    press(
        &mut s,
        &[KeyCode::Char('5'), KeyCode::Enter, KeyCode::Enter],
    );
    let change = WeightChange {
        previous: Some(w(100, 0)),
        desired: w(50, 50),
        observed: Some(w(50, 50)),
        write_error: None,
        read_error: None,
    };
    handle_event(&mut s, Event::Done(OpResult::Shifted(Ok(change))));
    let mut snap = s.services.data.clone().expect("loaded");
    snap.listener.weights = w(50, 50);
    handle_event(
        &mut s,
        Event::Polled(Polled::Services(Ok(Box::new(snap))), NOW),
    );
    press(&mut s, &[KeyCode::Char('p')]);
    assert_eq!(
        s.mode,
        Mode::Confirm(PendingOp::Promote {
            target: Some(Color::Green),
            bake: Duration::from_secs(300),
            keep_old: false,
            refusal: None
        })
    );
    press(
        &mut s,
        &[
            KeyCode::Char('+'),
            KeyCode::Char('+'),
            KeyCode::Char('-'),
            KeyCode::Char('k'),
        ],
    );
    let cmds = press(&mut s, &[KeyCode::Char('y')]);
    assert_eq!(
        cmds,
        vec![Command::Promote {
            opts: PromoteOptions {
                bake: Duration::from_secs(360),
                keep_old: true
            },
            pending: None
        }]
    );
}

#[test]
fn bake_time_stays_in_range() {
    let mut s = fixtures::healthy_blue_live();
    update(
        &mut s,
        Action::Promote {
            bake_secs: Some(30),
            keep_old: false,
        },
    );
    update(&mut s, Action::AdjustBake { secs: -60 });
    let Mode::Confirm(PendingOp::Promote { bake, .. }) = &s.mode else {
        panic!("expected the promote dialog");
    };
    assert_eq!(*bake, Duration::ZERO);
}

#[test]
fn promote_refused_while_canary_unhealthy() {
    let mut s = fixtures::green_unhealthy();
    press(&mut s, &[KeyCode::Char('p')]);
    let Mode::Confirm(PendingOp::Promote { refusal, .. }) = &s.mode else {
        panic!("expected the promote dialog");
    };
    let r = refusal.as_ref().expect("guard objects");
    assert_eq!(r.rule, GuardRule::PromoteUnhealthy);
    assert!(press(&mut s, &[KeyCode::Enter]).is_empty());
    assert!(notice(&s).contains("cannot promote green"));
}

#[test]
fn rollback_is_one_confirm_and_one_command() {
    let mut s = fixtures::shift_not_converged();
    press(&mut s, &[KeyCode::Char('r')]);
    assert_eq!(
        s.mode,
        Mode::Confirm(PendingOp::Rollback {
            target: Some(Color::Blue),
            refusal: None
        })
    );
    assert_eq!(press(&mut s, &[KeyCode::Enter]), vec![Command::Rollback]);
    let mut s = fixtures::shift_not_converged();
    assert_eq!(
        press(&mut s, &[KeyCode::Char('r'), KeyCode::Char('y')]),
        vec![Command::Rollback]
    );
    let warning = "test listener not repointed to green: timeout".to_string();
    handle_event(&mut s, rolled_back_to_blue(w(90, 10), vec![warning]));
    assert!(notice(&s).contains("rolled back: blue has 100%"));
    assert!(notice(&s).contains("test listener"));
    assert_eq!(
        s.notice.as_ref().map(|n| n.level),
        Some(NoticeLevel::Warning)
    );
    assert_eq!(s.traffic.desired, None);
}

#[test]
fn rollback_works_when_every_panel_is_in_error() {
    let mut s = fixtures::every_panel_in_error();
    assert!(matches!(s.services.status, LoadStatus::Error { .. }));
    press(&mut s, &[KeyCode::Char('r')]);
    assert_eq!(
        s.mode,
        Mode::Confirm(PendingOp::Rollback {
            target: None,
            refusal: None
        })
    );
    assert_eq!(press(&mut s, &[KeyCode::Enter]), vec![Command::Rollback]);
    let mut s = fixtures::nothing_loaded();
    assert_eq!(
        press(&mut s, &[KeyCode::Char('r'), KeyCode::Char('y')]),
        vec![Command::Rollback]
    );
}

#[test]
fn rollback_refused_when_its_target_has_no_healthy_target() {
    let mut s = fixtures::shift_not_converged();
    if let Some(snap) = s.services.data.as_mut() {
        snap.colors.blue.targets.clear();
    }
    press(&mut s, &[KeyCode::Char('r')]);
    let Mode::Confirm(PendingOp::Rollback { refusal, .. }) = &s.mode else {
        panic!("expected the rollback confirm");
    };
    assert_eq!(
        refusal.as_ref().map(|r| r.rule),
        Some(GuardRule::RollbackNoTarget)
    );
    assert!(press(&mut s, &[KeyCode::Enter]).is_empty());
    assert!(notice(&s).contains("scale blue up or redeploy"));
}

#[test]
fn every_write_key_explains_read_only() {
    for needs_arming in [false, true] {
        let mut s = read_only(fixtures::healthy_blue_live(), needs_arming);
        let expected = if needs_arming { ":arm" } else { "--read-only" };
        for key in [
            vec![KeyCode::Char('3'), KeyCode::Enter],
            vec![KeyCode::Char('p')],
            vec![KeyCode::Char('r')],
            vec![KeyCode::Char('B')],
            vec![KeyCode::Char('d')],
            vec![KeyCode::Char('F')],
        ] {
            s.notice = None;
            let cmds = press(&mut s, &key);
            assert!(cmds.is_empty(), "{key:?} must not write");
            assert_eq!(s.mode, Mode::Normal, "{key:?} must not open a dialog");
            assert!(
                notice(&s).contains(expected),
                "{key:?}: {:?} should explain with {expected}",
                notice(&s)
            );
        }
    }
}

#[test]
fn arm_allows_writes_on_a_read_only_profile_only() {
    let mut s = read_only(fixtures::healthy_blue_live(), true);
    let cmds = update(&mut s, Action::RunCommand("arm".into()));
    assert_eq!(cmds, vec![Command::Arm]);
    assert!(s.access.armed);
    assert_eq!(
        press(&mut s, &[KeyCode::Char('r'), KeyCode::Enter]),
        vec![Command::Rollback]
    );
    let mut s = read_only(fixtures::healthy_blue_live(), false);
    assert!(update(&mut s, Action::Arm).is_empty());
    assert!(notice(&s).contains("--read-only"));
}

#[test]
fn build_and_build_history() {
    let mut s = fixtures::healthy_blue_live();
    assert_eq!(
        press(&mut s, &[KeyCode::Char('B')]),
        vec![Command::Build {
            source_version: None
        }]
    );
    press(
        &mut s,
        &[KeyCode::Char('['), KeyCode::Char('['), KeyCode::Char('[')],
    );
    assert_eq!(s.build_index, 1, "two builds: stops at the oldest");
    press(&mut s, &[KeyCode::Char(']')]);
    assert_eq!(s.build_index, 0);
    let b = fixtures::build(14, None);
    let cmds = handle_event(&mut s, Event::Done(OpResult::BuildStarted(Ok(b))));
    assert!(cmds.contains(&Command::Refresh(Resource::Builds)));
    assert!(notice(&s).contains("started"));
}

#[test]
fn deploy_picks_an_image_then_confirms() {
    let mut s = fixtures::healthy_blue_live();
    press(&mut s, &[KeyCode::Char('d')]);
    assert_eq!(s.mode, Mode::PickImage { selected: 0 });
    press(&mut s, &[KeyCode::Down, KeyCode::Down, KeyCode::Up]);
    assert_eq!(s.mode, Mode::PickImage { selected: 0 });
    press(&mut s, &[KeyCode::Down, KeyCode::Enter]);
    assert_eq!(
        s.mode,
        Mode::Confirm(PendingOp::Deploy {
            tag: "v1".into(),
            color: Some(Color::Green),
            refusal: None
        })
    );
    assert_eq!(
        press(&mut s, &[KeyCode::Enter]),
        vec![Command::Deploy {
            tag: "v1".into(),
            color: Some(Color::Green)
        }]
    );
}

#[test]
fn deploy_refused_during_a_shift() {
    let mut s = fixtures::shift_not_converged();
    update(&mut s, Action::RunCommand("deploy v2".into()));
    let Mode::Confirm(PendingOp::Deploy { refusal, color, .. }) = &s.mode else {
        panic!("expected the deploy confirm");
    };
    assert_eq!(*color, None);
    assert!(refusal.is_some());
    assert!(press(&mut s, &[KeyCode::Enter]).is_empty());
    assert!(notice(&s).contains("shift is in progress"));
}

#[test]
fn command_line_runs_verbs_and_keeps_bad_input() {
    let mut s = fixtures::healthy_blue_live();
    press(&mut s, &[KeyCode::Char(':')]);
    press(&mut s, &chars("shift 30"));
    press(&mut s, &[KeyCode::Enter]);
    assert_eq!(
        s.mode,
        Mode::Confirm(PendingOp::Shift {
            from: w(100, 0),
            to: w(70, 30),
            refusal: None,
            force: false
        })
    );
    press(&mut s, &[KeyCode::Esc]);
    press(&mut s, &[KeyCode::Char(':')]);
    press(&mut s, &chars("shfit 30"));
    press(&mut s, &[KeyCode::Enter]);
    assert_eq!(
        s.mode,
        Mode::Command {
            input: "shfit 30".into()
        },
        "what was typed stays"
    );
    assert!(notice(&s).contains("unknown command"));
    press(&mut s, &[KeyCode::Backspace, KeyCode::Esc]);
    assert_eq!(s.mode, Mode::Normal);
    assert_eq!(
        update(&mut s, Action::RunCommand("scale green 3".into())),
        vec![Command::Scale {
            color: Color::Green,
            desired: 3
        }]
    );
    assert_eq!(
        update(&mut s, Action::RunCommand("build feature/x".into())),
        vec![Command::Build {
            source_version: Some("feature/x".into())
        }]
    );
    update(&mut s, Action::RunCommand("help".into()));
    assert_eq!(s.mode, Mode::Help);
    update(&mut s, Action::RunCommand("quit".into()));
    assert!(s.quit);
}

#[test]
fn log_keys() {
    let mut s = fixtures::healthy_blue_live();
    s.focus = Focus::Logs;
    press(&mut s, &[KeyCode::Char('f')]);
    assert!(!s.log_view.follow);
    handle_event(
        &mut s,
        Event::Polled(Polled::Logs(Ok(fixtures::log_lines(5, NOW))), NOW),
    );
    assert_eq!(s.log_view.new_since_pause(&s.log_buffer), 5);
    press(&mut s, &[KeyCode::Char('f')]);
    assert!(s.log_view.follow);
    press(
        &mut s,
        &[KeyCode::Char('w'), KeyCode::Char('t'), KeyCode::Char('e')],
    );
    assert!(s.log_view.wrap && !s.log_view.timestamps && s.log_view.errors_only);
    press(&mut s, &[KeyCode::Char('g')]);
    assert_eq!(s.log_view.color, Some(Color::Green));
    press(&mut s, &[KeyCode::Char('b')]);
    assert_eq!(s.log_view.color, Some(Color::Blue));
    press(&mut s, &[KeyCode::Char('a')]);
    assert_eq!(s.log_view.color, None);
    press(&mut s, &[KeyCode::PageUp]);
    assert!(!s.log_view.follow);
    press(&mut s, &[KeyCode::End]);
    assert!(s.log_view.follow);
    // Home goes to the oldest line that passes the filters: the first error line…
    press(&mut s, &[KeyCode::Home]);
    assert_eq!(s.log_view.bottom(&s.log_buffer), Some(3));
    // …or the oldest line at all without them.
    press(&mut s, &[KeyCode::Char('e'), KeyCode::Home]);
    assert_eq!(s.log_view.bottom(&s.log_buffer), Some(0));
}

#[test]
fn regex_filter_applies_as_typed_and_esc_restores() {
    let mut s = fixtures::healthy_blue_live();
    press(&mut s, &[KeyCode::Char('/')]);
    press(&mut s, &chars("status=30"));
    assert_eq!(
        s.log_view.filter.as_ref().map(|f| f.text.as_str()),
        Some("status=30")
    );
    press(&mut s, &[KeyCode::Enter]);
    assert_eq!(s.mode, Mode::Normal);
    press(&mut s, &[KeyCode::Char('!')]);
    assert!(s.log_view.invert);
    // A broken regex keeps the last good filter and says why.
    press(&mut s, &[KeyCode::Char('/')]);
    press(&mut s, &chars("(unclosed"));
    assert_eq!(
        s.log_view.filter.as_ref().map(|f| f.text.as_str()),
        Some("status=30")
    );
    press(&mut s, &[KeyCode::Enter]);
    let Mode::Filter { error, input, .. } = &s.mode else {
        panic!("an invalid regex keeps the prompt open");
    };
    assert!(
        error
            .as_deref()
            .unwrap_or_default()
            .contains("invalid regex")
    );
    assert_eq!(input, "status=30(unclosed");
    press(&mut s, &[KeyCode::Esc]);
    assert_eq!(
        s.log_view.filter.as_ref().map(|f| f.text.as_str()),
        Some("status=30")
    );
    // Clearing the text removes the filter.
    press(&mut s, &[KeyCode::Char('/')]);
    press(&mut s, &[KeyCode::Backspace; 9]);
    press(&mut s, &[KeyCode::Enter]);
    assert!(s.log_view.filter.is_none());
}

#[test]
fn focus_help_refresh_and_quit() {
    let mut s = fixtures::healthy_blue_live();
    press(&mut s, &[KeyCode::Tab, KeyCode::Tab]);
    assert_eq!(s.focus, Focus::Green);
    press(
        &mut s,
        &[KeyCode::BackTab, KeyCode::BackTab, KeyCode::BackTab],
    );
    assert_eq!(s.focus, Focus::Logs);
    press(&mut s, &[KeyCode::Char('?')]);
    assert_eq!(s.mode, Mode::Help);
    press(&mut s, &[KeyCode::Char('x')]);
    assert_eq!(s.mode, Mode::Normal);
    let cmds = handle_event(
        &mut s,
        Event::Key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL)),
    );
    assert_eq!(
        cmds.len(),
        Resource::ALL.len() - 1,
        "all but the closed journal"
    );
    assert!(!cmds.contains(&Command::Refresh(Resource::Journal)));
    handle_event(
        &mut s,
        Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert!(s.quit);
    let mut s = fixtures::healthy_blue_live();
    press(&mut s, &[KeyCode::Char('q')]);
    assert!(s.quit);
}

#[test]
fn pollers_results_and_errors_keep_old_data() {
    let mut s = fixtures::healthy_blue_live();
    handle_event(&mut s, Event::Loading(Resource::Images, NOW));
    assert!(s.images.is_loading());
    let err = PlatformError::call("local:images", "sock", FaultKind::Timeout, "slow");
    handle_event(&mut s, Event::Polled(Polled::Images(Err(err)), NOW));
    assert!(s.images.is_error());
    assert!(s.images.data.is_some(), "stale data stays, with its age");
    assert_eq!(s.images.age(NOW), Some(5_000));
}

#[test]
fn ticks_advance_the_clock_and_offer_to_finish_a_due_bake() {
    let mut s = fixtures::healthy_blue_live();
    s.info.finishes_bake = false;
    if let Some(snap) = s.services.data.as_mut() {
        snap.listener.bake = Some(crate::rollout::Bake {
            old: Color::Green,
            until: NOW + 1_000,
            keep_old: false,
        });
    }
    handle_event(&mut s, Event::Tick(NOW + 500));
    assert_eq!(s.now, NOW + 500);
    assert!(s.notice.is_none());
    handle_event(&mut s, Event::Tick(NOW + 1_500));
    assert!(notice(&s).contains("press F"));
    s.notice = None;
    handle_event(&mut s, Event::Tick(NOW + 2_500));
    assert!(s.notice.is_none(), "offered once");
    press(&mut s, &[KeyCode::Char('F')]);
    assert_eq!(
        s.mode,
        Mode::Confirm(PendingOp::FinishBake {
            old: Some(Color::Green),
            keep_old: false,
            accept_unmeasured: false,
        })
    );
    // `u` is the explicit override of a bake held for too few requests, and undoes itself;
    // `f` (the shift guard's) does nothing here.
    press(
        &mut s,
        &[
            KeyCode::Char('f'),
            KeyCode::Char('u'),
            KeyCode::Char('u'),
            KeyCode::Char('u'),
        ],
    );
    assert_eq!(
        press(&mut s, &[KeyCode::Enter]),
        vec![Command::FinishBake {
            accept_unmeasured: true
        }]
    );
}

#[test]
fn a_bake_finish_without_the_override_is_asked_without_it_and_a_held_one_says_how() {
    let mut s = fixtures::healthy_blue_live();
    if let Some(snap) = s.services.data.as_mut() {
        snap.listener.bake = Some(crate::rollout::Bake {
            old: Color::Green,
            until: NOW - 1_000,
            keep_old: false,
        });
    }
    press(&mut s, &[KeyCode::Char('F')]);
    assert_eq!(
        press(&mut s, &[KeyCode::Enter]),
        vec![Command::FinishBake {
            accept_unmeasured: false
        }]
    );
    let held = crate::rollout::split::check_scale_in(
        &crate::rollout::split::SplitVerdict::TooFewRequests { n: 3, need: 116 },
        Color::Green,
        false,
    )
    .expect_err("held");
    handle_event(
        &mut s,
        Event::Done(OpResult::BakeFinished(Err(OpError::Refused(held)))),
    );
    assert!(
        notice(&s).contains("(in this console: F, then u)"),
        "{}",
        notice(&s)
    );
}

#[test]
fn log_capacity_bounds_the_buffer() {
    let mut s = State::new(fixtures::info(), Access::default(), 100, NOW);
    for _ in 0..5 {
        handle_event(
            &mut s,
            Event::Polled(Polled::Logs(Ok(fixtures::log_lines(70, NOW))), NOW),
        );
    }
    assert_eq!(s.log_buffer.len(), 100);
    assert_eq!(s.log_buffer.total(), 350);
}

#[test]
fn deploy_of_an_unknown_tag_names_the_known_ones() {
    let mut s = fixtures::healthy_blue_live();
    let cmds = update(&mut s, Action::RunCommand("deploy v9".into()));
    assert!(cmds.is_empty());
    assert_eq!(s.mode, Mode::Normal);
    assert!(notice(&s).contains("no image is tagged `v9`"));
    assert!(notice(&s).contains("v2, v1"));
}

#[test]
fn deploy_picker_lists_every_tag() {
    let mut s = fixtures::healthy_blue_live();
    if let Some(images) = s.images.data.as_mut() {
        images[0].tags.push("latest".into());
    }
    press(&mut s, &[KeyCode::Char('d'), KeyCode::Down, KeyCode::Enter]);
    let Mode::Confirm(PendingOp::Deploy { tag, .. }) = &s.mode else {
        panic!("expected the deploy confirm, got {:?}", s.mode);
    };
    assert_eq!(tag, "latest");
}

#[test]
fn one_write_at_a_time_but_rollback_overtakes() {
    let mut s = fixtures::healthy_blue_live();
    press(
        &mut s,
        &[KeyCode::Char('3'), KeyCode::Enter, KeyCode::Enter],
    );
    assert_eq!(s.busy.len(), 1);
    // A second write waits for the first.
    let cmds = press(
        &mut s,
        &[KeyCode::Char('5'), KeyCode::Enter, KeyCode::Enter],
    );
    assert!(cmds.is_empty());
    assert!(notice(&s).contains("still running"));
    press(&mut s, &[KeyCode::Esc]);
    // The rescue does not.
    assert_eq!(
        press(
            &mut s,
            &[KeyCode::Esc, KeyCode::Char('r'), KeyCode::Char('y')]
        ),
        vec![Command::Rollback]
    );
    assert_eq!(s.busy.len(), 2);
    handle_event(&mut s, rolled_back_to_blue(w(100, 0), vec![]));
    assert_eq!(s.busy.len(), 1);
    assert!(s.busy[0].what.starts_with("shifting"));
}

/// A finished rollback that gave blue 100% from `previous`.
fn rolled_back_to_blue(previous: Weights, warnings: Vec<String>) -> Event {
    Event::Done(OpResult::RolledBack(Ok(RollbackReport {
        target: Color::Blue,
        change: WeightChange {
            previous: Some(previous),
            desired: w(100, 0),
            observed: Some(w(100, 0)),
            write_error: None,
            read_error: None,
        },
        warnings,
        taken_over_from: None,
        unchanged: false,
        ended_release: None,
    })))
}

fn promoted_green(until: crate::rollout::UnixMillis, platform_finishes_bake: bool) -> OpResult {
    OpResult::Promoted(Ok(crate::ops::PromoteReport {
        promoted: Color::Green,
        change: WeightChange {
            previous: Some(w(100, 0)),
            desired: w(0, 100),
            observed: Some(w(0, 100)),
            write_error: None,
            read_error: None,
        },
        bake: Some(crate::rollout::Bake {
            old: Color::Blue,
            until,
            keep_old: false,
        }),
        platform_finishes_bake,
        warnings: vec![],
    }))
}

#[test]
fn a_bake_this_session_started_ends_by_a_command_once_due() {
    let mut s = fixtures::healthy_blue_live();
    s.info.finishes_bake = false;
    handle_event(&mut s, Event::Done(promoted_green(NOW + 1_000, false)));
    assert!(handle_event(&mut s, Event::Tick(NOW + 999)).is_empty());
    // Due, but another write runs: one write at a time, so it waits.
    s.busy.push(crate::tui::state::Busy {
        what: "shifting".into(),
        since: NOW,
    });
    assert!(handle_event(&mut s, Event::Tick(NOW + 1_000)).is_empty());
    s.busy.clear();
    assert_eq!(
        handle_event(&mut s, Event::Tick(NOW + 1_100)),
        vec![Command::FinishBake {
            accept_unmeasured: false
        }]
    );
    assert_eq!(s.busy.len(), 1, "the finish is a write like any other");
    assert!(
        handle_event(&mut s, Event::Tick(NOW + 1_200)).is_empty(),
        "asked once"
    );
    handle_event(&mut s, Event::Done(OpResult::BakeFinished(Ok(None))));
    assert!(s.busy.is_empty());
}

#[test]
fn a_rollback_or_a_platform_that_bakes_leaves_nothing_to_end() {
    let mut s = fixtures::healthy_blue_live();
    s.info.finishes_bake = false;
    handle_event(&mut s, Event::Done(promoted_green(NOW + 1_000, false)));
    handle_event(&mut s, rolled_back_to_blue(w(0, 100), vec![]));
    assert!(handle_event(&mut s, Event::Tick(NOW + 5_000)).is_empty());

    let mut s = fixtures::healthy_blue_live();
    handle_event(&mut s, Event::Done(promoted_green(NOW + 1_000, true)));
    assert!(handle_event(&mut s, Event::Tick(NOW + 5_000)).is_empty());
}

#[test]
fn release_requests_pause_at_once_and_abort_after_a_confirm() {
    use crate::rollout::release::Request;
    let mut s = fixtures::release_holding();
    assert_eq!(
        update(&mut s, Action::RunCommand("pause".into())),
        vec![Command::ReleaseRequest(Request::Pause)]
    );
    assert!(update(&mut s, Action::RunCommand("abort".into())).is_empty());
    assert!(matches!(
        s.mode,
        Mode::Confirm(PendingOp::AbortRelease {
            stable: Color::Blue,
            ..
        })
    ));
    assert_eq!(
        press(&mut s, &[KeyCode::Enter]),
        vec![Command::ReleaseRequest(Request::Abort)]
    );
    // Nothing runs: said so, nothing sent.
    let mut idle = fixtures::healthy_blue_live();
    assert!(update(&mut idle, Action::RunCommand("abort".into())).is_empty());
    assert!(
        notice(&idle).contains("no release is running"),
        "{}",
        notice(&idle)
    );
    // Read-only refuses, as every write.
    let mut ro = read_only(fixtures::release_holding(), false);
    assert!(update(&mut ro, Action::RunCommand("pause".into())).is_empty());
    // An ended release cannot be paused, but can be dismissed.
    let mut ended = fixtures::release_rolled_back();
    assert!(update(&mut ended, Action::RunCommand("pause".into())).is_empty());
    update(&mut ended, Action::RunCommand("dismiss".into()));
    assert_eq!(ended.release_dismissed.as_deref(), Some("r1795845500000"));
}

#[test]
fn a_release_starts_from_its_image_then_its_plan_then_a_confirm() {
    use crate::rollout::plan::{Plan, PlanKind, Step};
    use crate::rollout::{Release, Share};
    let mut s = fixtures::healthy_blue_live();
    let careful = Plan::stepped(
        "careful",
        PlanKind::Canary,
        vec![Step {
            weight: Share::percent(5).expect("valid"),
            hold_secs: 60,
        }],
        5,
    )
    .expect("valid");
    s.release_settings = std::sync::Arc::new(crate::config::ReleaseSettings {
        plans: vec![careful.clone()],
        default_plan: Some("careful".into()),
        ..Default::default()
    });
    assert_eq!(s.plan_choices(), ["careful", "default", "all-at-once"]);
    press(&mut s, &[KeyCode::Char('R')]);
    assert_eq!(
        s.mode,
        Mode::PickRelease {
            tag: None,
            selected: 0
        }
    );
    // v2 is the first image; its plan list starts at the profile's default.
    press(&mut s, &[KeyCode::Enter]);
    assert_eq!(
        s.mode,
        Mode::PickRelease {
            tag: Some("v2".into()),
            selected: 0
        }
    );
    press(&mut s, &[KeyCode::Enter]);
    let Mode::Confirm(PendingOp::Release {
        spec,
        canary,
        refusal,
    }) = &s.mode
    else {
        panic!("{:?}", s.mode)
    };
    assert_eq!((spec.tag.as_str(), &spec.plan), ("v2", &careful));
    assert_eq!(*canary, Some(Color::Green));
    assert_eq!(*refusal, None);
    let spec = spec.clone();
    assert_eq!(
        press(&mut s, &[KeyCode::Enter]),
        vec![Command::StartRelease(spec)]
    );
    assert!(!s.busy.is_empty(), "starting shows as busy");
    // Esc on the plan list goes back to the screen, nothing started.
    let mut t = fixtures::healthy_blue_live();
    assert!(press(&mut t, &[KeyCode::Char('R'), KeyCode::Enter, KeyCode::Esc]).is_empty());
    assert_eq!(t.mode, Mode::Normal);
    // While a release runs, R says how to end it instead of opening the picker.
    let mut r = fixtures::release_holding();
    press(&mut r, &[KeyCode::Char('R')]);
    assert_eq!(r.mode, Mode::Normal);
    assert!(notice(&r).contains(":abort"), "{}", notice(&r));
    // The command line's release opens the same confirm, by the CLI's flags.
    let mut c = fixtures::healthy_blue_live();
    update(
        &mut c,
        Action::RunCommand("release --tag v1 --steps 1,10 --hold 2m".into()),
    );
    let Mode::Confirm(PendingOp::Release { spec, .. }) = &c.mode else {
        panic!("{:?}", c.mode)
    };
    assert_eq!(spec.plan.steps.len(), 2);
    // An unknown plan is refused with the known ones named.
    update(&mut c, Action::Cancel);
    update(
        &mut c,
        Action::RunCommand("release --tag v1 --plan nope".into()),
    );
    assert!(
        notice(&c).contains("no plan named `nope`"),
        "{}",
        notice(&c)
    );
    // A finished release the console drove says how it ended, and ends no busy entry.
    let ended: Release = fixtures::release_rolled_back()
        .release
        .data
        .clone()
        .flatten()
        .expect("a release");
    c.busy.push(crate::tui::state::Busy {
        what: "shifting".into(),
        since: 0,
    });
    handle_event(
        &mut c,
        Event::Done(OpResult::ReleaseDriven(Ok(Box::new(ended)))),
    );
    assert_eq!(c.busy.len(), 1, "a release's end is not a write's end");
    assert!(notice(&c).contains("rolled back"), "{}", notice(&c));
}
