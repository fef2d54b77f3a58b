//! When two account names are the same name (issue 27, item 15). `ann`, `Ann`, full-width
//! `ａｎｎ` and `аnn` with a Cyrillic `а` must not be four authors:
//!
//! - a name is stored in NFKC (full-width `ａｎｎ` is stored as `ann`);
//! - names compare by their fold: NFKC, Unicode's full lower case (with the two folds lower
//!   case lacks: `ß` as `ss`, final `ς` as `σ`), NFKC again;
//! - a name may not mix Latin, Greek and Cyrillic letters (`аnn`: Cyrillic `а`, Latin `nn`),
//!   the scripts whose letters pass for each other; one of them alone, or any other script, is
//!   fine;
//! - a name may not be a look-alike of an account already there: its skeleton (the fold with
//!   Greek and Cyrillic letters that look like Latin ones taken as those, and `0`, `1` as `o`,
//!   `l`) may not be another account's skeleton, so an all-Cyrillic `аnn`-alike of `ann` is
//!   refused too. Refused rather than mapped: a name is what its author sees on every post.

use std::borrow::Cow;

use icu_normalizer::ComposingNormalizerBorrowed;

/// `name` in NFKC.
pub fn nfkc(name: &str) -> Cow<'_, str> {
    ComposingNormalizerBorrowed::new_nfkc().normalize(name)
}

/// The form names compare by: NFKC, full lower case plus `ß`→`ss` and `ς`→`σ`, NFKC again.
pub fn fold(name: &str) -> String {
    let mut lower = String::with_capacity(name.len());
    for c in nfkc(name.trim()).to_lowercase().chars() {
        match c {
            'ß' => lower.push_str("ss"),
            'ς' => lower.push('σ'),
            c => lower.push(c),
        }
    }
    nfkc(&lower).into_owned()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
}

/// The look-alike script of a letter, for the three whose letters pass for each other.
fn script(c: char) -> Option<Script> {
    match u32::from(c) {
        0x41..=0x5A
        | 0x61..=0x7A
        | 0xC0..=0x24F
        | 0x1E00..=0x1EFF
        | 0x2C60..=0x2C7F
        | 0xA720..=0xA7FF
        | 0xFF21..=0xFF3A
        | 0xFF41..=0xFF5A => Some(Script::Latin),
        0x370..=0x3FF | 0x1F00..=0x1FFF => Some(Script::Greek),
        0x400..=0x52F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => {
            Some(Script::Cyrillic)
        }
        _ => None,
    }
    .filter(|_| c.is_alphabetic())
}

/// Why `name` mixes scripts that pass for each other, if it does.
pub fn mixed_scripts(name: &str) -> Option<String> {
    let mut first: Option<(Script, char)> = None;
    for c in name.chars() {
        let Some(s) = script(c) else { continue };
        match first {
            None => first = Some((s, c)),
            Some((f, fc)) if f != s => {
                return Some(format!(
                    "the name mixes {f:?} letters ({fc:?}) with {s:?} ones ({c:?}), which can look \
                     the same; write it in one script"
                ));
            }
            Some(_) => {}
        }
    }
    None
}

/// Greek and Cyrillic letters (lower case, as [`fold`] leaves them) that look like Latin ones,
/// and the digits that look like letters.
const LOOK_ALIKES: &[(char, char)] = &[
    // Cyrillic
    ('а', 'a'),
    ('в', 'b'),
    ('е', 'e'),
    ('ё', 'e'),
    ('һ', 'h'),
    ('н', 'h'),
    ('і', 'i'),
    ('ї', 'i'),
    ('ј', 'j'),
    ('к', 'k'),
    ('ӏ', 'l'),
    ('м', 'm'),
    ('о', 'o'),
    ('р', 'p'),
    ('ԛ', 'q'),
    ('с', 'c'),
    ('ѕ', 's'),
    ('т', 't'),
    ('у', 'y'),
    ('ԝ', 'w'),
    ('х', 'x'),
    ('ԁ', 'd'),
    ('ь', 'b'),
    ('ѵ', 'v'),
    ('г', 'r'),
    // Greek
    ('α', 'a'),
    ('β', 'b'),
    ('ε', 'e'),
    ('η', 'n'),
    ('ι', 'i'),
    ('κ', 'k'),
    ('μ', 'm'),
    ('ν', 'v'),
    ('ο', 'o'),
    ('ρ', 'p'),
    ('τ', 't'),
    ('υ', 'u'),
    ('χ', 'x'),
    ('γ', 'y'),
    ('ζ', 'z'),
    ('ω', 'w'),
    // Digits
    ('0', 'o'),
    ('1', 'l'),
];

/// The fold with look-alikes taken as the Latin letters they pass for: two names with one
/// skeleton read the same.
pub fn skeleton(name: &str) -> String {
    fold(name)
        .chars()
        .map(|c| {
            LOOK_ALIKES
                .iter()
                .find(|(from, _)| *from == c)
                .map_or(c, |(_, to)| *to)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_width_and_compatibility_forms_fold_together() {
        for same in ["Ann", "ANN", "ａｎｎ", " ann ", "Ａnn"] {
            assert_eq!(fold(same), "ann", "{same:?}");
        }
        assert_eq!(fold("Straße"), fold("STRASSE"));
        assert_eq!(fold("ΟΔΥΣΣΕΥΣ"), fold("οδυσσευς"));
        assert_eq!(nfkc("ａｎｎ"), "ann");
        assert_ne!(fold("anne"), fold("ann"));
    }

    #[test]
    fn mixed_scripts_are_named_and_look_alikes_share_a_skeleton() {
        let mixed = mixed_scripts("\u{430}nn").expect("Cyrillic а with Latin nn");
        assert!(
            mixed.contains("Cyrillic") && mixed.contains("Latin"),
            "{mixed}"
        );
        for fine in ["Ann O'Neil", "Анна", "Σοφία", "山田 花子", "José 2"] {
            assert_eq!(mixed_scripts(fine), None, "{fine}");
        }
        assert_eq!(
            skeleton("\u{430}\u{43E}\u{435}"),
            skeleton("AOE"),
            "all Cyrillic"
        );
        assert_eq!(skeleton("b0b"), skeleton("Bob"));
        assert_ne!(skeleton("Анна"), skeleton("Ann"));
    }
}
