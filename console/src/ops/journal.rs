//! The command layer's side of the journal: every write verb hands its outcome to
//! [`Ops::journaled`] on its last line, which appends one entry and hands the outcome back
//! unchanged. A journal append that fails never undoes or hides the write: it becomes a
//! warning the CLI prints and the TUI shows ([`Ops::take_journal_warnings`]).
//!
//! What is journaled (docs/runbook.md, "The journal"):
//! - every write, applied or not: applied, not applied, unknown (the weight read-back), failed
//!   (the platform's error), refused (a guard or a release rule: who tried what);
//! - not a refusal by `--read-only` or an unarmed read-only profile: such a session writes
//!   nothing, the journal included.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{OpError, Ops, PromoteReport, RollbackReport};
use crate::clock::now_millis;
use crate::platform::{DeployReceipt, JournalPage, WeightChange, WeightOutcome};
use crate::rollout::journal::{self, Entry, Evidence, Interval, Outcome, Query, ReleaseRef};
use crate::rollout::{Bake, Build, Release, Weights};

/// What a verb's result tells the journal beyond its outcome.
pub trait Journaled {
    /// The weights before and after the write, when it moved traffic.
    fn weights(&self) -> (Option<Weights>, Option<Weights>) {
        (None, None)
    }
    /// What came of it, in a few words.
    fn result_detail(&self) -> Option<String> {
        None
    }
}

impl Journaled for WeightChange {
    fn weights(&self) -> (Option<Weights>, Option<Weights>) {
        (self.previous, self.observed)
    }
}

impl Journaled for PromoteReport {
    fn weights(&self) -> (Option<Weights>, Option<Weights>) {
        self.change.weights()
    }
    fn result_detail(&self) -> Option<String> {
        let bake = self.bake.as_ref().map(|b| {
            format!(
                "; bake of {} until {}",
                b.old,
                crate::format::clock(b.until)
            )
        });
        Some(format!(
            "{} promoted{}{}",
            self.promoted,
            bake.unwrap_or_default(),
            warnings(&self.warnings)
        ))
    }
}

impl Journaled for RollbackReport {
    fn weights(&self) -> (Option<Weights>, Option<Weights>) {
        self.change.weights()
    }
    fn result_detail(&self) -> Option<String> {
        let took = self
            .taken_over_from
            .as_ref()
            .map(|l| format!("; took the deploy lock over from {}", l.holder))
            .unwrap_or_default();
        Some(format!(
            "{} has all traffic{took}{}",
            self.target,
            warnings(&self.warnings)
        ))
    }
}

impl Journaled for DeployReceipt {
    fn result_detail(&self) -> Option<String> {
        Some(format!(
            "{} on {} ×{} ({})",
            self.tag, self.color, self.desired, self.task_definition
        ))
    }
}

impl Journaled for Build {
    fn result_detail(&self) -> Option<String> {
        Some(format!("build {}", self.id))
    }
}

impl Journaled for () {}

impl Journaled for bool {}

impl Journaled for Option<Bake> {
    fn result_detail(&self) -> Option<String> {
        self.as_ref().map(|b| {
            if b.keep_old {
                format!("bake ended; {} kept running", b.old)
            } else {
                format!("bake ended; {} scaled to 0", b.old)
            }
        })
    }
}

impl Journaled for Option<super::FinishedBake> {
    fn result_detail(&self) -> Option<String> {
        let f = self.as_ref()?;
        let ended = Some(f.bake.clone()).result_detail()?;
        Some(match (&f.split, f.accepted_unmeasured) {
            (_, true) => format!("{ended}, accepted unmeasured"),
            (Some(v), false) => format!("{ended}; requests since the promote: {}", v.describe()),
            (None, false) => ended,
        })
    }
}

impl Journaled for super::lock::LockOutcome {
    fn result_detail(&self) -> Option<String> {
        let mut parts = vec![match &self.record {
            Some(r) => format!(
                "held by {} for {} until {}",
                r.holder,
                r.purpose,
                crate::format::clock(r.expires)
            ),
            None => "the lock is free".to_string(),
        }];
        if let Some(p) = &self.previous {
            parts.push(format!("cleared the lock of {} ({})", p.holder, p.purpose));
        }
        if let Some(e) = &self.expired {
            parts.push(format!("replaced the ended lease of {}", e.holder));
        }
        Some(parts.join("; "))
    }
}

impl Journaled for Release {
    fn result_detail(&self) -> Option<String> {
        Some(self.describe())
    }
}

fn warnings(w: &[String]) -> String {
    if w.is_empty() {
        String::new()
    } else {
        format!("; warnings: {}", w.join("; "))
    }
}

/// The part of an entry id after its time: this process's sequence number in the high half,
/// so one process's entries of one millisecond keep their order, and a random low half, so
/// two hosts writing in the same millisecond differ.
fn nonce() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seq = COUNTER.fetch_add(1, Ordering::Relaxed);
    (seq << 32) | u64::from(rand::random::<u32>())
}

impl Ops {
    /// The same verbs, journaling each write as part of release `id` (step `step`).
    pub fn in_release(&self, id: &str, step: Option<usize>) -> Ops {
        let mut ops = self.clone();
        ops.journal_release = Some(ReleaseRef {
            id: id.to_string(),
            step,
        });
        ops
    }

    /// A new entry of `verb` by this session's operator, with its reason and release.
    pub fn journal_entry(&self, verb: &str) -> Entry {
        let mut e = Entry::new(now_millis(), nonce(), self.operator.clone(), verb);
        e.reason = self.reason.clone();
        e.release = self.journal_release.clone();
        e
    }

    /// Appends `entry`; a failure becomes a warning, never an error of the write.
    pub async fn append_journal(&self, entry: Entry) {
        let entry = entry.bounded();
        if let Err(e) = self.platform.journal_append(&entry).await {
            // No journal configured is said once per command, not once per write.
            // Say what happened to the write itself: one refused or failed before it ran
            // (the deploy lock could not be read, say) did not go ahead.
            let msg = match e {
                crate::platform::PlatformError::Config(m) => m,
                e => match entry.outcome {
                    Outcome::Refused | Outcome::Failed => format!(
                        "the {} did not go ahead ({}), and its journal entry was not written either: {e}",
                        entry.verb,
                        if entry.outcome == Outcome::Refused {
                            "refused"
                        } else {
                            "failed"
                        }
                    ),
                    _ => format!(
                        "the {} went ahead, but its journal entry was not written: {e}",
                        entry.verb
                    ),
                },
            };
            tracing::warn!("{msg}");
            let mut w = self
                .journal_warnings
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if !w.contains(&msg) {
                w.push(msg);
            }
        }
    }

    /// Journals a write's outcome (one entry) and hands the outcome back unchanged.
    /// `request` says what was asked (`green 10%`, `v2 to the idle color`).
    pub async fn journaled<T: Journaled>(
        &self,
        verb: &str,
        request: String,
        result: Result<T, OpError>,
    ) -> Result<T, OpError> {
        let mut e = self.journal_entry(verb);
        let mut detail = request;
        match &result {
            Ok(t) => {
                (e.before, e.after) = t.weights();
                if let Some(d) = t.result_detail() {
                    detail = if detail.is_empty() {
                        d
                    } else {
                        format!("{detail}: {d}")
                    };
                }
            }
            Err(err) => failed(&mut e, err),
        }
        e.detail = (!detail.is_empty()).then_some(detail);
        self.append_journal(e).await;
        result
    }

    /// Journals a write that ended before its body ran (the deploy lock refused it, or could
    /// not be read): one entry, refused or failed, naming why.
    pub(crate) async fn journal_unstarted(&self, verb: &str, request: String, err: &OpError) {
        let mut e = self.journal_entry(verb);
        failed(&mut e, err);
        e.detail = (!request.is_empty()).then_some(request);
        self.append_journal(e).await;
    }

    /// The journal warnings of this session so far, taken (each is shown once).
    pub fn take_journal_warnings(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .journal_warnings
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }

    /// The journal's entries `query` asks for.
    pub async fn history(&self, query: &Query) -> Result<JournalPage, OpError> {
        Ok(self.platform.journal_read(query).await?)
    }

    /// Release `id`'s evidence, assembled from its entries; `None` when the journal has none.
    pub async fn evidence(&self, id: &str) -> Result<(Option<Evidence>, JournalPage), OpError> {
        let query = Query {
            // A release id is `r` and its start in milliseconds: nothing of it is older.
            since: id.strip_prefix('r').and_then(|t| t.parse().ok()),
            limit: journal::MAX_ENTRIES,
            release: Some(id.to_string()),
        };
        let page = self.platform.journal_read(&query).await?;
        Ok((journal::evidence(id, &page.entries), page))
    }

    /// Journals a release step's gate intervals (one entry per step, whatever its length).
    pub(crate) async fn journal_step(
        &self,
        r: &Release,
        index: usize,
        intervals: Vec<Interval>,
        decision: &str,
    ) {
        let mut e = self
            .in_release(&r.id, Some(index))
            .journal_entry("release-step");
        e.after = intervals.last().and_then(|i| i.weights);
        e.before = e.after;
        e.message = Some(decision.to_string());
        e.detail = Some(format!("{} on {}", r.tag, r.canary));
        e.intervals = intervals;
        self.append_journal(e).await;
    }

    /// Journals a release's start or end.
    pub(crate) async fn journal_release(&self, r: &Release, verb: &str) {
        let mut e = self.in_release(&r.id, None).journal_entry(verb);
        e.detail = Some(format!("{} on {} ({})", r.tag, r.canary, r.plan.name));
        if r.options.accept_unmeasured && r.outcome.is_none() {
            e.detail = e.detail.map(|d| format!("{d}, --accept-unmeasured"));
        }
        if let Some(o) = &r.outcome {
            e.message = Some(o.to_string());
            if matches!(o, crate::rollout::Outcome::Failed { .. }) {
                e.outcome = Outcome::Failed;
            }
        }
        self.append_journal(e).await;
    }
}

/// An entry's outcome and message for a write that did not succeed.
fn failed(e: &mut Entry, err: &OpError) {
    e.outcome = match err {
        OpError::Refused(_) => Outcome::Refused,
        OpError::Weights(change) => {
            (e.before, e.after) = change.weights();
            match change.outcome() {
                WeightOutcome::NotApplied => Outcome::NotApplied,
                _ => Outcome::Unknown,
            }
        }
        OpError::Platform(_) => Outcome::Failed,
    };
    e.message = Some(match err {
        OpError::Refused(r) => r.to_string(),
        other => other.to_string(),
    });
}
