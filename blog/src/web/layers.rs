//! The first and last step of every request: it runs [`context`](super::context::context),
//! which runs [`limits`](super::limits::limits), which runs the route; then error pages drawn
//! with the banner, the `X-Blog-*` and security headers, and one log line per request.

use std::time::Instant;

use askama::Template;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderName, HeaderValue, StatusCode};

use super::AppState;
use super::context::Ctx;
use super::error::ErrorPage;
use super::pages;
use crate::telemetry::REQUEST_TARGET;

pub static X_BLOG_COLOR: HeaderName = HeaderName::from_static("x-blog-color");
pub static X_BLOG_VERSION: HeaderName = HeaderName::from_static("x-blog-version");

/// Styles from the blog itself only; images from the blog or any `https` address (what posts
/// may show, `domain::markdown::image_allowed`); no script at all; forms post only here.
pub const CSP: &str = "default-src 'self'; img-src 'self' https:; script-src 'none'; \
                       object-src 'none'; base-uri 'none'; form-action 'self'; \
                       frame-ancestors 'none'";

/// How many headers `finish` may add to a response: the eight below and HSTS.
pub const ADDED_HEADERS: usize = 9;

pub async fn finish(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // A clone of the parsed address shares its bytes: no copy of the path per request.
    let uri = request.uri().clone();

    let (mut response, ctx) = super::context::context(&state, request, next).await;
    if let Some(page) = response
        .extensions_mut()
        .remove::<ErrorPage>()
        .or_else(|| framework_error(&response))
    {
        response = error_page(&state, &ctx, response, &page);
    }

    let headers = response.headers_mut();
    // Room for the headers below at once, rather than growing the map as they go in (pages
    // from `handlers::html` have it already).
    headers.reserve(ADDED_HEADERS);
    headers.insert(&X_BLOG_COLOR, state.site.color_header.clone());
    headers.insert(&X_BLOG_VERSION, state.site.version_header.clone());
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }

    let status = response.status().as_u16();
    let micros = started.elapsed().as_micros() as u64;
    // Strings, not `Display` values: the text format writes them as they are, without the
    // formatting machinery (`telemetry::line`); JSON quotes them either way.
    let (method, path) = (method.as_str(), uri.path());
    if path == "/health" && status == 200 {
        // Load balancers and the local supervisor probe every few seconds; at info level the
        // probes would drown the requests people read the logs for. Failing probes stay at info.
        tracing::debug!(target: REQUEST_TARGET, method, path, status, micros, "request");
    } else {
        tracing::info!(target: REQUEST_TARGET, method, path, status, micros, "request");
    }
    response
}

/// An error the router or an extractor answered by itself (a method the route does not take,
/// say), in plain text or with no body: it gets the blog's page too, worded by its status.
fn framework_error(response: &Response) -> Option<ErrorPage> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    // Only what axum and hyper write themselves (plain text, or nothing); a handler's own
    // answer (the health check's JSON, a page) stays as it is.
    let plain = match response.headers().get(CONTENT_TYPE) {
        None => true,
        Some(v) => v.to_str().is_ok_and(|v| v.starts_with("text/plain")),
    };
    if !plain {
        return None;
    }
    let (heading, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "That is not something this page does",
            "This address does not take that kind of request. Use the links and buttons on the \
             blog's pages.",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::UNPROCESSABLE_ENTITY => (
            "That form could not be read",
            "The blog reads forms sent by its own pages. Go back, reload the page and send it \
             again.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "That was too much text",
            "The request carried more than the blog reads. Go back and shorten it.",
        ),
        s if s.is_server_error() => (
            "Something went wrong",
            "The blog could not answer this request. Please try again in a moment.",
        ),
        _ => (
            "That request did not make sense",
            "The blog could not read this request. Use the links on its pages.",
        ),
    };
    Some(ErrorPage {
        heading,
        message: message.into(),
    })
}

fn error_page(state: &AppState, ctx: &Ctx, response: Response, page: &ErrorPage) -> Response {
    let status = response.status();
    let nav = pages::Nav::of(&ctx.viewer);
    let html = pages::ErrorView {
        site: &state.site,
        nav,
        status: status.as_u16(),
        heading: page.heading,
        message: &page.message,
    }
    .render();
    match html {
        Ok(html) => {
            let (mut parts, _) = response.into_parts();
            // The page replaces the body, so the old body's type and length go with it; the
            // rest (`Allow` on a 405, say) stays.
            parts.headers.remove(CONTENT_TYPE);
            parts.headers.remove(CONTENT_LENGTH);
            let mut rendered = Html(html).into_response();
            *rendered.status_mut() = parts.status;
            rendered.headers_mut().extend(parts.headers);
            rendered
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot render the error page");
            let (parts, _) = response.into_parts();
            Response::from_parts(parts, Body::from(page.heading))
        }
    }
}
