//! The journal: one entry per write (who, when, from where, which verb, the weights before and
//! after, the outcome, the reason, and the gate values when a plan decided), and the pure rules
//! around it: the entry's time-ordered id, `--since 2h`, filtering, the torn-line rule of the
//! local JSON Lines file, and a release's evidence assembled from its entries.
//!
//! Pure: the command layer builds entries and hands them to the platform, which stores them
//! (`<state_dir>/journal.jsonl` locally, the `${name}-journal` DynamoDB table on AWS).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::gate::{GateResult, Verdict};
use super::{MetricPoint, Operator, UnixMillis, Weights};

/// The entry format this build writes. Readers accept any version and ignore fields they do
/// not know, so an older console reads a newer journal.
pub const VERSION: u32 = 1;

/// Longest verb, message or detail kept in an entry.
pub const MAX_TEXT: usize = 500;
/// Most gate intervals one entry carries (a step's worth; a longer step keeps the latest).
pub const MAX_INTERVALS: usize = 200;
/// Most entries one read returns (`history --limit` is bounded by it).
pub const MAX_ENTRIES: usize = 10_000;
/// Entries `history` shows unless `--limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// How far back `--since` may go: a year.
pub const MAX_SINCE_SECS: u64 = 366 * 24 * 3600;
/// Longest line a reader accepts; a longer one is skipped as damaged.
pub const MAX_LINE: usize = 1 << 20;

/// What a write came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The write took effect (a weight change was read back as desired).
    Applied,
    /// A weight change read back other weights.
    NotApplied,
    /// The read-back failed: nobody knows.
    Unknown,
    /// A guard (or a release rule) refused it; nothing was written.
    Refused,
    /// The platform failed the call.
    Failed,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Applied => "applied",
            Outcome::NotApplied => "not applied",
            Outcome::Unknown => "unknown",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        })
    }
}

/// The metrics the gates judged in one interval, the weights they judged them at, and the
/// verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub at: UnixMillis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Weights>,
    /// The window's totals per color (requests, 5xx, p99), as the gates read them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue: Option<MetricPoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub green: Option<MetricPoint>,
    #[serde(default)]
    pub gates: Vec<GateResult>,
}

impl Interval {
    /// The worst verdict of the interval's gates (pass when none judged).
    pub fn verdict(&self) -> Verdict {
        super::gate::overall(&self.gates)
    }
}

/// The release (and step) a plan-driven write belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRef {
    pub id: String,
    /// The step, 0-based, when the write belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
}

/// One write, as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The format version ([`VERSION`]).
    pub v: u32,
    /// Time-ordered and unique across hosts (see [`entry_id`]).
    pub id: String,
    pub at: UnixMillis,
    pub operator: Operator,
    /// The verb (`shift`, `promote`, `rollback`, `release-step`, …).
    pub verb: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Weights>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Weights>,
    pub outcome: Outcome,
    /// Why it was refused or failed, or what came of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `--reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseRef>,
    /// The gate intervals a plan judged (a release step's entry carries its step's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<Interval>,
    /// Free detail: `deploy v2 to green ×2`, `took the lock over from bob`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A time-ordered id unique across hosts: the time in milliseconds, zero-padded so ids sort
/// as strings, then a random part the caller draws (two hosts writing in the same
/// millisecond differ there).
pub fn entry_id(at: UnixMillis, nonce: u64) -> String {
    format!("{:013}-{nonce:016x}", at.max(0))
}

/// `s` cut to `max` characters, on one line.
pub fn bound(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

impl Entry {
    /// A new entry of `verb` by `operator` at `at`; `nonce` makes the id unique.
    pub fn new(at: UnixMillis, nonce: u64, operator: Operator, verb: &str) -> Entry {
        Entry {
            v: VERSION,
            id: entry_id(at, nonce),
            at,
            operator,
            verb: bound(verb, 40),
            before: None,
            after: None,
            outcome: Outcome::Applied,
            message: None,
            reason: None,
            release: None,
            intervals: Vec::new(),
            detail: None,
        }
    }

    /// Cuts every string to its bound and keeps the latest [`MAX_INTERVALS`] intervals, so an
    /// entry (and a line of the file) stays small whatever went into it.
    pub fn bounded(mut self) -> Entry {
        self.verb = bound(&self.verb, 40);
        for s in [&mut self.message, &mut self.reason, &mut self.detail]
            .into_iter()
            .flatten()
        {
            *s = bound(s, MAX_TEXT);
        }
        if let Some(r) = &mut self.release {
            r.id = bound(&r.id, 64);
        }
        if self.intervals.len() > MAX_INTERVALS {
            let extra = self.intervals.len() - MAX_INTERVALS;
            self.intervals.drain(..extra);
        }
        for g in self.intervals.iter_mut().flat_map(|i| i.gates.iter_mut()) {
            g.measured = bound(&g.measured, 120);
            g.threshold = bound(&g.threshold, 120);
            if let Some(r) = &mut g.reason {
                *r = bound(r, 200);
            }
        }
        self
    }

    /// The before→after column, blue/green in percent: `100/0 → 90/10`, or `-` when the
    /// write moved no weight.
    pub fn weights_text(&self) -> String {
        let w = |w: Option<Weights>| {
            w.map_or("?".to_string(), |w| {
                format!(
                    "{}/{}",
                    percent(w.get(super::Color::Blue)),
                    percent(w.get(super::Color::Green))
                )
            })
        };
        match (self.before, self.after) {
            (None, None) => "-".into(),
            (b, a) => format!("{} → {}", w(b), w(a)),
        }
    }

    /// What follows the weights and the outcome on every view of an entry: `  [r… step 1]
    /// detail  — message  (reason: why)`, each part only when the entry has it.
    pub fn tail_text(&self) -> String {
        let mut tail = String::new();
        if let Some(r) = &self.release {
            let step = r
                .step
                .map(|s| format!(" step {}", s + 1))
                .unwrap_or_default();
            tail += &format!("  [{}{step}]", r.id);
        }
        if let Some(d) = &self.detail {
            tail += &format!("  {d}");
        }
        if let Some(m) = &self.message {
            tail += &format!("  — {m}");
        }
        if let Some(r) = &self.reason {
            tail += &format!("  (reason: {r})");
        }
        tail
    }
}

/// Per mille as a percentage, with one decimal only when it is not whole.
fn percent(permille: u16) -> String {
    if permille % 10 == 0 {
        (permille / 10).to_string()
    } else {
        format!("{}.{}", permille / 10, permille % 10)
    }
}

/// One entry as one line: the JSON and a newline.
pub fn to_line(entry: &Entry) -> Result<String, serde_json::Error> {
    let mut line = serde_json::to_string(entry)?;
    line.push('\n');
    Ok(line)
}

/// The entries of a JSON Lines text, oldest first, and how many lines were skipped. A line
/// that does not parse (a torn last line after a crash, or damage) is skipped, never fatal.
pub fn parse_lines(text: &str) -> (Vec<Entry>, usize) {
    let mut entries = Vec::new();
    let mut skipped = 0;
    for line in text.split('\n') {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match (line.len() <= MAX_LINE)
            .then(|| serde_json::from_str::<Entry>(line))
            .and_then(Result::ok)
        {
            Some(e) => entries.push(e),
            None => skipped += 1,
        }
    }
    (entries, skipped)
}

/// Whether the next line appended after `last_byte` must start with a newline first: a file
/// whose last write was torn does not end with one, and the next entry must not be glued to
/// the torn fragment.
pub fn needs_newline(last_byte: Option<u8>) -> bool {
    last_byte.is_some_and(|b| b != b'\n')
}

/// What a read asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// Entries at or after this time only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<UnixMillis>,
    /// The newest this many, at most [`MAX_ENTRIES`].
    pub limit: usize,
    /// One release's entries only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
}

impl Query {
    /// The newest `limit` entries (bounded).
    pub fn latest(limit: usize) -> Query {
        Query {
            since: None,
            limit: limit.clamp(1, MAX_ENTRIES),
            release: None,
        }
    }

    /// Whether `e` is wanted, apart from the limit.
    pub fn matches(&self, e: &Entry) -> bool {
        self.since.is_none_or(|s| e.at >= s)
            && self
                .release
                .as_ref()
                .is_none_or(|id| e.release.as_ref().is_some_and(|r| &r.id == id))
    }
}

/// The entries `q` wants, ordered by id (oldest first), the newest `q.limit` of them.
pub fn select(mut entries: Vec<Entry>, q: &Query) -> Vec<Entry> {
    entries.retain(|e| q.matches(e));
    entries.sort_by(|a, b| a.id.cmp(&b.id));
    let limit = q.limit.clamp(1, MAX_ENTRIES);
    if entries.len() > limit {
        entries.drain(..entries.len() - limit);
    }
    entries
}

/// Why a `--since` value is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--since {0:?} is not a duration: give a number and a unit, s, m, h or d (e.g. 30m, 2h, 7d), of at most 366d"
)]
pub struct SinceError(pub String);

/// `--since 2h`: a number and one unit (`s`, `m`, `h`, `d`), at most [`MAX_SINCE_SECS`].
pub fn parse_since(text: &str) -> Result<u64, SinceError> {
    let t = text.trim();
    let bad = || SinceError(text.to_string());
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let secs = n.checked_mul(mult).ok_or_else(bad)?;
    if secs == 0 || secs > MAX_SINCE_SECS {
        return Err(bad());
    }
    Ok(secs)
}

/// One release's evidence, for a postmortem or a CI artefact (`history --release ID --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The evidence format version ([`VERSION`]).
    pub v: u32,
    pub release: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<UnixMillis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<UnixMillis>,
    /// How it ended (the `release-end` entry's message), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Every entry of the release, oldest first (who pressed what, the weights, the
    /// outcome), without their intervals, which are in `intervals`.
    pub timeline: Vec<Entry>,
    /// Every gate interval, oldest first, with the step it belongs to.
    pub intervals: Vec<StepInterval>,
    /// The gates that failed, with their values, oldest first.
    pub failed: Vec<GateResult>,
}

/// An interval and its step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepInterval {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    #[serde(flatten)]
    pub interval: Interval,
}

/// The verb of the entry that ends a release.
pub const RELEASE_END: &str = "release-end";
/// The verb of the entry that starts a release.
pub const RELEASE_START: &str = "release-start";
/// A release started with `--force` past what pre-flight found (its reason is the entry's).
pub const RELEASE_FORCED: &str = "release-forced";
/// A release whose profile skips the smoke test (`[profiles.X.smoke]`, `from = "skip"`):
/// the entry carries the profile's reason.
pub const SMOKE_SKIPPED: &str = "smoke-skipped";

/// Assembles release `id`'s evidence from journal entries (any order, any releases); `None`
/// when no entry names it.
pub fn evidence(id: &str, entries: &[Entry]) -> Option<Evidence> {
    let mut mine: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.release.as_ref().is_some_and(|r| r.id == id))
        .collect();
    if mine.is_empty() {
        return None;
    }
    mine.sort_by(|a, b| a.id.cmp(&b.id));
    let step_of = |e: &Entry| e.release.as_ref().and_then(|r| r.step);
    let end = mine.iter().rev().find(|e| e.verb == RELEASE_END);
    let started_at = mine
        .iter()
        .find(|e| e.verb == RELEASE_START)
        .map(|e| e.at)
        .or_else(|| mine.first().map(|e| e.at));
    let mut intervals: Vec<StepInterval> = mine
        .iter()
        .flat_map(|e| {
            e.intervals.iter().map(move |i| StepInterval {
                step: step_of(e),
                interval: i.clone(),
            })
        })
        .collect();
    intervals.sort_by_key(|i| i.interval.at);
    intervals.dedup_by(|a, b| a.interval == b.interval);
    let failed = intervals
        .iter()
        .flat_map(|i| i.interval.gates.iter())
        .filter(|g| g.verdict == Verdict::Fail)
        .cloned()
        .collect();
    Some(Evidence {
        v: VERSION,
        release: id.to_string(),
        started_at,
        ended_at: end.map(|e| e.at),
        outcome: end.and_then(|e| e.message.clone()),
        timeline: mine
            .iter()
            .map(|e| Entry {
                intervals: Vec::new(),
                ..(*e).clone()
            })
            .collect(),
        intervals,
        failed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::gate::Gate;

    fn op() -> Operator {
        Operator::new("alice", "laptop").expect("valid")
    }

    fn entry(at: i64, verb: &str) -> Entry {
        Entry::new(at, at as u64, op(), verb)
    }

    #[test]
    fn ids_sort_by_time_as_strings() {
        let a = entry_id(999, u64::MAX);
        let b = entry_id(1_000, 0);
        assert!(a < b, "{a} < {b}");
        assert_eq!(entry_id(5, 1), "0000000000005-0000000000000001");
        assert_ne!(entry_id(5, 1), entry_id(5, 2));
    }

    #[test]
    fn since_takes_a_number_and_a_unit_within_bounds() {
        assert_eq!(parse_since("2h"), Ok(7200));
        assert_eq!(parse_since("30m"), Ok(1800));
        assert_eq!(parse_since(" 45s "), Ok(45));
        assert_eq!(parse_since("7d"), Ok(7 * 86_400));
        for bad in [
            "",
            "h",
            "2",
            "2w",
            "-2h",
            "0h",
            "367d",
            "99999999999999999999d",
        ] {
            let e = parse_since(bad).expect_err(bad);
            assert!(e.to_string().contains("30m, 2h, 7d"), "{e}");
        }
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_the_rest_reads() {
        let mut text = to_line(&entry(1, "shift")).expect("json");
        text.push_str(&to_line(&entry(2, "promote")).expect("json"));
        let whole = to_line(&entry(3, "rollback")).expect("json");
        text.push_str(&whole[..whole.len() / 2]);
        let (entries, skipped) = parse_lines(&text);
        assert_eq!(skipped, 1);
        assert_eq!(
            entries.iter().map(|e| e.verb.as_str()).collect::<Vec<_>>(),
            ["shift", "promote"]
        );
        assert!(needs_newline(text.as_bytes().last().copied()));
        assert!(!needs_newline(Some(b'\n')));
        assert!(!needs_newline(None));
    }

    #[test]
    fn weights_read_blue_slash_green_in_percent() {
        let mut e = entry(1, "shift");
        assert_eq!(e.weights_text(), "-");
        e.before = Weights::permille(1000, 0).ok();
        e.after = Weights::permille(995, 5).ok();
        assert_eq!(e.weights_text(), "100/0 → 99.5/0.5");
        e.after = None;
        assert_eq!(e.weights_text(), "100/0 → ?");
    }

    #[test]
    fn unknown_fields_and_newer_versions_are_read() {
        let line = r#"{"v":9,"id":"0000000000001-00","at":1,"operator":{"name":"a","host":"h"},"verb":"shift","outcome":"applied","colour":"teal"}"#;
        let (entries, skipped) = parse_lines(line);
        assert_eq!((entries.len(), skipped), (1, 0));
        assert_eq!(entries[0].v, 9);
    }

    #[test]
    fn strings_are_bounded_and_kept_on_one_line() {
        let mut e = entry(1, "shift");
        e.message = Some("x".repeat(10_000));
        e.reason = Some("two\nlines".into());
        let e = e.bounded();
        assert_eq!(
            e.message.as_ref().map(|m| m.chars().count()),
            Some(MAX_TEXT)
        );
        assert_eq!(e.reason.as_deref(), Some("two lines"));
        assert!(!to_line(&e).expect("json").trim_end().contains('\n'));
    }

    #[test]
    fn select_filters_then_keeps_the_newest_in_order() {
        let mut es: Vec<Entry> = (1..=10).rev().map(|i| entry(i * 1000, "shift")).collect();
        es[0].release = Some(ReleaseRef {
            id: "r1".into(),
            step: None,
        });
        let q = Query {
            since: Some(4000),
            limit: 3,
            release: None,
        };
        let got: Vec<i64> = select(es.clone(), &q).iter().map(|e| e.at).collect();
        assert_eq!(got, [8000, 9000, 10_000]);
        let q = Query {
            release: Some("r1".into()),
            ..Query::latest(10)
        };
        assert_eq!(select(es, &q).len(), 1);
    }

    fn failing_gate() -> GateResult {
        GateResult {
            gate: Gate::Errors,
            verdict: Verdict::Fail,
            measured: "40% (80/200)".into(),
            threshold: "≤ 1%".into(),
            reason: Some("canary over the bound".into()),
        }
    }

    #[test]
    fn evidence_collects_a_releases_timeline_intervals_and_failing_values() {
        let r = |step| {
            Some(ReleaseRef {
                id: "r7".into(),
                step,
            })
        };
        let mut start = entry(1000, RELEASE_START);
        start.release = r(None);
        let mut shift = entry(2000, "shift");
        shift.release = r(Some(0));
        shift.before = Weights::percent(100, 0).ok();
        shift.after = Weights::percent(90, 10).ok();
        let mut step = entry(5000, "release-step");
        step.release = r(Some(0));
        let point = |requests, errors_5xx| MetricPoint {
            at: 4000,
            requests,
            errors_5xx,
            p99_ms: Some(12.0),
        };
        step.intervals = vec![Interval {
            at: 4000,
            weights: shift.after,
            blue: Some(point(1800, 0)),
            green: Some(point(200, 80)),
            gates: vec![failing_gate()],
        }];
        let mut rollback = entry(5001, "rollback");
        rollback.release = r(Some(0));
        let mut end = entry(5002, RELEASE_END);
        end.release = r(None);
        end.message = Some("rolled back: errors fail".into());
        let other = entry(3000, "scale");
        let all = vec![end, other, rollback, step, shift, start];
        let ev = evidence("r7", &all).expect("evidence");
        assert_eq!(
            ev.timeline
                .iter()
                .map(|a| a.verb.as_str())
                .collect::<Vec<_>>(),
            [
                RELEASE_START,
                "shift",
                "release-step",
                "rollback",
                RELEASE_END
            ]
        );
        assert_eq!(ev.started_at, Some(1000));
        assert_eq!(ev.ended_at, Some(5002));
        assert_eq!(ev.failed, vec![failing_gate()]);
        assert_eq!(ev.intervals[0].step, Some(0));
        assert_eq!(
            ev.intervals[0].interval.green.map(|p| p.errors_5xx),
            Some(80)
        );
        assert!(evidence("r8", &all).is_none());
    }
}
