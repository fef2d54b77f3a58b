//! The deploy lock in the command layer: every write verb takes it here, once, for the CLI,
//! the TUI and both adapters. The rules are [`crate::rollout::lock::decide`]'s; this module
//! reads the record, decides, and compare-and-swaps the answer, again on a conflict.
//!
//! - A write verb takes a short lease and lets it go after the write ([`LockGuard`]), unless
//!   the operator holds the lock already (`lock take`, or a release it drives).
//! - A rollback is never blocked: it takes the lock over, and if the lock cannot be read or
//!   written at all, it goes ahead and says so.
//! - `--read-only` is checked before the lock, so it stays stronger.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use super::{OpError, Ops};
use crate::clock::now_millis;
use crate::platform::{LockSwap, Platform, PlatformError};
use crate::rollout::guard::{GuardRule, Refusal};
use crate::rollout::lock::{self, Asker, Decision, Intent, LockRecord};
use crate::rollout::{Operator, UnixMillis};

/// How often a swap may meet a record changed under it before the verb gives up: each
/// conflict means another console wrote the lock meanwhile, and it is read again.
pub const MAX_SWAP_TRIES: usize = 6;

/// What a lock request did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockOutcome {
    /// The record in force afterwards (`None`: the lock is free).
    pub record: Option<LockRecord>,
    /// Whose lease a rollback took over, or `lock release --force` cleared.
    pub previous: Option<LockRecord>,
    /// An ended lease this request replaced.
    pub expired: Option<LockRecord>,
    /// This request wrote a short write lease it should let go of after the write.
    #[serde(skip)]
    pub(crate) release_after: bool,
}

/// The lock held for one write verb: let go of when dropped (or by [`LockGuard::release`]),
/// if the verb took it for itself.
pub struct LockGuard {
    platform: Arc<dyn Platform>,
    me: Operator,
    /// The token to delete on release, when this verb took a write lease of its own.
    release: Option<String>,
    /// What taking it did (empty when the lock could not be used, for a rollback).
    pub outcome: Option<LockOutcome>,
    /// Why a rollback went ahead without the lock.
    pub warning: Option<String>,
}

impl LockGuard {
    /// Lets go of the write lease now (drop does it too).
    pub async fn release(mut self) {
        if let Some(token) = self.release.take() {
            let _ = self.platform.lock_swap(Some(&token), None).await;
        }
    }

    /// The fence before each further write of a multi-call verb (the bake finish): the lock
    /// must still be this operator's, or someone (a rollback) took it over meanwhile.
    pub async fn still_held(&self, verb: &str) -> Result<(), OpError> {
        if self.outcome.is_none() {
            return Ok(());
        }
        let now = now_millis();
        match self.platform.lock_read().await? {
            Some(r) if r.holder.same_person(&self.me) => Ok(()),
            Some(r) => Err(Refusal::new(
                GuardRule::Locked,
                format!(
                    "`{verb}` stopped before its next change: the deploy lock was taken meanwhile by {}",
                    r.describe(now)
                ),
            )
            .into()),
            None => Err(Refusal::new(
                GuardRule::Locked,
                format!(
                    "`{verb}` stopped before its next change: the deploy lock it held was released meanwhile (`lock release --force`?)"
                ),
            )
            .into()),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let Some(token) = self.release.take() else {
            return;
        };
        let platform = self.platform.clone();
        let free = async move {
            let _ = platform.lock_swap(Some(&token), None).await;
        };
        // Let go before the verb's answer is shown, where the runtime allows blocking (the
        // binary's multi-thread runtime); else in the background (the lease ends anyway).
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| h.block_on(free));
            }
            Ok(h) => {
                h.spawn(free);
            }
            Err(_) => {}
        }
    }
}

/// A fresh token for a record about to be written.
fn token() -> String {
    format!("{:016x}{:08x}", rand::random::<u64>(), std::process::id())
}

impl Ops {
    /// The deploy lock for the write verb `verb` (`rollback` takes it over). Each write verb
    /// calls this right after its access check; a refusal is journaled as `journal_verb`
    /// with what was `asked`, as the write's own entry would have been.
    pub(crate) async fn lock(
        &self,
        verb: &str,
        journal_verb: &str,
        asked: &str,
    ) -> Result<LockGuard, OpError> {
        let mut guard = LockGuard {
            platform: self.platform.clone(),
            me: self.operator.clone(),
            release: None,
            outcome: None,
            warning: None,
        };
        let intent = if verb == "rollback" {
            Intent::Rollback
        } else {
            Intent::Write {
                verb,
                release: self.journal_release.as_ref().map(|r| r.id.as_str()),
            }
        };
        match self.apply_lock(intent).await {
            Ok(outcome) => {
                if outcome.release_after {
                    guard.release = outcome.record.as_ref().map(|r| r.token.clone());
                }
                guard.outcome = Some(outcome);
                Ok(guard)
            }
            // The panic key never waits for the lock, nor for its table.
            Err(e) if verb == "rollback" => {
                guard.warning = Some(format!(
                    "the rollback went ahead without the deploy lock: {e}"
                ));
                Ok(guard)
            }
            // Who tried what stays on record: the write never started, and says why.
            Err(e) => {
                self.journal_unstarted(journal_verb, asked.to_string(), &e)
                    .await;
                Err(e)
            }
        }
    }

    /// Reads the lock, decides, swaps; again on a conflict, at most [`MAX_SWAP_TRIES`] times.
    pub async fn apply_lock(&self, intent: Intent<'_>) -> Result<LockOutcome, OpError> {
        for _ in 0..MAX_SWAP_TRIES {
            let current = self.platform.lock_read().await.map_err(lock_error)?;
            let token = token();
            let asker = Asker {
                me: &self.operator,
                reason: self.reason.as_deref(),
                now: now_millis(),
                token: &token,
            };
            let decision = lock::decide(current.as_ref(), &asker, intent);
            let expected = current.as_ref().map(|r| r.token.as_str());
            let mut outcome = LockOutcome {
                record: current.clone(),
                previous: None,
                expired: None,
                release_after: false,
            };
            let write = match decision {
                Decision::Proceed => return Ok(outcome),
                Decision::Refuse(r) => return Err(r.into()),
                Decision::Acquire { record, expired } => {
                    outcome.release_after = record.hold == lock::Hold::Write;
                    outcome.expired = expired;
                    Some(record)
                }
                Decision::Renew(record) => Some(record),
                Decision::TakeOver { record, previous } => {
                    outcome.previous = Some(previous);
                    Some(record)
                }
                Decision::Free { forced } => {
                    outcome.previous = forced;
                    None
                }
            };
            match self
                .platform
                .lock_swap(expected, write.as_ref())
                .await
                .map_err(lock_error)?
            {
                LockSwap::Swapped => {
                    outcome.record = write;
                    return Ok(outcome);
                }
                LockSwap::Conflict => continue,
            }
        }
        Err(PlatformError::call(
            "lock",
            "deploy lock",
            crate::platform::FaultKind::Throttled,
            format!(
                "the deploy lock changed under this console {MAX_SWAP_TRIES} times in a row (other consoles are writing it); nothing was changed, try again"
            ),
        )
        .into())
    }

    /// The lock as it is (`bluegreen lock`).
    pub async fn lock_status(&self) -> Result<Option<LockRecord>, OpError> {
        self.platform.lock_read().await.map_err(lock_error)
    }

    /// `lock take --reason TEXT [--for DURATION]`.
    pub async fn lock_take(&self, lease_ms: i64) -> Result<LockOutcome, OpError> {
        self.access.check("lock take")?;
        let result = self.apply_lock(Intent::Take { lease_ms }).await;
        let asked = format!("for {}", crate::format::duration(lease_ms));
        self.journaled("lock-take", asked, result).await
    }

    /// `lock release [--force]`: a forced release names whose lock it cleared.
    pub async fn lock_release(&self, force: bool) -> Result<LockOutcome, OpError> {
        self.access.check("lock release")?;
        let result = self.apply_lock(Intent::Release { force }).await;
        let asked = if force { "--force" } else { "" };
        self.journaled("lock-release", asked.into(), result).await
    }

    /// `lock hand-over --to NAME`.
    pub async fn lock_hand_over(&self, to: &str) -> Result<LockOutcome, OpError> {
        self.access.check("lock hand-over")?;
        let to = Operator::new(to, "any-host").map_err(|e| PlatformError::Config(e.to_string()))?;
        let result = self.apply_lock(Intent::HandOver { to: &to }).await;
        self.journaled("lock-hand-over", format!("to {}", to.name), result)
            .await
    }

    /// Takes (or renews) the lock for the driver of release `id`, renewing every
    /// `interval_ms`; an ended lease of another driver is taken over (`resume`).
    pub async fn lock_drive(&self, id: &str, interval_ms: i64) -> Result<LockOutcome, OpError> {
        let lease_ms = lock::driver_lease_ms(interval_ms);
        let outcome = self
            .apply_lock(Intent::Drive {
                release: id,
                lease_ms,
            })
            .await?;
        self.lease_checked.store(now_millis(), Ordering::Relaxed);
        Ok(outcome)
    }

    /// [`Ops::lock_drive`] once half a lease passed since this session last checked it (the
    /// driver calls this with every record of its release).
    pub(crate) async fn renew_drive(&self, id: &str, interval_ms: i64) -> Result<(), OpError> {
        let half = lock::driver_lease_ms(interval_ms) / 2;
        if now_millis() - self.lease_checked.load(Ordering::Relaxed) < half {
            return Ok(());
        }
        self.lock_drive(id, interval_ms).await.map(|_| ())
    }

    /// Lets go of the lease of a release's driver once the release ended (best effort: it
    /// ends by itself otherwise).
    pub async fn lock_drive_done(&self) {
        if let Ok(Some(r)) = self.platform.lock_read().await
            && r.hold == lock::Hold::Driver
            && r.holder.same_person(&self.operator)
        {
            let _ = self.platform.lock_swap(Some(&r.token), None).await;
        }
    }

    /// What this console's header shows: the holder, or who took this operator's lease over.
    pub fn lock_header(&self, record: Option<&LockRecord>, now: UnixMillis) -> String {
        header(record, &self.operator, now)
    }
}

/// The header's lock line.
pub fn header(record: Option<&LockRecord>, me: &Operator, now: UnixMillis) -> String {
    if let Some(n) = lock::taken_over_notice(record, me) {
        return n;
    }
    match record {
        Some(r) if !r.expired_at(now) => format!(
            "lock: {} ({}, {} left)",
            r.holder,
            r.purpose,
            crate::format::duration(r.expires - now)
        ),
        Some(r) => match lock::driver_gone(Some(r), now) {
            Some(gone) => gone,
            None => "lock: free".into(),
        },
        None => "lock: free".into(),
    }
}

/// A lock that cannot be used: a missing table is a refusal (exit 3) naming the way out; the
/// rest are platform errors, nothing changed.
fn lock_error(e: PlatformError) -> OpError {
    match e {
        PlatformError::Config(msg) => Refusal::new(GuardRule::Locked, msg).into(),
        other => other.into(),
    }
}
