//! What the property tests share: a modest number of cases, so the whole set runs in seconds,
//! and no failure files written into the source tree (a failing case prints its shrunk input;
//! keep it as a plain test beside the property).

use proptest::prelude::*;
use proptest::test_runner::Config;

/// 256 cases per property; no persistence.
pub(crate) fn config() -> Config {
    let mut c = Config::with_cases(256);
    c.failure_persistence = None;
    c
}

/// Fewer cases, for properties that touch the file system or start a runtime.
pub(crate) fn io_config() -> Config {
    let mut c = config();
    c.cases = 48;
    c
}

/// Numbers as an operator may type them, of every size: small, around the limits, any u64,
/// and past u64.
pub(crate) fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..2_000).prop_map(|n| n.to_string()),
        (0u64..2_000_000).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        "[1-9][0-9]{19,30}",
    ]
}
