//! `release`, `pause`, `resume`, `abort`: a release driven by a plan. Locally the daemon
//! drives it (so it survives this process) and the CLI follows the record; on AWS this
//! process drives it. Either way one line is printed per step, gate verdict and stage.

use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::outcome::{Failure, Out, Outcome};
use crate::clock::now_millis;
use crate::config::ReleaseSettings;
use crate::format;
use crate::ops::release::{Driver, Note, Observer, driver_name};
use crate::ops::{OpError, Ops, exit};
use crate::platform::PlatformKind;
use crate::rollout::gate::Verdict;
use crate::rollout::plan::{self, OnInconclusive};
use crate::rollout::release::{Outcome as End, Request, Stage, check_recorded};
use crate::rollout::resolve::{PlanFlags, ReleaseRequest, ReleaseSpec};
use crate::rollout::{Release, Share, limits};

#[derive(Debug, Clone, PartialEq, Args)]
pub struct ReleaseArgs {
    /// The image tag to release to the idle color.
    #[arg(long)]
    pub tag: String,
    #[command(flatten)]
    pub plan: PlanArgs,
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

/// The flags that choose a release's plan, the same for `release` and `rehearse`.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct PlanArgs {
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
}

impl PlanArgs {
    /// What the flags say about the plan, with `on_inconclusive` (a flag of `release` only).
    pub fn flags(&self, on_inconclusive: Option<OnInconclusive>) -> PlanFlags {
        PlanFlags {
            plan: self.plan.clone(),
            steps: self.steps.clone(),
            hold_secs: self.hold,
            interval_secs: self.interval,
            on_inconclusive,
        }
    }
}

/// Where a release command stops following before the release's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Until {
    /// The plan's first pause for a person (exit code 7).
    Paused,
}

pub(super) fn duration(max: u64) -> impl Fn(&str) -> Result<u64, String> + Clone {
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
    /// Whether the release returns at its first pause (`--until paused`).
    pub fn stops_at_pause(&self) -> bool {
        self.until_paused || self.until.is_some()
    }

    /// The release the flags ask for; [`ReleaseRequest::resolve`] makes it one to start.
    pub fn request(&self) -> ReleaseRequest {
        ReleaseRequest {
            tag: self.tag.clone(),
            plan: self.plan.flags(self.on_inconclusive),
            bake_secs: self.bake,
            keep_old: self.keep_old,
            scale_in_on_rollback: self.scale_in_on_rollback,
            force: self.force,
        }
    }
}

/// A plan or a release the flags describe but the rules refuse: bad input.
pub(super) fn bad_plan(e: crate::rollout::plan::PlanError) -> Failure {
    Failure {
        code: exit::FAILURE,
        message: e.to_string(),
        detail: serde_json::Value::Null,
    }
}

/// Prints one line per note (stderr for humans, nothing with `--json`), under a live line on
/// a terminal that says where the release is and for how long it has run.
pub(super) struct Lines {
    progress: super::progress::Progress,
    /// This command waits on through a pause (no `--until paused`, no `--timeout`): a pause
    /// says so, and how to stop waiting.
    waits_through_pauses: bool,
}

impl Lines {
    pub(super) fn new(out: &Out) -> Lines {
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

/// The release `args` describe for this profile (refused on AWS when a hold is shorter than
/// CloudWatch's metric period).
fn spec(
    kind: &PlatformKind,
    settings: &ReleaseSettings,
    args: &ReleaseArgs,
) -> Result<ReleaseSpec, Failure> {
    let coarse = matches!(kind, PlatformKind::Aws { .. });
    args.request().resolve(settings, coarse).map_err(bad_plan)
}

/// `bluegreen release`.
pub(super) async fn release(
    ops: &Ops,
    settings: &ReleaseSettings,
    args: ReleaseArgs,
    out: &Out,
) -> Outcome {
    let spec = spec(&ops.platform().info().kind, settings, &args)?;
    let lines = if args.stops_at_pause() {
        Lines::new(out)
    } else {
        Lines::waiting_through_pauses(out)
    };
    let r = match ops.launch_release(spec).await? {
        (r, Driver::Platform) => {
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
pub(super) fn finish(r: &Release, out: &Out) -> Outcome {
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
    // A release whose driver went away is taken over by `resume`: by the platform where it
    // drives releases (the local daemon), else by this process.
    if request == Request::Resume
        && let Some(taken) = ops.take_over(&r).await?
    {
        out.progress(&format!(
            "the driver of release {} ({}) went away: this process drives it on",
            r.id, r.driver
        ));
        let lines = Lines::new(out);
        let r = ops.drive_release(taken, &lines, false).await?;
        return finish(&r, out);
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
