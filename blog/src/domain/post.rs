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

/// How a post's content is shown (docs/blog.md, "Plain text and Markdown"). The blog marks
/// its own posts as Markdown (an attribute on the DynamoDB item, a column in SQLite); content
/// without the marker was written by a client that does not know Markdown (the seed's app),
/// and is shown as it was written: escaped, its line breaks kept. Never guessed from the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// CommonMark, rendered and sanitized (`domain::markdown`).
    Markdown,
    /// Plain text, escaped, line breaks kept.
    Plain,
}

impl Format {
    /// The marker's value for Markdown, as stored (DynamoDB `format`, SQLite `format`).
    pub const MARKDOWN: &'static str = "markdown";
    /// The value SQLite stores for plain text; DynamoDB stores no marker at all.
    pub const PLAIN: &'static str = "plain";

    /// The format a stored marker names: only the blog's own marker means Markdown; a missing
    /// or unknown one means plain text, the safe reading of someone else's item.
    pub fn from_marker(marker: Option<&str>) -> Self {
        match marker {
            Some(Self::MARKDOWN) => Self::Markdown,
            _ => Self::Plain,
        }
    }

    /// The marker stored for this format.
    pub fn marker(self) -> &'static str {
        match self {
            Self::Markdown => Self::MARKDOWN,
            Self::Plain => Self::PLAIN,
        }
    }

    /// The content as HTML for the post page and the feed.
    pub fn to_html(self, content: &str) -> String {
        match self {
            Self::Markdown => super::markdown::to_html(content),
            Self::Plain => super::markdown::plain_to_html(content),
        }
    }

    /// The content's excerpt for listings and the feed's summary.
    pub fn excerpt(self, content: &str) -> String {
        match self {
            Self::Markdown => excerpt(content),
            Self::Plain => plain_excerpt(content),
        }
    }

    pub fn is_plain(self) -> bool {
        self == Self::Plain
    }
}

/// One stored post. `timestamp` is missing only on items the seed's buggy edit created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Post {
    pub id: PostId,
    pub author: String,
    pub title: String,
    pub content: String,
    pub timestamp: Option<Timestamp>,
    pub format: Format,
    /// How many times the blog has changed it (0 for a post never edited, and for the seed's
    /// items): an edit names the revision it started from, and a save from an older one is a
    /// conflict (docs/blog.md, "Concurrent edits").
    pub revision: u64,
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
    /// Plain words for a Markdown post; the text with its line breaks for a plain one.
    pub excerpt: String,
    pub timestamp: Timestamp,
    pub format: Format,
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
    shorten(flat, chars)
}

/// The excerpt of a plain-text post: its words as written, each line's spaces flattened, its
/// line breaks kept (at most one empty line in a row), shortened like [`excerpt`].
pub fn plain_excerpt(content: &str) -> String {
    let mut kept = String::new();
    let mut chars = 0;
    let mut breaks = 0;
    for line in content.lines() {
        let mut words = line.split_whitespace().peekable();
        if words.peek().is_none() {
            breaks += 1;
            continue;
        }
        if chars > 0 {
            let newlines = if breaks > 0 { "\n\n" } else { "\n" };
            kept.push_str(newlines);
            chars += newlines.len();
        }
        breaks = 0;
        for (i, word) in words.enumerate() {
            if i > 0 {
                kept.push(' ');
                chars += 1;
            }
            kept.push_str(word);
            chars += word.chars().count();
            if chars > EXCERPT_CHARS {
                return shorten(kept, chars);
            }
        }
    }
    shorten(kept, chars)
}

/// `flat` (of `chars` characters) cut to [`EXCERPT_CHARS`] at a word boundary, with an
/// ellipsis when something was cut.
fn shorten(flat: String, chars: usize) -> String {
    if chars <= EXCERPT_CHARS {
        return flat;
    }
    let end = flat
        .char_indices()
        .nth(EXCERPT_CHARS)
        .map_or(flat.len(), |(at, _)| at);
    let cut = &flat[..end];
    let at_word = match cut.rfind([' ', '\n']) {
        Some(space) if space > EXCERPT_CHARS / 2 => &cut[..space],
        _ => cut,
    };
    format!(
        "{}…",
        at_word.trim_end_matches([',', '.', ';', ':', ' ', '\n'])
    )
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

    #[test]
    fn plain_excerpts_keep_the_text_and_its_line_breaks() {
        assert_eq!(
            plain_excerpt("Use <b>x</b>  for *bold*\r\n# not a heading\n\n\n\n1. not a list  "),
            "Use <b>x</b> for *bold*\n# not a heading\n\n1. not a list"
        );
        let long = "word ".repeat(200);
        let e = plain_excerpt(&long);
        assert!(
            e.ends_with('…') && e.chars().count() <= EXCERPT_CHARS + 1,
            "{e}"
        );
        let lines = "a line\n".repeat(100);
        let e = plain_excerpt(&lines);
        assert!(
            e.ends_with("line…") && e.chars().count() <= EXCERPT_CHARS + 1,
            "{e}"
        );
        assert_eq!(Format::Plain.excerpt("**x**"), "**x**");
        assert_eq!(Format::Markdown.excerpt("**x**"), "x");
    }

    #[test]
    fn only_the_blogs_marker_means_markdown() {
        assert_eq!(Format::from_marker(Some("markdown")), Format::Markdown);
        for other in [None, Some("plain"), Some("Markdown"), Some("")] {
            assert_eq!(Format::from_marker(other), Format::Plain, "{other:?}");
        }
        for f in [Format::Markdown, Format::Plain] {
            assert_eq!(Format::from_marker(Some(f.marker())), f);
        }
    }
}
