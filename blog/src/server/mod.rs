//! Serving: bind, announce, serve until SIGTERM, drain. ECS and the local supervisor stop a
//! blog with SIGTERM; zero downtime depends on finishing what is in flight before exiting 0.

pub mod conn;

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long in-flight requests may take after SIGTERM before the process exits anyway; ECS
/// kills a task 30 s after SIGTERM by default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(25);

/// Half the CPUs, 1 to 4: one thread serves tens of thousands of requests a second, and the
/// other half is left to the blocking pool (SQLite writes) and to whatever shares the machine
/// (the other color and the proxy, locally). Fewer threads also cut tail latency.
pub fn default_workers() -> usize {
    (std::thread::available_parallelism().map_or(2, |n| n.get()) / 2).clamp(1, 4)
}

/// The runtime the blog serves on (the benchmark's baseline server uses the same).
pub fn runtime(workers: usize) -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .max_blocking_threads(16)
        .enable_all()
        .build()
}

/// Binds `ip:port` (port 0 picks a free one). Accepted connections inherit the listener's
/// [`SEND_BUFFER`].
pub async fn bind(ip: IpAddr, port: u16) -> io::Result<TcpListener> {
    let addr = SocketAddr::new(ip, port);
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // What `TcpListener::bind` does: a restarted blog can bind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.set_send_buffer_size(SEND_BUFFER)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Each connection's kernel send buffer (Linux doubles it). Without a bound it grows to 4 MB
/// (`tcp_wmem`), and a writer waiting on a full buffer is woken only when half of it has
/// drained, so the write timeout would measure "read 2 MB" rather than "read nothing", and 512
/// stalled connections could pin 2 GB of kernel memory. At this size a client reading
/// 13 KB/s keeps its connection under the default write timeout; loopback and the ALB,
/// milliseconds away, still get hundreds of MB/s.
pub const SEND_BUFFER: u32 = 128 * 1024;

/// The first line the blog prints on stdout, before any log line. The local platform reads it
/// to learn the address when it passes `--port 0`; keep it exactly this shape:
/// `listening on http://127.0.0.1:43123` (IPv6: `listening on http://[::1]:43123`).
pub fn announcement(addr: SocketAddr) -> String {
    format!("listening on http://{addr}")
}

/// Connections served at once unless `BLOG_MAX_CONNECTIONS` says otherwise; more wait in the
/// kernel's accept queue until one closes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Connections accepted past `max_connections` for health checks only, so a load balancer's or
/// the supervisor's check never waits behind clients for a slot: on such a connection
/// `/health` is answered and anything else gets 503 at once (docs/blog.md, "Connections and
/// their timeouts").
pub const HEALTH_RESERVE: usize = 16;
/// A reserved connection's head must arrive this soon (a health checker sends it at once), so
/// clients that trickle heads cannot hold the reserve for long.
pub const RESERVED_HEADER_TIMEOUT: Duration = Duration::from_secs(1);
/// A request's head (line and headers) must arrive within this after its first byte, and a
/// new connection's first request within this after accept.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A keep-alive connection with no request for this long is closed. Longer than the ALB's
/// default idle timeout (60 s), as AWS asks of targets, so the balancer never reuses a
/// connection the blog is closing.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// A response write that makes no progress for this long (the client stopped reading) ends
/// the connection. Shorter than [`DEFAULT_GRACE`], so such a client never holds a shutdown to
/// the end of its grace period; a reader that takes any bytes at all restarts it.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// hyper answers a head longer than this itself (431, without the blog's page); the router's
/// own limit (`web::limits`) is lower, so readers get the blog's page first. The same holds
/// for the count of headers: hyper's default (100) stands, above the router's 64. A count set
/// here would do no good and some harm: past 100, hyper parses every head into two arrays on
/// the heap (16 KB allocated and freed per request, 3% of a cached page's time) instead of on
/// the stack.
const HYPER_MAX_HEAD: usize = 64 * 1024;

/// How connections are served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    /// How long a response write may wait for the client to read (see [`conn`]).
    pub write_timeout: Duration,
    pub max_connections: usize,
    /// How long requests in flight may take after the shutdown signal.
    pub grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            grace: DEFAULT_GRACE,
        }
    }
}

/// Serves `app` until `shutdown` resolves, then stops accepting and lets open requests finish,
/// for at most `grace`, with the default [`Limits`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> io::Result<()> {
    let limits = Limits {
        grace,
        ..Limits::default()
    };
    serve_with(listener, app, shutdown, limits).await
}

/// Serves `app` until `shutdown` resolves. Then it stops accepting, closes every connection
/// that has no request in flight (idle keep-alive ones, and slow clients still sending a
/// head), lets the requests in flight finish on connections that then close, and returns
/// once they are done or `limits.grace` has passed. A client that stopped reading its
/// response is cut off by `limits.write_timeout` meanwhile.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> io::Result<()> {
    let (stopping, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing requests in flight");
        let _ = stopping.send(true);
    });
    let clock = conn::Clock {
        header_timeout: limits.header_timeout,
        idle_timeout: limits.idle_timeout,
        write_timeout: limits.write_timeout,
    };
    let reserved_clock = conn::Clock {
        header_timeout: limits.header_timeout.min(RESERVED_HEADER_TIMEOUT),
        ..clock
    };
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_header_size(HYPER_MAX_HEAD);
    // A reserved connection serves one request and closes.
    let mut http_reserved = http.clone();
    http_reserved.keep_alive(false);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let reserve = Arc::new(Semaphore::new(HEALTH_RESERVE));
    let tracker = TaskTracker::new();
    let mut accept_stop = stop.clone();
    loop {
        // A client slot when one is free, else one of the reserve.
        let permit = tokio::select! {
            biased;
            () = stopped(&mut accept_stop) => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            permit = reserve.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, or a connection reset while queued: wait a
                    // little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut accept_stop) => break,
        };
        // A client slot freed while this one waited on the reserve: it takes that instead.
        let (permit, reserved) = if Arc::ptr_eq(permit.semaphore(), &reserve) {
            match permits.clone().try_acquire_owned() {
                Ok(client) => (client, false),
                Err(_) => (permit, true),
            }
        } else {
            (permit, false)
        };
        // Small responses go out at once instead of waiting on Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let activity = conn::Activity::new();
        let timing = if reserved { reserved_clock } else { clock };
        let io = TokioIo::new(conn::TimedIo::new(tcp, activity.clone(), timing));
        let service = service(app.clone(), activity.clone(), reserved);
        let builder = if reserved { &http_reserved } else { &http };
        let connection = builder.serve_connection(io, service);
        let mut stop = stop.clone();
        tracker.spawn(async move {
            let _permit = permit;
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => log_end(result),
                () = stopped(&mut stop) => {
                    if activity.busy() {
                        connection.as_mut().graceful_shutdown();
                        log_end(connection.await);
                    }
                    // Otherwise nothing is in flight: dropping the connection closes it.
                }
            }
        });
    }
    drop(listener);
    tracker.close();
    stopped(&mut stop.clone()).await;
    tokio::select! {
        () = tracker.wait() => {
            tracing::info!("stopped");
        }
        () = tokio::time::sleep(limits.grace) => {
            tracing::warn!(
                "requests still open {:?} after the shutdown signal; exiting anyway",
                limits.grace
            );
        }
    }
    Ok(())
}

/// The router as one connection's hyper service, telling the connection when a request
/// starts and when its response is done. On a `reserved` connection every request but
/// `/health` is marked, and the router answers it 503 (`web::limits`).
fn service(
    app: Router,
    activity: conn::Activity,
    reserved: bool,
) -> impl hyper::service::Service<
    http::Request<hyper::body::Incoming>,
    Response = http::Response<conn::TrackedBody>,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<http::Response<conn::TrackedBody>, std::convert::Infallible>>
             + Send,
> + Clone {
    hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
        activity.request_started();
        if reserved && request.uri().path() != "/health" {
            request
                .extensions_mut()
                .insert(crate::web::limits::ReservedSlot);
        }
        let activity = activity.clone();
        let reply = app.clone().oneshot(request.map(axum::body::Body::new));
        async move {
            let response = match reply.await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok(response.map(|body| conn::TrackedBody::new(body, activity)))
        }
    })
}

/// Resolves once the shutdown signal came (never if its sender is gone without one).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        // Timeouts, resets and malformed requests: the client's doing, not worth a warning.
        tracing::debug!(error = %e, "connection ended");
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
