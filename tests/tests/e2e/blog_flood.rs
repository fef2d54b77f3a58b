//! The built `blog` binary under floods of slow clients (issue 27, item 3), bounded in count
//! and time: while they last, `/health` must answer within the supervisor's 2 s every time,
//! and readers must be served.
//!
//! - 600 POSTs whose bodies trickle (more than the 512 connection slots): at most half the
//!   slots read bodies at once, the rest of the flood gets 503 at once, readers get pages;
//! - 512 connections that send nothing (every client slot taken until the header timeout):
//!   health checks are answered on the reserve, and a reader there gets 503 at once instead
//!   of waiting in the accept queue.
//!
//! Each phase prints its figures (health answers, readers' failures) for the record.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bluegreen_tests::blog_proc::Blog;

const FLOOD: usize = 600;
/// How long each phase measures while its flood holds.
const MEASURE: Duration = Duration::from_secs(6);
/// The supervisor's health-check timeout.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// One GET on a fresh connection: the status, or `None` when nothing came within `timeout`.
fn get_status(addr: &str, path: &str, timeout: Duration) -> Option<u16> {
    let mut tcp = TcpStream::connect(addr).ok()?;
    tcp.set_read_timeout(Some(timeout)).ok()?;
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: blog\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .ok()?;
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

#[derive(Default)]
struct Figures {
    health_ok: AtomicUsize,
    health_failed: AtomicUsize,
    slowest_health_ms: AtomicUsize,
    reads_ok: AtomicUsize,
    reads_busy: AtomicUsize,
    reads_failed: AtomicUsize,
}

/// Polls `/health` every 200 ms and reads `/` in a loop until `MEASURE` has passed.
fn measure(addr: &str) -> Arc<Figures> {
    let figures = Arc::new(Figures::default());
    let done = Arc::new(AtomicBool::new(false));
    let health = {
        let (addr, figures, done) = (addr.to_string(), figures.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let started = Instant::now();
                let status = get_status(&addr, "/health", HEALTH_TIMEOUT);
                let took = started.elapsed();
                if status == Some(200) && took <= HEALTH_TIMEOUT {
                    figures.health_ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    figures.health_failed.fetch_add(1, Ordering::Relaxed);
                }
                let ms = usize::try_from(took.as_millis()).unwrap_or(usize::MAX);
                figures.slowest_health_ms.fetch_max(ms, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let reader = {
        let (addr, figures, done) = (addr.to_string(), figures.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                match get_status(&addr, "/", Duration::from_secs(5)) {
                    Some(200) => figures.reads_ok.fetch_add(1, Ordering::Relaxed),
                    Some(503) => figures.reads_busy.fetch_add(1, Ordering::Relaxed),
                    _ => figures.reads_failed.fetch_add(1, Ordering::Relaxed),
                };
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    std::thread::sleep(MEASURE);
    done.store(true, Ordering::Relaxed);
    health.join().expect("health thread");
    reader.join().expect("reader thread");
    figures
}

fn report(phase: &str, f: &Figures) -> (usize, usize, usize, usize) {
    let (ok, failed) = (
        f.health_ok.load(Ordering::Relaxed),
        f.health_failed.load(Ordering::Relaxed),
    );
    let (read, busy, lost) = (
        f.reads_ok.load(Ordering::Relaxed),
        f.reads_busy.load(Ordering::Relaxed),
        f.reads_failed.load(Ordering::Relaxed),
    );
    eprintln!(
        "{phase}: /health {ok} answered 200, {failed} failed (slowest {} ms); readers {read} \
         pages, {busy} answered 503 at once, {lost} failed",
        f.slowest_health_ms.load(Ordering::Relaxed)
    );
    (ok, failed, read, lost)
}

#[test]
fn health_checks_and_readers_outlast_floods_of_slow_clients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("blog.db");
    // Long enough that no held body or idle connection times out while a phase measures.
    let mut blog = Blog::start(
        &db,
        "green",
        &[("BLOG_BODY_TIMEOUT", "20"), ("BLOG_HEADER_TIMEOUT", "15")],
    );
    let addr = blog.addr.clone();
    assert_eq!(get_status(&addr, "/health", HEALTH_TIMEOUT), Some(200));

    // Phase 1: slow bodies. Each sends its head and 100 of its 100,000 bytes, then a byte a
    // second from a thread of its own making, until the phase ends.
    let head = "POST /login HTTP/1.1\r\nHost: blog\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 100000\r\n\r\n";
    let mut flood: Vec<TcpStream> = (0..FLOOD)
        .filter_map(|_| {
            let mut tcp = TcpStream::connect(&addr).ok()?;
            tcp.write_all(head.as_bytes()).ok()?;
            tcp.write_all(&[b'x'; 100]).ok()?;
            Some(tcp)
        })
        .collect();
    assert_eq!(flood.len(), FLOOD, "every flood connection was made");
    let trickling = Arc::new(AtomicBool::new(true));
    let trickle = {
        let streams: Vec<TcpStream> = flood.iter().filter_map(|s| s.try_clone().ok()).collect();
        let trickling = trickling.clone();
        std::thread::spawn(move || {
            let mut streams = streams;
            while trickling.load(Ordering::Relaxed) {
                for s in &mut streams {
                    let _ = s.write_all(b"x");
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    let figures = measure(&addr);
    trickling.store(false, Ordering::Relaxed);
    trickle.join().expect("trickle thread");
    // How the flood was answered: 503 at once past the bodies the blog reads at once.
    let mut refused = 0;
    for s in &mut flood {
        s.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let mut head = [0u8; 12];
        if s.read_exact(&mut head).is_ok() && &head[9..12] == b"503" {
            refused += 1;
        }
    }
    drop(flood);
    eprintln!(
        "slow bodies: {} of {FLOOD} held, {refused} answered 503 at once",
        FLOOD - refused
    );
    let (ok, failed, read, lost) = report("slow bodies", &figures);
    assert!(
        failed == 0 && ok >= 10,
        "health checks failed under slow bodies"
    );
    assert!(lost == 0 && read > 0, "readers failed under slow bodies");
    assert!(
        refused >= FLOOD - blog::web::limits::DEFAULT_BODY_READS,
        "bodies past half the slots are refused at once: {refused}"
    );

    // The flood's connections are closed; let the blog see every one of them go.
    std::thread::sleep(Duration::from_secs(1));

    // Phase 2: connections that send nothing take every client slot until the header timeout.
    let slots = blog::server::DEFAULT_MAX_CONNECTIONS;
    let idle: Vec<TcpStream> = (0..slots)
        .filter_map(|_| TcpStream::connect(&addr).ok())
        .collect();
    assert_eq!(idle.len(), slots);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        get_status(&addr, "/", HEALTH_TIMEOUT),
        Some(503),
        "every client slot is taken"
    );
    let figures = measure(&addr);
    drop(idle);
    let (ok, failed, _, lost) = report("idle connections", &figures);
    assert!(
        failed == 0 && ok >= 10,
        "health checks failed with every client slot taken"
    );
    assert_eq!(
        lost, 0,
        "a reader past the slots is answered (503) rather than left waiting"
    );

    // Once the blog has seen them go, readers are served again.
    let deadline = Instant::now() + Duration::from_secs(5);
    while get_status(&addr, "/", Duration::from_secs(5)) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "readers are served after the flood"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(blog.terminate().success());
}
