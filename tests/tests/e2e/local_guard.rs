//! The guard on the local platform (issue 28): the daemon watches every canary with traffic
//! and every bake, whoever moved the weights and whether or not a CLI or a console is still
//! open. Real processes behind the real proxy, under load; the guard's settings come from a
//! `bluegreen.toml` beside the state directory, which every CLI call here reads (its profile
//! is handed to the daemon), as a user's would be.

use std::time::{Duration, Instant};

use bluegreen::rollout::journal::Query;
use bluegreen::rollout::{Color, Weights};
use bluegreen_tests::local::{Load, LocalPlatform, text};

/// `[profiles.dev]` on the local platform with `guard`'s lines, beside the state directory.
fn profile(p: &LocalPlatform, guard: &str, probe: &str) {
    let dir = p.state.parent().expect("a parent");
    let toml = format!(
        "[profiles.dev]\nplatform = \"local\"\n[profiles.dev.guard]\n{guard}\n[profiles.dev.probe]\n{probe}\n"
    );
    std::fs::write(dir.join("bluegreen.toml"), toml).expect("write bluegreen.toml");
}

fn ok(p: &LocalPlatform, args: &[&str]) -> String {
    let out = p.cli(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits (at most `limit`) until the listener shows `weights`; how long it took.
async fn weights_become(p: &LocalPlatform, weights: Weights, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let l = p.platform.listener().await.expect("listener");
        if l.weights == weights {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "weights still {} after {limit:?}; guard: {:#?}",
            l.weights,
            l.guard
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The journal's entries of `verb`, once there are at least `n` (at most 10 s: the guard's
/// entry is appended right after its weights are in force).
async fn entries_at_least(
    p: &LocalPlatform,
    verb: &str,
    n: usize,
) -> Vec<bluegreen::rollout::journal::Entry> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = entries(p, verb).await;
        if found.len() >= n || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The journal's entries of `verb`.
async fn entries(p: &LocalPlatform, verb: &str) -> Vec<bluegreen::rollout::journal::Entry> {
    let page = p
        .platform
        .journal_read(&Query::latest(200))
        .await
        .expect("journal");
    page.entries
        .into_iter()
        .filter(|e| e.verb == verb)
        .collect()
}

fn green(pct: u8) -> Weights {
    Weights::with_green_percent(pct).expect("valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_canary_given_20_percent_by_hand_is_rolled_back_by_the_daemon() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    profile(&p, "interval = 1", "rate = 0");
    p.first_release("v1", 1).await;
    p.deploy_green("v2").await;
    let load = Load::start(p.production, 4, 1_000_000, Duration::from_secs(300));

    // The local fault injection: green answers 503 to everything the proxy sends it.
    ok(
        &p,
        &["local", "fault", "--color", "green", "--error-rate", "100"],
    );
    ok(&p, &["shift", "--green", "20"]);
    // The CLI has exited: the daemon alone watches.
    let took = weights_become(&p, Weights::all(Color::Blue), Duration::from_secs(30)).await;
    eprintln!("local_guard: fault on a 20% canary rolled back {took:?} after the shift returned");
    let rollbacks = entries_at_least(&p, "rollback", 1).await;
    let entry = rollbacks.last().expect("one rollback entry");
    let detail = entry.detail.clone().unwrap_or_default();
    assert!(
        detail.starts_with("rolled back by the guard: green (canary): errors fail:"),
        "{detail}"
    );
    assert!(
        detail.contains("against ≤ 1%"),
        "names the threshold: {detail}"
    );
    assert!(detail.contains("blue has all traffic"), "{detail}");
    assert!(entry.operator.name == "daemon", "{entry:?}");
    assert_eq!(rollbacks.len(), 1, "one entry: {rollbacks:?}");
    let status = ok(&p, &["status"]);
    assert!(status.contains("rolled back at"), "{status}");
    assert!(status.contains("errors fail"), "{status}");
    let (code, doc, out) = p.cli_json(&["status", "--json"]).await;
    assert_eq!(code, 0, "{out}");
    let action = &doc["guard"]["record"]["last_action"];
    assert_eq!(action["action"], "rolled back", "{doc:#}");
    assert_eq!(action["failed"][0]["gate"], "errors", "{doc:#}");
    ok(&p, &["local", "fault", "--clear"]);
    let report = load.stop().await;
    // Blue never failed: every failure is a canary's answer.
    assert!(
        report
            .bad_status
            .iter()
            .all(|(_, _, status, _)| *status >= 500),
        "{:?}",
        report.bad_status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promote_whose_new_stable_color_fails_during_the_bake_is_undone() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    profile(&p, "interval = 1", "rate = 0");
    p.first_release("v1", 1).await;
    p.deploy_green("v2").await;
    let load = Load::start(p.production, 4, 1_000_000, Duration::from_secs(300));
    // Blue serves a while first: its figures before the promote are the bake's baseline.
    tokio::time::sleep(Duration::from_secs(5)).await;
    ok(&p, &["promote", "--bake", "120"]);
    let l = p.platform.listener().await.expect("listener");
    assert_eq!(l.stable, Some(Color::Green));
    assert!(l.bake.is_some(), "the bake is pending");
    // Green serves well for a while: the guard watches and passes.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let l = p.platform.listener().await.expect("listener");
    assert_eq!(
        l.weights,
        Weights::all(Color::Green),
        "a good bake is left alone"
    );
    let rec = l.guard.expect("the guard's record");
    assert!(rec.summary().contains("the bake of green"), "{rec:#?}");
    assert!(
        rec.baseline.is_some(),
        "blue's figures before the promote: {rec:#?}"
    );
    // Then green starts failing.
    ok(
        &p,
        &["local", "fault", "--color", "green", "--error-rate", "100"],
    );
    weights_become(&p, Weights::all(Color::Blue), Duration::from_secs(30)).await;
    let l = p.platform.listener().await.expect("listener");
    assert_eq!(l.stable, Some(Color::Blue), "blue is stable again");
    assert_eq!(l.bake, None, "the promote is undone");
    let entry = entries(&p, "rollback")
        .await
        .pop()
        .expect("a rollback entry");
    let detail = entry.detail.unwrap_or_default();
    assert!(
        detail.starts_with(
            "rolled back by the guard: green during its bake, promote undone to blue: errors fail"
        ),
        "{detail}"
    );
    ok(&p, &["local", "fault", "--clear"]);
    let report = load.stop().await;
    assert!(report.requests > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warn_mode_and_an_unguarded_shift_write_nothing_and_say_so() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    profile(&p, "interval = 1", "rate = 0");
    p.first_release("v1", 1).await;
    p.deploy_green("v2").await;
    let load = Load::start(p.production, 2, 1_000_000, Duration::from_secs(300));
    ok(
        &p,
        &["local", "fault", "--color", "green", "--error-rate", "100"],
    );

    // Unguarded: needs a reason; with one, the guard leaves the weights alone.
    let out = p.cli(&["shift", "--green", "20", "--unguarded"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("needs a reason"), "{}", text(&out));
    ok(
        &p,
        &[
            "--reason",
            "load test of the canary",
            "shift",
            "--green",
            "20",
            "--unguarded",
        ],
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let l = p.platform.listener().await.expect("listener");
    assert_eq!(l.weights, green(20), "an unguarded shift is left alone");
    let status = ok(&p, &["status"]);
    assert!(status.contains("shifted unguarded by"), "{status}");
    assert!(status.contains("load test of the canary"), "{status}");
    let shift = entries(&p, "shift").await.pop().expect("the shift's entry");
    assert_eq!(shift.reason.as_deref(), Some("load test of the canary"));
    assert!(
        shift.detail.unwrap_or_default().contains("unguarded"),
        "journaled as unguarded"
    );

    // Warn: the guard says what it would do and writes nothing.
    profile(&p, "mode = \"warn\"\ninterval = 1", "rate = 0");
    ok(&p, &["shift", "--green", "30"]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let l = p.platform.listener().await.expect("listener");
    assert_eq!(l.weights, green(30), "warn mode never writes");
    assert!(entries(&p, "rollback").await.is_empty());
    let warnings = entries_at_least(&p, "guard-warn", 1).await;
    assert_eq!(
        warnings.len(),
        1,
        "one entry per failing episode: {warnings:?}"
    );
    let message = warnings[0].message.clone().unwrap_or_default();
    assert!(
        message.contains("mode = \"warn\": nothing written"),
        "{message}"
    );
    assert!(message.contains("errors fail"), "{message}");
    let status = ok(&p, &["status"]);
    assert!(status.contains("guard (warn, every 1 s)"), "{status}");
    assert!(status.contains("warned at"), "{status}");
    load.stop().await;
    ok(&p, &["local", "fault", "--clear"]);
    ok(&p, &["rollback"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_release_completes_with_the_probe_and_no_accept_unmeasured() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    // A debug build's latency on a handful of requests is noisy: the latency gate gets a
    // wider floor here, so what this test sees is the probe (the errors and health gates
    // judge as always).
    profile(
        &p,
        "interval = 1",
        "rate = 10\n[profiles.dev.gates]\np99_floor_ms = 1000",
    );
    p.first_release("v1", 1).await;
    // No load at all: the probe's requests are all the gates and the split get.
    let (code, doc, out) = p
        .cli_json(&[
            "release",
            "--tag",
            "v2",
            "--steps",
            "50",
            "--hold",
            "15s",
            "--interval",
            "1",
            "--bake",
            "30",
            "--json",
        ])
        .await;
    assert_eq!(code, 0, "released with the probe's requests: {out}");
    assert_eq!(doc["release"]["outcome"]["outcome"], "released", "{doc:#}");
    // The bake ends by itself once the requests since the promote show the split: the old
    // color is scaled in without --accept-unmeasured.
    let snap = p
        .wait_until(Duration::from_secs(90), "the bake ended", |s| {
            s.listener.bake.is_none()
        })
        .await;
    assert_eq!(
        (snap.listener.stable, snap.colors.blue.service.desired),
        (Some(Color::Green), 0),
        "the bake finished with blue scaled in; guard: {:#?}",
        snap.listener.guard
    );
    let status = ok(&p, &["status"]);
    assert!(status.contains("probe    "), "{status}");
    // The record is at most one interval old, and the probe looks again twice a second.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, doc, _) = p.cli_json(&["status", "--json"]).await;
    let sent = doc["guard"]["record"]["probe_sent"].as_u64().unwrap_or(0);
    assert!(sent >= 100, "the probe sent {sent} requests: {doc:#}");
    // At rest the probe stops.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, doc, _) = p.cli_json(&["status", "--json"]).await;
    let later = doc["guard"]["record"]["probe_sent"].as_u64().unwrap_or(0);
    assert!(
        later <= sent + 2,
        "the probe stopped at rest: {sent} then {later}"
    );
}
