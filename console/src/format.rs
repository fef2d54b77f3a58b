//! How the console writes the facts an operator reads, in one place for the CLI, the TUI and
//! the daemon's messages: durations, ages, clock times, sizes and image digests. A digest or a
//! duration looks the same wherever it appears, so an operator can match them by eye.
//! Weights format themselves (`blue 90 / green 10`, [`crate::rollout::Weights`]'s `Display`);
//! what a domain value says of itself (a fault, a journal entry) lives with that value or its
//! view. This module is a leaf: it imports nothing from the crate, so every layer may use it.

/// Whether `c` may not reach a terminal as it is: a control character (C0, DEL, C1: ESC
/// starts a sequence, a carriage return overwrites a line; C1's CSI is a sequence of its own)
/// other than a newline or a tab, or a bidirectional control (embeddings, overrides,
/// isolates, marks), which shows text in another order than it is stored.
fn unsafe_for_terminal(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` made safe for a terminal: every character of [`unsafe_for_terminal`] shown as its
/// escape (`\u{1b}`), so a name, a reason or a request path read from the journal, the lock or
/// the logs (which others can write) can never move the cursor, retitle the window or reorder
/// what an engineer reads. Newlines and tabs stay. The one sanitizer of every human output
/// path of the CLI; `--json` output keeps the data, escaped by JSON, as it is.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(unsafe_for_terminal) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_for_terminal(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Hex digits of a digest that identify an image in every view.
pub const DIGEST_CHARS: usize = 8;

/// `950ms`, `12s`, `4m05s`, `3h12m`, `2d04h`; negative durations read as `0ms`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let s = ms / 1_000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3_599 => format!("{}m{:02}s", s / 60, s % 60),
        3_600..=86_399 => format!("{}h{:02}m", s / 3_600, (s % 3_600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3_600),
    }
}

/// An age for titles and lists: `now`, `5s`, `3m`, `2h`, `4d`.
pub fn age(ms: i64) -> String {
    let s = ms.max(0) / 1_000;
    match s {
        0 => "now".into(),
        1..=59 => format!("{s}s"),
        60..=3_599 => format!("{}m", s / 60),
        3_600..=86_399 => format!("{}h", s / 3_600),
        _ => format!("{}d", s / 86_400),
    }
}

/// `12.3 MB` (decimal units, as registries report image sizes).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// The first [`DIGEST_CHARS`] hex digits of a `sha256:…` digest.
pub fn short_digest(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.get(..DIGEST_CHARS).unwrap_or(hex)
}

/// `HH:MM:SS` in UTC.
pub fn clock(at: i64) -> String {
    let s = at.div_euclid(1_000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3_600, (s % 3_600) / 60, s % 60)
}

/// `HH:MM:SS.mmm` in UTC.
pub fn clock_ms(at: i64) -> String {
    format!("{}.{:03}", clock(at), at.rem_euclid(1_000))
}

/// `2026-11-28T07:00:00Z`: a full timestamp, for output that may be read on another day.
pub fn time(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| at.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(-5), "0ms");
        assert_eq!(duration(950), "950ms");
        assert_eq!(duration(12_000), "12s");
        assert_eq!(duration(245_000), "4m05s");
        assert_eq!(duration(3_720_000), "1h02m");
        assert_eq!(duration(2 * 86_400_000 + 4 * 3_600_000), "2d04h");
        assert_eq!(
            duration(i64::MAX),
            format!(
                "{}d{:02}h",
                i64::MAX / 86_400_000,
                (i64::MAX / 1000 % 86_400) / 3_600
            )
        );
    }

    #[test]
    fn ages_sizes_digests_and_times() {
        assert_eq!(age(0), "now");
        assert_eq!(age(3_700_000), "1h");
        assert_eq!(size(12_345_678), "12.3 MB");
        assert_eq!(size(12), "12 B");
        assert_eq!(short_digest("sha256:0123456789abcdef"), "01234567");
        assert_eq!(short_digest("abc"), "abc");
        assert_eq!(clock(3_723_000), "01:02:03");
        assert_eq!(clock_ms(3_723_042), "01:02:03.042");
        assert_eq!(time(1_795_849_200_000), "2026-11-28T07:00:00Z");
    }

    mod proptests {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::prop::config())]

            #[test]
            fn every_number_formats(ms in any::<i64>(), bytes in any::<u64>()) {
                let d = duration(ms);
                prop_assert!(!d.is_empty() && d.len() <= 24, "{}", d);
                if ms < 1_000 {
                    prop_assert_eq!(d, format!("{}ms", ms.max(0)));
                }
                prop_assert!(!age(ms).is_empty());
                prop_assert!(!size(bytes).is_empty());
                prop_assert_eq!(clock_ms(ms).len(), 12);
                prop_assert!(!time(ms).is_empty());
            }

            #[test]
            fn whole_seconds_under_a_minute_read_back(s in 1i64..60) {
                prop_assert_eq!(duration(s * 1_000), format!("{s}s"));
            }

            #[test]
            fn clock_and_time_parse_back(at in prop_oneof![0i64..253_402_300_800_000, any::<i64>()]) {
                let secs = at.div_euclid(1_000);
                let c = clock(at);
                let parts: Vec<i64> = c.split(':').map(|p| p.parse().expect("digits")).collect();
                prop_assert_eq!(parts[0] * 3_600 + parts[1] * 60 + parts[2], secs.rem_euclid(86_400));
                // Years 0 to 9999 are RFC 3339; other times are written as their millis.
                let written = super::time(at);
                match time::OffsetDateTime::parse(&written, &time::format_description::well_known::Rfc3339) {
                    Ok(t) => prop_assert_eq!(t.unix_timestamp(), secs),
                    Err(_) => {
                        prop_assert!(!(0..253_402_300_800_000).contains(&at));
                        prop_assert_eq!(written, at.to_string());
                    }
                }
            }

            #[test]
            fn a_short_digest_is_a_prefix_of_its_hex(s in "(sha256:)?\\PC{0,70}") {
                let hex = s.strip_prefix("sha256:").unwrap_or(&s);
                let short = short_digest(&s);
                prop_assert!(hex.starts_with(short));
                prop_assert!(short.len() <= DIGEST_CHARS || short == hex);
            }
        }
    }
}

#[cfg(test)]
mod terminal_tests {
    use super::terminal_safe;

    #[test]
    fn escapes_controls_and_bidi_but_keeps_lines_and_plain_text() {
        assert_eq!(
            terminal_safe("blue 90 / green 10\n\tok ✓"),
            "blue 90 / green 10\n\tok ✓"
        );
        assert!(matches!(
            terminal_safe("plain"),
            std::borrow::Cow::Borrowed(_)
        ));
        let hostile =
            "ann\u{1b}]0;pwned\u{7}\u{1b}[2J\r\u{9b}31m\u{85}\u{202e}gnp.exe\u{2066}\u{7f}";
        let safe = terminal_safe(hostile);
        assert_eq!(
            safe,
            "ann\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{d}\\u{9b}31m\\u{85}\\u{202e}gnp.exe\\u{2066}\\u{7f}"
        );
        assert!(
            !safe
                .chars()
                .any(|c| c.is_control() || ('\u{2066}'..='\u{2069}').contains(&c))
        );
    }
}
