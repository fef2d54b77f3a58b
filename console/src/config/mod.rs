//! `bluegreen.toml`: named profiles (environments), each either the AWS stack or the local
//! platform. Unknown keys and missing fields are errors that name the file, the line and the
//! key.
//!
//! ```toml
//! default_profile = "prod"
//!
//! [profiles.prod]
//! region = "us-east-1"
//! aws_profile = "ops"
//! read_only = true
//! cluster = "blog"
//! load_balancer = "arn:aws:elasticloadbalancing:…:loadbalancer/app/blog/…"
//! prod_listener = "arn:aws:elasticloadbalancing:…:listener/app/blog/…"   # or "blog-alb:80"
//! test_listener = "arn:aws:elasticloadbalancing:…"                        # optional
//! codebuild_project = "blog"
//! ecr_repository = "blog"
//! call_timeout = 20        # optional: seconds per API call attempt
//! max_tasks = 40           # optional: tasks per color a scale may ask for (default 20)
//! journal_table = "blog-journal"   # optional: the journal table (Terraform journal_table_name)
//!
//! [profiles.prod.blue]
//! service = "blog-blue"
//! task_family = "blog-blue"
//! target_group = "arn:aws:elasticloadbalancing:…:targetgroup/blog-blue/…"
//! log_group = "/ecs/blog"
//! log_stream_prefix = "blue"
//!
//! [profiles.prod.green]   # same keys
//!
//! [profiles.dev]
//! platform = "local"
//! state_dir = ".bluegreen"   # optional
//! ```

use std::path::{Path, PathBuf};

use crate::rollout::PerColor;

mod plans;
mod raw;
pub mod smoke;
mod watch;
pub use crate::rollout::resolve::ReleaseSettings;
pub(crate) use raw::Lines;
pub use smoke::SmokeFrom;
pub mod terraform;

/// The file name looked for when `--config` is not given.
pub const DEFAULT_FILE: &str = "bluegreen.toml";

/// The configuration file in use: `explicit` (`--config`), else `./bluegreen.toml` if it
/// exists. `None`: no file.
pub fn in_use(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(path) => Some(path.to_path_buf()),
        None => {
            let path = Path::new(DEFAULT_FILE);
            path.exists().then(|| path.to_path_buf())
        }
    }
}

/// A configuration file's text (the keymap file's too).
pub(crate) fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A problem with a configuration file, naming the file and, where it can, the line and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Profile { path: PathBuf, message: String },
}

/// A parsed and validated `bluegreen.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub default_profile: Option<String>,
    /// In file order.
    pub profiles: Vec<Profile>,
}

/// One environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    /// Writes need `--arm` (or `:arm` in the console).
    pub read_only: bool,
    /// Tasks per color a scale or deploy may ask for (`max_tasks`, default 20, at most 1,000).
    pub max_tasks: u32,
    pub target: Target,
    /// Plans, gates, smoke checks ([`plans`]).
    pub release: ReleaseSettings,
    /// The guard and the probe, with the profile's gates ([`watch`]).
    pub watch: crate::rollout::watch::WatchSettings,
}

/// Which platform a profile drives.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Local(LocalProfile),
    Aws(Box<AwsProfile>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LocalProfile {
    /// `None`: `--state-dir`, `BLUEGREEN_STATE_DIR`, or `./.bluegreen/`.
    pub state_dir: Option<PathBuf>,
}

/// Everything the AWS adapter needs to find the stack.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsProfile {
    pub region: Option<String>,
    pub aws_profile: Option<String>,
    pub cluster: String,
    /// The load balancer's ARN or name; needed when a listener is given as `NAME:PORT`.
    pub load_balancer: Option<String>,
    pub prod_listener: ListenerRef,
    pub test_listener: Option<ListenerRef>,
    pub codebuild_project: String,
    pub ecr_repository: String,
    /// The container whose image a deploy replaces; by default the only container, or the
    /// one whose image is in `ecr_repository`.
    pub container: Option<String>,
    /// How long one attempt of an API call may take before the SDK retries it (`call_timeout`,
    /// seconds); 20 s when not set.
    pub call_timeout: Option<std::time::Duration>,
    pub colors: PerColor<ColorResources>,
    /// The journal's DynamoDB table (`journal_table`, the Terraform output
    /// `journal_table_name`); without it writes are not journaled, with a warning.
    pub journal_table: Option<String>,
    /// The DynamoDB table of the deploy lock (`lock_table`, Terraform's `lock_table_name`).
    /// Without it, writes are refused (rollback excepted) with the way to add it.
    pub lock_table: Option<String>,
    /// Where a release's smoke checks run (`[profiles.X.smoke]`, key `from`).
    pub smoke_from: SmokeFrom,
}

/// A listener by ARN, or by load balancer name and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerRef {
    Arn(String),
    Port { load_balancer: String, port: u16 },
}

impl ListenerRef {
    /// Parses `arn:…` or `NAME:PORT`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.starts_with("arn:") {
            return Ok(ListenerRef::Arn(s.to_string()));
        }
        let (lb, port) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("`{s}` is neither a listener ARN nor LOAD_BALANCER:PORT"))?;
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("`{port}` in `{s}` is not a port number"))?;
        if lb.is_empty() {
            return Err(format!("`{s}` names no load balancer before the port"));
        }
        Ok(ListenerRef::Port {
            load_balancer: lb.to_string(),
            port,
        })
    }
}

impl std::fmt::Display for ListenerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenerRef::Arn(a) => f.write_str(a),
            ListenerRef::Port {
                load_balancer,
                port,
            } => write!(f, "{load_balancer}:{port}"),
        }
    }
}

/// One color's AWS resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColorResources {
    pub service: String,
    pub task_family: String,
    pub target_group: String,
    pub log_group: String,
    pub log_stream_prefix: String,
}

impl ConfigFile {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::parse(path, &read(path)?)
    }

    /// Validates `text` as the contents of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        raw::parse(path, text)
    }

    /// The profile to use: `name` if given, else `default_profile`, else the only profile.
    pub fn profile(&self, name: Option<&str>) -> Result<&Profile, ConfigError> {
        let names = || {
            self.profiles
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let wanted = name.or(self.default_profile.as_deref());
        match wanted {
            Some(n) => {
                self.profiles
                    .iter()
                    .find(|p| p.name == n)
                    .ok_or_else(|| ConfigError::Profile {
                        path: self.path.clone(),
                        message: format!("no profile `{n}` (profiles: {})", names()),
                    })
            }
            None => match self.profiles.as_slice() {
                [only] => Ok(only),
                [] => Err(ConfigError::Profile {
                    path: self.path.clone(),
                    message: "no profiles defined: add a [profiles.NAME] table".into(),
                }),
                _ => Err(ConfigError::Profile {
                    path: self.path.clone(),
                    message: format!(
                        "several profiles and no default_profile: pick one with --profile ({})",
                        names()
                    ),
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests;
