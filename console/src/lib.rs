//! bluegreen: a console for blue/green releases of a web service, on AWS (CodeBuild, ECR, ECS,
//! ALB) or on the embedded local platform.
//!
//! - [`rollout`]: the pure domain (colors, weights, observed state, guards).
//! - [`platform`]: the one trait both platforms implement, and the adapters.
//! - [`ops`]: the verbs over the trait, with read-only/arming and guards enforced once.
//! - The front ends over [`ops`]: [`cli`] (the headless verbs), [`tui`] (the console) and
//!   [`daemon`] (the local platform's background process: control socket, release driver,
//!   restart handover).

pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod doctor;
pub mod format;
#[cfg(test)]
mod layering;
pub mod ops;
pub mod platform;
#[cfg(test)]
mod prop;
pub mod rollout;
pub mod tui;
