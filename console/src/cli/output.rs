//! Writing to stdout and stderr without panicking. `println!` panics when the reader went away
//! (`bluegreen status | head`); a command-line tool should stop quietly instead, as the Unix
//! tools do, and never print a panic.
//!
//! Human text passes through [`crate::format::terminal_safe`] on its way out, whatever it
//! carries (names, reasons and verbs from the journal and the lock, request paths from the
//! logs, a platform's error message): no escape sequence reaches a terminal. A JSON document
//! goes out as it is ([`out_json`]): JSON escapes what it must, and the data stays the data.

use std::io::{ErrorKind, Write};

/// The exit code of a command whose output pipe was closed: 128 + SIGPIPE, what a shell reports
/// for a tool the signal stopped.
pub const CLOSED_PIPE: i32 = 141;

/// One line (or block) of human text on stdout.
pub fn out(text: &str) {
    let text = crate::format::terminal_safe(text);
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        gone(&e);
    }
}

/// One JSON document (or a line of JSON Lines) on stdout, as it is.
pub fn out_json(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        gone(&e);
    }
}

/// Human text on stdout (no newline added).
pub fn out_raw(text: &str) {
    out_verbatim(&crate::format::terminal_safe(text));
}

/// Text this program made itself (a completion script, a page) on stdout, as it is.
pub fn out_verbatim(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        gone(&e);
    }
}

/// One line of human text on stderr. A closed stderr is ignored: there is nowhere left to
/// say anything.
pub fn err(text: &str) {
    let text = crate::format::terminal_safe(text);
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

fn gone(e: &std::io::Error) -> ! {
    if e.kind() == ErrorKind::BrokenPipe {
        std::process::exit(CLOSED_PIPE);
    }
    err(&format!("error: cannot write the output: {e}"));
    std::process::exit(crate::ops::exit::FAILURE);
}

/// `println!` that stops quietly on a closed pipe.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::output::out(&format!($($arg)*))
    };
}

/// `print!` that stops quietly on a closed pipe.
macro_rules! say_raw {
    ($($arg:tt)*) => {
        $crate::cli::output::out_raw(&format!($($arg)*))
    };
}

/// `eprintln!` that never panics.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::cli::output::err(&format!($($arg)*))
    };
}

pub(crate) use {note, say, say_raw};
