//! The headless CLI.
