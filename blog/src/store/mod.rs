//! Where posts live. One object-safe trait, [`PostStore`], with a SQLite implementation (the
//! default, shared by every local blog process) and a DynamoDB one (the seed's table).
//!
//! Listing is keyset-paged: a [`Cursor`] names the last post seen, so a page costs the same
//! however many posts exist.

pub mod dynamodb;
pub mod paging;
pub mod sqlite;

use async_trait::async_trait;

use crate::domain::{Edit, FieldLimits, Post, PostId, PostKey, PostSummary, Timestamp};

pub use paging::{Cursor, CursorError, Page, PageRequest};

/// Which way [`PostStore::feed`] walks the time order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

/// Which posts [`PostStore::feed`] lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Every post (the index, the Atom feed).
    All,
    /// One author's posts (`/authors/NAME`).
    Author(&'a str),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The post (or the exact `(post_id, author)` item) does not exist.
    #[error("no such post")]
    NotFound,
    /// The backend refused the data itself (for example an index key limit).
    #[error("the store refused the post: {0}")]
    Rejected(String),
    /// An edit started from a revision the post is no longer at: someone saved it meanwhile.
    #[error("the post changed since the edit began")]
    Conflict,
    /// The backend could not be reached or failed. `context` names the operation, `source`
    /// keeps the backend's own error so logs show the whole chain (see
    /// [`crate::telemetry::Chain`]); readers only ever see a generic page.
    #[error("{context}")]
    Backend {
        context: String,
        #[source]
        source: BoxError,
    },
}

/// A backend's error, kept whole behind [`StoreError::Backend`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl StoreError {
    /// A [`StoreError::Backend`] for `source`, which failed while doing `context`.
    pub fn backend(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        StoreError::Backend {
            context: context.into(),
            source: source.into(),
        }
    }
}

#[async_trait]
pub trait PostStore: Send + Sync + 'static {
    /// `sqlite` or `dynamodb`, for `/health` and logs.
    fn kind(&self) -> &'static str;

    /// Limits this store adds to the blog's own validation.
    fn limits(&self) -> FieldLimits;

    /// Up to `limit` posts of `scope` strictly after `after` in `order` (from the newest or
    /// oldest end when `after` is `None`), through an index either way, so a page deep in the
    /// list costs what the first one does. Posts without a timestamp are not in the feed.
    async fn feed(
        &self,
        scope: Scope<'_>,
        after: Option<&Cursor>,
        order: Order,
        limit: usize,
    ) -> Result<Vec<PostSummary>, StoreError>;

    /// Every item stored under `id`, newest first. Usually one; the seed's edit bug can leave
    /// more (an item without a timestamp counts as the newest, since only that bug makes one).
    async fn versions(&self, id: &PostId) -> Result<Vec<Post>, StoreError>;

    /// Stores a new post. The caller made its id and timestamp.
    async fn create(&self, post: &Post) -> Result<(), StoreError>;

    /// Changes title and content of an existing item and adds 1 to its revision; `NotFound` if
    /// it is gone, `Conflict` if `edit.expected` is not its revision any more.
    async fn update(&self, key: &PostKey, edit: &Edit) -> Result<(), StoreError>;

    /// Deletes an existing item; `NotFound` if it is gone.
    async fn delete(&self, key: &PostKey) -> Result<(), StoreError>;

    /// Answers only while the store does.
    async fn ping(&self) -> Result<(), StoreError>;

    /// A number that changes whenever any process changes the posts, when the store can tell
    /// cheaply; pages rendered from the store stay valid while it holds. `None`: no such
    /// signal, render every time.
    fn data_version(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }
}

/// Orders the versions of one post newest first: no timestamp first, then by timestamp.
pub(crate) fn newest_first(posts: &mut [Post]) {
    posts.sort_by(|a, b| match (&a.timestamp, &b.timestamp) {
        (None, None) => a.author.cmp(&b.author),
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (Some(x), Some(y)) => y.cmp(x).then_with(|| a.author.cmp(&b.author)),
    });
}

/// A post the blog is about to create.
pub fn new_post(input: &crate::domain::input::NewPost) -> Post {
    Post {
        id: PostId::generate(),
        author: input.author.as_str().to_string(),
        title: input.title.as_str().to_string(),
        content: input.content.as_str().to_string(),
        timestamp: Some(Timestamp::now()),
        format: crate::domain::Format::Markdown,
        revision: 0,
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn backend_errors_keep_their_source() {
        let cause = std::io::Error::other("disk on fire");
        let e = StoreError::backend("SQLite", cause);
        assert_eq!(e.to_string(), "SQLite");
        let source = e.source().map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("disk on fire"));
    }
}
