//! Task logs: one file per task under `<state>/logs/<color>/<task>.log`, each line prefixed
//! with the time the daemon received it (as the awslogs driver timestamps on ingestion), and
//! an incremental reader that keeps byte offsets in the caller's [`LogCursor`].

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::platform::{LogBatch, LogCursor};
use crate::rollout::{Color, LogLine, UnixMillis};

/// At most this much of one stream is read per call, so a chatty task cannot stall a tail.
const READ_CHUNK: u64 = 256 * 1024;

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
/// Streams are named `<color>/<task>`; a partial last line waits for its newline.
pub fn read(logs_dir: &Path, cursor: &LogCursor, limit: usize) -> std::io::Result<LogBatch> {
    let mut candidates: Vec<(String, LogLine, u64)> = Vec::new();
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
            let offset: u64 = cursor
                .streams
                .get(&stream)
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            let meta = entry.metadata()?;
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
                    next.streams.insert(stream, meta.len().to_string());
                    continue;
                }
            }
            read_stream(
                &path,
                &stream,
                color,
                task,
                offset,
                cursor.since,
                &mut candidates,
            )?;
        }
    }
    // Oldest first across streams; each stream's lines stay in file order.
    candidates.sort_by_key(|(_, line, _)| line.at);
    candidates.truncate(limit);
    let mut lines = Vec::with_capacity(candidates.len());
    for (stream, line, end) in candidates {
        let entry = next.streams.entry(stream).or_default();
        let current: u64 = entry.parse().unwrap_or(0);
        if end > current {
            *entry = end.to_string();
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
    let mut pos = offset;
    let mut last_at = 0;
    for raw in buf.split_inclusive(|&b| b == b'\n') {
        if raw.last() != Some(&b'\n') {
            break;
        }
        pos += raw.len() as u64;
        let text = String::from_utf8_lossy(&raw[..raw.len() - 1]);
        let (at, message) = match parse_line(&text) {
            Some((at, m)) => (at, m.to_string()),
            // A line without a timestamp keeps its neighbour's time.
            None => (last_at, text.to_string()),
        };
        last_at = at;
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
            pos,
        ));
    }
    Ok(())
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
}
