//! Everything the screen shows, as plain data. Changed only by [`crate::tui::update`]; read by
//! [`crate::tui::view`].

use std::time::Duration;

use crate::ops::Access;
use crate::platform::{PlatformError, PlatformInfo, PlatformKind};
use crate::rollout::guard::Refusal;
use crate::rollout::{
    Bake, Build, Color, ColorMetrics, Image, PerColor, Snapshot, UnixMillis, Weights,
};

pub mod logs;

pub use logs::{LogBuffer, LogFilter, LogView};

/// A resource the console polls; each has its own poller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resource {
    /// Both colors' services, tasks, targets and the listener.
    Services,
    Builds,
    Images,
    Logs,
    Metrics,
    /// The release a plan drives, as recorded with the listener.
    Release,
    /// The journal's latest entries (read when its view opens, then slowly while it is open).
    Journal,
    /// The deploy lock's record (its holder shows in the header).
    Lock,
}

impl Resource {
    pub const ALL: [Resource; 8] = [
        Resource::Services,
        Resource::Builds,
        Resource::Images,
        Resource::Logs,
        Resource::Metrics,
        Resource::Release,
        Resource::Journal,
        Resource::Lock,
    ];

    /// Whether it is read only while something on screen shows it: the journal, which costs
    /// a Query per read on AWS and is shown only in its own view. Such a poller reads when
    /// its view opens and keeps its interval only while the view is open; a refresh of
    /// everything (ctrl-r) leaves it alone.
    pub fn on_demand(self) -> bool {
        self == Resource::Journal
    }
}

/// Where a panel's data stands.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadStatus {
    /// Never asked yet.
    Idle,
    /// A request is in flight (since when).
    Loading { since: UnixMillis },
    /// The last request succeeded.
    Loaded { at: UnixMillis },
    /// The last request failed; older data, if any, is still shown with its age.
    Error {
        /// A few words for the title, e.g. `unavailable`.
        short: String,
        /// The whole error, shown inside the panel.
        message: String,
        at: UnixMillis,
    },
}

/// One polled resource: its latest data (kept through errors, so stale data stays visible) and
/// its load status.
#[derive(Debug, Clone)]
pub struct Panel<T> {
    pub data: Option<T>,
    pub status: LoadStatus,
    /// When `data` was received.
    pub data_at: Option<UnixMillis>,
    /// The poller waits this long before its next read, after being throttled (the title
    /// says so).
    pub backoff: Option<std::time::Duration>,
    /// The parts of `data` kept from an earlier read because their own read failed
    /// (`tasks: DescribeTasks …`), for the title.
    pub stale: Vec<String>,
}

impl<T> Default for Panel<T> {
    fn default() -> Self {
        Panel {
            data: None,
            status: LoadStatus::Idle,
            data_at: None,
            backoff: None,
            stale: Vec::new(),
        }
    }
}

impl<T> Panel<T> {
    pub fn loading(&mut self, now: UnixMillis) {
        // A refresh over shown data keeps the data; the title shows the spinner.
        if !matches!(self.status, LoadStatus::Loading { .. }) {
            self.status = LoadStatus::Loading { since: now };
        }
    }

    pub fn loaded(&mut self, data: T, at: UnixMillis) {
        self.data = Some(data);
        self.data_at = Some(at);
        self.status = LoadStatus::Loaded { at };
    }

    pub fn failed(&mut self, error: &PlatformError, at: UnixMillis) {
        let short = match error {
            PlatformError::Call { fault, .. } => fault.to_string(),
            PlatformError::TimedOut { .. } => "timed out".into(),
            PlatformError::Config(_) => "configuration".into(),
        };
        self.status = LoadStatus::Error {
            short,
            message: error.to_string(),
            at,
        };
    }

    /// The whole error message, when the last request failed.
    pub fn error(&self) -> Option<&str> {
        match &self.status {
            LoadStatus::Error { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Age of the shown data in milliseconds, if any is shown.
    pub fn age(&self, now: UnixMillis) -> Option<i64> {
        self.data_at.map(|at| (now - at).max(0))
    }

    pub fn is_error(&self) -> bool {
        matches!(self.status, LoadStatus::Error { .. })
    }

    pub fn is_loading(&self) -> bool {
        matches!(self.status, LoadStatus::Loading { .. })
    }
}

/// The panels tab / shift-tab cycle through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Focus {
    Traffic,
    Blue,
    Green,
    Build,
    Images,
    Logs,
}

impl Focus {
    pub const ORDER: [Focus; 6] = [
        Focus::Traffic,
        Focus::Blue,
        Focus::Green,
        Focus::Build,
        Focus::Images,
        Focus::Logs,
    ];

    pub fn next(self) -> Focus {
        let i = Self::ORDER.iter().position(|f| *f == self).unwrap_or(0);
        Self::ORDER[(i + 1) % Self::ORDER.len()]
    }

    pub fn prev(self) -> Focus {
        let i = Self::ORDER.iter().position(|f| *f == self).unwrap_or(0);
        Self::ORDER[(i + Self::ORDER.len() - 1) % Self::ORDER.len()]
    }
}

/// A write the user asked for, waiting in the confirm dialog.
#[derive(Debug, Clone, PartialEq)]
pub enum PendingOp {
    Shift {
        from: Weights,
        to: Weights,
        /// The guard's objection, computed when the dialog opened.
        refusal: Option<Refusal>,
        /// The user chose to override an overridable refusal.
        force: bool,
    },
    Promote {
        /// The color that gets 100%, when known.
        target: Option<Color>,
        bake: Duration,
        keep_old: bool,
        refusal: Option<Refusal>,
    },
    Rollback {
        /// Where traffic would go, from the last snapshot (decided again by the command layer).
        target: Option<Color>,
        refusal: Option<Refusal>,
    },
    Deploy {
        tag: String,
        /// Idle color at the time the dialog opened.
        color: Option<Color>,
        refusal: Option<Refusal>,
    },
    FinishBake {
        old: Option<Color>,
        keep_old: bool,
        /// Scale the old color in even when too few requests were measured since the
        /// promote to judge the split (`u` in the dialog; `--accept-unmeasured`).
        accept_unmeasured: bool,
    },
    /// Start a release: deploy, smoke test, the plan's steps with their gates, promote.
    Release {
        spec: Box<crate::rollout::resolve::ReleaseSpec>,
        /// The color the canary goes to, from the last snapshot (decided again on start).
        canary: Option<Color>,
        refusal: Option<Refusal>,
    },
    /// Abort the running release: the stable color gets 100% at once.
    AbortRelease {
        id: String,
        tag: String,
        stable: crate::rollout::Color,
    },
}

impl PendingOp {
    /// The command-layer verb, for read-only messages.
    pub fn verb(&self) -> &'static str {
        match self {
            PendingOp::Shift { .. } => "shift",
            PendingOp::Promote { .. } => "promote",
            PendingOp::Rollback { .. } => "rollback",
            PendingOp::Deploy { .. } => "deploy",
            PendingOp::FinishBake { .. } => "promote",
            PendingOp::AbortRelease { .. } => "abort",
            PendingOp::Release { .. } => "release",
        }
    }

    /// A refusal that blocks confirming (not overridden).
    pub fn blocking_refusal(&self) -> Option<&Refusal> {
        match self {
            PendingOp::Shift {
                refusal: Some(r),
                force,
                ..
            } => (!(r.overridable && *force)).then_some(r),
            PendingOp::Promote { refusal, .. }
            | PendingOp::Rollback { refusal, .. }
            | PendingOp::Deploy { refusal, .. }
            | PendingOp::Release { refusal, .. } => refusal.as_ref().filter(|r| !r.overridable),
            _ => None,
        }
    }
}

/// What keys mean right now. One mode at a time: modal dialogs own the keyboard.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    Help,
    Confirm(PendingOp),
    /// The `:` command line, with what was typed so far.
    Command {
        input: String,
    },
    /// The `/` log filter prompt; `previous` is restored on Esc.
    Filter {
        input: String,
        previous: Option<String>,
        error: Option<String>,
    },
    /// Choosing the image to deploy to the idle color.
    PickImage {
        selected: usize,
    },
    /// Starting a release: first its image (`tag` is `None`), then its plan.
    PickRelease {
        tag: Option<String>,
        selected: usize,
    },
    /// The journal view: who changed what, newest last.
    Journal,
}

/// A one-line message under the panels: an operation's outcome or why a key did nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub level: NoticeLevel,
    pub text: String,
    pub at: UnixMillis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeLevel {
    Info,
    Success,
    Warning,
    Error,
}

/// A write the workers are carrying out now.
#[derive(Debug, Clone, PartialEq)]
pub struct Busy {
    pub what: String,
    pub since: UnixMillis,
}

/// The traffic panel's own state: the slider and the last weights the console asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Traffic {
    /// The slider's value (weights the user is composing); `None` follows the listener.
    pub pending: Option<Weights>,
    /// The last weights the console applied; shown against the observed weights until they
    /// agree.
    pub desired: Option<Weights>,
}

/// The whole console state.
#[derive(Debug, Clone)]
pub struct State {
    /// The injected clock: set from ticks, so rendering never reads the system time.
    pub now: UnixMillis,
    pub info: PlatformInfo,
    pub access: Access,
    pub mode: Mode,
    pub focus: Focus,
    pub services: Panel<Snapshot>,
    pub builds: Panel<Vec<Build>>,
    pub images: Panel<Vec<Image>>,
    pub metrics: Panel<Option<PerColor<ColorMetrics>>>,
    /// The recorded release, if any.
    pub release: Panel<Option<crate::rollout::Release>>,
    /// The ended release the engineer dismissed (its id): the panel stays until then.
    pub release_dismissed: Option<String>,
    /// The logs poller's status (the lines themselves are in `log_buffer`).
    pub logs: Panel<()>,
    pub log_buffer: LogBuffer,
    pub log_view: LogView,
    pub traffic: Traffic,
    /// Which build the build panel shows: 0 is the latest.
    pub build_index: usize,
    /// Selected row of the images panel.
    pub image_index: usize,
    pub notice: Option<Notice>,
    pub busy: Vec<Busy>,
    /// Spinner frame, advanced by ticks while something loads.
    pub spinner: usize,
    /// The console should exit.
    pub quit: bool,
    /// Bake ends this session already offered (or started) to finish, so it asks once.
    pub bake_offered: Option<UnixMillis>,
    /// The bake this session's promote started, on a platform that does not end bakes by
    /// itself: `update` ends it with a command once it is due.
    pub owned_bake: Option<Bake>,
    /// Which key means what: the defaults, or as a keymap file changed them.
    pub keymap: std::sync::Arc<crate::tui::keymap::Keymap>,
    /// The profile's plans, gates and smoke checks, for releases started here.
    pub release_settings: std::sync::Arc<crate::config::ReleaseSettings>,
    /// The guide's line: the next sensible action for this state (`update` keeps it).
    pub guide: Option<String>,
    /// Whether the guide shows (`i` toggles it; on by default on the local platform).
    pub show_guide: bool,
    /// The journal's latest entries, for its view (`J`).
    pub journal: Panel<crate::platform::JournalPage>,
    /// The deploy lock, as last read.
    pub lock: Panel<Option<crate::rollout::lock::LockRecord>>,
    /// Who this console writes as, to tell "my lock was taken over" in the header.
    pub operator: Option<crate::rollout::Operator>,
}

impl State {
    /// Whether `resource` is changing or its panel has the focus: its poller then keeps its
    /// active pace (on AWS the rest pace is slower, so the console stays within its API
    /// budget). Changing: a release running, a write in flight, weights asked for and not
    /// yet shown, a pending bake, a new revision rolling out, a build running.
    pub fn active(&self, resource: Resource) -> bool {
        let release_running = self
            .release
            .data
            .as_ref()
            .and_then(|r| r.as_ref())
            .is_some_and(|r| !r.is_over());
        let busy = !self.busy.is_empty();
        let snap = self.services.data.as_ref();
        let shifting =
            self.traffic.desired.is_some() || snap.is_some_and(|s| s.listener.bake.is_some());
        // A new revision rolling out (ECS keeps the old deployment until it drains); a write
        // of this console is `busy` until it is done.
        let deploying = snap.is_some_and(|s| {
            s.colors
                .iter()
                .any(|(_, c)| c.service.deployments.len() > 1)
        });
        match resource {
            Resource::Services => release_running || busy || shifting || deploying,
            Resource::Metrics => release_running || shifting,
            Resource::Release | Resource::Lock => release_running || busy,
            Resource::Builds => {
                self.focus == Focus::Build
                    || self.builds.data.as_ref().is_some_and(|b| {
                        b.iter().any(|b| {
                            matches!(
                                b.status,
                                crate::rollout::BuildStatus::Queued
                                    | crate::rollout::BuildStatus::InProgress
                            )
                        })
                    })
            }
            Resource::Images => self.focus == Focus::Images,
            Resource::Logs => self.focus == Focus::Logs,
            Resource::Journal => true,
        }
    }

    pub fn new(info: PlatformInfo, access: Access, log_capacity: usize, now: UnixMillis) -> Self {
        let show_guide = matches!(info.kind, PlatformKind::Local { .. });
        State {
            now,
            info,
            access,
            mode: Mode::Normal,
            focus: Focus::Traffic,
            services: Panel::default(),
            builds: Panel::default(),
            images: Panel::default(),
            metrics: Panel::default(),
            release: Panel::default(),
            release_dismissed: None,
            logs: Panel::default(),
            log_buffer: LogBuffer::new(log_capacity),
            log_view: LogView::default(),
            traffic: Traffic::default(),
            build_index: 0,
            image_index: 0,
            notice: None,
            busy: Vec::new(),
            spinner: 0,
            quit: false,
            bake_offered: None,
            owned_bake: None,
            keymap: Default::default(),
            release_settings: Default::default(),
            guide: None,
            show_guide,
            journal: Panel::default(),
            lock: Panel::default(),
            operator: None,
        }
    }

    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.services.data.as_ref()
    }

    /// The weights the listener shows, if known.
    pub fn observed(&self) -> Option<Weights> {
        self.snapshot().map(|s| s.listener.weights)
    }

    /// The color the slider gives traffic to: the color that is not stable (the canary), or
    /// green when no stable color is recorded.
    pub fn slider_color(&self) -> Color {
        self.snapshot()
            .and_then(|s| s.stable())
            .map(Color::other)
            .unwrap_or(Color::Green)
    }

    /// The slider's weights: pending if the user moved it, else the observed ones.
    pub fn slider(&self) -> Option<Weights> {
        self.traffic.pending.or(self.observed())
    }

    /// Whether anything on screen animates (a spinner), so ticks must redraw.
    pub fn animating(&self) -> bool {
        let first_load = |loading: bool, has_data: bool| loading && !has_data;
        !self.busy.is_empty()
            || first_load(self.services.is_loading(), self.services.data.is_some())
            || first_load(self.builds.is_loading(), self.builds.data.is_some())
            || first_load(self.images.is_loading(), self.images.data.is_some())
            || first_load(self.logs.is_loading(), self.logs.data.is_some())
            || self.traffic.desired.is_some()
            || self
                .builds
                .data
                .as_ref()
                .and_then(|b| b.first())
                .is_some_and(|b| !b.status.is_done())
    }

    /// The age of the oldest data on screen, for the header.
    pub fn oldest_age(&self) -> Option<i64> {
        [
            self.services.age(self.now),
            self.builds.age(self.now),
            self.images.age(self.now),
            self.logs.age(self.now),
        ]
        .into_iter()
        .flatten()
        .max()
    }

    pub fn notify(&mut self, level: NoticeLevel, text: impl Into<String>) {
        self.notice = Some(Notice {
            level,
            text: text.into(),
            at: self.now,
        });
    }

    /// What the deploy picker offers: every tag of every image, newest image first.
    pub fn deploy_choices(&self) -> Vec<(&str, &Image)> {
        self.images
            .data
            .iter()
            .flatten()
            .flat_map(|i| i.tags.iter().map(move |t| (t.as_str(), i)))
            .collect()
    }

    /// The plans a release can be started by: the profile's default first, then the file's,
    /// then the built-in ones.
    pub fn plan_choices(&self) -> Vec<String> {
        let settings = &self.release_settings;
        let mut names: Vec<String> = settings.default_plan.iter().cloned().collect();
        for name in settings
            .plans
            .iter()
            .map(|p| p.name.clone())
            .chain(["default".to_string(), "all-at-once".to_string()])
        {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    pub fn is_local(&self) -> bool {
        matches!(self.info.kind, PlatformKind::Local { .. })
    }
}
