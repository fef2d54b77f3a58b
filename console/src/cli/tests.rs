use clap::Parser;

use super::render::{self, Calls, Status};
use super::{Cli, Command};
use crate::platform::{FaultKind, PlatformError, PlatformInfo, PlatformKind, WeightChange};
use crate::rollout::{
    Bake, Build, BuildPhase, BuildStatus, Color, ColorState, Image, ImageRef, Listener, PerColor,
    ServiceEvent, ServiceState, Snapshot, TargetHealth, TargetState, TaskHealth, TaskState,
    Weights,
};

/// 2026-11-28T07:00:00Z
const NOW: i64 = 1_795_849_200_000;

fn w(green: u8) -> Weights {
    Weights::with_green_percent(green).expect("valid weights")
}

fn image(tag: &str, digest: Option<&str>) -> ImageRef {
    ImageRef {
        reference: format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/blog:{tag}"),
        tag: Some(tag.into()),
        digest: digest.map(str::to_string),
    }
}

fn color(color: Color, tag: &str, digest: &str, healthy: usize, desired: u32) -> ColorState {
    let tasks = (0..desired)
        .map(|i| TaskState {
            id: format!("{color}-task-{i}"),
            last_status: "RUNNING".into(),
            health: TaskHealth::Healthy,
            started_at: Some(NOW - 600_000),
            revision: 4,
            image: Some(image(tag, Some(digest))),
            stopped_reason: None,
        })
        .collect();
    let targets = (0..desired as usize)
        .map(|i| TargetState {
            id: format!("10.0.{}.{i}:8080", color as u8),
            task_id: Some(format!("{color}-task-{i}")),
            health: if i < healthy {
                TargetHealth::Healthy
            } else {
                TargetHealth::Initial
            },
            reason: (i >= healthy).then(|| "Elb.RegistrationInProgress".to_string()),
        })
        .collect();
    ColorState {
        color,
        service: ServiceState {
            name: format!("blog-{color}"),
            desired,
            running: desired,
            pending: 0,
            status: "ACTIVE".into(),
            task_definition: format!("blog-{color}:4"),
            revision: 4,
            image: Some(image(tag, None)),
            deployments: vec![],
            events: vec![ServiceEvent {
                at: NOW - 60_000,
                message: format!("(service blog-{color}) has reached a steady state."),
            }],
        },
        tasks,
        targets,
    }
}

fn snapshot(weights: Weights, stable: Color, bake: Option<Bake>) -> Snapshot {
    Snapshot {
        taken_at: NOW,
        listener: Listener {
            id: "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/blog/1/2".into(),
            weights,
            stable: Some(stable),
            bake,
            test_color: Some(Color::Green),
            test_id: Some("arn:test".into()),
            faults: Vec::new(),
            written: None,
            written_services: Vec::new(),
            guard: None,
        },
        colors: PerColor::new(
            color(Color::Blue, "v1", "sha256:aaaa1111bbbb2222", 2, 2),
            color(Color::Green, "v2", "sha256:cccc3333dddd4444", 1, 2),
        ),
        api_calls: 10,
        stale: Vec::new(),
    }
}

fn info() -> PlatformInfo {
    PlatformInfo {
        profile: "prod".into(),
        kind: PlatformKind::Aws {
            account: None,
            region: "us-east-1".into(),
        },
        cluster: "blog".into(),
        finishes_bake: false,
        metrics_resolution_ms: 1,
        metrics_per_period: false,
    }
}

fn builds() -> Vec<Build> {
    let phase = |name: &str, status, secs: u64| BuildPhase {
        name: name.into(),
        status,
        started_at: Some(NOW - 300_000),
        ended_at: Some(NOW - 300_000 + secs as i64 * 1000),
        duration_ms: Some(secs * 1000),
        context: vec![],
    };
    vec![Build {
        id: "blog-build:42".into(),
        number: Some(42),
        status: BuildStatus::Succeeded,
        source_version: Some("main".into()),
        resolved_source: Some("0123abcd".into()),
        started_at: Some(NOW - 300_000),
        ended_at: Some(NOW - 108_000),
        phases: vec![
            phase("BUILD", BuildStatus::Succeeded, 150),
            phase("POST_BUILD", BuildStatus::Succeeded, 30),
            phase("COMPLETED", BuildStatus::Succeeded, 0),
        ],
        log_location: Some("/aws/codebuild/blog/42".into()),
        exported: vec![("IMAGE_DIGEST".into(), "sha256:cccc3333dddd4444".into())],
    }]
}

fn images() -> Vec<Image> {
    vec![
        Image {
            digest: "sha256:cccc3333dddd4444".into(),
            tags: vec!["v2".into(), "0123abcd".into()],
            size_bytes: Some(9_000_000),
            pushed_at: Some(NOW - 100_000),
        },
        Image {
            digest: "sha256:aaaa1111bbbb2222".into(),
            tags: vec!["v1".into()],
            size_bytes: Some(8_900_000),
            pushed_at: Some(NOW - 86_400_000),
        },
    ]
}

#[test]
fn status_at_rest_verbose() {
    let snap = snapshot(w(0), Color::Blue, None);
    let (b, i) = (builds(), images());
    let text = render::status(&Status {
        info: &info(),
        snap: &snap,
        builds: Ok(&b),
        images: Ok(&i),
        verbose: true,
        calls: Some(Calls { refresh: 10 }),
        now: NOW,
    });
    insta::assert_snapshot!(text);
}

#[test]
fn status_mid_bake_and_during_a_shift() {
    let bake = Bake {
        old: Color::Blue,
        until: NOW + 150_000,
        keep_old: false,
    };
    let snap = snapshot(w(100), Color::Green, Some(bake.clone()));
    let text = render::status(&Status {
        info: &info(),
        snap: &snap,
        builds: Ok(&[]),
        images: Err("ecr:DescribeImages on blog failed (throttled): Rate exceeded"),
        verbose: false,
        calls: Some(Calls { refresh: 10 }),
        now: NOW,
    });
    insta::assert_snapshot!("mid_bake", text);
    // The bake time is over but the console that promoted quit: the next promote finishes it.
    let over = render::status(&Status {
        now: NOW + 200_000,
        ..Status {
            info: &info(),
            snap: &snap,
            builds: Ok(&[]),
            images: Ok(&[]),
            verbose: false,
            calls: None,
            now: 0,
        }
    });
    assert!(over.contains("bake pending (over since 2026-11-28T07:02:30Z), old color blue still running: `bluegreen promote` finishes it"), "{over}");

    let snap = snapshot(w(20), Color::Blue, None);
    let text = render::status(&Status {
        info: &info(),
        snap: &snap,
        builds: Err("codebuild:ListBuildsForProject on blog-build failed (access denied)"),
        images: Ok(&[]),
        verbose: false,
        calls: None,
        now: NOW,
    });
    insta::assert_snapshot!("during_shift", text);
}

#[test]
fn weight_changes_say_what_the_listener_shows() {
    let applied = WeightChange {
        previous: Some(w(0)),
        desired: w(20),
        observed: Some(w(20)),
        write_error: None,
        read_error: None,
    };
    assert_eq!(
        render::weight_change("shifted", &applied),
        "shifted: blue 80 / green 20 applied (was blue 100 / green 0)"
    );
    let err = PlatformError::call(
        "elbv2:ModifyListener",
        "arn:l",
        FaultKind::Throttled,
        "Rate exceeded",
    );
    let not = WeightChange {
        observed: Some(w(0)),
        write_error: Some(err.clone()),
        ..applied.clone()
    };
    assert_eq!(
        render::weight_change("shifted", &not),
        "shifted: NOT applied: wanted blue 80 / green 20, the listener shows blue 100 / green 0"
    );
    let unknown = WeightChange {
        observed: None,
        read_error: Some(err),
        ..applied
    };
    assert_eq!(
        render::weight_change("shifted", &unknown),
        "shifted: UNKNOWN: wanted blue 80 / green 20; the read-back failed"
    );
}

#[test]
fn durations_from_the_command_line_are_bounded() {
    for args in [
        &["bluegreen", "promote", "--bake", "10000000000000000"][..],
        &[
            "bluegreen",
            "wait",
            "--healthy",
            "green",
            "--timeout",
            "18446744073709551615",
        ],
        &["bluegreen", "build", "--wait", "--timeout", "86401"],
        &[
            "bluegreen",
            "deploy",
            "--tag",
            "v2",
            "--timeout",
            "99999999",
        ],
        &["bluegreen", "logs", "--since", "99999999999"],
    ] {
        let err = Cli::try_parse_from(args).expect_err("out of range");
        let text = err.to_string();
        assert!(text.contains("is not in 0.."), "{args:?}: {text}");
        assert_eq!(err.exit_code(), crate::ops::exit::USAGE);
    }
    assert!(Cli::try_parse_from(["bluegreen", "promote", "--bake", "86400"]).is_ok());
}

#[test]
fn logs_since_takes_units() {
    let parsed = Cli::try_parse_from(["bluegreen", "logs", "--since", "10m"]).expect("10m");
    assert!(format!("{parsed:?}").contains("since: 600"), "{parsed:?}");
    let err = Cli::try_parse_from(["bluegreen", "logs", "--since", "10 minutes"])
        .expect_err("not a duration");
    assert!(err.to_string().contains("is not a duration"), "{err}");
}

#[test]
fn usage_errors_have_a_json_form() {
    let err = Cli::try_parse_from(["bluegreen", "--json", "shift", "--green", "abc"])
        .expect_err("not a number");
    let doc = super::run::usage_json(&err);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["exit_code"], crate::ops::exit::USAGE);
    let error = doc["error"].as_str().expect("a message");
    assert!(
        error.contains("abc") && error.contains("--green"),
        "{error}"
    );
    assert!(!error.starts_with("error:"), "{error}");
}

#[test]
fn the_command_line_definition_is_consistent() {
    // Catches clashing flags, e.g. a subcommand's own `--json` next to the global one.
    <Cli as clap::CommandFactory>::command().debug_assert();
}

#[test]
fn command_line_shapes() {
    let cli = Cli::try_parse_from([
        "bluegreen",
        "shift",
        "--blue",
        "30",
        "--json",
        "--profile",
        "prod",
    ])
    .expect("valid");
    assert!(cli.global.json);
    assert_eq!(cli.global.profile.as_deref(), Some("prod"));
    let Some(Command::Shift(args)) = cli.command else {
        panic!("shift")
    };
    assert_eq!(args.weights(), w(70));
    assert!(Cli::try_parse_from(["bluegreen", "shift"]).is_err());
    assert!(Cli::try_parse_from(["bluegreen", "shift", "--green", "101"]).is_err());
    assert!(Cli::try_parse_from(["bluegreen", "shift", "--green", "1", "--blue", "99"]).is_err());
    let cli = Cli::try_parse_from(["bluegreen", "wait", "--weights", "80:20", "--timeout", "9"])
        .expect("valid");
    let Some(Command::Wait(args)) = cli.command else {
        panic!("wait")
    };
    assert_eq!(
        (args.weights, args.timeout),
        (Some(Weights::percent(80, 20).expect("valid")), 9)
    );
    assert!(Cli::try_parse_from(["bluegreen", "wait", "--weights", "80:30"]).is_err());
    assert!(Cli::try_parse_from(["bluegreen", "wait", "--healthy", "red"]).is_err());
    assert!(Cli::try_parse_from(["bluegreen", "wait"]).is_err());
    let cli = Cli::try_parse_from(["bluegreen", "wait", "--release", "--until", "paused"])
        .expect("valid");
    let Some(Command::Wait(args)) = cli.command else {
        panic!("wait --release")
    };
    assert!(args.release && args.until == Some(super::release::Until::Paused));
    assert!(Cli::try_parse_from(["bluegreen", "wait", "--release", "--until", "done"]).is_err());
    assert!(Cli::try_parse_from(["bluegreen", "wait", "--until", "paused"]).is_err());
    assert!(Cli::try_parse_from(["bluegreen", "wait", "--release", "--healthy", "green"]).is_err());
    for until in [
        ["--until", "paused"].as_slice(),
        ["--until-paused"].as_slice(),
    ] {
        let argv = [["bluegreen", "release", "--tag", "v2"].as_slice(), until].concat();
        let Some(Command::Release(args)) = Cli::try_parse_from(argv).expect("valid").command else {
            panic!("release")
        };
        assert!(args.stops_at_pause());
    }
    let cli = Cli::try_parse_from(["bluegreen", "promote"]).expect("valid");
    assert!(matches!(
        cli.command,
        Some(Command::Promote {
            bake: 300,
            keep_old: false
        })
    ));
    assert!(
        Cli::try_parse_from(["bluegreen", "init"]).is_err(),
        "init needs a file"
    );
    let cli = Cli::try_parse_from(["bluegreen"]).expect("the console");
    assert!(cli.command.is_none());
}

#[test]
fn an_unhealthy_color_is_explained() {
    let mut c = color(Color::Green, "v2", "sha256:cccc", 1, 2);
    c.tasks[1].last_status = "STOPPED".into();
    c.tasks[1].stopped_reason = Some("Essential container in task exited".into());
    insta::assert_snapshot!(render::why_unhealthy(&c));
}

mod proptests {
    use super::*;
    use crate::rollout::limits::*;
    use proptest::prelude::*;

    /// Every numeric flag: the words before it, the flag, and its range.
    const NUMBER_FLAGS: &[(&[&str], &str, u64, u64)] = &[
        (&["promote"], "--bake", 0, MAX_BAKE_SECS),
        (&["build"], "--timeout", 0, MAX_WAIT_SECS),
        (&["deploy", "--tag", "v2"], "--timeout", 0, MAX_WAIT_SECS),
        (
            &["wait", "--healthy", "green"],
            "--timeout",
            0,
            MAX_WAIT_SECS,
        ),
        (&["logs"], "--since", 0, MAX_LOG_SINCE_SECS),
        (&["logs"], "--lines", 1, MAX_LOG_LINES as u64),
        (
            &["scale", "--color", "blue"],
            "--count",
            0,
            MAX_TASKS_CEILING as u64,
        ),
        (&["shift"], "--green", 0, 100),
        (&["shift"], "--blue", 0, 100),
        (
            &["local", "up"],
            "--health-interval-ms",
            LOCAL_MIN_HEALTH_INTERVAL_MS,
            LOCAL_MAX_DELAY_MS,
        ),
        (
            &["local", "up"],
            "--healthy-threshold",
            1,
            MAX_HEALTH_THRESHOLD as u64,
        ),
        (
            &["local", "daemon"],
            "--unhealthy-threshold",
            1,
            MAX_HEALTH_THRESHOLD as u64,
        ),
        (
            &["local", "up"],
            "--deregistration-delay-ms",
            0,
            LOCAL_MAX_DELAY_MS,
        ),
        (&["local", "up"], "--stop-timeout-ms", 0, LOCAL_MAX_DELAY_MS),
        (&["demo"], "--tasks", 1, 8),
    ];

    proptest! {
        #![proptest_config(crate::prop::config())]

        #[test]
        fn every_number_flag_is_bounded_and_refusals_name_the_range(
            flag in prop::sample::select(NUMBER_FLAGS),
            n in crate::prop::number(),
        ) {
            let (words, name, min, max) = flag;
            let args = std::iter::once("bluegreen")
                .chain(words.iter().copied())
                .chain([name, n.as_str()]);
            let fits = n.parse::<u64>().is_ok_and(|v| (min..=max).contains(&v));
            match Cli::try_parse_from(args) {
                Ok(cli) => {
                    prop_assert!(fits, "{name} {n} was accepted");
                    if let Some(Command::Promote { bake, .. }) = cli.command {
                        prop_assert_eq!(Some(bake), n.parse().ok());
                    }
                }
                Err(e) => {
                    prop_assert!(!fits, "{name} {n}: {e}");
                    let text = e.to_string();
                    prop_assert!(text.contains(&format!("{min}..={max}")), "{}", text);
                    prop_assert_eq!(e.exit_code(), crate::ops::exit::USAGE);
                }
            }
        }

        #[test]
        fn any_arguments_are_parsed_or_refused(words in prop::collection::vec("(--?[a-z-]{1,12}|\\PC{0,10})", 0..6)) {
            let _ = Cli::try_parse_from(std::iter::once("bluegreen".to_string()).chain(words));
        }

        #[test]
        fn wait_for_weights_takes_only_a_pair_summing_to_100(w in "\\PC{0,8}|[0-9]{1,4}:[0-9]{1,4}") {
            if let Ok(Cli { command: Some(Command::Wait(args)), .. }) =
                Cli::try_parse_from(["bluegreen", "wait", "--weights", &w])
            {
                let got = args.weights.expect("given");
                prop_assert_eq!(got.get(Color::Blue) + got.get(Color::Green), Weights::TOTAL);
            }
        }
    }
}

#[test]
fn the_demo_names_the_next_step_for_the_state_it_leaves() {
    let tags = vec!["v2".to_string(), "v1".to_string()];
    let mut rest = snapshot(w(0), Color::Blue, None);
    // Green runs v2, healthy, at 0%.
    rest.colors.green = color(Color::Green, "v2", "sha256:cccc", 2, 2);
    let healthy = render::next_step(&rest, None, &tags);
    assert!(
        healthy.contains("`bluegreen shift --green 10`"),
        "{healthy}"
    );

    let mut starting = rest.clone();
    starting.colors.green = color(Color::Green, "v2", "sha256:cccc", 0, 2);
    let s = render::next_step(&starting, None, &tags);
    assert!(s.contains("`bluegreen wait --healthy green`"), "{s}");

    let mut empty = rest.clone();
    empty.colors.green.service.desired = 0;
    empty.colors.green.tasks.clear();
    let s = render::next_step(&empty, None, &tags);
    assert!(s.contains("--tag v2"), "{s}");
    let s = render::next_step(&empty, None, &["v1".to_string()]);
    assert!(s.contains("demo --second-release"), "{s}");

    let split = snapshot(w(50), Color::Blue, None);
    let s = render::next_step(&split, None, &tags);
    assert!(s.starts_with("green has 50%"), "{s}");
    assert!(
        s.contains("`bluegreen promote`") && s.contains("`bluegreen rollback`"),
        "{s}"
    );

    let mut same = rest.clone();
    same.colors.green = color(Color::Green, "v1", "sha256:aaaa", 2, 2);
    let s = render::next_step(&same, None, &tags);
    assert!(s.contains("`bluegreen deploy --tag v2`"), "{s}");
}

#[test]
fn the_consoles_release_picker_starts_what_a_bare_release_command_starts() {
    // The console's picker has no clap; its defaults are rollout's, and must stay the CLI's.
    let cli = Cli::try_parse_from(["bluegreen", "release", "--tag", "v2", "--plan", "careful"])
        .expect("valid");
    let Some(Command::Release(args)) = cli.command else {
        panic!("release")
    };
    assert_eq!(
        args.request(),
        crate::rollout::resolve::ReleaseRequest::by_plan("v2", Some("careful"))
    );
}
