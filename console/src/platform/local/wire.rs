//! The control socket's wire format: one JSON document per line, each carrying the protocol
//! version. A request names an operation in `op`; the answer is `{"v":1,"ok":…}` or
//! `{"v":1,"error":…}` with a [`PlatformError`].

use serde::{Deserialize, Serialize};

use crate::platform::local::proxy::fault::FaultSpec;
use crate::platform::{FaultKind, LogCursor, PlatformError};
use crate::rollout::journal::{Entry, Query};
use crate::rollout::lock::LockRecord;
use crate::rollout::watch::{Unguarded, WatchSettings};
use crate::rollout::{Bake, Color, InjectedFault, Release, UnixMillis, Weights};

/// The protocol version this build speaks. A daemon refuses other versions with a message
/// naming both, so a stale daemon after an upgrade is obvious.
pub const VERSION: u32 = 1;

/// The longest request line the daemon reads. Requests are small; the largest, a log cursor,
/// names one stream per task at about 100 bytes each, so this leaves room for thousands.
pub const MAX_LINE: usize = 256 << 10;

/// How long a daemon's successor has to adopt the tasks and serve, in a planned restart; a
/// client asking for the restart waits that long, and a little more.
pub const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The longest reply line a client reads (a snapshot, or a batch of log lines).
pub const MAX_REPLY: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// The daemon's own status (pid, listeners, uptime).
    Status,
    Info,
    Snapshot,
    Listener,
    TargetHealth {
        color: Color,
    },
    Builds {
        limit: usize,
    },
    StartBuild {
        source_version: Option<String>,
        #[serde(default)]
        release_tag: Option<String>,
    },
    Images,
    Deploy {
        color: Color,
        tag: String,
        desired: u32,
        /// Keep this as what a console last set on the service (every console sends `true`);
        /// a client that leaves it out changes the service "out of band": drift.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        record: bool,
    },
    Scale {
        color: Color,
        desired: u32,
        /// As for `deploy`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        record: bool,
    },
    SetWeights {
        weights: Weights,
        /// Keep these as the weights a console last wrote (every console sends `true`). A
        /// client that leaves it out changes the weights "out of band": drift.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        record: bool,
    },
    RecordStable {
        stable: Color,
        bake: Option<Bake>,
    },
    PointTestListener {
        color: Color,
    },
    ReadLogs {
        cursor: LogCursor,
        limit: usize,
    },
    Metrics {
        window_secs: u64,
    },
    Release,
    /// Drives the recorded release here until it ends; answers whether one is driven.
    DriveRelease,
    RecordRelease {
        release: Box<Release>,
    },
    SmokeGet {
        path: String,
        timeout_ms: u64,
    },
    /// Injects a fault into one color's answers, replacing that color's (answers a
    /// [`FaultReport`]). Added after protocol 1 shipped: a daemon that predates it answers
    /// "unknown variant", which the client turns into "restart the daemon".
    SetFault {
        fault: FaultSpec,
    },
    /// Clears one color's fault, or every one (answers a [`FaultReport`]).
    ClearFaults {
        #[serde(default)]
        color: Option<Color>,
    },
    /// The faults in force (a [`FaultReport`]).
    Faults,
    /// Kills every task of `color` once, as a crash would (answers [`Crashed`]).
    Crash {
        color: Color,
    },
    /// Stops every task and the daemon; the state directory keeps the release.
    Shutdown,
    /// Hands the listeners, the lock and the tasks to a new daemon run from `exe` (a planned
    /// restart: no request fails), then exits.
    Restart {
        exe: std::path::PathBuf,
    },
    /// Appends one entry to the journal (answers `null`). Added after protocol 1 shipped,
    /// like [`Request::SetFault`].
    JournalAppend {
        entry: Box<Entry>,
    },
    /// The journal's entries a query asks for (answers a [`crate::platform::JournalPage`]).
    JournalRead {
        query: Query,
    },
    /// The deploy lock's record (answers `Option<LockRecord>`). Added after protocol 1
    /// shipped, as [`Request::SetFault`] was.
    LockRead,
    /// Compare-and-swap of the deploy lock (answers a [`crate::platform::LockSwap`]).
    LockSwap {
        expected: Option<String>,
        new: Option<Box<LockRecord>>,
    },
    /// The profile's guard, gates and probe, which the daemon keeps and watches with
    /// (answers `null`). Added after protocol 1 shipped, as [`Request::SetFault`] was.
    ConfigureWatch {
        settings: Box<WatchSettings>,
    },
    /// A shift made unguarded (`shift --unguarded --reason`; answers `null`).
    RecordUnguarded {
        unguarded: Box<Unguarded>,
    },
}

/// The faults in force after a fault request, and those it cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultReport {
    pub active: Vec<InjectedFault>,
    #[serde(default)]
    pub cleared: Vec<InjectedFault>,
}

/// The answer to a crash: the tasks killed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crashed {
    pub color: Color,
    pub killed: Vec<KilledTask>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KilledTask {
    pub task_id: String,
    pub pid: u32,
}

/// The answer to a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restarted {
    pub old_pid: u32,
    pub new_pid: u32,
    /// The tasks handed over.
    pub tasks: usize,
}

impl Request {
    /// The operation's name, for errors (`local:set-weights`).
    pub fn call_name(&self) -> String {
        let v = serde_json::to_value(self).ok();
        let op = v
            .as_ref()
            .and_then(|v| v.get("op"))
            .and_then(|o| o.as_str())
            .unwrap_or("request");
        format!("local:{op}")
    }
}

/// A request as sent: the version beside the operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub v: u32,
    #[serde(flatten)]
    pub body: T,
}

/// An answer as sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    pub v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<PlatformError>,
}

/// What `local status` shows about a running daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub pid: u32,
    pub state_dir: String,
    pub socket: String,
    /// `127.0.0.1:PORT`.
    pub production: String,
    pub test: String,
    pub started_at: UnixMillis,
    pub protocol: u32,
    /// The `bluegreen` version that runs the daemon.
    pub version: String,
    /// The state in force is not saved (a full disk): why, and what a restart would do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsaved: Option<String>,
}

/// A request the daemon cannot take: malformed, or not its to answer.
pub fn invalid(message: String) -> PlatformError {
    PlatformError::call(
        "local:request",
        "control socket",
        FaultKind::Invalid,
        message,
    )
}

/// Checks the version first, so an old client gets "wrong version" rather than a
/// confusing parse error.
pub fn parse(line: &[u8]) -> Result<Request, PlatformError> {
    let value: serde_json::Value = serde_json::from_slice(line)
        .map_err(|e| invalid(format!("malformed request (not JSON): {e}")))?;
    let v = value.get("v").and_then(|v| v.as_u64());
    match v {
        Some(v) if v == VERSION as u64 => {}
        Some(v) => {
            return Err(invalid(format!(
                "protocol version {v} is not spoken here (this daemon speaks {VERSION}); restart the daemon with the same bluegreen: `bluegreen local down && bluegreen local up`"
            )));
        }
        None => return Err(invalid("malformed request: no protocol version `v`".into())),
    }
    let env: Envelope<Request> =
        serde_json::from_value(value).map_err(|e| invalid(format!("malformed request: {e}")))?;
    Ok(env.body)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_with_their_version() {
        let req = Envelope {
            v: VERSION,
            body: Request::SetWeights {
                weights: Weights::with_green_percent(10).expect("valid"),
                record: false,
            },
        };
        let line = serde_json::to_string(&req).expect("json");
        assert_eq!(
            line,
            r#"{"v":1,"op":"set-weights","weights":{"blue":90,"green":10}}"#
        );
        let back: Envelope<Request> = serde_json::from_str(&line).expect("parse");
        assert_eq!(back.body, req.body);
        assert_eq!(req.body.call_name(), "local:set-weights");
    }

    #[test]
    fn invalid_weights_do_not_parse() {
        let bad = r#"{"v":1,"op":"set-weights","weights":{"blue":90,"green":90}}"#;
        assert!(serde_json::from_str::<Envelope<Request>>(bad).is_err());
    }

    /// Strategies for the protocol's values, for the property tests here and in the daemon.
    pub(crate) mod strategies {
        use super::*;
        use proptest::prelude::*;

        pub(crate) fn color() -> impl Strategy<Value = Color> {
            prop_oneof![Just(Color::Blue), Just(Color::Green)]
        }

        pub(crate) fn cursor() -> impl Strategy<Value = LogCursor> {
            let offset = prop_oneof![
                any::<u64>().prop_map(|n| n.to_string()),
                (0u64..4096).prop_map(|n| n.to_string()),
                "\\PC{0,12}",
            ];
            (
                prop::collection::btree_map("(blue|green)/[a-z0-9-]{1,10}", offset, 0..4),
                prop::option::of(any::<UnixMillis>()),
            )
                .prop_map(|(streams, since)| LogCursor { streams, since })
        }

        pub(crate) fn request() -> impl Strategy<Value = Request> {
            let text = "\\PC{0,16}";
            prop_oneof![
                Just(Request::Status),
                Just(Request::Info),
                Just(Request::Snapshot),
                Just(Request::Listener),
                Just(Request::Images),
                Just(Request::Shutdown),
                color().prop_map(|color| Request::TargetHealth { color }),
                any::<usize>().prop_map(|limit| Request::Builds { limit }),
                (prop::option::of(text), prop::option::of(text)).prop_map(
                    |(source_version, release_tag)| Request::StartBuild {
                        source_version,
                        release_tag
                    }
                ),
                (color(), text, any::<u32>(), any::<bool>()).prop_map(
                    |(color, tag, desired, record)| Request::Deploy {
                        color,
                        tag,
                        desired,
                        record,
                    }
                ),
                (color(), any::<u32>(), any::<bool>()).prop_map(|(color, desired, record)| {
                    Request::Scale {
                        color,
                        desired,
                        record,
                    }
                }),
                (0u16..=1000, any::<bool>()).prop_map(|(g, record)| Request::SetWeights {
                    weights: Weights::permille(1000 - g, g).expect("in range"),
                    record,
                }),
                (
                    color(),
                    prop::option::of((color(), any::<UnixMillis>(), any::<bool>()))
                )
                    .prop_map(|(stable, bake)| Request::RecordStable {
                        stable,
                        bake: bake.map(|(old, until, keep_old)| Bake {
                            old,
                            until,
                            keep_old
                        }),
                    }),
                color().prop_map(|color| Request::PointTestListener { color }),
                (cursor(), any::<usize>())
                    .prop_map(|(cursor, limit)| Request::ReadLogs { cursor, limit }),
                any::<u64>().prop_map(|window_secs| Request::Metrics { window_secs }),
                (
                    color(),
                    0u16..=1000,
                    any::<u32>(),
                    prop::option::of(any::<u64>())
                )
                    .prop_map(|(color, permille, latency_ms, for_secs)| {
                        Request::SetFault {
                            fault: FaultSpec {
                                color,
                                error_rate: crate::rollout::Share::permille(permille)
                                    .expect("in range"),
                                latency_ms,
                                for_secs,
                            },
                        }
                    }),
                prop::option::of(color()).prop_map(|color| Request::ClearFaults { color }),
                Just(Request::Faults),
                color().prop_map(|color| Request::Crash { color }),
                Just(Request::LockRead),
                (prop::option::of(text), any::<i64>()).prop_map(|(expected, at)| {
                    Request::LockSwap {
                        expected: expected.clone(),
                        new: expected.map(|token| {
                            Box::new(LockRecord {
                                holder: crate::rollout::Operator::new("alice", "h").expect("valid"),
                                hold: crate::rollout::lock::Hold::Write,
                                purpose: "shift".into(),
                                reason: None,
                                since: at,
                                renewed: at,
                                expires: at,
                                token,
                                taken_over_from: None,
                                handed_over_from: None,
                            })
                        }),
                    }
                }),
            ]
        }
    }

    mod proptests {
        use super::strategies::request;
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::prop::config())]

            #[test]
            fn every_request_round_trips_on_one_line(req in request()) {
                let line = serde_json::to_string(&Envelope { v: VERSION, body: req.clone() })
                    .expect("serializes");
                prop_assert!(!line.contains('\n'));
                prop_assert!(line.len() < MAX_LINE);
                let back: Envelope<Request> = serde_json::from_str(&line).expect("parses");
                prop_assert_eq!(back.v, VERSION);
                prop_assert!(req.call_name().starts_with("local:"));
                prop_assert_eq!(back.body, req);
            }

            #[test]
            fn replies_round_trip_on_one_line(ok in prop::option::of("\\PC{0,40}"), message in "\\PC{0,40}") {
                let reply = Reply {
                    v: VERSION,
                    ok: ok.map(serde_json::Value::from),
                    error: Some(PlatformError::call(
                        "local:request",
                        "control socket",
                        crate::platform::FaultKind::Invalid,
                        message,
                    )),
                };
                let line = serde_json::to_string(&reply).expect("serializes");
                prop_assert!(!line.contains('\n'));
                let back: Reply = serde_json::from_str(&line).expect("parses");
                prop_assert_eq!(back.ok, reply.ok);
                prop_assert_eq!(
                    back.error.map(|e| e.to_string()),
                    reply.error.map(|e| e.to_string())
                );
            }
        }
    }
}
