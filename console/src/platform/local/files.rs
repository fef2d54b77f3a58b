//! How the local platform writes and reads the files it keeps in its state directory, in
//! the daemon and in the CLI alike.
//!
//! - Everything is private to its user: directories 0700, files 0600 (blobs 0700, they are
//!   executables). The modes are given when a file is created rather than left to the umask,
//!   because the CLI (`local up`, `local publish`, the demo) runs with the user's umask.
//! - A state file is replaced, never rewritten in place: the new content goes to a temporary
//!   file in the same directory, is synced, renamed over the old one, and the directory is
//!   synced. A crash leaves the old file or the new one, never a torn one.
//! - A state file that exists but cannot be parsed is an error naming the file, what is wrong
//!   and the way out; it is never read as empty, since an empty default silently forgets
//!   what the platform runs.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;
/// Registry blobs are the task executables.
pub const EXEC_MODE: u32 = 0o700;

/// Temporary files end in this; nothing reads them as state.
const TMP_SUFFIX: &str = ".tmp";

#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    // The causes are fields, not `source`s: the message already says them, and a cause
    // chain (`{:#}`) would say them a second time.
    #[error("cannot read {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is damaged ({error}), so it was left as it is: {way_out}")]
    Damaged {
        path: PathBuf,
        error: serde_json::Error,
        way_out: String,
    },
}

/// Creates `dir` and any missing parents, each 0700.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

/// Options that create a missing file 0600 (the caller picks read, write or append).
pub fn private_file() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.create(true).mode(FILE_MODE);
    o
}

/// Replaces `path` with `bytes` atomically; the file is 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, FILE_MODE, |f| f.write_all(bytes))
}

/// Replaces `path` with `value` as pretty JSON, atomically.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    write_atomic(path, &json)
}

/// Replaces `path` with what `fill` writes, atomically, as a file with `mode`. On failure
/// the old file is untouched and the temporary file removed.
pub fn write_atomic_with(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let (dir, name) = split(path)?;
    let tmp = dir.join(tmp_name(name));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        fill(&mut f)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is durable once the directory entry is.
    File::open(dir)?.sync_all()?;
    sweep(dir, name);
    Ok(())
}

/// The parsed content of `path`, or `None` when there is none. `way_out` tells the reader
/// what to do when the file is damaged, and what that costs.
pub fn read_json<T: DeserializeOwned>(
    path: &Path,
    way_out: impl FnOnce() -> String,
) -> Result<Option<T>, StateFileError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(StateFileError::Io {
                path: path.to_path_buf(),
                error,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|error| StateFileError::Damaged {
            path: path.to_path_buf(),
            error,
            way_out: way_out(),
        })
}

/// The usual first step of a way out: ``move it aside (`mv FILE FILE.bad`)``.
pub fn move_aside(path: &Path) -> String {
    let p = path.display();
    format!("move it aside (`mv {p} {p}.bad`)")
}

fn split(path: &Path) -> std::io::Result<(&Path, &str)> {
    let bad = || std::io::Error::other(format!("{} is not a file path", path.display()));
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(bad)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Ok((dir, name))
}

/// `.NAME.PID.SEQ.tmp`: unique per write, so concurrent writers of one file (in this process
/// or another) never share a temporary file; the pid tells whose it is.
fn tmp_name(name: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!(".{name}.{}.{seq}{TMP_SUFFIX}", std::process::id())
}

/// Removes temporary files of `name` left by writers that died before their rename. Those of
/// live processes may still be renamed, so they stay.
fn sweep(dir: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix)?.strip_suffix(TMP_SUFFIX))
            .and_then(|rest| rest.split('.').next()?.parse::<i32>().ok())
        else {
            continue;
        };
        let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
            == Err(nix::errno::Errno::ESRCH);
        if gone {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    /// A pid above Linux's `pid_max` limit (2^22): no process has it.
    const DEAD_PID: u32 = 4_194_305;

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Every directory under `root` (and `root`) is 0700 and every file 0600, blobs 0700;
    /// sockets are skipped (the daemon makes them 0600 itself).
    pub(crate) fn assert_private(root: &Path) {
        use std::os::unix::fs::FileTypeExt;
        let meta = fs::symlink_metadata(root).expect("exists");
        let mode = meta.mode() & 0o777;
        if meta.is_dir() {
            assert_eq!(mode, DIR_MODE, "{} is {mode:o}", root.display());
            for entry in fs::read_dir(root).expect("dir").flatten() {
                assert_private(&entry.path());
            }
        } else if !meta.file_type().is_socket() {
            let in_blobs = root
                .parent()
                .is_some_and(|p| p.file_name().is_some_and(|n| n == "blobs"));
            let want = if in_blobs { EXEC_MODE } else { FILE_MODE };
            assert_eq!(mode, want, "{} is {mode:o}", root.display());
        }
    }

    /// `err` says that `path` is damaged, with `why` among the reasons, and offers to move
    /// it aside.
    pub(crate) fn assert_damaged(err: &str, path: &Path, why: &str) {
        let p = path.display();
        assert!(err.starts_with(&format!("{p} is damaged (")), "{err}");
        assert!(err.contains(why), "{why:?} is not in: {err}");
        assert!(err.contains(&format!("`mv {p} {p}.bad`")), "{err}");
    }

    #[test]
    fn a_write_replaces_the_file_through_a_private_temporary_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        fs::write(&path, "old").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        // A reader that opened the old file (here: a second link to it) keeps the old
        // content: the new one is a new file renamed into place, not a rewrite.
        let held = dir.path().join("held");
        fs::hard_link(&path, &held).expect("link");
        let before = fs::metadata(&path).expect("meta").ino();
        write_atomic(&path, b"new").expect("write");
        assert_eq!(fs::read_to_string(&path).expect("read"), "new");
        assert_eq!(fs::read_to_string(&held).expect("read"), "old");
        assert_ne!(fs::metadata(&path).expect("meta").ino(), before);
        assert_eq!(fs::metadata(&path).expect("meta").mode() & 0o777, FILE_MODE);
        assert_eq!(listing(dir.path()), vec!["held", "state.json"]);
    }

    #[test]
    fn a_write_that_fails_before_its_rename_leaves_the_old_file_and_no_temporary_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tags.json");
        fs::write(&path, "old").expect("write");
        let err = write_atomic_with(&path, FILE_MODE, |f| {
            f.write_all(b"half")?;
            Err(std::io::Error::other("disk full"))
        })
        .expect_err("interrupted");
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(fs::read_to_string(&path).expect("read"), "old");
        assert_eq!(listing(dir.path()), vec!["tags.json"]);
    }

    #[test]
    fn a_temporary_file_left_by_a_dead_writer_is_ignored_then_swept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tasks.json");
        write_json(&path, &[1u32, 2]).expect("write");
        // A daemon killed between its write and its rename.
        let stray = dir.path().join(format!(".tasks.json.{DEAD_PID}.0.tmp"));
        fs::write(&stray, "[3, 4").expect("stray");
        // Another file's temporary file, and one of a live writer (us), are not ours to sweep.
        let other = dir.path().join(format!(".tags.json.{DEAD_PID}.0.tmp"));
        fs::write(&other, "{").expect("other");
        let live = dir
            .path()
            .join(format!(".tasks.json.{}.999.tmp", std::process::id()));
        fs::write(&live, "[").expect("live");
        let read: Option<Vec<u32>> = read_json(&path, String::new).expect("readable");
        assert_eq!(read, Some(vec![1, 2]));
        write_json(&path, &[5u32]).expect("write");
        assert!(!stray.exists(), "swept");
        assert!(other.exists() && live.exists());
        let read: Option<Vec<u32>> = read_json(&path, String::new).expect("readable");
        assert_eq!(read, Some(vec![5]));
    }

    #[test]
    fn a_missing_file_is_none_and_a_damaged_one_an_error_with_its_way_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.json");
        let none: Option<u32> = read_json(&path, String::new).expect("missing");
        assert_eq!(none, None);
        fs::write(&path, "{\n  \"a\": ").expect("torn");
        let err = read_json::<serde_json::Value>(&path, || move_aside(&path)).expect_err("damaged");
        let msg = err.to_string();
        assert_damaged(&msg, &path, "line 2 column");
        assert!(
            msg.ends_with(".bad`)"),
            "the way out closes the message: {msg}"
        );
    }

    #[test]
    fn private_dirs_and_files_ignore_the_umask() {
        let dir = tempfile::tempdir().expect("tempdir");
        let deep = dir.path().join("a").join("b");
        create_private_dir(&deep).expect("mkdir");
        let log = deep.join("x.log");
        private_file().append(true).open(&log).expect("open");
        assert_private(&dir.path().join("a"));
    }
}
