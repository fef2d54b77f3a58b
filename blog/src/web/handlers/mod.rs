//! Request handlers, one module per area. They parse input into domain types, call the store,
//! and pick a page; status codes and headers are decided here and in `web::error`.

pub mod account;
pub mod assets;
pub mod feed;
pub mod health;
pub mod index;
pub mod posts;

use std::borrow::Cow;

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::rejection::FormRejection;
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};

use super::context::Ctx;
use super::csrf::FormToken;
use super::pages::encode_query;
use super::{AppError, layers};

/// Any path the blog does not serve.
pub async fn not_found() -> AppError {
    AppError::NoPage
}

/// A query string the route cannot read (a repeated parameter, say) gets the blog's 400 page.
pub(crate) fn query<T>(
    parsed: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, AppError> {
    parsed.map(|q| q.0).map_err(|_| {
        AppError::BadRequest(
            "This address has a query string the blog cannot read (a parameter given twice, \
             perhaps). Use the links on the page."
                .into(),
        )
    })
}

/// Renders a page with a status, plus the CSRF cookie when the form needed a fresh one.
pub(crate) fn page(
    status: StatusCode,
    token: Option<&FormToken>,
    view: &impl Template,
) -> Result<Response, AppError> {
    let html = view.render()?;
    let headers = token.map(FormToken::headers).unwrap_or_default();
    Ok((status, headers, Html(html)).into_response())
}

/// A cached page for `key`, or the one `render` makes (kept when the store has a version).
/// Only anonymous readers' pages are cached: a signed-in reader's carry their name, their
/// controls and their session's token, and are rendered for them every time.
pub(crate) async fn cached<F>(
    state: &super::AppState,
    ctx: &Ctx,
    key: Cow<'_, str>,
    render: F,
) -> Result<Response, AppError>
where
    F: Future<Output = Result<String, AppError>>,
{
    let version = state.cache_version().filter(|_| ctx.cacheable());
    if let Some(version) = version
        && let Some(page) = state.pages.get(version, &key)
    {
        return Ok(html(page));
    }
    let page = Bytes::from(render.await?);
    if let Some(version) = version {
        state.pages.put(version, key.into_owned(), page.clone());
    }
    Ok(html(page))
}

/// A page as a response whose header map has room for the headers `layers::finish` adds to
/// every response, so they go in without the map growing (a reallocation and a rehash).
pub(crate) fn html(page: Bytes) -> Response {
    let mut response = Response::new(Body::from(page));
    let headers = response.headers_mut();
    headers.reserve(1 + layers::ADDED_HEADERS);
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// Sends a reader who is not signed in to the sign-in page, coming back to `next` after.
pub(crate) fn to_login(next: &str) -> Response {
    Redirect::to(&format!("/login?next={}", encode_query(next))).into_response()
}

pub(crate) fn form_rejected(rejection: FormRejection) -> AppError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge
    } else {
        AppError::BadRequest(format!(
            "The form could not be read ({}). Go back and send it again.",
            rejection.body_text()
        ))
    }
}
