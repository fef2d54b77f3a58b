//! Task logs: one file per task under `<state>/logs/<color>/<task>.log`, each line prefixed
//! with the time the daemon received it (as the awslogs driver timestamps on ingestion), and
//! an incremental reader that keeps byte offsets in the caller's [`LogCursor`].

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::platform::{LogBatch, LogCursor};
use crate::rollout::{Color, LogLine, UnixMillis};

/// At most this much of one stream is read per call, so a chatty task cannot stall a tail.
/// A line longer than this is returned in pieces of this size.
const READ_CHUNK: u64 = 256 * 1024;

/// Ends a piece of a line longer than [`READ_CHUNK`]; the next piece follows as its own line.
pub const TRUNCATED_MARK: &str = " [line truncated: continues in the next line]";

/// One stored line: `<millis> <message>\n`.
pub fn format_line(at: UnixMillis, message: &str) -> String {
    let message = message.trim_end_matches(['\r', '\n']);
    format!("{at} {message}\n")
}

fn parse_line(line: &str) -> Option<(UnixMillis, &str)> {
    let (at, msg) = line.split_once(' ').unwrap_or((line, ""));
    Some((at.parse().ok()?, msg))
}

/// New lines of every task of both colors since `cursor`, oldest first, at most `limit`.
/// Streams are named `<color>/<task>`; a partial last line waits for its newline, unless it
/// fills a whole read, in which case it comes as pieces marked with [`TRUNCATED_MARK`].
pub fn read(logs_dir: &Path, cursor: &LogCursor, limit: usize) -> std::io::Result<LogBatch> {
    let mut candidates: Vec<(UnixMillis, String, LogLine, u64, u64)> = Vec::new();
    let mut next = cursor.clone();
    for color in Color::ALL {
        let dir = logs_dir.join(color.as_str());
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(task) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".log"))
            else {
                continue;
            };
            let stream = format!("{color}/{task}");
            let (offset, file) = parse_position(cursor.streams.get(&stream));
            let mut meta = entry.metadata()?;
            let mut path = path.clone();
            let mut offset = offset;
            if file.is_some_and(|f| f != meta.ino()) || meta.len() < offset {
                // Not the file we were reading: it was rotated. Finish the older one, then
                // start on the new one.
                let rotated = rotated(&path);
                match fs::metadata(&rotated) {
                    Ok(m) if file.is_none_or(|f| f == m.ino()) && m.len() > offset => {
                        path = rotated;
                        meta = m;
                    }
                    _ => offset = 0,
                }
            }
            let ino = meta.ino();
            // A stream now read from another file (rotated, or an older cursor) says so.
            if file != Some(ino) && cursor.streams.contains_key(&stream) {
                next.streams.insert(stream.clone(), position(offset, ino));
            }
            if meta.len() <= offset {
                continue;
            }
            if let (Some(since), Ok(modified)) = (cursor.since, meta.modified()) {
                let modified_ms = modified
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0);
                if modified_ms < since {
                    // Nothing in the file is recent enough; skip it for good.
                    next.streams.insert(stream, position(meta.len(), ino));
                    continue;
                }
            }
            let mut read = Vec::new();
            read_stream(&path, &stream, color, task, offset, cursor.since, &mut read)?;
            // Each line is ordered by the latest time up to it in its stream, so a stream
            // whose clock stepped back still comes in file order (a later line never
            // overtakes an earlier one and moves the cursor past it).
            let mut latest = UnixMillis::MIN;
            candidates.extend(read.into_iter().map(|(s, l, end)| {
                latest = latest.max(l.at);
                (latest, s, l, end, ino)
            }));
        }
    }
    // Oldest first across streams; each stream's lines stay in file order.
    candidates.sort_by_key(|(latest, ..)| *latest);
    candidates.truncate(limit);
    let mut lines = Vec::with_capacity(candidates.len());
    for (_, stream, line, end, ino) in candidates {
        let entry = next.streams.entry(stream).or_default();
        let (current, file) = parse_position(Some(&*entry));
        if end > current || file != Some(ino) {
            *entry = position(end, ino);
        }
        lines.push(line);
    }
    // Lines older than `since` were read only to move the cursor past them.
    lines.retain(|l| l.at != UnixMillis::MIN);
    Ok(LogBatch {
        lines,
        cursor: next,
    })
}

/// A stream's position in a cursor: `<offset>@<inode>`, the inode telling a rotated file from
/// its successor. A bare `<offset>` (an older cursor) or anything unreadable is taken as it
/// comes: no file named, or offset 0.
fn parse_position(value: Option<&String>) -> (u64, Option<u64>) {
    let Some(value) = value else { return (0, None) };
    let (offset, file) = match value.split_once('@') {
        Some((o, f)) => (o, f.parse().ok()),
        None => (value.as_str(), None),
    };
    (offset.parse().unwrap_or(0), file)
}

fn position(offset: u64, ino: u64) -> String {
    format!("{offset}@{ino}")
}

/// Where a task's log goes when it is rotated: `<task>.log.1`.
pub fn rotated(log: &Path) -> std::path::PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".1");
    name.into()
}

fn read_stream(
    path: &Path,
    stream: &str,
    color: Color,
    task: &str,
    offset: u64,
    since: Option<UnixMillis>,
    out: &mut Vec<(String, LogLine, u64)>,
) -> std::io::Result<()> {
    let mut f = fs::File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    f.take(READ_CHUNK).read_to_end(&mut buf)?;
    // (text, end offset, truncated) of each line this read completes.
    let mut pieces: Vec<(String, u64, bool)> = Vec::new();
    let mut pos = offset;
    for raw in buf.split_inclusive(|&b| b == b'\n') {
        if raw.last() != Some(&b'\n') {
            break;
        }
        pos += raw.len() as u64;
        let text = String::from_utf8_lossy(&raw[..raw.len() - 1]).into_owned();
        pieces.push((text, pos, false));
    }
    // A full read without any newline would otherwise wait for one forever: hand it out as
    // a piece, cut where no character is split.
    if pos == offset && buf.len() as u64 == READ_CHUNK {
        let cut = match std::str::from_utf8(&buf) {
            Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => e.valid_up_to(),
            _ => buf.len(),
        };
        let text = String::from_utf8_lossy(&buf[..cut]).into_owned();
        pieces.push((text, offset + cut as u64, true));
    }
    // A line without a timestamp (such as the rest of a long line) keeps its neighbour's
    // time: the one before it, else the first one after it, else the file's.
    let mut last_at = pieces
        .iter()
        .find_map(|(text, _, _)| parse_line(text).map(|(at, _)| at));
    for (text, end, truncated) in &pieces {
        let (at, message) = match parse_line(text) {
            Some((at, m)) => (at, m),
            None => (
                *last_at.get_or_insert_with(|| modified_millis(path)),
                text.as_str(),
            ),
        };
        last_at = Some(at);
        let mut message = message.to_string();
        if *truncated {
            message.push_str(TRUNCATED_MARK);
        }
        // Old lines still advance the cursor (with an empty marker), so they are not read again.
        let wanted = since.is_none_or(|s| at >= s);
        out.push((
            stream.to_string(),
            LogLine {
                color,
                task_id: task.to_string(),
                at: if wanted { at } else { UnixMillis::MIN },
                message,
            },
            *end,
        ));
    }
    Ok(())
}

fn modified_millis(path: &Path) -> UnixMillis {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as UnixMillis)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, color: &str, task: &str, body: &str) {
        let d = dir.join(color);
        fs::create_dir_all(&d).expect("mkdir");
        fs::write(d.join(format!("{task}.log")), body).expect("write");
    }

    #[test]
    fn tails_incrementally_across_streams() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "blue", "blue-1", "10 a\n30 c\n");
        write(dir.path(), "green", "green-1", "20 b\n40 partial");
        let first = read(dir.path(), &LogCursor::default(), 2).expect("read");
        let msgs: Vec<_> = first.lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(msgs, ["a", "b"]);
        assert_eq!(first.lines[1].color, Color::Green);
        assert_eq!(first.lines[1].task_id, "green-1");
        let second = read(dir.path(), &first.cursor, 10).expect("read");
        let msgs: Vec<_> = second.lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(msgs, ["c"], "the partial line waits for its newline");
        write(dir.path(), "green", "green-1", "20 b\n40 partial now\n");
        let third = read(dir.path(), &second.cursor, 10).expect("read");
        assert_eq!(third.lines[0].message, "partial now");
        assert_eq!(third.lines[0].at, 40);
    }

    #[test]
    fn a_rotated_log_is_finished_before_the_new_one_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "blue", "blue-1", "10 a\n20 b\n");
        let first = read(dir.path(), &LogCursor::default(), 1).expect("read");
        assert_eq!(first.lines[0].message, "a");
        // Rotated: `b` is in the older file now, then more lines there and in the new one.
        let log = dir.path().join("blue").join("blue-1.log");
        fs::rename(&log, rotated(&log)).expect("rotated");
        fs::write(rotated(&log), "10 a\n20 b\n30 c\n").expect("written to before the rename");
        fs::write(&log, "40 d\n").expect("new");
        let mut cursor = first.cursor;
        let mut got = Vec::new();
        for _ in 0..4 {
            let batch = read(dir.path(), &cursor, 10).expect("read");
            got.extend(batch.lines.into_iter().map(|l| l.message));
            cursor = batch.cursor;
        }
        assert_eq!(got, ["b", "c", "d"], "every line once, in order");
    }

    #[test]
    fn since_skips_old_lines_for_good() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "blue", "blue-1", "10 old\n50 new\n");
        let cursor = LogCursor {
            since: Some(20),
            ..Default::default()
        };
        let batch = read(dir.path(), &cursor, 10).expect("read");
        assert_eq!(batch.lines.len(), 1);
        assert_eq!(batch.lines[0].message, "new");
        let again = read(dir.path(), &batch.cursor, 10).expect("read");
        assert!(again.lines.is_empty());
    }

    #[test]
    fn a_line_longer_than_a_read_comes_in_marked_pieces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let long = "x".repeat(READ_CHUNK as usize + 100);
        write(dir.path(), "blue", "blue-1", &format!("70 {long}"));
        let first = read(dir.path(), &LogCursor::default(), 10).expect("read");
        assert_eq!(first.lines.len(), 1, "the stream does not stall");
        let piece = &first.lines[0];
        assert_eq!(piece.at, 70);
        assert!(piece.message.ends_with(TRUNCATED_MARK));
        assert_eq!(
            piece.message.len(),
            READ_CHUNK as usize - "70 ".len() + TRUNCATED_MARK.len()
        );
        let second = read(dir.path(), &first.cursor, 10).expect("read");
        assert!(
            second.lines.is_empty(),
            "the short rest waits for its newline"
        );
        write(
            dir.path(),
            "blue",
            "blue-1",
            &format!("70 {long}\n80 next\n"),
        );
        let third = read(dir.path(), &second.cursor, 10).expect("read");
        let msgs: Vec<_> = third.lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(msgs, ["x".repeat(103).as_str(), "next"]);
    }

    #[test]
    fn a_long_line_is_not_cut_inside_a_character() {
        let dir = tempfile::tempdir().expect("tempdir");
        // "10 " is 3 bytes; 'é' is 2, so the read boundary falls inside one.
        let body = format!("10 {}", "é".repeat(READ_CHUNK as usize / 2 + 10));
        write(dir.path(), "green", "green-1", &body);
        let batch = read(dir.path(), &LogCursor::default(), 10).expect("read");
        let msg = batch.lines[0].message.trim_end_matches(TRUNCATED_MARK);
        assert!(!msg.contains('\u{fffd}'), "no replacement character");
        assert_eq!(msg.chars().count(), (READ_CHUNK as usize - 4) / 2);
        assert_eq!(
            parse_position(batch.cursor.streams.get("green/green-1")).0,
            READ_CHUNK - 1
        );
    }

    mod proptests {
        use super::*;
        use crate::platform::local::wire::tests::strategies::cursor;
        use proptest::prelude::*;

        /// A log file as the daemon writes it (timestamps in order), maybe with a partial last
        /// line or stray bytes.
        fn body() -> impl Strategy<Value = Vec<u8>> {
            (
                prop::collection::vec((0i64..50, "\\PC{0,20}"), 0..12),
                prop::collection::vec(any::<u8>(), 0..8),
            )
                .prop_map(|(lines, tail)| {
                    let mut at = 1_000;
                    let mut out = String::new();
                    for (step, message) in lines {
                        at += step;
                        out.push_str(&format_line(at, &message));
                    }
                    let mut out = out.into_bytes();
                    out.extend(tail);
                    out
                })
        }

        fn streams() -> impl Strategy<Value = Vec<(Color, String, Vec<u8>)>> {
            prop::collection::vec(
                (
                    prop_oneof![Just(Color::Blue), Just(Color::Green)],
                    "[a-z0-9]{1,3}",
                    body(),
                ),
                1..4,
            )
        }

        fn lay_out(dir: &Path, streams: &[(Color, String, Vec<u8>)]) -> BTreeMap<String, u64> {
            let mut lens = BTreeMap::new();
            for (color, task, body) in streams {
                let d = dir.join(color.as_str());
                fs::create_dir_all(&d).expect("mkdir");
                fs::write(d.join(format!("{task}.log")), body).expect("write");
                lens.insert(format!("{color}/{task}"), body.len() as u64);
            }
            lens
        }

        use std::collections::BTreeMap;

        /// A stream whose clock stepped back (a later line with an earlier time) is still read
        /// line by line in file order: the earlier line is not skipped by a batch of one.
        #[test]
        fn a_clock_step_back_in_a_stream_loses_no_line() {
            let dir = tempfile::tempdir().expect("tempdir");
            let streams = [(Color::Blue, "0".to_string(), b"1000 a\n5 b\n7 c\n".to_vec())];
            lay_out(dir.path(), &streams);
            let mut cursor = LogCursor::default();
            let mut got = Vec::new();
            for _ in 0..4 {
                let batch = read(dir.path(), &cursor, 1).expect("read");
                got.extend(batch.lines.into_iter().map(|l| l.message));
                cursor = batch.cursor;
            }
            assert_eq!(got, ["a", "b", "c"]);
        }

        proptest! {
            #![proptest_config(crate::prop::config())]

            #[test]
            fn any_line_parses_or_not_without_panic(line in "\\PC{0,30}") {
                let _ = parse_line(&line);
            }

            #[test]
            fn a_formatted_line_parses_back(at in any::<UnixMillis>(), message in "\\PC{0,40}") {
                let line = format_line(at, &message);
                prop_assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
                prop_assert_eq!(parse_line(&line[..line.len() - 1]), Some((at, message.as_str())));
            }
        }

        proptest! {
            #![proptest_config(crate::prop::io_config())]

            /// A cursor from outside (any offsets, any text) never moves a stream backwards or
            /// past the end of its file (an offset past the end reads as a rotated file, so
            /// the stream starts over), and never panics the reader.
            #[test]
            fn a_cursor_from_outside_stays_within_the_files(
                streams in streams(),
                mut given in cursor(),
                near in prop::collection::vec((0usize..4, 0u64..300), 0..4),
                limit in 0usize..20,
            ) {
                let dir = tempfile::tempdir().expect("tempdir");
                let lens = lay_out(dir.path(), &streams);
                // Offsets near the real ones too, not only random streams.
                let names: Vec<&String> = lens.keys().collect();
                for (i, off) in near {
                    if let Some(name) = names.get(i % names.len()) {
                        given.streams.insert((*name).clone(), off.to_string());
                    }
                }
                given.since = None;
                let batch = read(dir.path(), &given, limit).expect("read");
                prop_assert!(batch.lines.len() <= limit);
                for (name, len) in &lens {
                    let before = parse_position(given.streams.get(name)).0;
                    let after = parse_position(batch.cursor.streams.get(name)).0;
                    if before <= *len {
                        prop_assert!(before <= after && after <= *len, "{name}: {before} -> {after} of {len}");
                    } else {
                        // Past the end: the file was rotated under it, so it starts over.
                        prop_assert!(after <= *len, "{name}: {before} -> {after} of {len}");
                    }
                }
            }

            /// Reading in batches of any size gives every complete line once, in file order.
            #[test]
            fn batches_of_any_size_give_every_line_once(streams in streams(), limit in 1usize..6) {
                let dir = tempfile::tempdir().expect("tempdir");
                lay_out(dir.path(), &streams);
                let mut want: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for (color, task, body) in &streams {
                    let lines = want.entry(format!("{color}/{task}")).or_default();
                    lines.clear();
                    for raw in body.split_inclusive(|b| *b == b'\n').filter(|r| r.ends_with(b"\n")) {
                        let text = String::from_utf8_lossy(&raw[..raw.len() - 1]).into_owned();
                        lines.push(parse_line(&text).map_or(text.clone(), |(_, m)| m.to_string()));
                    }
                }
                let total: usize = want.values().map(Vec::len).sum();
                let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
                let mut cursor = LogCursor::default();
                for _ in 0..=total {
                    let batch = read(dir.path(), &cursor, limit).expect("read");
                    for l in batch.lines {
                        got.entry(format!("{}/{}", l.color, l.task_id)).or_default().push(l.message);
                    }
                    cursor = batch.cursor;
                }
                want.retain(|_, v| !v.is_empty());
                prop_assert_eq!(got, want);
            }
        }
    }
}
