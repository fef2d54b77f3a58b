//! The deploy lock on the local platform: the daemon keeps it (through a planned restart), two
//! consoles on one environment, the second refused with the holder's name, rollback takes over.

use bluegreen::ops::exit;
use bluegreen_tests::local::{LocalPlatform, text};

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

#[tokio::test]
async fn two_consoles_the_daemon_keeps_the_lock_and_rollback_takes_it_over() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    p.first_release("v1", 1).await;
    p.deploy_green("v2").await;

    let out = p.cli(&[
        "--as",
        "alice",
        "--reason",
        "migration",
        "lock",
        "take",
        "--for",
        "2h",
    ]);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
    let out = p.cli(&["--as", "bob", "shift", "--green", "10"]);
    assert_eq!(out.status.code(), Some(exit::REFUSED), "{}", text(&out));
    let said = text(&out);
    for part in ["alice@", "\"migration\"", "Ask alice", "--to bob"] {
        assert!(said.contains(part), "{part:?} missing: {said}");
    }
    let weights = p.platform.listener().await.expect("listener").weights;
    assert_eq!(
        weights,
        bluegreen::rollout::Weights::all(bluegreen::rollout::Color::Blue)
    );

    // A planned restart hands the lock to the new daemon with the rest of the state.
    let out = p.cli(&["local", "restart"]);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
    let doc = json(&p.cli(&["--json", "lock"]));
    assert_eq!(doc["lock"]["holder"]["name"], "alice", "{doc}");
    assert_eq!(doc["lock"]["hold"], "explicit");

    // Alice shifts from another terminal; bob's rollback is never blocked.
    let out = p.cli(&["--as", "alice", "shift", "--green", "10"]);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
    let out = p.cli(&["--as", "bob", "rollback"]);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
    assert!(
        text(&out).contains("deploy lock taken over from alice@"),
        "{}",
        text(&out)
    );
    let out = p.cli(&["--as", "alice", "lock"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("lock taken over by bob@"),
        "{}",
        text(&out)
    );
    let out = p.cli(&["--as", "alice", "shift", "--green", "10"]);
    assert_eq!(out.status.code(), Some(exit::REFUSED), "{}", text(&out));
    assert!(
        text(&out).contains("taken over from alice@"),
        "{}",
        text(&out)
    );
    let out = p.cli(&["--as", "bob", "lock", "release"]);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
    assert_eq!(
        json(&p.cli(&["--json", "lock"]))["lock"],
        serde_json::Value::Null
    );
}

/// The daemon drives a release in the name of whoever started it: the lock's holder and the
/// release's own journal entries are that person (and their reason), not the daemon's OS user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_drives_a_release_in_the_name_of_whoever_started_it() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    p.first_release("v1", 1).await;
    let (code, _, out) = p
        .cli_json(&[
            "--as",
            "alice",
            "--reason",
            "ticket 7",
            "release",
            "--tag",
            "v2",
            "--steps",
            "10",
            "--hold",
            "1h",
            "--interval",
            "1",
            "--detach",
            "--json",
        ])
        .await;
    assert_eq!(code, exit::OK, "{out}");
    // The driver's lease is alice's as soon as the daemon drives, and its deploy is hers.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let deploy = loop {
        let lock = json(&p.cli(&["--json", "lock"]));
        let (_, doc, out) = p.cli_json(&["history", "--json"]).await;
        let entries = doc["entries"].as_array().cloned().unwrap_or_default();
        let deploy = entries
            .iter()
            .find(|e| e["verb"] == "deploy" && e["release"]["id"].is_string())
            .cloned();
        if let (Some(d), "driver") = (deploy, lock["lock"]["hold"].as_str().unwrap_or("")) {
            assert_eq!(lock["lock"]["holder"]["name"], "alice", "{lock}");
            break d;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon never drove the release as alice: {lock} {out}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    assert_eq!(deploy["operator"]["name"], "alice", "{deploy}");
    assert_eq!(deploy["reason"], "ticket 7", "{deploy}");

    // Bob is refused with alice's name, and so is a release of his; alice's own write by
    // hand is refused too (it would fight her release's steps). Bob's abort (the panic key)
    // is not.
    let out = p.cli(&["--as", "bob", "shift", "--green", "20"]);
    assert_eq!(out.status.code(), Some(exit::REFUSED), "{}", text(&out));
    assert!(text(&out).contains("Ask alice"), "{}", text(&out));
    let out = p.cli(&["--as", "alice", "shift", "--green", "20"]);
    assert_eq!(out.status.code(), Some(exit::REFUSED), "{}", text(&out));
    assert!(
        text(&out).contains("a release is running under the deploy lock held by alice@"),
        "{}",
        text(&out)
    );
    let out = p.cli(&["--as", "bob", "abort"]);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
}
