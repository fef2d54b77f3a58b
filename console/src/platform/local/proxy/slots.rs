//! The client connections one listener holds open at most, so a flood of connections (idle
//! or slow) cannot take the daemon's every file descriptor: the health checks, the tasks it
//! starts and the control socket keep theirs.
//!
//! At the bound, a new connection closes the ones idle longest (no request being served:
//! waiting for a head, or still sending a body), as nginx reuses its keep-alive
//! connections under pressure: a flood's connections that never sent a request go first, a
//! reader's keep-alive connection, idle a moment between its requests, last. When every
//! connection is serving a request, a new one waits a moment for one to end and is closed
//! otherwise.

use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Descriptors kept for everything besides client connections (the connections to the
/// tasks, health checks, task starts: pipes and logs, the control socket, the state files):
/// a quarter of the limit, at least this many...
pub const MIN_RESERVED_FDS: u64 = 1024;
/// ...and at most this many.
pub const MAX_RESERVED_FDS: u64 = 8192;
/// Client connections per listener at most, whatever the descriptor limit.
const MAX_PER_LISTENER: u64 = 16_384;
/// Idle connections closed at once when the bound is reached.
const EVICT_BATCH: usize = 32;
/// How long a new connection waits for a slot when none is idle before it is closed.
const WAIT_FOR_SLOT: Duration = Duration::from_secs(1);

/// Client connections allowed on the production and the test listener with `nofile`
/// descriptors. Each client connection with a request in flight also holds one to its
/// target, so the two bounds together take at most half of what is left after the reserve.
pub fn limits(nofile: u64) -> (usize, usize) {
    let reserved = (nofile / 4).clamp(MIN_RESERVED_FDS, MAX_RESERVED_FDS);
    let spare = nofile.saturating_sub(reserved) / 2;
    let production = (spare * 7 / 8).clamp(64, MAX_PER_LISTENER);
    let test = (spare / 8).clamp(16, MAX_PER_LISTENER);
    (production as usize, test as usize)
}

/// Raises this process's soft descriptor limit to its hard one and returns it.
pub fn raise_nofile() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    let soft = now.current.unwrap_or(u64::MAX);
    match now.maximum {
        Some(hard) if soft < hard => {
            let raised = Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                return hard;
            }
            soft
        }
        _ => soft,
    }
}

/// This process's soft descriptor limit now.
pub fn nofile() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
}

/// One client connection as its listener's slots see it.
#[derive(Debug)]
pub struct Conn {
    /// Requests of this connection being served by a target (or answered by the proxy).
    serving: AtomicUsize,
    /// When it was accepted or last finished serving a request.
    idle_since: AtomicI64,
    /// Cancelled to close the connection.
    pub close: CancellationToken,
}

impl Conn {
    fn new() -> Self {
        Conn {
            serving: AtomicUsize::new(0),
            idle_since: AtomicI64::new(crate::clock::now_millis()),
            close: CancellationToken::new(),
        }
    }

    /// Marks a request as being served until the guard is dropped.
    pub fn serving(self: &Arc<Self>) -> Serving {
        self.serving.fetch_add(1, Ordering::Relaxed);
        Serving(self.clone())
    }

    fn idle(&self) -> bool {
        self.serving.load(Ordering::Relaxed) == 0
    }
}

/// A request being served on a connection.
#[derive(Debug)]
pub struct Serving(Arc<Conn>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0
            .idle_since
            .store(crate::clock::now_millis(), Ordering::Relaxed);
        self.0.serving.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The connections of one listener.
#[derive(Debug)]
pub struct Slots {
    permits: Arc<Semaphore>,
    open: Mutex<BTreeMap<u64, Arc<Conn>>>,
    next: AtomicU64,
    /// Connections closed to make room, and new ones closed for want of it.
    evicted: AtomicU64,
    turned_away: AtomicU64,
}

/// One connection's slot, given back when it is dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
    pub conn: Arc<Conn>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.lock().remove(&self.id);
    }
}

impl Slots {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Slots {
            permits: Arc::new(Semaphore::new(limit.max(1))),
            open: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            turned_away: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Conn>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a connection just accepted, or `None` (close it) when every slot stays
    /// busy serving requests.
    pub async fn acquire(self: &Arc<Self>) -> Option<Slot> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                self.evict_idle();
                match tokio::time::timeout(WAIT_FOR_SLOT, self.permits.clone().acquire_owned())
                    .await
                {
                    Ok(Ok(p)) => p,
                    _ => {
                        self.turned_away.fetch_add(1, Ordering::Relaxed);
                        return None;
                    }
                }
            }
        };
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn::new());
        self.lock().insert(id, conn.clone());
        Some(Slot {
            slots: self.clone(),
            id,
            conn,
            _permit: permit,
        })
    }

    /// Closes the connections idle longest, a batch at a time.
    fn evict_idle(&self) {
        let open = self.lock();
        // The batch idle longest: a heap of the most recent idle times seen, at most a
        // batch long, whose top is dropped for each connection idle longer.
        let mut longest: BinaryHeap<(i64, u64)> = BinaryHeap::with_capacity(EVICT_BATCH + 1);
        for (id, conn) in open.iter() {
            if !conn.idle() || conn.close.is_cancelled() {
                continue;
            }
            longest.push((conn.idle_since.load(Ordering::Relaxed), *id));
            if longest.len() > EVICT_BATCH {
                longest.pop();
            }
        }
        let closed = longest.len();
        for (_, id) in longest {
            if let Some(conn) = open.get(&id) {
                conn.close.cancel();
            }
        }
        self.evicted.fetch_add(closed as u64, Ordering::Relaxed);
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().len()
    }

    /// (closed to make room, turned away) since the listener started.
    pub fn pressure(&self) -> (u64, u64) {
        (
            self.evicted.load(Ordering::Relaxed),
            self.turned_away.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_leave_a_reserve_and_stay_bounded() {
        let (p, t) = limits(20_000);
        assert!((p + t) as u64 * 2 + 5_000 <= 20_000, "{p} {t}");
        assert!(p > 4_000, "{p}");
        let (p, t) = limits(4_096);
        assert!((p + t) as u64 * 2 + MIN_RESERVED_FDS <= 4_096, "{p} {t}");
        assert_eq!(limits(1024), (64, 16), "a tiny limit still serves");
        assert_eq!(limits(10_000_000).0, MAX_PER_LISTENER as usize);
    }

    #[tokio::test]
    async fn a_full_listener_closes_its_oldest_idle_connections_for_a_new_one() {
        let slots = Slots::new(3);
        let a = slots.acquire().await.expect("a");
        let b = slots.acquire().await.expect("b");
        let c = slots.acquire().await.expect("c");
        let _busy = a.conn.serving();
        // b has been idle longest (since it connected); c just finished a request.
        b.conn.idle_since.store(0, Ordering::Relaxed);
        // The connections' tasks drop their slot once told to close.
        let (bc, cc) = (b.conn.clone(), c.conn.clone());
        let waiter = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire().await.map(|s| s.id) }
        });
        tokio::time::timeout(Duration::from_secs(5), bc.close.cancelled())
            .await
            .expect("the oldest idle one is told to close");
        assert!(cc.close.is_cancelled(), "idle, in the same batch");
        assert!(
            !a.conn.close.is_cancelled(),
            "a connection serving a request stays"
        );
        drop(b);
        assert_eq!(waiter.await.expect("join"), Some(3));
        drop(c);
        assert_eq!(slots.pressure(), (2, 0));
    }

    #[tokio::test]
    async fn a_readers_connection_idle_a_moment_outlives_a_floods() {
        let n = EVICT_BATCH + 8;
        let slots = Slots::new(n);
        let mut open = Vec::new();
        for _ in 0..n {
            open.push(slots.acquire().await.expect("slot"));
        }
        // The first connection is a reader's: it just finished a request. The others
        // connected (a moment earlier) and sent nothing.
        for s in &open[1..] {
            s.conn.idle_since.store(1, Ordering::Relaxed);
        }
        drop(open[0].conn.serving());
        slots.evict_idle();
        let closed = open.iter().filter(|s| s.conn.close.is_cancelled()).count();
        assert_eq!(closed, EVICT_BATCH);
        assert!(
            !open[0].conn.close.is_cancelled(),
            "the reader's stays open"
        );
    }

    #[tokio::test]
    async fn a_new_connection_is_turned_away_when_every_slot_serves() {
        let slots = Slots::new(1);
        let a = slots.acquire().await.expect("a");
        let _busy = a.conn.serving();
        assert!(slots.acquire().await.is_none());
        assert_eq!(slots.pressure(), (0, 1));
        assert_eq!(slots.open(), 1);
    }
}
