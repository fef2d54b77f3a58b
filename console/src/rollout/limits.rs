//! Bounds on the numbers an operator gives (flags, the console's dialogs and command line), so
//! no typo can overflow a deadline or end a bake at once. Parsers refuse values outside them and
//! name the bound.

/// The longest bake a promote may ask for: a day.
pub const MAX_BAKE_SECS: u64 = 24 * 3600;
/// The longest any wait (`--timeout`) may last: a day.
pub const MAX_WAIT_SECS: u64 = 24 * 3600;
/// How far back `logs --since` may start: 30 days (CloudWatch's default retention is longer,
/// but a tail that far back is a query, not a tail).
pub const MAX_LOG_SINCE_SECS: u64 = 30 * 24 * 3600;

/// Tasks per color a profile allows unless it sets `max_tasks`: enough for a real service, and
/// a typo (`--count 10000`) is refused instead of starting thousands of tasks.
pub const DEFAULT_MAX_TASKS: u32 = 20;
/// The largest `max_tasks` a profile may set.
pub const MAX_TASKS_CEILING: u32 = 1_000;
/// Tasks per color the local daemon runs at most, whoever asks: each is a process on this
/// machine.
pub const LOCAL_MAX_TASKS: u32 = 64;
/// Tasks of one color the local daemon starts at once; more wait until these listen or end,
/// so a large scale-out cannot fork hundreds of processes in a burst.
pub const LOCAL_MAX_STARTING: usize = 8;
/// A task's log is rotated (to `<task>.log.1`, replacing an older one) once it reaches this.
pub const LOCAL_TASK_LOG_BYTES: u64 = 16 << 20;
/// The ended tasks per color whose logs are kept; older ones are deleted.
pub const LOCAL_OLD_TASK_LOGS: usize = 20;
/// The most lines one `logs` call shows.
pub const MAX_LOG_LINES: u32 = 100_000;
/// The most lines one `logs` call reads through to find the latest ones (a window that holds
/// more is cut, and says so).
pub const MAX_LOG_SCAN: usize = 2_000_000;
/// The longest of the local daemon's timings (`local up --health-interval-ms`,
/// `--deregistration-delay-ms`, `--stop-timeout-ms`): ten minutes, so a typo cannot leave a
/// `local down` waiting for days.
pub const LOCAL_MAX_DELAY_MS: u64 = 10 * 60 * 1000;
/// The shortest health-check interval the local daemon keeps.
pub const LOCAL_MIN_HEALTH_INTERVAL_MS: u64 = 50;
/// The most checks in a row a health threshold may ask for.
pub const MAX_HEALTH_THRESHOLD: u32 = 100;
/// The most latency `local fault --latency-ms` may add to a request: a minute, the proxy's
/// own response timeout.
pub const MAX_FAULT_LATENCY_MS: u32 = 60_000;
/// The longest a fault may last (`local fault --for`): a day.
pub const MAX_FAULT_SECS: u64 = 24 * 3600;

/// Longest `--reason` kept with the lock and in the journal.
pub const MAX_REASON_CHARS: usize = 200;
