//! Short human formats for ages, durations, sizes, digests and clock times.

use ratatui::style::{Color as Tint, Modifier, Style};

use crate::rollout::{Color, UnixMillis};

/// `950ms`, `12s`, `4m05s`, `3h12m`, `2d04h`.
pub fn duration_ms(ms: i64) -> String {
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

/// An age for titles: `now`, `5s`, `3m`, `2h`, `4d`.
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

/// `12.3 MB`.
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

/// The first 8 hex digits of a `sha256:…` digest.
pub fn short_digest(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.get(..8).unwrap_or(hex)
}

/// `HH:MM:SS` in UTC.
pub fn clock(at: UnixMillis) -> String {
    let s = at.div_euclid(1_000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3_600, (s % 3_600) / 60, s % 60)
}

/// `HH:MM:SS.mmm` in UTC.
pub fn clock_ms(at: UnixMillis) -> String {
    format!("{}.{:03}", clock(at), at.rem_euclid(1_000))
}

/// The terminal color of a rollout color.
pub fn tint(color: Color) -> Tint {
    match color {
        Color::Blue => Tint::LightBlue,
        Color::Green => Tint::LightGreen,
    }
}

pub fn color_style(color: Color) -> Style {
    Style::new().fg(tint(color))
}

pub fn bold(style: Style) -> Style {
    style.add_modifier(Modifier::BOLD)
}

pub const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

pub fn spinner(frame: usize) -> &'static str {
    SPINNER[frame % SPINNER.len()]
}

/// A sparkline of `values` as block characters, scaled to their maximum.
pub fn spark(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    values
        .iter()
        .map(|v| {
            if max <= 0.0 || !v.is_finite() {
                BARS[0]
            } else {
                BARS[((v / max) * (BARS.len() - 1) as f64).round() as usize % BARS.len()]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(duration_ms(950), "950ms");
        assert_eq!(duration_ms(245_000), "4m05s");
        assert_eq!(age(0), "now");
        assert_eq!(age(3_700_000), "1h");
        assert_eq!(size(12_345_678), "12.3 MB");
        assert_eq!(size(12), "12 B");
        assert_eq!(short_digest("sha256:0123456789abcdef"), "01234567");
        assert_eq!(clock(3_723_000), "01:02:03");
        assert_eq!(spark(&[0.0, 1.0, 2.0]), "▁▅█");
        assert_eq!(spark(&[0.0, 0.0]), "▁▁");
    }
}
