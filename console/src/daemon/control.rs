//! The control socket's server: checks who is connecting, reads one request per line, and
//! answers each with the engine's result.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::handover;
use crate::platform::local::daemon::engine::Engine;
use crate::platform::local::paths::Paths;
use crate::platform::local::proxy::Proxy;
use crate::platform::local::wire::{
    DaemonStatus, MAX_LINE, Reply, Request, Restarted, VERSION, invalid, parse,
};
use crate::platform::{FaultKind, Platform, PlatformError};

/// How long a connection may stay silent, between requests or in the middle of one, before the
/// daemon closes it: clients send one request at once, so only a stuck or hostile peer waits.
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a request could not be read.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("request longer than {MAX_LINE} bytes")]
    TooLong,
    #[error("no complete request within {} s", IDLE_TIMEOUT.as_secs())]
    Idle,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads one request line into `line` (cleared first), at most [`MAX_LINE`] bytes and within
/// `idle`. `Ok(false)`: the peer closed the connection.
async fn read_request<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    idle: std::time::Duration,
) -> Result<bool, ReadError> {
    line.clear();
    let mut limited = reader.take(MAX_LINE as u64 + 1);
    let n = tokio::time::timeout(idle, limited.read_until(b'\n', line))
        .await
        .map_err(|_| ReadError::Idle)??;
    if line.len() > MAX_LINE {
        return Err(ReadError::TooLong);
    }
    Ok(n > 0)
}

pub struct Control {
    pub engine: Arc<Engine>,
    pub status: DaemonStatus,
    pub shutdown: CancellationToken,
    pub handover: HandoverParts,
    pub restarting: Restarting,
    pub releases: Arc<super::releases::Releases>,
}

/// What a planned restart hands to the successor, and the switches it turns.
pub struct HandoverParts {
    pub paths: Paths,
    /// Duplicates of the listening sockets the proxy accepts on.
    pub production: std::net::TcpListener,
    pub test: std::net::TcpListener,
    /// A duplicate of the locked state-directory lock file.
    pub lock: std::fs::File,
    pub proxy: Arc<Proxy>,
    /// Cancelled once the successor serves: the proxy stops accepting.
    pub accepting: CancellationToken,
    /// Cancelled once the answer is sent: the daemon exits, leaving the tasks running.
    pub done: CancellationToken,
}

/// Whether a restart is under way.
#[derive(Default)]
pub struct Restarting {
    started: AtomicBool,
    /// Cancelled when it starts: nothing changes the rollout from then on.
    pub quiet: CancellationToken,
}

impl Control {
    /// Cancelled when a restart starts; the bake timer stops then.
    pub fn quiet(&self) -> CancellationToken {
        self.restarting.quiet.clone()
    }

    /// Hands this daemon's listeners, lock and tasks to a new daemon run from `exe`.
    async fn restart(&self, exe: PathBuf) -> Result<Restarted, PlatformError> {
        let call = |fault, msg: String| {
            PlatformError::call("local:restart", exe.display().to_string(), fault, msg)
        };
        if self.engine.building() {
            return Err(call(
                FaultKind::Invalid,
                "a build is running; wait for it (`bluegreen build --wait` or `bluegreen builds`), then restart".into(),
            ));
        }
        // Before anything changes: the new binary must run at all.
        let version = tokio::process::Command::new(&exe)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .output()
            .await;
        match version {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                return Err(call(
                    FaultKind::Invalid,
                    format!(
                        "`{} --version` failed ({}); nothing was restarted",
                        exe.display(),
                        out.status
                    ),
                ));
            }
            Err(e) => {
                return Err(call(
                    FaultKind::Invalid,
                    format!("cannot run {} ({e}); nothing was restarted", exe.display()),
                ));
            }
        }
        if self.restarting.started.swap(true, Ordering::SeqCst) {
            return Err(call(
                FaultKind::Invalid,
                "a restart is already under way".into(),
            ));
        }
        self.restarting.quiet.cancel();
        let h = &self.handover;
        let saved = self.engine.save("restart");
        self.engine.supervisor.detach(Duration::from_secs(2)).await;
        let tasks = self.engine.supervisor.live_tasks();
        // From here on the tasks belong to no daemon until the successor adopts them; if it
        // cannot, this daemon exits (once the answer is sent) as if it had crashed, and
        // `local up` adopts them.
        let fail = |why: String| {
            call(
                FaultKind::Other,
                format!(
                    "{why}; this daemon stops, and the {tasks} task(s) keep running: `bluegreen local up` adopts them (see {})",
                    h.paths.daemon_log().display()
                ),
            )
        };
        if let Err(e) = saved {
            return Err(fail(format!(
                "cannot save the state for the new daemon: {e}"
            )));
        }
        let _ = std::fs::remove_file(&self.status.socket);
        let successor =
            match handover::Successor::start(&exe, &h.paths, &h.production, &h.test, &h.lock) {
                Ok(s) => s,
                Err(e) => return Err(fail(format!("{e:#}"))),
            };
        let new_pid = successor.pid();
        match successor.ready().await {
            Ok(pid) => {
                h.accepting.cancel();
                h.proxy.start_draining();
                tracing::info!("daemon {pid} serves; handing over and exiting");
                Ok(Restarted {
                    old_pid: self.status.pid,
                    new_pid: pid,
                    tasks,
                })
            }
            Err(e) => {
                // Not ready: it must not keep the lock (nor half the tasks) either. It is our
                // child and not reaped before it exits, so the pid is still its own.
                crate::platform::local::supervisor::signal(
                    new_pid,
                    nix::sys::signal::Signal::SIGKILL,
                );
                Err(fail(format!("{e:#}")))
            }
        }
    }

    pub async fn serve(self: Arc<Self>, listener: UnixListener) {
        loop {
            let stream = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        tracing::warn!("control socket accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let me = self.clone();
            tokio::spawn(async move { me.connection(stream).await });
        }
    }

    async fn connection(&self, stream: UnixStream) {
        let (read, mut write) = stream.into_split();
        let own = nix::unistd::geteuid().as_raw();
        let peer = read.as_ref().peer_cred().map(|c| c.uid());
        if peer.as_ref().ok() != Some(&own) {
            // Mode 0600 keeps others out unless they are root; the uid check keeps out
            // everyone but this daemon's own user, root-owned sockets included.
            let who = match peer {
                Ok(uid) => format!("uid {uid}"),
                Err(e) => format!("an unidentified peer ({e})"),
            };
            tracing::warn!("refused a control connection from {who}");
            // Take (and ignore) its first request, so the refusal is read as the answer
            // rather than lost to a reset connection.
            let mut discard = Vec::new();
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                BufReader::new(read)
                    .take(MAX_LINE as u64)
                    .read_until(b'\n', &mut discard),
            )
            .await;
            let reply = error_reply(PlatformError::call(
                "local:connect",
                self.status.socket.clone(),
                FaultKind::AccessDenied,
                format!("{who} may not control this platform; only uid {own} may"),
            ));
            let _ = write_reply(&mut write, &reply).await;
            return;
        }
        let mut reader = BufReader::new(read);
        let mut line = Vec::new();
        loop {
            match read_request(&mut reader, &mut line, IDLE_TIMEOUT).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::debug!("control connection closed: {e}");
                    if let ReadError::TooLong = e {
                        let _ = write_reply(&mut write, &error_reply(invalid(e.to_string()))).await;
                    }
                    return;
                }
            }
            let reply = match parse(&line) {
                Ok(Request::Restart { exe }) => {
                    let reply = reply_of(to_value(self.restart(exe).await));
                    let _ = write_reply(&mut write, &reply).await;
                    if self.restarting.started.load(Ordering::SeqCst) {
                        // Handed over (or failed past the point of no return): exit.
                        self.handover.done.cancel();
                    }
                    return;
                }
                Ok(req) if self.restarting.started.load(Ordering::SeqCst) => {
                    error_reply(PlatformError::call(
                        req.call_name(),
                        self.status.socket.clone(),
                        FaultKind::Unavailable,
                        "the daemon is handing over to a new one (`bluegreen local restart`); try again in a moment",
                    ))
                }
                Ok(req) => {
                    let shutdown = matches!(req, Request::Shutdown);
                    let reply = self.dispatch(req).await;
                    if shutdown {
                        let _ = write_reply(&mut write, &reply).await;
                        self.shutdown.cancel();
                        return;
                    }
                    reply
                }
                Err(e) => error_reply(e),
            };
            if write_reply(&mut write, &reply).await.is_err() {
                return;
            }
        }
    }

    async fn dispatch(&self, req: Request) -> Reply {
        let e = &self.engine;
        e.count_call();
        let result: Result<serde_json::Value, PlatformError> = match req {
            Request::Status => to_value(Ok(DaemonStatus {
                unsaved: e.unsaved(),
                ..self.status.clone()
            })),
            Request::Info => to_value(Ok(e.info())),
            Request::Snapshot => to_value(e.snapshot().await),
            Request::Listener => to_value(e.listener().await),
            Request::TargetHealth { color } => to_value(e.target_health(color).await),
            Request::Builds { limit } => to_value(e.builds(limit).await),
            Request::StartBuild {
                source_version,
                release_tag,
            } => to_value(e.start_build_tagged(source_version, release_tag)),
            Request::Images => to_value(e.images().await),
            Request::Deploy {
                color,
                tag,
                desired,
                record,
            } => to_value(e.deploy_recorded(color, &tag, desired, record)),
            Request::Scale {
                color,
                desired,
                record,
            } => to_value(e.scale_recorded(color, desired, record)),
            Request::SetWeights { weights, record } => {
                to_value(Ok(e.write_weights(weights, record)))
            }
            Request::RecordStable { stable, bake } => to_value(e.record_stable(stable, bake).await),
            Request::PointTestListener { color } => to_value(e.point_test_listener(color).await),
            Request::ReadLogs { cursor, limit } => to_value(e.read_logs(&cursor, limit).await),
            Request::Metrics { window_secs } => to_value(e.metrics(window_secs).await),
            Request::Release => to_value(e.release().await),
            Request::DriveRelease => to_value(self.releases.drive().await),
            Request::RecordRelease { release } => to_value(e.record_release(&release).await),
            Request::SmokeGet { path, timeout_ms } => {
                let timeout = Duration::from_millis(timeout_ms.clamp(1, 600_000));
                to_value(e.smoke_get(&path, timeout).await)
            }
            Request::SetFault { fault } => to_value(e.set_fault(fault)),
            Request::ClearFaults { color } => to_value(e.clear_faults(color)),
            Request::Faults => to_value(Ok(e.fault_report(Vec::new()))),
            Request::Crash { color } => to_value(Ok(e.crash(color))),
            Request::Shutdown => to_value(Ok(())),
            Request::JournalAppend { entry } => to_value(e.journal_append(&entry).await),
            Request::JournalRead { query } => to_value(e.journal_read(&query).await),
            // Answered in `connection`, which ends the connection after it.
            Request::Restart { .. } => Err(invalid("restart is answered elsewhere".into())),
            Request::LockRead => to_value(e.lock_read().await),
            Request::LockSwap { expected, new } => {
                to_value(e.lock_swap(expected.as_deref(), new.as_deref()).await)
            }
            Request::ConfigureWatch { settings } => to_value(e.configure_watch_settings(*settings)),
            Request::RecordUnguarded { unguarded } => {
                to_value(e.record_unguarded_shift(*unguarded))
            }
        };
        reply_of(result)
    }
}

fn reply_of(result: Result<serde_json::Value, PlatformError>) -> Reply {
    match result {
        Ok(v) => Reply {
            v: VERSION,
            ok: Some(v),
            error: None,
        },
        Err(err) => error_reply(err),
    }
}

fn to_value<T: serde::Serialize>(
    r: Result<T, PlatformError>,
) -> Result<serde_json::Value, PlatformError> {
    r.and_then(|v| {
        serde_json::to_value(v).map_err(|e| {
            PlatformError::call(
                "local:reply",
                "control socket",
                FaultKind::Other,
                e.to_string(),
            )
        })
    })
}

fn error_reply(error: PlatformError) -> Reply {
    Reply {
        v: VERSION,
        ok: None,
        error: Some(error),
    }
}

async fn write_reply(
    w: &mut tokio::net::unix::OwnedWriteHalf,
    reply: &Reply,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::local::wire::Envelope;

    #[tokio::test(start_paused = true)]
    async fn a_silent_or_endless_peer_is_cut_off() {
        // Silent: nothing arrives, the read gives up after the idle time.
        let (_client, server) = tokio::io::duplex(64);
        let mut reader = BufReader::new(server);
        let mut line = Vec::new();
        let started = tokio::time::Instant::now();
        let e = read_request(&mut reader, &mut line, IDLE_TIMEOUT)
            .await
            .expect_err("idle");
        assert!(matches!(e, ReadError::Idle), "{e}");
        assert_eq!(started.elapsed(), IDLE_TIMEOUT);

        // Half a request, then nothing: the same.
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(br#"{"v":1,"op""#).await.expect("write");
        let mut reader = BufReader::new(server);
        let e = read_request(&mut reader, &mut line, IDLE_TIMEOUT)
            .await
            .expect_err("partial");
        assert!(matches!(e, ReadError::Idle), "{e}");

        // A line past the limit is refused without reading all of it.
        let (mut client, server) = tokio::io::duplex(1 << 16);
        tokio::spawn(async move {
            let chunk = vec![b'x'; 1 << 16];
            while client.write_all(&chunk).await.is_ok() {}
        });
        let mut reader = BufReader::new(server);
        let e = read_request(&mut reader, &mut line, IDLE_TIMEOUT)
            .await
            .expect_err("too long");
        assert!(matches!(e, ReadError::TooLong), "{e}");
        assert!(line.len() <= MAX_LINE + 1);

        // A request, then the peer closes.
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b"{\"v\":1}\n").await.expect("write");
        drop(client);
        let mut reader = BufReader::new(server);
        assert!(
            read_request(&mut reader, &mut line, IDLE_TIMEOUT)
                .await
                .expect("line")
        );
        assert_eq!(line, b"{\"v\":1}\n");
        assert!(
            !read_request(&mut reader, &mut line, IDLE_TIMEOUT)
                .await
                .expect("closed")
        );
    }

    #[test]
    fn parse_checks_version_then_shape() {
        assert_eq!(
            parse(br#"{"v":1,"op":"listener"}"#).ok(),
            Some(Request::Listener)
        );
        let e = parse(br#"{"v":9,"op":"listener"}"#).expect_err("version");
        assert!(e.to_string().contains("version 9"), "{e}");
        let e = parse(br#"{"op":"listener"}"#).expect_err("no version");
        assert!(e.to_string().contains("no protocol version"), "{e}");
        let e = parse(b"hello").expect_err("not json");
        assert_eq!(e.fault(), Some(FaultKind::Invalid));
        let e = parse(br#"{"v":1,"op":"set-weights","weights":{"blue":5,"green":5}}"#)
            .expect_err("bad weights");
        assert!(e.to_string().contains("malformed request"), "{e}");
    }

    mod proptests {
        use super::*;
        use crate::platform::local::wire::tests::strategies::request;
        use proptest::prelude::*;
        use serde_json::Value;

        /// JSON of any shape, with the protocol's own words among the keys and strings.
        fn json() -> impl Strategy<Value = Value> {
            let word = prop_oneof![
                prop::sample::select(vec![
                    "v",
                    "op",
                    "listener",
                    "set-weights",
                    "weights",
                    "blue",
                    "green",
                    "color",
                    "limit",
                    "cursor",
                    "streams",
                    "since",
                    "scale",
                    "desired",
                    "read-logs",
                ])
                .prop_map(str::to_string),
                "\\PC{0,6}",
            ];
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                word.clone().prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 24, 4, move |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map(word.clone(), inner, 0..5)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #![proptest_config(crate::prop::config())]

            #[test]
            fn arbitrary_bytes_get_an_invalid_request_error(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
                if let Err(e) = parse(&bytes) {
                    prop_assert_eq!(e.fault(), Some(FaultKind::Invalid));
                }
            }

            #[test]
            fn arbitrary_json_is_a_request_or_an_invalid_request_error(
                body in json(),
                v in prop_oneof![Just(None), Just(Some(Value::from(VERSION))), any::<u64>().prop_map(|n| Some(Value::from(n)))],
                op in prop::option::of(prop::sample::select(vec!["listener", "scale", "set-weights", "read-logs", "metrics", "deploy", "builds"])),
            ) {
                let mut body = body;
                if let Value::Object(m) = &mut body {
                    if let Some(v) = v.clone() {
                        m.insert("v".into(), v);
                    }
                    if let Some(op) = op {
                        m.insert("op".into(), op.into());
                    }
                }
                let line = serde_json::to_vec(&body).expect("serializes");
                match parse(&line) {
                    Ok(req) => prop_assert!(req.call_name().starts_with("local:")),
                    Err(e) => {
                        prop_assert_eq!(e.fault(), Some(FaultKind::Invalid));
                        let reply = serde_json::to_string(&error_reply(e)).expect("a reply");
                        prop_assert!(!reply.contains('\n'));
                    }
                }
            }

            #[test]
            fn every_request_is_parsed_back(req in request()) {
                let line = serde_json::to_vec(&Envelope { v: VERSION, body: req.clone() })
                    .expect("serializes");
                prop_assert_eq!(parse(&line).ok(), Some(req));
            }

            #[test]
            fn another_version_is_refused_naming_both(v in any::<u64>().prop_filter("not ours", |v| *v != VERSION as u64)) {
                let e = parse(format!(r#"{{"v":{v},"op":"listener"}}"#).as_bytes())
                    .expect_err("another version");
                let text = e.to_string();
                prop_assert!(text.contains(&format!("version {v}")) && text.contains(&format!("speaks {VERSION}")), "{}", text);
            }
        }

        proptest! {
            #![proptest_config(crate::prop::io_config())]

            /// A first line of any length, around the limit too: it is read whole when it fits,
            /// refused as too long otherwise, and never more than the limit is buffered.
            #[test]
            fn a_request_line_is_read_whole_or_refused_at_the_limit(
                len in prop_oneof![0usize..64, MAX_LINE - 3..MAX_LINE + 3],
                fill in any::<u8>().prop_filter("not a newline", |b| *b != b'\n'),
                newline in any::<bool>(),
                rest in prop::collection::vec(any::<u8>(), 0..32),
            ) {
                let mut input = vec![fill; len];
                if newline {
                    input.push(b'\n');
                }
                let first = input.len();
                input.extend(&rest);
                if !newline {
                    input.truncate(first);
                }
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .expect("runtime");
                let mut reader = input.as_slice();
                let mut line = Vec::new();
                let got = rt.block_on(read_request(&mut reader, &mut line, IDLE_TIMEOUT));
                prop_assert!(line.len() <= MAX_LINE + 1);
                match got {
                    Ok(more) => {
                        prop_assert!(first <= MAX_LINE);
                        prop_assert_eq!(more, first > 0);
                        prop_assert_eq!(&line[..], &input[..first]);
                    }
                    Err(ReadError::TooLong) => prop_assert!(first > MAX_LINE),
                    Err(e) => prop_assert!(false, "{e}"),
                }
            }
        }
    }
}
