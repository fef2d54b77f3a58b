//! The local platform: build runner, registry, supervisor, weighted proxy and logs, run by a
//! background daemon and driven over a Unix control socket.

pub mod cli;
pub mod paths;
pub mod proxy;
pub mod logs;
pub mod registry;
pub mod supervisor;
pub mod build;
