//! Encryption: one `kms` module holds the key, its alias and its policy; the base and service
//! modules each call it once, and everything they encrypt uses that key.

use std::collections::{BTreeMap, BTreeSet};

use hcl::Block;

use bluegreen_tests::terraform::*;

/// The kms module's key: rotated, and its policy is the module's own document.
#[test]
fn the_kms_module_writes_one_rotated_key_with_its_policy() {
    let m = kms();
    assert_eq!(m.resources("aws_kms_key").len(), 1, "one key per call");
    let key = m.resource("aws_kms_key", "this");
    assert!(boolean(attr(key, "enable_key_rotation")));
    assert!(number(attr(key, "deletion_window_in_days")) >= 7);
    assert_eq!(src(attr(key, "description")), "var.purpose");
    assert_eq!(
        src(attr(key, "policy")),
        "data.aws_iam_policy_document.this.json"
    );
    let alias = m.resource("aws_kms_alias", "this");
    assert_eq!(src(attr(alias, "name")), "\"alias/${var.alias}\"");
    assert_eq!(src(attr(alias, "target_key_id")), "aws_kms_key.this.key_id");

    let outputs: BTreeMap<String, String> = m
        .labelled("output", &[])
        .into_iter()
        .map(|o| (o.labels()[0].as_str().to_string(), src(attr(o, "value"))))
        .collect();
    assert_eq!(outputs["key_arn"], "aws_kms_key.this.arn");
}

/// The statement `sid` of a policy document, and its principal's type and identifiers.
fn statement_and_principal<'a>(statements: &[&'a Block], sid: &str) -> (&'a Block, String, String) {
    let statement = *statements
        .iter()
        .find(|s| attr_opt(s.body(), "sid").and_then(lit) == Some(sid))
        .unwrap_or_else(|| panic!("no statement {sid}"));
    let principal = sub_block(statement, "principals");
    (
        statement,
        lit_str(attr(principal, "type")).to_string(),
        src(attr(principal, "identifiers")),
    )
}

/// The key policy: the account administers the key (its IAM policies decide who uses it), and
/// CloudWatch Logs, the one service that encrypts as itself, may use it for the named log groups
/// only, and not at all when none is named.
#[test]
fn the_key_policy_lets_the_account_administer_and_logs_encrypt_only_the_named_groups() {
    let m = kms();
    let doc = m.data("aws_iam_policy_document", "this");
    let statements = statements(doc);
    assert_eq!(statements.len(), 2, "administration and CloudWatch Logs");

    let (_, ty, who) = statement_and_principal(&statements, "AccountAdministersTheKey");
    assert_eq!(
        (ty.as_str(), who.as_str()),
        (
            "AWS",
            "[\"arn:${local.partition}:iam::${local.account_id}:root\"]"
        )
    );
    let (logs, ty, who) = statement_and_principal(&statements, "LogsEncryptTheNamedLogGroups");
    assert_eq!(
        (ty.as_str(), who.as_str()),
        ("Service", "[\"logs.${var.region}.amazonaws.com\"]")
    );
    let actions = strings(attr(logs, "actions"));
    assert!(!actions.contains("kms:*"), "{actions:?}");
    assert!(actions.iter().all(|a| a.starts_with("kms:")), "{actions:?}");
    let condition = sub_block(logs, "condition");
    assert_eq!(lit_str(attr(condition, "test")), "ArnEquals");
    assert_eq!(
        lit_str(attr(condition, "variable")),
        "kms:EncryptionContext:aws:logs:arn"
    );
    assert_eq!(
        src(attr(condition, "values")),
        "[for group in statement.value : \"arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${group}\"]"
    );
    // The statement exists only when log groups are named: an empty condition is no condition.
    let dynamic = sub_blocks(doc, "dynamic")
        .into_iter()
        .find(|d| d.labels()[0].as_str() == "statement")
        .expect("the logs statement is dynamic");
    assert_eq!(
        src(attr(dynamic, "for_each")),
        "length(var.log_group_names) == 0 ? [] : [var.log_group_names]"
    );
}

/// Base and service each call the kms module once, for their own log group, keep no key of their
/// own, and moved their old key resources into the module call (an existing state keeps its key).
#[test]
fn base_and_service_each_use_the_kms_module_for_their_own_log_group() {
    let kms = kms();
    for (m, old, log_group, log_group_local) in [
        (base(), "base", "codebuild", "codebuild_log_group"),
        (service(), "service", "tasks", "log_group_name"),
    ] {
        let rel = m.dir.display().to_string();
        assert!(
            m.resources("aws_kms_key").is_empty() && m.resources("aws_kms_alias").is_empty(),
            "{rel}: keys come from the kms module"
        );
        let calls = m.labelled("module", &[]);
        assert_eq!(calls.len(), 1, "{rel}: one module call");
        let call = calls[0];
        assert_eq!(call.labels()[0].as_str(), "kms");
        assert_eq!(lit_str(attr(call, "source")), "../kms");
        assert!(same_dir(&m.dir.join("../kms"), &kms.dir));
        assert_eq!(src(attr(call, "alias")), format!("\"${{var.name}}-{old}\""));
        assert_eq!(src(attr(call, "region")), "var.region");
        assert_eq!(
            src(attr(call, "log_group_names")),
            format!("[local.{log_group_local}]"),
            "{rel}: CloudWatch Logs may use the key for this module's log group only"
        );
        let group = m.resource("aws_cloudwatch_log_group", log_group);
        assert_eq!(src(attr(group, "name")), format!("local.{log_group_local}"));
        assert_eq!(src(attr(group, "kms_key_id")), "module.kms.key_arn");

        assert_eq!(
            m.moves(),
            BTreeMap::from([
                (
                    format!("aws_kms_key.{old}"),
                    "module.kms.aws_kms_key.this".to_string()
                ),
                (
                    format!("aws_kms_alias.{old}"),
                    "module.kms.aws_kms_alias.this".to_string()
                ),
            ]),
            "{rel}: the old key resources move into the module call"
        );
        for to in m.moves().values() {
            let (ty, name) = to
                .strip_prefix("module.kms.")
                .and_then(|r| r.split_once('.'))
                .expect("module.kms.<type>.<name>");
            kms.resource(ty, name);
        }
    }
}

/// Everything the two modules encrypt names the module's key.
#[test]
fn everything_the_modules_encrypt_uses_their_key() {
    let key = "module.kms.key_arn";
    let b = base();
    let table = b.resource("aws_dynamodb_table", "posts");
    assert_eq!(
        src(attr(
            sub_block(table, "server_side_encryption"),
            "kms_key_arn"
        )),
        key
    );
    let repo = b.resource("aws_ecr_repository", "blog");
    let enc = sub_block(repo, "encryption_configuration");
    assert_eq!(lit_str(attr(enc, "encryption_type")), "KMS");
    assert_eq!(src(attr(enc, "kms_key")), key);
    assert_eq!(
        src(attr(
            b.resource("aws_codebuild_project", "blog"),
            "encryption_key"
        )),
        key
    );
    assert_eq!(
        src(attr(b.labelled("output", &["kms_key_arn"])[0], "value")),
        key
    );

    let s = service();
    assert_eq!(
        src(attr(
            s.resource("aws_ssm_parameter", "csrf_secret"),
            "key_id"
        )),
        key
    );

    // The roles that use the key name it, and nothing else, in their kms statements.
    for (m, role) in [(&b, "codebuild"), (&s, "execution")] {
        let kms_resources: BTreeSet<String> = statements(role_policy_document(m, role))
            .into_iter()
            .filter(|st| {
                strings(attr(st, "actions"))
                    .iter()
                    .all(|a| a.starts_with("kms:"))
            })
            .map(|st| src(attr(st, "resources")))
            .collect();
        assert_eq!(
            kms_resources,
            BTreeSet::from([format!("[{key}]")]),
            "role {role}"
        );
    }
}
