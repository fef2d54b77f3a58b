//! Keyset paging over [`PostStore::feed`]. A cursor is the key of the last post a page showed
//! (timestamp, post id and author, which is also the DynamoDB index's exclusive start key); it
//! travels in links as opaque hex.

use super::{Order, PostStore, Scope, StoreError};
use crate::domain::{PostId, PostSummary, Timestamp};

/// Posts per index page.
pub const PAGE_SIZE: usize = 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub timestamp: Timestamp,
    pub id: PostId,
    pub author: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("this page link is damaged or out of date")]
pub struct CursorError;

const SEP: char = '\u{1f}';

impl Cursor {
    pub fn of(post: &PostSummary) -> Self {
        Self {
            timestamp: post.timestamp.clone(),
            id: post.id.clone(),
            author: post.author.clone(),
        }
    }

    /// The form used in `?older=` / `?newer=` links.
    pub fn encode(&self) -> String {
        hex::encode(format!(
            "{}{SEP}{}{SEP}{}",
            self.timestamp, self.id, self.author
        ))
    }

    pub fn decode(text: &str) -> Result<Self, CursorError> {
        let bytes = hex::decode(text).map_err(|_| CursorError)?;
        let text = String::from_utf8(bytes).map_err(|_| CursorError)?;
        let mut parts = text.splitn(3, SEP);
        let (Some(ts), Some(id), Some(author)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CursorError);
        };
        Ok(Self {
            timestamp: Timestamp::parse(ts).ok_or(CursorError)?,
            id: PostId::parse(id).ok_or(CursorError)?,
            author: author.to_string(),
        })
    }
}

/// Which page the reader asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageRequest {
    First,
    /// The page of posts older than the cursor.
    Older(Cursor),
    /// The page of posts newer than the cursor.
    Newer(Cursor),
}

/// One index page, newest first, with cursors for the neighbouring pages.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub posts: Vec<PostSummary>,
    pub older: Option<Cursor>,
    pub newer: Option<Cursor>,
    /// Whether this is the newest page (so "newer" links back to `/`).
    pub is_first: bool,
}

/// Fetches one page: `size + 1` posts tell whether another page follows.
pub async fn page(
    store: &dyn PostStore,
    scope: Scope<'_>,
    request: &PageRequest,
    size: usize,
) -> Result<Page, StoreError> {
    match request {
        PageRequest::First => first(store, scope, size).await,
        PageRequest::Older(cursor) => {
            let mut posts = store
                .feed(scope, Some(cursor), Order::NewestFirst, size + 1)
                .await?;
            let older = trim(&mut posts, size);
            let newer = posts
                .first()
                .map(Cursor::of)
                .or_else(|| Some(cursor.clone()));
            Ok(Page {
                posts,
                older,
                newer,
                is_first: false,
            })
        }
        PageRequest::Newer(cursor) => {
            let mut posts = store
                .feed(scope, Some(cursor), Order::OldestFirst, size + 1)
                .await?;
            if posts.len() <= size {
                // Nothing newer beyond this page: show the full newest page instead.
                return first(store, scope, size).await;
            }
            posts.truncate(size);
            posts.reverse();
            let newer = posts.first().map(Cursor::of);
            let older = posts.last().map(Cursor::of);
            Ok(Page {
                posts,
                older,
                newer,
                is_first: false,
            })
        }
    }
}

async fn first(store: &dyn PostStore, scope: Scope<'_>, size: usize) -> Result<Page, StoreError> {
    let mut posts = store
        .feed(scope, None, Order::NewestFirst, size + 1)
        .await?;
    let older = trim(&mut posts, size);
    Ok(Page {
        posts,
        older,
        newer: None,
        is_first: true,
    })
}

/// Drops the look-ahead post and returns the cursor for the next page if there was one.
fn trim(posts: &mut Vec<PostSummary>, size: usize) -> Option<Cursor> {
    if posts.len() > size {
        posts.truncate(size);
        posts.last().map(Cursor::of)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_damage() {
        let c = Cursor {
            timestamp: Timestamp::parse("2026-11-28T05:32:51.617374").expect("valid"),
            id: PostId::generate(),
            author: "Ann \u{e9}".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Ok(c.clone()));
        assert_eq!(Cursor::decode("zz"), Err(CursorError));
        assert_eq!(
            Cursor::decode(&hex::encode("no separators")),
            Err(CursorError)
        );
        let mut bad = c.encode();
        bad.truncate(10);
        assert_eq!(Cursor::decode(&bad), Err(CursorError));
    }
}
