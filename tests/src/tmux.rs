//! The real `bluegreen` console in a tmux pane of a private tmux server: keys in, screens out
//! (capture-pane). Every wait has a deadline; the server is killed when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::bins::bin;
use crate::local::text;

/// How long [`Tmux::wait_for`] waits for a screen.
pub const WAIT: Duration = Duration::from_secs(30);

/// A tmux server of our own (private socket), with one session running the console.
pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// Starts the console against the local platform in `state`, in a `width`×`height` pane.
    pub fn start(socket: &Path, cwd: &Path, state: &Path, width: u16, height: u16) -> Tmux {
        let console = format!(
            "'{}' --state-dir '{}'; echo CONSOLE-EXIT=$?; sleep 60",
            bin("bluegreen").display(),
            state.display()
        );
        Self::session(socket, cwd, &[], &console, width, height)
    }

    /// Starts the console against an AWS profile: `bluegreen --config CONFIG` with `env` (moto's
    /// credentials and endpoint) and nothing of the developer's own AWS setup.
    pub fn start_aws(
        socket: &Path,
        cwd: &Path,
        config: &Path,
        env: &[(String, String)],
        width: u16,
        height: u16,
    ) -> Tmux {
        let console = format!(
            "'{}' --config '{}'; echo CONSOLE-EXIT=$?; sleep 60",
            bin("bluegreen").display(),
            config.display()
        );
        let mut vars = vec![
            "AWS_CONFIG_FILE=/nonexistent/bluegreen-test-aws-config".to_string(),
            "AWS_SHARED_CREDENTIALS_FILE=/nonexistent/bluegreen-test-aws-credentials".to_string(),
        ];
        vars.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        Self::session(socket, cwd, &vars, &console, width, height)
    }

    /// A tmux server on `socket` with one session running `console` (a shell command line)
    /// with `vars` (`NAME=VALUE`) added to a clean environment.
    fn session(
        socket: &Path,
        cwd: &Path,
        vars: &[String],
        console: &str,
        width: u16,
        height: u16,
    ) -> Tmux {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(socket)
            .args(["-f", "/dev/null", "new-session", "-d", "-s", "console"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg("-c")
            .arg(cwd)
            .args([
                "env",
                "-u",
                "BLUEGREEN_CONFIG",
                "-u",
                "BLUEGREEN_PROFILE",
                "-u",
                "AWS_PROFILE",
            ])
            // A keymap.toml of whoever runs the tests must not change the keys pressed here.
            .arg(format!(
                "XDG_CONFIG_HOME={}",
                cwd.join("no-config").display()
            ))
            .args(vars)
            .args(["TERM=xterm-256color", "sh", "-c", console])
            .output()
            .expect("tmux runs (CI installs it: apt-get install tmux)");
        assert!(out.status.success(), "tmux new-session: {}", text(&out));
        Tmux {
            socket: socket.to_path_buf(),
        }
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs");
        assert!(out.status.success(), "tmux {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Sends tmux key names (`Enter`, `Escape`) or literal characters.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "console"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "console"])
    }

    /// Waits until the screen shows every one of `needles`; returns it.
    pub fn wait_for(&self, what: &str, needles: &[&str]) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if needles.iter().all(|n| screen.contains(n)) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} ({needles:?}); the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}
