//! One target behind the proxy: its address, its pool of idle HTTP/1 connections, and the
//! in-flight count that draining waits for.
//!
//! The pool is per target (not one client for all targets) so that deregistering a target
//! can drop exactly its idle connections, and so that a failed connect is known to have sent
//! nothing: the request can then go to another target, whatever its method.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What the proxy sends upstream: the client's body as the proxy read it (nothing for a
/// bodyless request rebuilt for a retry).
pub type UpstreamBody = super::intake::Forwarded;

/// Idle connections kept per target.
const POOL_MAX: usize = 64;
/// Idle connections older than this are closed rather than reused, well inside the usual
/// server-side keep-alive limits, so a reused connection is rarely closed under a request.
const IDLE_MAX: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// After a refused connect, the target is skipped for this long (passive health check);
/// the active health check decides after that.
const SUSPECT_FOR_MS: i64 = 2_000;

/// Idle connections with the time each was parked.
type Pool = Vec<(Instant, SendRequest<UpstreamBody>)>;

#[derive(Debug)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub task_id: String,
    /// One pool per proxy worker thread (slot 0 for any other thread): a connection's task
    /// runs on the thread that opened it, so a request never takes another thread's.
    idle: Vec<Mutex<Pool>>,
    inflight: AtomicUsize,
    draining: AtomicBool,
    suspect_until: AtomicI64,
}

/// Holds one unit of a target's in-flight count; released on drop.
#[derive(Debug)]
pub struct InflightGuard {
    upstream: Arc<Upstream>,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.upstream.inflight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl InflightGuard {
    pub fn upstream(&self) -> &Arc<Upstream> {
        &self.upstream
    }
}

impl Upstream {
    pub fn new(addr: SocketAddr, task_id: impl Into<String>) -> Self {
        Upstream {
            addr,
            task_id: task_id.into(),
            idle: (0..=super::WORKERS)
                .map(|_| Mutex::new(Vec::new()))
                .collect(),
            inflight: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            suspect_until: AtomicI64::new(0),
        }
    }

    /// Claims a slot for one request, unless the target is draining. The increment happens
    /// before the draining check and the drainer sets the flag before reading the count
    /// (both sequentially consistent), so a request either sees the flag or is waited for.
    pub fn acquire(self: &Arc<Self>) -> Option<InflightGuard> {
        self.inflight.fetch_add(1, Ordering::SeqCst);
        let guard = InflightGuard {
            upstream: self.clone(),
        };
        if self.draining.load(Ordering::SeqCst) {
            return None;
        }
        Some(guard)
    }

    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::SeqCst)
    }

    /// Stops new requests and closes idle connections; in-flight requests finish.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.drop_pool();
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn drop_pool(&self) {
        for slot in &self.idle {
            let idle = std::mem::take(&mut *slot.lock().unwrap_or_else(|e| e.into_inner()));
            drop(idle);
        }
    }

    /// This thread's pool.
    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        let slot = super::worker_index().min(self.idle.len() - 1);
        self.idle[slot].lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_suspect(&self, now_ms: i64) -> bool {
        self.suspect_until.load(Ordering::Relaxed) > now_ms
    }

    pub fn mark_suspect(&self, now_ms: i64) {
        self.suspect_until
            .store(now_ms + SUSPECT_FOR_MS, Ordering::Relaxed);
    }

    /// An idle connection that is ready, or a new one.
    pub async fn connection(&self) -> std::io::Result<SendRequest<UpstreamBody>> {
        {
            let mut idle = self.pool();
            while let Some((since, sender)) = idle.pop() {
                if sender.is_ready() && since.elapsed() < IDLE_MAX {
                    return Ok(sender);
                }
            }
        }
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.addr))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
            })??;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(EarlyAnswer::new(stream)))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            // The connection ends when the target closes it or every sender is dropped.
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Returns a connection to the pool once it can take the next request (after the
    /// previous response's body was read to the end). The connection's task has normally
    /// taken note of the end by the time the body is done, so the connection goes straight
    /// back; otherwise a task waits for it.
    pub fn recycle(self: &Arc<Self>, mut sender: SendRequest<UpstreamBody>) {
        if self.is_draining() {
            return;
        }
        if sender.is_ready() {
            self.park(sender);
            return;
        }
        let up = self.clone();
        tokio::spawn(async move {
            if sender.ready().await.is_ok() {
                up.park(sender);
            }
        });
    }

    fn park(&self, sender: SendRequest<UpstreamBody>) {
        if self.is_draining() {
            return;
        }
        let mut idle = self.pool();
        if idle.len() < POOL_MAX {
            idle.push((Instant::now(), sender));
        }
    }

    /// Idle connections in the pool now.
    #[cfg(test)]
    pub fn idle(&self) -> usize {
        self.idle
            .iter()
            .map(|slot| slot.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum::<usize>()
    }
}

/// A connection to a target that lets the target's early answer through. A target may answer
/// before it has read the whole body (the blog's 413 for a `Content-Length` over its limit)
/// and close; the rest of the body, still being sent, then meets a reset. hyper stops at that
/// write error, and the answer already on its way would be lost (the client would get 502
/// and the color a 5xx that the target never sent). Here the first write error ends the
/// sending instead: the rest of the body is dropped as if sent, and hyper reads on, so an
/// answer that arrived is relayed, and a target that died without one still fails the read.
struct EarlyAnswer {
    stream: TcpStream,
    /// The target stopped taking the request's bytes.
    write_failed: bool,
}

impl EarlyAnswer {
    fn new(stream: TcpStream) -> Self {
        EarlyAnswer {
            stream,
            write_failed: false,
        }
    }

    /// `Ready(Ok(len))` in place of a write error that says the target stopped reading.
    fn absorb(
        &mut self,
        polled: Poll<std::io::Result<usize>>,
        len: usize,
    ) -> Poll<std::io::Result<usize>> {
        match polled {
            Poll::Ready(Err(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                self.write_failed = true;
                Poll::Ready(Ok(len))
            }
            other => other,
        }
    }
}

impl tokio::io::AsyncRead for EarlyAnswer {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for EarlyAnswer {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.write_failed {
            return Poll::Ready(Ok(buf.len()));
        }
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.absorb(polled, buf.len())
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let len = bufs.iter().map(|b| b.len()).sum();
        if self.write_failed {
            return Poll::Ready(Ok(len));
        }
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.absorb(polled, len)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.write_failed {
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut self.stream).poll_flush(cx) {
            Poll::Ready(Err(_)) => {
                self.write_failed = true;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.stream).poll_shutdown(cx) {
            Poll::Ready(Err(_)) => Poll::Ready(Ok(())),
            other => other,
        }
    }
}
