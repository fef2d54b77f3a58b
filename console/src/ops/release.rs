//! The release driver: carries out what [`crate::rollout::plan::decide`] decides, over
//! `Arc<dyn Platform>`. The same code drives a release in the local daemon and in the console
//! process on AWS. Every change of stage is recorded with the listener before the next write,
//! so another console shows it, and a person's pause, resume or abort recorded there is
//! picked up at the next interval.
//!
//! AWS API calls per gate interval: target health (1), metrics (1), the release record (1),
//! and the alarms when the profile names some (1); the record is rewritten only when the
//! verdicts change or every [`HEARTBEAT_MS`], and with it the driver's deploy-lock lease is
//! read and renewed (GetItem + PutItem) once half of it has passed.

use std::time::Duration;

use super::{OpError, Ops};
use crate::clock::now_millis;
use crate::platform::PlatformError;
use crate::rollout::journal;
use crate::rollout::release::{self, Outcome, ReleaseOptions, Request, Stage};
use crate::rollout::resolve::ReleaseSpec;
use crate::rollout::{Release, Weights};

/// The driver rewrites the record at least this often, so `status` can tell a live driver
/// from one that went away ([`release::DRIVER_GONE_MS`]).
pub const HEARTBEAT_MS: i64 = 20_000;

/// How long a deploy may take to become healthy before the release fails.
pub const DEPLOY_TIMEOUT: Duration = Duration::from_secs(900);

/// How long one smoke check may take.
pub const SMOKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The smoke task's last log lines a failure quotes.
const SMOKE_TASK_LINES_SHOWN: usize = 5;

/// The waits before the release record is written again after a failed write (each write is
/// already retried by the platform): past them, a release with traffic split pauses instead
/// of stopping ([`Ops::hold_unrecorded`]).
const RECORD_RETRIES: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// Who drives a release once [`Ops::launch_release`] started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// The platform (the local daemon): it survives the caller.
    Platform,
    /// The caller, with [`Ops::drive_release`]: on AWS a release whose driver quits holds its
    /// weight until someone resumes it.
    Caller,
}

/// Something worth a line of output, with the release as it is now.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    Started,
    Deployed {
        task_definition: String,
    },
    Healthy,
    SmokePassed {
        check: String,
        latency_ms: u64,
    },
    /// A line about the smoke test that is not one check's pass: the profile skips it (and
    /// why), or a one-off task ran the checks (its id, its exit code, its log lines).
    Smoke {
        line: String,
    },
    StepEntered {
        index: usize,
        weights: Weights,
    },
    Gates {
        index: usize,
        left_ms: u64,
    },
    Paused {
        reason: String,
    },
    Resumed,
    Promoted,
    Ended,
}

/// Where the driver reports what it does (the CLI prints lines; the daemon logs).
pub trait Observer: Send + Sync {
    fn note(&self, release: &Release, note: &Note);
}

/// An observer that ignores everything.
pub struct Quiet;

impl Observer for Quiet {
    fn note(&self, _: &Release, _: &Note) {}
}

/// A release's driver and its requests, named after the session's operator (who `--as`,
/// `BLUEGREEN_USER` or the OS user names, as the lock and the journal do) and this process:
/// `ops@host pid N`.
pub fn driver_name(operator: &crate::rollout::Operator) -> String {
    format!("{operator} pid {}", std::process::id())
}

impl Ops {
    /// Checks that a release may start, deploys the tag to the idle color and records the
    /// release; [`Ops::drive_release`] then walks it.
    pub async fn start_release(&self, spec: ReleaseSpec) -> Result<Release, OpError> {
        self.access.check("release")?;
        spec.plan
            .validate()
            .map_err(|e| PlatformError::Config(e.to_string()))?;
        let mut snap = self.platform.snapshot().await?;
        let current = self.platform.release().await?;
        // A stack with no record at rest: its live color is stable, recorded below.
        let resting = super::adopt_resting(&mut snap);
        let canary = release::check_start(&snap, current.as_ref())?;
        let alarms = if spec.plan.gates.alarms.is_empty() {
            Vec::new()
        } else {
            self.platform.alarms(&spec.plan.gates.alarms).await?
        };
        let found = release::preflight(&snap, canary.other(), &alarms);
        if let Err(refusal) = release::check_preflight(&found, spec.force, self.reason.as_deref()) {
            let e = OpError::from(refusal);
            self.journal_unstarted(journal::RELEASE_START, spec.tag.clone(), &e)
                .await;
            return Err(e);
        }
        let now = now_millis();
        // `r`, the start in milliseconds, and a random part: two consoles starting a release
        // in the same millisecond would otherwise record one id twice, and the second would
        // pass for the first's own update instead of being refused.
        let id = format!("r{now}-{:04x}", rand::random::<u16>());
        // The driver's lease first: a release another engineer's lock refuses is never
        // recorded (it would wait for a driver that cannot take the lock).
        let interval_ms = (spec.plan.interval_secs as i64).saturating_mul(1000);
        if let Err(e) = self.lock_drive(&id, interval_ms).await {
            self.journal_unstarted(journal::RELEASE_START, spec.tag.clone(), &e)
                .await;
            return Err(e);
        }
        if let Err(e) = self.record_resting(resting).await {
            self.lock_drive_done().await;
            return Err(e);
        }
        let r = Release {
            id,
            tag: spec.tag,
            canary,
            desired: crate::rollout::guard::deploy_count(&snap, canary),
            plan: spec.plan,
            // `--accept-unmeasured` is recorded with the release, so whoever drives it (the
            // daemon, a console that resumes it) honours it.
            options: ReleaseOptions {
                accept_unmeasured: spec.options.accept_unmeasured || self.accepts_unmeasured(),
                ..spec.options
            },
            started_at: now,
            stage: Stage::Deploying,
            driver: self.driver(),
            driven_at: now,
            by: Some(self.operator.clone()),
            reason: self.reason.clone(),
            gates: Vec::new(),
            split: None,
            request: None,
            outcome: None,
            ended_at: None,
        };
        if let Err(e) = self.platform.record_release(&r).await {
            self.lock_drive_done().await;
            // Another release was accepted meanwhile: refused, with its reason.
            if let Ok(current) = self.platform.release().await
                && let Err(refusal) = release::check_record(current.as_ref(), &r)
            {
                return Err(refusal.into());
            }
            return Err(e.into());
        }
        self.journal_release(&r, journal::RELEASE_START).await;
        if !found.is_empty() {
            let mut e = self
                .in_release(&r.id, None)
                .journal_entry(journal::RELEASE_FORCED);
            e.message = Some(format!("forced past pre-flight: {}", found.join("; ")));
            self.append_journal(e).await;
        }
        Ok(r)
    }

    /// Who drives a release this session starts: the platform's own driver where it has one
    /// (the local daemon), else this session (`ops@host pid N`).
    fn driver(&self) -> String {
        self.platform
            .release_driver()
            .map_or_else(|| driver_name(&self.operator), str::to_string)
    }

    /// Starts the release and hands it to its driver: the platform, where it drives releases
    /// itself; else the caller, who then walks it with [`Ops::drive_release`].
    pub async fn launch_release(&self, spec: ReleaseSpec) -> Result<(Release, Driver), OpError> {
        let r = self.start_release(spec).await?;
        if self.platform.release_driver().is_some() {
            self.platform.drive_release().await?;
            Ok((r, Driver::Platform))
        } else {
            Ok((r, Driver::Caller))
        }
    }

    /// After `r` was resumed: the platform that drives releases is asked to drive it on (a
    /// daemon restarted meanwhile may have left it); elsewhere, a release whose driver went
    /// away is this session's to drive on, and comes back renamed for it (`Some`).
    pub async fn take_over(&self, r: &Release) -> Result<Option<Release>, OpError> {
        if self.platform.release_driver().is_some() {
            self.platform.drive_release().await?;
            return Ok(None);
        }
        if !r.driver_gone(now_millis()) {
            return Ok(None);
        }
        let mut taken = r.clone();
        taken.driver = driver_name(&self.operator);
        Ok(Some(taken))
    }

    /// The recorded release, if any.
    pub async fn current_release(&self) -> Result<Option<Release>, OpError> {
        Ok(self.platform.release().await?)
    }

    /// Records a person's request to the running release. An abort rolls back here and
    /// now (the panic key never waits for the driver) and ends the release as aborted.
    pub async fn request_release(&self, request: Request, by: &str) -> Result<Release, OpError> {
        let verb = match request {
            Request::Abort => "abort",
            Request::Pause => "pause",
            Request::Resume => "resume",
        };
        self.access.check(verb)?;
        let recorded = self.platform.release().await;
        let ops = match &recorded {
            Ok(Some(r)) => self.in_release(&r.id, None),
            _ => self.clone(),
        };
        // A resume is the explicit override of what paused the release (a lasting split
        // mismatch, gates that could not judge): the journal says which.
        let detail = match (&request, &recorded) {
            (Request::Resume, Ok(Some(r))) => match &r.stage {
                Stage::Paused { reason, .. } if !r.is_over() => {
                    format!("overrides the pause: {reason}")
                }
                _ => String::new(),
            },
            _ => String::new(),
        };
        let result = ops.request_unjournaled(request, by, recorded).await;
        ops.journaled(verb, detail, result).await
    }

    async fn request_unjournaled(
        &self,
        request: Request,
        by: &str,
        recorded: Result<Option<Release>, crate::platform::PlatformError>,
    ) -> Result<Release, OpError> {
        let mut r = release::check_request(recorded?)?;
        if request == Request::Abort {
            let moved = !matches!(r.stage, Stage::Deploying | Stage::Smoke);
            if moved {
                self.rollback().await?;
            }
            self.end(&mut r, Outcome::Aborted { by: by.to_string() })
                .await?;
            return Ok(r);
        }
        r.request = Some(request);
        self.platform.record_release(&r).await?;
        Ok(r)
    }

    /// Walks `release` to its end (or, with `until_paused`, to its first pause), recording
    /// every stage. Returns the release as recorded last.
    pub async fn drive_release(
        &self,
        mut r: Release,
        observer: &dyn Observer,
        until_paused: bool,
    ) -> Result<Release, OpError> {
        observer.note(&r, &Note::Started);
        if !r.is_over() {
            // The driver holds the lock for the whole release (`resume` takes an ended one).
            self.lock_drive(&r.id, (r.plan.interval_secs as i64).saturating_mul(1000))
                .await?;
        }
        loop {
            if r.is_over() {
                self.lock_drive_done().await;
                observer.note(&r, &Note::Ended);
                return Ok(r);
            }
            match r.stage.clone() {
                Stage::Deploying => {
                    self.in_release(&r.id, None)
                        .deploy_canary(&mut r, observer)
                        .await?
                }
                Stage::Smoke => self.smoke_test(&mut r, observer).await?,
                Stage::Step { index, since } => {
                    self.hold_step(&mut r, index, since, observer).await?
                }
                Stage::Paused {
                    index,
                    since,
                    reason,
                } => {
                    if until_paused {
                        return Ok(r);
                    }
                    self.hold_paused(&mut r, index, since, &reason, observer)
                        .await?
                }
                Stage::Promoting => {
                    self.in_release(&r.id, None)
                        .promote_canary(&mut r, observer)
                        .await?
                }
                Stage::Done => {
                    self.end(&mut r, Outcome::Released).await?;
                }
            }
        }
    }
}

mod stages;
