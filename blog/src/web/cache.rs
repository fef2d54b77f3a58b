//! Rendered index and post pages, kept while the store's data version holds. A write by any
//! process changes the version (see `PostStore::data_version`), which empties the cache, so a
//! page is never staler than the store; stores without a version are rendered every time.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;

/// Pages kept at most; the cache empties when full (pages are cheap to render again).
const MAX_PAGES: usize = 256;

pub struct PageCache {
    enabled: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    version: u64,
    pages: HashMap<String, Bytes>,
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
            state.pages.clear();
        }
        if state.pages.len() >= MAX_PAGES {
            state.pages.clear();
        }
        state.pages.insert(key, page);
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
}
