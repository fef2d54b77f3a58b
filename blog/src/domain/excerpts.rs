//! Excerpts already made. An excerpt is the Markdown of a post's first few hundred
//! characters parsed to plain text: on the index and author pages, rendered without the page
//! cache, that parse was a third of each request (perf, December 2026). The text of a post
//! rarely changes, so the same prefix gives the same excerpt: keyed by the prefix itself, an
//! edit simply misses.

use std::collections::HashMap;
use std::sync::Mutex;

use super::post::Format;

/// Most prefixes kept; it empties when full (about 1.5 MB at 400-character prefixes).
pub const MAX_EXCERPTS: usize = 1024;

/// A bounded memo of [`Format::excerpt`], shared by a store's readers: one map per format,
/// so a lookup borrows the prefix as it is.
#[derive(Debug, Default)]
pub struct Excerpts {
    made: Mutex<[HashMap<Box<str>, String>; 2]>,
}

fn slot(format: Format) -> usize {
    match format {
        Format::Markdown => 0,
        Format::Plain => 1,
    }
}

impl Excerpts {
    pub fn new() -> Self {
        Self::default()
    }

    /// `format.excerpt(prefix)`, from the memo when this prefix was seen before.
    pub fn of(&self, format: Format, prefix: &str) -> String {
        let at = slot(format);
        if let Ok(made) = self.made.lock()
            && let Some(found) = made[at].get(prefix)
        {
            return found.clone();
        }
        // Parsed outside the lock; two readers of a new prefix may both parse it.
        let fresh = format.excerpt(prefix);
        if let Ok(mut made) = self.made.lock() {
            if made[0].len() + made[1].len() >= MAX_EXCERPTS {
                made.iter_mut().for_each(HashMap::clear);
            }
            made[at].insert(prefix.into(), fresh.clone());
        }
        fresh
    }

    /// How many excerpts are kept.
    pub fn len(&self) -> usize {
        self.made.lock().map_or(0, |m| m[0].len() + m[1].len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::post::excerpt;

    #[test]
    fn same_as_excerpt_and_bounded() {
        let memo = Excerpts::new();
        let text = "# A *Markdown* post\n\nwith words";
        assert_eq!(memo.of(Format::Markdown, text), excerpt(text));
        assert_eq!(
            memo.of(Format::Markdown, text),
            excerpt(text),
            "from the memo"
        );
        assert_eq!(memo.len(), 1);
        assert_eq!(
            memo.of(Format::Plain, text),
            "# A *Markdown* post\n\nwith words",
            "the same prefix in plain text is not the Markdown's excerpt"
        );
        let edited = "# A *Markdown* post\n\nwith other words";
        assert_eq!(
            memo.of(Format::Markdown, edited),
            "A Markdown post with other words"
        );
        for i in 0..MAX_EXCERPTS + 5 {
            memo.of(Format::Plain, &format!("post {i}"));
        }
        assert!(memo.len() <= MAX_EXCERPTS);
    }
}
