//! Build records: `<state>/builds/<n>.json` beside `<n>.log`, numbered under a lock so the
//! daemon and an in-process build (the demo's) never take the same number.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::rollout::{Build, BuildStatus};

#[derive(Debug, Clone)]
pub struct BuildStore {
    dir: PathBuf,
}

impl BuildStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        BuildStore { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_path(&self, number: u64) -> PathBuf {
        self.dir.join(format!("{number}.log"))
    }

    /// A scratch directory for one build (its worktree and shell state).
    pub fn work_dir(&self, number: u64) -> PathBuf {
        self.dir.join(format!("{number}.work"))
    }

    /// The next build number.
    pub fn allocate(&self) -> std::io::Result<u64> {
        fs::create_dir_all(&self.dir)?;
        let lock = File::create(self.dir.join("counter.lock"))?;
        let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| std::io::Error::from(e))?;
        let counter = self.dir.join("counter");
        let last: u64 = fs::read_to_string(&counter)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let next = last + 1;
        fs::write(&counter, next.to_string())?;
        Ok(next)
    }

    pub fn save(&self, build: &Build) -> std::io::Result<()> {
        let number = build.number.unwrap_or(0);
        let path = self.dir.join(format!("{number}.json"));
        let tmp = self.dir.join(format!(".{number}.json.tmp"));
        let json = serde_json::to_vec_pretty(build).map_err(std::io::Error::other)?;
        let mut f = File::create(&tmp)?;
        f.write_all(&json)?;
        fs::rename(tmp, path)
    }

    /// Records that this process runs build `number`, so a build whose runner died (a
    /// killed demo, a crashed daemon) is reported as such instead of running forever.
    pub fn claim(&self, number: u64) -> std::io::Result<()> {
        let pid = std::process::id();
        fs::write(
            self.owner_path(number),
            format!("{pid} {}", start_time(pid).unwrap_or(0)),
        )
    }

    fn owner_path(&self, number: u64) -> PathBuf {
        self.dir.join(format!("{number}.owner"))
    }

    /// Whether the process that claimed build `number` still runs (the start time guards
    /// against a reused pid). Unknown owners count as alive.
    fn owner_alive(&self, number: u64) -> Option<(bool, u32)> {
        let text = fs::read_to_string(self.owner_path(number)).ok()?;
        let mut it = text.split_whitespace();
        let pid: u32 = it.next()?.parse().ok()?;
        let started: u64 = it.next()?.parse().ok()?;
        Some((start_time(pid) == Some(started), pid))
    }

    /// Marks an in-progress build whose runner is gone as faulted.
    fn settle_orphan(&self, build: &mut Build) {
        let Some(number) = build.number else { return };
        if build.status.is_done() {
            return;
        }
        let Some((false, pid)) = self.owner_alive(number) else {
            return;
        };
        let now = crate::clock::now_millis();
        let why = format!(
            "the bluegreen process running this build (pid {pid}) exited before it finished"
        );
        for p in build.phases.iter_mut().filter(|p| !p.status.is_done()) {
            p.status = BuildStatus::Fault;
            p.ended_at = Some(now);
            p.context.push(why.clone());
        }
        build.status = BuildStatus::Fault;
        build.ended_at = Some(now);
        if let Err(e) = self.save(build) {
            tracing::warn!("cannot save build record {}: {e}", build.id);
        }
    }

    /// The latest builds, newest first. Unreadable records are skipped with a warning.
    pub fn list(&self, limit: usize) -> std::io::Result<Vec<Build>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut numbered: Vec<(u64, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let path = e.path();
                let n: u64 = path
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".json")?
                    .parse()
                    .ok()?;
                Some((n, path))
            })
            .collect();
        numbered.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
        let mut out = Vec::new();
        for (_, path) in numbered.into_iter().take(limit) {
            match fs::read(&path).map(|b| serde_json::from_slice::<Build>(&b)) {
                Ok(Ok(mut b)) => {
                    self.settle_orphan(&mut b);
                    out.push(b)
                }
                Ok(Err(e)) => {
                    tracing::warn!("skipping unreadable build record {}: {e}", path.display())
                }
                Err(e) => tracing::warn!("skipping build record {}: {e}", path.display()),
            }
        }
        Ok(out)
    }

    #[cfg(test)]
    pub fn get(&self, number: u64) -> Option<Build> {
        let bytes = fs::read(self.dir.join(format!("{number}.json"))).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// A process's start time in clock ticks since boot (field 22 of `/proc/PID/stat`).
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields resume after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::BuildPhase;

    #[test]
    fn a_build_whose_runner_died_is_reported_as_faulted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BuildStore::new(dir.path());
        let n = store.allocate().expect("number");
        let build = Build {
            id: format!("blog-local:{n}"),
            number: Some(n),
            status: BuildStatus::InProgress,
            source_version: None,
            resolved_source: None,
            started_at: Some(1),
            ended_at: None,
            phases: vec![BuildPhase {
                name: "BUILD".into(),
                status: BuildStatus::InProgress,
                started_at: Some(1),
                ended_at: None,
                duration_ms: None,
                context: vec![],
            }],
            log_location: None,
            exported: vec![],
        };
        store.save(&build).expect("save");
        store.claim(n).expect("claim");
        assert_eq!(
            store.list(5).expect("list")[0].status,
            BuildStatus::InProgress,
            "we run it"
        );
        // A runner that is gone: no process has this pid.
        fs::write(store.owner_path(n), "4294967295 1").expect("write");
        let listed = &store.list(5).expect("list")[0];
        assert_eq!(listed.status, BuildStatus::Fault);
        assert!(listed.phases[0].context[0].contains("exited before it finished"));
        assert_eq!(store.get(n).expect("saved").status, BuildStatus::Fault);
    }
}
