//! Shared by the local-platform tests: a daemon on free ports in a temporary state directory,
//! driven through the `bluegreen` binary (up, publish, down) and the library client (verbs),
//! and a bounded load generator that classifies every response by `X-Blog-Color`.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::bins::bin;
use bluegreen::ops::{Access, Ops};
use bluegreen::platform::http::{HttpClient, form_token};
use bluegreen::platform::{Platform, PlatformKind};
use bluegreen::rollout::{Color, PerColor, Snapshot};

/// A running local platform; `local down` on drop.
pub struct LocalPlatform {
    _dir: tempfile::TempDir,
    pub state: PathBuf,
    pub platform: Arc<dyn Platform>,
    pub ops: Ops,
    pub production: SocketAddr,
    pub test: SocketAddr,
}

impl LocalPlatform {
    /// Publishes the debug blog binary under `tags` (one digest) and starts the daemon with
    /// fast health checks and short drains.
    pub async fn start(tags: &[&str], extra: &[&str]) -> LocalPlatform {
        Self::start_at("state", tags, extra).await
    }

    /// Like [`LocalPlatform::start`], with the state directory at `relative` inside the
    /// temporary directory (a long one tests the socket path fallback).
    pub async fn start_at(relative: &str, tags: &[&str], extra: &[&str]) -> LocalPlatform {
        Self::start_with(relative, tags, extra, None).await
    }

    /// Like [`LocalPlatform::start`], the daemon limited to `nofile` descriptors.
    pub async fn start_limited(tags: &[&str], extra: &[&str], nofile: u64) -> LocalPlatform {
        Self::start_with("state", tags, extra, Some(nofile)).await
    }

    async fn start_with(
        relative: &str,
        tags: &[&str],
        extra: &[&str],
        nofile: Option<u64>,
    ) -> LocalPlatform {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join(relative);
        let blog = bin("blog");
        let mut publish = vec!["local", "publish"];
        for t in tags {
            publish.extend(["--tag", t]);
        }
        let blog_str = blog.display().to_string();
        publish.push(&blog_str);
        let out = bluegreen(&state, dir.path(), &publish);
        assert!(out.status.success(), "publish failed: {}", text(&out));
        let mut up = vec![
            "local",
            "up",
            "--port",
            "0",
            "--test-port",
            "0",
            "--health-interval-ms",
            "200",
            "--deregistration-delay-ms",
            "3000",
            "--stop-timeout-ms",
            "5000",
        ];
        up.extend_from_slice(extra);
        let out = bluegreen_under(nofile, &state, dir.path(), &up);
        assert!(out.status.success(), "local up failed: {}", text(&out));
        // The account the load writes as, in the database both colors share.
        crate::blog_http::add_account(
            &format!("sqlite:{}", state.join("blog.db").display()),
            LOAD_AUTHOR,
            LOAD_PASSWORD,
            false,
            &[],
        );
        let platform = bluegreen::platform::local::lifecycle::connect(&state)
            .await
            .expect("the daemon answers");
        let status = bluegreen::platform::local::client::LocalClient::connect(&state)
            .await
            .expect("client")
            .status()
            .await
            .expect("status");
        let ops = Ops::new(platform.clone(), Access::default());
        LocalPlatform {
            _dir: dir,
            state,
            ops,
            production: status.production.parse().expect("production addr"),
            test: status.test.parse().expect("test addr"),
            platform,
        }
    }

    /// Runs `bluegreen --state-dir STATE ARGS…`.
    pub fn cli(&self, args: &[&str]) -> Output {
        bluegreen(
            &self.state,
            self.state.parent().unwrap_or(Path::new("/")),
            args,
        )
    }

    /// Deploys the first release to blue and waits until the daemon made it stable.
    pub async fn first_release(&self, tag: &str, tasks: u32) {
        self.platform
            .deploy(Color::Blue, tag, tasks)
            .await
            .expect("deploy");
        self.wait_until(Duration::from_secs(60), "blue stable", |s| {
            s.listener.stable == Some(Color::Blue)
                && s.colors.blue.healthy_targets() >= tasks as usize
        })
        .await;
    }

    /// Deploys `tag` to the idle color (green, after [`LocalPlatform::first_release`]) and
    /// waits until it is healthy.
    pub async fn deploy_green(&self, tag: &str) {
        let receipt = self.ops.deploy(tag, None).await.expect("deploy");
        assert_eq!(receipt.color, Color::Green, "green is the idle color");
        self.ops
            .wait(
                &bluegreen::ops::WaitFor::Healthy(Color::Green),
                Duration::from_secs(60),
            )
            .await
            .expect("green healthy");
    }

    pub async fn wait_until(
        &self,
        limit: Duration,
        what: &str,
        done: impl Fn(&Snapshot) -> bool,
    ) -> Snapshot {
        let deadline = Instant::now() + limit;
        loop {
            let snap = self.platform.snapshot().await.expect("snapshot");
            if done(&snap) {
                return snap;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last snapshot: {:#?}",
                snap.colors
                    .map(|_, c| (c.service.events.clone(), c.targets.clone()))
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (at most 10 s) until no daemon answers on the control socket.
    pub async fn wait_until_down(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while bluegreen::platform::local::client::LocalClient::connect(&self.state)
            .await
            .is_ok()
        {
            assert!(Instant::now() < deadline, "the daemon still answers");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `bluegreen ARGS…` off the runtime's threads: its exit code, its stdout as JSON
    /// (`null` when it is not), and everything it printed.
    pub async fn cli_json(&self, args: &[&str]) -> (i32, serde_json::Value, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let state = self.state.clone();
        let out = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            bluegreen(&state, state.parent().unwrap_or(&state), &refs)
        })
        .await
        .expect("joined");
        let code = out.status.code().unwrap_or(-1);
        let doc = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (code, doc, text(&out))
    }

    /// Waits (at most 120 s) until the recorded release holds its first step (its smoke test
    /// passed), failing if it ends first.
    pub async fn wait_for_first_step(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let r = self.recorded_release().await;
            assert!(r.outcome.is_none(), "ended early: {:?}", r.outcome);
            if matches!(r.stage, bluegreen::rollout::Stage::Step { index: 0, .. }) {
                return;
            }
            assert!(Instant::now() < deadline, "never reached step 1: {r:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The release recorded now (one must be).
    pub async fn recorded_release(&self) -> bluegreen::rollout::Release {
        self.platform
            .release()
            .await
            .expect("read")
            .expect("recorded")
    }

    /// Runs `bluegreen GLOBAL… release ARGS… --detach --json`, which must start a release,
    /// and returns its id.
    pub async fn release_detached(&self, global: &[&str], args: &[&str]) -> String {
        let mut all: Vec<&str> = global.to_vec();
        all.push("release");
        all.extend_from_slice(args);
        all.extend(["--detach", "--json"]);
        let (code, doc, out) = self.cli_json(&all).await;
        assert_eq!(code, 0, "release started: {out}");
        doc["release"]["id"].as_str().expect("an id").to_string()
    }

    /// Waits (at most `limit`) until the recorded release is over, and returns it.
    pub async fn release_over(&self, limit: Duration) -> bluegreen::rollout::Release {
        let deadline = Instant::now() + limit;
        loop {
            let r = self.recorded_release().await;
            if r.is_over() {
                return r;
            }
            assert!(Instant::now() < deadline, "still running: {r:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self) -> String {
        match self.platform.info().kind {
            PlatformKind::Local { url, .. } => url,
            other => panic!("not local: {other:?}"),
        }
    }
}

impl Drop for LocalPlatform {
    fn drop(&mut self) {
        let _ = self.cli(&["local", "down"]);
    }
}

/// The longest one `bluegreen` command of these tests may run before it is killed.
pub const CLI_LIMIT: Duration = Duration::from_secs(300);

/// Runs `bluegreen --state-dir STATE ARGS…` in `cwd` to completion; one that is still running
/// after [`CLI_LIMIT`] (a release paused for good, say) is killed and fails the test with
/// what it printed, instead of holding up the whole run.
pub fn bluegreen(state: &Path, cwd: &Path, args: &[&str]) -> Output {
    bluegreen_under(None, state, cwd, args)
}

/// [`bluegreen`], with at most `nofile` descriptors (soft and hard, through `prlimit`) when
/// given: a daemon it starts inherits the limit.
pub fn bluegreen_under(nofile: Option<u64>, state: &Path, cwd: &Path, args: &[&str]) -> Output {
    let mut command = match nofile {
        Some(n) => {
            let mut c = Command::new("prlimit");
            c.arg(format!("--nofile={n}:{n}"))
                .arg("--")
                .arg(bin("bluegreen"));
            c
        }
        None => Command::new(bin("bluegreen")),
    };
    let mut child = command
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .current_dir(cwd)
        .env_remove("BLUEGREEN_CONFIG")
        .env_remove("BLUEGREEN_PROFILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bluegreen");
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + CLI_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for bluegreen") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let out = String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned();
            let err = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
            panic!(
                "bluegreen {args:?} still ran after {CLI_LIMIT:?}, killed\nstdout:\n{out}\nstderr:\n{err}"
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Reads `pipe` to its end on a thread of its own.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
}

pub fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The phase a request is counted in; `TRANSITION` while weights change (not counted).
pub const TRANSITION: usize = usize::MAX;

/// What one load run saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub requests: u64,
    /// Responses per phase and color (requests that started and ended in one phase).
    pub per_phase: Vec<PerColor<u64>>,
    /// (when, the request as `METHOD path`, the error).
    pub transport_errors: Vec<(Instant, String, String)>,
    /// (when, the request, status, the start of the body).
    pub bad_status: Vec<(Instant, String, u16, String)>,
    /// Paths of the posts the load created.
    pub created: Vec<String>,
    /// Responses without a color header.
    pub uncolored: u64,
    /// When the last request ended (answered or failed).
    pub last_request: Option<Instant>,
    /// A client stopped on its count or time cap before it was told to, so the load did not
    /// cover everything the test did meanwhile.
    pub ran_out: bool,
}

impl LoadReport {
    pub fn failures_between(&self, from: Instant, to: Instant) -> usize {
        self.transport_errors
            .iter()
            .filter(|(t, _, _)| *t >= from && *t <= to)
            .count()
            + self
                .bad_status
                .iter()
                .filter(|(t, _, _, _)| *t >= from && *t <= to)
                .count()
    }

    /// The requests that failed, as `METHOD path`.
    pub fn failed_requests(&self) -> Vec<&str> {
        self.transport_errors
            .iter()
            .map(|(_, r, _)| r.as_str())
            .chain(self.bad_status.iter().map(|(_, r, _, _)| r.as_str()))
            .collect()
    }

    fn merge(&mut self, other: LoadReport) {
        self.requests += other.requests;
        if self.per_phase.len() < other.per_phase.len() {
            self.per_phase
                .resize(other.per_phase.len(), PerColor::default());
        }
        for (i, p) in other.per_phase.into_iter().enumerate() {
            self.per_phase[i].blue += p.blue;
            self.per_phase[i].green += p.green;
        }
        self.transport_errors.extend(other.transport_errors);
        self.bad_status.extend(other.bad_status);
        self.created.extend(other.created);
        self.uncolored += other.uncolored;
        self.last_request = self.last_request.max(other.last_request);
        self.ran_out |= other.ran_out;
    }
}

/// `clients` concurrent clients, each on its own kept-alive connection, mixing GET `/`,
/// GET of a post, and creating a post (GET the form, POST it) every fifth step. Runs until
/// told to stop; the caps (`max_per_client` requests each, `max_duration`) only bound a
/// test that never says so, and hitting one is reported as [`LoadReport::ran_out`].
pub struct Load {
    stop: Arc<AtomicBool>,
    pub phase: Arc<AtomicUsize>,
    handles: Vec<tokio::task::JoinHandle<LoadReport>>,
}

impl Load {
    pub fn start(
        addr: SocketAddr,
        clients: usize,
        max_per_client: u64,
        max_duration: Duration,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let caps = Caps {
            requests: max_per_client,
            until: Instant::now() + max_duration,
        };
        let phase = Arc::new(AtomicUsize::new(0));
        let handles = (0..clients)
            .map(|n| {
                let stop = stop.clone();
                let phase = phase.clone();
                tokio::spawn(client_loop(addr, n, stop, phase, caps))
            })
            .collect();
        Load {
            stop,
            phase,
            handles,
        }
    }

    pub fn set_phase(&self, p: usize) {
        self.phase.store(p, Ordering::SeqCst);
    }

    pub async fn stop(self) -> LoadReport {
        self.stop.store(true, Ordering::SeqCst);
        let mut total = LoadReport::default();
        for h in self.handles {
            total.merge(h.await.expect("load client"));
        }
        total
    }
}

/// Where a load client stops by itself.
#[derive(Clone, Copy)]
struct Caps {
    requests: u64,
    until: Instant,
}

async fn client_loop(
    addr: SocketAddr,
    n: usize,
    stop: Arc<AtomicBool>,
    phase: Arc<AtomicUsize>,
    caps: Caps,
) -> LoadReport {
    let mut http = HttpClient::new(addr);
    let mut session = None;
    let mut report = LoadReport::default();
    let mut step = 0u64;
    loop {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if report.requests >= caps.requests || Instant::now() >= caps.until {
            report.ran_out = true;
            break;
        }
        step += 1;
        let start_phase = phase.load(Ordering::SeqCst);
        let result = if step % 5 == 0 {
            create_post(&mut http, &mut session, n, step, &mut report).await
        } else if step % 2 == 0 && !report.created.is_empty() {
            let path = report.created[(step as usize / 2) % report.created.len()].clone();
            let what = format!("GET {path}");
            http.get(&path)
                .await
                .map(|r| vec![(what, r)])
                .map_err(|e| (format!("GET {path}"), e))
        } else {
            http.get("/")
                .await
                .map(|r| vec![("GET /".to_string(), r)])
                .map_err(|e| ("GET /".to_string(), e))
        };
        let end_phase = phase.load(Ordering::SeqCst);
        match result {
            Ok(responses) => {
                for (what, r) in responses {
                    report.requests += 1;
                    if !(200..400).contains(&r.status) {
                        report.bad_status.push((
                            Instant::now(),
                            what,
                            r.status,
                            r.text().chars().take(200).collect(),
                        ));
                    }
                    match r
                        .header("x-blog-color")
                        .and_then(|c| c.parse::<Color>().ok())
                    {
                        Some(c) if start_phase == end_phase && start_phase != TRANSITION => {
                            if report.per_phase.len() <= start_phase {
                                report
                                    .per_phase
                                    .resize(start_phase + 1, PerColor::default());
                            }
                            *report.per_phase[start_phase].get_mut(c) += 1;
                        }
                        Some(_) => {}
                        None => report.uncolored += 1,
                    }
                }
            }
            Err((what, e)) => {
                report.requests += 1;
                report.transport_errors.push((Instant::now(), what, e));
            }
        }
        report.last_request = Some(Instant::now());
    }
    report
}

type Exchange = (String, bluegreen::platform::http::HttpResponse);

/// The account the load writes posts as (added when the platform starts).
pub const LOAD_AUTHOR: &str = "load";
pub const LOAD_PASSWORD: &str = "the load's long password";

/// A signed-in load client: its cookies and its session's form token.
#[derive(Clone, Default)]
struct Session {
    cookie: String,
    token: String,
}

/// Signs in through the form; the sign-in carries a draft, so its answer is the post form
/// with the session's token. `None` (with the exchanges) when a step gave no form.
async fn sign_in(
    http: &mut HttpClient,
    exchanges: &mut Vec<Exchange>,
) -> Result<Option<Session>, (String, String)> {
    let what = "GET /login".to_string();
    let login = http.get("/login").await.map_err(|e| (what.clone(), e))?;
    let found = form_token(&login);
    exchanges.push((what, login));
    let Some((token, Some(csrf))) = found else {
        return Ok(None);
    };
    let what = "POST /login".to_string();
    let signed = http
        .post_form(
            "/login",
            &[("cookie", csrf.as_str())],
            &[
                ("csrf_token", token.as_str()),
                ("name", LOAD_AUTHOR),
                ("password", LOAD_PASSWORD),
                ("draft_action", "/posts/new"),
            ],
        )
        .await
        .map_err(|e| (what.clone(), e))?;
    let session = signed
        .headers
        .get_all(hyper::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .find(|c| c.starts_with("blog_session="));
    let form = form_token(&signed);
    exchanges.push((what, signed));
    Ok(match (session, form) {
        (Some(cookie), Some((token, _))) => Some(Session { cookie, token }),
        _ => None,
    })
}

/// GET the form, POST it; returns both responses (the POST's failure is an error).
async fn create_post(
    http: &mut HttpClient,
    session: &mut Option<Session>,
    client: usize,
    step: u64,
    report: &mut LoadReport,
) -> Result<Vec<Exchange>, (String, String)> {
    let mut exchanges = Vec::new();
    if session.is_none() {
        *session = sign_in(http, &mut exchanges).await?;
    }
    let Some(Session { cookie, token }) = session.clone() else {
        return Ok(exchanges);
    };
    let headers = [("cookie", cookie.as_str())];
    let title = format!("load {client}-{step}");
    let resp = http
        .post_form(
            "/posts/new",
            &headers,
            &[
                ("csrf_token", token.as_str()),
                ("title", title.as_str()),
                ("author", "load"),
                ("content", "written during a release"),
            ],
        )
        .await;
    match resp {
        Ok(r) => {
            if let Some(loc) = r.header("location") {
                report.created.push(loc.to_string());
            }
            exchanges.push(("POST /posts/new".to_string(), r));
            Ok(exchanges)
        }
        Err(e) => {
            // The form's response counts; the POST is the transport error.
            report.requests += 1;
            Err(("POST /posts/new".to_string(), e))
        }
    }
}

/// Processes of this state directory's tasks of `color`: (pid, task id), read from /proc.
pub fn task_processes(state: &Path, color: Color) -> Vec<(i32, String)> {
    let db = state.join("blog.db").display().to_string();
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmdline).contains(&db) {
            continue;
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let vars: Vec<String> = environ
            .split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        let is_color = vars.iter().any(|v| *v == format!("BLOG_COLOR={color}"));
        let id = vars
            .iter()
            .find_map(|v| v.strip_prefix("BLUEGREEN_TASK_ID=").map(str::to_owned));
        if let (true, Some(id)) = (is_color, id) {
            out.push((pid, id));
        }
    }
    out
}
