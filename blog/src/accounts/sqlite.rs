//! Accounts in the SQLite store's `users` table (schema version 2), in the same file as the
//! posts, so every local process sees the same accounts and the same session epochs.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{Account, AccountStore};
use crate::store::StoreError;
use crate::store::sqlite::{SqliteStore, backend};

fn account(row: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        name: row.get(0)?,
        password_hash: row.get(1)?,
        admin: row.get::<_, i64>(2)? != 0,
        session_epoch: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
    })
}

/// Runs one statement that must change exactly one row of `name`.
async fn change_one(
    store: &SqliteStore,
    sql: &'static str,
    name: &str,
    value: Option<String>,
) -> Result<(), StoreError> {
    let name = name.to_string();
    store
        .write(move |tx| {
            let changed = match &value {
                Some(v) => tx.execute(sql, params![name, v]),
                None => tx.execute(sql, params![name]),
            }
            .map_err(backend)?;
            if changed == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        })
        .await
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT name, password_hash, admin, session_epoch FROM users WHERE name = ?1",
            )?
            .query_row([name], account)
            .optional()
        })
    }

    async fn add(&self, new: &Account) -> Result<(), StoreError> {
        let new = new.clone();
        self.write(move |tx| {
            let inserted = tx
                .execute(
                    "INSERT INTO users (name, password_hash, admin, session_epoch)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                    params![
                        new.name,
                        new.password_hash,
                        i64::from(new.admin),
                        i64::try_from(new.session_epoch).unwrap_or(0)
                    ],
                )
                .map_err(backend)?;
            if inserted == 0 {
                return Err(StoreError::Rejected(format!(
                    "there is already an account called {:?}",
                    new.name
                )));
            }
            Ok(())
        })
        .await
    }

    async fn set_password(&self, name: &str, hash: &str) -> Result<(), StoreError> {
        change_one(
            self,
            "UPDATE users SET password_hash = ?2, session_epoch = session_epoch + 1 WHERE name = ?1",
            name,
            Some(hash.to_string()),
        )
        .await
    }

    async fn end_sessions(&self, name: &str) -> Result<(), StoreError> {
        change_one(
            self,
            "UPDATE users SET session_epoch = session_epoch + 1 WHERE name = ?1",
            name,
            None,
        )
        .await
    }

    async fn remove(&self, name: &str) -> Result<(), StoreError> {
        change_one(self, "DELETE FROM users WHERE name = ?1", name, None).await
    }

    async fn list(&self) -> Result<Vec<Account>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT name, password_hash, admin, session_epoch FROM users ORDER BY name",
            )?
            .query_map([], account)?
            .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accounts_add_change_and_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path().join("blog.db")).expect("open");
        let ann = Account {
            name: "ann".into(),
            password_hash: "$argon2id$x".into(),
            admin: true,
            session_epoch: 0,
        };
        store.add(&ann).await.expect("add");
        assert!(matches!(
            store.add(&ann).await,
            Err(StoreError::Rejected(_))
        ));
        store
            .set_password("ann", "$argon2id$y")
            .await
            .expect("passwd");
        store
            .end_sessions("ann")
            .await
            .expect("sign out everywhere");
        let now = store.account("ann").await.expect("read").expect("exists");
        assert_eq!(
            (now.password_hash.as_str(), now.session_epoch, now.admin),
            ("$argon2id$y", 2, true)
        );
        assert_eq!(store.list().await.expect("list"), vec![now]);
        store.remove("ann").await.expect("remove");
        assert!(matches!(
            store.remove("ann").await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.end_sessions("ann").await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(store.account("ann").await.expect("read"), None);
    }
}
