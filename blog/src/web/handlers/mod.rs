//! Request handlers, one module per area. They parse input into domain types, call the store,
//! and pick a page; status codes and headers are decided here and in `web::error`.

pub mod assets;
pub mod health;
pub mod index;
pub mod posts;

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;

use super::AppError;
use super::csrf::FormToken;

/// Any path the blog does not serve.
pub async fn not_found() -> AppError {
    AppError::NotFound
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
