//! Excerpts already made. An excerpt is the Markdown of a post's first few hundred
//! characters parsed to plain text: on the index and author pages, rendered without the page
//! cache, that parse was a third of each request (perf, December 2026). The text of a post
//! rarely changes, so the same prefix gives the same excerpt: keyed by the prefix itself, an
//! edit simply misses.

use std::collections::HashMap;
use std::sync::Mutex;

use super::post::excerpt;

/// Most prefixes kept; it empties when full (about 1.5 MB at 400-character prefixes).
pub const MAX_EXCERPTS: usize = 1024;

/// A bounded memo of [`excerpt`], shared by a store's readers.
#[derive(Debug, Default)]
pub struct Excerpts {
    made: Mutex<HashMap<Box<str>, String>>,
}

impl Excerpts {
    pub fn new() -> Self {
        Self::default()
    }

    /// `excerpt(prefix)`, from the memo when this prefix was seen before.
    pub fn of(&self, prefix: &str) -> String {
        if let Ok(made) = self.made.lock()
            && let Some(found) = made.get(prefix)
        {
            return found.clone();
        }
        // Parsed outside the lock; two readers of a new prefix may both parse it.
        let fresh = excerpt(prefix);
        if let Ok(mut made) = self.made.lock() {
            if made.len() >= MAX_EXCERPTS {
                made.clear();
            }
            made.insert(prefix.into(), fresh.clone());
        }
        fresh
    }

    /// How many excerpts are kept.
    pub fn len(&self) -> usize {
        self.made.lock().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_as_excerpt_and_bounded() {
        let memo = Excerpts::new();
        let text = "# A *Markdown* post\n\nwith words";
        assert_eq!(memo.of(text), excerpt(text));
        assert_eq!(memo.of(text), excerpt(text), "from the memo");
        assert_eq!(memo.len(), 1);
        let edited = "# A *Markdown* post\n\nwith other words";
        assert_eq!(memo.of(edited), "A Markdown post with other words");
        for i in 0..MAX_EXCERPTS + 5 {
            memo.of(&format!("post {i}"));
        }
        assert!(memo.len() <= MAX_EXCERPTS);
    }
}
