//! The keymap file: `keymap.toml` beside the `bluegreen.toml` in use, else
//! `$XDG_CONFIG_HOME/bluegreen/keymap.toml` (`~/.config/bluegreen/keymap.toml`).
//!
//! ```toml
//! [keys]
//! "ctrl-r" = "rollback"   # the file wins: ctrl-r no longer refreshes (F5 still does)
//! "x" = "refresh"
//! ```
//!
//! Only [`Bindable`] actions can be named; a key the dialogs rely on ([`RESERVED`]) cannot be
//! bound. Errors name the file, the line and the column.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{Bindable, Binding, Key, Keymap, QUIT};
use crate::config::{ConfigError, Lines};

/// The file's name, beside `bluegreen.toml` or in the configuration directory.
pub const FILE_NAME: &str = "keymap.toml";

/// Keys no file may bind, and why.
pub const RESERVED: &[(Key, &str)] = &[
    (QUIT, "ctrl-c always quits"),
    (
        Key::plain(crossterm::event::KeyCode::Esc),
        "esc always cancels a dialog or prompt (and resets the slider)",
    ),
    (
        Key::plain(crossterm::event::KeyCode::Enter),
        "enter opens the slider's confirm and confirms a dialog",
    ),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    keys: BTreeMap<Spanned<String>, Spanned<Bindable>>,
}

/// The keymap file to read: beside `config_file` (the `bluegreen.toml` in use) if there is
/// one there, else in the configuration directory (`xdg_config_home`, else `home/.config`).
pub fn locate(
    config_file: Option<&Path>,
    xdg_config_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    let beside = config_file.map(|f| f.with_file_name(FILE_NAME));
    let config_dir = xdg_config_home
        .map(PathBuf::from)
        .filter(|d| d.is_absolute())
        .or_else(|| home.map(|h| PathBuf::from(h).join(".config")));
    let in_config_dir = config_dir.map(|d| d.join("bluegreen").join(FILE_NAME));
    [beside, in_config_dir]
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
}

/// The keymap for a session: the defaults, changed by the file [`locate`] finds (from the
/// environment's `XDG_CONFIG_HOME` and `HOME`). Returns the file read, if any.
pub fn load(config_file: Option<&Path>) -> Result<(Keymap, Option<PathBuf>), ConfigError> {
    let Some(path) = locate(
        config_file,
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    ) else {
        return Ok((Keymap::default(), None));
    };
    let keymap = parse(&path, &crate::config::read(&path)?)?;
    Ok((keymap, Some(path)))
}

/// The defaults with the file's bindings applied: where the file binds a key the defaults use,
/// the file wins and that default is dropped.
pub fn parse(path: &Path, text: &str) -> Result<Keymap, ConfigError> {
    let lines = Lines { path, text };
    let error = |span: Range<usize>, message: String| {
        lines.error(
            span,
            format!(
                "{message}; fix it, or move {} away to use the default keys",
                path.display()
            ),
        )
    };
    let raw: RawFile = toml::from_str(text)
        .map_err(|e| error(e.span().unwrap_or(0..0), e.message().trim().to_string()))?;
    let mut entries: Vec<_> = raw.keys.into_iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    let mut bound: Vec<(Key, Bindable, &str)> = Vec::with_capacity(entries.len());
    for (name, action) in &entries {
        let key: Key = name
            .get_ref()
            .parse()
            .map_err(|e: super::BadKey| error(name.span(), e.0))?;
        if let Some((_, why)) = RESERVED.iter().find(|(k, _)| *k == key) {
            return Err(error(
                name.span(),
                format!("`{}` cannot be bound: {why}", name.get_ref()),
            ));
        }
        if let Some((_, _, first)) = bound.iter().find(|(k, _, _)| *k == key) {
            return Err(error(
                name.span(),
                format!(
                    "`{}` is the same key as `{first}`, bound above",
                    name.get_ref()
                ),
            ));
        }
        bound.push((key, *action.get_ref(), name.get_ref()));
    }
    let mut keymap = Keymap::default();
    keymap.bind(bound.into_iter().map(|(k, a, _)| (k, a)));
    Ok(keymap)
}

impl Keymap {
    /// Binds main-screen keys, in order. Each key's default binding is dropped first; each
    /// new key joins the row that has its action by default (so the help lists it there), and
    /// shows in the footer when that row's hint has no key left for the action.
    pub fn bind(&mut self, bindings: impl IntoIterator<Item = (Key, Bindable)>) {
        let bindings: Vec<(Key, Bindable)> = bindings.into_iter().collect();
        let rows = &mut self.normal.rows;
        let homes: Vec<Option<usize>> = bindings
            .iter()
            .map(|(_, b)| {
                let action = b.action();
                rows.iter()
                    .position(|r| r.bindings.iter().any(|x| x.action == action))
            })
            .collect();
        for row in rows.iter_mut() {
            row.bindings
                .retain(|b| !bindings.iter().any(|(k, _)| *k == b.key));
        }
        for ((key, bindable), home) in bindings.into_iter().zip(homes) {
            let action = bindable.action();
            let Some(row) = home.and_then(|i| rows.get_mut(i)) else {
                rows.push(super::Row::new(None, "").key(key, action));
                continue;
            };
            let in_footer = row.hint.is_some()
                && !row
                    .bindings
                    .iter()
                    .any(|b| b.in_footer && b.action == action);
            row.bindings.push(Binding {
                key,
                action,
                in_footer,
            });
        }
    }
}
