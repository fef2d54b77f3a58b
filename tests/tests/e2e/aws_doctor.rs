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
