//! Data and compute: the posts table, the image repository, the task definitions and the services.

use std::collections::BTreeMap;

use bluegreen_tests::terraform::*;

#[test]
fn table_keeps_the_seed_keys_and_adds_the_listing_index() {
    let m = base();
    let table = m.resource("aws_dynamodb_table", "posts");
    assert_eq!(src(attr(table, "name")), "var.table_name");
    assert_eq!(
        lit_str(m.variable_default("table_name").expect("default")),
        "BlogPosts"
    );
    assert_eq!(lit_str(attr(table, "hash_key")), "post_id");
    assert_eq!(lit_str(attr(table, "range_key")), "author");
    let attributes: BTreeMap<String, String> = sub_blocks(table, "attribute")
        .into_iter()
        .map(|a| {
            (
                lit_str(attr(a, "name")).to_string(),
                lit_str(attr(a, "type")).to_string(),
            )
        })
        .collect();
    for name in ["post_id", "author", "feed", "timestamp"] {
        assert_eq!(
            attributes.get(name).map(String::as_str),
            Some("S"),
            "attribute {name}"
        );
    }
    assert_eq!(
        attributes.len(),
        4,
        "only key attributes are declared: {attributes:?}"
    );
    assert!(
        sub_blocks(table, "local_secondary_index").is_empty(),
        "no LSIs on title/content: DynamoDB caps index keys at 1,024 bytes"
    );
    // The listing index and the author index, with the names the blog and `blog migrate` use.
    let gsis: BTreeMap<String, (String, String, String)> =
        sub_blocks(table, "global_secondary_index")
            .into_iter()
            .map(|g| {
                (
                    lit_str(attr(g, "name")).to_string(),
                    (
                        lit_str(attr(g, "hash_key")).to_string(),
                        lit_str(attr(g, "range_key")).to_string(),
                        lit_str(attr(g, "projection_type")).to_string(),
                    ),
                )
            })
            .collect();
    let index = |h: &str, r: &str| (h.to_string(), r.to_string(), "ALL".to_string());
    assert_eq!(
        gsis,
        BTreeMap::from([
            ("ByAuthor".to_string(), index("author", "timestamp")),
            ("ByTimestamp".to_string(), index("feed", "timestamp")),
        ])
    );
    assert!(boolean(attr(
        sub_block(table, "point_in_time_recovery"),
        "enabled"
    )));
    let sse = sub_block(table, "server_side_encryption");
    assert!(boolean(attr(sse, "enabled")));
    assert_eq!(src(attr(sse, "kms_key_arn")), "module.kms.key_arn");
}

#[test]
fn author_accounts_have_a_table_of_their_own() {
    let m = base();
    let table = m.resource("aws_dynamodb_table", "authors");
    assert_eq!(src(attr(table, "name")), "var.authors_table_name");
    assert_eq!(
        lit_str(m.variable_default("authors_table_name").expect("default")),
        "BlogAuthors"
    );
    assert_eq!(lit_str(attr(table, "hash_key")), "name");
    assert!(attr_opt(table.body(), "range_key").is_none());
    let attributes = sub_blocks(table, "attribute");
    assert_eq!(attributes.len(), 1);
    assert_eq!(lit_str(attr(attributes[0], "name")), "name");
    assert_eq!(lit_str(attr(attributes[0], "type")), "S");
    assert!(boolean(attr(
        sub_block(table, "point_in_time_recovery"),
        "enabled"
    )));
    let sse = sub_block(table, "server_side_encryption");
    assert_eq!(src(attr(sse, "kms_key_arn")), "module.kms.key_arn");
    assert_eq!(
        src(attr(
            m.labelled("output", &["authors_table_name"])[0],
            "value"
        )),
        "aws_dynamodb_table.authors.name"
    );
}

#[test]
fn repository_is_immutable_scanned_and_pruned() {
    let m = base();
    let repo = m.resource("aws_ecr_repository", "blog");
    assert_eq!(lit_str(attr(repo, "image_tag_mutability")), "IMMUTABLE");
    assert!(boolean(attr(
        sub_block(repo, "image_scanning_configuration"),
        "scan_on_push"
    )));
    let lifecycle = m.resource("aws_ecr_lifecycle_policy", "blog");
    assert_eq!(
        src(attr(lifecycle, "repository")),
        "aws_ecr_repository.blog.name"
    );
    let policy = attr(lifecycle, "policy");
    let rules = array(field(&func(policy, "jsonencode").args[0], "rules"));
    assert_eq!(rules.len(), 2, "expire untagged, keep the newest tagged");
    let last = rules.last().expect("rule");
    // ECR requires the catch-all rule to have the lowest priority.
    assert_eq!(lit_str(field(field(last, "selection"), "tagStatus")), "any");
}

#[test]
fn task_definitions_run_the_blog_non_root_read_only_with_its_own_healthcheck() {
    let m = service();
    let td = m.resource("aws_ecs_task_definition", "color");
    assert_for_each_colors(&m, td);
    assert_eq!(src(attr(td, "family")), "\"${var.name}-${each.key}\"");
    assert_eq!(src(attr(td, "requires_compatibilities")), "[\"FARGATE\"]");
    assert_eq!(lit_str(attr(td, "network_mode")), "awsvpc");
    assert!(
        boolean(attr(td, "skip_destroy")),
        "revisions a color runs stay registered"
    );

    let containers = array(&func(attr(td, "container_definitions"), "jsonencode").args[0]);
    assert_eq!(containers.len(), 1);
    let c = &containers[0];

    let user = lit_str(field(c, "user"));
    let uid = user.split(':').next().unwrap_or_default();
    assert!(
        uid.parse::<u32>().is_ok_and(|uid| uid != 0),
        "numeric non-root user, got {user:?}"
    );
    assert!(boolean(field(c, "readonlyRootFilesystem")));
    assert!(
        object_get(c, "privileged").is_none_or(|p| !boolean(p)),
        "never privileged"
    );

    let health = array(field(field(c, "healthCheck"), "command"))
        .iter()
        .map(|e| lit_str(e).to_string())
        .collect::<Vec<_>>();
    assert_eq!(
        health,
        ["CMD", "/usr/local/bin/blog", "healthcheck"],
        "exec form: the image has no shell and no curl"
    );

    let ports = array(field(c, "portMappings"));
    assert_eq!(src(field(&ports[0], "containerPort")), "var.container_port");
    assert_eq!(
        number(m.variable_default("container_port").expect("default")),
        5000
    );

    let env: BTreeMap<String, String> = array(field(c, "environment"))
        .iter()
        .map(|e| {
            (
                lit_str(field(e, "name")).to_string(),
                src(field(e, "value")),
            )
        })
        .collect();
    assert_eq!(env["BLOG_STORE"], "\"dynamodb:${var.table_name}\"");
    assert_eq!(env["BLOG_LOG_FORMAT"], "\"json\"");
    assert_eq!(env["BLOG_COLOR"], "each.key");
    assert_eq!(env["BLOG_AUTHORS_TABLE"], "var.authors_table_name");
    assert!(
        !env.contains_key("BLOG_CSRF_SECRET"),
        "the secret comes from Parameter Store"
    );
    let secrets = array(field(c, "secrets"));
    assert_eq!(lit_str(field(&secrets[0], "name")), "BLOG_CSRF_SECRET");
    assert_eq!(
        src(field(&secrets[0], "valueFrom")),
        "aws_ssm_parameter.csrf_secret.arn",
        "one secret shared by both colors, so CSRF validates across them"
    );
    assert_eq!(lit_str(field(&secrets[1], "name")), "BLOG_SESSION_SECRET");
    assert_eq!(
        src(field(&secrets[1], "valueFrom")),
        "aws_ssm_parameter.session_secret.arn",
        "one session key for both colors, so a session holds across them"
    );
    assert!(!env.contains_key("BLOG_SESSION_SECRET"));

    let log = field(c, "logConfiguration");
    assert_eq!(lit_str(field(log, "logDriver")), "awslogs");
    let options = field(log, "options");
    assert_eq!(
        src(field(options, "awslogs-group")),
        "aws_cloudwatch_log_group.tasks.name"
    );
    assert_eq!(
        src(field(options, "awslogs-stream-prefix")),
        "local.log_stream_prefix[each.key]"
    );
    assert_eq!(
        src(m.local("log_stream_prefix")),
        "{for c in local.colors : c => c}"
    );
    assert_eq!(src(m.local("log_group_name")), "\"/ecs/${var.name}\"");
    let group = m.resource("aws_cloudwatch_log_group", "tasks");
    assert_eq!(src(attr(group, "name")), "local.log_group_name");
    assert!(attr_opt(group.body(), "retention_in_days").is_some());
}

#[test]
fn services_are_fargate_with_a_circuit_breaker_and_leave_releases_to_the_console() {
    let m = service();
    let svc = m.resource("aws_ecs_service", "color");
    assert_for_each_colors(&m, svc);
    assert_eq!(lit_str(attr(svc, "launch_type")), "FARGATE");
    assert_eq!(
        src(attr(svc, "task_definition")),
        "aws_ecs_task_definition.color[each.key].arn"
    );
    let breaker = sub_block(svc, "deployment_circuit_breaker");
    assert!(boolean(attr(breaker, "enable")));
    assert!(boolean(attr(breaker, "rollback")));
    let lb = sub_block(svc, "load_balancer");
    assert_eq!(
        src(attr(lb, "target_group_arn")),
        "aws_lb_target_group.color[each.key].arn"
    );
    assert_eq!(src(attr(lb, "container_port")), "var.container_port");
    let ignored = ignore_changes(svc);
    assert!(
        ignored.contains("task_definition") && ignored.contains("desired_count"),
        "{ignored:?}"
    );
    // Only the stable color starts with tasks.
    assert_eq!(
        src(attr(svc, "desired_count")),
        "each.key == local.initial_stable ? var.desired_count : 0"
    );
}
