//! The control socket's wire format: one JSON document per line, each carrying the protocol
//! version. A request names an operation in `op`; the answer is `{"v":1,"ok":…}` or
//! `{"v":1,"error":…}` with a [`PlatformError`].

use serde::{Deserialize, Serialize};

use crate::platform::{LogCursor, PlatformError};
use crate::rollout::{Bake, Color, UnixMillis, Weights};

/// The protocol version this build speaks. A daemon refuses other versions with a message
/// naming both, so a stale daemon after an upgrade is obvious.
pub const VERSION: u32 = 1;

/// The longest request line the daemon reads. Requests are small; the largest, a log cursor,
/// names one stream per task at about 100 bytes each, so this leaves room for thousands.
pub const MAX_LINE: usize = 256 << 10;

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
    },
    Scale {
        color: Color,
        desired: u32,
    },
    SetWeights {
        weights: Weights,
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
    /// Stops every task and the daemon; the state directory keeps the release.
    Shutdown,
    /// Hands the listeners, the lock and the tasks to a new daemon run from `exe` (a planned
    /// restart: no request fails), then exits.
    Restart {
        exe: std::path::PathBuf,
    },
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_with_their_version() {
        let req = Envelope {
            v: VERSION,
            body: Request::SetWeights {
                weights: Weights::with_green(10).expect("valid"),
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
}
