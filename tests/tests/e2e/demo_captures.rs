//! The console captures in `docs/demo.md`, made by the real binary in tmux against a real local
//! platform, walking the demo's release: at rest, the canary deployed, half the traffic moved,
//! promoted, rolled back.
//!
//! `bash docs/capture.sh` (which sets `BLUEGREEN_UPDATE_CAPTURES=1`) rewrites the captures in
//! the document. Otherwise this test checks that the document still shows what the console
//! shows: for each capture, the lines that do not depend on the moment (panel titles, the
//! guide, the key hints, the slider; digits masked, spaces collapsed) must be the same. Log
//! lines, times and counts change from run to run and are not compared.

use std::path::{Path, PathBuf};

use bluegreen_tests::local::LocalPlatform;
use bluegreen_tests::tmux::Tmux;

const WIDTH: u16 = 100;
const HEIGHT: u16 = 30;

/// Keys that open a dialog, the dialog's title, the key that confirms it, then the capture's
/// name and what its screen must show.
type Step = (
    &'static [&'static str],
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

/// One capture: its name in the document and the screen.
struct Capture {
    name: &'static str,
    screen: String,
}

fn doc_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/demo.md")
}

/// `<!-- capture NAME -->` … `<!-- /capture -->`: the fenced block between them.
fn marker(name: &str) -> String {
    format!("<!-- capture {name} -->")
}

const END: &str = "<!-- /capture -->";

/// The document's capture `name`, or why there is none.
fn documented(doc: &str, name: &str) -> Result<String, String> {
    let open = marker(name);
    let start = doc
        .find(&open)
        .ok_or_else(|| format!("docs/demo.md has no `{open}`"))?
        + open.len();
    let len = doc[start..]
        .find(END)
        .ok_or_else(|| format!("`{open}` in docs/demo.md has no `{END}`"))?;
    let block = doc[start..start + len].trim();
    let body = block
        .strip_prefix("```text")
        .and_then(|b| b.strip_suffix("```"))
        .ok_or_else(|| format!("capture {name} in docs/demo.md is not one ```text block"))?;
    Ok(body.trim_matches('\n').to_string())
}

/// `doc` with capture `name` replaced by `screen`.
fn replaced(doc: &str, name: &str, screen: &str) -> String {
    let open = marker(name);
    let Some(at) = doc.find(&open) else {
        panic!("docs/demo.md has no `{open}`: add `{open}` and `{END}` where it belongs");
    };
    let start = at + open.len();
    let Some(len) = doc[start..].find(END) else {
        panic!("`{open}` in docs/demo.md has no `{END}`");
    };
    format!(
        "{}\n```text\n{}\n```\n{}",
        &doc[..start],
        screen.trim_end(),
        &doc[start + len..]
    )
}

/// The lines of a screen that say the same every run: panel titles (a border with words in
/// it), the slider, the guide (`➜`) and the last two lines (the outcome of the last action and
/// the key hints), with digits and ages masked and runs of spaces and border lines collapsed.
fn fixed_lines(screen: &str) -> Vec<String> {
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    let last = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .unwrap_or(0);
    lines
        .iter()
        .enumerate()
        .filter(|(i, l)| {
            let titled = l.contains(['┌', '┏']) && l.chars().any(char::is_alphabetic);
            titled || l.contains("slider") || l.starts_with('➜') || *i + 2 > last
        })
        .map(|(_, l)| mask(l))
        .collect()
}

/// Digits become one `#`, a panel's data age (`now`, `#s`, `#m`) becomes `~`, and runs of
/// spaces or of one border character become one.
fn mask(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut prev: Option<char> = None;
    for c in line.chars() {
        let c = if c.is_ascii_digit() { '#' } else { c };
        let repeats = matches!(c, '#' | ' ' | '─' | '━' | '═') && prev == Some(c);
        if !repeats {
            out.push(c);
        }
        prev = Some(c);
    }
    let mut out = out.trim().to_string();
    for age in ["· now", "· #ms", "· #s", "· #m", "· #h"] {
        out = out.replace(age, "· ~");
    }
    out
}

#[test]
fn masking_keeps_words_and_drops_what_changes() {
    assert_eq!(mask("  green  12.5%   p99 30 ms "), "green #.#% p# # ms");
    assert_eq!(mask("┌ Build · now ─────┐"), mask("┌ Build · 12s ───┐"));
    assert_eq!(mask("┌ Build · ~ ─┐"), "┌ Build · ~ ─┐");
    let screen = "┏ Traffic · 3s ━┓\n│ log 12:00 │\n│ slider green 50% │\n➜ press p\n\n12:00 applied\nq quit\n";
    assert_eq!(
        fixed_lines(screen),
        vec![
            "┏ Traffic · ~ ━┓",
            "│ slider green #% │",
            "➜ press p",
            "#:# applied",
            "q quit"
        ]
    );
    let doc = "a\n<!-- capture x -->\n```text\nold\n```\n<!-- /capture -->\nb\n";
    let new = replaced(doc, "x", "new\n");
    assert_eq!(documented(&new, "x").as_deref(), Ok("new"));
    assert!(new.starts_with("a\n") && new.ends_with("<!-- /capture -->\nb\n"));
    assert!(documented(doc, "y").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walkthrough_in_docs_matches_the_console() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    p.first_release("v1", 2).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = p.state.parent().unwrap_or(Path::new("/")).to_path_buf();
    let tmux = Tmux::start(&dir.path().join("tmux.sock"), &cwd, &p.state, WIDTH, HEIGHT);
    let mut captures = Vec::new();
    let mut take = |name: &'static str, needles: &[&str]| {
        let screen = tmux.wait_for(name, needles);
        captures.push(Capture { name, screen });
    };
    take("rest", &["live blue", "green runs nothing"]);
    p.deploy_green("v2").await;
    take("deployed", &["green runs v2 healthy at 0%"]);
    let steps: [Step; 3] = [
        (
            &["5", "Enter"],
            "Shift traffic",
            "Enter",
            "half",
            &["green has 50%", "applied: blue 50 / green 50"],
        ),
        (
            &["p"],
            "Promote",
            "Enter",
            "promoted",
            &["promoted green", "keeps running through the bake"],
        ),
        (
            &["r"],
            "Roll back",
            "y",
            "rolled-back",
            &["rolled back: blue has 100%"],
        ),
    ];
    for (open, dialog, confirm, name, needles) in steps {
        tmux.keys(open);
        tmux.wait_for(dialog, &[dialog]);
        tmux.keys(&[confirm]);
        take(name, needles);
    }

    let path = doc_path();
    let doc = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    if std::env::var_os("BLUEGREEN_UPDATE_CAPTURES").is_some() {
        let doc = captures
            .iter()
            .fold(doc, |doc, c| replaced(&doc, c.name, &c.screen));
        std::fs::write(&path, doc)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    for c in &captures {
        let documented = documented(&doc, c.name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            fixed_lines(&documented),
            fixed_lines(&c.screen),
            "docs/demo.md's capture `{}` no longer matches the console; run `bash docs/capture.sh` and review the diff.\nThe console now shows:\n{}",
            c.name,
            c.screen
        );
    }
}
