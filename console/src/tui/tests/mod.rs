//! Tests of the console: the pure update (driven headless by actions and keys) and the
//! screens (insta snapshots of a `TestBackend`).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::command::Command;
use super::event::Event;
use super::state::State;
use super::update::handle_event;

mod screens;
mod update;

/// Presses keys, collecting the commands they cause.
fn press(state: &mut State, keys: &[KeyCode]) -> Vec<Command> {
    keys.iter()
        .flat_map(|k| {
            let mods = match k {
                KeyCode::Char(c) if c.is_ascii_uppercase() => KeyModifiers::SHIFT,
                _ => KeyModifiers::NONE,
            };
            handle_event(state, Event::Key(KeyEvent::new(*k, mods)))
        })
        .collect()
}

fn chars(s: &str) -> Vec<KeyCode> {
    s.chars().map(KeyCode::Char).collect()
}
