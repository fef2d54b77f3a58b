//! Rendered index and post pages, kept while the store's data version holds. A write by any
//! process changes the version (see `PostStore::data_version`), which empties the cache, so a
//! page is never staler than the store; stores without a version are rendered every time.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;

/// Pages kept at most; the cache empties when full (pages are cheap to render again).
const MAX_PAGES: usize = 256;

/// Bytes of pages kept at most: a task has 512 MB, and one 100 KB post of `"` renders to
/// about 520 KB, so entries alone do not bound the memory.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

/// A page larger than this is rendered every time rather than kept.
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;

pub struct PageCache {
    enabled: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    version: u64,
    pages: HashMap<String, Bytes>,
    /// Sum of the kept pages' lengths (keys included).
    bytes: usize,
}

impl State {
    fn clear(&mut self) {
        self.pages.clear();
        self.bytes = 0;
    }
}

impl PageCache {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            state: Mutex::new(State::default()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The page for `key` rendered at `version`, if still held.
    pub fn get(&self, version: u64, key: &str) -> Option<Bytes> {
        let state = self.state.lock().ok()?;
        if state.version != version {
            return None;
        }
        state.pages.get(key).cloned()
    }

    /// Keeps a page rendered from data read at `version` (read before the store was queried,
    /// so a write racing the render leaves the page under an old version, never a new one).
    pub fn put(&self, version: u64, key: String, page: Bytes) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if version != state.version {
            if version < state.version {
                return;
            }
            state.version = version;
            state.clear();
        }
        let size = key.len() + page.len();
        if page.len() > MAX_PAGE_BYTES {
            return;
        }
        if state.pages.len() >= MAX_PAGES || state.bytes + size > MAX_BYTES {
            state.clear();
        }
        if let Some(old) = state.pages.insert(key.clone(), page) {
            state.bytes -= key.len() + old.len();
        }
        state.bytes += size;
    }

    /// Pages and bytes held now.
    pub fn usage(&self) -> (usize, usize) {
        self.state
            .lock()
            .map(|s| (s.pages.len(), s.bytes))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_version_empties_the_cache() {
        let cache = PageCache::new(true);
        cache.put(1, "/".into(), Bytes::from_static(b"one"));
        assert_eq!(cache.get(1, "/"), Some(Bytes::from_static(b"one")));
        assert_eq!(cache.get(2, "/"), None);
        cache.put(2, "/x".into(), Bytes::from_static(b"two"));
        assert_eq!(cache.get(1, "/"), None);
        // A render that started before the change cannot bring an old page back.
        cache.put(1, "/".into(), Bytes::from_static(b"stale"));
        assert_eq!(cache.get(2, "/"), None);
        assert_eq!(cache.get(1, "/"), None);
    }

    #[test]
    fn bounded_in_bytes_as_well_as_pages() {
        let cache = PageCache::new(true);
        let big = Bytes::from(vec![b'"'; 520 * 1024]);
        for i in 0..1000 {
            cache.put(1, format!("/posts/{i}"), big.clone());
            let (pages, bytes) = cache.usage();
            assert!(bytes <= MAX_BYTES, "{bytes} bytes after {i} pages");
            assert!(pages <= MAX_PAGES);
        }
        // Replacing a page does not count it twice.
        let cache = PageCache::new(true);
        cache.put(1, "/".into(), Bytes::from_static(b"12345"));
        cache.put(1, "/".into(), Bytes::from_static(b"123"));
        assert_eq!(cache.usage(), (1, 4));
        // A page over the per-page bound is not kept at all.
        cache.put(1, "/huge".into(), Bytes::from(vec![0; MAX_PAGE_BYTES + 1]));
        assert_eq!(cache.get(1, "/huge"), None);
        assert_eq!(cache.usage(), (1, 4));
    }
}
