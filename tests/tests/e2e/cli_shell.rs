//! The console in a shell: the completion scripts `bluegreen completions` prints, loaded into
//! real bash, zsh and fish, complete the verbs and flags; `bluegreen man --out` writes pages
//! that man renders.

use std::path::{Path, PathBuf};
use std::process::Command;

use bluegreen_tests::local::{bluegreen, text};

/// A shell for the test, or a skip outside CI (`.ci/run` installs them).
fn shell(name: &str) -> Option<PathBuf> {
    let found = ["/usr/bin", "/bin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.exists());
    if found.is_some() {
        return found;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{name} is missing: apt-get install {name} (.ci/run installs it)"
    );
    eprintln!("skipped: {name} is not installed (apt-get install {name})");
    None
}

/// The script `bluegreen completions SHELL` prints, written into `dir`.
fn script(dir: &Path, shell: &str) -> std::path::PathBuf {
    let out = bluegreen(dir, dir, &["completions", shell]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!out.stdout.is_empty(), "{}", text(&out));
    let path = dir.join(format!("bluegreen.{shell}"));
    std::fs::write(&path, &out.stdout).expect("write the script");
    path
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run the shell");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?}: {}\n{all}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What bash's completion function offers for the words typed so far (the last one partial).
fn bash_offers(bash: &Path, script: &Path, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let program = format!(
        r#"source "$1"
COMP_WORDS=({line})
COMP_CWORD={cword}
COMP_LINE="{line}"
COMP_POINT=${{#COMP_LINE}}
_bluegreen bluegreen "{cur}" "{prev}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        cword = words.len() - 1,
        cur = words.last().copied().unwrap_or_default(),
        prev = words[words.len().saturating_sub(2)],
    );
    run(Command::new(bash)
        .args(["--noprofile", "--norc", "-c", &program, "bash"])
        .arg(script))
    .lines()
    .map(|l| l.trim().to_string())
    .collect()
}

#[test]
fn bash_completes_verbs_subverbs_and_flags() {
    let Some(bash) = shell("bash") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let script = script(dir.path(), "bash");
    let verbs = bash_offers(&bash, &script, &["bluegreen", "re"]);
    for verb in ["release", "rehearse", "resume"] {
        assert!(verbs.iter().any(|v| v == verb), "no {verb} in {verbs:?}");
    }
    assert!(!verbs.iter().any(|v| v == "status"), "{verbs:?}");
    let flags = bash_offers(&bash, &script, &["bluegreen", "release", "--st"]);
    assert!(flags.iter().any(|f| f == "--steps"), "{flags:?}");
    let local = bash_offers(&bash, &script, &["bluegreen", "local", ""]);
    for sub in ["up", "down", "restart", "status", "fault", "publish"] {
        assert!(
            local.iter().any(|v| v == sub),
            "no local {sub} in {local:?}"
        );
    }
    let shells = bash_offers(&bash, &script, &["bluegreen", "completions", ""]);
    for s in ["bash", "zsh", "fish"] {
        assert!(shells.iter().any(|v| v == s), "no {s} in {shells:?}");
    }
}

#[test]
fn fish_completes_verbs_and_flags() {
    let Some(fish) = shell("fish") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let script = script(dir.path(), "fish");
    let complete = |line: &str| -> String {
        run(Command::new(&fish)
            .args(["--no-config", "-c"])
            .arg(format!("source {}; complete -C '{line}'", script.display())))
    };
    let verbs = complete("bluegreen re");
    for verb in ["release", "rehearse", "resume"] {
        assert!(
            verbs.lines().any(|l| l.split('\t').next() == Some(verb)),
            "no {verb} in {verbs}"
        );
    }
    let flags = complete("bluegreen deploy --");
    for flag in ["--tag", "--color", "--wait", "--timeout"] {
        assert!(
            flags.lines().any(|l| l.split('\t').next() == Some(flag)),
            "no {flag} in {flags}"
        );
    }
}

#[test]
fn zsh_loads_the_completion_function() {
    let Some(zsh) = shell("zsh") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let script = script(dir.path(), "zsh");
    // The script is a completion function (`#compdef bluegreen`): it parses, and compinit
    // registers it from an fpath directory for the command.
    run(Command::new(&zsh).arg("-n").arg(&script));
    let fpath = dir.path().join("zfunc");
    std::fs::create_dir_all(&fpath).expect("mkdir");
    std::fs::copy(&script, fpath.join("_bluegreen")).expect("copy");
    let registered = run(Command::new(&zsh).args(["-f", "-c"]).arg(format!(
        "fpath=({} $fpath); autoload -Uz compinit; compinit -u -d {}/zcompdump; print -r -- $_comps[bluegreen]",
        fpath.display(),
        dir.path().display()
    )));
    assert_eq!(registered.trim(), "_bluegreen", "{registered}");
}

#[test]
fn man_pages_render_with_their_examples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pages = dir.path().join("man1");
    let out = bluegreen(
        dir.path(),
        dir.path(),
        &["man", "--out", pages.to_str().expect("utf-8")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("man pages into"), "{said}");
    for page in [
        "bluegreen.1",
        "bluegreen-release.1",
        "bluegreen-local-up.1",
        "bluegreen-man.1",
    ] {
        assert!(pages.join(page).exists(), "no {page}: {said}");
    }
    let Some(man) = shell("man") else { return };
    let rendered = run(Command::new(&man)
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "0")
        .arg("-l")
        .arg(pages.join("bluegreen-release.1")));
    assert!(rendered.contains("--steps"), "{rendered}");
    assert!(
        rendered.contains("bluegreen release --tag v2 --steps 1,10,50"),
        "{rendered}"
    );
    // Without --out: bluegreen(1) on stdout, ready for `man -l -`.
    let top = bluegreen(dir.path(), dir.path(), &["man"]);
    assert!(top.status.success(), "{}", text(&top));
    assert!(
        String::from_utf8_lossy(&top.stdout).contains(".TH bluegreen"),
        "{}",
        text(&top)
    );
    // A place that cannot hold the pages is refused, saying so.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    let refused = bluegreen(
        dir.path(),
        dir.path(),
        &["man", "--out", file.to_str().expect("utf-8")],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("give --out a writable directory"),
        "{}",
        text(&refused)
    );
}
