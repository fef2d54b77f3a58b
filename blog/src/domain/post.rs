//! Posts and their keys. A stored post is addressed by `(post_id, author)`, the seed table's
//! key; the seed's edit bug can leave several items under one `post_id`, so a `PostId` alone
//! names the newest of them.

use super::timestamp::Timestamp;

/// A post id as it appears in URLs. The blog makes UUID v4 strings, as the seed does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PostId(String);

impl PostId {
    /// A fresh UUID v4 string, the seed's `str(uuid.uuid4())`.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Accepts the ids the blog or the seed create (UUIDs) and other plain ids made of letters,
    /// digits, `-` and `_`, so every id can sit in a URL path unescaped. Anything else cannot
    /// name a post.
    pub fn parse(raw: &str) -> Option<Self> {
        let plain = !raw.is_empty()
            && raw.len() <= 128
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        plain.then(|| Self(raw.to_string()))
    }

    /// Wraps an id read from a store.
    pub fn from_stored(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PostId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The full key of one stored item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostKey {
    pub id: PostId,
    /// The author exactly as stored (the seed never trimmed it), since it is part of the key.
    pub author: String,
}

/// One stored post. `timestamp` is missing only on items the seed's buggy edit created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Post {
    pub id: PostId,
    pub author: String,
    pub title: String,
    pub content: String,
    pub timestamp: Option<Timestamp>,
}

impl Post {
    pub fn key(&self) -> PostKey {
        PostKey {
            id: self.id.clone(),
            author: self.author.clone(),
        }
    }
}

/// What the index page needs of a post: the content shortened to an excerpt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostSummary {
    pub id: PostId,
    pub author: String,
    pub title: String,
    pub excerpt: String,
    pub timestamp: Timestamp,
}

/// Characters of content shown on the index page.
pub const EXCERPT_CHARS: usize = 280;

/// Shortens `content` to about `EXCERPT_CHARS` characters, at a word boundary, with an
/// ellipsis when something was cut. Stores may pass a prefix of the content that is a little
/// longer than the excerpt.
pub fn excerpt(content: &str) -> String {
    // Markdown becomes its plain words; then whitespace is flattened lazily, since only the
    // first few hundred characters matter.
    let plain = super::markdown::to_plain_text(content);
    let mut flat = String::new();
    let mut chars = 0;
    for word in plain.split_whitespace() {
        if chars > 0 {
            flat.push(' ');
            chars += 1;
        }
        flat.push_str(word);
        chars += word.chars().count();
        if chars > EXCERPT_CHARS {
            break;
        }
    }
    if chars <= EXCERPT_CHARS {
        return flat;
    }
    let end = flat
        .char_indices()
        .nth(EXCERPT_CHARS)
        .map_or(flat.len(), |(at, _)| at);
    let cut = &flat[..end];
    let at_word = match cut.rfind(' ') {
        Some(space) if space > EXCERPT_CHARS / 2 => &cut[..space],
        _ => cut,
    };
    format!("{}…", at_word.trim_end_matches([',', '.', ';', ':', ' ']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        let id = PostId::generate();
        assert_eq!(id.as_str().len(), 36);
        assert!(PostId::parse(id.as_str()).is_some());
        assert!(PostId::parse("").is_none());
        assert!(PostId::parse("a/b").is_none());
        assert!(PostId::parse("<script>").is_none());
    }

    #[test]
    fn excerpts() {
        assert_eq!(excerpt("short\n\ntext"), "short text");
        assert_eq!(
            excerpt("# A *Markdown* post\n\n- [x](https://e.example)"),
            "A Markdown post x"
        );
        let long = "word ".repeat(200);
        let e = excerpt(&long);
        assert!(e.ends_with('…'));
        assert!(e.chars().count() <= EXCERPT_CHARS + 1);
        let unbroken = "x".repeat(1000);
        assert_eq!(excerpt(&unbroken).chars().count(), EXCERPT_CHARS + 1);
    }
}
