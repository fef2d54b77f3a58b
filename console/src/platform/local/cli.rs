//! The local platform's own verbs: `bluegreen local up|down|status|publish` and
//! `bluegreen demo`. The CLI (crate::cli) only dispatches here.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::build::{self, BuildStore};
use super::client::LocalClient;
use super::daemon::{self, state::DaemonConfig};
use super::paths::Paths;
use super::registry::Registry;
use crate::ops::exit;
use crate::platform::{FaultKind, Platform, PlatformError, PlatformResult};
use crate::rollout::{BuildStatus, Color, Snapshot};

/// `bluegreen local …`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum LocalCommand {
    /// Start the local platform daemon in the background (no-op if it runs).
    Up(DaemonFlags),
    /// Stop the daemon and every task it runs. State stays in the state directory.
    Down,
    /// Whether the daemon runs, its ports and its state directory.
    Status {
        /// One JSON document (also set by the global `--json`).
        #[arg(long)]
        json: bool,
    },
    /// Store a blog binary in the local registry under one or more tags (what
    /// buildspec.local.yaml's post_build runs). Prints the digest.
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
    #[arg(long, value_name = "MS")]
    pub health_interval_ms: Option<u64>,
    /// Passed checks in a row that make a target healthy [default: 2].
    #[arg(long, value_name = "N")]
    pub healthy_threshold: Option<u32>,
    /// Failed checks in a row that make a target unhealthy [default: 2].
    #[arg(long, value_name = "N")]
    pub unhealthy_threshold: Option<u32>,
    /// Longest wait for a deregistered target's in-flight requests before SIGTERM [default: 5000].
    #[arg(long, value_name = "MS")]
    pub deregistration_delay_ms: Option<u64>,
    /// SIGTERM to SIGKILL [default: 10000].
    #[arg(long, value_name = "MS")]
    pub stop_timeout_ms: Option<u64>,
    /// The repository `bluegreen build` builds [default: the repository around the current directory].
    #[arg(long, value_name = "DIR")]
    pub source_dir: Option<PathBuf>,
}

impl DaemonFlags {
    fn apply(&self, c: &mut DaemonConfig) {
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

    fn to_args(&self) -> Vec<OsString> {
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

/// `bluegreen demo`
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Print the status and the URL instead of opening the console.
    #[arg(long)]
    pub no_tui: bool,
    /// Tasks per color.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub tasks: u32,
}

/// Runs a `local` verb; returns the process exit code.
pub async fn run_local(cmd: LocalCommand, state_dir: &Path) -> anyhow::Result<i32> {
    let paths = Paths::new(state_dir)
        .with_context(|| format!("cannot resolve the state directory {}", state_dir.display()))?;
    match cmd {
        LocalCommand::Up(flags) => up(&paths, flags).await,
        LocalCommand::Down => down(&paths).await,
        LocalCommand::Status { json } => status(&paths, json).await,
        LocalCommand::Publish { tags, file } => {
            let image = Registry::new(paths.registry_dir())
                .publish(&file, &tags)
                .with_context(|| format!("cannot publish {}", file.display()))?;
            eprintln!(
                "published {} as {} ({}, {:.1} MB) to {}",
                file.display(),
                tags.join(", "),
                image.digest,
                image.size_bytes.unwrap_or(0) as f64 / 1e6,
                paths.registry_dir().display()
            );
            println!("{}", image.digest);
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

/// Connects to the daemon that owns `state_dir`.
pub async fn connect(state_dir: &Path) -> PlatformResult<Arc<dyn Platform>> {
    Ok(Arc::new(LocalClient::connect(state_dir).await?))
}

/// The repository around `start`: the nearest ancestor with buildspec.local.yaml.
pub fn find_source_dir(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join(build::DEFAULT_BUILDSPEC).is_file())
        .map(Path::to_path_buf)
}

/// The repository to build: around the current directory, else the one this binary was
/// built from (so `cargo run -p bluegreen -- demo` works from anywhere in a clone).
fn default_source_dir() -> Option<PathBuf> {
    std::env::current_dir()
        .ok()
        .and_then(|d| find_source_dir(&d))
        .or_else(|| find_source_dir(Path::new(env!("CARGO_MANIFEST_DIR"))))
}

async fn up(paths: &Paths, mut flags: DaemonFlags) -> anyhow::Result<i32> {
    if let Ok(client) = LocalClient::connect(paths.root()).await {
        let s = client.status().await?;
        println!(
            "the local platform already runs (pid {}): http://{}/ — state in {}",
            s.pid, s.production, s.state_dir
        );
        if !flags.to_args().is_empty() {
            println!(
                "  (settings given here apply at the next start: `bluegreen local down` first)"
            );
        }
        return Ok(exit::OK);
    }
    if flags.source_dir.is_none() {
        flags.source_dir = default_source_dir();
    }
    if let Some(dir) = &flags.source_dir {
        flags.source_dir = Some(
            std::fs::canonicalize(dir)
                .with_context(|| format!("source directory {} does not exist", dir.display()))?,
        );
    }
    let client = start_daemon(paths, &flags).await?;
    let s = client.status().await?;
    println!(
        "local platform up (pid {}): production http://{}/ · test http://{}/ · state {}",
        s.pid, s.production, s.test, s.state_dir
    );
    Ok(exit::OK)
}

/// Starts the daemon detached (its own process group, output to `daemon.log`) and waits
/// until its control socket answers.
async fn start_daemon(paths: &Paths, flags: &DaemonFlags) -> anyhow::Result<LocalClient> {
    use std::os::unix::process::CommandExt;
    std::fs::create_dir_all(paths.root())
        .with_context(|| format!("cannot create {}", paths.root().display()))?;
    let log_path = paths.daemon_log();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let exe = super::paths::current_exe().context("cannot find the bluegreen executable")?;
    let mut child = std::process::Command::new(exe)
        .arg("local")
        .arg("daemon")
        .args(flags.to_args())
        // Run from the state directory with it named explicitly, so no bluegreen.toml in the
        // caller's directory (an AWS profile, say) changes what the daemon is.
        .current_dir(paths.root())
        .env("BLUEGREEN_STATE_DIR", paths.root())
        .env_remove("BLUEGREEN_CONFIG")
        .env_remove("BLUEGREEN_PROFILE")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("cannot start the daemon")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(client) = LocalClient::connect(paths.root()).await {
            // Reap the child in the background; it runs on detached.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
            return Ok(client);
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!(
                "the daemon exited ({status}) before it answered:\n{}",
                log_tail(&log_path, log_start, 20)
            );
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "the daemon did not answer on {} within 30 s; its log ({}):\n{}",
                paths.control_socket().display(),
                log_path.display(),
                log_tail(&log_path, log_start, 20)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn log_tail(path: &Path, from: u64, lines: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text[(from as usize).min(text.len())..]).into_owned();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn down(paths: &Paths) -> anyhow::Result<i32> {
    let client = match LocalClient::connect(paths.root()).await {
        Ok(c) => c,
        Err(e) if e.fault() == Some(FaultKind::Unavailable) => {
            println!(
                "the local platform is not running ({})",
                paths.root().display()
            );
            return Ok(exit::OK);
        }
        Err(e) => return Err(e.into()),
    };
    let pid = client.status().await?.pid;
    client.shutdown().await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while process_alive(pid) {
        if Instant::now() > deadline {
            anyhow::bail!(
                "the daemon (pid {pid}) is still stopping after 60 s; see {}",
                paths.daemon_log().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "local platform stopped; the release is kept in {} (`bluegreen local up` brings it back)",
        paths.root().display()
    );
    Ok(exit::OK)
}

fn process_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None).is_ok()
}

async fn status(paths: &Paths, json: bool) -> anyhow::Result<i32> {
    let client = match LocalClient::connect(paths.root()).await {
        Ok(c) => c,
        Err(e) if e.fault() == Some(FaultKind::Unavailable) => {
            if json {
                let doc = serde_json::json!({
                    "running": false,
                    "state_dir": paths.root().display().to_string(),
                });
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                println!(
                    "local platform: not running (state {}); start it with `bluegreen local up`",
                    paths.root().display()
                );
            }
            return Ok(exit::PLATFORM);
        }
        Err(e) => return Err(e.into()),
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
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", render_status(&s, &snap));
    }
    Ok(exit::OK)
}

fn render_status(s: &super::wire::DaemonStatus, snap: &Snapshot) -> String {
    let l = &snap.listener;
    let mut out = format!(
        "local platform: running (pid {}, bluegreen {})\n  state dir   {}\n  socket      {}\n  production  http://{}/  blue {}% / green {}%  stable {}\n  test        http://{}/  → {}\n",
        s.pid,
        s.version,
        s.state_dir,
        s.socket,
        s.production,
        l.weights.blue(),
        l.weights.green(),
        l.stable
            .map(|c| c.to_string())
            .unwrap_or_else(|| "none".into()),
        s.test,
        l.test_color
            .map(|c| c.to_string())
            .unwrap_or_else(|| "nothing".into()),
    );
    if let Some(b) = &l.bake {
        out.push_str(&format!(
            "  bake        {} keeps running until {} ms{}\n",
            b.old,
            b.until,
            if b.keep_old { " (kept afterwards)" } else { "" }
        ));
    }
    for color in Color::ALL {
        let c = snap.colors.get(color);
        let image = c
            .service
            .image
            .as_ref()
            .and_then(|i| i.tag.clone())
            .unwrap_or_else(|| "—".into());
        out.push_str(&format!(
            "  {:<6}      {:<10} desired {}, running {}, healthy {}\n",
            color.as_str(),
            image,
            c.service.desired,
            c.service.running,
            c.healthy_targets()
        ));
    }
    out
}

/// The posts the demo starts with.
const SEED_POSTS: [(&str, &str, &str); 3] = [
    (
        "Hello from the blue/green demo",
        "bluegreen",
        "This post was written through the local load balancer. Every page shows which color served it.",
    ),
    (
        "How a release moves",
        "bluegreen",
        "Build v2, deploy it to the idle color, shift 10%, 50%, 90%, promote. Roll back with one key at any point.",
    ),
    (
        "Zero downtime",
        "bluegreen",
        "Old tasks leave the load balancer and finish their requests before they get SIGTERM.",
    ),
];

/// Runs the demo; returns the process exit code. Opens the TUI unless `--no-tui`.
pub async fn run_demo(args: DemoArgs, state_dir: &Path) -> anyhow::Result<i32> {
    let paths = Paths::new(state_dir)
        .with_context(|| format!("cannot resolve the state directory {}", state_dir.display()))?;
    let source = default_source_dir().ok_or_else(|| {
        anyhow::anyhow!(
            "no {} found around {} or in the repository bluegreen was built from; run the demo inside the bluegreen repository",
            build::DEFAULT_BUILDSPEC,
            std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default()
        )
    })?;
    std::fs::create_dir_all(paths.root())
        .with_context(|| format!("cannot create {}", paths.root().display()))?;

    step(
        1,
        "building the blog in release mode (buildspec.local.yaml → local registry as v1)",
    );
    match Registry::new(paths.registry_dir()).resolve("v1") {
        Ok(digest) => detail(&format!(
            "v1 is already in the local registry ({}); not rebuilding (`bluegreen build` makes new releases)",
            super::supervisor::short_digest(&digest)
        )),
        Err(_) => {
            let build = run_build(&paths, &source, "v1").await?;
            if build.status != BuildStatus::Succeeded {
                let log = build.log_location.clone().unwrap_or_default();
                eprintln!("{}", log_tail(Path::new(&log), 0, 30));
                anyhow::bail!("the build failed ({:?}); full log: {log}", build.status);
            }
        }
    }

    step(2, "starting the local platform daemon");
    let client = match LocalClient::connect(paths.root()).await {
        Ok(c) => {
            detail("already running");
            c
        }
        Err(e) if e.fault() == Some(FaultKind::Unavailable) => {
            let flags = DaemonFlags {
                source_dir: Some(source.clone()),
                ..DaemonFlags::default()
            };
            start_daemon(&paths, &flags).await?
        }
        Err(e) => return Err(e.into()),
    };
    let status = client.status().await?;
    detail(&format!(
        "production http://{}/ · test http://{}/",
        status.production, status.test
    ));

    step(3, "deploying v1 to blue with 100% of traffic");
    let snap = client.snapshot().await?;
    match snap.listener.stable {
        Some(stable) => {
            let tag = snap
                .colors
                .get(stable)
                .service
                .image
                .as_ref()
                .and_then(|i| i.tag.clone())
                .unwrap_or_else(|| "?".into());
            detail(&format!(
                "a release is already live ({stable} runs {tag}); leaving it as it is"
            ));
        }
        None => {
            client.deploy(Color::Blue, "v1", args.tasks).await?;
            wait_for(
                &client,
                Duration::from_secs(90),
                "blue to become healthy and stable",
                |s| s.listener.stable == Some(Color::Blue),
            )
            .await?;
            detail(&format!(
                "{} blue task(s) healthy; blue is stable",
                args.tasks
            ));
        }
    }

    step(4, "seeding posts through the load balancer");
    let marker = paths.root().join("seeded");
    if marker.exists() {
        detail("already seeded");
    } else {
        let addr = status
            .production
            .parse()
            .with_context(|| format!("bad listener address {}", status.production))?;
        let made = seed(addr).await?;
        std::fs::write(&marker, format!("{made}\n"))?;
        detail(&format!("{made} posts created"));
    }

    step(
        5,
        if args.no_tui {
            "done"
        } else {
            "opening the console (q quits; the platform keeps running)"
        },
    );
    let url = format!("http://{}/", status.production);
    if args.no_tui {
        let snap = client.snapshot().await?;
        print!("{}", render_status(&status, &snap));
        println!("\nOpen {url} in a browser. Next release:");
        println!(
            "  RELEASE_TAG=v2 bluegreen build --wait      # builds v2 into the local registry"
        );
        println!("  bluegreen deploy --tag v2 --wait           # to the idle color (green)");
        println!(
            "  bluegreen shift --green 10                 # then 50, 90 … and `bluegreen promote`"
        );
        println!("  bluegreen rollback                         # at any point");
        println!(
            "  bluegreen local down                       # stops it; state stays in {}",
            paths.root().display()
        );
        return Ok(exit::OK);
    }
    let platform: Arc<dyn Platform> = Arc::new(client);
    let ops = crate::ops::Ops::new(platform, crate::ops::Access::default());
    crate::tui::run(ops, crate::tui::TuiOptions::default()).await?;
    println!("The local platform keeps running at {url} (`bluegreen local down` stops it).");
    Ok(exit::OK)
}

fn step(n: u32, text: &str) {
    println!("[{n}/5] {text}");
}

fn detail(text: &str) {
    println!("      {text}");
}

/// Builds in this process (the daemon may not run yet), printing each phase as it ends.
async fn run_build(
    paths: &Paths,
    source: &Path,
    tag: &str,
) -> anyhow::Result<crate::rollout::Build> {
    let store = BuildStore::new(paths.builds_dir());
    let req =
        daemon::engine::build_request(paths, source.to_path_buf(), None, Some(tag.to_string()));
    let submitted = build::submit(&store, &req).context("cannot record the build")?;
    detail(&format!(
        "{} · the first release build of a fresh clone takes several minutes; follow it with: tail -f {}",
        submitted.id,
        submitted.log_location.clone().unwrap_or_default()
    ));
    let mut printed = 0usize;
    let done = build::execute(&store, &req, submitted, &mut |b| {
        for p in b.phases.iter().filter(|p| p.status.is_done()).skip(printed) {
            printed += 1;
            if p.duration_ms.unwrap_or(0) >= 100 || p.status != BuildStatus::Succeeded {
                detail(&format!(
                    "{:<16} {:?} ({:.1} s){}",
                    p.name,
                    p.status,
                    p.duration_ms.unwrap_or(0) as f64 / 1000.0,
                    p.context
                        .first()
                        .map(|c| format!(" — {c}"))
                        .unwrap_or_default()
                ));
            }
        }
    })
    .await;
    Ok(done)
}

async fn wait_for(
    client: &LocalClient,
    limit: Duration,
    what: &str,
    done: impl Fn(&Snapshot) -> bool,
) -> anyhow::Result<Snapshot> {
    let deadline = Instant::now() + limit;
    loop {
        let snap = client.snapshot().await?;
        if done(&snap) {
            return Ok(snap);
        }
        if Instant::now() > deadline {
            let events: Vec<String> = snap
                .colors
                .iter()
                .flat_map(|(_, c)| c.service.events.iter().take(5).map(|e| e.message.clone()))
                .collect();
            return Err(PlatformError::TimedOut {
                what: what.to_string(),
                after_secs: limit.as_secs(),
            })
            .with_context(|| format!("recent events:\n  {}", events.join("\n  ")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates the seed posts through the proxy, with the blog's CSRF form token.
async fn seed(addr: std::net::SocketAddr) -> anyhow::Result<usize> {
    let mut http = super::http::HttpClient::new(addr);
    let mut made = 0;
    for (title, author, content) in SEED_POSTS {
        let form = http.get("/posts/new").await.map_err(anyhow::Error::msg)?;
        let (token, cookie) = super::http::form_token(&form).ok_or_else(|| {
            anyhow::anyhow!(
                "GET /posts/new answered {} without a form token",
                form.status
            )
        })?;
        let mut headers = Vec::new();
        if let Some(c) = &cookie {
            headers.push(("cookie", c.as_str()));
        }
        let resp = http
            .post_form(
                "/posts/new",
                &headers,
                &[
                    ("csrf_token", &token),
                    ("title", title),
                    ("author", author),
                    ("content", content),
                ],
            )
            .await
            .map_err(anyhow::Error::msg)?;
        if !(200..400).contains(&resp.status) {
            anyhow::bail!(
                "creating a seed post answered {}: {}",
                resp.status,
                resp.text()
            );
        }
        made += 1;
    }
    Ok(made)
}
