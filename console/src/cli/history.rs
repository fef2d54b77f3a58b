//! `bluegreen history`: the journal, one line per write, newest last; and
//! `history --release ID --json`, one release's evidence.

use serde_json::json;

use super::outcome::{Failure, Out, Outcome};
use crate::clock::now_millis;
use crate::format;
use crate::ops::{Ops, exit};
use crate::rollout::journal::{self, Evidence, Query};

/// What `history` was asked for.
#[derive(Debug, Clone)]
pub struct HistoryArgs {
    pub since_secs: Option<u64>,
    pub limit: usize,
    pub release: Option<String>,
}

/// A release's evidence for people: the timeline, then the intervals, then what failed.
pub fn evidence_text(ev: &Evidence) -> String {
    let mut out = format!(
        "release {}: {}\n",
        ev.release,
        ev.outcome.as_deref().unwrap_or("not ended")
    );
    for a in &ev.timeline {
        out += &format!(
            "  {}  {:<24} {:<13} {}\n",
            format::time(a.at),
            a.operator.to_string(),
            a.verb,
            a.outcome
        );
    }
    for i in &ev.intervals {
        let point = |p: Option<crate::rollout::MetricPoint>| {
            p.map_or("-".to_string(), |p| {
                let p99 = p.p99_ms.map_or("-".into(), |v| format!("{v:.0} ms"));
                format!("{} req, {} 5xx, p99 {p99}", p.requests, p.errors_5xx)
            })
        };
        out += &format!(
            "  {} step {}: blue {}; green {}; {}\n",
            format::clock(i.interval.at),
            i.step.map_or("-".into(), |s| (s + 1).to_string()),
            point(i.interval.blue),
            point(i.interval.green),
            i.interval.verdict()
        );
    }
    for g in &ev.failed {
        out += &format!("  failed: {g}\n");
    }
    out.trim_end().to_string()
}

pub async fn history(ops: &Ops, args: HistoryArgs, out: &Out) -> Outcome {
    if let Some(id) = &args.release {
        let (ev, page) = ops.evidence(id).await?;
        let Some(ev) = ev else {
            return Err(Failure {
                code: exit::FAILURE,
                message: format!(
                    "the journal has no entry of release `{id}`{}: `bluegreen history` lists the releases it has",
                    page.note.map(|n| format!(" ({n})")).unwrap_or_default()
                ),
                detail: json!({ "release": id }),
            });
        };
        out.print(&evidence_text(&ev), json!(ev));
        return Ok(exit::OK);
    }
    let query = Query {
        since: args
            .since_secs
            .map(|s| now_millis().saturating_sub((s as i64).saturating_mul(1000))),
        limit: args.limit.clamp(1, journal::MAX_ENTRIES),
        release: None,
    };
    let page = ops.history(&query).await?;
    let mut human: Vec<String> = page.entries.iter().map(entry_line).collect();
    if human.is_empty() {
        human.push("no journal entries".into());
    }
    if page.skipped > 0 {
        human.push(format!(
            "({} damaged line(s) skipped, e.g. one torn by a crash)",
            page.skipped
        ));
    }
    if let Some(n) = &page.note {
        human.push(format!("note: {n}"));
    }
    out.print(
        &human.join("\n"),
        json!({ "ok": true, "entries": page.entries, "skipped": page.skipped, "note": page.note }),
    );
    Ok(exit::OK)
}

/// One journal entry on one line: `2026-12-03T13:02:48Z  alice@laptop  shift 100/0 → 90/10
/// applied  [r… step 1]  to 90/10 — message  (reason: why)`.
fn entry_line(e: &journal::Entry) -> String {
    let head = format!(
        "{}  {:<24} {:<13} {:<16} {}",
        format::time(e.at),
        e.operator.to_string(),
        e.verb,
        e.weights_text(),
        e.outcome
    );
    head + &e.tail_text()
}
