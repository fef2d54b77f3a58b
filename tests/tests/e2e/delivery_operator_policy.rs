//! The release engineers' IAM policy (`terraform/modules/service/operator-policy.json`, rendered
//! per stack by the service module) must grant exactly the AWS calls the console's AWS adapter
//! makes: the list the adapter keeps in code, `bluegreen::platform::aws::iam::OPERATIONS`. A call
//! added to the adapter without a grant fails here, and so does a grant no call needs.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use bluegreen::platform::aws::iam::OPERATIONS;
use serde_json::Value;

/// Registering (and running: the smoke task) a task definition that names task and execution
/// roles needs `iam:PassRole` on them; it is not an API call of its own, so the adapter's list
/// does not carry it.
const PASS_ROLE: &str = "iam:PassRole";

/// Actions that have no resource-level permissions in IAM, so `"Resource": "*"` is the only way to
/// grant them (ListTasks is narrowed by its `ecs:cluster` condition instead).
const RESOURCE_WILDCARD_ONLY: &[&str] = &[
    "cloudwatch:GetMetricData",
    "ecs:DescribeTaskDefinition",
    "ecs:ListTasks",
    "ecs:RegisterTaskDefinition",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetHealth",
    "sts:GetCallerIdentity",
];

fn policy() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../terraform/modules/service/operator-policy.json");
    let text = fs::read_to_string(&path).expect("read operator-policy.json");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A policy field that may be one string or a list of strings.
fn one_or_many(value: &Value, what: &str) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .unwrap_or_else(|| panic!("{what}: {v} is not a string"))
                    .to_string()
            })
            .collect(),
        other => panic!("{what}: expected a string or a list, found {other}"),
    }
}

fn statements(policy: &Value) -> &[Value] {
    assert_eq!(policy["Version"], "2012-10-17");
    policy["Statement"].as_array().expect("Statement is a list")
}

fn granted(policy: &Value) -> BTreeSet<String> {
    statements(policy)
        .iter()
        .flat_map(|s| one_or_many(&s["Action"], "Action"))
        .collect()
}

fn called() -> BTreeSet<String> {
    assert!(
        !OPERATIONS.is_empty(),
        "bluegreen::platform::aws::iam::OPERATIONS is empty: the AWS adapter lists no calls yet"
    );
    let mut actions: BTreeSet<String> = OPERATIONS
        .iter()
        .map(|(_, _, action)| action.to_string())
        .collect();
    if actions.contains("ecs:RegisterTaskDefinition") {
        actions.insert(PASS_ROLE.to_string());
    }
    actions
}

#[test]
fn grants_exactly_the_actions_the_aws_adapter_calls() {
    let policy = policy();
    let granted = granted(&policy);
    let called = called();
    let unused: Vec<_> = granted.difference(&called).collect();
    let missing: Vec<_> = called.difference(&granted).collect();
    assert!(
        unused.is_empty() && missing.is_empty(),
        "operator-policy.json differs from the adapter's OPERATIONS:\n  granted but never called: {unused:?}\n  called but not granted: {missing:?}"
    );
}

#[test]
fn only_allows_named_actions() {
    let policy = policy();
    for statement in statements(&policy) {
        let sid = statement["Sid"].as_str().unwrap_or("(no Sid)");
        assert_eq!(statement["Effect"], "Allow", "{sid}");
        for forbidden in ["NotAction", "NotResource", "NotPrincipal", "Principal"] {
            assert!(statement.get(forbidden).is_none(), "{sid}: {forbidden}");
        }
        for action in one_or_many(&statement["Action"], "Action") {
            assert!(!action.contains('*'), "{sid}: wildcard action {action}");
            let (service, name) = action
                .split_once(':')
                .unwrap_or_else(|| panic!("{sid}: {action} is not service:Action"));
            assert!(
                !service.is_empty() && name.chars().next().is_some_and(char::is_uppercase),
                "{sid}: malformed action {action}"
            );
        }
    }
}

#[test]
fn wildcard_resources_only_where_iam_offers_nothing_narrower() {
    let policy = policy();
    for statement in statements(&policy) {
        let sid = statement["Sid"].as_str().unwrap_or("(no Sid)");
        let resources = one_or_many(&statement["Resource"], "Resource");
        let actions = one_or_many(&statement["Action"], "Action");
        if resources.iter().any(|r| r == "*") {
            for action in &actions {
                assert!(
                    RESOURCE_WILDCARD_ONLY.contains(&action.as_str()),
                    "{sid}: {action} supports resource-level permissions; name the stack's resources"
                );
            }
        } else {
            for resource in &resources {
                assert!(
                    resource.starts_with("arn:") || resource.starts_with("${"),
                    "{sid}: {resource} is not an ARN"
                );
            }
        }
        if actions.iter().any(|a| a == PASS_ROLE) {
            assert_eq!(
                statement["Condition"]["StringEquals"]["iam:PassedToService"],
                "ecs-tasks.amazonaws.com",
                "{sid}: roles are passed to ECS tasks only"
            );
            assert_eq!(
                resources,
                ["${task_role_arn}", "${execution_role_arn}"],
                "{sid}: only the stack's two task roles"
            );
        }
    }
}

#[test]
fn the_adapter_list_is_well_formed() {
    let mut seen = BTreeSet::new();
    for (service, operation, action) in OPERATIONS {
        assert!(
            seen.insert((service, operation, action)),
            "duplicate entry {operation}"
        );
        let (prefix, name) = action
            .split_once(':')
            .unwrap_or_else(|| panic!("{action} is not service:Action"));
        assert!(!prefix.is_empty() && !name.contains('*'), "{action}");
        assert!(!service.is_empty() && !operation.is_empty(), "{action}");
    }
}
