//! One key with its modifiers: normalized from a terminal event, parsed from a keymap file's
//! name (`ctrl-r`, `shift-tab`, `f5`, `G`), and written back for the help and the footer.

use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A key press as the keymap compares it: a character's case is in the character, so shift
/// is kept only for keys that have no case (`shift-left`); `shift-tab` is `BackTab`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

/// The modifiers a binding can name.
const MODS: KeyModifiers = KeyModifiers::CONTROL
    .union(KeyModifiers::ALT)
    .union(KeyModifiers::SHIFT);

/// The named keys: every spelling a file may use, the first being the canonical one.
const NAMED: &[(&[&str], KeyCode)] = &[
    (&["enter", "return", "⏎"], KeyCode::Enter),
    (&["esc", "escape"], KeyCode::Esc),
    (&["tab"], KeyCode::Tab),
    (&["backtab"], KeyCode::BackTab),
    (&["space"], KeyCode::Char(' ')),
    (&["backspace"], KeyCode::Backspace),
    (&["delete", "del"], KeyCode::Delete),
    (&["insert", "ins"], KeyCode::Insert),
    (&["home"], KeyCode::Home),
    (&["end"], KeyCode::End),
    (&["pageup", "pgup"], KeyCode::PageUp),
    (&["pagedown", "pgdn"], KeyCode::PageDown),
    (&["up", "↑"], KeyCode::Up),
    (&["down", "↓"], KeyCode::Down),
    (&["left", "←"], KeyCode::Left),
    (&["right", "→"], KeyCode::Right),
];

impl Key {
    pub const fn new(code: KeyCode, mods: KeyModifiers) -> Key {
        let mods = mods.intersection(MODS);
        let mods = match code {
            KeyCode::Char(_) | KeyCode::BackTab => mods.difference(KeyModifiers::SHIFT),
            _ => mods,
        };
        Key { code, mods }
    }

    pub const fn plain(code: KeyCode) -> Key {
        Key::new(code, KeyModifiers::NONE)
    }

    pub const fn ch(c: char) -> Key {
        Key::plain(KeyCode::Char(c))
    }

    pub const fn ctrl(c: char) -> Key {
        Key::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    /// The same key with only the modifiers in `keep`.
    pub fn keeping(self, keep: KeyModifiers) -> Key {
        Key::new(self.code, self.mods.intersection(keep))
    }

    /// A plain digit key's value, for writing `0-9` in the help.
    pub(super) fn digit(self) -> Option<u32> {
        match self.code {
            KeyCode::Char(c) if self.mods.is_empty() => c.to_digit(10),
            _ => None,
        }
    }
}

impl From<KeyEvent> for Key {
    fn from(ev: KeyEvent) -> Key {
        Key::new(ev.code, ev.modifiers)
    }
}

/// Why a key name does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadKey(pub String);

impl fmt::Display for BadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Key {
    type Err = BadKey;

    /// `x`, `X`, `?`, a named key (`enter`, `esc`, `tab`, `left`, `pgup`, `f5`, `space`, …),
    /// with any of `ctrl-`, `alt-`, `shift-` before it (`+` works too: `ctrl+r`). Names and
    /// modifiers ignore case; a single character does not (`G` is shift-g).
    fn from_str(name: &str) -> Result<Key, BadKey> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = name;
        while rest.chars().count() > 1 {
            let Some(i) = rest.find(['-', '+']).filter(|i| *i > 0) else {
                break;
            };
            let modifier = match rest[..i].to_ascii_lowercase().as_str() {
                "ctrl" | "control" => KeyModifiers::CONTROL,
                "alt" | "meta" | "option" => KeyModifiers::ALT,
                "shift" => KeyModifiers::SHIFT,
                _ => break,
            };
            mods |= modifier;
            rest = &rest[i + 1..];
            if rest.is_empty() {
                return Err(BadKey(format!(
                    "`{name}`: no key after the modifier (e.g. `ctrl-r`)"
                )));
            }
        }
        let code = code_named(rest).ok_or_else(|| {
            BadKey(format!(
                "`{name}`: unknown key `{rest}`; use one character (`x`, `G`, `?`), `f1`-`f24`, or one of {}",
                NAMED
                    .iter()
                    .map(|(names, _)| format!("`{}`", names[0]))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let code = match code {
            _ if !mods.contains(KeyModifiers::SHIFT) => code,
            KeyCode::Tab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            KeyCode::Char(c) if c.is_ascii_lowercase() => KeyCode::Char(c.to_ascii_uppercase()),
            KeyCode::Char(c) if c != ' ' => {
                return Err(BadKey(format!(
                    "`{name}`: write the character the key types instead of `shift-` (`G`, `?`, `!`)"
                )));
            }
            other => other,
        };
        Ok(Key::new(code, mods))
    }
}

fn code_named(name: &str) -> Option<KeyCode> {
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next())
        && !NAMED.iter().any(|(names, _)| names.contains(&name))
    {
        return Some(KeyCode::Char(c));
    }
    let lower = name.to_ascii_lowercase();
    if let Some((_, code)) = NAMED
        .iter()
        .find(|(names, _)| names.contains(&lower.as_str()))
    {
        return Some(*code);
    }
    let n: u8 = lower.strip_prefix('f')?.parse().ok()?;
    (1..=24).contains(&n).then_some(KeyCode::F(n))
}

impl fmt::Display for Key {
    /// As the help and the footer show it: `ctrl-r`, `⏎`, `←`, `shift-tab`, `PgUp`, `F5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (m, name) in [
            (KeyModifiers::CONTROL, "ctrl-"),
            (KeyModifiers::ALT, "alt-"),
            (KeyModifiers::SHIFT, "shift-"),
        ] {
            if self.mods.contains(m) {
                f.write_str(name)?;
            }
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::F(n) => write!(f, "F{n}"),
            KeyCode::Enter => f.write_str("⏎"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            code => match NAMED.iter().find(|(_, c)| *c == code) {
                Some((names, _)) => f.write_str(names[0]),
                None => write!(f, "{code:?}"),
            },
        }
    }
}
