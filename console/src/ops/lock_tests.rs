//! The deploy lock through the verbs, on the fake platform: two consoles, one environment.

use std::sync::Arc;

use super::*;
use crate::platform::fake::{FakePlatform, Fault};
use crate::rollout::GuardRule;
use crate::rollout::lock::{Hold, MAX_SKEW_MS};

fn console(p: &Arc<FakePlatform>, name: &str, host: &str) -> Ops {
    Ops::new(p.clone(), Access::default())
        .with_operator(Operator::new(name, host).expect("valid"))
        .with_reason(Some(format!("{name}'s shift")))
}

fn split() -> Weights {
    Weights::percent(90, 10).expect("valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_takes_a_short_lease_and_lets_it_go() {
    let p = Arc::new(FakePlatform::blue_live(2));
    p.state().services.green.healthy = 2;
    p.state().services.green.desired = 2;
    console(&p, "alice", "laptop")
        .shift(split(), false)
        .await
        .expect("shift");
    assert_eq!(p.state().lock, None, "released after the write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_console_is_refused_with_the_holders_name() {
    let p = Arc::new(FakePlatform::blue_live(2));
    let alice = console(&p, "alice", "laptop");
    let bob = console(&p, "bob", "desk");
    let taken = alice.lock_take(3_600_000).await.expect("take");
    assert_eq!(taken.record.as_ref().map(|r| r.hold), Some(Hold::Explicit));
    let e = bob.scale(Color::Green, 2).await.expect_err("locked");
    assert_eq!(e.exit_code(), exit::REFUSED);
    let OpError::Refused(r) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(r.rule, GuardRule::Locked);
    for part in ["alice@laptop", "\"alice's shift\"", "Ask alice", "--to bob"] {
        assert!(r.reason.contains(part), "{part:?} missing: {r}");
    }
    assert_eq!(p.state().services.green.desired, 0, "nothing changed");
    // Alice writes from her second terminal; the lock stays hers.
    console(&p, "alice", "jump-host")
        .scale(Color::Green, 2)
        .await
        .expect("same person");
    assert_eq!(
        p.state().lock.as_ref().map(|r| r.holder.name.clone()),
        Some("alice".into())
    );
    // Handed over, bob writes and alice is refused.
    alice.lock_hand_over("bob").await.expect("hand over");
    bob.scale(Color::Green, 1).await.expect("bob's now");
    assert!(matches!(
        alice.scale(Color::Green, 2).await,
        Err(OpError::Refused(_))
    ));
    assert!(matches!(
        alice.lock_release(false).await,
        Err(OpError::Refused(_))
    ));
    let forced = alice.lock_release(true).await.expect("force");
    assert_eq!(forced.previous.map(|r| r.holder.name), Some("bob".into()));
    assert_eq!(p.state().lock, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_takes_the_lock_over_and_the_previous_console_says_so() {
    let p = Arc::new(FakePlatform::blue_live(2));
    p.state().services.green.healthy = 2;
    p.state().services.green.desired = 2;
    let alice = console(&p, "alice", "laptop");
    let bob = console(&p, "bob", "desk");
    alice.lock_take(3_600_000).await.expect("take");
    alice.shift(split(), false).await.expect("alice shifts");
    let report = bob.rollback().await.expect("never blocked");
    assert_eq!(p.state().listener.weights, Weights::all(Color::Blue));
    assert_eq!(
        report.taken_over_from.map(|r| r.holder.name),
        Some("alice".into())
    );
    let record = p.state().lock.clone().expect("held by bob");
    assert_eq!(record.hold, Hold::Rollback);
    // The journal says so too.
    let journal = p.state().journal.clone();
    let entry = journal
        .iter()
        .rev()
        .find(|e| e.verb == "rollback")
        .expect("the rollback's entry");
    assert!(
        entry
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("took the deploy lock over from alice@laptop")),
        "{entry:?}"
    );
    let header = alice.lock_header(Some(&record), now_millis());
    assert!(
        header.starts_with("lock taken over by bob@desk for a rollback"),
        "{header}"
    );
    // Alice's next write is refused, naming bob and the takeover.
    let e = alice.shift(split(), false).await.expect_err("bob holds it");
    assert!(
        e.to_string().contains("taken over from alice@laptop"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bake_finish_stops_once_a_rollback_took_the_lock_over() {
    let p = Arc::new(FakePlatform::blue_live(2));
    // A promote of blue bakes (green, the old color, is gone already): a rollback has
    // something to do, so it takes the lock over.
    p.state().listener.bake = Some(crate::rollout::Bake {
        old: Color::Green,
        until: 0,
        keep_old: false,
    });
    let alice = console(&p, "alice", "laptop");
    let bob = console(&p, "bob", "desk");
    // Alice's bake finish has taken the lock and read the listener; bob's rollback lands.
    let finishing = alice
        .lock("finish bake", "finish-bake", "")
        .await
        .expect("lock");
    bob.rollback().await.expect("rollback");
    let e = finishing
        .still_held("finish bake")
        .await
        .expect_err("taken over");
    assert!(e.to_string().contains("taken meanwhile by bob@desk"), "{e}");
    drop(finishing);
    assert_eq!(
        p.state().lock.as_ref().map(|r| r.holder.name.clone()),
        Some("bob".into()),
        "alice's release of her write lease did not delete bob's record"
    );
    // A whole bake finish from alice now refuses before any change.
    let e = alice.finish_bake().await.expect_err("refused");
    assert_eq!(e.exit_code(), exit::REFUSED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drivers_ended_lease_is_taken_by_resume() {
    let p = Arc::new(FakePlatform::blue_live(2));
    let alice = console(&p, "alice", "laptop");
    let bob = console(&p, "bob", "desk");
    alice.lock_drive("r1", 20_000).await.expect("drive");
    assert!(bob.lock_drive("r1", 20_000).await.is_err(), "still alive");
    // Alice's laptop closed: no renewal, the lease ends.
    let ended = {
        let mut s = p.state();
        let r = s.lock.as_mut().expect("held");
        r.expires = now_millis() - MAX_SKEW_MS - 1;
        r.clone()
    };
    assert!(
        lock::header(Some(&ended), bob.operator(), now_millis())
            .starts_with("release r1 driven by alice@laptop, lease expired at"),
    );
    let took = bob.lock_drive("r1", 20_000).await.expect("resume");
    assert_eq!(took.expired.map(|r| r.holder.name), Some("alice".into()));
    assert_eq!(
        p.state().lock.as_ref().map(|r| r.holder.name.clone()),
        Some("bob".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_is_stronger_than_the_lock_and_rollback_survives_a_broken_lock() {
    let p = Arc::new(FakePlatform::blue_live(2));
    let ro = Ops::new(
        p.clone(),
        Access {
            read_only: true,
            ..Access::default()
        },
    );
    let e = ro.lock_take(3_600_000).await.expect_err("read-only");
    assert!(
        matches!(&e, OpError::Refused(r) if r.rule == GuardRule::ReadOnly),
        "{e:?}"
    );
    assert!(
        ro.rollback().await.is_err(),
        "read-only refuses rollback too"
    );
    p.always(Fault::CallFails("lock-read"));
    let alice = console(&p, "alice", "laptop");
    let e = alice.scale(Color::Green, 1).await.expect_err("no lock");
    assert_eq!(e.exit_code(), exit::PLATFORM);
    p.state().listener.weights = split();
    p.state().services.green.desired = 2;
    let report = alice.rollback().await.expect("never blocked");
    assert!(
        report.warnings[0].starts_with("the rollback went ahead without the deploy lock"),
        "{:?}",
        report.warnings
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_another_engineers_lock_refuses_is_never_recorded() {
    let p = Arc::new(FakePlatform::blue_live(2));
    let alice = console(&p, "alice", "laptop");
    let bob = console(&p, "bob", "desk");
    bob.lock_take(3_600_000).await.expect("take");
    let e = alice
        .start_release(super::release_tests::spec(
            crate::rollout::plan::Plan::default_canary(),
        ))
        .await
        .expect_err("locked");
    let OpError::Refused(r) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(r.rule, GuardRule::Locked);
    assert!(r.reason.contains("Ask bob"), "{r}");
    assert_eq!(p.state().release, None, "nothing recorded");
    let last = p.state().journal.last().cloned().expect("journaled");
    assert_eq!(
        (last.verb.as_str(), last.operator.name.as_str()),
        ("release-start", "alice")
    );
    assert_eq!(last.outcome, crate::rollout::journal::Outcome::Refused);
    // Free again, her release takes the driver's lease from the start.
    bob.lock_release(false).await.expect("release");
    let started = alice
        .start_release(super::release_tests::spec(
            crate::rollout::plan::Plan::default_canary(),
        ))
        .await
        .expect("started");
    let lock = p.state().lock.clone().expect("held");
    assert_eq!(lock.hold, Hold::Driver);
    assert_eq!(lock.purpose, format!("release {}", started.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_that_changes_nothing_takes_no_lock_over() {
    let p = Arc::new(FakePlatform::blue_live(2));
    let alice = console(&p, "alice", "laptop");
    let bob = console(&p, "bob", "desk");
    alice.lock_take(3_600_000).await.expect("take");
    let writes = p.weight_writes();
    // Blue is stable with all traffic, no bake, no release: nothing to roll back.
    let report = bob.rollback().await.expect("nothing to do");
    assert!(report.unchanged, "{report:?}");
    assert_eq!(report.taken_over_from, None);
    assert_eq!(p.weight_writes(), writes, "nothing written");
    assert_eq!(
        p.state().lock.as_ref().map(|r| r.holder.name.clone()),
        Some("alice".into()),
        "alice keeps her lock"
    );
    // So bob cannot deploy by way of a rollback that did nothing.
    let e = bob.deploy("v2", None).await.expect_err("still alice's");
    assert_eq!(e.exit_code(), exit::REFUSED, "{e}");
    // A rollback with something to do still takes it over.
    p.state().services.green.healthy = 2;
    p.state().services.green.desired = 2;
    alice.shift(split(), false).await.expect("alice shifts");
    let report = bob.rollback().await.expect("rolled back");
    assert!(!report.unchanged);
    assert!(report.taken_over_from.is_some());
}
