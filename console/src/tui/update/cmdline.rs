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
        "shift N",
        "give N% to the canary (the slider's color), after a confirm",
    ),
    (
        "shift --green N | --blue N | B:G",
        "give N% to a named color, or an exact split",
    ),
    (
        "promote [--bake SECS] [--keep-old]",
        "give the canary 100% and make it stable",
    ),
    ("rollback", "give the stable color 100% (one weight change)"),
    ("finish-bake", "end a promote's bake now"),
    ("deploy TAG", "deploy an image tag to the idle color"),
    ("build [SOURCE_VERSION]", "start a build"),
    ("scale COLOR N", "set a color's desired task count"),
    (
        "arm",
        "allow writes for this session on a read-only profile",
    ),
    (
        "pause | resume | abort | dismiss",
        "the release: hold its weight, go on, stable 100% (confirm), hide an ended one",
    ),
    ("refresh", "poll everything now"),
    (
        "help | quit",
        "show the keys; leave the console (the platform keeps running)",
    ),
];

/// Parses one command line (without the leading `:`).
pub fn parse_command(line: &str) -> Result<Action, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&verb, args)) = words.split_first() else {
        return Err("empty command: try `:help`".into());
    };
    match verb {
        "shift" => parse_shift(args),
        "promote" => parse_promote(args),
        "rollback" | "rb" => no_args(verb, args, Action::Rollback),
        "finish-bake" => no_args(verb, args, Action::FinishBake),
        "deploy" => match args {
            [tag] => Ok(Action::Deploy {
                tag: Some((*tag).to_string()),
            }),
            [] => Ok(Action::Deploy { tag: None }),
            _ => Err("usage: deploy TAG (it goes to the idle color)".into()),
        },
        "build" => match args {
            [] => Ok(Action::StartBuild {
                source_version: None,
            }),
            [v] => Ok(Action::StartBuild {
                source_version: Some((*v).to_string()),
            }),
            _ => Err("usage: build [SOURCE_VERSION]".into()),
        },
        "scale" => match args {
            [color, n] => Ok(Action::Scale {
                color: color.parse::<Color>().map_err(|e| e.to_string())?,
                desired: task_count(n)?,
            }),
            _ => Err("usage: scale blue|green N".into()),
        },
        "arm" => no_args(verb, args, Action::Arm),
        "pause" => no_args(verb, args, release(Request::Pause)),
        "resume" => no_args(verb, args, release(Request::Resume)),
        "abort" => no_args(verb, args, release(Request::Abort)),
        "dismiss" => no_args(verb, args, Action::DismissRelease),
        "refresh" => no_args(verb, args, Action::Refresh),
        "help" | "h" | "?" => Ok(Action::ToggleHelp),
        "quit" | "q" | "exit" => Ok(Action::Quit),
        other => Err(format!(
            "unknown command `{other}`: try shift, promote, rollback, deploy, build, scale, arm, help"
        )),
    }
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

fn parse_promote(args: &[&str]) -> Result<Action, String> {
    let mut bake_secs = None;
    let mut keep_old = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "--keep-old" => keep_old = true,
            "--bake" => {
                let v = it
                    .next()
                    .ok_or("promote: --bake needs a number of seconds")?;
                bake_secs = Some(parse_secs(v)?);
            }
            other => {
                if let Some(v) = other.strip_prefix("--bake=") {
                    bake_secs = Some(parse_secs(v)?);
                } else {
                    return Err(format!(
                        "promote: unknown option `{other}` (use --bake SECS, --keep-old)"
                    ));
                }
            }
        }
    }
    Ok(Action::Promote {
        bake_secs,
        keep_old,
    })
}

fn parse_secs(v: &str) -> Result<u64, String> {
    let max = crate::rollout::limits::MAX_BAKE_SECS;
    match at_most(v.trim_end_matches('s'), max) {
        Ok(n) => Ok(n),
        Err(Refused::OverLimit) => Err(format!(
            "promote: a bake of `{v}` is longer than the limit of {max} s (a day)"
        )),
        Err(Refused::NotANumber) => Err(format!("promote: `{v}` is not a number of seconds")),
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
                .contains("no arguments")
        );
        assert!(
            parse_command("promote --bake")
                .expect_err("bad input is refused")
                .contains("seconds")
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
                        prop_assert!(fits(&n, MAX_BAKE_SECS));
                        prop_assert_eq!(a, Action::Promote { bake_secs: n.parse().ok(), keep_old: false });
                    }
                    Err(e) => {
                        prop_assert!(!fits(&n, MAX_BAKE_SECS));
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
                        prop_assert!(e.contains("0–100"), "{}", e);
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
