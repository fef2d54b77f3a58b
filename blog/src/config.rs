//! The `--store` / `BLOG_STORE` setting.

use std::path::PathBuf;
use std::str::FromStr;

/// Where posts live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// `sqlite:PATH`, the default (`sqlite:blog.db`).
    Sqlite(PathBuf),
    /// `dynamodb:TABLE`, the seed's table shape.
    Dynamo(String),
}

pub const DEFAULT_STORE: &str = "sqlite:blog.db";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreSpecError {
    #[error("the store {0:?} should be `sqlite:PATH` or `dynamodb:TABLE`")]
    Scheme(String),
    #[error("`sqlite:` needs a file path, for example `sqlite:blog.db`")]
    NoPath,
    #[error("{0:?} is not a DynamoDB table name: use 3-255 letters, digits, `_`, `-` or `.`")]
    TableName(String),
}

impl FromStr for StoreSpec {
    type Err = StoreSpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(StoreSpecError::NoPath);
            }
            return Ok(StoreSpec::Sqlite(PathBuf::from(path)));
        }
        if let Some(table) = text.strip_prefix("dynamodb:") {
            return valid_table(table).map(|t| StoreSpec::Dynamo(t.to_string()));
        }
        Err(StoreSpecError::Scheme(text.to_string()))
    }
}

/// DynamoDB's table-name rule, checked here so a typo fails before any AWS call.
pub fn valid_table(name: &str) -> Result<&str, StoreSpecError> {
    let ok = (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(name)
    } else {
        Err(StoreSpecError::TableName(name.to_string()))
    }
}

impl std::fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSpec::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            StoreSpec::Dynamo(table) => write!(f, "dynamodb:{table}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds() {
        assert_eq!(
            "sqlite:blog.db".parse(),
            Ok(StoreSpec::Sqlite("blog.db".into()))
        );
        assert_eq!(
            "sqlite:/var/lib/blog.db".parse(),
            Ok(StoreSpec::Sqlite("/var/lib/blog.db".into()))
        );
        assert_eq!(
            "dynamodb:BlogPosts".parse(),
            Ok(StoreSpec::Dynamo("BlogPosts".into()))
        );
    }

    #[test]
    fn explains_mistakes() {
        assert_eq!(
            "postgres:x".parse::<StoreSpec>(),
            Err(StoreSpecError::Scheme("postgres:x".into()))
        );
        assert_eq!("sqlite:".parse::<StoreSpec>(), Err(StoreSpecError::NoPath));
        assert!(matches!(
            "dynamodb:a b".parse::<StoreSpec>(),
            Err(StoreSpecError::TableName(_))
        ));
    }
}
