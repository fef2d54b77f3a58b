//! The wall clock, in one place. Policy in [`crate::rollout`] never reads it: callers pass
//! `now` in, so every rule is testable at any instant. Adapters, the command layer and the
//! console read it here.

use crate::rollout::UnixMillis;

/// Milliseconds since the Unix epoch, now. A clock before 1970 reads as 0; one past the year
/// 292 million saturates.
pub fn now_millis() -> UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| UnixMillis::try_from(d.as_millis()).unwrap_or(UnixMillis::MAX))
        .unwrap_or(0)
}
