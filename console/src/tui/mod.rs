//! The deploy console TUI (ratatui + crossterm): events → actions → a pure update → commands
//! carried out by workers.

use crate::ops::Ops;

/// How the console was started.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    /// The `bluegreen.toml` profile's name, for the header.
    pub profile: String,
    /// Log lines kept in the ring buffer.
    pub log_capacity: usize,
}

impl Default for TuiOptions {
    fn default() -> Self {
        TuiOptions {
            profile: "local".into(),
            log_capacity: 10_000,
        }
    }
}

/// Runs the console until the user quits; the terminal is restored on every exit path.
pub async fn run(ops: Ops, opts: TuiOptions) -> anyhow::Result<()> {
    let _ = (ops, opts);
    anyhow::bail!("the console TUI is not built yet")
}
