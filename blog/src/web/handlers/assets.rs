//! The stylesheet and icon, compiled into the binary: the blog needs no external assets.

use axum::response::IntoResponse;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};

const STYLE: &str = include_str!("../../../static/style.css");
const FAVICON: &str = include_str!("../../../static/favicon.svg");
/// Links carry `?v=<version>`, so a day of caching never shows a new version old styles.
const CACHE: &str = "public, max-age=86400";

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, CACHE),
        ],
        STYLE,
    )
}

pub async fn favicon() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "image/svg+xml"), (CACHE_CONTROL, CACHE)],
        FAVICON,
    )
}
