//! One poller per resource: it asks, waits for the answer, sends it, then sleeps until its
//! interval passes or a refresh is requested. So at most one request per resource is in flight,
//! and refreshes asked for meanwhile collapse into one.

use std::sync::Arc;
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
    /// The journal: slow, since nobody reads it at the pace of the weights, and its view
    /// asks for a refresh when it opens.
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

pub(super) async fn run(
    resource: Resource,
    platform: Arc<dyn Platform>,
    tx: mpsc::UnboundedSender<Event>,
    nudge: Arc<Notify>,
    every: Duration,
) {
    let mut cursor = LogCursor {
        since: Some(now_millis() - LOG_BACKLOG_MS),
        ..LogCursor::default()
    };
    let mut show_loading = true;
    let mut backoff = every;
    loop {
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
