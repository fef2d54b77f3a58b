use super::*;
use std::os::unix::process::ExitStatusExt;

/// Runs `script` and returns once it printed its first line.
async fn spawn(script: &str) -> Proc {
    let mut child = tokio::process::Command::new("sh")
        .args(["-c", script])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("sh starts");
    let out = child.stdout.take().expect("piped");
    let mut ready = String::new();
    BufReader::new(out)
        .read_line(&mut ready)
        .await
        .expect("first line");
    Proc::Own(child)
}

#[tokio::test]
async fn the_runner_delivers_term_then_kill_to_a_task_ignoring_term() {
    let mut child = spawn("trap '' TERM; echo ready; exec sleep 30").await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    tx.send(Signal::SIGTERM).expect("open");
    let waited =
        tokio::time::timeout(Duration::from_millis(300), child.wait_signalled(&mut rx)).await;
    assert!(waited.is_err(), "SIGTERM is ignored: still running");
    tx.send(Signal::SIGKILL).expect("open");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait_signalled(&mut rx))
        .await
        .expect("killed in time");
    let Ended::Status(Ok(status)) = status else {
        panic!("our own child's status is known")
    };
    assert_eq!(status.signal(), Some(Signal::SIGKILL as i32));
}

/// The messages `pump` stores for `output`, without their timestamps.
async fn pumped(output: &[u8]) -> Vec<String> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    pump(output, tx, None, None, CancellationToken::new()).await;
    let mut out = Vec::new();
    while let Ok(line) = rx.try_recv() {
        let (_, message) = line.split_once(' ').expect("timestamped");
        out.push(message.trim_end_matches('\n').to_string());
    }
    out
}

#[tokio::test]
async fn a_blog_that_exits_at_start_is_reported_with_its_status_and_last_error() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let last = Arc::new(std::sync::Mutex::new(None));
    let stderr: &[u8] = b"starting\nerror: cannot open the SQLite database /x: denied\n\n";
    pump(
        stderr,
        tx,
        None,
        Some(last.clone()),
        CancellationToken::new(),
    )
    .await;
    let said = last.lock().expect("slot").clone();
    assert_eq!(
        said.as_deref(),
        Some("error: cannot open the SQLite database /x: denied\n")
    );
    let text = start_failure(
        Some(Ended::Status(Ok(ExitStatus::from_raw(1 << 8)))),
        Duration::from_millis(4_200),
        Duration::from_secs(30),
        said.as_deref(),
    );
    assert_eq!(
        text,
        "the blog ended (exit code 1) 4.2 s after it started, before it was listening; its last error line: error: cannot open the SQLite database /x: denied"
    );
    let silent = start_failure(None, Duration::from_secs(30), Duration::from_secs(30), None);
    assert_eq!(
        silent,
        "the blog printed no listen address within 30 s and was stopped"
    );
}

#[tokio::test]
async fn an_endless_line_is_stored_in_bounded_marked_pieces() {
    let mut output = "a".repeat(LINE_MAX + 10).into_bytes();
    output.extend_from_slice(b"\nnext\ntail without newline");
    let lines = pumped(&output).await;
    assert_eq!(
        lines.len(),
        4,
        "{:?}",
        lines.iter().map(String::len).collect::<Vec<_>>()
    );
    assert_eq!(
        lines[0],
        format!("{}{TRUNCATED_MARK}", "a".repeat(LINE_MAX))
    );
    assert_eq!(lines[1], "a".repeat(10));
    assert_eq!(&lines[2..], ["next", "tail without newline"]);
}

#[tokio::test]
async fn a_piece_never_splits_a_character() {
    // 'é' is 2 bytes; one byte of padding puts a piece boundary inside one.
    let output = format!("x{}\n", "é".repeat(LINE_MAX / 2 + 5));
    let lines = pumped(output.as_bytes()).await;
    assert_eq!(lines.len(), 2);
    assert!(
        lines.iter().all(|l| !l.contains('\u{fffd}')),
        "no replacement character"
    );
    let rejoined = lines[0].trim_end_matches(TRUNCATED_MARK).to_string() + &lines[1];
    assert_eq!(rejoined, output.trim_end());
}

#[tokio::test]
async fn a_task_log_rotates_at_its_cap_and_keeps_one_older_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("blue-1.log");
    let limits = LogLimits {
        max_bytes: 100,
        old_tasks: 20,
    };
    let mut log = TaskLog::open(path.clone(), limits).await.expect("open");
    let line = format!("{}\n", "x".repeat(29)); // 30 bytes
    for _ in 0..10 {
        log.write(&line).await.expect("write");
    }
    log.file.flush().await.expect("flush");
    let rotated = crate::platform::local::logs::rotated(&path);
    let size = |p: &Path| std::fs::metadata(p).expect("exists").len();
    assert_eq!(
        size(&path),
        30,
        "10 lines of 30 at a cap of 100: 3+3+3 rotated, 1 left"
    );
    assert_eq!(size(&rotated), 90);
    assert!(
        !dir.path().join("blue-1.log.2").exists(),
        "one older file only"
    );
    crate::platform::local::files::tests::assert_private(&path);
    crate::platform::local::files::tests::assert_private(&rotated);
    // Reopened (a new daemon): the size carries on from the file.
    let mut again = TaskLog::open(path.clone(), limits).await.expect("reopen");
    assert_eq!(again.size, 30);
    again.write(&"y".repeat(80)).await.expect("write");
    again.file.flush().await.expect("flush");
    assert_eq!(size(&path), 80);
    assert_eq!(size(&rotated), 30);
}

#[test]
fn only_the_newest_ended_tasks_keep_their_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    for i in 0..30 {
        let log = dir.path().join(format!("blue-{i:02}.log"));
        std::fs::write(&log, "1 x\n").expect("write");
        std::fs::write(crate::platform::local::logs::rotated(&log), "1 x\n").expect("write");
        // blue-00 is the oldest.
        let at = old + Duration::from_secs(i);
        std::fs::File::options()
            .write(true)
            .open(&log)
            .and_then(|f| f.set_modified(at))
            .expect("mtime");
    }
    let live = vec!["blue-00".to_string()];
    let removed = prune_old_logs(dir.path(), &live, 20).expect("pruned");
    assert_eq!(removed, 9, "29 ended, 20 kept");
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".log")
                .map(String::from)
        })
        .collect();
    left.sort();
    assert_eq!(left.len(), 21);
    assert_eq!(left[0], "blue-00", "a live task's log is never pruned");
    assert_eq!(left[1], "blue-10", "the oldest ended ones went");
    assert!(
        !dir.path().join("blue-05.log.1").exists(),
        "with their rotated file"
    );
}

#[tokio::test]
async fn a_handover_passes_on_what_was_read_and_stops_reading() {
    let (mut writer, reader) = tokio::io::duplex(1024);
    writer
        .write_all(b"first\nsecond\npart")
        .await
        .expect("write");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let detach = CancellationToken::new();
    let pumping = tokio::spawn(pump(reader, tx, None, None, detach.clone()));
    let first = rx.recv().await.expect("a line");
    assert!(first.ends_with(" first\n"), "{first}");
    detach.cancel();
    tokio::time::timeout(Duration::from_secs(5), pumping)
        .await
        .expect("stops at the handover")
        .expect("joined");
    let rest: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
        .map(|l| {
            l.split_once(' ')
                .expect("timestamped")
                .1
                .trim_end()
                .to_string()
        })
        .collect();
    assert_eq!(rest, ["second", "part"]);
}

#[tokio::test]
async fn a_reaped_task_is_never_signalled() {
    let mut child = spawn("echo ready; exit 3").await;
    let (_tx, mut rx) = mpsc::unbounded_channel();
    let Ended::Status(Ok(status)) = child.wait_signalled(&mut rx).await else {
        panic!("our own child's status is known")
    };
    assert_eq!(status.code(), Some(3));
    assert!(!child.deliver(Signal::SIGKILL));
    assert!(!child.deliver(Signal::SIGTERM));
}
