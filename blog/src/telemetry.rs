//! Logs to stdout through tracing: one line per request, as text or as JSON for CloudWatch.
//! Lines are written in batches by a thread of their own ([`Batched`]): a busy blog would
//! otherwise make one `write` system call per request, as costly as the rest of a cached page.

use std::error::Error;
use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;

mod line;

pub use line::REQUEST_TARGET;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
#[error("BLOG_LOG_FORMAT is {0:?}; use `text` or `json`")]
pub struct LogFormatError(String);

impl FromStr for LogFormat {
    type Err = LogFormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(LogFormatError(s.to_string())),
        }
    }
}

/// Displays an error with every source after it (`a: b: c`), for log fields. Plain `%e` would
/// show only the outermost message (the JSON formatter drops sources), and the cause of a store
/// failure is the part an operator needs.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(source) = next {
            write!(f, ": {source}")?;
            next = source.source();
        }
        Ok(())
    }
}

/// Installs the subscriber, writing through a [`Batched`] stdout. `BLOG_LOG` (or `RUST_LOG`)
/// filters; the default keeps the blog's own info lines and only warnings from libraries. Keep
/// the returned guard until the process is about to exit: dropping it writes what is pending.
#[must_use = "dropping the guard stops the log writer"]
pub fn init(format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_from_env("BLOG_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("warn,blog=info"));
    let (writer, guard) = Batched::stdout();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    match format {
        LogFormat::Text => builder
            .with_ansi(false)
            .event_format(line::TextLine::new())
            .init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
    guard
}

/// How long the writer waits after the first pending line before it writes, gathering the
/// lines that follow: a line shows within this of being logged.
pub const LINGER: Duration = Duration::from_millis(5);

/// Most bytes of log lines waiting to be written. A stdout nobody reads (a full pipe) would
/// otherwise grow them without bound; lines past this are dropped and counted, and the count
/// is written as a line of its own once stdout takes lines again.
pub const MAX_PENDING: usize = 1024 * 1024;

/// How long dropping the [`LogGuard`] waits for pending lines to be written.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// A log destination whose lines are gathered in memory and written by one thread, at most
/// [`LINGER`] after they were logged. Cloned per log line (`MakeWriter`).
#[derive(Clone)]
pub struct Batched {
    shared: Arc<Shared>,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    dropped: u64,
    closed: bool,
}

/// Stops the writer thread when dropped, after it wrote what was pending (or after
/// [`CLOSE_WAIT`], if the destination does not take it).
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Batched {
    /// Lines to the process's stdout.
    pub fn stdout() -> (Self, LogGuard) {
        Self::to(io::stdout())
    }

    /// Lines to `out`, written by a thread started here.
    pub fn to(out: impl Write + Send + 'static) -> (Self, LogGuard) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
        });
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_batches(&for_thread, out))
            .ok();
        let guard = LogGuard {
            shared: Arc::clone(&shared),
            thread,
        };
        (Self { shared }, guard)
    }
}

fn write_batches(shared: &Shared, mut out: impl Write) {
    let mut batch = Vec::new();
    loop {
        let Ok(mut pending) = shared.pending.lock() else {
            return;
        };
        while pending.bytes.is_empty() && pending.dropped == 0 && !pending.closed {
            pending = match shared.wake.wait(pending) {
                Ok(p) => p,
                Err(_) => return,
            };
        }
        let closing = pending.closed;
        if !closing {
            // Let the lines logged meanwhile join this write.
            drop(pending);
            std::thread::sleep(LINGER);
            pending = match shared.pending.lock() {
                Ok(p) => p,
                Err(_) => return,
            };
        }
        std::mem::swap(&mut batch, &mut pending.bytes);
        let dropped = std::mem::take(&mut pending.dropped);
        drop(pending);
        if dropped > 0 {
            let _ = writeln!(
                batch,
                "log: {dropped} line(s) dropped: stdout did not take lines as fast as they came"
            );
        }
        // A destination that fails (stdout closed) loses the lines; the blog goes on serving.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        if closing {
            return;
        }
    }
}

impl Write for Batched {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let Ok(mut pending) = self.shared.pending.lock() else {
            return Ok(line.len());
        };
        if pending.closed {
            // After the guard is gone nothing writes in batches: straight to stdout.
            drop(pending);
            return io::stdout().write(line);
        }
        if pending.bytes.len() + line.len() > MAX_PENDING {
            pending.dropped += 1;
            return Ok(line.len());
        }
        let was_empty = pending.bytes.is_empty();
        pending.bytes.extend_from_slice(line);
        drop(pending);
        if was_empty {
            self.shared.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Batched {
    type Writer = Batched;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if let Ok(mut pending) = self.shared.pending.lock() {
            pending.closed = true;
        }
        self.shared.wake.notify_one();
        let Some(thread) = self.thread.take() else {
            return;
        };
        let deadline = Instant::now() + CLOSE_WAIT;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    /// A destination the test can read while the writer thread holds it.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("sink").extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("sink").clone()).expect("utf-8")
        }
    }

    #[test]
    fn lines_are_written_soon_in_order_and_all_at_the_end() {
        let sink = Sink::default();
        let (writer, guard) = Batched::to(sink.clone());
        let mut w = writer.clone();
        w.write_all(b"one\n").expect("write");
        let deadline = Instant::now() + Duration::from_secs(5);
        while sink.text().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            sink.text(),
            "one\n",
            "a lone line is written within the linger"
        );
        for i in 0..1000 {
            let mut w = writer.clone();
            w.write_all(format!("line {i}\n").as_bytes())
                .expect("write");
        }
        drop(guard);
        let text = sink.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            1001,
            "every line written by the time the guard is gone"
        );
        assert_eq!(lines[1], "line 0");
        assert_eq!(lines[1000], "line 999");
    }

    /// A destination that takes nothing until it is let go.
    struct Stuck(Arc<(Mutex<bool>, Condvar)>, Sink);

    impl Write for Stuck {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            let (open, cv) = &*self.0;
            let mut open = open.lock().expect("stuck");
            while !*open {
                open = cv.wait(open).expect("stuck");
            }
            self.1.write(data)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_destination_that_takes_nothing_costs_bounded_memory_and_the_loss_is_counted() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let sink = Sink::default();
        let (writer, guard) = Batched::to(Stuck(Arc::clone(&gate), sink.clone()));
        let mut line = vec![b'x'; 1023];
        line.push(b'\n');
        // The first batch is taken by the writer thread (and stuck in `write`); the rest pile
        // up to the bound and past it.
        let mut w = writer.clone();
        w.write_all(b"first\n").expect("write");
        std::thread::sleep(LINGER * 4);
        for _ in 0..3000 {
            let mut w = writer.clone();
            w.write_all(&line).expect("write");
        }
        assert!(
            writer.shared.pending.lock().expect("pending").bytes.len() <= MAX_PENDING,
            "pending lines stay within the bound"
        );
        {
            let (open, cv) = &*gate;
            *open.lock().expect("gate") = true;
            cv.notify_all();
        }
        drop(guard);
        let text = sink.text();
        assert!(text.starts_with("first\n"), "{}", &text[..20]);
        assert!(
            text.contains("line(s) dropped: stdout did not take lines"),
            "the loss is reported"
        );
    }

    #[test]
    fn chain_shows_every_source() {
        let io = std::io::Error::other("inner");
        assert_eq!(Chain(&Outer(io)).to_string(), "outer: inner");
        assert_eq!(Chain(&std::io::Error::other("alone")).to_string(), "alone");
    }
}
