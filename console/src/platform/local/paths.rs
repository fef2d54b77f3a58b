//! Where the local platform keeps things inside its state directory.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::rollout::Color;

/// The longest socket path `bind(2)` accepts on Linux (`sun_path` is 108 bytes with the NUL).
const SUN_PATH_MAX: usize = 107;

/// The layout of one state directory. The root is absolute so that a daemon started from one
/// working directory and a client started from another agree on every path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    root: PathBuf,
}

impl Paths {
    /// The layout under `state_dir`, made absolute against the current directory. Does not
    /// create anything.
    pub fn new(state_dir: &Path) -> std::io::Result<Self> {
        let root = if state_dir.is_absolute() {
            state_dir.to_path_buf()
        } else {
            std::env::current_dir()?.join(state_dir)
        };
        Ok(Paths {
            root: normalize(&root),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Persisted rollout state: weights, stable color, bake, services.
    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// Written by a running daemon: its pid, socket and listener addresses.
    pub fn daemon_file(&self) -> PathBuf {
        self.root.join("daemon.json")
    }

    /// The daemon's own stdout/stderr.
    pub fn daemon_log(&self) -> PathBuf {
        self.root.join("daemon.log")
    }

    /// Held (flock) by the running daemon, so two daemons never share a state directory.
    pub fn daemon_lock(&self) -> PathBuf {
        self.root.join("daemon.lock")
    }

    /// The tasks a daemon runs (pid, start time, release, address, health), so the next daemon
    /// adopts those still alive after a crash or a planned restart.
    pub fn tasks_file(&self) -> PathBuf {
        self.root.join("tasks.json")
    }

    /// The journal (JSON Lines, append-only), which the daemon owns.
    pub fn journal_file(&self) -> PathBuf {
        self.root.join("journal.jsonl")
    }

    /// The SQLite database both colors share.
    pub fn database(&self) -> PathBuf {
        self.root.join("blog.db")
    }

    /// The CSRF secret every task gets, so a form served by one color validates on the other.
    pub fn csrf_secret(&self) -> PathBuf {
        self.root.join("csrf.secret")
    }

    pub fn registry_dir(&self) -> PathBuf {
        self.root.join("registry")
    }

    /// The named pipes that carry each live task's stdout and stderr to the daemon.
    pub fn pipes_dir(&self) -> PathBuf {
        self.root.join("pipes")
    }

    pub fn builds_dir(&self) -> PathBuf {
        self.root.join("builds")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    pub fn color_logs_dir(&self, color: Color) -> PathBuf {
        self.logs_dir().join(color.as_str())
    }

    pub fn task_log(&self, color: Color, task_id: &str) -> PathBuf {
        self.color_logs_dir(color).join(format!("{task_id}.log"))
    }

    /// `<state>/control.sock`, or a short path under the runtime directory when that would
    /// exceed the Unix socket path limit. The fallback name is derived from the state
    /// directory, so the daemon and every client compute the same one.
    pub fn control_socket(&self) -> PathBuf {
        let preferred = self.root.join("control.sock");
        if preferred.as_os_str().len() <= SUN_PATH_MAX {
            return preferred;
        }
        let digest = Sha256::digest(self.root.as_os_str().as_encoded_bytes());
        let name = format!("{}.sock", &hex::encode(digest)[..16]);
        runtime_dir().join(name)
    }
}

/// This process's executable, for starting the daemon and for builds that publish. When the
/// binary was rebuilt while running, Linux names the old one `PATH (deleted)`; the new one at
/// PATH is the one to run.
pub fn current_exe() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    if let Some(live) = exe.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
        let live = PathBuf::from(live);
        if live.is_file() {
            return Ok(live);
        }
    }
    Ok(exe)
}

/// A private directory for sockets with short paths: `$XDG_RUNTIME_DIR/bluegreen`, else
/// `/tmp/bluegreen-<uid>`.
pub fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() && Path::new(&dir).is_absolute() => {
            PathBuf::from(dir).join("bluegreen")
        }
        _ => PathBuf::from(format!("/tmp/bluegreen-{}", nix::unistd::geteuid())),
    }
}

/// Removes `.` and `..` components without touching the file system (the directory may not
/// exist yet).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_dirs_become_absolute_and_normalized() {
        let p = Paths::new(Path::new("./a/../.bluegreen")).expect("cwd");
        assert!(p.root().is_absolute());
        assert!(p.root().ends_with(".bluegreen"));
        assert!(!p.root().to_string_lossy().contains(".."));
    }

    #[test]
    fn short_state_dir_keeps_socket_inside() {
        let p = Paths::new(Path::new("/tmp/x")).expect("abs");
        assert_eq!(p.control_socket(), PathBuf::from("/tmp/x/control.sock"));
    }

    #[test]
    fn long_state_dir_falls_back_to_a_short_stable_path() {
        let long = format!("/tmp/{}", "d".repeat(120));
        let p = Paths::new(Path::new(&long)).expect("abs");
        let sock = p.control_socket();
        assert!(sock.as_os_str().len() <= SUN_PATH_MAX, "{}", sock.display());
        assert_eq!(
            sock,
            Paths::new(Path::new(&long)).expect("abs").control_socket()
        );
        let other = Paths::new(Path::new(&format!("{long}2"))).expect("abs");
        assert_ne!(sock, other.control_socket());
    }
}
