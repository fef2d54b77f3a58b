//! The journal in the command layer, against the in-memory platform: one entry per write,
//! whatever its outcome; a failed append is a warning, never a failed write; a release
//! rolled back by a gate leaves evidence with the failing values.

use std::sync::Arc;

use super::*;
use crate::platform::fake::{FakePlatform, Fault};
use crate::rollout::journal::{Entry, Outcome, RELEASE_END, RELEASE_START};

fn ops(p: &Arc<FakePlatform>) -> Ops {
    Ops::new(p.clone(), Access::default())
        .with_operator(Operator::new("alice", "laptop").expect("valid"))
        .with_reason(Some("ticket 42".into()))
}

fn journal(p: &FakePlatform) -> Vec<Entry> {
    p.state().journal.clone()
}

fn verbs(p: &FakePlatform) -> Vec<String> {
    journal(p).into_iter().map(|e| e.verb).collect()
}

#[tokio::test]
async fn every_verb_writes_exactly_one_entry() {
    let p = Arc::new(FakePlatform::blue_live(2));
    let o = ops(&p);
    o.deploy("v2", None).await.expect("deploy");
    o.shift(Weights::with_green_percent(10).expect("valid"), false)
        .await
        .expect("shift");
    o.promote(PromoteOptions::default(), None)
        .await
        .expect("promote");
    o.rollback().await.expect("rollback");
    o.scale(Color::Green, 3).await.expect("scale");
    o.build(None).await.expect("build");
    assert_eq!(
        verbs(&p),
        ["deploy", "shift", "promote", "rollback", "scale", "build"]
    );
    let es = journal(&p);
    let shift = &es[1];
    assert_eq!(shift.operator.to_string(), "alice@laptop");
    assert_eq!(shift.reason.as_deref(), Some("ticket 42"));
    assert_eq!(shift.outcome, Outcome::Applied);
    assert_eq!(shift.before, Some(Weights::all(Color::Blue)));
    assert_eq!(shift.after, Weights::with_green_percent(10).ok());
    assert_eq!(es[3].after, Some(Weights::all(Color::Blue)));
    assert!(
        es.windows(2).all(|w| w[0].id < w[1].id),
        "ids are time-ordered"
    );
}

#[tokio::test]
async fn a_refused_write_is_journaled_as_refused_naming_the_rule() {
    let p = Arc::new(FakePlatform::blue_live(2));
    // Green has no task: the guard refuses traffic to it.
    let r = ops(&p)
        .shift(Weights::with_green_percent(10).expect("valid"), false)
        .await;
    assert!(matches!(r, Err(OpError::Refused(_))));
    let es = journal(&p);
    assert_eq!(es.len(), 1);
    assert_eq!(es[0].outcome, Outcome::Refused);
    assert!(es[0].message.as_deref().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn a_weight_change_not_applied_or_unknown_is_journaled_so() {
    let p = Arc::new(FakePlatform::blue_live(2));
    let o = ops(&p);
    o.deploy("v2", None).await.expect("deploy");
    p.inject(Fault::WeightNotApplied);
    let w = Weights::with_green_percent(10).expect("valid");
    assert!(o.shift(w, false).await.is_err());
    p.inject(Fault::ReadBackFails);
    assert!(o.shift(w, false).await.is_err());
    let es = journal(&p);
    assert_eq!(es[1].outcome, Outcome::NotApplied);
    assert_eq!(es[2].outcome, Outcome::Unknown);
    assert_eq!(es[2].after, None);
}

#[tokio::test]
async fn a_failed_append_is_a_warning_and_the_write_stands() {
    let p = Arc::new(FakePlatform::blue_live(2));
    let o = ops(&p);
    o.deploy("v2", None).await.expect("deploy");
    p.state().journal_fails = true;
    let w = Weights::with_green_percent(10).expect("valid");
    let change = o.shift(w, false).await.expect("the shift itself succeeds");
    assert_eq!(change.observed, Some(w));
    assert_eq!(p.state().listener.weights, w);
    let warnings = o.take_journal_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("shift went ahead"), "{warnings:?}");
    assert!(
        o.take_journal_warnings().is_empty(),
        "each warning is shown once"
    );
}

/// When the deploy lock cannot be read, the write does not run; if its journal entry cannot
/// be written either (one table down, or both), the warning must not claim it went ahead.
#[tokio::test]
async fn a_write_the_lock_could_not_be_read_for_is_never_said_to_have_gone_ahead() {
    let p = Arc::new(FakePlatform::blue_live(2));
    let o = ops(&p);
    p.state().journal_fails = true;
    p.inject(Fault::CallFails("lock-read"));
    assert!(o.scale(Color::Green, 1).await.is_err(), "no lock, no scale");
    let warnings = o.take_journal_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("the scale did not go ahead (failed)"),
        "{warnings:?}"
    );
    assert!(!warnings[0].contains("went ahead,"), "{warnings:?}");
}

#[tokio::test]
async fn read_only_refusals_write_nothing_not_even_the_journal() {
    let p = Arc::new(FakePlatform::blue_live(2));
    let o = Ops::new(
        p.clone(),
        Access {
            read_only: true,
            ..Access::default()
        },
    );
    assert!(o.rollback().await.is_err());
    assert!(journal(&p).is_empty());
}

#[tokio::test]
async fn a_release_rolled_back_by_a_gate_leaves_evidence_with_the_failing_values() {
    let p = Arc::new(FakePlatform::blue_live(2));
    p.state().metrics = Some(super::release_tests::metrics((500, 0), (500, 150)));
    let o = ops(&p);
    // 1,000 requests split 90/10 by the fake: 100 reach the canary, 30 of them fail.
    let spec = super::release_tests::spec(super::release_tests::plan(&[10], 0));
    let r = o.start_release(spec).await.expect("start");
    let r = o
        .drive_release(r, &super::release::Quiet, false)
        .await
        .expect("driven");
    assert_eq!(
        verbs(&p),
        [
            RELEASE_START,
            "deploy",
            "shift",
            "release-step",
            "rollback",
            RELEASE_END
        ]
    );
    let (ev, _) = o.evidence(&r.id).await.expect("read");
    let ev = ev.expect("evidence");
    assert!(
        ev.outcome
            .as_deref()
            .is_some_and(|o| o.starts_with("rolled back"))
    );
    assert_eq!(ev.failed[0].measured, "30% (30/100)");
    let i = &ev.intervals[0];
    assert_eq!(i.step, Some(0));
    assert_eq!(i.interval.green.map(|g| g.errors_5xx), Some(30));
    assert_eq!(i.interval.weights, Weights::with_green_percent(10).ok());
    assert!(ev.timeline.iter().all(|a| a.operator.name == "alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_verbs_and_a_write_the_lock_refused_are_journaled() {
    let p = Arc::new(FakePlatform::blue_live(2));
    let alice = ops(&p);
    let bob = Ops::new(p.clone(), Access::default())
        .with_operator(Operator::new("bob", "desk").expect("valid"));
    alice.lock_take(3_600_000).await.expect("take");
    // Bob's write never starts: the lock refuses it, and the journal says who tried what.
    bob.scale(Color::Green, 2).await.expect_err("locked");
    // Bob clears alice's lock by force: the entry names whose lock it cleared.
    bob.lock_release(true).await.expect("forced");
    assert_eq!(verbs(&p), ["lock-take", "scale", "lock-release"]);
    let es = journal(&p);
    assert_eq!(es[0].operator.name, "alice");
    assert_eq!(es[0].reason.as_deref(), Some("ticket 42"));
    assert!(
        es[0]
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("held by alice@laptop")),
        "{:?}",
        es[0].detail
    );
    assert_eq!(es[1].operator.name, "bob");
    assert_eq!(es[1].outcome, Outcome::Refused);
    assert_eq!(
        es[1].detail.as_deref(),
        Some("green to 2"),
        "what was tried"
    );
    assert!(
        es[1]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("alice@laptop")),
        "{:?}",
        es[1].message
    );
    assert_eq!(es[2].outcome, Outcome::Applied);
    let detail = es[2].detail.as_deref().unwrap_or_default();
    assert!(detail.starts_with("--force"), "{detail}");
    assert!(
        detail.contains("cleared the lock of alice@laptop"),
        "{detail}"
    );
    assert_eq!(p.state().services.green.desired, 0, "nothing changed");
}
