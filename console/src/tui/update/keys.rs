//! Keys to actions, through the session's keymap ([`crate::tui::keymap`]), which the help
//! overlay and the footer read too.

use crossterm::event::KeyEvent;

use super::super::action::Action;
use super::super::state::State;

/// The action a key press means now, if any.
pub fn action_for(state: &State, key: KeyEvent) -> Option<Action> {
    state.keymap.action_for(state, key)
}

/// The keys that apply in the current mode, for the footer: `(keys, what)`.
pub fn hints(state: &State) -> Vec<(String, &'static str)> {
    state.keymap.hints(state)
}
