//! The platform trait over the control socket: what the CLI and the TUI hold when they
//! drive the local platform. One short connection per request, so a restarted daemon is
//! picked up without reconnect logic.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::paths::Paths;
use super::proxy::fault::FaultSpec;
use super::wire::{
    Crashed, DaemonStatus, Envelope, FaultReport, MAX_REPLY, Reply, Request, Restarted, VERSION,
};
use crate::platform::{
    DeployReceipt, FaultKind, JournalPage, LockSwap, LogBatch, LogCursor, Platform, PlatformError,
    PlatformInfo, PlatformResult, SmokeAnswer, WeightChange,
};
use crate::rollout::gate::AlarmState;
use crate::rollout::journal::{Entry, Query};
use crate::rollout::lock::LockRecord;
use crate::rollout::watch::{Unguarded, WatchSettings};
use crate::rollout::{
    Bake, Build, Color, ColorMetrics, Image, Listener, PerColor, Release, Snapshot, TargetState,
    Weights,
};

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub struct LocalClient {
    paths: Paths,
    socket: PathBuf,
    info: PlatformInfo,
    calls: AtomicU64,
}

impl LocalClient {
    /// Connects to the daemon of `state_dir`; fails with [`FaultKind::Unavailable`] and the
    /// command to run when none answers.
    pub async fn connect(state_dir: &Path) -> PlatformResult<Self> {
        let paths = Paths::new(state_dir).map_err(|e| {
            PlatformError::Config(format!("cannot resolve {}: {e}", state_dir.display()))
        })?;
        let socket = paths.control_socket();
        let info: PlatformInfo = call(&paths, &socket, &Request::Info, CALL_TIMEOUT).await?;
        Ok(LocalClient {
            paths,
            socket,
            info,
            calls: AtomicU64::new(1),
        })
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    async fn request<T: DeserializeOwned>(&self, req: Request) -> PlatformResult<T> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        call(&self.paths, &self.socket, &req, CALL_TIMEOUT).await
    }

    pub async fn status(&self) -> PlatformResult<DaemonStatus> {
        self.request(Request::Status).await
    }

    /// Asks the daemon to stop its tasks and exit.
    pub async fn shutdown(&self) -> PlatformResult<()> {
        self.request(Request::Shutdown).await
    }

    /// Hands the platform to a new daemon run from `exe`; answers once that one serves.
    pub async fn restart(&self, exe: PathBuf) -> PlatformResult<Restarted> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        // The new daemon has its own start timeout; this leaves room for it and the check.
        let within = super::wire::READY_TIMEOUT + CALL_TIMEOUT;
        call(&self.paths, &self.socket, &Request::Restart { exe }, within).await
    }

    /// Puts a fault in force on one color (`local fault`).
    pub async fn set_fault(&self, fault: FaultSpec) -> PlatformResult<FaultReport> {
        self.newer(Request::SetFault { fault }).await
    }

    /// Clears one color's fault, or every one.
    pub async fn clear_faults(&self, color: Option<Color>) -> PlatformResult<FaultReport> {
        self.newer(Request::ClearFaults { color }).await
    }

    /// The faults in force.
    pub async fn faults(&self) -> PlatformResult<FaultReport> {
        self.newer(Request::Faults).await
    }

    /// Kills every task of `color` once (`local fault --crash`).
    pub async fn crash(&self, color: Color) -> PlatformResult<Crashed> {
        self.newer(Request::Crash { color }).await
    }

    /// A request added after protocol 1 shipped: a daemon that predates it does not know
    /// the operation, and is told apart from a malformed request.
    async fn newer<T: DeserializeOwned>(&self, req: Request) -> PlatformResult<T> {
        let op = req.call_name();
        self.request(req).await.map_err(|e| older_daemon(e, &op))
    }

    /// Starts a build whose `RELEASE_TAG` is `release_tag` (the local counterpart of a
    /// start-build environment override).
    pub async fn start_build_tagged(
        &self,
        source_version: Option<String>,
        release_tag: Option<String>,
    ) -> PlatformResult<Build> {
        self.request(Request::StartBuild {
            source_version,
            release_tag,
        })
        .await
    }
}

/// A daemon's "unknown variant" answer to an operation it predates, as "restart the daemon".
fn older_daemon(e: PlatformError, op: &str) -> PlatformError {
    match e {
        PlatformError::Call {
            call,
            resource,
            fault: FaultKind::Invalid,
            message,
            ..
        } if message.contains("unknown variant") => PlatformError::call(
            call,
            resource,
            FaultKind::Invalid,
            format!(
                "the running daemon is older than this bluegreen and does not know `{op}`: hand the platform to this one with `bluegreen local restart` (no request fails)"
            ),
        ),
        other => other,
    }
}

/// One request on a fresh connection.
async fn call<T: DeserializeOwned>(
    paths: &Paths,
    socket: &Path,
    req: &Request,
    timeout: Duration,
) -> PlatformResult<T> {
    let name = req.call_name();
    let resource = socket.display().to_string();
    let fail = |fault: FaultKind, msg: String| PlatformError::call(&name, &resource, fault, msg);
    let exchange = async {
        let stream = UnixStream::connect(socket).await.map_err(|e| {
            let not_running = matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            );
            if not_running {
                fail(
                    FaultKind::Unavailable,
                    format!(
                        "the local platform is not running for {}: start it with `bluegreen local up`",
                        paths.root().display()
                    ),
                )
            } else {
                fail(FaultKind::Unavailable, format!("cannot connect: {e}"))
            }
        })?;
        let (read, mut write) = stream.into_split();
        let mut line = serde_json::to_vec(&Envelope {
            v: VERSION,
            body: req,
        })
        .map_err(|e| fail(FaultKind::Other, e.to_string()))?;
        line.push(b'\n');
        // A refused peer may be answered before its request is written: read the answer
        // even when the write fails.
        let sent = write.write_all(&line).await;
        let mut answer = Vec::new();
        let read_result = BufReader::new(read)
            .take(MAX_REPLY as u64)
            .read_until(b'\n', &mut answer)
            .await;
        if answer.is_empty() {
            let why = match (sent, read_result) {
                (Err(e), _) => format!("sending the request failed: {e}"),
                (_, Err(e)) => format!("reading the answer failed: {e}"),
                _ => "the daemon closed the connection without answering".into(),
            };
            return Err(fail(FaultKind::Network, why));
        }
        let reply: Reply = serde_json::from_slice(&answer)
            .map_err(|e| fail(FaultKind::Other, format!("unreadable answer: {e}")))?;
        if reply.v != VERSION {
            return Err(fail(
                FaultKind::Invalid,
                format!(
                    "the daemon speaks protocol {} and this bluegreen {VERSION}: restart it with `bluegreen local down && bluegreen local up`",
                    reply.v
                ),
            ));
        }
        if let Some(e) = reply.error {
            return Err(e);
        }
        serde_json::from_value(reply.ok.unwrap_or(serde_json::Value::Null))
            .map_err(|e| fail(FaultKind::Other, format!("unexpected answer: {e}")))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(fail(
            FaultKind::Timeout,
            format!("no answer within {} s", timeout.as_secs()),
        )),
    }
}

#[async_trait]
impl Platform for LocalClient {
    fn info(&self) -> PlatformInfo {
        self.info.clone()
    }

    async fn snapshot(&self) -> PlatformResult<Snapshot> {
        self.request(Request::Snapshot).await
    }

    async fn listener(&self) -> PlatformResult<Listener> {
        self.request(Request::Listener).await
    }

    async fn target_health(&self, color: Color) -> PlatformResult<Vec<TargetState>> {
        self.request(Request::TargetHealth { color }).await
    }

    async fn builds(&self, limit: usize) -> PlatformResult<Vec<Build>> {
        self.request(Request::Builds { limit }).await
    }

    /// Honours `RELEASE_TAG` from this process's environment, as CodeBuild honours an
    /// environment override at start-build: `RELEASE_TAG=v2 bluegreen build`.
    async fn start_build(&self, source_version: Option<String>) -> PlatformResult<Build> {
        let tag = std::env::var("RELEASE_TAG").ok().filter(|t| !t.is_empty());
        self.start_build_tagged(source_version, tag).await
    }

    async fn images(&self) -> PlatformResult<Vec<Image>> {
        self.request(Request::Images).await
    }

    async fn deploy(&self, color: Color, tag: &str, desired: u32) -> PlatformResult<DeployReceipt> {
        self.request(Request::Deploy {
            color,
            tag: tag.to_string(),
            desired,
            record: true,
        })
        .await
    }

    async fn scale(&self, color: Color, desired: u32) -> PlatformResult<()> {
        self.request(Request::Scale {
            color,
            desired,
            record: true,
        })
        .await
    }

    async fn set_weights(&self, desired: Weights) -> WeightChange {
        match self
            .request::<WeightChange>(Request::SetWeights {
                weights: desired,
                record: true,
            })
            .await
        {
            Ok(change) => change,
            Err(write_error) => {
                // The write may or may not have happened: read back to find out.
                let (observed, read_error) = match self.listener().await {
                    Ok(l) => (Some(l.weights), None),
                    Err(e) => (None, Some(e)),
                };
                WeightChange {
                    previous: None,
                    desired,
                    observed,
                    write_error: Some(write_error),
                    read_error,
                }
            }
        }
    }

    async fn record_stable(&self, stable: Color, bake: Option<Bake>) -> PlatformResult<()> {
        self.request(Request::RecordStable { stable, bake }).await
    }

    async fn point_test_listener(&self, color: Color) -> PlatformResult<()> {
        self.request(Request::PointTestListener { color }).await
    }

    async fn read_logs(&self, cursor: &LogCursor, limit: usize) -> PlatformResult<LogBatch> {
        self.request(Request::ReadLogs {
            cursor: cursor.clone(),
            limit,
        })
        .await
    }

    async fn metrics(&self, window_secs: u64) -> PlatformResult<Option<PerColor<ColorMetrics>>> {
        self.request(Request::Metrics { window_secs }).await
    }

    async fn release(&self) -> PlatformResult<Option<Release>> {
        self.request(Request::Release).await
    }

    async fn record_release(&self, release: &Release) -> PlatformResult<()> {
        self.request(Request::RecordRelease {
            release: Box::new(release.clone()),
        })
        .await
    }

    async fn smoke_get(&self, path: &str, timeout: Duration) -> PlatformResult<SmokeAnswer> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let req = Request::SmokeGet {
            path: path.to_string(),
            timeout_ms: timeout.as_millis().min(u64::MAX as u128) as u64,
        };
        call(&self.paths, &self.socket, &req, timeout + CALL_TIMEOUT).await
    }

    async fn alarms(&self, _names: &[String]) -> PlatformResult<Vec<(String, AlarmState)>> {
        Err(super::no_alarms())
    }

    fn api_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The daemon drives every release, so it survives the CLI or the console quitting.
    fn release_driver(&self) -> Option<&'static str> {
        Some("daemon")
    }

    /// Asks the daemon to drive the recorded release; `true` when one is driven.
    async fn drive_release(&self) -> PlatformResult<bool> {
        self.request(Request::DriveRelease).await
    }

    async fn journal_append(&self, entry: &Entry) -> PlatformResult<()> {
        self.newer(Request::JournalAppend {
            entry: Box::new(entry.clone()),
        })
        .await
    }

    async fn journal_read(&self, query: &Query) -> PlatformResult<JournalPage> {
        self.newer(Request::JournalRead {
            query: query.clone(),
        })
        .await
    }

    async fn lock_read(&self) -> PlatformResult<Option<LockRecord>> {
        self.newer(Request::LockRead).await
    }

    async fn lock_swap(
        &self,
        expected: Option<&str>,
        new: Option<&LockRecord>,
    ) -> PlatformResult<LockSwap> {
        self.newer(Request::LockSwap {
            expected: expected.map(str::to_string),
            new: new.cloned().map(Box::new),
        })
        .await
    }

    async fn configure_watch(&self, settings: &WatchSettings) -> PlatformResult<()> {
        self.newer(Request::ConfigureWatch {
            settings: Box::new(settings.clone()),
        })
        .await
    }

    async fn record_unguarded(&self, unguarded: &Unguarded) -> PlatformResult<()> {
        self.newer(Request::RecordUnguarded {
            unguarded: Box::new(unguarded.clone()),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_the_daemon_predates_says_to_restart_it() {
        // What a daemon answers to an operation it does not know (here: one nobody knows).
        let unknown = crate::platform::local::wire::parse(
            br#"{"v":1,"op":"set-fault-from-the-future","fault":{}}"#,
        )
        .expect_err("unknown");
        let e = older_daemon(unknown, "local:set-fault");
        assert_eq!(e.fault(), Some(FaultKind::Invalid));
        assert!(
            e.to_string()
                .contains("does not know `local:set-fault`: hand the platform to this one with `bluegreen local restart`"),
            "{e}"
        );
        // A malformed request of a known operation stays what it is.
        let bad = crate::platform::local::wire::parse(
            br#"{"v":1,"op":"set-fault","fault":{"color":"green","error_rate":101}}"#,
        )
        .expect_err("out of range");
        let e = older_daemon(bad, "local:set-fault");
        assert!(e.to_string().contains("not a share"), "{e}");
    }
}
