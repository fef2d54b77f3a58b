//! The HTTP side: `app(state)` builds the router that `main` serves and tests drive with
//! `oneshot`. Handlers live in `handlers/`, templates' view models in `pages`, the
//! cross-cutting response work (banner headers, security headers, error pages, the request
//! log) in `layers`.

pub mod cache;
pub mod context;
pub mod csrf;
pub mod error;
pub mod handlers;
pub mod layers;
pub mod limits;
pub mod pages;
pub mod render;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use http::HeaderValue;

use crate::auth::Auth;
use crate::store::PostStore;
pub use cache::PageCache;
pub use csrf::Csrf;
pub use error::AppError;

/// Largest request body accepted: a post's 100 KB of text, percent-encoded, with room to spare.
pub const BODY_LIMIT: usize = 512 * 1024;

/// Who this process is: shown in the banner and the `X-Blog-*` headers of every response.
#[derive(Debug)]
pub struct Site {
    pub title: String,
    pub color: String,
    pub version: String,
    color_header: HeaderValue,
    version_header: HeaderValue,
}

#[derive(Debug, thiserror::Error)]
#[error("{name} must be printable ASCII (it is sent in the {header} header), got {value:?}")]
pub struct SiteError {
    name: &'static str,
    header: &'static str,
    value: String,
}

impl Site {
    pub fn new(title: &str, color: &str, version: &str) -> Result<Self, SiteError> {
        let header = |name, header, value: &str| {
            HeaderValue::from_str(value)
                .ok()
                .filter(|_| value.bytes().all(|b| (0x20..0x7f).contains(&b)))
                .ok_or_else(|| SiteError {
                    name,
                    header,
                    value: value.to_string(),
                })
        };
        Ok(Self {
            title: title.to_string(),
            color: color.to_string(),
            version: version.to_string(),
            color_header: header("BLOG_COLOR", "X-Blog-Color", color)?,
            version_header: header("BLOG_VERSION", "X-Blog-Version", version)?,
        })
    }

    /// The banner's style: blue, green, or neutral for anything else.
    pub fn color_class(&self) -> &'static str {
        if self.color.eq_ignore_ascii_case("blue") {
            "blue"
        } else if self.color.eq_ignore_ascii_case("green") {
            "green"
        } else {
            "neutral"
        }
    }
}

/// Everything a handler needs, behind one `Arc`: axum clones the state for every extractor and
/// middleware that asks for it, several times a request, and one reference count shared by the
/// workers costs far less than one per field (the profile showed ten, about 14% of a cached
/// request's samples).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares; its fields read through `state.store`, `state.site`, and so on.
#[derive(Clone)]
pub struct Shared {
    pub store: Arc<dyn PostStore>,
    pub site: Arc<Site>,
    pub csrf: Arc<Csrf>,
    pub pages: Arc<PageCache>,
    pub auth: Auth,
    /// How long a request's body may take to arrive (`web::limits`).
    pub body_timeout: std::time::Duration,
    /// Slots for bodies being read (`web::limits`).
    pub body_reads: Arc<tokio::sync::Semaphore>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// State with the page cache on.
    pub fn new(store: Arc<dyn PostStore>, site: Site, csrf: Csrf, auth: Auth) -> Self {
        Self(Arc::new(Shared {
            store,
            site: Arc::new(site),
            csrf: Arc::new(csrf),
            pages: Arc::new(PageCache::new(true)),
            auth,
            body_timeout: limits::DEFAULT_BODY_TIMEOUT,
            body_reads: Arc::new(tokio::sync::Semaphore::new(limits::DEFAULT_BODY_READS)),
        }))
    }

    /// How many request bodies may be read at once (at least 1).
    pub fn with_body_reads(mut self, reads: usize) -> Self {
        Arc::make_mut(&mut self.0).body_reads = Arc::new(tokio::sync::Semaphore::new(reads.max(1)));
        self
    }

    /// Turns the page cache off (every page rendered from the store), or on.
    pub fn with_page_cache(mut self, enabled: bool) -> Self {
        Arc::make_mut(&mut self.0).pages = Arc::new(PageCache::new(enabled));
        self
    }

    /// How long a request's body may take to arrive.
    pub fn with_body_timeout(mut self, timeout: std::time::Duration) -> Self {
        Arc::make_mut(&mut self.0).body_timeout = timeout;
        self
    }

    /// The store's data version when pages may be cached, read before the store is queried.
    pub(crate) fn cache_version(&self) -> Option<u64> {
        if !self.pages.enabled() {
            return None;
        }
        self.store.data_version().ok().flatten()
    }
}

/// The blog's routes, with its headers, error pages, body limit and request log.
pub fn app(state: AppState) -> Router {
    use handlers::{account, assets, feed, health, index, posts};
    Router::new()
        .route("/", get(index::list))
        .route("/feed.atom", get(feed::atom))
        .route("/authors/{name}", get(index::by_author))
        .route("/login", get(account::login_form).post(account::login))
        .route("/logout", post(account::logout))
        .route("/account", get(account::account_page))
        .route("/posts/new", get(posts::new_form).post(posts::create))
        .route("/posts/{id}", get(posts::show))
        .route(
            "/posts/{id}/edit",
            get(posts::edit_form).post(posts::update),
        )
        .route(
            "/posts/{id}/delete",
            get(posts::confirm_delete).post(posts::delete),
        )
        .route("/health", get(health::health))
        .route("/static/style.css", get(assets::stylesheet))
        .route("/static/favicon.svg", get(assets::favicon))
        .fallback(handlers::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // One middleware, calling `context` and then `limits` inside: each `from_fn` layer
        // costs a boxed future and a clone of the router below it on every request.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            layers::finish,
        ))
        .with_state(state)
}
