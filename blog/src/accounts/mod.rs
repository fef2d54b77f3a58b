//! Author accounts: a name, an argon2id password hash, an admin flag, and a session epoch that
//! changing the password or signing out everywhere bumps (ending older sessions). SQLite keeps
//! them in a `users` table beside the posts; DynamoDB in a table of their own (`BlogAuthors`,
//! hash key `name`), never as items in the posts table, which the seed's app Scans and would
//! show as posts.

pub mod admin;
pub mod dynamodb;
pub mod migrate;
pub mod names;
pub mod sqlite;

use async_trait::async_trait;

use crate::store::StoreError;

pub const NAME_MAX_CHARS: usize = 64;

/// A new account's first session epoch: the time in microseconds since 1970. An account's
/// epochs only grow, one at a time (a password change or a sign-out everywhere, each a signed-in
/// request, a few a second at most), so an account removed and added again starts past every
/// epoch its predecessor reached, and no cookie of the old account, ended or not, fits the new
/// one (docs/blog.md, "Accounts").
pub fn first_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX >> 1))
}

pub use names::fold;

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
    /// Letters, digits, spaces inside, and `.`, `-`, `_`, `'`; 1 to 64 characters; in NFKC,
    /// visible, and in one of the scripts whose letters pass for each other (`names`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let normal = names::nfkc(raw.trim());
        let name = normal.trim();
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
        if let Some(bad) = name
            .chars()
            .find(|c| *c != ' ' && crate::domain::input::invisible(*c))
        {
            return Err(format!(
                "the name contains U+{:04X}, which shows nothing; use letters you can see",
                u32::from(bad)
            ));
        }
        if let Some(why) = names::mixed_scripts(name) {
            return Err(why);
        }
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Why this name may not join `existing`: an account there folds or looks the same.
    pub fn clashes_with<'a>(&self, existing: impl IntoIterator<Item = &'a str>) -> Option<String> {
        let (fold, skeleton) = (names::fold(&self.0), names::skeleton(&self.0));
        existing.into_iter().find_map(|other| {
            if names::fold(other) == fold {
                Some(format!(
                    "there is already an account called {other:?}, the same name in other case \
                     or width"
                ))
            } else if names::skeleton(other) == skeleton {
                Some(format!(
                    "the name looks like the account {other:?} (letters of another script that \
                     look the same)"
                ))
            } else {
                None
            }
        })
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
        assert_eq!(AccountName::parse("ａｎｎ").expect("NFKC").as_str(), "ann");
        for bad in ["\u{3164}", "a\u{3164}b", "\u{2800}", "\u{430}nn"] {
            assert!(AccountName::parse(bad).is_err(), "{bad:?}");
        }
        let ann = AccountName::parse("ANN").expect("ok");
        assert!(ann.clashes_with(["Bob", "ann"]).is_some());
        let cyrillic = AccountName::parse("\u{430}\u{43E}\u{435}").expect("one script");
        assert!(
            cyrillic
                .clashes_with(["aoe"])
                .is_some_and(|why| why.contains("looks like"))
        );
        assert!(ann.clashes_with(["Anne", "Bob"]).is_none());
    }
}
