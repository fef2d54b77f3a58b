//! `GET /feed.atom`: the latest posts as an Atom feed (RFC 4287), with absolute links built
//! from the request's scheme and host, titles and summaries as escaped text and the content as
//! escaped, sanitized HTML.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures::stream::{self, StreamExt, TryStreamExt};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderValue};

use crate::domain::markdown::xml_safe;
use crate::store::{Order, Scope, StoreError};
use crate::web::context::Ctx;
use crate::web::pages::encode_query;
use crate::web::render;
use crate::web::{AppError, AppState};

/// Entries in the feed.
pub const ENTRIES: usize = 20;

/// Posts read at once while the feed is built (one `versions` read each).
const READS_AT_ONCE: usize = 4;

/// Readers poll feeds; five minutes of caching in between is what feed readers expect.
const CACHE: &str = "public, max-age=300";

#[derive(Template)]
#[template(path = "feed.xml")]
struct FeedView<'a> {
    title: &'a str,
    base: String,
    updated: String,
    entries: Vec<Entry>,
}

struct Entry {
    id: String,
    title: String,
    author: String,
    href: String,
    updated: String,
    summary: String,
    content_html: String,
}

pub async fn atom(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let base = base_url(&headers, ctx.scheme.as_str());
    // The host is part of the page, so it is part of the key.
    let key = format!("/feed.atom\n{base}");
    let mut response = super::cached(&state, &ctx, key.into(), async {
        let posts = state
            .store
            .feed(Scope::All, None, Order::NewestFirst, ENTRIES)
            .await?;
        let entries: Vec<Entry> = stream::iter(posts)
            .map(|summary| {
                let store = state.store.clone();
                async move {
                    let content = match store.versions(&summary.id).await {
                        Ok(versions) => {
                            match versions.into_iter().find(|p| p.author == summary.author) {
                                Some(p) => Some(render::body_html(p.format, &p.content).await),
                                None => None,
                            }
                        }
                        // Deleted since the list was read: the summary stands alone.
                        Err(StoreError::NotFound) => None,
                        Err(e) => return Err(AppError::from(e)),
                    };
                    Ok::<_, AppError>(Entry {
                        href: format!(
                            "/posts/{}?author={}",
                            summary.id,
                            encode_query(&summary.author)
                        ),
                        id: summary.id.to_string(),
                        updated: summary.timestamp.machine(),
                        content_html: content.unwrap_or_default(),
                        // Old data may hold characters XML cannot carry (they are refused on
                        // save now); one of them would break the feed for every subscriber.
                        title: xml_safe(&summary.title).into_owned(),
                        author: xml_safe(&summary.author).into_owned(),
                        summary: xml_safe(&summary.excerpt).into_owned(),
                    })
                }
            })
            .buffered(READS_AT_ONCE)
            .try_collect()
            .await?;
        let updated = entries
            .first()
            .map(|e| e.updated.clone())
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
        Ok(FeedView {
            title: &xml_safe(&state.site.title),
            base,
            updated,
            entries,
        }
        .render()?)
    })
    .await?;
    let h = response.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/atom+xml; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static(CACHE));
    Ok(response.into_response())
}

/// `scheme://host` from the request. A Host that is not a plain host name (or address) and
/// port falls back to `localhost`, so a forged header cannot put markup or another path into
/// the links.
fn base_url(headers: &HeaderMap, scheme: &str) -> String {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        })
        .unwrap_or("localhost");
    format!("{scheme}://{}", host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_url_takes_only_a_plain_host() {
        let with = |host: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(HOST, HeaderValue::from_static(host));
            base_url(&h, "https")
        };
        assert_eq!(with("Blog.Example:8080"), "https://blog.example:8080");
        assert_eq!(with("[::1]:5000"), "https://[::1]:5000");
        assert_eq!(with("evil.example/x\"><script>"), "https://localhost");
        assert_eq!(with("a@b"), "https://localhost");
        assert_eq!(base_url(&HeaderMap::new(), "http"), "http://localhost");
    }
}
