//! Items in the seed's exact shape: `post_id`, `author`, `title`, `content`, `timestamp`, all
//! strings, plus `feed = "posts"` so the listing index sees them, and on the blog's own posts
//! `format = "markdown"` (docs/blog.md, "Plain text and Markdown"): an item without it was
//! written by the seed's app (or another writer that does not know Markdown) and is plain text.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::schema::{FEED_ATTR, FEED_VALUE, TIMESTAMP_ATTR};
use crate::domain::{Format, Post, PostId, PostKey, PostSummary, Timestamp};

/// The marker attribute: `markdown` on the blog's own posts, absent on the seed's.
pub const FORMAT_ATTR: &str = "format";
/// How many times the blog changed the item (N); absent means 0 (docs/blog.md, "Concurrent
/// edits").
pub const REVISION_ATTR: &str = "revision";

fn revision_of(item: &Item) -> u64 {
    match item.get(REVISION_ATTR) {
        Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
        _ => 0,
    }
}
use crate::store::{Cursor, StoreError};

pub type Item = HashMap<String, AttributeValue>;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn get<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// An item someone else wrote without an attribute the blog cannot do without.
#[derive(Debug, thiserror::Error)]
#[error("the item has no string `{name}` (its attributes: {attributes})")]
pub struct MalformedItem {
    pub name: String,
    pub attributes: String,
}

fn required<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    get(item, name).ok_or_else(|| {
        let mut attributes: Vec<&str> = item.keys().map(String::as_str).collect();
        // HashMap order changes from run to run; sorted, two log lines about one item match.
        attributes.sort_unstable();
        StoreError::backend(
            "DynamoDB returned an item the blog cannot read",
            MalformedItem {
                name: name.to_string(),
                attributes: attributes.join(", "),
            },
        )
    })
}

pub fn to_item(post: &Post) -> Item {
    let timestamp = post.timestamp.clone().unwrap_or_else(Timestamp::now);
    let mut item = HashMap::from([
        ("post_id".to_string(), s(post.id.as_str())),
        ("author".to_string(), s(post.author.as_str())),
        ("title".to_string(), s(post.title.as_str())),
        ("content".to_string(), s(post.content.as_str())),
        (TIMESTAMP_ATTR.to_string(), s(timestamp.as_str())),
        (FEED_ATTR.to_string(), s(FEED_VALUE)),
    ]);
    if post.format == Format::Markdown {
        item.insert(FORMAT_ATTR.to_string(), s(Format::MARKDOWN));
    }
    item
}

fn format_of(item: &Item) -> Format {
    Format::from_marker(get(item, FORMAT_ATTR))
}

pub fn key(key: &PostKey) -> Item {
    HashMap::from([
        ("post_id".to_string(), s(key.id.as_str())),
        ("author".to_string(), s(key.author.as_str())),
    ])
}

/// The index's exclusive start key for a cursor: table key plus index key.
pub fn start_key(cursor: &Cursor) -> Item {
    HashMap::from([
        ("post_id".to_string(), s(cursor.id.as_str())),
        ("author".to_string(), s(cursor.author.as_str())),
        (FEED_ATTR.to_string(), s(FEED_VALUE)),
        (TIMESTAMP_ATTR.to_string(), s(cursor.timestamp.as_str())),
    ])
}

/// The `ByAuthor` index's exclusive start key for `cursor`: the table's key and the index's.
pub fn author_start_key(cursor: &Cursor) -> Item {
    HashMap::from([
        ("post_id".to_string(), s(cursor.id.as_str())),
        ("author".to_string(), s(cursor.author.as_str())),
        (TIMESTAMP_ATTR.to_string(), s(cursor.timestamp.as_str())),
    ])
}

/// A post from an item; a missing title or content reads as empty, as the seed's templates
/// would show it.
pub fn from_item(item: &Item) -> Result<Post, StoreError> {
    Ok(Post {
        id: PostId::from_stored(required(item, "post_id")?),
        author: required(item, "author")?.to_string(),
        title: get(item, "title").unwrap_or_default().to_string(),
        content: get(item, "content").unwrap_or_default().to_string(),
        timestamp: get(item, TIMESTAMP_ATTR).map(Timestamp::from_stored),
        format: format_of(item),
        revision: revision_of(item),
    })
}

/// Characters of content an excerpt is made from (as SQLite reads them): a listing parses
/// 20 prefixes, not 20 whole posts.
const EXCERPT_PREFIX_CHARS: usize = 400;

fn excerpt_prefix(content: &str) -> &str {
    content
        .char_indices()
        .nth(EXCERPT_PREFIX_CHARS)
        .map_or(content, |(at, _)| &content[..at])
}

pub fn summary_from_item(item: &Item) -> Result<PostSummary, StoreError> {
    Ok(PostSummary {
        id: PostId::from_stored(required(item, "post_id")?),
        author: required(item, "author")?.to_string(),
        title: get(item, "title").unwrap_or_default().to_string(),
        excerpt: format_of(item).excerpt(excerpt_prefix(get(item, "content").unwrap_or_default())),
        timestamp: Timestamp::from_stored(required(item, TIMESTAMP_ATTR)?),
        format: format_of(item),
    })
}
