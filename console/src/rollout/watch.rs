//! The guard that watches every canary with traffic and every bake, whoever moved the weights
//! (`[profiles.X.guard]`): what it watches ([`assess`]), what its gates judge ([`gate_input`],
//! with the bake's baseline rule in [`baseline`]), and what it does about their results
//! ([`decide`]). The gates, their thresholds and the rule that a failing gate rolls back are the
//! release plans' own ([`super::gate`]); nothing here judges a number by itself.
//!
//! Not to be confused with [`super::guard`], the rules that refuse a verb (the shift guard:
//! a color needs healthy targets before it is given traffic).
//!
//! Pure: the watcher (the local daemon, or on AWS the holder of the watch lease) reads, writes
//! and sleeps; this decides.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::gate::{self, AlarmState, GateConfig, GateInput, GateResult, Verdict};
use super::plan;
use super::release::Stage;
use super::{Color, ColorMetrics, Listener, MetricPoint, PerColor, Release, UnixMillis, Weights};

/// What the guard does when a gate fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuardMode {
    /// Roll back at once: the one weight call rollback is.
    #[default]
    Rollback,
    /// Show it and journal it; never write.
    Warn,
    /// Do not watch.
    Off,
}

impl GuardMode {
    pub fn as_str(self) -> &'static str {
        match self {
            GuardMode::Rollback => "rollback",
            GuardMode::Warn => "warn",
            GuardMode::Off => "off",
        }
    }
}

impl fmt::Display for GuardMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The guard's interval when a profile gives none: often enough that a failing canary is
/// taken out within seconds, rarely enough that on AWS it costs a few calls a minute.
pub const DEFAULT_INTERVAL_SECS: u64 = 5;
/// The shortest and longest interval a profile may set.
pub const MIN_INTERVAL_SECS: u64 = 1;
pub const MAX_INTERVAL_SECS: u64 = 300;

/// The longest window the guard judges: the last five minutes of the watched color's
/// traffic (or since the write, when that is more recent). A canary that starts failing after
/// an hour of good traffic is judged on its last minutes, not diluted by the hour; and a
/// quiet canary (10% of the probe's default 3 requests a second) gathers the 20 requests its
/// gates need within the window (a one-minute window never would: 18).
pub const WINDOW_SECS: u64 = 300;
/// On a platform whose metric points are whole minutes (CloudWatch), the same five minutes:
/// the minutes published late still fall inside it.
pub const PERIOD_WINDOW_SECS: u64 = 300;
/// How far before a promote the old color's figures are taken for the bake's baseline.
pub const BASELINE_SECS: u64 = 120;

/// `[profiles.X.guard]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardConfig {
    #[serde(default)]
    pub mode: GuardMode,
    /// Seconds between two judgements.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
}

fn default_interval() -> u64 {
    DEFAULT_INTERVAL_SECS
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            mode: GuardMode::default(),
            interval_secs: DEFAULT_INTERVAL_SECS,
        }
    }
}

impl GuardConfig {
    /// The interval's bounds; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(MIN_INTERVAL_SECS..=MAX_INTERVAL_SECS).contains(&self.interval_secs) {
            return Err(format!(
                "guard.interval must be {MIN_INTERVAL_SECS} to {MAX_INTERVAL_SECS} seconds, got {}",
                self.interval_secs
            ));
        }
        Ok(())
    }
}

/// The probe's rate when a profile gives none, in requests per second: a few.
pub const DEFAULT_PROBE_RATE: f64 = 3.0;
/// The highest rate a profile may set: the probe measures, it is not a load test.
pub const MAX_PROBE_RATE: f64 = 50.0;
/// The most paths the probe cycles through.
pub const MAX_PROBE_PATHS: usize = 20;

/// `[profiles.X.probe]`: GETs through the production listener while a step, a bake or the
/// guard lacks the requests it needs to judge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Requests per second; 0 turns the probe off.
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// The paths it cycles through (the smoke checks' paths when the profile gives none).
    #[serde(default = "default_paths")]
    pub paths: Vec<String>,
    /// The production listener's URL (locally the proxy's; on AWS the stack's `prod_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

fn default_rate() -> f64 {
    DEFAULT_PROBE_RATE
}

/// The default smoke checks' paths.
fn default_paths() -> Vec<String> {
    super::SmokeCheck::defaults()
        .into_iter()
        .map(|c| c.path)
        .collect()
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            rate: DEFAULT_PROBE_RATE,
            paths: default_paths(),
            url: None,
        }
    }
}

impl ProbeConfig {
    /// The rate, the paths and the URL; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.rate.is_finite() && (0.0..=MAX_PROBE_RATE).contains(&self.rate)) {
            return Err(format!(
                "probe.rate must be 0 (off) to {MAX_PROBE_RATE} requests per second, got {}",
                self.rate
            ));
        }
        if self.paths.len() > MAX_PROBE_PATHS {
            return Err(format!(
                "probe.paths lists {} paths; at most {MAX_PROBE_PATHS}",
                self.paths.len()
            ));
        }
        for p in &self.paths {
            if !p.starts_with('/') || p.len() > 2048 || p.contains(char::is_whitespace) {
                return Err(format!(
                    "probe.paths: `{}` must start with / and have no spaces (at most 2048 bytes)",
                    p.chars().take(64).collect::<String>()
                ));
            }
        }
        if let Some(url) = &self.url {
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty())
                || url.len() > 2048
                || url.contains(char::is_whitespace)
            {
                return Err(format!(
                    "probe.url must be an http:// or https:// URL with a host, got `{}`",
                    url.chars().take(64).collect::<String>()
                ));
            }
        }
        Ok(())
    }

    /// Whether the probe sends anything.
    pub fn enabled(&self) -> bool {
        self.rate > 0.0 && !self.paths.is_empty()
    }

    /// Milliseconds between two probe requests (`None` when off).
    pub fn gap_ms(&self) -> Option<u64> {
        self.enabled()
            .then(|| ((1000.0 / self.rate).ceil() as u64).max(1))
    }
}

/// How far back the probe looks at the traffic the service already has.
pub const PROBE_LOOKBACK_SECS: u64 = 10;

/// Whether the probe should send now: while something is judged on production traffic (a
/// color that is not stable carries traffic, a bake is pending, or a release holds a step
/// or promotes) and the service's own traffic over the last [`PROBE_LOOKBACK_SECS`]
/// (`organic`: the requests less the probe's own) is below the probe's rate: a busy
/// service needs no probe, and a quiet one gets the requests its gates and its measured
/// split need.
pub fn probe_wanted(
    listener: &Listener,
    release: Option<&Release>,
    organic: u64,
    probe: &ProbeConfig,
) -> bool {
    if !probe.enabled() {
        return false;
    }
    let stepping = release.is_some_and(|r| {
        !r.is_over()
            && matches!(
                r.stage,
                Stage::Step { .. } | Stage::Paused { .. } | Stage::Promoting
            )
    });
    let baking = listener
        .bake
        .as_ref()
        .is_some_and(|b| Some(b.old) != listener.stable);
    let canary = listener
        .stable
        .is_some_and(|s| listener.weights.get(s.other()) > 0);
    (stepping || baking || canary) && (organic as f64) < probe.rate * PROBE_LOOKBACK_SECS as f64
}

/// What should be watched on `listener` and nobody watches: a canary carries traffic or a
/// bake is pending, and the watcher's record is stale ([`WatchRecord::stale`]), or missing
/// on a platform whose watcher is a console process (AWS). Where the platform watches by
/// itself (`platform_watches`: the local daemon, which also finishes bakes), a missing
/// record is a daemon older than the guard, not nobody.
pub fn unwatched(listener: &Listener, now: UnixMillis, platform_watches: bool) -> Option<Watched> {
    match listener.guard.as_deref() {
        Some(r) if !r.stale(now) => return None,
        None if platform_watches => return None,
        _ => {}
    }
    assess(GuardMode::Rollback, listener, None, None, now).ok()
}

/// [`unwatched`] in words, with times shown by `clock`.
pub fn unguarded_text(
    listener: &Listener,
    now: UnixMillis,
    platform_watches: bool,
    clock: impl Fn(UnixMillis) -> String,
) -> Option<String> {
    unwatched(listener, now, platform_watches).map(|w| w.unguarded_line(w.since().map(clock)))
}

impl Watched {
    /// `UNGUARDED: green 20% (canary) since 14:02, nobody watching`, with `since` as the
    /// caller shows times. (On AWS no process watches yet: the `bluegreen watch` verb and its
    /// lease are still to come, so the line names no verb to run.)
    pub fn unguarded_line(&self, since: Option<String>) -> String {
        let since = since.map(|s| format!(" since {s}")).unwrap_or_default();
        format!("UNGUARDED: {}{since}, nobody watching", self.describe())
    }
}

/// What a watcher needs from the profile: the guard's mode and interval, the gates (the
/// profile's `[gates]`, the same ones its plans use) and the probe.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WatchSettings {
    pub guard: GuardConfig,
    pub gates: GateConfig,
    pub probe: ProbeConfig,
}

/// What the guard watches now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Watched {
    /// The color that is not stable carries production traffic (a shift by hand, the slider,
    /// a release's step whose driver went away). Judged against the stable color, as a plan's
    /// step is.
    Shift {
        canary: Color,
        weights: Weights,
        /// When a console wrote these weights; `None` when nobody recorded it.
        since: Option<UnixMillis>,
    },
    /// A promote's bake: `stable` has the traffic, `old` still runs. Judged against absolute
    /// thresholds and `old`'s figures from before the promote ([`baseline`]).
    Bake {
        stable: Color,
        old: Color,
        /// The promote's write; `None` when nobody recorded it.
        since: Option<UnixMillis>,
        until: UnixMillis,
    },
}

impl Watched {
    /// The color whose figures the gates judge.
    pub fn judged(&self) -> Color {
        match self {
            Watched::Shift { canary, .. } => *canary,
            Watched::Bake { stable, .. } => *stable,
        }
    }

    /// Where a rollback sends all the traffic: the stable color, or during a bake the old
    /// color (undo the promote).
    pub fn target(&self) -> Color {
        match self {
            Watched::Shift { canary, .. } => canary.other(),
            Watched::Bake { old, .. } => *old,
        }
    }

    pub fn since(&self) -> Option<UnixMillis> {
        match self {
            Watched::Shift { since, .. } | Watched::Bake { since, .. } => *since,
        }
    }

    /// `green 20% (canary)`, `the bake of green (blue still runs)`.
    pub fn describe(&self) -> String {
        match self {
            Watched::Shift {
                canary, weights, ..
            } => format!("{canary} {}% (canary)", weights.share(*canary)),
            Watched::Bake { stable, old, .. } => {
                format!("the bake of {stable} ({old} still runs)")
            }
        }
    }
}

/// Why the guard judges nothing now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "idle", rename_all = "snake_case")]
pub enum Idle {
    /// `mode = "off"`.
    Off,
    /// The stable color has all the traffic and no bake is pending.
    AtRest,
    /// No stable color is recorded, so no color can be called the canary.
    NoStable,
    /// A release's driver is judging its step with the same gates: one watcher, not two.
    ReleaseGates { id: String },
    /// A person shifted these weights unguarded (`shift --unguarded --reason`).
    Unguarded { by: String, reason: String },
}

impl fmt::Display for Idle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Idle::Off => f.write_str("guard off (mode = \"off\")"),
            Idle::AtRest => f.write_str("nothing to watch: at rest"),
            Idle::NoStable => f.write_str(
                "no stable color is recorded: nothing can be judged (`bluegreen adopt --stable COLOR`)",
            ),
            Idle::ReleaseGates { id } => write!(f, "release {id}'s driver gates its step"),
            Idle::Unguarded { by, reason } => {
                write!(f, "shifted unguarded by {by}: {reason}")
            }
        }
    }
}

/// A shift a person made unguarded (`shift --unguarded --reason TEXT`): the guard leaves
/// these weights alone until they change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unguarded {
    pub weights: Weights,
    pub by: String,
    pub reason: String,
    pub at: UnixMillis,
}

/// What the guard watches on `listener`, or why nothing. A release whose driver is alive and
/// holds (or pauses at) a step is its driver's to judge; its deploy, smoke test and bake are
/// the guard's (the bake only waits in a driver). A driver that went away leaves its step to
/// the guard.
pub fn assess(
    mode: GuardMode,
    listener: &Listener,
    release: Option<&Release>,
    unguarded: Option<&Unguarded>,
    now: UnixMillis,
) -> Result<Watched, Idle> {
    if mode == GuardMode::Off {
        return Err(Idle::Off);
    }
    let stable = listener.stable.ok_or(Idle::NoStable)?;
    let weights = listener.weights;
    let written = listener
        .written
        .filter(|w| w.weights == weights)
        .map(|w| w.at);
    let watched = match &listener.bake {
        // A bake naming the stable color as old is stale bookkeeping, not a promote to undo.
        Some(b) if b.old != stable => Watched::Bake {
            stable,
            old: b.old,
            since: written,
            until: b.until,
        },
        _ if weights.get(stable.other()) > 0 => Watched::Shift {
            canary: stable.other(),
            weights,
            since: written,
        },
        _ => {
            // No bake, and the stable color has everything (weights are per mille of one
            // total): at rest, whatever a stable record without weights says.
            return Err(Idle::AtRest);
        }
    };
    if let Some(r) = release.filter(|r| !r.is_over() && !r.driver_gone(now))
        && matches!(r.stage, Stage::Step { .. } | Stage::Paused { .. })
    {
        return Err(Idle::ReleaseGates { id: r.id.clone() });
    }
    if let Some(u) =
        unguarded.filter(|u| u.weights == weights && matches!(watched, Watched::Shift { .. }))
    {
        return Err(Idle::Unguarded {
            by: u.by.clone(),
            reason: u.reason.clone(),
        });
    }
    Ok(watched)
}

/// The metrics window to read for `watched` at `now`, in seconds: the watched color's own
/// traffic since the write, at most [`WINDOW_SECS`] (on a per-minute platform, at most
/// [`PERIOD_WINDOW_SECS`]); `None` while the write is too recent to have a window of its own.
pub fn window_secs(
    watched: &Watched,
    now: UnixMillis,
    resolution_ms: u64,
    per_period: bool,
) -> Option<u64> {
    let cap = if per_period {
        PERIOD_WINDOW_SECS
    } else {
        WINDOW_SECS
    };
    match watched.since() {
        Some(since) => plan::window_secs(since, now, resolution_ms).map(|w| w.min(cap)),
        None => Some(cap),
    }
}

/// The window to read so it reaches [`BASELINE_SECS`] before a promote made at `since`, for
/// [`baseline`]; `None` when that lies beyond the longest window the gates read.
pub fn baseline_window_secs(since: UnixMillis, now: UnixMillis) -> Option<u64> {
    let ago = u64::try_from(now.saturating_sub(since)).unwrap_or(0) / 1000;
    let secs = ago.saturating_add(BASELINE_SECS);
    (secs <= plan::MAX_WINDOW_SECS).then_some(secs)
}

/// The bake's baseline: the old color's figures from before the promote at `since`, when it
/// served the traffic the new stable color serves now. The old color has no traffic during
/// the bake, so comparing with its figures now would compare with nothing; its figures from
/// before the promote are what "as good as before" means. Only the points that end before
/// the promote count (a point that straddles it, end-stamped, may hold a smoke check
/// through the test listener, which points at the old color after the promote); per-minute
/// points (stamped with their start) count when they start before it. A baseline of fewer
/// requests than the gates' minimum says little: `None`, and the gates fall back to their
/// absolute thresholds (the gate result says so).
pub fn baseline(
    old: &ColorMetrics,
    since: UnixMillis,
    per_period: bool,
    min_requests: u64,
) -> Option<MetricPoint> {
    let before = old.points.iter().filter(|p| {
        if per_period {
            p.at < since
        } else {
            p.at <= since
        }
    });
    gate::merge(before).filter(|b| b.requests >= min_requests)
}

/// The judged color's window: since the write (a point that starts, or per minute is
/// stamped, at or after it). On a platform whose summary is its own count over the read
/// window (the local proxy), the summary, since the window was read after the write.
fn judged_window(
    m: &ColorMetrics,
    since: Option<UnixMillis>,
    per_period: bool,
) -> Option<MetricPoint> {
    match since {
        Some(at) => gate::window_after(m, at, per_period),
        None if per_period => gate::merge(m.points.iter()),
        None => m.window,
    }
}

/// What the gates judge for `watched`: the judged color's health and window; during a shift
/// the stable color's window over the same time, during a bake `baseline` (the old color's
/// figures from before the promote, see [`baseline`]); and the alarms.
pub fn gate_input(
    watched: &Watched,
    metrics: Result<Option<PerColor<ColorMetrics>>, String>,
    per_period: bool,
    healthy: usize,
    desired: u32,
    baseline: Option<MetricPoint>,
    alarms: Result<Vec<(String, AlarmState)>, String>,
) -> GateInput {
    let judged = watched.judged();
    let (window, other) = match metrics {
        Ok(Some(m)) => (
            Ok(judged_window(m.get(judged), watched.since(), per_period)),
            judged_window(m.get(judged.other()), watched.since(), per_period),
        ),
        Ok(None) => (Err("this platform has no metrics".to_string()), None),
        Err(e) => (Err(e), None),
    };
    GateInput {
        healthy,
        desired,
        canary: window,
        stable: match watched {
            Watched::Shift { .. } => other,
            Watched::Bake { .. } => baseline,
        },
        alarms,
    }
}

/// The gates' results for `watched`: the plans' gates ([`gate::evaluate`]) with the judged
/// color in the canary's place. During a bake the "other color" is the old color's baseline,
/// which the thresholds name.
pub fn evaluate(cfg: &GateConfig, watched: &Watched, input: &GateInput) -> Vec<GateResult> {
    let mut results = gate::evaluate(cfg, watched.judged(), input);
    if let Watched::Bake { old, .. } = watched {
        for r in &mut results {
            if matches!(r.gate, gate::Gate::Errors | gate::Gate::Latency) {
                let note = if input.stable.is_some() {
                    format!("{old}'s figures are from before the promote")
                } else {
                    format!("no baseline: {old} had too few requests before the promote")
                };
                r.reason = Some(match r.reason.take() {
                    Some(why) => format!("{why}; {note}"),
                    None => note,
                });
            }
        }
    }
    results
}

/// What the guard does about one judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Every gate passed.
    Pass,
    /// The gates could not judge (too little traffic, unreadable metrics): nothing is done,
    /// and the probe is wanted.
    Inconclusive { why: String },
    /// A gate failed and the mode is warn: shown and journaled, nothing written.
    Warn { failed: Vec<GateResult> },
    /// A gate failed: give `target` all the traffic with one weight call. During a bake
    /// that undoes the promote (`undo_promote`): the old color becomes stable again.
    RollBack {
        target: Color,
        undo_promote: bool,
        failed: Vec<GateResult>,
    },
}

/// The decision on `results` for `watched` in `mode`: the gate-fail rule of a plan's step
/// ([`gate::failed`]) decides; then the mode says whether to act.
pub fn decide(mode: GuardMode, watched: &Watched, results: &[GateResult]) -> Decision {
    if let Some(failed) = gate::failed(results) {
        return match mode {
            GuardMode::Rollback => Decision::RollBack {
                target: watched.target(),
                undo_promote: matches!(watched, Watched::Bake { .. }),
                failed,
            },
            // Off never reaches here ([`assess`]); if it did, it would not write.
            GuardMode::Warn | GuardMode::Off => Decision::Warn { failed },
        };
    }
    match gate::overall(results) {
        Verdict::Pass => Decision::Pass,
        _ => Decision::Inconclusive {
            why: results
                .iter()
                .filter(|r| r.verdict == Verdict::Inconclusive)
                .map(|r| {
                    format!(
                        "{}: {}",
                        r.gate,
                        r.reason.as_deref().unwrap_or("no verdict")
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        },
    }
}

/// The failed gates in one line: what the journal entry and every display name.
/// `errors fail: 25% (5/20) against ≤ 1% and ≤ blue 0% + 0.5 (over the bound of 1%)`.
pub fn describe_failed(failed: &[GateResult]) -> String {
    failed
        .iter()
        .map(|g| g.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The journal's reason for a guard's rollback: `rolled back by the guard: …`.
pub fn rollback_reason(watched: &Watched, failed: &[GateResult]) -> String {
    let what = match watched {
        Watched::Shift { canary, .. } => format!("{canary} (canary)"),
        Watched::Bake { stable, old, .. } => {
            format!("{stable} during its bake, promote undone to {old}")
        }
    };
    format!(
        "rolled back by the guard: {what}: {}",
        describe_failed(failed)
    )
}

/// What the guard did last, for every display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardAction {
    pub at: UnixMillis,
    /// `rolled back`, `warned` or `rollback failed`.
    pub action: String,
    pub watched: Watched,
    pub failed: Vec<GateResult>,
    /// The rollback's outcome or error, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The guard as its watcher last recorded it: what it watches, the gates' values live, and
/// what it did last. Recorded with the listener, so every console shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchRecord {
    /// Who watches (`daemon@host`, or on AWS the holder of the watch lease).
    pub watcher: String,
    pub mode: GuardMode,
    pub interval_secs: u64,
    /// When it judged last.
    pub at: UnixMillis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watching: Option<Watched>,
    /// Why it judges nothing, when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<Idle>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<GateResult>,
    /// The overall verdict of `gates`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// During a bake: the old color's figures from before the promote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<MetricPoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action: Option<GuardAction>,
    /// Requests the probe sent since the watcher started.
    #[serde(default)]
    pub probe_sent: u64,
    /// A shift made unguarded, while its weights are in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unguarded: Option<Unguarded>,
    /// Why the watcher runs on settings other than the profile's (a file it cannot read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl WatchRecord {
    /// A watcher's record before its first judgement.
    pub fn starting(watcher: &str, settings: &WatchSettings, at: UnixMillis) -> WatchRecord {
        WatchRecord {
            watcher: watcher.to_string(),
            mode: settings.guard.mode,
            interval_secs: settings.guard.interval_secs,
            at,
            watching: None,
            idle: None,
            gates: Vec::new(),
            verdict: None,
            baseline: None,
            last_action: None,
            probe_sent: 0,
            unguarded: None,
            note: None,
        }
    }

    /// Whether the record is too old to mean anyone watches: three intervals without a word.
    pub fn stale(&self, now: UnixMillis) -> bool {
        let limit = (self.interval_secs.max(1) as i64).saturating_mul(3_000);
        now.saturating_sub(self.at) > limit
    }

    /// One line for `status` and the TUI: `guard (rollback, every 5 s): watching green 20%
    /// (canary): errors pass …`.
    pub fn summary(&self) -> String {
        let head = format!("guard ({}, every {} s)", self.mode, self.interval_secs);
        let body = match (&self.watching, &self.idle) {
            (Some(w), _) => {
                let verdict = self
                    .verdict
                    .map_or("not judged yet".to_string(), |v| v.to_string());
                format!("watching {}: {verdict}", w.describe())
            }
            (None, Some(idle)) => idle.to_string(),
            (None, None) => "starting".to_string(),
        };
        format!("{head}: {body}")
    }
}

#[cfg(test)]
mod tests;
