//! Events: what happened. Keys and resizes from the terminal, clock ticks, pollers' results and
//! finished operations. [`crate::tui::update::handle_event`] turns them into state changes.

use crossterm::event::KeyEvent;

use crate::ops::{OpError, PromoteReport, RollbackReport};
use crate::platform::{DeployReceipt, PlatformError, WeightChange};
use crate::rollout::UnixMillis;
use crate::rollout::{Bake, Build, Color, ColorMetrics, Image, LogLine, PerColor, Snapshot};

use super::state::Resource;

#[derive(Debug)]
pub enum Event {
    Key(KeyEvent),
    Resize {
        width: u16,
        height: u16,
    },
    /// The clock advanced.
    Tick(UnixMillis),
    /// A poller started a request.
    Loading(Resource, UnixMillis),
    /// A poller's result.
    Polled(Polled, UnixMillis),
    /// A poller backs off after being throttled (`None`: no longer).
    Backoff(Resource, Option<std::time::Duration>),
    /// A write finished (asked for by the user, or decided by `update`, such as ending a bake).
    Done(OpResult),
}

/// A poller's answer.
#[derive(Debug)]
pub enum Polled {
    Services(Result<Box<Snapshot>, PlatformError>),
    Builds(Result<Vec<Build>, PlatformError>),
    Images(Result<Vec<Image>, PlatformError>),
    Logs(Result<Vec<LogLine>, PlatformError>),
    Metrics(Result<Option<PerColor<ColorMetrics>>, PlatformError>),
    Release(Result<Box<Option<crate::rollout::Release>>, PlatformError>),
    Journal(Result<crate::platform::JournalPage, PlatformError>),
    Lock(Result<Option<Box<crate::rollout::lock::LockRecord>>, PlatformError>),
}

impl Polled {
    pub fn resource(&self) -> Resource {
        match self {
            Polled::Services(_) => Resource::Services,
            Polled::Builds(_) => Resource::Builds,
            Polled::Images(_) => Resource::Images,
            Polled::Logs(_) => Resource::Logs,
            Polled::Metrics(_) => Resource::Metrics,
            Polled::Release(_) => Resource::Release,
            Polled::Journal(_) => Resource::Journal,
            Polled::Lock(_) => Resource::Lock,
        }
    }
}

/// A finished write and what the command layer answered.
#[derive(Debug)]
pub enum OpResult {
    Shifted(Result<WeightChange, OpError>),
    Promoted(Result<PromoteReport, OpError>),
    BakeFinished(Result<Option<Bake>, OpError>),
    RolledBack(Result<RollbackReport, OpError>),
    Deployed(Result<DeployReceipt, OpError>),
    BuildStarted(Result<Build, OpError>),
    Scaled {
        color: Color,
        desired: u32,
        result: Result<(), OpError>,
    },
    /// The release was recorded and handed to its driver; `true` when this console drives it.
    ReleaseStarted(Result<(Box<crate::rollout::Release>, bool), OpError>),
    /// The release this console drove ended (or stopped at an error).
    ReleaseDriven(Result<Box<crate::rollout::Release>, OpError>),
    ReleaseRequested(
        crate::rollout::release::Request,
        Result<Box<crate::rollout::Release>, OpError>,
    ),
}
