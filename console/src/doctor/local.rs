//! The doctor's checks of the local platform: the state directory, the daemon, the ports, the
//! source checkout, cargo and the local registry.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::Check;
use crate::platform::local::lifecycle;
use crate::platform::local::paths::Paths;
use crate::platform::local::registry::Registry;

/// The daemon's default ports (`local up --port`, `--test-port`).
pub const DEFAULT_PORTS: [(&str, u16, &str); 2] = [
    ("production port", 8080, "--port"),
    ("test port", 8081, "--test-port"),
];

/// Runs every local check for `state_dir`; `source` is the checkout builds would use, as
/// `local up` finds it.
pub async fn check(state_dir: &Path, source: Result<PathBuf, String>) -> Vec<Check> {
    let mut checks = Vec::new();
    checks.push(state_dir_check(state_dir));
    let daemon = match Paths::new(state_dir) {
        Err(e) => {
            checks.push(Check::fail(
                "daemon",
                format!("cannot resolve {}: {e}", state_dir.display()),
                "give a state directory that exists or can be created (--state-dir DIR)",
            ));
            None
        }
        Ok(paths) => {
            let found = daemon_check(&paths).await;
            checks.push(found.0);
            checks.push(registry_check(&paths));
            Some(found.1)
        }
    };
    // A running daemon holds its own ports; only a stopped one needs them free.
    if daemon == Some(false) {
        for (name, port, flag) in DEFAULT_PORTS {
            checks.push(port_check(name, port, flag));
        }
    }
    checks.push(match source {
        Ok(dir) => Check::pass("source checkout", dir.display().to_string()),
        Err(why) => Check::warn(
            "source checkout",
            why,
            "builds need the repository: run in it, or start the daemon with `bluegreen local up --source-dir PATH`",
        ),
    });
    checks.push(cargo_check());
    checks
}

/// The state directory is a directory we can write to, or can be created.
fn state_dir_check(dir: &Path) -> Check {
    const NAME: &str = "state directory";
    if dir.exists() {
        if !dir.is_dir() {
            return Check::fail(
                NAME,
                format!("{} is not a directory", dir.display()),
                "move the file away, or give another directory with --state-dir DIR",
            );
        }
        return match probe_write(dir) {
            Ok(_) => Check::pass(NAME, format!("{} (writable)", dir.display())),
            Err(e) => Check::fail(
                NAME,
                format!("cannot write in {}: {e}", dir.display()),
                "fix its owner or mode, or give another directory with --state-dir DIR",
            ),
        };
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match probe_write(parent) {
        Ok(_) => Check::pass(
            NAME,
            format!("{} does not exist yet; it will be created", dir.display()),
        ),
        Err(e) => Check::fail(
            NAME,
            format!(
                "{} does not exist and {} is not writable: {e}",
                dir.display(),
                parent.display()
            ),
            "create it, or give another directory with --state-dir DIR",
        ),
    }
}

/// Creates and removes a file in `dir`: the only sure test that we may write there.
fn probe_write(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".bluegreen-doctor-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

/// The check, and whether a daemon answers.
async fn daemon_check(paths: &Paths) -> (Check, bool) {
    const NAME: &str = "daemon";
    match lifecycle::probe(paths).await {
        Ok(Some(client)) => match client.status().await {
            Ok(s) => (
                Check::pass(
                    NAME,
                    format!(
                        "pid {} answers (bluegreen {}); production http://{}/ · test http://{}/",
                        s.pid, s.version, s.production, s.test
                    ),
                ),
                true,
            ),
            Err(e) => (
                Check::fail(
                    NAME,
                    format!("the daemon answers but not its status: {e}"),
                    "restart it: `bluegreen local down` then `bluegreen local up`",
                ),
                true,
            ),
        },
        Ok(None) => (
            Check::warn(
                NAME,
                format!("no daemon runs for {}", paths.root().display()),
                "start it with `bluegreen local up` (or `bluegreen demo`)",
            ),
            false,
        ),
        Err(e) => (
            Check::fail(
                NAME,
                e.to_string(),
                "if another user's daemon owns this state directory, use your own (--state-dir DIR)",
            ),
            false,
        ),
    }
}

fn registry_check(paths: &Paths) -> Check {
    const NAME: &str = "blog builds";
    match Registry::new(paths.registry_dir()).images() {
        Ok(images) if !images.is_empty() => {
            let mut tags: Vec<String> = images.iter().flat_map(|i| i.tags.clone()).collect();
            tags.sort();
            Check::pass(
                NAME,
                format!(
                    "{} blog binaries in the local registry (tags: {})",
                    images.len(),
                    tags.join(", ")
                ),
            )
        }
        Ok(_) => Check::warn(
            NAME,
            "the local registry has no blog binary yet, so there is nothing to deploy",
            "build one: `bluegreen build --wait` (with the daemon up), or `bluegreen demo`",
        ),
        // A registry not created yet reads as empty; any other error is a damaged index.
        Err(e) => Check::fail(
            NAME,
            format!("the local registry cannot be read: {e}"),
            format!(
                "move {} away and build again",
                paths.registry_dir().display()
            ),
        ),
    }
}

fn port_check(name: &str, port: u16, flag: &str) -> Check {
    match TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => Check::pass(name, format!("127.0.0.1:{port} is free")),
        Err(e) => Check::fail(
            name,
            format!("127.0.0.1:{port} cannot be bound: {e}"),
            format!(
                "stop what listens there, or start the daemon with `bluegreen local up {flag} N` (0 picks a free port)"
            ),
        ),
    }
}

fn cargo_check() -> Check {
    const NAME: &str = "cargo";
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    match Command::new(&cargo).arg("--version").output() {
        Ok(out) if out.status.success() => Check::pass(
            NAME,
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        ),
        Ok(out) => Check::fail(
            NAME,
            format!(
                "`cargo --version` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "repair the Rust toolchain (`rustup show` names the active one)",
        ),
        Err(e) => Check::fail(
            NAME,
            format!("cannot run cargo: {e}"),
            "install Rust with rustup (local builds run `cargo build --release`)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_in_place_of_the_state_directory_fails() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("state");
        std::fs::write(&file, "").expect("write");
        let check = state_dir_check(&file);
        assert_eq!(check.status, super::super::Status::Fail, "{check:?}");
        assert!(check.detail.contains("is not a directory"), "{check:?}");
        let fresh = state_dir_check(&dir.path().join("new"));
        assert_eq!(fresh.status, super::super::Status::Pass, "{fresh:?}");
    }

    #[test]
    fn a_port_in_use_fails_naming_the_flag() {
        let taken = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let check = port_check("production port", port, "--port");
        assert_eq!(check.status, super::super::Status::Fail, "{check:?}");
        assert!(
            check.fix.as_deref().is_some_and(|f| f.contains("--port N")),
            "{check:?}"
        );
        drop(taken);
        assert_eq!(
            port_check("production port", port, "--port").status,
            super::super::Status::Pass
        );
    }

    #[tokio::test]
    async fn a_state_directory_with_no_daemon_warns_and_checks_the_registry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = Paths::new(dir.path()).expect("paths");
        let (check, running) = daemon_check(&paths).await;
        assert!(!running);
        assert_eq!(check.status, super::super::Status::Warn, "{check:?}");
        let reg = registry_check(&paths);
        assert_eq!(reg.status, super::super::Status::Warn, "{reg:?}");
    }
}
