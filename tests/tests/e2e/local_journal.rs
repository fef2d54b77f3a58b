//! The journal on the local platform, through the real daemon and the CLI: every write verb
//! appends exactly one entry (refusals included) naming who, from where and why; a daemon
//! killed while appending, and a torn last line, leave a journal that still reads and takes
//! the next entry whole; a release rolled back by a gate exports evidence with the failing
//! values.

use std::io::Write;
use std::time::{Duration, Instant};

use bluegreen::rollout::Color;
use bluegreen::rollout::journal::Entry;
use bluegreen_tests::local::{Load, LocalPlatform, text};
use serde_json::Value;

async fn cli(p: &LocalPlatform, args: &[&str]) -> (i32, Value, String) {
    p.cli_json(args).await
}

/// The journal as `history --json` reads it: the entries and the lines skipped.
async fn history(p: &LocalPlatform) -> (Vec<Entry>, u64) {
    let (code, doc, out) = cli(p, &["history", "--limit", "10000", "--json"]).await;
    assert_eq!(code, 0, "history: {out}");
    let entries: Vec<Entry> =
        serde_json::from_value(doc["entries"].clone()).unwrap_or_else(|e| panic!("{e}: {doc}"));
    (entries, doc["skipped"].as_u64().unwrap_or(0))
}

/// Runs one CLI write and returns the one entry it appended (failing if it added another
/// number of entries).
async fn one_entry(p: &LocalPlatform, args: &[&str], code: i32) -> Entry {
    let (before, _) = history(p).await;
    let (got, _, out) = cli(p, args).await;
    assert_eq!(got, code, "{args:?}: {out}");
    let (after, _) = history(p).await;
    assert_eq!(
        after.len(),
        before.len() + 1,
        "{args:?} appended {} entries: {:#?}",
        after.len() as i64 - before.len() as i64,
        &after[before.len().min(after.len())..]
    );
    after.last().cloned().expect("an entry")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_verb_appends_exactly_one_entry_naming_who_and_why() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    p.first_release("v1", 1).await;
    let who = ["--as", "carol", "--reason", "ticket 7"];
    let with = |args: &[&'static str]| -> Vec<&'static str> {
        who.iter().chain(args.iter()).copied().collect()
    };

    let e = one_entry(&p, &with(&["deploy", "--tag", "v2", "--wait"]), 0).await;
    assert_eq!(
        (e.verb.as_str(), e.operator.name.as_str()),
        ("deploy", "carol")
    );
    assert_eq!(e.reason.as_deref(), Some("ticket 7"));
    assert!(
        e.detail.as_deref().is_some_and(|d| d.contains("v2")),
        "{e:?}"
    );

    let e = one_entry(&p, &with(&["shift", "--green", "10"]), 0).await;
    assert_eq!(e.verb, "shift");
    assert_eq!(e.outcome, bluegreen::rollout::journal::Outcome::Applied);
    assert_eq!(e.before.map(|w| w.get(Color::Green)), Some(0));
    assert_eq!(e.after.map(|w| w.get(Color::Green)), Some(100));

    let e = one_entry(&p, &with(&["promote"]), 0).await;
    assert_eq!(e.verb, "promote");
    assert_eq!(e.after.map(|w| w.get(Color::Green)), Some(1000));

    // During the bake: undo the promote.
    let e = one_entry(&p, &with(&["rollback"]), 0).await;
    assert_eq!(e.verb, "rollback");
    assert_eq!(e.after.map(|w| w.get(Color::Blue)), Some(1000));

    let e = one_entry(&p, &with(&["scale", "--color", "green", "--count", "2"]), 0).await;
    assert_eq!(e.verb, "scale");

    // A refused write is journaled too: who tried what, and the rule's answer.
    let e = one_entry(&p, &with(&["scale", "--color", "blue", "--count", "0"]), 3).await;
    assert_eq!(e.outcome, bluegreen::rollout::journal::Outcome::Refused);
    assert!(e.message.is_some(), "{e:?}");

    // Without --as, the OS user; the host is this machine's.
    let e = one_entry(&p, &["shift", "--green", "0"], 0).await;
    assert_ne!(e.operator.name, "carol");
    assert!(!e.operator.host.is_empty());

    // A bake the daemon ends is journaled too, by the daemon.
    p.ops
        .wait(
            &bluegreen::ops::WaitFor::Healthy(Color::Green),
            Duration::from_secs(60),
        )
        .await
        .expect("green healthy at 2");
    one_entry(&p, &with(&["shift", "--green", "50"]), 0).await;
    one_entry(&p, &with(&["promote", "--bake", "1"]), 0).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let production = p.production.to_string();
    loop {
        // The daemon scales blue in only once requests show none reach it (rollout::split):
        // readers keep coming.
        for _ in 0..40 {
            bluegreen_tests::blog_http::get(&production, "/health");
        }
        let (entries, _) = history(&p).await;
        if let Some(e) = entries.iter().find(|e| e.verb == "finish-bake") {
            assert_eq!(e.operator.name, "daemon");
            assert_eq!(e.outcome, bluegreen::rollout::journal::Outcome::Applied);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no finish-bake entry: {entries:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The human view: one line per entry, newest last.
    let (code, _, out) = cli(&p, &["history", "--since", "1h"]).await;
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("carol@") || l.contains(" shift "))
        .collect();
    assert!(lines.len() >= 6, "{out}");
    assert!(out.contains("reason: ticket 7"), "{out}");
    // Bad input names the problem and the way out.
    let (code, _, out) = cli(&p, &["history", "--since", "2 weeks"]).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("30m, 2h, 7d"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_while_appending_and_a_torn_line_leave_a_journal_that_reads() {
    let p = LocalPlatform::start(&["v1"], &[]).await;
    p.first_release("v1", 1).await;
    // Appends in a loop, through the socket, until the daemon is killed under them.
    let platform = p.platform.clone();
    let ops = p.ops.clone();
    let appender = tokio::spawn(async move {
        let mut written = 0usize;
        loop {
            let e = ops.journal_entry("test-append");
            if platform.journal_append(&e).await.is_err() {
                return written;
            }
            written += 1;
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = p.cli(&["--json", "local", "status"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON status");
    let pid = doc["daemon"]["pid"].as_i64().expect("a daemon pid") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9 the daemon");
    let written = tokio::time::timeout(Duration::from_secs(30), appender)
        .await
        .expect("the appender sees the daemon go")
        .expect("joined");
    assert!(written > 0, "appended before the kill");
    p.wait_until_down().await;

    // And a crash that tore the last line: half an entry, no newline.
    let file = p.state.join("journal.jsonl");
    let torn = r#"{"v":1,"id":"9999999999999-00","at":1,"operator":{"name":"torn","ho"#;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .expect("the journal exists")
        .write_all(torn.as_bytes())
        .expect("tear it");

    let out = p.cli(&["local", "up", "--port", "0", "--test-port", "0"]);
    assert!(out.status.success(), "local up again: {}", text(&out));
    let (entries, skipped) = history(&p).await;
    assert_eq!(skipped, 1, "the torn line is skipped, not fatal");
    let appended = entries.iter().filter(|e| e.verb == "test-append").count();
    // Every acknowledged append is there (the kill may have landed after one more write).
    assert!(
        appended >= written,
        "{appended} of {written} appends read back"
    );

    // The next append starts on a line of its own and reads back whole.
    let e = one_entry(
        &p,
        &["--as", "dave", "scale", "--color", "blue", "--count", "2"],
        0,
    )
    .await;
    assert_eq!(
        (e.verb.as_str(), e.operator.name.as_str()),
        ("scale", "dave")
    );
    let (_, skipped) = history(&p).await;
    assert_eq!(skipped, 1);
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(text.ends_with('\n'));
    assert!(
        text.contains(&format!("{torn}\n")),
        "the torn line was ended"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_rolled_back_by_a_gate_exports_evidence_with_the_failing_values() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    p.first_release("v1", 1).await;
    let load = Load::start(p.production, 4, 1_000_000, Duration::from_secs(180));
    let (code, doc, out) = cli(
        &p,
        &[
            "--as",
            "erin",
            "--reason",
            "weekly release",
            "release",
            "--tag",
            "v2",
            "--steps",
            "20",
            "--hold",
            "60",
            "--interval",
            "1",
            "--detach",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "detached: {out}");
    let id = doc["release"]["id"].as_str().expect("an id").to_string();
    p.wait_for_first_step().await;
    let (code, _, out) = cli(
        &p,
        &["local", "fault", "--color", "green", "--error-rate", "50"],
    )
    .await;
    assert_eq!(code, 0, "fault set: {out}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !p
        .platform
        .release()
        .await
        .expect("read")
        .is_some_and(|r| r.is_over())
    {
        assert!(Instant::now() < deadline, "not rolled back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    load.stop().await;

    let (code, ev, out) = cli(&p, &["history", "--release", &id, "--json"]).await;
    assert_eq!(code, 0, "evidence: {out}");
    assert_eq!(ev["release"], id.as_str());
    assert!(
        ev["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("rolled back")),
        "{ev:#}"
    );
    let verbs: Vec<&str> = ev["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|a| a["verb"].as_str())
        .collect();
    for verb in [
        "release-start",
        "deploy",
        "shift",
        "release-step",
        "rollback",
        "release-end",
    ] {
        assert!(verbs.contains(&verb), "{verb} missing from {verbs:?}");
    }
    // The start was pressed by erin, and says why.
    let start = &ev["timeline"][0];
    assert_eq!(start["operator"]["name"], "erin", "{ev:#}");
    assert_eq!(start["reason"], "weekly release");
    // The failing gate with its values, and the interval it judged: green's 5xx counted.
    let failed = ev["failed"].as_array().expect("failed");
    assert!(
        failed
            .iter()
            .any(|g| g["gate"] == "errors" && g["verdict"] == "fail"),
        "{ev:#}"
    );
    let judged = ev["intervals"].as_array().expect("intervals");
    assert!(!judged.is_empty(), "{ev:#}");
    let last = judged.last().expect("an interval");
    assert!(
        last["green"]["errors_5xx"].as_u64().unwrap_or(0) > 0,
        "{ev:#}"
    );
    assert!(last["blue"]["requests"].as_u64().unwrap_or(0) > 0, "{ev:#}");
    assert_eq!(last["weights"]["green"].as_f64(), Some(20.0), "{ev:#}");
    // An unknown release is bad input that says where to look.
    let (code, _, out) = cli(&p, &["history", "--release", "r1", "--json"]).await;
    assert_eq!(code, 1, "{out}");
}
