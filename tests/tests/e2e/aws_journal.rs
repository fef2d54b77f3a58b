//! The journal on AWS, against moto's DynamoDB: the CLI's writes land in the journal table
//! (one PutItem each) and `history` reads them back through Query; an entry is never
//! overwritten; `--since`, `--limit` and a release's entries select as they do locally; a
//! profile without `journal_table` warns and still writes.

use bluegreen::ops::{Access, Ops};
use bluegreen::platform::Platform;
use bluegreen::rollout::Operator;
use bluegreen::rollout::journal::{Entry, Outcome, Query, ReleaseRef};
use bluegreen_tests::aws::{Stack, TopologyOptions};

#[tokio::test]
async fn cli_writes_are_journaled_in_dynamodb_and_read_back_by_history() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    stack
        .cli(&[
            "--as", "frank", "--reason", "canary", "shift", "--green", "20",
        ])
        .await
        .expect_code(0);
    // One for the journal entry, one for the deploy lock the write took (and let go with a
    // DeleteItem).
    assert_eq!(
        (
            stack.proxy.attempts("PutItem").0,
            stack.proxy.attempts("DeleteItem").0
        ),
        (2, 1),
        "one journal PutItem per write, beside the lock's"
    );
    stack
        .cli(&["--as", "frank", "rollback"])
        .await
        .expect_code(0);
    let run = stack.cli(&["history", "--json"]).await;
    run.expect_code(0);
    let doc = run.json();
    let entries: Vec<Entry> = serde_json::from_value(doc["entries"].clone()).expect("entries");
    let verbs: Vec<&str> = entries.iter().map(|e| e.verb.as_str()).collect();
    assert_eq!(verbs, ["shift", "rollback"], "{doc:#}");
    assert_eq!(entries[0].operator.name, "frank");
    assert_eq!(entries[0].reason.as_deref(), Some("canary"));
    assert_eq!(entries[0].outcome, Outcome::Applied);
    assert_eq!(
        entries[0]
            .after
            .map(|w| w.get(bluegreen::rollout::Color::Green)),
        Some(200)
    );
    let human = stack.cli(&["history"]).await;
    human.expect_code(0);
    assert!(human.stdout.contains("frank@"), "{}", human.stdout);
}

#[tokio::test]
async fn entries_are_never_overwritten_and_queries_select_by_time_limit_and_release() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    let p = stack.adapter().await;
    let op = Operator::new("grace", "ci").expect("valid");
    let entry = |at: i64, verb: &str, release: Option<&str>| {
        let mut e = Entry::new(at, at as u64, op.clone(), verb);
        e.release = release.map(|id| ReleaseRef {
            id: id.into(),
            step: None,
        });
        e
    };
    for (at, verb, release) in [
        (1_000, "shift", None),
        (2_000, "release-start", Some("r2000")),
        (3_000, "release-end", Some("r2000")),
        (4_000, "scale", None),
    ] {
        p.journal_append(&entry(at, verb, release))
            .await
            .expect("append");
    }
    // The same id again is refused by the condition, not written over.
    let again = p.journal_append(&entry(1_000, "rollback", None)).await;
    assert!(again.is_err(), "an entry was overwritten");
    let read = |q: Query| {
        let p = &p;
        async move { p.journal_read(&q).await.expect("read").entries }
    };
    let all = read(Query::latest(100)).await;
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].verb, "shift", "the original stands");
    let since = read(Query {
        since: Some(2_500),
        ..Query::latest(100)
    })
    .await;
    assert_eq!(
        since.iter().map(|e| e.at).collect::<Vec<_>>(),
        [3_000, 4_000]
    );
    let newest = read(Query::latest(1)).await;
    assert_eq!(newest[0].verb, "scale");
    let release = read(Query {
        release: Some("r2000".into()),
        ..Query::latest(100)
    })
    .await;
    assert_eq!(release.len(), 2);
}

#[tokio::test]
async fn a_profile_without_a_journal_table_warns_once_and_still_writes() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    let toml = stack.topo.profile_toml("moto", false).replace(
        &format!("journal_table = \"{}\"\n", stack.topo.journal_table),
        "",
    );
    let p = stack.adapter_for(&toml).await.expect("adapter");
    let ops = Ops::new(std::sync::Arc::new(p), Access::default());
    ops.shift(
        bluegreen::rollout::Weights::with_green_percent(20).expect("valid"),
        false,
    )
    .await
    .expect("the shift stands");
    ops.rollback().await.expect("the rollback stands");
    let warnings = ops.take_journal_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("journal_table"), "{warnings:?}");
    let page = ops.history(&Query::latest(10)).await.expect("read");
    assert!(page.entries.is_empty());
    assert!(page.note.is_some_and(|n| n.contains("journal_table")));
}
