//! The deploy lock's rules: one operator at a time writes to an environment, visibly.
//!
//! The lock is one record per environment (a DynamoDB item on AWS, the daemon's state
//! locally). Platforms only compare-and-swap it (read, put if the token is unchanged, delete
//! if the token is unchanged); every decision is made here, by [`decide`], from the record
//! read, who asks, what for, and the time. Pure: the caller passes the clock and the new
//! token in.
//!
//! Rules (docs/architecture.md, "The deploy lock"):
//! - a free lock, or one whose lease ended more than [`MAX_SKEW_MS`] ago, is taken;
//! - the same person (by name) proceeds from any host;
//! - someone else's live lease refuses, naming holder, since, host, reason and expiry;
//! - a rollback is never refused: it takes a live lease over and records whose it was.

use serde::{Deserialize, Serialize};

use super::guard::{GuardRule, Refusal};
use super::{Operator, UnixMillis};
use crate::format;

/// The lease of a single write (shift, promote, deploy, …), released right after it.
pub const WRITE_LEASE_MS: i64 = 2 * 60_000;
/// The lease of `lock take` when `--for` is not given.
pub const DEFAULT_TAKE_MS: i64 = 4 * 3_600_000;
/// The shortest and longest `lock take --for`.
pub const MIN_TAKE_MS: i64 = 60_000;
pub const MAX_TAKE_MS: i64 = 24 * 3_600_000;
/// How long a rollback that took the lock over keeps it: long enough for the previous
/// holder's console to show who took it, short enough that a forgotten one frees itself.
pub const TAKEOVER_LEASE_MS: i64 = 15 * 60_000;
/// The shortest and longest lease of a release's driver (renewed every gate interval).
pub const MIN_DRIVER_LEASE_MS: i64 = 60_000;
pub const MAX_DRIVER_LEASE_MS: i64 = 30 * 60_000;
/// How far two machines' clocks may disagree: another operator's lease counts as ended
/// only this long after its expiry, so a clock that runs late cannot steal a live lease.
pub const MAX_SKEW_MS: i64 = 5_000;
/// Longest reason kept (as `--reason` is bounded).
pub const MAX_REASON: usize = 200;
/// Longest token accepted from a platform.
pub const MAX_TOKEN: usize = 64;

/// What holds the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hold {
    /// `bluegreen lock take`: a long lease, until `lock release` or its end.
    Explicit,
    /// One write verb: a short lease, released after the write.
    Write,
    /// A release's driver: a short lease renewed each gate interval.
    Driver,
    /// A rollback that took the lock over from someone else.
    Rollback,
}

/// The lock record, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    pub holder: Operator,
    pub hold: Hold,
    /// What it is held for: `lock take`, a verb (`shift`), or `release ID`.
    pub purpose: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub since: UnixMillis,
    pub renewed: UnixMillis,
    pub expires: UnixMillis,
    /// Changes with every write of the record: the compare-and-swap's expected value.
    pub token: String,
    /// Whose lease a rollback took over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_over_from: Option<Operator>,
    /// Who handed the lock to this holder (`lock hand-over --to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handed_over_from: Option<Operator>,
}

impl LockRecord {
    /// Whether the lease ended, as seen by someone other than the holder (see [`MAX_SKEW_MS`]).
    pub fn expired_at(&self, now: UnixMillis) -> bool {
        now >= self.expires.saturating_add(MAX_SKEW_MS)
    }

    /// Checks a record read from outside: bounded text, a sane lease.
    pub fn validate(&self) -> Result<(), String> {
        if self.token.is_empty() || self.token.len() > MAX_TOKEN {
            return Err(format!(
                "the lock record's token is empty or longer than {MAX_TOKEN} bytes"
            ));
        }
        if self
            .reason
            .as_ref()
            .is_some_and(|r| r.len() > MAX_REASON * 4)
        {
            return Err(format!(
                "the lock record's reason is longer than {MAX_REASON} characters"
            ));
        }
        if self.purpose.len() > 128 {
            return Err("the lock record's purpose is longer than 128 bytes".into());
        }
        if self.expires < self.since {
            return Err("the lock record expires before it was taken".into());
        }
        Ok(())
    }

    /// One line: `alice@laptop since 13:05:02 (12m ago) for lock take: "db migration"; lease
    /// ends 17:05:02 (in 3h48m)`.
    pub fn describe(&self, now: UnixMillis) -> String {
        let mut s = format!(
            "{} since {} ({} ago) for {}",
            self.holder,
            format::time(self.since),
            format::duration(now - self.since),
            self.purpose
        );
        if let Some(r) = &self.reason {
            s.push_str(&format!(": {r:?}"));
        }
        if self.expired_at(now) {
            s.push_str(&format!(
                "; lease expired at {}",
                format::time(self.expires)
            ));
        } else {
            s.push_str(&format!(
                "; lease ends {} (in {})",
                format::time(self.expires),
                format::duration(self.expires - now)
            ));
        }
        if let Some(p) = &self.taken_over_from {
            s.push_str(&format!("; taken over from {p} for a rollback"));
        }
        if let Some(p) = &self.handed_over_from {
            s.push_str(&format!("; handed over by {p}"));
        }
        s
    }
}

/// What the lock is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent<'a> {
    /// One write verb (`shift`, `promote`, `deploy`, `scale`, `build`, bake finish, …);
    /// `release` names the release whose driver makes it (its steps, promote, bake finish).
    Write {
        verb: &'a str,
        release: Option<&'a str>,
    },
    /// A rollback: never refused.
    Rollback,
    /// `lock take` for `lease_ms`.
    Take { lease_ms: i64 },
    /// A release's driver (`release` or `resume`), renewed every gate interval.
    Drive { release: &'a str, lease_ms: i64 },
    /// `lock release` (`--force` for someone else's).
    Release { force: bool },
    /// `lock hand-over --to NAME`.
    HandOver { to: &'a Operator },
}

/// Who asks, when, and the token a record written now gets.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    pub me: &'a Operator,
    pub reason: Option<&'a str>,
    pub now: UnixMillis,
    pub token: &'a str,
}

/// What to do with the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to write: the lock is free (release) or already mine for long enough.
    Proceed,
    /// Write this record where there was none, or an ended lease (`expired` is whose).
    Acquire {
        record: LockRecord,
        expired: Option<LockRecord>,
    },
    /// Write this record over my own.
    Renew(LockRecord),
    /// A rollback writes this record over someone else's live lease.
    TakeOver {
        record: LockRecord,
        previous: LockRecord,
    },
    /// Delete the record (`lock release`); `forced` when it was someone else's live lease.
    Free { forced: Option<LockRecord> },
    /// Someone else holds it (or the request makes no sense now).
    Refuse(Refusal),
}

impl Decision {
    /// The record to write, if any.
    pub fn record(&self) -> Option<&LockRecord> {
        match self {
            Decision::Acquire { record, .. }
            | Decision::Renew(record)
            | Decision::TakeOver { record, .. } => Some(record),
            _ => None,
        }
    }
}

/// A record for `asker`, held as `hold` for `purpose` until `now + lease_ms`.
fn fresh(asker: &Asker<'_>, hold: Hold, purpose: &str, lease_ms: i64) -> LockRecord {
    LockRecord {
        holder: asker.me.clone(),
        hold,
        purpose: purpose.to_string(),
        reason: asker.reason.map(|r| r.chars().take(MAX_REASON).collect()),
        since: asker.now,
        renewed: asker.now,
        expires: asker.now.saturating_add(lease_ms.max(0)),
        token: asker.token.to_string(),
        taken_over_from: None,
        handed_over_from: None,
    }
}

/// The lease of a release's driver that renews every `interval_ms`: three renewals may be
/// missed (a slow call, a blip) before it ends.
pub fn driver_lease_ms(interval_ms: i64) -> i64 {
    interval_ms
        .saturating_mul(3)
        .clamp(MIN_DRIVER_LEASE_MS, MAX_DRIVER_LEASE_MS)
}

/// The one decision: `current` (as read), who asks and what for → what to write.
pub fn decide(current: Option<&LockRecord>, asker: &Asker<'_>, intent: Intent<'_>) -> Decision {
    let now = asker.now;
    let live = current.filter(|r| !r.expired_at(now));
    let ended = current.filter(|r| r.expired_at(now)).cloned();
    let mine = live.filter(|r| r.holder.same_person(asker.me));
    let theirs = live.filter(|r| !r.holder.same_person(asker.me));
    let acquire = |record| Decision::Acquire {
        record,
        expired: ended.clone(),
    };
    match intent {
        Intent::Write { verb, release } => match (mine, theirs) {
            // A release drives under this lease: only its own driver writes, so a write by
            // hand (even the driver's own person, from another terminal) never fights its steps.
            (Some(r), _) if r.hold == Hold::Driver && !drives(r, release) => {
                Decision::Refuse(driving(r, verb, now))
            }
            (Some(r), _) => renew_to(r, asker, WRITE_LEASE_MS, None),
            (_, Some(r)) => Decision::Refuse(held(r, asker.me, verb, now)),
            _ => acquire(fresh(asker, Hold::Write, verb, WRITE_LEASE_MS)),
        },
        Intent::Rollback => match (mine, theirs) {
            (Some(r), _) => renew_to(r, asker, WRITE_LEASE_MS, None),
            (_, Some(r)) => {
                let mut record = fresh(asker, Hold::Rollback, "rollback", TAKEOVER_LEASE_MS);
                record.taken_over_from = Some(r.holder.clone());
                Decision::TakeOver {
                    record,
                    previous: r.clone(),
                }
            }
            _ => acquire(fresh(asker, Hold::Write, "rollback", WRITE_LEASE_MS)),
        },
        Intent::Take { lease_ms } => {
            let lease_ms = lease_ms.clamp(MIN_TAKE_MS, MAX_TAKE_MS);
            match (mine, theirs) {
                (Some(r), _) => {
                    let mut record = r.clone();
                    record.hold = Hold::Explicit;
                    record.purpose = "lock take".into();
                    record.reason = asker
                        .reason
                        .map(|r| r.chars().take(MAX_REASON).collect())
                        .or(record.reason);
                    record.holder = asker.me.clone();
                    record.renewed = now;
                    record.expires = now.saturating_add(lease_ms);
                    record.token = asker.token.to_string();
                    record.taken_over_from = None;
                    Decision::Renew(record)
                }
                (_, Some(r)) => Decision::Refuse(held(r, asker.me, "lock take", now)),
                _ => acquire(fresh(asker, Hold::Explicit, "lock take", lease_ms)),
            }
        }
        Intent::Drive { release, lease_ms } => {
            let lease_ms = lease_ms.clamp(MIN_DRIVER_LEASE_MS, MAX_DRIVER_LEASE_MS);
            let purpose = format!("release {release}");
            match (mine, theirs) {
                // Renewed once half the lease has passed: one write per half lease.
                (Some(r), _) if r.purpose == purpose && r.expires - now >= lease_ms / 2 => {
                    Decision::Proceed
                }
                (Some(r), _) => renew_to(r, asker, lease_ms, Some(&purpose)),
                (_, Some(r)) => Decision::Refuse(held(r, asker.me, &purpose, now)),
                _ => acquire(fresh(asker, Hold::Driver, &purpose, lease_ms)),
            }
        }
        Intent::Release { force } => match (current, mine, theirs) {
            (None, _, _) => Decision::Proceed,
            (_, Some(_), _) => Decision::Free { forced: None },
            (_, _, Some(r)) if force => Decision::Free {
                forced: Some(r.clone()),
            },
            (_, _, Some(r)) => Decision::Refuse(Refusal::new(
                GuardRule::Locked,
                format!(
                    "the deploy lock is not yours: it is held by {}. Ask {} to run `bluegreen lock release` (or `bluegreen lock hand-over --to {}`); if they are gone, `bluegreen lock release --force` frees it and is journaled",
                    r.describe(now),
                    r.holder.name,
                    asker.me.name
                ),
            )),
            // An ended lease: anyone may clear it.
            _ => Decision::Free { forced: None },
        },
        Intent::HandOver { to } => match (mine, theirs) {
            (Some(r), _) => {
                let mut record = r.clone();
                record.holder = to.clone();
                record.hold = Hold::Explicit;
                record.purpose = "lock take".into();
                record.renewed = now;
                record.expires = if r.hold == Hold::Explicit {
                    r.expires
                } else {
                    now.saturating_add(DEFAULT_TAKE_MS)
                };
                record.token = asker.token.to_string();
                record.taken_over_from = None;
                record.handed_over_from = Some(asker.me.clone());
                if let Some(why) = asker.reason {
                    record.reason = Some(why.chars().take(MAX_REASON).collect());
                }
                Decision::Renew(record)
            }
            (_, Some(r)) => Decision::Refuse(Refusal::new(
                GuardRule::Locked,
                format!(
                    "only the holder hands the deploy lock over, and it is held by {}; ask {} to hand it over",
                    r.describe(now),
                    r.holder.name
                ),
            )),
            _ => Decision::Refuse(Refusal::new(
                GuardRule::Locked,
                format!(
                    "nobody holds the deploy lock, so there is nothing to hand over; {} can take it with `bluegreen lock take --reason TEXT`",
                    to.name
                ),
            )),
        },
    }
}

/// My own lease, kept at least `lease_ms` from now (and re-purposed to `purpose`, if given).
fn renew_to(r: &LockRecord, asker: &Asker<'_>, lease_ms: i64, purpose: Option<&str>) -> Decision {
    let wanted = asker.now.saturating_add(lease_ms);
    let repurpose = purpose.is_some_and(|p| p != r.purpose && r.hold != Hold::Explicit);
    if r.expires >= wanted && !repurpose {
        return Decision::Proceed;
    }
    let mut record = r.clone();
    record.renewed = asker.now;
    record.expires = record.expires.max(wanted);
    record.token = asker.token.to_string();
    if repurpose && let Some(p) = purpose {
        record.purpose = p.to_string();
        record.hold = Hold::Driver;
    }
    Decision::Renew(record)
}

/// The refusal of `verb` while `r` holds the lock: who, since when, from where, why, until
/// when, and who to ask.
pub fn held(r: &LockRecord, me: &Operator, verb: &str, now: UnixMillis) -> Refusal {
    let wait = match r.hold {
        Hold::Driver => format!(
            "the release's driver renews it while it runs; if {} is gone, the lease ends by itself and `bluegreen resume` then takes the release over",
            r.holder.name
        ),
        _ => "or wait for the lease to end".to_string(),
    };
    Refusal::new(
        GuardRule::Locked,
        format!(
            "`{verb}` refused: the deploy lock is held by {}. Ask {} to run `bluegreen lock release` or `bluegreen lock hand-over --to {}`, {wait}; `bluegreen rollback` is never blocked",
            r.describe(now),
            r.holder.name,
            me.name
        ),
    )
}

/// Whether `r` is the lease of the driver of `release`.
fn drives(r: &LockRecord, release: Option<&str>) -> bool {
    release.is_some_and(|id| r.purpose.strip_prefix("release ") == Some(id))
}

/// A write by hand while the operator's own release drives under the lock.
fn driving(r: &LockRecord, verb: &str, now: UnixMillis) -> Refusal {
    Refusal::new(
        GuardRule::ReleaseRunning,
        format!(
            "`{verb}` refused: a release is running under the deploy lock held by {}, and a write by hand would fight its steps. Let it go on (`bluegreen resume` if it is paused), `bluegreen abort` it, or `bluegreen rollback`, which is never blocked",
            r.describe(now)
        ),
    )
}

/// What the previous holder's console shows once a rollback took its lease over.
pub fn taken_over_notice(current: Option<&LockRecord>, me: &Operator) -> Option<String> {
    let r = current?;
    let from = r.taken_over_from.as_ref()?;
    (from.same_person(me) && !r.holder.same_person(me)).then(|| {
        format!(
            "lock taken over by {} for a rollback at {}",
            r.holder,
            format::clock(r.since)
        )
    })
}

/// `status`'s line about a release's driver whose lease ended.
pub fn driver_gone(current: Option<&LockRecord>, now: UnixMillis) -> Option<String> {
    let r = current.filter(|r| r.hold == Hold::Driver && r.expired_at(now))?;
    Some(format!(
        "{} driven by {}, lease expired at {}: `bluegreen resume` takes it over",
        r.purpose,
        r.holder,
        format::time(r.expires)
    ))
}

/// The compare-and-swap on a record kept in memory (the daemon's state, the fake platform):
/// replaces `slot` with `new` only if its token is `expected`; answers whether it did.
pub fn swap_in_place(
    slot: &mut Option<LockRecord>,
    expected: Option<&str>,
    new: Option<&LockRecord>,
) -> bool {
    if slot.as_ref().map(|r| r.token.as_str()) != expected {
        return false;
    }
    *slot = new.cloned();
    true
}

/// Parses `--for`: `90m`, `4h`, `1h30m`, `45s` (bounded to [`MIN_TAKE_MS`]..[`MAX_TAKE_MS`]).
pub fn parse_lease(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "`{text}` is not a lease: give a duration like 30m, 4h or 1h30m, between {} and {}",
            format::duration(MIN_TAKE_MS),
            format::duration(MAX_TAKE_MS)
        )
    };
    if t.is_empty() || t.len() > 16 {
        return Err(bad());
    }
    let (mut total, mut digits) = (0i64, String::new());
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            _ => return Err(bad()),
        };
        let n: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total = total.saturating_add(n.saturating_mul(unit));
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    if !(MIN_TAKE_MS..=MAX_TAKE_MS).contains(&total) {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
#[path = "lock_tests.rs"]
mod tests;
