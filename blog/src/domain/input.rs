//! Validated input. Handlers turn form text into these types once; nothing downstream sees a
//! raw string. Text is trimmed; errors are sentences meant for the person at the form.

/// Limits in characters (title, author) and bytes (content).
pub const TITLE_MAX_CHARS: usize = 200;
pub const AUTHOR_MAX_CHARS: usize = 100;
pub const CONTENT_MAX_BYTES: usize = 100 * 1024;
/// DynamoDB refuses an index key attribute that is empty or longer than this.
pub const INDEX_KEY_MAX_BYTES: usize = 1024;

/// Extra limits a store imposes. A table made by the seed's Terraform carries local secondary
/// indexes keyed on `title` and `content`, so DynamoDB refuses those attributes when empty or
/// over 1,024 bytes; the store detects that and says so here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldLimits {
    pub title_indexed: bool,
    pub content_indexed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Title(String);

/// Characters that show nothing: control characters, white space, Unicode format characters
/// such as zero-width spaces and joiners, the fillers some scripts have (Hangul's U+3164,
/// U+115F, U+1160, U+FFA0; the blank Braille pattern U+2800), variation selectors and tags, and
/// the other default-ignorable code points. A title or a name made only of these is empty.
pub fn invisible(c: char) -> bool {
    c.is_control()
        || c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

impl Title {
    pub fn parse(raw: &str, limits: FieldLimits) -> Result<Self, String> {
        let text = raw.trim();
        let chars = text.chars().count();
        if chars == 0 {
            return Err("Give the post a title.".into());
        }
        if let Some(bad) = text.chars().find(|c| c.is_control()) {
            return Err(format!(
                "The title contains the control character U+{:04X}, which cannot be shown; remove it \
                 (it often comes with pasted text).",
                u32::from(bad)
            ));
        }
        if let Some(bad) = text.chars().find(|c| super::markdown::noncharacter(*c)) {
            return Err(format!(
                "The title contains U+{:04X}, which is not a character (Unicode keeps it out of \
                 text) and cannot be sent in the feed; remove it.",
                u32::from(bad)
            ));
        }
        if text.chars().all(invisible) {
            return Err(
                "The title is made only of invisible characters; give it some words.".into(),
            );
        }
        if chars > TITLE_MAX_CHARS {
            return Err(format!(
                "The title is {chars} characters long; the limit is {TITLE_MAX_CHARS}."
            ));
        }
        if limits.title_indexed && text.len() > INDEX_KEY_MAX_BYTES {
            return Err(format!(
                "This blog's table indexes titles, which limits them to {INDEX_KEY_MAX_BYTES} bytes; \
                 this one is {} bytes.",
                text.len()
            ));
        }
        Ok(Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Author(String);

impl Author {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        let chars = text.chars().count();
        if chars == 0 {
            return Err("Say who wrote the post.".into());
        }
        if chars > AUTHOR_MAX_CHARS {
            return Err(format!(
                "The author's name is {chars} characters long; the limit is {AUTHOR_MAX_CHARS}."
            ));
        }
        Ok(Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Content(String);

impl Content {
    pub fn parse(raw: &str, limits: FieldLimits) -> Result<Self, String> {
        let text = raw.trim();
        if let Some(bad) = text
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(format!(
                "The text contains the control character U+{:04X}, which cannot be shown; remove \
                 it (it often comes with pasted text).",
                u32::from(bad)
            ));
        }
        if let Some(bad) = text.chars().find(|c| super::markdown::noncharacter(*c)) {
            return Err(format!(
                "The text contains U+{:04X}, which is not a character (Unicode keeps it out of \
                 text) and cannot be sent in the feed; remove it.",
                u32::from(bad)
            ));
        }
        if text.len() > CONTENT_MAX_BYTES {
            return Err(format!(
                "The post is {} KB long; the limit is {} KB.",
                text.len().div_ceil(1024),
                CONTENT_MAX_BYTES / 1024
            ));
        }
        if limits.content_indexed {
            if text.is_empty() {
                return Err(
                    "This blog's table indexes the post text, so it cannot be empty: write at \
                     least a few words."
                        .into(),
                );
            }
            if text.len() > INDEX_KEY_MAX_BYTES {
                return Err(format!(
                    "This blog's table indexes the post text, which limits it to \
                     {INDEX_KEY_MAX_BYTES} bytes; this one is {} bytes. Moving to a table without \
                     that index (`blog migrate --to NEW_TABLE`) lifts the limit.",
                    text.len()
                ));
            }
        }
        Ok(Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// [`Content::parse`], and for Markdown also [`markdown::check`](super::markdown::check):
    /// nesting bounded, no reference to a character the feed cannot carry.
    pub fn parse_as(raw: &str, format: super::Format, limits: FieldLimits) -> Result<Self, String> {
        let content = Self::parse(raw, limits)?;
        if format == super::Format::Markdown {
            super::markdown::check(content.as_str()).map_err(|unfit| unfit.to_string())?;
        }
        Ok(content)
    }
}

/// Per-field messages for a form, plus one for the form as a whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors {
    pub title: Option<String>,
    pub author: Option<String>,
    pub content: Option<String>,
    pub form: Option<String>,
}

impl FieldErrors {
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.author.is_none()
            && self.content.is_none()
            && self.form.is_none()
    }
}

/// A new post's fields, all valid.
#[derive(Clone, Debug)]
pub struct NewPost {
    pub title: Title,
    pub author: Author,
    pub content: Content,
}

impl NewPost {
    /// Validates every field, collecting all the messages at once.
    pub fn parse(
        title: &str,
        author: &str,
        content: &str,
        limits: FieldLimits,
    ) -> Result<Self, FieldErrors> {
        let title = Title::parse(title, limits);
        let author = Author::parse(author);
        let content = Content::parse_as(content, super::Format::Markdown, limits);
        match (title, author, content) {
            (Ok(title), Ok(author), Ok(content)) => Ok(Self {
                title,
                author,
                content,
            }),
            (title, author, content) => Err(FieldErrors {
                title: title.err(),
                author: author.err(),
                content: content.err(),
                form: None,
            }),
        }
    }
}

/// An edit's fields, all valid. The author is not among them: it is fixed after creation.
#[derive(Clone, Debug)]
pub struct Edit {
    pub title: Title,
    pub content: Content,
    /// How the content is shown from now on: a plain-text post stays plain text unless its
    /// author chose Markdown (docs/blog.md, "Plain text and Markdown").
    pub format: super::Format,
    /// The revision the author's form started from: the save is refused as a conflict when the
    /// post has changed since. `None` (a form from before revisions existed): no check.
    pub expected: Option<u64>,
}

impl Edit {
    /// An edit to a Markdown post (the blog's own).
    pub fn parse(title: &str, content: &str, limits: FieldLimits) -> Result<Self, FieldErrors> {
        Self::parse_as(title, content, super::Format::Markdown, limits)
    }

    /// An edit whose content is shown as `format`.
    pub fn parse_as(
        title: &str,
        content: &str,
        format: super::Format,
        limits: FieldLimits,
    ) -> Result<Self, FieldErrors> {
        let content = Content::parse_as(content, format, limits);
        match (Title::parse(title, limits), content) {
            (Ok(title), Ok(content)) => Ok(Self {
                title,
                content,
                format,
                expected: None,
            }),
            (title, content) => Err(FieldErrors {
                title: title.err(),
                content: content.err(),
                ..FieldErrors::default()
            }),
        }
    }

    /// The same edit, saved only if the post is still at `revision`.
    pub fn from_revision(mut self, revision: Option<u64>) -> Self {
        self.expected = revision;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: FieldLimits = FieldLimits {
        title_indexed: false,
        content_indexed: false,
    };
    const SEED: FieldLimits = FieldLimits {
        title_indexed: true,
        content_indexed: true,
    };

    #[test]
    fn invisible_and_control_characters_are_refused() {
        for title in [
            "\u{0}",
            "a\u{0}b",
            "\u{1b}[31m",
            "\u{200B}\u{200D}",
            "\u{FEFF}",
            "\u{3164}",
            "\u{3164}\u{2800}\u{3164}",
            "\u{115F}\u{1160}\u{FFA0}",
            "\u{2800} \u{200B}",
            "\u{E0041}\u{FE0F}",
        ] {
            assert!(Title::parse(title, OPEN).is_err(), "{title:?}");
        }
        assert!(
            Title::parse("a\u{0}b", OPEN)
                .expect_err("nul")
                .contains("U+0000")
        );
        assert!(Title::parse("Café ☕", OPEN).is_ok());
        assert!(Content::parse("line\n\tindented\r\n", OPEN).is_ok());
        assert!(
            Content::parse("nul\u{0}", OPEN)
                .expect_err("nul")
                .contains("U+0000")
        );
    }

    #[test]
    fn trims_and_bounds_titles() {
        assert_eq!(
            Title::parse("  Hello  ", OPEN).expect("valid").as_str(),
            "Hello"
        );
        assert!(Title::parse("   ", OPEN).is_err());
        assert!(Title::parse(&"é".repeat(200), OPEN).is_ok());
        assert!(Title::parse(&"é".repeat(201), OPEN).is_err());
    }

    #[test]
    fn bounds_authors() {
        assert!(Author::parse("").is_err());
        assert!(Author::parse(&"a".repeat(100)).is_ok());
        assert!(Author::parse(&"a".repeat(101)).is_err());
    }

    #[test]
    fn content_may_be_empty_unless_indexed() {
        assert_eq!(Content::parse("  ", OPEN).expect("valid").as_str(), "");
        assert!(Content::parse("", SEED).is_err());
        assert!(Content::parse(&"x".repeat(1024), SEED).is_ok());
        let long = Content::parse(&"x".repeat(1025), SEED).expect_err("over the index limit");
        assert!(long.contains("1024 bytes"), "{long}");
        assert!(Content::parse(&"x".repeat(100 * 1024), OPEN).is_ok());
        assert!(Content::parse(&"x".repeat(100 * 1024 + 1), OPEN).is_err());
    }

    #[test]
    fn markdown_nested_too_deep_or_asking_for_unencodable_characters_is_refused() {
        use crate::domain::Format;
        let deep = ">".repeat(MAX + 1);
        let refused = Content::parse_as(&deep, Format::Markdown, OPEN).expect_err("too deep");
        assert!(
            refused.contains("more than 32 levels deep (at line 1)"),
            "{refused}"
        );
        assert!(Content::parse_as(&">".repeat(20), Format::Markdown, OPEN).is_ok());
        let lists: String = (0..40)
            .map(|i| format!("{}- x\n", "  ".repeat(i)))
            .collect();
        assert!(Content::parse_as(&lists, Format::Markdown, OPEN).is_err());
        assert!(Content::parse_as(&"<div>".repeat(40), Format::Markdown, OPEN).is_err());
        assert!(
            Content::parse_as(&"<p>x".repeat(400), Format::Markdown, OPEN).is_ok(),
            "paragraphs close themselves"
        );
        assert!(Content::parse_as(&"<br>".repeat(400), Format::Markdown, OPEN).is_ok());
        // Plain text is never parsed, so never nested.
        assert!(Content::parse_as(&deep, Format::Plain, OPEN).is_ok());
        for text in ["a &#1; b", "&#xFFFE;", "<p>&#x1f;</p>", "`code` and &#11;"] {
            let refused = Content::parse_as(text, Format::Markdown, OPEN).expect_err(text);
            assert!(
                refused.contains("cannot be shown or sent in the feed"),
                "{refused}"
            );
        }
        assert!(Content::parse_as("&#9; &#10; &amp; &#233;", Format::Markdown, OPEN).is_ok());
        for text in ["\u{FFFE}", "a\u{FFFF}", "\u{FDD0}", "\u{1FFFF}"] {
            assert!(Content::parse(text, OPEN).is_err(), "{text:?}");
            assert!(Title::parse(text, OPEN).is_err(), "{text:?}");
        }
    }

    const MAX: usize = crate::domain::markdown::MAX_NESTING;

    #[test]
    fn collects_every_error() {
        let errors = NewPost::parse("", "", &"x".repeat(200_000), OPEN).expect_err("all invalid");
        assert!(errors.title.is_some() && errors.author.is_some() && errors.content.is_some());
    }
}
