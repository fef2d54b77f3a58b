//! Failed sign-ins, counted in this process's memory, the way account-lockout guidance and
//! the tools that follow it do (OWASP's authentication cheat sheet; django-axes locking on the
//! pair of user name and address; Microsoft's "smart lockout", which keeps counting guesses
//! against a name from unfamiliar places without locking its owner out where they sign in):
//!
//! - per pair of address and name: [`PAIR_LIMIT`] failures within [`WINDOW`] refuse that
//!   address for that name until the window has passed. A guesser at one address locks out
//!   only itself, never the owner elsewhere;
//! - per address: [`ADDRESS_LIMIT`] failures (any names) refuse that address;
//! - per name, from everywhere: past [`NAME_LIMIT`] failures, attempts for the name are refused
//!   from every address that has not signed in as it lately ([`FAMILIAR_FOR`]). A guesser
//!   spreading over many addresses is stopped, and the owner still signs in from the addresses
//!   they used before (each still bound by its own pair limit).
//!
//! A successful sign-in clears its pair's count and makes the address familiar to the name.
//!
//! Memory is bounded: names are case-folded and cut to [`KEY_NAME_CHARS`] characters (no
//! account name is longer), addresses are parsed (anything else counts as one `unparsed`
//! address), and at most [`MAX_KEYS`] counts and as many familiar names are kept, expired ones
//! dropped first, then the oldest.
//!
//! The counts are per process: behind the load balancer each task counts on its own, so with
//! both colors running (N tasks in all) an attacker gets at most N × the limits per window.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::accounts::NAME_MAX_CHARS;

/// Failures for one name from one address.
pub const PAIR_LIMIT: u32 = 5;
/// Failures from one address, any names.
pub const ADDRESS_LIMIT: u32 = 20;
/// Failures for one name from all addresses, past which only familiar addresses may try.
pub const NAME_LIMIT: u32 = 50;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long an address stays familiar to a name after a successful sign-in.
pub const FAMILIAR_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// Addresses remembered per name.
const FAMILIAR_PER_NAME: usize = 4;
/// Characters of a name kept in a key: no account's name is longer.
pub const KEY_NAME_CHARS: usize = NAME_MAX_CHARS;
/// Counts kept at most (and as many familiar names); a key is about 100 bytes.
pub const MAX_KEYS: usize = 10_000;

/// Why a sign-in is refused before its password is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// This address, for this name or for all, until the wait is over.
    Address(Duration),
    /// The name, from addresses it has not signed in from lately.
    Unfamiliar(Duration),
}

impl Refusal {
    pub fn wait(self) -> Duration {
        match self {
            Self::Address(wait) | Self::Unfamiliar(wait) => wait,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Pair(Addr, String),
    Addr(Addr),
    Name(String),
}

/// A client address as a key: parsed, so it takes a fixed size whatever the header said.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Addr {
    Ip(IpAddr),
    /// "direct" (no forwarded address) or something that is not an address.
    Unparsed,
}

fn addr(address: &str) -> Addr {
    address.parse().map_or(Addr::Unparsed, Addr::Ip)
}

/// The name as the throttle counts it: case-folded, at most [`KEY_NAME_CHARS`] characters.
fn name_key(name: &str) -> String {
    // Cut before folding too, so a megabyte of name costs what 64 characters do (folding
    // never shrinks a name by more than this).
    let end = name
        .char_indices()
        .nth(KEY_NAME_CHARS * 4)
        .map_or(name.len(), |(at, _)| at);
    crate::accounts::fold(&name[..end])
        .chars()
        .take(KEY_NAME_CHARS)
        .collect()
}

#[derive(Default)]
struct State {
    counts: HashMap<Key, (u32, Instant)>,
    familiar: HashMap<String, Vec<(Addr, Instant)>>,
}

#[derive(Default)]
pub struct Throttle {
    state: Mutex<State>,
}

/// Makes room for one more entry in `map` (at most `limit`): expired entries go first, then
/// the oldest.
fn make_room<K: Clone + Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    limit: usize,
    since: impl Fn(&V) -> Instant,
    expired: impl Fn(&V) -> bool,
) {
    if map.len() < limit {
        return;
    }
    map.retain(|_, v| !expired(v));
    if map.len() >= limit
        && let Some(oldest) = map
            .iter()
            .min_by_key(|(_, v)| since(v))
            .map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
}

impl Throttle {
    pub fn new() -> Self {
        Self::default()
    }

    /// `Err` when this attempt must wait, with how long.
    pub fn check(&self, name: &str, address: &str, now: Instant) -> Result<(), Refusal> {
        let Ok(state) = self.state.lock() else {
            return Ok(());
        };
        let (ip, name) = (addr(address), name_key(name));
        let wait = |key: &Key, limit: u32| {
            state.counts.get(key).and_then(|(failures, since)| {
                let age = now.saturating_duration_since(*since);
                (*failures >= limit && age < WINDOW).then(|| WINDOW - age)
            })
        };
        let pair = Key::Pair(ip, name.clone());
        if let Some(left) = wait(&pair, PAIR_LIMIT).or_else(|| wait(&Key::Addr(ip), ADDRESS_LIMIT))
        {
            return Err(Refusal::Address(left));
        }
        if let Some(left) = wait(&Key::Name(name.clone()), NAME_LIMIT) {
            let familiar = state.familiar.get(&name).is_some_and(|known| {
                known
                    .iter()
                    .any(|(a, at)| *a == ip && now.saturating_duration_since(*at) < FAMILIAR_FOR)
            });
            if !familiar {
                return Err(Refusal::Unfamiliar(left));
            }
        }
        Ok(())
    }

    pub fn failed(&self, name: &str, address: &str, now: Instant) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let (ip, name) = (addr(address), name_key(name));
        for key in [Key::Pair(ip, name.clone()), Key::Addr(ip), Key::Name(name)] {
            if !state.counts.contains_key(&key) {
                make_room(
                    &mut state.counts,
                    MAX_KEYS,
                    |(_, since)| *since,
                    |(_, since)| now.saturating_duration_since(*since) >= WINDOW,
                );
            }
            let entry = state.counts.entry(key).or_insert((0, now));
            if now.saturating_duration_since(entry.1) >= WINDOW {
                *entry = (0, now);
            }
            entry.0 = entry.0.saturating_add(1);
        }
    }

    /// A sign-in as `name` from `address` succeeded: the pair starts again, and the address
    /// is familiar to the name.
    pub fn succeeded(&self, name: &str, address: &str, now: Instant) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let (ip, name) = (addr(address), name_key(name));
        state.counts.remove(&Key::Pair(ip, name.clone()));
        if !state.familiar.contains_key(&name) {
            make_room(
                &mut state.familiar,
                MAX_KEYS,
                |known| known.iter().map(|(_, at)| *at).max().unwrap_or(now),
                |known| {
                    known
                        .iter()
                        .all(|(_, at)| now.saturating_duration_since(*at) >= FAMILIAR_FOR)
                },
            );
        }
        let known = state.familiar.entry(name).or_default();
        known.retain(|(a, _)| *a != ip);
        if known.len() >= FAMILIAR_PER_NAME {
            known.remove(0);
        }
        known.push((ip, now));
    }

    /// Counts and familiar names held (for tests of the bound).
    pub fn keys(&self) -> (usize, usize) {
        self.state
            .lock()
            .map_or((0, 0), |s| (s.counts.len(), s.familiar.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guesser_locks_out_only_its_own_address() {
        let t = Throttle::new();
        let now = Instant::now();
        for _ in 0..PAIR_LIMIT {
            assert!(t.check("Ann", "10.0.0.1", now).is_ok());
            t.failed("Ann", "10.0.0.1", now);
        }
        assert!(matches!(
            t.check("ann", "10.0.0.1", now),
            Err(Refusal::Address(_))
        ));
        assert!(
            t.check("ANN", "10.0.0.2", now).is_ok(),
            "the owner elsewhere is not locked out"
        );
        assert!(
            t.check("bob", "10.0.0.1", now).is_ok(),
            "the address has room"
        );
        assert!(
            t.check("ann", "10.0.0.1", now + WINDOW).is_ok(),
            "the window passes"
        );
        t.succeeded("ann", "10.0.0.1", now);
        assert!(t.check("ann", "10.0.0.1", now).is_ok());
        for i in 0..ADDRESS_LIMIT {
            t.failed(&format!("user{i}"), "10.0.0.9", now);
        }
        let wait = t
            .check("someone", "10.0.0.9", now)
            .expect_err("address limit");
        assert!(wait.wait() <= WINDOW);
    }

    #[test]
    fn many_addresses_guessing_one_name_leave_its_familiar_addresses_alone() {
        let t = Throttle::new();
        let now = Instant::now();
        t.succeeded("root", "192.0.2.7", now);
        for i in 0..NAME_LIMIT {
            t.failed("root", &format!("10.1.{}.{}", i / 250, i % 250), now);
        }
        assert!(matches!(
            t.check("root", "10.9.9.9", now),
            Err(Refusal::Unfamiliar(_))
        ));
        assert!(
            t.check("Root", "192.0.2.7", now).is_ok(),
            "the owner's address signs in"
        );
        assert!(
            t.check("root", "10.9.9.9", now + WINDOW).is_ok(),
            "the window passes"
        );
        // A month later the address is a stranger again.
        let later = now + FAMILIAR_FOR;
        for i in 0..NAME_LIMIT {
            t.failed("root", &format!("10.2.{}.{}", i / 250, i % 250), later);
        }
        assert!(
            matches!(
                t.check("root", "192.0.2.7", later),
                Err(Refusal::Unfamiliar(_))
            ),
            "familiar only for a while"
        );
    }

    #[test]
    fn memory_is_bounded_in_keys_and_their_length() {
        let t = Throttle::new();
        let now = Instant::now();
        let long = "n".repeat(100_000);
        // Each round adds two keys (a pair and an address) at least.
        for i in 0..(MAX_KEYS / 2 + 200) {
            let address = format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
            t.failed(&format!("{long}{i}"), &address, now);
            t.failed(&long, &format!("not an address {long}"), now);
        }
        let (counts, familiar) = t.keys();
        assert_eq!((counts, familiar), (MAX_KEYS, 0), "full, and no further");
        let state = t.state.lock().expect("lock");
        let longest = state
            .counts
            .keys()
            .map(|k| match k {
                Key::Pair(_, n) | Key::Name(n) => n.len(),
                Key::Addr(_) => 0,
            })
            .max();
        assert_eq!(longest, Some(KEY_NAME_CHARS));
    }
}
