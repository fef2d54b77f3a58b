//! The headless CLI: every verb the console has, for pipelines and scripts. Human output by
//! default, JSON with `--json`; exit codes from [`crate::ops::exit`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::rollout::{Color, Weights, limits};
use demo::DemoArgs;
use local::LocalCommand;

mod connect;
mod demo;
mod local;
mod output;
mod render;
mod run;

pub use connect::{Connection, connect};
pub use run::{run, usage_failure};

/// Blue/green releases of the blog on ECS behind an ALB, or on the embedded local platform.
/// Without a command, opens the console.
#[derive(Debug, Parser)]
#[command(name = "bluegreen", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The environment in bluegreen.toml (default: `default_profile`, or the only profile).
    #[arg(long, global = true, env = "BLUEGREEN_PROFILE")]
    pub profile: Option<String>,
    /// The configuration file [default: ./bluegreen.toml; without one, the local platform].
    #[arg(long, global = true, env = "BLUEGREEN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The local platform's state directory [default: ./.bluegreen/].
    #[arg(long, global = true, env = "BLUEGREEN_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The AWS credentials profile (wins over the profile's `aws_profile` and AWS_PROFILE).
    #[arg(long, global = true, value_name = "NAME")]
    pub aws_profile: Option<String>,
    /// The AWS region (wins over the profile's `region` and AWS_REGION).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Refuse every write, rollback included.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Allow writes on a profile marked `read_only = true`.
    #[arg(long, global = true)]
    pub arm: bool,
    /// JSON output (one document on stdout), errors included.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Both colors, the listener, the latest builds and images.
    Status {
        /// Also list tasks and targets, and the API calls the refresh cost.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Moves traffic: `--green 20` gives green 20% and blue 80%.
    Shift(ShiftArgs),
    /// Gives the canary 100%, makes it stable, and after the bake scales the old color to 0.
    /// Finishes a pending bake when one is left from an earlier promote.
    Promote {
        /// Seconds the old color keeps running, so a rollback can undo the promote.
        #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = secs(limits::MAX_BAKE_SECS))]
        bake: u64,
        /// Keep the old color running after the bake.
        #[arg(long)]
        keep_old: bool,
    },
    /// Gives the stable color 100% with one weight change (during a bake: undoes the promote).
    Rollback,
    /// Starts a build.
    Build {
        /// Branch, tag or commit to build.
        #[arg(long, value_name = "REF")]
        source_version: Option<String>,
        /// Wait until the build finishes; exit 0 only if it succeeded.
        #[arg(long)]
        wait: bool,
        /// Seconds to wait with --wait.
        #[arg(long, value_name = "S", default_value_t = 3600, value_parser = secs(limits::MAX_WAIT_SECS))]
        timeout: u64,
    },
    /// Deploys an image tag to the idle color with the live color's task count.
    Deploy {
        #[arg(long)]
        tag: String,
        /// Deploy to this color instead of the idle one (it must serve no traffic).
        #[arg(long)]
        color: Option<Color>,
        /// Wait until the color is healthy.
        #[arg(long)]
        wait: bool,
        /// Seconds to wait with --wait.
        #[arg(long, value_name = "S", default_value_t = 600, value_parser = secs(limits::MAX_WAIT_SECS))]
        timeout: u64,
    },
    /// Waits until a color is healthy or the listener shows given weights.
    Wait(WaitArgs),
    /// Both colors' log lines, tagged with color and task; `--follow` keeps tailing.
    Logs {
        /// Start this many seconds back.
        #[arg(long, value_name = "S", default_value_t = 600, value_parser = secs(limits::MAX_LOG_SINCE_SECS))]
        since: u64,
        /// Only this color's lines.
        #[arg(long)]
        color: Option<Color>,
        /// Keep reading new lines until interrupted (Ctrl-C).
        #[arg(long, short)]
        follow: bool,
        /// Show at most the latest N lines of the window (after the color filter).
        #[arg(long, short = 'n', value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=limits::MAX_LOG_LINES as i64))]
        lines: u32,
    },
    /// Sets a color's desired task count.
    Scale {
        #[arg(long)]
        color: Color,
        #[arg(long)]
        count: u32,
    },
    /// Writes a profile into bluegreen.toml from `terraform output -json` files (merged).
    Init {
        /// A file with `terraform output -json` output; repeat for several states.
        #[arg(long = "from-terraform", value_name = "FILE", required = true, num_args = 1..)]
        from_terraform: Vec<PathBuf>,
    },
    /// The local platform daemon.
    #[command(subcommand)]
    Local(LocalCommand),
    /// A local demo: builds, deploys and opens the console.
    Demo(DemoArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ShiftArgs {
    /// Green's share in percent; blue gets the rest.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100), required_unless_present = "blue", conflicts_with = "blue")]
    pub green: Option<u8>,
    /// Blue's share in percent; green gets the rest.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub blue: Option<u8>,
    /// Override the health guard.
    #[arg(long)]
    pub force: bool,
}

impl ShiftArgs {
    pub fn weights(&self) -> Weights {
        let (color, share) = match (self.green, self.blue) {
            (Some(g), _) => (Color::Green, g),
            (None, Some(b)) => (Color::Blue, b),
            (None, None) => (Color::Green, 0),
        };
        Weights::with_share(color, share).unwrap_or(Weights::all(color.other()))
    }
}

#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Until this color's healthy targets reach its desired count.
    #[arg(
        long,
        value_name = "COLOR",
        required_unless_present = "weights",
        conflicts_with = "weights"
    )]
    pub healthy: Option<Color>,
    /// Until the listener shows these weights (`B:G`, e.g. `80:20`).
    #[arg(long, value_name = "B:G")]
    pub weights: Option<Weights>,
    /// Seconds before giving up.
    #[arg(long, value_name = "S", default_value_t = 300, value_parser = secs(limits::MAX_WAIT_SECS))]
    pub timeout: u64,
}

/// A number of seconds from 0 to `max`; clap's message names the range.
fn secs(max: u64) -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(0..=max)
}

#[cfg(test)]
mod tests;
