use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Color;

/// The production listener's split of traffic between the colors, in whole percentage points
/// that always sum to 100. Every integer split is allowed.
///
/// The fields are private so the invariant cannot be broken; build values with
/// [`Weights::new`], [`Weights::all`], [`Weights::with_green`] or parse `"B:G"`. The unit is kept
/// in one constant ([`Weights::TOTAL`]) so a finer step (per mille) later changes one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawWeights", into = "RawWeights")]
pub struct Weights {
    blue: u8,
    green: u8,
}

#[derive(Serialize, Deserialize)]
struct RawWeights {
    blue: u8,
    green: u8,
}

impl TryFrom<RawWeights> for Weights {
    type Error = WeightsError;
    fn try_from(raw: RawWeights) -> Result<Self, Self::Error> {
        Weights::new(raw.blue, raw.green)
    }
}

impl From<Weights> for RawWeights {
    fn from(w: Weights) -> Self {
        RawWeights {
            blue: w.blue,
            green: w.green,
        }
    }
}

/// Why a split is not a valid [`Weights`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeightsError {
    #[error("weights must sum to 100, got blue {blue} + green {green} = {}", *blue + *green)]
    BadSum { blue: u32, green: u32 },
    #[error("a weight must be 0..=100, got {0}")]
    OutOfRange(u32),
    #[error("both target groups have weight 0: no traffic would be served")]
    AllZero,
    #[error("cannot read weights from `{0}`: expected BLUE:GREEN, for example 80:20")]
    Syntax(String),
}

impl Weights {
    /// The sum of the two weights.
    pub const TOTAL: u8 = 100;

    /// A split, checked to sum to [`Weights::TOTAL`].
    pub fn new(blue: u8, green: u8) -> Result<Self, WeightsError> {
        if blue as u32 + green as u32 != Self::TOTAL as u32 {
            return Err(WeightsError::BadSum {
                blue: blue as u32,
                green: green as u32,
            });
        }
        Ok(Weights { blue, green })
    }

    /// All traffic to one color.
    pub fn all(color: Color) -> Self {
        match color {
            Color::Blue => Weights {
                blue: Self::TOTAL,
                green: 0,
            },
            Color::Green => Weights {
                blue: 0,
                green: Self::TOTAL,
            },
        }
    }

    /// `share` percent to `color`, the rest to the other color.
    pub fn with_share(color: Color, share: u8) -> Result<Self, WeightsError> {
        if share > Self::TOTAL {
            return Err(WeightsError::OutOfRange(share as u32));
        }
        let rest = Self::TOTAL - share;
        Ok(match color {
            Color::Blue => Weights {
                blue: share,
                green: rest,
            },
            Color::Green => Weights {
                blue: rest,
                green: share,
            },
        })
    }

    /// `green` percent to green, the rest to blue.
    pub fn with_green(green: u8) -> Result<Self, WeightsError> {
        Self::with_share(Color::Green, green)
    }

    /// Normalises raw load-balancer weights (an ALB accepts 0..=999 per target group and
    /// splits by ratio) to percentages, rounding green to the nearest point. A color with a
    /// non-zero raw weight never reads as 0 (nor the other as 100): a sliver of traffic still
    /// makes a color live, so it must not look idle.
    pub fn from_ratio(blue: u32, green: u32) -> Result<Self, WeightsError> {
        let total = blue as u64 + green as u64;
        if total == 0 {
            return Err(WeightsError::AllZero);
        }
        let mut green_pct = (green as u64 * Self::TOTAL as u64 + total / 2) / total;
        if green > 0 {
            green_pct = green_pct.max(1);
        }
        if blue > 0 {
            green_pct = green_pct.min(Self::TOTAL as u64 - 1);
        }
        // green_pct <= TOTAL by construction.
        Self::with_green(green_pct as u8)
    }

    pub fn blue(self) -> u8 {
        self.blue
    }

    pub fn green(self) -> u8 {
        self.green
    }

    pub fn get(self, color: Color) -> u8 {
        match color {
            Color::Blue => self.blue,
            Color::Green => self.green,
        }
    }

    /// The color with all the traffic, if one has it (the state "at rest").
    pub fn live(self) -> Option<Color> {
        if self.blue == Self::TOTAL {
            Some(Color::Blue)
        } else if self.green == Self::TOTAL {
            Some(Color::Green)
        } else {
            None
        }
    }

    /// Whether traffic is split between both colors.
    pub fn is_split(self) -> bool {
        self.live().is_none()
    }

    /// Moves `delta` points towards green (negative: towards blue), clamped to 0..=100.
    pub fn nudge_green(self, delta: i16) -> Self {
        let g = (self.green as i16)
            .saturating_add(delta)
            .clamp(0, Self::TOTAL as i16) as u8;
        Weights {
            blue: Self::TOTAL - g,
            green: g,
        }
    }
}

impl fmt::Display for Weights {
    /// `blue 80 / green 20`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blue {} / green {}", self.blue, self.green)
    }
}

impl FromStr for Weights {
    type Err = WeightsError;

    /// Parses `B:G` (for example `80:20`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (b, g) = s
            .split_once(':')
            .ok_or_else(|| WeightsError::Syntax(s.to_string()))?;
        let parse = |t: &str| -> Result<u8, WeightsError> {
            let v: u32 = t
                .trim()
                .parse()
                .map_err(|_| WeightsError::Syntax(s.to_string()))?;
            u8::try_from(v)
                .ok()
                .filter(|v| *v <= Self::TOTAL)
                .ok_or(WeightsError::OutOfRange(v))
        };
        Weights::new(parse(b)?, parse(g)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_the_sum() {
        assert!(Weights::new(80, 20).is_ok());
        assert_eq!(
            Weights::new(80, 30),
            Err(WeightsError::BadSum {
                blue: 80,
                green: 30
            })
        );
        assert!(Weights::new(0, 100).is_ok());
    }

    #[test]
    fn live_and_split() {
        assert_eq!(Weights::all(Color::Blue).live(), Some(Color::Blue));
        assert_eq!(Weights::all(Color::Green).live(), Some(Color::Green));
        let w = Weights::with_green(20).expect("20 is valid");
        assert_eq!(w.live(), None);
        assert!(w.is_split());
        assert_eq!((w.blue(), w.green()), (80, 20));
        assert_eq!(w.get(Color::Green), 20);
    }

    #[test]
    fn with_share_rejects_over_100() {
        assert_eq!(
            Weights::with_share(Color::Blue, 101),
            Err(WeightsError::OutOfRange(101))
        );
        assert_eq!(Weights::with_share(Color::Blue, 30), Weights::new(30, 70));
    }

    #[test]
    fn ratio_normalises() {
        assert_eq!(Weights::from_ratio(1, 1), Weights::new(50, 50));
        assert_eq!(Weights::from_ratio(999, 0), Ok(Weights::all(Color::Blue)));
        assert_eq!(Weights::from_ratio(2, 1), Weights::new(67, 33));
        assert_eq!(Weights::from_ratio(0, 0), Err(WeightsError::AllZero));
        // A sliver of traffic is never rounded away.
        assert_eq!(Weights::from_ratio(1, 999), Weights::new(1, 99));
        assert_eq!(Weights::from_ratio(999, 1), Weights::new(99, 1));
    }

    #[test]
    fn parses_b_colon_g() {
        assert_eq!("80:20".parse::<Weights>(), Weights::new(80, 20));
        assert!(matches!(
            "80-20".parse::<Weights>(),
            Err(WeightsError::Syntax(_))
        ));
        assert_eq!(
            "300:0".parse::<Weights>(),
            Err(WeightsError::OutOfRange(300))
        );
        assert!(matches!(
            "50:40".parse::<Weights>(),
            Err(WeightsError::BadSum { .. })
        ));
    }

    #[test]
    fn nudge_clamps() {
        let w = Weights::with_green(98).expect("valid");
        assert_eq!(w.nudge_green(5).green(), 100);
        assert_eq!(w.nudge_green(-100).green(), 0);
        assert_eq!(w.nudge_green(-3), Weights::new(5, 95).expect("valid"));
        // Found by the property test: 98 + 32767 overflowed an i16.
        assert_eq!(w.nudge_green(i16::MAX).green(), 100);
        assert_eq!(w.nudge_green(i16::MIN).green(), 0);
    }

    #[test]
    fn serde_keeps_the_invariant() {
        let w: Weights = serde_json::from_str(r#"{"blue":70,"green":30}"#).expect("valid json");
        assert_eq!(w, Weights::new(70, 30).expect("valid"));
        assert!(serde_json::from_str::<Weights>(r#"{"blue":70,"green":70}"#).is_err());
        assert_eq!(
            serde_json::to_string(&w).expect("serializes"),
            r#"{"blue":70,"green":30}"#
        );
    }

    mod proptests {
        use super::*;
        use proptest::prelude::*;

        fn color() -> impl Strategy<Value = Color> {
            prop_oneof![Just(Color::Blue), Just(Color::Green)]
        }

        fn sums_to_total(w: Weights) -> bool {
            w.blue() as u32 + w.green() as u32 == Weights::TOTAL as u32
        }

        proptest! {
            #![proptest_config(crate::prop::config())]

            #[test]
            fn any_text_parses_to_a_pair_summing_to_100_or_is_refused(s in "\\PC{0,16}") {
                if let Ok(w) = s.parse::<Weights>() {
                    prop_assert!(sums_to_total(w));
                }
            }

            #[test]
            fn numbers_either_side_of_the_colon(b in any::<u32>(), g in any::<u32>()) {
                let parsed = format!("{b}:{g}").parse::<Weights>();
                prop_assert_eq!(parsed.is_ok(), b <= 100 && g <= 100 && b + g == 100);
                match parsed {
                    Ok(w) => prop_assert_eq!((w.blue() as u32, w.green() as u32), (b, g)),
                    Err(WeightsError::OutOfRange(v)) => {
                        prop_assert!(v > 100 && (v == b || v == g));
                        let msg = WeightsError::OutOfRange(v).to_string();
                        prop_assert!(msg.contains("0..=100"), "{}", msg);
                    }
                    Err(WeightsError::BadSum { blue, green }) => {
                        prop_assert_eq!((blue, green), (b, g));
                        prop_assert_ne!(b + g, 100);
                    }
                    Err(e) => prop_assert!(false, "unexpected {e:?}"),
                }
            }

            #[test]
            fn display_parse_round_trip(green in 0u8..=100, spaces in "[ ]{0,2}") {
                let w = Weights::with_green(green).expect("in range");
                let text = format!("{}{spaces}:{spaces}{}", w.blue(), w.green());
                prop_assert_eq!(text.parse::<Weights>(), Ok(w));
                let json = serde_json::to_string(&w).expect("serializes");
                prop_assert_eq!(serde_json::from_str::<Weights>(&json).expect("parses"), w);
            }

            #[test]
            fn serde_accepts_exactly_the_pairs_summing_to_100(b in any::<u16>(), g in any::<u16>()) {
                let json = format!(r#"{{"blue":{b},"green":{g}}}"#);
                let ok = b <= 100 && g <= 100 && b + g == 100;
                prop_assert_eq!(serde_json::from_str::<Weights>(&json).is_ok(), ok);
            }

            #[test]
            fn shares_ratios_and_nudges_sum_to_100(
                c in color(),
                share in any::<u8>(),
                blue in any::<u32>(),
                green in any::<u32>(),
                delta in any::<i16>(),
            ) {
                match Weights::with_share(c, share) {
                    Ok(w) => prop_assert!(sums_to_total(w) && w.get(c) == share),
                    Err(e) => prop_assert!(share > 100 && e == WeightsError::OutOfRange(share as u32)),
                }
                match Weights::from_ratio(blue, green) {
                    Ok(w) => {
                        prop_assert!(sums_to_total(w));
                        prop_assert_eq!(w.blue() == 0, blue == 0);
                        prop_assert_eq!(w.green() == 0, green == 0);
                    }
                    Err(e) => prop_assert!(blue == 0 && green == 0 && e == WeightsError::AllZero),
                }
                let w = Weights::with_share(c, share.min(100)).expect("in range");
                let moved = w.nudge_green(delta);
                prop_assert!(sums_to_total(moved));
                let want = (w.green() as i32 + delta as i32).clamp(0, 100);
                prop_assert_eq!(moved.green() as i32, want);
            }
        }
    }
}
