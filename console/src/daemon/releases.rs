//! The daemon drives releases itself, so a release survives the CLI or the console quitting:
//! the CLI records the release and asks the daemon to drive it; the daemon runs
//! [`crate::ops::Ops::drive_release`] over its own engine until the release ends, the daemon
//! shuts down, or a planned restart hands over (the successor picks the release up from the
//! state file and drives it on).

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::ops::{Access, Note, Observer, Ops};
use crate::platform::local::daemon::engine::Engine;
use crate::platform::{Platform, PlatformError};
use crate::rollout::Release;

/// Logs each step of a release the daemon drives (to the daemon's log file).
struct Log;

impl Observer for Log {
    fn note(&self, r: &Release, note: &Note) {
        tracing::info!(release = %r.id, tag = %r.tag, "release {}: {note:?}", r.describe());
    }
}

/// The one release driver of this daemon.
pub struct Releases {
    engine: Arc<Engine>,
    stop: CancellationToken,
    driver: Mutex<Option<JoinHandle<()>>>,
}

impl Releases {
    /// `stop` ends the driver (shutdown, or a restart's handover) without touching the
    /// release: its weight holds and the next daemon drives it on.
    pub fn new(engine: Arc<Engine>, stop: CancellationToken) -> Self {
        Releases {
            engine,
            stop,
            driver: Mutex::new(None),
        }
    }

    /// Drives the recorded release unless it is over or already driven here.
    pub async fn drive(&self) -> Result<bool, PlatformError> {
        let Some(release) = self.engine.release().await? else {
            return Ok(false);
        };
        if release.is_over() {
            return Ok(false);
        }
        let mut driver = self.driver.lock().unwrap_or_else(|e| e.into_inner());
        if driver.as_ref().is_some_and(|h| !h.is_finished()) {
            return Ok(true);
        }
        let platform: Arc<dyn Platform> = self.engine.clone();
        // The daemon drives in the name of whoever started the release: the deploy lock and
        // the journal show that person, not the daemon's OS user.
        let mut ops = Ops::new(platform, Access::default()).with_reason(release.reason.clone());
        if let Some(by) = &release.by {
            ops = ops.with_operator(by.clone());
        }
        let stop = self.stop.clone();
        let id = release.id.clone();
        *driver = Some(tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {
                    tracing::info!("release {id} left to the next daemon");
                }
                r = ops.drive_release(release, &Log, false) => match r {
                    Ok(r) => tracing::info!("release {} ended: {}", r.id, r.describe()),
                    Err(e) => tracing::warn!("release driver stopped: {e}"),
                },
            }
        }));
        Ok(true)
    }
}
