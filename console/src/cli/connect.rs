//! From the global flags to a platform: which file, which profile, which adapter, which access.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Global;
use crate::config::{self, ConfigFile, Target};
use crate::ops::{Access, Ops, operator_here};
use crate::platform::aws::{AwsOptions, AwsPlatform};
use crate::platform::{Platform, PlatformError};
use crate::rollout::{Operator, OperatorError};

/// The local platform's state directory when nothing else names one.
pub const DEFAULT_STATE_DIR: &str = ".bluegreen";

/// A connected platform and the session's access policy.
pub struct Connection {
    pub profile: String,
    pub ops: Ops,
    /// The configuration file in use, if any (the console's keymap file may be beside it).
    pub config_file: Option<PathBuf>,
    /// The profile's plans, gates and smoke checks.
    pub release: config::ReleaseSettings,
    /// The profile's guard, gates and probe (the defaults without a file).
    pub watch: crate::rollout::watch::WatchSettings,
    /// What the profile says each color is (AWS), for `adopt`'s checks.
    pub expected: Option<crate::rollout::PerColor<crate::rollout::drift::Expected>>,
}

/// What the flags and the configuration file select, before connecting.
#[derive(Debug)]
pub enum Selected {
    Local {
        profile: String,
        state_dir: PathBuf,
        read_only: bool,
        max_tasks: u32,
    },
    Aws {
        profile: String,
        cfg: Box<config::AwsProfile>,
        read_only: bool,
        max_tasks: u32,
    },
}

/// The configuration file in use: `--config`, else `./bluegreen.toml` if it exists.
/// `None`: no file, use the local platform.
pub fn config_path(global: &Global) -> Option<PathBuf> {
    config::in_use(global.config.as_deref())
}

/// The configuration file to read ([`config_path`]), parsed. `Ok(None)`: no file, use the
/// local platform.
pub fn config_file(global: &Global) -> anyhow::Result<Option<ConfigFile>> {
    match config_path(global) {
        Some(path) => Ok(Some(ConfigFile::load(&path)?)),
        None => Ok(None),
    }
}

/// The state directory: `--state-dir`/`BLUEGREEN_STATE_DIR`, the profile's, or the default.
pub fn state_dir(global: &Global, from_profile: Option<PathBuf>) -> PathBuf {
    global
        .state_dir
        .clone()
        .or(from_profile)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}

pub fn select(global: &Global) -> anyhow::Result<Selected> {
    let Some(file) = config_file(global)? else {
        if let Some(p) = &global.profile {
            anyhow::bail!(
                "--profile {p} given, but there is no {} here (use --config FILE, or `bluegreen init --from-terraform`)",
                config::DEFAULT_FILE
            );
        }
        return Ok(Selected::Local {
            profile: "local".into(),
            state_dir: state_dir(global, None),
            read_only: false,
            max_tasks: crate::rollout::limits::DEFAULT_MAX_TASKS,
        });
    };
    let profile = file.profile(global.profile.as_deref())?;
    Ok(match &profile.target {
        Target::Local(l) => {
            // A relative state_dir in the file is relative to the file.
            let from_file = l.state_dir.as_ref().map(|d| {
                if d.is_relative() {
                    file.path.parent().unwrap_or(Path::new(".")).join(d)
                } else {
                    d.clone()
                }
            });
            Selected::Local {
                profile: profile.name.clone(),
                state_dir: state_dir(global, from_file),
                read_only: profile.read_only,
                max_tasks: profile.max_tasks,
            }
        }
        Target::Aws(aws) => Selected::Aws {
            profile: profile.name.clone(),
            cfg: aws.clone(),
            read_only: profile.read_only,
            max_tasks: profile.max_tasks,
        },
    })
}

/// Connects to the selected platform.
pub async fn connect(global: &Global) -> anyhow::Result<Connection> {
    let selected = select(global)?;
    let expected = match &selected {
        Selected::Aws { cfg, .. } => Some(cfg.colors.map(|_, c| crate::rollout::drift::Expected {
            service: c.service.clone(),
            task_family: c.task_family.clone(),
        })),
        Selected::Local { .. } => None,
    };
    let named = global.as_name.as_deref();
    let (profile, platform, profile_read_only, max_tasks, operator): (
        String,
        Arc<dyn Platform>,
        bool,
        u32,
        Result<Operator, OperatorError>,
    ) = match selected {
        Selected::Local {
            profile,
            state_dir,
            read_only,
            max_tasks,
        } => {
            let platform = crate::platform::local::lifecycle::connect(&state_dir)
                .await
                .map_err(ConnectError)?;
            let operator = operator_here(named, None);
            (profile, platform, read_only, max_tasks, operator)
        }
        Selected::Aws {
            profile,
            cfg,
            read_only,
            max_tasks,
        } => {
            let opts = AwsOptions {
                aws_profile: global.aws_profile.clone(),
                region: global.region.clone(),
            };
            let platform = AwsPlatform::connect(&profile, &cfg, &opts)
                .await
                .map_err(ConnectError)?;
            // The caller identity is asked only when no name is given.
            let operator = match named {
                Some(_) => operator_here(named, None),
                None => {
                    let caller = platform.caller_name().await.map_err(ConnectError)?;
                    operator_here(None, Some(&caller))
                }
            };
            (profile, Arc::new(platform), read_only, max_tasks, operator)
        }
    };
    let access = Access {
        read_only: global.read_only,
        profile_read_only,
        armed: global.arm,
    };
    let (release, watch) = match config_file(global)? {
        Some(file) => {
            let p = file.profile(global.profile.as_deref())?;
            // The local daemon watches with the profile's guard whoever is connected: each
            // console hands it the profile's settings (a no-op on AWS, where the watcher
            // reads its own). Without a file the daemon keeps what it has.
            if let Err(e) = platform.configure_watch(&p.watch).await {
                tracing::warn!("the guard's settings were not handed to the platform: {e}");
            }
            (p.release.clone(), p.watch.clone())
        }
        None => (
            config::ReleaseSettings::default(),
            crate::rollout::watch::WatchSettings::default(),
        ),
    };
    Ok(Connection {
        profile,
        ops: Ops::new(platform, access)
            .with_max_tasks(max_tasks)
            .with_operator(operator?)
            .with_reason(global.reason.clone())
            .with_accept_unmeasured(global.accept_unmeasured),
        config_file: config_path(global),
        release,
        watch,
        expected,
    })
}

/// A platform error while connecting, kept typed so the exit code can be derived from it.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ConnectError(pub PlatformError);
