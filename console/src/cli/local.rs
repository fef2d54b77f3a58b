//! The local platform's own verbs: `bluegreen local up|down|restart|status|fault|publish|daemon`. The
//! daemon's lifecycle is the adapter's ([`lifecycle`]); this module parses, decides defaults
//! and prints.

use super::output::{self, note, say};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::Bounded;
use super::render;
use crate::daemon;
use crate::ops::exit;
use crate::platform::Platform;
use crate::platform::local::daemon::state::DaemonConfig;
use crate::platform::local::lifecycle;
use crate::platform::local::paths::Paths;
use crate::platform::local::registry::Registry;
use crate::rollout::limits;
use clap::builder::TypedValueParser as _;

/// `bluegreen local …`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum LocalCommand {
    /// Start the local platform daemon in the background (no-op if it runs).
    #[command(after_long_help = super::shell::LOCAL_UP)]
    Up(DaemonFlags),
    /// Stop the daemon and every task it runs. State stays in the state directory.
    #[command(after_long_help = super::shell::LOCAL_DOWN)]
    Down,
    /// Hand the running platform to a new daemon run from this bluegreen binary (after an
    /// upgrade, say): the listening sockets and the tasks carry over, so no request fails.
    #[command(after_long_help = super::shell::LOCAL_RESTART)]
    Restart,
    /// Whether the daemon runs, its ports and its state directory.
    #[command(after_long_help = super::shell::LOCAL_STATUS)]
    Status {
        /// One JSON document (also set by the global `--json`).
        #[arg(long)]
        json: bool,
    },
    /// Inject a fault into one color's answers, so a release's gates can be seen catching a
    /// bad canary: `--color green --error-rate 20 [--latency-ms 500] [--for 2m]`, `--clear`,
    /// or `--crash` (kill its tasks once). Alone, lists the faults in force.
    #[command(after_long_help = super::shell::LOCAL_FAULT)]
    Fault(super::fault::FaultArgs),
    /// Store a blog binary in the local registry under one or more tags (what
    /// buildspec.local.yaml's post_build runs). Prints the digest.
    #[command(after_long_help = super::shell::LOCAL_PUBLISH)]
    Publish {
        /// A tag to point at the binary; repeat for several (`--tag v2 --tag 1a2b3c4`).
        #[arg(long = "tag", required = true, value_name = "TAG")]
        tags: Vec<String>,
        /// The binary to publish.
        file: PathBuf,
    },
    /// Run the daemon in the foreground (what `local up` starts in the background).
    #[command(hide = true)]
    Daemon(DaemonFlags),
}

/// Settings of the daemon. Each one given wins over the value saved in the state directory
/// (which `up` reuses otherwise).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DaemonFlags {
    /// Production listener port on 127.0.0.1 [default: 8080]; 0 picks a free port.
    #[arg(long)]
    pub port: Option<u16>,
    /// Test listener port on 127.0.0.1 [default: 8081]; 0 picks a free port.
    #[arg(long)]
    pub test_port: Option<u16>,
    /// Milliseconds between health checks of each task [default: 1000].
    #[arg(long, value_name = "MS", value_parser = Bounded { min: limits::LOCAL_MIN_HEALTH_INTERVAL_MS, max: limits::LOCAL_MAX_DELAY_MS })]
    pub health_interval_ms: Option<u64>,
    /// Passed checks in a row that make a target healthy [default: 2].
    #[arg(long, value_name = "N", value_parser = threshold())]
    pub healthy_threshold: Option<u32>,
    /// Failed checks in a row that make a target unhealthy [default: 2].
    #[arg(long, value_name = "N", value_parser = threshold())]
    pub unhealthy_threshold: Option<u32>,
    /// Longest wait for a deregistered target's in-flight requests before SIGTERM [default: 5000].
    #[arg(long, value_name = "MS", value_parser = Bounded { min: 0, max: limits::LOCAL_MAX_DELAY_MS })]
    pub deregistration_delay_ms: Option<u64>,
    /// SIGTERM to SIGKILL [default: 10000].
    #[arg(long, value_name = "MS", value_parser = Bounded { min: 0, max: limits::LOCAL_MAX_DELAY_MS })]
    pub stop_timeout_ms: Option<u64>,
    /// The repository `bluegreen build` builds [default: the repository around the current directory].
    #[arg(long, value_name = "DIR")]
    pub source_dir: Option<PathBuf>,
}

/// Checks in a row, 1 to [`limits::MAX_HEALTH_THRESHOLD`].
fn threshold() -> impl clap::builder::TypedValueParser<Value = u32> {
    Bounded {
        min: 1,
        max: limits::MAX_HEALTH_THRESHOLD as u64,
    }
    .map(|n| n as u32)
}

impl DaemonFlags {
    pub(super) fn apply(&self, c: &mut DaemonConfig) {
        if let Some(v) = self.port {
            c.port = v;
        }
        if let Some(v) = self.test_port {
            c.test_port = v;
        }
        if let Some(v) = self.health_interval_ms {
            c.health_interval_ms = v;
        }
        if let Some(v) = self.healthy_threshold {
            c.healthy_threshold = v;
        }
        if let Some(v) = self.unhealthy_threshold {
            c.unhealthy_threshold = v;
        }
        if let Some(v) = self.deregistration_delay_ms {
            c.deregistration_delay_ms = v;
        }
        if let Some(v) = self.stop_timeout_ms {
            c.stop_timeout_ms = v;
        }
        if let Some(v) = &self.source_dir {
            c.source_dir = Some(v.clone());
        }
    }

    pub(super) fn to_args(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = Vec::new();
        let mut push = |flag: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push(flag.into());
                out.push(v.into());
            }
        };
        push("--port", self.port.map(|v| v.to_string()));
        push("--test-port", self.test_port.map(|v| v.to_string()));
        push(
            "--health-interval-ms",
            self.health_interval_ms.map(|v| v.to_string()),
        );
        push(
            "--healthy-threshold",
            self.healthy_threshold.map(|v| v.to_string()),
        );
        push(
            "--unhealthy-threshold",
            self.unhealthy_threshold.map(|v| v.to_string()),
        );
        push(
            "--deregistration-delay-ms",
            self.deregistration_delay_ms.map(|v| v.to_string()),
        );
        push(
            "--stop-timeout-ms",
            self.stop_timeout_ms.map(|v| v.to_string()),
        );
        if let Some(dir) = &self.source_dir {
            out.push("--source-dir".into());
            out.push(dir.clone().into_os_string());
        }
        out
    }
}

/// Runs a `local` verb; returns the process exit code.
pub async fn run(cmd: LocalCommand, state_dir: &Path) -> anyhow::Result<i32> {
    let paths = Paths::new(state_dir)
        .with_context(|| format!("cannot resolve the state directory {}", state_dir.display()))?;
    match cmd {
        LocalCommand::Up(flags) => up(&paths, flags).await,
        LocalCommand::Down => down(&paths).await,
        LocalCommand::Restart => restart(&paths).await,
        LocalCommand::Status { json } => status(&paths, json).await,
        LocalCommand::Fault(args) => super::fault::run(args, &paths).await,
        LocalCommand::Publish { tags, file } => {
            let image = Registry::new(paths.registry_dir())
                .publish(&file, &tags)
                .with_context(|| format!("cannot publish {}", file.display()))?;
            note!(
                "published {} as {} ({}, {:.1} MB) to {}",
                file.display(),
                tags.join(", "),
                image.digest,
                image.size_bytes.unwrap_or(0) as f64 / 1e6,
                paths.registry_dir().display()
            );
            output::out(&image.digest);
            Ok(exit::OK)
        }
        LocalCommand::Daemon(flags) => {
            init_daemon_logging();
            daemon::run(paths, |c| flags.apply(c)).await?;
            Ok(exit::OK)
        }
    }
}

fn init_daemon_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BLUEGREEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The repository to build: the one around the current directory (never the one this binary
/// happened to be compiled in).
pub(super) fn default_source_dir() -> Result<PathBuf, String> {
    let here =
        std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    lifecycle::find_source_dir(&here)
}

async fn up(paths: &Paths, mut flags: DaemonFlags) -> anyhow::Result<i32> {
    if let Some(client) = lifecycle::probe(paths).await? {
        let s = client.status().await?;
        say!(
            "the local platform already runs (pid {}): http://{}/ — state in {}",
            s.pid,
            s.production,
            s.state_dir
        );
        if !flags.to_args().is_empty() {
            say!("  (settings given here apply at the next start: `bluegreen local down` first)");
        }
        return Ok(exit::OK);
    }
    if flags.source_dir.is_none() {
        match default_source_dir() {
            Ok(dir) => flags.source_dir = Some(dir),
            // The platform runs without one; `bluegreen build` then says how to give one.
            Err(why) => note!("note: builds are off: {why}"),
        }
    }
    if let Some(dir) = &flags.source_dir {
        flags.source_dir = Some(
            std::fs::canonicalize(dir)
                .with_context(|| format!("source directory {} does not exist", dir.display()))?,
        );
    }
    let client = lifecycle::start(paths, flags.to_args()).await?;
    let s = client.status().await?;
    say!(
        "local platform up (pid {}): production http://{}/ · test http://{}/ · state {}",
        s.pid,
        s.production,
        s.test,
        s.state_dir
    );
    Ok(exit::OK)
}

async fn down(paths: &Paths) -> anyhow::Result<i32> {
    match lifecycle::stop(paths).await? {
        None => say!(
            "the local platform is not running ({})",
            paths.root().display()
        ),
        Some(_) => say!(
            "local platform stopped; the release is kept in {} (`bluegreen local up` brings it back)",
            paths.root().display()
        ),
    }
    Ok(exit::OK)
}

async fn restart(paths: &Paths) -> anyhow::Result<i32> {
    let Some(client) = lifecycle::probe(paths).await? else {
        say!(
            "the local platform is not running ({}); start it with `bluegreen local up`",
            paths.root().display()
        );
        return Ok(exit::PLATFORM);
    };
    let exe = crate::platform::local::paths::current_exe()
        .context("cannot find the bluegreen executable")?;
    let done = client.restart(exe.clone()).await?;
    say!(
        "local platform restarted: daemon {} handed its listeners and {} task(s) to daemon {} ({})",
        done.old_pid,
        done.tasks,
        done.new_pid,
        exe.display()
    );
    Ok(exit::OK)
}

async fn status(paths: &Paths, json: bool) -> anyhow::Result<i32> {
    let Some(client) = lifecycle::probe(paths).await? else {
        if json {
            let doc = serde_json::json!({
                "running": false,
                "state_dir": paths.root().display().to_string(),
            });
            output::out_json(&serde_json::to_string_pretty(&doc)?);
        } else {
            say!(
                "local platform: not running (state {}); start it with `bluegreen local up`",
                paths.root().display()
            );
        }
        return Ok(exit::PLATFORM);
    };
    let s = client.status().await?;
    let snap = client.snapshot().await?;
    if json {
        let colors = snap.colors.map(|_, c| {
            serde_json::json!({
                "tag": c.service.image.as_ref().and_then(|i| i.tag.clone()),
                "digest": c.service.image.as_ref().and_then(|i| i.digest.clone()),
                "desired": c.service.desired,
                "running": c.service.running,
                "healthy": c.healthy_targets(),
            })
        });
        let doc = serde_json::json!({
            "running": true,
            "daemon": s,
            "listener": snap.listener,
            "colors": colors,
        });
        output::out_json(&serde_json::to_string_pretty(&doc)?);
    } else {
        let now = crate::clock::now_millis();
        output::out_raw(&render::local_status(&s, &client.info(), &snap, now));
    }
    Ok(exit::OK)
}
