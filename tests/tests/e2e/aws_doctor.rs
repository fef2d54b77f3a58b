//! `bluegreen doctor` against the seed's topology in moto: the whole topology passes, and each
//! broken piece fails by name with its fix and exit code 3. moto has no IAM policy simulation,
//! so the permissions check says it cannot check (a warning), which these tests assert too.

use bluegreen::ops::exit;
use bluegreen::rollout::Color;
use bluegreen_tests::aws::{Stack, TopologyOptions};
use serde_json::Value;

/// The check named `name` in a `doctor --json` document.
fn check<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check `{name}` in {doc:#}"))
}

/// The names of the checks that failed.
fn failed(doc: &Value) -> Vec<String> {
    doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Rewrites the stack's `bluegreen.toml`, replacing each `from` with its `to`.
fn rewrite_config(env: &Stack, edits: &[(&str, &str)]) {
    let mut text = std::fs::read_to_string(&env.config).expect("config");
    for (from, to) in edits {
        text = text.replace(from, to);
    }
    std::fs::write(&env.config, text).expect("write");
}

/// The tutorial's test listener is closed to the engineer's machine, as moto's load balancer
/// (a DNS name nobody answers) is: its profile runs the smoke checks inside the VPC, and the
/// doctor's smoke path passes. `aws_smoke` checks the other ways.
fn smoke_inside_the_vpc(env: &Stack) {
    let mut text = std::fs::read_to_string(&env.config).expect("config");
    text.push_str("\n[profiles.moto.smoke]\nfrom = \"task\"\ncommand = [\"curl\", \"-fsS\"]\n");
    std::fs::write(&env.config, text).expect("write");
}

async fn doctor(env: &Stack) -> Value {
    let run = env.cli(&["doctor", "--json"]).await;
    let doc = run.json();
    assert_eq!(
        run.code,
        doc["exit_code"].as_i64().unwrap_or(-1) as i32,
        "{doc:#}"
    );
    doc
}

#[tokio::test]
async fn doctor_passes_the_whole_topology_and_cannot_simulate_policies_on_moto() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    smoke_inside_the_vpc(&env);
    let run = env.cli(&["doctor"]).await;
    run.expect_code(exit::OK);
    assert!(run.stdout.contains("pass  identity"), "{}", run.stdout);
    assert!(run.stdout.contains("summary: "), "{}", run.stdout);

    let doc = doctor(&env).await;
    assert_eq!(doc["ok"], true, "{doc:#}");
    assert!(failed(&doc).is_empty(), "{doc:#}");
    let identity = check(&doc, "identity");
    assert!(
        identity["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("123456789012"),
        "{identity}"
    );
    for name in [
        "region",
        "cluster",
        "blue service",
        "green service",
        "blue controller",
        "blue target group",
        "green target group",
        "production listener",
        "test listener",
        "log group",
        "codebuild project",
        "ecr repository",
        "smoke path",
    ] {
        assert_eq!(check(&doc, name)["status"], "pass", "{name}: {doc:#}");
    }
    assert_eq!(check(&doc, "test listener")["detail"], "forwards to green");
    // moto 5.2 does not implement SimulatePrincipalPolicy: an honest "cannot check".
    let perms = check(&doc, "permissions");
    assert_eq!(perms["status"], "warn", "{perms}");
    assert!(
        perms["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("cannot check"),
        "{perms}"
    );
    let needed = doc["permissions"]["needed"].as_array().expect("needed");
    assert!(
        needed
            .iter()
            .any(|a| a == "elasticloadbalancing:ModifyListener")
    );
    // The seed's topology is not made by our Terraform stack, so nothing marks ignore_changes.
    assert_eq!(check(&doc, "terraform ignore_changes")["status"], "warn");
}

#[tokio::test]
async fn doctor_fails_a_listener_that_forwards_to_one_color_only() {
    use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum};
    let env = Stack::start(TopologyOptions::default(), false).await;
    smoke_inside_the_vpc(&env);
    env.topo
        .elb()
        .modify_listener()
        .listener_arn(&env.topo.prod_listener)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(&env.topo.target_groups.blue)
                .build(),
        )
        .send()
        .await
        .expect("modify listener");
    let doc = doctor(&env).await;
    assert_eq!(doc["exit_code"], exit::REFUSED, "{doc:#}");
    assert_eq!(failed(&doc), vec!["production listener"], "{doc:#}");
    let c = check(&doc, "production listener");
    assert!(
        c["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("does not forward to green"),
        "{c}"
    );
    assert!(c["fix"].as_str().is_some_and(|f| !f.is_empty()), "{c}");
}

#[tokio::test]
async fn doctor_fails_missing_resources_one_at_a_time() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    smoke_inside_the_vpc(&env);
    let profile = std::fs::read_to_string(&env.config).expect("config");
    let cases: [(&str, String, &str); 5] = [
        (
            "ecr repository",
            format!("ecr_repository = \"{}\"", env.topo.repository),
            "ecr_repository = \"no-such-repo\"",
        ),
        (
            "codebuild project",
            format!("codebuild_project = \"{}\"", env.topo.project),
            "codebuild_project = \"no-such-project\"",
        ),
        (
            "cluster",
            format!("cluster = \"{}\"", env.topo.cluster),
            "cluster = \"no-such-cluster\"",
        ),
        (
            "green service",
            format!("service = \"{}\"", env.topo.services.get(Color::Green)),
            "service = \"blog-purple\"",
        ),
        (
            "log group",
            format!("log_group = \"{}\"", env.topo.log_group),
            "log_group = \"/ecs/nothing\"",
        ),
    ];
    for (name, from, to) in cases {
        assert!(profile.contains(&from), "{from} in {profile}");
        std::fs::write(&env.config, profile.replace(&from, to)).expect("write config");
        let doc = doctor(&env).await;
        assert_eq!(doc["exit_code"], exit::REFUSED, "{name}: {doc:#}");
        assert_eq!(failed(&doc), vec![name.to_string()], "{name}: {doc:#}");
        let c = check(&doc, name);
        assert!(
            c["fix"].as_str().is_some_and(|f| f.contains("correct")),
            "{c}"
        );
    }
    // A target group attached to the other color's service: both services fail by name.
    let (blue, green) = (&env.topo.target_groups.blue, &env.topo.target_groups.green);
    let swapped = profile
        .replace(blue.as_str(), "@BLUE@")
        .replace(green.as_str(), blue.as_str())
        .replace("@BLUE@", green.as_str());
    std::fs::write(&env.config, swapped).expect("write config");
    let doc = doctor(&env).await;
    assert_eq!(
        failed(&doc),
        vec!["blue service", "green service"],
        "{doc:#}"
    );
    assert!(
        check(&doc, "blue service")["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("not to blue's target group"),
        "{doc:#}"
    );
}

#[tokio::test]
async fn doctor_without_working_credentials_fails_the_identity_and_stops() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    // Nothing listens on port 9 of loopback: every call fails to connect.
    let mut vars = env.env();
    for (k, v) in vars.iter_mut() {
        if k == "AWS_ENDPOINT_URL" {
            *v = "http://127.0.0.1:9".into();
        }
    }
    let run = bluegreen_tests::aws::run_cli(&env.config, &vars, &["doctor", "--json"]).await;
    run.expect_code(exit::REFUSED);
    let doc = run.json();
    assert_eq!(failed(&doc), vec!["identity"], "{doc:#}");
    assert_eq!(doc["checks"].as_array().map(Vec::len), Some(2), "{doc:#}");
}

/// The doctor checks the tables the console writes to: a profile without `lock_table` fails
/// (writes and releases would be refused), one naming a table that does not exist fails with
/// how to create it, and the journal table is checked the same way.
#[tokio::test]
async fn doctor_checks_the_lock_and_journal_tables() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    let doc = doctor(&env).await;
    assert_eq!(check(&doc, "lock table")["status"], "pass", "{doc:#}");
    assert_eq!(check(&doc, "journal table")["status"], "pass", "{doc:#}");

    rewrite_config(
        &env,
        &[
            ("lock_table = \"blog-locks\"\n", ""),
            (
                "journal_table = \"blog-journal\"",
                "journal_table = \"no-such-table\"",
            ),
        ],
    );
    let doc = doctor(&env).await;
    assert_eq!(doc["exit_code"], exit::REFUSED, "{doc:#}");
    let lock = check(&doc, "lock table");
    assert_eq!(lock["status"], "fail", "{lock}");
    assert!(
        lock["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("--update"),
        "{lock}"
    );
    let journal = check(&doc, "journal table");
    assert_eq!(journal["status"], "fail", "{journal}");
    assert!(
        journal["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("init --create-tables"),
        "{journal}"
    );
}

/// `init --create-tables` for a stack made elsewhere: the profile's tables are created (on
/// demand, point-in-time recovery, encrypted) and the doctor then passes them; with no names
/// in the profile the base module's names are used (here they exist: checked, not changed)
/// and written into the profile.
#[tokio::test]
async fn init_create_tables_makes_the_tables_the_doctor_checks() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    rewrite_config(
        &env,
        &[
            ("lock_table = \"blog-locks\"", "lock_table = \"new-locks\""),
            (
                "journal_table = \"blog-journal\"",
                "journal_table = \"new-journal\"",
            ),
        ],
    );
    let run = env.cli(&["init", "--create-tables"]).await;
    run.expect_code(exit::OK);
    assert!(
        run.stdout.contains("lock table new-locks: created (on demand, point-in-time recovery, encrypted, TTL on expires_at)"),
        "{}",
        run.stdout
    );
    let ddb = aws_sdk_dynamodb::Client::new(&env.topo.sdk);
    let backups = ddb
        .describe_continuous_backups()
        .table_name("new-journal")
        .send()
        .await
        .expect("backups");
    assert_eq!(
        backups
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            .map(|s| s.as_str()),
        Some("ENABLED")
    );
    let doc = doctor(&env).await;
    assert_eq!(check(&doc, "lock table")["status"], "pass", "{doc:#}");
    assert_eq!(check(&doc, "journal table")["status"], "pass", "{doc:#}");

    // No names in the profile: the base module's, which exist here, are checked and named.
    rewrite_config(
        &env,
        &[
            ("lock_table = \"new-locks\"\n", ""),
            ("journal_table = \"new-journal\"\n", ""),
        ],
    );
    let run = env.cli(&["init", "--create-tables"]).await;
    run.expect_code(exit::OK);
    assert!(
        run.stdout.contains("lock table blog-locks: exists"),
        "{}",
        run.stdout
    );
    let text = std::fs::read_to_string(&env.config).expect("config");
    assert!(text.contains("lock_table = \"blog-locks\""), "{text}");
    assert!(text.contains("journal_table = \"blog-journal\""), "{text}");
}

/// Every alarm the gates name must exist: a gate on a missing alarm can never pass, so a
/// release would stop at its first step. The doctor reads them with the adapter's own call.
#[tokio::test]
async fn doctor_checks_that_the_gates_alarms_exist() {
    let env = Stack::start(TopologyOptions::default(), false).await;
    smoke_inside_the_vpc(&env);
    let doc = doctor(&env).await;
    assert!(
        doc["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .all(|c| c["name"] != "gate alarms"),
        "no alarms named, no check: {doc:#}"
    );
    let mut text = std::fs::read_to_string(&env.config).expect("config");
    text.push_str("\n[profiles.moto.gates]\nalarms = [\"blog-5xx\", \"blog-latency\"]\n");
    std::fs::write(&env.config, text).expect("write");
    let doc = doctor(&env).await;
    assert_eq!(failed(&doc), vec!["gate alarms"], "{doc:#}");
    let alarms = check(&doc, "gate alarms");
    let detail = alarms["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("blog-5xx, blog-latency"), "{alarms}");

    for name in ["blog-5xx", "blog-latency"] {
        super::aws_release::put_alarm(&env, name).await;
    }
    let doc = doctor(&env).await;
    assert!(failed(&doc).is_empty(), "{doc:#}");
    assert_eq!(
        check(&doc, "gate alarms")["detail"],
        "blog-5xx, blog-latency"
    );
}
