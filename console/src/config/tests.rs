use std::path::Path;

use super::terraform::{InitError, Outputs};
use super::*;

/// Two profiles: `prod` (AWS, the default) and `dev` (local).
pub(super) const GOOD: &str = r#"
default_profile = "prod"

[profiles.prod]
region = "us-east-1"
read_only = true
cluster = "blog"
prod_listener = "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/blog/abc/def"
test_listener = "blog:8080"
codebuild_project = "blog"
ecr_repository = "blog"

[profiles.prod.blue]
service = "blog-blue"
task_family = "blog-blue"
target_group = "arn:tg-blue"
log_group = "/ecs/blog"
log_stream_prefix = "blue"

[profiles.prod.green]
service = "blog-green"
task_family = "blog-green"
target_group = "arn:tg-green"
log_group = "/ecs/blog"
log_stream_prefix = "green"

[profiles.dev]
platform = "local"
"#;

fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
    ConfigFile::parse(Path::new("bluegreen.toml"), text)
}

#[test]
fn parses_profiles_in_file_order() {
    let f = parse(GOOD).expect("valid file");
    let names: Vec<_> = f.profiles.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["prod", "dev"]);
    let prod = f.profile(None).expect("default profile");
    assert!(prod.read_only);
    let Target::Aws(aws) = &prod.target else {
        panic!("prod is an AWS profile")
    };
    assert_eq!(aws.colors.green.service, "blog-green");
    assert_eq!(
        aws.test_listener,
        Some(ListenerRef::Port {
            load_balancer: "blog".into(),
            port: 8080
        })
    );
    let dev = f.profile(Some("dev")).expect("dev exists");
    assert_eq!(dev.target, Target::Local(LocalProfile { state_dir: None }));
    let err = f.profile(Some("qa")).expect_err("no qa");
    assert!(
        err.to_string()
            .contains("no profile `qa` (profiles: prod, dev)")
    );
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let text = GOOD.replace("cluster = \"blog\"", "cluster = \"blog\"\nclustr = \"x\"");
    let err = parse(&text).expect_err("unknown key").to_string();
    assert!(err.starts_with("bluegreen.toml:8:"), "{err}");
    assert!(err.contains("clustr"), "{err}");
}

#[test]
fn missing_key_names_the_profile_line_and_key() {
    let text = GOOD.replace("codebuild_project = \"blog\"\n", "");
    let err = parse(&text).expect_err("missing key").to_string();
    assert_eq!(
        err,
        "bluegreen.toml:4:1: profile `prod` is missing the key `codebuild_project`"
    );
    let text = GOOD
        .replace("codebuild_project = \"blog\"\n", "")
        .replace("ecr_repository = \"blog\"\n", "");
    let err = parse(&text).expect_err("missing keys").to_string();
    assert!(
        err.ends_with("profile `prod` is missing the keys `codebuild_project`, `ecr_repository`"),
        "{err}"
    );
    let text = GOOD.replace("log_stream_prefix = \"green\"\n", "");
    let err = parse(&text).expect_err("missing key").to_string();
    assert!(err.starts_with("bluegreen.toml:20:"), "{err}");
    assert!(err.contains("[profiles.prod.green] is missing the key `log_stream_prefix`"));
}

#[test]
fn bad_values_are_named() {
    let err = parse(&GOOD.replace("platform = \"local\"", "platform = \"k8s\""))
        .expect_err("bad platform")
        .to_string();
    assert!(err.contains("platform `k8s` is unknown"), "{err}");
    let err = parse(&GOOD.replace("\"blog:8080\"", "\"blog:http\""))
        .expect_err("bad port")
        .to_string();
    assert!(err.starts_with("bluegreen.toml:9:"), "{err}");
    let err = parse(&GOOD.replace(
        "platform = \"local\"",
        "platform = \"local\"\ncluster = \"x\"",
    ))
    .expect_err("aws key on local")
    .to_string();
    assert!(err.contains("sets the AWS key `cluster`"), "{err}");
    let err = parse(&GOOD.replace("default_profile = \"prod\"", "default_profile = \"qa\""))
        .expect_err("bad default")
        .to_string();
    assert!(err.starts_with("bluegreen.toml:2:"), "{err}");
}

#[test]
fn call_timeout_is_checked() {
    let f = parse(&GOOD.replace("cluster = \"blog\"", "cluster = \"blog\"\ncall_timeout = 5"))
        .expect("valid");
    let Target::Aws(aws) = &f.profile(None).expect("prod").target else {
        panic!("aws")
    };
    assert_eq!(aws.call_timeout, Some(std::time::Duration::from_secs(5)));
    let err = parse(&GOOD.replace("cluster = \"blog\"", "cluster = \"blog\"\ncall_timeout = 0"))
        .expect_err("zero")
        .to_string();
    assert_eq!(
        err,
        "bluegreen.toml:8:16: profile `prod`: call_timeout must be 1..=600 seconds"
    );
    let err = parse(&GOOD.replace(
        "cluster = \"blog\"",
        "cluster = \"blog\"\ncall_timeout = \"5s\"",
    ))
    .expect_err("a string")
    .to_string();
    assert!(err.starts_with("bluegreen.toml:8:16:"), "{err}");
}

#[test]
fn max_tasks_is_bounded() {
    let f = parse(GOOD).expect("valid");
    assert_eq!(f.profile(None).expect("prod").max_tasks, 20, "the default");
    let f = parse(&GOOD.replace("cluster = \"blog\"", "cluster = \"blog\"\nmax_tasks = 40"))
        .expect("valid");
    assert_eq!(f.profile(None).expect("prod").max_tasks, 40);
    for bad in ["0", "1001"] {
        let err = parse(&GOOD.replace(
            "cluster = \"blog\"",
            &format!("cluster = \"blog\"\nmax_tasks = {bad}"),
        ))
        .expect_err("out of range")
        .to_string();
        assert!(err.starts_with("bluegreen.toml:8:13:"), "{err}");
        assert!(err.contains("use 1 to 1000"), "{err}");
    }
    let err = parse(&GOOD.replace("cluster = \"blog\"", "cluster = \"blog\"\nmax_tasks = -1"))
        .expect_err("negative")
        .to_string();
    assert!(err.starts_with("bluegreen.toml:8:"), "{err}");
}

#[test]
fn several_profiles_need_a_choice() {
    let text = GOOD.replace("default_profile = \"prod\"\n", "");
    let f = parse(&text).expect("valid");
    let err = f.profile(None).expect_err("ambiguous").to_string();
    assert!(err.contains("pick one with --profile (prod, dev)"), "{err}");
}

fn tf(values: &[(&str, &str)]) -> String {
    let map: serde_json::Map<_, _> = values
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                serde_json::json!({"value": v, "type": "string", "sensitive": false}),
            )
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

const BASE: &[(&str, &str)] = &[
    ("region", "eu-west-1"),
    ("cluster_name", "blog"),
    ("table_name", "posts"),
    ("log_group_name", "/ecs/blog"),
    ("load_balancer_arn", "arn:lb"),
    ("prod_listener_arn", "arn:prod"),
    ("test_listener_arn", "arn:test"),
    ("codebuild_project_name", "blog-build"),
    ("ecr_repository_name", "blog"),
];

const SERVICES: &[(&str, &str)] = &[
    ("blue_service_name", "blog-blue"),
    ("green_service_name", "blog-green"),
    ("blue_task_family", "blog-blue"),
    ("green_task_family", "blog-green"),
    ("blue_target_group_arn", "arn:tg/blue"),
    ("green_target_group_arn", "arn:tg/green"),
    ("blue_log_stream_prefix", "blue"),
    ("green_log_stream_prefix", "green"),
];

#[test]
fn terraform_outputs_merge_into_a_valid_profile() {
    let mut o = Outputs::default();
    o.merge(Path::new("base.json"), &tf(BASE)).expect("base");
    let err = o.profile_toml("prod", None).expect_err("services missing");
    assert!(
        matches!(err, InitError::Missing { ref missing, .. } if missing.len() == 8),
        "{err}"
    );
    assert!(err.to_string().contains("blue_service_name"));
    o.merge(Path::new("services.json"), &tf(SERVICES))
        .expect("services");
    let text = o.profile_toml("prod", None).expect("complete");
    insta::assert_snapshot!(text);
    let f = parse(&text).expect("the written profile parses");
    let Target::Aws(aws) = &f.profile(None).expect("one profile").target else {
        panic!("aws profile")
    };
    assert_eq!(aws.region.as_deref(), Some("eu-west-1"));
    assert_eq!(aws.colors.blue.target_group, "arn:tg/blue");
}

#[test]
fn terraform_conflicts_are_refused() {
    let mut o = Outputs::default();
    o.merge(Path::new("a.json"), &tf(BASE)).expect("a");
    let err = o
        .merge(Path::new("b.json"), &tf(&[("region", "us-east-1")]))
        .expect_err("conflict");
    assert_eq!(
        err.to_string(),
        "output `region` differs between a.json and b.json"
    );
    let err = o
        .merge(Path::new("c.json"), "not json")
        .expect_err("bad json");
    assert!(
        err.to_string()
            .starts_with("c.json is not `terraform output -json` output")
    );
}

/// The base and service states' outputs, written into `dir`.
fn outputs(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let base = dir.join("base.json");
    let services = dir.join("services.json");
    std::fs::write(&base, tf(BASE)).expect("write");
    std::fs::write(&services, tf(SERVICES)).expect("write");
    (base, services)
}

#[test]
fn init_appends_and_keeps_what_was_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, services) = outputs(dir.path());
    let config = dir.path().join("bluegreen.toml");
    std::fs::write(
        &config,
        "# my comment\n[profiles.dev]\nplatform = \"local\"\n",
    )
    .expect("write");
    terraform::init_with(
        &config,
        "prod",
        Some("ops"),
        &[base.clone(), services.clone()],
        false,
    )
    .expect("init");
    let text = std::fs::read_to_string(&config).expect("read");
    assert!(text.starts_with("# my comment\n"));
    let f = ConfigFile::load(&config).expect("valid");
    assert_eq!(f.profiles.len(), 2);
    let f = ConfigFile::load(&config).expect("valid");
    let Target::Aws(aws) = &f.profile(Some("prod")).expect("prod").target else {
        panic!("aws")
    };
    assert_eq!(aws.aws_profile.as_deref(), Some("ops"));
    let err =
        terraform::init(&config, "prod", &[base.clone(), services.clone()]).expect_err("exists");
    assert!(matches!(err, InitError::Exists { .. }));
    assert!(err.to_string().contains("--update"), "{err}");
    // `--update` rewrites the keys the outputs give and keeps the profile's own.
    let mut text = std::fs::read_to_string(&config).expect("read");
    text = text.replace("[profiles.prod]\n", "[profiles.prod]\nread_only = true\n");
    text = text.replace(&aws.cluster, "an-old-cluster");
    std::fs::write(&config, text).expect("write");
    terraform::init_with(&config, "prod", Some("ops"), &[base, services], true).expect("update");
    let f = ConfigFile::load(&config).expect("valid");
    assert_eq!(f.profiles.len(), 2);
    let prod = f.profile(Some("prod")).expect("prod");
    let Target::Aws(updated) = &prod.target else {
        panic!("aws")
    };
    assert_eq!(updated.cluster, aws.cluster);
    assert!(prod.read_only, "the profile's own key stays");
}

/// `init --update` edits the file in place: the person's comments, blank lines and key order
/// stay, the keys the outputs give change where they are, new ones join their table.
#[test]
fn init_update_keeps_comments_and_key_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, services) = outputs(dir.path());
    let config = dir.path().join("bluegreen.toml");
    terraform::init_with(
        &config,
        "prod",
        None,
        &[base.clone(), services.clone()],
        false,
    )
    .expect("init");
    let text = std::fs::read_to_string(&config).expect("read");
    let cluster = "cluster = ";
    let at = text.find(cluster).expect("cluster key");
    let end = at + text[at..].find('\n').expect("line end");
    let mut mine = format!(
        "# Our production stack: ask #ops before changing it.\n{}",
        &text[..at]
    );
    mine += "read_only = true   # armed releases only\n";
    mine += "cluster = \"an-old-cluster\"   # moved in March\n";
    mine += &text[end + 1..];
    let mine = mine.replace("ecr_repository = ", "# the registry\necr_repository = ");
    std::fs::write(&config, &mine).expect("write");
    terraform::init_with(&config, "prod", None, &[base, services], true).expect("update");
    let after = std::fs::read_to_string(&config).expect("read");
    assert!(
        after.starts_with("# Our production stack: ask #ops before changing it.\n"),
        "{after}"
    );
    assert!(
        after.contains("read_only = true   # armed releases only\n"),
        "{after}"
    );
    assert!(after.contains("# moved in March"), "{after}");
    assert!(!after.contains("an-old-cluster"), "{after}");
    assert!(
        after.contains("# the registry\necr_repository = "),
        "{after}"
    );
    // Keys stay where they were: read_only before cluster, region first.
    let pos = |k: &str| after.find(k).unwrap_or_else(|| panic!("{k} in {after}"));
    assert!(pos("region = ") < pos("read_only = ") && pos("read_only = ") < pos("cluster = "));
    assert!(ConfigFile::parse(&config, &after).is_ok());
}

mod proptests {
    use super::*;
    use crate::rollout::limits;
    use proptest::prelude::*;

    const LOCAL: &str = "[profiles.dev]\nplatform = \"local\"\n";
    const AWS: &str = r#"[profiles.prod]
cluster = "c"
prod_listener = "arn:aws:elasticloadbalancing:eu-west-1:1:listener/app/lb/1/2"
codebuild_project = "p"
ecr_repository = "r"
blue = { service = "b", task_family = "b", target_group = "arn:tg/b", log_group = "g", log_stream_prefix = "blog" }
green = { service = "g", task_family = "g", target_group = "arn:tg/g", log_group = "g", log_stream_prefix = "blog" }
"#;

    /// A line of TOML as a person might write one, right or wrong.
    fn toml_line() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,30}",
            "(max_tasks|call_timeout|read_only|platform|default_profile|state_dir) = (-?[0-9]{1,22}|\"\\PC{0,8}\"|true|\\[\\]|\\{\\})",
            "\\[profiles\\.[a-z]{1,4}\\]",
        ]
    }

    proptest! {
        #![proptest_config(crate::prop::config())]

        #[test]
        fn any_file_is_a_config_or_an_error_with_a_line(lines in prop::collection::vec(toml_line(), 0..8)) {
            let text = lines.join("\n");
            if let Err(ConfigError::Invalid { line, column, .. }) = parse(&text) {
                prop_assert!(line >= 1 && line <= text.lines().count().max(1) + 1);
                prop_assert!(column >= 1);
            }
        }

        #[test]
        fn max_tasks_is_accepted_in_range_and_refused_naming_it(n in any::<i64>()) {
            let got = parse(&format!("{LOCAL}max_tasks = {n}\n"));
            let fits = (1..=limits::MAX_TASKS_CEILING as i64).contains(&n);
            match got {
                Ok(f) => {
                    prop_assert!(fits);
                    prop_assert_eq!(f.profiles[0].max_tasks as i64, n);
                }
                Err(e) => {
                    prop_assert!(!fits);
                    let text = e.to_string();
                    prop_assert!(text.contains(&format!("1 to {}", limits::MAX_TASKS_CEILING)), "{}", text);
                    prop_assert!(text.contains("bluegreen.toml:3:"), "{}", text);
                }
            }
        }

        #[test]
        fn call_timeout_is_accepted_in_range_and_refused_naming_it(n in prop_oneof![any::<i64>(), -5i64..700]) {
            let got = parse(&format!("{AWS}call_timeout = {n}\n"));
            let fits = (1..=600).contains(&n);
            match got {
                Ok(f) => {
                    prop_assert!(fits);
                    let Target::Aws(aws) = &f.profiles[0].target else { panic!("an AWS profile") };
                    prop_assert_eq!(aws.call_timeout, Some(std::time::Duration::from_secs(n as u64)));
                }
                Err(e) => {
                    prop_assert!(!fits);
                    prop_assert!(e.to_string().contains("1..=600"), "{}", e);
                }
            }
        }

        #[test]
        fn a_listener_reference_parses_or_explains(s in "\\PC{0,20}|[a-z:-]{1,10}:[0-9]{1,7}") {
            match ListenerRef::parse(&s) {
                Ok(r) => prop_assert_eq!(ListenerRef::parse(&r.to_string()), Ok(r)),
                Err(e) => prop_assert!(e.contains(&format!("`{s}`")) || e.contains("port"), "{}", e),
            }
        }
    }
}

const PLANS: &str = r#"
[plans.careful]
type = "canary"
steps = [{ weight = 0.5, hold = "2m" }, { weight = 10, hold = "5m" }, { weight = 50 }]
hold = "3m"
interval = "15s"
on_inconclusive = "proceed"
[plans.careful.gates]
max_error_rate = 0.5

[plans.steady]
type = "linear"
step = 25
every = "2m"

[plans.quick]
steps = [{ weight = 10, hold = 5 }]
"#;

fn with_plans(profile_extra: &str) -> String {
    format!(
        "{}\n{PLANS}",
        GOOD.replace(
            "[profiles.prod.blue]",
            &format!("{profile_extra}\n[profiles.prod.blue]")
        )
    )
}

#[test]
fn plans_parse_with_their_steps_gates_and_the_profiles_defaults() {
    let text = with_plans(
        "plan = \"careful\"\nscale_in_on_rollback = true\nsmoke = [{ path = \"/\", body_contains = \"Blog\" }]\n[profiles.prod.gates]\nmax_error_rate = 2.0\nalarms = [\"blog-5xx\"]",
    );
    let f = parse(&text).expect("valid");
    let prod = f.profile(Some("prod")).expect("prod");
    let r = &prod.release;
    assert_eq!(r.default_plan.as_deref(), Some("careful"));
    assert!(r.scale_in_on_rollback);
    assert_eq!(r.smoke[0].body_contains.as_deref(), Some("Blog"));
    assert_eq!(r.smoke[0].status, 200);
    let careful = r.plan("careful").expect("careful");
    let steps: Vec<(u16, u64)> = careful
        .steps
        .iter()
        .map(|s| (s.weight.get(), s.hold_secs))
        .collect();
    assert_eq!(steps, [(5, 120), (100, 300), (500, 180)]);
    assert_eq!(careful.interval_secs, 15);
    // Its own gates win; the profile's apply to plans without gates.
    assert_eq!(careful.gates.max_error_rate, 0.5);
    assert!(careful.gates.alarms.is_empty());
    let steady = r.plan("steady").expect("steady");
    assert_eq!(steady.steps.len(), 3);
    assert_eq!(steady.gates.max_error_rate, 2.0);
    assert_eq!(steady.gates.alarms, ["blog-5xx"]);
    // A local profile gets the plans, the default smoke checks and no alarms.
    let dev = f.profile(Some("dev")).expect("dev");
    assert_eq!(dev.release.smoke.len(), 2);
    assert!(dev.release.plan("quick").is_some());
}

#[test]
fn bad_plans_name_the_line_and_the_way_out() {
    // (the plan, the line and column within it, the message)
    let cases = [
        (
            "[plans.x]\nsteps = [{ weight = 10, hold = 60 }, { weight = 5, hold = 60 }]\n",
            "2:9",
            "steps must increase",
        ),
        (
            "[plans.x]\nsteps = [{ weight = 10, hold = 60, wait = 3 }]\n",
            "2:",
            "unknown field `wait`",
        ),
        (
            "[plans.x]\ntype = \"bluegreen\"\nsteps = []\n",
            "2:8",
            "type `bluegreen` is unknown",
        ),
        (
            "[plans.x]\nsteps = [{ weight = 10 }]\n",
            "2:9",
            "a step has no hold",
        ),
        (
            "[plans.x]\nsteps = [{ weight = 0.05, hold = 60 }]\n",
            "2:9",
            "at most one decimal",
        ),
        (
            "[plans.x]\nsteps = [{ weight = 10, hold = \"5ss\" }]\n",
            "2:9",
            "not a duration",
        ),
        (
            "[plans.x]\ntype = \"linear\"\nstep = 10\n",
            "1:1",
            "needs `every`",
        ),
        (
            "[plans.x]\nsteps = [{ weight = 10, hold = 60 }]\n[plans.x.gates]\nmax_error_rate = 200\n",
            "3:1",
            "gates.max_error_rate",
        ),
    ];
    let offset = GOOD.lines().count() + 1;
    for (plans, at, message) in cases {
        let err = parse(&format!("{GOOD}\n{plans}"))
            .expect_err(plans)
            .to_string();
        let (line, col) = at.split_once(':').expect("line:col");
        let line: usize = line.parse().expect("a line");
        let want = format!("bluegreen.toml:{}:{col}", line + offset);
        assert!(err.contains(&want), "{plans}: {err} (wanted {want})");
        assert!(err.contains(message), "{plans}: {err}");
    }
    // An AWS profile's plan may not hold a step shorter than CloudWatch's metric period.
    let err = parse(&with_plans("plan = \"quick\""))
        .expect_err("short hold")
        .to_string();
    assert!(
        err.contains("60 s metric period") && err.contains("plan `quick`"),
        "{err}"
    );
    let err = parse(&with_plans("plan = \"nope\""))
        .expect_err("unknown")
        .to_string();
    assert!(err.contains("[plans.nope]"), "{err}");
    // Alarms on a local profile are refused.
    let local = format!("{GOOD}\n[profiles.dev.gates]\nalarms = [\"a\"]\n");
    let err = parse(&local).expect_err("alarms on local").to_string();
    assert!(err.contains("local profile"), "{err}");
}

#[test]
fn journal_table_is_optional_and_read_when_given() {
    let aws = |text: &str| {
        let f = parse(text).expect("valid");
        let Target::Aws(aws) = f.profile(None).expect("prod").target.clone() else {
            panic!("aws")
        };
        aws
    };
    assert_eq!(aws(GOOD).journal_table, None);
    let with = GOOD.replace(
        "cluster = \"blog\"",
        "cluster = \"blog\"\njournal_table = \"blog-journal\"",
    );
    assert_eq!(aws(&with).journal_table.as_deref(), Some("blog-journal"));
}
