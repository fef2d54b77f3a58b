//! The daemon's side of the platform trait: every operation acts on the supervisor, the
//! proxy's routing table, the registry and the build runner in this process. The control
//! server maps requests onto it; the client in other processes maps the trait onto requests.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use super::state::{self, DaemonConfig, Persisted, STATE_VERSION};
use crate::clock::now_millis;
use crate::format::short_digest;
use crate::platform::http::{SmokeFailure, smoke_get};
use crate::platform::local::build::{self, BuildRequest, BuildStore, DEFAULT_BUILDSPEC};
use crate::platform::local::journal::JournalFile;
use crate::platform::local::paths::Paths;
use crate::platform::local::proxy::fault::FaultSpec;
use crate::platform::local::proxy::metrics::Metrics;
use crate::platform::local::proxy::route::Routes;
use crate::platform::local::registry::Registry;
use crate::platform::local::supervisor::Supervisor;
use crate::platform::local::wire::{Crashed, FaultReport, KilledTask};
use crate::platform::{
    DeployReceipt, FaultKind, JournalPage, LockSwap, LogBatch, LogCursor, Platform, PlatformError,
    PlatformInfo, PlatformKind, PlatformResult, SmokeAnswer, WeightChange,
};
use crate::rollout::gate::AlarmState;
use crate::rollout::journal::{Entry, Outcome, Query};
use crate::rollout::lock::{self, LockRecord};
use crate::rollout::watch::{PROBE_LOOKBACK_SECS, Unguarded, WatchRecord, WatchSettings};
use crate::rollout::{
    Bake, BakeStep, Build, Color, ColorMetrics, Image, InjectedFault, Listener, PerColor, Release,
    Snapshot, TargetState, UnixMillis, Weights, Written, WrittenService, bake, split,
};

/// The rollout facts that are not in the routing table.
#[derive(Debug, Clone, Default)]
struct Rollout {
    stable: Option<Color>,
    bake: Option<Bake>,
    release: Option<Release>,
    /// The weights a console last wrote (drift is any other weights in force).
    written: Option<Written>,
    /// What a console (or this daemon's own bake finish) last set on each color's service:
    /// a control client that deploys or scales without recording it is drift.
    written_services: Vec<WrittenService>,
    /// Why the due bake is held (not persisted): logged once per reason.
    held: Option<String>,
    lock: Option<LockRecord>,
    /// The guard's settings, its watcher's last record, and a shift made unguarded
    /// ([`crate::rollout::watch`]).
    watch_settings: WatchSettings,
    watch: Option<WatchRecord>,
    unguarded: Option<Unguarded>,
}

pub struct Engine {
    paths: Paths,
    config: DaemonConfig,
    registry: Registry,
    builds: BuildStore,
    build_queue: Arc<tokio::sync::Mutex<()>>,
    pub supervisor: Arc<Supervisor>,
    pub routes: Arc<Routes>,
    pub metrics: Arc<Metrics>,
    rollout: Mutex<Rollout>,
    production: String,
    test: String,
    calls: AtomicU64,
    /// `<state_dir>/journal.jsonl`: every client's entries and the daemon's own.
    journal: Arc<JournalFile>,
    /// What `state.json` holds, and whether the state in force is saved.
    durable: Mutex<Durable>,
}

/// Whether the state in force is on disk: a change applied in memory whose save failed (a
/// full disk) is reported as applied but not saved, and the save is retried every tick.
#[derive(Debug, Default)]
struct Durable {
    /// The weights `state.json` holds (what a restart would bring back).
    saved_weights: Option<Weights>,
    /// Since when the state in force is not saved, and why.
    unsaved: Option<(UnixMillis, String)>,
}

impl Durable {
    /// What a restart would do, in words.
    fn on_restart(&self) -> String {
        match self.saved_weights {
            Some(w) => format!("on restart the weights would be {w}"),
            None => "on restart the state saved last would come back".into(),
        }
    }
}

fn err(
    call: &str,
    resource: impl Into<String>,
    fault: FaultKind,
    msg: impl ToString,
) -> PlatformError {
    PlatformError::call(format!("local:{call}"), resource, fault, msg.to_string())
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        paths: Paths,
        config: DaemonConfig,
        persisted: &Persisted,
        supervisor: Arc<Supervisor>,
        routes: Arc<Routes>,
        metrics: Arc<Metrics>,
        production: String,
        test: String,
    ) -> Self {
        let paths_journal = paths.journal_file();
        Engine {
            registry: Registry::new(paths.registry_dir()),
            builds: BuildStore::new(paths.builds_dir()),
            build_queue: Arc::new(tokio::sync::Mutex::new(())),
            paths,
            config,
            supervisor,
            routes,
            metrics,
            rollout: Mutex::new(Rollout {
                stable: persisted.stable,
                bake: persisted.bake.clone(),
                release: persisted.release.clone(),
                written: persisted.written,
                written_services: persisted.written_services.clone(),
                held: None,
                lock: persisted.lock.clone(),
                watch_settings: persisted.watch.clone().unwrap_or_default(),
                watch: persisted.guard_action.clone().map(|a| WatchRecord {
                    last_action: Some(a),
                    ..WatchRecord::starting(
                        "daemon",
                        &persisted.watch.clone().unwrap_or_default(),
                        0,
                    )
                }),
                unguarded: persisted.unguarded.clone(),
            }),
            production,
            test,
            calls: AtomicU64::new(0),
            journal: Arc::new(JournalFile::new(paths_journal)),
            durable: Mutex::new(Durable {
                saved_weights: Some(persisted.weights),
                unsaved: None,
            }),
        }
    }

    fn durable(&self) -> MutexGuard<'_, Durable> {
        self.durable.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why the state in force is not saved, what a restart would do, and since when; `None`
    /// when it is saved.
    pub fn unsaved(&self) -> Option<String> {
        let d = self.durable();
        d.unsaved.as_ref().map(|(since, why)| {
            format!(
                "NOT SAVED since {} ({why}): {}; the daemon retries the save every second",
                crate::format::clock(*since),
                d.on_restart()
            )
        })
    }

    /// Whether a build is running (or queued).
    pub fn building(&self) -> bool {
        self.build_queue.try_lock().is_err()
    }

    pub fn count_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// The rollout lock. Every change to the weights, the stable color or the bake holds it,
    /// and so does the bake finisher, so a rollback and a scale-in never interleave. Lock
    /// order: this lock, then the supervisor's.
    fn lock_rollout(&self) -> MutexGuard<'_, Rollout> {
        self.rollout.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn persisted_with(&self, r: &Rollout) -> Persisted {
        Persisted {
            v: STATE_VERSION,
            weights: self.routes.weights(),
            stable: r.stable,
            bake: r.bake.clone(),
            test_color: self.routes.test_color(),
            services: self.supervisor.specs(),
            config: self.config.clone(),
            release: r.release.clone(),
            faults: self.routes.faults.active(now_millis()),
            written: r.written,
            written_services: r.written_services.clone(),
            lock: r.lock.clone(),
            watch: Some(r.watch_settings.clone()),
            unguarded: r.unguarded.clone(),
            guard_action: r.watch.as_ref().and_then(|w| w.last_action.clone()),
        }
    }

    /// Everything worth keeping, as of now.
    pub fn persisted(&self) -> Persisted {
        self.persisted_with(&self.lock_rollout())
    }

    /// Saves under the rollout lock, so saves land in the order their changes were made.
    pub fn save(&self, call: &str) -> PlatformResult<()> {
        self.save_locked(&self.lock_rollout(), call)
    }

    fn save_locked(&self, r: &Rollout, call: &str) -> PlatformResult<()> {
        let path = self.paths.state_file();
        let persisted = self.persisted_with(r);
        let saved = state::save(&path, &persisted);
        let mut d = self.durable();
        match saved {
            Ok(()) => {
                if d.unsaved.take().is_some() {
                    tracing::info!("the state is saved again ({})", path.display());
                }
                d.saved_weights = Some(persisted.weights);
                Ok(())
            }
            Err(e) => {
                let why = format!("{} cannot be written: {e}", path.display());
                if d.unsaved.is_none() {
                    tracing::error!("{why}; {}; retrying every second", d.on_restart());
                    d.unsaved = Some((now_millis(), why.clone()));
                }
                Err(err(
                    call,
                    path.display().to_string(),
                    FaultKind::Other,
                    format!(
                        "applied now, not saved ({why}): {}; the daemon retries the save every second (`bluegreen local status` shows it)",
                        d.on_restart()
                    ),
                ))
            }
        }
    }

    /// Saves again if the last save failed.
    fn retry_save(&self) {
        if self.durable().unsaved.is_some() {
            let _ = self.save("retry-save");
        }
    }

    fn listener_state(&self) -> Listener {
        self.listener_locked(&self.lock_rollout())
    }

    /// The listener as of `r`, the rollout state held: weights, bake and the drift record from
    /// one moment, under the lock that changes them.
    fn listener_locked(&self, r: &Rollout) -> Listener {
        Listener {
            id: self.production.clone(),
            weights: self.routes.weights(),
            stable: r.stable,
            bake: r.bake.clone(),
            test_color: self.routes.test_color(),
            test_id: Some(self.test.clone()),
            faults: self.routes.faults.active(now_millis()),
            written: r.written,
            written_services: r.written_services.clone(),
            guard: self.guard_locked(r),
        }
    }

    /// The guard's record as the listener shows it: the watcher's last, with the unguarded
    /// shift while its weights are in force.
    fn guard_locked(&self, r: &Rollout) -> Option<Box<WatchRecord>> {
        let weights = self.routes.weights();
        let unguarded = r.unguarded.clone().filter(|u| u.weights == weights);
        let mut rec = r.watch.clone()?;
        rec.unguarded = unguarded;
        Some(Box::new(rec))
    }

    /// The guard's settings in force.
    pub fn watch_settings(&self) -> WatchSettings {
        self.lock_rollout().watch_settings.clone()
    }

    /// Keeps the profile's guard settings a console hands over, bounded as the
    /// configuration file is (a client is not trusted to have checked them).
    pub fn configure_watch_settings(&self, settings: WatchSettings) -> PlatformResult<()> {
        settings
            .guard
            .validate()
            .and_then(|()| settings.gates.validate())
            .and_then(|()| settings.probe.validate())
            .map_err(|e| err("configure-watch", "guard", FaultKind::Invalid, e))?;
        let mut r = self.lock_rollout();
        if r.watch_settings == settings {
            return Ok(());
        }
        tracing::info!(
            "guard settings: mode {}, every {} s; probe {} req/s",
            settings.guard.mode,
            settings.guard.interval_secs,
            settings.probe.rate
        );
        r.watch_settings = settings;
        self.save_locked(&r, "configure-watch")
    }

    /// The watcher's latest record; saved when what the guard did last changed.
    pub fn set_watch_record(&self, rec: WatchRecord) {
        let mut r = self.lock_rollout();
        let acted =
            r.watch.as_ref().and_then(|w| w.last_action.as_ref()) != rec.last_action.as_ref();
        r.watch = Some(rec);
        if acted {
            let _ = self.save_locked(&r, "guard");
        }
    }

    /// The guard's record as the watcher left it last (its memory between intervals).
    pub fn watch_record(&self) -> Option<WatchRecord> {
        self.lock_rollout().watch.clone()
    }

    /// Whether the probe should send now ([`crate::rollout::watch::probe_wanted`]), given
    /// how many requests it sent itself over the lookback.
    pub fn probe_wanted(&self, probe_recent: u64) -> bool {
        let now = now_millis();
        let m = self.metrics.points(PROBE_LOOKBACK_SECS, now);
        let counts = split::counts(&m);
        let organic = (counts.blue + counts.green).saturating_sub(probe_recent);
        let r = self.lock_rollout();
        let listener = self.listener_locked(&r);
        crate::rollout::watch::probe_wanted(
            &listener,
            r.release.as_ref(),
            organic,
            &r.watch_settings.probe,
        )
    }

    /// The production listener's address (the probe's default).
    pub fn production_addr(&self) -> Option<std::net::SocketAddr> {
        self.production.parse().ok()
    }

    /// Records a shift made unguarded: the guard leaves its weights alone while they hold.
    pub fn record_unguarded_shift(&self, u: Unguarded) -> PlatformResult<()> {
        let mut r = self.lock_rollout();
        r.unguarded = Some(u);
        self.save_locked(&r, "record-unguarded")
    }

    /// Puts a fault in force on one color (replacing that color's); answers every fault in force.
    pub fn set_fault(&self, spec: FaultSpec) -> PlatformResult<FaultReport> {
        let fault = spec.start(now_millis()).map_err(|e| {
            err(
                "set-fault",
                format!("blog-{}", spec.color),
                FaultKind::Invalid,
                e,
            )
        })?;
        self.routes.faults.set(fault);
        tracing::warn!(
            "injecting a fault into {}'s answers: {}",
            fault.color,
            fault.describe(now_millis())
        );
        self.save("set-fault")?;
        Ok(self.fault_report(Vec::new()))
    }

    /// Clears `color`'s fault, or every one; answers what was cleared and what is left.
    pub fn clear_faults(&self, color: Option<Color>) -> PlatformResult<FaultReport> {
        let cleared = self.routes.faults.clear(color);
        for f in &cleared {
            tracing::info!("fault on {} cleared", f.color);
        }
        if !cleared.is_empty() {
            self.save("clear-faults")?;
        }
        Ok(self.fault_report(cleared))
    }

    pub fn fault_report(&self, cleared: Vec<InjectedFault>) -> FaultReport {
        FaultReport {
            active: self.routes.faults.active(now_millis()),
            cleared,
        }
    }

    /// Kills every task of `color` once (`local fault --crash`).
    pub fn crash(&self, color: Color) -> Crashed {
        let killed = self
            .supervisor
            .crash(color)
            .into_iter()
            .map(|(task_id, pid)| KilledTask { task_id, pid })
            .collect();
        Crashed { color, killed }
    }

    /// Starts a build; `release_tag` becomes the build's `RELEASE_TAG`.
    pub fn start_build_tagged(
        &self,
        source_version: Option<String>,
        release_tag: Option<String>,
    ) -> PlatformResult<Build> {
        let source_dir = self.config.source_dir.clone().ok_or_else(|| {
            err(
                "start-build",
                self.paths.root().display().to_string(),
                FaultKind::Invalid,
                "the daemon has no source directory: restart it from the repository (`bluegreen local down && bluegreen local up --source-dir PATH`)",
            )
        })?;
        if let Some(tag) = &release_tag {
            crate::platform::local::registry::validate_tag(tag)
                .map_err(|e| err("start-build", tag.clone(), FaultKind::Invalid, e))?;
        }
        let req = build_request(&self.paths, source_dir, source_version, release_tag);
        let store = self.builds.clone();
        let submitted = build::submit(&store, &req).map_err(|e| {
            err(
                "start-build",
                store.dir().display().to_string(),
                FaultKind::Other,
                e,
            )
        })?;
        let queue = self.build_queue.clone();
        let first = submitted.clone();
        tokio::spawn(async move {
            // One build at a time, as a project with concurrency 1 runs them.
            let _turn = queue.lock().await;
            let done = build::execute(&store, &req, first, &mut |_| {}).await;
            tracing::info!("build {} finished: {:?}", done.id, done.status);
        });
        Ok(submitted)
    }

    /// The daemon's periodic duties: finish a due bake, and make the first release stable.
    pub fn tick(&self) {
        self.retry_save();
        self.finish_due_bake(now_millis());
        let ended = self.routes.faults.expire(now_millis());
        for f in &ended {
            tracing::info!("fault on {} ended (its --for ran out)", f.color);
        }
        if !ended.is_empty() {
            let _ = self.save("fault-ended");
        }
        let mut r = self.lock_rollout();
        // The first deploy's color becomes stable with all traffic once healthy.
        if r.stable.is_none()
            && let Some(color) = Color::ALL.into_iter().find(|c| self.supervisor.settled(*c))
        {
            self.routes.set_weights(Weights::all(color));
            self.routes.set_test_color(Some(color.other()));
            r.stable = Some(color);
            r.written = Some(Written {
                weights: Weights::all(color),
                at: now_millis(),
            });
            tracing::info!("first release is healthy on {color}: stable with 100% of traffic");
            let _ = self.save_locked(&r, "first-release");
        }
    }

    /// The proxy's requests since the promote's write, judged against all on `stable`.
    fn promote_split(
        &self,
        written: Option<Written>,
        stable: Color,
        now: UnixMillis,
    ) -> split::SplitVerdict {
        let all = Weights::all(stable);
        let window = written
            .filter(|w| w.weights == all)
            .and_then(|w| split::window_after(w.at, now, 1000, split::MAX_WINDOW_SECS));
        let counts = match window {
            Some(secs) => split::counts(&self.metrics.points(secs, now)),
            None => PerColor::new(0, 0),
        };
        split::judge(all, counts)
    }

    /// Sets the proxy's weights (one atomic store: the next request routes by them), and
    /// with `record` keeps them as what a console last wrote. A control client that does not
    /// ask to record (one that is not a console) makes drift.
    pub fn write_weights(&self, desired: Weights, record: bool) -> WeightChange {
        let mut r = self.lock_rollout();
        let previous = self.routes.weights();
        self.routes.set_weights(desired);
        if record {
            r.written = Some(Written {
                weights: desired,
                at: now_millis(),
            });
        }
        let write_error = self.save_locked(&r, "set-weights").err();
        drop(r);
        WeightChange {
            previous: Some(previous),
            desired,
            observed: Some(self.routes.weights()),
            write_error,
            read_error: None,
        }
    }

    /// Deploys `tag` to `color`; with `record`, as a console's write (the drift record).
    pub fn deploy_recorded(
        &self,
        color: Color,
        tag: &str,
        desired: u32,
        record: bool,
    ) -> PlatformResult<DeployReceipt> {
        if desired == 0 {
            return Err(err(
                "deploy",
                format!("blog-{color}"),
                FaultKind::Invalid,
                "a deploy needs at least 1 task",
            ));
        }
        // Under the rollout lock, so the record and the service change together.
        let mut r = self.lock_rollout();
        let release = self.supervisor.deploy(color, tag, desired).map_err(|e| {
            let fault = match e {
                crate::platform::local::supervisor::SupervisorError::Registry(
                    crate::platform::local::registry::RegistryError::UnknownTag { .. },
                ) => FaultKind::NotFound,
                crate::platform::local::supervisor::SupervisorError::TooMany { .. } => {
                    FaultKind::Invalid
                }
                _ => FaultKind::Other,
            };
            err("deploy", format!("blog:{tag}"), fault, e)
        })?;
        let task_definition = format!("blog-{color}:{}", release.revision);
        if record {
            record_service(
                &mut r.written_services,
                color,
                desired,
                Some(task_definition.clone()),
            );
        }
        self.save_locked(&r, "deploy")?;
        Ok(DeployReceipt {
            color,
            tag: tag.to_string(),
            task_definition,
            revision: release.revision,
            image: format!("blog:{tag}@{}", short_digest(&release.digest)),
            desired,
        })
    }

    /// Scales `color` to `desired`; with `record`, as a console's write (the drift record).
    pub fn scale_recorded(&self, color: Color, desired: u32, record: bool) -> PlatformResult<()> {
        let mut r = self.lock_rollout();
        self.supervisor
            .scale(color, desired)
            .map_err(|e| err("scale", format!("blog-{color}"), FaultKind::Invalid, e))?;
        if record {
            record_service(&mut r.written_services, color, desired, None);
        }
        self.save_locked(&r, "scale")
    }

    /// Journals a write the daemon made by itself (ending a bake): by `daemon@HOST`. A failed
    /// append is logged; the write stands.
    fn journal_own(&self, verb: &str, outcome: Outcome, what: String) {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        let Ok(operator) = crate::rollout::Operator::new("daemon", &host) else {
            return;
        };
        let mut e = Entry::new(now_millis(), rand::random::<u64>(), operator, verb);
        e.outcome = outcome;
        e.detail = Some(what);
        if let Err(err) = self.journal.append(&e.bounded()) {
            tracing::warn!("the {verb} went ahead, but its journal entry was not written: {err}");
        }
    }

    /// Ends the bake once it is due, as [`crate::rollout::bake`] decides. All of it happens
    /// under the rollout lock, which `set_weights` and `record_stable` also take: a rollback
    /// either moved traffic before (and the old color keeps running) or finds no bake to undo.
    fn finish_due_bake(&self, now: UnixMillis) {
        let mut r = self.lock_rollout();
        let weights = self.routes.weights();
        match bake::bake_step(weights, r.stable, r.bake.as_ref(), now) {
            BakeStep::Nothing | BakeStep::Baking { .. } | BakeStep::Hold(_) => {}
            BakeStep::ClearStale { stable } => {
                tracing::warn!(
                    "the recorded bake names the stable color {stable} as the old one: cleared it without scaling anything"
                );
                r.bake = None;
                let _ = self.save_locked(&r, "finish-bake");
            }
            BakeStep::Finish { stable, bake } => {
                // The old color goes only once the requests since the promote all reach the
                // stable color (rollout::split); `promote --accept-unmeasured` can finish a
                // bake held for too few requests, and so does a release started with it.
                if !bake.keep_old {
                    let verdict = self.promote_split(r.written, stable, now);
                    let accept = r.release.as_ref().is_some_and(|rel| {
                        rel.accepts_unmeasured_bake(stable, r.written.map(|w| w.at))
                    });
                    if let Err(refusal) = split::check_scale_in(&verdict, bake.old, accept) {
                        let why = refusal.reason;
                        if r.held.as_deref() != Some(why.as_str()) {
                            tracing::warn!("{why}");
                            r.held = Some(why);
                        }
                        return;
                    }
                }
                r.held = None;
                r.bake = None;
                // Under the lock the weights cannot have moved since the step: the re-check is
                // the same read.
                let (outcome, what) = match bake::scale_in(self.routes.weights(), stable, &bake) {
                    Ok(Some(old)) => match self.supervisor.scale(old, 0) {
                        Ok(()) => {
                            record_service(&mut r.written_services, old, 0, None);
                            tracing::info!("bake finished: {stable} stays stable, {old} scaled in");
                            (
                                Outcome::Applied,
                                format!("{stable} stays stable; {old} scaled to 0"),
                            )
                        }
                        Err(e) => {
                            tracing::warn!("bake finished but {old} was not scaled in: {e}");
                            (Outcome::Failed, format!("{old} was not scaled in: {e}"))
                        }
                    },
                    Ok(None) => {
                        tracing::info!(
                            "bake finished: {stable} stays stable; keeping the old color"
                        );
                        (
                            Outcome::Applied,
                            format!("{stable} stays stable; the old color kept"),
                        )
                    }
                    Err(refusal) => {
                        tracing::warn!("{refusal}");
                        (Outcome::Refused, refusal.to_string())
                    }
                };
                let _ = self.save_locked(&r, "finish-bake");
                // The append syncs to disk: not under the rollout lock a rollback waits for.
                drop(r);
                self.journal_own("finish-bake", outcome, what);
            }
        }
    }
}

/// The cargo profile a binary at `exe` was built with, from its directory under `target/`:
/// `debug` is the `dev` profile, `local` and `release` are themselves; anything else (an
/// installed binary) builds with `release`.
pub fn cargo_profile_of(exe: &std::path::Path) -> &'static str {
    match exe
        .parent()
        .and_then(|d| d.file_name())
        .and_then(|n| n.to_str())
    {
        Some("debug") => "dev",
        Some("local") => "local",
        _ => "release",
    }
}

/// A build of `source_dir` that can publish into this state directory.
pub fn build_request(
    paths: &Paths,
    source_dir: PathBuf,
    source_version: Option<String>,
    release_tag: Option<String>,
) -> BuildRequest {
    let mut env = vec![(
        "BLUEGREEN_STATE_DIR".to_string(),
        paths.root().display().to_string(),
    )];
    if let Ok(exe) = crate::platform::local::paths::current_exe() {
        // The blog builds with the cargo profile this binary was built with (its directory
        // under target/), so a demo run from `--profile local` compiles the blog that way too.
        let profile = cargo_profile_of(&exe);
        env.push(("BLUEGREEN_CARGO_PROFILE".into(), profile.into()));
        env.push(("BLUEGREEN".into(), exe.display().to_string()));
    }
    BuildRequest {
        source_dir,
        source_version,
        release_tag,
        buildspec: DEFAULT_BUILDSPEC.into(),
        env,
    }
}

#[async_trait]
impl Platform for Engine {
    fn info(&self) -> PlatformInfo {
        let state_dir = self.paths.root().display().to_string();
        PlatformInfo {
            profile: "local".into(),
            kind: PlatformKind::Local {
                state_dir: state_dir.clone(),
                url: format!("http://{}/", self.production),
            },
            cluster: state_dir,
            finishes_bake: true,
            metrics_resolution_ms: 1000,
            metrics_per_period: false,
        }
    }

    async fn snapshot(&self) -> PlatformResult<Snapshot> {
        // The services read under the rollout lock too (then the supervisor's, the engine's
        // order): a deploy or scale records and changes its service under it, so the record
        // and the services are never from two moments (which would look like drift).
        let r = self.lock_rollout();
        let listener = self.listener_locked(&r);
        let colors = PerColor::from_fn(|c| self.supervisor.color_state(c));
        drop(r);
        Ok(Snapshot {
            taken_at: now_millis(),
            listener,
            colors,
            api_calls: 1,
            stale: Vec::new(),
        })
    }

    async fn listener(&self) -> PlatformResult<Listener> {
        Ok(self.listener_state())
    }

    async fn target_health(&self, color: Color) -> PlatformResult<Vec<TargetState>> {
        Ok(self.supervisor.targets(color))
    }

    async fn builds(&self, limit: usize) -> PlatformResult<Vec<Build>> {
        self.builds.list(limit).map_err(|e| {
            err(
                "builds",
                self.builds.dir().display().to_string(),
                FaultKind::Other,
                e,
            )
        })
    }

    async fn start_build(&self, source_version: Option<String>) -> PlatformResult<Build> {
        self.start_build_tagged(source_version, None)
    }

    async fn images(&self) -> PlatformResult<Vec<Image>> {
        self.registry.images().map_err(|e| {
            err(
                "images",
                self.paths.registry_dir().display().to_string(),
                FaultKind::Other,
                e,
            )
        })
    }

    async fn deploy(&self, color: Color, tag: &str, desired: u32) -> PlatformResult<DeployReceipt> {
        self.deploy_recorded(color, tag, desired, true)
    }

    async fn scale(&self, color: Color, desired: u32) -> PlatformResult<()> {
        self.scale_recorded(color, desired, true)
    }

    async fn set_weights(&self, desired: Weights) -> WeightChange {
        self.write_weights(desired, true)
    }

    async fn record_stable(&self, stable: Color, bake: Option<Bake>) -> PlatformResult<()> {
        let mut r = self.lock_rollout();
        r.stable = Some(stable);
        r.bake = bake;
        self.save_locked(&r, "record-stable")
    }

    async fn point_test_listener(&self, color: Color) -> PlatformResult<()> {
        self.routes.set_test_color(Some(color));
        self.save("point-test-listener")
    }

    async fn read_logs(&self, cursor: &LogCursor, limit: usize) -> PlatformResult<LogBatch> {
        let dir = self.paths.logs_dir();
        let cursor = cursor.clone();
        let resource = dir.display().to_string();
        tokio::task::spawn_blocking(move || {
            crate::platform::local::logs::read(&dir, &cursor, limit)
        })
        .await
        .map_err(|e| err("read-logs", resource.clone(), FaultKind::Other, e))?
        .map_err(|e| err("read-logs", resource, FaultKind::Other, e))
    }

    async fn metrics(&self, window_secs: u64) -> PlatformResult<Option<PerColor<ColorMetrics>>> {
        Ok(Some(self.metrics.points(window_secs, now_millis())))
    }

    async fn release(&self) -> PlatformResult<Option<Release>> {
        Ok(self.lock_rollout().release.clone())
    }

    async fn record_release(&self, release: &Release) -> PlatformResult<()> {
        let mut r = self.lock_rollout();
        // Checked and written under one lock: two CLIs starting releases at once cannot both
        // be accepted, nor a driver undo the end an abort or a rollback recorded.
        crate::rollout::release::check_record(r.release.as_ref(), release).map_err(|refusal| {
            err(
                "record-release",
                self.paths.state_file().display().to_string(),
                FaultKind::Invalid,
                refusal.reason,
            )
        })?;
        r.release = Some(release.clone());
        self.save_locked(&r, "record-release")
    }

    async fn smoke_get(&self, path: &str, timeout: Duration) -> PlatformResult<SmokeAnswer> {
        let addr: std::net::SocketAddr = self
            .test
            .parse()
            .map_err(|e| err("smoke-get", &self.test, FaultKind::Other, e))?;
        smoke_get(async { Ok(addr) }, path, timeout)
            .await
            .map_err(|e| match e {
                SmokeFailure::TimedOut => PlatformError::TimedOut {
                    what: format!("GET {path} on the test listener {}", self.test),
                    after_secs: timeout.as_secs(),
                },
                SmokeFailure::Failed(e) => err("smoke-get", &self.test, FaultKind::Unavailable, e),
            })
    }

    async fn alarms(&self, _names: &[String]) -> PlatformResult<Vec<(String, AlarmState)>> {
        Err(crate::platform::local::no_alarms())
    }

    fn api_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    async fn journal_append(&self, entry: &Entry) -> PlatformResult<()> {
        let journal = self.journal.clone();
        let entry = entry.clone();
        let path = journal.path().display().to_string();
        // The append syncs to disk: off the runtime's threads.
        tokio::task::spawn_blocking(move || journal.append(&entry))
            .await
            .map_err(|e| err("journal-append", path.clone(), FaultKind::Other, e))?
            .map_err(|e| err("journal-append", path, FaultKind::Other, e))
    }

    async fn journal_read(&self, query: &Query) -> PlatformResult<JournalPage> {
        let journal = self.journal.clone();
        let query = query.clone();
        let path = journal.path().display().to_string();
        let (entries, skipped) = tokio::task::spawn_blocking(move || journal.read(&query))
            .await
            .map_err(|e| err("journal-read", path.clone(), FaultKind::Other, e))?
            .map_err(|e| err("journal-read", path, FaultKind::Other, e))?;
        Ok(JournalPage {
            entries,
            skipped,
            note: None,
        })
    }

    async fn configure_watch(&self, settings: &WatchSettings) -> PlatformResult<()> {
        self.configure_watch_settings(settings.clone())
    }

    async fn record_unguarded(&self, unguarded: &Unguarded) -> PlatformResult<()> {
        self.record_unguarded_shift(unguarded.clone())
    }

    async fn lock_read(&self) -> PlatformResult<Option<LockRecord>> {
        Ok(self.lock_rollout().lock.clone())
    }

    async fn lock_swap(
        &self,
        expected: Option<&str>,
        new: Option<&LockRecord>,
    ) -> PlatformResult<LockSwap> {
        if let Some(r) = new {
            r.validate()
                .map_err(|e| err("lock-swap", "deploy lock", FaultKind::Invalid, e))?;
        }
        // Under the rollout lock: one swap at a time, saved before it is answered.
        let mut r = self.lock_rollout();
        let before = r.lock.clone();
        if !lock::swap_in_place(&mut r.lock, expected, new) {
            return Ok(LockSwap::Conflict);
        }
        if let Err(e) = self.save_locked(&r, "lock-swap") {
            // Not kept: a holder the disk does not know would vanish with a restart.
            r.lock = before;
            return Err(e);
        }
        Ok(LockSwap::Swapped)
    }
}

/// Keeps what was last set on `color`'s service. A scale names no task definition: the one
/// recorded by the last deploy stays the one to compare with.
fn record_service(
    written: &mut Vec<WrittenService>,
    color: Color,
    desired: u32,
    task_definition: Option<String>,
) {
    let kept = written
        .iter()
        .find(|w| w.color == color)
        .and_then(|w| w.task_definition.clone());
    written.retain(|w| w.color != color);
    written.push(WrittenService {
        color,
        desired,
        task_definition: task_definition.or(kept),
    });
    written.sort_by_key(|w| w.color == Color::Green);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::local::supervisor::{Release, ServiceSpec, SupervisorConfig};
    use tokio_util::sync::CancellationToken;

    /// An engine at rest: blue stable with all traffic, no bake.
    pub(super) fn engine_at(dir: &std::path::Path) -> Engine {
        let e = engine(
            dir,
            Weights::all(Color::Blue),
            Bake::starting(Color::Green, 0, 0, false),
        );
        e.lock_rollout().bake = None;
        e
    }

    /// An engine with both colors at desired count 2 (no processes: the supervisor loop is
    /// not started) and blue recorded stable with `bake` pending.
    fn engine(dir: &std::path::Path, weights: Weights, bake: Bake) -> Engine {
        let paths = Paths::new(dir).expect("absolute");
        let spec = ServiceSpec {
            desired: 2,
            release: Some(Release {
                tag: "v1".into(),
                digest: format!("sha256:{}", "0".repeat(64))
                    .parse()
                    .expect("digest"),
                revision: 1,
            }),
            revisions: 1,
        };
        let persisted = Persisted {
            weights,
            stable: Some(Color::Blue),
            bake: Some(bake),
            // Written by the promote ten seconds ago.
            written: Some(Written {
                weights,
                at: now_millis() - 10_000,
            }),
            services: PerColor::new(spec.clone(), spec),
            ..Persisted::default()
        };
        let routes = Arc::new(Routes::new(weights, Some(Color::Green)));
        let supervisor = Supervisor::new(
            SupervisorConfig::default(),
            paths.clone(),
            routes.clone(),
            "secret".into(),
            persisted.services.clone(),
            CancellationToken::new(),
        );
        Engine::new(
            paths,
            DaemonConfig::default(),
            &persisted,
            supervisor,
            routes,
            Arc::new(Metrics::default()),
            "127.0.0.1:1".into(),
            "127.0.0.1:2".into(),
        )
    }

    fn due(old: Color, keep_old: bool) -> Bake {
        Bake {
            old,
            until: now_millis() - 1,
            keep_old,
        }
    }

    /// `n` requests served by `color` since the promote (a sample before them is the base).
    fn served(e: &Engine, color: Color, n: u64) {
        e.metrics.sample(now_millis() - 5_000);
        for _ in 0..n {
            e.metrics
                .color(color)
                .record(std::time::Duration::from_millis(1), false);
        }
    }

    /// The engine after one tick with blue stable, `weights` in force and `bake` recorded,
    /// and enough requests since the promote, all on the color with 100%.
    fn ticked(weights: Weights, bake: Bake) -> (tempfile::TempDir, Engine) {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = engine(dir.path(), weights, bake);
        if let Some(live) = weights.live() {
            served(&e, live, split::MIN_ALL_REQUESTS);
        }
        e.tick();
        (dir, e)
    }

    #[test]
    fn the_blog_builds_with_the_profile_bluegreen_was_built_with() {
        use std::path::Path;
        assert_eq!(
            cargo_profile_of(Path::new("/src/target/local/bluegreen")),
            "local"
        );
        assert_eq!(
            cargo_profile_of(Path::new("/src/target/debug/bluegreen")),
            "dev"
        );
        assert_eq!(
            cargo_profile_of(Path::new("/src/target/release/bluegreen")),
            "release"
        );
        assert_eq!(
            cargo_profile_of(Path::new("/root/.cargo/bin/bluegreen")),
            "release"
        );
        assert_eq!(cargo_profile_of(Path::new("bluegreen")), "release");
    }

    #[test]
    fn a_due_bake_is_held_until_the_requests_show_the_split() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = engine(
            dir.path(),
            Weights::all(Color::Blue),
            due(Color::Green, false),
        );
        // Too few requests: held, green keeps running.
        served(&e, Color::Blue, split::MIN_ALL_REQUESTS - 1);
        e.tick();
        assert!(bake_of(&e).is_some());
        assert_eq!(desired(&e, Color::Green), 2);
        assert!(
            e.lock_rollout()
                .held
                .as_deref()
                .is_some_and(|h| h.contains("--accept-unmeasured")),
        );
        // Something still routes to green: held, with both numbers.
        e.metrics
            .color(Color::Green)
            .record(std::time::Duration::from_millis(1), false);
        e.metrics
            .color(Color::Blue)
            .record(std::time::Duration::from_millis(1), false);
        e.tick();
        assert_eq!(desired(&e, Color::Green), 2);
        let held = e.lock_rollout().held.clone().unwrap_or_default();
        assert!(
            held.contains("does not match the desired blue 100 / green 0"),
            "{held}"
        );
    }

    #[test]
    fn a_release_started_accepting_unmeasured_finishes_its_own_bake_with_too_few_requests() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = engine(
            dir.path(),
            Weights::all(Color::Blue),
            due(Color::Green, false),
        );
        let release = |accept: bool| crate::rollout::Release {
            id: "r1".into(),
            tag: "v2".into(),
            canary: Color::Blue,
            desired: 2,
            plan: crate::rollout::Plan::default_canary(),
            options: crate::rollout::release::ReleaseOptions {
                bake_secs: 1,
                keep_old: false,
                scale_in_on_rollback: false,
                smoke: Vec::new(),
                accept_unmeasured: accept,
            },
            started_at: now_millis() - 60_000,
            stage: crate::rollout::Stage::Done,
            driver: "daemon".into(),
            driven_at: now_millis(),
            gates: Vec::new(),
            by: None,
            reason: None,
            split: None,
            request: None,
            outcome: Some(crate::rollout::Outcome::Released),
            ended_at: Some(now_millis()),
        };
        served(&e, Color::Blue, split::MIN_ALL_REQUESTS - 1);
        // A release without the flag: held as any bake.
        e.lock_rollout().release = Some(release(false));
        e.tick();
        assert!(bake_of(&e).is_some());
        assert_eq!(desired(&e, Color::Green), 2);
        // With it, recorded with the release: its bake finishes.
        e.lock_rollout().release = Some(release(true));
        e.tick();
        assert_eq!(bake_of(&e), None);
        assert_eq!(desired(&e, Color::Green), 0);
    }

    fn bake_of(e: &Engine) -> Option<Bake> {
        e.lock_rollout().bake.clone()
    }

    fn desired(e: &Engine, color: Color) -> u32 {
        e.supervisor.specs().get(color).desired
    }

    fn saved(dir: &std::path::Path) -> Persisted {
        let paths = Paths::new(dir).expect("absolute");
        state::load(&paths.state_file())
            .expect("readable")
            .expect("saved")
    }

    #[test]
    fn a_due_bake_is_cleared_and_the_old_color_scaled_in() {
        let (dir, e) = ticked(Weights::all(Color::Blue), due(Color::Green, false));
        assert_eq!(bake_of(&e), None);
        assert_eq!(e.lock_rollout().stable, Some(Color::Blue));
        assert_eq!(desired(&e, Color::Green), 0);
        assert_eq!(desired(&e, Color::Blue), 2);
        let on_disk = saved(dir.path());
        assert_eq!(on_disk.bake, None);
        assert_eq!(on_disk.services.get(Color::Green).desired, 0);
    }

    #[test]
    fn keep_old_clears_the_bake_but_leaves_the_old_color_running() {
        let (_dir, e) = ticked(Weights::all(Color::Blue), due(Color::Green, true));
        assert_eq!(bake_of(&e), None);
        assert_eq!(desired(&e, Color::Green), 2);
    }

    #[test]
    fn a_bake_whose_traffic_moved_stays_pending_and_nothing_is_scaled() {
        // A rollback already sent everything back to the old color.
        let bake = due(Color::Green, false);
        let (_dir, e) = ticked(Weights::all(Color::Green), bake.clone());
        assert_eq!(bake_of(&e), Some(bake));
        assert_eq!(desired(&e, Color::Green), 2);
    }

    #[test]
    fn a_bake_naming_the_stable_color_as_old_is_cleared_without_scaling() {
        let (dir, e) = ticked(Weights::all(Color::Blue), due(Color::Blue, false));
        assert_eq!(bake_of(&e), None);
        assert_eq!(
            desired(&e, Color::Blue),
            2,
            "the stable color keeps running"
        );
        assert_eq!(desired(&e, Color::Green), 2);
        assert_eq!(saved(dir.path()).bake, None);
    }

    #[test]
    fn a_bake_not_yet_due_is_left_alone() {
        let mut bake = due(Color::Green, false);
        bake.until = now_millis() + 60_000;
        let (_dir, e) = ticked(Weights::all(Color::Blue), bake.clone());
        assert_eq!(bake_of(&e), Some(bake));
        assert_eq!(desired(&e, Color::Green), 2);
    }

    #[tokio::test]
    async fn after_the_finisher_ran_a_rollback_finds_no_old_color_to_go_to() {
        let (_dir, e) = ticked(Weights::all(Color::Blue), due(Color::Green, false));
        let listener = e.listener().await.expect("listener");
        let target = crate::rollout::guard::rollback_target(&listener, |_| 1).expect("target");
        assert_eq!(target, Color::Blue, "the scaled-in color gets no traffic");
    }
}

#[cfg(test)]
mod record_tests {
    use super::*;
    use crate::rollout::plan::Plan;
    use crate::rollout::release::{Outcome as End, Stage};

    fn release(id: &str) -> Release {
        Release {
            id: id.into(),
            tag: "v2".into(),
            canary: Color::Green,
            desired: 1,
            plan: Plan::default_canary(),
            options: crate::rollout::release::ReleaseOptions {
                bake_secs: 0,
                keep_old: false,
                scale_in_on_rollback: false,
                smoke: crate::rollout::SmokeCheck::defaults(),
                accept_unmeasured: false,
            },
            started_at: 0,
            stage: Stage::Deploying,
            driver: "daemon".into(),
            driven_at: 0,
            by: None,
            reason: None,
            gates: Vec::new(),
            split: None,
            request: None,
            outcome: None,
            ended_at: None,
        }
    }

    #[tokio::test]
    async fn one_release_at_a_time_and_an_ended_one_stays_ended() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = super::tests::engine_at(dir.path());
        e.record_release(&release("r1")).await.expect("first");
        let refused = e.record_release(&release("r2")).await.expect_err("second");
        assert!(
            refused
                .to_string()
                .contains("release r1 of v2 is still running"),
            "{refused}"
        );
        assert_eq!(
            e.release().await.expect("read").map(|r| r.id),
            Some("r1".into())
        );
        // Aborted (or rolled back) meanwhile: a driver's stale copy cannot revive it.
        let mut ended = release("r1");
        ended.outcome = Some(End::Aborted {
            by: "ann@vm".into(),
        });
        e.record_release(&ended).await.expect("ended");
        let mut stale = release("r1");
        stale.stage = Stage::Smoke;
        let refused = e.record_release(&stale).await.expect_err("stale");
        assert!(refused.to_string().contains("ended meanwhile"), "{refused}");
        assert!(
            e.release()
                .await
                .expect("read")
                .is_some_and(|r| r.is_over())
        );
        // Once it ended, the next release is accepted.
        e.record_release(&release("r2")).await.expect("next");
    }
}

#[cfg(test)]
mod durable_tests {
    use super::*;

    /// A tmpfs of 256 KiB mounted on `dir`, unmounted on drop.
    struct Tiny(std::path::PathBuf);

    impl Drop for Tiny {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }

    #[test]
    fn a_change_that_cannot_be_saved_says_so_and_is_saved_once_it_can() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("state");
        std::fs::create_dir(&root).expect("mkdir");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(&root)
            .status()
            .expect("run mount");
        assert!(mounted.success(), "mount a tmpfs (root can)");
        let _tiny = Tiny(root.clone());
        let e = super::tests::engine_at(&root);
        e.save("start").expect("saved");
        // The disk fills up.
        let filler = root.join("filler");
        let mut f = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0u8; 4096];
        while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
        drop(f);
        let rolled = Weights::all(Color::Green);
        let change = e.write_weights(rolled, true);
        assert_eq!(change.observed, Some(rolled), "in force now");
        let why = change.write_error.expect("not saved").to_string();
        assert!(why.contains("applied now, not saved"), "{why}");
        assert!(
            why.contains("on restart the weights would be blue 100 / green 0"),
            "{why}"
        );
        assert!(e.unsaved().is_some_and(|u| u.contains("NOT SAVED")));
        let on_disk = state::load(&root.join("state.json"))
            .expect("read")
            .expect("some");
        assert_eq!(
            on_disk.weights,
            Weights::all(Color::Blue),
            "the old state is whole"
        );
        // Still full: the retry fails quietly and the state stays unsaved.
        e.tick();
        assert!(e.unsaved().is_some());
        // Room again: the next tick saves.
        std::fs::remove_file(&filler).expect("rm");
        e.tick();
        assert_eq!(e.unsaved(), None);
        let on_disk = state::load(&root.join("state.json"))
            .expect("read")
            .expect("some");
        assert_eq!(on_disk.weights, rolled);
    }
}
