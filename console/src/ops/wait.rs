use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::OpError;
use crate::platform::{Platform, PlatformError};
use crate::rollout::{Color, Snapshot, Weights};

/// A state `bluegreen wait` can wait for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WaitFor {
    /// The color's healthy targets reach its desired count (at least one), and its running
    /// count reaches desired.
    Healthy(Color),
    /// The listener shows these weights.
    Weights(Weights),
}

impl WaitFor {
    pub fn holds(&self, snap: &Snapshot) -> bool {
        match self {
            WaitFor::Healthy(c) => {
                let s = snap.colors.get(*c);
                s.can_take_traffic() && s.service.running >= s.service.desired
            }
            WaitFor::Weights(w) => snap.converged(*w),
        }
    }

    fn describe(&self) -> String {
        match self {
            WaitFor::Healthy(c) => format!("{c} to become healthy"),
            WaitFor::Weights(w) => format!("weights {w}"),
        }
    }
}

const POLL: Duration = Duration::from_millis(500);

pub(super) async fn wait(
    platform: &dyn Platform,
    what: &WaitFor,
    timeout: Duration,
) -> Result<Snapshot, OpError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let snap = platform.snapshot().await?;
        if what.holds(&snap) {
            return Ok(snap);
        }
        if tokio::time::Instant::now() + POLL > deadline {
            return Err(OpError::Platform(PlatformError::TimedOut {
                what: what.describe(),
                after_secs: timeout.as_secs(),
            }));
        }
        tokio::time::sleep(POLL).await;
    }
}
