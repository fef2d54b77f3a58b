//! Figures for the AWS adapter against moto on loopback, printed, never asserted (run with
//! `cargo test -p bluegreen-tests --test e2e aws_bench:: -- --ignored --nocapture`): API calls and
//! time per full refresh (cold and warm), the CLI's `status` end to end, and a shift plus
//! rollback, each also as a ratio to one bare ModifyListener round trip.

use std::time::{Duration, Instant};

use bluegreen::platform::Platform;
use bluegreen_tests::aws::{Stack, TopologyOptions};

const ROUNDS: u32 = 20;

#[tokio::test]
#[ignore = "benchmark: prints figures"]
async fn aws_refresh_figures() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    let elb = env.topo.elb();
    let p = env.adapter().await;
    p.start_build(None).await.expect("a build to list");

    // One bare ModifyListener round trip (the unit of the ratios).
    let actions = elb
        .describe_listeners()
        .listener_arns(&env.topo.prod_listener)
        .send()
        .await
        .expect("describe")
        .listeners()[0]
        .default_actions()
        .to_vec();
    let t = Instant::now();
    for _ in 0..ROUNDS {
        elb.modify_listener()
            .listener_arn(&env.topo.prod_listener)
            .set_default_actions(Some(actions.clone()))
            .send()
            .await
            .expect("modify");
    }
    let unit = t.elapsed() / ROUNDS;

    let refresh = || async {
        let before = p.api_calls();
        let t = Instant::now();
        p.snapshot().await.expect("snapshot");
        p.builds(5).await.expect("builds");
        p.images().await.expect("images");
        (p.api_calls() - before, t.elapsed())
    };
    let (cold_calls, cold) = refresh().await;
    let mut warm = Duration::ZERO;
    let mut warm_calls = 0;
    for _ in 0..ROUNDS {
        let (c, d) = refresh().await;
        warm += d;
        warm_calls = c;
    }
    let warm = warm / ROUNDS;

    let t = Instant::now();
    for _ in 0..5 {
        env.cli(&["status"]).await.expect_code(0);
    }
    let status = t.elapsed() / 5;
    let t = Instant::now();
    for _ in 0..5 {
        env.cli(&["shift", "--green", "20"]).await.expect_code(0);
        env.cli(&["rollback"]).await.expect_code(0);
    }
    let pair = t.elapsed() / 5;

    let ratio = |d: Duration| d.as_secs_f64() / unit.as_secs_f64();
    println!("ModifyListener round trip:      {unit:?}");
    println!(
        "full refresh, cold:             {cold_calls} calls, {cold:?} ({:.1}x)",
        ratio(cold)
    );
    println!(
        "full refresh, warm:             {warm_calls} calls, {warm:?} ({:.1}x)",
        ratio(warm)
    );
    println!(
        "`bluegreen status` (process):   {status:?} ({:.1}x)",
        ratio(status)
    );
    println!(
        "`shift` + `rollback` (2 procs): {pair:?} ({:.1}x)",
        ratio(pair)
    );
}

/// The journal's cost on AWS: API calls and time per append (one conditional PutItem) and per
/// `history` read (Query), against moto on loopback. Printed, never asserted.
#[tokio::test]
#[ignore = "benchmark: prints figures"]
async fn aws_journal_figures() {
    use bluegreen::rollout::Operator;
    use bluegreen::rollout::journal::{Entry, Query};
    let env = Stack::start(TopologyOptions::default(), false).await;
    let p = env.adapter().await;
    let op = Operator::new("bench", "moto").expect("valid");
    let before = p.api_calls();
    let t = Instant::now();
    for i in 0..ROUNDS {
        let e = Entry::new(
            1_764_766_968_000 + i64::from(i),
            u64::from(i),
            op.clone(),
            "shift",
        );
        p.journal_append(&e).await.expect("append");
    }
    let append = t.elapsed() / ROUNDS;
    let append_calls = (p.api_calls() - before) as f64 / f64::from(ROUNDS);
    let before = p.api_calls();
    let t = Instant::now();
    let page = p.journal_read(&Query::latest(50)).await.expect("read");
    let read = t.elapsed();
    println!("journal append (PutItem):       {append_calls:.1} calls, {append:?} per entry");
    println!(
        "journal read of {} entries:     {} calls, {read:?}",
        page.entries.len(),
        p.api_calls() - before
    );
}
