//! Drift and existing stacks on moto: a listener changed by another SDK client is reported as
//! drift (and the old color is not scaled in under it), and a stack made outside this project
//! (no bluegreen tags) works with every verb, from `init` to promote and rollback.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple,
};
use bluegreen::ops::{Access, OpError, Ops, PromoteOptions, exit};
use bluegreen::platform::aws::{TAG_STABLE, TAG_WRITTEN};
use bluegreen::rollout::{Color, GuardRule};
use bluegreen_tests::aws::topology::REGION;
use bluegreen_tests::aws::{Run, Stack, Topology, TopologyOptions, run_cli};

/// Another client (a second SDK client, as the AWS console or a script would be) sets the
/// production listener's weights: no bluegreen tag changes.
async fn modify_out_of_band(topo: &Topology, blue: i32, green: i32) {
    let other = aws_sdk_elasticloadbalancingv2::Client::new(&topo.sdk);
    let tuple = |tg: &str, weight| {
        TargetGroupTuple::builder()
            .target_group_arn(tg)
            .weight(weight)
            .build()
    };
    other
        .modify_listener()
        .listener_arn(&topo.prod_listener)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .forward_config(
                    ForwardActionConfig::builder()
                        .target_groups(tuple(&topo.target_groups.blue, blue))
                        .target_groups(tuple(&topo.target_groups.green, green))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("modify the listener out of band");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_another_client_changed_is_drift_and_the_old_color_is_not_scaled_in() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    env.cli(&["shift", "--green", "20"])
        .await
        .expect_code(exit::OK);
    assert!(
        env.topo
            .tag(TAG_WRITTEN)
            .await
            .expect("tags")
            .is_some_and(|t| t.starts_with("800/200@")),
        "the console records what it wrote"
    );
    let clean = env.cli(&["status", "--check"]).await;
    clean.expect_code(exit::OK);
    assert!(clean.stdout.contains("drift    none"), "{}", clean.stdout);

    // Another client moves the weights; one `status --check` shows it, with both numbers.
    let changed = Instant::now();
    modify_out_of_band(&env.topo, 50, 50).await;
    let run = env.cli(&["status", "--check"]).await;
    let seen = changed.elapsed();
    run.expect_code(exit::DRIFT);
    assert!(
        run.stdout.contains(
            "drift    weights changed outside the console: it wrote blue 80 / green 20, the listener shows blue 50 / green 50"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("blue        80% ·    50% ·"),
        "desired · listener per color: {}",
        run.stdout
    );
    println!("figure: out-of-band ModifyListener to drift in `status --check`: {seen:?}");
    let doc = env.cli(&["--json", "status", "--check"]).await;
    doc.expect_code(exit::DRIFT);
    let doc = doc.json();
    assert_eq!(doc["drift"][0]["kind"], "weights");
    assert_eq!(doc["traffic"]["desired"]["green"], 20);
    assert_eq!(doc["traffic"]["listener"]["green"], 50);

    // A promote, then another client gives the old color traffic again before the bake
    // ends: even with the override for unmeasured traffic, blue is not scaled in.
    let platform = Arc::new(env.adapter().await);
    let ops = Ops::new(platform, Access::default()).with_accept_unmeasured(true);
    ops.promote(
        PromoteOptions {
            bake: Duration::ZERO,
            keep_old: false,
        },
        None,
    )
    .await
    .expect("promote");
    modify_out_of_band(&env.topo, 10, 90).await;
    match ops.finish_bake().await {
        Err(OpError::Refused(r)) => assert_eq!(r.rule, GuardRule::TrafficMoved, "{r}"),
        other => panic!("the bake must hold: {other:?}"),
    }
    assert_eq!(env.topo.service(Color::Blue).await.expect("blue").0, 2);
    let run = env.cli(&["status", "--check"]).await;
    run.expect_code(exit::DRIFT);
    assert!(
        run.stdout
            .contains("it wrote blue 0 / green 100, the listener shows blue 10 / green 90"),
        "{}",
        run.stdout
    );

    // Rollback still works over drift (undo the promote: blue is baking and healthy), and
    // its write is the console's own again.
    env.cli(&["rollback"]).await.expect_code(exit::OK);
    assert_eq!(env.topo.weights().await.expect("weights"), (100, 0));
    env.cli(&["status", "--check"]).await.expect_code(exit::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_scaled_by_hand_or_given_another_task_definition_is_drift() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    env.cli(&["scale", "--color", "green", "--count", "2"])
        .await
        .expect_code(exit::OK);
    env.cli(&["status", "--check"]).await.expect_code(exit::OK);

    // Another client scales green by hand.
    let other = aws_sdk_ecs::Client::new(&env.topo.sdk);
    other
        .update_service()
        .cluster(&env.topo.cluster)
        .service(&env.topo.services.green)
        .desired_count(5)
        .send()
        .await
        .expect("scale by hand");
    let run = env.cli(&["status", "--check"]).await;
    run.expect_code(exit::DRIFT);
    assert!(
        run.stdout.contains(
            "drift    green desired count changed outside the console: it set 2, the service `blog-green` has 5"
        ),
        "{}",
        run.stdout
    );

    // And replaces its task definition.
    other
        .update_service()
        .cluster(&env.topo.cluster)
        .service(&env.topo.services.green)
        .task_definition(format!("{}:1", env.topo.families.blue))
        .send()
        .await
        .expect("replace the task definition");
    let run = env.cli(&["--json", "status", "--check"]).await;
    run.expect_code(exit::DRIFT);
    let doc = run.json();
    let kinds: Vec<&str> = doc["drift"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect();
    assert_eq!(kinds, vec!["service-count", "task-definition"], "{doc}");
    assert!(
        doc["drift"][1]["found"]
            .as_str()
            .is_some_and(|f| f
                .contains("it deployed blog-green:1, the service `blog-green` runs blog-blue:1")),
        "{doc}"
    );

    // The console's own write ends the count drift.
    env.cli(&["scale", "--color", "green", "--count", "5"])
        .await
        .expect_code(exit::OK);
    let doc = env.cli(&["--json", "status"]).await.json();
    assert_eq!(doc["drift"].as_array().map(Vec::len), Some(0), "{doc}");
}

/// `terraform output -json` for a stack: the output names `init --from-terraform` reads.
fn outputs(topo: &Topology, dir: &Path) -> PathBuf {
    let mut o = serde_json::Map::new();
    let mut put = |name: &str, value: &str| {
        o.insert(
            name.to_string(),
            serde_json::json!({ "value": value, "type": "string", "sensitive": false }),
        );
    };
    put("region", REGION);
    put("cluster_name", &topo.cluster);
    put("load_balancer_arn", &topo.load_balancer);
    put("prod_listener_arn", &topo.prod_listener);
    put("test_listener_arn", &topo.test_listener);
    put("codebuild_project_name", &topo.project);
    put("ecr_repository_name", &topo.repository);
    put("log_group_name", &topo.log_group);
    // The console's own tables come from this project's base module even for a stack made
    // elsewhere (the deploy lock refuses writes without its table).
    put("lock_table_name", &topo.lock_table);
    put("journal_table_name", &topo.journal_table);
    for color in Color::ALL {
        put(&format!("{color}_service_name"), topo.services.get(color));
        put(&format!("{color}_task_family"), topo.families.get(color));
        put(
            &format!("{color}_target_group_arn"),
            topo.target_groups.get(color),
        );
        put(&format!("{color}_log_stream_prefix"), color.as_str());
    }
    let path = dir.join("outputs.json");
    std::fs::write(&path, serde_json::Value::Object(o).to_string()).expect("write outputs");
    path
}

/// A stack built with plain SDK calls and no bluegreen tag, and a profile written by `init`.
async fn foreign() -> (Stack, tempfile::TempDir, PathBuf) {
    let env = Stack::start(
        TopologyOptions {
            stable_tag: false,
            ..TopologyOptions::default()
        },
        false,
    )
    .await;
    assert!(
        env.topo
            .listener_tags()
            .await
            .expect("tags")
            .iter()
            .all(|(k, _)| !k.starts_with("bluegreen:")),
        "a stack made outside this project"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bluegreen.toml");
    let outputs = outputs(&env.topo, dir.path());
    let out = outputs.to_string_lossy().into_owned();
    run_cli(&config, &env.env(), &["init", "--from-terraform", &out])
        .await
        .expect_code(exit::OK);
    (env, dir, config)
}

async fn cli(env: &Stack, config: &Path, args: &[&str]) -> Run {
    run_cli(config, &env.env(), args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_made_elsewhere_works_with_every_verb_from_init_to_promote_and_rollback() {
    let (env, _dir, config) = foreign().await;
    // Right after the deploy below, green's old tasks are still healthy targets: the shift
    // guard counts only the deployed revision's (issue 25, item 11).
    let run = cli(&env, &config, &["status", "--check"]).await;
    run.expect_code(exit::OK);
    assert!(
        run.stdout
            .contains("stable blue (at rest, not yet recorded: the first write records it)"),
        "{}",
        run.stdout
    );

    // At rest with no record: blue (100%) is stable, recorded with the first write.
    cli(&env, &config, &["deploy", "--tag", "v2"])
        .await
        .expect_code(exit::OK);
    assert_eq!(
        env.topo.tag(TAG_STABLE).await.expect("tags").as_deref(),
        Some("blue")
    );
    let (_, green_taskdef) = env.topo.service(Color::Green).await.expect("green");
    assert!(green_taskdef.contains("blog-green:2"), "{green_taskdef}");
    let early = cli(&env, &config, &["shift", "--green", "30"]).await;
    early.expect_code(exit::REFUSED);
    assert!(
        early
            .stderr
            .contains("green has 0 healthy target(s) of its deployed revision"),
        "{}",
        early.stderr
    );
    // ECS replaces green's tasks with the new revision's (moto does not): only those count
    // for the guards.
    let mut topo = env.topo.clone();
    topo.roll_out(Color::Green).await.expect("roll out");

    cli(&env, &config, &["shift", "--green", "30"])
        .await
        .expect_code(exit::OK);
    let rolled = cli(&env, &config, &["rollback"]).await;
    rolled.expect_code(exit::OK);
    assert_eq!(env.topo.weights().await.expect("weights"), (100, 0));

    cli(&env, &config, &["shift", "--green", "30"])
        .await
        .expect_code(exit::OK);
    cli(
        &env,
        &config,
        &["--accept-unmeasured", "promote", "--bake", "0"],
    )
    .await
    .expect_code(exit::OK);
    assert_eq!(env.topo.weights().await.expect("weights"), (0, 100));
    assert_eq!(
        env.topo.tag(TAG_STABLE).await.expect("tags").as_deref(),
        Some("green")
    );
    assert_eq!(env.topo.service(Color::Blue).await.expect("blue").0, 0);
    cli(&env, &config, &["status", "--check"])
        .await
        .expect_code(exit::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_stack_made_elsewhere_is_adopted_after_its_checks() {
    let (env, dir, config) = foreign().await;
    modify_out_of_band(&env.topo, 70, 30).await;

    // Split with no record: promote and rollback refuse and name the verb that records one.
    for verb in ["promote", "rollback"] {
        let run = cli(&env, &config, &[verb]).await;
        run.expect_code(exit::REFUSED);
        assert!(
            run.stderr
                .contains("no stable color is recorded and traffic is split")
                && run.stderr.contains("bluegreen adopt --stable blue"),
            "{verb}: {}",
            run.stderr
        );
    }

    // A profile that names another task family: adopt lists the mismatch, records nothing.
    let mut wrong = env.topo.clone();
    wrong.families.green = "tutorial-green".into();
    let wrong_dir = dir.path().join("wrong");
    std::fs::create_dir_all(&wrong_dir).expect("mkdir");
    let wrong_config = wrong.write_config(&wrong_dir, false).expect("config");
    let run = cli(&env, &wrong_config, &["adopt", "--stable", "blue"]).await;
    run.expect_code(exit::REFUSED);
    assert!(
        run.stderr.contains(
            "green's service runs task family `blog-green`, the profile names `tutorial-green`"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(env.topo.tag(TAG_STABLE).await.expect("tags"), None);

    let run = cli(&env, &config, &["adopt", "--stable", "blue"]).await;
    run.expect_code(exit::OK);
    assert!(
        run.stdout.contains("blue recorded as stable"),
        "{}",
        run.stdout
    );
    assert_eq!(
        env.topo.tag(TAG_STABLE).await.expect("tags").as_deref(),
        Some("blue")
    );
    cli(&env, &config, &["rollback"])
        .await
        .expect_code(exit::OK);
    assert_eq!(env.topo.weights().await.expect("weights"), (100, 0));
}
