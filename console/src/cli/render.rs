//! Human output. Pure functions of the data (and of `now`, passed in), so they are
//! snapshot-tested with fixtures.

use std::fmt::Write as _;

use crate::ops::{PromoteReport, RollbackReport};
use crate::platform::local::wire::DaemonStatus;
use crate::platform::{DeployReceipt, PlatformInfo, PlatformKind, WeightChange, WeightOutcome};
use crate::rollout::drift::Drift;
use crate::rollout::split::Measured;
use crate::rollout::{
    Bake, Build, BuildStatus, Color, ColorState, Image, LogLine, Share, Snapshot, SplitVerdict,
    UnixMillis,
};

pub use crate::format::{duration, short_digest, time};

/// The API-call cost of the refresh `status` made.
#[derive(Debug, Clone, Copy)]
pub struct Calls {
    pub refresh: u64,
}

/// Everything `status` shows.
pub struct Status<'a> {
    pub info: &'a PlatformInfo,
    pub snap: &'a Snapshot,
    pub builds: Result<&'a [Build], &'a str>,
    pub images: Result<&'a [Image], &'a str>,
    pub verbose: bool,
    pub calls: Option<Calls>,
    pub now: UnixMillis,
}

/// The platform, the listener and both colors: the part of `status` every status view shares
/// (`bluegreen status`, `local status`, the demo's summary).
pub fn rollout(info: &PlatformInfo, snap: &Snapshot, now: UnixMillis, verbose: bool) -> String {
    let mut out = String::new();
    let where_ = match &info.kind {
        PlatformKind::Aws { region, .. } => format!("aws {region} · cluster {}", info.cluster),
        PlatformKind::Local { state_dir, url } => format!("local {state_dir} · {url}"),
    };
    let _ = writeln!(out, "profile {} · {where_}", info.profile);
    let l = &snap.listener;
    let _ = writeln!(out, "listener {}", l.id);
    let shape = match (snap.live(), snap.stable()) {
        (Some(live), _) => format!("at rest: {live} live, {} idle", live.other()),
        (None, Some(stable)) => format!("shift in progress: from {stable} to {}", stable.other()),
        (None, None) => "split, no stable color recorded".to_string(),
    };
    let stable = match (l.stable, crate::rollout::guard::resting_stable(snap)) {
        (Some(c), _) => c.to_string(),
        (None, Some(c)) => format!("{c} (at rest, not yet recorded: the first write records it)"),
        (None, None) => "none recorded".to_string(),
    };
    let _ = writeln!(out, "traffic  {} · {shape} · stable {stable}", l.weights);
    if let Some(b) = &l.bake {
        let _ = writeln!(
            out,
            "bake     {}",
            bake_line(snap, b, now, info.finishes_bake)
        );
    }
    if let Some(t) = l.test_color {
        let _ = writeln!(out, "test     test listener → {t}");
    }
    let _ = writeln!(out);
    for (_, c) in snap.colors.iter() {
        color(&mut out, c, l.weights.share(c.color), verbose);
    }
    out
}

pub fn status(s: &Status) -> String {
    let mut out = rollout(s.info, s.snap, s.now, s.verbose);
    let snap = s.snap;
    let _ = writeln!(out);
    match s.builds {
        Ok([]) => {
            let _ = writeln!(out, "build    none yet");
        }
        Ok([latest, ..]) => {
            let _ = writeln!(out, "build    {}", build_line(latest, s.now));
        }
        Err(e) => {
            let _ = writeln!(out, "build    unavailable: {e}");
        }
    }
    match s.images {
        Ok(images) => {
            let running = |digest: &str| {
                running_on(snap, digest)
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
            };
            if images.is_empty() {
                let _ = writeln!(out, "images   none");
            }
            let shown = if s.verbose {
                images.len()
            } else {
                images.len().min(5)
            };
            for (i, img) in images.iter().take(shown).enumerate() {
                let tags = if img.tags.is_empty() {
                    "<untagged>".to_string()
                } else {
                    img.tags.join(", ")
                };
                let runs = running(&img.digest);
                let runs = if runs.is_empty() {
                    String::new()
                } else {
                    format!(" · runs on {}", runs.join(", "))
                };
                let pushed = img
                    .pushed_at
                    .map(|p| format!(" · pushed {}", time(p)))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{} {tags} ({}){pushed}{runs}",
                    if i == 0 { "images  " } else { "        " },
                    short_digest(&img.digest)
                );
            }
            if images.len() > shown {
                let _ = writeln!(out, "         … {} more (--verbose)", images.len() - shown);
            }
        }
        Err(e) => {
            let _ = writeln!(out, "images   unavailable: {e}");
        }
    }
    if let Some(calls) = s.calls.filter(|_| s.verbose) {
        let _ = writeln!(out, "\napi calls: {} for this refresh", calls.refresh);
    }
    out
}

/// The measured traffic: desired (what a console last wrote), listener (what the API reads
/// back) and observed (the requests' share) per color, and the drift found.
pub fn traffic(m: &Measured, drifts: &[Drift]) -> String {
    let mut out = String::new();
    let window = match (m.window_secs, &m.unavailable) {
        (_, Some(why)) => format!("observed: {why}"),
        (None, None) => "observed: the weights changed too recently to measure".to_string(),
        (Some(secs), None) => format!(
            "observed over the last {secs} s: {} request(s)",
            m.requests.blue.saturating_add(m.requests.green)
        ),
    };
    let _ = writeln!(out, "split    desired · listener · observed  ({window})");
    for color in Color::ALL {
        let observed = m
            .observed
            .map_or("-".to_string(), |o| format!("{}%", o.share(color)));
        let _ = writeln!(
            out,
            "{:<8} {:>5}% · {:>5}% · {:>6}",
            color.as_str(),
            m.desired.share(color).to_string(),
            m.listener.share(color).to_string(),
            observed
        );
    }
    match &m.verdict {
        Some(v @ SplitVerdict::TooFewRequests { .. }) => {
            let _ = writeln!(out, "         {}", v.describe());
        }
        Some(SplitVerdict::Matches { .. }) => {
            let _ = writeln!(out, "         requests follow the listener");
        }
        _ => {}
    }
    if drifts.is_empty() {
        let _ = writeln!(out, "drift    none");
    }
    for d in drifts {
        let _ = writeln!(out, "drift    {}", d.describe());
    }
    out
}

/// The colors with a task running the image `digest`.
pub fn running_on(snap: &Snapshot, digest: &str) -> Vec<Color> {
    snap.colors
        .iter()
        .filter(|(_, c)| {
            c.tasks
                .iter()
                .any(|t| t.image.as_ref().and_then(|i| i.digest.as_deref()) == Some(digest))
        })
        .map(|(color, _)| color)
        .collect()
}

fn bake_line(snap: &Snapshot, b: &Bake, now: UnixMillis, platform_finishes: bool) -> String {
    let promoted = snap.stable().map_or("?".to_string(), |c| c.to_string());
    let keep = if b.keep_old {
        " (kept after the bake: --keep-old)"
    } else {
        ""
    };
    if b.until > now {
        format!(
            "promoted {promoted}, bake pending until {} ({} left), old color {} still running{keep}",
            time(b.until),
            duration(b.until - now),
            b.old
        )
    } else if platform_finishes {
        format!(
            "promoted {promoted}, bake over; the platform finishes it once the requests show none reach the old color {} (see split; `bluegreen --accept-unmeasured promote` finishes it with too few)",
            b.old
        )
    } else {
        format!(
            "promoted {promoted}, bake pending (over since {}), old color {} still running{keep}: `bluegreen promote` finishes it",
            time(b.until),
            b.old
        )
    }
}

fn color(out: &mut String, c: &ColorState, weight: Share, verbose: bool) {
    let s = &c.service;
    let image = s.image.as_ref().map_or("-".to_string(), |i| {
        i.tag.clone().unwrap_or_else(|| i.reference.clone())
    });
    let digest = c
        .tasks
        .iter()
        .find_map(|t| t.image.as_ref().and_then(|i| i.digest.clone()))
        .map(|d| format!(" ({})", short_digest(&d)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{:<6} {:>3}%  desired {} running {} pending {}  healthy {}/{}  {}  image {image}{digest}  {}",
        c.color.as_str(),
        weight.to_string(),
        s.desired,
        s.running,
        s.pending,
        c.healthy_targets(),
        c.targets.len(),
        s.task_definition,
        s.status
    );
    if verbose {
        for t in &c.tasks {
            let image = t
                .image
                .as_ref()
                .and_then(|i| i.tag.clone())
                .unwrap_or_else(|| "-".into());
            let started = t
                .started_at
                .map(|a| format!(" started {}", time(a)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "         task {} {} health {} rev {} image {image}{started}",
                t.id,
                t.last_status,
                format!("{:?}", t.health).to_lowercase(),
                t.revision
            );
        }
        for t in &c.targets {
            let task = t
                .task_id
                .as_ref()
                .map(|id| format!(" (task {id})"))
                .unwrap_or_default();
            let reason = t
                .reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            let health = format!("{:?}", t.health).to_lowercase();
            let _ = writeln!(out, "         target {} {health}{task}{reason}", t.id);
        }
        for e in s.events.iter().take(3) {
            let _ = writeln!(out, "         event {} {}", time(e.at), e.message);
        }
    }
}

pub fn build_line(b: &Build, now: UnixMillis) -> String {
    let number = b.number.map(|n| format!("#{n} ")).unwrap_or_default();
    let source = b.source_version.as_deref().unwrap_or("default branch");
    let took = match (b.started_at, b.ended_at) {
        (Some(s), Some(e)) => format!(" · took {}", duration(e - s)),
        (Some(s), None) => format!(" · running for {}", duration(now - s)),
        _ => String::new(),
    };
    let phase = b
        .phases
        .iter()
        .rev()
        .find(|p| p.status.is_done() || p.started_at.is_some())
        .map(|p| format!(" · phase {}", p.name))
        .unwrap_or_default();
    let digest = b
        .exported
        .iter()
        .find(|(k, _)| k == "IMAGE_DIGEST")
        .map(|(_, v)| format!(" · image {}", short_digest(v)))
        .unwrap_or_default();
    format!(
        "{number}{} {source}{took}{phase}{digest} · {}",
        build_status(b.status),
        b.id
    )
}

/// CodeBuild's spelling.
pub fn build_status(s: BuildStatus) -> &'static str {
    match s {
        BuildStatus::Queued => "QUEUED",
        BuildStatus::InProgress => "IN_PROGRESS",
        BuildStatus::Succeeded => "SUCCEEDED",
        BuildStatus::Failed => "FAILED",
        BuildStatus::Fault => "FAULT",
        BuildStatus::TimedOut => "TIMED_OUT",
        BuildStatus::Stopped => "STOPPED",
    }
}

pub fn weight_change(verb: &str, c: &WeightChange) -> String {
    let was = c
        .previous
        .map(|p| format!(" (was {p})"))
        .unwrap_or_default();
    match c.outcome() {
        // In force, but the platform could not make it durable (a full disk): say what a
        // restart would do.
        WeightOutcome::Applied if c.write_error.is_some() => format!(
            "{verb}: {} applied{was}, NOT SAVED: {}",
            c.desired,
            c.write_error
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_default()
        ),
        WeightOutcome::Applied => format!("{verb}: {} applied{was}", c.desired),
        WeightOutcome::NotApplied => format!(
            "{verb}: NOT applied: wanted {}, the listener shows {}",
            c.desired,
            c.observed.map_or("?".into(), |o| o.to_string())
        ),
        WeightOutcome::Unknown => format!(
            "{verb}: UNKNOWN: wanted {}; the read-back failed",
            c.desired
        ),
    }
}

pub fn promote(r: &PromoteReport, now: UnixMillis) -> String {
    let mut out = weight_change(&format!("promoted {}", r.promoted), &r.change);
    if let Some(b) = &r.bake {
        let after = if b.keep_old {
            "keeps running (--keep-old)".to_string()
        } else {
            "scales to 0".to_string()
        };
        let _ = write!(
            out,
            "\nbake until {} ({}): {} stays up so `bluegreen rollback` can undo the promote; then it {after}",
            time(b.until),
            duration(b.until - now),
            b.old
        );
    }
    for w in &r.warnings {
        let _ = write!(out, "\nwarning: {w}");
    }
    out
}

/// A finished bake, with what its scale-in relied on.
pub fn finished_bake_measured(f: &crate::ops::FinishedBake) -> String {
    let mut line = finished_bake(&f.bake);
    if f.accepted_unmeasured {
        line.push_str(" (accepted unmeasured: --accept-unmeasured)");
    } else if let Some(v) = &f.split {
        line.push_str(&format!(" ({})", v.describe()));
    }
    line
}

pub fn finished_bake(b: &Bake) -> String {
    if b.keep_old {
        format!("bake finished: {} keeps running (--keep-old)", b.old)
    } else {
        format!("bake finished: {} scaled to 0", b.old)
    }
}

pub fn rollback(r: &RollbackReport) -> String {
    if r.unchanged {
        return format!(
            "nothing to roll back: {} is stable with all traffic ({}), and no bake or release is pending; nothing was written, and the deploy lock was left as it is",
            r.target, r.change.desired
        );
    }
    let mut out = weight_change(&format!("rolled back to {}", r.target), &r.change);
    if let Some(id) = &r.ended_release {
        let _ = write!(
            out,
            "\nrelease {id} ended (aborted by this rollback): it takes no further step"
        );
    }
    if let Some(p) = &r.taken_over_from {
        let _ = write!(
            out,
            "\ndeploy lock taken over from {} (held for {}); `bluegreen lock release` when done",
            p.holder, p.purpose
        );
    }
    for w in &r.warnings {
        let _ = write!(out, "\nwarning: {w}");
    }
    out
}

pub fn deploy(d: &DeployReceipt) -> String {
    format!(
        "deployed {} to {}: task definition {} ({}), desired {}",
        d.tag, d.color, d.task_definition, d.image, d.desired
    )
}

/// `2026-11-28T07:00:00Z green 1a2b3c4d GET / 200`.
pub fn log_line(l: &LogLine) -> String {
    let task: String = l.task_id.chars().take(8).collect();
    format!(
        "{} {:<5} {task} {}",
        time(l.at),
        l.color.as_str(),
        l.message
    )
}

/// What keeps a color from being healthy, as lines to append to a timeout message.
pub fn why_unhealthy(c: &ColorState) -> String {
    let s = &c.service;
    let mut out = format!(
        "\n  {}: desired {}, running {}, pending {}, healthy targets {}/{}",
        c.color,
        s.desired,
        s.running,
        s.pending,
        c.healthy_targets(),
        c.targets.len()
    );
    for t in c.targets.iter().filter(|t| t.reason.is_some()) {
        let _ = write!(
            out,
            "\n  target {} {}: {}",
            t.id,
            format!("{:?}", t.health).to_lowercase(),
            t.reason.as_deref().unwrap_or_default()
        );
    }
    for t in c
        .tasks
        .iter()
        .filter(|t| t.stopped_reason.as_deref().is_some_and(|r| !r.is_empty()))
    {
        let _ = write!(
            out,
            "\n  task {} {}: {}",
            t.id,
            t.last_status,
            t.stopped_reason.as_deref().unwrap_or_default()
        );
    }
    for e in s.events.iter().take(3) {
        let _ = write!(out, "\n  event {} {}", time(e.at), e.message);
    }
    out
}

/// `local status`: the daemon (process, socket, listeners), then the shared rollout view.
pub fn local_status(
    d: &DaemonStatus,
    info: &PlatformInfo,
    snap: &Snapshot,
    now: UnixMillis,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "local platform: running (pid {}, bluegreen {})",
        d.pid, d.version
    );
    let _ = writeln!(out, "  state dir   {}", d.state_dir);
    let _ = writeln!(out, "  socket      {}", d.socket);
    let _ = writeln!(out, "  production  http://{}/", d.production);
    let _ = writeln!(out, "  test        http://{}/", d.test);
    if let Some(why) = &d.unsaved {
        let _ = writeln!(out, "  state       {why}");
    }
    for f in &snap.listener.faults {
        let _ = writeln!(out, "  {}", super::fault::fault_line(f, now));
    }
    let _ = writeln!(out);
    out.push_str(&rollout(info, snap, now, false));
    out
}

/// What a wait's last poll saw, for its progress line.
pub fn wait_seen(what: &crate::ops::WaitFor, snap: &crate::rollout::Snapshot) -> String {
    use crate::ops::WaitFor;
    let color = |c: crate::rollout::Color| {
        let s = snap.colors.get(c);
        format!(
            "{c}: {}/{} healthy target(s), {} running, {} pending (revision {})",
            s.healthy_targets(),
            s.service.desired,
            s.service.running,
            s.service.pending,
            s.service.revision
        )
    };
    match what {
        WaitFor::Healthy(c) => color(*c),
        WaitFor::Stable(c) => format!("{} · listener {}", color(*c), snap.listener.weights),
        WaitFor::Weights(_) => format!("listener {}", snap.listener.weights),
    }
}

/// What to do next, for the state the demo's console left: the CLI verb for the step the
/// console's guide would name, so a presenter who quit the console knows where they are.
/// `tags` are the registry's tags, newest first.
pub fn next_step(
    snap: &Snapshot,
    release: Option<&crate::rollout::Release>,
    tags: &[String],
) -> String {
    if let Some(r) = release.filter(|r| r.outcome.is_none()) {
        return format!(
            "release {} of {} is {}: `bluegreen wait --release` follows it, `bluegreen abort` rolls it back",
            r.id,
            r.tag,
            r.describe()
        );
    }
    if let Some(bake) = snap.bake_pending() {
        return format!(
            "promoted; {} keeps running through the bake: `bluegreen rollback` undoes the promote until then",
            bake.old
        );
    }
    if let Some(canary) = snap.canary() {
        let share = snap.listener.weights.share(canary);
        return format!(
            "{canary} has {share}%: `bluegreen promote` gives it 100%, `bluegreen rollback` gives {} 100% back",
            canary.other()
        );
    }
    let Some(idle) = snap.idle() else {
        return "no color has all the traffic: `bluegreen status` says why".into();
    };
    let live = idle.other();
    let tag_of = |c: Color| {
        snap.colors
            .get(c)
            .service
            .image
            .as_ref()
            .and_then(|i| i.tag.clone())
    };
    let idle_state = snap.colors.get(idle);
    let live_tag = tag_of(live);
    let other_tag = tags
        .iter()
        .find(|t| Some(t.as_str()) != live_tag.as_deref())
        .cloned();
    if idle_state.service.desired == 0 || idle_state.tasks.is_empty() {
        return match other_tag {
            Some(tag) => format!(
                "{idle} runs nothing: `bluegreen release --tag {tag} --steps 10,50 --hold 30s` walks it in with gates (or `bluegreen deploy --tag {tag} --wait`, then `bluegreen shift --{idle} 10`)"
            ),
            None => {
                "one version is built: `bluegreen demo --second-release` builds v2 to release next"
                    .into()
            }
        };
    }
    if !idle_state.release_healthy() {
        return format!(
            "{idle} is starting: `bluegreen wait --healthy {idle}` returns once its tasks are healthy"
        );
    }
    if tag_of(idle).is_some() && tag_of(idle) == live_tag {
        return match other_tag {
            Some(tag) => format!(
                "{idle} runs the same image as {live}: `bluegreen deploy --tag {tag}` puts another there"
            ),
            None => {
                "one version is built: `bluegreen demo --second-release` builds v2 to release next"
                    .into()
            }
        };
    }
    format!(
        "{idle} runs {} healthy at 0%: `bluegreen shift --{idle} 10` sends it a tenth of the traffic",
        tag_of(idle).unwrap_or_else(|| "its image".into())
    )
}
