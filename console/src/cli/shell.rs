//! What fits the console into a shell: completion scripts, man pages, and the examples every
//! verb's `--help` ends with. The examples are parsed by a test with the CLI's own parser, so
//! they cannot drift from the flags.

use std::path::Path;

use clap::CommandFactory as _;
use serde_json::json;

use super::outcome::{Failure, Out, Outcome};
use super::output;
use crate::ops::exit;

/// Writes `shell`'s completion script for `bluegreen` to stdout.
pub fn completions(shell: clap_complete::Shell) -> Outcome {
    // Into memory first: clap_complete panics on a failed write, and a closed pipe
    // (`bluegreen completions bash | head`) must end quietly instead.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut super::Cli::command(), "bluegreen", &mut script);
    output::out_verbatim(&String::from_utf8_lossy(&script));
    Ok(exit::OK)
}

/// Writes bluegreen(1) and one page per verb (bluegreen-release(1), bluegreen-local-up(1), …)
/// into `dir`, or bluegreen(1) alone to stdout without a directory.
pub fn man(dir: Option<&Path>, out: &Out) -> Outcome {
    let Some(dir) = dir else {
        let page = render_top().map_err(|e| io_failure("cannot render the man page", &e))?;
        output::out_verbatim(&String::from_utf8_lossy(&page));
        return Ok(exit::OK);
    };
    let pages = write_pages(dir).map_err(|e| {
        io_failure(
            &format!(
                "cannot write man pages into {} (give --out a writable directory)",
                dir.display()
            ),
            &e,
        )
    })?;
    out.print(
        &format!(
            "wrote {} man pages into {}; read one with `man -l {}`, or add the directory to MANPATH",
            pages.len(),
            dir.display(),
            dir.join("bluegreen.1").display()
        ),
        json!({ "ok": true, "dir": dir, "pages": pages }),
    );
    Ok(exit::OK)
}

/// bluegreen(1) as roff.
pub fn render_top() -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(super::Cli::command()).render(&mut page)?;
    Ok(page)
}

/// Every page's file name, after writing them all into `dir` (created when missing).
pub fn write_pages(dir: &Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(super::Cli::command(), dir)?;
    let mut pages: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("bluegreen") && name.ends_with(".1"))
        .collect();
    pages.sort();
    Ok(pages)
}

fn io_failure(what: &str, e: &std::io::Error) -> Failure {
    Failure {
        code: exit::FAILURE,
        message: format!("{what}: {e}"),
        detail: serde_json::Value::Null,
    }
}

// The examples each verb's long help (`--help`, and its man page) ends with.

pub const STATUS: &str = "\
Examples:
  bluegreen status                      # both colors, the listener, builds and images
  bluegreen status --verbose --check    # also tasks, targets and API calls; exit 8 on drift
  bluegreen --profile prod status --json | jq .weights";

pub const ADOPT: &str = "\
Examples:
  bluegreen adopt --stable blue         # a stack made elsewhere, split: blue is stable
  bluegreen --profile tutorial adopt --stable green --json";

pub const SHIFT: &str = "\
Examples:
  bluegreen shift --green 10            # blue 90%, green 10%
  bluegreen shift --green 0.5           # a 0.5% canary (the ALB's 0.1% resolution)
  bluegreen shift --blue 100 --force    # past the health guard: only when you know why";

pub const PROMOTE: &str = "\
Examples:
  bluegreen promote                     # canary to 100%, old color scaled to 0 after 300 s
  bluegreen promote --bake 900 --keep-old  # 15 minutes to undo; keep the old color after
  bluegreen --accept-unmeasured promote # a quiet environment: finish the bake with too few
                                        # requests to measure the split (a mismatch still holds)";

pub const ROLLBACK: &str = "\
Examples:
  bluegreen rollback                    # the stable color gets 100% in one weight change
  bluegreen --profile prod --arm rollback --json";

pub const BUILD: &str = "\
Examples:
  bluegreen build --wait                # build the checkout's HEAD and wait for the image
  bluegreen build --source-version v2 --wait --timeout 1800
  bluegreen build --json                # start it and print the build id";

pub const DEPLOY: &str = "\
Examples:
  bluegreen deploy --tag v2 --wait      # v2 on the idle color, back when it is healthy
  bluegreen deploy --tag v2 --color green --wait --timeout 300
  bluegreen deploy --tag 1a2b3c4        # any tag the registry holds";

pub const WAIT: &str = "\
Examples:
  bluegreen wait --healthy green        # until green's healthy targets reach its desired count
  bluegreen wait --weights 50:50 --timeout 60
  bluegreen wait --release --until paused   # exit 7 when the plan waits for a person";

pub const LOGS: &str = "\
Examples:
  bluegreen logs --color green --since 300
  bluegreen logs --follow               # both colors, tagged, until Ctrl-C
  bluegreen logs -n 50 --json";

pub const SCALE: &str = "\
Examples:
  bluegreen scale --color blue --count 0    # after a bake with --keep-old
  bluegreen scale --color green --count 4";

pub const RELEASE: &str = "\
Examples:
  bluegreen release --tag v2                     # the profile's plan, else 10% then 50%
  bluegreen release --tag v2 --steps 1,10,50 --hold 5m --bake 10m
  bluegreen --accept-unmeasured release --tag v2 --detach   # a quiet environment: steps with
                                 # too few requests go on after the hold; the daemon drives it

A step waits, after its hold, for its gates to pass and for the requests since its weight
write to show its weights. Too few requests: it keeps holding and says how many more it
needs. Another split: a warning with both numbers, and after 3 gate intervals a pause for a
person (`resume` overrides, `abort` rolls back).";

pub const REHEARSE: &str = "\
Examples:
  bluegreen rehearse --fault 5xx=20%             # do the gates catch a 20% error rate?
  bluegreen rehearse --fault latency=500ms --steps 10 --hold 30s
  bluegreen rehearse --fault crash --json";

pub const LOCK: &str = "\
Examples:
  bluegreen lock                        # who holds it, since when, from where, why
  bluegreen lock --json";

pub const LOCK_TAKE: &str = "\
Examples:
  bluegreen lock take --reason migration   # 4 h, until `lock release`
  bluegreen lock take --reason release-train --for 90m";

pub const LOCK_RELEASE: &str = "\
Examples:
  bluegreen lock release                # yours
  bluegreen lock release --force --reason alice-on-leave   # journaled";

pub const LOCK_HAND_OVER: &str = "\
Examples:
  bluegreen lock hand-over --to bob     # shift change: bob holds it from any host
  bluegreen lock hand-over --to bob --reason night-shift";

pub const PAUSE: &str = "\
Examples:
  bluegreen pause                       # hold the canary's weight; the gates still roll back
  bluegreen pause --json";

pub const RESUME: &str = "\
Examples:
  bluegreen resume                      # go on after a pause, or drive a release left behind
  bluegreen resume --json";

pub const ABORT: &str = "\
Examples:
  bluegreen abort                       # the stable color gets 100% at once
  bluegreen --profile prod --arm abort";

pub const INIT: &str = "\
Examples:
  terraform -chdir=terraform output -json > outputs.json
  bluegreen init --from-terraform outputs.json
  bluegreen --profile prod init --from-terraform base.json --from-terraform service.json";

pub const LOCAL: &str = "\
Examples:
  bluegreen local up                    # start the daemon (8080 production, 8081 test)
  bluegreen local status
  bluegreen local down";

pub const LOCAL_UP: &str = "\
Examples:
  bluegreen local up
  bluegreen local up --port 0 --test-port 0     # free ports; `local status` names them
  bluegreen --state-dir /tmp/bg local up --health-interval-ms 250";

pub const LOCAL_DOWN: &str = "\
Examples:
  bluegreen local down                  # every task stops; the state directory stays
  bluegreen --state-dir /tmp/bg local down";

pub const LOCAL_RESTART: &str = "\
Examples:
  bluegreen local restart               # after upgrading bluegreen: no request fails
  bluegreen --state-dir /tmp/bg local restart";

pub const LOCAL_STATUS: &str = "\
Examples:
  bluegreen local status
  bluegreen local status --json";

pub const LOCAL_FAULT: &str = "\
Examples:
  bluegreen local fault --color green --error-rate 20 --for 2m
  bluegreen local fault --color green --latency-ms 500
  bluegreen local fault --clear";

pub const LOCAL_PUBLISH: &str = "\
Examples:
  bluegreen local publish --tag v2 target/release/blog
  bluegreen local publish --tag v2 --tag 1a2b3c4 target/release/blog";

pub const DEMO: &str = "\
Examples:
  bluegreen demo                        # build, start, deploy v1 to blue, open the console
  bluegreen demo --second-release       # also publish v2, a visibly different page
  bluegreen demo --no-tui               # print the status and the URL instead";

pub const DOCTOR: &str = "\
Examples:
  bluegreen doctor                      # the local platform: state, daemon, ports, cargo
  bluegreen --profile prod doctor       # credentials, resources, permissions, ownership
  bluegreen --profile prod doctor --json";

pub const COMPLETIONS: &str = "\
Examples:
  bluegreen completions bash > ~/.local/share/bash-completion/completions/bluegreen
  bluegreen completions zsh > ~/.zfunc/_bluegreen     # with fpath+=~/.zfunc before compinit
  bluegreen completions fish > ~/.config/fish/completions/bluegreen.fish";

pub const HISTORY: &str = "\
Examples:
  bluegreen history                      # the latest 50 writes, newest last
  bluegreen history --since 2h --json
  bluegreen history --release r1764766968000 --json > evidence.json";

pub const MAN: &str = "\
Examples:
  bluegreen man | man -l -              # read bluegreen(1) now
  bluegreen man --out ~/.local/share/man/man1   # every verb's page, for `man bluegreen-release`";

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::super::Cli;

    /// Every visible verb, as its words after `bluegreen` (`["local", "up"]`), with its command.
    fn verbs() -> Vec<(Vec<String>, clap::Command)> {
        fn walk(cmd: &clap::Command, path: &[String], all: &mut Vec<(Vec<String>, clap::Command)>) {
            for sub in cmd.get_subcommands() {
                if sub.is_hide_set() || sub.get_name() == "help" {
                    continue;
                }
                let mut words = path.to_vec();
                words.push(sub.get_name().to_string());
                all.push((words.clone(), sub.clone()));
                walk(sub, &words, all);
            }
        }
        let mut all = Vec::new();
        walk(&Cli::command(), &[], &mut all);
        all
    }

    /// A `bluegreen …` example line as the arguments a shell would pass, up to a comment, a
    /// pipe or a redirection.
    fn words(line: &str) -> Vec<String> {
        line.split_whitespace()
            .take_while(|w| !matches!(*w, "#" | "|" | ">" | "&&"))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn every_verb_ends_its_help_with_examples_the_parser_accepts() {
        let verbs = verbs();
        assert!(verbs.len() >= 25, "{} verbs", verbs.len());
        for (path, cmd) in verbs {
            let verb = path.join(" ");
            let help = cmd
                .get_after_long_help()
                .unwrap_or_else(|| panic!("`{verb}` has no examples"))
                .to_string();
            assert!(help.starts_with("Examples:\n"), "`{verb}`: {help}");
            let examples: Vec<&str> = help
                .lines()
                .skip(1)
                .map(str::trim)
                .filter(|l| l.starts_with("bluegreen "))
                .collect();
            assert!(
                (2..=3).contains(&examples.len()),
                "`{verb}` has {} examples",
                examples.len()
            );
            for example in examples {
                let args = words(example);
                assert!(
                    args.windows(path.len()).any(|w| w == path.as_slice()),
                    "`{verb}`'s example `{example}` uses another verb"
                );
                if let Err(e) = Cli::try_parse_from(&args) {
                    panic!("`{verb}`'s example `{example}` does not parse:\n{e}");
                }
            }
        }
    }

    #[test]
    fn the_long_help_shows_the_examples_and_the_short_help_does_not() {
        let mut cmd = Cli::command();
        let release = cmd.find_subcommand_mut("release").expect("release");
        let long = release.render_long_help().to_string();
        let short = release.render_help().to_string();
        assert!(
            long.contains("bluegreen release --tag v2 --steps 1,10,50"),
            "{long}"
        );
        assert!(!short.contains("Examples:"), "{short}");
    }

    #[test]
    fn completion_scripts_name_every_verb_and_its_flags() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
            clap_complete::Shell::Elvish,
            clap_complete::Shell::PowerShell,
        ] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "bluegreen", &mut script);
            let script = String::from_utf8(script).expect("utf-8");
            for (path, cmd) in verbs() {
                let name = path.last().expect("a word");
                assert!(script.contains(name.as_str()), "{shell}: no `{name}`");
                for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
                    if let Some(long) = arg.get_long() {
                        assert!(script.contains(long), "{shell}: no --{long} for `{name}`");
                    }
                }
            }
        }
    }

    #[test]
    fn man_pages_are_written_for_every_verb_with_their_examples() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pages = super::write_pages(dir.path()).expect("pages");
        for (path, _) in verbs() {
            let name = format!("bluegreen-{}.1", path.join("-"));
            assert!(pages.contains(&name), "no {name} in {pages:?}");
        }
        let release =
            std::fs::read_to_string(dir.path().join("bluegreen-release.1")).expect("release page");
        assert!(
            release.starts_with(".ie") || release.contains(".TH"),
            "{release}"
        );
        assert!(release.contains("\\-\\-steps"), "{release}");
        assert!(release.contains("Examples:"), "{release}");
        assert!(!pages.iter().any(|p| p.contains("-help")), "{pages:?}");
        let top = String::from_utf8(super::render_top().expect("top")).expect("utf-8");
        assert!(top.contains("release"), "{top}");
    }
}
