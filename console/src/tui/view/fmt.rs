//! Terminal styling of the console's text: colors, spinner, sparklines. The text formats
//! themselves (durations, ages, digests) are [`crate::format`]'s, shared with the CLI.

pub use crate::format::{age, clock, clock_ms, duration, short_digest, size};

use ratatui::style::{Color as Tint, Modifier, Style};

use crate::rollout::Color;

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
        assert_eq!(spark(&[0.0, 1.0, 2.0]), "▁▅█");
        assert_eq!(spark(&[0.0, 0.0]), "▁▁");
    }
}
