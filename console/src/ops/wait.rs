use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::OpError;
use crate::platform::{Platform, PlatformError, PlatformKind};
use crate::rollout::{Color, Snapshot, Weights};

/// A state `bluegreen wait` can wait for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WaitFor {
    /// The color's deployed revision is healthy (see
    /// [`crate::rollout::ColorState::release_healthy`]).
    Healthy(Color),
    /// The listener shows these weights.
    Weights(Weights),
    /// The color is the recorded stable color with all the traffic and enough healthy
    /// targets (a first release, once the platform made it stable).
    Stable(Color),
}

impl WaitFor {
    pub fn holds(&self, snap: &Snapshot) -> bool {
        match self {
            WaitFor::Healthy(c) => snap.colors.get(*c).release_healthy(),
            WaitFor::Weights(w) => snap.converged(*w),
            WaitFor::Stable(c) => {
                snap.stable() == Some(*c)
                    && snap.converged(Weights::all(*c))
                    && snap.colors.get(*c).release_healthy()
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            WaitFor::Healthy(c) => format!("{c} to become healthy"),
            WaitFor::Weights(w) => format!("weights {w}"),
            WaitFor::Stable(c) => format!("{c} to become healthy and stable"),
        }
    }
}

/// Between polls: each poll is a full refresh, which costs about ten API calls on AWS, so AWS
/// is polled less often than the local daemon.
fn poll_interval(platform: &dyn Platform) -> Duration {
    match platform.info().kind {
        PlatformKind::Aws { .. } => Duration::from_secs(3),
        PlatformKind::Local { .. } => Duration::from_millis(500),
    }
}

/// Sees every snapshot a wait polls (progress output).
pub type Watch<'a> = &'a (dyn Fn(&Snapshot) + Send + Sync);

pub(super) async fn wait(
    platform: &dyn Platform,
    what: &WaitFor,
    timeout: Duration,
    watch: Option<Watch<'_>>,
) -> Result<Snapshot, OpError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let poll = poll_interval(platform);
    loop {
        let snap = platform.snapshot().await?;
        if what.holds(&snap) {
            return Ok(snap);
        }
        if let Some(watch) = watch {
            watch(&snap);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(OpError::Platform(PlatformError::TimedOut {
                what: what.describe(),
                after_secs: timeout.as_secs(),
            }));
        }
        // The last poll lands on the deadline, so a state reached just in time still counts.
        tokio::time::sleep(poll.min(deadline - now)).await;
    }
}
