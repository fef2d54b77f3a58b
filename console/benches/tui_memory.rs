//! Memory after ingesting 1,000,000 log lines: bounded by the ring buffer (default 10,000
//! lines). Target (issue 5): RSS ≤ 60 MB. Prints the figures; fails if the buffer grows past
//! its capacity.
//!
//! `cargo bench -p bluegreen --features fixtures --bench tui_memory` (the fixture states are
//! behind that feature).

use std::time::Instant;

use bluegreen::tui::event::{Event, Polled};
use bluegreen::tui::fixtures::{self, NOW};
use bluegreen::tui::update::handle_event;

const TOTAL: u64 = 1_000_000;
const BATCH: u64 = 5_000;

/// Resident set size in kB, from /proc (Linux).
fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that excludes us means: do nothing.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "tui_memory".contains(a.as_str())) {
        return;
    }
    let mut state = fixtures::healthy_blue_live();
    let before = rss_kb().unwrap_or(0);
    let start = Instant::now();
    let mut peak = before;
    let mut sent = 0;
    while sent < TOTAL {
        let lines = fixtures::log_lines(BATCH, NOW + sent as i64);
        handle_event(&mut state, Event::Polled(Polled::Logs(Ok(lines)), NOW));
        sent += BATCH;
        if sent % 100_000 == 0 {
            peak = peak.max(rss_kb().unwrap_or(0));
        }
    }
    let elapsed = start.elapsed();
    let after = rss_kb().unwrap_or(0);
    println!(
        "tui_memory: ingested {TOTAL} lines in {:.2} s ({:.0} lines/s, line generation included)",
        elapsed.as_secs_f64(),
        TOTAL as f64 / elapsed.as_secs_f64()
    );
    println!(
        "tui_memory: buffer holds {} of {} lines (capacity {})",
        state.log_buffer.len(),
        state.log_buffer.total(),
        state.log_buffer.capacity()
    );
    println!(
        "tui_memory: RSS before {:.1} MB, after {:.1} MB, peak {:.1} MB (target ≤ 60 MB: {:.2}× the budget)",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak as f64 / 1024.0 / 60.0
    );
    assert_eq!(state.log_buffer.len(), state.log_buffer.capacity());
}
