//! The proxy against real HTTP targets on loopback: header handling, streaming, weights,
//! fallback, draining.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use super::route::Routes;
use super::upstream::Upstream;
use super::{ListenerKind, Proxy};
use crate::platform::http::HttpClient;
use crate::rollout::{Color, Weights};

/// A target that answers with what it saw: its name, the Host, X-Forwarded-For and the
/// body length.
async fn target(name: &'static str) -> SocketAddr {
    gated_target(name, Arc::new(Notify::new())).await
}

/// Like [`target`], but `/slow` answers only once `gate` is notified, so a test decides
/// when the request stops being in flight instead of racing a timer.
async fn gated_target(name: &'static str, gate: Arc<Notify>) -> SocketAddr {
    counted_target(name, gate, Arc::new(AtomicUsize::new(0))).await
}

/// Like [`gated_target`], counting the connections it accepts in `accepted`.
async fn counted_target(
    name: &'static str,
    gate: Arc<Notify>,
    accepted: Arc<AtomicUsize>,
) -> SocketAddr {
    serve_target(accepted, move |req: Request<Incoming>| {
        let gate = gate.clone();
        async move {
            if req.uri().path() == "/slow" {
                gate.notified().await;
            }
            let host = header(&req, "host");
            let xff = header(&req, "x-forwarded-for");
            let xfh = header(&req, "x-forwarded-host");
            let path = req.uri().to_string();
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes().len())
                .unwrap_or(0);
            let text = format!("{name}|{host}|{xff}|{xfh}|{path}|{body}");
            Response::builder()
                .header("x-blog-color", name)
                .header("connection", "keep-alive")
                .body(Full::new(Bytes::from(text)))
                .expect("response")
        }
    })
    .await
}

/// A target on loopback answering each request with `answer`, counting the connections it
/// accepts in `accepted`.
async fn serve_target<F, Fut>(accepted: Arc<AtomicUsize>, answer: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            accepted.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let answer = answer.clone();
                    async move { Ok::<_, Infallible>(answer(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

fn header(req: &Request<Incoming>, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string()
}

async fn proxy(routes: Arc<Routes>) -> (SocketAddr, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let p = Proxy::new(routes, Arc::new(Metrics::default()));
    tokio::spawn(p.serve(listener, ListenerKind::Production, stop.clone()));
    (addr, stop)
}

#[tokio::test]
async fn forwards_headers_and_streams_bodies() {
    let blue = target("blue").await;
    let routes = Arc::new(Routes::new(Weights::all(Color::Blue), None));
    routes.set_targets(Color::Blue, vec![Arc::new(Upstream::new(blue, "b1"))]);
    let (addr, _stop) = proxy(routes).await;
    let mut c = HttpClient::new(addr);
    let big = vec![b'x'; 3 * 1024 * 1024];
    let r = c
        .send(
            http::Method::POST,
            "/upload?x=1",
            &[
                ("x-forwarded-for", "203.0.113.9"),
                ("connection", "keep-alive, x-drop-me"),
                ("x-drop-me", "1"),
            ],
            Some(("application/octet-stream", big)),
        )
        .await
        .expect("proxied");
    assert_eq!(r.status, 200);
    let parts: Vec<String> = r.text().split('|').map(str::to_owned).collect();
    assert_eq!(parts[0], "blue");
    assert_eq!(
        parts[1],
        addr.to_string(),
        "Host is the one the client sent"
    );
    assert_eq!(
        parts[2], "203.0.113.9, 127.0.0.1",
        "the client's address is appended"
    );
    assert_eq!(parts[3], addr.to_string(), "X-Forwarded-Host");
    assert_eq!(parts[4], "/upload?x=1");
    assert_eq!(
        parts[5],
        (3 * 1024 * 1024).to_string(),
        "the whole body arrived"
    );
}

#[tokio::test]
async fn sequential_requests_reuse_one_pooled_connection() {
    let accepted = Arc::new(AtomicUsize::new(0));
    let blue = counted_target("blue", Arc::new(Notify::new()), accepted.clone()).await;
    let up = Arc::new(Upstream::new(blue, "b1"));
    let routes = Arc::new(Routes::new(Weights::all(Color::Blue), None));
    routes.set_targets(Color::Blue, vec![up.clone()]);
    let (addr, _stop) = proxy(routes).await;
    let mut c = HttpClient::new(addr);
    for i in 0..20 {
        let r = c.get(&format!("/?n={i}")).await.expect("proxied");
        assert_eq!(r.status, 200);
        assert_eq!(
            r.text().split('|').nth(4),
            Some(format!("/?n={i}").as_str())
        );
        // The connection is back in the pool before the response reached the client.
        assert_eq!(up.idle(), 1, "after request {i}");
        assert_eq!(up.inflight(), 0);
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one upstream connection"
    );
}

/// Routes with one target per color and green at `green_percent`.
async fn two_colors(green_percent: u8) -> Arc<Routes> {
    let blue = target("blue").await;
    let green = target("green").await;
    let routes = Arc::new(Routes::new(
        Weights::with_green_percent(green_percent).expect("valid"),
        None,
    ));
    routes.set_targets(Color::Blue, vec![Arc::new(Upstream::new(blue, "b1"))]);
    routes.set_targets(Color::Green, vec![Arc::new(Upstream::new(green, "g1"))]);
    routes
}

#[tokio::test]
async fn splits_by_weight_and_falls_back_then_refuses() {
    let routes = two_colors(25).await;
    let (addr, _stop) = proxy(routes.clone()).await;
    let mut c = HttpClient::new(addr);
    let mut green_count = 0;
    for _ in 0..1000 {
        let r = c.get("/").await.expect("proxied");
        if r.header("x-blog-color") == Some("green") {
            green_count += 1;
        }
    }
    assert_eq!(green_count, 250, "25% of 1000, exactly");
    // Green has no target: its share goes to blue rather than failing.
    routes.set_targets(Color::Green, vec![]);
    for _ in 0..20 {
        let r = c.get("/").await.expect("proxied");
        assert_eq!(r.header("x-blog-color"), Some("blue"));
    }
    routes.set_targets(Color::Blue, vec![]);
    let r = c.get("/").await.expect("answered");
    assert_eq!(r.status, 503);
}

#[tokio::test]
async fn a_dead_target_is_skipped_without_failing_the_request() {
    let blue = target("blue").await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let routes = Arc::new(Routes::new(Weights::all(Color::Blue), None));
    routes.set_targets(
        Color::Blue,
        vec![
            Arc::new(Upstream::new(dead, "gone")),
            Arc::new(Upstream::new(blue, "b1")),
        ],
    );
    let (addr, _stop) = proxy(routes).await;
    let mut c = HttpClient::new(addr);
    for _ in 0..10 {
        let r = c
            .post_form("/posts/new", &[], &[("title", "t")])
            .await
            .expect("proxied");
        assert_eq!(
            r.status, 200,
            "a refused connect sent nothing, so even a POST moves on"
        );
    }
}

#[tokio::test]
async fn draining_lets_in_flight_requests_finish() {
    let gate = Arc::new(Notify::new());
    let blue = gated_target("blue", gate.clone()).await;
    let up = Arc::new(Upstream::new(blue, "b1"));
    let routes = Arc::new(Routes::new(Weights::all(Color::Blue), None));
    routes.set_targets(Color::Blue, vec![up.clone()]);
    let (addr, _stop) = proxy(routes.clone()).await;
    let slow = tokio::spawn(async move { HttpClient::new(addr).get("/slow").await });
    // The target holds `/slow` until the gate opens, so once seen in flight it stays so;
    // the deadline only bounds a broken proxy, a loaded machine just takes longer.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while up.inflight() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the request never became in flight (inflight = {})",
            up.inflight()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Deregister, as the supervisor does before SIGTERM.
    up.start_draining();
    routes.set_targets(Color::Blue, vec![]);
    assert_eq!(up.inflight(), 1, "draining does not cut the request short");
    gate.notify_one();
    let r = slow
        .await
        .expect("join")
        .expect("the in-flight request finished");
    assert_eq!(r.status, 200);
    assert_eq!(up.inflight(), 0);
    let r = HttpClient::new(addr).get("/").await.expect("answered");
    assert_eq!(r.status, 503, "no new request reaches a draining target");
}

#[test]
fn absolute_form_becomes_origin_form() {
    let abs: http::Uri = "http://example.com:8080/a/b?q=1".parse().expect("uri");
    assert_eq!(super::origin_form(abs), "/a/b?q=1");
    let origin: http::Uri = "/x?y".parse().expect("uri");
    assert_eq!(super::origin_form(origin), "/x?y");
    let authority: http::Uri = "example.com:443".parse().expect("uri");
    assert_eq!(super::origin_form(authority), "/");
}

#[test]
fn forwarded_headers_name_the_listener_when_host_is_missing() {
    use http::header::{HeaderMap, HeaderValue};
    let listener = super::ListenerHeaders::new(8080);
    let fwd = listener.for_peer(SocketAddr::from(([192, 0, 2, 7], 5555)));
    let mut h = HeaderMap::new();
    h.insert("connection", HeaderValue::from_static("close, x-secret"));
    h.insert("x-secret", HeaderValue::from_static("1"));
    h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
    h.append("x-forwarded-for", HeaderValue::from_static("203.0.113.1"));
    h.append("x-forwarded-for", HeaderValue::from_static("198.51.100.2"));
    super::forward_headers(&mut h, &fwd);
    let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(get("host"), Some("127.0.0.1:8080"));
    assert_eq!(get("x-forwarded-host"), Some("127.0.0.1:8080"));
    assert_eq!(
        get("x-forwarded-for"),
        Some("203.0.113.1, 198.51.100.2, 192.0.2.7")
    );
    assert_eq!(get("x-forwarded-proto"), Some("http"));
    assert_eq!(get("x-forwarded-port"), Some("8080"));
    for gone in ["connection", "x-secret", "keep-alive"] {
        assert!(h.get(gone).is_none(), "{gone} is not forwarded");
    }
}

#[tokio::test]
async fn an_injected_fault_fails_its_share_of_one_color_and_counts_in_its_metrics() {
    use super::fault::FaultSpec;
    let routes = two_colors(50).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let metrics = Arc::new(Metrics::default());
    let p = Proxy::new(routes.clone(), metrics.clone());
    tokio::spawn(p.serve(listener, ListenerKind::Production, CancellationToken::new()));
    let fault = FaultSpec {
        color: Color::Green,
        error_rate: "20".parse().expect("share"),
        latency_ms: 0,
        for_secs: None,
    };
    routes.faults.set(fault.start(0).expect("valid"));
    let mut c = HttpClient::new(addr);
    let (mut injected, mut green_ok, mut blue_ok) = (0, 0, 0);
    // At 50/50, green gets 1000 of 2000: one whole block of its fault's sequence.
    for _ in 0..2000 {
        let r = c.get("/").await.expect("answered");
        match (
            r.status,
            r.header("x-blog-color"),
            r.header("x-bluegreen-fault"),
        ) {
            (503, None, Some("injected")) => injected += 1,
            (200, Some("green"), None) => green_ok += 1,
            (200, Some("blue"), None) => blue_ok += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((injected, green_ok, blue_ok), (200, 800, 1000));
    let totals = metrics.totals();
    assert_eq!(
        (totals.green.requests, totals.green.errors_5xx),
        (1000, 200)
    );
    assert_eq!((totals.blue.requests, totals.blue.errors_5xx), (1000, 0));

    // Latency alone: every request of that color waits, and its latency shows it.
    routes.faults.clear(None);
    routes.faults.set(
        FaultSpec {
            error_rate: "0".parse().expect("share"),
            latency_ms: 150,
            ..fault
        }
        .start(0)
        .expect("valid"),
    );
    let before = metrics.totals().green;
    let started = std::time::Instant::now();
    for _ in 0..4 {
        assert_eq!(c.get("/").await.expect("answered").status, 200);
    }
    let after = metrics.totals().green;
    let to_green = after.requests - before.requests;
    assert!(to_green >= 1, "the router sends green some of them");
    assert!(started.elapsed() >= Duration::from_millis(150 * to_green));
    assert_eq!(after.errors_5xx, before.errors_5xx);
    let delayed = after.since(&before);
    assert!(delayed.p99_ms().is_some_and(|p| p >= 150.0), "{delayed:?}");
    routes.faults.clear(None);
    for _ in 0..20 {
        assert_eq!(c.get("/").await.expect("answered").status, 200);
    }
}

/// Sends `raw` on a new connection to `addr` (then closes its write side when `eof`) and
/// returns the status of the answer, or `None` when the connection closed without one.
async fn raw_status(addr: SocketAddr, raw: &[u8], eof: bool) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // The proxy may answer and close before it read everything: a failed write is fine.
    let _ = s.write_all(raw).await;
    if eof {
        let _ = s.shutdown().await;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the proxy answered or closed in time");
    let line = String::from_utf8_lossy(&got);
    line.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
}

async fn proxy_with(routes: Arc<Routes>, limits: (usize, usize)) -> (SocketAddr, Arc<Proxy>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let metrics = Arc::new(Metrics::default());
    let p = Proxy::with_limits(routes, metrics, limits);
    tokio::spawn(
        p.clone()
            .serve(listener, ListenerKind::Production, CancellationToken::new()),
    );
    (addr, p)
}

/// A proxy with `limits` before one blue target that counts the connections it accepts.
async fn counted_blue(limits: (usize, usize)) -> (SocketAddr, Arc<Proxy>, Arc<AtomicUsize>) {
    let accepted = Arc::new(AtomicUsize::new(0));
    let blue = counted_target("blue", Arc::new(Notify::new()), accepted.clone()).await;
    let routes = Arc::new(Routes::new(Weights::all(Color::Blue), None));
    routes.set_targets(Color::Blue, vec![Arc::new(Upstream::new(blue, "b1"))]);
    let (addr, proxy) = proxy_with(routes, limits).await;
    (addr, proxy, accepted)
}

#[tokio::test]
async fn a_clients_broken_framing_is_answered_by_the_proxy_and_counted_against_no_color() {
    let (addr, proxy, accepted) = counted_blue((64, 16)).await;
    let head = "POST /posts HTTP/1.1\r\nHost: x\r\n";
    let chunked = format!("{head}Transfer-Encoding: chunked\r\n\r\n");
    let extension = format!("{chunked}5;{}\r\nhello\r\n0\r\n\r\n", "e".repeat(40_000));
    let cases: Vec<(&str, String, bool)> = vec![
        (
            "an invalid chunk size",
            format!("{chunked}zz\r\nhello\r\n"),
            false,
        ),
        (
            "a chunk size that overflows",
            format!("{chunked}fffffffffffffffffffffff\r\nhello\r\n"),
            false,
        ),
        ("a huge chunk extension", extension, false),
        (
            "a chunked body cut short",
            format!("{chunked}a\r\nhel"),
            true,
        ),
        (
            "a body shorter than its length",
            format!("{head}Content-Length: 100\r\n\r\nabc"),
            true,
        ),
        (
            "an invalid Content-Length",
            format!("{head}Content-Length: abc\r\n\r\n"),
            false,
        ),
        (
            "an oversized Content-Length",
            format!("{head}Content-Length: 99999999999999999999999999\r\n\r\n"),
            false,
        ),
        (
            "two different lengths",
            format!("{head}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
            false,
        ),
    ];
    for round in 0..3 {
        for (what, raw, eof) in &cases {
            let status = raw_status(addr, raw.as_bytes(), *eof).await;
            assert!(
                matches!(status, Some(400) | None),
                "{what} (round {round}): answered {status:?}, not the proxy's 400"
            );
        }
    }
    let totals = proxy.metrics.totals();
    assert_eq!(
        (totals.blue.requests, totals.blue.errors_5xx),
        (0, 0),
        "no color counts a client's broken request"
    );
    assert_eq!(totals.green.requests, 0);
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no target saw one");
    assert!(proxy.client_faults() >= 15, "{}", proxy.client_faults());
    // A well-formed request still goes through and counts.
    let r = HttpClient::new(addr).get("/").await.expect("proxied");
    assert_eq!(r.status, 200);
    assert_eq!(proxy.metrics.totals().blue.requests, 1);
}

/// A target that, like the blog, answers 413 to a `Content-Length` over 1,000 bytes at once,
/// without reading the body, and closes the connection.
async fn refusing_target() -> SocketAddr {
    serve_target(Arc::default(), |req: Request<Incoming>| async move {
        let len: usize = req
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut resp = Response::builder();
        if len > 1_000 {
            resp = resp.status(413).header("connection", "close");
        }
        resp.body(Full::new(Bytes::from("sized")))
            .expect("response")
    })
    .await
}

#[tokio::test]
async fn a_targets_early_answer_is_relayed_not_replaced() {
    let blue = refusing_target().await;
    let routes = Arc::new(Routes::new(Weights::all(Color::Blue), None));
    routes.set_targets(Color::Blue, vec![Arc::new(Upstream::new(blue, "b1"))]);
    let (addr, proxy) = proxy_with(routes, (64, 16)).await;
    for size in [600_000, 3 * 1024 * 1024] {
        for _ in 0..5 {
            let r = HttpClient::new(addr)
                .send(
                    http::Method::POST,
                    "/posts",
                    &[],
                    Some(("application/octet-stream", vec![b'x'; size])),
                )
                .await
                .expect("answered");
            assert_eq!(r.status, 413, "a {size}-byte body: {}", r.text());
        }
    }
    let blue = proxy.metrics.totals().blue;
    assert_eq!((blue.requests, blue.errors_5xx), (10, 0));
}

#[tokio::test]
async fn a_slow_body_holds_a_proxy_connection_not_a_targets() {
    use tokio::io::AsyncWriteExt;
    let (addr, _proxy, accepted) = counted_blue((256, 16)).await;
    let mut slow = Vec::new();
    for _ in 0..100 {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"POST /posts HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
            .await
            .expect("head");
        slow.push(s);
    }
    let r = HttpClient::new(addr).get("/").await.expect("proxied");
    assert_eq!(r.status, 200);
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "only the complete request reached the target"
    );
    // Once their bodies are complete, they go through.
    for s in &mut slow[..3] {
        s.write_all(b"cdefghij").await.expect("rest");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while accepted.load(Ordering::SeqCst) < 2 {
        assert!(tokio::time::Instant::now() < deadline, "sent on");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_connection_flood_is_bounded_and_readers_still_get_in() {
    let blue = target("blue").await;
    let routes = Arc::new(Routes::new(Weights::all(Color::Blue), None));
    routes.set_targets(Color::Blue, vec![Arc::new(Upstream::new(blue, "b1"))]);
    let (addr, proxy) = proxy_with(routes, (50, 16)).await;
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    }
    for i in 0..20 {
        let r = HttpClient::new(addr).get("/").await;
        assert_eq!(r.map(|r| r.status), Ok(200), "reader {i}");
    }
    assert!(
        proxy.open_connections() <= 51,
        "{} client connections open",
        proxy.open_connections()
    );
    let (evicted, _) = proxy.production_slots.pressure();
    assert!(evicted >= 250, "{evicted} idle connections closed");
}
