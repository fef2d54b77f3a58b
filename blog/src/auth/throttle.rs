//! Failed sign-ins are counted per account name and per client address, in this process's
//! memory. After [`NAME_LIMIT`] failures for one name (or [`ADDRESS_LIMIT`] from one address)
//! within [`WINDOW`], further attempts are refused without checking the password until the
//! window has passed; a successful sign-in clears the name's count.
//!
//! The count is per process: behind the load balancer each task counts on its own, so with
//! both colors running (N tasks in all) an attacker gets at most N × the limit per window.
//! That is still a handful of guesses an hour per account, and it needs no shared state that
//! a shift between colors could lose.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const NAME_LIMIT: u32 = 5;
pub const ADDRESS_LIMIT: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Keys kept at most; past this, expired ones are dropped, then the oldest.
const MAX_KEYS: usize = 10_000;

pub struct Throttle {
    counts: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new()
    }
}

impl Throttle {
    pub fn new() -> Self {
        Self {
            counts: Mutex::new(HashMap::new()),
        }
    }

    fn keys(name: &str, address: &str) -> [(String, u32); 2] {
        [
            (format!("name:{}", name.to_lowercase()), NAME_LIMIT),
            (format!("addr:{address}"), ADDRESS_LIMIT),
        ]
    }

    /// `Err(wait)` when the name or the address has used up its attempts.
    pub fn check(&self, name: &str, address: &str, now: Instant) -> Result<(), Duration> {
        let Ok(counts) = self.counts.lock() else {
            return Ok(());
        };
        for (key, limit) in Self::keys(name, address) {
            if let Some((failures, since)) = counts.get(&key) {
                let age = now.saturating_duration_since(*since);
                if *failures >= limit && age < WINDOW {
                    return Err(WINDOW - age);
                }
            }
        }
        Ok(())
    }

    pub fn failed(&self, name: &str, address: &str, now: Instant) {
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        if counts.len() >= MAX_KEYS {
            counts.retain(|_, (_, since)| now.saturating_duration_since(*since) < WINDOW);
            if counts.len() >= MAX_KEYS
                && let Some(oldest) = counts
                    .iter()
                    .min_by_key(|(_, (_, s))| *s)
                    .map(|(k, _)| k.clone())
            {
                counts.remove(&oldest);
            }
        }
        for (key, _) in Self::keys(name, address) {
            let entry = counts.entry(key).or_insert((0, now));
            if now.saturating_duration_since(entry.1) >= WINDOW {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    pub fn succeeded(&self, name: &str) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.remove(&format!("name:{}", name.to_lowercase()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_name_and_per_address_for_a_window() {
        let t = Throttle::new();
        let now = Instant::now();
        for _ in 0..NAME_LIMIT {
            assert!(t.check("Ann", "10.0.0.1", now).is_ok());
            t.failed("Ann", "10.0.0.1", now);
        }
        assert!(
            t.check("ann", "10.0.0.2", now).is_err(),
            "per name, any case"
        );
        assert!(
            t.check("bob", "10.0.0.1", now).is_ok(),
            "the address has room"
        );
        assert!(
            t.check("ann", "10.0.0.1", now + WINDOW).is_ok(),
            "the window passes"
        );
        t.succeeded("ann");
        assert!(t.check("ann", "10.0.0.1", now).is_ok());
        for i in 0..ADDRESS_LIMIT {
            t.failed(&format!("user{i}"), "10.0.0.9", now);
        }
        let wait = t
            .check("someone", "10.0.0.9", now)
            .expect_err("address limit");
        assert!(wait <= WINDOW);
    }
}
