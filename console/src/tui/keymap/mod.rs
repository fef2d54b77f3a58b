//! The keymap: one table of which key means which action in which mode, with each row's help
//! text and footer hint. [`Keymap::action_for`], the help overlay ([`Keymap::help`]) and the
//! footer ([`Keymap::hints`]) are all read from it, so a key is written once.
//!
//! The main screen's keys can be changed by a keymap file (see [`file`]); the dialogs',
//! prompts' and help screen's keys are fixed.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::Action;
use super::state::{Focus, Mode, PendingOp, State};

mod bindable;
pub mod file;
mod key;
#[cfg(test)]
mod tests;

pub use bindable::Bindable;
pub use file::{FILE_NAME, load, locate};
pub use key::{BadKey, Key};

/// `ctrl-c` quits from every mode; no file may bind it.
pub const QUIT: Key = Key::ctrl('c');

/// The help overlay's groups, in the order it shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Traffic,
    Release,
    Logs,
    Console,
}

impl Group {
    pub const ALL: [Group; 4] = [Group::Traffic, Group::Release, Group::Logs, Group::Console];

    pub fn title(self) -> &'static str {
        match self {
            Group::Traffic => "Traffic",
            Group::Release => "Release",
            Group::Logs => "Logs",
            Group::Console => "Console",
        }
    }
}

/// When a row's keys work, or its hint shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    /// The logs panel has focus.
    LogsFocused,
    /// The open dialog is a traffic shift.
    ShiftDialog,
    /// The open dialog is a shift whose guard refusal may be overridden.
    ForcibleShift,
    /// The open dialog is a promote.
    PromoteDialog,
    /// The open dialog finishes a bake that scales the old color in.
    ScaleInDialog,
}

impl When {
    fn holds(self, state: &State) -> bool {
        match (self, &state.mode) {
            (When::Always, _) => true,
            (When::LogsFocused, _) => state.focus == Focus::Logs,
            (When::ShiftDialog, Mode::Confirm(PendingOp::Shift { .. })) => true,
            (When::PromoteDialog, Mode::Confirm(PendingOp::Promote { .. })) => true,
            (
                When::ScaleInDialog,
                Mode::Confirm(PendingOp::FinishBake {
                    keep_old: false, ..
                }),
            ) => true,
            (
                When::ForcibleShift,
                Mode::Confirm(PendingOp::Shift {
                    refusal: Some(r), ..
                }),
            ) => r.overridable,
            _ => false,
        }
    }
}

/// One key of a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub key: Key,
    pub action: Action,
    /// Shown in the row's footer hint (the help shows every key).
    pub in_footer: bool,
}

/// One line of the help (or a hidden row), and at most one footer hint.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `None`: not in the help overlay.
    pub group: Option<Group>,
    pub help: &'static str,
    /// The footer's word for the row, e.g. `promote`.
    pub hint: Option<&'static str>,
    /// When the keys work.
    pub active: When,
    /// When the hint shows (only while the keys work).
    pub hint_when: When,
    pub bindings: Vec<Binding>,
}

impl Row {
    fn new(group: Option<Group>, help: &'static str) -> Row {
        Row {
            group,
            help,
            hint: None,
            active: When::Always,
            hint_when: When::Always,
            bindings: Vec::new(),
        }
    }

    fn hint(mut self, hint: &'static str) -> Row {
        self.hint = Some(hint);
        self
    }

    fn when(mut self, when: When) -> Row {
        self.active = when;
        self.hint_when = when;
        self
    }

    fn hint_when(mut self, when: When) -> Row {
        self.hint_when = when;
        self
    }

    /// A key shown in the footer hint too.
    fn shown(self, key: Key, action: impl Into<Action>) -> Row {
        self.bind(key, action.into(), true)
    }

    /// A key shown in the help only.
    fn key(self, key: Key, action: impl Into<Action>) -> Row {
        self.bind(key, action.into(), false)
    }

    fn bind(mut self, key: Key, action: Action, in_footer: bool) -> Row {
        self.bindings.push(Binding {
            key,
            action,
            in_footer,
        });
        self
    }

    /// The footer's keys: the marked ones, joined by `/` (`←/→`, `esc/n`).
    fn footer_label(&self) -> String {
        let keys: Vec<String> = self
            .bindings
            .iter()
            .filter(|b| b.in_footer)
            .map(|b| b.key.to_string())
            .collect();
        keys.join("/")
    }

    /// The help's keys: keys of different actions joined by `/`, another key for an action
    /// already named after a space (`←/→ h/l`, `ctrl-r F5`); a run of digits is `0-9`.
    pub fn help_label(&self) -> String {
        let b = &self.bindings;
        let mut out = String::new();
        let mut group: Vec<&Action> = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let mut end = i;
            while end + 1 < b.len()
                && matches!((b[end].key.digit(), b[end + 1].key.digit()), (Some(x), Some(y)) if y == x + 1)
            {
                end += 1;
            }
            let token = if end >= i + 2 {
                format!("{}-{}", b[i].key, b[end].key)
            } else {
                end = i;
                b[i].key.to_string()
            };
            if !out.is_empty() {
                if group.contains(&&b[i].action) {
                    group.clear();
                    out.push(' ');
                } else {
                    out.push('/');
                }
            }
            group.extend(b[i..=end].iter().map(|x| &x.action));
            out.push_str(&token);
            i = end + 1;
        }
        out
    }
}

/// The rows of one mode, and what any other key does there.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub rows: Vec<Row>,
    /// Any key no row binds (the help screen: any key closes it), with its footer hint.
    pub fallback: Option<(Action, &'static str)>,
    /// A modifier the key does not bind is ignored (the dialogs' keys work with ctrl held).
    pub loose: bool,
}

impl Context {
    fn new(rows: Vec<Row>) -> Context {
        Context {
            rows,
            fallback: None,
            loose: false,
        }
    }

    fn lookup(&self, state: &State, key: Key) -> Option<Action> {
        let find = |k: Key| {
            self.rows
                .iter()
                .filter(|r| r.active.holds(state))
                .flat_map(|r| &r.bindings)
                .find(|b| b.key == k)
                .map(|b| b.action.clone())
        };
        // A modifier no binding names is ignored, except ctrl: ctrl-q is not q.
        find(key)
            .or_else(|| find(key.keeping(KeyModifiers::CONTROL)))
            .or_else(|| self.loose.then(|| find(key.keeping(KeyModifiers::NONE)))?)
            .or_else(|| self.fallback.as_ref().map(|(a, _)| a.clone()))
    }

    fn hints(&self, state: &State) -> Vec<(String, &'static str)> {
        let mut hints: Vec<(String, &'static str)> = self
            .rows
            .iter()
            .filter(|r| r.active.holds(state) && r.hint_when.holds(state))
            .filter_map(|r| Some((r.footer_label(), r.hint?)))
            .filter(|(label, _)| !label.is_empty())
            .collect();
        if let Some((_, what)) = self.fallback {
            hints.push(("any key".into(), what));
        }
        hints
    }
}

/// Every mode's keys. [`Keymap::default`] is the built-in table; [`load`] applies a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Keymap {
    /// The main screen; the only context a file changes.
    pub normal: Context,
    pub help: Context,
    pub confirm: Context,
    pub pick_image: Context,
    /// The journal view: any key closes it.
    pub journal: Context,
}

impl Keymap {
    /// The action a key press means now, if any.
    pub fn action_for(&self, state: &State, event: KeyEvent) -> Option<Action> {
        if event.kind == KeyEventKind::Release {
            return None;
        }
        let key = Key::from(event);
        if key == QUIT {
            return Some(Action::Quit);
        }
        match &state.mode {
            Mode::Normal => self.normal.lookup(state, key),
            Mode::Help => self.help.lookup(state, key),
            Mode::Command { .. } | Mode::Filter { .. } => prompt(key),
            Mode::Confirm(_) => self.confirm.lookup(state, key),
            Mode::PickImage { .. } | Mode::PickRelease { .. } => self.pick_image.lookup(state, key),
            Mode::Journal => self.journal.lookup(state, key),
        }
    }

    /// The keys that apply in the current mode, for the footer: `(keys, what)`. A prompt's
    /// line says its own keys.
    pub fn hints(&self, state: &State) -> Vec<(String, &'static str)> {
        match &state.mode {
            Mode::Normal => self.normal.hints(state),
            Mode::Help => self.help.hints(state),
            Mode::Command { .. } | Mode::Filter { .. } => Vec::new(),
            Mode::Confirm(_) => self.confirm.hints(state),
            Mode::PickImage { .. } | Mode::PickRelease { .. } => self.pick_image.hints(state),
            Mode::Journal => self.journal.hints(state),
        }
    }

    /// The first main-screen key bound to `action`, as the footer writes it.
    pub fn key_for(&self, action: &Action) -> Option<String> {
        self.normal
            .rows
            .iter()
            .flat_map(|r| &r.bindings)
            .find(|b| &b.action == action)
            .map(|b| b.key.to_string())
    }

    /// The main screen's keys for the help overlay, grouped: `(group, [(keys, what)])`.
    pub fn help(&self) -> Vec<(&'static str, Vec<(String, &'static str)>)> {
        Group::ALL
            .iter()
            .map(|g| {
                let rows = self
                    .normal
                    .rows
                    .iter()
                    .filter(|r| r.group == Some(*g) && !r.bindings.is_empty())
                    .map(|r| (r.help_label(), r.help))
                    .collect();
                (g.title(), rows)
            })
            .collect()
    }
}

/// A prompt types every character; only its own keys are bound.
fn prompt(key: Key) -> Option<Action> {
    match key.code {
        KeyCode::Enter => Some(Action::Submit),
        KeyCode::Esc => Some(Action::Cancel),
        KeyCode::Backspace => Some(Action::Backspace),
        KeyCode::Char(c) => Some(Action::Input(c)),
        _ => None,
    }
}

impl Default for Keymap {
    fn default() -> Keymap {
        Keymap {
            normal: Context::new(normal()),
            help: Context {
                rows: vec![Row::new(None, "quit").key(Key::ch('q'), Action::Quit)],
                fallback: Some((Action::ToggleHelp, "close help")),
                loose: true,
            },
            confirm: Context {
                loose: true,
                ..Context::new(confirm())
            },
            pick_image: Context {
                loose: true,
                ..Context::new(pick_image())
            },
            journal: Context {
                rows: vec![Row::new(None, "quit").key(Key::ch('q'), Action::Quit)],
                fallback: Some((Action::ToggleJournal, "close the journal")),
                loose: true,
            },
        }
    }
}

/// The main screen. Rows are in footer order; the help groups them.
fn normal() -> Vec<Row> {
    use Bindable::*;
    use Group::*;
    let ch = Key::ch;
    let code = Key::plain;
    let row = |g, help| Row::new(Some(g), help);
    let slider = [
        Slider0, Slider10, Slider20, Slider30, Slider40, Slider50, Slider60, Slider70, Slider80,
        Slider90,
    ];
    let mut digits = row(Traffic, "slider to 0-90%, 100%");
    for (d, s) in ('0'..='9').zip(slider) {
        digits = digits.key(ch(d), s);
    }
    vec![
        row(Traffic, "slider ±5 points for the canary")
            .hint("slider")
            .shown(code(KeyCode::Left), SliderDown)
            .shown(code(KeyCode::Right), SliderUp)
            .key(ch('h'), SliderDown)
            .key(ch('l'), SliderUp),
        row(Traffic, "slider ±1, ±0.1")
            .key(ch('H'), SliderDown1)
            .key(ch('L'), SliderUp1)
            .key(ch('<'), SliderDownFine)
            .key(ch('>'), SliderUpFine),
        digits.key(ch('G'), Slider100).key(ch(')'), Slider100),
        row(Traffic, "apply the slider (confirm)")
            .hint("apply")
            .shown(code(KeyCode::Enter), ApplySlider),
        row(Traffic, "reset the slider").key(code(KeyCode::Esc), Cancel),
        row(Release, "promote (bake, keep old)")
            .hint("promote")
            .shown(ch('p'), Promote),
        row(Release, "roll back (⏎ or y)")
            .hint("rollback")
            .shown(ch('r'), Rollback),
        row(Release, "finish a pending bake").key(ch('F'), FinishBake),
        row(Release, "start a build")
            .hint("build")
            .shown(ch('B'), StartBuild),
        row(Release, "deploy an image to the idle color")
            .hint("deploy")
            .shown(ch('d'), Deploy),
        row(Release, "start a release by a plan (image, plan, confirm)")
            .hint("release")
            .shown(ch('R'), StartRelease),
        row(Release, "older / newer build")
            .key(ch('['), OlderBuild)
            .key(ch(']'), NewerBuild),
        row(Console, "this help")
            .hint("help")
            .shown(ch('?'), ToggleHelp),
        row(Console, "the journal: who changed what").key(ch('J'), ToggleJournal),
        row(Logs, "follow / pause")
            .hint("follow")
            .hint_when(When::LogsFocused)
            .shown(ch('f'), ToggleFollow),
        row(Logs, "regex filter")
            .hint("filter")
            .hint_when(When::LogsFocused)
            .shown(ch('/'), StartFilter),
        row(Logs, "invert the filter").key(ch('!'), ToggleInvert),
        row(Logs, "wrap, timestamps")
            .key(ch('w'), ToggleWrap)
            .key(ch('t'), ToggleTimestamps),
        row(Logs, "blue | green side by side (140+ columns)").key(ch('s'), ToggleSplit),
        row(Logs, "blue, green, all")
            .hint("color")
            .hint_when(When::LogsFocused)
            .shown(ch('b'), ShowBlue)
            .shown(ch('g'), ShowGreen)
            .shown(ch('a'), ShowAll),
        row(Logs, "errors only")
            .hint("errors")
            .hint_when(When::LogsFocused)
            .shown(ch('e'), ToggleErrorsOnly),
        row(Logs, "scroll")
            .key(code(KeyCode::PageUp), PageUp)
            .key(code(KeyCode::PageDown), PageDown),
        row(Console, "guide: a line naming the next step")
            .hint("guide")
            .shown(ch('i'), ToggleGuide),
        row(Console, "command line")
            .hint("command")
            .shown(ch(':'), OpenCommandLine),
        row(Console, "focus")
            .hint("focus")
            .shown(code(KeyCode::Tab), FocusNext)
            .key(code(KeyCode::BackTab), FocusPrev),
        row(Console, "refresh now")
            .key(Key::ctrl('r'), Refresh)
            .key(code(KeyCode::F(5)), Refresh),
        row(Console, "quit")
            .hint("quit")
            .shown(ch('q'), Quit)
            .key(QUIT, Quit),
        // Not in the help: the other ways to scroll and select.
        Row::new(None, "scroll a page")
            .key(Key::ctrl('u'), PageUp)
            .key(Key::ctrl('d'), PageDown),
        Row::new(None, "oldest / newest line")
            .when(When::LogsFocused)
            .key(code(KeyCode::Home), ScrollTop)
            .key(code(KeyCode::End), ScrollBottom),
        Row::new(None, "select")
            .key(code(KeyCode::Up), SelectPrev)
            .key(code(KeyCode::Down), SelectNext)
            .key(ch('k'), SelectPrev)
            .key(ch('j'), SelectNext),
    ]
}

/// Every confirm dialog (the footer and the dialog's own last line say these keys).
fn confirm() -> Vec<Row> {
    let ch = Key::ch;
    let code = Key::plain;
    let longer = || Action::AdjustBake { secs: 60 };
    let shorter = || Action::AdjustBake { secs: -60 };
    let row = |help| Row::new(None, help);
    vec![
        row("confirm")
            .hint("confirm")
            .shown(code(KeyCode::Enter), Action::Confirm)
            .shown(ch('y'), Action::Confirm),
        row("cancel")
            .hint("cancel")
            .shown(code(KeyCode::Esc), Action::Cancel)
            .shown(ch('n'), Action::Cancel)
            .key(ch('q'), Action::Cancel),
        row("force past the guard")
            .hint("force")
            .when(When::ShiftDialog)
            .hint_when(When::ForcibleShift)
            .shown(ch('f'), Action::ToggleForce),
        row("finish without a measured split")
            .hint("accept unmeasured")
            .when(When::ScaleInDialog)
            .shown(ch('u'), Action::ToggleAcceptUnmeasured),
        row("bake time")
            .hint("bake ±60 s")
            .when(When::PromoteDialog)
            .shown(ch('+'), longer())
            .shown(ch('-'), shorter())
            .key(code(KeyCode::Right), longer())
            .key(ch('l'), longer())
            .key(code(KeyCode::Left), shorter())
            .key(ch('h'), shorter()),
        row("keep the old color")
            .hint("keep old")
            .when(When::PromoteDialog)
            .shown(ch('k'), Action::ToggleKeepOld),
    ]
}

fn pick_image() -> Vec<Row> {
    let code = Key::plain;
    let row = |help| Row::new(None, help);
    vec![
        row("choose")
            .hint("choose")
            .shown(code(KeyCode::Up), Action::SelectPrev)
            .shown(code(KeyCode::Down), Action::SelectNext)
            .key(Key::ch('k'), Action::SelectPrev)
            .key(Key::ch('j'), Action::SelectNext),
        row("deploy or release the chosen one")
            .hint("next…")
            .shown(code(KeyCode::Enter), Action::Confirm),
        row("cancel")
            .hint("cancel")
            .shown(code(KeyCode::Esc), Action::Cancel)
            .key(Key::ch('q'), Action::Cancel),
    ]
}
