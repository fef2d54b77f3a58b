//! Runs `buildspec.yaml` the way CodeBuild does, with stand-ins for the two programs this machine
//! cannot run for real (`docker` without a daemon, `aws` without an account), to check the
//! buildspec's own logic: which tags it builds and pushes, what it exports, and what it refuses.
//!
//! CodeBuild semantics reproduced here (the local build runner follows them too, as
//! docs/architecture.md says under "Local builds follow CodeBuild"): commands run one after
//! another in bash, sharing variables across commands and phases; a failing command ends its
//! phase; a failed `pre_build` with `on-failure: ABORT` ends the build; a failed `build` still
//! runs `post_build`, with `CODEBUILD_BUILD_SUCCEEDING=0`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_yaml_ng::Value;

const REPO_URI: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/blog-dev";
const COMMIT: &str = "4f9c2e1d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d";
const DIGEST: &str = "sha256:5a1e0c2b4d6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70819";

/// A `docker` that records its calls; `build` fails when FAKE_BUILD_FAILS is set, `push` when
/// FAKE_PUSH_FAILS is set; `inspect` answers the repository digest.
const DOCKER: &str = r#"#!/usr/bin/env bash
echo "docker $*" >> "$FAKE_LOG"
case "$1" in
  login) cat > /dev/null ;;
  build) [ -z "${FAKE_BUILD_FAILS:-}" ] || { echo "compile error" >&2; exit 1; } ;;
  push) [ -z "${FAKE_PUSH_FAILS:-}" ] || { echo "denied" >&2; exit 1; } ;;
  inspect) echo "${ECR_REPOSITORY_URI}@${FAKE_DIGEST}" ;;
esac
"#;

/// An `aws` that hands out a password and knows the tags in FAKE_EXISTING_TAGS.
const AWS: &str = r#"#!/usr/bin/env bash
echo "aws $*" >> "$FAKE_LOG"
case "$1 $2" in
  "ecr get-login-password") echo "not-a-real-password" ;;
  "ecr describe-images")
    for arg in "$@"; do
      case "$arg" in imageTag=*)
        tag="${arg#imageTag=}"
        for existing in ${FAKE_EXISTING_TAGS:-}; do [ "$existing" = "$tag" ] && exit 0; done
        echo "ImageNotFoundException" >&2; exit 254 ;;
      esac
    done
    exit 255 ;;
  *) echo "unexpected aws call: $*" >&2; exit 2 ;;
esac
"#;

#[derive(Debug)]
struct Run {
    /// Phases that ran, with whether they succeeded.
    phases: Vec<(String, bool)>,
    /// Every docker/aws call, in order.
    calls: Vec<String>,
    /// The exported variables at the end of the build (only those that were set).
    exported: Vec<(String, String)>,
    succeeded: bool,
    output: String,
}

impl Run {
    fn pushed(&self) -> Vec<&str> {
        self.calls
            .iter()
            .filter_map(|c| c.strip_prefix("docker push "))
            .collect()
    }

    /// The one `docker build` call.
    fn docker_build(&self) -> &str {
        let builds: Vec<&String> = self
            .calls
            .iter()
            .filter(|c| c.starts_with("docker build "))
            .collect();
        assert_eq!(builds.len(), 1, "one docker build: {:#?}", self.calls);
        builds[0]
    }

    fn exported(&self, name: &str) -> Option<&str> {
        self.exported
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Runs the buildspec with the given extra environment.
fn run(env: &[(&str, &str)]) -> Run {
    let spec_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../buildspec.yaml");
    let spec: Value =
        serde_yaml_ng::from_str(&fs::read_to_string(&spec_path).expect("read buildspec.yaml"))
            .expect("buildspec.yaml is YAML");
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = dir.path().join("bin");
    fs::create_dir(&bin).expect("bin dir");
    for (name, script) in [("docker", DOCKER), ("aws", AWS)] {
        let path = bin.join(name);
        fs::write(&path, script).expect("write stand-in");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let log = dir.path().join("calls.log");
    let state = dir.path().join("state.sh");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The build's environment: what the CodeBuild project and the service set.
    let mut vars: Vec<(String, String)> = vec![
        ("PATH".into(), path),
        ("FAKE_LOG".into(), log.display().to_string()),
        ("FAKE_DIGEST".into(), DIGEST.into()),
        ("ECR_REPOSITORY_URI".into(), REPO_URI.into()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("CODEBUILD_RESOLVED_SOURCE_VERSION".into(), COMMIT.into()),
        ("CODEBUILD_BUILD_SUCCEEDING".into(), "1".into()),
    ];
    if let Some(vars_map) = spec["env"]["variables"].as_mapping() {
        for (k, v) in vars_map {
            let key = k.as_str().expect("variable name").to_string();
            let value = v.as_str().map(str::to_string).unwrap_or_else(|| {
                serde_yaml_ng::to_string(v)
                    .expect("scalar")
                    .trim()
                    .to_string()
            });
            vars.push((key, value));
        }
    }
    for (k, v) in env {
        vars.push((k.to_string(), v.to_string()));
    }
    let mut init = String::new();
    for (k, v) in &vars {
        init.push_str(&format!("export {k}={}\n", shell_quote(v)));
    }
    fs::write(&state, init).expect("write state");

    let mut phases = Vec::new();
    let mut output = String::new();
    let mut succeeded = true;
    for phase in ["install", "pre_build", "build", "post_build"] {
        let Some(commands) = spec["phases"][phase]["commands"].as_sequence() else {
            continue;
        };
        let mut ok = true;
        for command in commands {
            let command = command.as_str().expect("command is a string");
            // One bash per command, with the variables the earlier commands left behind.
            let script = format!(
                "source {state}\nset -a\n{command}\n__rc=$?\nexport -p > {state}\nexit $__rc\n",
                state = shell_quote(&state.display().to_string()),
            );
            let out = Command::new("bash")
                .arg("-c")
                .arg(&script)
                .current_dir(dir.path())
                .env_clear()
                .output()
                .expect("run bash");
            output.push_str(&String::from_utf8_lossy(&out.stdout));
            output.push_str(&String::from_utf8_lossy(&out.stderr));
            if !out.status.success() {
                ok = false;
                break;
            }
        }
        phases.push((phase.to_string(), ok));
        if !ok {
            succeeded = false;
            let aborts = spec["phases"][phase]["on-failure"].as_str() == Some("ABORT");
            if aborts || phase == "install" || phase == "post_build" {
                break;
            }
            let mut text = fs::read_to_string(&state).expect("read state");
            text.push_str("export CODEBUILD_BUILD_SUCCEEDING=0\n");
            fs::write(&state, text).expect("write state");
        }
    }

    let names: Vec<String> = spec["env"]["exported-variables"]
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut exported = Vec::new();
    for name in names {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {} && [ -n \"${{{name}+set}}\" ] && printf '%s' \"${name}\"",
                shell_quote(&state.display().to_string())
            ))
            .env_clear()
            .output()
            .expect("read exported variable");
        if out.status.success() {
            exported.push((name, String::from_utf8_lossy(&out.stdout).into_owned()));
        }
    }
    let calls = fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    Run {
        phases,
        calls,
        exported,
        succeeded,
        output,
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn tag(t: &str) -> String {
    format!("{REPO_URI}:{t}")
}

#[test]
fn a_commit_build_pushes_its_short_sha_and_exports_the_digest() {
    let run = run(&[]);
    assert!(run.succeeded, "{run:#?}");
    assert_eq!(run.pushed(), [tag("4f9c2e1").as_str()]);
    assert_eq!(run.exported("IMAGE_DIGEST"), Some(DIGEST));
    assert_eq!(run.exported("IMAGE_TAG"), Some("4f9c2e1"));
    assert_eq!(run.exported("IMAGE_URI"), Some(tag("4f9c2e1").as_str()));
    let build = run.docker_build();
    assert!(build.contains("BLOG_VERSION=4f9c2e1"), "{build}");
    assert!(
        run.calls
            .iter()
            .any(|c| c.starts_with("docker login --username AWS --password-stdin 123456789012.dkr.ecr.us-east-1.amazonaws.com")),
        "{:#?}",
        run.calls
    );
    // The repository's existing tags were checked before building.
    let check = run
        .calls
        .iter()
        .position(|c| c.contains("describe-images") && c.contains("imageTag=4f9c2e1"))
        .expect("tag checked");
    let build_at = run
        .calls
        .iter()
        .position(|c| c.starts_with("docker build "))
        .expect("build");
    assert!(check < build_at);
    assert!(
        run.calls
            .iter()
            .any(|c| c.contains("--repository-name blog-dev ")),
        "repository name derived from the URI: {:#?}",
        run.calls
    );
}

#[test]
fn a_release_build_pushes_both_tags_and_names_the_release() {
    let run = run(&[("RELEASE_TAG", "v1.4.0")]);
    assert!(run.succeeded, "{run:#?}");
    assert_eq!(
        run.pushed(),
        [tag("4f9c2e1").as_str(), tag("v1.4.0").as_str()]
    );
    let build = run.docker_build();
    assert!(build.contains("BLOG_VERSION=v1.4.0"), "{build}");
    assert!(
        run.calls
            .iter()
            .any(|c| c == &format!("docker tag {} {}", tag("4f9c2e1"), tag("v1.4.0")))
    );
}

#[test]
fn a_failed_build_publishes_nothing_and_fails() {
    let run = run(&[("FAKE_BUILD_FAILS", "1"), ("RELEASE_TAG", "v1.4.0")]);
    assert!(!run.succeeded);
    assert_eq!(
        run.phases,
        [
            ("pre_build".to_string(), true),
            ("build".to_string(), false),
            ("post_build".to_string(), true),
        ],
        "post_build still runs after a failed build"
    );
    assert!(run.pushed().is_empty(), "pushed {:?}", run.pushed());
    assert_eq!(run.exported("IMAGE_DIGEST"), None);
    assert!(run.output.contains("nothing pushed"), "{}", run.output);
}

#[test]
fn a_failed_push_fails_the_build_without_a_digest() {
    let run = run(&[("FAKE_PUSH_FAILS", "1")]);
    assert!(!run.succeeded);
    assert_eq!(run.phases.last(), Some(&("post_build".to_string(), false)));
    assert_eq!(run.exported("IMAGE_DIGEST"), None);
}

#[test]
fn an_existing_tag_stops_the_build_before_it_starts() {
    let run = run(&[("FAKE_EXISTING_TAGS", "4f9c2e1")]);
    assert!(!run.succeeded);
    assert_eq!(run.phases, [("pre_build".to_string(), false)]);
    assert!(!run.calls.iter().any(|c| c.starts_with("docker build")));
    assert!(
        run.output.contains("tag 4f9c2e1 already exists"),
        "{}",
        run.output
    );

    let run = self::run(&[("FAKE_EXISTING_TAGS", "v1.4.0"), ("RELEASE_TAG", "v1.4.0")]);
    assert_eq!(run.phases, [("pre_build".to_string(), false)]);
    assert!(run.pushed().is_empty());
}

#[test]
fn bad_release_tags_are_refused_with_a_reason() {
    for (bad, says) in [
        ("v1 beta", "is not a valid image tag"),
        ("-v1", "is not a valid image tag"),
        ("latest", "would name no new release"),
        ("4f9c2e1", "would name no new release"),
    ] {
        let run = run(&[("RELEASE_TAG", bad)]);
        assert_eq!(
            run.phases,
            [("pre_build".to_string(), false)],
            "{bad}: {run:#?}"
        );
        assert!(run.output.contains(says), "{bad}: {}", run.output);
        assert!(!run.calls.iter().any(|c| c.starts_with("docker ")), "{bad}");
    }
}

#[test]
fn missing_build_environment_is_named() {
    let run = run(&[("ECR_REPOSITORY_URI", "")]);
    assert_eq!(run.phases, [("pre_build".to_string(), false)]);
    assert!(
        run.output.contains("ECR_REPOSITORY_URI is not set"),
        "{}",
        run.output
    );
}

/// Guards the harness: a stand-in that is never called would make every test above vacuous.
#[test]
fn the_stand_ins_are_the_ones_called() {
    let run = run(&[]);
    assert!(
        run.calls
            .iter()
            .any(|c| c.starts_with("aws ecr get-login-password"))
    );
    assert!(run.calls.iter().any(|c| c.starts_with("docker push")));
}
