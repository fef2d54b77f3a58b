//! The SQLite store: one file shared by every blog process on the machine (blue and green at
//! once). WAL lets readers run beside a writer; writes take the write lock up front
//! (`BEGIN IMMEDIATE`) and wait for it (busy timeout), so two processes never fail on a lock
//! upgrade (docs/blog.md, "SQLite shared by several processes").
//!
//! Reads are a few indexed row lookups and run inline on the request's thread with a pooled
//! connection; writes may wait for the lock, so they run on the blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::{Cursor, Order, PostStore, Scope, StoreError, newest_first};
use crate::domain::Excerpts;
use crate::domain::{Edit, FieldLimits, Format, Post, PostId, PostKey, PostSummary, Timestamp};

/// How long a write waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept per process.
const POOL_IDLE_MAX: usize = 8;
/// Characters of content read for an index-page excerpt.
const EXCERPT_PREFIX_CHARS: usize = 400;
/// 1: posts; 2: author accounts (`users`) and the author index. Columns an older blog can
/// live with (it never names them, and their defaults are what it means) are added by
/// [`upgrade`] without a new version, so a rollback to the previous release still opens the
/// file: `format` (docs/blog.md, "Plain text and Markdown") and `revision` ("Concurrent
/// edits").
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS posts (
    post_id   TEXT NOT NULL,
    author    TEXT NOT NULL,
    title     TEXT NOT NULL,
    content   TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    format    TEXT NOT NULL DEFAULT 'markdown',
    revision  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (post_id, author)
);
CREATE INDEX IF NOT EXISTS posts_by_time ON posts (timestamp, post_id, author);
CREATE INDEX IF NOT EXISTS posts_by_author ON posts (author, timestamp, post_id);
CREATE TABLE IF NOT EXISTS users (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    admin         INTEGER NOT NULL DEFAULT 0,
    session_epoch INTEGER NOT NULL DEFAULT 0
);
";

#[derive(Debug, thiserror::Error)]
#[error("cannot open the SQLite database {path}: {message}")]
pub struct OpenError {
    pub path: PathBuf,
    pub message: String,
}

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// The file opened (device, inode): a file deleted or replaced underneath the blog would
    /// take new posts into an unlinked file, lost at the next start, so health checks it.
    file: (u64, u64),
    idle: Mutex<Vec<Connection>>,
    watch: Mutex<Watch>,
    excerpts: Excerpts,
}

/// A connection that never writes, so its `PRAGMA data_version` changes exactly when another
/// connection (in this process or any other) commits; `epoch` counts those changes.
///
/// Asking the pragma starts a read transaction, and SQLite takes and drops a lock on the
/// `-shm` file for it (two `fcntl` calls, about as costly as the rest of a cached page). So
/// the watch first reads the wal-index header, the first [`WAL_INDEX_HEADER`] bytes of the
/// `-shm` file, with one `pread`: every commit rewrites it (its change counter, its last
/// frame, and after a checkpoint its salts), so while it reads the same as at the last pragma
/// nothing has been committed since and the pragma is not asked. The header is read before
/// the pragma, so a commit landing between the two is seen at the next request.
struct Watch {
    conn: Connection,
    seen: i64,
    epoch: u64,
    /// The `-shm` file, when it could be opened; without it every check asks the pragma.
    shm: Option<std::fs::File>,
    /// The header as read before the last pragma.
    header: [u8; WAL_INDEX_HEADER],
}

/// The first copy of the wal-index header (`WalIndexHdr`, sqlite.org/walformat.html): the
/// copy a committing writer updates last.
const WAL_INDEX_HEADER: usize = 48;

impl Watch {
    fn new(conn: Connection, path: &Path) -> rusqlite::Result<Self> {
        let seen = data_version(&conn)?;
        // The pragma above made the watch a reader of the WAL, so the file exists now.
        let mut shm_path = path.as_os_str().to_owned();
        shm_path.push("-shm");
        let shm = std::fs::File::open(shm_path).ok();
        let mut watch = Self {
            conn,
            seen,
            epoch: 0,
            shm,
            header: [0; WAL_INDEX_HEADER],
        };
        // Read now, after the pragma: at worst the first check asks the pragma once more.
        if let Some(header) = watch.read_header() {
            watch.header = header;
        }
        Ok(watch)
    }

    fn read_header(&self) -> Option<[u8; WAL_INDEX_HEADER]> {
        use std::os::unix::fs::FileExt;
        let mut header = [0; WAL_INDEX_HEADER];
        self.shm.as_ref()?.read_exact_at(&mut header, 0).ok()?;
        Some(header)
    }

    /// The epoch: how many times the data changed since the store was opened.
    fn check(&mut self) -> rusqlite::Result<u64> {
        let header = self.read_header();
        if let Some(header) = header
            && header == self.header
        {
            return Ok(self.epoch);
        }
        let now = data_version(&self.conn)?;
        if now != self.seen {
            self.seen = now;
            self.epoch += 1;
        }
        // A header that could not be read (a short file) is never equal to a real one.
        self.header = header.unwrap_or([0xff; WAL_INDEX_HEADER]);
        Ok(self.epoch)
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database and brings its schema up to date. Safe while
    /// other processes have it open.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        let path = path.as_ref().to_path_buf();
        let fail = |e: rusqlite::Error| OpenError {
            path: path.clone(),
            message: e.to_string(),
        };
        let mut conn = connect(&path).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(fail)?;
        if version > SCHEMA_VERSION {
            return Err(OpenError {
                path,
                message: format!(
                    "its schema version is {version}, newer than this blog understands \
                     ({SCHEMA_VERSION}); run a newer blog"
                ),
            });
        }
        tx.execute_batch(SCHEMA).map_err(fail)?;
        upgrade(&tx).map_err(fail)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
        let watch = Watch::new(connect(&path).map_err(fail)?, &path).map_err(fail)?;
        let file = file_identity(&path).map_err(|e| OpenError {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                file,
                path,
                idle: Mutex::new(vec![conn]),
                excerpts: Excerpts::new(),
                watch: Mutex::new(watch),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on a pooled connection on the current thread.
    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R>,
    ) -> Result<R, StoreError> {
        self.inner.with_conn(|c| f(c))
    }

    /// Runs a write transaction on the blocking pool.
    pub(crate) async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // One stat per write (a few µs) keeps posts out of a deleted file.
            inner.same_file()?;
            inner.with_conn_mut(|conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(backend)?;
                let out = f(&tx)?;
                tx.commit().map_err(backend)?;
                Ok(out)
            })
        })
        .await
        .map_err(|e| StoreError::backend("SQLite write task failed", e))?
    }
}

impl Inner {
    /// Fails when the path no longer names the file this process opened (deleted, or replaced
    /// by another): a write would go into a file nobody will read again.
    fn same_file(&self) -> Result<(), StoreError> {
        match file_identity(&self.path) {
            Ok(file) if file == self.file => Ok(()),
            Ok(_) => Err(StoreError::backend(
                "SQLite database file replaced",
                format!(
                    "{} is no longer the file this process opened; restart the blog",
                    self.path.display()
                ),
            )),
            Err(e) => Err(StoreError::backend(
                format!("SQLite database file {} is gone", self.path.display()),
                e,
            )),
        }
    }

    fn take(&self) -> Result<Connection, StoreError> {
        let pooled = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        match pooled {
            Some(conn) => Ok(conn),
            None => connect(&self.path).map_err(backend),
        }
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < POOL_IDLE_MAX
        {
            idle.push(conn);
        }
    }

    fn with_conn<R>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R>,
    ) -> Result<R, StoreError> {
        let conn = self.take()?;
        let out = f(&conn).map_err(backend);
        self.give_back(conn);
        out
    }

    fn with_conn_mut<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut conn = self.take()?;
        let out = f(&mut conn);
        self.give_back(conn);
        out
    }
}

/// Adds the columns a database made by an older blog lacks; run under the write lock, after
/// [`SCHEMA`] (which makes new databases whole). `format`: every post already stored was
/// written by this blog, so all of them stay Markdown (the column's default, which is also
/// what an older blog's inserts get during a rollout).
fn upgrade(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    for (column, definition) in [
        ("format", "TEXT NOT NULL DEFAULT 'markdown'"),
        ("revision", "INTEGER NOT NULL DEFAULT 0"),
    ] {
        let present = tx
            .prepare("SELECT 1 FROM pragma_table_info('posts') WHERE name = ?1")?
            .exists([column])?;
        if !present {
            tx.execute_batch(&format!(
                "ALTER TABLE posts ADD COLUMN {column} {definition};"
            ))?;
        }
    }
    // Every change of a post's text counts, whoever makes it: a blog of the previous release
    // (during a rollout) updates title and content without knowing the column.
    tx.execute_batch(
        "CREATE TRIGGER IF NOT EXISTS posts_revision
         AFTER UPDATE OF title, content, format ON posts
         WHEN NEW.revision = OLD.revision
         BEGIN
             UPDATE posts SET revision = OLD.revision + 1
             WHERE post_id = NEW.post_id AND author = NEW.author;
         END;",
    )?;
    Ok(())
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL makes NORMAL durable against application crashes; a power loss may drop the last
    // commits, which a blog can afford.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

fn file_identity(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

/// Asked on every cached page: the statement is kept prepared, as parsing the pragma each
/// time showed in the profile.
fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("PRAGMA data_version")?
        .query_row([], |row| row.get(0))
}

pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::backend("SQLite", e)
}

fn summary(row: &rusqlite::Row<'_>, excerpts: &Excerpts) -> rusqlite::Result<PostSummary> {
    let format = Format::from_marker(row.get_ref(5)?.as_str().ok());
    // Borrowed from SQLite's row: only the excerpt made of it is kept.
    let prefix = row.get_ref(3)?.as_str().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(PostSummary {
        id: PostId::from_stored(row.get::<_, String>(0)?),
        author: row.get(1)?,
        title: row.get(2)?,
        excerpt: excerpts.of(format, prefix),
        timestamp: Timestamp::from_stored(row.get::<_, String>(4)?),
        format,
    })
}

const FEED_FIRST_NEWEST: &str =
    "SELECT post_id, author, title, substr(content, 1, ?2), timestamp, format
     FROM posts ORDER BY timestamp DESC, post_id DESC, author DESC LIMIT ?1";
const FEED_FIRST_OLDEST: &str =
    "SELECT post_id, author, title, substr(content, 1, ?2), timestamp, format
     FROM posts ORDER BY timestamp ASC, post_id ASC, author ASC LIMIT ?1";
const FEED_OLDER: &str = "SELECT post_id, author, title, substr(content, 1, ?2), timestamp, format
     FROM posts WHERE (timestamp, post_id, author) < (?3, ?4, ?5)
     ORDER BY timestamp DESC, post_id DESC, author DESC LIMIT ?1";
const FEED_NEWER: &str = "SELECT post_id, author, title, substr(content, 1, ?2), timestamp, format
     FROM posts WHERE (timestamp, post_id, author) > (?3, ?4, ?5)
     ORDER BY timestamp ASC, post_id ASC, author ASC LIMIT ?1";
// One author's posts, through `posts_by_author (author, timestamp, post_id)`; the author is
// fixed, so (timestamp, post_id) orders them.
const AUTHOR_FIRST_NEWEST: &str =
    "SELECT post_id, author, title, substr(content, 1, ?2), timestamp, format
     FROM posts WHERE author = ?3 ORDER BY timestamp DESC, post_id DESC LIMIT ?1";
const AUTHOR_FIRST_OLDEST: &str =
    "SELECT post_id, author, title, substr(content, 1, ?2), timestamp, format
     FROM posts WHERE author = ?3 ORDER BY timestamp ASC, post_id ASC LIMIT ?1";
const AUTHOR_OLDER: &str =
    "SELECT post_id, author, title, substr(content, 1, ?2), timestamp, format
     FROM posts WHERE author = ?3 AND (timestamp, post_id) < (?4, ?5)
     ORDER BY timestamp DESC, post_id DESC LIMIT ?1";
const AUTHOR_NEWER: &str =
    "SELECT post_id, author, title, substr(content, 1, ?2), timestamp, format
     FROM posts WHERE author = ?3 AND (timestamp, post_id) > (?4, ?5)
     ORDER BY timestamp ASC, post_id ASC LIMIT ?1";

#[async_trait]
impl PostStore for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn limits(&self) -> FieldLimits {
        FieldLimits::default()
    }

    async fn feed(
        &self,
        scope: Scope<'_>,
        after: Option<&Cursor>,
        order: Order,
        limit: usize,
    ) -> Result<Vec<PostSummary>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let prefix = EXCERPT_PREFIX_CHARS as i64;
        let newest = order == Order::NewestFirst;
        let summary = |row: &rusqlite::Row<'_>| summary(row, &self.inner.excerpts);
        self.read(|conn| match (scope, after) {
            (Scope::All, None) => {
                let sql = if newest {
                    FEED_FIRST_NEWEST
                } else {
                    FEED_FIRST_OLDEST
                };
                let mut stmt = conn.prepare_cached(sql)?;
                stmt.query_map(params![limit, prefix], summary)?.collect()
            }
            (Scope::All, Some(c)) => {
                let sql = if newest { FEED_OLDER } else { FEED_NEWER };
                let mut stmt = conn.prepare_cached(sql)?;
                stmt.query_map(
                    params![limit, prefix, c.timestamp.as_str(), c.id.as_str(), c.author],
                    summary,
                )?
                .collect()
            }
            (Scope::Author(author), None) => {
                let sql = if newest {
                    AUTHOR_FIRST_NEWEST
                } else {
                    AUTHOR_FIRST_OLDEST
                };
                let mut stmt = conn.prepare_cached(sql)?;
                stmt.query_map(params![limit, prefix, author], summary)?
                    .collect()
            }
            (Scope::Author(author), Some(c)) => {
                let sql = if newest { AUTHOR_OLDER } else { AUTHOR_NEWER };
                let mut stmt = conn.prepare_cached(sql)?;
                stmt.query_map(
                    params![limit, prefix, author, c.timestamp.as_str(), c.id.as_str()],
                    summary,
                )?
                .collect()
            }
        })
    }

    async fn versions(&self, id: &PostId) -> Result<Vec<Post>, StoreError> {
        let mut posts = self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT post_id, author, title, content, timestamp, format, revision FROM posts
                 WHERE post_id = ?1",
            )?;
            stmt.query_map([id.as_str()], |row| {
                Ok(Post {
                    id: PostId::from_stored(row.get::<_, String>(0)?),
                    author: row.get(1)?,
                    title: row.get(2)?,
                    content: row.get(3)?,
                    timestamp: Some(Timestamp::from_stored(row.get::<_, String>(4)?)),
                    format: Format::from_marker(row.get_ref(5)?.as_str().ok()),
                    revision: u64::try_from(row.get::<_, i64>(6)?).unwrap_or(0),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        newest_first(&mut posts);
        Ok(posts)
    }

    async fn create(&self, post: &Post) -> Result<(), StoreError> {
        let post = post.clone();
        let timestamp = post
            .timestamp
            .clone()
            .unwrap_or_else(Timestamp::now)
            .as_str()
            .to_string();
        self.write(move |tx| {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO posts (post_id, author, title, content, timestamp, format)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        post.id.as_str(),
                        post.author,
                        post.title,
                        post.content,
                        timestamp,
                        post.format.marker()
                    ])
                })
                .map_err(backend)?;
            if inserted == 0 {
                return Err(StoreError::Rejected(format!(
                    "post {} already exists",
                    post.id
                )));
            }
            Ok(())
        })
        .await
    }

    async fn update(&self, key: &PostKey, edit: &Edit) -> Result<(), StoreError> {
        let key = key.clone();
        let (title, content, format) = (
            edit.title.as_str().to_string(),
            edit.content.as_str().to_string(),
            edit.format.marker(),
        );
        let expected = edit.expected.and_then(|r| i64::try_from(r).ok());
        self.write(move |tx| {
            // The trigger `posts_revision` adds 1 to the revision.
            let changed = tx
                .prepare_cached(
                    "UPDATE posts SET title = ?3, content = ?4, format = ?5
                     WHERE post_id = ?1 AND author = ?2 AND (?6 IS NULL OR revision = ?6)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        key.id.as_str(),
                        key.author,
                        title,
                        content,
                        format,
                        expected
                    ])
                })
                .map_err(backend)?;
            if changed > 0 {
                return Ok(());
            }
            let exists = tx
                .prepare_cached("SELECT 1 FROM posts WHERE post_id = ?1 AND author = ?2")
                .and_then(|mut stmt| stmt.exists(params![key.id.as_str(), key.author]))
                .map_err(backend)?;
            Err(if exists {
                StoreError::Conflict
            } else {
                StoreError::NotFound
            })
        })
        .await
    }

    async fn delete(&self, key: &PostKey) -> Result<(), StoreError> {
        let key = key.clone();
        self.write(move |tx| {
            let changed = tx
                .prepare_cached("DELETE FROM posts WHERE post_id = ?1 AND author = ?2")
                .and_then(|mut stmt| stmt.execute(params![key.id.as_str(), key.author]))
                .map_err(backend)?;
            if changed == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        })
        .await
    }

    fn data_version(&self) -> Result<Option<u64>, StoreError> {
        let mut watch = self.inner.watch.lock().map_err(|_| {
            StoreError::backend(
                "SQLite watch connection unusable",
                "a request panicked while reading data_version",
            )
        })?;
        watch.check().map(Some).map_err(backend)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.same_file()?;
        self.read(|conn| {
            conn.prepare_cached("SELECT 1 FROM posts LIMIT 1")?
                .query_row([], |_| Ok(()))
                .optional()
                .map(|_| ())
        })
    }
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
