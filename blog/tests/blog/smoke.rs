//! `blog smoke` as the smoke task runs it: a real `blog` server process on a loopback port and
//! the `blog smoke` binary against it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_blog");

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite:{}", dir.path().join("blog.db").display());
    let mut child = Command::new(BIN)
        .args(["--store", &store, "--bind", "127.0.0.1", "--port", "0"])
        .env("BLOG_TITLE", "Smoke Test Blog")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start blog");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    let base = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .to_string();
    Server {
        child,
        base,
        _dir: dir,
    }
}

fn smoke(args: &[&str], checks: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("smoke")
        .args(args)
        .env_remove("BLUEGREEN_SMOKE_CHECKS");
    if let Some(json) = checks {
        cmd.env("BLUEGREEN_SMOKE_CHECKS", json);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run blog smoke");
    (
        status.code().expect("exit code"),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[test]
fn health_passes_and_a_missing_path_fails() {
    let s = server();
    let health = format!("{}/health", s.base);
    let (code, out, err) = smoke(&[&health], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with(&format!("PASS {health} 200 ")), "{out}");

    let missing = format!("{}/no-such-page", s.base);
    let (code, out, err) = smoke(&[&health, &missing], None);
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("PASS "), "{out}");
    assert!(
        lines[1].starts_with(&format!("FAIL {missing} 404 "))
            && lines[1].contains("expected a 2xx"),
        "{out}"
    );
}

#[test]
fn the_consoles_checks_judge_status_and_body() {
    let s = server();
    let health = format!("{}/health", s.base);
    let index = format!("{}/", s.base);
    let missing = format!("{}/no-such-page", s.base);
    let pass = r#"[{"path":"/health","body_contains":"\"ok\""},{"path":"/","body_contains":"Smoke Test Blog"},{"path":"/no-such-page","status":404}]"#;
    let (code, out, err) = smoke(&[&health, &index, &missing], Some(pass));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("PASS ")).count(),
        3,
        "{out}"
    );

    let mismatch = r#"[{"path":"/","body_contains":"Another Blog"}]"#;
    let (code, out, err) = smoke(&[&index], Some(mismatch));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("the body does not contain \"Another Blog\""),
        "{out}"
    );
}

#[test]
fn https_and_bad_checks_are_refused_with_the_reason() {
    let (code, out, err) = smoke(&["https://127.0.0.1:1/health"], None);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("plain HTTP"), "{err}");

    let (code, _, err) = smoke(&["http://127.0.0.1:1/health"], Some("{nope"));
    assert_eq!(code, 1);
    assert!(err.contains("BLUEGREEN_SMOKE_CHECKS"), "{err}");
}
