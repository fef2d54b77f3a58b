//! Every request's context, worked out inside `layers::finish` before the limits and the
//! route: how it arrived ([`Scheme`]), who sent it ([`Viewer`]), and, for a POST, whether it
//! came from this site. Handlers read the result as `Extension<Ctx>`; `finish` gets it back
//! with the response to draw error pages for the right reader.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{HOST, ORIGIN, STRICT_TRANSPORT_SECURITY};
use http::{HeaderMap, HeaderValue, Method};

use super::{AppError, AppState};
use crate::auth::session::unix_now;
use crate::auth::{Scheme, Viewer};
use crate::telemetry::Chain;

/// One year, the value HSTS preload lists ask for.
const HSTS: &str = "max-age=31536000; includeSubDomains";

#[derive(Clone, Debug)]
pub struct Ctx {
    pub scheme: Scheme,
    pub viewer: Viewer,
}

impl Ctx {
    /// Pages for this reader may be kept in the page cache: anonymous pages only, since a
    /// signed-in reader's pages carry their name, their controls and their session's token.
    pub fn cacheable(&self) -> bool {
        matches!(self.viewer, Viewer::Anonymous { .. })
    }
}

/// Runs the rest of the request; the response comes back with the context it ran in.
pub async fn context(state: &AppState, mut request: Request, next: Next) -> (Response, Ctx) {
    let scheme = Scheme::of(request.headers());
    if request.method() == Method::POST
        && let Err(why) = same_origin(request.headers(), scheme)
    {
        let response = AppError::Forbidden(why.into()).into_response();
        let ctx = Ctx {
            scheme,
            viewer: Viewer::Anonymous { ended: false },
        };
        return (response, ctx);
    }
    let viewer = match state
        .auth
        .viewer(request.headers(), scheme, unix_now())
        .await
    {
        Ok(viewer) => viewer,
        Err(e) => {
            // Reading goes on without the session; writing then asks to sign in again.
            tracing::warn!(error = %Chain(&e), "cannot check the session: the account store failed");
            Viewer::Anonymous { ended: false }
        }
    };
    let ctx = Ctx { scheme, viewer };
    request.extensions_mut().insert(ctx.clone());
    let mut response = super::limits::limits(state, request, next).await;
    if scheme == Scheme::Https {
        response
            .headers_mut()
            .insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    (response, ctx)
}

const CROSS_SITE: &str = "This form was sent from another site, so the blog did not act on it. \
                          If you meant to send it, open the blog itself and send the form from there.";

/// A browser says where a POST comes from in `Sec-Fetch-Site` (all current ones) and `Origin`;
/// both must name this site when present. A client that sends neither is not a browser a page
/// can drive, and still needs the form's token.
fn same_origin(headers: &HeaderMap, scheme: Scheme) -> Result<(), &'static str> {
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return Err(CROSS_SITE);
        }
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let expected = format!("{}://{host}", scheme.as_str());
        if host.is_empty() || !origin.as_bytes().eq_ignore_ascii_case(expected.as_bytes()) {
            return Err(CROSS_SITE);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn posts_must_come_from_this_site() {
        let ok = |h: &[(&'static str, &'static str)], s| same_origin(&headers(h), s).is_ok();
        assert!(ok(&[], Scheme::Http));
        assert!(ok(
            &[
                ("sec-fetch-site", "same-origin"),
                ("origin", "http://blog:5000"),
                ("host", "blog:5000")
            ],
            Scheme::Http
        ));
        assert!(ok(
            &[("origin", "https://blog.example"), ("host", "blog.example")],
            Scheme::Https
        ));
        assert!(!ok(&[("sec-fetch-site", "cross-site")], Scheme::Http));
        assert!(!ok(&[("sec-fetch-site", "same-site")], Scheme::Http));
        assert!(!ok(
            &[("origin", "http://evil.example"), ("host", "blog.example")],
            Scheme::Http
        ));
        assert!(!ok(
            &[("origin", "null"), ("host", "blog.example")],
            Scheme::Http
        ));
        assert!(!ok(
            &[("origin", "http://blog.example"), ("host", "blog.example")],
            Scheme::Https
        ));
    }
}
