//! One error type for handlers. Readers get a page that says what happened in their terms;
//! the details of a store failure go to the log only.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::store::StoreError;
use crate::telemetry::Chain;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    /// A path the blog does not serve at all.
    #[error("no such page")]
    NoPage,
    /// `/authors/NAME` for a name with no posts.
    #[error("no such author")]
    NoAuthor,
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Signed in (or not needed) but not allowed; the message says why and what to do.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("request body too large")]
    TooLarge,
    /// The body did not arrive within the body timeout.
    #[error("request body too slow")]
    SlowBody(std::time::Duration),
    /// No room now: the connection came from the health-check reserve, or too many bodies are
    /// being read at once.
    #[error("busy: {0:?}")]
    Busy(Busy),
    #[error("address too long")]
    UriTooLong,
    #[error("request headers too large")]
    HeadersTooLarge,
    // Sources are not repeated in these messages: the log line walks the chain (`Chain`).
    #[error("store")]
    Store(#[source] StoreError),
    #[error("template")]
    Template(#[from] askama::Error),
    /// Work on the blocking pool panicked (a bug): the reader gets a 500 page.
    #[error("failed: {0}")]
    Failed(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound,
            other => AppError::Store(other),
        }
    }
}

/// What the blog had no room for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Busy {
    /// Every client connection slot is taken.
    Connections,
    /// As many request bodies as the blog reads at once are arriving.
    Bodies,
}

/// What the error page shows; the `finish` layer renders it with the site's banner.
#[derive(Clone, Debug)]
pub struct ErrorPage {
    pub heading: &'static str,
    pub message: String,
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound | AppError::NoPage | AppError::NoAuthor => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::SlowBody(_) => StatusCode::REQUEST_TIMEOUT,
            AppError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::UriTooLong => StatusCode::URI_TOO_LONG,
            AppError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            AppError::Store(StoreError::Rejected(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Template(_) | AppError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn page(&self) -> ErrorPage {
        match self {
            AppError::NotFound => ErrorPage {
                heading: "Post not found",
                message: "There is no post at this address. It may have been deleted, or the \
                          link may be mistyped."
                    .into(),
            },
            AppError::NoPage => ErrorPage {
                heading: "Page not found",
                message: "The blog has no page at this address. Check the link, or start from \
                          the latest posts."
                    .into(),
            },
            AppError::NoAuthor => ErrorPage {
                heading: "No posts by this author",
                message: "Nobody of that name has written here (or their posts were deleted). \
                          The latest posts list every author."
                    .into(),
            },
            AppError::BadRequest(why) => ErrorPage {
                heading: "That request did not make sense",
                message: why.clone(),
            },
            AppError::Forbidden(why) => ErrorPage {
                heading: "Not allowed",
                message: why.clone(),
            },
            AppError::TooLarge => ErrorPage {
                heading: "That was too much text",
                message: format!(
                    "The form sent more than {} KB. Posts are limited to 100 KB; go back, \
                     shorten the text and send it again.",
                    super::BODY_LIMIT / 1024
                ),
            },
            AppError::SlowBody(limit) => ErrorPage {
                heading: "The form took too long to arrive",
                message: format!(
                    "The blog waits {} seconds for a form; this one was still arriving. Nothing \
                     was saved. Go back and send it again, on a faster connection if you can.",
                    limit.as_secs()
                ),
            },
            AppError::Busy(what) => ErrorPage {
                heading: "The blog is busy",
                message: match what {
                    Busy::Connections => {
                        "It is serving as many readers as it can at once. \
                                          Try again in a moment."
                    }
                    Busy::Bodies => {
                        "It is receiving as many forms as it can at once, so this \
                                     one was not read and nothing was saved. Go back (your text \
                                     is still in the form) and send it again in a moment."
                    }
                }
                .into(),
            },
            AppError::UriTooLong => ErrorPage {
                heading: "That address is too long",
                message: format!(
                    "The blog reads addresses up to {} KB. Use the links on its pages.",
                    super::limits::MAX_URI_BYTES / 1024
                ),
            },
            AppError::HeadersTooLarge => ErrorPage {
                heading: "The request carried too much",
                message: format!(
                    "The request's headers were over {} KB or {} headers (often too many or too \
                     large cookies). Clear this site's cookies and try again.",
                    super::limits::MAX_HEADER_BYTES / 1024,
                    super::limits::MAX_HEADERS
                ),
            },
            AppError::Store(StoreError::Rejected(why)) => ErrorPage {
                heading: "The post could not be saved",
                message: format!("The database refused it: {why}. Go back to keep your text."),
            },
            AppError::Store(_) => ErrorPage {
                heading: "The blog cannot reach its database",
                message: "Nothing was lost on our side; please try again in a moment.".into(),
            },
            AppError::Template(_) | AppError::Failed(_) => ErrorPage {
                heading: "Something went wrong",
                message: "The page could not be drawn. Please try again.".into(),
            },
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if self.status().is_server_error() {
            tracing::error!(error = %Chain(&self), "request failed");
        }
        let mut response = self.status().into_response();
        response.extensions_mut().insert(self.page());
        response
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_store_failure_reaches_the_log_but_not_the_reader() {
        let secret = "connect to 10.0.3.7:8000 refused";
        let e = AppError::from(StoreError::backend(
            "DynamoDB Query",
            std::io::Error::other(secret),
        ));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            Chain(&e).to_string(),
            format!("store: DynamoDB Query: {secret}"),
            "the log line keeps the whole chain"
        );
        assert!(e.source().is_some());
        let response = e.into_response();
        let page = response
            .extensions()
            .get::<ErrorPage>()
            .expect("an error page for the finish layer");
        assert_eq!(page.heading, "The blog cannot reach its database");
        assert!(!page.message.contains("10.0.3.7"), "{}", page.message);
    }
}
