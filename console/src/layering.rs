//! The code map's rules on who imports whom (docs/architecture.md, "Code map"), checked by
//! reading the sources, so they cannot rot:
//!
//! - nothing under `platform/` uses `ops`, `cli`, `tui` or `daemon` (the layers above it);
//! - nothing under `tui/` uses `cli`, except the `:` command line (`tui/update/cmdline.rs`),
//!   which parses with the CLI's clap grammar;
//! - `format.rs` uses nothing of the crate (a leaf every layer may use).
//!
//! Every path a file names is resolved to the module it starts from: `crate::…`, `super::…`
//! and `self::…`, in `use` trees (`use crate::{ops::Ops, rollout}`) and in expressions alike,
//! with inline modules (`mod tests { … }`) counted. Comments and literals are skipped.

use std::path::{Path, PathBuf};

/// A module of the crate and the source text it is written in.
struct Source {
    /// From `console/src/`, e.g. `platform/local/client.rs`.
    file: String,
    text: String,
}

/// One use of another module: the file, the line, and the path resolved from the crate root.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Use {
    file: String,
    line: usize,
    path: Vec<String>,
}

impl std::fmt::Display for Use {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: crate::{}",
            self.file,
            self.line,
            self.path.join("::")
        )
    }
}

fn sources() -> Vec<Source> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<Source>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("the source tree is readable")
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let file = path
                    .strip_prefix(root)
                    .expect("under the root")
                    .to_string_lossy()
                    .into_owned();
                let text = std::fs::read_to_string(&path).expect("a source file is UTF-8");
                out.push(Source { file, text });
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out
}

/// The module a file is: `platform/local/client.rs` → `platform::local::client`,
/// `platform/mod.rs` → `platform`, `lib.rs` → the root.
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    /// `::`
    Path,
    Open,
    Close,
    Comma,
    Semi,
    Star,
    Other,
}

/// The tokens of `text` with their lines, comments and literals left out.
fn tokens(text: &str) -> Vec<(Token, usize)> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let ident_char = |ch: char| ch.is_alphanumeric() || ch == '_';
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if (ch == 'r' || (ch == 'b' && next == Some('r'))) && {
            let start = if ch == 'b' { i + 2 } else { i + 1 };
            let mut j = start;
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            c.get(j) == Some(&'"') && (i == 0 || !ident_char(c[i - 1]))
        } {
            // A raw string: r"…", r#"…"#, br##"…"##.
            let mut j = if ch == 'b' { i + 2 } else { i + 1 };
            let mut hashes = 0;
            while c[j] == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '\n' {
                    line += 1;
                }
                if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
        } else if ch == '"' || (ch == 'b' && next == Some('"')) {
            let mut j = if ch == 'b' { i + 2 } else { i + 1 };
            while j < c.len() && c[j] != '"' {
                if c[j] == '\\' {
                    j += 1;
                }
                if c.get(j) == Some(&'\n') {
                    line += 1;
                }
                j += 1;
            }
            i = j + 1;
        } else if ch == '\'' {
            // A char literal ('a', '\n', '\u{1b}') or a lifetime ('a, 'static).
            if next == Some('\\') {
                let mut j = i + 2;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < c.len() && ident_char(c[i]) {
                    i += 1;
                }
            }
        } else if ident_char(ch) {
            let start = i;
            while i < c.len() && ident_char(c[i]) {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let word = word.strip_prefix("r#").map(str::to_string).unwrap_or(word);
            out.push((Token::Ident(word), line));
        } else if ch == ':' && next == Some(':') {
            out.push((Token::Path, line));
            i += 2;
        } else {
            out.push((
                match ch {
                    '{' => Token::Open,
                    '}' => Token::Close,
                    ',' => Token::Comma,
                    ';' => Token::Semi,
                    '*' => Token::Star,
                    _ => Token::Other,
                },
                line,
            ));
            i += 1;
        }
    }
    out
}

/// `prefix` + `segments` from the crate root, with `crate`, `super` and `self` resolved
/// against `module`; `None` for a path that starts elsewhere (`std::…`, a local name).
fn resolve(module: &[String], segments: &[String]) -> Option<Vec<String>> {
    let mut at: Vec<String>;
    let mut rest = segments;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            at = Vec::new();
            rest = &rest[1..];
        }
        Some("super" | "self") => {
            at = module.to_vec();
            while let Some(first) = rest.first() {
                match first.as_str() {
                    "super" => {
                        at.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    at.extend(rest.iter().cloned());
    Some(at)
}

/// Every path `text` (the file `file`) names from the crate root.
fn uses(file: &str, text: &str) -> Vec<Use> {
    let toks = tokens(text);
    let mut out = Vec::new();
    // Inline modules: (name, the brace depth their body opened at).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let base = module_of(file);
    let module = |inline: &[(String, usize)]| -> Vec<String> {
        base.iter()
            .cloned()
            .chain(inline.iter().map(|(n, _)| n.clone()))
            .collect()
    };
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].0 {
            Token::Open => depth += 1,
            Token::Close => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Token::Ident(w) if w == "mod" => {
                if let (Some((Token::Ident(name), _)), Some((Token::Open, _))) =
                    (toks.get(i + 1), toks.get(i + 2))
                {
                    inline.push((name.clone(), depth + 1));
                    depth += 1;
                    i += 3;
                    continue;
                }
            }
            Token::Ident(w) if w == "use" => {
                let here = module(&inline);
                let mut trees = Vec::new();
                i = use_tree(&toks, i + 1, &[], &mut trees);
                for (segments, line) in trees {
                    if let Some(path) = resolve(&here, &segments) {
                        out.push(Use {
                            file: file.to_string(),
                            line,
                            path,
                        });
                    }
                }
                continue;
            }
            Token::Ident(w) if matches!(w.as_str(), "crate" | "super" | "self") => {
                // A path in an expression, a type or an attribute: `crate::ops::exit::OK`.
                let preceded_by_path = i > 0 && toks[i - 1].0 == Token::Path;
                if !preceded_by_path {
                    let line = toks[i].1;
                    let mut segments = vec![w.clone()];
                    let mut j = i + 1;
                    while let (Some((Token::Path, _)), Some((Token::Ident(next), _))) =
                        (toks.get(j), toks.get(j + 1))
                    {
                        segments.push(next.clone());
                        j += 2;
                    }
                    if segments.len() > 1
                        && let Some(path) = resolve(&module(&inline), &segments)
                    {
                        out.push(Use {
                            file: file.to_string(),
                            line,
                            path,
                        });
                    }
                    i = j;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Reads one use tree from `i` (after `use`, or inside braces), adding each leaf path with
/// `prefix` in front to `out`; returns the index after the tree.
fn use_tree(
    toks: &[(Token, usize)],
    mut i: usize,
    prefix: &[String],
    out: &mut Vec<(Vec<String>, usize)>,
) -> usize {
    let mut segments = prefix.to_vec();
    let mut line = toks.get(i).map_or(0, |t| t.1);
    loop {
        match toks.get(i).map(|t| &t.0) {
            // `x as y`: the path is x.
            Some(Token::Ident(w)) if w == "as" => {
                i += 2;
                break;
            }
            Some(Token::Ident(w)) => {
                line = toks[i].1;
                segments.push(w.clone());
                i += 1;
            }
            Some(Token::Path) => i += 1,
            // `m::*` names the module m.
            Some(Token::Star) => {
                i += 1;
                break;
            }
            Some(Token::Open) => {
                i += 1;
                loop {
                    match toks.get(i).map(|t| &t.0) {
                        Some(Token::Close) => return i + 1,
                        Some(Token::Comma) => i += 1,
                        None => return i,
                        _ => i = use_tree(toks, i, &segments, out),
                    }
                }
            }
            _ => break,
        }
    }
    // `use crate::ops::{self, x}`: `self` names the group's prefix.
    if segments.len() > 1 && segments.last().is_some_and(|s| s == "self") {
        segments.pop();
    }
    if !segments.is_empty() {
        out.push((segments, line));
    }
    i
}

/// The uses in `sources` that break the code map's rules, each with the rule it breaks.
fn violations(sources: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (file, text) in sources {
        for u in uses(file, text) {
            let top = u.path.first().map(String::as_str).unwrap_or_default();
            if file.starts_with("platform/") && matches!(top, "ops" | "cli" | "tui" | "daemon") {
                found.push(format!(
                    "{u}: platform/ imports nothing above it (ops, cli, tui, daemon)"
                ));
            }
            if file.starts_with("tui/") && file != "tui/update/cmdline.rs" && top == "cli" {
                found.push(format!(
                    "{u}: tui/ imports nothing from cli/ but in its command line (tui/update/cmdline.rs)"
                ));
            }
            // Its tests may use the crate's proptest settings.
            if file == "format.rs" && top != "format" && top != "prop" {
                found.push(format!(
                    "{u}: format.rs is a leaf: it imports nothing from the crate"
                ));
            }
        }
    }
    found
}

#[test]
fn the_layers_import_only_what_the_code_map_allows() {
    let sources: Vec<(String, String)> = sources().into_iter().map(|s| (s.file, s.text)).collect();
    assert!(
        sources.iter().any(|(f, _)| f == "platform/mod.rs") && sources.len() > 100,
        "the source tree was not found"
    );
    let found = violations(&sources);
    assert!(
        found.is_empty(),
        "the code map's rules (docs/architecture.md) are broken:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_form_of_a_path_is_found_and_comments_and_strings_are_not() {
    let text = r##"
//! Not [`crate::ops::Ops`], a comment.
use std::sync::Arc;
use crate::{rollout, ops::{self, Ops as O}};
use super::super::super::cli::Failure;
/* crate::tui::State /* nested */ crate::tui::Mode */
fn f() -> i32 {
    let s = "crate::daemon::run";
    let r = r#"crate::daemon::run "quoted""#;
    let c = '"';
    let l: &'static str = "x";
    crate::ops::exit::OK + self::g() + super::h()
}
mod tests {
    use super::*;
    use super::super::super::tui::State;
}
"##;
    let found: Vec<String> = uses("platform/local/x.rs", text)
        .iter()
        .map(|u| format!("{}:{}", u.line, u.path.join("::")))
        .collect();
    assert_eq!(
        found,
        [
            "4:rollout",
            "4:ops",
            "4:ops::Ops",
            "5:cli::Failure",
            "12:ops::exit::OK",
            "12:platform::local::x::g",
            "12:platform::local::h",
            "15:platform::local::x",
            "16:platform::tui::State",
        ]
    );
    let v = violations(&[("platform/local/x.rs".into(), text.into())]);
    assert_eq!(v.len(), 4, "{v:#?}");
    // The same text elsewhere breaks other rules, or none.
    assert!(violations(&[("rollout/x.rs".into(), text.into())]).is_empty());
    let tui = violations(&[("tui/view/x.rs".into(), "use crate::cli::Cli;".into())]);
    assert_eq!(tui.len(), 1, "{tui:?}");
    assert!(
        violations(&[(
            "tui/update/cmdline.rs".into(),
            "use crate::cli::Cli;".into()
        )])
        .is_empty()
    );
    let format = violations(&[(
        "format.rs".into(),
        "fn f() { crate::rollout::Color::Blue; super::clock::now(); }".into(),
    )]);
    assert_eq!(format.len(), 2, "{format:?}");
}
