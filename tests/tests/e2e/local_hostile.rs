//! Hostile clients and unlucky operators against the real daemon, proxy and blog (issue 27),
//! every flood bounded in count and time:
//!
//! - broken framing through the production listener is the proxy's 400, counted against no
//!   color, so a flood of it during a release step fails no gate; the blog's own 413 for a
//!   body over its limit reaches the client;
//! - 600 slow-body POSTs hold proxy connections, not a task's: readers are served and no task
//!   is restarted;
//! - 6,000 idle connections to a daemon limited to 4,096 descriptors: it bounds them, keeps
//!   its health checks, its control socket and starts a task meanwhile;
//! - terminal escapes stored in the journal and the lock, and in a reader's request path,
//!   never reach a terminal through `history`, `lock`, `status`, a refusal or `logs`.
//!
//! Each flood prints its figures (readers' requests and failures, task restarts).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bluegreen::rollout::{Color, Outcome, PerColor};
use bluegreen_tests::local::{Load, LocalPlatform};
use serde_json::Value;

const CLIENTS: usize = 4;

/// Sends `raw` on a new connection and returns the answer's status, `None` when the
/// connection closed without one.
fn raw_status(addr: SocketAddr, raw: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let _ = s.write_all(raw);
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got)
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
}

/// The broken requests of the flood: framing no server can follow.
fn malformed() -> Vec<Vec<u8>> {
    let head = "POST /posts/new HTTP/1.1\r\nHost: x\r\n";
    let chunked = format!("{head}Transfer-Encoding: chunked\r\n\r\n");
    vec![
        format!("{chunked}zz\r\nhello\r\n").into_bytes(),
        format!("{chunked}fffffffffffffffffffffff\r\nhello\r\n").into_bytes(),
        format!("{chunked}5;{}\r\nhello\r\n0\r\n\r\n", "e".repeat(40_000)).into_bytes(),
        format!("{head}Content-Length: 99999999999999999999999\r\n\r\n").into_bytes(),
        format!("{head}Content-Length: abc\r\n\r\n").into_bytes(),
    ]
}

/// Sends `n` malformed requests on 8 connections at a time; the statuses seen, by count.
async fn flood_malformed(addr: SocketAddr, n: usize) -> std::collections::BTreeMap<String, usize> {
    let kinds = malformed();
    let mut seen = std::collections::BTreeMap::new();
    for batch in 0..n.div_ceil(8) {
        let mut handles = Vec::new();
        for i in 0..8.min(n - batch * 8) {
            let raw = kinds[(batch * 8 + i) % kinds.len()].clone();
            handles.push(tokio::task::spawn_blocking(move || raw_status(addr, &raw)));
        }
        for h in handles {
            let status = h.await.expect("joined");
            *seen
                .entry(status.map_or("closed".into(), |s| s.to_string()))
                .or_insert(0) += 1;
        }
    }
    seen
}

/// Requests and 5xx per color since the daemon started (its 15-minute window).
async fn counts(p: &LocalPlatform) -> PerColor<(u64, u64)> {
    let m = p
        .platform
        .metrics(900)
        .await
        .expect("metrics")
        .expect("local metrics");
    m.map(|_, c| c.window.map_or((0, 0), |w| (w.requests, w.errors_5xx)))
}

/// The tasks running now, by id, both colors.
async fn task_ids(p: &LocalPlatform) -> Vec<String> {
    let snap = p.platform.snapshot().await.expect("snapshot");
    let mut ids: Vec<String> = Color::ALL
        .into_iter()
        .flat_map(|c| snap.colors.get(c).targets.iter().map(|t| t.id.clone()))
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_framing_is_the_proxys_400_and_fails_no_release_gate() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    p.first_release("v1", 2).await;

    // Alone, the flood changes no color's counts.
    let before = counts(&p).await;
    let seen = flood_malformed(p.production, 100).await;
    assert!(
        seen.keys().all(|k| k == "400" || k == "closed"),
        "only the proxy's 400: {seen:?}"
    );
    assert_eq!(
        counts(&p).await,
        before,
        "no color counts a client's framing"
    );

    // The blog's own answer to a body over its limit reaches the client.
    let mut big = b"POST /posts/new HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 600000\r\n\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'a', 600_000));
    let addr = p.production;
    let status = tokio::task::spawn_blocking(move || raw_status(addr, &big))
        .await
        .expect("joined");
    assert_eq!(status, Some(413), "the blog's own answer");
    let after = counts(&p).await;
    assert_eq!(
        after.blue.1 + after.green.1,
        before.blue.1 + before.green.1,
        "a 413 is no 5xx"
    );

    // During a release's step, a flood of them fails no gate.
    let load = Load::start(p.production, CLIENTS, 1_000_000, Duration::from_secs(180));
    let id = p
        .release_detached(
            &[],
            &[
                "--tag",
                "v2",
                "--steps",
                "10",
                "--hold",
                "8",
                "--interval",
                "1",
                "--bake",
                "1",
            ],
        )
        .await;
    p.wait_for_first_step().await;
    let seen = flood_malformed(p.production, 600).await;
    let r = p.release_over(Duration::from_secs(120)).await;
    let report = load.stop().await;
    eprintln!(
        "malformed flood during a step: {seen:?}; readers {} requests, {} failed; release {}",
        report.requests,
        report.failed_requests().len(),
        r.describe()
    );
    assert_eq!(r.id, id);
    assert_eq!(r.outcome, Some(Outcome::Released), "{:?}", r.gates);
    assert!(
        report.failed_requests().is_empty(),
        "{:?}",
        report.failed_requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_uploads_hold_proxy_connections_and_kill_no_task() {
    let p = LocalPlatform::start(&["v1"], &[]).await;
    p.first_release("v1", 2).await;
    let tasks = task_ids(&p).await;
    let load = Load::start(p.production, CLIENTS, 1_000_000, Duration::from_secs(120));
    let addr = p.production;
    // 600 POSTs that send their head and 10 of 100,000 body bytes, then nothing.
    let slow = tokio::task::spawn_blocking(move || {
        (0..600)
            .filter_map(|_| {
                let mut s = TcpStream::connect(addr).ok()?;
                s.write_all(
                    b"POST /posts/new HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789",
                )
                .ok()?;
                Some(s)
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("joined");
    assert_eq!(slow.len(), 600, "every slow upload connected");
    // Several health-check rounds (every 200 ms here) while they hold.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let during = task_ids(&p).await;
    drop(slow);
    let report = load.stop().await;
    let restarts = during.iter().filter(|t| !tasks.contains(t)).count();
    eprintln!(
        "600 slow uploads for 8 s: readers {} requests, {} failed; {restarts} task restarts",
        report.requests,
        report.failed_requests().len()
    );
    assert_eq!(during, tasks, "no task was stopped or replaced");
    assert!(
        report.requests > 100,
        "the readers ran: {}",
        report.requests
    );
    assert!(
        report.failed_requests().is_empty(),
        "{:?}",
        report.failed_requests()
    );
}

/// Descriptors the process `pid` holds open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_leaves_the_daemon_its_descriptors() {
    const NOFILE: u64 = 4096;
    const FLOOD: usize = 6_000;
    let p = LocalPlatform::start_limited(&["v1", "v2"], &[], NOFILE).await;
    p.first_release("v1", 2).await;
    let client = bluegreen::platform::local::client::LocalClient::connect(&p.state)
        .await
        .expect("client");
    let pid = client.status().await.expect("status").pid;
    let tasks = task_ids(&p).await;
    let load = Load::start(p.production, CLIENTS, 1_000_000, Duration::from_secs(120));
    let addr = p.production;
    let idle = tokio::task::spawn_blocking(move || {
        (0..FLOOD)
            .filter_map(|_| TcpStream::connect(addr).ok())
            .collect::<Vec<_>>()
    })
    .await
    .expect("joined");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fds = open_fds(pid);
    // Meanwhile the daemon answers its control socket and starts a task.
    let (code, _, out) = p.cli_json(&["local", "status"]).await;
    assert_eq!(code, 0, "control socket: {out}");
    p.ops.deploy("v2", None).await.expect("deploy v2 to green");
    p.ops
        .wait(
            &bluegreen::ops::WaitFor::Healthy(Color::Green),
            Duration::from_secs(60),
        )
        .await
        .expect("a task started and became healthy during the flood");
    let during = task_ids(&p).await;
    drop(idle);
    let report = load.stop().await;
    let restarted = tasks.iter().filter(|t| !during.contains(t)).count();
    eprintln!(
        "{FLOOD} idle connections, daemon limited to {NOFILE} descriptors: it held {fds}; readers {} requests, {} failed; {restarted} task restarts",
        report.requests,
        report.failed_requests().len()
    );
    assert!(fds < NOFILE as usize - 512, "{fds} descriptors open");
    assert_eq!(
        restarted, 0,
        "blue's tasks kept running: {tasks:?} → {during:?}"
    );
    assert!(
        report.failed_requests().len() <= CLIENTS,
        "{:?}",
        report.failed_requests()
    );
}

/// Text with a terminal escape of each kind: an OSC title, a CSI clear, a C1 CSI, a bidi
/// override, an isolate.
const HOSTILE: &str = "x\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}gnp\u{2066}";

/// Whether `text` carries anything a terminal acts on.
fn raw_escape(text: &str) -> bool {
    text.chars().any(|c| {
        (c.is_control() && c != '\n' && c != '\t')
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_escapes_stored_by_others_never_reach_a_terminal() {
    let p = LocalPlatform::start(&["v1"], &[]).await;
    p.first_release("v1", 1).await;
    // One real entry, then a copy whose who, verb and reason carry escapes, appended as
    // anyone who can write the journal could.
    let (code, _, out) = p
        .cli_json(&["--as", "carol", "lock", "take", "--reason", "r"])
        .await;
    assert_eq!(code, 0, "{out}");
    let (_, doc, _) = p.cli_json(&["history", "--json"]).await;
    let mut entry: Value = doc["entries"][0].clone();
    entry["operator"]["name"] = HOSTILE.into();
    entry["verb"] = HOSTILE.into();
    entry["reason"] = HOSTILE.into();
    entry["id"] = format!("{}zz", entry["id"].as_str().unwrap_or("0")).into();
    let mut journal = std::fs::OpenOptions::new()
        .append(true)
        .open(p.state.join("journal.jsonl"))
        .expect("journal");
    writeln!(journal, "{entry}").expect("append");
    // The lock, rewritten with the same in its holder's name and reason.
    let mut record: Value =
        serde_json::to_value(p.platform.lock_read().await.expect("read")).expect("json");
    let token = record["token"].as_str().expect("token").to_string();
    record["holder"]["name"] = HOSTILE.into();
    record["reason"] = HOSTILE.into();
    let record: bluegreen::rollout::lock::LockRecord =
        serde_json::from_value(record).expect("record");
    p.platform
        .lock_swap(Some(&token), Some(&record))
        .await
        .expect("swapped");
    // A reader's request path with a C1 control and a bidi override, in the blog's log.
    let path = "/\u{9b}31m\u{202e}gnp";
    let _ = raw_status(
        p.production,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    );
    // (command, what it shows, escaped; `status` may show the lock or not)
    let osc = "\\u{1b}]0;pwned";
    for (args, shown) in [
        (&["history"][..], Some(osc)),
        (&["lock"], Some(osc)),
        (&["status"], None),
        (
            &["--as", "dave", "scale", "--color", "green", "--count", "1"],
            Some(osc),
        ),
        // The reader's path is in the log, whatever the blog made of its escapes.
        (&["logs", "--lines", "200"], Some("gnp")),
    ] {
        let out = p.cli(args);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!raw_escape(&all), "{args:?} printed a raw escape: {all:?}");
        if let Some(shown) = shown {
            assert!(all.contains(shown), "{args:?} shows {shown} escaped: {all}");
        }
    }
    // --json keeps the data, escaped by JSON.
    let (_, doc, _) = p.cli_json(&["history", "--json"]).await;
    let names: Vec<&str> = doc["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["operator"]["name"].as_str())
        .collect();
    assert!(names.contains(&HOSTILE), "{names:?}");
}
