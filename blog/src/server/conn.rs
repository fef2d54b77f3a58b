//! One connection's clock. A connection is always in one phase: waiting for a request
//! ([`Phase::Idle`]), receiving a request's head ([`Phase::Head`]), or serving a request
//! ([`Phase::Busy`]). The socket wrapper [`TimedIo`] fails a read that waits past the phase's
//! deadline, which makes hyper drop the connection:
//!
//! - idle: `idle_timeout` after the last response (a keep-alive connection nobody uses), or
//!   `header_timeout` after accept for a connection that never sent a byte;
//! - head: `header_timeout` after the head's first byte (a partial header);
//! - busy: no deadline here; the body has its own (`web::limits`), and the handler's time is
//!   the store's timeouts.
//!
//! Writes have their own clock, whatever the phase: a write that makes no progress for
//! `write_timeout` (a client that asked for a page and stopped reading it, so the socket's
//! send buffer stays full) fails the same way. It counts from the first write that had to
//! wait, and any byte accepted restarts it, so a slow but reading client is never cut off.
//!
//! Go's `net/http` splits the same way (`IdleTimeout` then `ReadHeaderTimeout`). hyper's own
//! `header_read_timeout` starts when hyper waits for a head, so it also ends idle keep-alive
//! connections at the header timeout; behind a load balancer whose idle timeout is longer (the
//! ALB's is 60 s) that turns into 502s, hence this.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The timeouts [`TimedIo`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the next request since this instant; `fresh` before the first one.
    Idle { since: Instant, fresh: bool },
    /// The first byte of a head arrived at this instant.
    Head { since: Instant },
    /// A request is being served.
    Busy,
}

/// The phase of one connection, shared by its socket and its service.
#[derive(Clone, Debug)]
pub struct Activity(Arc<Mutex<Shared>>);

#[derive(Debug)]
struct Shared {
    phase: Phase,
    /// A response write is waiting for the client to read. The response body is gone by then
    /// (hyper takes it whole, then flushes), so this, not the phase, says the response is
    /// still going out.
    writing: bool,
    /// The connection's task, parked on a read with no deadline while busy. hyper may not
    /// read again after a response on its own, so the end of a request wakes it to arm the
    /// idle deadline.
    parked: Option<Waker>,
}

impl Activity {
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(Shared {
            phase: Phase::Idle {
                since: Instant::now(),
                fresh: true,
            },
            writing: false,
            parked: None,
        })))
    }

    pub fn phase(&self) -> Phase {
        self.0.lock().map_or(Phase::Busy, |s| s.phase)
    }

    fn set(&self, phase: Phase) {
        if let Ok(mut s) = self.0.lock() {
            s.phase = phase;
            if phase != Phase::Busy
                && let Some(waker) = s.parked.take()
            {
                waker.wake();
            }
        }
    }

    fn park(&self, waker: &Waker) {
        if let Ok(mut s) = self.0.lock() {
            s.parked = Some(waker.clone());
        }
    }

    /// A request's head was read and goes to the router.
    pub fn request_started(&self) {
        self.set(Phase::Busy);
    }

    /// Its response was sent (or dropped): the connection waits for the next request.
    pub fn request_finished(&self) {
        self.set(Phase::Idle {
            since: Instant::now(),
            fresh: false,
        });
    }

    /// A write had to wait (`true`), or went out (`false`). The end of a wait restarts an
    /// idle connection's clock: it was not idle while its response was still leaving.
    fn write_pending(&self, pending: bool) {
        if let Ok(mut s) = self.0.lock()
            && s.writing != pending
        {
            s.writing = pending;
            if !pending {
                if let Phase::Idle { fresh: false, .. } = s.phase {
                    s.phase = Phase::Idle {
                        since: Instant::now(),
                        fresh: false,
                    };
                }
                if let Some(waker) = s.parked.take() {
                    waker.wake();
                }
            }
        }
    }

    /// Bytes arrived: an idle connection is now receiving a head.
    fn bytes_read(&self) {
        if let Ok(mut s) = self.0.lock()
            && matches!(s.phase, Phase::Idle { .. })
        {
            s.phase = Phase::Head {
                since: Instant::now(),
            };
        }
    }

    /// When a read waiting now must give up, if ever.
    fn deadline(&self, clock: Clock) -> Option<Instant> {
        if self.writing() {
            return None;
        }
        match self.phase() {
            Phase::Idle { since, fresh: true } => Some(since + clock.header_timeout),
            Phase::Idle {
                since,
                fresh: false,
            } => Some(since + clock.idle_timeout),
            Phase::Head { since } => Some(since + clock.header_timeout),
            Phase::Busy => None,
        }
    }

    fn writing(&self) -> bool {
        self.0.lock().is_ok_and(|s| s.writing)
    }

    /// Whether a request is being served or its response is still going out (shutdown waits
    /// for those, and drops the rest).
    pub fn busy(&self) -> bool {
        self.phase() == Phase::Busy || self.writing()
    }
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

/// A socket whose reads fail with `TimedOut` past the connection's deadline, and whose
/// writes fail with `TimedOut` after `write_timeout` without progress.
pub struct TimedIo<T> {
    inner: T,
    activity: Activity,
    clock: Clock,
    timer: Pin<Box<Sleep>>,
    /// Armed while a write waits on a full send buffer; `None` when the last write went out.
    write_stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> TimedIo<T> {
    pub fn new(inner: T, activity: Activity, clock: Clock) -> Self {
        Self {
            inner,
            activity,
            clock,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            write_stalled: None,
        }
    }

    /// Passes a write's outcome through, failing a pending one once it has waited
    /// `write_timeout` since the last progress.
    fn write_progress<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            if self.write_stalled.take().is_some() {
                self.activity.write_pending(false);
            }
            return poll;
        }
        if self.write_stalled.is_none() {
            self.activity.write_pending(true);
        }
        let timeout = self.clock.write_timeout;
        let stalled = self
            .write_stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.write_stalled = None;
                self.activity.write_pending(false);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client stopped reading the response",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.activity.bytes_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(deadline) = this.activity.deadline(this.clock) else {
                    this.activity.park(cx.waker());
                    return Poll::Pending;
                };
                if this.timer.deadline() != deadline {
                    this.timer.as_mut().reset(deadline);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        match this.activity.phase() {
                            Phase::Head { .. } | Phase::Idle { fresh: true, .. } => {
                                "request head not received in time"
                            }
                            _ => "keep-alive connection idle",
                        },
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.write_progress(cx, poll)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.write_progress(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.write_progress(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A response body that tells the connection when it is done (sent or dropped).
pub struct TrackedBody {
    inner: Body,
    activity: Activity,
}

impl TrackedBody {
    pub fn new(inner: Body, activity: Activity) -> Self {
        Self { inner, activity }
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        self.activity.request_finished();
    }
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOCK: Clock = Clock {
        header_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(7),
        write_timeout: Duration::from_secs(3),
    };

    #[tokio::test]
    async fn each_phase_has_its_deadline() {
        let a = Activity::new();
        let Phase::Idle { since, fresh: true } = a.phase() else {
            panic!("a new connection is fresh and idle");
        };
        assert_eq!(a.deadline(CLOCK), Some(since + CLOCK.header_timeout));
        a.request_started();
        assert_eq!(a.deadline(CLOCK), None);
        assert!(a.busy());
        a.request_finished();
        let Phase::Idle {
            since,
            fresh: false,
        } = a.phase()
        else {
            panic!("idle after a response");
        };
        assert_eq!(a.deadline(CLOCK), Some(since + CLOCK.idle_timeout));
        a.bytes_read();
        let Phase::Head { since } = a.phase() else {
            panic!("a head is arriving");
        };
        assert_eq!(a.deadline(CLOCK), Some(since + CLOCK.header_timeout));
        assert!(!a.busy());
    }

    #[tokio::test]
    async fn a_response_still_going_out_keeps_the_connection_busy() {
        let a = Activity::new();
        a.request_started();
        a.request_finished();
        assert!(!a.busy());
        a.write_pending(true);
        assert!(a.busy(), "the body is gone but its bytes are not");
        assert_eq!(a.deadline(CLOCK), None, "no idle clock while writing");
        a.write_pending(false);
        assert!(!a.busy());
        let Phase::Idle { since, .. } = a.phase() else {
            panic!("idle once written");
        };
        assert_eq!(a.deadline(CLOCK), Some(since + CLOCK.idle_timeout));
    }

    #[tokio::test]
    async fn a_write_with_no_progress_times_out_and_progress_restarts_the_clock() {
        let clock = Clock {
            write_timeout: Duration::from_millis(300),
            ..CLOCK
        };
        let (near, mut far) = tokio::io::duplex(1024);
        let activity = Activity::new();
        let mut io = TimedIo::new(near, activity.clone(), clock);
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // Fills the pipe; the peer reads a little twice within each timeout, then stops.
        let written = tokio::spawn(async move {
            let mut total = 0usize;
            let chunk = [b'x'; 512];
            loop {
                match io.write(&chunk).await {
                    Ok(n) => total += n,
                    Err(e) => return (total, e.kind()),
                }
            }
        });
        let mut buf = [0u8; 1024];
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            far.read_exact(&mut buf).await.expect("read");
        }
        let (total, kind) = written.await.expect("join");
        assert_eq!(kind, io::ErrorKind::TimedOut);
        assert!(total >= 5 * 1024, "reads let writes through: {total}");
        assert!(!activity.writing(), "the failed write is over");
    }
}
