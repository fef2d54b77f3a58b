//! Commands: what [`crate::tui::update`] asks the workers to do. Writes go through
//! [`crate::ops::Ops`], so the guards and read-only rules are the CLI's.

use crate::ops::PromoteOptions;
use crate::rollout::{Color, Weights};

use super::state::Resource;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Poll a resource now (coalesced with a request already queued for it).
    Refresh(Resource),
    Shift {
        weights: Weights,
        force: bool,
    },
    Promote {
        opts: PromoteOptions,
        pending: Option<Weights>,
    },
    FinishBake {
        /// `--accept-unmeasured`: too few requests measured do not hold the scale-in.
        accept_unmeasured: bool,
    },
    Rollback,
    Deploy {
        tag: String,
        color: Option<Color>,
    },
    Build {
        source_version: Option<String>,
    },
    Scale {
        color: Color,
        desired: u32,
    },
    /// Arm the command layer for this session.
    Arm,
    /// Start a release; on AWS this console drives it while it runs.
    StartRelease(Box<crate::rollout::resolve::ReleaseSpec>),
    /// Pause, resume or abort the running release.
    ReleaseRequest(crate::rollout::release::Request),
}
