//! Applying what happened outside: clock ticks, pollers' results, finished writes.

use super::super::command::Command;
use super::super::event::{OpResult, Polled};
use super::super::state::{NoticeLevel, Resource, State};
use crate::ops::OpError;
use crate::platform::WeightOutcome;
use crate::rollout::{GuardRule, UnixMillis};

pub(super) fn tick(state: &mut State, now: UnixMillis) -> Vec<Command> {
    state.now = now;
    if state.animating() {
        state.spinner = state.spinner.wrapping_add(1);
    }
    if let Some(cmd) = finish_owned_bake(state) {
        return vec![cmd];
    }
    offer_bake_finish(state);
    vec![]
}

/// The bake this session's promote started ends once due, as a write of its own. One write at
/// a time: it waits while another write runs.
fn finish_owned_bake(state: &mut State) -> Option<Command> {
    let bake = state.owned_bake.as_ref()?;
    if !bake.is_due(state.now) || !state.busy.is_empty() {
        return None;
    }
    state.bake_offered = Some(bake.until);
    state.owned_bake = None;
    super::start_busy(state, "finishing the bake");
    Some(Command::FinishBake {
        accept_unmeasured: false,
    })
}

/// On a platform that does not finish bakes by itself, say once per bake (one this session did
/// not start) that it is due.
fn offer_bake_finish(state: &mut State) {
    if state.info.finishes_bake {
        return;
    }
    let Some(bake) = state.snapshot().and_then(|s| s.bake_pending().cloned()) else {
        return;
    };
    if !bake.is_due(state.now) || state.bake_offered == Some(bake.until) {
        return;
    }
    state.bake_offered = Some(bake.until);
    let what = if bake.keep_old {
        "clear it (keep-old: the old color keeps running)".to_string()
    } else {
        format!("scale {} to 0", bake.old)
    };
    state.notify(
        NoticeLevel::Warning,
        format!("the promote's bake is over: press F to finish it ({what})"),
    );
}

pub(super) fn loading(state: &mut State, resource: Resource, at: UnixMillis) {
    match resource {
        Resource::Services => state.services.loading(at),
        Resource::Builds => state.builds.loading(at),
        Resource::Images => state.images.loading(at),
        Resource::Logs => state.logs.loading(at),
        Resource::Metrics => state.metrics.loading(at),
        Resource::Release => state.release.loading(at),
        Resource::Journal => state.journal.loading(at),
        Resource::Lock => state.lock.loading(at),
    }
}

/// A poller's backoff after throttling, for its panel's title.
pub(super) fn backoff(state: &mut State, resource: Resource, backoff: Option<std::time::Duration>) {
    match resource {
        Resource::Services => state.services.backoff = backoff,
        Resource::Builds => state.builds.backoff = backoff,
        Resource::Images => state.images.backoff = backoff,
        Resource::Logs => state.logs.backoff = backoff,
        Resource::Metrics => state.metrics.backoff = backoff,
        Resource::Release => state.release.backoff = backoff,
        Resource::Journal => state.journal.backoff = backoff,
        Resource::Lock => state.lock.backoff = backoff,
    }
}

pub(super) fn polled(state: &mut State, polled: Polled, at: UnixMillis) -> Vec<Command> {
    match polled {
        Polled::Services(Ok(snap)) => {
            let observed = snap.listener.weights;
            state.services.stale = snap.stale.clone();
            state.services.loaded(*snap, at);
            if state.traffic.desired == Some(observed) {
                state.traffic.desired = None;
            }
            if state.traffic.pending == Some(observed) {
                state.traffic.pending = None;
            }
        }
        Polled::Services(Err(e)) => state.services.failed(&e, at),
        Polled::Builds(Ok(builds)) => {
            state.build_index = state.build_index.min(builds.len().saturating_sub(1));
            state.builds.loaded(builds, at);
        }
        Polled::Builds(Err(e)) => state.builds.failed(&e, at),
        Polled::Images(Ok(images)) => {
            state.image_index = state.image_index.min(images.len().saturating_sub(1));
            state.images.loaded(images, at);
        }
        Polled::Images(Err(e)) => state.images.failed(&e, at),
        Polled::Logs(Ok(lines)) => {
            state.log_buffer.extend(lines);
            state.logs.loaded((), at);
        }
        Polled::Logs(Err(e)) => state.logs.failed(&e, at),
        Polled::Metrics(Ok(m)) => state.metrics.loaded(m, at),
        Polled::Metrics(Err(e)) => state.metrics.failed(&e, at),
        Polled::Release(Ok(r)) => state.release.loaded(*r, at),
        Polled::Release(Err(e)) => state.release.failed(&e, at),
        Polled::Journal(Ok(page)) => state.journal.loaded(page, at),
        Polled::Journal(Err(e)) => state.journal.failed(&e, at),
        Polled::Lock(Ok(r)) => state.lock.loaded(r.map(|r| *r), at),
        Polled::Lock(Err(e)) => state.lock.failed(&e, at),
    }
    vec![]
}

pub(super) fn done(state: &mut State, result: OpResult) -> Vec<Command> {
    // Only a rollback runs beside another write, and it is the newest; the oldest write is
    // the one done unless the result says it is the rollback. A release this console drives
    // ends long after its start, which was the write: it ends no busy entry.
    if !state.busy.is_empty() && !matches!(result, OpResult::ReleaseDriven(_)) {
        let i = match result {
            OpResult::RolledBack(_) => state.busy.len() - 1,
            _ => 0,
        };
        state.busy.remove(i);
    }
    let mut refresh = vec![Command::Refresh(Resource::Services)];
    match result {
        OpResult::Shifted(Ok(change)) => {
            state.traffic.pending = None;
            let weights = change.observed.unwrap_or(change.desired);
            state.notify(NoticeLevel::Success, format!("applied: {weights}"));
        }
        OpResult::Shifted(Err(e)) => failed(state, "shift", &e),
        OpResult::Promoted(Ok(report)) => {
            state.traffic.pending = None;
            state.traffic.desired = None;
            if !report.platform_finishes_bake {
                state.owned_bake = report.bake.clone();
            }
            let bake = report
                .bake
                .as_ref()
                .map(|b| {
                    let secs = ((b.until - state.now).max(0) + 999) / 1000;
                    let end = if b.keep_old {
                        "then keeps running (keep-old)".to_string()
                    } else {
                        "then scales to 0".to_string()
                    };
                    format!("; {} bakes for {secs} s, {end}", b.old)
                })
                .unwrap_or_default();
            state.notify(
                NoticeLevel::Success,
                format!(
                    "promoted {}: it has 100% and is stable{bake}",
                    report.promoted
                ),
            );
        }
        OpResult::Promoted(Err(e)) => failed(state, "promote", &e),
        OpResult::BakeFinished(Ok(Some(bake))) => {
            let what = if bake.keep_old {
                format!("{} keeps running", bake.old)
            } else {
                format!("{} scaled to 0", bake.old)
            };
            state.notify(NoticeLevel::Success, format!("bake finished: {what}"));
        }
        OpResult::BakeFinished(Ok(None)) => {
            state.notify(NoticeLevel::Info, "no bake was pending");
        }
        OpResult::BakeFinished(Err(e)) => failed(state, "finish the bake", &e),
        OpResult::RolledBack(Ok(report)) => {
            state.traffic.pending = None;
            state.traffic.desired = None;
            // The promote is undone (or never baked): no bake of this session's to end.
            state.owned_bake = None;
            let mut text = format!("rolled back: {} has 100%", report.target);
            for w in &report.warnings {
                text.push_str("; ");
                text.push_str(w);
            }
            let level = if report.warnings.is_empty() {
                NoticeLevel::Success
            } else {
                NoticeLevel::Warning
            };
            state.notify(level, text);
        }
        OpResult::RolledBack(Err(e)) => failed(state, "roll back", &e),
        OpResult::Deployed(Ok(r)) => {
            state.notify(
                NoticeLevel::Success,
                format!(
                    "deployed {} to {} ({}, {} task(s)); wait for it to become healthy before shifting",
                    r.tag, r.color, r.task_definition, r.desired
                ),
            );
        }
        OpResult::Deployed(Err(e)) => failed(state, "deploy", &e),
        OpResult::BuildStarted(Ok(b)) => {
            state.build_index = 0;
            state.notify(NoticeLevel::Success, format!("build {} started", b.id));
            refresh.push(Command::Refresh(Resource::Builds));
        }
        OpResult::BuildStarted(Err(e)) => failed(state, "start a build", &e),
        OpResult::Scaled {
            color,
            desired,
            result: Ok(()),
        } => state.notify(NoticeLevel::Success, format!("{color} scaled to {desired}")),
        OpResult::Scaled {
            color,
            result: Err(e),
            ..
        } => failed(state, &format!("scale {color}"), &e),
        OpResult::ReleaseStarted(Ok((r, here))) => {
            let who = if here {
                "this console drives it: quitting leaves it holding its weight until `bluegreen resume`"
            } else {
                "the daemon drives it"
            };
            state.release_dismissed = None;
            state.notify(
                NoticeLevel::Success,
                format!(
                    "release {} of {} to {} started by plan {}: {who}",
                    r.id, r.tag, r.canary, r.plan.name
                ),
            );
            refresh.push(Command::Refresh(Resource::Release));
        }
        OpResult::ReleaseStarted(Err(e)) => failed(state, "release", &e),
        OpResult::ReleaseDriven(Ok(r)) => {
            let level = match r.outcome {
                Some(crate::rollout::Outcome::Released) => NoticeLevel::Success,
                Some(_) => NoticeLevel::Error,
                None => NoticeLevel::Warning,
            };
            let text = match &r.outcome {
                Some(o) => format!("release {} of {}: {o}", r.id, r.tag),
                None => format!("release {} of {}: {}", r.id, r.tag, r.describe()),
            };
            state.notify(level, text);
            refresh.push(Command::Refresh(Resource::Release));
        }
        OpResult::ReleaseDriven(Err(e)) => {
            failed(state, "driving the release", &e);
            refresh.push(Command::Refresh(Resource::Release));
        }
        OpResult::ReleaseRequested(request, Ok(r)) => {
            let text = match request {
                crate::rollout::release::Request::Abort => {
                    format!("release {} aborted: the stable color has 100%", r.id)
                }
                crate::rollout::release::Request::Pause => {
                    format!("release {}: pause requested", r.id)
                }
                crate::rollout::release::Request::Resume => {
                    format!("release {}: resume requested", r.id)
                }
            };
            state.notify(NoticeLevel::Success, text);
            refresh.push(Command::Refresh(Resource::Release));
        }
        OpResult::ReleaseRequested(request, Err(e)) => {
            failed(state, &format!("{request:?}").to_lowercase(), &e)
        }
    }
    refresh
}

fn failed(state: &mut State, what: &str, e: &OpError) {
    let text = match e {
        // A bake held for too few requests: the console's own way past it.
        OpError::Refused(r) if r.rule == GuardRule::SplitUnmeasured && r.overridable => {
            format!("{what} refused: {} (in this console: F, then u)", r.reason)
        }
        OpError::Refused(r) => format!("{what} refused: {}", r.reason),
        OpError::Weights(change) if change.outcome() == WeightOutcome::Unknown => {
            format!("{what}: {e}")
        }
        _ => format!("{what} failed: {e}"),
    };
    if let OpError::Weights(change) = e
        && change.outcome() == WeightOutcome::NotApplied
    {
        // The listener kept its weights: what was asked is no longer in flight.
        state.traffic.desired = None;
    }
    state.notify(NoticeLevel::Error, text);
}
