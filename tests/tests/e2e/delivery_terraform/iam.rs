//! Identities: the task, execution and build roles, the CSRF secret, the operator policy.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use hcl::expr::{Expression, ObjectKey};

use bluegreen_tests::terraform::*;

/// DynamoDB SDK calls in the blog's store and the IAM action each needs.
const DYNAMODB_CALLS: &[(&str, &str)] = &[
    (".batch_get_item()", "BatchGetItem"),
    (".batch_write_item()", "BatchWriteItem"),
    (".create_table()", "CreateTable"),
    (".delete_item()", "DeleteItem"),
    (".describe_table()", "DescribeTable"),
    (".get_item()", "GetItem"),
    (".put_item()", "PutItem"),
    (".query()", "Query"),
    (".scan()", "Scan"),
    (".transact_get_items()", "GetItem"),
    (".transact_write_items()", "PutItem"),
    (".update_item()", "UpdateItem"),
    (".update_table()", "UpdateTable"),
];

/// The IAM actions of the DynamoDB calls the blog makes while serving: every call in its
/// DynamoDB store except `migrate.rs` and the table creation only `blog migrate --to` uses,
/// both run with an operator's credentials.
fn blog_serving_dynamodb_actions() -> BTreeSet<String> {
    serving_actions_in("../blog/src/store/dynamodb", &[])
}

/// The same for the accounts table: `admin.rs` (`blog user …`) and `migrate.rs` run as an
/// operator.
fn blog_serving_account_actions() -> BTreeSet<String> {
    serving_actions_in("../blog/src/accounts", &["admin.rs", "sqlite.rs", "mod.rs"])
}

fn serving_actions_in(relative: &str, skip: &[&str]) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    let mut actions = BTreeSet::new();
    let mut files = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !file.ends_with(".rs") || file == "migrate.rs" || skip.contains(&file) {
            continue;
        }
        files += 1;
        let text = fs::read_to_string(&path).expect("read blog store source");
        for (call, action) in DYNAMODB_CALLS {
            if !text.contains(call) {
                continue;
            }
            if *call == ".create_table()" {
                assert_only_migrate_creates_tables();
                continue;
            }
            actions.insert(format!("dynamodb:{action}"));
        }
    }
    assert!(files > 0, "no DynamoDB store sources in {}", dir.display());
    actions
}

/// Table creation belongs to `blog migrate --to`: nothing but migrate.rs calls the store's
/// `create_table` function.
fn assert_only_migrate_creates_tables() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../blog/src");
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|ext| ext != "rs")
                || path.file_name().is_some_and(|n| n == "migrate.rs")
            {
                continue;
            }
            let text = fs::read_to_string(&path).expect("read blog source");
            for line in text.lines() {
                let calls_it = line.contains("create_table(")
                    && !line.contains("fn create_table(")
                    && !line.contains(".create_table()");
                assert!(
                    !calls_it,
                    "{} creates a table while serving: {line}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn task_role_is_scoped_to_the_tables_and_query_on_the_indexes() {
    let m = service();
    let doc = role_policy_document(&m, "task");
    let mut dynamodb = Vec::new();
    for statement in statements(doc) {
        let actions = strings(attr(statement, "actions"));
        if actions.iter().all(|a| a.starts_with("dynamodb:")) {
            dynamodb.push((actions, src(attr(statement, "resources"))));
        } else {
            // Only the table's key, only through DynamoDB.
            assert!(actions.iter().all(|a| a.starts_with("kms:")), "{actions:?}");
            let cond = sub_block(statement, "condition");
            assert_eq!(lit_str(attr(cond, "variable")), "kms:ViaService");
            assert!(src(attr(cond, "values")).contains("dynamodb."));
        }
    }
    assert_eq!(
        dynamodb.len(),
        3,
        "one DynamoDB statement per table, and Query on the posts table's indexes"
    );
    let (actions, resources) = &dynamodb[0];
    let expected = blog_serving_dynamodb_actions();
    assert!(expected.contains("dynamodb:Query"), "{expected:?}");
    assert!(
        !expected.contains("dynamodb:Scan"),
        "the blog lists through the index"
    );
    assert_eq!(
        actions, &expected,
        "the task role grants exactly the DynamoDB calls the serving blog makes (migrate runs as the operator)"
    );
    assert_eq!(resources, "[data.aws_dynamodb_table.posts.arn]");
    // The indexes answer only Query: the listing (ByTimestamp) and the author pages (ByAuthor).
    let (actions, resources) = &dynamodb[1];
    assert_eq!(actions, &BTreeSet::from(["dynamodb:Query".to_string()]));
    assert_eq!(
        resources,
        "[\"${data.aws_dynamodb_table.posts.arn}/index/ByAuthor\", \"${data.aws_dynamodb_table.posts.arn}/index/ByTimestamp\"]"
    );
    let indexes: BTreeSet<String> = sub_blocks(
        base().resource("aws_dynamodb_table", "posts"),
        "global_secondary_index",
    )
    .into_iter()
    .map(|g| {
        format!(
            "${{data.aws_dynamodb_table.posts.arn}}/index/{}",
            lit_str(attr(g, "name"))
        )
    })
    .collect();
    let granted: BTreeSet<String> = array(attr(statements(doc)[1], "resources"))
        .iter()
        .map(|e| e.to_string().trim_matches('"').to_string())
        .collect();
    assert_eq!(
        granted, indexes,
        "Query on every index the base stack defines, and no other"
    );
    assert_eq!(
        src(attr(m.data("aws_dynamodb_table", "posts"), "name")),
        "var.table_name"
    );
    let (actions, resources) = &dynamodb[2];
    let expected = blog_serving_account_actions();
    assert_eq!(
        expected,
        BTreeSet::from([
            "dynamodb:GetItem".to_string(),
            "dynamodb:UpdateItem".to_string()
        ]),
        "signing in reads an account; signing out everywhere bumps it"
    );
    assert_eq!(
        actions, &expected,
        "the authors table: exactly the serving calls"
    );
    assert_eq!(resources, "[data.aws_dynamodb_table.authors.arn]");
    assert_eq!(
        src(attr(m.data("aws_dynamodb_table", "authors"), "name")),
        "var.authors_table_name"
    );

    // Separate roles: the agent's execution role is not the blog's identity.
    let td = m.resource("aws_ecs_task_definition", "color");
    assert_eq!(src(attr(td, "task_role_arn")), "aws_iam_role.task.arn");
    assert_eq!(
        src(attr(td, "execution_role_arn")),
        "aws_iam_role.execution.arn"
    );
    assert!(
        m.resources("aws_iam_role_policy_attachment").is_empty(),
        "no managed policies on the stack's roles"
    );
}

#[test]
fn no_full_access_or_wildcard_policies_anywhere() {
    for rel in MODULE_DIRS {
        let m = Module::load(rel);
        // Comments may name what the seed did wrong; the code may not.
        let code = without_comments(&m.source);
        assert!(!code.contains("FullAccess"), "{rel}: no *FullAccess policy");
        assert!(
            !code.contains("AdministratorAccess"),
            "{rel}: no admin policy"
        );
        assert!(
            m.resources("aws_iam_role_policy_attachment").is_empty(),
            "{rel}: roles carry their own scoped inline policies"
        );
    }
    // Role policies: no wildcard actions, and "*" resources only where AWS allows nothing else.
    for (m, roles) in [
        (base(), vec!["codebuild"]),
        (service(), vec!["task", "execution"]),
    ] {
        for role in roles {
            for statement in statements(role_policy_document(&m, role)) {
                let actions = strings(attr(statement, "actions"));
                for action in &actions {
                    assert!(
                        action != "*" && !action.ends_with(":*"),
                        "role {role}: wildcard action {action}"
                    );
                }
                if src(attr(statement, "resources")) == "[\"*\"]" {
                    assert_eq!(
                        actions,
                        BTreeSet::from(["ecr:GetAuthorizationToken".to_string()]),
                        "role {role}: only the registry login may use Resource \"*\""
                    );
                }
            }
        }
    }
}

#[test]
fn codebuild_role_pushes_to_one_repository_and_writes_its_own_logs() {
    let m = base();
    let doc = role_policy_document(&m, "codebuild");
    let mut by_resource: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for statement in statements(doc) {
        by_resource
            .entry(src(attr(statement, "resources")))
            .or_default()
            .extend(strings(attr(statement, "actions")));
    }
    // Push, and look up existing tags (the buildspec refuses to rebuild an immutable tag).
    let expected: BTreeSet<String> = [
        "BatchCheckLayerAvailability",
        "CompleteLayerUpload",
        "DescribeImages",
        "InitiateLayerUpload",
        "PutImage",
        "UploadLayerPart",
    ]
    .iter()
    .map(|a| format!("ecr:{a}"))
    .collect();
    assert_eq!(by_resource["[aws_ecr_repository.blog.arn]"], expected);
    assert_eq!(
        by_resource["[\"${aws_cloudwatch_log_group.codebuild.arn}:*\"]"],
        BTreeSet::from([
            "logs:CreateLogStream".to_string(),
            "logs:PutLogEvents".to_string()
        ])
    );
    let project = m.resource("aws_codebuild_project", "blog");
    assert_eq!(
        src(attr(project, "service_role")),
        "aws_iam_role.codebuild.arn"
    );
    let cache = sub_block(project, "cache");
    assert!(strings(attr(cache, "modes")).contains("LOCAL_DOCKER_LAYER_CACHE"));
    let source = sub_block(project, "source");
    assert_eq!(lit_str(attr(source, "buildspec")), "buildspec.yaml");
    assert!(fs::metadata(terraform_dir().join("../buildspec.yaml")).is_ok());
}

#[test]
fn csrf_and_session_secrets_are_shared_encrypted_and_kept_out_of_state() {
    let m = service();
    for name in ["csrf_secret", "session_secret"] {
        let param = m.resource("aws_ssm_parameter", name);
        assert_eq!(lit_str(attr(param, "type")), "SecureString");
        assert_eq!(src(attr(param, "key_id")), "module.kms.key_arn");
        assert_eq!(
            src(attr(param, "value_wo")),
            format!("ephemeral.random_password.{name}.result")
        );
        assert!(
            attr_opt(param.body(), "value").is_none(),
            "a plain value would land in the state"
        );
    }
    let exec = role_policy_document(&m, "execution");
    assert!(statements(exec).iter().any(|s| {
        src(attr(s, "actions")) == "[\"ssm:GetParameters\"]"
            && src(attr(s, "resources"))
                == "[aws_ssm_parameter.csrf_secret.arn, aws_ssm_parameter.session_secret.arn]"
    }));
}

#[test]
fn operator_policy_template_gets_every_placeholder_it_uses() {
    let m = service();
    let policy = m.resource("aws_iam_policy", "operator");
    let call = func(attr(policy, "policy"), "templatefile");
    assert_eq!(
        src(&call.args[0]),
        "\"${path.module}/operator-policy.json\"",
        "the template lives in the service module, beside operator.tf"
    );
    let Expression::Object(vars) = &call.args[1] else {
        panic!("templatefile variables must be an object literal")
    };
    let passed: BTreeSet<String> = vars
        .iter()
        .map(|(k, _)| match k {
            ObjectKey::Identifier(id) => id.as_str().to_string(),
            other => panic!("unexpected key {other:?}"),
        })
        .collect();
    let template = fs::read_to_string(m.dir.join("operator-policy.json")).expect("operator policy");
    let used: BTreeSet<String> = template
        .split("${")
        .skip(1)
        .map(|rest| rest.split('}').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        used, passed,
        "placeholders in operator-policy.json vs templatefile()"
    );
}
