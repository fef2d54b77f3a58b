//! Who is at the keys: the name the deploy lock and the journal record, and the host the
//! write came from. Pure: the command layer resolves the name (`--as`, `BLUEGREEN_USER`, the
//! AWS caller identity or the OS user) and hands it here to be checked.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest name or host kept: a lock holder is shown in a one-line header.
pub const MAX_NAME: usize = 64;

/// An operator: a person (or a pipeline) and the machine they act from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Operator {
    pub name: String,
    pub host: String,
}

/// A name that cannot identify an operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    #[error("the operator name is empty (give one with --as NAME or BLUEGREEN_USER)")]
    Empty,
    #[error(
        "the operator name `{0}` is longer than {MAX_NAME} characters (give a shorter one with --as NAME)"
    )]
    TooLong(String),
    #[error(
        "the operator name {0:?} has a character that is not a letter, a digit or one of . _ @ + - (give another with --as NAME)"
    )]
    BadChar(String),
}

impl Operator {
    /// Checks `name` (trimmed) and keeps `host` as far as it is printable.
    pub fn new(name: &str, host: &str) -> Result<Operator, OperatorError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(OperatorError::Empty);
        }
        if name.chars().count() > MAX_NAME {
            return Err(OperatorError::TooLong(
                name.chars().take(MAX_NAME).collect(),
            ));
        }
        if !name.chars().all(allowed) {
            return Err(OperatorError::BadChar(name.to_string()));
        }
        let host: String = host
            .trim()
            .chars()
            .filter(|c| allowed(*c))
            .take(MAX_NAME)
            .collect();
        Ok(Operator {
            name: name.to_string(),
            host: if host.is_empty() {
                "unknown-host".into()
            } else {
                host
            },
        })
    }

    /// Whether `other` is the same person, from whichever host: a lock held by a name is
    /// that name's, so an engineer can continue from a second terminal.
    pub fn same_person(&self, other: &Operator) -> bool {
        self.name == other.name
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.host)
    }
}

fn allowed(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '@' | '+' | '-')
}

/// The operator's name in an AWS caller identity ARN: the session name of an assumed role
/// (SSO and `assume-role` put the person there), the user name of an IAM user, `root` for
/// the account's root. `None` when the ARN has no such part.
pub fn name_from_arn(arn: &str) -> Option<&str> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let mut parts = resource.split('/');
    let name = match parts.next()? {
        // arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
        "assumed-role" => parts.nth(1)?,
        // arn:aws:iam::ACCOUNT:user/PATH/NAME
        "user" => parts.next_back()?,
        // arn:aws:sts::ACCOUNT:federated-user/NAME
        "federated-user" => parts.next()?,
        "root" => "root",
        _ => return None,
    };
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        let op = Operator::new(" alice ", "ws-1\n").expect("valid");
        assert_eq!(op.to_string(), "alice@ws-1");
        assert_eq!(Operator::new("  ", "h"), Err(OperatorError::Empty));
        assert!(matches!(
            Operator::new(&"a".repeat(MAX_NAME + 1), "h"),
            Err(OperatorError::TooLong(_))
        ));
        assert!(Operator::new(&"a".repeat(MAX_NAME), "h").is_ok());
        assert!(matches!(
            Operator::new("al ice", "h"),
            Err(OperatorError::BadChar(_))
        ));
        assert!(matches!(
            Operator::new("bob\u{1b}[2J", "h"),
            Err(OperatorError::BadChar(_))
        ));
        assert_eq!(
            Operator::new("bob", "\u{1b}").expect("valid").host,
            "unknown-host"
        );
    }

    #[test]
    fn same_person_ignores_the_host() {
        let a = Operator::new("alice", "laptop").expect("valid");
        let b = Operator::new("alice", "jump-host").expect("valid");
        let c = Operator::new("bob", "laptop").expect("valid");
        assert!(a.same_person(&b));
        assert!(!a.same_person(&c));
    }

    #[test]
    fn names_from_caller_arns() {
        assert_eq!(
            name_from_arn(
                "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin/alice@example.com"
            ),
            Some("alice@example.com")
        );
        assert_eq!(
            name_from_arn("arn:aws:iam::123456789012:user/ops/bob"),
            Some("bob")
        );
        assert_eq!(
            name_from_arn("arn:aws:iam::123456789012:user/carol"),
            Some("carol")
        );
        assert_eq!(
            name_from_arn("arn:aws:sts::123456789012:federated-user/dave"),
            Some("dave")
        );
        assert_eq!(
            name_from_arn("arn:aws:iam::123456789012:root"),
            Some("root")
        );
        assert_eq!(
            name_from_arn("arn:aws:sts::123456789012:assumed-role/Role"),
            None
        );
        assert_eq!(name_from_arn("not an arn"), None);
        assert_eq!(name_from_arn(""), None);
    }
}
