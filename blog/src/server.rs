//! Serving: bind, announce, serve until SIGTERM, drain. ECS and the local supervisor stop a
//! blog with SIGTERM; zero downtime depends on finishing what is in flight before exiting 0.

use std::future::{Future, IntoFuture};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;

/// How long in-flight requests may take after SIGTERM before the process exits anyway; ECS
/// kills a task 30 s after SIGTERM by default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(25);

/// Binds `ip:port` (port 0 picks a free one).
pub async fn bind(ip: IpAddr, port: u16) -> io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::new(ip, port)).await
}

/// The first line the blog prints on stdout, before any log line. The local platform reads it
/// to learn the address when it passes `--port 0`; keep it exactly this shape:
/// `listening on http://127.0.0.1:43123` (IPv6: `listening on http://[::1]:43123`).
pub fn announcement(addr: SocketAddr) -> String {
    format!("listening on http://{addr}")
}

/// Serves `app` until `shutdown` resolves, then stops accepting and lets open requests finish,
/// for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> io::Result<()> {
    let (stopping, mut stopped) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing requests in flight");
        let _ = stopping.send(true);
    };
    let listener = listener.tap_io(|tcp| {
        // Small responses go out at once instead of waiting on Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .into_future();
    let deadline = async move {
        if stopped.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = server => {
            tracing::info!("stopped");
            result
        }
        () = deadline => {
            tracing::warn!("requests still open {grace:?} after the shutdown signal; exiting anyway");
            Ok(())
        }
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
