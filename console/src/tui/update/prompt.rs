//! The `:` command line and the `/` filter prompt: editing, submitting, and compiling the
//! filter (case-insensitive unless the text has an upper-case letter).

use regex::RegexBuilder;

use super::super::action::Action;
use super::super::command::Command;
use super::super::state::{LogFilter, Mode, NoticeLevel, State};
use super::{dialogs, update};

pub(super) fn input(state: &mut State, c: Option<char>) {
    let live_filter = match &mut state.mode {
        Mode::Command { input } => {
            edit(input, c);
            None
        }
        Mode::Filter { input, .. } => {
            edit(input, c);
            Some(input.clone())
        }
        _ => None,
    };
    if let Some(text) = live_filter {
        // The filter applies as it is typed; an invalid regex keeps the last valid one.
        let err = compile_filter(&text).err();
        if err.is_none() {
            set_filter(state, Some(&text));
        }
        if let Mode::Filter { error, .. } = &mut state.mode {
            *error = err;
        }
    }
}

pub(super) fn edit(input: &mut String, c: Option<char>) {
    match c {
        Some(c) => input.push(c),
        None => {
            input.pop();
        }
    }
}

pub(super) fn submit(state: &mut State) -> Vec<Command> {
    match std::mem::replace(&mut state.mode, Mode::Normal) {
        Mode::Command { input } => {
            if input.trim().is_empty() {
                return vec![];
            }
            update(state, Action::RunCommand(input))
        }
        Mode::Filter {
            input, previous, ..
        } => {
            match compile_filter(&input) {
                Ok(_) => set_filter(state, Some(&input)),
                Err(e) => {
                    state.mode = Mode::Filter {
                        input,
                        previous,
                        error: Some(e.clone()),
                    };
                    state.notify(NoticeLevel::Error, e);
                }
            }
            vec![]
        }
        other => {
            state.mode = other;
            dialogs::confirm(state)
        }
    }
}

/// Compiles a filter: case-insensitive unless the text has an upper-case letter.
pub(super) fn compile_filter(text: &str) -> Result<regex::Regex, String> {
    RegexBuilder::new(text)
        .case_insensitive(!text.chars().any(char::is_uppercase))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("invalid regex `{text}`: {}", first_line(&e.to_string())))
}

pub(super) fn first_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

pub(super) fn set_filter(state: &mut State, text: Option<&str>) {
    state.log_view.filter = match text.filter(|t| !t.is_empty()) {
        Some(t) => compile_filter(t).ok().map(|regex| LogFilter {
            text: t.to_string(),
            regex,
        }),
        None => None,
    };
}
