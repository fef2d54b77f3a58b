//! Faults injected into one color's answers (`bluegreen local fault`), so a release's gates can
//! be seen catching a bad canary. A request pays one relaxed atomic load when its color has no
//! fault; with one set, a read lock and a counter.
//!
//! Which requests fail is deterministic, as the weight split is ([`super::route::slot`]): of
//! any 1000 consecutive requests a faulty color gets, exactly its error rate in per mille are
//! answered 503, so a test can assert exact shares. The stride is 617 (about 1000 / φ), so
//! failures spread evenly: at 20% no two fail in a row and at most 7 pass in a row.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::route::slot;
use crate::rollout::limits::{MAX_FAULT_LATENCY_MS, MAX_FAULT_SECS};
use crate::rollout::{Color, InjectedFault, PerColor, Share, UnixMillis};

/// Coprime with 1000, and near 1000 / φ so that consecutive requests land far apart.
const STRIDE: u64 = 617;

/// The header on every answer the proxy made up instead of forwarding.
pub const FAULT_HEADER: &str = "x-bluegreen-fault";

/// A fault as asked for: a duration rather than an end, which the daemon fixes on its clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpec {
    pub color: Color,
    pub error_rate: Share,
    #[serde(default)]
    pub latency_ms: u32,
    /// Seconds it lasts; `None`: until cleared.
    #[serde(default)]
    pub for_secs: Option<u64>,
}

impl FaultSpec {
    /// The fault in force from `now`, or why it is refused (every number bounded here too,
    /// whoever sent it).
    pub fn start(self, now: UnixMillis) -> Result<InjectedFault, String> {
        if self.error_rate == Share::ZERO && self.latency_ms == 0 {
            return Err(
                "a fault needs an error rate above 0 or a latency above 0 (`--error-rate 20`, `--latency-ms 500`); `--clear` removes one".into(),
            );
        }
        if self.latency_ms > MAX_FAULT_LATENCY_MS {
            return Err(format!(
                "a latency of {} ms is not in 0..={MAX_FAULT_LATENCY_MS}",
                self.latency_ms
            ));
        }
        let until = match self.for_secs {
            None => None,
            Some(s) if (1..=MAX_FAULT_SECS).contains(&s) => Some(now + s as i64 * 1000),
            Some(s) => {
                return Err(format!(
                    "a fault lasting {s} s is not in 1..={MAX_FAULT_SECS} s"
                ));
            }
        };
        Ok(InjectedFault {
            color: self.color,
            error_rate: self.error_rate,
            latency_ms: self.latency_ms,
            until,
        })
    }
}

/// What the proxy does with one request meant for a faulty color.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Waited before the request is forwarded or answered.
    pub delay: Duration,
    /// Answer 503 instead of forwarding.
    pub inject: bool,
}

/// Each color's fault, if any.
#[derive(Debug, Default)]
pub struct Faults {
    /// One bit per color with a fault set: all a request reads when its color has none.
    armed: AtomicU8,
    rules: RwLock<PerColor<Option<InjectedFault>>>,
    /// Requests each faulty color got since its fault was set.
    seq: PerColor<AtomicU64>,
}

fn bit(color: Color) -> u8 {
    match color {
        Color::Blue => 1,
        Color::Green => 2,
    }
}

impl Faults {
    /// What to do with the next request meant for `color`; `None`: forward it as it is.
    #[inline]
    pub fn decide(&self, color: Color) -> Option<Decision> {
        if self.armed.load(Ordering::Relaxed) & bit(color) == 0 {
            return None;
        }
        self.decide_at(color, crate::clock::now_millis())
    }

    /// [`Faults::decide`] at `now`.
    pub fn decide_at(&self, color: Color, now: UnixMillis) -> Option<Decision> {
        let rule = (*self.read().get(color))?;
        if rule.until.is_some_and(|until| until <= now) {
            return None;
        }
        let n = self.seq.get(color).fetch_add(1, Ordering::Relaxed);
        Some(Decision {
            delay: Duration::from_millis(rule.latency_ms as u64),
            inject: slot(n, STRIDE) < rule.error_rate.get(),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, PerColor<Option<InjectedFault>>> {
        self.rules.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, PerColor<Option<InjectedFault>>> {
        self.rules.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `fault` in force (replacing its color's), counting that color's requests from 0.
    pub fn set(&self, fault: InjectedFault) {
        let mut rules = self.write();
        self.seq.get(fault.color).store(0, Ordering::Relaxed);
        *rules.get_mut(fault.color) = Some(fault);
        self.armed.fetch_or(bit(fault.color), Ordering::SeqCst);
    }

    /// Puts saved faults back in force, except those due by `now`; returns those restored.
    pub fn restore(&self, saved: &[InjectedFault], now: UnixMillis) -> Vec<InjectedFault> {
        let live: Vec<InjectedFault> = saved
            .iter()
            .filter(|f| f.until.is_none_or(|until| until > now))
            .copied()
            .collect();
        for f in &live {
            self.set(*f);
        }
        live
    }

    /// Removes the faults that match `which`; returns them.
    fn remove(&self, which: impl Fn(&InjectedFault) -> bool) -> Vec<InjectedFault> {
        let mut rules = self.write();
        let mut removed = Vec::new();
        for color in Color::ALL {
            let entry = rules.get_mut(color);
            if let Some(f) = entry.filter(&which) {
                *entry = None;
                self.armed.fetch_and(!bit(color), Ordering::SeqCst);
                removed.push(f);
            }
        }
        removed
    }

    /// Clears `color`'s fault, or every color's; returns what was cleared.
    pub fn clear(&self, color: Option<Color>) -> Vec<InjectedFault> {
        self.remove(|f| color.is_none_or(|c| c == f.color))
    }

    /// Clears the faults that ended by `now`; returns them.
    pub fn expire(&self, now: UnixMillis) -> Vec<InjectedFault> {
        self.remove(|f| f.until.is_some_and(|until| until <= now))
    }

    /// The faults in force at `now`, blue's first.
    pub fn active(&self, now: UnixMillis) -> Vec<InjectedFault> {
        let rules = self.read();
        Color::ALL
            .into_iter()
            .filter_map(|c| *rules.get(c))
            .filter(|f| f.until.is_none_or(|until| until > now))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(percent: &str, latency_ms: u32, for_secs: Option<u64>) -> FaultSpec {
        FaultSpec {
            color: Color::Green,
            error_rate: percent.parse().expect("a share"),
            latency_ms,
            for_secs,
        }
    }

    fn injected(f: &Faults, color: Color, n: usize, now: UnixMillis) -> usize {
        (0..n)
            .filter(|_| f.decide_at(color, now).is_some_and(|d| d.inject))
            .count()
    }

    #[test]
    fn no_fault_costs_one_load_and_forwards() {
        let f = Faults::default();
        assert_eq!(f.decide(Color::Green), None);
        assert_eq!(f.decide(Color::Blue), None);
        assert!(f.active(0).is_empty());
    }

    #[test]
    fn every_block_of_1000_requests_fails_exactly_the_rate_and_only_on_its_color() {
        let f = Faults::default();
        f.set(spec("20", 0, None).start(0).expect("valid"));
        for _block in 0..3 {
            assert_eq!(injected(&f, Color::Green, 1000, 0), 200);
        }
        assert_eq!(f.decide(Color::Blue), None, "blue has no fault");
        // Any 1000 consecutive requests, not only blocks from the start.
        injected(&f, Color::Green, 337, 0);
        assert_eq!(injected(&f, Color::Green, 1000, 0), 200);
        f.set(spec("0.5", 0, None).start(0).expect("valid"));
        assert_eq!(injected(&f, Color::Green, 1000, 0), 5);
        f.set(spec("100", 0, None).start(0).expect("valid"));
        assert_eq!(injected(&f, Color::Green, 10, 0), 10);
        // Well mixed: at 20% no two fail in a row and at most 7 pass in a row; at 50%, no
        // three alike in a row.
        let longest_runs = |f: &Faults| {
            let outcomes: Vec<bool> = (0..1000)
                .map(|_| f.decide_at(Color::Green, 0).expect("faulty").inject)
                .collect();
            let longest = |value: bool| {
                outcomes
                    .split(|x| *x != value)
                    .map(<[bool]>::len)
                    .max()
                    .unwrap_or(0)
            };
            (longest(true), longest(false))
        };
        f.set(spec("20", 0, None).start(0).expect("valid"));
        assert_eq!(longest_runs(&f), (1, 7));
        f.set(spec("50", 0, None).start(0).expect("valid"));
        assert_eq!(longest_runs(&f), (2, 2));
    }

    #[test]
    fn latency_alone_delays_every_request_and_fails_none() {
        let f = Faults::default();
        f.set(spec("0", 500, None).start(0).expect("valid"));
        for _ in 0..100 {
            assert_eq!(
                f.decide_at(Color::Green, 0),
                Some(Decision {
                    delay: Duration::from_millis(500),
                    inject: false
                })
            );
        }
    }

    #[test]
    fn a_fault_ends_when_cleared_or_due() {
        let f = Faults::default();
        let green = spec("20", 0, Some(60)).start(1_000).expect("valid");
        assert_eq!(green.until, Some(61_000));
        f.set(green);
        let mut blue = spec("10", 0, None).start(1_000).expect("valid");
        blue.color = Color::Blue;
        f.set(blue);
        assert_eq!(f.active(60_999), vec![blue, green]);
        assert!(f.decide_at(Color::Green, 60_999).is_some());
        // Due: no longer applied, even before the daemon's tick removes it.
        assert_eq!(f.decide_at(Color::Green, 61_000), None);
        assert_eq!(f.active(61_000), vec![blue]);
        assert_eq!(f.expire(61_000), vec![green]);
        assert_eq!(f.decide(Color::Green), None);
        assert_eq!(f.clear(Some(Color::Green)), vec![]);
        assert_eq!(f.clear(None), vec![blue]);
        assert_eq!(f.decide(Color::Blue), None);
    }

    #[test]
    fn saved_faults_come_back_unless_due() {
        let f = Faults::default();
        let due = spec("20", 0, Some(1)).start(0).expect("valid");
        let mut kept = spec("5", 0, Some(60)).start(0).expect("valid");
        kept.color = Color::Blue;
        assert_eq!(f.restore(&[due, kept], 1_000), vec![kept]);
        assert_eq!(f.active(1_000), vec![kept]);
        assert_eq!(f.decide_at(Color::Green, 1_000), None);
        assert!(f.decide_at(Color::Blue, 1_000).is_some());
    }

    #[test]
    fn every_number_is_bounded_and_refusals_name_the_range() {
        let e = spec("0", 0, None).start(0).expect_err("nothing");
        assert!(e.contains("error rate above 0"), "{e}");
        let e = spec("1", MAX_FAULT_LATENCY_MS + 1, None)
            .start(0)
            .expect_err("latency");
        assert!(e.contains("0..=60000"), "{e}");
        for secs in [0, MAX_FAULT_SECS + 1, u64::MAX] {
            let e = spec("1", 0, Some(secs)).start(0).expect_err("duration");
            assert!(e.contains("1..=86400"), "{e}");
        }
        assert!(
            spec("100", MAX_FAULT_LATENCY_MS, Some(MAX_FAULT_SECS))
                .start(i64::MAX / 2)
                .is_ok()
        );
    }
}
