//! The rollout domain: colors, weights, observed state, the derived facts and the guard rules.
//! Pure: no I/O, no terminal, no AWS types.

mod color;
pub mod guard;
mod state;
mod weights;

pub use color::{Color, PerColor, UnknownColor};
pub use guard::{GuardRule, Refusal};
pub use state::*;
pub use weights::{Weights, WeightsError};

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

#[cfg(test)]
mod tests;
