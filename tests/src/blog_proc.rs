//! The built `blog` binary as the local platform runs it: `--bind 127.0.0.1 --port 0` on a
//! SQLite file, the address read from the first stdout line, SIGTERM to stop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::bins::bin;
use crate::blog_http::{Reply, form, http};

/// The CSRF secret every process started here shares (as the local platform's do).
pub const SECRET: &str = "shared-by-blue-and-green-0123456789";

/// A running blog process; killed if a test fails before stopping it.
pub struct Blog {
    pub child: Child,
    pub addr: String,
    /// Stdout after the first line, collected by a thread so the pipe never fills.
    rest: mpsc::Receiver<String>,
}

impl Blog {
    pub fn start(db: &Path, color: &str, envs: &[(&str, &str)]) -> Blog {
        let mut child = Command::new(bin("blog"))
            .args(["--bind", "127.0.0.1", "--port", "0", "--store"])
            .arg(format!("sqlite:{}", db.display()))
            .env("BLOG_COLOR", color)
            .env("BLOG_VERSION", format!("v-{color}"))
            .env("BLOG_CSRF_SECRET", SECRET)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start blog");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().expect("a first line").expect("utf-8 line");
        let addr = first
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("first stdout line is {first:?}"))
            .to_string();
        assert!(addr.starts_with("127.0.0.1:"), "{first}");
        let (tx, rest) = mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Blog { child, addr, rest }
    }

    pub fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        http(&self.addr, "GET", path, cookie, None)
    }

    pub fn new_post(&self, cookie: &str, token: &str, title: &str) -> Reply {
        let body = form(&[
            ("title", title),
            ("author", "Ann"),
            ("content", "hi"),
            ("csrf_token", token),
        ]);
        self.post("/posts/new", cookie, &body)
    }

    pub fn post(&self, path: &str, cookie: &str, body: &str) -> Reply {
        http(&self.addr, "POST", path, Some(cookie), Some(body))
    }

    /// SIGTERM, then the exit status (within 10 s).
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "blog did not exit within 10 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Blog {
    /// Stdout lines after the first, up to the process's exit.
    pub fn remaining_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(line) = self.rest.recv_timeout(Duration::from_secs(5)) {
            lines.push(line);
        }
        lines
    }
}

impl Drop for Blog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
