//! The local platform's own verbs: `bluegreen local up|down|status` and `bluegreen demo`.
//! Owned by the local-platform work; the CLI (crate::cli) only dispatches here.

use std::path::Path;
use std::sync::Arc;

use crate::platform::{Platform, PlatformError, PlatformResult};

/// `bluegreen local …`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum LocalCommand {
    /// Start the local platform daemon in the background (no-op if it runs).
    Up,
    /// Stop the daemon and every task it runs. State stays in the state directory.
    Down,
    /// Whether the daemon runs, its ports and its state directory.
    Status {
        #[arg(long)]
        json: bool,
    },
}

/// `bluegreen demo`
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Print the status and the URL instead of opening the console.
    #[arg(long)]
    pub no_tui: bool,
}

/// Runs a `local` verb; returns the process exit code.
pub async fn run_local(cmd: LocalCommand, state_dir: &Path) -> anyhow::Result<i32> {
    let _ = (cmd, state_dir);
    anyhow::bail!("the local platform daemon is not built yet")
}

/// Runs the demo; returns the process exit code. Opens the TUI unless `--no-tui`.
pub async fn run_demo(args: DemoArgs, state_dir: &Path) -> anyhow::Result<i32> {
    let _ = (args, state_dir);
    anyhow::bail!("the demo is not built yet")
}

/// Connects to the daemon that owns `state_dir`.
pub async fn connect(state_dir: &Path) -> PlatformResult<Arc<dyn Platform>> {
    Err(PlatformError::Config(format!(
        "no local platform daemon for {} yet",
        state_dir.display()
    )))
}
