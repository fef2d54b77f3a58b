//! `bluegreen promote`, and finishing a bake an earlier promote left pending.

use std::time::Duration;

use serde_json::json;

use super::outcome::{Out, Outcome};
use super::render;
use crate::clock::now_millis;
use crate::ops::{self, OpError, Ops, PromoteOptions, exit};
use crate::rollout::{Bake, guard};

/// How long `promote --bake 0` waits for the platform to end the bake before it tries itself.
const ZERO_BAKE_WAIT: Duration = Duration::from_secs(10);

/// `bluegreen promote`: the canary to 100% and stable, then the bake: waited out here where the
/// platform does not finish bakes itself (AWS), else left to it (`--bake 0` waits a little).
pub(super) async fn promote(ops: &Ops, bake: u64, keep_old: bool, out: &Out) -> Outcome {
    // Refuse up front: finishing a pending bake would otherwise wait it out before refusing.
    ops.access().check("promote").map_err(ops::OpError::from)?;
    let p = ops.platform();
    let listener = p.listener().await?;
    // A bake left by an earlier promote (the console quit mid-bake) on a platform that does not
    // finish bakes itself: finish it rather than promote the old color back. Everything else,
    // including the refusal while the platform bakes, is the promote guard's call.
    // `--accept-unmeasured` finishes a bake the platform holds for too few requests, too.
    if (!p.info().finishes_bake || ops.accepts_unmeasured())
        && let Some(pending) = guard::already_promoted(&listener).cloned()
    {
        let stable = pending.old.other();
        out.progress(&format!(
            "{stable} was promoted earlier and its bake is pending; finishing it (old color {})",
            pending.old
        ));
        if !bake_wait(&pending, out).await {
            return Ok(exit::OK);
        }
        let done = ops.finish_bake_measured().await?;
        let human = done.as_ref().map_or(
            "no bake was pending".to_string(),
            render::finished_bake_measured,
        );
        out.print(
            &human,
            json!({ "ok": true, "promoted": stable, "finished_bake": done.as_ref().map(|d| &d.bake), "split": done.as_ref().map(|d| d.split), "accepted_unmeasured": done.as_ref().is_some_and(|d| d.accepted_unmeasured) }),
        );
        return Ok(exit::OK);
    }
    let opts = PromoteOptions {
        bake: Duration::from_secs(bake),
        keep_old,
    };
    let report = ops.promote(opts, None).await?;
    out.progress(&render::promote(&report, now_millis()));
    let mut finished = None;
    // A bake with no time left (`--bake 0`) ends before `promote` returns, also where the
    // platform finishes bakes: a script's next `deploy` finds no bake pending. The platform
    // scales the old color in once the requests since the promote show that all reach the
    // new one; this waits for that, a little, then tries once itself to say why not.
    if let Some(b) = report.bake.as_ref().filter(|b| b.left(now_millis()) == 0)
        && report.platform_finishes_bake
    {
        let deadline = tokio::time::Instant::now() + ZERO_BAKE_WAIT;
        let progress = super::progress::Progress::start(out.mode(), "ending the bake (--bake 0)");
        let ended = loop {
            let l = ops.platform().listener().await?;
            if l.bake.is_none() {
                break true;
            }
            if tokio::time::Instant::now() >= deadline {
                break false;
            }
            progress.set(
                "waiting",
                &format!(
                    "for the requests since the promote to show all reach {}",
                    report.promoted
                ),
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        drop(progress);
        if !ended {
            match ops.finish_bake_measured().await {
                Ok(f) => finished = f,
                // Held (too few requests to judge the split, or something still routes to
                // the old color): the promote stands, the bake stays pending and says why.
                Err(OpError::Refused(refusal)) => {
                    out.print(
                        &format!(
                            "{} is live and stable; the bake of {} is still pending: {}",
                            report.promoted, b.old, refusal.reason
                        ),
                        json!({ "ok": true, "report": report, "finished_bake": null, "bake_held": refusal.reason }),
                    );
                    return Ok(exit::OK);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let human = match &finished {
            Some(f) => format!(
                "{} is live and stable; {}",
                report.promoted,
                render::finished_bake_measured(f)
            ),
            None => format!(
                "{} is live and stable; {}",
                report.promoted,
                render::finished_bake(b)
            ),
        };
        out.print(
            &human,
            json!({ "ok": true, "report": report, "finished_bake": b, "split": finished.as_ref().and_then(|f| f.split) }),
        );
        return Ok(exit::OK);
    }
    if let (Some(b), false) = (&report.bake, report.platform_finishes_bake) {
        if !bake_wait(b, out).await {
            out.print(
                "bake left pending",
                json!({ "ok": true, "report": report, "finished_bake": null }),
            );
            return Ok(exit::OK);
        }
        finished = ops.finish_bake_measured().await?;
        if finished.is_none() {
            return ended_elsewhere(ops, &report, out).await;
        }
    }
    let human = match &finished {
        Some(f) => format!(
            "{} is live and stable; {}",
            report.promoted,
            render::finished_bake_measured(f)
        ),
        None => format!("{} is live and stable", report.promoted),
    };
    out.print(
        &human,
        json!({ "ok": true, "report": report, "finished_bake": finished.as_ref().map(|f| &f.bake), "split": finished.as_ref().and_then(|f| f.split), "accepted_unmeasured": finished.as_ref().is_some_and(|f| f.accepted_unmeasured) }),
    );
    Ok(exit::OK)
}

/// The bake was ended by someone else during the wait: another console finished it (fine), or
/// a rollback undid the promote (refused, see [`guard::check_promote_kept`]).
async fn ended_elsewhere(ops: &Ops, report: &ops::PromoteReport, out: &Out) -> Outcome {
    let l = ops.platform().listener().await?;
    guard::check_promote_kept(&l, report.promoted).map_err(OpError::from)?;
    out.print(
        &format!(
            "the bake was ended elsewhere during the wait: {} is stable, the listener shows {}; nothing was scaled down here",
            report.promoted, l.weights
        ),
        json!({ "ok": true, "report": report, "listener": l }),
    );
    Ok(exit::OK)
}

/// Sleeps until `until`, printing progress; false when interrupted (Ctrl-C), in which case the
/// bake stays recorded on the platform for a later `promote` to finish.
async fn bake_wait(bake: &Bake, out: &Out) -> bool {
    const STEP: u64 = 30_000;
    let old = bake.old;
    loop {
        let left = bake.left(now_millis());
        if left == 0 {
            return true;
        }
        out.progress(&format!(
            "baking: {} left, {old} still running (Ctrl-C leaves the bake pending; `bluegreen promote` finishes it)",
            render::duration(i64::try_from(left).unwrap_or(i64::MAX))
        ));
        let nap = Duration::from_millis(left.min(STEP));
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            _ = tokio::signal::ctrl_c() => {
                out.progress(&format!(
                    "interrupted: the bake stays pending until {}; {old} keeps running; run `bluegreen promote` to finish it",
                    render::time(bake.until)
                ));
                return false;
            }
        }
    }
}
