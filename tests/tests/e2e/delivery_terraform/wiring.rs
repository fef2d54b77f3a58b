//! Wiring: outputs for `bluegreen init --from-terraform`, references and module calls that
//! must resolve (in place of `terraform validate`), `dev.tfvars`, and checkov skips.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use bluegreen::config::terraform::{OPTIONAL, REQUIRED, init};

use bluegreen_tests::terraform::*;

/// The outputs `bluegreen init --from-terraform` reads, and the table the blog's tasks use: the
/// base state outputs `table_name` so the service state's `table_name` variable can be set from it.
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
        "lock_table_name" => "blog-dev-locks".into(),
        "log_group_name" => "/ecs/blog-dev".into(),
        "load_balancer_arn" => format!("{elb}:loadbalancer/app/blog-dev/50dc6c495c0c9188"),
        "prod_listener_arn" => {
            format!("{elb}:listener/app/blog-dev/50dc6c495c0c9188/f2f7dc8efc522ab2")
        }
        "test_listener_arn" => {
            format!("{elb}:listener/app/blog-dev/50dc6c495c0c9188/0467ef3c8400ae65")
        }
        "authors_table_name" => "BlogAuthors".into(),
        "journal_table_name" => "blog-dev-journal".into(),
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
        "lock_table = \"blog-dev-locks\"",
        "service = \"blog-dev-green\"",
        "log_group = \"/ecs/blog-dev\"",
        "log_stream_prefix = \"green\"",
        "journal_table = \"blog-dev-journal\"",
    ] {
        assert!(profile.contains(expected), "{expected} not in:\n{profile}");
    }
}

/// Every `var.X` a module uses is declared, every `local.X` defined, every `module.M.X` output
/// exists, and every module call passes only declared variables and all required ones.
#[test]
fn references_and_module_calls_resolve() {
    let modules: BTreeMap<&str, Module> = MODULE_DIRS
        .iter()
        .copied()
        .map(|rel| (rel, Module::load(rel)))
        .collect();

    for (rel, m) in &modules {
        let code = m.source_without_moves();
        let vars = m.names("variable");
        let locals: BTreeSet<String> = m.locals().keys().cloned().collect();
        for (prefix, known, what) in [("var.", &vars, "variable"), ("local.", &locals, "local")] {
            for name in references(&code, prefix) {
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
            for ty in references(&code, prefix) {
                for name in references(&code, &format!("{prefix}{ty}.")) {
                    let full = format!("{ty}.{name}");
                    assert!(
                        known.contains(&full),
                        "{rel}: {kind} {full} is not declared"
                    );
                }
            }
        }
        for ty in references(&code, "aws_") {
            let ty = format!("aws_{ty}");
            for name in references(&code, &format!("{ty}.")) {
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
            for name in references(&code, &format!("module.{label}.")) {
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

/// A module reads files only from its own directory: `templatefile()`, `file()` and the like
/// never climb out of `path.module`, so a module can be copied or published alone.
#[test]
fn modules_read_files_only_from_their_own_directory() {
    let mut file_reads = 0;
    for rel in MODULE_DIRS {
        let m = Module::load(rel);
        let code = without_comments(&m.source);
        for marker in ["${path.module}", "${path.root}", "${path.cwd}"] {
            for (i, _) in code.match_indices(marker) {
                let path = &code[i + marker.len()..];
                let path: String = path.chars().take_while(|c| *c != '"').collect();
                assert!(
                    marker == "${path.module}" && !path.contains(".."),
                    "{rel}: reads {marker}{path}, outside the module"
                );
                let file = m.dir.join(path.trim_start_matches('/'));
                assert!(file.is_file(), "{rel}: {} is missing", file.display());
                file_reads += 1;
            }
        }
    }
    assert!(
        file_reads > 0,
        "the scan found the operator policy template"
    );
}

/// The names in a README table section (`## Inputs` or `## Outputs`): the first cell of each row,
/// written as code (`` `name` ``).
fn readme_table_names(readme: &str, section: &str) -> BTreeSet<String> {
    let heading = format!("## {section}\n");
    let Some(start) = readme.find(&heading) else {
        return BTreeSet::new();
    };
    readme[start + heading.len()..]
        .lines()
        .take_while(|line| !line.starts_with("## "))
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_string()))
        .collect()
}

/// Every module has a README saying what it creates, with one table row per variable and per
/// output: a variable or output added, renamed or removed without its README row fails here.
#[test]
fn every_module_readme_lists_exactly_its_variables_and_outputs() {
    for rel in MODULE_DIRS {
        let m = Module::load(rel);
        let path = m.dir.join("README.md");
        let readme = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{rel} has no README ({}): {e}", path.display()));
        assert!(
            readme.contains("## What it creates"),
            "{rel}/README.md says what the module creates"
        );
        for (section, kind) in [("Inputs", "variable"), ("Outputs", "output")] {
            let declared = m.names(kind);
            assert!(!declared.is_empty(), "{rel} declares no {kind}");
            let listed = readme_table_names(&readme, section);
            let missing: Vec<_> = declared.difference(&listed).collect();
            let stale: Vec<_> = listed.difference(&declared).collect();
            assert!(
                missing.is_empty() && stale.is_empty(),
                "{rel}/README.md, {section}: missing {missing:?}, no such {kind} {stale:?}"
            );
        }
    }
}

/// Guards the README parser: a table it could not read would make the check above fail on every
/// module, but a parser that read the wrong section would let stale rows through.
#[test]
fn readme_table_names_reads_one_section() {
    let readme = "# M\n\n## Inputs\n\n| Name | Type |\n| --- | --- |\n| `a` | `string` |\n| `b_c` | `number` |\n\n## Outputs\n\n| Name |\n| --- |\n| `out` | x |\n";
    assert_eq!(
        readme_table_names(readme, "Inputs"),
        BTreeSet::from(["a".to_string(), "b_c".to_string()])
    );
    assert_eq!(
        readme_table_names(readme, "Outputs"),
        BTreeSet::from(["out".to_string()])
    );
    assert!(readme_table_names(readme, "Resources").is_empty());
}
