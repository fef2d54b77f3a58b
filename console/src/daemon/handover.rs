//! A planned restart (`bluegreen local restart`) in which no request fails: the running
//! daemon starts its successor with one end of a socket pair as the successor's stdin, and
//! sends over it the two listening sockets and the open state-directory lock (SCM_RIGHTS).
//! Connections keep queueing on the same sockets throughout, so none is refused; the
//! successor adopts the tasks, serves, and says `ready`; only then does the old daemon stop
//! accepting and let its open connections finish.

use std::io::{BufRead, BufReader, IoSlice, IoSliceMut, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use crate::platform::local::paths::Paths;
use crate::platform::local::wire::READY_TIMEOUT;

/// Set in the successor's environment: its stdin carries the handover.
pub const ENV: &str = "BLUEGREEN_HANDOVER";
/// Names the message, so a stdin that is something else is refused rather than misread.
const HELLO: &[u8] = b"bluegreen-handover-v1";

/// What a successor receives.
pub struct Inherited {
    pub production: std::net::TcpListener,
    pub test: std::net::TcpListener,
    /// The state directory's lock file, still locked: the lock belongs to the open file,
    /// which both daemons share until the old one exits.
    pub lock: std::fs::File,
    channel: UnixStream,
}

impl Inherited {
    /// In a daemon started for a handover, what the old daemon sent on stdin; `None` for any
    /// other start.
    pub fn receive() -> anyhow::Result<Option<Inherited>> {
        if std::env::var_os(ENV).is_none() {
            return Ok(None);
        }
        let fd = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .context("cannot take the handover channel from stdin")?;
        let channel = UnixStream::from(fd);
        channel.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut payload = [0u8; 64];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = rustix::net::recvmsg(
            &channel,
            &mut [IoSliceMut::new(&mut payload)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .context(
            "cannot receive the listeners from the old daemon (stdin must be the handover channel)",
        )?;
        let mut fds: Vec<OwnedFd> = Vec::new();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(rights) = message {
                fds.extend(rights);
            }
        }
        let count = fds.len();
        let hello = payload.get(..got.bytes) == Some(HELLO);
        let (Ok([production, test, lock]), true) = (<[OwnedFd; 3]>::try_from(fds), hello) else {
            anyhow::bail!(
                "{ENV} is set but stdin did not carry a handover ({} bytes, {count} descriptors); `bluegreen local restart` sets it, nothing else should",
                got.bytes
            );
        };
        Ok(Some(Inherited {
            production: std::net::TcpListener::from(production),
            test: std::net::TcpListener::from(test),
            lock: std::fs::File::from(lock),
            channel,
        }))
    }

    /// Tells the old daemon that this one serves; it stops accepting then.
    pub fn ready(mut self) -> std::io::Result<()> {
        writeln!(self.channel, "ready {}", std::process::id())
    }
}

/// The successor as the old daemon sees it.
pub struct Successor {
    child: std::process::Child,
    channel: UnixStream,
}

impl Successor {
    /// Starts `exe local daemon` for `paths` and hands it the listeners and the lock.
    pub fn start(
        exe: &Path,
        paths: &Paths,
        production: &impl AsFd,
        test: &impl AsFd,
        lock: &impl AsFd,
    ) -> anyhow::Result<Successor> {
        let (mine, theirs) = UnixStream::pair().context("cannot create the handover channel")?;
        let child = crate::platform::local::lifecycle::daemon_command(exe, paths)?
            .env(ENV, "1")
            .stdin(OwnedFd::from(theirs))
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let fds = [production.as_fd(), test.as_fd(), lock.as_fd()];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        control.push(SendAncillaryMessage::ScmRights(&fds));
        rustix::net::sendmsg(
            &mine,
            &[IoSlice::new(HELLO)],
            &mut control,
            SendFlags::empty(),
        )
        .context("cannot send the listeners to the new daemon")?;
        Ok(Successor {
            child,
            channel: mine,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the successor serves (its `ready` line), at most [`READY_TIMEOUT`].
    pub async fn ready(self) -> anyhow::Result<u32> {
        let Successor { mut child, channel } = self;
        let pid = child.id();
        let read = tokio::task::spawn_blocking(move || {
            channel.set_read_timeout(Some(READY_TIMEOUT))?;
            let mut line = String::new();
            BufReader::new(channel).read_line(&mut line)?;
            Ok::<_, std::io::Error>(line)
        })
        .await
        .context("the handover reader failed")?;
        // Reap it in the background whatever happened: it runs on as the daemon.
        let status = child.try_wait().ok().flatten();
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        match read {
            Ok(line) if line.trim() == format!("ready {pid}") => Ok(pid),
            Ok(line) if line.is_empty() => match status {
                Some(status) => anyhow::bail!(
                    "the new daemon (pid {pid}) exited ({status}) before it was ready"
                ),
                None => anyhow::bail!(
                    "the new daemon (pid {pid}) closed the handover channel before it was ready"
                ),
            },
            Ok(line) => anyhow::bail!(
                "the new daemon (pid {pid}) answered {:?} instead of ready",
                line.trim()
            ),
            Err(e) => anyhow::bail!(
                "the new daemon (pid {pid}) was not ready within {} s ({e})",
                READY_TIMEOUT.as_secs()
            ),
        }
    }
}
