//! Shared helpers for the cross-crate end-to-end tests in `tests/tests/`.
//!
//! - [`moto`]: a moto server on a free loopback port, one per test (or per test binary), with an
//!   `SdkConfig` pointed at it.
//! - [`bins`]: finds the workspace's binaries (`blog`, `bluegreen`) under the target directory,
//!   since this crate gets no `CARGO_BIN_EXE_*` for other crates' binaries.

pub mod aws;
pub mod bins;
pub mod moto;
