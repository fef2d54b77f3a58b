//! An in-memory [`Platform`] with scripted faults, for the command layer's tests: every verb
//! and guard in [`crate::ops`] runs against it in microseconds, and a test can make the
//! platform misbehave the way AWS and the daemon do (a weight write that is not applied, a
//! read-back that fails, a listener that moves under the console, target health that errors).
//!
//! Built only for tests and with the `fake` feature, never into the release binary. It keeps
//! the same contract as the real adapters: one write call per `set_weights`, always read back.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::{
    DeployReceipt, FaultKind, JournalPage, LockSwap, LogBatch, LogCursor, Platform, PlatformError,
    PlatformInfo, PlatformKind, PlatformResult, SmokeAnswer, WeightChange,
};
use crate::rollout::gate::AlarmState;
use crate::rollout::journal::{self, Entry, Query};
use crate::rollout::lock::{self, LockRecord};
use crate::rollout::{
    Bake, Build, BuildStatus, Color, ColorMetrics, ColorState, Image, ImageRef, Listener, LogLine,
    MetricPoint, PerColor, Release, ServiceState, Snapshot, TargetHealth, TargetState, TaskHealth,
    TaskState, UnixMillis, Weights,
};

/// The most log lines one read returns.
pub const FAKE_LOG_BATCH: usize = 300;

/// A misbehaviour to script. Each one happens once, at the first call it applies to, unless
/// it is injected with [`FakePlatform::always`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The next weight write is accepted but not applied: the read-back shows the old weights.
    WeightNotApplied,
    /// The next weight write fails with an error and changes nothing.
    WeightWriteFails,
    /// The next weight write applies, but its read-back fails: the outcome is unknown.
    ReadBackFails,
    /// Right after the next read of the listener, it moves to these weights (another console,
    /// or a person in the AWS console).
    ListenerMoves(Weights),
    /// Reading the target health of this color fails.
    TargetHealthFails(Color),
    /// The next call named `call` (see [`Call::name`]) fails with a platform error.
    CallFails(&'static str),
}

/// One call the platform received, in order, for assertions such as "exactly one weight
/// write".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Snapshot,
    Listener,
    TargetHealth(Color),
    Builds,
    StartBuild,
    Images,
    Deploy {
        color: Color,
        tag: String,
        desired: u32,
    },
    Scale {
        color: Color,
        desired: u32,
    },
    SetWeights(Weights),
    RecordStable {
        stable: Color,
        bake: Option<Bake>,
    },
    PointTestListener(Color),
    ReadLogs,
    Metrics,
    Release,
    RecordRelease,
    SmokeGet(String),
    Alarms,
    LockRead,
    LockSwap,
}

impl Call {
    /// The name [`Fault::CallFails`] matches: `snapshot`, `listener`, `target-health`,
    /// `builds`, `start-build`, `images`, `deploy`, `scale`, `set-weights`, `record-stable`,
    /// `point-test-listener`, `read-logs`, `metrics`, `release`, `record-release`,
    /// `smoke-get`, `alarms`.
    pub fn name(&self) -> &'static str {
        match self {
            Call::Snapshot => "snapshot",
            Call::Listener => "listener",
            Call::TargetHealth(_) => "target-health",
            Call::Builds => "builds",
            Call::StartBuild => "start-build",
            Call::Images => "images",
            Call::Deploy { .. } => "deploy",
            Call::Scale { .. } => "scale",
            Call::SetWeights(_) => "set-weights",
            Call::RecordStable { .. } => "record-stable",
            Call::PointTestListener(_) => "point-test-listener",
            Call::ReadLogs => "read-logs",
            Call::Metrics => "metrics",
            Call::Release => "release",
            Call::RecordRelease => "record-release",
            Call::SmokeGet(_) => "smoke-get",
            Call::Alarms => "alarms",
            Call::LockRead => "lock-read",
            Call::LockSwap => "lock-swap",
        }
    }
}

/// One color's service as the fake keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeService {
    pub desired: u32,
    /// Healthy targets now. A deploy or a scale sets it to the desired count when
    /// [`FakeState::auto_healthy`] is on, else to 0 (tasks still starting).
    pub healthy: u32,
    pub tag: Option<String>,
    pub revision: u32,
}

/// Everything the fake platform holds; tests read and change it through
/// [`FakePlatform::state`].
#[derive(Debug, Clone)]
pub struct FakeState {
    pub listener: Listener,
    pub services: PerColor<FakeService>,
    pub images: Vec<Image>,
    pub builds: Vec<Build>,
    /// The metrics a read returns, as a template: the requests of both colors together are
    /// split by the listener's weights (blue gets its share rounded down, green the rest), and
    /// each color's 5xx scale with its requests (the template's rate); p99 as given. So the
    /// requests follow the weights, as a load balancer's do, deterministically.
    pub metrics: Option<PerColor<ColorMetrics>>,
    /// The requests are split by these weights instead of the listener's: a route the
    /// console does not know about (another listener rule, a proxy changed behind its back).
    pub routed: Option<Weights>,
    /// Log lines of both colors, oldest first. Reads return at most [`FAKE_LOG_BATCH`] at a
    /// time, short of the caller's limit, as the daemon does.
    pub logs: Vec<LogLine>,
    /// The platform ends bakes by itself (the local daemon does; AWS does not).
    pub finishes_bake: bool,
    /// New tasks become healthy at once.
    pub auto_healthy: bool,
    /// The recorded release, and every version of it recorded, in order.
    pub release: Option<Release>,
    pub release_history: Vec<Release>,
    /// The test listener's answer per path; a path not listed answers 200 `ok`.
    pub smoke: Vec<(String, SmokeAnswer)>,
    /// CloudWatch alarms by name; a name not listed is missing.
    pub alarms: Vec<(String, AlarmState)>,
    pub calls: Vec<Call>,
    once: VecDeque<Fault>,
    always: Vec<Fault>,
    /// The journal's entries, in the order appended.
    pub journal: Vec<Entry>,
    /// Every journal append fails (the write it records must still stand).
    pub journal_fails: bool,
    /// The deploy lock's record.
    pub lock: Option<LockRecord>,
}

/// The in-memory platform.
#[derive(Debug)]
pub struct FakePlatform {
    state: Mutex<FakeState>,
    api_calls: AtomicU64,
}

impl FakePlatform {
    /// Blue live and stable with `blue_tasks` healthy tasks of `v1`, green empty; images `v1`
    /// and `v2` in the registry; new tasks healthy at once; bakes ended by the caller.
    pub fn blue_live(blue_tasks: u32) -> Self {
        let service = |desired: u32, tag: Option<&str>| FakeService {
            desired,
            healthy: desired,
            tag: tag.map(str::to_string),
            revision: u32::from(tag.is_some()),
        };
        let image = |n: u8, tag: &str| Image {
            digest: format!("sha256:{}", format!("{n:x}").repeat(64)),
            tags: vec![tag.to_string()],
            size_bytes: Some(17_000_000),
            pushed_at: Some(1_000 * i64::from(n)),
        };
        FakePlatform::new(FakeState {
            listener: Listener {
                id: "fake-listener".into(),
                weights: Weights::all(Color::Blue),
                stable: Some(Color::Blue),
                bake: None,
                test_color: Some(Color::Green),
                test_id: Some("fake-test-listener".into()),
                faults: Vec::new(),
                written: None,
                written_services: Vec::new(),
                guard: None,
            },
            services: PerColor::new(service(blue_tasks, Some("v1")), service(0, None)),
            images: vec![image(2, "v2"), image(1, "v1")],
            builds: Vec::new(),
            metrics: None,
            routed: None,
            logs: Vec::new(),
            finishes_bake: false,
            auto_healthy: true,
            release: None,
            release_history: Vec::new(),
            smoke: Vec::new(),
            alarms: Vec::new(),
            calls: Vec::new(),
            once: VecDeque::new(),
            always: Vec::new(),
            journal: Vec::new(),
            journal_fails: false,
            lock: None,
        })
    }

    pub fn new(state: FakeState) -> Self {
        FakePlatform {
            state: Mutex::new(state),
            api_calls: AtomicU64::new(0),
        }
    }

    /// The state, to read or change between verbs.
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        // A test that panicked while holding the lock already failed; keep its state readable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Scripts `fault` to happen once.
    pub fn inject(&self, fault: Fault) {
        self.state().once.push_back(fault);
    }

    /// Scripts `fault` to happen at every call it applies to, until [`FakePlatform::heal`].
    pub fn always(&self, fault: Fault) {
        self.state().always.push(fault);
    }

    /// Removes every scripted fault.
    pub fn heal(&self) {
        let mut s = self.state();
        s.once.clear();
        s.always.clear();
    }

    /// The calls received so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The calls received so far, but the deploy lock's.
    pub fn calls_but_lock(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| !matches!(c, Call::LockRead | Call::LockSwap))
            .collect()
    }

    /// How many weight writes were made.
    pub fn weight_writes(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| matches!(c, Call::SetWeights(_)))
            .count()
    }

    /// Records `call` and answers whether a scripted fault makes it fail.
    fn enter(&self, s: &mut FakeState, call: Call) -> PlatformResult<()> {
        self.api_calls.fetch_add(1, Ordering::Relaxed);
        let name = call.name();
        let failing = |f: &Fault| match (f, &call) {
            (Fault::CallFails(n), _) => *n == name,
            (Fault::TargetHealthFails(c), Call::TargetHealth(asked)) => c == asked,
            _ => false,
        };
        s.calls.push(call.clone());
        let fails = s.always.iter().any(failing) || take(&mut s.once, failing);
        if fails {
            return Err(PlatformError::call(
                format!("fake:{name}"),
                "fake-platform",
                FaultKind::ServerError,
                "scripted fault",
            ));
        }
        Ok(())
    }

    fn scripted(&self, s: &mut FakeState, fault: &Fault) -> bool {
        s.always.contains(fault) || take(&mut s.once, |f| f == fault)
    }

    fn read_listener(&self, s: &mut FakeState) -> Listener {
        let read = s.listener.clone();
        let moves = s.always.iter().chain(s.once.iter()).find_map(|f| match f {
            Fault::ListenerMoves(w) => Some(*w),
            _ => None,
        });
        if let Some(w) = moves {
            take(&mut s.once, |f| *f == Fault::ListenerMoves(w));
            s.listener.weights = w;
        }
        read
    }

    fn color_state(s: &FakeState, color: Color) -> ColorState {
        let svc = s.services.get(color);
        let image = svc.tag.as_ref().map(|tag| ImageRef {
            reference: format!("blog:{tag}"),
            tag: Some(tag.clone()),
            digest: s
                .images
                .iter()
                .find(|i| i.tags.contains(tag))
                .map(|i| i.digest.clone()),
        });
        let tasks = (0..svc.desired)
            .map(|i| TaskState {
                id: format!("{color}-{}-{i}", svc.revision),
                last_status: "RUNNING".into(),
                health: if i < svc.healthy {
                    TaskHealth::Healthy
                } else {
                    TaskHealth::Unknown
                },
                started_at: Some(0),
                revision: svc.revision,
                image: image.clone(),
                stopped_reason: None,
            })
            .collect();
        ColorState {
            color,
            service: ServiceState {
                name: format!("blog-{color}"),
                desired: svc.desired,
                running: svc.desired,
                pending: 0,
                status: "ACTIVE".into(),
                task_definition: format!("blog-{color}:{}", svc.revision),
                revision: svc.revision,
                image,
                deployments: Vec::new(),
                events: Vec::new(),
            },
            tasks,
            targets: targets(color, svc),
        }
    }
}

fn targets(color: Color, svc: &FakeService) -> Vec<TargetState> {
    (0..svc.desired.max(svc.healthy))
        .map(|i| TargetState {
            id: format!("10.0.{}.{i}:5000", color as u8),
            task_id: Some(format!("{color}-{}-{i}", svc.revision)),
            health: if i < svc.healthy {
                TargetHealth::Healthy
            } else {
                TargetHealth::Initial
            },
            reason: None,
        })
        .collect()
}

/// `template`'s requests split by `weights` (see [`FakeState::metrics`]): the window and
/// each pair of points alike.
fn split_by(template: &PerColor<ColorMetrics>, weights: Weights) -> PerColor<ColorMetrics> {
    let pair = |b: &MetricPoint, g: &MetricPoint| -> PerColor<MetricPoint> {
        let total = u128::from(b.requests) + u128::from(g.requests);
        let blue = total * u128::from(weights.get(Color::Blue)) / u128::from(Weights::TOTAL);
        let requests = PerColor::new(blue, total - blue);
        PerColor::from_fn(|c| {
            let was = if c == Color::Blue { b } else { g };
            let now = *requests.get(c);
            let errors = match u128::from(was.requests) {
                0 => 0,
                old => u128::from(was.errors_5xx) * now / old,
            };
            MetricPoint {
                requests: u64::try_from(now).unwrap_or(u64::MAX),
                errors_5xx: u64::try_from(errors).unwrap_or(u64::MAX),
                ..*was
            }
        })
    };
    let mut out = template.clone();
    if let (Some(b), Some(g)) = (template.blue.window, template.green.window) {
        let p = pair(&b, &g);
        out.blue.window = Some(p.blue);
        out.green.window = Some(p.green);
    }
    for (i, (b, g)) in template
        .blue
        .points
        .iter()
        .zip(&template.green.points)
        .enumerate()
    {
        let p = pair(b, g);
        out.blue.points[i] = p.blue;
        out.green.points[i] = p.green;
    }
    out
}

/// Removes the first item matching `pred`; whether there was one.
fn take(queue: &mut VecDeque<Fault>, pred: impl Fn(&Fault) -> bool) -> bool {
    match queue.iter().position(pred) {
        Some(i) => {
            queue.remove(i);
            true
        }
        None => false,
    }
}

mod adapter;
