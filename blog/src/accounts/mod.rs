//! Author accounts: a name, an argon2id password hash, an admin flag, and a session epoch that
//! changing the password or signing out everywhere bumps (ending older sessions). SQLite keeps
//! them in a `users` table beside the posts; DynamoDB in a table of their own (`BlogAuthors`,
//! hash key `name`), never as items in the posts table, which the seed's app Scans and would
//! show as posts.

pub mod admin;
pub mod dynamodb;
pub mod migrate;
pub mod sqlite;

use async_trait::async_trait;

use crate::store::StoreError;

pub const NAME_MAX_CHARS: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    /// A PHC string (`$argon2id$…`).
    pub password_hash: String,
    pub admin: bool,
    pub session_epoch: u64,
}

/// An account name: the author shown on posts and in `/authors/NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountName(String);

impl AccountName {
    /// Letters, digits, spaces inside, and `.`, `-`, `_`, `'`; 1 to 64 characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        let chars = name.chars().count();
        if chars == 0 {
            return Err("an account needs a name".into());
        }
        if chars > NAME_MAX_CHARS {
            return Err(format!(
                "the name is {chars} characters long; the limit is {NAME_MAX_CHARS}"
            ));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_' | '\'')))
        {
            return Err(format!(
                "the name contains {bad:?}; use letters, digits, spaces, `.`, `-`, `_` or `'`"
            ));
        }
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// The account called `name`, if any.
    async fn account(&self, name: &str) -> Result<Option<Account>, StoreError>;

    /// Adds a new account; `Rejected` if the name is taken.
    async fn add(&self, account: &Account) -> Result<(), StoreError>;

    /// Sets a new password hash and bumps the session epoch; `NotFound` if there is no such
    /// account.
    async fn set_password(&self, name: &str, hash: &str) -> Result<(), StoreError>;

    /// Bumps the session epoch, ending every session of the account; `NotFound` if none.
    async fn end_sessions(&self, name: &str) -> Result<(), StoreError>;

    /// Removes the account (its posts stay, and become editable by admins only).
    async fn remove(&self, name: &str) -> Result<(), StoreError>;

    /// Every account, by name.
    async fn list(&self) -> Result<Vec<Account>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(
            AccountName::parse("  Ann O'Neil ").expect("ok").as_str(),
            "Ann O'Neil"
        );
        assert!(AccountName::parse("").is_err());
        assert!(
            AccountName::parse("a/b")
                .expect_err("slash")
                .contains("'/'")
        );
        assert!(AccountName::parse("nul\0").is_err());
        assert!(AccountName::parse(&"x".repeat(65)).is_err());
    }
}
