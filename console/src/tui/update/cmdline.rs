//! The `:` command line: the CLI's verbs, parsed into actions. Dangerous verbs open the same
//! confirm dialogs as their keys.

use super::Action;
use crate::rollout::{Color, Weights};

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
    ("refresh", "poll everything now"),
    ("help", "show the keys"),
    ("quit", "leave the console (the platform keeps running)"),
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
                desired: n
                    .parse()
                    .map_err(|_| format!("scale: `{n}` is not a task count"))?,
            }),
            _ => Err("usage: scale blue|green N".into()),
        },
        "arm" => no_args(verb, args, Action::Arm),
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

fn percent(s: &str) -> Result<u8, String> {
    let v: u32 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("shift: `{s}` is not a percentage (0–100)"))?;
    u8::try_from(v)
        .ok()
        .filter(|v| *v <= Weights::TOTAL)
        .ok_or_else(|| format!("shift: {v}% is out of range (0–100)"))
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
                percent: weights.green(),
            })
        }
        [n] => Ok(Action::Shift {
            color: None,
            percent: percent(n)?,
        }),
        [flag, n] => {
            let color = match *flag {
                "--green" | "-g" => Color::Green,
                "--blue" | "-b" => Color::Blue,
                _ => return Err(USAGE.into()),
            };
            Ok(Action::Shift {
                color: Some(color),
                percent: percent(n)?,
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
    let digits = v.trim_end_matches('s');
    match digits.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        Ok(_) => Err(format!(
            "promote: a bake of `{v}` is longer than the limit of {max} s (a day)"
        )),
        Err(_) => Err(format!("promote: `{v}` is not a number of seconds")),
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
    }

    #[test]
    fn parses_the_verbs() {
        assert_eq!(
            parse_command("shift 30"),
            Ok(Action::Shift {
                color: None,
                percent: 30
            })
        );
        assert_eq!(
            parse_command("shift --blue 40"),
            Ok(Action::Shift {
                color: Some(Color::Blue),
                percent: 40
            })
        );
        assert_eq!(
            parse_command("shift 70:30"),
            Ok(Action::Shift {
                color: Some(Color::Green),
                percent: 30
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
}
