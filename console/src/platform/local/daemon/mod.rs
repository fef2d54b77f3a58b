//! The daemon's engine and its state: what the local platform does for each control request,
//! and what it keeps in `state.json`. The process that hosts them (the control socket server,
//! the release driver, the restart handover) is a front end, in [`crate::daemon`].

pub mod engine;
pub mod state;
