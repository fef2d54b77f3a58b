//! The daemon's lifecycle, as typed functions for the CLI: probe it, start it detached, stop
//! it. The `local` verbs and the demo (in `crate::cli`) decide what to print.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::build;
use super::client::LocalClient;
use super::paths::Paths;
use crate::platform::{FaultKind, Platform, PlatformResult};

/// How long a starting daemon has to answer on its control socket.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopping daemon has to drain its tasks and exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// Connects to the daemon that owns `state_dir`.
pub async fn connect(state_dir: &Path) -> PlatformResult<Arc<dyn Platform>> {
    Ok(Arc::new(LocalClient::connect(state_dir).await?))
}

/// The running daemon, or `None` when none answers for this state directory.
pub async fn probe(paths: &Paths) -> PlatformResult<Option<LocalClient>> {
    match LocalClient::connect(paths.root()).await {
        Ok(c) => Ok(Some(c)),
        Err(e) if e.fault() == Some(FaultKind::Unavailable) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The repository around `start`, found the way git finds it (the nearest ancestor with a
/// `.git` directory or file), if it has a `buildspec.local.yaml` to build with.
pub fn find_source_dir(start: &Path) -> Result<PathBuf, String> {
    let Some(repo) = start.ancestors().find(|d| d.join(".git").exists()) else {
        return Err(format!(
            "{} is not inside a git repository, so there is nothing to build: run this in the repository to build, or give --source-dir PATH",
            start.display()
        ));
    };
    if !repo.join(build::DEFAULT_BUILDSPEC).is_file() {
        return Err(format!(
            "the repository {} has no {}: run this in the bluegreen repository, or give --source-dir PATH",
            repo.display(),
            build::DEFAULT_BUILDSPEC
        ));
    }
    Ok(repo.to_path_buf())
}

/// Starts `bluegreen local daemon ARGS` detached (its own process group, output appended to
/// `daemon.log`) and returns once its control socket answers. A daemon that exits or stays
/// silent is reported with the end of its log.
pub async fn start(paths: &Paths, daemon_args: Vec<OsString>) -> anyhow::Result<LocalClient> {
    let log_path = paths.daemon_log();
    let log_start = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
    let exe = super::paths::current_exe().context("cannot find the bluegreen executable")?;
    let mut child = daemon_command(&exe, paths)?
        .args(daemon_args)
        .stdin(std::process::Stdio::null())
        .spawn()
        .context("cannot start the daemon")?;
    let deadline = Instant::now() + START_TIMEOUT;
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
                "the daemon did not answer on {} within {} s; its log ({}):\n{}",
                paths.control_socket().display(),
                START_TIMEOUT.as_secs(),
                log_path.display(),
                log_tail(&log_path, log_start, 20)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `exe local daemon` for `paths`, detached (its own process group, output appended to
/// `daemon.log`); the caller adds arguments and stdin. It runs from the state directory with it
/// named explicitly, so no bluegreen.toml in the caller's directory (an AWS profile, say)
/// changes what the daemon is.
pub fn daemon_command(exe: &Path, paths: &Paths) -> anyhow::Result<std::process::Command> {
    use std::os::unix::process::CommandExt;
    let log = open_daemon_log(paths)?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("local")
        .arg("daemon")
        .current_dir(paths.root())
        .env("BLUEGREEN_STATE_DIR", paths.root())
        .env_remove("BLUEGREEN_CONFIG")
        .env_remove("BLUEGREEN_PROFILE")
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    Ok(cmd)
}

/// Creates the state directory if need be and opens `daemon.log` for appending. This runs
/// with the user's umask, before the daemon sets its own, so the modes are explicit.
fn open_daemon_log(paths: &Paths) -> anyhow::Result<std::fs::File> {
    super::files::create_private_dir(paths.root())
        .with_context(|| format!("cannot create {}", paths.root().display()))?;
    let log_path = paths.daemon_log();
    super::files::private_file()
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))
}

/// Stops the daemon and every task it runs, and waits for its process to exit. Returns its
/// pid, or `None` when no daemon was running.
pub async fn stop(paths: &Paths) -> anyhow::Result<Option<u32>> {
    let Some(client) = probe(paths).await? else {
        return Ok(None);
    };
    let pid = client.status().await?.pid;
    client.shutdown().await?;
    let deadline = Instant::now() + STOP_TIMEOUT;
    while process_alive(pid) {
        if Instant::now() > deadline {
            anyhow::bail!(
                "the daemon (pid {pid}) is still stopping after {} s; see {}",
                STOP_TIMEOUT.as_secs(),
                paths.daemon_log().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Some(pid))
}

fn process_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None).is_ok()
}

/// The last `lines` lines of `path` after byte `from`, indented, for error messages.
pub fn log_tail(path: &Path, from: u64, lines: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = usize::try_from(from).unwrap_or(usize::MAX).min(text.len());
    let text = String::from_utf8_lossy(&text[start..]).into_owned();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_creates_the_state_directory_and_the_daemon_log_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = Paths::new(&dir.path().join("state").join("deep")).expect("absolute");
        open_daemon_log(&paths).expect("opened");
        open_daemon_log(&paths).expect("reopened");
        assert!(paths.daemon_log().is_file());
        crate::platform::local::files::tests::assert_private(&dir.path().join("state"));
    }

    #[test]
    fn the_source_is_the_repository_around_the_directory_not_the_compiled_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = dir.path().join("checkout");
        let deep = repo.join("blog").join("src");
        std::fs::create_dir_all(&deep).expect("dirs");
        let err = find_source_dir(&deep).expect_err("no repository yet");
        assert!(err.contains("not inside a git repository"), "{err}");
        std::fs::create_dir(repo.join(".git")).expect(".git");
        let err = find_source_dir(&deep).expect_err("no buildspec");
        assert!(err.contains("has no buildspec.local.yaml"), "{err}");
        std::fs::write(repo.join(build::DEFAULT_BUILDSPEC), "version: 0.2\n").expect("spec");
        assert_eq!(find_source_dir(&deep), Ok(repo.clone()));
        // A buildspec in a subdirectory of the repository is not the repository's.
        std::fs::write(deep.join(build::DEFAULT_BUILDSPEC), "version: 0.2\n").expect("spec");
        assert_eq!(find_source_dir(&deep), Ok(repo));
    }
}
