//! The build runner: executes buildspec-format files and keeps CodeBuild-shaped records.

pub mod runner;
pub mod spec;
pub mod store;

pub use runner::{BuildRequest, DEFAULT_BUILDSPEC, execute, submit};
pub use store::BuildStore;
