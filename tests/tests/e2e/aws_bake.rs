//! The bake of a release on AWS, which the console drives: its gates are judged each interval
//! on the CloudWatch minutes that began after the promote's write only (the minute that
//! straddles it, and the ones before, hold the canary's requests at its last step's weight,
//! or its old revision's); a gate that fails on the bake's own minutes undoes the promote.

use std::sync::Arc;
use std::time::Duration;

use bluegreen::ops::{Access, Ops};
use bluegreen::platform::Platform;
use bluegreen::rollout::release::Stage;
use bluegreen::rollout::{Color, Gate, Outcome, Release};
use bluegreen_tests::aws::{Stack, TopologyOptions};

use super::aws_release::{next_minute, put, put_at, release};

fn now_ms() -> i64 {
    bluegreen::clock::now_millis()
}

/// A release of v2 to green at its promote, baking `bake_secs` (gates each second).
fn at_promote(bake_secs: u64) -> Release {
    let mut r = release(&[100], 1, &[]);
    r.stage = Stage::Promoting;
    r.options.bake_secs = bake_secs;
    r.options.keep_old = true;
    r
}

/// Drives `r` to its end (at most 150 s).
async fn drive(stack: &Stack, r: Release) -> Release {
    let platform: Arc<dyn Platform> = Arc::new(stack.adapter().await);
    platform.record_release(&r).await.expect("recorded");
    // moto serves no traffic: the bake's finish is accepted unmeasured, explicitly.
    let ops = Ops::new(platform.clone(), Access::default()).with_accept_unmeasured(true);
    tokio::time::timeout(
        Duration::from_secs(150),
        ops.drive_release(r, &bluegreen::ops::release::Quiet, false),
    )
    .await
    .expect("the release ends")
    .expect("driven")
}

#[tokio::test]
async fn errors_from_before_the_promote_never_undo_it() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    // Green's errors at its last step, in the minute before and the minute of the promote.
    put_at(&stack, Color::Blue, 1000.0, 0.0, now_ms() - 60_000).await;
    put_at(&stack, Color::Green, 100.0, 80.0, now_ms() - 60_000).await;
    put(&stack, Color::Green, 100.0, 80.0).await;
    let r = drive(&stack, at_promote(6)).await;
    assert_eq!(r.outcome, Some(Outcome::Released), "{:?}", r.gates);
    let errors = r
        .gates
        .iter()
        .find(|g| g.gate == Gate::Errors)
        .expect("the bake judged its errors gate");
    assert_eq!(
        errors.verdict,
        bluegreen::rollout::Verdict::Inconclusive,
        "{errors:?}"
    );
    assert_eq!(stack.topo.weights().await.expect("weights"), (0, 100));
}

#[tokio::test]
async fn errors_in_the_bakes_own_minutes_undo_the_promote() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    // The first minute that begins after the promote holds green's errors: readable once it
    // begins, well within the bake.
    let own = next_minute() + 1_000;
    put_at(&stack, Color::Blue, 10.0, 0.0, own).await;
    put_at(&stack, Color::Green, 1000.0, 200.0, own).await;
    let r = drive(&stack, at_promote(90)).await;
    let Some(Outcome::RolledBack { failed, .. }) = &r.outcome else {
        panic!("{:?} {:?}", r.outcome, r.gates)
    };
    assert_eq!(failed[0].gate, Gate::Errors, "{failed:?}");
    // Undone: blue, still running, has all the traffic again and is stable.
    assert_eq!(stack.topo.weights().await.expect("weights"), (100, 0));
    assert_eq!(
        stack
            .topo
            .tag("bluegreen:stable")
            .await
            .expect("tag")
            .as_deref(),
        Some("blue")
    );
}
