//! Counting API calls and turning SDK errors into [`PlatformError`]s that name the call, the
//! resource and, for AccessDenied, the IAM action.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::iam;
use crate::platform::{FaultKind, PlatformError};

/// Operations made through the clients it is installed in.
#[derive(Debug, Default)]
pub struct Counts {
    calls: AtomicU64,
}

impl Counts {
    /// Operations started: what the refresh budget counts.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// The interceptor installed in every client.
#[derive(Debug, Clone)]
pub struct Counter(pub Arc<Counts>);

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "bluegreen-call-counter"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.calls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// One SDK operation, as listed in [`iam::OPERATIONS`].
#[derive(Debug, Clone, Copy)]
pub struct Op {
    pub service: &'static str,
    pub operation: &'static str,
}

impl Op {
    pub const fn new(service: &'static str, operation: &'static str) -> Self {
        Op { service, operation }
    }

    /// `elbv2:ModifyListener`.
    pub fn label(self) -> String {
        format!("{}:{}", self.service, self.operation)
    }

    /// The IAM action the operation needs.
    pub fn iam_action(self) -> String {
        iam::OPERATIONS
            .iter()
            .find(|(s, o, _)| *s == self.service && *o == self.operation)
            .map(|(_, _, a)| a.to_string())
            .unwrap_or_else(|| format!("{}:{}", self.service, self.operation))
    }

    /// A failure that is not an SDK error (a missing field, an unknown target group).
    pub fn fail(
        self,
        resource: &str,
        fault: FaultKind,
        message: impl Into<String>,
    ) -> PlatformError {
        PlatformError::call(self.label(), resource, fault, message)
    }

    /// Classifies an SDK error after the SDK's own retries gave up.
    pub fn error<E>(self, resource: &str, err: SdkError<E, HttpResponse>) -> PlatformError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        // No credentials: the request is never sent, which is no network error.
        if matches!(
            err,
            SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)
        ) {
            let whole = chain(&err);
            if whole.to_ascii_lowercase().contains("credential") {
                return PlatformError::call(
                    self.label(),
                    resource,
                    FaultKind::Invalid,
                    format!(
                        "no usable AWS credentials ({whole}): set `aws_profile` in the profile or pass --aws-profile NAME (then `aws sso login --profile NAME` for an SSO profile), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                    ),
                );
            }
        }
        let (fault, message) = match &err {
            SdkError::TimeoutError(_) => (FaultKind::Timeout, "no answer in time".to_string()),
            SdkError::DispatchFailure(d) => {
                let fault = if d.is_timeout() {
                    FaultKind::Timeout
                } else {
                    FaultKind::Network
                };
                let detail = d
                    .as_connector_error()
                    .map(|c| chain(c))
                    .unwrap_or_else(|| "the request could not be sent".into());
                (fault, detail)
            }
            SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
                let code = err.code().unwrap_or_default();
                let text = err.message().unwrap_or_default();
                let fault = classify(code, status);
                let message = match (code.is_empty(), text.is_empty(), status) {
                    (false, false, _) => format!("{code}: {text}"),
                    (false, true, _) => code.to_string(),
                    (true, false, _) => text.to_string(),
                    (true, true, Some(s)) => format!("HTTP {s}: {}", chain(&err)),
                    (true, true, None) => chain(&err),
                };
                (fault, message)
            }
            _ => (FaultKind::Other, chain(&err)),
        };
        let message = match status {
            Some(s) if !message.contains("HTTP") => format!("{message} (HTTP {s})"),
            _ => message,
        };
        if fault == FaultKind::AccessDenied {
            PlatformError::access_denied(self.label(), resource, self.iam_action(), message)
        } else {
            PlatformError::call(self.label(), resource, fault, message)
        }
    }
}

/// Maps an AWS error code (and the HTTP status) to a fault.
pub fn classify(code: &str, status: Option<u16>) -> FaultKind {
    match code {
        "Throttling"
        | "ThrottlingException"
        | "ThrottledException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "SlowDown"
        | "PriorRequestNotComplete" => FaultKind::Throttled,
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "NotAuthorized" => FaultKind::AccessDenied,
        "RequestTimeout" | "RequestTimeoutException" => FaultKind::Timeout,
        c if c.ends_with("NotFound")
            || c.ends_with("NotFoundException")
            || c == "ClusterNotFoundException"
            || c == "ServiceNotActiveException" =>
        {
            FaultKind::NotFound
        }
        c if c.starts_with("Invalid") || c.starts_with("Validation") || c == "ClientException" => {
            FaultKind::Invalid
        }
        _ => match status {
            Some(429) => FaultKind::Throttled,
            Some(403) => FaultKind::AccessDenied,
            Some(s) if s >= 500 => FaultKind::ServerError,
            _ => FaultKind::Other,
        },
    }
}

/// An error and its sources, joined, without the SDK's debug noise.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_faults() {
        assert_eq!(
            classify("ThrottlingException", Some(400)),
            FaultKind::Throttled
        );
        assert_eq!(classify("Throttling", Some(400)), FaultKind::Throttled);
        assert_eq!(
            classify("AccessDeniedException", Some(400)),
            FaultKind::AccessDenied
        );
        assert_eq!(classify("ListenerNotFound", Some(400)), FaultKind::NotFound);
        assert_eq!(
            classify("ClusterNotFoundException", Some(400)),
            FaultKind::NotFound
        );
        assert_eq!(
            classify("InvalidParameterException", Some(400)),
            FaultKind::Invalid
        );
        assert_eq!(classify("", Some(503)), FaultKind::ServerError);
        assert_eq!(
            classify("InternalFailure", Some(500)),
            FaultKind::ServerError
        );
        assert_eq!(classify("", Some(429)), FaultKind::Throttled);
    }

    #[test]
    fn every_operation_has_an_iam_action() {
        for (service, operation, action) in iam::OPERATIONS {
            assert_eq!(Op::new(service, operation).iam_action(), *action);
            let (prefix, name) = action.split_once(':').expect("service:Action");
            assert!(!prefix.is_empty(), "{action}");
            assert_eq!(
                name, *operation,
                "IAM actions here are named like their operations"
            );
        }
    }
}
