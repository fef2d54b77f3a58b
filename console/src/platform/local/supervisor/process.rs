//! A task's process, whether this daemon started it (a `Child` it reaps) or adopted it from an
//! earlier daemon (a pidfd: not our child, so we cannot reap it or read its exit status, but we
//! can wait for its end and signal it without ever hitting a recycled pid).

use std::os::fd::OwnedFd;
use std::process::ExitStatus;

use nix::sys::signal::Signal;
use tokio::io::unix::AsyncFd;
use tokio::process::Child;
use tokio::sync::mpsc;

/// The kernel's start time of `pid` (clock ticks since boot, field 22 of `/proc/PID/stat`).
/// With the pid it names one process for good: a recycled pid has a later start time.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// Field 22 of a `/proc/PID/stat` line. The command name (field 2) is in parentheses and may
/// hold spaces and parentheses itself, so fields are counted after its last `)`.
fn parse_start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts at field 3 (state); field 22 is the 20th after the name.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// A process that is not our child, held by a pidfd.
#[derive(Debug)]
pub struct PidFd {
    fd: AsyncFd<OwnedFd>,
}

impl PidFd {
    /// Opens `pid` if it is still the process that started at `started` (its
    /// [`start_time`]). Checked after the pidfd is open, so the pidfd cannot name a process
    /// that took the pid over meanwhile.
    pub fn open(pid: u32, started: u64) -> std::io::Result<PidFd> {
        let raw = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .ok_or_else(|| std::io::Error::other(format!("pid {pid} is out of range")))?;
        let fd = rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty())?;
        if start_time(pid) != Some(started) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("process {pid} is gone (its pid now names another process)"),
            ));
        }
        // The deprecation is about descriptors closed behind tokio's back; this one is owned
        // by the AsyncFd and closed only when it drops, after it is deregistered.
        #[allow(deprecated)]
        let fd = AsyncFd::with_interest(fd, tokio::io::Interest::READABLE)?;
        Ok(PidFd { fd })
    }

    /// Sends `sig`; false when the process has ended.
    pub fn signal(&self, sig: Signal) -> bool {
        rustix::process::Signal::from_named_raw(sig as i32)
            .is_some_and(|sig| rustix::process::pidfd_send_signal(self.fd.get_ref(), sig).is_ok())
    }

    /// Returns once the process has ended (a pidfd turns readable then).
    pub async fn exited(&self) {
        // A readiness error leaves nothing to wait on: treat it as the end.
        let _ = self.fd.readable().await;
    }
}

/// A task's process.
#[derive(Debug)]
pub enum Proc {
    /// Started by this daemon.
    Own(Child),
    /// Started by an earlier daemon and adopted.
    Adopted(PidFd),
}

/// How a task's process ended.
pub enum Ended {
    Status(std::io::Result<ExitStatus>),
    /// An adopted process: its parent, the earlier daemon, alone could read the status.
    Unknown,
}

impl Proc {
    /// Delivers `sig`; false when the process already ended. For our own child this is only
    /// called by the runner that also reaps it, so its pid cannot have been reaped and reused.
    pub fn deliver(&mut self, sig: Signal) -> bool {
        match self {
            Proc::Own(child) => {
                let Some(pid) = child.id() else { return false };
                if sig == Signal::SIGKILL {
                    // tokio's own kill, which also checks that the child was not reaped.
                    return child.start_kill().is_ok();
                }
                super::task::signal(pid, sig);
                true
            }
            Proc::Adopted(p) => p.signal(sig),
        }
    }

    /// Waits for the process to end, delivering the signals `stop_task` asks for meanwhile.
    pub async fn wait_signalled(&mut self, signals: &mut mpsc::UnboundedReceiver<Signal>) -> Ended {
        loop {
            match self {
                Proc::Own(child) => tokio::select! {
                    status = child.wait() => return Ended::Status(status),
                    Some(sig) = signals.recv() => {
                        self.deliver(sig);
                    }
                },
                Proc::Adopted(p) => tokio::select! {
                    _ = p.exited() => return Ended::Unknown,
                    Some(sig) = signals.recv() => {
                        self.deliver(sig);
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_read_past_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (blog (v2) x) S 1 4242 4242 0 -1 4194560 500 0 0 0 7 3 0 0 20 0 9 0 123456 1000 200";
        assert_eq!(parse_start_time(stat), Some(123456));
        assert_eq!(parse_start_time("garbage"), None);
        assert_eq!(parse_start_time("1 (x) S 1"), None);
        assert!(start_time(std::process::id()).is_some());
    }

    #[tokio::test]
    async fn an_adopted_process_is_signalled_and_its_end_seen_through_its_pidfd() {
        // Not adopted for real (it is our child), but held only by its pidfd, as one is.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep starts");
        let pid = child.id();
        let started = start_time(pid).expect("alive");
        assert!(PidFd::open(pid, started + 1).is_err(), "another process");
        let pidfd = PidFd::open(pid, started).expect("opened");
        let mut proc = Proc::Adopted(pidfd);
        let (tx, mut rx) = mpsc::unbounded_channel();
        tx.send(Signal::SIGTERM).expect("open");
        let reaper = std::thread::spawn(move || child.wait());
        let ended = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            proc.wait_signalled(&mut rx),
        )
        .await
        .expect("ended in time");
        assert!(matches!(ended, Ended::Unknown));
        reaper.join().expect("joined").expect("reaped");
        assert!(!proc.deliver(Signal::SIGTERM), "nothing left to signal");
    }
}
