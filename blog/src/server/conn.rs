//! One connection's clock. A connection is always in one phase: waiting for a request
//! ([`Phase::Idle`]), receiving a request's head ([`Phase::Head`]), or serving a request
//! ([`Phase::Busy`]). The socket wrapper [`TimedIo`] fails a read that waits past the phase's
//! deadline, which makes hyper drop the connection:
//!
//! - idle: `idle_timeout` after the last response (a keep-alive connection nobody uses), or
//!   `header_timeout` after accept for a connection that never sent a byte;
//! - head: `header_timeout` after the head's first byte (a partial header);
//! - busy: no deadline here; the body has its own (`web::body`), and the handler's time is the
//!   store's timeouts.
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

    /// Whether a request is being served (shutdown waits for those, and drops the rest).
    pub fn busy(&self) -> bool {
        self.phase() == Phase::Busy
    }
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

/// A socket whose reads fail with `TimedOut` past the connection's deadline.
pub struct TimedIo<T> {
    inner: T,
    activity: Activity,
    clock: Clock,
    timer: Pin<Box<Sleep>>,
}

impl<T> TimedIo<T> {
    pub fn new(inner: T, activity: Activity, clock: Clock) -> Self {
        Self {
            inner,
            activity,
            clock,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
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
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
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
}
