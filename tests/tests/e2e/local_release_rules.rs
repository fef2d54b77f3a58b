//! The rules between releases, rollbacks and the lock, through the CLI against the real
//! daemon (issue 27): a rollback ends a running release and no shift follows it; two
//! releases are never accepted at once; a rollback that changes nothing takes nobody's lock;
//! an abort names the operator; `promote --bake 0` has ended the bake when it returns.

use std::time::{Duration, Instant};

use bluegreen::rollout::{Color, Outcome, Weights};
use bluegreen_tests::local::{Load, LocalPlatform};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_before_the_first_step_ends_the_release_and_no_shift_follows() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    p.first_release("v1", 1).await;
    let id = p
        .release_detached(
            &["--as", "erin"],
            &[
                "--tag",
                "v2",
                "--steps",
                "10",
                "--hold",
                "5",
                "--interval",
                "1",
            ],
        )
        .await;
    // Still deploying (or in its smoke test): blue has everything.
    let (code, doc, out) = p.cli_json(&["--as", "carol", "rollback", "--json"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(doc["rollback"]["ended_release"], id.as_str(), "{doc:#}");
    // Longer than the deploy, the smoke test and the first step would take.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let r = p.recorded_release().await;
    let Some(Outcome::Aborted { by }) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert!(by.starts_with("carol@") && by.contains("rollback"), "{by}");
    let snap = p.platform.snapshot().await.expect("snapshot");
    assert_eq!(snap.listener.weights, Weights::all(Color::Blue), "no shift");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_releases_started_at_once_one_is_refused_with_the_reason() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    p.first_release("v1", 1).await;
    let args = [
        "release",
        "--tag",
        "v2",
        "--steps",
        "10",
        "--hold",
        "60",
        "--interval",
        "1",
        "--detach",
        "--json",
    ];
    let (a, b) = tokio::join!(p.cli_json(&args), p.cli_json(&args));
    let mut codes = [a.0, b.0];
    codes.sort();
    assert_eq!(
        codes,
        [0, 3],
        "one accepted, one refused:\n{}\n{}",
        a.2,
        b.2
    );
    let refused = if a.0 == 3 { &a.2 } else { &b.2 };
    assert!(refused.contains("still running"), "{refused}");
    let accepted = if a.0 == 0 { &a.1 } else { &b.1 };
    let r = p.recorded_release().await;
    assert_eq!(
        accepted["release"]["id"],
        r.id.as_str(),
        "the accepted one runs"
    );
    let (code, _, out) = p.cli_json(&["abort"]).await;
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_with_nothing_to_do_leaves_anothers_lock_and_names_abort_by_operator() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    p.first_release("v1", 1).await;
    let (code, _, out) = p
        .cli_json(&["--as", "alice", "lock", "take", "--reason", "maintenance"])
        .await;
    assert_eq!(code, 0, "{out}");
    let (code, doc, out) = p.cli_json(&["--as", "bob", "rollback", "--json"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(doc["rollback"]["unchanged"], true, "{doc:#}");
    let lock = p.platform.lock_read().await.expect("read").expect("held");
    assert_eq!(lock.holder.name, "alice", "the lock stays alice's");
    let (code, _, out) = p.cli_json(&["--as", "bob", "deploy", "--tag", "v2"]).await;
    assert_eq!(code, 3, "bob cannot deploy: {out}");
    assert!(out.contains("alice"), "{out}");
    let (code, _, out) = p.cli_json(&["--as", "alice", "lock", "release"]).await;
    assert_eq!(code, 0, "{out}");

    // An abort's entry and outcome name the operator, not the OS user.
    p.release_detached(
        &["--as", "dave"],
        &["--tag", "v2", "--steps", "10", "--hold", "60"],
    )
    .await;
    let (code, _, out) = p.cli_json(&["--as", "dave", "abort"]).await;
    assert_eq!(code, 0, "{out}");
    let r = p.recorded_release().await;
    let Some(Outcome::Aborted { by }) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert!(by.starts_with("dave@"), "{by}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_with_a_zero_bake_returns_with_the_bake_over() {
    let p = LocalPlatform::start(&["v1", "v2", "v3"], &[]).await;
    p.first_release("v1", 1).await;
    p.deploy_green("v2").await;
    let load = Load::start(p.production, 2, 1_000_000, Duration::from_secs(120));
    let started = Instant::now();
    let (code, doc, out) = p.cli_json(&["promote", "--bake", "0", "--json"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(doc["finished_bake"].is_object(), "{doc:#}");
    let snap = p.platform.snapshot().await.expect("snapshot");
    assert_eq!(
        snap.listener.bake, None,
        "no bake pending when promote returned"
    );
    assert_eq!(snap.colors.blue.service.desired, 0, "blue scaled in");
    eprintln!("promote --bake 0 returned in {:?}", started.elapsed());
    // The seed's flow goes on at once.
    let (code, _, out) = p.cli_json(&["deploy", "--tag", "v3"]).await;
    assert_eq!(code, 0, "deploy right after: {out}");
    let report = load.stop().await;
    assert!(
        report.failed_requests().is_empty(),
        "{:?}",
        report.failed_requests()
    );
}
