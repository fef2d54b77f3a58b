//! The `bluegreen` CLI against the seed's topology in moto: one moto server per test.

use bluegreen::ops::exit;
use bluegreen::rollout::{Color, PerColor};
use std::time::Duration;

use bluegreen::platform::aws::{TAG_BAKE_OLD, TAG_BAKE_UNTIL, TAG_STABLE};
use bluegreen_tests::aws::{Stack, TopologyOptions, cli, run_cli};

/// Runs `promote --bake BAKE` in the background until the listener shows 0/100 and the bake
/// is tagged, then kills it: a console that quit mid-bake.
async fn interrupted_promote(env: &Stack, bake: &str) {
    let mut child = cli::command(&env.config, &env.env(), &["promote", "--bake", bake])
        .spawn()
        .expect("spawn promote");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let flipped = env.topo.weights().await.expect("weights") == (0, 100);
        let tagged = env.topo.tag(TAG_BAKE_OLD).await.expect("tags").is_some();
        if flipped && tagged {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("promote exited early with {status}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "promote did not flip the listener"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().await.expect("kill promote");
}

#[tokio::test]
async fn status_shows_what_the_harness_built() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    let run = env.cli(&["status", "--json"]).await;
    run.expect_code(exit::OK);
    let doc = run.json();
    let snap = &doc["snapshot"];
    assert_eq!(
        snap["listener"]["weights"],
        serde_json::json!({"blue": 100, "green": 0})
    );
    assert_eq!(snap["listener"]["stable"], "blue");
    assert_eq!(snap["listener"]["test_color"], "green");
    assert_eq!(doc["derived"]["live"], "blue");
    assert_eq!(doc["derived"]["idle"], "green");
    for color in Color::ALL {
        let c = &snap["colors"][color.as_str()];
        assert_eq!(c["service"]["name"], env.topo.services.get(color).as_str());
        assert_eq!(c["service"]["desired"], 2);
        assert_eq!(c["service"]["task_definition"], format!("blog-{color}:1"));
        assert_eq!(c["service"]["image"]["tag"], "v1");
        let tasks: Vec<&str> = c["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .map(|t| t["id"].as_str().expect("id"))
            .collect();
        let mut want: Vec<&str> = env
            .topo
            .tasks
            .get(color)
            .iter()
            .map(String::as_str)
            .collect();
        let mut got = tasks.clone();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{color} tasks");
        let targets = c["targets"].as_array().expect("targets");
        assert_eq!(targets.len(), 2);
        assert!(
            targets
                .iter()
                .all(|t| t["health"] == "healthy" && t["task_id"].is_string()),
            "{targets:?}"
        );
    }
    let images = doc["images"].as_array().expect("images");
    assert_eq!(images.len(), 2);
    let tags: Vec<&str> = images
        .iter()
        .filter_map(|i| i["image"]["tags"][0].as_str())
        .collect();
    assert!(tags.contains(&"v1") && tags.contains(&"v2"), "{tags:?}");
    for (tag, digest) in &env.topo.digests {
        assert!(
            images
                .iter()
                .any(|i| i["image"]["digest"] == digest.as_str()),
            "{tag} {digest}"
        );
    }
    let refresh = doc["api_calls"]["refresh"].as_u64().expect("count");
    assert!(refresh <= 12, "a full refresh cost {refresh} calls");

    let human = env.cli(&["status", "--verbose"]).await;
    human.expect_code(exit::OK);
    assert!(
        human
            .stdout
            .contains("traffic  blue 100 / green 0 · at rest: blue live, green idle · stable blue"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("api calls: "), "{}", human.stdout);

    // --region is honoured: moto keeps regions apart, so nothing is found in another one.
    let run = env.cli(&["--region", "eu-west-1", "status"]).await;
    run.expect_code(exit::FAILURE);
    assert!(run.stderr.contains("failed (not found)"), "{}", run.stderr);
}

#[tokio::test]
async fn shift_then_rollback_with_one_modify_listener() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    assert_eq!(
        env.topo.stickiness().await.expect("stickiness"),
        Some((true, 300))
    );
    let run = env.cli(&["shift", "--green", "20"]).await;
    run.expect_code(exit::OK);
    assert!(
        run.stdout.contains("shifted: blue 80 / green 20 applied"),
        "{}",
        run.stdout
    );
    assert_eq!(env.topo.weights().await.expect("weights"), (80, 20));
    assert_eq!(
        env.topo.stickiness().await.expect("stickiness"),
        Some((true, 300)),
        "the shift kept the listener's stickiness"
    );

    let doc = env.cli(&["status", "--json"]).await.json();
    assert_eq!(doc["derived"]["shift_in_progress"], true);
    assert_eq!(doc["derived"]["canary"], "green");
    assert_eq!(doc["derived"]["stable"], "blue");

    env.proxy.reset_log();
    let run = env.cli(&["rollback"]).await;
    run.expect_code(exit::OK);
    assert!(
        run.stdout
            .contains("rolled back to blue: blue 100 / green 0 applied"),
        "{}",
        run.stdout
    );
    assert_eq!(env.topo.weights().await.expect("weights"), (100, 0));
    assert_eq!(
        env.prod_modifies(),
        1,
        "rollback is exactly one ModifyListener on the production listener: {:?}",
        env.proxy.bodies("ModifyListener")
    );
    assert_eq!(
        env.topo.tag(TAG_STABLE).await.expect("tags").as_deref(),
        Some("blue")
    );
}

#[tokio::test]
async fn promote_bakes_then_scales_the_old_color_to_zero() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    env.cli(&["shift", "--green", "20"])
        .await
        .expect_code(exit::OK);
    // moto serves no traffic, so no split can be measured: the override is explicit, and
    // the output says it was used.
    let run = env
        .cli(&["--accept-unmeasured", "promote", "--bake", "1"])
        .await;
    run.expect_code(exit::OK);
    assert!(
        run.stderr
            .contains("promoted green: blue 0 / green 100 applied"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains(
            "green is live and stable; bake finished: blue scaled to 0 (accepted unmeasured: --accept-unmeasured)"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(env.topo.weights().await.expect("weights"), (0, 100));
    assert_eq!(
        env.topo.tag(TAG_STABLE).await.expect("tags").as_deref(),
        Some("green")
    );
    assert_eq!(env.topo.tag(TAG_BAKE_OLD).await.expect("tags"), None);
    assert_eq!(env.topo.service(Color::Blue).await.expect("blue").0, 0);
    assert_eq!(env.topo.service(Color::Green).await.expect("green").0, 2);
}

#[tokio::test]
async fn promote_keep_old_keeps_the_old_color_running() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    let run = env
        .cli(&["--json", "promote", "--bake", "0", "--keep-old"])
        .await;
    run.expect_code(exit::OK);
    let doc = run.json();
    assert_eq!(doc["report"]["promoted"], "green");
    assert_eq!(doc["finished_bake"]["keep_old"], true);
    assert_eq!(env.topo.weights().await.expect("weights"), (0, 100));
    assert_eq!(env.topo.service(Color::Blue).await.expect("blue").0, 2);
    // The old color still runs and is healthy, so traffic can go back to it.
    env.proxy.reset_log();
    env.cli(&["shift", "--blue", "100"])
        .await
        .expect_code(exit::OK);
    assert_eq!(env.topo.weights().await.expect("weights"), (100, 0));
}

#[tokio::test]
async fn a_quit_mid_bake_leaves_state_that_rollback_undoes() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    interrupted_promote(&env, "600").await;
    assert_eq!(
        env.topo.tag(TAG_STABLE).await.expect("tags").as_deref(),
        Some("green")
    );
    assert!(env.topo.tag(TAG_BAKE_UNTIL).await.expect("tags").is_some());

    let status = env.cli(&["status"]).await;
    status.expect_code(exit::OK);
    assert!(
        status.stdout.contains("promoted green, bake pending until")
            && status.stdout.contains("old color blue still running"),
        "{}",
        status.stdout
    );

    env.proxy.reset_log();
    let run = env.cli(&["rollback"]).await;
    run.expect_code(exit::OK);
    assert!(run.stdout.contains("rolled back to blue"), "{}", run.stdout);
    assert_eq!(env.topo.weights().await.expect("weights"), (100, 0));
    assert_eq!(env.prod_modifies(), 1);
    assert_eq!(
        env.topo.tag(TAG_STABLE).await.expect("tags").as_deref(),
        Some("blue")
    );
    assert_eq!(env.topo.tag(TAG_BAKE_OLD).await.expect("tags"), None);
    assert_eq!(env.topo.service(Color::Blue).await.expect("blue").0, 2);
}

#[tokio::test]
async fn a_rollback_during_the_bake_stops_the_waiting_promote() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    // The bake must outlast this test's polling and a whole `rollback` run (two process
    // starts and a round of API calls on a loaded machine), yet it must also end, since the
    // promote only notices the rollback when its wait is over: 20 s covers both.
    let promote = cli::command(&env.config, &env.env(), &["promote", "--bake", "20"])
        .spawn()
        .expect("spawn promote");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while env.topo.tag(TAG_BAKE_OLD).await.expect("tags").is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "promote did not start its bake"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let until: i64 = env
        .topo
        .tag(TAG_BAKE_UNTIL)
        .await
        .expect("tags")
        .expect("the bake has an end")
        .parse()
        .expect("bake end in epoch milliseconds");
    env.cli(&["rollback"]).await.expect_code(exit::OK);
    assert!(
        bluegreen::clock::now_millis() < until,
        "the rollback finished after the bake ended, so this run tests nothing: the machine is too slow for a 20 s bake"
    );
    let out = tokio::time::timeout(Duration::from_secs(120), promote.wait_with_output())
        .await
        .expect("promote ends after its bake")
        .expect("promote ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(exit::REFUSED), "{stderr}");
    assert!(
        stderr.contains("the bake was ended elsewhere during the wait: stable is blue"),
        "{stderr}"
    );
    assert_eq!(env.topo.weights().await.expect("weights"), (100, 0));
    assert_eq!(
        env.topo.service(Color::Blue).await.expect("blue").0,
        2,
        "blue still runs"
    );
}

#[tokio::test]
async fn the_next_promote_finishes_a_pending_bake() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    // A long bake so no timing can finish it before the kill; then the bake's end is moved
    // close, as if the time had passed while the console was away.
    interrupted_promote(&env, "600").await;
    assert_eq!(env.topo.service(Color::Blue).await.expect("blue").0, 2);
    let soon = bluegreen::clock::now_millis() + 2_000;
    env.topo
        .set_tag(TAG_BAKE_UNTIL, &soon.to_string())
        .await
        .expect("shorten the bake");
    // Without a measured split (moto serves no traffic) the bake holds and says how to
    // override; the old color keeps running.
    let held = env.cli(&["promote"]).await;
    held.expect_code(exit::REFUSED);
    assert!(
        held.stderr.contains("bake held, blue keeps running")
            && held.stderr.contains("--accept-unmeasured"),
        "{}",
        held.stderr
    );
    assert_eq!(env.topo.service(Color::Blue).await.expect("blue").0, 2);
    assert_eq!(
        env.topo.tag(TAG_BAKE_OLD).await.expect("tags").as_deref(),
        Some("blue")
    );
    let run = env.cli(&["--accept-unmeasured", "promote"]).await;
    run.expect_code(exit::OK);
    assert!(
        run.stderr.contains("its bake is pending; finishing it"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("bake finished: blue scaled to 0"),
        "{}",
        run.stdout
    );
    assert_eq!(env.topo.weights().await.expect("weights"), (0, 100));
    assert_eq!(env.topo.service(Color::Blue).await.expect("blue").0, 0);
    assert_eq!(env.topo.tag(TAG_BAKE_OLD).await.expect("tags"), None);
}

#[tokio::test]
async fn deploy_registers_a_revision_with_only_the_image_changed() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    env.cli(&["scale", "--color", "blue", "--count", "3"])
        .await
        .expect_code(exit::OK);
    let run = env.cli(&["--json", "deploy", "--tag", "v2"]).await;
    run.expect_code(exit::OK);
    let doc = run.json();
    assert_eq!(doc["deploy"]["color"], "green");
    assert_eq!(doc["deploy"]["task_definition"], "blog-green:2");
    let (desired, td) = env.topo.service(Color::Green).await.expect("green");
    assert!(td.ends_with("task-definition/blog-green:2"), "{td}");
    assert_eq!(
        desired, 3,
        "the idle color gets the live color's desired count"
    );

    let ecs = env.topo.ecs();
    let describe = |r: &'static str| {
        let ecs = ecs.clone();
        async move {
            ecs.describe_task_definition()
                .task_definition(r)
                .send()
                .await
                .expect("describe task definition")
                .task_definition
                .expect("task definition")
        }
    };
    let (old, new) = (
        describe("blog-green:1").await,
        describe("blog-green:2").await,
    );
    let (mut old_c, new_c) = (
        old.container_definitions()[0].clone(),
        new.container_definitions()[0].clone(),
    );
    assert_eq!(
        new_c.image(),
        Some(format!("{}:v2", env.topo.repository_uri).as_str())
    );
    old_c.image = new_c.image.clone();
    assert_eq!(old_c, new_c, "only the image differs");
    assert_eq!(old.cpu(), new.cpu());
    assert_eq!(old.memory(), new.memory());
    assert_eq!(old.network_mode(), new.network_mode());
    assert_eq!(old.execution_role_arn(), new.execution_role_arn());
    assert_eq!(
        old.requires_compatibilities(),
        new.requires_compatibilities()
    );
    // Blue is untouched.
    assert!(
        env.topo
            .service(Color::Blue)
            .await
            .expect("blue")
            .1
            .ends_with("blog-blue:1")
    );

    let run = env.cli(&["deploy", "--tag", "v9"]).await;
    run.expect_code(exit::FAILURE);
    assert!(
        run.stderr
            .contains("no image tagged `v9` in repository `blog`"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn guard_refuses_traffic_to_a_color_without_healthy_targets() {
    let options = TopologyOptions {
        targets: PerColor::new(2, 0),
        ..Default::default()
    };
    let env = Stack::start(options, false).await;
    let run = env.cli(&["shift", "--green", "20"]).await;
    run.expect_code(exit::REFUSED);
    assert!(
        run.stderr
            .contains("green has 0 healthy target(s) of its deployed revision but desired count 2"),
        "{}",
        run.stderr
    );
    assert_eq!(env.topo.weights().await.expect("weights"), (100, 0));
    let run = env.cli(&["--json", "promote"]).await;
    run.expect_code(exit::REFUSED);
    assert_eq!(run.json()["detail"]["refused"]["rule"], "promote-unhealthy");
    env.cli(&["shift", "--green", "20", "--force"])
        .await
        .expect_code(exit::OK);
    assert_eq!(env.topo.weights().await.expect("weights"), (80, 20));
}

#[tokio::test]
async fn read_only_refuses_every_write() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    for args in [
        &["--read-only", "shift", "--green", "20"][..],
        &["--read-only", "rollback"],
        &["--read-only", "promote", "--bake", "0"],
        &["--read-only", "deploy", "--tag", "v2"],
        &["--read-only", "scale", "--color", "green", "--count", "1"],
        &["--read-only", "build"],
    ] {
        let run = env.cli(args).await;
        run.expect_code(exit::REFUSED);
        assert!(
            run.stderr
                .contains("the session is read-only (--read-only)"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(env.topo.weights().await.expect("weights"), (100, 0));
    env.cli(&["--read-only", "status"])
        .await
        .expect_code(exit::OK);
}

#[tokio::test]
async fn a_read_only_profile_needs_arming() {
    let env = Stack::start(TopologyOptions::default(), true).await;
    let run = env.cli(&["shift", "--green", "20"]).await;
    run.expect_code(exit::REFUSED);
    assert!(
        run.stderr
            .contains("this profile is read-only; arm it with --arm"),
        "{}",
        run.stderr
    );
    assert_eq!(env.topo.weights().await.expect("weights"), (100, 0));
    env.cli(&["--arm", "shift", "--green", "20"])
        .await
        .expect_code(exit::OK);
    assert_eq!(env.topo.weights().await.expect("weights"), (80, 20));
}

#[tokio::test]
async fn wait_and_scale_report_with_their_exit_codes() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    env.cli(&["wait", "--weights", "100:0", "--timeout", "5"])
        .await
        .expect_code(exit::OK);
    // moto never starts a service's tasks by itself (running stays 0), so this times out.
    let run = env
        .cli(&["--json", "wait", "--healthy", "green", "--timeout", "1"])
        .await;
    run.expect_code(exit::TIMED_OUT);
    assert_eq!(run.json()["exit_code"], exit::TIMED_OUT);
    let run = env
        .cli(&["wait", "--healthy", "green", "--timeout", "1"])
        .await;
    run.expect_code(exit::TIMED_OUT);
    assert!(
        run.stderr
            .contains("timed out after 1 s waiting for green to become healthy")
            && run
                .stderr
                .contains("green: desired 2, running 0, pending 2, healthy targets 2/2"),
        "{}",
        run.stderr
    );
    let run = env.cli(&["wait", "--weights", "50:60"]).await;
    run.expect_code(exit::USAGE);

    let run = env.cli(&["scale", "--color", "blue", "--count", "0"]).await;
    run.expect_code(exit::REFUSED);
    assert!(
        run.stderr.contains("blue serves 100% of traffic"),
        "{}",
        run.stderr
    );
    env.cli(&["scale", "--color", "green", "--count", "0"])
        .await
        .expect_code(exit::OK);
    assert_eq!(env.topo.service(Color::Green).await.expect("green").0, 0);
}

#[tokio::test]
async fn build_waits_for_codebuild_and_status_shows_it() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    let run = env
        .cli(&["build", "--source-version", "main", "--wait"])
        .await;
    run.expect_code(exit::OK);
    assert!(run.stdout.contains("SUCCEEDED main"), "{}", run.stdout);
    let doc = env.cli(&["status", "--json"]).await.json();
    let build = &doc["builds"][0];
    assert_eq!(build["status"], "SUCCEEDED");
    assert_eq!(build["source_version"], "main");
    let phases: Vec<&str> = build["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert!(
        phases.contains(&"BUILD") && phases.contains(&"POST_BUILD"),
        "{phases:?}"
    );
    let refresh = doc["api_calls"]["refresh"].as_u64().expect("count");
    assert!(
        refresh <= 12,
        "a full refresh with builds cost {refresh} calls"
    );
}

#[tokio::test]
async fn init_from_terraform_writes_a_working_profile() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    let t = &env.topo;
    let out = |pairs: &[(&str, &str)]| {
        let map: serde_json::Map<String, serde_json::Value> = pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    serde_json::json!({"value": v, "type": "string", "sensitive": false}),
                )
            })
            .collect();
        serde_json::Value::Object(map).to_string()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("base.json");
    let services = dir.path().join("services.json");
    std::fs::write(
        &base,
        out(&[
            ("region", "us-east-1"),
            ("cluster_name", &t.cluster),
            ("table_name", "posts"),
            ("log_group_name", &t.log_group),
            ("load_balancer_arn", &t.load_balancer),
            ("prod_listener_arn", &t.prod_listener),
            ("test_listener_arn", &t.test_listener),
            ("codebuild_project_name", &t.project),
            ("ecr_repository_name", &t.repository),
        ]),
    )
    .expect("write");
    std::fs::write(
        &services,
        out(&[
            ("blue_service_name", &t.services.blue),
            ("green_service_name", &t.services.green),
            ("blue_task_family", &t.families.blue),
            ("green_task_family", &t.families.green),
            ("blue_target_group_arn", &t.target_groups.blue),
            ("green_target_group_arn", &t.target_groups.green),
            ("blue_log_stream_prefix", "blue"),
            ("green_log_stream_prefix", "green"),
        ]),
    )
    .expect("write");
    let config = dir.path().join("bluegreen.toml");
    let args = ["--profile", "staging", "init", "--from-terraform"];
    let mut all: Vec<&str> = args.to_vec();
    let (b, s) = (
        base.to_string_lossy().into_owned(),
        services.to_string_lossy().into_owned(),
    );
    all.push(&b);
    all.push(&s);
    run_cli(&config, &env.env(), &all)
        .await
        .expect_code(exit::OK);
    let run = run_cli(
        &config,
        &env.env(),
        &["--profile", "staging", "status", "--json"],
    )
    .await;
    run.expect_code(exit::OK);
    assert_eq!(run.json()["snapshot"]["listener"]["stable"], "blue");
    // Missing outputs are named.
    let run = run_cli(
        &dir.path().join("other.toml"),
        &env.env(),
        &["init", "--from-terraform", &b],
    )
    .await;
    run.expect_code(exit::FAILURE);
    assert!(
        run.stderr
            .contains("missing Terraform output(s) blue_service_name"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn logs_show_both_colors_tagged_with_task() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&env.topo.sdk);
    for (color, message) in [
        (Color::Blue, "GET / 200 blue"),
        (Color::Green, "GET / 200 green"),
    ] {
        let task = &env.topo.tasks.get(color)[0];
        logs.put_log_events()
            .log_group_name(&env.topo.log_group)
            .log_stream_name(format!("{color}/blog/{task}"))
            .log_events(
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(bluegreen::clock::now_millis())
                    .message(message)
                    .build()
                    .expect("event"),
            )
            .send()
            .await
            .expect("put log events");
    }
    let run = env.cli(&["logs", "--since", "300"]).await;
    run.expect_code(exit::OK);
    let blue_task: String = env.topo.tasks.blue[0].chars().take(8).collect();
    assert!(
        run.stdout
            .contains(&format!("blue  {blue_task} GET / 200 blue")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("GET / 200 green"), "{}", run.stdout);
    let run = env.cli(&["--json", "logs", "--color", "green"]).await;
    run.expect_code(exit::OK);
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    assert_eq!(lines[0]["color"], "green");
    assert_eq!(lines[0]["task_id"], env.topo.tasks.green[0].as_str());
}

/// Without credentials the console says so and how to give them, not "network error".
#[tokio::test]
async fn missing_credentials_are_named_as_such() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    let vars: Vec<(String, String)> = env
        .env()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS_KEY_ID") && !k.starts_with("AWS_SECRET"))
        .collect();
    let run = bluegreen_tests::aws::run_cli(&env.config, &vars, &["status"]).await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("no usable AWS credentials") && run.stderr.contains("aws_profile"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("network"), "{}", run.stderr);
}

/// `RELEASE_TAG=v1.4.0 bluegreen build` starts the CodeBuild build with `RELEASE_TAG` as an
/// environment override (as `aws codebuild start-build --environment-variables-override` does,
/// and as the local platform honours it), so the buildspec pushes that tag too; a tag ECR
/// would refuse is refused before any build starts.
#[tokio::test]
async fn build_passes_release_tag_to_codebuild_as_an_environment_override() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    let mut vars = env.env();
    vars.push(("RELEASE_TAG".into(), "v1.4.0".into()));
    run_cli(&env.config, &vars, &["build"])
        .await
        .expect_code(exit::OK);
    let bodies = env.proxy.bodies("StartBuild");
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let body: serde_json::Value = serde_json::from_str(&bodies[0]).expect("json");
    assert_eq!(
        body["environmentVariablesOverride"],
        serde_json::json!([{ "name": "RELEASE_TAG", "value": "v1.4.0", "type": "PLAINTEXT" }]),
        "{body}"
    );
    // Without it, no override: the build is tagged with the commit's short SHA only.
    env.cli(&["build"]).await.expect_code(exit::OK);
    let bodies = env.proxy.bodies("StartBuild");
    let body: serde_json::Value = serde_json::from_str(&bodies[1]).expect("json");
    assert!(body.get("environmentVariablesOverride").is_none(), "{body}");
    // A tag ECR would refuse never reaches CodeBuild.
    let mut vars = env.env();
    vars.push(("RELEASE_TAG".into(), "v1 beta".into()));
    let run = run_cli(&env.config, &vars, &["build"]).await;
    assert_ne!(run.code, exit::OK);
    assert!(run.stderr.contains("RELEASE_TAG"), "{}", run.stderr);
    assert_eq!(env.proxy.bodies("StartBuild").len(), 2);
}
