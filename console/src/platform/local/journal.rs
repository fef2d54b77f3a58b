//! The local journal: `<state_dir>/journal.jsonl`, owned by the daemon, append-only.
//!
//! - Each entry is one line written with one `write(2)` on a descriptor opened with
//!   `O_APPEND`, so concurrent appends never interleave and a crash can at worst leave a torn
//!   last line.
//! - A torn last line is skipped on read ([`journal::parse_lines`]), and the next append first
//!   ends it with a newline ([`journal::needs_newline`]), so the new entry is intact.
//! - Each append is followed by `fdatasync`: the journal is an audit trail, written at the
//!   rate people press keys (and a release's steps), so durability is worth its cost, which
//!   the `journal` bench measures.
//! - Reads are bounded: at most the last [`READ_WINDOW`] bytes of the file, and at most
//!   [`journal::MAX_ENTRIES`] entries.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::rollout::journal::{self, Entry, Query};

/// The most of the file's end a read looks at: about 30,000 entries.
pub const READ_WINDOW: u64 = 32 << 20;

/// The journal file and the lock that keeps this process's appends in order.
#[derive(Debug)]
pub struct JournalFile {
    path: PathBuf,
    lock: Mutex<()>,
}

impl JournalFile {
    pub fn new(path: PathBuf) -> Self {
        JournalFile {
            path,
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` as one line, ending a torn last line first, then syncs the data.
    pub fn append(&self, entry: &Entry) -> std::io::Result<()> {
        let line = journal::to_line(entry).map_err(std::io::Error::other)?;
        let _held = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)?;
        let len = file.metadata()?.len();
        let mut last = [0u8; 1];
        let last_byte = if len > 0 {
            file.read_exact_at(&mut last, len - 1)?;
            Some(last[0])
        } else {
            None
        };
        let mut buf = Vec::with_capacity(line.len() + 1);
        if journal::needs_newline(last_byte) {
            buf.push(b'\n');
        }
        buf.extend_from_slice(line.as_bytes());
        // One write(2) for a line (a regular file takes it whole); write_all only loops on
        // a short write, which would itself be a torn line the reader skips.
        file.write_all(&buf)?;
        file.sync_data()
    }

    /// The entries `q` asks for, and how many lines were skipped as damaged. A missing file
    /// is an empty journal.
    pub fn read(&self, q: &Query) -> std::io::Result<(Vec<Entry>, usize)> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        let start = len.saturating_sub(READ_WINDOW);
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::with_capacity((len - start) as usize);
        file.take(READ_WINDOW).read_to_end(&mut bytes)?;
        // Started mid-file: the first line is a fragment of an older entry.
        if start > 0 {
            let cut = bytes.iter().position(|b| *b == b'\n').map_or(0, |i| i + 1);
            bytes.drain(..cut);
        }
        let text = String::from_utf8_lossy(&bytes);
        let (entries, skipped) = journal::parse_lines(&text);
        Ok((journal::select(entries, q), skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Operator;

    fn entry(at: i64, verb: &str) -> Entry {
        let op = Operator::new("alice", "laptop").expect("valid");
        Entry::new(at, at as u64, op, verb)
    }

    #[test]
    fn a_torn_tail_is_skipped_and_the_next_append_is_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = JournalFile::new(dir.path().join("journal.jsonl"));
        j.append(&entry(1, "shift")).expect("append");
        // A crash mid-write: half a line, no newline.
        let torn = journal::to_line(&entry(2, "promote")).expect("json");
        let mut f = OpenOptions::new()
            .append(true)
            .open(j.path())
            .expect("open");
        f.write_all(&torn.as_bytes()[..torn.len() / 2])
            .expect("write");
        let (got, skipped) = j.read(&Query::latest(10)).expect("read");
        assert_eq!((got.len(), skipped), (1, 1));
        j.append(&entry(3, "rollback")).expect("append");
        let (got, skipped) = j.read(&Query::latest(10)).expect("read");
        assert_eq!(
            got.iter().map(|e| e.verb.as_str()).collect::<Vec<_>>(),
            ["shift", "rollback"]
        );
        assert_eq!(skipped, 1);
    }

    #[test]
    fn a_missing_file_is_an_empty_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = JournalFile::new(dir.path().join("journal.jsonl"));
        assert_eq!(j.read(&Query::latest(5)).expect("read"), (Vec::new(), 0));
    }
}
