use super::*;

async fn build_with(spec: &str) -> (Build, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("spec.yaml"), spec).expect("write");
    let store = BuildStore::new(dir.path().join("builds"));
    let req = BuildRequest {
        source_dir: src,
        source_version: None,
        release_tag: Some("v7".into()),
        buildspec: "spec.yaml".into(),
        env: vec![],
    };
    let submitted = submit(&store, &req).expect("submit");
    let build = execute(&store, &req, submitted, &mut |_| {}).await;
    let log =
        std::fs::read_to_string(store.log_path(build.number.expect("numbered"))).expect("log");
    (build, log)
}

fn phase<'a>(b: &'a Build, name: &str) -> Option<&'a BuildPhase> {
    b.phases.iter().find(|p| p.name == name)
}

#[tokio::test]
async fn variables_carry_between_commands_and_phases() {
    let (b, log) = build_with(
            "version: 0.2\nenv:\n  variables:\n    GREETING: hello\n  exported-variables: [OUT, RELEASE_TAG]\nphases:\n  pre_build:\n    commands:\n      - OUT=\"$GREETING-$RELEASE_TAG\"\n      - mkdir -p sub && cd sub\n  build:\n    commands:\n      - echo \"built $OUT in $(basename \"$PWD\") ok=$CODEBUILD_BUILD_SUCCEEDING\"\n",
        )
        .await;
    assert_eq!(b.status, BuildStatus::Succeeded, "{log}");
    assert!(log.contains("built hello-v7 in sub ok=1"), "{log}");
    assert!(b.exported.contains(&("OUT".into(), "hello-v7".into())));
    let names: Vec<_> = b.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, PHASES);
    assert!(
        b.phases[..10]
            .iter()
            .all(|p| p.status == BuildStatus::Succeeded)
    );
}

#[tokio::test]
async fn failed_build_still_runs_post_build_with_succeeding_0() {
    let (b, log) = build_with(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo compiling\n      - exit 3\n      - echo never\n  post_build:\n    commands:\n      - if [ \"$CODEBUILD_BUILD_SUCCEEDING\" = 1 ]; then echo publishing; else echo nothing published; fi\n",
        )
        .await;
    assert_eq!(b.status, BuildStatus::Failed);
    let build = phase(&b, "BUILD").expect("build phase");
    assert_eq!(build.status, BuildStatus::Failed);
    assert!(build.context[0].contains("exit 3"), "{:?}", build.context);
    assert_eq!(
        phase(&b, "POST_BUILD").expect("post").status,
        BuildStatus::Succeeded
    );
    assert!(log.contains("nothing published"), "{log}");
    assert!(!log.contains("never"));
    assert!(!log.contains("\npublishing"));
}

/// `cargo test` sets `CARGO_MANIFEST_DIR` and `CARGO_PKG_NAME` for this process, as
/// `cargo run` does for the demo's console: the build's commands must not see them, or the
/// blog's cargo build recompiles what the console's build had just compiled.
#[tokio::test]
async fn variables_cargo_run_sets_do_not_reach_the_build() {
    assert!(
        std::env::var_os("CARGO_MANIFEST_DIR").is_some()
            && std::env::var_os("CARGO_PKG_NAME").is_some(),
        "run under cargo test, which sets them"
    );
    assert!(set_by_cargo_run("CARGO_PKG_VERSION_MAJOR"));
    assert!(!set_by_cargo_run("CARGO_TARGET_DIR") && !set_by_cargo_run("CARGO_HOME"));
    let (b, log) = build_with(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"manifest=[${CARGO_MANIFEST_DIR:-}] pkg=[${CARGO_PKG_NAME:-}]\"\n",
        )
        .await;
    assert_eq!(b.status, BuildStatus::Succeeded, "{log}");
    assert!(log.contains("manifest=[] pkg=[]"), "{log}");
}

#[tokio::test]
async fn failed_pre_build_skips_to_finalizing() {
    let (b, _) = build_with(
            "version: 0.2\nphases:\n  pre_build:\n    commands:\n      - false\n  build:\n    commands:\n      - echo built\n  post_build:\n    commands:\n      - echo post\n",
        )
        .await;
    assert_eq!(b.status, BuildStatus::Failed);
    assert!(phase(&b, "BUILD").is_none());
    assert!(phase(&b, "POST_BUILD").is_none());
    assert_eq!(
        phase(&b, "FINALIZING").expect("final").status,
        BuildStatus::Succeeded
    );
    assert_eq!(
        phase(&b, "COMPLETED").expect("completed").status,
        BuildStatus::Failed
    );
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test]
async fn another_commit_builds_in_a_worktree_that_is_removed_afterwards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("repo");
    std::fs::create_dir_all(&src).expect("mkdir");
    git(&src, &["init", "-q"]);
    std::fs::write(
            src.join("spec.yaml"),
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"content=$(cat file) at $CODEBUILD_RESOLVED_SOURCE_VERSION\"\n",
        )
        .expect("write");
    std::fs::write(src.join("file"), "one").expect("write");
    git(&src, &["add", "."]);
    git(&src, &["commit", "-q", "-m", "one"]);
    let first = git(&src, &["rev-parse", "HEAD"]);
    std::fs::write(src.join("file"), "two").expect("write");
    git(&src, &["commit", "-q", "-am", "two"]);
    let store = BuildStore::new(dir.path().join("builds"));
    let req = BuildRequest {
        source_dir: src.clone(),
        source_version: Some(first[..7].to_string()),
        release_tag: None,
        buildspec: "spec.yaml".into(),
        env: vec![],
    };
    let submitted = submit(&store, &req).expect("submit");
    let b = execute(&store, &req, submitted, &mut |_| {}).await;
    let log = std::fs::read_to_string(store.log_path(b.number.expect("n"))).expect("log");
    assert_eq!(b.status, BuildStatus::Succeeded, "{log}");
    assert_eq!(b.resolved_source.as_deref(), Some(first.as_str()));
    assert!(log.contains(&format!("content=one at {first}")), "{log}");
    assert_eq!(
        std::fs::read_to_string(src.join("file")).expect("read"),
        "two",
        "the checkout is untouched"
    );
    assert!(
        !git(&src, &["worktree", "list"]).contains("work"),
        "the worktree is gone"
    );

    let bad = BuildRequest {
        source_version: Some("no-such-branch".into()),
        ..req
    };
    let submitted = submit(&store, &bad).expect("submit");
    let b = execute(&store, &bad, submitted, &mut |_| {}).await;
    let p = phase(&b, "DOWNLOAD_SOURCE").expect("download");
    assert_eq!(p.status, BuildStatus::Failed);
    assert!(p.context[0].contains("no-such-branch"), "{:?}", p.context);
}

#[tokio::test]
async fn a_bad_buildspec_fails_in_download_source() {
    let (b, _) = build_with("version: 0.1\n").await;
    let p = phase(&b, "DOWNLOAD_SOURCE").expect("download");
    assert_eq!(p.status, BuildStatus::Failed);
    assert!(p.context[0].contains("YAML_FILE_ERROR"), "{:?}", p.context);
}
