//! Build records: `<state>/builds/<n>.json` beside `<n>.log`, numbered under a lock so the
//! daemon and an in-process build (the demo's) never take the same number.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::rollout::Build;

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
                Ok(Ok(b)) => out.push(b),
                Ok(Err(e)) => {
                    tracing::warn!("skipping unreadable build record {}: {e}", path.display())
                }
                Err(e) => tracing::warn!("skipping build record {}: {e}", path.display()),
            }
        }
        Ok(out)
    }

    pub fn get(&self, number: u64) -> Option<Build> {
        let bytes = fs::read(self.dir.join(format!("{number}.json"))).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}
