//! The live log tail on AWS as awslogs delivers: two tasks' lines shipped in batches, each
//! stamped when written, so a line of one task arrives after a newer line of the other. The
//! tail (`logs --follow`, the same read as the TUI's) shows it once, and the figure printed is
//! how long a late line takes from PutLogEvents to the output.

use std::time::{Duration, Instant};

use bluegreen::rollout::Color;
use bluegreen_tests::aws::{AwsLogs, Stack, TopologyOptions};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Reads `logs --follow` lines until `want` appears or `limit` passes; every line with the
/// time it was read.
struct Follow {
    lines: tokio::sync::mpsc::UnboundedReceiver<(Instant, String)>,
    seen: Vec<(Instant, String)>,
    _child: tokio::process::Child,
}

impl Follow {
    async fn start(stack: &Stack) -> Follow {
        let mut child = bluegreen_tests::aws::cli::command(
            &stack.config,
            &stack.env(),
            &["logs", "--follow", "--since", "300"],
        )
        .spawn()
        .expect("spawn logs --follow");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if tx.send((Instant::now(), l)).is_err() {
                    return;
                }
            }
        });
        Follow {
            lines: rx,
            seen: Vec::new(),
            _child: child,
        }
    }

    /// When the line containing `want` was read, waiting at most `limit`.
    async fn until(&mut self, want: &str, limit: Duration) -> Option<Instant> {
        if let Some((at, _)) = self.seen.iter().find(|(_, l)| l.contains(want)) {
            return Some(*at);
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let got = tokio::time::timeout_at(deadline, self.lines.recv()).await;
            let Ok(Some((at, line))) = got else {
                return None;
            };
            let hit = line.contains(want);
            self.seen.push((at, line));
            if hit {
                return Some(at);
            }
        }
    }

    fn count(&self, want: &str) -> usize {
        self.seen.iter().filter(|(_, l)| l.contains(want)).count()
    }
}

#[tokio::test]
async fn a_late_line_from_another_task_reaches_the_follow_once() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    let logs = AwsLogs::new(&stack.topo.sdk, &stack.topo.log_group);
    let a = logs
        .stream(Color::Blue, &stack.topo.tasks.blue[0])
        .await
        .expect("stream a");
    let b = logs
        .stream(Color::Blue, &stack.topo.tasks.blue[1])
        .await
        .expect("stream b");
    let mut follow = Follow::start(&stack).await;
    // Both tasks write; B first. A's driver ships first, B's some seconds later.
    logs.log(&b, "task-b line one (written first)");
    tokio::time::sleep(Duration::from_millis(20)).await;
    logs.log(&a, "task-a line one");
    logs.flush(&a).await.expect("ship a");
    assert!(
        follow
            .until("task-a line one", Duration::from_secs(20))
            .await
            .is_some(),
        "A's line reaches the follow: {:?}",
        follow.seen
    );
    // A's newer line is on screen; now B's older batch arrives.
    logs.flush(&b).await.expect("ship b");
    let visible = Instant::now();
    let shown = follow
        .until("task-b line one", Duration::from_secs(20))
        .await;
    let Some(shown) = shown else {
        panic!(
            "the late line of task B never reached `logs --follow`: {:?}",
            follow.seen
        );
    };
    eprintln!(
        "aws logs: a late line reached `logs --follow` {} ms after PutLogEvents returned",
        shown.duration_since(visible).as_millis()
    );
    // More lines follow; none is shown twice by the overlapping reads.
    logs.log(&a, "task-a line two");
    logs.flush(&a).await.expect("ship a");
    assert!(
        follow
            .until("task-a line two", Duration::from_secs(20))
            .await
            .is_some()
    );
    let _ = follow.until("never", Duration::from_secs(5)).await;
    assert_eq!(follow.count("task-b line one"), 1, "{:?}", follow.seen);
    assert_eq!(follow.count("task-a line one"), 1, "{:?}", follow.seen);
}

/// Two tasks whose drivers ship every 5 s, out of phase, for 30 s: every line reaches the
/// follow once; the figures are the delay from shipping to output (median and worst).
#[tokio::test]
async fn two_tasks_shipping_every_five_seconds_lose_no_line() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    let logs = AwsLogs::new(&stack.topo.sdk, &stack.topo.log_group);
    let mut streams = Vec::new();
    for task in &stack.topo.tasks.green {
        streams.push(logs.stream(Color::Green, task).await.expect("stream"));
    }
    let mut follow = Follow::start(&stack).await;
    let flushers = logs.spawn_flushers(&streams, Duration::from_secs(5));
    let mut written = Vec::new();
    for i in 0..30 {
        for (t, s) in streams.iter().enumerate() {
            let line = format!("line {i:02} of task {t}");
            logs.log(s, &line);
            written.push(line);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The last batches ship within one period.
    tokio::time::sleep(Duration::from_secs(6)).await;
    drop(flushers);
    for s in &streams {
        logs.flush(s).await.expect("flush the rest");
    }
    let mut delays = Vec::new();
    let shipped = logs.shipped();
    for line in &written {
        let at = follow.until(line, Duration::from_secs(20)).await;
        let Some(at) = at else {
            panic!("`{line}` never reached `logs --follow`");
        };
        if let Some(s) = shipped.iter().find(|s| &s.message == line) {
            delays.push(at.saturating_duration_since(s.visible).as_millis());
        }
    }
    let _ = follow.until("never", Duration::from_secs(3)).await;
    for line in &written {
        assert_eq!(follow.count(line), 1, "`{line}` shown once");
    }
    delays.sort_unstable();
    eprintln!(
        "aws logs: {} lines of two tasks shipped every 5 s: from PutLogEvents to output median {} ms, worst {} ms",
        delays.len(),
        delays.get(delays.len() / 2).copied().unwrap_or(0),
        delays.last().copied().unwrap_or(0)
    );
}
