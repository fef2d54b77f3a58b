//! What every verb answers: its exit code or a [`Failure`] (the code and what to print), and
//! [`Out`], where it prints (human text, or one JSON document with `--json`).

use serde_json::{Value, json};

use super::connect::ConnectError;
use super::output;
use crate::config::ConfigError;
use crate::ops::{OpError, exit};
use crate::platform::PlatformError;

/// Why a command did not reach its requested state: the exit code and what to print.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
    /// Structured details for `--json`.
    pub detail: Value,
}

impl From<OpError> for Failure {
    fn from(e: OpError) -> Self {
        let detail = match &e {
            OpError::Refused(r) => json!({ "refused": r }),
            OpError::Platform(p) => json!({ "platform_error": p }),
            OpError::Weights(c) => json!({ "weights": c, "outcome": c.outcome() }),
        };
        Failure {
            code: e.exit_code(),
            message: e.to_string(),
            detail,
        }
    }
}

impl From<PlatformError> for Failure {
    fn from(e: PlatformError) -> Self {
        OpError::Platform(e).into()
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        if let Some(ConnectError(p)) = e.downcast_ref::<ConnectError>() {
            let code = match p {
                PlatformError::Config(_) => exit::FAILURE,
                _ => OpError::Platform(p.clone()).exit_code(),
            };
            return Failure {
                code,
                message: p.to_string(),
                detail: json!({ "platform_error": p }),
            };
        }
        let code = if e.downcast_ref::<ConfigError>().is_some() {
            exit::FAILURE
        } else if let Some(p) = e.downcast_ref::<PlatformError>() {
            OpError::Platform(p.clone()).exit_code()
        } else {
            exit::FAILURE
        };
        Failure {
            code,
            message: format!("{e:#}"),
            detail: Value::Null,
        }
    }
}

pub(super) type Outcome = Result<i32, Failure>;

/// Prints a result: human text on stdout, or one JSON document.
pub(super) struct Out {
    /// `--json`: one JSON document; else human text.
    pub(super) json: bool,
}

impl Out {
    /// `--json`: one JSON document; else human text.
    pub(super) fn new(json: bool) -> Out {
        Out { json }
    }

    pub(super) fn print(&self, human: &str, value: Value) {
        if self.json {
            output::out_json(&serde_json::to_string_pretty(&value).unwrap_or_default());
        } else {
            output::out(human);
        }
    }

    /// How a long wait shows its progress.
    pub(super) fn mode(&self) -> super::progress::Mode {
        super::progress::Mode::detect(self.json)
    }

    /// Progress while waiting: stderr, and only for humans.
    pub(super) fn progress(&self, line: &str) {
        if !self.json {
            output::err(line);
        }
    }
}
