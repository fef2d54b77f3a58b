//! What the proxy reads from a client before a target sees the request, as a load balancer
//! does: the body arrives whole at the proxy (up to [`BUFFER_MAX`]) before the request is
//! sent on, so a client sending slowly holds one of the proxy's connections, never a
//! target's; and a client's broken framing (an invalid chunk size, a chunk-size overflow, a
//! chunk extension past hyper's limit, a body cut short) is answered by the proxy itself
//! (400, or 408 when the body does not arrive in time) and counted against no color: the
//! release gates only ever see what the targets did.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// A body up to this size is read whole before the request goes to a target; the rest of a
/// larger one is streamed behind what was read.
pub const BUFFER_MAX: usize = 1024 * 1024;
/// Body bytes held by the whole proxy at most; past it, a body streams behind what it read.
pub const BUFFER_BUDGET: usize = 256 * 1024 * 1024;
/// A body must have arrived (or filled [`BUFFER_MAX`]) this long after its head.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Body bytes buffered now, across every connection of one proxy.
#[derive(Debug, Default)]
pub struct Budget(AtomicUsize);

impl Budget {
    /// Takes `n` bytes unless the budget is spent; the caller gives them back.
    fn take(&self, n: usize) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                (held + n <= BUFFER_BUDGET).then_some(held + n)
            })
            .is_ok()
    }

    fn give_back(&self, n: usize) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Why a client's request was answered by the proxy.
#[derive(Debug)]
pub enum ClientFault {
    /// The body's framing is broken or it ended early (400).
    Framing(hyper::Error),
    /// The body did not arrive within [`BODY_TIMEOUT`] (408).
    TooSlow,
}

/// The body sent to a target: what the proxy read, then (for a body over [`BUFFER_MAX`])
/// the rest of the client's body as it comes. An empty one stands for a bodyless request.
pub struct Forwarded {
    frames: VecDeque<Frame<Bytes>>,
    rest: Option<Incoming>,
    /// For a streamed body: set when the client's part failed while it was being sent on,
    /// so the target's failure that follows is known to be the client's doing.
    client_failed: Option<Arc<AtomicBool>>,
    /// Bytes of the budget this body holds until it is dropped.
    held: usize,
    budget: Option<Arc<Budget>>,
}

impl Forwarded {
    /// A bodyless request.
    pub fn empty() -> Self {
        Forwarded {
            frames: VecDeque::new(),
            rest: None,
            client_failed: None,
            held: 0,
            budget: None,
        }
    }

    /// Reads `body` until it ends, fills [`BUFFER_MAX`] or the budget runs out, within
    /// [`BODY_TIMEOUT`].
    pub async fn read(mut body: Incoming, budget: &Arc<Budget>) -> Result<Self, ClientFault> {
        let mut fwd = Forwarded::empty();
        fwd.budget = Some(budget.clone());
        let deadline = tokio::time::Instant::now() + BODY_TIMEOUT;
        loop {
            if body.is_end_stream() {
                return Ok(fwd);
            }
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => return Err(ClientFault::TooSlow),
                Ok(None) => return Ok(fwd),
                Ok(Some(Err(e))) => return Err(ClientFault::Framing(e)),
                Ok(Some(Ok(frame))) => frame,
            };
            let len = frame.data_ref().map_or(0, |d| d.len());
            fwd.frames.push_back(frame);
            let fits = fwd.held + len <= BUFFER_MAX && budget.take(len);
            if !fits {
                // Streamed from here; what was read goes first.
                fwd.rest = Some(body);
                fwd.client_failed = Some(Arc::new(AtomicBool::new(false)));
                return Ok(fwd);
            }
            fwd.held += len;
        }
    }

    /// For a streamed body, a flag that tells whether the client's part failed while being
    /// sent on (see `client_failed`).
    pub fn failure_flag(&self) -> Option<Arc<AtomicBool>> {
        self.client_failed.clone()
    }
}

impl Drop for Forwarded {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.give_back(self.held);
        }
    }
}

impl Body for Forwarded {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        if let Some(frame) = this.frames.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        let Some(rest) = this.rest.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(rest).poll_frame(cx);
        if let (Poll::Ready(Some(Err(_))), Some(flag)) = (&polled, &this.client_failed) {
            flag.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty() && self.rest.as_ref().is_none_or(|r| r.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let read: u64 = self
            .frames
            .iter()
            .filter_map(|f| f.data_ref())
            .map(|d| d.len() as u64)
            .sum();
        match &self.rest {
            None => SizeHint::with_exact(read),
            Some(rest) => {
                let r = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(r.lower() + read);
                if let Some(upper) = r.upper() {
                    hint.set_upper(upper + read);
                }
                hint
            }
        }
    }
}
