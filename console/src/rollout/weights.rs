use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Color;

/// A share of traffic in per mille (0.1% steps), 0 to 1000: the unit of [`Weights`] and of a
/// plan's steps. Read and written as percent with at most one decimal (`0.5`, `20`, `99.9`);
/// a whole percentage shows no decimal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Share(u16);

impl Share {
    pub const ZERO: Share = Share(0);
    pub const ALL: Share = Share(Weights::TOTAL);

    /// A share in per mille; `None` above 1000.
    pub fn permille(p: u16) -> Option<Share> {
        (p <= Weights::TOTAL).then_some(Share(p))
    }

    /// A whole percentage; `None` above 100.
    pub fn percent(p: u8) -> Option<Share> {
        Share::permille(p as u16 * 10)
    }

    /// A percentage with at most one decimal (`0.1` to `100`), as a configuration file's
    /// number gives it; `None` when out of range, not finite, or finer than 0.1.
    pub fn from_percent_f64(p: f64) -> Option<Share> {
        if !p.is_finite() || !(0.0..=100.0).contains(&p) {
            return None;
        }
        let tenths = (p * 10.0).round();
        if (tenths - p * 10.0).abs() > 1e-6 {
            return None;
        }
        Share::permille(tenths as u16)
    }

    pub fn get(self) -> u16 {
        self.0
    }

    /// The share in percent, for JSON and arithmetic on rates.
    pub fn as_percent(self) -> f64 {
        self.0 as f64 / 10.0
    }

    /// The rest of the traffic.
    pub fn rest(self) -> Share {
        Share(Weights::TOTAL - self.0)
    }
}

impl fmt::Display for Share {
    /// Percent without the sign: `20`, `0.5`, `99.9`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, tenth) = (self.0 / 10, self.0 % 10);
        if tenth == 0 {
            write!(f, "{whole}")
        } else {
            write!(f, "{whole}.{tenth}")
        }
    }
}

/// Why a text is not a [`Share`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a share of traffic: expected a percentage in 0..=100 with at most one decimal, for example 20 or 0.5"
)]
pub struct ShareError(pub String);

impl FromStr for Share {
    type Err = ShareError;

    /// Parses `20`, `20%`, `0.5`, `99.9`. Refuses more than one decimal, signs, exponents.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ShareError(s.chars().take(32).collect());
        let t = s.trim();
        let t = t.strip_suffix('%').unwrap_or(t).trim_end();
        let (whole, tenth) = match t.split_once('.') {
            Some((w, d)) if d.len() == 1 => (w, d),
            Some((w, "")) => (w, "0"),
            Some(_) => return Err(bad()),
            None => (t, "0"),
        };
        let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || !digits(tenth) {
            return Err(bad());
        }
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let tenth: u64 = tenth.parse().map_err(|_| bad())?;
        u16::try_from(whole)
            .ok()
            .and_then(|w| w.checked_mul(10))
            .and_then(|w| w.checked_add(tenth as u16))
            .and_then(Share::permille)
            .ok_or_else(bad)
    }
}

impl Serialize for Share {
    /// A JSON number in percent: `20` when whole, `0.5` otherwise.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 10 == 0 {
            s.serialize_u16(self.0 / 10)
        } else {
            s.serialize_f64(self.as_percent())
        }
    }
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = f64::deserialize(d)?;
        Share::from_percent_f64(p).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{p} is not a share of traffic: expected a percentage from 0 to 100 with at most one decimal"
            ))
        })
    }
}

/// The production listener's split of traffic between the colors, in per mille (0.1% steps)
/// that always sum to 1000. The ALB takes 0..=999 per target group, so green 0.1% is written
/// `blue 999 / green 1`; JSON and the displays use percent with one decimal only when a
/// weight is not whole (`{"blue":99.9,"green":0.1}`, `blue 99.9 / green 0.1`), so files and
/// messages written in whole percent still read the same.
///
/// The fields are private so the invariant cannot be broken; build values with
/// [`Weights::permille`], [`Weights::percent`], [`Weights::all`], [`Weights::with_share`] or
/// parse `"B:G"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawWeights", into = "RawWeights")]
pub struct Weights {
    blue: u16,
    green: u16,
}

#[derive(Serialize, Deserialize)]
struct RawWeights {
    blue: Share,
    green: Share,
}

impl TryFrom<RawWeights> for Weights {
    type Error = WeightsError;
    fn try_from(raw: RawWeights) -> Result<Self, Self::Error> {
        Weights::permille(raw.blue.get(), raw.green.get())
    }
}

impl From<Weights> for RawWeights {
    fn from(w: Weights) -> Self {
        RawWeights {
            blue: w.share(Color::Blue),
            green: w.share(Color::Green),
        }
    }
}

/// Why a split is not a valid [`Weights`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeightsError {
    #[error("weights must sum to 100, got blue {} + green {} = {}", tenths(*.blue), tenths(*.green), tenths(*.blue + *.green))]
    BadSum { blue: u32, green: u32 },
    #[error("a weight must be 0..=100, got {}", tenths(*.0))]
    OutOfRange(u32),
    #[error("both target groups have weight 0: no traffic would be served")]
    AllZero,
    #[error(
        "cannot read weights from `{0}`: expected BLUE:GREEN in percent, for example 80:20 or 99.9:0.1"
    )]
    Syntax(String),
}

/// Per mille as percent text, for messages.
fn tenths(permille: u32) -> String {
    if permille % 10 == 0 {
        format!("{}", permille / 10)
    } else {
        format!("{}.{}", permille / 10, permille % 10)
    }
}

impl Weights {
    /// The sum of the two weights, in per mille.
    pub const TOTAL: u16 = 1000;

    /// A split in per mille, checked to sum to [`Weights::TOTAL`].
    pub fn permille(blue: u16, green: u16) -> Result<Self, WeightsError> {
        if blue as u32 + green as u32 != Self::TOTAL as u32 {
            return Err(WeightsError::BadSum {
                blue: blue as u32,
                green: green as u32,
            });
        }
        Ok(Weights { blue, green })
    }

    /// A split in whole percent, checked to sum to 100.
    pub fn percent(blue: u8, green: u8) -> Result<Self, WeightsError> {
        Self::permille(blue as u16 * 10, green as u16 * 10)
    }

    /// All traffic to one color.
    pub fn all(color: Color) -> Self {
        Self::with_share(color, Share::ALL)
    }

    /// `share` to `color`, the rest to the other color.
    pub fn with_share(color: Color, share: Share) -> Self {
        let (s, rest) = (share.get(), share.rest().get());
        match color {
            Color::Blue => Weights {
                blue: s,
                green: rest,
            },
            Color::Green => Weights {
                blue: rest,
                green: s,
            },
        }
    }

    /// `percent` whole percent to green, the rest to blue (for tests and fixtures).
    pub fn with_green_percent(percent: u8) -> Result<Self, WeightsError> {
        Share::percent(percent)
            .map(|s| Self::with_share(Color::Green, s))
            .ok_or(WeightsError::OutOfRange(percent as u32 * 10))
    }

    /// Normalises raw load-balancer weights (an ALB accepts 0..=999 per target group and
    /// splits by ratio) to per mille, rounding green to the nearest 0.1%. A color with a
    /// non-zero raw weight never reads as 0 (nor the other as 100): a sliver of traffic still
    /// makes a color live, so it must not look idle.
    pub fn from_ratio(blue: u32, green: u32) -> Result<Self, WeightsError> {
        let total = blue as u64 + green as u64;
        if total == 0 {
            return Err(WeightsError::AllZero);
        }
        let mut g = (green as u64 * Self::TOTAL as u64 + total / 2) / total;
        if green > 0 {
            g = g.max(1);
        }
        if blue > 0 {
            g = g.min(Self::TOTAL as u64 - 1);
        }
        // g <= TOTAL by construction.
        let g = g as u16;
        Ok(Weights {
            blue: Self::TOTAL - g,
            green: g,
        })
    }

    /// The weights to write to a load balancer that takes at most `max` per target group
    /// (999 for an ALB): the per-mille values, scaled down only when one of them is over
    /// `max`, keeping the ratio ([`Weights::from_ratio`] reads them back unchanged).
    pub fn to_ratio(self, max: u16) -> (u16, u16) {
        if self.blue <= max && self.green <= max {
            (self.blue, self.green)
        } else if self.blue > max {
            (max, 0)
        } else {
            (0, max)
        }
    }

    /// A color's weight in per mille.
    pub fn get(self, color: Color) -> u16 {
        match color {
            Color::Blue => self.blue,
            Color::Green => self.green,
        }
    }

    /// A color's weight as a [`Share`].
    pub fn share(self, color: Color) -> Share {
        Share(self.get(color))
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

    /// Moves `delta` per mille towards green (negative: towards blue), clamped to 0..=1000.
    pub fn nudge_green(self, delta: i32) -> Self {
        let g = (self.green as i32)
            .saturating_add(delta)
            .clamp(0, Self::TOTAL as i32) as u16;
        Weights {
            blue: Self::TOTAL - g,
            green: g,
        }
    }
}

impl fmt::Display for Weights {
    /// `blue 80 / green 20`, `blue 99.9 / green 0.1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "blue {} / green {}",
            self.share(Color::Blue),
            self.share(Color::Green)
        )
    }
}

impl FromStr for Weights {
    type Err = WeightsError;

    /// Parses `B:G` in percent (for example `80:20` or `99.9:0.1`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || WeightsError::Syntax(s.chars().take(32).collect());
        let (b, g) = s.split_once(':').ok_or_else(syntax)?;
        let parse = |t: &str| -> Result<u16, WeightsError> {
            let t = t.trim();
            match t.parse::<Share>() {
                Ok(share) => Ok(share.get()),
                // A well-formed number that is too large: say the range, not the syntax.
                Err(_) => match t.parse::<f64>() {
                    Ok(v) if v.is_finite() && v > 100.0 && !t.starts_with(['+', '-']) => Err(
                        WeightsError::OutOfRange((v * 10.0).min(u32::MAX as f64) as u32),
                    ),
                    _ => Err(syntax()),
                },
            }
        };
        Weights::permille(parse(b)?, parse(g)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(blue: u8, green: u8) -> Weights {
        Weights::percent(blue, green).expect("valid")
    }

    #[test]
    fn new_checks_the_sum() {
        assert!(Weights::percent(80, 20).is_ok());
        assert_eq!(
            Weights::percent(80, 30),
            Err(WeightsError::BadSum {
                blue: 800,
                green: 300
            })
        );
        assert_eq!(
            Weights::percent(80, 30).expect_err("bad sum").to_string(),
            "weights must sum to 100, got blue 80 + green 30 = 110"
        );
        assert!(Weights::permille(999, 1).is_ok());
        assert!(Weights::permille(999, 2).is_err());
    }

    #[test]
    fn live_and_split() {
        assert_eq!(Weights::all(Color::Blue).live(), Some(Color::Blue));
        assert_eq!(Weights::all(Color::Green).live(), Some(Color::Green));
        let w = pct(80, 20);
        assert_eq!(w.live(), None);
        assert!(w.is_split());
        assert_eq!((w.get(Color::Blue), w.get(Color::Green)), (800, 200));
        let sliver = Weights::permille(999, 1).expect("valid");
        assert!(sliver.is_split());
        assert_eq!(sliver.live(), None);
    }

    #[test]
    fn shares_parse_and_print_in_percent_with_one_decimal() {
        for (text, permille) in [
            ("20", 200),
            ("20%", 200),
            ("0.5", 5),
            ("0.1", 1),
            ("99.9", 999),
            ("100", 1000),
            ("7.", 70),
            (" 3 ", 30),
        ] {
            assert_eq!(
                text.parse::<Share>().map(Share::get),
                Ok(permille),
                "{text}"
            );
        }
        for bad in [
            "", "0.05", "100.1", "101", "-1", "+1", "1e2", "abc", ".5", "NaN", "1.2.3",
        ] {
            let e = bad.parse::<Share>().expect_err(bad);
            assert!(e.to_string().contains("at most one decimal"), "{e}");
        }
        assert_eq!(Share::permille(5).expect("valid").to_string(), "0.5");
        assert_eq!(Share::permille(200).expect("valid").to_string(), "20");
        assert_eq!(Share::from_percent_f64(0.1).map(Share::get), Some(1));
        assert_eq!(Share::from_percent_f64(0.15), None);
        assert_eq!(Share::from_percent_f64(f64::NAN), None);
    }

    #[test]
    fn ratio_normalises_to_per_mille() {
        assert_eq!(Weights::from_ratio(1, 1), Ok(pct(50, 50)));
        assert_eq!(Weights::from_ratio(999, 0), Ok(Weights::all(Color::Blue)));
        assert_eq!(Weights::from_ratio(2, 1), Weights::permille(667, 333));
        assert_eq!(Weights::from_ratio(0, 0), Err(WeightsError::AllZero));
        // The ALB's finest split reads back exactly.
        assert_eq!(Weights::from_ratio(999, 1), Weights::permille(999, 1));
        // A sliver of traffic is never rounded away.
        assert_eq!(Weights::from_ratio(1, 100_000), Weights::permille(1, 999));
        assert_eq!(Weights::from_ratio(100_000, 1), Weights::permille(999, 1));
    }

    #[test]
    fn to_ratio_fits_an_alb_and_reads_back() {
        assert_eq!(Weights::all(Color::Blue).to_ratio(999), (999, 0));
        assert_eq!(Weights::all(Color::Green).to_ratio(999), (0, 999));
        let sliver = Weights::permille(999, 1).expect("valid");
        assert_eq!(sliver.to_ratio(999), (999, 1));
        for g in 0..=1000u16 {
            let w = Weights::permille(1000 - g, g).expect("valid");
            let (b, gr) = w.to_ratio(999);
            assert!(b <= 999 && gr <= 999);
            assert_eq!(Weights::from_ratio(b as u32, gr as u32), Ok(w));
        }
    }

    #[test]
    fn parses_b_colon_g_in_percent() {
        assert_eq!("80:20".parse::<Weights>(), Ok(pct(80, 20)));
        assert_eq!("99.9:0.1".parse::<Weights>(), Weights::permille(999, 1));
        assert!(matches!(
            "80-20".parse::<Weights>(),
            Err(WeightsError::Syntax(_))
        ));
        assert_eq!(
            "300:0".parse::<Weights>(),
            Err(WeightsError::OutOfRange(3000))
        );
        assert_eq!(
            WeightsError::OutOfRange(3000).to_string(),
            "a weight must be 0..=100, got 300"
        );
        assert!(matches!(
            "50:40".parse::<Weights>(),
            Err(WeightsError::BadSum { .. })
        ));
        assert!(matches!(
            "99.95:0.05".parse::<Weights>(),
            Err(WeightsError::Syntax(_))
        ));
    }

    #[test]
    fn display_shows_a_decimal_only_when_not_whole() {
        assert_eq!(pct(80, 20).to_string(), "blue 80 / green 20");
        assert_eq!(
            Weights::permille(995, 5).expect("valid").to_string(),
            "blue 99.5 / green 0.5"
        );
    }

    #[test]
    fn nudge_clamps() {
        let w = pct(2, 98);
        assert_eq!(w.nudge_green(50).get(Color::Green), 1000);
        assert_eq!(w.nudge_green(-1000).get(Color::Green), 0);
        assert_eq!(w.nudge_green(-30), pct(5, 95));
        assert_eq!(w.nudge_green(1), Weights::permille(19, 981).expect("valid"));
        assert_eq!(w.nudge_green(i32::MAX).get(Color::Green), 1000);
        assert_eq!(w.nudge_green(i32::MIN).get(Color::Green), 0);
    }

    #[test]
    fn serde_keeps_the_invariant_and_reads_whole_percent_files() {
        let w: Weights = serde_json::from_str(r#"{"blue":70,"green":30}"#).expect("valid json");
        assert_eq!(w, pct(70, 30));
        assert!(serde_json::from_str::<Weights>(r#"{"blue":70,"green":70}"#).is_err());
        assert!(serde_json::from_str::<Weights>(r#"{"blue":99.95,"green":0.05}"#).is_err());
        assert_eq!(
            serde_json::to_string(&w).expect("serializes"),
            r#"{"blue":70,"green":30}"#
        );
        let sliver = Weights::permille(999, 1).expect("valid");
        let json = serde_json::to_string(&sliver).expect("serializes");
        assert_eq!(json, r#"{"blue":99.9,"green":0.1}"#);
        assert_eq!(
            serde_json::from_str::<Weights>(&json).expect("parses"),
            sliver
        );
    }

    mod proptests {
        use super::*;
        use proptest::prelude::*;

        fn color() -> impl Strategy<Value = Color> {
            prop_oneof![Just(Color::Blue), Just(Color::Green)]
        }

        fn sums_to_total(w: Weights) -> bool {
            w.get(Color::Blue) as u32 + w.get(Color::Green) as u32 == Weights::TOTAL as u32
        }

        proptest! {
            #![proptest_config(crate::prop::config())]

            #[test]
            fn any_text_parses_to_a_pair_summing_to_100_or_is_refused(s in "\\PC{0,16}") {
                if let Ok(w) = s.parse::<Weights>() {
                    prop_assert!(sums_to_total(w));
                }
                if let Ok(share) = s.parse::<Share>() {
                    prop_assert!(share.get() <= Weights::TOTAL);
                }
            }

            #[test]
            fn numbers_either_side_of_the_colon(b in any::<u32>(), g in any::<u32>()) {
                let parsed = format!("{b}:{g}").parse::<Weights>();
                prop_assert_eq!(parsed.is_ok(), b <= 100 && g <= 100 && b + g == 100);
                match parsed {
                    Ok(w) => prop_assert_eq!(
                        (w.get(Color::Blue) as u32, w.get(Color::Green) as u32),
                        (b * 10, g * 10)
                    ),
                    Err(WeightsError::OutOfRange(v)) => {
                        prop_assert!(b > 100 || g > 100);
                        let msg = WeightsError::OutOfRange(v).to_string();
                        prop_assert!(msg.contains("0..=100"), "{}", msg);
                    }
                    Err(WeightsError::BadSum { blue, green }) => {
                        prop_assert_eq!((blue, green), (b * 10, g * 10));
                        prop_assert_ne!(b + g, 100);
                    }
                    Err(e) => prop_assert!(false, "unexpected {e:?}"),
                }
            }

            #[test]
            fn display_parse_round_trip(green in 0u16..=1000, spaces in "[ ]{0,2}") {
                let w = Weights::permille(1000 - green, green).expect("in range");
                let text = format!("{}{spaces}:{spaces}{}", w.share(Color::Blue), w.share(Color::Green));
                prop_assert_eq!(text.parse::<Weights>(), Ok(w));
                let json = serde_json::to_string(&w).expect("serializes");
                prop_assert_eq!(serde_json::from_str::<Weights>(&json).expect("parses"), w);
                let share = w.share(Color::Green);
                prop_assert_eq!(share.to_string().parse::<Share>(), Ok(share));
            }

            #[test]
            fn serde_accepts_exactly_the_pairs_summing_to_100(b in any::<u16>(), g in any::<u16>()) {
                let json = format!(r#"{{"blue":{b},"green":{g}}}"#);
                let ok = b <= 100 && g <= 100 && b + g == 100;
                prop_assert_eq!(serde_json::from_str::<Weights>(&json).is_ok(), ok);
            }

            #[test]
            fn shares_ratios_and_nudges_sum_to_1000(
                c in color(),
                share in 0u16..=1000,
                blue in any::<u32>(),
                green in any::<u32>(),
                delta in any::<i32>(),
            ) {
                let s = Share::permille(share).expect("in range");
                let w = Weights::with_share(c, s);
                prop_assert!(sums_to_total(w) && w.get(c) == share);
                match Weights::from_ratio(blue, green) {
                    Ok(w) => {
                        prop_assert!(sums_to_total(w));
                        prop_assert_eq!(w.get(Color::Blue) == 0, blue == 0);
                        prop_assert_eq!(w.get(Color::Green) == 0, green == 0);
                    }
                    Err(e) => prop_assert!(blue == 0 && green == 0 && e == WeightsError::AllZero),
                }
                let moved = w.nudge_green(delta);
                prop_assert!(sums_to_total(moved));
                let want = (w.get(Color::Green) as i64 + delta as i64).clamp(0, 1000);
                prop_assert_eq!(moved.get(Color::Green) as i64, want);
            }
        }
    }
}
