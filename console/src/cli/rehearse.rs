//! `bluegreen rehearse`: a release of the stable color's own image with a fault injected into
//! the canary, to see whether (and how fast) the gates catch it. Local only: the fault is the
//! local proxy's.

use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::outcome::{Failure, Out, Outcome};
use super::release::{Lines, PlanArgs, bad_plan, finish};
use crate::clock::now_millis;
use crate::config::ReleaseSettings;
use crate::format;
use crate::ops::release::{Note, Observer};
use crate::ops::{Ops, exit};
use crate::platform::PlatformKind;
use crate::platform::local::client::LocalClient;
use crate::rollout::plan::{self, OnInconclusive};
use crate::rollout::release::{Outcome as End, ReleaseOptions, Stage};
use crate::rollout::resolve::ReleaseSpec;
use crate::rollout::{Share, limits};

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
    pub plan: PlanArgs,
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
    let plan = args
        .plan
        .flags(Some(OnInconclusive::Pause))
        .resolve(settings)
        .map_err(bad_plan)?;
    let client = LocalClient::connect(std::path::Path::new(&state_dir)).await?;
    let (r, _) = ops
        .launch_release(ReleaseSpec {
            tag: tag.clone(),
            plan,
            options: ReleaseOptions {
                bake_secs: 0,
                keep_old: true,
                scale_in_on_rollback: false,
                smoke: settings.smoke.clone(),
                accept_unmeasured: false,
            },
            force: false,
        })
        .await?;
    let canary = r.canary;
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
