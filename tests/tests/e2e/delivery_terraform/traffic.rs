//! Traffic: the target groups, the production and test listeners, and the security groups.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use bluegreen_tests::terraform::*;

#[test]
fn two_target_groups_one_per_color_checked_on_health() {
    let m = service();
    let groups = m.resources("aws_lb_target_group");
    assert_eq!(
        groups.len(),
        1,
        "one target group resource, instantiated per color"
    );
    let tg = m.resource("aws_lb_target_group", "color");
    assert_for_each_colors(&m, tg);
    assert_eq!(
        lit_str(attr(tg, "target_type")),
        "ip",
        "Fargate awsvpc tasks"
    );
    assert_eq!(src(attr(tg, "port")), "var.container_port");

    let hc = sub_block(tg, "health_check");
    assert_eq!(lit_str(attr(hc, "path")), "/health");
    assert_eq!(
        lit_str(attr(hc, "matcher")),
        "200",
        "a redirect is not healthy"
    );
    assert!(attr_opt(hc.body(), "enabled").is_none_or(boolean));

    // A short deregistration delay: the blog's requests are short, and drains gate every release.
    assert_eq!(
        src(attr(tg, "deregistration_delay")),
        "var.deregistration_delay_seconds"
    );
    let delay = number(
        m.variable_default("deregistration_delay_seconds")
            .expect("default delay"),
    );
    assert!(
        (1..=30).contains(&delay),
        "deregistration delay {delay}s is not short"
    );
}

#[test]
fn production_listener_is_a_weighted_forward_the_console_owns() {
    let m = service();
    let prod = m.resource("aws_lb_listener", "prod");
    assert_eq!(src(attr(prod, "load_balancer_arn")), "aws_lb.this.arn");
    assert_eq!(src(attr(prod, "port")), "local.prod_listener_port");

    let action = sub_block(prod, "default_action");
    assert_eq!(lit_str(attr(action, "type")), "forward");
    let forward = sub_block(action, "forward");
    let weights: BTreeMap<String, i64> = sub_blocks(forward, "target_group")
        .into_iter()
        .map(|tg| (src(attr(tg, "arn")), number(attr(tg, "weight"))))
        .collect();
    assert_eq!(
        weights,
        BTreeMap::from([
            ("aws_lb_target_group.color[\"blue\"].arn".to_string(), 100),
            ("aws_lb_target_group.color[\"green\"].arn".to_string(), 0),
        ]),
        "initial weights: blue 100, green 0"
    );

    // The stored stable color starts as blue, and the console owns it and the weights afterwards.
    let tags = src(attr(prod, "tags"));
    assert!(
        tags.contains("\"bluegreen:stable\" = local.initial_stable"),
        "tags: {tags}"
    );
    assert_eq!(lit_str(m.local("initial_stable")), "blue");
    let ignored = ignore_changes(prod);
    assert!(
        ignored.contains("default_action"),
        "ignore_changes: {ignored:?}"
    );
    let console_tags = console_listener_tags();
    assert!(
        console_tags.contains("bluegreen:stable"),
        "{console_tags:?}"
    );
    for tag in &console_tags {
        if tag == "bluegreen:release:" {
            // The release record's chunks, `:0` up to the adapter's MAX_CHUNKS (its count,
            // `:n`, is a tag of its own in the set).
            let source = fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../console/src/platform/aws/release.rs"),
            )
            .expect("read release adapter");
            let max: usize = source
                .split("const MAX_CHUNKS: usize = ")
                .nth(1)
                .and_then(|rest| rest.split(';').next())
                .and_then(|n| n.trim().parse().ok())
                .expect("MAX_CHUNKS in the release adapter");
            for key in 0..max {
                assert!(
                    ignored.contains(&format!("tags[\"{tag}{key}\"]")),
                    "the console writes the listener tag {tag}{key}; terraform must not remove it: {ignored:?}"
                );
            }
            continue;
        }
        assert!(
            ignored.contains(&format!("tags[\"{tag}\"]")),
            "the console writes the listener tag {tag}; terraform must not remove it: {ignored:?}"
        );
    }
    let text = m.block_text("resource", &["aws_lb_listener", "prod"]);
    let reason = text
        .find("The console owns the weights")
        .unwrap_or(usize::MAX);
    let setting = text.find("ignore_changes").expect("ignore_changes in text");
    assert!(
        reason < setting,
        "the reason for ignore_changes must be written next to it"
    );
}

/// The listener tags the console's AWS adapter writes (stable color, bake): every
/// `"bluegreen:..."` literal in its source.
fn console_listener_tags() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../console/src/platform/aws");
    let mut tags = BTreeSet::new();
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let text = fs::read_to_string(&path).expect("read adapter source");
        for piece in text.split("\"bluegreen:").skip(1) {
            // A tag key is one word; a quoted sentence that starts with one (a test's
            // message) is not a tag.
            if let Some(end) = piece.find('"')
                && piece[..end]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':')
            {
                tags.insert(format!("bluegreen:{}", &piece[..end]));
            }
        }
    }
    tags
}

#[test]
fn test_listener_serves_the_idle_color_on_its_own_port() {
    let m = service();
    let test = m.resource("aws_lb_listener", "test");
    assert_eq!(src(attr(test, "load_balancer_arn")), "aws_lb.this.arn");
    assert_eq!(src(attr(test, "port")), "var.test_listener_port");
    let test_port = number(m.variable_default("test_listener_port").expect("default"));
    assert!(
        ![80, 443].contains(&test_port),
        "the test listener's default {test_port} must differ from production's 80 and 443"
    );
    let validation = m.block_text("variable", &["test_listener_port"]);
    assert!(
        validation.contains(
            "var.test_listener_port != coalesce(var.prod_listener_port, var.certificate_arn == null ? 80 : 443)"
        ),
        "the ports must be validated to differ, the production port as the module picks it: {validation}"
    );
    assert!(
        validation.contains("var.certificate_arn == null || var.test_listener_port != 80"),
        "with a certificate, port 80 is the redirect's: {validation}"
    );

    let action = sub_block(test, "default_action");
    assert_eq!(lit_str(attr(action, "type")), "forward");
    assert_eq!(
        src(attr(action, "target_group_arn")),
        "aws_lb_target_group.color[\"green\"].arn",
        "the test listener starts on the idle color"
    );
    assert!(ignore_changes(test).contains("default_action"));
}

#[test]
fn security_groups_admit_only_listener_ports_and_the_container_port_from_the_alb() {
    let m = service();
    for sg in m.resources("aws_security_group") {
        assert!(
            sub_blocks(sg, "ingress").is_empty() && sub_blocks(sg, "egress").is_empty(),
            "rules are separate resources, checked below: {:?}",
            sg.labels()
        );
    }
    let ingress = m.resources("aws_vpc_security_group_ingress_rule");
    assert!(!ingress.is_empty());
    let mut alb_ports = BTreeSet::new();
    for rule in ingress {
        assert_eq!(
            lit_str(attr(rule, "ip_protocol")),
            "tcp",
            "{:?}",
            rule.labels()
        );
        let from = src(attr(rule, "from_port"));
        assert_eq!(
            from,
            src(attr(rule, "to_port")),
            "single ports only: {:?}",
            rule.labels()
        );
        match src(attr(rule, "security_group_id")).as_str() {
            "aws_security_group.alb.id" => {
                alb_ports.insert(from);
            }
            "aws_security_group.tasks.id" => {
                assert_eq!(from, "var.container_port");
                assert_eq!(
                    src(attr(rule, "referenced_security_group_id")),
                    "aws_security_group.alb.id",
                    "tasks accept traffic only from the load balancer"
                );
                assert!(attr_opt(rule.body(), "cidr_ipv4").is_none());
                assert!(attr_opt(rule.body(), "cidr_ipv6").is_none());
            }
            other => panic!("ingress rule on an unexpected group {other}"),
        }
    }
    assert_eq!(
        alb_ports,
        BTreeSet::from([
            "80".to_string(),
            "local.prod_listener_port".to_string(),
            "var.test_listener_port".to_string()
        ])
    );
    // Port 80 opens only for the redirect (with a certificate), to the production listener's
    // readers; the production and test rules keep their own ranges.
    for (rule, cidrs) in [
        ("alb_prod", "toset(var.prod_ingress_cidrs)"),
        ("alb_test", "toset(var.test_ingress_cidrs)"),
        (
            "alb_http_redirect",
            "local.https ? toset(var.prod_ingress_cidrs) : toset([])",
        ),
    ] {
        let rule = m.resource("aws_vpc_security_group_ingress_rule", rule);
        assert_eq!(src(attr(rule, "for_each")), cidrs, "{:?}", rule.labels());
        assert_eq!(src(attr(rule, "cidr_ipv4")), "each.value");
    }
    let alb_out = m.resource("aws_vpc_security_group_egress_rule", "alb_to_tasks");
    assert_eq!(src(attr(alb_out, "from_port")), "var.container_port");
    assert_eq!(
        src(attr(alb_out, "referenced_security_group_id")),
        "aws_security_group.tasks.id"
    );
    // The services use the tasks' group, the load balancer its own.
    let svc = m.resource("aws_ecs_service", "color");
    let net = sub_block(svc, "network_configuration");
    assert_eq!(
        src(attr(net, "security_groups")),
        "[aws_security_group.tasks.id]"
    );
    let alb = m.resource("aws_lb", "this");
    assert_eq!(
        src(attr(alb, "security_groups")),
        "[aws_security_group.alb.id]"
    );
    assert!(boolean(attr(alb, "drop_invalid_header_fields")));
}

#[test]
fn with_a_certificate_listeners_serve_https_and_port_80_redirects_permanently() {
    let m = service();
    assert_eq!(src(m.local("https")), "var.certificate_arn != null");
    assert_eq!(
        src(m.local("listener_proto")),
        "local.https ? \"HTTPS\" : \"HTTP\""
    );
    assert_eq!(
        src(m.local("prod_listener_port")),
        "coalesce(var.prod_listener_port, local.https ? 443 : 80)",
        "production on 443 with a certificate, 80 without, unless a port is given"
    );
    assert!(
        m.variable_default("certificate_arn")
            .is_none_or(|d| matches!(d, hcl::Expression::Null))
    );
    assert!(
        m.variable_default("prod_listener_port")
            .is_none_or(|d| matches!(d, hcl::Expression::Null)),
        "the production port follows the certificate by default"
    );
    assert!(
        m.block_text("variable", &["prod_listener_port"]).contains(
            "var.prod_listener_port == null || var.certificate_arn == null || var.prod_listener_port != 80"
        ),
        "with a certificate, port 80 belongs to the redirect"
    );

    // Both listeners: HTTPS with the certificate and a TLS 1.3 policy, plain HTTP without.
    for name in ["prod", "test"] {
        let listener = m.resource("aws_lb_listener", name);
        assert_eq!(
            src(attr(listener, "protocol")),
            "local.listener_proto",
            "{name}"
        );
        assert_eq!(
            src(attr(listener, "certificate_arn")),
            "var.certificate_arn",
            "{name}"
        );
        assert_eq!(
            src(attr(listener, "ssl_policy")),
            "local.https ? var.ssl_policy : null",
            "{name}"
        );
    }
    let policy = lit_str(m.variable_default("ssl_policy").expect("a default policy")).to_string();
    assert!(
        policy.starts_with("ELBSecurityPolicy-TLS13-1-2-"),
        "a modern policy (TLS 1.3, TLS 1.2 at least): {policy}"
    );
    assert!(
        m.block_text("variable", &["ssl_policy"])
            .contains("startswith(var.ssl_policy, \"ELBSecurityPolicy-TLS13-\")"),
        "older policies (TLS 1.0, CBC ciphers) are refused"
    );

    // Port 80: only with a certificate, a 301 to the production listener, same host, path, query.
    let redirect = m.resource("aws_lb_listener", "http_redirect");
    let action = sub_block(redirect, "default_action");
    let to = sub_block(action, "redirect");
    let expected = [
        (redirect, "count", "local.https ? 1 : 0"),
        (redirect, "load_balancer_arn", "aws_lb.this.arn"),
        (redirect, "port", "80"),
        (redirect, "protocol", "\"HTTP\""),
        (action, "type", "\"redirect\""),
        (to, "protocol", "\"HTTPS\""),
        (to, "status_code", "\"HTTP_301\""),
        (to, "port", "tostring(local.prod_listener_port)"),
    ];
    for (block, key, want) in expected {
        assert_eq!(src(attr(block, key)), want, "the port-80 listener's {key}");
    }
    for (key, keep) in [
        ("host", "#{host}"),
        ("path", "/#{path}"),
        ("query", "#{query}"),
    ] {
        assert!(
            attr_opt(to.body(), key).is_none_or(|e| lit(e) == Some(keep)),
            "the redirect keeps the {key}"
        );
    }
    assert!(
        attr_opt(redirect.body(), "certificate_arn").is_none(),
        "port 80 serves no TLS"
    );

    // The URLs the stack prints follow the protocol and the port the module picked.
    let prod_url = src(attr(m.labelled("output", &["prod_url"])[0], "value"));
    assert!(
        prod_url.contains("lower(local.listener_proto)")
            && prod_url.contains("local.prod_listener_port"),
        "{prod_url}"
    );
}
