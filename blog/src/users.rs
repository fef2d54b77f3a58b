//! `blog user add|passwd|remove|list`: accounts on the same `--store` as the server. Passwords
//! come from the terminal (asked twice, not echoed) or, when stdin is not a terminal, from its
//! first line, so scripts can pipe one in.

use std::io::{BufRead, IsTerminal};

use crate::accounts::{Account, AccountName, AccountStore};
use crate::auth::Passwords;
use crate::auth::password::PasswordError;
use crate::store::StoreError;

#[derive(Debug, Clone)]
pub enum UserCommand {
    Add { name: String, admin: bool },
    Passwd { name: String },
    Remove { name: String },
    List,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}; pick another name")]
    Name(String),
    #[error("{0}")]
    Password(#[from] PasswordError),
    #[error("the two passwords differ; nothing was changed. Run the command again")]
    Mismatch,
    #[error("cannot read the password: {0}")]
    Read(std::io::Error),
    #[error("no account called {0:?}; `blog user list` shows them")]
    NoAccount(String),
    #[error("{0}")]
    Store(StoreError),
}

impl From<StoreError> for UserError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(why) => UserError::Name(why),
            other => UserError::Store(other),
        }
    }
}

/// Reads a new password: twice from a terminal, once from a pipe.
pub fn read_new_password(prompt: &str) -> Result<String, UserError> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(prompt).map_err(UserError::Read)?;
        let again = rpassword::prompt_password("Again: ").map_err(UserError::Read)?;
        if first != again {
            return Err(UserError::Mismatch);
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(UserError::Read)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

/// Carries out `command`; `password` is asked only by the commands that set one. Returns what
/// to print.
pub async fn run(
    accounts: &dyn AccountStore,
    passwords: &Passwords,
    command: UserCommand,
    password: impl FnOnce() -> Result<String, UserError>,
) -> Result<String, UserError> {
    match command {
        UserCommand::Add { name, admin } => {
            let name = AccountName::parse(&name).map_err(UserError::Name)?;
            if accounts.account(name.as_str()).await?.is_some() {
                return Err(UserError::Name(format!(
                    "there is already an account called {:?}",
                    name.as_str()
                )));
            }
            // Not the same name in another case, width or script (`accounts::names`).
            let existing = accounts.list().await?;
            if let Some(why) = name.clashes_with(existing.iter().map(|a| a.name.as_str())) {
                return Err(UserError::Name(why));
            }
            let hash = passwords.hash(password()?).await?;
            accounts
                .add(&Account {
                    name: name.as_str().to_string(),
                    password_hash: hash,
                    admin,
                    // Never an epoch an earlier account of this name had: its old cookies stay
                    // ended.
                    session_epoch: crate::accounts::first_epoch(),
                })
                .await?;
            Ok(format!(
                "added {}{}; sign in at /login",
                name.as_str(),
                if admin { " (admin)" } else { "" }
            ))
        }
        UserCommand::Passwd { name } => {
            if accounts.account(&name).await?.is_none() {
                return Err(UserError::NoAccount(name));
            }
            let hash = passwords.hash(password()?).await?;
            match accounts.set_password(&name, &hash).await {
                Err(StoreError::NotFound) => return Err(UserError::NoAccount(name)),
                other => other?,
            }
            Ok(format!(
                "changed the password of {name}; its older sessions have ended"
            ))
        }
        UserCommand::Remove { name } => match accounts.remove(&name).await {
            Err(StoreError::NotFound) => Err(UserError::NoAccount(name)),
            other => other
                .map(|()| {
                    format!("removed {name}; their posts stay, and only admins can change them now")
                })
                .map_err(UserError::from),
        },
        UserCommand::List => {
            let all = accounts.list().await?;
            if all.is_empty() {
                return Ok("no accounts yet; add one with `blog user add NAME`".into());
            }
            Ok(all
                .iter()
                .map(|a| format!("{}{}", a.name, if a.admin { "\tadmin" } else { "" }))
                .collect::<Vec<_>>()
                .join("\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::AccountStore;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn the_commands_explain_themselves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path().join("blog.db")).expect("open");
        let passwords = Passwords::with_cost(8, 1).expect("params");
        let pw = || Ok("a long enough password".to_string());
        let add = UserCommand::Add {
            name: "ann".into(),
            admin: true,
        };
        assert_eq!(
            run(&store, &passwords, add.clone(), pw).await.expect("add"),
            "added ann (admin); sign in at /login"
        );
        let again = run(&store, &passwords, add, pw).await.expect_err("taken");
        assert_eq!(
            again.to_string(),
            "there is already an account called \"ann\"; pick another name"
        );
        let short = run(
            &store,
            &passwords,
            UserCommand::Add {
                name: "bob".into(),
                admin: false,
            },
            || Ok("short".into()),
        )
        .await
        .expect_err("short");
        assert!(
            short.to_string().contains("at least 10 characters"),
            "{short}"
        );
        let bad = run(
            &store,
            &passwords,
            UserCommand::Add {
                name: "b/b".into(),
                admin: false,
            },
            pw,
        )
        .await
        .expect_err("bad name");
        assert!(bad.to_string().contains("use letters"), "{bad}");
        assert_eq!(
            run(&store, &passwords, UserCommand::List, pw)
                .await
                .expect("list"),
            "ann\tadmin"
        );
        let missing = run(
            &store,
            &passwords,
            UserCommand::Passwd { name: "zed".into() },
            pw,
        )
        .await
        .expect_err("missing");
        assert_eq!(
            missing.to_string(),
            "no account called \"zed\"; `blog user list` shows them"
        );
        run(
            &store,
            &passwords,
            UserCommand::Passwd { name: "ann".into() },
            pw,
        )
        .await
        .expect("passwd");
        let epoch = async || {
            store
                .account("ann")
                .await
                .expect("read")
                .expect("ann")
                .session_epoch
        };
        let before = epoch().await;
        let remove = || UserCommand::Remove { name: "ann".into() };
        run(&store, &passwords, remove(), pw).await.expect("remove");
        // Added again, the account's epoch is past every epoch the removed one had.
        let readd = UserCommand::Add {
            name: "ann".into(),
            admin: true,
        };
        run(&store, &passwords, readd, pw).await.expect("add again");
        assert!(epoch().await > before, "a fresh epoch");
        run(&store, &passwords, remove(), pw).await.expect("remove");
        assert!(
            run(&store, &passwords, UserCommand::List, pw)
                .await
                .expect("list")
                .starts_with("no accounts yet")
        );
    }
}
