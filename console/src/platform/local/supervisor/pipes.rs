//! A task's stdout and stderr go to two named pipes in `<state>/pipes/`, not to pipes the
//! daemon holds: the task opens its end read-write, so it always has a reader and never gets
//! EPIPE, and its output waits in the pipe while no daemon runs. A daemon that starts after a
//! crash, or takes over in a planned restart, opens the same pipes and goes on logging.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use tokio::net::unix::pipe;

use crate::platform::local::paths::Paths;

/// How much output a pipe holds while no daemon reads it (the kernel's default is 64 KiB).
const PIPE_BYTES: i32 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub const BOTH: [Stream; 2] = [Stream::Stdout, Stream::Stderr];

    fn suffix(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

pub fn path(paths: &Paths, task: &str, stream: Stream) -> PathBuf {
    paths
        .pipes_dir()
        .join(format!("{task}.{}", stream.suffix()))
}

/// Creates the task's two pipes and opens the ends the task writes to (read-write, see the
/// module's comment). A pipe left by an earlier task of the same name is replaced.
pub fn create(paths: &Paths, task: &str) -> std::io::Result<[File; 2]> {
    crate::platform::local::files::create_private_dir(&paths.pipes_dir())?;
    both(|stream| {
        let p = path(paths, task, stream);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
        let end = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)?;
        // Best effort: a smaller pipe only means a shorter wait for the next daemon.
        let _ = nix::fcntl::fcntl(end.as_fd(), nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_BYTES));
        Ok(end)
    })
}

/// Opens the daemon's (read-only) ends. Read-only matters: the pipe reads as ended once the
/// task, its only writer, has exited.
pub fn open(paths: &Paths, task: &str) -> std::io::Result<[pipe::Receiver; 2]> {
    both(|stream| open_one(&path(paths, task, stream)))
}

fn open_one(p: &Path) -> std::io::Result<pipe::Receiver> {
    pipe::OpenOptions::new().open_receiver(p)
}

/// Removes a task's pipes once it has ended.
pub fn remove(paths: &Paths, task: &str) {
    for stream in Stream::BOTH {
        let _ = std::fs::remove_file(path(paths, task, stream));
    }
}

/// Removes every pipe whose task is not in `keep` (tasks that ended while no daemon ran).
pub fn remove_others(paths: &Paths, keep: &[String]) {
    let Ok(entries) = std::fs::read_dir(paths.pipes_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let task = name
            .to_str()
            .and_then(|n| n.rsplit_once('.'))
            .map(|(t, _)| t.to_string());
        if task.is_none_or(|t| !keep.contains(&t)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `f` of stdout, then of stderr.
fn both<U>(mut f: impl FnMut(Stream) -> std::io::Result<U>) -> std::io::Result<[U; 2]> {
    Ok([f(Stream::Stdout)?, f(Stream::Stderr)?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn output_written_while_no_daemon_reads_is_kept_for_the_next_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = Paths::new(dir.path()).expect("absolute");
        let [mut out, err] = create(&paths, "blue-1").expect("created");
        // No reader yet (a daemon crashed): the write neither fails nor blocks.
        out.write_all(b"while nobody listened\n").expect("written");
        let [mut reader, _] = open(&paths, "blue-1").expect("opened");
        drop(out);
        drop(err);
        let mut got = String::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            reader.read_to_string(&mut got),
        )
        .await
        .expect("ends with its writer")
        .expect("read");
        assert_eq!(got, "while nobody listened\n");
        remove_others(&paths, &[]);
        assert!(!path(&paths, "blue-1", Stream::Stdout).exists());
    }
}
