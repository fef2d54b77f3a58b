//! The console's palette, by meaning: every panel styles its text with these names, so a
//! warning looks the same in each panel and the palette changes in one place (ratatui's
//! `demo2` example keeps its `theme.rs` the same way). The two release colors are
//! [`super::fmt::tint`]'s.

use ratatui::style::{Color as Tint, Style};

/// Secondary text: labels, hints, what is loading or unknown, an age.
pub const MUTED: Style = Style::new().fg(Tint::DarkGray);
/// Quieter than the text, louder than [`MUTED`]: a threshold, a way to cancel.
pub const HINT: Style = Style::new().fg(Tint::Gray);
/// Needs a look: pending, stale, a warning, a pause.
pub const WARN: Style = Style::new().fg(Tint::Yellow);
/// Failed: an error, an unhealthy target, a failing gate.
pub const BAD: Style = Style::new().fg(Tint::LightRed);
/// Fine: healthy, passing, applied.
pub const GOOD: Style = Style::new().fg(Tint::Green);
/// A fault in force on a color: the injected errors and delays.
pub const FAULT: Style = Style::new().fg(Tint::Red);
/// What can be acted on: keys, the command line, information the console offers.
pub const ACCENT: Style = Style::new().fg(Tint::Cyan);
/// A filter or a search.
pub const FILTER: Style = Style::new().fg(Tint::Magenta);
/// A badge that stops writes or warns of danger (armed, a confirm of a dangerous change).
pub const DANGER_BADGE: Style = Style::new().fg(Tint::White).bg(Tint::Red);
/// A badge that asks for care (read-only, a match in the logs).
pub const WARN_BADGE: Style = Style::new().fg(Tint::Black).bg(Tint::Yellow);
/// A badge that names where the console is (the platform).
pub const ACCENT_BADGE: Style = Style::new().fg(Tint::Black).bg(Tint::Cyan);
