use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One of the two production environments. Each color is one ECS service (or local service),
/// one task definition family and one target group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    Blue,
    Green,
}

impl Color {
    /// Both colors, blue first: the order every panel and report uses.
    pub const ALL: [Color; 2] = [Color::Blue, Color::Green];

    /// The other color.
    pub fn other(self) -> Color {
        match self {
            Color::Blue => Color::Green,
            Color::Green => Color::Blue,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Color::Blue => "blue",
            Color::Green => "green",
        }
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a string that names no color.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown color `{0}`: expected `blue` or `green`")]
pub struct UnknownColor(pub String);

impl FromStr for Color {
    type Err = UnknownColor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "blue" => Ok(Color::Blue),
            "green" => Ok(Color::Green),
            _ => Err(UnknownColor(s.to_string())),
        }
    }
}

/// A pair of values, one per color. Used wherever something exists once for each color, so
/// code never matches on strings or keeps two parallel fields by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerColor<T> {
    pub blue: T,
    pub green: T,
}

impl<T> PerColor<T> {
    pub fn new(blue: T, green: T) -> Self {
        PerColor { blue, green }
    }

    /// Builds both values from a function of the color.
    pub fn from_fn(mut f: impl FnMut(Color) -> T) -> Self {
        PerColor {
            blue: f(Color::Blue),
            green: f(Color::Green),
        }
    }

    pub fn get(&self, color: Color) -> &T {
        match color {
            Color::Blue => &self.blue,
            Color::Green => &self.green,
        }
    }

    pub fn get_mut(&mut self, color: Color) -> &mut T {
        match color {
            Color::Blue => &mut self.blue,
            Color::Green => &mut self.green,
        }
    }

    /// `(color, value)` pairs, blue first.
    pub fn iter(&self) -> impl Iterator<Item = (Color, &T)> {
        [(Color::Blue, &self.blue), (Color::Green, &self.green)].into_iter()
    }

    pub fn map<U>(&self, mut f: impl FnMut(Color, &T) -> U) -> PerColor<U> {
        PerColor {
            blue: f(Color::Blue, &self.blue),
            green: f(Color::Green, &self.green),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!("Blue".parse::<Color>(), Ok(Color::Blue));
        assert_eq!(" green ".parse::<Color>(), Ok(Color::Green));
        let err = "red".parse::<Color>().expect_err("red is no color");
        assert!(err.to_string().contains("`red`"));
        assert_eq!(Color::Green.to_string(), "green");
        assert_eq!(Color::Blue.other(), Color::Green);
        assert_eq!(Color::Green.other(), Color::Blue);
    }

    #[test]
    fn per_color_indexes_by_color() {
        let mut p = PerColor::from_fn(|c| c.as_str().len());
        assert_eq!(*p.get(Color::Blue), 4);
        *p.get_mut(Color::Green) += 1;
        assert_eq!(p.green, 6);
        let names: Vec<_> = p.iter().map(|(c, _)| c).collect();
        assert_eq!(names, Color::ALL);
    }

    mod proptests {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::prop::config())]

            #[test]
            fn only_blue_and_green_are_colors(s in "\\PC{0,8}|[ ]?(?i:blue|green)[ ]?") {
                match s.parse::<Color>() {
                    Ok(c) => {
                        prop_assert_eq!(s.trim().to_ascii_lowercase(), c.as_str());
                        prop_assert_eq!(c.to_string().parse::<Color>(), Ok(c));
                    }
                    Err(e) => prop_assert!(e.to_string().contains("expected `blue` or `green`")),
                }
            }
        }
    }
}
