//! The deploy lock on AWS: a DynamoDB item in the profile's `lock_table`, written by
//! conditional PutItem/DeleteItem against moto. Two consoles on one environment; racing
//! clients never make two holders; throttles are retried; rollback is never blocked.

use std::sync::Arc;
use std::time::Instant;

use bluegreen::ops::{Access, OpError, Ops, exit};
use bluegreen::platform::{LockSwap, Platform};
use bluegreen::rollout::Operator;
use bluegreen::rollout::lock::{Hold, LockRecord, MAX_SKEW_MS};
use bluegreen_tests::aws::{Fault, Stack, TopologyOptions};

async fn start() -> Stack {
    Stack::start(TopologyOptions::default(), false).await
}

fn now() -> i64 {
    bluegreen::clock::now_millis()
}

fn record(name: &str, token: &str, expires: i64) -> LockRecord {
    LockRecord {
        holder: Operator::new(name, "host").expect("valid"),
        hold: Hold::Driver,
        purpose: "release r1".into(),
        reason: None,
        since: now(),
        renewed: now(),
        expires,
        token: token.into(),
        taken_over_from: None,
        handed_over_from: None,
    }
}

async fn console(env: &Stack, name: &str) -> Ops {
    let p: Arc<dyn Platform> = Arc::new(env.adapter().await);
    Ops::new(p, Access::default()).with_operator(Operator::new(name, "moto-host").expect("valid"))
}

#[tokio::test]
async fn two_consoles_the_second_is_refused_with_the_holder_and_rollback_takes_over() {
    let env = start().await;
    env.cli(&["--as", "alice", "--reason", "migration", "lock", "take"])
        .await
        .expect_code(exit::OK);
    let run = env.cli(&["--as", "bob", "shift", "--green", "10"]).await;
    run.expect_code(exit::REFUSED);
    for part in [
        "alice@",
        "\"migration\"",
        "Ask alice",
        "lock hand-over --to bob",
    ] {
        assert!(
            run.stderr.contains(part),
            "{part:?} missing:\n{}",
            run.stderr
        );
    }
    assert_eq!(env.prod_modifies(), 0, "the refused shift wrote nothing");
    assert_eq!(env.topo.weights().await.expect("weights"), (100, 0));

    // Alice shifts; bob's rollback is never blocked and takes the lock over.
    env.cli(&["--as", "alice", "shift", "--green", "10"])
        .await
        .expect_code(exit::OK);
    let run = env.cli(&["--as", "bob", "rollback"]).await;
    run.expect_code(exit::OK);
    assert!(
        run.stdout.contains("deploy lock taken over from alice@"),
        "{}",
        run.stdout
    );
    assert_eq!(env.topo.weights().await.expect("weights"), (100, 0));
    let lock = env.cli(&["--as", "alice", "lock", "--json"]).await;
    lock.expect_code(exit::OK);
    let doc = lock.json();
    assert_eq!(doc["lock"]["holder"]["name"], "bob");
    assert_eq!(doc["lock"]["taken_over_from"]["name"], "alice");
    let human = env.cli(&["--as", "alice", "lock"]).await;
    assert!(
        human.stdout.starts_with("lock taken over by bob@"),
        "{}",
        human.stdout
    );
    // Bob lets go; a write by alice then takes and frees its own short lease.
    env.cli(&["--as", "bob", "lock", "release"])
        .await
        .expect_code(exit::OK);
    env.cli(&["--as", "alice", "shift", "--green", "10"])
        .await
        .expect_code(exit::OK);
    let doc = env.cli(&["lock", "--json"]).await.json();
    assert_eq!(doc["lock"], serde_json::Value::Null, "{doc}");
}

#[tokio::test]
async fn racing_clients_never_make_two_holders() {
    let env = start().await;
    // The conditional write itself: both saw no record, one wins.
    let (a, b) = (env.adapter().await, env.adapter().await);
    let (ra, rb) = (
        record("alice", "ta", now() + 60_000),
        record("bob", "tb", now() + 60_000),
    );
    let (sa, sb) = tokio::join!(a.lock_swap(None, Some(&ra)), b.lock_swap(None, Some(&rb)));
    let answers = [sa.expect("a"), sb.expect("b")];
    assert_eq!(
        answers.iter().filter(|s| **s == LockSwap::Swapped).count(),
        1,
        "{answers:?}"
    );
    assert!(answers.contains(&LockSwap::Conflict));
    let held = a.lock_read().await.expect("read").expect("held");
    // A stale token is a conflict, not a write; nor is a delete with it.
    assert_eq!(
        a.lock_swap(Some("stale"), Some(&ra)).await.expect("swap"),
        LockSwap::Conflict
    );
    assert_eq!(
        a.lock_swap(Some("stale"), None).await.expect("delete"),
        LockSwap::Conflict
    );
    assert_eq!(a.lock_read().await.expect("read"), Some(held.clone()));
    assert_eq!(
        a.lock_swap(Some(&held.token), None).await.expect("delete"),
        LockSwap::Swapped
    );

    // Eight consoles take it at once through the command layer: one holder, the rest refused
    // naming it (after re-reading on their conflicts).
    let mut consoles = Vec::new();
    for i in 0..8 {
        consoles.push(console(&env, &format!("op{i}")).await);
    }
    let tasks: Vec<_> = consoles
        .iter()
        .cloned()
        .map(|c| tokio::spawn(async move { c.lock_take(3_600_000).await }))
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("task"));
    }
    let winners: Vec<&str> = results
        .iter()
        .zip(&consoles)
        .filter(|(r, _)| r.is_ok())
        .map(|(_, c)| c.operator().name.as_str())
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(
                matches!(e, OpError::Refused(_)) && e.to_string().contains(winners[0]),
                "{e}"
            );
        }
    }
    let held = a.lock_read().await.expect("read").expect("held");
    assert_eq!(held.holder.name, winners[0]);
}

#[tokio::test]
async fn throttles_are_retried_and_a_lasting_one_refuses_writes_but_not_rollback() {
    let env = start().await;
    env.proxy.inject("PutItem", Fault::Throttle, Some(2));
    env.proxy.inject("GetItem", Fault::Throttle, Some(1));
    env.cli(&["--as", "alice", "--reason", "r", "lock", "take"])
        .await
        .expect_code(exit::OK);
    // Three for the lock (two throttled, retried), one for `lock take`'s journal entry.
    assert_eq!(env.proxy.attempts("PutItem"), (4, 2));
    assert_eq!(env.proxy.attempts("GetItem"), (2, 1));
    env.cli(&["--as", "alice", "lock", "release"])
        .await
        .expect_code(exit::OK);

    env.proxy.heal();
    env.proxy.inject("GetItem", Fault::Throttle, None);
    env.proxy.reset_log();
    let run = env.cli(&["--as", "alice", "shift", "--green", "10"]).await;
    run.expect_code(exit::PLATFORM);
    assert!(
        run.stderr
            .contains("dynamodb:GetItem on blog-locks failed (throttled)"),
        "{}",
        run.stderr
    );
    assert_eq!(env.prod_modifies(), 0, "no weight change without the lock");
    let run = env.cli(&["--as", "alice", "rollback"]).await;
    run.expect_code(exit::OK);
    assert!(
        run.stdout
            .contains("the rollback went ahead without the deploy lock"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn an_ended_driver_lease_is_taken_by_another_engineers_resume() {
    let env = start().await;
    let alice = console(&env, "alice").await;
    let bob = console(&env, "bob").await;
    alice.lock_drive("r1", 20_000).await.expect("drive");
    assert!(matches!(
        bob.lock_drive("r1", 20_000).await,
        Err(OpError::Refused(_))
    ));
    // Alice's laptop closed: her last renewal ends (written as it would stand then).
    let p = env.adapter().await;
    let held = p.lock_read().await.expect("read").expect("held");
    let mut ended = held.clone();
    ended.expires = now() - MAX_SKEW_MS - 1;
    ended.since = ended.expires - 60_000;
    ended.renewed = ended.since;
    ended.token = "ended".into();
    assert_eq!(
        p.lock_swap(Some(&held.token), Some(&ended))
            .await
            .expect("swap"),
        LockSwap::Swapped
    );
    let status = env.cli(&["status"]).await;
    assert!(
        status
            .stdout
            .contains("release r1 driven by alice@moto-host, lease expired at"),
        "{}",
        status.stdout
    );
    let took = bob.lock_drive("r1", 20_000).await.expect("resume takes it");
    assert_eq!(took.expired.map(|r| r.holder.name), Some("alice".into()));
    let now_held = p.lock_read().await.expect("read").expect("held");
    assert_eq!(
        (now_held.holder.name.as_str(), now_held.hold),
        ("bob", Hold::Driver)
    );
}

#[tokio::test]
async fn a_profile_without_a_lock_table_refuses_writes_and_says_how_to_add_it() {
    let env = start().await;
    let text = env
        .topo
        .profile_toml("moto", false)
        .replace("lock_table = \"blog-locks\"\n", "");
    std::fs::write(&env.config, text).expect("config");
    let run = env.cli(&["shift", "--green", "10"]).await;
    run.expect_code(exit::REFUSED);
    assert!(
        run.stderr.contains("has no `lock_table`") && run.stderr.contains("init --from-terraform"),
        "{}",
        run.stderr
    );
    env.cli(&["rollback"]).await.expect_code(exit::OK);
}

/// The lock's cost per write, against moto on loopback: printed, never asserted.
#[tokio::test]
#[ignore = "benchmark: prints figures"]
async fn aws_lock_figures() {
    const ROUNDS: u32 = 20;
    let env = start().await;
    let ops = console(&env, "alice").await;
    let p = ops.platform().clone();
    let before = p.api_calls();
    let t = Instant::now();
    for _ in 0..ROUNDS {
        ops.scale(bluegreen::rollout::Color::Green, 2)
            .await
            .expect("scale");
    }
    let with_lock = t.elapsed() / ROUNDS;
    let calls = (p.api_calls() - before) / u64::from(ROUNDS);
    let t = Instant::now();
    for _ in 0..ROUNDS {
        p.scale(bluegreen::rollout::Color::Green, 2)
            .await
            .expect("scale");
    }
    let bare = t.elapsed() / ROUNDS;
    let t = Instant::now();
    for _ in 0..ROUNDS {
        let g = ops
            .apply_lock(bluegreen::rollout::lock::Intent::Write {
                verb: "x",
                release: None,
            })
            .await
            .expect("lock");
        let token = g.record.expect("held").token;
        p.lock_swap(Some(&token), None).await.expect("free");
    }
    let lock_only = t.elapsed() / ROUNDS;
    println!(
        "deploy lock per write (moto, loopback, {ROUNDS} rounds): {calls} API calls per scale with the lock (bare scale: 1); scale with lock {with_lock:?}, bare {bare:?}, lock take+free alone {lock_only:?} (GetItem + PutItem + DeleteItem)"
    );
}
