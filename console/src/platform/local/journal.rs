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
//! - Reads are bounded: at most the last [`READ_WINDOW`] bytes of the file, read a line at a
//!   time, keeping only the newest entries the query wants (at most
//!   [`journal::MAX_ENTRIES`]): a read's memory is its answer's, not the file's. At most
//!   [`READERS`] read at once; the others wait their turn.
//! - Only a regular file is a journal: anything else in its place (a FIFO, a device) is
//!   refused at once rather than waited on.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use crate::rollout::journal::{self, Entry, Query};

/// The most of the file's end a read looks at: about 30,000 entries.
pub const READ_WINDOW: u64 = 32 << 20;
/// Reads served at once.
pub const READERS: usize = 2;

/// The journal file and the lock that keeps this process's appends in order.
#[derive(Debug)]
pub struct JournalFile {
    path: PathBuf,
    lock: Mutex<()>,
    /// Reads in progress, at most [`READERS`].
    reading: Mutex<usize>,
    turn: Condvar,
}

/// One of the [`READERS`] read turns, given back on drop.
struct ReadTurn<'a>(&'a JournalFile);

impl Drop for ReadTurn<'_> {
    fn drop(&mut self) {
        *self.0.reading.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        self.0.turn.notify_one();
    }
}

/// Opens the journal for reading or appending, refusing anything but a regular file: a FIFO
/// in its place would block the open (and the reply) until someone writes to it.
fn open_regular(path: &Path, options: &mut OpenOptions) -> std::io::Result<File> {
    let file = options
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOFOLLOW)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} is not a regular file ({}): it is not read or written; move it aside (`mv {} {}.aside`) and the next entry starts a new journal",
                path.display(),
                kind_of(&meta),
                path.display(),
                path.display()
            ),
        ));
    }
    Ok(file)
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a file"
    }
}

/// An entry ordered by id, for the heap of the newest ones.
struct ById(Entry);

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}
impl Eq for ById {}
impl PartialOrd for ById {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ById {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.id.cmp(&other.0.id)
    }
}

impl JournalFile {
    pub fn new(path: PathBuf) -> Self {
        JournalFile {
            path,
            lock: Mutex::new(()),
            reading: Mutex::new(0),
            turn: Condvar::new(),
        }
    }

    /// Waits for one of the [`READERS`] turns.
    fn read_turn(&self) -> ReadTurn<'_> {
        let mut n = self.reading.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= READERS {
            n = self.turn.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        ReadTurn(self)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` as one line, ending a torn last line first, then syncs the data.
    pub fn append(&self, entry: &Entry) -> std::io::Result<()> {
        let line = journal::to_line(entry).map_err(std::io::Error::other)?;
        let _held = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut file = open_regular(
            &self.path,
            OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .mode(0o600),
        )?;
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
    /// is an empty journal. The window is read a line at a time; only the newest `q.limit`
    /// matching entries are kept.
    pub fn read(&self, q: &Query) -> std::io::Result<(Vec<Entry>, usize)> {
        let _turn = self.read_turn();
        let mut file = match open_regular(&self.path, OpenOptions::new().read(true)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        let start = len.saturating_sub(READ_WINDOW);
        file.seek(SeekFrom::Start(start))?;
        let mut reader = BufReader::with_capacity(64 * 1024, file.take(len - start));
        let limit = q.limit.clamp(1, journal::MAX_ENTRIES);
        let mut newest: BinaryHeap<Reverse<ById>> = BinaryHeap::with_capacity(limit.min(1024));
        let mut line = Vec::new();
        let mut skipped = 0;
        // Started mid-file: the first line is a fragment of an older entry.
        let mut fragment = start > 0;
        loop {
            line.clear();
            let n = read_line_bounded(&mut reader, &mut line)?;
            if n == 0 {
                break;
            }
            if std::mem::take(&mut fragment) {
                continue;
            }
            let (entries, bad) = match std::str::from_utf8(&line) {
                Ok(text) => journal::parse_lines(text),
                Err(_) => journal::parse_lines(&String::from_utf8_lossy(&line)),
            };
            skipped += bad;
            for e in entries.into_iter().filter(|e| q.matches(e)) {
                if newest.len() < limit {
                    newest.push(Reverse(ById(e)));
                } else if newest
                    .peek()
                    .is_some_and(|Reverse(oldest)| e.id > oldest.0.id)
                {
                    newest.pop();
                    newest.push(Reverse(ById(e)));
                }
            }
        }
        let mut out: Vec<Entry> = newest.into_iter().map(|Reverse(ById(e))| e).collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok((out, skipped))
    }
}

/// Reads one line (with its newline) into `line`, keeping at most [`journal::MAX_LINE`] + 1
/// bytes of it (a longer one is then skipped as damaged, whatever its length); returns the
/// bytes consumed, 0 at the end.
fn read_line_bounded(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut consumed = 0;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(consumed);
        }
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = (journal::MAX_LINE + 1).saturating_sub(line.len());
        line.extend_from_slice(&buf[..take.min(room)]);
        reader.consume(take);
        consumed += take;
        if done {
            return Ok(consumed);
        }
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
    fn a_read_keeps_only_the_newest_wanted_entries_of_a_long_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = JournalFile::new(dir.path().join("journal.jsonl"));
        let mut text = String::new();
        for i in 0..20_000 {
            let mut e = entry(1_000 + i, if i % 2 == 0 { "shift" } else { "deploy" });
            if i % 1000 == 0 {
                e.release = Some(journal::ReleaseRef {
                    id: "r7".into(),
                    step: None,
                });
            }
            text.push_str(&journal::to_line(&e).expect("json"));
            text.push('\n');
        }
        // A damaged line and one longer than any entry may be, in the middle.
        text.push_str("{not json\n");
        text.push_str(&"x".repeat(journal::MAX_LINE + 10));
        text.push('\n');
        text.push_str(&journal::to_line(&entry(99_999, "rollback")).expect("json"));
        text.push('\n');
        std::fs::write(j.path(), text).expect("write");
        let (got, skipped) = j.read(&Query::latest(3)).expect("read");
        assert_eq!(skipped, 2);
        assert_eq!(
            got.iter().map(|e| e.at).collect::<Vec<_>>(),
            [20_998, 20_999, 99_999]
        );
        let one_release = Query {
            release: Some("r7".into()),
            ..Query::latest(100)
        };
        let (got, _) = j.read(&one_release).expect("read");
        assert_eq!(got.len(), 20);
        assert!(got.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    }

    #[test]
    fn a_fifo_in_place_of_the_journal_is_refused_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        let j = std::sync::Arc::new(JournalFile::new(path));
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = j.clone();
        // Without the check the open blocks until a writer comes: none ever does.
        std::thread::spawn(move || {
            let _ = tx.send((
                reader.read(&Query::latest(5)).map(|_| ()),
                reader.append(&entry(1, "shift")),
            ));
        });
        let (read, append) = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("answered instead of blocking");
        for e in [read.expect_err("read"), append.expect_err("append")] {
            let msg = e.to_string();
            assert!(msg.contains("not a regular file (a FIFO)"), "{msg}");
            assert!(msg.contains("move it aside"), "{msg}");
        }
    }

    #[test]
    fn a_missing_file_is_an_empty_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = JournalFile::new(dir.path().join("journal.jsonl"));
        assert_eq!(j.read(&Query::latest(5)).expect("read"), (Vec::new(), 0));
    }
}
