//! Where a release lives on AWS and what happens when writing it fails: the record in the lock
//! table (a conditional PutItem), not in listener tags (ELB's 50 per resource, beside an
//! organisation's default tags); an older console's record in tags moved once; a record
//! write that keeps failing mid-release pauses the release with traffic where it is, saying
//! where and what fixes it; and a view's snapshot that keeps what it read when one call fails.

use std::sync::Arc;
use std::sync::Mutex;

use bluegreen::ops::{Access, Note, Observer, Ops};
use bluegreen::platform::Platform;
use bluegreen::rollout::Release;
use bluegreen::rollout::release::Stage;
use bluegreen_tests::aws::{AwsLike, Fault, Stack, TopologyOptions};

use super::aws_release::release;

/// Only the tags rule of [`AwsLike`]: ELB's 50 tags per resource.
fn elb_tags_only() -> AwsLike {
    AwsLike {
        metrics_delay: None,
        elb_tags: true,
        elb_describe_bucket: None,
        filter_log_events_bucket: None,
    }
}

/// An organisation's `default_tags` on the production listener: `n` of them.
async fn default_tags(stack: &Stack, n: usize) {
    for i in 0..n {
        stack
            .topo
            .set_tag(&format!("org:tag-{i:02}"), "a value the organisation sets")
            .await
            .expect("org tag");
    }
}

#[tokio::test]
async fn a_release_beside_45_organisation_tags_is_recorded_in_the_table_not_the_listener() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    stack
        .proxy
        .aws_like(elb_tags_only())
        .await
        .expect("aws-like");
    // 45 of ELB's 50: an older console's ~30 chunk tags could never fit beside them.
    default_tags(&stack, 45).await;
    // The listener's own small tags still fit: a shift writes `bluegreen:weights`.
    stack
        .cli(&["shift", "--green", "10", "--force"])
        .await
        .expect_code(0);
    let platform = stack.adapter().await;
    let r = release(&[100, 500], 60, &[]);
    platform.record_release(&r).await.expect("recorded");
    let back = platform.release().await.expect("read").expect("recorded");
    assert_eq!(back.id, r.id);
    let tags = stack.topo.listener_tags().await.expect("tags");
    assert!(tags.len() <= 50, "{}", tags.len());
    assert!(
        tags.iter().any(|(k, _)| k == "bluegreen:weights"),
        "{tags:?}"
    );
    assert!(
        tags.iter()
            .all(|(k, _)| !k.starts_with("bluegreen:release")),
        "{tags:?}"
    );
}

#[tokio::test]
async fn a_running_release_is_never_overwritten_by_another() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    let platform = stack.adapter().await;
    let first = release(&[100], 60, &[]);
    platform.record_release(&first).await.expect("recorded");
    let mut second = release(&[100], 60, &[]);
    second.id = format!("{}-other", first.id);
    let e = platform
        .record_release(&second)
        .await
        .expect_err("a second running release is refused");
    // The refusal is the pure rule's (`check_record`), naming the release that runs.
    let text = e.to_string();
    assert!(
        text.contains(&format!("release {} of v2 is still running", first.id)),
        "{text}"
    );
    assert!(text.contains("a second release is not accepted"), "{text}");
    // Once the first has ended, a new one replaces it; the ended one never comes back.
    let mut ended = first.clone();
    ended.outcome = Some(bluegreen::rollout::Outcome::Released);
    ended.stage = Stage::Done;
    platform.record_release(&ended).await.expect("ended");
    platform
        .record_release(&first)
        .await
        .expect_err("an ended release is not brought back to life");
    platform.record_release(&second).await.expect("replaces it");
    assert_eq!(
        platform.release().await.expect("read").map(|r| r.id),
        Some(second.id)
    );
}

/// A driver that had not seen the abort another console recorded (a stale driver: a laptop
/// that slept through it) can neither write its release back to running nor take a step: the
/// record's conditional write is the pure rule's (`check_record`), and it says why.
#[tokio::test]
async fn a_stale_driver_cannot_reopen_a_release_an_abort_ended() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    let driver: Arc<dyn Platform> = Arc::new(stack.adapter().await);
    let stale = release(&[100], 60, &[]);
    driver.record_release(&stale).await.expect("recorded");
    // Another console aborts it.
    let other: Arc<dyn Platform> = Arc::new(stack.adapter().await);
    let bob = bluegreen::rollout::Operator::new("bob", "laptop").expect("operator");
    Ops::new(other.clone(), Access::default())
        .with_operator(bob)
        .request_release(bluegreen::rollout::release::Request::Abort, "bob")
        .await
        .expect("aborted");
    let e = driver
        .record_release(&stale)
        .await
        .expect_err("an ended release is not written back to running");
    let text = e.to_string();
    assert!(text.contains("ended meanwhile"), "{text}");
    assert!(text.contains("takes no further step"), "{text}");
    let recorded = other.release().await.expect("read").expect("recorded");
    assert!(
        matches!(
            recorded.outcome,
            Some(bluegreen::rollout::Outcome::Aborted { .. })
        ),
        "{:?}",
        recorded.outcome
    );
    // Driven on from its stale copy, it stops without touching the listener.
    let before = stack.prod_modifies();
    let ended = Ops::new(driver.clone(), Access::default())
        .with_accept_unmeasured(true)
        .drive_release(stale, &bluegreen::ops::release::Quiet, false)
        .await
        .expect("driven");
    assert!(
        matches!(
            ended.outcome,
            Some(bluegreen::rollout::Outcome::Aborted { .. })
        ),
        "{:?}",
        ended.outcome
    );
    assert_eq!(stack.prod_modifies(), before);
    assert_eq!(stack.topo.weights().await.expect("weights"), (100, 0));
}

#[tokio::test]
async fn an_older_consoles_record_in_listener_tags_is_moved_once() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    let r = release(&[100], 60, &[]);
    // What an older console wrote: base64 JSON in 256-character chunks, and the count.
    let json = serde_json::to_vec(&r).expect("json");
    let text = aws_smithy_types::base64::encode(json);
    let chunks: Vec<&str> = text
        .as_bytes()
        .chunks(256)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    for (i, c) in chunks.iter().enumerate() {
        stack
            .topo
            .set_tag(&format!("bluegreen:release:{i}"), c)
            .await
            .expect("chunk");
    }
    stack
        .topo
        .set_tag("bluegreen:release:n", &chunks.len().to_string())
        .await
        .expect("count");
    let platform = stack.adapter().await;
    let read = platform.release().await.expect("read").expect("moved");
    assert_eq!(read, r);
    let tags = stack.topo.listener_tags().await.expect("tags");
    assert!(
        tags.iter()
            .all(|(k, _)| !k.starts_with("bluegreen:release")),
        "the chunk tags are removed: {tags:?}"
    );
    // Another console reads it from the table.
    let other = stack.adapter().await;
    assert_eq!(other.release().await.expect("read"), Some(r));
}

/// Every note the driver makes.
#[derive(Default)]
struct Notes(Mutex<Vec<String>>);

impl Observer for Notes {
    fn note(&self, _: &Release, note: &Note) {
        self.0.lock().expect("notes").push(format!("{note:?}"));
    }
}

#[tokio::test]
async fn a_record_write_that_keeps_failing_mid_release_pauses_it_where_traffic_is() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    let platform: Arc<dyn Platform> = Arc::new(stack.adapter().await);
    let mut r = release(&[100, 500], 30, &[]);
    r.plan.on_inconclusive = bluegreen::rollout::plan::OnInconclusive::Proceed;
    platform.record_release(&r).await.expect("recorded");
    // The step's first record goes through; from then on every write of the record fails,
    // through the SDK's retries and the driver's, for a while (DynamoDB trouble).
    stack
        .proxy
        .inject_where("PutItem", "release#", 1, Fault::ServerError, Some(20));
    let ops = Ops::new(platform.clone(), Access::default()).with_accept_unmeasured(true);
    let notes = Notes::default();
    let driven = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        ops.drive_release(r, &notes, true),
    )
    .await
    .expect("the driver stops at the pause")
    .expect("a pause, not an error with traffic split");
    let Stage::Paused { reason, .. } = &driven.stage else {
        panic!("{:?}", driven.stage)
    };
    assert_eq!(driven.outcome, None);
    for needle in [
        "could not be written",
        "traffic is at",
        "bluegreen resume",
        "bluegreen abort",
        "bluegreen rollback",
    ] {
        assert!(reason.contains(needle), "{needle}: {reason}");
    }
    // The output said so while it held, and the weights are where the step put them.
    let said = notes.0.lock().expect("notes").join("\n");
    assert!(said.contains("could not be written"), "{said}");
    assert_eq!(stack.topo.weights().await.expect("weights"), (90, 10));
    // `status` (another console) reads the paused release and its reason from the table.
    let status = stack.cli(&["status"]).await;
    assert!(
        status.stdout.contains("bluegreen resume"),
        "{}\n{}",
        status.stdout,
        status.stderr
    );
}

#[tokio::test]
async fn a_views_snapshot_keeps_what_it_read_when_one_call_fails() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    let platform = stack.adapter().await;
    let first = platform.snapshot_keeping().await.expect("first snapshot");
    assert!(first.stale.is_empty());
    stack
        .proxy
        .inject("DescribeTasks", Fault::ServerError, None);
    let kept = platform.snapshot_keeping().await.expect("kept");
    assert_eq!(kept.listener.weights, first.listener.weights);
    assert_eq!(
        kept.colors.blue.targets.len(),
        first.colors.blue.targets.len()
    );
    assert_eq!(kept.colors.green.tasks, first.colors.green.tasks);
    assert_eq!(kept.stale.len(), 1, "{:?}", kept.stale);
    assert!(kept.stale[0].starts_with("tasks ("), "{:?}", kept.stale);
    // A decision never rests on what is stale.
    platform
        .snapshot()
        .await
        .expect_err("the guards' snapshot fails");
}
