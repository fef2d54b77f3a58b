//! The platform boundary: one object-safe async trait that both the AWS adapter and the local
//! adapter implement, so the CLI and the TUI cannot tell which one they drive.
//!
//! No AWS or terminal types cross it: only the domain types of [`crate::rollout`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::rollout::gate::AlarmState;
use crate::rollout::journal::{Entry, Query};
use crate::rollout::lock::LockRecord;
use crate::rollout::watch::{Unguarded, WatchSettings};
use crate::rollout::{
    Bake, Build, Color, ColorMetrics, Image, Listener, LogLine, PerColor, Release, Snapshot,
    TargetState, UnixMillis, Weights,
};

pub mod aws;
mod error;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod http;
pub mod local;

pub use error::{FaultKind, PlatformError, PlatformResult};

/// What the console is connected to, for the header and `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformInfo {
    /// The `bluegreen.toml` profile name (`local` for the default local platform).
    pub profile: String,
    pub kind: PlatformKind,
    /// The ECS cluster name, or the local state directory.
    pub cluster: String,
    /// The platform finishes a promote's bake by itself (the local daemon does; on AWS the
    /// console process has to, see docs/architecture.md).
    pub finishes_bake: bool,
    /// How far apart the platform's metric samples are: a step's gates judge only whole
    /// samples of its own ([`crate::rollout::plan::window_secs`]). The local proxy samples
    /// each second; CloudWatch's per-minute points are read as they are (docs/runbook.md).
    #[serde(default = "default_resolution")]
    pub metrics_resolution_ms: u64,
    /// Each metric point is a whole period stamped with its start (CloudWatch's minutes): the
    /// point in which a write happened holds requests from before it, so the requests since
    /// a write are those of the points that start after it ([`crate::rollout::split::requests_after`]).
    #[serde(default)]
    pub metrics_per_period: bool,
}

fn default_resolution() -> u64 {
    1000
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PlatformKind {
    Local {
        state_dir: String,
        /// The production listener's URL, e.g. `http://127.0.0.1:8080/`.
        url: String,
    },
    Aws {
        /// Resolved lazily (STS is not called just for the header); `None` until known.
        account: Option<String>,
        region: String,
    },
}

/// The result of a weight change: what was asked and what the listener shows afterwards.
/// A weight change is always read back (docs/architecture.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightChange {
    /// The weights before the change, if they were read.
    pub previous: Option<Weights>,
    pub desired: Weights,
    /// The weights read back after the change; `None` when the read-back failed.
    pub observed: Option<Weights>,
    /// The write call's error, if it failed.
    pub write_error: Option<PlatformError>,
    /// The read-back's error, if it failed.
    pub read_error: Option<PlatformError>,
}

/// The three answers a weight change can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightOutcome {
    /// The read-back shows the desired weights.
    Applied,
    /// The read-back shows other weights (normally the old ones).
    NotApplied,
    /// The read-back failed: nobody knows; never guess.
    Unknown,
}

impl WeightChange {
    pub fn outcome(&self) -> WeightOutcome {
        match self.observed {
            Some(w) if w == self.desired => WeightOutcome::Applied,
            Some(_) => WeightOutcome::NotApplied,
            None => WeightOutcome::Unknown,
        }
    }
}

/// What a deploy registered and started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployReceipt {
    pub color: Color,
    pub tag: String,
    /// The new task definition (family:revision) or local release id.
    pub task_definition: String,
    pub revision: u32,
    /// The full image reference deployed.
    pub image: String,
    pub desired: u32,
}

/// An incremental position in the logs of both colors. The caller keeps it and passes it back,
/// so no line is read twice. Adapters store what they need per stream: a CloudWatch forward
/// token, or a byte offset into a local log file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogCursor {
    /// Stream name → adapter-specific position.
    pub streams: BTreeMap<String, String>,
    /// Lines older than this are not wanted (the start of the tail).
    pub since: Option<UnixMillis>,
}

/// New log lines, oldest first, and the cursor to continue from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogBatch {
    pub lines: Vec<LogLine>,
    pub cursor: LogCursor,
}

/// One answer of the test listener to a smoke check's GET.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeAnswer {
    pub status: u16,
    /// The body, cut at [`SMOKE_BODY_LIMIT`] bytes.
    pub body: String,
    pub latency_ms: u64,
}

/// The most of a smoke answer's body that is kept (and searched for its expected text).
pub const SMOKE_BODY_LIMIT: usize = 256 * 1024;

/// How a release's smoke checks ran when not one GET at a time from here
/// ([`Platform::smoke_elsewhere`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmokeRun {
    /// In a one-off task (AWS: `RunTask` of the idle color's task definition in its service's
    /// network, the checks as its command): its exit code decides (`None`: it stopped
    /// without one, `why` says how), and its log lines are shown.
    Task {
        task: String,
        exit_code: Option<i32>,
        why: String,
        lines: Vec<String>,
    },
    /// Not at all: the profile skips them, for this reason (journaled).
    Skipped { reason: String },
}

/// The answer of a compare-and-swap of the deploy lock ([`Platform::lock_swap`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockSwap {
    /// The record was written (or deleted).
    Swapped,
    /// The record's token was not the expected one: someone else wrote it meanwhile; read
    /// it again and decide again.
    Conflict,
}

/// The platform: AWS (CodeBuild, ECR, ECS, ELBv2, CloudWatch) or the local embedded platform.
///
/// Used as `Arc<dyn Platform>` by the command layer ([`crate::ops`]), which enforces
/// read-only/arming and the guards once for both adapters. Methods do one thing each and do
/// not wait for convergence; waiting is the command layer's job.
#[async_trait]
pub trait Platform: Send + Sync {
    /// What this platform is, for the header and `status`.
    fn info(&self) -> PlatformInfo;

    /// One full refresh of both colors and the listener (AWS: at most 12 API calls together
    /// with [`Platform::builds`] and [`Platform::images`]; batch Describe* calls).
    async fn snapshot(&self) -> PlatformResult<Snapshot>;

    /// [`Platform::snapshot`] for a view: a part whose read fails (a failed DescribeTasks, say)
    /// is the one read last, named in [`Snapshot::stale`], instead of failing the whole
    /// snapshot. Never for a decision: guards use [`Platform::snapshot`].
    async fn snapshot_keeping(&self) -> PlatformResult<Snapshot> {
        self.snapshot().await
    }

    /// The production listener alone: weights, stored stable color, pending bake, test
    /// listener target. Cheap, and independent of every other read, so rollback works when
    /// everything else fails.
    async fn listener(&self) -> PlatformResult<Listener>;

    /// Target health of one color's target group.
    async fn target_health(&self, color: Color) -> PlatformResult<Vec<TargetState>>;

    /// The latest builds, newest first, each with every phase.
    async fn builds(&self, limit: usize) -> PlatformResult<Vec<Build>>;

    /// Starts a build, optionally of a given source version (branch, tag or commit).
    async fn start_build(&self, source_version: Option<String>) -> PlatformResult<Build>;

    /// Images in the registry, newest first.
    async fn images(&self) -> PlatformResult<Vec<Image>>;

    /// Deploys `tag` to `color` with `desired` tasks: on AWS, a new revision of the color's
    /// task definition with only the image changed, then UpdateService. Returns once the
    /// change is accepted; it does not wait for health.
    async fn deploy(&self, color: Color, tag: &str, desired: u32) -> PlatformResult<DeployReceipt>;

    /// Sets a color's desired task count.
    async fn scale(&self, color: Color, desired: u32) -> PlatformResult<()>;

    /// Sets the production listener's weights with exactly one write call, then reads them
    /// back. Never returns early with an error: failures are inside the [`WeightChange`].
    async fn set_weights(&self, desired: Weights) -> WeightChange;

    /// Records the stable color and the pending bake (or clears it with `None`).
    async fn record_stable(&self, stable: Color, bake: Option<Bake>) -> PlatformResult<()>;

    /// Points the test listener at `color` (normally the idle color).
    async fn point_test_listener(&self, color: Color) -> PlatformResult<()>;

    /// New log lines of both colors since `cursor`, at most `limit`.
    async fn read_logs(&self, cursor: &LogCursor, limit: usize) -> PlatformResult<LogBatch>;

    /// Request count, 5xx count and p99 latency per color over the last `window_secs`.
    /// `Ok(None)` when the platform has no metrics.
    async fn metrics(&self, window_secs: u64) -> PlatformResult<Option<PerColor<ColorMetrics>>>;

    /// The release recorded with the listener: the running one, or the last that ended.
    async fn release(&self) -> PlatformResult<Option<Release>>;

    /// Records `release` with the listener, replacing the one recorded.
    async fn record_release(&self, release: &Release) -> PlatformResult<()>;

    /// One GET of `path` through the test listener (the idle color alone), within `timeout`.
    async fn smoke_get(
        &self,
        path: &str,
        timeout: std::time::Duration,
    ) -> PlatformResult<SmokeAnswer>;

    /// Runs all of a release's smoke `checks` against `color` where the profile says they can
    /// reach it, when that is not one GET at a time from here: `Ok(None)` means the caller
    /// runs them with [`Platform::smoke_get`] (the default; AWS with `from = "here"` or
    /// `"url"`).
    async fn smoke_elsewhere(
        &self,
        _color: Color,
        _checks: &[crate::rollout::SmokeCheck],
    ) -> PlatformResult<Option<SmokeRun>> {
        Ok(None)
    }

    /// The state of each named CloudWatch alarm (AWS); the local platform has none and
    /// refuses, since a profile naming alarms on it is a configuration error.
    async fn alarms(&self, names: &[String]) -> PlatformResult<Vec<(String, AlarmState)>>;

    /// API calls (or control requests) made so far by this instance, for `status --verbose`.
    fn api_calls(&self) -> u64;

    /// The name of the driver this platform runs for the releases recorded on it (the local
    /// daemon: `daemon`, so a release outlives the console that started it), or `None`: the
    /// console that starts or resumes a release drives it.
    fn release_driver(&self) -> Option<&'static str> {
        None
    }

    /// Asks the platform's own driver to drive the recorded release (see
    /// [`Platform::release_driver`]); `true` when one is driven.
    async fn drive_release(&self) -> PlatformResult<bool> {
        Ok(false)
    }

    // The journal (issue 12, h-journal).

    /// Appends one entry to the journal: locally the daemon's `<state_dir>/journal.jsonl`,
    /// on AWS one conditional PutItem into the journal table. Never rewrites an entry.
    async fn journal_append(&self, entry: &Entry) -> PlatformResult<()>;

    /// The entries `query` asks for, oldest first, and how many damaged lines were skipped.
    async fn journal_read(&self, query: &Query) -> PlatformResult<JournalPage>;

    // The deploy lock (issue 12, h-lock).

    /// The deploy lock's record, if there is one. The platform only stores it; every
    /// decision is [`crate::rollout::lock::decide`]'s, in the command layer.
    async fn lock_read(&self) -> PlatformResult<Option<LockRecord>>;

    /// Compare-and-swap of the deploy lock: writes `new` (deletes the record with `None`) only
    /// if the stored record's token is `expected` (`None`: only if there is no record).
    /// Never writes when the token differs: that is [`LockSwap::Conflict`], not an error.
    async fn lock_swap(
        &self,
        expected: Option<&str>,
        new: Option<&LockRecord>,
    ) -> PlatformResult<LockSwap>;

    // The guard (issue 28).

    /// Hands the profile's guard, gates and probe to a platform that watches by itself (the
    /// local daemon keeps them and watches with them whoever is connected). Where the watcher
    /// is a console process (AWS: the holder of the watch lease reads its own profile) there
    /// is nothing to keep.
    async fn configure_watch(&self, _settings: &WatchSettings) -> PlatformResult<()> {
        Ok(())
    }

    /// Records a shift a person made unguarded (`shift --unguarded --reason`), so the
    /// watcher leaves those weights alone while they hold.
    async fn record_unguarded(&self, _unguarded: &Unguarded) -> PlatformResult<()> {
        Err(PlatformError::Config(
            "`shift --unguarded` is not supported on this platform yet: the shift is watched like any other".into(),
        ))
    }
}

/// What a journal read found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JournalPage {
    /// Oldest first.
    pub entries: Vec<Entry>,
    /// Lines that did not parse (a torn last line after a crash), skipped.
    #[serde(default)]
    pub skipped: usize,
    /// Why no journal is read here, when none is configured (an AWS profile without
    /// `journal_table`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
