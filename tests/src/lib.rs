//! Shared helpers for the cross-crate end-to-end tests (the `e2e` test binary, `tests/e2e/`).
//!
//! - [`moto`]: a moto server on a free loopback port, one per test, with an `SdkConfig`
//!   pointed at it.
//! - [`aws`]: the seed's topology built in moto, the `bluegreen` binary driven against it, and a
//!   fault-injecting loopback proxy.
//! - [`local`]: a local-platform daemon in a temporary state directory, and a bounded load
//!   generator.
//! - [`blog_proc`]: the built `blog` binary as a process on a SQLite file.
//! - [`blog_http`]: a small blocking HTTP client and the steps a reader's browser takes.
//! - [`terraform`]: the stack's HCL, parsed, and helpers to read expressions out of it.
//! - [`tmux`]: the real console in a private tmux server, driven by keys and read by captures.
//! - [`bins`]: finds the workspace's binaries (`blog`, `bluegreen`) under the target directory,
//!   since this crate gets no `CARGO_BIN_EXE_*` for other crates' binaries.

pub mod aws;
pub mod bins;
pub mod blog_http;
pub mod blog_proc;
pub mod local;
pub mod moto;
pub mod terraform;
pub mod tmux;
