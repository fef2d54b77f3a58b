//! The gates a release step must pass: health, errors, latency and alarms, judged from one
//! window of metrics. Pure: the caller reads the metrics and the target health and passes them
//! in; [`evaluate`] returns every gate's measured value, threshold and verdict, so the console
//! can show them side by side and a rollback can name the gate that failed.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Color, ColorMetrics, MetricPoint, UnixMillis};

/// The thresholds of the gates (a profile's `[gates]`, or a plan's own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateConfig {
    /// The canary's 5xx rate may not exceed this, in percent.
    pub max_error_rate: f64,
    /// Nor the stable color's rate over the same window plus this many points.
    pub max_error_delta: f64,
    /// The canary's p99 may not exceed this, in milliseconds (no bound when unset).
    pub max_p99_ms: Option<f64>,
    /// Nor the stable color's p99 × this ratio + [`GateConfig::p99_floor_ms`].
    pub max_p99_ratio: f64,
    pub p99_floor_ms: f64,
    /// Below this many canary requests in the window the errors and latency are not judged.
    pub min_requests: u64,
    /// CloudWatch alarms (AWS) that fail the gate when in ALARM.
    pub alarms: Vec<String>,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            max_error_rate: 1.0,
            max_error_delta: 0.5,
            max_p99_ms: None,
            max_p99_ratio: 2.0,
            p99_floor_ms: 50.0,
            min_requests: 20,
            alarms: Vec::new(),
        }
    }
}

impl GateConfig {
    /// Checks the thresholds are numbers a gate can use; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let pct = |name: &str, v: f64| {
            if v.is_finite() && (0.0..=100.0).contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "gates.{name} must be a percentage in 0..=100, got {v}"
                ))
            }
        };
        pct("max_error_rate", self.max_error_rate)?;
        pct("max_error_delta", self.max_error_delta)?;
        let ms = |name: &str, v: f64| {
            if v.is_finite() && (0.0..=MAX_LATENCY_MS).contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "gates.{name} must be milliseconds in 0..={MAX_LATENCY_MS}, got {v}"
                ))
            }
        };
        if let Some(v) = self.max_p99_ms {
            ms("max_p99_ms", v)?;
        }
        ms("p99_floor_ms", self.p99_floor_ms)?;
        if !(self.max_p99_ratio.is_finite() && (1.0..=100.0).contains(&self.max_p99_ratio)) {
            return Err(format!(
                "gates.max_p99_ratio must be in 1..=100, got {}",
                self.max_p99_ratio
            ));
        }
        if !(1..=MAX_MIN_REQUESTS).contains(&self.min_requests) {
            return Err(format!(
                "gates.min_requests must be in 1..={MAX_MIN_REQUESTS}, got {}",
                self.min_requests
            ));
        }
        if self.alarms.len() > MAX_ALARMS {
            return Err(format!(
                "gates.alarms names {} alarms; at most {MAX_ALARMS}",
                self.alarms.len()
            ));
        }
        Ok(())
    }
}

/// The largest latency threshold a profile may set: ten minutes.
pub const MAX_LATENCY_MS: f64 = 600_000.0;
/// The largest minimum request count a profile may set.
pub const MAX_MIN_REQUESTS: u64 = 1_000_000;
/// The most alarms one gate may name (one DescribeAlarms call takes 100).
pub const MAX_ALARMS: usize = 100;

/// What a CloudWatch alarm says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
    /// The alarm named in the profile does not exist.
    Missing,
}

/// Everything the gates judge, read once per interval.
#[derive(Debug, Clone, PartialEq)]
pub struct GateInput {
    /// Healthy targets of the canary, and its desired count.
    pub healthy: usize,
    pub desired: u32,
    /// The window's totals per color; `Err` says why they could not be read.
    pub canary: Result<Option<MetricPoint>, String>,
    pub stable: Option<MetricPoint>,
    /// Each alarm of the profile and its state; `Err` when they could not be read.
    pub alarms: Result<Vec<(String, AlarmState)>, String>,
}

/// The gates, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    Health,
    Errors,
    Latency,
    Alarms,
}

impl Gate {
    pub fn as_str(self) -> &'static str {
        match self {
            Gate::Health => "health",
            Gate::Errors => "errors",
            Gate::Latency => "latency",
            Gate::Alarms => "alarms",
        }
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One gate's judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    /// Not enough evidence either way (too little traffic, metrics unreadable).
    Inconclusive,
    Fail,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Fail => "fail",
        })
    }
}

/// A gate's measured value next to its threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    pub gate: Gate,
    pub verdict: Verdict,
    /// The measured value, as shown (`2.5% (5/200)`, `p99 180 ms`, `2/2 healthy`).
    pub measured: String,
    /// The threshold, as shown (`≤ 1%` and `≤ blue 0.2% + 0.5`).
    pub threshold: String,
    /// Why, in a few words, when the verdict is not a pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl GateResult {
    fn new(gate: Gate, verdict: Verdict, measured: String, threshold: String) -> Self {
        GateResult {
            gate,
            verdict,
            measured,
            threshold,
            reason: None,
        }
    }

    fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

impl fmt::Display for GateResult {
    /// `errors fail: 20% (40/200) against ≤ 1% and ≤ blue 0% + 0.5 (canary over the bound)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {} against {}",
            self.gate, self.verdict, self.measured, self.threshold
        )?;
        if let Some(r) = &self.reason {
            write!(f, " ({r})")?;
        }
        Ok(())
    }
}

/// Every gate's result; the worst verdict decides (see [`overall`]).
pub fn evaluate(cfg: &GateConfig, canary: Color, input: &GateInput) -> Vec<GateResult> {
    let mut out = vec![health(input)];
    match &input.canary {
        Err(why) => {
            for gate in [Gate::Errors, Gate::Latency] {
                out.push(
                    GateResult::new(gate, Verdict::Inconclusive, "unreadable".into(), "-".into())
                        .because(format!("metrics could not be read: {why}")),
                );
            }
        }
        Ok(window) => {
            let none = MetricPoint::default();
            let c = window.as_ref().unwrap_or(&none);
            out.push(errors(cfg, canary, c, input.stable.as_ref()));
            out.push(latency(cfg, canary, c, input.stable.as_ref()));
        }
    }
    if !cfg.alarms.is_empty() {
        out.push(alarms(&input.alarms));
    }
    out
}

/// What the gates judge of one color for a step whose weights were written at `since` (for a
/// bake: the promote's write). Where each point is a whole period stamped with its start
/// (`per_period`: CloudWatch's minutes), only the periods that start at or after the write
/// are the step's: the minute that straddles the write holds requests (and errors) from
/// before it, of the weights before, or of the revision before the deploy, and is not the
/// step's. `None` until the first such period is published (the gates say inconclusive).
/// Where the platform's window summary is its own count since the write (the local proxy),
/// that is the step's.
pub fn window_after(
    metrics: &ColorMetrics,
    since: UnixMillis,
    per_period: bool,
) -> Option<MetricPoint> {
    if per_period {
        merge(metrics.points.iter().filter(|p| p.at >= since))
    } else {
        metrics.window
    }
}

/// Points as one: the sums of the counts, the highest p99 of the points that had requests
/// (per-period p99s cannot be merged exactly; their maximum is never below the true p99 of
/// the periods with traffic, so a latency gate errs on the side of failing), stamped with
/// the last point's time. `None` without any point.
pub fn merge<'a>(points: impl IntoIterator<Item = &'a MetricPoint>) -> Option<MetricPoint> {
    let mut out: Option<MetricPoint> = None;
    for p in points {
        let o = out.get_or_insert(MetricPoint {
            at: p.at,
            requests: 0,
            errors_5xx: 0,
            p99_ms: None,
        });
        o.at = o.at.max(p.at);
        o.requests += p.requests;
        o.errors_5xx += p.errors_5xx;
        if p.requests > 0
            && let Some(v) = p.p99_ms
        {
            o.p99_ms = Some(o.p99_ms.map_or(v, |m: f64| m.max(v)));
        }
    }
    out
}

/// The gate-fail rule, the one every watcher applies (a plan's step, a paused release, the
/// guard): when any gate fails, the failed gates, and the caller rolls back at once whatever
/// the others say; `None` when none fails.
pub fn failed(results: &[GateResult]) -> Option<Vec<GateResult>> {
    (overall(results) == Verdict::Fail).then(|| {
        results
            .iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .cloned()
            .collect()
    })
}

/// The worst verdict of `results` (a pass when there are none).
pub fn overall(results: &[GateResult]) -> Verdict {
    results
        .iter()
        .map(|r| r.verdict)
        .max()
        .unwrap_or(Verdict::Pass)
}

fn health(input: &GateInput) -> GateResult {
    let need = (input.desired as usize).max(1);
    let measured = format!("{}/{} healthy", input.healthy, input.desired);
    let threshold = format!("≥ {need}");
    if input.healthy >= need {
        GateResult::new(Gate::Health, Verdict::Pass, measured, threshold)
    } else {
        GateResult::new(Gate::Health, Verdict::Fail, measured, threshold)
            .because("the canary has fewer healthy targets than its desired count")
    }
}

/// A rate in percent, shown to two significant decimals at most.
fn pct(v: f64) -> String {
    let r = (v * 100.0).round() / 100.0;
    if r.fract() == 0.0 {
        format!("{r:.0}%")
    } else {
        format!("{r}%")
    }
}

fn rate(p: &MetricPoint) -> Option<f64> {
    (p.requests > 0).then(|| p.errors_5xx.min(p.requests) as f64 * 100.0 / p.requests as f64)
}

fn errors(
    cfg: &GateConfig,
    canary: Color,
    c: &MetricPoint,
    stable: Option<&MetricPoint>,
) -> GateResult {
    let stable_color = canary.other();
    let stable_rate = stable.and_then(rate);
    let bound = match stable_rate {
        Some(s) => cfg.max_error_rate.min(s + cfg.max_error_delta),
        None => cfg.max_error_rate,
    };
    let threshold = match stable_rate {
        Some(s) => format!(
            "≤ {} and ≤ {stable_color} {} + {}",
            pct(cfg.max_error_rate),
            pct(s),
            cfg.max_error_delta
        ),
        None => format!("≤ {}", pct(cfg.max_error_rate)),
    };
    let errors = c.errors_5xx.min(c.requests);
    let measured = format!(
        "{} ({errors}/{})",
        rate(c).map_or("-".to_string(), pct),
        c.requests
    );
    if c.requests < cfg.min_requests {
        // Too few requests to judge a rate, unless the errors already seen exceed the bound
        // even if every request still needed to reach the minimum succeeded.
        let floor = cfg.min_requests.max(c.requests) as f64;
        if errors as f64 * 100.0 / floor > bound {
            return GateResult::new(Gate::Errors, Verdict::Fail, measured, threshold).because(
                format!(
                    "{errors} errors exceed the bound even over {} requests",
                    cfg.min_requests
                ),
            );
        }
        return GateResult::new(Gate::Errors, Verdict::Inconclusive, measured, threshold).because(
            format!(
                "{} requests to {canary}, fewer than the {} needed to judge",
                c.requests, cfg.min_requests
            ),
        );
    }
    let r = rate(c).unwrap_or(0.0);
    if r > cfg.max_error_rate {
        GateResult::new(Gate::Errors, Verdict::Fail, measured, threshold)
            .because(format!("over the bound of {}", pct(cfg.max_error_rate)))
    } else if r > bound {
        GateResult::new(Gate::Errors, Verdict::Fail, measured, threshold).because(format!(
            "more than {} points over {stable_color}'s rate",
            cfg.max_error_delta
        ))
    } else {
        let why = stable_rate
            .is_none()
            .then(|| format!("{stable_color} had no traffic: absolute bound only"));
        let mut r = GateResult::new(Gate::Errors, Verdict::Pass, measured, threshold);
        r.reason = why;
        r
    }
}

fn latency(
    cfg: &GateConfig,
    canary: Color,
    c: &MetricPoint,
    stable: Option<&MetricPoint>,
) -> GateResult {
    let stable_color = canary.other();
    let stable_p99 = stable.filter(|s| s.requests > 0).and_then(|s| s.p99_ms);
    let relative = stable_p99.map(|s| s * cfg.max_p99_ratio + cfg.p99_floor_ms);
    let bound = match (cfg.max_p99_ms, relative) {
        (Some(a), Some(r)) => Some(a.min(r)),
        (a, r) => a.or(r),
    };
    let mut parts = Vec::new();
    if let Some(a) = cfg.max_p99_ms {
        parts.push(format!("≤ {a} ms"));
    }
    if let Some(s) = stable_p99 {
        parts.push(format!(
            "≤ {stable_color} {s} ms × {} + {} ms",
            cfg.max_p99_ratio, cfg.p99_floor_ms
        ));
    }
    let threshold = if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(" and ")
    };
    let measured = c
        .p99_ms
        .map_or("p99 -".to_string(), |p| format!("p99 {p} ms"));
    if c.requests < cfg.min_requests {
        return GateResult::new(Gate::Latency, Verdict::Inconclusive, measured, threshold).because(
            format!(
                "{} requests to {canary}, fewer than the {} needed to judge",
                c.requests, cfg.min_requests
            ),
        );
    }
    match (c.p99_ms, bound) {
        (_, None) => GateResult::new(Gate::Latency, Verdict::Pass, measured, threshold).because(
            format!("{stable_color} had no traffic and no absolute bound is set"),
        ),
        (None, Some(_)) => {
            GateResult::new(Gate::Latency, Verdict::Inconclusive, measured, threshold)
                .because("no latency figure for the window")
        }
        (Some(p), Some(b)) if p > b => {
            GateResult::new(Gate::Latency, Verdict::Fail, measured, threshold)
                .because(format!("over {b} ms"))
        }
        (Some(_), Some(_)) => GateResult::new(Gate::Latency, Verdict::Pass, measured, threshold),
    }
}

fn alarms(alarms: &Result<Vec<(String, AlarmState)>, String>) -> GateResult {
    let threshold = "none in ALARM".to_string();
    let list = match alarms {
        Err(why) => {
            return GateResult::new(
                Gate::Alarms,
                Verdict::Inconclusive,
                "unreadable".into(),
                threshold,
            )
            .because(format!("alarms could not be read: {why}"));
        }
        Ok(list) => list,
    };
    let firing: Vec<&str> = list
        .iter()
        .filter(|(_, s)| *s == AlarmState::Alarm)
        .map(|(n, _)| n.as_str())
        .collect();
    let missing: Vec<&str> = list
        .iter()
        .filter(|(_, s)| *s == AlarmState::Missing)
        .map(|(n, _)| n.as_str())
        .collect();
    if !firing.is_empty() {
        return GateResult::new(
            Gate::Alarms,
            Verdict::Fail,
            format!("{} in ALARM", firing.len()),
            threshold,
        )
        .because(firing.join(", "));
    }
    if !missing.is_empty() {
        return GateResult::new(
            Gate::Alarms,
            Verdict::Inconclusive,
            format!("{} missing", missing.len()),
            threshold,
        )
        .because(format!("no such alarm: {}", missing.join(", ")));
    }
    GateResult::new(
        Gate::Alarms,
        Verdict::Pass,
        format!("{} OK", list.len()),
        threshold,
    )
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
