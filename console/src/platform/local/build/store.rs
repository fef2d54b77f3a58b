//! Build records: `<state>/builds/<n>.json` beside `<n>.log`, numbered under a lock so the
//! daemon and an in-process build (the demo's) never take the same number.

use std::fs;
use std::path::{Path, PathBuf};

use crate::platform::local::files::{self, StateFileError};
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

    fn record_path(&self, number: u64) -> PathBuf {
        self.dir.join(format!("{number}.json"))
    }

    /// The next build number. A missing counter continues after the highest record, so
    /// moving a damaged counter aside never reuses the number of a kept build.
    pub fn allocate(&self) -> std::io::Result<u64> {
        // The demo builds in the CLI process, with the user's umask: the modes are explicit.
        files::create_private_dir(&self.dir)?;
        let lock = files::private_file()
            .write(true)
            .truncate(false)
            .open(self.dir.join("counter.lock"))?;
        let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| std::io::Error::from(e))?;
        let counter = self.dir.join("counter");
        let saved: Option<u64> = files::read_json(&counter, || {
            format!(
                "it holds the last build number; {} and build again: numbering then continues after the highest build record in {}",
                files::move_aside(&counter),
                self.dir.display()
            )
        })
        .map_err(std::io::Error::other)?;
        let last = match saved {
            Some(n) => n,
            None => self.numbered_records()?.first().map_or(0, |(n, _)| *n),
        };
        let next = last + 1;
        files::write_json(&counter, &next)?;
        Ok(next)
    }

    pub fn save(&self, build: &Build) -> std::io::Result<()> {
        files::write_json(&self.record_path(build.number.unwrap_or(0)), build)
    }

    /// Records that this process runs build `number`, so a build whose runner died (a
    /// killed demo, a crashed daemon) is reported as such instead of running forever.
    pub fn claim(&self, number: u64) -> std::io::Result<()> {
        let pid = std::process::id();
        let owner = format!("{pid} {}", start_time(pid).unwrap_or(0));
        files::write_atomic(&self.owner_path(number), owner.as_bytes())
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

    /// Every build record's number and path, highest first.
    fn numbered_records(&self) -> std::io::Result<Vec<(u64, PathBuf)>> {
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
        Ok(numbered)
    }

    /// The latest builds, newest first. A damaged record is an error naming it: skipped, the
    /// build would silently vanish from the history.
    pub fn list(&self, limit: usize) -> Result<Vec<Build>, StateFileError> {
        let numbered = self
            .numbered_records()
            .map_err(|error| StateFileError::Io {
                path: self.dir.clone(),
                error,
            })?;
        let mut out = Vec::new();
        for (n, _) in numbered.into_iter().take(limit) {
            if let Some(mut b) = self.read(n)? {
                self.settle_orphan(&mut b);
                out.push(b);
            }
        }
        Ok(out)
    }

    /// Build `number`'s record, if there is one.
    fn read(&self, number: u64) -> Result<Option<Build>, StateFileError> {
        let path = self.record_path(number);
        files::read_json(&path, || {
            format!(
                "it records build {number}; {} to list the other builds again: build {number} is then no longer listed (its log {} stays)",
                files::move_aside(&path),
                self.log_path(number).display()
            )
        })
    }

    #[cfg(test)]
    pub fn get(&self, number: u64) -> Option<Build> {
        self.read(number).ok().flatten()
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
    use crate::platform::local::files::tests::{assert_damaged, assert_private};
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

    fn record(n: u64) -> Build {
        Build {
            id: format!("blog-local:{n}"),
            number: Some(n),
            status: BuildStatus::Succeeded,
            source_version: None,
            resolved_source: None,
            started_at: Some(1),
            ended_at: Some(2),
            phases: vec![],
            log_location: None,
            exported: vec![],
        }
    }

    #[test]
    fn a_damaged_build_record_is_an_error_naming_it_not_a_gap_in_the_history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BuildStore::new(dir.path());
        for _ in 0..3 {
            let n = store.allocate().expect("number");
            store.save(&record(n)).expect("save");
        }
        fs::write(store.record_path(2), "{\"id\": \"blog-local:2\",").expect("torn");
        let err = store.list(5).expect_err("damaged").to_string();
        let p = store.record_path(2);
        assert_damaged(&err, &p, "build 2 is then no longer listed");
        fs::rename(&p, dir.path().join("2.json.bad")).expect("mv");
        let listed: Vec<_> = store
            .list(5)
            .expect("list")
            .iter()
            .map(|b| b.number)
            .collect();
        assert_eq!(listed, vec![Some(3), Some(1)]);
    }

    #[test]
    fn a_damaged_counter_is_an_error_and_a_missing_one_never_reuses_a_number() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BuildStore::new(dir.path().join("builds"));
        for _ in 0..2 {
            let n = store.allocate().expect("number");
            store.save(&record(n)).expect("save");
        }
        let counter = store.dir().join("counter");
        fs::write(&counter, "").expect("torn");
        let err = store.allocate().expect_err("damaged").to_string();
        assert_damaged(&err, &counter, "the highest build record");
        fs::remove_file(&counter).expect("rm");
        assert_eq!(
            store.allocate().expect("number"),
            3,
            "after the highest record"
        );
        assert_private(store.dir());
    }
}
