//! The rollout domain: colors, weights, observed state, the derived facts, and every release
//! rule (the guards in [`guard`], the bake in [`bake`]). Pure: no I/O, no clock, no terminal,
//! no AWS types. The command layer, the daemon and the console carry its decisions out.

pub mod bake;
mod color;
pub mod drift;
pub mod gate;
pub mod guard;
pub mod journal;
pub mod limits;
pub mod lock;
pub mod operator;
pub mod plan;
pub mod release;
pub mod resolve;
pub mod split;
mod state;
pub mod step_split;
pub mod watch;
mod weights;

pub use bake::BakeStep;
pub use color::{Color, PerColor, UnknownColor};
pub use gate::{Gate, GateConfig, GateResult, Verdict};
pub use guard::{GuardRule, Refusal};
pub use operator::{Operator, OperatorError};
pub use plan::{Plan, SmokeCheck, Step};
pub use release::{Outcome, Release, Stage};
pub use split::SplitVerdict;
pub use state::*;
pub use weights::{Share, ShareError, Weights, WeightsError};

impl Snapshot {
    /// The color with 100% of traffic, if one has it.
    pub fn live(&self) -> Option<Color> {
        self.listener.weights.live()
    }

    /// The other color at rest; `None` during a shift.
    pub fn idle(&self) -> Option<Color> {
        self.live().map(Color::other)
    }

    /// The stored stable color.
    pub fn stable(&self) -> Option<Color> {
        self.listener.stable
    }

    /// The color receiving new traffic during a shift (the one that is not stable).
    pub fn canary(&self) -> Option<Color> {
        if self.shift_in_progress() {
            self.stable().map(Color::other)
        } else {
            None
        }
    }

    /// Whether traffic is split between the colors.
    pub fn shift_in_progress(&self) -> bool {
        self.listener.weights.is_split()
    }

    /// Whether the listener shows exactly `desired`.
    pub fn converged(&self, desired: Weights) -> bool {
        self.listener.weights == desired
    }

    /// Whether a promote's bake is pending and its old color still runs.
    pub fn bake_pending(&self) -> Option<&Bake> {
        self.listener.bake.as_ref()
    }

    /// Where a rollback would send all traffic (see [`guard::rollback_target`]).
    pub fn rollback_target(&self) -> Result<Color, Refusal> {
        guard::rollback_target(&self.listener, |c| self.colors.get(c).healthy_targets())
    }

    /// The color a deploy goes to: the idle color at rest. During a shift there is no idle
    /// color, and deploying to either would touch a color that serves traffic.
    pub fn deploy_target(&self) -> Option<Color> {
        self.idle()
    }
}

impl Listener {
    /// The bake decision at `now` (see [`bake::bake_step`]).
    pub fn bake_step(&self, now: UnixMillis) -> BakeStep {
        bake::bake_step(self.weights, self.stable, self.bake.as_ref(), now)
    }
}

#[cfg(test)]
mod tests;
