use super::*;
use crate::domain::{Content, Title};

fn post(n: usize, ts: &str) -> Post {
    Post {
        id: PostId::generate(),
        author: format!("author {n}"),
        title: format!("title {n}"),
        content: format!("content {n}"),
        timestamp: Some(Timestamp::parse(ts).expect("valid timestamp")),
        format: Format::Markdown,
        revision: 0,
    }
}

#[tokio::test]
async fn create_read_update_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("blog.db")).expect("open");
    let p = post(1, "2026-11-28T05:32:51.617374");
    store.create(&p).await.expect("create");
    assert_eq!(store.versions(&p.id).await.expect("read"), vec![p.clone()]);
    let edit = Edit {
        title: Title::parse("new", FieldLimits::default()).expect("valid"),
        content: Content::parse("body", FieldLimits::default()).expect("valid"),
        format: Format::Markdown,
        expected: Some(0),
    };
    store.update(&p.key(), &edit).await.expect("update");
    // A second save from the same revision lost the race: a conflict, nothing written.
    let stale = Edit {
        title: Title::parse("stale", FieldLimits::default()).expect("valid"),
        ..edit.clone()
    };
    assert!(matches!(
        store.update(&p.key(), &stale).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.versions(&p.id).await.expect("read")[0].revision, 1);
    // Another process of the previous release edits without knowing revisions: it counts.
    store
        .read(|c| {
            c.execute(
                "UPDATE posts SET title = 'old blog' WHERE post_id = ?1",
                [p.id.as_str()],
            )
        })
        .expect("an older blog's edit");
    assert_eq!(store.versions(&p.id).await.expect("read")[0].revision, 2);
    let edit = edit.from_revision(Some(2));
    let mut other = p.key();
    other.author = "someone else".into();
    assert!(matches!(
        store.update(&other, &edit).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.versions(&p.id).await.expect("read")[0].title,
        "old blog"
    );
    store
        .update(&p.key(), &edit)
        .await
        .expect("update from revision 2");
    assert_eq!(store.versions(&p.id).await.expect("read")[0].title, "new");
    store.delete(&p.key()).await.expect("delete");
    assert!(matches!(
        store.delete(&p.key()).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.versions(&p.id).await.expect("read").is_empty());
    store.ping().await.expect("ping");
}

#[tokio::test]
async fn every_listing_walks_an_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("blog.db")).expect("open");
    // (query, its five parameters after limit and prefix, the index it must walk)
    for (sql, a, b, c, index) in [
        (FEED_OLDER, "2026", "a", "b", "posts_by_time"),
        (FEED_NEWER, "2026", "a", "b", "posts_by_time"),
        (AUTHOR_OLDER, "Ann", "2026", "a", "posts_by_author"),
        (AUTHOR_NEWER, "Ann", "2026", "a", "posts_by_author"),
    ] {
        let plan: Vec<String> = store
            .read(|conn| {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                stmt.query_map(params![21, 400, a, b, c], |row| row.get::<_, String>(3))?
                    .collect()
            })
            .expect("plan");
        let plan = plan.join("\n");
        assert!(plan.contains(index), "{sql}: {plan}");
        assert!(
            !plan.contains("TEMP B-TREE"),
            "sorts instead of walking the index: {plan}"
        );
    }
}

#[tokio::test]
async fn data_version_follows_every_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("blog.db");
    let store = SqliteStore::open(&path).expect("open");
    let v0 = store.data_version().expect("version");
    assert_eq!(
        store.data_version().expect("version"),
        v0,
        "no change, same version"
    );
    store
        .create(&post(1, "2026-11-28T05:32:51"))
        .await
        .expect("create");
    let v1 = store.data_version().expect("version");
    assert_ne!(v1, v0, "this process's write");
    // Another process (here: another connection) writing directly.
    let other = Connection::open(&path).expect("open");
    other.execute("DELETE FROM posts", []).expect("delete");
    let v2 = store.data_version().expect("version");
    assert_ne!(v2, v1, "another writer");
    assert_eq!(
        store.data_version().expect("version"),
        v2,
        "no change since"
    );
}

/// The wal-index header shortcut must see every commit: small ones, ones after a
/// checkpoint restarted the WAL (the frame count starts again), ones of the same size.
#[tokio::test]
async fn every_commit_is_seen_across_checkpoints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("blog.db");
    let store = SqliteStore::open(&path).expect("open");
    store
        .create(&post(1, "2026-11-28T05:32:51"))
        .await
        .expect("create");
    let other = Connection::open(&path).expect("open");
    let mut last = store.data_version().expect("version");
    for i in 0..40 {
        // The same one-row update each time: the same number of frames, the same size.
        other
            .execute("UPDATE posts SET title = ?1", [format!("t{}", i % 2)])
            .expect("update");
        if i % 7 == 0 {
            other
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .expect("checkpoint");
        }
        let now = store.data_version().expect("version");
        assert_ne!(now, last, "commit {i} not seen");
        assert_eq!(store.data_version().expect("version"), now, "after {i}");
        last = now;
    }
}

/// A database an older blog made (no `format` column) keeps its posts as Markdown, since
/// this blog wrote them; plain-text rows read back as plain text.
#[tokio::test]
async fn an_older_database_keeps_its_posts_as_markdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("blog.db");
    {
        let old = Connection::open(&path).expect("open");
        old.execute_batch(
                "CREATE TABLE posts (post_id TEXT NOT NULL, author TEXT NOT NULL,
                     title TEXT NOT NULL, content TEXT NOT NULL, timestamp TEXT NOT NULL,
                     PRIMARY KEY (post_id, author));
                 CREATE INDEX posts_by_time ON posts (timestamp, post_id, author);
                 INSERT INTO posts VALUES ('old-1', 'Ann', 'Old', '**bold**', '2026-11-28T05:32:51');
                 PRAGMA user_version = 2;",
            )
            .expect("an older blog's database");
    }
    let store = SqliteStore::open(&path).expect("open and upgrade");
    let id = PostId::parse("old-1").expect("id");
    let old = &store.versions(&id).await.expect("read")[0];
    assert_eq!(old.format, Format::Markdown);
    let listed = store
        .feed(Scope::All, None, Order::NewestFirst, 5)
        .await
        .expect("feed");
    assert_eq!(
        (listed[0].format, listed[0].excerpt.as_str()),
        (Format::Markdown, "bold")
    );
    let mut plain = post(2, "2026-11-29T05:32:51");
    plain.format = Format::Plain;
    plain.content = "<b>x</b>\n**y**".into();
    store.create(&plain).await.expect("create");
    assert_eq!(store.versions(&plain.id).await.expect("read")[0], plain);
    let listed = store
        .feed(Scope::All, None, Order::NewestFirst, 1)
        .await
        .expect("feed");
    assert_eq!(listed[0].excerpt, "<b>x</b>\n**y**");
    drop(store);
    // Opening again changes nothing (the upgrade is done once).
    let again = SqliteStore::open(&path).expect("reopen");
    assert_eq!(
        again.versions(&id).await.expect("read")[0].format,
        Format::Markdown
    );
}

#[tokio::test]
async fn reopening_keeps_posts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("blog.db");
    let p = post(1, "2026-11-28T05:32:51");
    SqliteStore::open(&path)
        .expect("open")
        .create(&p)
        .await
        .expect("create");
    let again = SqliteStore::open(&path).expect("reopen");
    assert_eq!(again.versions(&p.id).await.expect("read").len(), 1);
}
