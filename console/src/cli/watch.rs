//! The guard in the CLI's output: `status`'s guard lines and its `--json` part.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::format::clock;
use crate::rollout::gate::GateResult;
use crate::rollout::watch;
use crate::rollout::{Listener, UnixMillis};

/// What nobody watches now, in words, when something should be (see
/// [`watch::unwatched`]; `platform_watches`: the platform finishes bakes itself, so it
/// watches too).
pub fn unguarded(listener: &Listener, now: UnixMillis, platform_watches: bool) -> Option<String> {
    watch::unguarded_text(listener, now, platform_watches, clock)
}

/// `status`'s guard lines: the watcher, what it watches and each gate's value against its
/// threshold, what it did last; or that nobody watches.
pub fn status_lines(listener: &Listener, now: UnixMillis, platform_watches: bool) -> String {
    let mut out = String::new();
    if let Some(line) = unguarded(listener, now, platform_watches) {
        let _ = writeln!(out, "guard    {line}");
    }
    let Some(rec) = listener.guard.as_deref() else {
        return out;
    };
    if !rec.stale(now) {
        let _ = writeln!(out, "guard    {} (by {})", rec.summary(), rec.watcher);
        for g in &rec.gates {
            let _ = writeln!(out, "         {}", gate_line(g));
        }
        if let Some(u) = &rec.unguarded {
            let _ = writeln!(
                out,
                "         unguarded since {} by {}: {}",
                clock(u.at),
                u.by,
                u.reason
            );
        }
        if let Some(note) = &rec.note {
            let _ = writeln!(out, "         {note}");
        }
    }
    if let Some(a) = &rec.last_action {
        let _ = writeln!(
            out,
            "guard    {} at {}: {}: {}{}",
            a.action,
            clock(a.at),
            a.watched.describe(),
            watch::describe_failed(&a.failed),
            a.detail
                .as_deref()
                .map(|d| format!(" — {d}"))
                .unwrap_or_default()
        );
    }
    out
}

/// `errors   fail   100% (40/40)   ≤ 1% and ≤ blue 0% + 0.5  (over the bound of 1%)`.
fn gate_line(g: &GateResult) -> String {
    let why = g
        .reason
        .as_deref()
        .map(|r| format!("  ({r})"))
        .unwrap_or_default();
    format!(
        "{:<8} {:<12} {:<18} {}{why}",
        g.gate.as_str(),
        g.verdict.to_string(),
        g.measured,
        g.threshold
    )
}

/// `status --json`'s `guard`: the watcher's record (`null` when none) and, when nobody
/// watches what should be watched, the line that says so.
pub fn status_json(listener: &Listener, now: UnixMillis, platform_watches: bool) -> Value {
    json!({
        "record": listener.guard.as_deref(),
        "stale": listener.guard.as_deref().is_some_and(|r| r.stale(now)),
        "unguarded": unguarded(listener, now, platform_watches),
    })
}

/// `probe    412 requests sent …`, beside the measured split: the probe's requests count in
/// it like any other.
pub fn probe_line(listener: &Listener) -> Option<String> {
    let rec = listener.guard.as_deref()?;
    (rec.probe_sent > 0).then(|| {
        format!(
            "probe    {} requests sent through the production listener (User-Agent bluegreen-probe), counted above",
            rec.probe_sent
        )
    })
}
