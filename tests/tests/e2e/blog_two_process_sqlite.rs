//! The built `blog` binary as the local platform runs it: two or more processes (blue and
//! green) on one SQLite file, `--bind 127.0.0.1 --port 0`, the address read from the first
//! stdout line, `/health` probed, SIGTERM to stop.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bluegreen_tests::bins::bin;
use bluegreen_tests::blog_http::{add_account, all_titles, form, http, sign_in};
use bluegreen_tests::blog_proc::Blog;

const PASSWORD: &str = "Ann's long password";

/// Ann's account on the database at `db`, made with `blog user add`.
fn add_ann(db: &Path) {
    add_account(
        &format!("sqlite:{}", db.display()),
        "Ann",
        PASSWORD,
        false,
        &[],
    );
}

#[test]
fn blue_and_green_share_one_sqlite_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("blog.db");
    add_ann(&db);
    let mut blue = Blog::start(&db, "blue", &[]);
    let mut green = Blog::start(&db, "green", &[]);

    for (blog, color) in [(&blue, "blue"), (&green, "green")] {
        let health = blog.get("/health", None);
        assert_eq!(health.status, 200);
        let json: serde_json::Value = serde_json::from_str(&health.body).expect("json");
        assert_eq!(json["color"], color);
        assert_eq!(json["version"], format!("v-{color}"));
        assert_eq!(health.header("x-blog-color").as_deref(), Some(color));
    }

    // Signed in on blue, a form served by blue is accepted by green (shared secret, no
    // server-side state): the session and its form token hold in both processes.
    let (cookie, token) = sign_in(&blue.addr, "Ann", PASSWORD, "/posts/new");
    let created = green.new_post(&cookie, &token, "From blue's form");
    assert_eq!(created.status, 303, "{}", created.body);
    let location = created.header("location").expect("location");
    assert_eq!(
        blue.get(&location, None).status,
        200,
        "blue sees green's write"
    );

    // Concurrent writers in both processes: every write lands, none fails on a lock.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let addrs = [blue.addr.clone(), green.addr.clone()];
            let (cookie, token) = (cookie.clone(), token.clone());
            std::thread::spawn(move || {
                for n in 0..25 {
                    let addr = &addrs[(w + n) % 2];
                    let title = format!("Post {w}-{n}");
                    let body = form(&[("title", &title), ("author", "W"), ("csrf_token", &token)]);
                    let reply = http(addr, "POST", "/posts/new", Some(&cookie), Some(&body));
                    assert_eq!(reply.status, 303, "writer {w} post {n}: {}", reply.body);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer thread");
    }
    let from_blue = all_titles(&blue.addr);
    let from_green = all_titles(&green.addr);
    assert_eq!(from_blue.len(), 101, "every post listed once");
    assert_eq!(
        from_blue, from_green,
        "both processes list the same posts in the same order"
    );
    assert!(from_blue.contains(&"Post 3-24".to_string()));

    // Edits and deletes through one color are seen by the other.
    let id = location.trim_start_matches("/posts/");
    let edit = form(&[
        ("title", "Edited on green"),
        ("author", "Ann"),
        ("content", "new"),
        ("csrf_token", &token),
    ]);
    assert_eq!(
        green
            .post(&format!("/posts/{id}/edit"), &cookie, &edit)
            .status,
        303
    );
    assert!(blue.get(&location, None).body.contains("Edited on green"));
    let delete = form(&[("author", "Ann"), ("csrf_token", &token)]);
    assert_eq!(
        blue.post(&format!("/posts/{id}/delete"), &cookie, &delete)
            .status,
        303
    );
    assert_eq!(green.get(&location, None).status, 404);

    // Signing out everywhere on green ends the session on blue as well.
    let out = green.post(
        "/logout",
        &cookie,
        &form(&[("csrf_token", &token), ("everywhere", "1")]),
    );
    assert_eq!(out.status, 303, "{}", out.body);
    let after = blue.get("/posts/new", Some(&cookie));
    assert_eq!(after.status, 303, "{}", after.body);
    assert!(
        after
            .header("location")
            .unwrap_or_default()
            .starts_with("/login?next="),
        "{:?}",
        after.header("location")
    );

    assert_eq!(blue.terminate().code(), Some(0));
    assert_eq!(
        green.get("/health", None).status,
        200,
        "green serves on after blue stops"
    );
    assert_eq!(green.terminate().code(), Some(0));
}

#[test]
fn json_logs_healthcheck_and_startup_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut blog = Blog::start(
        &dir.path().join("blog.db"),
        "blue",
        &[("BLOG_LOG_FORMAT", "json")],
    );
    assert_eq!(blog.get("/health", None).status, 200);
    assert_eq!(blog.get("/", None).status, 200);
    assert_eq!(blog.get("/posts/nope", None).status, 404);
    let port = blog.addr.rsplit(':').next().expect("port").to_string();

    // `blog healthcheck` is the container's health probe.
    let probe = healthcheck(&port);
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    assert!(String::from_utf8_lossy(&probe.stdout).contains("\"status\":\"ok\""));

    assert_eq!(blog.terminate().code(), Some(0));
    let lines = blog.remaining_lines();
    let records: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let request = |path: &str, status: u16| {
        records
            .iter()
            .any(|r| r["path"] == path && r["status"] == status && r["method"] == "GET")
    };
    assert!(
        request("/", 200) && request("/posts/nope", 404),
        "{lines:?}"
    );
    // Passing health probes come every few seconds from the load balancer: debug level only.
    assert!(!request("/health", 200), "{lines:?}");

    // Once it has stopped, the probe fails.
    let probe = healthcheck(&port);
    assert!(!probe.status.success());
    assert!(String::from_utf8_lossy(&probe.stderr).contains("cannot connect"));

    // Startup errors name the problem, on stderr, before any stdout line.
    for (store, expected) in [
        (
            "postgres:blog",
            "should be `sqlite:PATH` or `dynamodb:TABLE`",
        ),
        (
            "sqlite:/nonexistent-dir/blog.db",
            "cannot open the SQLite database /nonexistent-dir/blog.db",
        ),
    ] {
        let out = Command::new(bin("blog"))
            .args(["--bind", "127.0.0.1", "--port", "0", "--store", store])
            .output()
            .expect("run blog");
        assert!(!out.status.success(), "{store}");
        assert!(out.stdout.is_empty(), "{store}: nothing on stdout");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{store}: {stderr}");
    }
}

#[test]
fn sigterm_finishes_the_request_in_flight() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("tempdir");
    add_ann(&dir.path().join("blog.db"));
    let mut blog = Blog::start(&dir.path().join("blog.db"), "blue", &[]);
    let (cookie, token) = sign_in(&blog.addr, "Ann", PASSWORD, "/posts/new");
    let body = form(&[
        ("title", "Sent across a shutdown"),
        ("author", "Ann"),
        ("content", "The second half arrives after SIGTERM."),
        ("csrf_token", &token),
    ]);
    let (first_half, second_half) = body.split_at(body.len() / 2);

    // A request whose body is only half sent when the signal arrives.
    let mut stream = std::net::TcpStream::connect(&blog.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let head = format!(
        "POST /posts/new HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        blog.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(first_half.as_bytes()).expect("send half");
    // SIGTERM only once the blog has read what was sent (the head parses in the same step
    // as the read), so the request is in flight and not still queued in the kernel, where
    // shutdown would drop it with the unaccepted connection.
    let client_port = stream.local_addr().expect("client addr").port();
    let server_port: u16 = blog
        .addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in the address");
    let deadline = Instant::now() + Duration::from_secs(20);
    while unread_bytes(server_port, client_port) != Some(0) {
        assert!(
            Instant::now() < deadline,
            "the blog did not read the request within 20 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(blog.child.id()).expect("pid fits"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");

    // New connections are refused at once; the one in flight is still served.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(&blog.addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        blog.child.try_wait().expect("wait").is_none(),
        "exited with a request in flight"
    );
    stream
        .write_all(second_half.as_bytes())
        .expect("send the rest");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read the reply");
    assert!(reply.starts_with("HTTP/1.1 303"), "{reply}");
    assert_eq!(blog.terminate().code(), Some(0));

    // The post was stored: a new process on the same file lists it.
    let after = Blog::start(&dir.path().join("blog.db"), "green", &[]);
    assert_eq!(all_titles(&after.addr), ["Sent across a shutdown"]);
}

/// Bytes queued on the server's end of the loopback connection from `client_port` that the
/// server has not read yet, from the kernel's socket table; `None` before it lists the
/// connection.
fn unread_bytes(server_port: u16, client_port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port = |addr: &str| {
            addr.rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok())
        };
        if port(fields.get(1)?)? != server_port || port(fields.get(2)?)? != client_port {
            return None;
        }
        let (_, rx) = fields.get(4)?.split_once(':')?;
        u64::from_str_radix(rx, 16).ok()
    })
}

fn healthcheck(port: &str) -> std::process::Output {
    Command::new(bin("blog"))
        .args(["healthcheck", "--port", port, "--timeout", "5"])
        .env("BLOG_BIND", "127.0.0.1")
        .output()
        .expect("run blog healthcheck")
}
