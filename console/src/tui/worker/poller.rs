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

/// How often each resource is polled.
#[derive(Debug, Clone, Copy)]
pub struct Intervals {
    pub services: Duration,
    pub builds: Duration,
    pub images: Duration,
    pub logs: Duration,
    pub metrics: Duration,
    pub release: Duration,
    /// The journal: slow, since nobody reads it at the pace of the weights, and only while
    /// its view is open (it is read once when it opens, see [`on_demand`]).
    pub journal: Duration,
    pub lock: Duration,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            services: Duration::from_secs(2),
            builds: Duration::from_secs(3),
            images: Duration::from_secs(15),
            logs: Duration::from_secs(1),
            metrics: Duration::from_secs(10),
            release: Duration::from_secs(1),
            journal: Duration::from_secs(15),
            lock: Duration::from_secs(2),
        }
    }
}

impl Intervals {
    pub fn of(&self, r: Resource) -> Duration {
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

/// Polls `resource` every `every` (longer after an error) and at each nudge. With `watched`,
/// it reads only at a nudge while the flag is down.
pub(super) async fn run(
    resource: Resource,
    platform: Arc<dyn Platform>,
    tx: mpsc::UnboundedSender<Event>,
    nudge: Arc<Notify>,
    every: Duration,
    watched: Option<Arc<AtomicBool>>,
) {
    let mut cursor = LogCursor {
        since: Some(now_millis() - LOG_BACKLOG_MS),
        ..LogCursor::default()
    };
    let mut show_loading = true;
    let mut backoff = every;
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
        backoff = if ok {
            every
        } else {
            (backoff * 2).min(MAX_BACKOFF).max(every)
        };
        if tx.send(Event::Polled(polled, now_millis())).is_err() {
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
            _ = tokio::time::sleep(backoff) => {}
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
        Resource::Services => (Polled::Services(p.snapshot().await.map(Box::new)), false),
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
            every,
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
