//! Logs to stdout through tracing: one line per request, as text or as JSON for CloudWatch.

use std::error::Error;
use std::fmt;
use std::str::FromStr;

use tracing_subscriber::EnvFilter;

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

/// Installs the subscriber. `BLOG_LOG` (or `RUST_LOG`) filters; the default keeps the blog's
/// own info lines and only warnings from libraries.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("BLOG_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("warn,blog=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_target(false);
    match format {
        LogFormat::Text => builder.with_ansi(false).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn chain_shows_every_source() {
        let io = std::io::Error::other("inner");
        assert_eq!(Chain(&Outer(io)).to_string(), "outer: inner");
        assert_eq!(Chain(&std::io::Error::other("alone")).to_string(), "alone");
    }
}
