//! Runs a buildspec the way CodeBuild does: phases in CodeBuild's order with status and
//! times, every command's output in the build log, variables carried from one command to the
//! next (one shell session per build in buildspec 0.2), `post_build` after a failed `build`
//! with `CODEBUILD_BUILD_SUCCEEDING=0`, and the exported variables read back at the end.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::spec::{BuildSpec, OnFailure, Phase};
use super::store::BuildStore;
use crate::clock::now_millis;
use crate::rollout::{Build, BuildPhase, BuildStatus};

/// The buildspec the local platform runs unless told otherwise.
pub const DEFAULT_BUILDSPEC: &str = "buildspec.local.yaml";
/// CodeBuild's default build timeout.
const BUILD_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The repository's working tree.
    pub source_dir: PathBuf,
    /// A branch, tag or commit; `None` builds the working tree as it is.
    pub source_version: Option<String>,
    /// Becomes `RELEASE_TAG` (a start-build override, so it beats the buildspec's value).
    pub release_tag: Option<String>,
    /// Relative to the source directory.
    pub buildspec: String,
    /// More environment for the commands (the `bluegreen` binary and state directory).
    pub env: Vec<(String, String)>,
}

/// The build's phases in CodeBuild's order.
const PHASES: [&str; 11] = [
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "INSTALL",
    "PRE_BUILD",
    "BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
    "FINALIZING",
    "COMPLETED",
];

/// Records a new build (SUBMITTED, then QUEUED) and returns it.
pub fn submit(store: &BuildStore, req: &BuildRequest) -> std::io::Result<Build> {
    let number = store.allocate()?;
    let now = now_millis();
    let build = Build {
        id: format!("blog-local:{number}"),
        number: Some(number),
        status: BuildStatus::InProgress,
        source_version: req.source_version.clone(),
        resolved_source: None,
        started_at: Some(now),
        ended_at: None,
        phases: vec![
            BuildPhase {
                name: PHASES[0].into(),
                status: BuildStatus::Succeeded,
                started_at: Some(now),
                ended_at: Some(now),
                duration_ms: Some(0),
                context: vec![],
            },
            BuildPhase {
                name: PHASES[1].into(),
                status: BuildStatus::InProgress,
                started_at: Some(now),
                ended_at: None,
                duration_ms: None,
                context: vec![],
            },
        ],
        log_location: Some(store.log_path(number).display().to_string()),
        exported: vec![],
    };
    store.save(&build)?;
    store.claim(number)?;
    Ok(build)
}

/// One build in progress.
struct Run<'a> {
    store: &'a BuildStore,
    build: Build,
    log: std::fs::File,
    on_change: &'a mut (dyn FnMut(&Build) + Send),
}

impl Run<'_> {
    fn note(&mut self, text: &str) {
        use std::io::Write;
        let stamp = time::OffsetDateTime::now_utc();
        let _ = writeln!(
            self.log,
            "[Container] {:04}/{:02}/{:02} {:02}:{:02}:{:02} {text}",
            stamp.year(),
            stamp.month() as u8,
            stamp.day(),
            stamp.hour(),
            stamp.minute(),
            stamp.second()
        );
    }

    fn save(&mut self) {
        if let Err(e) = self.store.save(&self.build) {
            tracing::warn!("cannot save build record {}: {e}", self.build.id);
        }
        (self.on_change)(&self.build);
    }

    fn finish_current(&mut self, status: BuildStatus, context: Vec<String>) {
        let now = now_millis();
        if let Some(p) = self.build.phases.last_mut()
            && p.status == BuildStatus::InProgress
        {
            p.status = status;
            p.ended_at = Some(now);
            p.duration_ms = p.started_at.map(|s| (now - s).max(0) as u64);
            p.context = context;
            let name = p.name.clone();
            self.note(&format!("Phase complete: {name} State: {status:?}"));
        }
    }

    fn begin(&mut self, name: &str) {
        let now = now_millis();
        self.note(&format!("Entering phase {name}"));
        self.build.phases.push(BuildPhase {
            name: name.into(),
            status: BuildStatus::InProgress,
            started_at: Some(now),
            ended_at: None,
            duration_ms: None,
            context: vec![],
        });
        self.save();
    }

    /// A phase that does nothing locally (the work happens elsewhere or not at all).
    fn instant(&mut self, name: &str) {
        self.begin(name);
        self.finish_current(BuildStatus::Succeeded, vec![]);
        self.save();
    }
}

/// Runs a submitted build to its end. `on_change` sees every phase change (the demo prints
/// progress from it). Returns the finished record.
pub async fn execute(
    store: &BuildStore,
    req: &BuildRequest,
    build: Build,
    on_change: &mut (dyn FnMut(&Build) + Send),
) -> Build {
    let number = build.number.unwrap_or(0);
    let log_path = store.log_path(number);
    let log = match crate::platform::local::files::private_file()
        .append(true)
        .open(&log_path)
    {
        Ok(f) => f,
        Err(e) => {
            let mut b = build;
            b.status = BuildStatus::Fault;
            b.ended_at = Some(now_millis());
            if let Some(p) = b.phases.last_mut() {
                p.status = BuildStatus::Fault;
                p.context = vec![format!(
                    "cannot open the build log {}: {e}",
                    log_path.display()
                )];
            }
            let _ = store.save(&b);
            return b;
        }
    };
    let mut run = Run {
        store,
        build,
        log,
        on_change,
    };
    run.finish_current(BuildStatus::Succeeded, vec![]);
    let work = store.work_dir(number);
    let outcome = execute_phases(&mut run, req, &work).await;
    if let Some(dir) = &outcome.worktree {
        let _ = tokio::process::Command::new("git")
            .arg("-C")
            .arg(&req.source_dir)
            .args(["worktree", "remove", "--force"])
            .arg(dir)
            .output()
            .await;
    }
    let _ = tokio::fs::remove_dir_all(&work).await;
    run.instant("FINALIZING");
    let now = now_millis();
    run.build.phases.push(BuildPhase {
        name: "COMPLETED".into(),
        status: outcome.status,
        started_at: Some(now),
        ended_at: None,
        duration_ms: None,
        context: vec![],
    });
    run.build.status = outcome.status;
    run.build.ended_at = Some(now);
    run.build.exported = outcome.exported;
    run.note(&format!(
        "Build {} finished: {:?}",
        run.build.id, outcome.status
    ));
    run.save();
    run.build
}

struct Outcome {
    status: BuildStatus,
    exported: Vec<(String, String)>,
    worktree: Option<PathBuf>,
}

async fn execute_phases(run: &mut Run<'_>, req: &BuildRequest, work: &Path) -> Outcome {
    let mut outcome = Outcome {
        status: BuildStatus::Succeeded,
        exported: vec![],
        worktree: None,
    };
    run.begin("PROVISIONING");
    // Private, with everything the build checks out inside it, whatever the umask.
    if let Err(e) = crate::platform::local::files::create_private_dir(work) {
        run.finish_current(
            BuildStatus::Fault,
            vec![format!("cannot create {}: {e}", work.display())],
        );
        outcome.status = BuildStatus::Fault;
        return outcome;
    }
    let shell_env = work.join("env.sh");
    run.finish_current(BuildStatus::Succeeded, vec![]);

    run.begin("DOWNLOAD_SOURCE");
    let (src_dir, resolved) = match prepare_source(req, work).await {
        Ok(x) => x,
        Err(msg) => {
            run.finish_current(BuildStatus::Failed, vec![format!("CLIENT_ERROR: {msg}")]);
            outcome.status = BuildStatus::Failed;
            return outcome;
        }
    };
    if src_dir != req.source_dir {
        outcome.worktree = Some(src_dir.clone());
    }
    run.build.resolved_source = resolved.clone();
    let spec_path = src_dir.join(&req.buildspec);
    let spec = match BuildSpec::load(&spec_path) {
        Ok(s) => s,
        Err(e) => {
            run.finish_current(BuildStatus::Failed, vec![format!("YAML_FILE_ERROR: {e}")]);
            outcome.status = BuildStatus::Failed;
            return outcome;
        }
    };
    run.finish_current(BuildStatus::Succeeded, vec![]);
    run.save();

    let shell = pick_shell(spec.env.shell.as_deref());
    let mut env: Vec<(String, String)> = spec.variables();
    let number = run.build.number.unwrap_or(0);
    env.extend([
        ("CODEBUILD_BUILD_ID".into(), run.build.id.clone()),
        ("CODEBUILD_BUILD_NUMBER".into(), number.to_string()),
        ("CODEBUILD_SRC_DIR".into(), src_dir.display().to_string()),
        ("CODEBUILD_INITIATOR".into(), "bluegreen-local".into()),
        (
            "CODEBUILD_SOURCE_VERSION".into(),
            req.source_version.clone().unwrap_or_default(),
        ),
        (
            "CODEBUILD_RESOLVED_SOURCE_VERSION".into(),
            resolved.unwrap_or_default(),
        ),
        (
            "CODEBUILD_START_TIME".into(),
            run.build.started_at.unwrap_or(0).to_string(),
        ),
    ]);
    if outcome.worktree.is_some() && std::env::var_os("CARGO_TARGET_DIR").is_none() {
        // Reuse the working tree's compiled dependencies instead of building from scratch.
        env.push((
            "CARGO_TARGET_DIR".into(),
            req.source_dir.join("target").display().to_string(),
        ));
    }
    env.extend(req.env.iter().cloned());
    if let Some(tag) = &req.release_tag {
        env.push(("RELEASE_TAG".into(), tag.clone()));
    }
    let ctx = CommandContext {
        shell,
        dir: src_dir.clone(),
        env,
        state: shell_env,
        work: work.to_path_buf(),
    };

    let deadline = tokio::time::Instant::now() + BUILD_TIMEOUT;
    let phases: [(&str, &Option<Phase>); 4] = [
        ("INSTALL", &spec.phases.install),
        ("PRE_BUILD", &spec.phases.pre_build),
        ("BUILD", &spec.phases.build),
        ("POST_BUILD", &spec.phases.post_build),
    ];
    for (name, phase) in phases {
        // CodeBuild: a failed INSTALL or PRE_BUILD skips to FINALIZING; a failed BUILD
        // still runs POST_BUILD (which sees CODEBUILD_BUILD_SUCCEEDING=0).
        if outcome.status != BuildStatus::Succeeded && name != "POST_BUILD" {
            continue;
        }
        if outcome.status != BuildStatus::Succeeded
            && run.build.phases.iter().any(|p| {
                matches!(p.name.as_str(), "INSTALL" | "PRE_BUILD")
                    && p.status != BuildStatus::Succeeded
            })
        {
            continue;
        }
        run.begin(name);
        let succeeding = outcome.status == BuildStatus::Succeeded;
        let mut context = vec![];
        let mut status = BuildStatus::Succeeded;
        if let Some(phase) = phase {
            let mut failed = None;
            for cmd in &phase.commands {
                run.note(&format!("Running command {cmd}"));
                match ctx.run(cmd, succeeding, &run.log, deadline).await {
                    Ok(CommandResult::Ok) => {}
                    Ok(CommandResult::Failed(code)) => {
                        failed = Some((
                            BuildStatus::Failed,
                            format!(
                                "COMMAND_EXECUTION_ERROR: Error while executing command: {cmd}. Reason: exit status {code}"
                            ),
                        ));
                        break;
                    }
                    Ok(CommandResult::TimedOut) => {
                        failed = Some((
                            BuildStatus::TimedOut,
                            format!(
                                "BUILD_TIMED_OUT: the build exceeded {} minutes",
                                BUILD_TIMEOUT.as_secs() / 60
                            ),
                        ));
                        break;
                    }
                    Err(e) => {
                        failed = Some((BuildStatus::Fault, format!("cannot run the command: {e}")));
                        break;
                    }
                }
            }
            for cmd in &phase.finally {
                run.note(&format!("Running command {cmd}"));
                if let Ok(CommandResult::Failed(code)) = ctx
                    .run(cmd, succeeding && failed.is_none(), &run.log, deadline)
                    .await
                    && failed.is_none()
                {
                    failed = Some((
                        BuildStatus::Failed,
                        format!(
                            "COMMAND_EXECUTION_ERROR: Error while executing command: {cmd}. Reason: exit status {code}"
                        ),
                    ));
                }
            }
            if let Some((s, msg)) = failed {
                status = s;
                context.push(msg);
                if phase.on_failure == OnFailure::Abort || s != BuildStatus::Failed {
                    outcome.status = s;
                } else if outcome.status == BuildStatus::Succeeded {
                    // on-failure: CONTINUE moves on, but the build still counts as failed.
                    outcome.status = BuildStatus::Failed;
                }
            }
        }
        run.finish_current(status, context);
        run.save();
    }
    run.instant("UPLOAD_ARTIFACTS");
    if !spec.env.exported_variables.is_empty() {
        outcome.exported = ctx.exported(&spec.env.exported_variables).await;
    }
    outcome
}

/// Resolves the source version; builds another commit than the working tree's in a
/// detached worktree, so the developer's checkout is never switched under them.
async fn prepare_source(
    req: &BuildRequest,
    work: &Path,
) -> Result<(PathBuf, Option<String>), String> {
    if !req.source_dir.is_dir() {
        return Err(format!(
            "source directory {} does not exist",
            req.source_dir.display()
        ));
    }
    let head = git(&req.source_dir, &["rev-parse", "HEAD"]).await.ok();
    let Some(version) = &req.source_version else {
        return Ok((req.source_dir.clone(), head));
    };
    let commit = git(
        &req.source_dir,
        &["rev-parse", "--verify", &format!("{version}^{{commit}}")],
    )
    .await
    .map_err(|e| format!("cannot resolve source version `{version}`: {e}"))?;
    if head.as_deref() == Some(commit.as_str()) {
        return Ok((req.source_dir.clone(), Some(commit)));
    }
    let tree = work.join("src");
    let tree_str = tree.display().to_string();
    git(
        &req.source_dir,
        &["worktree", "add", "--detach", &tree_str, &commit],
    )
    .await
    .map_err(|e| format!("cannot check out {version} ({commit}): {e}"))?;
    Ok((tree, Some(commit)))
}

async fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn pick_shell(wanted: Option<&str>) -> String {
    let exists = |p: &str| Path::new(p).is_file();
    match wanted {
        Some("sh") => "/bin/sh".into(),
        Some(other) if !other.is_empty() && other != "bash" => other.into(),
        _ if exists("/bin/bash") => "/bin/bash".into(),
        _ if exists("/usr/bin/bash") => "/usr/bin/bash".into(),
        _ => "/bin/sh".into(),
    }
}

enum CommandResult {
    Ok,
    Failed(i32),
    TimedOut,
}

/// Whether `cargo run` sets this variable for the binary it runs (the package's metadata and
/// manifest; `CARGO`, the path of cargo itself, stays).
fn set_by_cargo_run(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
        )
}

struct CommandContext {
    shell: String,
    dir: PathBuf,
    env: Vec<(String, String)>,
    /// The shell state (exported variables, working directory) between commands.
    state: PathBuf,
    work: PathBuf,
}

impl CommandContext {
    /// The shell, in the source directory, with the build's variables. Variables that
    /// `cargo run` sets for the binary it runs (the README's demo runs the console that way)
    /// are not passed on: a build script that tracks one of them (ring's tracks
    /// `CARGO_MANIFEST_DIR`) would see it changed, and the blog's build would compile again
    /// every crate above it that the console's build had just compiled.
    fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.shell);
        cmd.current_dir(&self.dir);
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(set_by_cargo_run) {
                cmd.env_remove(name);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    /// The prologue that restores the previous command's variables and directory.
    fn prologue(&self, succeeding: bool) -> String {
        format!(
            "set -a\n[ -f '{state}' ] && . '{state}' >/dev/null 2>&1\n[ -f '{state}.pwd' ] && cd \"$(cat '{state}.pwd')\"\nCODEBUILD_BUILD_SUCCEEDING={ok}\nexport CODEBUILD_BUILD_SUCCEEDING\n",
            state = self.state.display(),
            ok = u8::from(succeeding)
        )
    }

    async fn run(
        &self,
        cmd: &str,
        succeeding: bool,
        log: &std::fs::File,
        deadline: tokio::time::Instant,
    ) -> std::io::Result<CommandResult> {
        let script = format!(
            "{prologue}{cmd}\n__bg_status=$?\nexport -p | grep -v -E '^(declare -[a-zA-Z]*r[a-zA-Z]* |readonly )' > '{state}.next' && mv '{state}.next' '{state}'\npwd > '{state}.pwd'\nexit $__bg_status\n",
            prologue = self.prologue(succeeding),
            state = self.state.display()
        );
        let path = self.work.join("command.sh");
        tokio::fs::write(&path, script).await?;
        let mut child = self
            .command()
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log.try_clone()?))
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let status = tokio::select! {
            s = child.wait() => s?,
            _ = tokio::time::sleep_until(deadline) => {
                if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                }
                let _ = child.wait().await;
                return Ok(CommandResult::TimedOut);
            }
        };
        Ok(match status.code() {
            Some(0) => CommandResult::Ok,
            Some(code) => CommandResult::Failed(code),
            None => CommandResult::Failed(-1),
        })
    }

    /// The exported variables' final values (names were validated as shell names).
    async fn exported(&self, names: &[String]) -> Vec<(String, String)> {
        let mut script = self.prologue(true);
        for n in names {
            script.push_str(&format!("printf '%s=%s\\0' '{n}' \"${{{n}-}}\"\n"));
        }
        let out = self
            .command()
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .output()
            .await;
        let Ok(out) = out else { return vec![] };
        out.stdout
            .split(|&b| b == 0)
            .filter_map(|kv| {
                let kv = String::from_utf8_lossy(kv);
                let (k, v) = kv.split_once('=')?;
                (!v.is_empty()).then(|| (k.to_string(), v.to_string()))
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
