//! Waiting for the right thing, on the local platform: `wait --healthy` (and `deploy --wait`)
//! answers for the deployed revision, not for the old release's tasks; the first deploy of an
//! empty platform goes where the weight is and becomes stable; output into a closed pipe ends
//! quietly.

use std::process::{Command, Stdio};
use std::time::Duration;

use bluegreen::ops::WaitFor;
use bluegreen::platform::http::HttpClient;
use bluegreen::rollout::{Color, Weights};
use bluegreen_tests::bins::bin;
use bluegreen_tests::local::{LocalPlatform, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_waits_for_the_deployed_revision_not_the_old_tasks() {
    let p = LocalPlatform::start(&["v1", "v2", "v3"], &[]).await;
    p.first_release("v1", 2).await;
    p.ops.deploy("v2", None).await.expect("deploy v2");
    p.ops
        .wait(&WaitFor::Healthy(Color::Green), Duration::from_secs(60))
        .await
        .expect("v2 healthy");
    // Green runs v2 and is healthy; now v3 goes to the same (idle) color.
    let receipt = p.ops.deploy("v3", None).await.expect("deploy v3");
    assert_eq!(receipt.color, Color::Green);
    let snap = p
        .ops
        .wait(&WaitFor::Healthy(Color::Green), Duration::from_secs(60))
        .await
        .expect("v3 healthy");
    let green = snap.colors.get(Color::Green);
    let healthy: Vec<_> = green
        .targets
        .iter()
        .filter(|t| t.health == bluegreen::rollout::TargetHealth::Healthy)
        .collect();
    assert_eq!(healthy.len(), 2, "{:#?}", green.targets);
    for t in healthy {
        let task = green
            .tasks
            .iter()
            .find(|k| Some(&k.id) == t.task_id.as_ref())
            .expect("the target's task");
        assert_eq!(
            task.revision, green.service.revision,
            "a healthy target of an older revision when the wait answered: {:#?}",
            green.tasks
        );
    }
    // What the idle color serves, right after the wait, is v3 and only v3.
    let mut http = HttpClient::new(p.test);
    for _ in 0..20 {
        let resp = http.get("/health").await.expect("test listener");
        assert_eq!(resp.header("x-blog-version"), Some("v3"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_deploy_goes_where_the_weight_is_and_becomes_stable() {
    let p = LocalPlatform::start(&["v1"], &[]).await;
    let out = p.cli(&[
        "--json",
        "deploy",
        "--tag",
        "v1",
        "--wait",
        "--timeout",
        "60",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["deploy"]["color"], "blue", "blue holds the weight");
    let snap = p
        .ops
        .wait(&WaitFor::Stable(Color::Blue), Duration::from_secs(30))
        .await
        .expect("blue stable with all the traffic");
    assert_eq!(snap.listener.weights, Weights::all(Color::Blue));
    let mut http = HttpClient::new(p.production);
    let resp = http.get("/").await.expect("production");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-blog-version"), Some("v1"));
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    // No daemon runs here, so `local status` prints its "not running" line to stdout.
    let out = Command::new(bin("bluegreen"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .args(["local", "status"])
        .current_dir(dir.path())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run bluegreen");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(stderr.is_empty(), "quietly: {stderr}");
}
