//! The local platform: build runner, registry, supervisor, weighted proxy and logs, run by a
//! background daemon and driven over a Unix control socket.
//!
//! - [`daemon`]: the background process and its control server; [`client`]: the
//!   [`crate::platform::Platform`] implementation the CLI and the TUI use to reach it.
//! - [`proxy`] (the load balancer), [`supervisor`] (the services), [`registry`] (images),
//!   [`build`] (the build runner), [`logs`] (task log streams).
//! - [`files`]: how every state file is written (atomically, privately) and read.

pub(crate) mod build;
pub mod client;
pub(crate) mod daemon;
pub(crate) mod files;
pub mod journal;
pub mod lifecycle;
pub(crate) mod logs;
pub mod paths;
pub(crate) mod proxy;
pub(crate) mod registry;
pub(crate) mod supervisor;
pub(crate) mod wire;

/// What the local platform answers when asked for CloudWatch alarms (the client and the
/// daemon alike): it has none, so a profile naming some is a configuration error.
pub(crate) fn no_alarms() -> crate::platform::PlatformError {
    crate::platform::PlatformError::Config(
        "the local platform has no CloudWatch alarms: remove gates.alarms from this profile (the local gates read the proxy's counters)".into(),
    )
}
