//! Post timestamps in the seed's exact format: UTC without an offset, as Python's
//! `datetime.isoformat()` writes it (`2026-11-28T05:32:51.617374`, or no fraction when the
//! microseconds are 0). Stored as the string so sort order and paging cursors match what is in
//! the table byte for byte (docs/blog.md, "Timestamps").

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

const WHOLE_SECONDS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
const WITH_FRACTION: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]");
const HUMAN: &[FormatItem<'static>] =
    format_description!("[day padding:none] [month repr:long] [year], [hour]:[minute] UTC");
const MACHINE: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// A timestamp string as stored; parsing is only needed for display.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(String);

impl Timestamp {
    /// Now, in the seed's format (microsecond precision).
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    /// Formats a moment the way Python's `isoformat()` does for a naive UTC datetime.
    pub fn from_datetime(at: OffsetDateTime) -> Self {
        let at = at.to_offset(time::UtcOffset::UTC);
        let naive = PrimitiveDateTime::new(at.date(), at.time());
        let whole = naive.format(WHOLE_SECONDS).unwrap_or_default();
        let micros = at.microsecond();
        if micros == 0 {
            Self(whole)
        } else {
            Self(format!("{whole}.{micros:06}"))
        }
    }

    /// Wraps a string read from a store, without judging it.
    pub fn from_stored(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// Parses both of the seed's forms (with and without fraction), and only those.
    pub fn parse(raw: &str) -> Option<Self> {
        parse_naive(raw).map(|_| Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The moment, when the stored string is in one of the seed's forms.
    pub fn datetime(&self) -> Option<PrimitiveDateTime> {
        parse_naive(&self.0)
    }

    /// "28 November 2026, 05:32 UTC"; the raw text when it does not parse.
    pub fn human(&self) -> String {
        self.datetime()
            .and_then(|d| d.format(HUMAN).ok())
            .unwrap_or_else(|| self.0.clone())
    }

    /// RFC 3339 for `<time datetime=…>`; empty when it does not parse.
    pub fn machine(&self) -> String {
        self.datetime()
            .and_then(|d| d.format(MACHINE).ok())
            .unwrap_or_default()
    }

    /// [`Self::human`] and [`Self::machine`] from one parse (a listing shows both for each
    /// of its posts).
    pub fn human_and_machine(&self) -> (String, String) {
        match self.datetime() {
            Some(d) => (
                d.format(HUMAN).unwrap_or_else(|_| self.0.clone()),
                d.format(MACHINE).unwrap_or_default(),
            ),
            None => (self.0.clone(), String::new()),
        }
    }
}

fn parse_naive(raw: &str) -> Option<PrimitiveDateTime> {
    if raw.contains('.') {
        let fraction = raw.rsplit('.').next().unwrap_or_default();
        if fraction.is_empty()
            || fraction.len() > 6
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        PrimitiveDateTime::parse(raw, WITH_FRACTION).ok()
    } else {
        PrimitiveDateTime::parse(raw, WHOLE_SECONDS).ok()
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_like_python_isoformat() {
        let with = Timestamp::from_datetime(datetime!(2026-11-28 05:32:51.617374 UTC));
        assert_eq!(with.as_str(), "2026-11-28T05:32:51.617374");
        let without = Timestamp::from_datetime(datetime!(2026-11-28 05:32:51 UTC));
        assert_eq!(without.as_str(), "2026-11-28T05:32:51");
        let small = Timestamp::from_datetime(datetime!(2026-11-28 05:32:51.000042 UTC));
        assert_eq!(small.as_str(), "2026-11-28T05:32:51.000042");
    }

    #[test]
    fn one_parse_gives_both_forms() {
        for raw in [
            "2026-11-28T05:32:51.617374",
            "2026-11-28T05:32:51",
            "not a time",
        ] {
            let t = Timestamp::from_stored(raw);
            assert_eq!(t.human_and_machine(), (t.human(), t.machine()), "{raw}");
        }
    }

    #[test]
    fn parses_both_forms_and_rejects_others() {
        assert!(Timestamp::parse("2026-11-28T05:32:51.617374").is_some());
        assert!(Timestamp::parse("2026-11-28T05:32:51").is_some());
        assert!(Timestamp::parse("2026-11-28T05:32:51+00:00").is_none());
        assert!(Timestamp::parse("2026-11-28 05:32:51").is_none());
        assert!(Timestamp::parse("2026-11-28T05:32:51.").is_none());
        assert!(Timestamp::parse("yesterday").is_none());
    }

    #[test]
    fn string_order_is_time_order_across_forms() {
        let a = Timestamp::parse("2026-11-28T05:32:51").expect("valid");
        let b = Timestamp::parse("2026-11-28T05:32:51.000001").expect("valid");
        let c = Timestamp::parse("2026-11-28T05:32:52").expect("valid");
        assert!(a < b && b < c);
    }

    #[test]
    fn human_form() {
        let t = Timestamp::parse("2026-11-28T05:32:51.617374").expect("valid");
        assert_eq!(t.human(), "28 November 2026, 05:32 UTC");
        assert_eq!(t.machine(), "2026-11-28T05:32:51Z");
        assert_eq!(Timestamp::from_stored("garbage").human(), "garbage");
    }
}
