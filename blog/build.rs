//! Compiles the blog's version in: `BLOG_BUILD_VERSION` when the build sets it (a release tag
//! from CI), else `git describe` of the checkout, else the crate version. `BLOG_VERSION` at run
//! time still overrides whatever is compiled in.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=BLOG_BUILD_VERSION");
    // A new commit changes the describe output; watch the refs so the version follows it.
    for path in [
        "../.git/HEAD",
        "../.git/refs/heads",
        "../.git/refs/tags",
        "../.git/packed-refs",
    ] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let version = std::env::var("BLOG_BUILD_VERSION")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(git_describe)
        .unwrap_or_else(|| std::env::var("CARGO_PKG_VERSION").unwrap_or_else(|_| "0.0.0".into()));
    println!("cargo:rustc-env=BLOG_BUILD_VERSION={}", version.trim());
}

fn git_describe() -> Option<String> {
    let out = Command::new("git")
        .args(["describe", "--tags", "--always"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}
