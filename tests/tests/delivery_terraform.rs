//! Offline checks of the Terraform stack (`terraform/`): nothing here can be applied on a test
//! machine, so these tests parse the HCL and assert the invariants a release depends on. Each one
//! fails if someone removes what it guards (the listener's `ignore_changes`, the `/health` check,
//! the task role's scope, ...). They also stand in for `terraform validate`, which needs the
//! providers: every `var.`/`local.` reference must be declared, every module argument must exist.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use bluegreen::config::terraform::{OPTIONAL, REQUIRED, init};
use hcl::expr::{Expression, FuncCall, ObjectKey, TemplateExpr};
use hcl::{Block, Body};

fn terraform_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../terraform")
}

/// One Terraform module (a directory): its `.tf` files parsed and concatenated.
struct Module {
    dir: PathBuf,
    source: String,
    blocks: Vec<Block>,
}

impl Module {
    fn load(rel: &str) -> Module {
        let dir = terraform_dir().join(rel);
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|p| p.extension().is_some_and(|ext| ext == "tf"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no .tf files in {}", dir.display());
        let mut source = String::new();
        let mut blocks = Vec::new();
        for file in files {
            let text = fs::read_to_string(&file).expect("read .tf file");
            let body: Body = hcl::parse(&text)
                .unwrap_or_else(|e| panic!("{} is not valid HCL: {e}", file.display()));
            blocks.extend(body.into_blocks());
            source.push_str(&text);
            source.push('\n');
        }
        Module {
            dir,
            source,
            blocks,
        }
    }

    fn labelled(&self, kind: &str, labels: &[&str]) -> Vec<&Block> {
        self.blocks
            .iter()
            .filter(|b| {
                b.identifier() == kind
                    && b.labels().len() >= labels.len()
                    && b.labels()
                        .iter()
                        .zip(labels)
                        .all(|(have, want)| have.as_str() == *want)
            })
            .collect()
    }

    fn resources(&self, ty: &str) -> Vec<&Block> {
        self.labelled("resource", &[ty])
    }

    fn resource(&self, ty: &str, name: &str) -> &Block {
        let found = self.labelled("resource", &[ty, name]);
        assert_eq!(
            found.len(),
            1,
            "expected exactly one resource \"{ty}\" \"{name}\" in {}",
            self.dir.display()
        );
        found[0]
    }

    fn data(&self, ty: &str, name: &str) -> &Block {
        let found = self.labelled("data", &[ty, name]);
        assert_eq!(
            found.len(),
            1,
            "expected exactly one data \"{ty}\" \"{name}\" in {}",
            self.dir.display()
        );
        found[0]
    }

    fn locals(&self) -> BTreeMap<String, &Expression> {
        self.blocks
            .iter()
            .filter(|b| b.identifier() == "locals")
            .flat_map(|b| b.body().attributes())
            .map(|a| (a.key().to_string(), a.expr()))
            .collect()
    }

    fn local(&self, name: &str) -> &Expression {
        self.locals()
            .get(name)
            .copied()
            .unwrap_or_else(|| panic!("local.{name} is not defined in {}", self.dir.display()))
    }

    fn names(&self, kind: &str) -> BTreeSet<String> {
        self.blocks
            .iter()
            .filter(|b| b.identifier() == kind)
            .filter_map(|b| b.labels().first().map(|l| l.as_str().to_string()))
            .collect()
    }

    fn variable_default(&self, name: &str) -> Option<&Expression> {
        let var = self.labelled("variable", &[name]);
        assert_eq!(var.len(), 1, "variable \"{name}\" is not declared");
        attr_opt(var[0].body(), "default")
    }

    /// The source text from a block's header to its closing brace, with comments, for checks
    /// on the reasons written next to a setting.
    fn block_text(&self, kind: &str, labels: &[&str]) -> &str {
        let header = format!(
            "{kind} {}",
            labels
                .iter()
                .map(|l| format!("\"{l}\""))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let start = self
            .source
            .find(&header)
            .unwrap_or_else(|| panic!("no `{header}` in {}", self.dir.display()));
        let rest = &self.source[start..];
        let end = rest.find("\n}\n").map_or(rest.len(), |i| i + 3);
        &rest[..end]
    }
}

fn attr_opt<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

fn attr<'a>(block: &'a Block, key: &str) -> &'a Expression {
    attr_opt(block.body(), key).unwrap_or_else(|| {
        panic!(
            "{} {:?} has no attribute `{key}`",
            block.identifier(),
            block.labels()
        )
    })
}

fn sub_blocks<'a>(block: &'a Block, ident: &str) -> Vec<&'a Block> {
    block
        .body()
        .blocks()
        .filter(|b| b.identifier() == ident)
        .collect()
}

fn sub_block<'a>(block: &'a Block, ident: &str) -> &'a Block {
    let found = sub_blocks(block, ident);
    assert_eq!(
        found.len(),
        1,
        "{} {:?} should have one `{ident}` block",
        block.identifier(),
        block.labels()
    );
    found[0]
}

/// HCL source form of an expression, for comparing references (`aws_iam_role.task.arn`). Lists
/// are written on one line, `[a, b]`.
fn src(expr: &Expression) -> String {
    match expr {
        Expression::Array(items) => {
            format!("[{}]", items.iter().map(src).collect::<Vec<_>>().join(", "))
        }
        other => other.to_string(),
    }
}

/// The value of a literal string (a quoted template without interpolation).
fn lit(expr: &Expression) -> Option<&str> {
    match expr {
        Expression::String(s) => Some(s),
        Expression::TemplateExpr(t) => match t.as_ref() {
            TemplateExpr::QuotedString(s) if !s.contains("${") => Some(s),
            _ => None,
        },
        _ => None,
    }
}

fn lit_str(expr: &Expression) -> &str {
    lit(expr).unwrap_or_else(|| panic!("expected a literal string, found `{}`", src(expr)))
}

fn number(expr: &Expression) -> i64 {
    match expr {
        Expression::Number(n) => n.as_i64().expect("integer"),
        other => panic!("expected a number, found `{}`", src(other)),
    }
}

fn boolean(expr: &Expression) -> bool {
    match expr {
        Expression::Bool(b) => *b,
        other => panic!("expected true or false, found `{}`", src(other)),
    }
}

fn array(expr: &Expression) -> &[Expression] {
    match expr {
        Expression::Array(items) => items,
        other => panic!("expected a list, found `{}`", src(other)),
    }
}

fn strings(expr: &Expression) -> BTreeSet<String> {
    array(expr).iter().map(|e| lit_str(e).to_string()).collect()
}

fn func<'a>(expr: &'a Expression, name: &str) -> &'a FuncCall {
    match expr {
        Expression::FuncCall(call) if call.name.name.as_str() == name => call,
        other => panic!("expected a call to {name}(), found `{}`", src(other)),
    }
}

fn object_get<'a>(expr: &'a Expression, key: &str) -> Option<&'a Expression> {
    let Expression::Object(object) = expr else {
        panic!("expected an object, found `{}`", src(expr))
    };
    object.iter().find_map(|(k, v)| {
        let name = match k {
            ObjectKey::Identifier(id) => id.as_str().to_string(),
            ObjectKey::Expression(e) => lit(e).unwrap_or_default().to_string(),
            _ => String::new(),
        };
        (name == key).then_some(v)
    })
}

fn field<'a>(expr: &'a Expression, key: &str) -> &'a Expression {
    object_get(expr, key).unwrap_or_else(|| panic!("no `{key}` in `{}`", src(expr)))
}

/// The colors a `for_each = local.colors` iterates over.
fn colors(module: &Module) -> BTreeSet<String> {
    let expr = module.local("colors");
    let list = match expr {
        Expression::FuncCall(call) if call.name.name.as_str() == "toset" => &call.args[0],
        other => other,
    };
    strings(list)
}

fn assert_for_each_colors(module: &Module, block: &Block) {
    assert_eq!(
        src(attr(block, "for_each")),
        "local.colors",
        "{:?} must exist once per color",
        block.labels()
    );
    assert_eq!(
        colors(module),
        BTreeSet::from(["blue".to_string(), "green".to_string()])
    );
}

fn ignore_changes(block: &Block) -> BTreeSet<String> {
    let lifecycle = sub_block(block, "lifecycle");
    array(attr(lifecycle, "ignore_changes"))
        .iter()
        .map(src)
        .collect()
}

fn service() -> Module {
    Module::load("modules/service")
}

fn base() -> Module {
    Module::load("modules/base")
}

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
    assert_eq!(src(attr(prod, "port")), "var.prod_listener_port");

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
            if let Some(end) = piece.find('"') {
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
    let prod_port = number(m.variable_default("prod_listener_port").expect("default"));
    assert_ne!(test_port, prod_port);
    assert!(
        m.block_text("variable", &["test_listener_port"])
            .contains("var.test_listener_port != var.prod_listener_port"),
        "the ports must be validated to differ"
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
            "var.prod_listener_port".to_string(),
            "var.test_listener_port".to_string()
        ])
    );
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

/// The statements of an `aws_iam_policy_document` data source, dynamic ones included.
fn statements(doc: &Block) -> Vec<&Block> {
    let mut out = sub_blocks(doc, "statement");
    for dynamic in sub_blocks(doc, "dynamic") {
        if dynamic.labels().first().map(|l| l.as_str()) == Some("statement") {
            out.push(sub_block(dynamic, "content"));
        }
    }
    out
}

/// The policy document (data source) attached inline to a role.
fn role_policy_document<'a>(m: &'a Module, role: &str) -> &'a Block {
    let attached: Vec<&Block> = m
        .resources("aws_iam_role_policy")
        .into_iter()
        .filter(|p| src(attr(p, "role")) == format!("aws_iam_role.{role}.id"))
        .collect();
    assert_eq!(
        attached.len(),
        1,
        "role {role} should carry one inline policy"
    );
    let policy = src(attr(attached[0], "policy"));
    let name = policy
        .strip_prefix("data.aws_iam_policy_document.")
        .and_then(|rest| rest.strip_suffix(".json"))
        .unwrap_or_else(|| panic!("role {role}'s policy is not a policy document: {policy}"));
    m.data("aws_iam_policy_document", name)
}

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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../blog/src/store/dynamodb");
    let mut actions = BTreeSet::new();
    let mut files = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !file.ends_with(".rs") || file == "migrate.rs" {
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
fn task_role_is_scoped_to_the_table_and_its_index() {
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
    assert_eq!(dynamodb.len(), 1, "one DynamoDB statement");
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
    assert_eq!(
        resources,
        "[data.aws_dynamodb_table.posts.arn, \"${data.aws_dynamodb_table.posts.arn}/index/ByTimestamp\"]"
    );
    assert_eq!(
        src(attr(m.data("aws_dynamodb_table", "posts"), "name")),
        "var.table_name"
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
    for rel in [
        "modules/base",
        "modules/service",
        "envs/dev/base",
        "envs/dev/service",
    ] {
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
    let gsi = sub_block(table, "global_secondary_index");
    assert_eq!(lit_str(attr(gsi, "name")), "ByTimestamp");
    assert_eq!(lit_str(attr(gsi, "hash_key")), "feed");
    assert_eq!(lit_str(attr(gsi, "range_key")), "timestamp");
    assert_eq!(lit_str(attr(gsi, "projection_type")), "ALL");
    assert!(boolean(attr(
        sub_block(table, "point_in_time_recovery"),
        "enabled"
    )));
    let sse = sub_block(table, "server_side_encryption");
    assert!(boolean(attr(sse, "enabled")));
    assert_eq!(src(attr(sse, "kms_key_arn")), "aws_kms_key.base.arn");
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

#[test]
fn csrf_secret_is_shared_encrypted_and_kept_out_of_state() {
    let m = service();
    let param = m.resource("aws_ssm_parameter", "csrf_secret");
    assert_eq!(lit_str(attr(param, "type")), "SecureString");
    assert_eq!(
        src(attr(param, "value_wo")),
        "ephemeral.random_password.csrf_secret.result"
    );
    assert!(
        attr_opt(param.body(), "value").is_none(),
        "a plain value would land in the state"
    );
    let exec = role_policy_document(&m, "execution");
    assert!(statements(exec).iter().any(|s| {
        src(attr(s, "actions")) == "[\"ssm:GetParameters\"]"
            && src(attr(s, "resources")) == "[aws_ssm_parameter.csrf_secret.arn]"
    }));
}

/// The outputs `bluegreen init --from-terraform` reads, and the table the blog's tasks use
/// (AGREEMENTS.md names it among the outputs too).
fn agreed_outputs() -> BTreeSet<&'static str> {
    REQUIRED
        .iter()
        .chain(OPTIONAL)
        .copied()
        .chain(["table_name"])
        .collect()
}

#[test]
fn the_two_states_output_every_name_init_from_terraform_reads() {
    let base = Module::load("envs/dev/base");
    let service = Module::load("envs/dev/service");
    let base_out = base.names("output");
    let service_out = service.names("output");
    for name in agreed_outputs() {
        assert!(
            base_out.contains(name) || service_out.contains(name),
            "output {name} missing from both states"
        );
    }
    // Where both states output a name, the merge must see one value.
    for name in base_out.intersection(&service_out) {
        assert_eq!(name, "region", "{name} is output by both states");
        assert_eq!(
            src(attr(base.labelled("output", &[name])[0], "value")),
            "var.region"
        );
        assert_eq!(
            src(attr(service.labelled("output", &[name])[0], "value")),
            "module.service.region"
        );
    }
}

/// What an apply of the dev environment (`name = "blog-dev"`) would output for `name`.
fn applied_output(name: &str) -> String {
    let elb = "arn:aws:elasticloadbalancing:us-east-1:123456789012";
    match name {
        "region" => "us-east-1".into(),
        "cluster_name" | "ecr_repository_name" => "blog-dev".into(),
        "table_name" => "BlogPosts".into(),
        "codebuild_project_name" => "blog-dev-image".into(),
        "log_group_name" => "/ecs/blog-dev".into(),
        "load_balancer_arn" => format!("{elb}:loadbalancer/app/blog-dev/50dc6c495c0c9188"),
        "prod_listener_arn" => {
            format!("{elb}:listener/app/blog-dev/50dc6c495c0c9188/f2f7dc8efc522ab2")
        }
        "test_listener_arn" => {
            format!("{elb}:listener/app/blog-dev/50dc6c495c0c9188/0467ef3c8400ae65")
        }
        "operator_policy_arn" => {
            "arn:aws:iam::123456789012:policy/blog-dev-bluegreen-operator".into()
        }
        "ecr_repository_url" => "123456789012.dkr.ecr.us-east-1.amazonaws.com/blog-dev".into(),
        "prod_url" => "http://blog-dev-1234567890.us-east-1.elb.amazonaws.com:80/".into(),
        "test_url" => "http://blog-dev-1234567890.us-east-1.elb.amazonaws.com:8080/".into(),
        other => {
            for color in ["blue", "green"] {
                match other.strip_prefix(color).and_then(|r| r.strip_prefix('_')) {
                    Some("service_name" | "task_family") => return format!("blog-dev-{color}"),
                    Some("target_group_arn") => {
                        return format!("{elb}:targetgroup/blog-dev-{color}/73e2d6bc24d8a067");
                    }
                    Some("log_stream_prefix") => return color.to_string(),
                    _ => {}
                }
            }
            panic!("no applied value for output {other}: add it here")
        }
    }
}

/// The console turns the two states' `terraform output -json` into a profile: feed it what
/// these environments would print and check that it accepts them.
#[test]
fn init_from_terraform_accepts_both_states_outputs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    for (state, rel) in [("base", "envs/dev/base"), ("service", "envs/dev/service")] {
        let outputs: serde_json::Map<String, serde_json::Value> = Module::load(rel)
            .names("output")
            .into_iter()
            .map(|name| {
                let value = applied_output(&name);
                let output =
                    serde_json::json!({"sensitive": false, "type": "string", "value": value});
                (name, output)
            })
            .collect();
        let path = dir.path().join(format!("{state}.json"));
        fs::write(&path, serde_json::Value::Object(outputs).to_string()).expect("write outputs");
        files.push(path);
    }
    let config = dir.path().join("bluegreen.toml");
    let profile = init(&config, "dev", &files)
        .unwrap_or_else(|e| panic!("init --from-terraform rejects the stack's outputs: {e}"));
    for expected in [
        "cluster = \"blog-dev\"",
        "codebuild_project = \"blog-dev-image\"",
        "service = \"blog-dev-green\"",
        "log_group = \"/ecs/blog-dev\"",
        "log_stream_prefix = \"green\"",
    ] {
        assert!(profile.contains(expected), "{expected} not in:\n{profile}");
    }
}

/// Every `var.X` a module uses is declared, every `local.X` defined, every `module.M.X` output
/// exists, and every module call passes only declared variables and all required ones.
#[test]
fn references_and_module_calls_resolve() {
    let modules: BTreeMap<&str, Module> = [
        "modules/base",
        "modules/service",
        "envs/dev/base",
        "envs/dev/service",
    ]
    .into_iter()
    .map(|rel| (rel, Module::load(rel)))
    .collect();

    for (rel, m) in &modules {
        let vars = m.names("variable");
        let locals: BTreeSet<String> = m.locals().keys().cloned().collect();
        for (prefix, known, what) in [("var.", &vars, "variable"), ("local.", &locals, "local")] {
            for name in references(&m.source, prefix) {
                assert!(
                    known.contains(&name),
                    "{rel}: {prefix}{name} is not a declared {what}"
                );
            }
        }
        // Resources, data sources and ephemeral resources referred to must be declared.
        let declared = |kind: &str| -> BTreeSet<String> {
            m.blocks
                .iter()
                .filter(|b| b.identifier() == kind && b.labels().len() == 2)
                .map(|b| format!("{}.{}", b.labels()[0].as_str(), b.labels()[1].as_str()))
                .collect()
        };
        let (resources, data, ephemeral) = (
            declared("resource"),
            declared("data"),
            declared("ephemeral"),
        );
        for (kind, prefix, known) in [
            ("data", "data.", &data),
            ("ephemeral", "ephemeral.", &ephemeral),
        ] {
            for ty in references(&m.source, prefix) {
                for name in references(&m.source, &format!("{prefix}{ty}.")) {
                    let full = format!("{ty}.{name}");
                    assert!(
                        known.contains(&full),
                        "{rel}: {kind} {full} is not declared"
                    );
                }
            }
        }
        for ty in references(&m.source, "aws_") {
            let ty = format!("aws_{ty}");
            for name in references(&m.source, &format!("{ty}.")) {
                let full = format!("{ty}.{name}");
                assert!(resources.contains(&full), "{rel}: {full} is not declared");
            }
        }
        for call in m.blocks.iter().filter(|b| b.identifier() == "module") {
            let label = call.labels()[0].as_str();
            let source = lit_str(attr(call, "source"));
            let target_dir = m.dir.join(source);
            let target = modules
                .values()
                .find(|t| same_dir(&t.dir, &target_dir))
                .unwrap_or_else(|| panic!("{rel}: module {label} source {source} not found"));
            let declared = target.names("variable");
            let passed: BTreeSet<String> = call
                .body()
                .attributes()
                .map(|a| a.key().to_string())
                .filter(|k| k != "source")
                .collect();
            for arg in &passed {
                assert!(
                    declared.contains(arg),
                    "{rel}: module {label} has no variable {arg}"
                );
            }
            for var in &declared {
                if target.variable_default(var).is_none() {
                    assert!(passed.contains(var), "{rel}: module {label} needs {var}");
                }
            }
            let outputs = target.names("output");
            for name in references(&m.source, &format!("module.{label}.")) {
                assert!(
                    outputs.contains(&name),
                    "{rel}: module.{label}.{name} is not an output"
                );
            }
        }
    }
}

/// `dev.tfvars` sets only declared variables, and every required variable but `image_tag` (passed
/// with -var after the first build, as docs/aws-setup.md says).
#[test]
fn dev_tfvars_match_the_environments_variables() {
    for (rel, may_be_missing) in [
        ("envs/dev/base", vec![]),
        ("envs/dev/service", vec!["image_tag"]),
    ] {
        let m = Module::load(rel);
        let text = fs::read_to_string(m.dir.join("dev.tfvars")).expect("dev.tfvars");
        let body = hcl::parse(&text).unwrap_or_else(|e| panic!("{rel}/dev.tfvars: {e}"));
        let set: BTreeSet<String> = body.attributes().map(|a| a.key().to_string()).collect();
        let declared = m.names("variable");
        for key in &set {
            assert!(
                declared.contains(key),
                "{rel}/dev.tfvars sets undeclared variable {key}"
            );
        }
        for var in &declared {
            if m.variable_default(var).is_none() && !may_be_missing.contains(&var.as_str()) {
                assert!(set.contains(var), "{rel}/dev.tfvars must set {var}");
            }
        }
        for var in may_be_missing {
            assert!(!set.contains(var), "{rel}/dev.tfvars must not pin {var}");
        }
    }
}

#[test]
fn operator_policy_template_gets_every_placeholder_it_uses() {
    let m = service();
    let policy = m.resource("aws_iam_policy", "operator");
    let call = func(attr(policy, "policy"), "templatefile");
    assert_eq!(
        src(&call.args[0]),
        "\"${path.module}/../../operator-policy.json\""
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
    let template =
        fs::read_to_string(terraform_dir().join("operator-policy.json")).expect("operator policy");
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

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The source with `#` comments removed (the stack's HCL has no `#` inside strings).
fn without_comments(source: &str) -> String {
    source
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Identifiers following `prefix` in the source (`var.` → `name`), outside comments.
fn references(source: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for code in without_comments(source).lines() {
        let mut rest = code;
        while let Some(i) = rest.find(prefix) {
            let boundary = rest[..i]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'));
            let after = &rest[i + prefix.len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            if boundary && !name.is_empty() {
                out.insert(name.clone());
            }
            rest = &after[name.len()..];
        }
    }
    out
}

/// Guards the helpers above: a reference scan that found nothing would make
/// `references_and_module_calls_resolve` pass vacuously.
#[test]
fn reference_scan_finds_references() {
    let found = references(
        "a = var.one\n  b = \"${var.two}-x\" # var.three\n  c = local.x\n  d = module.m.out",
        "var.",
    );
    assert_eq!(
        found,
        BTreeSet::from(["one".to_string(), "two".to_string()])
    );
}

/// Every checkov check skipped in the stack is skipped next to its resource with a reason, and
/// none is skipped globally.
#[test]
fn every_checkov_skip_gives_its_reason() {
    let config =
        fs::read_to_string(terraform_dir().join("../.checkov.yaml")).expect(".checkov.yaml");
    assert!(
        !config.contains("skip-check") && !config.contains("soft-fail"),
        "no global skips or soft failures in .checkov.yaml"
    );
    let mut skips = 0;
    let mut stack = vec![terraform_dir()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read terraform dir") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|ext| ext != "tf") {
                continue;
            }
            let text = fs::read_to_string(&path).expect("read .tf");
            for line in text.lines().filter(|l| l.contains("checkov:skip")) {
                let rest = line
                    .split("#checkov:skip=")
                    .nth(1)
                    .unwrap_or_else(|| panic!("{}: malformed skip: {line}", path.display()));
                let (id, reason) = rest
                    .split_once(':')
                    .unwrap_or_else(|| panic!("{}: skip without a reason: {line}", path.display()));
                assert!(id.starts_with("CKV"), "{}: {line}", path.display());
                assert!(
                    reason.split_whitespace().count() >= 5,
                    "{}: the reason for {id} must explain itself: {line}",
                    path.display()
                );
                skips += 1;
            }
        }
    }
    assert!(skips > 0, "the scan found the stack's skips");
}
