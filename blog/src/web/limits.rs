//! Limits checked before a handler runs, so each refusal is the blog's own page with its
//! headers: an address or head too long (414, 431; hyper's own limits are higher, see
//! `server`), a `Content-Length` over the body limit (413, before a byte of the body is read),
//! and a body that does not arrive in time (408). The body is read here, whole, under one
//! deadline: a client sending a byte a second cannot hold a request open for long. A chunked
//! body is read the same way (413 once it passes the limit), on every method. At most
//! [`DEFAULT_BODY_READS`] bodies are read at once (503 past that), so slow bodies cannot take
//! every connection slot; and a request on a connection from the health-check reserve gets
//! 503 unless it is `/health`.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::{CONNECTION, CONTENT_LENGTH, RETRY_AFTER};
use http_body::Body as _;

use super::error::Busy;
use super::{AppError, AppState, BODY_LIMIT};

/// Longest path and query string served.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header bytes (names and values) and headers in one request.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
pub const MAX_HEADERS: usize = 64;
/// A request's body must have arrived this long after its head unless `BLOG_BODY_TIMEOUT`
/// says otherwise: 512 KB at 20 KB/s.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Bodies read at once unless told otherwise: half the default connection slots, so clients
/// trickling bodies can hold at most half a task's slots, and readers and health checks keep
/// the rest (issue 27, item 3).
pub const DEFAULT_BODY_READS: usize = crate::server::DEFAULT_MAX_CONNECTIONS / 2;

/// Marks a request that came on a connection from the health-check reserve
/// (`server::HEALTH_RESERVE`): anything but `/health` there is answered 503 at once.
#[derive(Clone, Copy, Debug)]
pub struct ReservedSlot;

pub async fn limits(state: &AppState, request: Request, next: Next) -> Response {
    match checked(state, request).await {
        Ok(request) => next.run(request).await,
        Err(e) => {
            let busy = matches!(e, AppError::Busy(_));
            let mut response = e.into_response();
            // The rest of the body, if any, is never read: the connection cannot be reused.
            let headers = response.headers_mut();
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
            if busy {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            response
        }
    }
}

async fn checked(state: &AppState, request: Request) -> Result<Request, AppError> {
    if request.extensions().get::<ReservedSlot>().is_some() {
        return Err(AppError::Busy(Busy::Connections));
    }
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return Err(AppError::UriTooLong);
    }
    let headers = request.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
        return Err(AppError::HeadersTooLarge);
    }
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Err(AppError::TooLarge);
    }
    // Only a request with no body at all skips the read: a chunked one (no Content-Length)
    // is read under the same deadline and limit whatever the method, so a GET whose route
    // ignores its body can neither stall the connection nor smuggle megabytes through it.
    if request.body().is_end_stream() {
        return Ok(request);
    }
    // A slot to read the body in, or 503 at once: waiting for one would hold the connection.
    let Ok(_reading) = state.body_reads.clone().try_acquire_owned() else {
        return Err(AppError::Busy(Busy::Bodies));
    };
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, BODY_LIMIT);
    match tokio::time::timeout(state.body_timeout, read).await {
        Ok(Ok(bytes)) => Ok(Request::from_parts(parts, Body::from(bytes))),
        Ok(Err(e)) => {
            if e.into_inner()
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(AppError::TooLarge)
            } else {
                Err(AppError::BadRequest(
                    "The form did not arrive whole (the connection broke off). Go back and send it \
                     again."
                        .into(),
                ))
            }
        }
        Err(_) => Err(AppError::SlowBody(state.body_timeout)),
    }
}
