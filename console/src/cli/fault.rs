//! `bluegreen local fault`: the local proxy injects 503s, latency or a crash into one color, so
//! a release's gates can be seen catching a bad canary. Alone, it lists the faults in force.

use std::fmt::Write as _;

use clap::builder::TypedValueParser as _;

use super::Bounded;
use super::output;

use crate::ops::exit;
use crate::platform::local::client::LocalClient;
use crate::platform::local::lifecycle;
use crate::platform::local::paths::Paths;
use crate::platform::local::proxy::fault::FaultSpec;
use crate::platform::local::wire::{Crashed, FaultReport};
use crate::platform::{FaultKind, PlatformError};
use crate::rollout::limits::{MAX_FAULT_LATENCY_MS, MAX_FAULT_SECS};
use crate::rollout::{Color, InjectedFault, Share, UnixMillis};

/// `local fault` flags: inject (`--error-rate`, `--latency-ms`, `--for`), `--clear`, `--crash`,
/// or none of them to list the faults in force.
#[derive(Debug, Clone, clap::Args)]
#[command(group = clap::ArgGroup::new("inject").args(["error_rate", "latency_ms"]).multiple(true))]
pub struct FaultArgs {
    /// The color whose answers fail (with --clear: clear only its fault).
    #[arg(long)]
    pub color: Option<Color>,
    /// The share of the color's requests the proxy answers with 503 instead of forwarding, in
    /// percent to 0.1 (0..=100).
    #[arg(long, value_name = "PERCENT", requires = "color", value_parser = error_rate)]
    pub error_rate: Option<Share>,
    /// Milliseconds added to each of the color's requests before it is forwarded (0..=60000).
    #[arg(long, value_name = "MS", requires = "color", value_parser = Bounded { min: 0, max: MAX_FAULT_LATENCY_MS as u64 }.map(|n| n as u32))]
    pub latency_ms: Option<u32>,
    /// How long the fault lasts: `90s`, `2m`, `1h30m`, a bare number is seconds; at most 24h
    /// [default: until cleared].
    #[arg(long = "for", value_name = "DURATION", requires = "inject", value_parser = span)]
    pub for_secs: Option<u64>,
    /// Clear the fault of --color, or every fault.
    #[arg(long, conflicts_with_all = ["inject", "crash", "for_secs"])]
    pub clear: bool,
    /// Kill (SIGKILL) every task of --color once; the supervisor replaces them as after any
    /// crash.
    #[arg(long, requires = "color", conflicts_with_all = ["inject", "for_secs"])]
    pub crash: bool,
    /// One JSON document (also set by the global `--json`).
    #[arg(long)]
    pub json: bool,
}

/// A percentage of requests, 0 to 100 to 0.1 (a [`Share`], worded as a rate).
fn error_rate(text: &str) -> Result<Share, String> {
    text.parse().map_err(|_| {
        format!(
            "`{}` is not an error rate: expected a percentage in 0..=100 with at most one decimal, for example 20 or 0.5",
            text.chars().take(32).collect::<String>()
        )
    })
}

/// A duration of 1 s to [`MAX_FAULT_SECS`]: `90`, `90s`, `2m`, `1h30m`, `1h5m30s`.
pub(crate) fn span(text: &str) -> Result<u64, String> {
    let why = || {
        format!(
            "`{}` is not a duration in 1s..=24h (for example 90s, 2m, 1h30m)",
            text.chars().take(32).collect::<String>()
        )
    };
    let t = text.trim();
    if t.is_empty() {
        return Err(why());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=MAX_FAULT_SECS).contains(s))
            .ok_or_else(why);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    // Each unit once, largest first.
    let mut last_unit = u64::MAX;
    for c in t.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(why()),
        };
        if number.is_empty() || unit >= last_unit {
            return Err(why());
        }
        last_unit = unit;
        let n: u64 = number.parse().map_err(|_| why())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(why)?;
        number.clear();
    }
    if !number.is_empty() || !(1..=MAX_FAULT_SECS).contains(&total) {
        return Err(why());
    }
    Ok(total)
}

/// What the flags ask for.
enum Verb {
    List,
    Set(FaultSpec),
    Clear(Option<Color>),
    Crash(Color),
}

impl FaultArgs {
    fn verb(&self) -> Verb {
        match (self.color, self.clear, self.crash) {
            (color, true, _) => Verb::Clear(color),
            (Some(color), _, true) => Verb::Crash(color),
            (Some(color), _, _) if self.error_rate.is_some() || self.latency_ms.is_some() => {
                Verb::Set(FaultSpec {
                    color,
                    error_rate: self.error_rate.unwrap_or(Share::ZERO),
                    latency_ms: self.latency_ms.unwrap_or(0),
                    for_secs: self.for_secs,
                })
            }
            _ => Verb::List,
        }
    }
}

/// Runs `local fault`; returns the exit code.
pub async fn run(args: FaultArgs, paths: &Paths) -> anyhow::Result<i32> {
    let Some(client) = lifecycle::probe(paths).await? else {
        return Err(PlatformError::call(
            "local:fault",
            paths.root().display().to_string(),
            FaultKind::Unavailable,
            "the local platform is not running; start it with `bluegreen local up`",
        )
        .into());
    };
    let now = crate::clock::now_millis;
    match args.verb() {
        Verb::Crash(color) => {
            let crashed = client.crash(color).await?;
            print(args.json, &crashed_text(&crashed), &crashed);
            Ok(if crashed.killed.is_empty() {
                exit::REFUSED
            } else {
                exit::OK
            })
        }
        verb => {
            let report = report(&client, verb).await?;
            let text = faults_text(&report, now());
            print(args.json, &text, &report);
            Ok(exit::OK)
        }
    }
}

async fn report(client: &LocalClient, verb: Verb) -> anyhow::Result<FaultReport> {
    Ok(match verb {
        Verb::Set(spec) => client.set_fault(spec).await?,
        Verb::Clear(color) => client.clear_faults(color).await?,
        Verb::List | Verb::Crash(_) => client.faults().await?,
    })
}

fn print<T: serde::Serialize>(json: bool, human: &str, value: &T) {
    if json {
        output::out_json(&serde_json::to_string_pretty(value).unwrap_or_default());
    } else {
        output::out_raw(human);
    }
}

/// One line per fault in force, after what was cleared.
pub(crate) fn faults_text(report: &FaultReport, now: UnixMillis) -> String {
    let mut out = String::new();
    for f in &report.cleared {
        let _ = writeln!(out, "cleared the fault on {}", f.color);
    }
    if report.active.is_empty() {
        let _ = writeln!(
            out,
            "no fault in force: both colors are answered as they are"
        );
    }
    for f in &report.active {
        let _ = writeln!(out, "{}", fault_line(f, now));
    }
    out
}

/// `fault on green: 20% 5xx +500ms, 1m40s left`.
pub(crate) fn fault_line(f: &InjectedFault, now: UnixMillis) -> String {
    format!("fault on {}: {}", f.color, f.describe(now))
}

fn crashed_text(c: &Crashed) -> String {
    if c.killed.is_empty() {
        return format!("{} has no running task to kill\n", c.color);
    }
    let tasks: Vec<String> = c
        .killed
        .iter()
        .map(|k| format!("{} (pid {})", k.task_id, k.pid))
        .collect();
    format!(
        "killed {} {} task(s) with SIGKILL: {}; the supervisor starts replacements\n",
        c.killed.len(),
        c.color,
        tasks.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser as _;

    fn parse(args: &[&str]) -> Result<FaultArgs, clap::Error> {
        let mut all = vec!["bluegreen", "local", "fault"];
        all.extend_from_slice(args);
        let cli = Cli::try_parse_from(all)?;
        match cli.command {
            Some(crate::cli::Command::Local(crate::cli::local::LocalCommand::Fault(f))) => Ok(f),
            other => panic!("not local fault: {other:?}"),
        }
    }

    #[test]
    fn durations_read_units_and_stay_within_a_day() {
        assert_eq!(span("90"), Ok(90));
        assert_eq!(span("90s"), Ok(90));
        assert_eq!(span("2m"), Ok(120));
        assert_eq!(span("1h30m"), Ok(5400));
        assert_eq!(span("1h5m30s"), Ok(3930));
        assert_eq!(span("24h"), Ok(86_400));
        for bad in [
            "",
            "0",
            "0s",
            "24h1s",
            "86401",
            "2d",
            "m",
            "1m2h",
            "1m1m",
            "5ms",
            "-1",
            "1.5m",
            "99999999999999999999h",
        ] {
            let e = span(bad).expect_err(bad);
            assert!(e.contains("1s..=24h"), "{bad}: {e}");
        }
    }

    #[test]
    fn flags_pick_one_verb_and_every_number_is_bounded() {
        let f = parse(&[
            "--color",
            "green",
            "--error-rate",
            "20",
            "--latency-ms",
            "500",
            "--for",
            "2m",
        ])
        .expect("valid");
        match f.verb() {
            Verb::Set(spec) => assert_eq!(
                spec,
                FaultSpec {
                    color: Color::Green,
                    error_rate: Share::percent(20).expect("valid"),
                    latency_ms: 500,
                    for_secs: Some(120),
                }
            ),
            _ => panic!("not a set"),
        }
        assert!(matches!(
            parse(&["--color", "blue", "--error-rate", "0.5"])
                .expect("valid")
                .verb(),
            Verb::Set(FaultSpec { for_secs: None, .. })
        ));
        assert!(matches!(parse(&[]).expect("valid").verb(), Verb::List));
        assert!(matches!(
            parse(&["--clear"]).expect("valid").verb(),
            Verb::Clear(None)
        ));
        assert!(matches!(
            parse(&["--clear", "--color", "green"])
                .expect("valid")
                .verb(),
            Verb::Clear(Some(Color::Green))
        ));
        assert!(matches!(
            parse(&["--crash", "--color", "green"])
                .expect("valid")
                .verb(),
            Verb::Crash(Color::Green)
        ));
        for (args, says) in [
            (
                &["--color", "green", "--error-rate", "100.1"][..],
                "0..=100",
            ),
            (&["--color", "green", "--error-rate", "0.05"], "0..=100"),
            (&["--color", "green", "--latency-ms", "60001"], "0..=60000"),
            (
                &["--color", "green", "--error-rate", "5", "--for", "25h"],
                "1s..=24h",
            ),
            (&["--error-rate", "5"], "--color"),
            (&["--crash"], "--color"),
            (&["--for", "2m"], "--error-rate"),
            (
                &["--clear", "--error-rate", "5", "--color", "green"],
                "cannot be used",
            ),
            (
                &["--crash", "--color", "green", "--latency-ms", "5"],
                "cannot be used",
            ),
        ] {
            let e = parse(args).expect_err(&format!("{args:?}"));
            assert_eq!(e.exit_code(), exit::USAGE, "{args:?}");
            assert!(e.to_string().contains(says), "{args:?}: {e}");
        }
    }

    #[test]
    fn output_names_each_fault_and_its_time_left() {
        let f = InjectedFault {
            color: Color::Green,
            error_rate: Share::percent(20).expect("valid"),
            latency_ms: 500,
            until: Some(100_000),
        };
        let report = FaultReport {
            active: vec![f],
            cleared: vec![],
        };
        assert_eq!(
            faults_text(&report, 0),
            "fault on green: 20% 5xx +500ms, 1m40s left\n"
        );
        let cleared = FaultReport {
            active: vec![],
            cleared: vec![f],
        };
        assert_eq!(
            faults_text(&cleared, 0),
            "cleared the fault on green\nno fault in force: both colors are answered as they are\n"
        );
        let crashed = Crashed {
            color: Color::Blue,
            killed: vec![crate::platform::local::wire::KilledTask {
                task_id: "blue-0000abcd".into(),
                pid: 42,
            }],
        };
        assert_eq!(
            crashed_text(&crashed),
            "killed 1 blue task(s) with SIGKILL: blue-0000abcd (pid 42); the supervisor starts replacements\n"
        );
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"active":[{"color":"green","error_rate":20,"latency_ms":500,"until":100000}],"cleared":[]})
        );
    }
}
