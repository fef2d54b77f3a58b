//! The headless CLI: every verb the console has, for pipelines and scripts. Human output by
//! default, JSON with `--json`; exit codes from [`crate::ops::exit`].

use std::path::PathBuf;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};

use crate::rollout::{Color, Share, Weights, limits};
use demo::DemoArgs;
use local::LocalCommand;

mod connect;
mod demo;
mod doctor;
mod fault;
mod history;
mod init;
mod local;
mod lock;
mod outcome;
mod output;
mod progress;
mod promote;
mod rehearse;
pub(crate) mod release;
mod render;
mod run;
mod shell;
mod watch;

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
    /// The name the deploy lock and the journal record for you, where a team shares one AWS
    /// identity [default: the AWS caller identity's user or session name; locally the OS user].
    #[arg(
        long = "as",
        global = true,
        env = "BLUEGREEN_USER",
        value_name = "NAME"
    )]
    pub as_name: Option<String>,
    /// Why you are making this change: kept with the deploy lock and in the journal.
    #[arg(long, global = true, value_name = "TEXT", value_parser = reason)]
    pub reason: Option<String>,
    /// Let a promote's bake scale the old color in, and a release's steps go on after their
    /// hold, when too few requests were measured to judge the traffic split (a quiet
    /// environment; recorded with a release); a measured mismatch still holds either.
    #[arg(long, global = true)]
    pub accept_unmeasured: bool,
}

/// A `--reason`: one printable line, bounded.
fn reason(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("the reason is empty; say why in a few words, or leave --reason out".into());
    }
    if s.chars().count() > limits::MAX_REASON_CHARS {
        return Err(format!(
            "the reason is longer than {} characters; shorten it (the journal keeps the details of the change itself)",
            limits::MAX_REASON_CHARS
        ));
    }
    if s.chars().any(char::is_control) {
        return Err("the reason has a control character (a newline or an escape); give one line of plain text".into());
    }
    Ok(s.to_string())
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Both colors, the listener, the latest builds and images.
    #[command(after_long_help = shell::STATUS)]
    Status {
        /// Also list tasks and targets, and the API calls the refresh cost.
        #[arg(long, short)]
        verbose: bool,
        /// Exit 8 when drift is found (weights someone else wrote, or traffic that does not
        /// follow the listener), 0 when clean.
        #[arg(long)]
        check: bool,
    },
    /// Records which color is stable on a stack with no record (a listener made outside this
    /// project with its traffic split), after checking its services, target groups and task
    /// families against the profile. Lists every mismatch and records nothing if there is one.
    #[command(after_long_help = shell::ADOPT)]
    Adopt {
        /// The color that serves as stable now.
        #[arg(long)]
        stable: Color,
    },
    /// Moves traffic: `--green 20` gives green 20% and blue 80%.
    #[command(after_long_help = shell::SHIFT)]
    Shift(ShiftArgs),
    /// Gives the canary 100%, makes it stable, and after the bake scales the old color to 0.
    /// Finishes a pending bake when one is left from an earlier promote.
    #[command(after_long_help = shell::PROMOTE)]
    Promote {
        /// Seconds the old color keeps running, so a rollback can undo the promote.
        #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = secs(limits::MAX_BAKE_SECS))]
        bake: u64,
        /// Keep the old color running after the bake.
        #[arg(long)]
        keep_old: bool,
    },
    /// Gives the stable color 100% with one weight change (during a bake: undoes the promote).
    #[command(after_long_help = shell::ROLLBACK)]
    Rollback,
    /// Starts a build.
    #[command(after_long_help = shell::BUILD)]
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
    #[command(after_long_help = shell::DEPLOY)]
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
    #[command(after_long_help = shell::WAIT)]
    Wait(WaitArgs),
    /// Both colors' log lines, tagged with color and task; `--follow` keeps tailing.
    #[command(after_long_help = shell::LOGS)]
    Logs {
        /// Start this far back: seconds (600), or with units (10m, 1h, 1h30m).
        #[arg(long, value_name = "DURATION", default_value_t = 600, value_parser = Span(limits::MAX_LOG_SINCE_SECS))]
        since: u64,
        /// Only this color's lines.
        #[arg(long)]
        color: Option<Color>,
        /// Keep reading new lines until interrupted (Ctrl-C).
        #[arg(long, short)]
        follow: bool,
        /// Show at most the latest N lines of the window (after the color filter).
        #[arg(long, short = 'n', value_name = "N", default_value_t = 1000, value_parser = Bounded { min: 1, max: limits::MAX_LOG_LINES as u64 }.map(|n| n as u32))]
        lines: u32,
    },
    /// Sets a color's desired task count.
    #[command(after_long_help = shell::SCALE)]
    Scale {
        #[arg(long)]
        color: Color,
        /// At most 1,000 (any profile's ceiling; the profile's `max_tasks` is checked after).
        #[arg(long, value_parser = Bounded { min: 0, max: limits::MAX_TASKS_CEILING as u64 }.map(|n| n as u32))]
        count: u32,
    },
    /// Releases a tag by a plan: deploys it to the idle color, runs the smoke test on the test
    /// listener, walks the steps with their gates, rolls back on its own when a gate fails,
    /// and promotes. A step goes on after its hold only once its gates pass and its own
    /// requests show its weights (the measured split). Exit codes: 0 released, 6 rolled back or aborted, 7 paused (with
    /// --until-paused), 3 refused, 4 platform error.
    #[command(after_long_help = shell::RELEASE)]
    Release(release::ReleaseArgs),
    /// Rehearses a rollback on the local platform: releases the image the stable color runs
    /// as a canary with a fault (`--fault 5xx=20%`, `latency=500ms`, `crash`) and reports
    /// whether the gates caught it, at which step, how fast, and how many requests failed.
    #[command(after_long_help = shell::REHEARSE)]
    Rehearse(rehearse::RehearseArgs),
    /// The deploy lock: who holds it, since when, from where and why; with a verb, takes,
    /// releases or hands it over. Every write takes it for its own duration, or is refused
    /// (exit 3) naming the holder; rollback takes it over.
    #[command(after_long_help = shell::LOCK)]
    Lock {
        #[command(subcommand)]
        action: Option<lock::LockCommand>,
    },
    /// Pauses the running release at its current weight (its gates still roll back).
    #[command(after_long_help = shell::PAUSE)]
    Pause,
    /// Resumes a paused release, or takes over one whose driver went away.
    #[command(after_long_help = shell::RESUME)]
    Resume,
    /// Aborts the running release: the stable color gets 100% at once.
    #[command(after_long_help = shell::ABORT)]
    Abort,
    /// Writes a profile into bluegreen.toml from `terraform output -json` files (merged).
    #[command(after_long_help = shell::INIT)]
    Init {
        /// A file with `terraform output -json` output; repeat for several states.
        #[arg(long = "from-terraform", value_name = "FILE", required_unless_present = "create_tables", num_args = 1..)]
        from_terraform: Vec<PathBuf>,
        /// Update the profile if it exists: the keys the outputs give are rewritten, the
        /// profile's other keys stay (the file is written anew, without its comments).
        #[arg(long, requires = "from_terraform")]
        update: bool,
        /// Create the profile's lock and journal tables in DynamoDB (on demand, point-in-time
        /// recovery, encrypted), for a stack made elsewhere, and name them in the profile.
        /// Tables that exist are checked, not changed.
        #[arg(long, conflicts_with = "from_terraform")]
        create_tables: bool,
    },
    /// The local platform daemon.
    #[command(subcommand, after_long_help = shell::LOCAL)]
    Local(LocalCommand),
    /// A local demo: builds, deploys and opens the console.
    #[command(after_long_help = shell::DEMO)]
    Demo(DemoArgs),
    /// Checks that the profile will work, and says how to fix what will not: credentials,
    /// identity, permissions and every resource on AWS; the state directory, daemon, ports,
    /// checkout and cargo locally. Exit 0 when nothing fails, 3 when something does.
    #[command(after_long_help = shell::DOCTOR)]
    Doctor,
    /// Prints a completion script for bash, zsh, fish, elvish or powershell.
    #[command(after_long_help = shell::COMPLETIONS)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Prints the bluegreen(1) man page, or with --out writes it and one page per verb.
    #[command(after_long_help = shell::MAN)]
    Man {
        /// The directory for bluegreen.1, bluegreen-release.1, … (created when missing).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// The journal: every write (when, who, the verb, the weights before and after, the
    /// outcome, the reason), newest last. With --release ID, that release's evidence.
    #[command(after_long_help = shell::HISTORY)]
    History {
        /// Only entries this recent: a number and a unit, s, m, h or d (30m, 2h, 7d).
        #[arg(long, value_name = "AGE", value_parser = since_age)]
        since: Option<u64>,
        /// At most the latest N entries.
        #[arg(long, short = 'n', value_name = "N", default_value_t = crate::rollout::journal::DEFAULT_LIMIT as u64, value_parser = Bounded { min: 1, max: crate::rollout::journal::MAX_ENTRIES as u64 })]
        limit: u64,
        /// One release's evidence (its timeline, gate intervals and failing values).
        #[arg(long, value_name = "ID", conflicts_with_all = ["since", "limit"])]
        release: Option<String>,
    },
}

/// `--since 2h` for `history`.
fn since_age(s: &str) -> Result<u64, String> {
    crate::rollout::journal::parse_since(s).map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Args)]
pub struct ShiftArgs {
    /// Green's share in percent, to 0.1 (e.g. 0.5); blue gets the rest.
    #[arg(
        long,
        value_name = "PERCENT",
        required_unless_present = "blue",
        conflicts_with = "blue"
    )]
    pub green: Option<Share>,
    /// Blue's share in percent, to 0.1; green gets the rest.
    #[arg(long, value_name = "PERCENT")]
    pub blue: Option<Share>,
    /// Override the health guard.
    #[arg(long)]
    pub force: bool,
    /// The guard leaves these weights alone while they hold (needs `--reason TEXT`;
    /// journaled).
    #[arg(long)]
    pub unguarded: bool,
}

impl ShiftArgs {
    /// The color the flags name and its share (the other color gets the rest).
    pub fn share(&self) -> (Color, Share) {
        match (self.green, self.blue) {
            (Some(g), _) => (Color::Green, g),
            (None, Some(b)) => (Color::Blue, b),
            (None, None) => (Color::Green, Share::ZERO),
        }
    }

    pub fn weights(&self) -> Weights {
        let (color, share) = self.share();
        Weights::with_share(color, share)
    }
}

#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Until this color's healthy targets reach its desired count.
    #[arg(
        long,
        value_name = "COLOR",
        required_unless_present_any = ["weights", "release"],
        conflicts_with_all = ["weights", "release"]
    )]
    pub healthy: Option<Color>,
    /// Until the listener shows these weights (`B:G`, e.g. `80:20`).
    #[arg(long, value_name = "B:G", conflicts_with = "release")]
    pub weights: Option<Weights>,
    /// Until the running release ends; the exit code is its outcome's (0 released, 6 rolled
    /// back or aborted, 4 failed).
    #[arg(long)]
    pub release: bool,
    /// With --release: return with exit code 7 when the plan pauses for a person.
    #[arg(long, value_enum, requires = "release")]
    pub until: Option<release::Until>,
    /// Seconds before giving up.
    #[arg(long, value_name = "S", default_value_t = 300, value_parser = secs(limits::MAX_WAIT_SECS))]
    pub timeout: u64,
}

/// A number of seconds from 0 to `max`.
fn secs(max: u64) -> Bounded {
    Bounded { min: 0, max }
}

/// A whole number from `min` to `max`, as clap's ranged parsers read it, except that a number
/// too long for any integer is refused naming the range too (clap's says only "too large").
/// Narrower fields take it with `.map(...)`: the range keeps the cast lossless.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounded {
    pub(crate) min: u64,
    pub(crate) max: u64,
}

impl clap::builder::TypedValueParser for Bounded {
    type Value = u64;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<u64, clap::Error> {
        let text = value.to_string_lossy();
        let (min, max) = (self.min, self.max);
        let why = match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => return Ok(n),
            Ok(_) => format!("{text} is not in {min}..={max}"),
            Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => {
                format!("{text} is not in {min}..={max}")
            }
            Err(e) => format!("{e} (a whole number in {min}..={max})"),
        };
        Err(invalid(cmd, arg, &text, &why))
    }
}

/// clap's error for a value of `arg` that `why` refuses.
fn invalid(cmd: &clap::Command, arg: Option<&clap::Arg>, text: &str, why: &str) -> clap::Error {
    let arg = arg.map_or_else(|| "...".to_string(), |a| a.to_string());
    cmd.clone().error(
        clap::error::ErrorKind::ValueValidation,
        format!("invalid value '{text}' for '{arg}': {why}"),
    )
}

/// Seconds from 0 to the bound, as [`Bounded`] reads a plain number, or with units (`10m`,
/// `1h30m`) as the plans' durations are written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span(pub(crate) u64);

impl clap::builder::TypedValueParser for Span {
    type Value = u64;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<u64, clap::Error> {
        let text = value.to_string_lossy();
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return Bounded {
                min: 0,
                max: self.0,
            }
            .parse_ref(cmd, arg, value);
        }
        crate::rollout::plan::parse_duration(&text, self.0)
            .map_err(|why| invalid(cmd, arg, &text, &why))
    }
}

#[cfg(test)]
mod tests;
