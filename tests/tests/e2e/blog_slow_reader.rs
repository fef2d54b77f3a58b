//! The built `blog` binary with a client that asked for a big page and stopped reading it:
//! the write timeout frees the connection, and SIGTERM still ends the process with 0 long
//! before the grace period would.

use std::io::{Read, Write};
use std::time::Duration;

use blog::domain::{Post, PostId, Timestamp};
use blog::store::PostStore;
use blog::store::sqlite::SqliteStore;
use bluegreen_tests::blog_proc::Blog;

/// Settings under which only the write timeout (1 s) can end a stalled connection, and a
/// shutdown that waited for it would take the whole 30 s grace.
const ENVS: &[(&str, &str)] = &[
    ("BLOG_WRITE_TIMEOUT", "1"),
    ("BLOG_SHUTDOWN_GRACE", "30"),
    ("BLOG_HEADER_TIMEOUT", "60"),
    ("BLOG_IDLE_TIMEOUT", "60"),
];

/// A post whose page is about 2 MB, written straight into the database (the form's limit is
/// 512 KB); returns its path.
fn huge_post(db: &std::path::Path) -> String {
    let store = SqliteStore::open(db).expect("open store");
    let post = Post {
        id: PostId::generate(),
        author: "Legacy".into(),
        title: "Quotes".into(),
        content: "\"".repeat(2 * 1024 * 1024),
        timestamp: Some(Timestamp::now()),
        format: blog::domain::Format::Markdown,
        revision: 0,
    };
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(store.create(&post))
        .expect("create");
    format!("/posts/{}", post.id.as_str())
}

/// Connects with a 4 KB receive buffer, asks for `path` and reads nothing.
fn stalled_reader(addr: &str, path: &str) -> std::net::TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let tcp = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        socket
            .connect(addr.parse().expect("address"))
            .await
            .expect("connect")
            .into_std()
            .expect("std stream")
    });
    tcp.set_nonblocking(false).expect("blocking");
    let mut tcp = tcp;
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: blog\r\n\r\n").as_bytes())
        .expect("write");
    tcp
}

/// Reads what is left until the blog closes; `None` if it is still open after 20 s.
fn drain(tcp: &mut std::net::TcpStream) -> Option<Vec<u8>> {
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut out = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return Some(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(out),
            Err(_) => return None,
        }
    }
}

#[test]
fn blog_process_cuts_off_a_client_that_stopped_reading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("blog.db");
    let path = huge_post(&db);
    let mut blog = Blog::start(&db, "blue", ENVS);
    let mut tcp = stalled_reader(&blog.addr, &path);
    std::thread::sleep(Duration::from_secs(3));
    let got = drain(&mut tcp).expect("the blog closed the stalled connection");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "the response had started");
    assert!(
        !text.trim_end().ends_with("</html>"),
        "the whole page arrived ({} bytes), so nothing was cut off",
        got.len()
    );
    // The blog is still serving others.
    assert_eq!(blog.get("/health", None).status, 200);
    assert!(blog.terminate().success());
}

#[test]
fn blog_process_sigterm_with_a_stalled_reader_exits_0_within_the_grace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("blog.db");
    let path = huge_post(&db);
    let mut blog = Blog::start(&db, "blue", ENVS);
    let _tcp = stalled_reader(&blog.addr, &path);
    std::thread::sleep(Duration::from_millis(500));
    // `terminate` allows 10 s; the grace is 30 s, so only the write timeout ends the
    // response in flight in time.
    let status = blog.terminate();
    assert!(status.success(), "{status}");
}
