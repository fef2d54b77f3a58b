//! Offline checks of how the image is built and published: `buildspec.yaml` (CodeBuild) and the
//! `Dockerfile`. Neither can run here (no Docker, no CodeBuild), so the tests read them and assert
//! what a release relies on: the pushed tags are exactly the built ones, nothing is published from
//! a failed build, the digest is exported for the console, and the image is a static binary on a
//! base with no shell, running as a non-root user.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
}

fn buildspec() -> Value {
    let path = repo_file("buildspec.yaml");
    let text = fs::read_to_string(&path).expect("read buildspec.yaml");
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The commands of one phase, in order.
fn commands(spec: &Value, phase: &str) -> Vec<String> {
    let list = spec["phases"][phase]["commands"]
        .as_sequence()
        .unwrap_or_else(|| panic!("phase {phase} has no commands list"));
    list.iter()
        .map(|c| {
            c.as_str()
                .unwrap_or_else(|| panic!("phase {phase}: command {c:?} is not a string"))
                .to_string()
        })
        .collect()
}

/// Shell words of a command, quotes removed; `;`, `&&`, `||` and newlines become `;`.
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = command.chars().peekable();
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if !word.is_empty() {
            out.push(std::mem::take(word));
        }
    };
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, ';' | '\n') => {
                flush(&mut word, &mut out);
                out.push(";".into());
            }
            (None, '&' | '|') if chars.peek() == Some(&c) => {
                chars.next();
                flush(&mut word, &mut out);
                out.push(";".into());
            }
            (None, c) if c.is_whitespace() => flush(&mut word, &mut out),
            (None, c) => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The argument lists of every `docker SUBCOMMAND ...` in a command.
fn docker_calls(command: &str, sub: &str) -> Vec<Vec<String>> {
    let words = words(command);
    let mut calls = Vec::new();
    for (i, pair) in words.windows(2).enumerate() {
        if pair[0] == "docker" && pair[1] == sub {
            let args = words[i + 2..]
                .iter()
                .take_while(|w| *w != ";")
                .cloned()
                .collect();
            calls.push(args);
        }
    }
    calls
}

/// Every image reference `docker build` tags and `docker tag` creates, across all phases.
fn built_tags(spec: &Value) -> BTreeSet<String> {
    let mut built = BTreeSet::new();
    for phase in ["pre_build", "build", "post_build"] {
        for command in commands(spec, phase) {
            for args in docker_calls(&command, "build") {
                let mut it = args.iter();
                while let Some(arg) = it.next() {
                    if arg == "--tag" || arg == "-t" {
                        built.insert(it.next().expect("tag after --tag").clone());
                    } else if let Some(tag) = arg.strip_prefix("--tag=") {
                        built.insert(tag.to_string());
                    }
                }
            }
            for args in docker_calls(&command, "tag") {
                assert_eq!(args.len(), 2, "docker tag SOURCE TARGET: {args:?}");
                built.insert(args[1].clone());
            }
        }
    }
    built
}

#[test]
fn phases_log_in_build_and_publish_in_order() {
    let spec = buildspec();
    let version = &spec["version"];
    assert!(
        version.as_f64() == Some(0.2) || version.as_str() == Some("0.2"),
        "buildspec version 0.2, got {version:?}"
    );
    assert_eq!(spec["env"]["shell"].as_str(), Some("bash"));
    for phase in ["pre_build", "build", "post_build"] {
        assert!(
            !commands(&spec, phase).is_empty(),
            "phase {phase} has commands"
        );
    }
    let pre = commands(&spec, "pre_build").join("\n");
    assert!(pre.contains("aws ecr get-login-password"), "ECR login");
    assert!(pre.contains("docker login"), "ECR login");
    // A failed pre_build (bad tag, no login) must stop the build rather than build anyway.
    assert_eq!(
        spec["phases"]["pre_build"]["on-failure"].as_str(),
        Some("ABORT")
    );
    // The build phase keeps CodeBuild's default so post_build still runs and reports.
    assert!(spec["phases"]["build"]["on-failure"].is_null());
    for command in commands(&spec, "pre_build")
        .iter()
        .chain(&commands(&spec, "post_build"))
    {
        assert!(
            docker_calls(command, "build").is_empty(),
            "the image is built in the build phase only"
        );
    }
}

/// CodeBuild runs each command with bash (`env.shell`): a syntax error would only show in the
/// account, so parse every command here.
#[test]
fn every_command_is_valid_bash() {
    let spec = buildspec();
    for phase in ["pre_build", "build", "post_build"] {
        for command in commands(&spec, phase) {
            let out = std::process::Command::new("bash")
                .args(["-n", "-c", &command])
                .output()
                .expect("run bash -n");
            assert!(
                out.status.success(),
                "{phase}: `{command}` is not valid bash: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn tags_are_the_commit_short_sha_and_the_optional_release_tag() {
    let spec = buildspec();
    let pre = commands(&spec, "pre_build");
    let sha = pre
        .iter()
        .find(|c| c.trim_start().starts_with("IMAGE_TAG="))
        .expect("pre_build sets IMAGE_TAG");
    assert!(
        sha.contains("CODEBUILD_RESOLVED_SOURCE_VERSION") && sha.contains("cut -c1-7"),
        "IMAGE_TAG is the short SHA of the built commit: {sha}"
    );
    let built = built_tags(&spec);
    assert_eq!(
        built,
        BTreeSet::from([
            "${ECR_REPOSITORY_URI}:${IMAGE_TAG}".to_string(),
            "${ECR_REPOSITORY_URI}:${RELEASE_TAG}".to_string(),
        ])
    );
    // The release tag exists only when RELEASE_TAG is set.
    let build = commands(&spec, "build");
    let release = build
        .iter()
        .find(|c| !docker_calls(c, "tag").is_empty())
        .expect("docker tag for the release tag");
    assert!(
        release.contains("[ -n \"${RELEASE_TAG}\" ]"),
        "release tag only when set: {release}"
    );
    for tag in &built {
        assert!(!tag.ends_with(":latest"), "no moving :latest tag ({tag})");
    }
}

#[test]
fn pushes_exactly_the_built_tags_and_only_from_a_successful_build() {
    let spec = buildspec();
    let built = built_tags(&spec);
    let mut pushed = BTreeSet::new();
    for phase in ["pre_build", "build"] {
        for command in commands(&spec, phase) {
            assert!(
                docker_calls(&command, "push").is_empty(),
                "pushes belong in post_build, after the build phase: {command}"
            );
        }
    }
    for command in commands(&spec, "post_build") {
        for args in docker_calls(&command, "push") {
            assert_eq!(args.len(), 1, "docker push IMAGE: {args:?}");
            let tag = args[0].clone();
            let guard = command
                .find("[ \"${CODEBUILD_BUILD_SUCCEEDING}\" = \"1\" ]")
                .unwrap_or_else(|| {
                    panic!("push of {tag} does not check CODEBUILD_BUILD_SUCCEEDING")
                });
            let push = command.find("docker push").expect("push in command");
            assert!(guard < push, "the check comes before the push: {command}");
            if tag.contains("RELEASE_TAG") {
                assert!(
                    command.contains("[ -n \"${RELEASE_TAG}\" ]"),
                    "the release tag is pushed only when it was built: {command}"
                );
            }
            pushed.insert(tag);
        }
    }
    assert!(!pushed.is_empty(), "the buildspec pushes the image");
    let unbuilt: Vec<_> = pushed.difference(&built).collect();
    assert!(unbuilt.is_empty(), "pushed but never built: {unbuilt:?}");
    let unpushed: Vec<_> = built.difference(&pushed).collect();
    assert!(unpushed.is_empty(), "built but never pushed: {unpushed:?}");
}

#[test]
fn the_pushed_digest_is_exported_for_the_console() {
    let spec = buildspec();
    let exported: BTreeSet<&str> = spec["env"]["exported-variables"]
        .as_sequence()
        .expect("env.exported-variables")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(exported.contains("IMAGE_DIGEST"), "{exported:?}");
    let post = commands(&spec, "post_build");
    let digest = post
        .iter()
        .find(|c| c.contains("IMAGE_DIGEST="))
        .expect("post_build sets IMAGE_DIGEST");
    assert!(
        digest.contains("[ \"${CODEBUILD_BUILD_SUCCEEDING}\" = \"1\" ]"),
        "only a successful build has a digest"
    );
    assert!(
        digest.contains("RepoDigests"),
        "the digest the registry returned on push"
    );
    assert!(
        digest.contains("sha256:"),
        "the digest is checked before it is exported"
    );
}

#[test]
fn words_split_like_the_shell() {
    assert_eq!(
        words("if [ \"$A\" = \"1\" ]; then docker push \"${R}:${T}\"; fi && echo 'x y'"),
        [
            "if",
            "[",
            "$A",
            "=",
            "1",
            "]",
            ";",
            "then",
            "docker",
            "push",
            "${R}:${T}",
            ";",
            "fi",
            ";",
            "echo",
            "x y"
        ]
    );
    assert_eq!(
        docker_calls(
            "docker build --tag \"a:b\" . && docker tag a:b a:c",
            "build"
        ),
        [vec!["--tag".to_string(), "a:b".into(), ".".into()]]
    );
}

/// The Dockerfile's stages: (FROM line, instructions).
fn stages() -> Vec<(String, Vec<String>)> {
    let text = fs::read_to_string(repo_file("Dockerfile")).expect("read Dockerfile");
    // Join continuation lines, drop comments and blanks.
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            logical.push(std::mem::take(&mut current));
        }
    }
    let mut stages: Vec<(String, Vec<String>)> = Vec::new();
    for line in logical.into_iter().filter(|l| !l.is_empty()) {
        if line.to_ascii_uppercase().starts_with("FROM ") {
            stages.push((line, Vec::new()));
        } else if let Some((_, body)) = stages.last_mut() {
            body.push(line);
        }
    }
    stages
}

#[test]
fn the_image_is_a_static_binary_on_a_shell_less_base_running_non_root() {
    let stages = stages();
    assert!(stages.len() >= 2, "multi-stage build");
    let (from, runtime) = stages.last().expect("final stage");
    let base = from.split_whitespace().nth(1).expect("base image");
    assert!(
        base == "scratch" || base.starts_with("gcr.io/distroless/static"),
        "final base must have no shell or compiler: {base}"
    );
    for line in runtime {
        assert!(
            !line.starts_with("RUN "),
            "no RUN in the final stage (there is no shell): {line}"
        );
    }
    let user = runtime
        .iter()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("USER in the final stage");
    let uid = user.split(':').next().unwrap_or_default();
    assert!(
        uid.parse::<u32>().is_ok_and(|uid| uid != 0),
        "numeric non-root user: {user}"
    );
    assert!(runtime.iter().any(|l| l == "EXPOSE 5000"));
    assert!(
        runtime.iter().any(|l| l.starts_with("HEALTHCHECK")
            && l.contains("CMD [\"/usr/local/bin/blog\", \"healthcheck\"]")),
        "exec-form health check by the blog binary itself"
    );
    assert!(
        runtime
            .iter()
            .any(|l| l == "ENTRYPOINT [\"/usr/local/bin/blog\"]")
    );
    let copy = runtime
        .iter()
        .find(|l| l.starts_with("COPY --from="))
        .expect("the binary is copied from the builder");
    assert!(copy.ends_with("/usr/local/bin/blog"), "{copy}");
}

#[test]
fn dependencies_build_in_their_own_cached_layer_for_musl() {
    let stages = stages();
    let text = fs::read_to_string(repo_file("Dockerfile")).expect("read Dockerfile");
    assert!(
        text.contains("ARG TARGET=x86_64-unknown-linux-musl"),
        "a static musl build"
    );
    let (_, builder) = stages
        .iter()
        .find(|(from, _)| from.ends_with("AS builder"))
        .expect("a builder stage");
    let cook = builder
        .iter()
        .position(|l| l.contains("cargo chef cook") && l.contains("--release"))
        .expect("dependencies cooked in release mode");
    let copy_source = builder
        .iter()
        .position(|l| l == "COPY . .")
        .expect("source copied into the builder");
    let build = builder
        .iter()
        .position(|l| l.contains("cargo build --release"))
        .expect("release build");
    assert!(
        builder[build].contains("--target \"${TARGET}\""),
        "{}",
        builder[build]
    );
    assert!(
        cook < copy_source && copy_source < build,
        "the dependency layer comes before the source is copied"
    );
    let version = builder
        .iter()
        .position(|l| l.starts_with("ARG BLOG_VERSION"))
        .expect("BLOG_VERSION build argument");
    assert!(
        version > cook,
        "a new version must not invalidate the dependency layer"
    );
}

#[test]
fn the_build_context_leaves_out_build_output_and_state() {
    let ignore = fs::read_to_string(repo_file(".dockerignore")).expect("read .dockerignore");
    let entries: BTreeSet<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for needed in ["target/", ".bluegreen/", ".git/", "**/*.db"] {
        assert!(entries.contains(needed), ".dockerignore lacks {needed}");
    }
    // The workspace members must stay in the context, or cargo cannot load the workspace.
    for member in ["blog", "console", "tests", "Cargo.toml", "Cargo.lock"] {
        assert!(
            !entries.iter().any(|e| e.trim_end_matches('/') == member),
            ".dockerignore must not exclude {member}"
        );
    }
}

/// hadolint runs clean in CI; a rule it is told to ignore must have its reason on the comment
/// lines right above.
#[test]
fn every_hadolint_ignore_gives_its_reason() {
    let text = fs::read_to_string(repo_file("Dockerfile")).expect("read Dockerfile");
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if !line.contains("hadolint ignore=") {
            continue;
        }
        let reason: Vec<&str> = lines[..i]
            .iter()
            .rev()
            .take_while(|l| l.trim_start().starts_with('#') && !l.contains("hadolint"))
            .copied()
            .collect();
        let words: usize = reason.iter().map(|l| l.split_whitespace().count()).sum();
        assert!(
            words >= 8,
            "Dockerfile line {}: `{line}` needs its reason in the comment above",
            i + 1
        );
    }
}
