//! The server over real loopback TCP: slow clients against each timeout, the limits hyper
//! would otherwise answer itself, and a shutdown with slow clients connected.

use crate::support;

use std::time::{Duration, Instant};

use blog::domain::{Post, PostId, Timestamp};
use blog::server::{self, Limits};
use blog::store::PostStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;

const LIMITS: Limits = Limits {
    header_timeout: Duration::from_millis(800),
    idle_timeout: Duration::from_millis(1500),
    write_timeout: Duration::from_millis(1000),
    max_connections: 16,
    grace: Duration::from_secs(20),
};
const BODY_TIMEOUT: Duration = Duration::from_millis(1000);

struct Running {
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
    blog: support::Blog,
}

/// Timeouts far longer than a test, so only the one under test (or shutdown) can end a
/// connection.
const PATIENT: Limits = Limits {
    header_timeout: Duration::from_secs(60),
    idle_timeout: Duration::from_secs(60),
    write_timeout: Duration::from_secs(60),
    ..LIMITS
};

async fn start(limits: Limits) -> Running {
    let blog = support::blog().await;
    let state = support::state_on(blog.store.clone())
        .with_body_timeout(BODY_TIMEOUT)
        .with_body_reads(limits.max_connections / 2);
    let listener = server::bind("127.0.0.1".parse().expect("ip"), 0)
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(server::serve_with(
        listener,
        blog::web::app(state),
        async move {
            let _ = stopped.await;
        },
        limits,
    ));
    Running {
        addr,
        stop: Some(stop),
        done,
        blog,
    }
}

/// Reads until the server closes the connection (or `limit` passes); returns what came and
/// how long it took.
async fn read_to_close(
    tcp: &mut (impl tokio::io::AsyncRead + Unpin),
    limit: Duration,
) -> (String, Duration) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + limit),
            tcp.read(&mut buf),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the connection was still open after {limit:?}; got {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

/// Sends one keep-alive `GET /health` on `tcp` and checks its 200.
async fn health_on(tcp: &mut TcpStream) {
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: blog\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 4096];
    let n = tcp.read(&mut buf).await.expect("read");
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

fn within(took: Duration, low: Duration, high: Duration) {
    assert!(
        took >= low && took <= high,
        "took {took:?}, expected {low:?}..{high:?}"
    );
}

#[tokio::test]
async fn a_partial_header_is_cut_off_at_the_header_timeout() {
    let blog = start(LIMITS).await;
    let mut tcp = TcpStream::connect(blog.addr).await.expect("connect");
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: blog\r\nX-Slow: ")
        .await
        .expect("write");
    let (reply, took) = read_to_close(&mut tcp, Duration::from_secs(5)).await;
    within(
        took,
        Duration::from_millis(700),
        Duration::from_millis(2500),
    );
    assert!(!reply.contains("200 OK"), "{reply}");
}

#[tokio::test]
async fn a_head_sent_a_byte_at_a_time_is_cut_off_too() {
    let blog = start(LIMITS).await;
    let mut tcp = TcpStream::connect(blog.addr).await.expect("connect");
    let started = Instant::now();
    // A byte every 100 ms never finishes the head within 800 ms.
    for byte in b"GET / HTTP/1.1\r\nHost: blog\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if tcp.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(5) {
            panic!("still accepting bytes after 5 s");
        }
    }
    let (_, _) = read_to_close(&mut tcp, Duration::from_secs(5)).await;
    within(
        started.elapsed(),
        Duration::from_millis(700),
        Duration::from_millis(2500),
    );
}

#[tokio::test]
async fn a_slow_body_gets_408_at_the_body_timeout() {
    let blog = start(LIMITS).await;
    let mut tcp = TcpStream::connect(blog.addr).await.expect("connect");
    tcp.write_all(
        b"POST /login HTTP/1.1\r\nHost: blog\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 100\r\n\r\nname=ann",
    )
    .await
    .expect("write");
    let (reply, took) = read_to_close(&mut tcp, Duration::from_secs(5)).await;
    within(
        took,
        Duration::from_millis(900),
        Duration::from_millis(2500),
    );
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(
        reply.contains("The form took too long to arrive"),
        "{reply}"
    );
    assert!(reply.contains("content-security-policy"), "{reply}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_closes_at_the_idle_timeout() {
    let blog = start(LIMITS).await;
    let mut tcp = TcpStream::connect(blog.addr).await.expect("connect");
    health_on(&mut tcp).await;
    // Idle longer than the header timeout (0.8 s) but not the idle timeout (1.5 s): still
    // served, since waiting is not sending a head.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    health_on(&mut tcp).await;
    let (_, took) = read_to_close(&mut tcp, Duration::from_secs(5)).await;
    within(
        took,
        Duration::from_millis(1300),
        Duration::from_millis(3000),
    );
}

#[tokio::test]
async fn an_oversized_content_length_is_refused_before_the_body() {
    let blog = start(LIMITS).await;
    let mut tcp = TcpStream::connect(blog.addr).await.expect("connect");
    tcp.write_all(
        b"POST /posts/new HTTP/1.1\r\nHost: blog\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 10000000000\r\n\r\n",
    )
    .await
    .expect("write");
    let started = Instant::now();
    let (reply, _) = read_to_close(&mut tcp, Duration::from_secs(5)).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("That was too much text"), "{reply}");
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "no body was awaited"
    );
}

#[tokio::test]
async fn long_addresses_and_heads_get_the_blogs_page() {
    let blog = start(LIMITS).await;
    let long_uri = format!("/?older={}", "a".repeat(10 * 1024));
    let big_cookie = "c".repeat(20 * 1024);
    for (request, status, heading) in [
        (
            format!("GET {long_uri} HTTP/1.1\r\nHost: blog\r\nConnection: close\r\n\r\n"),
            "414",
            "That address is too long",
        ),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: blog\r\nCookie: x={big_cookie}\r\nConnection: close\r\n\r\n"
            ),
            "431",
            "The request carried too much",
        ),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: blog\r\n{}Connection: close\r\n\r\n",
                // Over the blog's 64, under hyper's 100: the blog answers.
                (0..80)
                    .map(|i| format!("X-H{i}: v\r\n"))
                    .collect::<String>()
            ),
            "431",
            "The request carried too much",
        ),
    ] {
        let mut tcp = TcpStream::connect(blog.addr).await.expect("connect");
        tcp.write_all(request.as_bytes()).await.expect("write");
        let (reply, _) = read_to_close(&mut tcp, Duration::from_secs(5)).await;
        assert!(reply.starts_with(&format!("HTTP/1.1 {status}")), "{reply}");
        assert!(reply.contains(heading), "{reply}");
        assert!(reply.contains("content-security-policy"), "{reply}");
        assert!(reply.contains("x-blog-color: green"), "{reply}");
    }
}

#[tokio::test]
async fn shutdown_with_slow_clients_connected_exits_promptly() {
    // Timeouts far longer than the test, so only shutdown can end these connections.
    let limits = Limits {
        header_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        ..LIMITS
    };
    let mut blog = start(limits).await;
    let mut partial = TcpStream::connect(blog.addr).await.expect("connect");
    partial
        .write_all(b"GET / HTTP/1.1\r\nHost: blog\r\nX-Slow: ")
        .await
        .expect("write");
    let mut idle = TcpStream::connect(blog.addr).await.expect("connect");
    health_on(&mut idle).await;
    let mut silent = TcpStream::connect(blog.addr).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    let _ = blog.stop.take().map(|s| s.send(()));
    tokio::time::timeout(Duration::from_secs(3), &mut blog.done)
        .await
        .expect("serve returns within 3 s of the signal (grace is 20 s)")
        .expect("join")
        .expect("serve");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    for tcp in [&mut partial, &mut idle, &mut silent] {
        read_to_close(tcp, Duration::from_secs(2)).await;
    }
    assert!(
        TcpStream::connect(blog.addr).await.is_err(),
        "no new connections after shutdown"
    );
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let mut blog = start(LIMITS).await;
    let mut tcp = TcpStream::connect(blog.addr).await.expect("connect");
    // A body still arriving when the signal comes: the request is in flight.
    tcp.write_all(
        b"POST /login HTTP/1.1\r\nHost: blog\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 9\r\n\r\nname=",
    )
    .await
    .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = blog.stop.take().map(|s| s.send(()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    tcp.write_all(b"ann&")
        .await
        .expect("the connection is still open");
    let (reply, _) = read_to_close(&mut tcp, Duration::from_secs(5)).await;
    // The sign-in form without a token: refused, but answered, and the connection closed.
    assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
    tokio::time::timeout(Duration::from_secs(3), &mut blog.done)
        .await
        .expect("serve returns")
        .expect("join")
        .expect("serve");
}

/// Past the client slots, a health check is still answered (on the reserve) and a reader
/// gets 503 at once instead of waiting; once the reserve is taken too, connections wait for a
/// free slot (issue 27, item 3).
#[tokio::test]
async fn past_the_limit_health_checks_are_answered_and_readers_told_at_once() {
    let blog = start(Limits {
        max_connections: 2,
        ..LIMITS
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut tcp = TcpStream::connect(blog.addr).await.expect("connect");
        health_on(&mut tcp).await;
        held.push(tcp);
    }
    let mut reader = TcpStream::connect(blog.addr).await.expect("connect");
    reader
        .write_all(b"GET / HTTP/1.1\r\nHost: blog\r\n\r\n")
        .await
        .expect("write");
    let (reply, took) = read_to_close(&mut reader, Duration::from_secs(5)).await;
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(
        reply.to_ascii_lowercase().contains("retry-after: 1"),
        "{reply}"
    );
    assert!(reply.contains("The blog is busy"), "{reply}");
    within(took, Duration::ZERO, Duration::from_millis(500));
    let mut check = TcpStream::connect(blog.addr).await.expect("connect");
    check
        .write_all(b"GET /health HTTP/1.1\r\nHost: blog\r\n\r\n")
        .await
        .expect("write");
    let (reply, _) = read_to_close(&mut check, Duration::from_secs(5)).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    // Connections that send nothing take the whole reserve: the next one waits in the queue
    // until a slot is free.
    let mut idle = Vec::new();
    for _ in 0..blog::server::HEALTH_RESERVE {
        idle.push(TcpStream::connect(blog.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut waiting = TcpStream::connect(blog.addr).await.expect("connect");
    waiting
        .write_all(b"GET /health HTTP/1.1\r\nHost: blog\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 4096];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), waiting.read(&mut buf))
            .await
            .is_err(),
        "served with every slot and the reserve taken"
    );
    drop(held.pop());
    let (reply, _) = read_to_close(&mut waiting, Duration::from_secs(5)).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

/// At most half the connection slots read bodies at once: past that, a POST gets 503 before
/// its body is read, so slow uploads cannot hold every slot (issue 27, item 3).
#[tokio::test]
async fn bodies_past_the_reading_slots_get_503_at_once() {
    let blog = start(LIMITS).await;
    // As `main` sets it: half the connection slots.
    let reads = LIMITS.max_connections / 2;
    let head = "POST /login HTTP/1.1\r\nHost: blog\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nname=";
    let mut slow = Vec::new();
    for _ in 0..reads {
        let mut tcp = TcpStream::connect(blog.addr).await.expect("connect");
        tcp.write_all(head.as_bytes()).await.expect("write");
        slow.push(tcp);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut one_more = TcpStream::connect(blog.addr).await.expect("connect");
    one_more.write_all(head.as_bytes()).await.expect("write");
    let (reply, took) = read_to_close(&mut one_more, Duration::from_secs(5)).await;
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(reply.contains("receiving as many forms"), "{reply}");
    within(took, Duration::ZERO, Duration::from_millis(500));
    // Readers are served meanwhile.
    let mut reader = TcpStream::connect(blog.addr).await.expect("connect");
    health_on(&mut reader).await;
    // The held bodies end at the body timeout (408), and the slots with them.
    for mut tcp in slow {
        let (reply, _) = read_to_close(&mut tcp, Duration::from_secs(5)).await;
        assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    }
    let mut after = TcpStream::connect(blog.addr).await.expect("connect");
    after.write_all(head.as_bytes()).await.expect("write");
    after.write_all(&[b'x'; 995]).await.expect("the rest");
    let (reply, _) = read_to_close(&mut after, Duration::from_secs(5)).await;
    assert!(!reply.starts_with("HTTP/1.1 503"), "{reply}");
}

/// A post whose page is 2 MB: more than the socket buffers between the blog and a client
/// that does not read (`server::SEND_BUFFER` and 4 KB). Returns its path and the
/// page's length.
async fn huge_post(blog: &Running) -> (String, usize) {
    let post = Post {
        id: PostId::generate(),
        author: "Legacy".into(),
        title: "Quotes".into(),
        content: "\"".repeat(2 * 1024 * 1024),
        timestamp: Some(Timestamp::now()),
        format: blog::domain::Format::Markdown,
        revision: 0,
    };
    blog.blog.store.create(&post).await.expect("create");
    let path = format!("/posts/{}", post.id.as_str());
    // Read once, whole, to know the page's size.
    let mut tcp = TcpStream::connect(blog.addr).await.expect("connect");
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: blog\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("write");
    let (whole, _) = read_to_close(&mut tcp, Duration::from_secs(60)).await;
    let length = whole
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .expect("content-length");
    assert!(
        whole.starts_with("HTTP/1.1 200"),
        "{}",
        &whole[..200.min(whole.len())]
    );
    assert!(whole.trim_end().ends_with("</html>"), "the whole page came");
    (path, length)
}

/// A client with a tiny receive buffer that asks for `path` and then reads nothing.
async fn stalled_reader(addr: std::net::SocketAddr, path: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut tcp = socket.connect(addr).await.expect("connect");
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: blog\r\n\r\n").as_bytes())
        .await
        .expect("write");
    tcp
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_at_the_write_timeout() {
    let blog = start(Limits {
        write_timeout: Duration::from_millis(1000),
        ..PATIENT
    })
    .await;
    let (path, size) = huge_post(&blog).await;
    let mut tcp = stalled_reader(blog.addr, &path).await;
    // Not reading for well past the write timeout: the blog gives up on the response.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Reading now drains what sat in the socket buffers, then the connection ends (every other
    // timeout is a minute, so only the write timeout can have closed it).
    let (reply, _) = read_to_close(&mut tcp, Duration::from_secs(20)).await;
    assert!(
        reply.starts_with("HTTP/1.1 200"),
        "the response had started"
    );
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    assert!(
        body.len() < size,
        "the whole page ({size} bytes) arrived, so nothing was cut off"
    );
    assert!(!reply.trim_end().ends_with("</html>"));
}

#[tokio::test]
async fn a_slow_but_reading_client_gets_the_whole_page() {
    let blog = start(Limits {
        write_timeout: Duration::from_millis(1000),
        ..PATIENT
    })
    .await;
    let (path, size) = huge_post(&blog).await;
    let mut tcp = stalled_reader(blog.addr, &path).await;
    // Pauses for half the write timeout between bursts of reading: there is always some
    // progress, so the blog never gives up.
    let mut got = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let body_len = |got: &[u8]| {
        let text = String::from_utf8_lossy(got);
        text.split_once("\r\n\r\n")
            .map_or(0, |(_, body)| body.len())
    };
    while body_len(&got) < size {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < until && body_len(&got) < size {
            match tokio::time::timeout(Duration::from_millis(50), tcp.read(&mut buf)).await {
                Ok(Ok(0)) => panic!("closed after {} of {size} bytes", body_len(&got)),
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Ok(Err(e)) => panic!("read failed after {} bytes: {e}", body_len(&got)),
                Err(_) => {}
            }
        }
    }
    assert_eq!(body_len(&got), size);
    assert!(
        String::from_utf8_lossy(&got)
            .trim_end()
            .ends_with("</html>")
    );
}

#[tokio::test]
async fn shutdown_with_a_client_that_stopped_reading_ends_within_the_grace() {
    let mut blog = start(Limits {
        write_timeout: Duration::from_millis(1000),
        grace: Duration::from_secs(30),
        ..PATIENT
    })
    .await;
    let (path, _) = huge_post(&blog).await;
    let _tcp = stalled_reader(blog.addr, &path).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = blog.stop.take().map(|s| s.send(()));
    // The request is in flight, so shutdown waits for it; the write timeout ends it long
    // before the 30 s grace would.
    tokio::time::timeout(Duration::from_secs(15), &mut blog.done)
        .await
        .expect("serve returns well within the 30 s grace")
        .expect("join")
        .expect("serve");
}

/// Sends `method path` with a chunked body of `count` chunks of `chunk` bytes, one every
/// `every`, never the last chunk (the body never ends), and returns what the blog answered
/// before it closed the connection.
async fn chunked_reply(
    method: &str,
    path: &str,
    chunk: usize,
    count: usize,
    every: Duration,
) -> String {
    let blog = start(PATIENT).await;
    let (mut read, mut write) = TcpStream::connect(blog.addr)
        .await
        .expect("connect")
        .into_split();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: blog\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        let data = format!("{chunk:x}\r\n{}\r\n", "a".repeat(chunk));
        for _ in 0..count {
            write.write_all(data.as_bytes()).await?;
            tokio::time::sleep(every).await;
        }
        std::io::Result::Ok(write)
    });
    let (reply, _) = read_to_close(&mut read, Duration::from_secs(10)).await;
    writer.abort();
    assert!(reply.contains("content-security-policy"), "{reply}");
    reply
}

#[tokio::test]
async fn a_slow_chunked_body_gets_408_at_the_body_timeout() {
    for (method, path) in [("POST", "/login"), ("GET", "/")] {
        // A chunk every 400 ms for 20 s: bytes keep coming, the body never ends.
        let reply = chunked_reply(method, path, 4, 50, Duration::from_millis(400)).await;
        assert!(reply.starts_with("HTTP/1.1 408"), "{method}: {reply}");
        assert!(
            reply.contains("The form took too long to arrive"),
            "{method}: {reply}"
        );
    }
}

#[tokio::test]
async fn an_oversized_chunked_body_gets_413() {
    for (method, path) in [("POST", "/posts/new"), ("GET", "/")] {
        // 520 KB in 8 KB chunks, over the 512 KB limit.
        let reply = chunked_reply(method, path, 8 * 1024, 65, Duration::ZERO).await;
        assert!(reply.starts_with("HTTP/1.1 413"), "{method}: {reply}");
        assert!(
            reply.contains("That was too much text"),
            "{method}: {reply}"
        );
    }
}

#[tokio::test]
async fn a_get_with_a_body_the_route_ignores_keeps_the_connection_usable() {
    let blog = start(PATIENT).await;
    let mut tcp = TcpStream::connect(blog.addr).await.expect("connect");
    // A chunked body, then a Content-Length one, on one keep-alive connection, then a plain
    // request: each is answered.
    tcp.write_all(
        b"GET /health HTTP/1.1\r\nHost: blog\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .await
    .expect("write");
    let mut buf = [0u8; 4096];
    let n = tcp.read(&mut buf).await.expect("read");
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: blog\r\nContent-Length: 5\r\n\r\nhello")
        .await
        .expect("write");
    let n = tcp.read(&mut buf).await.expect("read");
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    health_on(&mut tcp).await;
}
