//! What a long wait shows while it waits: what it waits for, for how long already, and the
//! latest thing it saw. On a terminal, one live line (an `indicatif` spinner, or a bar when the
//! steps are known); when stderr is not a terminal, plain timestamped lines, at most one every
//! few seconds unless the stage changes; with `--json`, nothing (the result is the document).

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::clock::now_millis;
use crate::format;

/// Plain lines: a changed detail within the same stage waits this long before its line.
const QUIET: Duration = Duration::from_secs(5);
/// Plain lines: with nothing new, a line this often still says the wait goes on.
const HEARTBEAT: Duration = Duration::from_secs(30);
/// The longest detail shown; a build log's line can be any length.
const MAX_DETAIL: usize = 160;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A live line on a terminal.
    Bar,
    /// Timestamped lines on stderr (a pipe, a CI log).
    Lines,
    /// Nothing (`--json`).
    Quiet,
}

impl Mode {
    /// The mode for this process's stderr.
    pub fn detect(json: bool) -> Mode {
        if json {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        }
    }
}

/// One wait's progress. Methods take `&self`, so observers called from inside a running
/// operation can report through it.
pub struct Progress {
    bar: Option<ProgressBar>,
    lines: Option<Mutex<Plain>>,
}

/// The state of plain-line output.
struct Plain {
    what: String,
    started: Instant,
    stage: String,
    detail: String,
    printed: Option<Instant>,
}

impl Progress {
    /// A wait for `what` ("building v1", "waiting for green to become healthy").
    pub fn start(mode: Mode, what: &str) -> Progress {
        match mode {
            Mode::Quiet => Progress {
                bar: None,
                lines: None,
            },
            Mode::Bar => {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                if let Ok(style) = ProgressStyle::with_template(
                    "{spinner} {prefix} [{elapsed_precise}] {wide_msg}",
                ) {
                    bar.set_style(style);
                }
                bar.set_prefix(what.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                Progress {
                    bar: Some(bar),
                    lines: None,
                }
            }
            Mode::Lines => {
                let progress = Progress {
                    bar: None,
                    lines: Some(Mutex::new(Plain {
                        what: what.to_string(),
                        started: Instant::now(),
                        stage: String::new(),
                        detail: String::new(),
                        printed: None,
                    })),
                };
                progress.print_line(&format!("{what}: started"));
                progress
            }
        }
    }

    /// The current stage (a build phase, "deploying") and its latest detail (the log's last
    /// line, "1/2 healthy targets"). Call it as often as there is news: plain lines are
    /// rate-limited here.
    pub fn set(&self, stage: &str, detail: &str) {
        let stage = &*format::terminal_safe(stage);
        let detail = clip(detail);
        if let Some(bar) = &self.bar {
            bar.set_message(if detail.is_empty() {
                stage.to_string()
            } else {
                format!("{stage} · {detail}")
            });
        }
        let Some(lines) = &self.lines else { return };
        let Ok(mut p) = lines.lock() else { return };
        let now = Instant::now();
        let since = p.printed.map(|t| now - t);
        let due = p.stage != stage
            || (p.detail != detail && since.is_none_or(|s| s >= QUIET))
            || since.is_none_or(|s| s >= HEARTBEAT);
        if !due {
            return;
        }
        p.stage = stage.to_string();
        p.detail = detail.clone();
        p.printed = Some(now);
        let elapsed = format::duration(millis(now - p.started));
        let text = if detail.is_empty() {
            format!("{} [{elapsed}] {stage}", p.what)
        } else {
            format!("{} [{elapsed}] {stage} · {detail}", p.what)
        };
        drop(p);
        self.print_line(&text);
    }

    /// A line that stays (an event: "step 2/3: 90:10"), above the live line on a terminal.
    pub fn line(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.println(format!(
                "{} {}",
                format::clock(now_millis()),
                format::terminal_safe(text)
            ));
        } else if self.lines.is_some() {
            self.print_line(text);
        }
    }

    fn print_line(&self, text: &str) {
        super::output::err(&format!("{} {text}", format::clock(now_millis())));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `text` on one line, control characters out, at most [`MAX_DETAIL`] characters.
fn clip(text: &str) -> String {
    let one: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let one = format::terminal_safe(&one).into_owned();
    if one.chars().count() <= MAX_DETAIL {
        return one;
    }
    let mut cut: String = one.chars().take(MAX_DETAIL - 1).collect();
    cut.push('…');
    cut
}

/// The last non-empty line of a local log file, read from its last 4 KiB (a build log grows
/// to megabytes; cargo's progress is the latest line). `None` when it is not a readable file,
/// such as a CloudWatch location.
pub fn latest_log_line(path: &std::path::Path) -> Option<String> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    const TAIL: u64 = 4096;
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
    let mut buf = Vec::with_capacity(TAIL as usize);
    file.take(TAIL).read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    // Cargo redraws its progress with carriage returns; the last redraw is the line.
    text.split(['\n', '\r'])
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detail_is_one_bounded_line() {
        assert_eq!(
            clip("  Compiling tokio v1.44.0\n"),
            "Compiling tokio v1.44.0"
        );
        assert_eq!(clip("a\u{1b}[31mb"), "a [31mb");
        let long = clip(&"x".repeat(1000));
        assert_eq!(long.chars().count(), MAX_DETAIL);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn the_latest_log_line_is_cargos_last_redraw() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("build.log");
        let mut text = "   Compiling serde v1.0.0\n".repeat(500);
        text.push_str("    Building [=====>    ] 120/300: tokio\r    Building [======>   ] 121/300: hyper\n\n");
        std::fs::write(&log, text).expect("write");
        assert_eq!(
            latest_log_line(&log).as_deref(),
            Some("Building [======>   ] 121/300: hyper")
        );
        assert_eq!(latest_log_line(&dir.path().join("missing")), None);
        std::fs::write(&log, "").expect("write");
        assert_eq!(latest_log_line(&log), None);
    }

    #[test]
    fn json_mode_shows_nothing_and_plain_lines_follow_the_stage() {
        let quiet = Progress::start(Mode::Quiet, "waiting");
        quiet.set("BUILD", "Compiling");
        assert!(quiet.bar.is_none() && quiet.lines.is_none());
        let plain = Progress::start(Mode::Lines, "building v1");
        plain.set("BUILD", "Compiling a");
        let printed = |p: &Progress| {
            let l = p.lines.as_ref().expect("lines").lock().expect("lock");
            (l.stage.clone(), l.detail.clone())
        };
        assert_eq!(printed(&plain), ("BUILD".into(), "Compiling a".into()));
        // A new detail within QUIET of the last line waits; a new stage does not.
        plain.set("BUILD", "Compiling b");
        assert_eq!(printed(&plain).1, "Compiling a");
        plain.set("POST_BUILD", "publishing");
        assert_eq!(printed(&plain), ("POST_BUILD".into(), "publishing".into()));
    }
}
