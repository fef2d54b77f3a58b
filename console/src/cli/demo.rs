//! `bluegreen demo`: build v1, start the local platform, make v1 the first release on blue,
//! seed a few posts, and open the console. Every step goes through the same verbs and waits as
//! the CLI's (`Ops`, `ops::wait`), so the demo shows what a real release does.

use super::output::{self, say, say_raw};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::builder::TypedValueParser as _;

use super::local::{DaemonFlags, default_source_dir};
use super::outcome::{Failure, Outcome};
use super::render;
use super::run::wait_explained;
use crate::clock::now_millis;
use crate::ops::{Access, Ops, WaitFor, exit};
use crate::platform::Platform;
use crate::platform::http;
use crate::platform::local::build::{self, BuildStore};
use crate::platform::local::paths::Paths;
use crate::platform::local::registry::Registry;
use crate::platform::local::{daemon, lifecycle};
use crate::rollout::{Build, BuildStatus, Color, guard};

/// How long the first release has to become healthy and stable.
const FIRST_RELEASE_TIMEOUT: Duration = Duration::from_secs(90);

/// `bluegreen demo`
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Print the status and the URL instead of opening the console.
    #[arg(long)]
    pub no_tui: bool,
    /// Tasks per color.
    #[arg(long, default_value_t = 2, value_parser = super::Bounded { min: 1, max: 8 }.map(|n| n as u32))]
    pub tasks: u32,
    /// Also build and publish `v2` from the same tree, with its version compiled in (a
    /// different binary, and a banner that says v2), so the walkthrough has two real
    /// versions to move between.
    #[arg(long)]
    pub second_release: bool,
}

/// The demo's two releases: the first runs on blue, the second waits in the registry.
const FIRST: &str = "v1";
const SECOND: &str = "v2";

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
pub async fn run(args: DemoArgs, state_dir: &Path) -> Outcome {
    let paths = Paths::new(state_dir)
        .with_context(|| format!("cannot resolve the state directory {}", state_dir.display()))?;
    let source =
        default_source_dir().map_err(|why| anyhow::anyhow!("the demo builds the blog: {why}"))?;
    crate::platform::local::files::create_private_dir(paths.root())
        .with_context(|| format!("cannot create {}", paths.root().display()))?;

    step(
        1,
        if args.second_release {
            "building the blog (buildspec.local.yaml → local registry as v1, then v2)"
        } else {
            "building the blog (buildspec.local.yaml → local registry as v1)"
        },
    );
    let mut releases = vec![FIRST];
    if args.second_release {
        releases.push(SECOND);
    }
    for tag in releases {
        publish(&paths, &source, tag).await?;
    }

    step(2, "starting the local platform daemon");
    let client = match lifecycle::probe(&paths).await? {
        Some(c) => {
            detail("already running");
            c
        }
        None => {
            let flags = DaemonFlags {
                source_dir: Some(source.clone()),
                ..DaemonFlags::default()
            };
            lifecycle::start(&paths, flags.to_args()).await?
        }
    };
    let status = client.status().await?;
    detail(&format!(
        "production http://{}/ · test http://{}/",
        status.production, status.test
    ));
    let platform: Arc<dyn Platform> = Arc::new(client);
    let ops = Ops::new(platform.clone(), Access::default());

    step(
        3,
        "deploying v1 as the first release (blue, with 100% of traffic)",
    );
    let snap = platform.snapshot().await?;
    if guard::first_release(&snap) {
        let receipt = ops.deploy(FIRST, Some(Color::Blue)).await?;
        if receipt.desired != args.tasks {
            ops.scale(receipt.color, args.tasks).await?;
        }
        wait_explained(
            &ops,
            &WaitFor::Stable(receipt.color),
            FIRST_RELEASE_TIMEOUT,
            super::progress::Mode::detect(false),
        )
        .await?;
        detail(&format!(
            "{} {} task(s) healthy; {} is stable",
            args.tasks, receipt.color, receipt.color
        ));
    } else {
        let live = snap
            .stable()
            .map(|c| {
                let tag = snap
                    .colors
                    .get(c)
                    .service
                    .image
                    .as_ref()
                    .and_then(|i| i.tag.clone());
                format!("{c} runs {}", tag.as_deref().unwrap_or("?"))
            })
            .unwrap_or_else(|| "tasks are running".into());
        detail(&format!(
            "a release is already live ({live}); leaving it as it is"
        ));
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
        let made = seed(addr, &paths).await?;
        std::fs::write(&marker, format!("{made}\n"))
            .with_context(|| format!("cannot write {}", marker.display()))?;
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
        let snap = platform.snapshot().await?;
        say_raw!(
            "{}",
            render::rollout(&platform.info(), &snap, now_millis(), false)
        );
        say!("\nOpen {url} in a browser.");
        say!("Next: {}", next_step(platform.as_ref()).await);
        say!("All the verbs of a release:");
        say!("  RELEASE_TAG=v2 bluegreen build --wait      # builds v2 into the local registry");
        say!("  bluegreen deploy --tag v2 --wait           # to the idle color (green)");
        say!(
            "  bluegreen shift --green 10                 # then 50, 90 … and `bluegreen promote`"
        );
        say!("  bluegreen rollback                         # at any point");
        say!(
            "  bluegreen release --tag v2 --steps 10,50 --hold 30s   # or let a plan walk it, with gates"
        );
        say!(
            "  bluegreen rehearse --fault 5xx=20% --steps 10,50 --hold 1m   # watch a gate roll back"
        );
        say!(
            "  sign in at /login as `demo` (password in {}/demo-password)",
            paths.root().display()
        );
        say!(
            "  bluegreen local down                       # stops it; state stays in {}",
            paths.root().display()
        );
        return Ok(exit::OK);
    }
    crate::tui::run(ops, crate::tui::TuiOptions::default()).await?;
    say!("The local platform keeps running at {url}.");
    say!("Next: {}", next_step(platform.as_ref()).await);
    say!("`bluegreen` reopens the console; `bluegreen local down` stops the platform.");
    Ok(exit::OK)
}

/// The next step for the state the console left, or where to look when it cannot be read.
async fn next_step(platform: &dyn Platform) -> String {
    let (snap, release, images) =
        tokio::join!(platform.snapshot(), platform.release(), platform.images());
    match snap {
        Ok(snap) => {
            let mut images = images.unwrap_or_default();
            images.sort_by_key(|i| std::cmp::Reverse(i.pushed_at));
            let tags: Vec<String> = images.into_iter().flat_map(|i| i.tags).collect();
            render::next_step(&snap, release.ok().flatten().as_ref(), &tags)
        }
        Err(e) => format!("the platform did not answer ({e}); `bluegreen status` says more"),
    }
}

/// Builds `tag` into the local registry unless it is there already.
async fn publish(paths: &Paths, source: &Path, tag: &str) -> Result<(), Failure> {
    if let Ok(digest) = Registry::new(paths.registry_dir()).resolve(tag) {
        detail(&format!(
            "{tag} is already in the local registry ({}); not rebuilding (`bluegreen build` makes new releases)",
            crate::format::short_digest(&digest)
        ));
        return Ok(());
    }
    let build = run_build(paths, source, tag).await?;
    if build.status != BuildStatus::Succeeded {
        let log = build.log_location.clone().unwrap_or_default();
        output::err(&lifecycle::log_tail(Path::new(&log), 0, 30));
        return Err(anyhow::anyhow!(
            "the build of {tag} failed ({:?}); full log: {log}",
            build.status
        )
        .into());
    }
    Ok(())
}

fn step(n: u32, text: &str) {
    say!("[{n}/5] {text}");
}

fn detail(text: &str) {
    say!("      {text}");
}

/// Builds in this process (the daemon may not run yet), printing each phase as it ends.
async fn run_build(paths: &Paths, source: &Path, tag: &str) -> anyhow::Result<Build> {
    let store = BuildStore::new(paths.builds_dir());
    let mut req =
        daemon::engine::build_request(paths, source.to_path_buf(), None, Some(tag.to_string()));
    if tag != FIRST {
        // The first release keeps the checkout's own version (`git describe`); a later one
        // compiles its tag in, so it is a different binary, not v1 under a second name.
        req.env.push(("BLOG_BUILD_VERSION".into(), tag.to_string()));
    }
    let submitted = build::submit(&store, &req).context("cannot record the build")?;
    detail(&format!(
        "{} · the first build of a fresh clone takes a minute or two; follow it with: tail -f {}",
        submitted.id,
        submitted.log_location.clone().unwrap_or_default()
    ));
    let log = std::path::PathBuf::from(submitted.log_location.clone().unwrap_or_default());
    let progress = super::progress::Progress::start(
        super::progress::Mode::detect(false),
        &format!("building {tag}"),
    );
    let phase = std::sync::Mutex::new(String::from("PRE_BUILD"));
    let mut printed = 0usize;
    let mut on_update = |b: &Build| {
        if let (Some(p), Ok(mut current)) = (b.phases.last(), phase.lock()) {
            current.clone_from(&p.name);
        }
        for p in b.phases.iter().filter(|p| p.status.is_done()).skip(printed) {
            printed += 1;
            if p.duration_ms.unwrap_or(0) >= 100 || p.status != BuildStatus::Succeeded {
                progress.line(&format!(
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
    };
    let execute = build::execute(&store, &req, submitted, &mut on_update);
    tokio::pin!(execute);
    // The phase, the elapsed time and the log's latest line (cargo's progress), every half second.
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let done = loop {
        tokio::select! {
            done = &mut execute => break done,
            _ = tick.tick() => {
                let current = phase.lock().map(|p| p.clone()).unwrap_or_default();
                let latest = super::progress::latest_log_line(&log).unwrap_or_default();
                progress.set(&current, &latest);
            }
        }
    };
    Ok(done)
}

/// The author the demo's posts are written as, and where its password is kept (mode 0600)
/// for a presenter who wants to sign in.
const DEMO_AUTHOR: &str = "demo";

/// Adds the demo's author account with the blog binary the registry holds for `v1`, against
/// the database both colors share; the password is random and kept in the state directory.
fn demo_account(paths: &Paths) -> anyhow::Result<String> {
    use std::io::Write;
    let password_file = paths.root().join("demo-password");
    if let Ok(p) = std::fs::read_to_string(&password_file) {
        return Ok(p.trim().to_string());
    }
    let registry = Registry::new(paths.registry_dir());
    let digest = registry
        .resolve(FIRST)
        .context("the demo's author account needs the v1 blog binary in the registry")?;
    let blog = registry.blob_path(&digest);
    let bytes: [u8; 18] = rand::random();
    let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let store = format!("sqlite:{}", paths.database().display());
    let mut child = std::process::Command::new(&blog)
        .args(["user", "add", DEMO_AUTHOR, "--store", &store])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {} user add", blog.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(format!("{password}\n").as_bytes())
            .context("cannot send the password to blog user add")?;
    }
    let out = child.wait_with_output().context("blog user add")?;
    if !out.status.success() {
        anyhow::bail!(
            "blog user add {DEMO_AUTHOR} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    crate::platform::local::files::write_atomic(&password_file, password.as_bytes())
        .with_context(|| format!("cannot write {}", password_file.display()))?;
    Ok(password)
}

/// The cookies a response sets, as a `Cookie` header's pairs.
fn set_cookies(resp: &http::HttpResponse) -> Vec<String> {
    resp.headers
        .get_all(hyper::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(|v| v.trim().to_string())
        .collect()
}

/// Creates the seed posts through the proxy: signs in as the demo's author, then posts each
/// with the session's form token.
async fn seed(addr: std::net::SocketAddr, paths: &Paths) -> anyhow::Result<usize> {
    let password = demo_account(paths)?;
    let mut http = http::HttpClient::new(addr);
    let login = http.get("/login").await.map_err(anyhow::Error::msg)?;
    let (token, csrf) = http::form_token(&login).ok_or_else(|| {
        anyhow::anyhow!("GET /login answered {} without a form token", login.status)
    })?;
    let mut headers = Vec::new();
    if let Some(c) = &csrf {
        headers.push(("cookie", c.as_str()));
    }
    let signed = http
        .post_form(
            "/login",
            &headers,
            &[
                ("csrf_token", token.as_str()),
                ("name", DEMO_AUTHOR),
                ("password", password.as_str()),
            ],
        )
        .await
        .map_err(anyhow::Error::msg)?;
    let session = set_cookies(&signed).join("; ");
    if !session.contains("session") {
        anyhow::bail!(
            "signing in as {DEMO_AUTHOR} answered {} without a session: {}",
            signed.status,
            signed.text().chars().take(300).collect::<String>()
        );
    }
    let mut made = 0;
    for (title, _author, content) in SEED_POSTS {
        let cookie = [("cookie", session.as_str())];
        let form = http
            .send(hyper::Method::GET, "/posts/new", &cookie, None)
            .await
            .map_err(anyhow::Error::msg)?;
        let (token, _) = http::form_token(&form).ok_or_else(|| {
            anyhow::anyhow!(
                "GET /posts/new answered {} without a form token",
                form.status
            )
        })?;
        let resp = http
            .post_form(
                "/posts/new",
                &cookie,
                &[
                    ("csrf_token", &token),
                    ("title", title),
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
