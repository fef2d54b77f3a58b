//! The weighted reverse proxy: the local stand-in for the load balancer's production and
//! test listeners.
//!
//! Each request picks a color by weight (the test listener: its one color), then a healthy
//! target of that color, and streams both bodies through. A connect failure, or a request
//! the connection gave back unsent, goes to another target; a request whose bytes were sent
//! is replayed only when it has no body and an idempotent method, so a POST is never sent
//! twice.
//!
//! A request's body is read at the proxy before a target sees it ([`intake`]), so a slow
//! client holds a proxy connection, never a target's; a client's broken framing is answered
//! here (400, 408) and counted against no color. Each listener bounds its client
//! connections ([`slots`]) so a flood cannot take the daemon's descriptors.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub mod fault;
mod headers;
pub mod intake;
pub mod metrics;
pub mod route;
pub mod slots;
pub mod upstream;

use headers::{ForwardedHeaders, ListenerHeaders, forward_headers, origin_form, strip_hop_by_hop};
use intake::{Budget, ClientFault, Forwarded};
use metrics::Metrics;
use route::Routes;
use slots::{Serving, Slots};
use upstream::{InflightGuard, UpstreamBody};

/// Which listener a connection arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// Splits by weight; falls back to the other color when the chosen one has no target.
    Production,
    /// Forwards only to the test color (normally the idle one).
    Test,
}

/// The proxy's worker threads. Each runs its own single-threaded runtime and accepts on the
/// same listening sockets, as nginx runs one event loop per worker process: a request, its
/// client connection and the upstream connection it uses stay on one thread, so serving it
/// needs no wake-up across threads.
pub const WORKERS: usize = 2;

thread_local! {
    /// 1..=WORKERS on a proxy worker thread, 0 elsewhere.
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Which proxy worker this thread is (0: none).
pub fn worker_index() -> usize {
    WORKER.with(|w| w.get())
}

/// Attempts per request: connect failures and unsent requests move on to another target.
const MAX_ATTEMPTS: usize = 4;
/// How long a target may take to start answering (the load balancer's idle timeout) before
/// the client gets 504.
const RESPONSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// A request's head must arrive within this after its first byte, and a keep-alive
/// connection's next request within this after the last response.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The body the proxy answers with: the target's, streamed, or the proxy's own error page.
pub type ProxyBody = Either<Tracked, Full<Bytes>>;

/// The shared state of both listeners.
#[derive(Debug)]
pub struct Proxy {
    pub routes: Arc<Routes>,
    pub metrics: Arc<Metrics>,
    /// Set once a new daemon serves on the same sockets: every response then says
    /// `Connection: close`, so each client's next request opens a connection the new daemon
    /// accepts, and none is cut between two requests.
    draining: AtomicBool,
    /// Client connections open now.
    connections: AtomicUsize,
    /// Body bytes read and not yet sent on, across both listeners.
    budget: Arc<Budget>,
    /// The client connections each listener may hold.
    production_slots: Arc<Slots>,
    test_slots: Arc<Slots>,
    /// Requests the proxy answered itself for the client's fault (broken framing, a body
    /// too slow): counted against no color.
    client_faults: AtomicU64,
}

/// Counts a client connection while it is open.
struct ConnectionGuard(Arc<Proxy>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Proxy {
    /// A proxy whose listeners share what the descriptor limit leaves (see
    /// [`slots::limits`]).
    pub fn new(routes: Arc<Routes>, metrics: Arc<Metrics>) -> Arc<Self> {
        Self::with_limits(routes, metrics, slots::limits(slots::nofile()))
    }

    /// A proxy whose production and test listeners hold at most `limits` connections.
    pub fn with_limits(
        routes: Arc<Routes>,
        metrics: Arc<Metrics>,
        limits: (usize, usize),
    ) -> Arc<Self> {
        Arc::new(Proxy {
            routes,
            metrics,
            draining: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            budget: Arc::new(Budget::default()),
            production_slots: Slots::new(limits.0),
            test_slots: Slots::new(limits.1),
            client_faults: AtomicU64::new(0),
        })
    }

    fn slots(&self, kind: ListenerKind) -> &Arc<Slots> {
        match kind {
            ListenerKind::Production => &self.production_slots,
            ListenerKind::Test => &self.test_slots,
        }
    }

    /// Requests answered by the proxy for the client's fault since it started.
    pub fn client_faults(&self) -> u64 {
        self.client_faults.load(Ordering::Relaxed)
    }

    /// Logs what changed since `last` (the previous call's answer): client faults answered,
    /// connections closed or turned away at a listener's bound. The daemon calls it once a
    /// second.
    pub fn log_pressure(&self, last: &mut [u64; 5]) {
        let (pe, pt) = self.production_slots.pressure();
        let (te, tt) = self.test_slots.pressure();
        let now = [self.client_faults(), pe, pt, te, tt];
        if now == *last {
            return;
        }
        let d: Vec<u64> = now.iter().zip(last.iter()).map(|(n, l)| n - l).collect();
        if d[0] > 0 {
            tracing::info!(
                "answered {} request(s) with broken framing or too slow a body (400/408), counted against no color",
                d[0]
            );
        }
        for (name, evicted, turned, open) in [
            ("production", d[1], d[2], self.production_slots.open()),
            ("test", d[3], d[4], self.test_slots.open()),
        ] {
            if evicted + turned > 0 {
                tracing::warn!(
                    "the {name} listener is at its bound ({open} connections open): closed {evicted} idle connection(s), turned {turned} new one(s) away"
                );
            }
        }
        *last = now;
    }

    /// Serves `listeners` on [`WORKERS`] threads until `accepting` is cancelled; their open
    /// connections are served on until the process exits.
    pub fn spawn_workers(
        self: &Arc<Self>,
        listeners: &[(std::net::TcpListener, ListenerKind)],
        accepting: &CancellationToken,
    ) -> std::io::Result<()> {
        for worker in 1..=WORKERS {
            let mine = listeners
                .iter()
                .map(|(l, kind)| {
                    let l = l.try_clone()?;
                    l.set_nonblocking(true)?;
                    Ok((l, *kind))
                })
                .collect::<std::io::Result<Vec<_>>>()?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let proxy = self.clone();
            let accepting = accepting.clone();
            std::thread::Builder::new()
                .name(format!("proxy-{worker}"))
                .spawn(move || {
                    WORKER.with(|w| w.set(worker));
                    runtime.block_on(async move {
                        for (listener, kind) in mine {
                            match TcpListener::from_std(listener) {
                                Ok(l) => {
                                    tokio::spawn(proxy.clone().serve(l, kind, accepting.clone()));
                                }
                                Err(e) => tracing::error!("proxy worker {worker}: {e}"),
                            }
                        }
                        // Open connections finish (a handover drains them) until the exit.
                        std::future::pending::<()>().await
                    })
                })?;
        }
        Ok(())
    }

    /// Closes each client connection after its next response (see `draining`).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn open_connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Accepts connections on `listener` until `shutdown` fires.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        kind: ListenerKind,
        shutdown: CancellationToken,
    ) {
        let local_port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let listener_headers = ListenerHeaders::new(local_port);
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!("proxy accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            // At the listener's bound, room is made by closing idle connections; with none
            // idle, the new one is closed.
            let Some(slot) = self.slots(kind).acquire().await else {
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            // Everything a request needs besides itself, shared by the connection's requests
            // (one reference count per request rather than a copy).
            let client = Arc::new(Client {
                proxy: self.clone(),
                kind,
                headers: listener_headers.for_peer(peer),
            });
            self.connections.fetch_add(1, Ordering::Relaxed);
            let guard = ConnectionGuard(self.clone());
            tokio::spawn(async move {
                let _guard = guard;
                let conn = slot.conn.clone();
                let svc = service_fn(move |req| {
                    let client = client.clone();
                    let conn = conn.clone();
                    async move {
                        let mut resp = client.proxy.handle(&client, &conn, req).await;
                        if client.proxy.draining.load(Ordering::Relaxed) {
                            resp.headers_mut()
                                .insert(header::CONNECTION, HeaderValue::from_static("close"));
                        }
                        Ok::<_, Infallible>(resp)
                    }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), svc);
                // Closed early when idle and the listener needs the room.
                tokio::select! {
                    _ = connection => {}
                    _ = slot.conn.close.cancelled() => {}
                }
                drop(slot);
            });
        }
    }

    async fn handle(
        &self,
        client: &Client,
        conn: &Arc<slots::Conn>,
        req: Request<Incoming>,
    ) -> Response<ProxyBody> {
        let (mut parts, body) = req.into_parts();
        // The client's whole body first: a slow or broken one never reaches a target, and
        // the time it took is the client's, not the target's latency.
        let body = match Forwarded::read(body, &self.budget).await {
            Ok(b) => b,
            Err(fault) => return self.client_fault(fault),
        };
        let serving = conn.serving();
        let start = Instant::now();
        let (chosen, allow_other) = match client.kind {
            ListenerKind::Production => (self.routes.choose_color(), true),
            ListenerKind::Test => match self.routes.test_color() {
                Some(c) => (c, false),
                None => {
                    return error_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the test listener points at no color",
                    );
                }
            },
        };
        if let Some(fault) = self.routes.faults.decide(chosen) {
            if !fault.delay.is_zero() {
                tokio::time::sleep(fault.delay).await;
            }
            if fault.inject {
                // Counted like a target's 503, since the release gates read these metrics.
                self.metrics.color(chosen).record(start.elapsed(), true);
                return injected_fault(chosen);
            }
        }
        forward_headers(&mut parts.headers, &client.headers);
        parts.uri = origin_form(parts.uri);
        parts.version = Version::HTTP_11;
        let replay = Replay::of(&parts);
        let client_failed = body.failure_flag();
        let mut req = Request::from_parts(parts, body);
        let mut excluded: Vec<SocketAddr> = Vec::new();
        let mut replayed = false;
        for _ in 0..MAX_ATTEMPTS {
            let now = crate::clock::now_millis();
            let Some((served_by, guard)) = self.routes.pick(chosen, allow_other, &excluded, now)
            else {
                break;
            };
            if served_by != chosen {
                self.metrics.color(chosen).record_fallback();
            }
            let up = guard.upstream();
            let mut sender = match up.connection().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!("connect to {} ({}) failed: {e}", up.addr, up.task_id);
                    up.mark_suspect(now);
                    excluded.push(up.addr);
                    continue;
                }
            };
            let sent = tokio::time::timeout(RESPONSE_TIMEOUT, sender.try_send_request(req)).await;
            let Ok(sent) = sent else {
                // Dropping the request closed its connection; the target is not retried.
                self.metrics.color(served_by).record(start.elapsed(), true);
                return error_response(
                    StatusCode::GATEWAY_TIMEOUT,
                    "the target did not answer in time",
                );
            };
            match sent {
                Ok(resp) => {
                    let status = resp.status();
                    self.metrics
                        .color(served_by)
                        .record(start.elapsed(), status.is_server_error());
                    return respond(resp, guard, sender, serving);
                }
                Err(mut e) => {
                    if client_failed
                        .as_ref()
                        .is_some_and(|f| f.load(Ordering::Relaxed))
                    {
                        // The client's body broke while it streamed to the target: the
                        // client's fault, whatever the target made of it.
                        return self.client_fault(ClientFault::Framing(e.into_error()));
                    }
                    if let Some(unsent) = e.take_message() {
                        // The connection gave the request back unsent: any target may have it.
                        req = unsent;
                        continue;
                    }
                    tracing::debug!(
                        "request to {} ({}) failed: {}",
                        up.addr,
                        up.task_id,
                        e.error()
                    );
                    match &replay {
                        Some(r) if !replayed => {
                            replayed = true;
                            excluded.push(up.addr);
                            req = r.request();
                            continue;
                        }
                        _ => {
                            self.metrics.color(served_by).record(start.elapsed(), true);
                            return error_response(
                                StatusCode::BAD_GATEWAY,
                                "the target failed while handling the request",
                            );
                        }
                    }
                }
            }
        }
        self.metrics.color(chosen).record(start.elapsed(), true);
        error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("no healthy target for {chosen}"),
        )
    }

    /// The proxy's own answer to a client's broken or slow request; no color's metrics
    /// count it, and the connection closes (its framing is lost).
    fn client_fault(&self, fault: ClientFault) -> Response<ProxyBody> {
        self.client_faults.fetch_add(1, Ordering::Relaxed);
        let mut resp = match fault {
            ClientFault::Framing(e) => {
                tracing::debug!("a client's request body is broken: {e}");
                error_response(
                    StatusCode::BAD_REQUEST,
                    "the request body's framing is invalid or it ended early",
                )
            }
            ClientFault::TooSlow => error_response(
                StatusCode::REQUEST_TIMEOUT,
                &format!(
                    "the request body did not arrive within {} s",
                    intake::BODY_TIMEOUT.as_secs()
                ),
            ),
        };
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        resp
    }
}

/// A copy of a bodyless idempotent request, so it can be sent again after its connection
/// failed mid-request.
struct Replay {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl Replay {
    fn of(parts: &http::request::Parts) -> Option<Replay> {
        let idempotent = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        let bodyless = !parts.headers.contains_key(header::TRANSFER_ENCODING)
            && parts
                .headers
                .get(header::CONTENT_LENGTH)
                .is_none_or(|v| v.as_bytes() == b"0");
        (idempotent && bodyless).then(|| Replay {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
        })
    }

    fn request(&self) -> Request<UpstreamBody> {
        let mut req = Request::new(Forwarded::empty());
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }
}

/// One client connection: the proxy, the listener it arrived on and what to tell targets
/// about it.
struct Client {
    proxy: Arc<Proxy>,
    kind: ListenerKind,
    headers: ForwardedHeaders,
}

fn respond(
    resp: Response<Incoming>,
    guard: InflightGuard,
    sender: SendRequest<UpstreamBody>,
    serving: Serving,
) -> Response<ProxyBody> {
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let tracked = Tracked {
        inner: body,
        guard: Some(guard),
        sender: Some(sender),
        _serving: serving,
    };
    Response::from_parts(parts, Either::Left(tracked))
}

fn error_response(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from(format!(
        "{} {}: {message}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The proxy's answer to a request a fault fails (`bluegreen local fault`).
fn injected_fault(color: crate::rollout::Color) -> Response<ProxyBody> {
    let mut resp = error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!(
            "injected fault on {color} (`bluegreen local fault --clear` ends it); the request was not forwarded"
        ),
    );
    resp.headers_mut().insert(
        HeaderName::from_static(fault::FAULT_HEADER),
        HeaderValue::from_static("injected"),
    );
    resp
}

/// A target's response body on its way to the client. It holds the target's in-flight slot
/// until the body is done (so draining waits for it) and hands the connection back to the
/// pool once the body was read to its end.
pub struct Tracked {
    inner: Incoming,
    guard: Option<InflightGuard>,
    sender: Option<SendRequest<UpstreamBody>>,
    /// Keeps the client connection from being closed as idle until the body is sent.
    _serving: Serving,
}

impl Tracked {
    fn finish(&mut self, reusable: bool) {
        if let (Some(sender), Some(guard)) = (self.sender.take(), self.guard.as_ref())
            && reusable
        {
            guard.upstream().recycle(sender);
        }
        self.guard = None;
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.finish(true),
            Poll::Ready(Some(Err(_))) => this.finish(false),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        // An empty body may never be polled; its connection is still clean.
        let clean = self.inner.is_end_stream();
        self.finish(clean);
    }
}

#[cfg(test)]
mod tests;
