//! One poller per resource: it asks, waits for the answer, sends it, then sleeps until its
//! interval passes or a refresh is requested. So at most one request per resource is in flight,
//! and refreshes asked for meanwhile collapse into one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use crate::clock::now_millis;
use crate::platform::{LogCursor, Platform};
use crate::tui::event::{Event, Polled};
use crate::tui::state::Resource;

/// Lines asked for per log read.
pub const LOG_BATCH: usize = 5_000;
/// A read with at least this many lines is followed by another at once: the platform may
/// cap a read below `LOG_BATCH` (the local daemon reads a bounded chunk per stream), so
/// "a full batch" cannot be the sign of a backlog. Fewer lines wait for the interval, so a
/// trickle never turns into a busy loop.
const LOG_CATCH_UP: usize = 500;
/// How far back the tail starts.
const LOG_BACKLOG_MS: i64 = 5 * 60 * 1000;
/// What the journal view shows: the latest entries.
const JOURNAL_QUERY: crate::rollout::journal::Query = crate::rollout::journal::Query {
    since: None,
    limit: 200,
    release: None,
};
/// Window of the traffic metrics.
const METRICS_WINDOW_SECS: u64 = 300;
/// Snapshots keep their data after an error, but the next try waits longer, up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How often a resource is polled: while something about it is changing or its panel has
/// the focus (`active`), and otherwise (`rest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub active: Duration,
    pub rest: Duration,
}

impl Pace {
    const fn secs(active: u64, rest: u64) -> Pace {
        Pace {
            active: Duration::from_secs(active),
            rest: Duration::from_secs(rest),
        }
    }

    pub fn of(&self, active: bool) -> Duration {
        if active { self.active } else { self.rest }
    }
}

/// How often each resource is polled.
#[derive(Debug, Clone, Copy)]
pub struct Intervals {
    pub services: Pace,
    pub builds: Pace,
    pub images: Pace,
    pub logs: Pace,
    pub metrics: Pace,
    pub release: Pace,
    /// The journal: slow, since nobody reads it at the pace of the weights, and only while
    /// its view is open (it is read once when it opens, see [`on_demand`]).
    pub journal: Pace,
    pub lock: Pace,
}

impl Default for Intervals {
    /// The local platform's: its reads are local requests, so the pace is the same at rest.
    fn default() -> Self {
        Intervals {
            services: Pace::secs(2, 2),
            builds: Pace::secs(3, 3),
            images: Pace::secs(15, 15),
            logs: Pace::secs(1, 1),
            metrics: Pace::secs(10, 10),
            release: Pace::secs(1, 1),
            journal: Pace::secs(15, 15),
            lock: Pace::secs(2, 2),
        }
    }
}

impl Intervals {
    /// AWS's: each read is API calls against account-wide quotas (ELB `Describe*` calls
    /// share one bucket per account and Region, refilled at 10/s; FilterLogEvents is 5/s,
    /// not raisable), so at rest the console polls slowly, and fast only what is changing
    /// or in focus. The budget this holds, per operation, is docs/aws-setup.md's "API
    /// calls" table: at rest at most 120 calls a minute, 40 of them ELB `Describe*` and 30
    /// FilterLogEvents.
    pub fn aws() -> Self {
        Intervals {
            // 7 calls (4 ELB Describe) a read: 42 a minute at rest.
            services: Pace::secs(2, 10),
            // ListBuildsForProject + BatchGetBuilds.
            builds: Pace::secs(3, 20),
            images: Pace::secs(15, 60),
            // One FilterLogEvents per log group: 20 a minute at rest, 30 in focus.
            logs: Pace::secs(2, 3),
            // CloudWatch's points are whole minutes, published a minute late.
            metrics: Pace::secs(20, 60),
            // One GetItem.
            release: Pace::secs(2, 10),
            journal: Pace::secs(15, 15),
            lock: Pace::secs(5, 15),
        }
    }

    pub fn of(&self, r: Resource) -> Pace {
        match r {
            Resource::Services => self.services,
            Resource::Builds => self.builds,
            Resource::Images => self.images,
            Resource::Logs => self.logs,
            Resource::Metrics => self.metrics,
            Resource::Release => self.release,
            Resource::Journal => self.journal,
            Resource::Lock => self.lock,
        }
    }
}

/// Whether a failed read was throttled: the next read then waits out a growing backoff,
/// which the panel's title shows.
fn throttled(p: &Polled) -> bool {
    let fault = |e: &crate::platform::PlatformError| {
        matches!(
            e,
            crate::platform::PlatformError::Call {
                fault: crate::platform::FaultKind::Throttled,
                ..
            }
        )
    };
    match p {
        Polled::Services(Err(e))
        | Polled::Builds(Err(e))
        | Polled::Images(Err(e))
        | Polled::Logs(Err(e))
        | Polled::Metrics(Err(e))
        | Polled::Release(Err(e))
        | Polled::Journal(Err(e))
        | Polled::Lock(Err(e)) => fault(e),
        _ => false,
    }
}

/// Polls `resource` at its pace (active while `active` is up, longer after an error) and at
/// each nudge. With `watched`, it reads only at a nudge while the flag is down.
pub(super) async fn run(
    resource: Resource,
    platform: Arc<dyn Platform>,
    tx: mpsc::UnboundedSender<Event>,
    nudge: Arc<Notify>,
    pace: Pace,
    active: Arc<AtomicBool>,
    watched: Option<Arc<AtomicBool>>,
) {
    let mut cursor = LogCursor {
        since: Some(now_millis() - LOG_BACKLOG_MS),
        ..LogCursor::default()
    };
    let mut show_loading = true;
    let mut backoff: Option<Duration> = None;
    let idle = || watched.as_ref().is_some_and(|w| !w.load(Ordering::Relaxed));
    loop {
        if idle() {
            nudge.notified().await;
        }
        if show_loading && tx.send(Event::Loading(resource, now_millis())).is_err() {
            return;
        }
        let (polled, more) = fetch(resource, platform.as_ref(), &mut cursor).await;
        let ok = !is_err(&polled);
        // A spinner only for the first load and after an error: a routine refresh over shown
        // data should not redraw the screen twice.
        show_loading = !ok;
        let every = pace.of(active.load(Ordering::Relaxed));
        let was = backoff;
        backoff = if ok {
            None
        } else {
            Some((backoff.unwrap_or(every) * 2).min(MAX_BACKOFF).max(every))
        };
        // Only a throttled read's backoff is news for the title; other errors show as errors.
        let shown = backoff.filter(|_| throttled(&polled));
        if tx.send(Event::Polled(polled, now_millis())).is_err() {
            return;
        }
        if (shown.is_some() || was.is_some()) && tx.send(Event::Backoff(resource, shown)).is_err() {
            return;
        }
        if more {
            tokio::task::yield_now().await;
            continue;
        }
        if idle() {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.unwrap_or(every)) => {}
            _ = nudge.notified() => {}
        }
    }
}

fn is_err(p: &Polled) -> bool {
    match p {
        Polled::Services(r) => r.is_err(),
        Polled::Builds(r) => r.is_err(),
        Polled::Images(r) => r.is_err(),
        Polled::Logs(r) => r.is_err(),
        Polled::Metrics(r) => r.is_err(),
        Polled::Release(r) => r.is_err(),
        Polled::Journal(r) => r.is_err(),
        Polled::Lock(r) => r.is_err(),
    }
}

/// One request. Returns the result and whether more is waiting right away (a full log batch).
async fn fetch(resource: Resource, p: &dyn Platform, cursor: &mut LogCursor) -> (Polled, bool) {
    match resource {
        Resource::Services => (
            Polled::Services(p.snapshot_keeping().await.map(Box::new)),
            false,
        ),
        Resource::Builds => (Polled::Builds(p.builds(10).await), false),
        Resource::Images => (Polled::Images(p.images().await), false),
        Resource::Metrics => (Polled::Metrics(p.metrics(METRICS_WINDOW_SECS).await), false),
        Resource::Release => (Polled::Release(p.release().await.map(Box::new)), false),
        Resource::Journal => (Polled::Journal(p.journal_read(&JOURNAL_QUERY).await), false),
        Resource::Lock => (
            Polled::Lock(p.lock_read().await.map(|r| r.map(Box::new))),
            false,
        ),
        Resource::Logs => match p.read_logs(cursor, LOG_BATCH).await {
            Ok(batch) => {
                *cursor = batch.cursor;
                let more = batch.lines.len() >= LOG_CATCH_UP;
                (Polled::Logs(Ok(batch.lines)), more)
            }
            Err(e) => (Polled::Logs(Err(e)), false),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::fake::FakePlatform;

    fn journal_reads(rx: &mut mpsc::UnboundedReceiver<Event>) -> usize {
        let mut n = 0;
        while let Ok(ev) = rx.try_recv() {
            n += usize::from(matches!(ev, Event::Polled(Polled::Journal(_), _)));
        }
        n
    }

    async fn pass(secs: u64) {
        // Paused time: sleeping moves the clock and lets the poller run.
        for _ in 0..secs {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_on_demand_poller_reads_at_a_nudge_and_on_its_interval_only_while_watched() {
        assert!(Resource::Journal.on_demand() && !Resource::Services.on_demand());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let nudge = Arc::new(Notify::new());
        let watched = Arc::new(AtomicBool::new(false));
        let every = Duration::from_secs(15);
        let task = tokio::spawn(run(
            Resource::Journal,
            Arc::new(FakePlatform::blue_live(2)),
            tx,
            nudge.clone(),
            Pace {
                active: every,
                rest: every,
            },
            Arc::new(AtomicBool::new(false)),
            Some(watched.clone()),
        ));
        pass(60).await;
        assert_eq!(journal_reads(&mut rx), 0, "not read while nobody looks");
        nudge.notify_one();
        pass(1).await;
        assert_eq!(journal_reads(&mut rx), 1, "a nudge reads once");
        pass(60).await;
        assert_eq!(journal_reads(&mut rx), 0, "and no more while unwatched");
        watched.store(true, Ordering::Relaxed);
        nudge.notify_one();
        pass(46).await;
        assert_eq!(journal_reads(&mut rx), 4, "at the nudge, then every 15 s");
        watched.store(false, Ordering::Relaxed);
        pass(16).await;
        let _ = journal_reads(&mut rx);
        pass(60).await;
        assert_eq!(journal_reads(&mut rx), 0, "closed again: quiet");
        task.abort();
    }
}
