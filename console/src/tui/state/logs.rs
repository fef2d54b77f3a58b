//! The log tail: a bounded ring buffer of lines from both colors, and how the panel looks at it
//! (follow or paused, regex filter, color filter, errors only, wrap, timestamps).

use std::collections::VecDeque;

use regex::Regex;

use crate::rollout::{Color, LogLine};

/// Lines kept in arrival order, oldest first; the oldest fall out once `capacity` is reached, so
/// memory stays bounded however long the console runs.
#[derive(Debug, Clone)]
pub struct LogBuffer {
    lines: VecDeque<LogLine>,
    capacity: usize,
    /// Lines ever pushed; the sequence number of the next line.
    total: u64,
}

impl LogBuffer {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        LogBuffer {
            // Grow on demand: a console that sees few lines should not reserve the full ring.
            lines: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
            total: 0,
        }
    }

    pub fn push(&mut self, line: LogLine) {
        if self.lines.len() == self.capacity {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
        self.total += 1;
    }

    pub fn extend(&mut self, lines: impl IntoIterator<Item = LogLine>) {
        for line in lines {
            self.push(line);
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Lines ever pushed (including those that fell out).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The sequence number of the oldest line still held.
    pub fn first_seq(&self) -> u64 {
        self.total - self.lines.len() as u64
    }

    /// The line with sequence number `seq`, if still held.
    pub fn get(&self, seq: u64) -> Option<&LogLine> {
        let first = self.first_seq();
        if seq < first {
            return None;
        }
        self.lines.get((seq - first) as usize)
    }

    /// `(seq, line)` pairs, newest first, ending at `last` (inclusive).
    pub fn iter_back_from(&self, last: u64) -> impl Iterator<Item = (u64, &LogLine)> {
        let first = self.first_seq();
        let end = if self.lines.is_empty() || last < first {
            0
        } else {
            ((last - first) as usize + 1).min(self.lines.len())
        };
        self.lines
            .range(..end)
            .enumerate()
            .rev()
            .map(move |(i, l)| (first + i as u64, l))
    }

    /// `(seq, line)` pairs, oldest first, starting after `seq`.
    pub fn iter_after(&self, seq: u64) -> impl Iterator<Item = (u64, &LogLine)> {
        self.iter_from(seq + 1)
    }

    /// `(seq, line)` pairs, oldest first, starting at `seq` (or the oldest held).
    pub fn iter_from(&self, seq: u64) -> impl Iterator<Item = (u64, &LogLine)> {
        let first = self.first_seq();
        let start = ((seq.max(first) - first) as usize).min(self.lines.len());
        self.lines
            .range(start..)
            .enumerate()
            .map(move |(i, l)| (first + (start + i) as u64, l))
    }
}

/// A compiled log filter: the text the user typed and the regex it compiled to.
#[derive(Debug, Clone)]
pub struct LogFilter {
    pub text: String,
    pub regex: Regex,
}

/// How the logs panel shows the buffer.
#[derive(Debug, Clone)]
pub struct LogView {
    /// Newest lines stay in view as they arrive.
    pub follow: bool,
    /// When paused: the newest line in view (its sequence number).
    pub anchor: Option<u64>,
    /// `buffer.total()` when the view paused: lines after it are "new".
    pub paused_at_total: u64,
    pub filter: Option<LogFilter>,
    /// Show lines that do NOT match the filter.
    pub invert: bool,
    pub wrap: bool,
    pub timestamps: bool,
    /// Show one color only.
    pub color: Option<Color>,
    pub errors_only: bool,
    /// Blue and green side by side, where the panel has [`SPLIT_MIN_WIDTH`] columns.
    pub split: bool,
}

/// The narrowest logs panel that shows blue | green side by side.
pub const SPLIT_MIN_WIDTH: u16 = 140;

impl Default for LogView {
    fn default() -> Self {
        LogView {
            follow: true,
            anchor: None,
            paused_at_total: 0,
            filter: None,
            invert: false,
            wrap: false,
            timestamps: true,
            color: None,
            errors_only: false,
            split: false,
        }
    }
}

impl LogView {
    /// Whether a line passes every active filter.
    pub fn shows(&self, line: &LogLine) -> bool {
        if let Some(c) = self.color
            && line.color != c
        {
            return false;
        }
        if self.errors_only && !is_error_line(&line.message) {
            return false;
        }
        match &self.filter {
            Some(f) => f.regex.is_match(&line.message) != self.invert,
            None => true,
        }
    }

    /// The newest line in view: the anchor when paused, the newest line when following.
    pub fn bottom(&self, buf: &LogBuffer) -> Option<u64> {
        if buf.is_empty() {
            return None;
        }
        let newest = buf.total() - 1;
        match (self.follow, self.anchor) {
            (false, Some(a)) => Some(a.clamp(buf.first_seq(), newest)),
            _ => Some(newest),
        }
    }

    /// Lines that arrived since the view paused.
    pub fn new_since_pause(&self, buf: &LogBuffer) -> u64 {
        if self.follow {
            0
        } else {
            buf.total().saturating_sub(self.paused_at_total)
        }
    }

    /// Stops following, keeping the current bottom line in view.
    pub fn pause(&mut self, buf: &LogBuffer) {
        if self.follow {
            self.anchor = self.bottom(buf);
            self.follow = false;
            self.paused_at_total = buf.total();
        }
    }

    pub fn resume(&mut self) {
        self.follow = true;
        self.anchor = None;
    }

    /// Scrolls `n` shown lines towards older lines (pausing the view).
    pub fn scroll_up(&mut self, buf: &LogBuffer, n: usize) {
        self.pause(buf);
        let Some(bottom) = self.bottom(buf) else {
            return;
        };
        let target = buf
            .iter_back_from(bottom)
            .filter(|(_, l)| self.shows(l))
            .take(n + 1)
            .last()
            .map(|(s, _)| s);
        if let Some(t) = target {
            self.anchor = Some(t);
        }
    }

    /// Scrolls `n` shown lines towards newer lines; reaching the newest line resumes following.
    pub fn scroll_down(&mut self, buf: &LogBuffer, n: usize) {
        if self.follow {
            return;
        }
        let Some(bottom) = self.bottom(buf) else {
            return;
        };
        let mut shown = buf.iter_after(bottom).filter(|(_, l)| self.shows(l));
        let mut last = None;
        for _ in 0..n {
            match shown.next() {
                Some((s, _)) => last = Some(s),
                None => {
                    self.resume();
                    return;
                }
            }
        }
        if shown.next().is_none() {
            self.resume();
        } else if let Some(s) = last {
            self.anchor = Some(s);
        }
    }

    /// Jumps to the oldest shown line.
    pub fn scroll_top(&mut self, buf: &LogBuffer) {
        self.pause(buf);
        if let Some((s, _)) = buf.iter_from(buf.first_seq()).find(|(_, l)| self.shows(l)) {
            self.anchor = Some(s);
        }
    }
}

/// Whether a log line reports an error: a level of error/fatal/panic (plain or JSON logs), or
/// a 5xx response status.
pub fn is_error_line(message: &str) -> bool {
    const WORDS: [&str; 4] = ["error", "fatal", "panic", "critical"];
    let lower = message.to_ascii_lowercase();
    if WORDS.iter().any(|w| lower.contains(w)) {
        return true;
    }
    // `status=503`, `"status":500`, `status: 502`
    lower.match_indices("status").any(|(i, _)| {
        let rest = lower[i + "status".len()..].trim_start_matches(['"', '=', ':', ' ']);
        let digits: Vec<u8> = rest.bytes().take_while(u8::is_ascii_digit).collect();
        digits.len() == 3 && digits[0] == b'5'
    })
}

/// The message without a leading RFC 3339 timestamp and the blanks after it, as the blog's
/// tracing fmt writes it (`2026-12-02T08:00:00.123456Z  INFO blog: …`): the console shows its
/// own time column, and two clocks on one line only take room. A date later in the text, or a
/// timestamp with nothing after it, is left alone.
pub fn strip_leading_timestamp(message: &str) -> &str {
    let b = message.as_bytes();
    let digits = |at: usize, n: usize| {
        b.get(at..at + n)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let is = |at: usize, c: &[u8]| b.get(at).is_some_and(|x| c.contains(x));
    // YYYY-MM-DD(T| )HH:MM:SS
    if !(digits(0, 4)
        && is(4, b"-")
        && digits(5, 2)
        && is(7, b"-")
        && digits(8, 2)
        && is(10, b"Tt ")
        && digits(11, 2)
        && is(13, b":")
        && digits(14, 2)
        && is(16, b":")
        && digits(17, 2))
    {
        return message;
    }
    let mut at = 19;
    if is(at, b".,") && digits(at + 1, 1) {
        at += 1;
        while digits(at, 1) {
            at += 1;
        }
    }
    if is(at, b"Zz") {
        at += 1;
    } else if is(at, b"+-") && digits(at + 1, 2) {
        at += 3;
        if is(at, b":") {
            at += 1;
        }
        if !digits(at, 2) {
            return message;
        }
        at += 2;
    }
    let rest = &message[at..];
    let trimmed = rest.trim_start();
    if trimmed.len() == rest.len() || trimmed.is_empty() {
        return message;
    }
    trimmed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u64, color: Color) -> LogLine {
        LogLine {
            color,
            task_id: format!("{color}-1"),
            at: n as i64,
            message: format!("line {n}"),
        }
    }

    #[test]
    fn ring_drops_the_oldest() {
        let mut b = LogBuffer::new(3);
        b.extend((0..5).map(|n| line(n, Color::Blue)));
        assert_eq!(b.len(), 3);
        assert_eq!(b.total(), 5);
        assert_eq!(b.first_seq(), 2);
        assert_eq!(b.get(1), None);
        assert_eq!(b.get(2).map(|l| l.at), Some(2));
        let back: Vec<u64> = b.iter_back_from(3).map(|(s, _)| s).collect();
        assert_eq!(back, vec![3, 2]);
        let after: Vec<u64> = b.iter_after(2).map(|(s, _)| s).collect();
        assert_eq!(after, vec![3, 4]);
        let all: Vec<u64> = b.iter_after(0).map(|(s, _)| s).collect();
        assert_eq!(all, vec![2, 3, 4]);
    }

    #[test]
    fn pause_counts_new_lines_and_scrolls() {
        let mut b = LogBuffer::new(100);
        b.extend((0..10).map(|n| line(n, Color::Blue)));
        let mut v = LogView::default();
        v.scroll_up(&b, 3);
        assert!(!v.follow);
        assert_eq!(v.bottom(&b), Some(6));
        b.extend((10..14).map(|n| line(n, Color::Green)));
        assert_eq!(v.new_since_pause(&b), 4);
        assert_eq!(v.bottom(&b), Some(6));
        v.scroll_down(&b, 2);
        assert_eq!(v.bottom(&b), Some(8));
        v.scroll_down(&b, 100);
        assert!(v.follow);
        assert_eq!(v.bottom(&b), Some(13));
    }

    #[test]
    fn filters_combine() {
        let mut v = LogView {
            color: Some(Color::Green),
            ..LogView::default()
        };
        assert!(!v.shows(&line(1, Color::Blue)));
        assert!(v.shows(&line(1, Color::Green)));
        v.filter = Some(LogFilter {
            text: "line 1$".into(),
            regex: Regex::new("line 1$").expect("valid"),
        });
        assert!(v.shows(&line(1, Color::Green)));
        assert!(!v.shows(&line(2, Color::Green)));
        v.invert = true;
        assert!(v.shows(&line(2, Color::Green)));
    }

    #[test]
    fn recognises_error_lines() {
        assert!(is_error_line("ERROR db timeout"));
        assert!(is_error_line(r#"{"level":"error","msg":"x"}"#));
        assert!(is_error_line("GET / status=503 12ms"));
        assert!(is_error_line(r#"{"status": 500}"#));
        assert!(!is_error_line("GET / status=200 3ms"));
        assert!(!is_error_line("GET /posts/5003 status=404"));
    }

    #[test]
    fn strips_a_leading_timestamp_only() {
        let cases = [
            // tracing_subscriber fmt, ANSI off, target off (the blog's text format)
            (
                "2026-12-02T08:00:00.123456Z  INFO request: GET / status=200",
                "INFO request: GET / status=200",
            ),
            // with the target, and a warning's single space
            (
                "2026-12-02T08:00:00.123456Z WARN blog: slow query",
                "WARN blog: slow query",
            ),
            // no fraction, milliseconds, offsets, a space instead of T
            ("2026-12-02T08:00:00Z INFO up", "INFO up"),
            ("2026-12-02T08:00:00.123+01:00 INFO up", "INFO up"),
            ("2026-12-02T08:00:00-0500\tINFO up", "INFO up"),
            ("2026-12-02 08:00:00,123 INFO up", "INFO up"),
            // a local time with no zone
            ("2026-12-02T08:00:00.5 up", "up"),
        ];
        for (raw, shown) in cases {
            assert_eq!(strip_leading_timestamp(raw), shown, "{raw}");
        }
        let intact = [
            "GET /posts?since=2026-12-02T08:00:00Z status=200",
            "INFO 2026-12-02T08:00:00Z backup done",
            "2026-12-02T08:00:00Z",
            "2026-12-02T08:00:00Zextra",
            "2026-12-02 is the release day",
            "2026-12-02T08:00 INFO short time",
            "2026-12-02T08:00:00+01 INFO half an offset",
            "{\"timestamp\":\"2026-12-02T08:00:00.1Z\",\"level\":\"INFO\"}",
            "",
            "20é6-12-02T08:00:00Z x",
        ];
        for raw in intact {
            assert_eq!(strip_leading_timestamp(raw), raw, "{raw}");
        }
    }
}
