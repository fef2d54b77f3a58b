//! Keyset paging walked to the end and back, at page-boundary sizes, on a real SQLite store.

use blog::domain::{Post, PostId, Timestamp};
use blog::store::paging::{self, PageRequest};
use blog::store::sqlite::SqliteStore;
use blog::store::{PostStore, Scope};

const SIZE: usize = 5;

async fn store_with(n: usize, dir: &tempfile::TempDir) -> (SqliteStore, Vec<String>) {
    let store = SqliteStore::open(dir.path().join(format!("{n}.db"))).expect("open");
    let mut titles = Vec::new();
    for i in 0..n {
        // Four posts share a timestamp, two by each author, so ties are broken by id (and
        // by author across the whole feed).
        let ts = format!("2026-02-01T00:00:{:02}", i / 4);
        let post = Post {
            id: PostId::generate(),
            author: if i % 2 == 0 { "even" } else { "odd" }.to_string(),
            title: format!("p{i}"),
            content: String::new(),
            timestamp: Some(Timestamp::parse(&ts).expect("ts")),
            format: blog::domain::Format::Markdown,
            revision: 0,
        };
        store.create(&post).await.expect("create");
        titles.push(post.title);
    }
    (store, titles)
}

#[tokio::test]
async fn every_post_once_forward_and_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    for n in [0, 1, SIZE - 1, SIZE, SIZE + 1, 2 * SIZE, 2 * SIZE + 1, 23] {
        let (store, _) = store_with(n, &dir).await;
        walk(&store, Scope::All, n).await;
        // One author's posts: every other one, through the author index.
        walk(&store, Scope::Author("even"), n.div_ceil(2)).await;
        walk(&store, Scope::Author("odd"), n / 2).await;
        walk(&store, Scope::Author("nobody"), 0).await;
    }
}

/// Pages through `scope` to the end and back, expecting `n` posts.
async fn walk(store: &SqliteStore, scope: Scope<'_>, n: usize) {
    {
        let of_scope = |p: &paging::Page| match scope {
            Scope::All => true,
            Scope::Author(a) => p.posts.iter().all(|s| s.author == a),
        };
        // Forward: first page, then older until there is none.
        let mut pages = vec![
            paging::page(store, scope, &PageRequest::First, SIZE)
                .await
                .expect("first"),
        ];
        while let Some(older) = pages.last().and_then(|p| p.older.clone()) {
            pages.push(
                paging::page(store, scope, &PageRequest::Older(older), SIZE)
                    .await
                    .expect("older"),
            );
            assert!(
                pages.len() <= n / SIZE + 2,
                "{scope:?} {scope:?} n={n}: paging does not end"
            );
        }
        let seen: Vec<_> = pages
            .iter()
            .flat_map(|p| p.posts.iter().map(|s| s.title.clone()))
            .collect();
        assert_eq!(seen.len(), n, "{scope:?} {scope:?} n={n}: every post once");
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), n, "{scope:?} {scope:?} n={n}: no post twice");
        let stamps: Vec<_> = pages
            .iter()
            .flat_map(|p| p.posts.iter().map(|s| s.timestamp.clone()))
            .collect();
        assert!(
            stamps.windows(2).all(|w| w[0] >= w[1]),
            "{scope:?} {scope:?} n={n}: newest first"
        );
        assert!(pages.iter().all(|p| p.posts.len() <= SIZE));
        assert!(
            pages.iter().all(of_scope),
            "{scope:?} n={n}: other authors' posts"
        );
        assert!(
            pages[..pages.len().saturating_sub(1)]
                .iter()
                .all(|p| p.posts.len() == SIZE)
        );

        // Back: newer links from the last page retrace the same pages.
        let mut back = vec![pages.last().cloned().expect("a page")];
        while let Some(newer) = back.last().and_then(|p| p.newer.clone()) {
            back.push(
                paging::page(store, scope, &PageRequest::Newer(newer), SIZE)
                    .await
                    .expect("newer"),
            );
            assert!(
                back.len() <= n / SIZE + 2,
                "{scope:?} {scope:?} n={n}: going back does not end"
            );
        }
        let titles = |p: &paging::Page| p.posts.iter().map(|s| s.title.clone()).collect::<Vec<_>>();
        let forward: Vec<_> = pages.iter().rev().map(titles).collect();
        let backward: Vec<_> = back.iter().map(titles).collect();
        assert_eq!(forward, backward, "{scope:?} n={n}");
        assert!(back.last().expect("page").is_first);
    }
}
