//! One task's life: start the blog process, capture its output, register it with the proxy
//! once it listens, health-check it, and record how it ended.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::health::{self, Streaks, TargetPhase};
use super::pipes;
use super::process::{self, Ended, Proc};
use super::{LogLimits, Release, Supervisor, Task, TaskStatus, parse_listen_addr};
use crate::clock::now_millis;
use crate::platform::local::files;
use crate::platform::local::logs::{TRUNCATED_MARK, format_line};
use crate::platform::local::proxy::upstream::Upstream;
use crate::rollout::Color;

/// Sends `sig` to `pid`, ignoring a process that is already gone. Only for a process no
/// runner of ours owns (a previous daemon's orphan, a successor daemon that never got ready);
/// a task is signalled through its runner.
pub(crate) fn signal(pid: u32, sig: Signal) {
    let Ok(raw) = i32::try_from(pid) else { return };
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), sig);
}

fn task_id(color: Color) -> String {
    let n: u32 = rand::random();
    format!("{color}-{:08x}", n)
}

impl Supervisor {
    pub(super) fn start_task(self: &Arc<Self>, color: Color, release: Release) {
        let id = task_id(color);
        let (signals, mut signal_rx) = mpsc::unbounded_channel();
        {
            let mut all = self.lock();
            all.get_mut(color).tasks.push(Task {
                id: id.clone(),
                release: release.clone(),
                pid: None,
                start_time: None,
                upstream: None,
                status: TaskStatus::Pending,
                target: None,
                streaks: Streaks::default(),
                last_check_error: None,
                started_at: now_millis(),
                created: Instant::now(),
                stopped_reason: None,
                stopped_at: None,
                stop_requested: false,
                ever_healthy: false,
                signals,
            });
        }
        let me = self.clone();
        tokio::spawn(async move {
            let outcome = me.run_task(color, &id, &release, &mut signal_rx).await;
            me.task_ended(color, &id, outcome);
        });
    }

    /// Runs the process to its end; returns why it ended.
    async fn run_task(
        self: &Arc<Self>,
        color: Color,
        id: &str,
        release: &Release,
        signals: &mut mpsc::UnboundedReceiver<Signal>,
    ) -> String {
        let binary = self.registry.blob_path(&release.digest);
        // Checked when it is run, not only when it was stored: a blob changed since (or
        // made another user's) is refused. What was hashed is what runs: the process
        // executes the open descriptor.
        let verified = {
            let registry = self.registry.clone();
            let digest = release.digest.clone();
            match tokio::task::spawn_blocking(move || registry.open_verified(&digest)).await {
                Ok(Ok(file)) => file,
                Ok(Err(e)) => return format!("refused to start it: {e}"),
                Err(e) => return format!("cannot check its binary: {e}"),
            }
        };
        let exe = format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&verified)
        );
        let log = match self.open_log(color, id).await {
            Ok(log) => log,
            Err(why) => return why,
        };
        let ([out_end, err_end], [out, err]) =
            match pipes::create(&self.paths, id).and_then(|ends| {
                let readers = pipes::open(&self.paths, id)?;
                Ok((ends, readers))
            }) {
                Ok(p) => p,
                Err(e) => {
                    return format!(
                        "cannot create its output pipes in {}: {e}",
                        self.paths.pipes_dir().display()
                    );
                }
            };
        let child = tokio::process::Command::new(&exe)
            .arg0(&binary)
            .arg("--store")
            .arg(format!("sqlite:{}", self.paths.database().display()))
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .env("BLOG_COLOR", color.as_str())
            .env("BLOG_VERSION", &release.tag)
            .env("BLOG_CSRF_SECRET", &self.csrf_secret)
            // Names the task to its process, as ECS's metadata endpoint does.
            .env("BLUEGREEN_TASK_ID", id)
            .env_remove("PORT")
            .env_remove("BLOG_STORE")
            .env_remove("BLOG_BIND")
            .stdin(Stdio::null())
            .stdout(out_end)
            .stderr(err_end)
            // Its own process group, so a signal to the daemon's group (a Ctrl-C in the
            // terminal that started it) does not reach it; the daemon stops its tasks itself,
            // and one that took over from this daemon must find them running.
            .process_group(0)
            .spawn();
        drop(verified);
        let child = match child {
            Ok(c) => c,
            Err(e) => return format!("cannot start {}: {e}", binary.display()),
        };
        let pid = child.id();
        let mut proc = Proc::Own(child);
        {
            let mut all = self.lock();
            if let Some(t) = all.get_mut(color).tasks.iter_mut().find(|t| t.id == id) {
                t.pid = pid;
                t.start_time = pid.and_then(process::start_time);
            }
        }
        self.write_records();

        let (addr_tx, addr_rx) = oneshot::channel();
        let last_err = Arc::new(std::sync::Mutex::new(None::<String>));
        let writer = self.log_output(log, [out, err], Some(addr_tx), Some(last_err.clone()));

        let grace = self.cfg.start_grace;
        let started = tokio::time::Instant::now();
        let listening = tokio::select! {
            addr = addr_rx => addr.ok().flatten().ok_or(StartFailure::Closed),
            ended = proc.wait_signalled(signals) => Err(StartFailure::Exited(ended)),
            _ = tokio::time::sleep(grace) => Err(StartFailure::Silent),
            _ = self.detach.cancelled() => return DETACHED.into(),
        };
        let addr = match listening {
            Ok(addr) => addr,
            Err(failure) => {
                let status = match failure {
                    StartFailure::Exited(ended) => Some(ended),
                    // Its output closed: it is exiting; give it a moment to say how.
                    StartFailure::Closed => {
                        tokio::time::timeout(EXIT_WAIT, proc.wait_signalled(signals))
                            .await
                            .ok()
                    }
                    StartFailure::Silent => None,
                };
                if status.is_none() {
                    proc.deliver(Signal::SIGKILL);
                    let _ = proc.wait_signalled(signals).await;
                }
                let _ = writer.await;
                let last = last_err.lock().ok().and_then(|l| l.clone());
                return start_failure(status, started.elapsed(), grace, last.as_deref());
            }
        };
        let upstream = Arc::new(Upstream::new(addr, id));
        let registered = {
            let mut all = self.lock();
            match all.get_mut(color).tasks.iter_mut().find(|t| t.id == id) {
                Some(t) if !t.stop_requested => {
                    t.upstream = Some(upstream.clone());
                    t.status = TaskStatus::Running;
                    t.target = Some(TargetPhase::Initial);
                    true
                }
                Some(t) => {
                    t.upstream = Some(upstream.clone());
                    false
                }
                None => false,
            }
        };
        self.write_records();
        if registered {
            let me = self.clone();
            let task = id.to_string();
            tokio::spawn(async move { me.health_loop(color, task, addr).await });
        }
        // A task stopped while starting (scaled in, or a newer deploy) never served; the
        // SIGTERM `stop_task` queued reaches it here, as for any task.
        self.run_to_end(proc, signals, writer).await
    }

    /// Watches an adopted task as [`Supervisor::run_task`] watches one it started, from the
    /// point where it listens.
    pub(super) fn run_adopted(
        self: &Arc<Self>,
        color: Color,
        id: String,
        addr: std::net::SocketAddr,
        proc: Proc,
        mut signals: mpsc::UnboundedReceiver<Signal>,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            let writer = match (me.open_log(color, &id).await, pipes::open(&me.paths, &id)) {
                (Ok(log), Ok(streams)) => me.log_output(log, streams, None, None),
                (Err(why), _) => {
                    tracing::warn!("task {id}: {why}; its output is not logged");
                    tokio::spawn(async {})
                }
                (_, Err(e)) => {
                    tracing::warn!(
                        "task {id}: cannot open its output pipes: {e}; its output is not logged"
                    );
                    tokio::spawn(async {})
                }
            };
            {
                let me = me.clone();
                let id = id.clone();
                tokio::spawn(async move { me.health_loop(color, id, addr).await });
            }
            let reason = me.run_to_end(proc, &mut signals, writer).await;
            me.task_ended(color, &id, reason);
        });
    }

    /// Waits for a listening task's end (or this daemon's handover) and its last output.
    async fn run_to_end(
        &self,
        mut proc: Proc,
        signals: &mut mpsc::UnboundedReceiver<Signal>,
        writer: tokio::task::JoinHandle<()>,
    ) -> String {
        let ended = tokio::select! {
            ended = proc.wait_signalled(signals) => ended,
            _ = self.detach.cancelled() => return DETACHED.into(),
        };
        let _ = writer.await;
        ended_reason(ended)
    }

    /// Opens (creating it 0600) the task's log for appending.
    async fn open_log(&self, color: Color, id: &str) -> Result<TaskLog, String> {
        let log_path = self.paths.task_log(color, id);
        if let Some(dir) = log_path.parent()
            && let Err(e) = files::create_private_dir(dir)
        {
            return Err(format!(
                "cannot create the log directory {}: {e}",
                dir.display()
            ));
        }
        TaskLog::open(log_path, self.cfg.logs)
            .await
            .map_err(|(path, e)| format!("cannot open {}: {e}", path.display()))
    }

    /// Pumps a task's stdout and stderr into its log, one writer so lines never interleave
    /// mid-line; the first stdout line also yields the listen address.
    fn log_output(
        &self,
        log: TaskLog,
        [out, err]: [tokio::net::unix::pipe::Receiver; 2],
        addr: Option<oneshot::Sender<Option<std::net::SocketAddr>>>,
        last_err: Option<Arc<std::sync::Mutex<Option<String>>>>,
    ) -> tokio::task::JoinHandle<()> {
        let (line_tx, line_rx) = mpsc::unbounded_channel::<String>();
        let detach = self.detach.clone();
        tokio::spawn(pump(out, line_tx.clone(), addr, None, detach.clone()));
        tokio::spawn(pump(err, line_tx, None, last_err, detach));
        self.log_writers.spawn(write_log(log, line_rx))
    }

    /// Checks one task every interval until it stops or drains.
    async fn health_loop(self: Arc<Self>, color: Color, id: String, addr: std::net::SocketAddr) {
        let interval = self.cfg.health_interval;
        // Independent of the interval, so a busy machine is not mistaken for a dead task.
        let timeout = Duration::from_secs(2);
        let started = Instant::now();
        loop {
            let result = health::check(addr, timeout).await;
            let mut replace: Option<String> = None;
            let changed;
            {
                let mut all = self.lock();
                let svc = all.get_mut(color);
                let Some(t) = svc.tasks.iter_mut().find(|t| t.id == id) else {
                    return;
                };
                if !t.active() {
                    return;
                }
                let before = t.target.unwrap_or(TargetPhase::Initial);
                let after = t.streaks.record(
                    result.is_ok(),
                    before,
                    self.cfg.healthy_threshold,
                    self.cfg.unhealthy_threshold,
                );
                t.last_check_error = result.err();
                t.target = Some(after);
                let became_healthy = after == TargetPhase::Healthy && before != after;
                if became_healthy {
                    t.ever_healthy = true;
                }
                if after == TargetPhase::Unhealthy && before != after {
                    // ECS replaces a task that fails its load balancer health checks.
                    replace = Some(format!(
                        "failed {} health checks in a row ({})",
                        self.cfg.unhealthy_threshold,
                        t.last_check_error.as_deref().unwrap_or("no answer")
                    ));
                } else if !t.ever_healthy && started.elapsed() > self.cfg.start_grace {
                    replace = Some(format!(
                        "not healthy within {} s of starting",
                        self.cfg.start_grace.as_secs()
                    ));
                }
                if became_healthy {
                    svc.crash_streak = 0;
                    svc.next_start = None;
                    svc.event(format!("blog-{color}: task {id} is healthy at {addr}"));
                }
                changed = before != after;
                if changed {
                    self.update_routes(&all, color);
                    self.wake.notify_one();
                }
            }
            if changed {
                // The next daemon adopts a healthy task as healthy.
                self.write_records();
            }
            if let Some(reason) = replace {
                self.stop_task(color, &id, &reason, false);
                self.wake.notify_one();
                return;
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = self.detach.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// Records a task's end; a task that ended on its own is replaced by the next reconcile.
    /// After a handover the task lives on under the new daemon: nothing is recorded.
    pub(super) fn task_ended(&self, color: Color, id: &str, reason: String) {
        if self.detach.is_cancelled() {
            return;
        }
        pipes::remove(&self.paths, id);
        {
            let mut all = self.lock();
            let svc = all.get_mut(color);
            let mut unexpected = false;
            let mut crashed_early = false;
            if let Some(t) = svc.tasks.iter_mut().find(|t| t.id == id) {
                unexpected = !t.stop_requested;
                crashed_early = unexpected && !t.ever_healthy;
                t.status = TaskStatus::Stopped;
                t.stopped_at = Some(Instant::now());
                if let Some(up) = &t.upstream {
                    up.start_draining();
                }
                t.target = None;
                t.stopped_reason = Some(match (&t.stopped_reason, unexpected) {
                    (Some(why), false) => format!("{why} ({reason})"),
                    _ => reason.clone(),
                });
            }
            if unexpected {
                svc.event(format!(
                    "blog-{color}: task {id} stopped unexpectedly ({reason}); starting a replacement"
                ));
            }
            if crashed_early {
                svc.crash_streak += 1;
                if svc.crash_streak >= 2 {
                    let secs = 1u64 << (svc.crash_streak - 2).min(5);
                    svc.next_start = Some(Instant::now() + Duration::from_secs(secs.min(30)));
                }
            }
            self.update_routes(&all, color);
        }
        self.write_records();
        self.prune_logs(color);
        self.wake.notify_one();
    }

    /// Deletes the logs of all but the newest [`super::LogLimits::old_tasks`] ended tasks of `color`.
    fn prune_logs(&self, color: Color) {
        let live: Vec<String> = self
            .lock()
            .get(color)
            .tasks
            .iter()
            .filter(|t| t.status != TaskStatus::Stopped)
            .map(|t| t.id.clone())
            .collect();
        let dir = self.paths.color_logs_dir(color);
        match prune_old_logs(&dir, &live, self.cfg.logs.old_tasks) {
            Ok(0) => {}
            Ok(n) => tracing::info!("removed the logs of {n} old {color} task(s)"),
            Err(e) => tracing::warn!("cannot prune old task logs in {}: {e}", dir.display()),
        }
    }
}

/// Marks a run that ended because this daemon handed the task over.
const DETACHED: &str = "handed over to a new daemon";

/// How long a task whose output closed before it was listening has to exit, so its exit status
/// can be reported.
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Why a task never started listening.
enum StartFailure {
    /// It exited.
    Exited(Ended),
    /// Its stdout closed without a listen address.
    Closed,
    /// It printed no listen address within the start grace.
    Silent,
}

/// What a task that never listened did, in words: how it ended, after how long, and the last
/// thing it said on stderr.
fn start_failure(
    status: Option<Ended>,
    after: std::time::Duration,
    grace: std::time::Duration,
    last_err: Option<&str>,
) -> String {
    let said = last_err
        .map(|l| format!("; its last error line: {}", l.trim_end()))
        .unwrap_or_default();
    match status {
        Some(status) => format!(
            "the blog ended ({}) {:.1} s after it started, before it was listening{said}",
            ended_reason(status),
            after.as_secs_f64()
        ),
        None => format!(
            "the blog printed no listen address within {} s and was stopped{said}",
            grace.as_secs()
        ),
    }
}

fn ended_reason(ended: Ended) -> String {
    match ended {
        Ended::Status(status) => exit_reason(status),
        Ended::Unknown => {
            "exited (adopted from an earlier daemon, so its exit status is unknown)".into()
        }
    }
}

fn exit_reason(status: std::io::Result<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(sig)) => {
                let name = nix::sys::signal::Signal::try_from(sig)
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|_| sig.to_string());
                format!("killed by {name}")
            }
            _ => "exited".into(),
        },
        Err(e) => format!("lost track of the process: {e}"),
    }
}

/// The longest line of a task's output kept whole; a longer one is stored in pieces marked
/// with [`TRUNCATED_MARK`], so a task that never prints a newline cannot grow the daemon's
/// memory without bound.
const LINE_MAX: usize = 64 * 1024;

/// Forwards a stream's lines to the log writer; the first stdout line also yields the
/// listen address. Ends with the stream, or at a handover, after passing on what it had read.
async fn pump(
    stream: impl AsyncRead + Unpin,
    lines: mpsc::UnboundedSender<String>,
    mut addr: Option<oneshot::Sender<Option<std::net::SocketAddr>>>,
    last: Option<Arc<std::sync::Mutex<Option<String>>>>,
    detach: CancellationToken,
) {
    let mut reader = BufReader::new(stream);
    // May start with the bytes of a character a cut piece left incomplete.
    let mut buf = Vec::new();
    loop {
        let room = (LINE_MAX - buf.len()) as u64;
        // Cancel-safe: bytes read before a handover are in `buf` or still in `reader`.
        let mut limited = (&mut reader).take(room);
        let read = tokio::select! {
            read = limited.read_until(b'\n', &mut buf) => read,
            _ = detach.cancelled() => {
                drop(limited);
                buf.extend_from_slice(reader.buffer());
                break;
            }
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let whole = buf.last() == Some(&b'\n') || buf.len() < LINE_MAX;
        let cut = match std::str::from_utf8(&buf) {
            Err(e) if !whole && e.error_len().is_none() && e.valid_up_to() > 0 => e.valid_up_to(),
            _ => buf.len(),
        };
        let mut line = String::from_utf8_lossy(&buf[..cut]).into_owned();
        buf.drain(..cut);
        if !whole {
            line.push_str(TRUNCATED_MARK);
        }
        if let Some(tx) = addr.take() {
            match parse_listen_addr(&line) {
                Some(a) => {
                    let _ = tx.send(Some(a));
                }
                None => addr = Some(tx),
            }
        }
        if let Some(slot) = &last
            && !line.trim().is_empty()
            && let Ok(mut l) = slot.lock()
        {
            *l = Some(line.clone());
        }
        let _ = lines.send(format_line(now_millis(), &line));
    }
    for rest in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let _ = lines.send(format_line(now_millis(), &String::from_utf8_lossy(rest)));
    }
    if let Some(tx) = addr {
        let _ = tx.send(None);
    }
}

/// A task's log file, rotated at a size cap.
pub(super) struct TaskLog {
    path: PathBuf,
    file: tokio::fs::File,
    size: u64,
    limits: LogLimits,
}

impl TaskLog {
    async fn open(path: PathBuf, limits: LogLimits) -> Result<TaskLog, (PathBuf, std::io::Error)> {
        let file = Self::open_file(&path)
            .await
            .map_err(|e| (path.clone(), e))?;
        let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
        Ok(TaskLog {
            path,
            file,
            size,
            limits,
        })
    }

    async fn open_file(path: &Path) -> std::io::Result<tokio::fs::File> {
        let mut options = files::private_file();
        options.append(true);
        tokio::fs::OpenOptions::from(options).open(path).await
    }

    async fn write(&mut self, line: &str) -> std::io::Result<()> {
        let len = line.len() as u64;
        if self.size > 0 && self.size.saturating_add(len) > self.limits.max_bytes {
            self.file.flush().await?;
            tokio::fs::rename(
                &self.path,
                crate::platform::local::logs::rotated(&self.path),
            )
            .await?;
            self.file = Self::open_file(&self.path).await?;
            self.size = 0;
        }
        self.file.write_all(line.as_bytes()).await?;
        self.size = self.size.saturating_add(len);
        Ok(())
    }
}

async fn write_log(mut log: TaskLog, mut lines: mpsc::UnboundedReceiver<String>) {
    while let Some(line) = lines.recv().await {
        if let Err(e) = log.write(&line).await {
            tracing::warn!(
                "cannot write {}: {e}; the task's further output is lost",
                log.path.display()
            );
            break;
        }
    }
    let _ = log.file.flush().await;
}

/// Deletes the logs (and rotated logs) in `dir` of all but the `keep` most recently written
/// ended tasks; the tasks in `live` are never touched. Returns how many tasks' logs went.
fn prune_old_logs(dir: &Path, live: &[String], keep: usize) -> std::io::Result<usize> {
    let mut ended: Vec<(std::time::SystemTime, String)> = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        let Some(task) = name.to_str().and_then(|n| n.strip_suffix(".log")) else {
            continue;
        };
        if live.iter().any(|l| l == task) {
            continue;
        }
        let modified = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        ended.push((modified, task.to_string()));
    }
    ended.sort_by(|a, b| b.cmp(a));
    let mut removed = 0;
    for (_, task) in ended.iter().skip(keep) {
        let log = dir.join(format!("{task}.log"));
        let _ = std::fs::remove_file(crate::platform::local::logs::rotated(&log));
        std::fs::remove_file(&log)?;
        removed += 1;
    }
    Ok(removed)
}

#[cfg(test)]
#[path = "task_tests.rs"]
mod tests;
