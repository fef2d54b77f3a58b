//! The `:` command line: the CLI's verbs, parsed into actions. Dangerous verbs open the same
//! confirm dialogs as their keys.

use super::Action;
use crate::rollout::release::Request;
use crate::rollout::{Color, Share, Weights};

fn release(request: Request) -> Action {
    Action::ReleaseRequest { request }
}

/// What `:help` lists, one verb per line.
pub const VERBS: &[(&str, &str)] = &[
    (
        "shift N | shift B:G",
        "give N% to the canary (the slider's color), or an exact split, after a confirm",
    ),
    (
        "shift --green N | --blue N",
        "give N% to a named color (the CLI's flags)",
    ),
    (
        "promote [--bake SECS] [--keep-old]",
        "give the canary 100% and make it stable",
    ),
    ("rollback", "give the stable color 100% (one weight change)"),
    ("finish-bake", "end a promote's bake now"),
    (
        "deploy [TAG] | deploy --tag TAG",
        "deploy an image tag to the idle color",
    ),
    (
        "release --tag TAG [--plan P | --steps 1,10,50 --hold 2m]",
        "start a release by a plan (R picks the image and plan)",
    ),
    ("build [REF] | build --source-version REF", "start a build"),
    (
        "scale COLOR N | scale --color C --count N",
        "set a color's desired task count",
    ),
    (
        "arm",
        "allow writes for this session on a read-only profile",
    ),
    (
        "pause | resume | abort | dismiss",
        "the release: hold its weight, go on, stable 100% (confirm), hide an ended one",
    ),
    ("refresh | status", "poll everything now"),
    (
        "help | quit",
        "show the keys; leave the console (the platform keeps running)",
    ),
];

/// Parses one command line (without the leading `:`): the console's own verbs and short
/// forms first, then the CLI's words and flags, parsed by the CLI's own parser.
pub fn parse_command(line: &str) -> Result<Action, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&verb, args)) = words.split_first() else {
        return Err("empty command: try `:help`".into());
    };
    let flags = args.iter().any(|a| a.starts_with("--"));
    match (verb, args) {
        ("shift", [_]) => parse_shift(args),
        ("shift", [flag, _]) if matches!(*flag, "-g" | "-b") => parse_shift(args),
        ("rb", _) => no_args(verb, args, Action::Rollback),
        ("finish-bake", _) => no_args(verb, args, Action::FinishBake),
        ("deploy", []) => Ok(Action::Deploy { tag: None }),
        ("deploy", [tag]) if !flags => Ok(Action::Deploy {
            tag: Some((*tag).to_string()),
        }),
        ("release", []) => Ok(Action::OpenRelease),
        ("build", [v]) if !flags => Ok(Action::StartBuild {
            source_version: Some((*v).to_string()),
        }),
        ("scale", [color, n]) if !flags => Ok(Action::Scale {
            color: color.parse::<Color>().map_err(|e| e.to_string())?,
            desired: task_count(n)?,
        }),
        ("arm", _) => no_args(verb, args, Action::Arm),
        ("dismiss", _) => no_args(verb, args, Action::DismissRelease),
        ("refresh", _) => no_args(verb, args, Action::Refresh),
        ("help" | "h" | "?", _) => Ok(Action::ToggleHelp),
        ("quit" | "q" | "exit", _) => Ok(Action::Quit),
        _ => parse_cli(&words),
    }
}

/// The CLI's verbs, parsed by the CLI's parser: the same words, flags, bounds and messages.
fn parse_cli(words: &[&str]) -> Result<Action, String> {
    use crate::cli::{Cli, Command};
    use clap::{CommandFactory, Parser};
    let verb = words.first().copied().unwrap_or_default();
    let known = Cli::command()
        .get_subcommands()
        .any(|c| c.get_name() == verb);
    if !known {
        let shown: String = verb.chars().take(32).collect();
        return Err(format!(
            "unknown command `{shown}`: try shift, promote, rollback, release, deploy, build, scale, arm, help"
        ));
    }
    // The flags of the whole console (profile, config, read-only…) were set when it started.
    let globals: Vec<String> = Cli::command()
        .get_arguments()
        .filter(|a| a.is_global_set())
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    if let Some(g) = words.iter().find_map(|w| {
        globals
            .iter()
            .find(|g| *w == g.as_str() || w.starts_with(&format!("{g}=")))
    }) {
        return Err(format!(
            "`{g}` applies to the whole console: quit and start it again with {g}"
        ));
    }
    let parsed = Cli::try_parse_from(std::iter::once("bluegreen").chain(words.iter().copied()))
        .map_err(|e| clap_message(verb, &e))?;
    let Some(command) = parsed.command else {
        return Err("empty command: try `:help`".into());
    };
    match command {
        Command::Shift(a) => {
            if a.force {
                return Err("shift: the confirm dialog overrides the guard (f), not --force".into());
            }
            let (color, share) = a.share();
            Ok(Action::Shift {
                color: Some(color),
                share,
            })
        }
        Command::Promote { bake, keep_old } => Ok(Action::Promote {
            bake_secs: Some(bake),
            keep_old,
        }),
        Command::Rollback => Ok(Action::Rollback),
        Command::Build { source_version, .. } => Ok(Action::StartBuild { source_version }),
        Command::Deploy { tag, color: None, .. } => Ok(Action::Deploy { tag: Some(tag) }),
        Command::Deploy { color: Some(_), .. } => Err(
            "deploy: the console deploys to the idle color; `bluegreen deploy --color` in a shell picks another".into(),
        ),
        Command::Scale { color, count } => Ok(Action::Scale {
            color,
            desired: count,
        }),
        Command::Release(args) => {
            if args.detach || args.stops_at_pause() {
                return Err("release: --detach and --until are for a shell; the console follows the release on screen".into());
            }
            Ok(Action::Release(Box::new(args.request())))
        }
        Command::Pause => Ok(release(Request::Pause)),
        Command::Resume => Ok(release(Request::Resume)),
        Command::Abort => Ok(release(Request::Abort)),
        Command::Status { .. } => Ok(Action::Refresh),
        Command::Logs { .. } => Err(
            "logs: the logs panel shows them (b, g, a pick colors; / filters)".into(),
        ),
        _ => Err(format!(
            "`{verb}` runs in a shell, not in the console: `bluegreen {verb} --help` says how"
        )),
    }
}

/// clap's error in one line: what was wrong, without the usage block.
fn clap_message(verb: &str, e: &clap::Error) -> String {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return format!(
            "`bluegreen {verb} --help` in a shell shows the whole help; `:help` lists the verbs"
        );
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).skip_while(|l| l.is_empty());
    let mut first = lines
        .next()
        .unwrap_or("invalid command")
        .trim_start_matches("error: ")
        .to_string();
    // "the following required arguments were not provided:" and the list under it.
    if first.ends_with(':') {
        let listed: Vec<&str> = lines.take_while(|l| !l.is_empty()).collect();
        first = format!("{} {}", first, listed.join(", "));
    }
    let tip = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("tip: "))
        .map(|t| format!(" ({})", t.trim_start_matches("tip: ")))
        .unwrap_or_default();
    format!("{verb}: {first}{tip}")
}

fn no_args(verb: &str, args: &[&str], action: Action) -> Result<Action, String> {
    if args.is_empty() {
        Ok(action)
    } else {
        Err(format!(
            "`{verb}` takes no arguments, got `{}`",
            args.join(" ")
        ))
    }
}

/// Why a number from the command line is refused.
enum Refused {
    NotANumber,
    OverLimit,
}

/// `digits` as a number from 0 to `max`; a number too long for any integer is over the limit
/// too, so its message names the limit.
fn at_most(digits: &str, max: u64) -> Result<u64, Refused> {
    match digits.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        Ok(_) => Err(Refused::OverLimit),
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Err(Refused::OverLimit),
        Err(_) => Err(Refused::NotANumber),
    }
}

fn percent(s: &str) -> Result<Share, String> {
    s.parse::<Share>().map_err(|_| {
        let shown: String = s.chars().take(32).collect();
        let number = shown.trim_end_matches('%');
        if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
            format!("shift: {shown}% is out of range (0–100)")
        } else {
            format!("shift: `{shown}` is not a percentage (0–100, at most one decimal, e.g. 0.5)")
        }
    })
}

/// A task count up to the ceiling any profile may set; the profile's own `max_tasks` is the
/// guard's to check.
fn task_count(n: &str) -> Result<u32, String> {
    let max = crate::rollout::limits::MAX_TASKS_CEILING;
    match at_most(n, max as u64) {
        Ok(v) => Ok(v as u32),
        Err(Refused::OverLimit) => Err(format!(
            "scale: {n} tasks is over the limit of {max} per color any profile may allow"
        )),
        Err(Refused::NotANumber) => Err(format!("scale: `{n}` is not a task count")),
    }
}

fn parse_shift(args: &[&str]) -> Result<Action, String> {
    const USAGE: &str = "usage: shift N | shift --green N | shift --blue N | shift B:G";
    match args {
        [w] if w.contains(':') => {
            let weights: Weights = w
                .parse()
                .map_err(|e: crate::rollout::WeightsError| e.to_string())?;
            Ok(Action::Shift {
                color: Some(Color::Green),
                share: weights.share(Color::Green),
            })
        }
        [n] => Ok(Action::Shift {
            color: None,
            share: percent(n)?,
        }),
        [flag, n] => {
            let color = match *flag {
                "--green" | "-g" => Color::Green,
                "--blue" | "-b" => Color::Blue,
                _ => return Err(USAGE.into()),
            };
            Ok(Action::Shift {
                color: Some(color),
                share: percent(n)?,
            })
        }
        _ => Err(USAGE.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bake_past_the_limit_is_refused_with_the_limit() {
        let err = parse_command("promote --bake 10000000000000000").expect_err("too long");
        assert!(err.contains("86400"), "{err}");
        assert!(parse_command("promote --bake 86400").is_ok());
        // A number past u64 is over the limit too, and the message says which.
        let err = parse_command("promote --bake 99999999999999999999").expect_err("too long");
        assert!(err.contains("86400"), "{err}");
        let err = parse_command("scale blue 99999999999").expect_err("too many");
        assert!(err.contains("1000"), "{err}");
    }

    #[test]
    fn parses_the_verbs() {
        assert_eq!(
            parse_command("shift 30"),
            Ok(Action::Shift {
                color: None,
                share: Share::percent(30).expect("valid")
            })
        );
        assert_eq!(
            parse_command("shift --blue 40"),
            Ok(Action::Shift {
                color: Some(Color::Blue),
                share: Share::percent(40).expect("valid")
            })
        );
        assert_eq!(
            parse_command("shift 70:30"),
            Ok(Action::Shift {
                color: Some(Color::Green),
                share: Share::percent(30).expect("valid")
            })
        );
        assert_eq!(
            parse_command("promote --bake 60 --keep-old"),
            Ok(Action::Promote {
                bake_secs: Some(60),
                keep_old: true
            })
        );
        assert_eq!(parse_command(" rollback "), Ok(Action::Rollback));
        assert_eq!(
            parse_command("deploy v2"),
            Ok(Action::Deploy {
                tag: Some("v2".into())
            })
        );
        assert_eq!(
            parse_command("scale green 0"),
            Ok(Action::Scale {
                color: Color::Green,
                desired: 0
            })
        );
        assert_eq!(parse_command("arm"), Ok(Action::Arm));
    }

    #[test]
    fn the_cli_words_and_flags_work_as_in_a_shell() {
        assert_eq!(
            parse_command("shift --green 0.5"),
            Ok(Action::Shift {
                color: Some(Color::Green),
                share: Share::permille(5).expect("valid")
            })
        );
        assert_eq!(
            parse_command("deploy --tag v3"),
            Ok(Action::Deploy {
                tag: Some("v3".into())
            })
        );
        assert_eq!(
            parse_command("scale --color blue --count 3"),
            Ok(Action::Scale {
                color: Color::Blue,
                desired: 3
            })
        );
        assert_eq!(
            parse_command("build --source-version main"),
            Ok(Action::StartBuild {
                source_version: Some("main".into())
            })
        );
        let Ok(Action::Release(args)) =
            parse_command("release --tag v2 --steps 1,10,50 --hold 90s --keep-old")
        else {
            panic!("release parses");
        };
        assert_eq!(args.tag, "v2");
        assert_eq!(args.plan.hold_secs, 90);
        assert!(args.keep_old);
        assert_eq!(parse_command("release"), Ok(Action::OpenRelease));
        assert_eq!(parse_command("status"), Ok(Action::Refresh));
        // The CLI's own bounds and messages.
        let e = parse_command("release --tag v2 --steps 10,5").map(|_| ());
        assert!(e.is_ok(), "steps are checked when the plan is built: {e:?}");
        let e = parse_command("scale --color blue --count 5000").expect_err("bounded");
        assert!(e.contains("0..=1000"), "{e}");
        let e = parse_command("release --plan careful").expect_err("needs a tag");
        assert!(e.contains("--tag"), "{e}");
        // What belongs to a shell or to the whole console is refused, saying where it goes.
        let e = parse_command("doctor").expect_err("a shell verb");
        assert!(e.contains("runs in a shell"), "{e}");
        let e = parse_command("shift --green 10 --profile prod").expect_err("a global flag");
        assert!(
            e.contains("--profile") && e.contains("whole console"),
            "{e}"
        );
        let e = parse_command("release --tag v2 --detach").expect_err("detach");
        assert!(e.contains("--detach"), "{e}");
        let e = parse_command("shift --green 10 --force").expect_err("force");
        assert!(e.contains("(f)"), "{e}");
    }

    #[test]
    fn explains_bad_input() {
        assert!(
            parse_command("shift 130")
                .expect_err("bad input is refused")
                .contains("out of range")
        );
        assert!(
            parse_command("shift 50:40")
                .expect_err("bad input is refused")
                .contains("sum to 100")
        );
        assert!(
            parse_command("scale red 1")
                .expect_err("bad input is refused")
                .contains("`red`")
        );
        assert!(
            parse_command("frobnicate")
                .expect_err("bad input is refused")
                .contains("unknown command")
        );
        assert!(
            parse_command("rollback now")
                .expect_err("bad input is refused")
                .contains("unexpected argument 'now'")
        );
        assert!(
            parse_command("promote --bake")
                .expect_err("bad input is refused")
                .contains("--bake <SECONDS>")
        );
    }

    mod proptests {
        use super::*;
        use crate::prop::number;
        use crate::rollout::limits::{MAX_BAKE_SECS, MAX_TASKS_CEILING};
        use proptest::prelude::*;

        fn fits(n: &str, max: u64) -> bool {
            n.parse::<u64>().is_ok_and(|v| v <= max)
        }

        proptest! {
            #![proptest_config(crate::prop::config())]

            #[test]
            fn any_line_is_refused_or_bounded(line in "\\PC{0,40}") {
                match parse_command(&line) {
                    Ok(Action::Shift { share, .. }) => prop_assert!(share <= Share::ALL),
                    Ok(Action::Promote { bake_secs, .. }) => {
                        prop_assert!(bake_secs.is_none_or(|s| s <= MAX_BAKE_SECS));
                    }
                    Ok(Action::Scale { desired, .. }) => prop_assert!(desired <= MAX_TASKS_CEILING),
                    Ok(_) => {}
                    Err(e) => prop_assert!(!e.is_empty()),
                }
            }

            #[test]
            fn verbs_with_random_words_never_panic(
                verb in prop::sample::select(vec!["shift", "promote", "scale", "deploy", "build", "rollback"]),
                words in prop::collection::vec("(--bake(=)?|--green|--blue|-g|--keep-old|blue|green|[0-9]{1,25}s?%?|[0-9]{1,3}:[0-9]{1,3}|\\PC{1,6})", 0..4),
            ) {
                let _ = parse_command(&format!("{verb} {}", words.join(" ")));
            }

            #[test]
            fn a_bake_is_accepted_up_to_the_limit_and_refused_naming_it(n in number(), s in "s?", eq in any::<bool>()) {
                let line = if eq { format!("promote --bake={n}{s}") } else { format!("promote --bake {n}{s}") };
                match parse_command(&line) {
                    Ok(a) => {
                        prop_assert!(fits(&n, MAX_BAKE_SECS) && s.is_empty());
                        prop_assert_eq!(a, Action::Promote { bake_secs: n.parse().ok(), keep_old: false });
                    }
                    // As the CLI: whole seconds, the range named.
                    Err(e) => {
                        prop_assert!(!fits(&n, MAX_BAKE_SECS) || !s.is_empty());
                        prop_assert!(e.contains(&MAX_BAKE_SECS.to_string()), "{}", e);
                    }
                }
            }

            #[test]
            fn a_share_is_accepted_up_to_100_and_refused_naming_the_range(n in number(), flag in "(--green |--blue |-g |-b )?", pct in "%?") {
                match parse_command(&format!("shift {flag}{n}{pct}")) {
                    Ok(Action::Shift { share, .. }) => prop_assert_eq!(Some(share.get() as u64), n.parse::<u64>().ok().filter(|v| *v <= 100).map(|v| v * 10)),
                    Ok(other) => prop_assert!(false, "{other:?}"),
                    Err(e) => {
                        prop_assert!(!fits(&n, 100));
                        prop_assert!(e.contains("0–100") || e.contains("0..=100"), "{}", e);
                    }
                }
            }

            #[test]
            fn a_task_count_is_accepted_up_to_the_ceiling_and_refused_naming_it(n in number(), c in "blue|green") {
                match parse_command(&format!("scale {c} {n}")) {
                    Ok(Action::Scale { desired, .. }) => prop_assert_eq!(Some(desired as u64), n.parse().ok().filter(|v| *v <= MAX_TASKS_CEILING as u64)),
                    Ok(other) => prop_assert!(false, "{other:?}"),
                    Err(e) => {
                        prop_assert!(!fits(&n, MAX_TASKS_CEILING as u64));
                        prop_assert!(e.contains(&MAX_TASKS_CEILING.to_string()), "{}", e);
                    }
                }
            }

            #[test]
            fn a_split_gives_green_its_share(green in 0u8..=100) {
                prop_assert_eq!(
                    parse_command(&format!("shift {}:{green}", 100 - green)),
                    Ok(Action::Shift { color: Some(Color::Green), share: Share::percent(green).expect("valid") })
                );
            }
        }
    }
}
