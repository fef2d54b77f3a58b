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
