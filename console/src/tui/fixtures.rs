//! Fixture states for the screen snapshots, the update tests and the benchmarks. Built by
//! feeding pollers' results through [`crate::tui::update::handle_event`], the same path live
//! data takes.

use crate::ops::Access;
use crate::platform::{FaultKind, PlatformError, PlatformInfo, PlatformKind};
use crate::rollout::*;

use super::event::{Event, Polled};
use super::state::State;
use super::update::handle_event;

/// The fixed clock of every fixture: 2026-11-28 06:00:00 UTC.
pub const NOW: UnixMillis = 1_795_845_600_000;

pub fn info() -> PlatformInfo {
    PlatformInfo {
        profile: "local".into(),
        kind: PlatformKind::Local {
            state_dir: "/tmp/bg".into(),
            url: "http://127.0.0.1:8080/".into(),
        },
        cluster: "/tmp/bg".into(),
        finishes_bake: true,
        metrics_resolution_ms: 1000,
        metrics_per_period: false,
    }
}

fn digest(n: u8) -> String {
    format!(
        "sha256:{}",
        format!("{n:x}")
            .repeat(64)
            .chars()
            .take(64)
            .collect::<String>()
    )
}

fn image_ref(tag: &str, n: u8) -> ImageRef {
    ImageRef {
        reference: format!("blog:{tag}"),
        tag: Some(tag.into()),
        digest: Some(digest(n)),
    }
}

/// One color with `healthy` of `desired` tasks healthy, running `tag`.
pub fn color_state(color: Color, desired: u32, healthy: u32, tag: &str, n: u8) -> ColorState {
    let base = match color {
        Color::Blue => 5001,
        Color::Green => 5101,
    };
    let tasks: Vec<TaskState> = (0..desired)
        .map(|i| TaskState {
            id: format!("{color}-{:04x}", 0xa1b0 + i),
            last_status: "RUNNING".into(),
            health: if i < healthy {
                TaskHealth::Healthy
            } else {
                TaskHealth::Unhealthy
            },
            started_at: Some(NOW - 3_600_000 - i as i64 * 61_000),
            revision: 3,
            image: Some(image_ref(tag, n)),
            stopped_reason: None,
        })
        .collect();
    let targets = (0..desired)
        .map(|i| TargetState {
            id: format!("127.0.0.1:{}", base + i),
            task_id: Some(tasks[i as usize].id.clone()),
            health: if i < healthy {
                TargetHealth::Healthy
            } else {
                TargetHealth::Unhealthy
            },
            reason: (i >= healthy)
                .then(|| "Target.ResponseCodeMismatch: health check answered 500".into()),
        })
        .collect();
    ColorState {
        color,
        service: ServiceState {
            name: format!("blog-{color}"),
            desired,
            running: desired,
            pending: 0,
            status: "ACTIVE".into(),
            task_definition: format!("blog-{color}:3"),
            revision: 3,
            image: (desired > 0).then(|| image_ref(tag, n)),
            deployments: vec![],
            events: vec![],
        },
        tasks,
        targets,
    }
}

pub fn snapshot(weights: Weights, stable: Color, blue: ColorState, green: ColorState) -> Snapshot {
    Snapshot {
        taken_at: NOW,
        listener: Listener {
            id: "127.0.0.1:8080".into(),
            weights,
            stable: Some(stable),
            bake: None,
            test_color: Some(stable.other()),
            test_id: Some("127.0.0.1:8081".into()),
            faults: Vec::new(),
            written: None,
            written_services: Vec::new(),
            guard: None,
        },
        colors: PerColor::new(blue, green),
        api_calls: 1,
        stale: Vec::new(),
    }
}

pub fn build(number: u64, failed_at: Option<&str>) -> Build {
    const PHASES: [&str; 9] = [
        "SUBMITTED",
        "QUEUED",
        "PROVISIONING",
        "DOWNLOAD_SOURCE",
        "INSTALL",
        "PRE_BUILD",
        "BUILD",
        "POST_BUILD",
        "COMPLETED",
    ];
    let start = NOW - 600_000;
    let mut t = start;
    let mut failed = false;
    let phases = PHASES
        .iter()
        .map(|name| {
            let dur = match *name {
                "BUILD" => 95_000,
                "INSTALL" | "PRE_BUILD" => 12_000,
                _ => 1_000,
            };
            let status = if Some(*name) == failed_at {
                failed = true;
                BuildStatus::Failed
            } else {
                BuildStatus::Succeeded
            };
            let p = BuildPhase {
                name: (*name).into(),
                status,
                started_at: Some(t),
                ended_at: Some(t + dur),
                duration_ms: Some(dur as u64),
                context: if status == BuildStatus::Failed {
                    vec!["COMMAND_EXECUTION_ERROR: cargo test exited with status 101".into()]
                } else {
                    vec![]
                },
            };
            t += dur;
            p
        })
        .collect();
    Build {
        id: format!("blog:{number:08x}-0000"),
        number: Some(number),
        status: if failed {
            BuildStatus::Failed
        } else {
            BuildStatus::Succeeded
        },
        source_version: Some("main".into()),
        resolved_source: Some("3f2a9c1d7e".into()),
        started_at: Some(start),
        ended_at: Some(t),
        phases,
        log_location: None,
        exported: if failed {
            vec![]
        } else {
            vec![("IMAGE_TAG".into(), format!("v{number}"))]
        },
    }
}

pub fn images() -> Vec<Image> {
    vec![
        Image {
            digest: digest(2),
            tags: vec!["v2".into()],
            size_bytes: Some(9_800_000),
            pushed_at: Some(NOW - 900_000),
        },
        Image {
            digest: digest(1),
            tags: vec!["v1".into()],
            size_bytes: Some(9_700_000),
            pushed_at: Some(NOW - 86_400_000),
        },
    ]
}

pub fn metrics() -> PerColor<ColorMetrics> {
    PerColor::from_fn(|c| ColorMetrics {
        points: (0..12)
            .map(|i| MetricPoint {
                at: NOW - (12 - i) * 10_000,
                requests: match c {
                    Color::Blue => 80 + (i as u64 * 7) % 20,
                    Color::Green => 15 + (i as u64 * 3) % 6,
                },
                errors_5xx: u64::from(c == Color::Green && i == 11),
                p99_ms: Some(20.0 + (i % 4) as f64 * 3.0),
            })
            .collect(),
        window: None,
    })
}

/// A log line of `color` at `at`.
pub fn log_line(n: u64, color: Color, at: UnixMillis) -> LogLine {
    let message = match n % 7 {
        0 => format!("GET /posts/{} status=200 {}ms", n % 40, 2 + n % 9),
        // The blog's tracing fmt puts its own timestamp first (the console strips it).
        1 => format!(
            "2026-12-02T08:00:{:02}.123456Z  INFO POST /posts status=303 11ms",
            n % 60
        ),
        2 => format!("GET /health status=200 {}ms", n % 3),
        3 if n % 21 == 3 => "ERROR store: database is locked, retrying".to_string(),
        4 => format!("GET /posts?cursor={n} status=200 6ms"),
        5 => "GET /static/style.css status=304 0ms".to_string(),
        _ => format!("GET / status=200 {}ms", 3 + n % 5),
    };
    LogLine {
        color,
        task_id: format!("{color}-{:04x}", 0xa1b0 + (n % 2)),
        at,
        message,
    }
}

pub fn log_lines(count: u64, end: UnixMillis) -> Vec<LogLine> {
    (0..count)
        .map(|n| {
            let color = if n % 3 == 0 {
                Color::Green
            } else {
                Color::Blue
            };
            log_line(n, color, end - (count - n) as i64 * 250)
        })
        .collect()
}

fn feed(state: &mut State, polled: Polled, at: UnixMillis) {
    let _ = handle_event(state, Event::Polled(polled, at));
}

fn w(blue: u8, green: u8) -> Weights {
    Weights::percent(blue, green).expect("fixture weights sum to 100")
}

/// Blue live with 100%, green idle with v2 deployed and healthy; everything loaded.
pub fn healthy_blue_live() -> State {
    let mut s = State::new(info(), Access::default(), 10_000, NOW);
    let snap = snapshot(
        w(100, 0),
        Color::Blue,
        color_state(Color::Blue, 2, 2, "v1", 1),
        color_state(Color::Green, 2, 2, "v2", 2),
    );
    feed(&mut s, Polled::Services(Ok(Box::new(snap))), NOW - 1_000);
    feed(
        &mut s,
        Polled::Builds(Ok(vec![build(12, None), build(11, None)])),
        NOW - 2_000,
    );
    feed(&mut s, Polled::Images(Ok(images())), NOW - 5_000);
    feed(&mut s, Polled::Metrics(Ok(Some(metrics()))), NOW - 4_000);
    feed(
        &mut s,
        Polled::Logs(Ok(log_lines(60, NOW - 1_000))),
        NOW - 1_000,
    );
    s
}

/// A shift to 60/40 was applied, the listener still shows 90/10.
pub fn shift_not_converged() -> State {
    let mut s = healthy_blue_live();
    let snap = snapshot(
        w(90, 10),
        Color::Blue,
        color_state(Color::Blue, 2, 2, "v1", 1),
        color_state(Color::Green, 2, 2, "v2", 2),
    );
    feed(&mut s, Polled::Services(Ok(Box::new(snap))), NOW - 1_000);
    s.traffic.desired = Some(w(60, 40));
    s.guide = crate::tui::update::guide::next_step(&s);
    s
}

/// Green (idle, v2) has one of two tasks failing its health check.
pub fn green_unhealthy() -> State {
    let mut s = healthy_blue_live();
    let snap = snapshot(
        w(100, 0),
        Color::Blue,
        color_state(Color::Blue, 2, 2, "v1", 1),
        color_state(Color::Green, 2, 1, "v2", 2),
    );
    feed(&mut s, Polled::Services(Ok(Box::new(snap))), NOW - 1_000);
    s
}

/// The latest build failed in BUILD.
pub fn failed_build() -> State {
    let mut s = healthy_blue_live();
    feed(
        &mut s,
        Polled::Builds(Ok(vec![build(13, Some("BUILD")), build(12, None)])),
        NOW - 2_000,
    );
    s
}

/// Every poller failed after one good load a minute ago.
pub fn every_panel_in_error() -> State {
    let mut s = healthy_blue_live();
    let at = NOW - 60_000;
    s.services.data_at = Some(at);
    s.builds.data_at = Some(at);
    s.images.data_at = Some(at);
    s.metrics.data_at = Some(at);
    s.logs.data_at = Some(at);
    let down = || {
        PlatformError::call(
            "local:snapshot",
            "/tmp/bg/control.sock",
            FaultKind::Unavailable,
            "connection refused: is `bluegreen local up` running?",
        )
    };
    feed(&mut s, Polled::Services(Err(down())), NOW - 2_000);
    feed(&mut s, Polled::Builds(Err(down())), NOW - 2_000);
    feed(&mut s, Polled::Images(Err(down())), NOW - 2_000);
    feed(&mut s, Polled::Metrics(Err(down())), NOW - 2_000);
    feed(&mut s, Polled::Logs(Err(down())), NOW - 2_000);
    s
}

/// Nothing loaded: the console just started and no poller answered.
pub fn nothing_loaded() -> State {
    State::new(info(), Access::default(), 10_000, NOW)
}

/// A release of v2 to green: step 2 of 3 (10%) holding with 1m20s left, its gates passing.
pub fn release_holding() -> State {
    let mut s = healthy_blue_live();
    let snap = snapshot(
        w(90, 10),
        Color::Blue,
        color_state(Color::Blue, 2, 2, "v1", 1),
        color_state(Color::Green, 2, 2, "v2", 2),
    );
    feed(&mut s, Polled::Services(Ok(Box::new(snap))), NOW - 1_000);
    let r = release(
        Stage::Step {
            index: 1,
            since: NOW - 40_000,
        },
        None,
        vec![
            gate_result(Gate::Health, Verdict::Pass, "2/2 healthy", "≥ 2", None),
            gate_result(
                Gate::Errors,
                Verdict::Pass,
                "0.2% (1/480)",
                "≤ 1% and ≤ blue 0.1% + 0.5",
                None,
            ),
            gate_result(
                Gate::Latency,
                Verdict::Pass,
                "p99 20 ms",
                "≤ blue 15 ms × 2 + 50 ms",
                None,
            ),
        ],
    );
    feed(&mut s, Polled::Release(Ok(Box::new(Some(r)))), NOW - 500);
    s
}

/// The same release rolled back by its errors gate at step 2.
pub fn release_rolled_back() -> State {
    let mut s = healthy_blue_live();
    let failed = gate_result(
        Gate::Errors,
        Verdict::Fail,
        "20% (96/480)",
        "≤ 1% and ≤ blue 0.1% + 0.5",
        Some("over the bound of 1%"),
    );
    let r = release(
        Stage::Done,
        Some(Outcome::RolledBack {
            reason: failed.to_string(),
            failed: vec![failed.clone()],
        }),
        vec![
            gate_result(Gate::Health, Verdict::Pass, "2/2 healthy", "≥ 2", None),
            failed,
        ],
    );
    feed(&mut s, Polled::Release(Ok(Box::new(Some(r)))), NOW - 500);
    s
}

fn gate_result(
    gate: Gate,
    verdict: Verdict,
    measured: &str,
    threshold: &str,
    reason: Option<&str>,
) -> GateResult {
    GateResult {
        gate,
        verdict,
        measured: measured.into(),
        threshold: threshold.into(),
        reason: reason.map(str::to_string),
    }
}

fn release(stage: Stage, outcome: Option<Outcome>, gates: Vec<GateResult>) -> Release {
    let step = |p: u8| plan::Step {
        weight: Share::percent(p).unwrap_or(Share::ZERO),
        hold_secs: 120,
    };
    Release {
        id: "r1795845500000".into(),
        tag: "v2".into(),
        canary: Color::Green,
        desired: 2,
        plan: Plan::stepped(
            "careful",
            plan::PlanKind::Canary,
            vec![step(1), step(10), step(50)],
            10,
        )
        .unwrap_or_else(|_| Plan::default_canary()),
        options: release::ReleaseOptions {
            bake_secs: 300,
            keep_old: false,
            scale_in_on_rollback: false,
            smoke: SmokeCheck::defaults(),
            accept_unmeasured: false,
        },
        started_at: NOW - 300_000,
        stage,
        driver: "daemon".into(),
        driven_at: NOW - 1_000,
        by: None,
        reason: None,
        gates,
        split: None,
        request: None,
        ended_at: outcome.as_ref().map(|_| NOW - 2_000),
        outcome,
    }
}
