use serde::{Deserialize, Serialize};

/// What went wrong talking to the platform, classified so the CLI can map it to an exit code
/// and the UI can say what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// The service throttled the call (after the SDK's retries).
    Throttled,
    /// The service answered 5xx (after the SDK's retries).
    ServerError,
    /// The call timed out.
    Timeout,
    /// The connection failed or was cut.
    Network,
    /// The caller lacks an IAM permission (`iam_action` names it).
    AccessDenied,
    /// A resource named in the configuration does not exist.
    NotFound,
    /// The request was rejected as invalid (a configuration or input problem).
    Invalid,
    /// The local daemon is not running or its socket refused us.
    Unavailable,
    /// Anything else.
    Other,
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FaultKind::Throttled => "throttled",
            FaultKind::ServerError => "server error",
            FaultKind::Timeout => "timeout",
            FaultKind::Network => "network error",
            FaultKind::AccessDenied => "access denied",
            FaultKind::NotFound => "not found",
            FaultKind::Invalid => "invalid request",
            FaultKind::Unavailable => "unavailable",
            FaultKind::Other => "error",
        })
    }
}

/// The one error type of the platform trait. Every variant says which call and which resource
/// failed, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PlatformError {
    /// A platform call failed.
    #[error("{call} on {resource} failed ({fault}): {message}{}", iam_action.as_ref().map(|a| format!(" [missing IAM permission: {a}]")).unwrap_or_default())]
    Call {
        /// The operation, e.g. `elbv2:ModifyListener` or `local:set-weights`.
        call: String,
        /// The resource it addressed: an ARN, a name, a socket path.
        resource: String,
        fault: FaultKind,
        /// For [`FaultKind::AccessDenied`]: the IAM action that is missing.
        iam_action: Option<String>,
        message: String,
    },
    /// Waiting for a state did not finish in time.
    #[error("timed out after {after_secs} s waiting for {what}")]
    TimedOut { what: String, after_secs: u64 },
    /// The configuration does not describe a usable platform.
    #[error("configuration: {0}")]
    Config(String),
}

impl PlatformError {
    /// A failed call.
    pub fn call(
        call: impl Into<String>,
        resource: impl Into<String>,
        fault: FaultKind,
        message: impl Into<String>,
    ) -> Self {
        PlatformError::Call {
            call: call.into(),
            resource: resource.into(),
            fault,
            iam_action: None,
            message: message.into(),
        }
    }

    /// A call refused for lack of an IAM permission.
    pub fn access_denied(
        call: impl Into<String>,
        resource: impl Into<String>,
        iam_action: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        PlatformError::Call {
            call: call.into(),
            resource: resource.into(),
            fault: FaultKind::AccessDenied,
            iam_action: Some(iam_action.into()),
            message: message.into(),
        }
    }

    pub fn fault(&self) -> Option<FaultKind> {
        match self {
            PlatformError::Call { fault, .. } => Some(*fault),
            _ => None,
        }
    }
}

pub type PlatformResult<T> = Result<T, PlatformError>;
