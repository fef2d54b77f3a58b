//! What the daemon keeps across restarts: the rollout (weights, stable color, bake, test
//! listener), both services (desired count, deployed release) and its own settings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::platform::local::files::{self, StateFileError};
use crate::platform::local::supervisor::{ServiceSpec, SupervisorConfig};
use crate::rollout::limits::{
    LOCAL_MAX_DELAY_MS, LOCAL_MIN_HEALTH_INTERVAL_MS, MAX_HEALTH_THRESHOLD,
};
use crate::rollout::lock::LockRecord;
use crate::rollout::watch::{GuardAction, Unguarded, WatchSettings};
use crate::rollout::{Bake, Color, InjectedFault, PerColor, Release, Weights, Written};

pub const STATE_VERSION: u32 = 1;

/// The daemon's settings; flags given to `local up` win over the saved ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonConfig {
    pub port: u16,
    pub test_port: u16,
    pub health_interval_ms: u64,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub deregistration_delay_ms: u64,
    pub stop_timeout_ms: u64,
    /// The repository the build runner builds.
    pub source_dir: Option<PathBuf>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        let s = SupervisorConfig::default();
        DaemonConfig {
            port: 8080,
            test_port: 8081,
            health_interval_ms: s.health_interval.as_millis() as u64,
            healthy_threshold: s.healthy_threshold,
            unhealthy_threshold: s.unhealthy_threshold,
            deregistration_delay_ms: s.deregistration_delay.as_millis() as u64,
            stop_timeout_ms: s.stop_timeout.as_millis() as u64,
            source_dir: None,
        }
    }
}

impl DaemonConfig {
    pub fn supervisor(&self) -> SupervisorConfig {
        // The flags are bounded when parsed; a state.json edited by hand is held to the same.
        let ms = |v: u64, min: u64| Duration::from_millis(v.clamp(min, LOCAL_MAX_DELAY_MS));
        let checks = |v: u32| v.clamp(1, MAX_HEALTH_THRESHOLD);
        SupervisorConfig {
            health_interval: ms(self.health_interval_ms, LOCAL_MIN_HEALTH_INTERVAL_MS),
            healthy_threshold: checks(self.healthy_threshold),
            unhealthy_threshold: checks(self.unhealthy_threshold),
            deregistration_delay: ms(self.deregistration_delay_ms, 0),
            stop_timeout: ms(self.stop_timeout_ms, 0),
            ..SupervisorConfig::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Persisted {
    pub v: u32,
    pub weights: Weights,
    pub stable: Option<Color>,
    pub bake: Option<Bake>,
    pub test_color: Option<Color>,
    #[serde(default)]
    pub services: PerColor<ServiceSpec>,
    #[serde(default)]
    pub config: DaemonConfig,
    /// The release a plan drives (or the last that ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<Release>,
    /// The faults the proxy injects (`local fault`), so a restart keeps them with their end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<InjectedFault>,
    /// The weights a console last wrote, to tell drift from the console's own changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<Written>,
    /// What a console last set on each color's service (drift is any other count or
    /// revision).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub written_services: Vec<crate::rollout::WrittenService>,
    /// The deploy lock, so a restart (planned or not) keeps its holder and lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockRecord>,
    /// The profile's guard, gates and probe, as a console last handed them over (the
    /// defaults until one does): the daemon watches with them whoever is connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<WatchSettings>,
    /// A shift made unguarded (`shift --unguarded --reason`), while its weights hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unguarded: Option<Unguarded>,
    /// What the guard did last, so a restart still shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard_action: Option<GuardAction>,
}

impl Default for Persisted {
    fn default() -> Self {
        Persisted {
            v: STATE_VERSION,
            weights: Weights::all(Color::Blue),
            stable: None,
            bake: None,
            test_color: Some(Color::Green),
            services: PerColor::default(),
            config: DaemonConfig::default(),
            release: None,
            faults: Vec::new(),
            written: None,
            written_services: Vec::new(),
            lock: None,
            watch: None,
            unguarded: None,
            guard_action: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    File(#[from] StateFileError),
    #[error(
        "{path} was written by a newer bluegreen (state version {found}; this one reads {STATE_VERSION})"
    )]
    TooNew { path: PathBuf, found: u32 },
}

/// The saved state, or `None` for a fresh state directory.
pub fn load(path: &Path) -> Result<Option<Persisted>, StateError> {
    let Some(state) = files::read_json::<Persisted>(path, || way_out(path))? else {
        return Ok(None);
    };
    if state.v > STATE_VERSION {
        return Err(StateError::TooNew {
            path: path.to_path_buf(),
            found: state.v,
        });
    }
    Ok(Some(state))
}

/// What it takes to start without a damaged state file, and what is lost.
fn way_out(path: &Path) -> String {
    format!(
        "it holds the traffic weights, the stable color, what each color runs and the daemon's settings; to start over, {} and run `bluegreen local up` again: the daemon then starts with nothing deployed and its default settings (the images in the registry are kept; deploy them again)",
        files::move_aside(path)
    )
}

/// Writes the state atomically (a crash leaves the old file or the new one, never half).
pub fn save(path: &Path, state: &Persisted) -> std::io::Result<()> {
    files::write_json(path, state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::local::files::tests::assert_damaged;

    #[test]
    fn round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        assert!(load(&path).expect("fresh").is_none());
        let s = Persisted {
            stable: Some(Color::Green),
            weights: Weights::all(Color::Green),
            faults: vec![InjectedFault {
                color: Color::Green,
                error_rate: crate::rollout::Share::permille(205).expect("valid"),
                latency_ms: 500,
                until: Some(1_000),
            }],
            lock: Some(LockRecord {
                holder: crate::rollout::Operator::new("alice", "laptop").expect("valid"),
                hold: crate::rollout::lock::Hold::Explicit,
                purpose: "lock take".into(),
                reason: Some("migration".into()),
                since: 1,
                renewed: 1,
                expires: 2,
                token: "t".into(),
                taken_over_from: None,
                handed_over_from: None,
            }),
            ..Persisted::default()
        };
        save(&path, &s).expect("save");
        assert_eq!(load(&path).expect("load"), Some(s));
        std::fs::write(&path, "{not json").expect("write");
        let err = load(&path).expect_err("damaged").to_string();
        assert_damaged(&err, &path, "(key must be a string at line 1 column 2)");
        assert!(err.contains("starts with nothing deployed"), "{err}");
    }

    #[test]
    fn a_release_whose_digest_is_a_path_is_refused_naming_the_value_and_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let good = format!("sha256:{}", "ab".repeat(32));
        let mut s = Persisted::default();
        s.services.get_mut(Color::Blue).release =
            Some(crate::platform::local::supervisor::Release {
                tag: "v1".into(),
                digest: good.parse().expect("digest"),
                revision: 1,
            });
        save(&path, &s).expect("save");
        assert_eq!(load(&path).expect("load"), Some(s));
        let saved = std::fs::read_to_string(&path).expect("read");
        for bad in [
            "../../../../bin/sh",
            "sha256:abab",
            &good.to_uppercase(),
            &good[7..],
        ] {
            std::fs::write(&path, saved.replace(&good, bad)).expect("write");
            let err = load(&path).expect_err(bad).to_string();
            assert_damaged(&err, &path, &format!("{bad:?} is not an image digest"));
        }
    }
}
