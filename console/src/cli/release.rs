//! `release`, `pause`, `resume`, `abort`: a release driven by a plan. Locally the daemon
//! drives it (so it survives this process) and the CLI follows the record; on AWS this
//! process drives it. Either way one line is printed per step, gate verdict and stage.

use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::run::{Failure, Out, Outcome};
use crate::clock::now_millis;
use crate::config::ReleaseSettings;
use crate::format;
use crate::ops::release::{Note, Observer, ReleaseSpec, driver_name};
use crate::ops::{OpError, Ops, exit};
use crate::platform::PlatformKind;
use crate::platform::local::client::LocalClient;
use crate::rollout::gate::Verdict;
use crate::rollout::plan::{self, OnInconclusive, Plan, PlanKind, Step};
use crate::rollout::release::{Outcome as End, ReleaseOptions, Request, Stage, check_recorded};
use crate::rollout::{Release, Share, limits};

#[derive(Debug, Clone, PartialEq, Args)]
pub struct ReleaseArgs {
    /// The image tag to release to the idle color.
    #[arg(long)]
    pub tag: String,
    /// A plan of bluegreen.toml (`[plans.NAME]`), or a built-in one: `default` (10% then
    /// 50%, 2 minutes each) or `all-at-once`. Without it: the profile's `plan`, else `default`.
    #[arg(long, conflicts_with = "steps")]
    pub plan: Option<String>,
    /// The canary's weights in percent, comma-separated and increasing (e.g. 1,10,50).
    #[arg(long, value_delimiter = ',', value_name = "PERCENT,...")]
    pub steps: Option<Vec<Share>>,
    /// How long each step holds while its gates are checked (90, 90s, 2m, 1h). After its
    /// hold a step goes on once its gates pass and the requests since its weight write show
    /// its weights: with too few it keeps holding (`--accept-unmeasured`, a global flag, lets
    /// it go on), and a mismatch that lasts 3 intervals pauses the release for a person.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = duration(plan::MAX_HOLD_SECS))]
    pub hold: u64,
    /// Seconds between gate checks.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = duration(plan::MAX_INTERVAL_SECS))]
    pub interval: u64,
    /// Seconds the old color keeps running after the promote.
    #[arg(long, value_name = "DURATION", default_value = "300", value_parser = duration(limits::MAX_BAKE_SECS))]
    pub bake: u64,
    /// Keep the old color running after the bake.
    #[arg(long)]
    pub keep_old: bool,
    /// On a rollback, scale the canary to 0 (by default it keeps running at 0% for its logs).
    #[arg(long)]
    pub scale_in_on_rollback: bool,
    /// When the gates cannot judge by the end of a step's hold: pause (default) or proceed.
    #[arg(long, value_name = "pause|proceed", value_parser = on_inconclusive)]
    pub on_inconclusive: Option<OnInconclusive>,
    /// Return once the plan runs (local: the daemon drives it on).
    #[arg(long, conflicts_with_all = ["until_paused", "until"])]
    pub detach: bool,
    /// `--until paused`: return with exit code 7 when the plan pauses for a person.
    #[arg(long, value_enum)]
    pub until: Option<Until>,
    /// The same as `--until paused`.
    #[arg(long, hide = true, conflicts_with = "until")]
    pub until_paused: bool,
    /// Go past what pre-flight found before the first production weight (a gate alarm already
    /// in ALARM, the stable color running tasks of an older revision, a drifted listener);
    /// needs `--reason`, and the journal keeps both.
    #[arg(long)]
    pub force: bool,
}

/// Where a release command stops following before the release's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Until {
    /// The plan's first pause for a person (exit code 7).
    Paused,
}

fn duration(max: u64) -> impl Fn(&str) -> Result<u64, String> + Clone {
    move |s| plan::parse_duration(s, max)
}

fn on_inconclusive(s: &str) -> Result<OnInconclusive, String> {
    match s {
        "pause" => Ok(OnInconclusive::Pause),
        "proceed" => Ok(OnInconclusive::Proceed),
        _ => Err(format!("`{s}` is neither pause nor proceed")),
    }
}

impl ReleaseArgs {
    /// `tag` by the plan named `plan` (`None`: the profile's), every other flag at its
    /// default as the CLI parses it: what the console's release picker starts.
    pub fn by_plan(tag: &str, plan: Option<&str>) -> Result<Self, String> {
        #[derive(clap::Parser)]
        #[command(name = "release")]
        struct Just {
            #[command(flatten)]
            args: ReleaseArgs,
        }
        let mut words = vec!["release".to_string(), format!("--tag={tag}")];
        words.extend(plan.map(|p| format!("--plan={p}")));
        <Just as clap::Parser>::try_parse_from(words)
            .map(|j| j.args)
            .map_err(|e| e.kind().to_string())
    }

    /// Whether the release returns at its first pause (`--until paused`).
    pub fn stops_at_pause(&self) -> bool {
        self.until_paused || self.until.is_some()
    }

    /// The plan the flags describe.
    pub fn plan(&self, settings: &ReleaseSettings) -> Result<Plan, Failure> {
        let bad = |message: String| Failure {
            code: exit::FAILURE,
            message,
            detail: serde_json::Value::Null,
        };
        let named = self.plan.clone().or_else(|| {
            self.steps
                .is_none()
                .then(|| settings.default_plan.clone())
                .flatten()
        });
        let from_file = named.as_deref().and_then(|n| settings.plan(n)).cloned();
        let mut plan = match (&named, &self.steps) {
            (Some(_), None) if from_file.is_some() => {
                from_file.clone().unwrap_or_else(Plan::default_canary)
            }
            (_, Some(steps)) => Plan::stepped(
                "steps",
                PlanKind::Canary,
                steps
                    .iter()
                    .map(|&weight| Step {
                        weight,
                        hold_secs: self.hold,
                    })
                    .collect(),
                self.interval,
            )
            .map_err(|e| bad(format!("--steps: {e}")))?,
            (Some(name), None) if name == "all-at-once" => Plan::all_at_once("all-at-once"),
            (Some(name), None) if name == "default" => Plan::default_canary(),
            (Some(name), None) => {
                let mut known: Vec<&str> = settings.plans.iter().map(|p| p.name.as_str()).collect();
                known.extend(["default", "all-at-once"]);
                return Err(bad(format!(
                    "no plan named `{name}`: use one of {}, or give --steps 1,10,50 --hold 2m",
                    known.join(", ")
                )));
            }
            (None, None) => Plan::default_canary(),
        };
        // A plan of the file keeps its own interval; flags set the others'.
        if from_file.is_none() {
            plan.interval_secs = self.interval;
            plan.gates = settings.gates.clone();
        }
        if let Some(o) = self.on_inconclusive {
            plan.on_inconclusive = o;
        }
        plan.validate().map_err(|e| bad(e.to_string()))?;
        Ok(plan)
    }
}

/// Prints one line per note (stderr for humans, nothing with `--json`), under a live line on
/// a terminal that says where the release is and for how long it has run.
struct Lines {
    progress: super::progress::Progress,
    /// This command waits on through a pause (no `--until paused`, no `--timeout`): a pause
    /// says so, and how to stop waiting.
    waits_through_pauses: bool,
}

impl Lines {
    fn new(out: &Out) -> Lines {
        Lines {
            progress: super::progress::Progress::start(out.mode(), "release"),
            waits_through_pauses: false,
        }
    }

    /// Lines for a command that waits through a pause with no deadline.
    fn waiting_through_pauses(out: &Out) -> Lines {
        Lines {
            waits_through_pauses: true,
            ..Lines::new(out)
        }
    }
}

/// What a pause tells a command that waits through it: it has no deadline, and how to give
/// one or stop.
pub const NO_DEADLINE: &str = "this command waits with no deadline until the release is resumed or ends: `bluegreen resume` goes on (`bluegreen --accept-unmeasured resume` when it lacks traffic), `abort` ends it; Ctrl-C stops waiting and leaves the release as it is; `release --until paused` returns at a pause (exit 7), `bluegreen wait --release --timeout SECONDS` waits with a deadline";

/// `line`, and for a pause met by a command that waits through it, what [`NO_DEADLINE`] says.
fn waiting_line(mut line: String, note: &Note, waits_through_pauses: bool) -> String {
    if waits_through_pauses && matches!(note, Note::Paused { .. }) {
        line.push_str(" — ");
        line.push_str(NO_DEADLINE);
    }
    line
}

#[cfg(test)]
#[test]
fn a_pause_met_by_a_command_that_waits_says_it_has_no_deadline_and_how_to_give_one() {
    let paused = Note::Paused {
        reason: "too few requests".into(),
    };
    let said = waiting_line("paused: too few requests".into(), &paused, true);
    for part in [
        "no deadline",
        "--until paused",
        "--timeout SECONDS",
        "Ctrl-C",
        "resume",
    ] {
        assert!(said.contains(part), "{part}: {said}");
    }
    assert_eq!(
        waiting_line("paused: x".into(), &paused, false),
        "paused: x"
    );
    assert_eq!(
        waiting_line("resumed".into(), &Note::Resumed, true),
        "resumed"
    );
}

impl Observer for Lines {
    fn note(&self, r: &Release, note: &Note) {
        if let Some(line) = line(r, note) {
            let line = waiting_line(line, note, self.waits_through_pauses);
            self.progress.line(&line);
            self.progress
                .set(&format!("{} of {} to {}", r.id, r.tag, r.canary), &line);
        }
    }
}

/// The line a note prints, if any.
pub fn line(r: &Release, note: &Note) -> Option<String> {
    Some(match note {
        Note::Started => format!(
            "release {} of {} to {}: plan {}",
            r.id, r.tag, r.canary, r.plan
        ),
        Note::Deployed { task_definition } => {
            format!("deployed {} to {} ({task_definition})", r.tag, r.canary)
        }
        Note::Healthy => format!("{} is healthy ({} tasks)", r.canary, r.desired),
        Note::SmokePassed { check, latency_ms } => {
            format!("smoke test passed: {check} ({latency_ms} ms)")
        }
        Note::Smoke { line } => format!("smoke test {line}"),
        Note::StepEntered { index, weights } => {
            format!("step {}/{}: {weights}", index + 1, r.plan.steps.len())
        }
        Note::Gates { index, left_ms } => {
            let gates: Vec<String> = r
                .gates
                .iter()
                .map(|g| format!("{} {} {}", g.gate, g.verdict, g.measured))
                .collect();
            let left = if *left_ms > 0 {
                format!("{} left", format::duration(*left_ms as i64))
            } else {
                "hold done".into()
            };
            let mut line = format!("step {} gates: {} · {left}", index + 1, gates.join(" · "));
            // What the step waits for besides its hold: requests that show its weights.
            if let Some(words) = r.split.as_ref().and_then(|s| s.describe()) {
                line.push_str(&format!(" · {words}"));
            }
            line
        }
        Note::Paused { reason } => format!("paused: {reason}"),
        Note::Resumed => "resumed".into(),
        Note::Promoted => format!("promoted {} to 100%", r.canary),
        Note::Ended => match &r.outcome {
            Some(o) => format!("release {}: {o}", r.id),
            None => return None,
        },
    })
}

/// The release `args` describe for this profile: the plan (refused on AWS when a hold is
/// shorter than the metric period), the options, and this process as its driver.
pub fn spec(
    kind: &PlatformKind,
    settings: &ReleaseSettings,
    args: &ReleaseArgs,
    driver: &str,
) -> Result<ReleaseSpec, Failure> {
    let plan = args.plan(settings)?;
    if matches!(kind, PlatformKind::Aws { .. }) {
        plan.validate_for_aws().map_err(|e| Failure {
            code: exit::FAILURE,
            message: e.to_string(),
            detail: serde_json::Value::Null,
        })?;
    }
    Ok(ReleaseSpec {
        tag: args.tag.clone(),
        plan,
        options: ReleaseOptions {
            bake_secs: args.bake,
            keep_old: args.keep_old,
            scale_in_on_rollback: args.scale_in_on_rollback || settings.scale_in_on_rollback,
            smoke: settings.smoke.clone(),
            accept_unmeasured: false,
        },
        driver: driver.to_string(),
        force: args.force,
    })
}

/// Who drives a release once [`launch`] started it.
pub enum Driver {
    /// The local daemon: it survives this process.
    Daemon,
    /// This process, with [`Ops::drive_release`]: on AWS a release whose driver quits holds
    /// its weight until someone resumes it.
    Caller,
}

/// Starts the release: records it, and locally hands it to the daemon.
pub async fn launch(ops: &Ops, spec: ReleaseSpec) -> Result<(Release, Driver), OpError> {
    match ops.platform().info().kind {
        PlatformKind::Local { state_dir, .. } => {
            let spec = ReleaseSpec {
                driver: "daemon".into(),
                ..spec
            };
            let r = ops.start_release(spec).await?;
            let client = LocalClient::connect(std::path::Path::new(&state_dir))
                .await
                .map_err(OpError::Platform)?;
            client.drive_release().await.map_err(OpError::Platform)?;
            Ok((r, Driver::Daemon))
        }
        PlatformKind::Aws { .. } => Ok((ops.start_release(spec).await?, Driver::Caller)),
    }
}

/// `bluegreen release`.
pub(super) async fn release(
    ops: &Ops,
    settings: &ReleaseSettings,
    args: ReleaseArgs,
    out: &Out,
) -> Outcome {
    let driver = driver_name(ops.operator());
    let spec = spec(&ops.platform().info().kind, settings, &args, &driver)?;
    let lines = if args.stops_at_pause() {
        Lines::new(out)
    } else {
        Lines::waiting_through_pauses(out)
    };
    let r = match launch(ops, spec).await? {
        (r, Driver::Daemon) => {
            if args.detach {
                lines.note(&r, &Note::Started);
                out.print(
                    &format!(
                        "release {} runs in the daemon: follow it with `bluegreen status`, pause, resume or abort it",
                        r.id
                    ),
                    json!({ "ok": true, "release": r, "detached": true }),
                );
                return Ok(exit::OK);
            }
            follow(ops, r, &lines, args.stops_at_pause()).await?
        }
        (r, Driver::Caller) => ops.drive_release(r, &lines, args.stops_at_pause()).await?,
    };
    finish(&r, out)
}

/// The exit code and the final document of a release as it stands.
fn finish(r: &Release, out: &Out) -> Outcome {
    let code = match (&r.outcome, &r.stage) {
        (Some(o), _) => o.exit_code(),
        (None, Stage::Paused { .. }) => exit::PAUSED,
        (None, _) => exit::OK,
    };
    let human = match &r.outcome {
        Some(End::Released) => format!("release {} of {}: released to {}", r.id, r.tag, r.canary),
        Some(o) => {
            let mut s = format!("release {} of {}: {o}", r.id, r.tag);
            for g in &r.gates {
                if g.verdict != Verdict::Pass {
                    s.push_str(&format!("\n  {g}"));
                }
            }
            s
        }
        None => format!("release {} of {}: {}", r.id, r.tag, r.describe()),
    };
    out.print(
        &human,
        json!({ "ok": code == exit::OK, "exit_code": code, "release": r }),
    );
    Ok(code)
}

/// `bluegreen wait --release`: follows the running release, whoever drives it, to its end
/// (or its first pause with `--until paused`), within `timeout`.
pub(super) async fn wait_release(
    ops: &Ops,
    until: Option<Until>,
    timeout: Duration,
    out: &Out,
) -> Outcome {
    let r = check_recorded(ops.current_release().await?).map_err(OpError::from)?;
    let until_paused = until == Some(Until::Paused);
    if r.is_over() || (until_paused && matches!(r.stage, Stage::Paused { .. })) {
        return finish(&r, out);
    }
    let lines = Lines::new(out);
    match tokio::time::timeout(timeout, follow(ops, r.clone(), &lines, until_paused)).await {
        Ok(r) => finish(&r?, out),
        Err(_) => {
            // Where it stands, in `status`'s words (a release nobody drives says so there).
            let now = ops.current_release().await?.unwrap_or(r);
            Err(Failure {
                code: exit::TIMED_OUT,
                message: format!(
                    "timed out after {} (wait again, or --timeout S for longer):{}",
                    format::duration(i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX)),
                    status_lines(&now, now_millis())
                ),
                detail: json!({ "release": now }),
            })
        }
    }
}

/// Follows a release the daemon drives, printing what changed, until it ends (or pauses).
async fn follow(
    ops: &Ops,
    mut r: Release,
    lines: &Lines,
    until_paused: bool,
) -> Result<Release, Failure> {
    lines.note(&r, &Note::Started);
    let mut last = r.clone();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Some(now) = ops.current_release().await? else {
            continue;
        };
        if now.id != r.id {
            return Ok(r);
        }
        r = now;
        if r.stage != last.stage {
            match &r.stage {
                Stage::Smoke => lines.note(&r, &Note::Healthy),
                Stage::Step { index, .. } => {
                    if let Some(w) = r.step_weights() {
                        lines.note(
                            &r,
                            &Note::StepEntered {
                                index: *index,
                                weights: w,
                            },
                        );
                    }
                }
                Stage::Paused { reason, .. } => {
                    lines.note(
                        &r,
                        &Note::Paused {
                            reason: reason.clone(),
                        },
                    );
                    if until_paused {
                        return Ok(r);
                    }
                }
                Stage::Promoting => lines.note(&r, &Note::Promoted),
                _ => {}
            }
        } else if (r.gates != last.gates || r.split != last.split)
            && let Stage::Step { index, .. } = r.stage
        {
            let left_ms = r.hold_left_ms(now_millis()).unwrap_or(0);
            lines.note(&r, &Note::Gates { index, left_ms });
        }
        if r.is_over() {
            lines.note(&r, &Note::Ended);
            return Ok(r);
        }
        last = r.clone();
    }
}

/// `pause`, `resume`, `abort`.
pub(super) async fn request(ops: &Ops, request: Request, out: &Out) -> Outcome {
    let by = driver_name(ops.operator());
    let r = ops.request_release(request, &by).await?;
    // A release whose driver went away is taken over by `resume`: locally by the daemon,
    // on AWS by this process.
    if request == Request::Resume {
        match ops.platform().info().kind {
            PlatformKind::Local { state_dir, .. } => {
                let client = LocalClient::connect(std::path::Path::new(&state_dir)).await?;
                client.drive_release().await?;
            }
            PlatformKind::Aws { .. } if r.driver_gone(now_millis()) => {
                out.progress(&format!(
                    "the driver of release {} ({}) went away: this process drives it on",
                    r.id, r.driver
                ));
                let mut taken = r.clone();
                taken.driver = driver_name(ops.operator());
                let lines = Lines::new(out);
                let r = ops.drive_release(taken, &lines, false).await?;
                return finish(&r, out);
            }
            PlatformKind::Aws { .. } => {}
        }
    }
    let verb = match request {
        Request::Pause => "pause requested",
        Request::Resume => "resume requested",
        Request::Abort => "aborted: the stable color has 100%",
    };
    out.print(
        &format!("release {} of {}: {verb}", r.id, r.tag),
        json!({ "ok": true, "release": r }),
    );
    Ok(exit::OK)
}

/// The release's lines in `status`: stage, weights, hold left, every gate's last values.
pub fn status_lines(r: &Release, now: i64) -> String {
    let mut s = format!(
        "\nrelease  {} of {} to {} · plan {} · {}",
        r.id,
        r.tag,
        r.canary,
        r.plan,
        r.describe()
    );
    if let Some(left) = r.hold_left_ms(now) {
        s.push_str(&format!(
            " · {} left in the hold",
            format::duration(left as i64)
        ));
    }
    if let Stage::Paused { reason, .. } = &r.stage {
        s.push_str(&format!("\n         paused: {reason}"));
    }
    if r.outcome.is_none()
        && let Some(words) = r.split.as_ref().and_then(|sp| sp.describe())
    {
        s.push_str(&format!("\n         split    {words}"));
    }
    if r.driver_gone(now) {
        s.push_str(&format!(
            "\n         nobody has driven it since {} ({} ago; was {}): `bluegreen resume` takes it over",
            format::clock(r.driven_at),
            format::duration(now - r.driven_at),
            r.driver
        ));
    }
    if let Some(o) = &r.outcome {
        s.push_str(&format!("\n         {o}"));
    }
    for g in &r.gates {
        s.push_str(&format!(
            "\n         {:<8} {:<12} {} (threshold {})",
            g.gate.as_str(),
            g.verdict.to_string(),
            g.measured,
            g.threshold
        ));
    }
    s.push('\n');
    s
}

/// The fault a rehearsal injects into its canary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RehearsalFault {
    /// That share of the canary's answers are 5xx.
    Errors(Share),
    /// Every answer of the canary waits this long.
    Latency(u32),
    /// Every task of the canary is killed once.
    Crash,
}

impl std::str::FromStr for RehearsalFault {
    type Err = String;

    /// `5xx=20%`, `latency=500ms`, `crash`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{}` is not a fault: use 5xx=PERCENT (5xx=20%), latency=MS (latency=500ms) or crash",
                s.chars().take(32).collect::<String>()
            )
        };
        match s.split_once('=') {
            None if s == "crash" => Ok(RehearsalFault::Crash),
            Some(("5xx", rate)) => {
                let share: Share = rate.parse().map_err(|_| bad())?;
                if share == Share::ZERO {
                    return Err(bad());
                }
                Ok(RehearsalFault::Errors(share))
            }
            Some(("latency", ms)) => {
                let ms = ms.strip_suffix("ms").unwrap_or(ms);
                let max = limits::MAX_FAULT_LATENCY_MS;
                match ms.parse::<u32>() {
                    Ok(v) if (1..=max).contains(&v) => Ok(RehearsalFault::Latency(v)),
                    _ => Err(format!("{}; latency is 1..={max} ms", bad())),
                }
            }
            _ => Err(bad()),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct RehearseArgs {
    /// The fault: 5xx=20%, latency=500ms, or crash.
    #[arg(long)]
    pub fault: RehearsalFault,
    #[command(flatten)]
    pub plan: RehearsePlan,
}

/// The plan flags a rehearsal shares with `release`.
#[derive(Debug, Clone, Args)]
pub struct RehearsePlan {
    /// A plan of bluegreen.toml or a built-in one (`default`).
    #[arg(long, conflicts_with = "steps")]
    pub plan: Option<String>,
    /// The canary's weights in percent (e.g. 1,10,50).
    #[arg(long, value_delimiter = ',', value_name = "PERCENT,...")]
    pub steps: Option<Vec<Share>>,
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = duration(plan::MAX_HOLD_SECS))]
    pub hold: u64,
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = duration(plan::MAX_INTERVAL_SECS))]
    pub interval: u64,
}

/// `bluegreen rehearse`: releases the image the stable color runs as a canary, injects the
/// fault once the canary holds its first step, and reports whether the gates caught it, at
/// which step, how long the rollback took from the fault's first effect, and how many
/// requests failed. Local only: the fault is the local proxy's.
pub(super) async fn rehearse(
    ops: &Ops,
    settings: &ReleaseSettings,
    args: RehearseArgs,
    out: &Out,
) -> Outcome {
    let refuse = |message: String| Failure {
        code: exit::FAILURE,
        message,
        detail: serde_json::Value::Null,
    };
    let PlatformKind::Local { state_dir, .. } = ops.platform().info().kind else {
        return Err(refuse(
            "rehearse injects faults through the local proxy: use it on a local profile (AWS has no fault injection here)".into(),
        ));
    };
    let snap = ops.platform().snapshot().await?;
    let stable = snap.stable().ok_or_else(|| {
        refuse("no stable color: deploy a first release with `bluegreen deploy --wait`".into())
    })?;
    let tag = snap
        .colors
        .get(stable)
        .service
        .image
        .as_ref()
        .and_then(|i| i.tag.clone())
        .ok_or_else(|| refuse(format!("{stable} runs no tagged image to rehearse with")))?;
    let release_args = ReleaseArgs {
        tag: tag.clone(),
        plan: args.plan.plan,
        steps: args.plan.steps,
        hold: args.plan.hold,
        interval: args.plan.interval,
        bake: 0,
        keep_old: true,
        scale_in_on_rollback: false,
        on_inconclusive: Some(OnInconclusive::Pause),
        detach: true,
        until: None,
        until_paused: true,
        force: false,
    };
    let plan = release_args.plan(settings)?;
    let client = LocalClient::connect(std::path::Path::new(&state_dir)).await?;
    let r = ops
        .start_release(ReleaseSpec {
            tag: tag.clone(),
            plan,
            options: ReleaseOptions {
                bake_secs: 0,
                keep_old: true,
                scale_in_on_rollback: false,
                smoke: settings.smoke.clone(),
                accept_unmeasured: false,
            },
            driver: "daemon".into(),
            force: false,
        })
        .await?;
    let canary = r.canary;
    client.drive_release().await?;
    let lines = Lines::new(out);
    lines.note(&r, &Note::Started);
    // The fault goes in once the canary takes production traffic (its smoke test passed).
    let deadline = std::time::Instant::now() + crate::ops::release::DEPLOY_TIMEOUT;
    let at_step = loop {
        let now = ops.current_release().await?.filter(|n| n.id == r.id);
        match now {
            Some(n) if n.is_over() => return finish(&n, out),
            Some(n) if matches!(n.stage, Stage::Step { .. }) => break n,
            _ if std::time::Instant::now() > deadline => {
                return Err(refuse("the canary never reached its first step".into()));
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    lines.note(
        &at_step,
        &Note::StepEntered {
            index: 0,
            weights: at_step.step_weights().unwrap_or(snap.listener.weights),
        },
    );
    let started = now_millis();
    let fault_text = match args.fault {
        RehearsalFault::Errors(share) => {
            client
                .set_fault(crate::platform::local::proxy::fault::FaultSpec {
                    color: canary,
                    error_rate: share,
                    latency_ms: 0,
                    for_secs: None,
                })
                .await?;
            format!("{share}% 5xx")
        }
        RehearsalFault::Latency(ms) => {
            client
                .set_fault(crate::platform::local::proxy::fault::FaultSpec {
                    color: canary,
                    error_rate: Share::ZERO,
                    latency_ms: ms,
                    for_secs: None,
                })
                .await?;
            format!("+{ms} ms latency")
        }
        RehearsalFault::Crash => {
            client.crash(canary).await?;
            "every task killed".into()
        }
    };
    out.progress(&format!(
        "{} fault injected into {canary}: {fault_text}",
        format::clock(now_millis())
    ));
    let mut last_step = 0;
    let ended = loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Some(n) = ops.current_release().await?.filter(|n| n.id == r.id) else {
            continue;
        };
        if let Stage::Step { index, .. } = n.stage {
            last_step = index;
        }
        if n.is_over() || matches!(n.stage, Stage::Paused { .. }) {
            break n;
        }
    };
    let in_force = now_millis();
    let _ = client.clear_faults(Some(canary)).await;
    // The canary's answers from the fault on: requests it failed (5xx) before the rollback.
    let window = ((in_force - started).max(0) as u64 / 1000 + 2).min(plan::MAX_WINDOW_SECS);
    let failed = ops
        .platform()
        .metrics(window)
        .await
        .ok()
        .flatten()
        .and_then(|m| m.get(canary).window)
        .map(|w| w.errors_5xx);
    let caught = matches!(ended.outcome, Some(End::RolledBack { .. }));
    let took_ms = ended.ended_at.unwrap_or(in_force) - started;
    let gate = match &ended.outcome {
        Some(End::RolledBack { failed, .. }) => failed
            .iter()
            .map(|g| g.gate.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    };
    let human = if caught {
        format!(
            "rehearsal: the {gate} gate caught {fault_text} at step {} ({}%): rollback in force {} after the fault, {} request(s) failed",
            last_step + 1,
            ended
                .plan
                .steps
                .get(last_step)
                .map(|s| s.weight.to_string())
                .unwrap_or_default(),
            format::duration(took_ms),
            failed.map_or("an unknown number of".to_string(), |f| f.to_string())
        )
    } else {
        format!(
            "rehearsal: the gates did NOT catch {fault_text}: the release ended {} — tighten the gates or the plan",
            ended.describe()
        )
    };
    out.print(
        &human,
        json!({
            "ok": caught,
            "caught": caught,
            "fault": fault_text,
            "gate": gate,
            "step": last_step + 1,
            "rollback_ms": took_ms,
            "failed_requests": failed,
            "release": ended,
        }),
    );
    Ok(if caught { exit::OK } else { exit::FAILURE })
}
