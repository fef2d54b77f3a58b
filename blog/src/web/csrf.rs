//! CSRF tokens that validate in every blog process, so a form served by blue can be posted to
//! green mid-shift.
//!
//! Double submit: a random token lives in a cookie, and each form carries a value derived from
//! it. With `BLOG_CSRF_SECRET` (shared by every process) the cookie is a nonce with its own
//! HMAC, so the server accepts only cookies it issued (a value the client made up gets a fresh
//! cookie, never a token), and the form value is a second HMAC of the cookie; without it the
//! form value is the cookie itself, the plain double-submit pattern. No server-side state
//! either way (docs/blog.md, "CSRF across processes").
//!
//! Since there are sessions, this token guards only the sign-in form: every form shown to a
//! signed-in author carries a token bound to the session instead (`auth::session`), and every
//! POST must also come from this site (`web::context`).

use hmac::Mac;
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue};

use crate::auth::{Scheme, cookies};

pub const COOKIE_NAME: &str = "blog_csrf";
/// The form field carrying the token.
pub const FIELD: &str = "csrf_token";
const TOKEN_BYTES: usize = 32;
pub const MIN_SECRET_BYTES: usize = 16;

#[derive(Debug, thiserror::Error)]
#[error("BLOG_CSRF_SECRET is {0} bytes long; use at least {MIN_SECRET_BYTES} random bytes")]
pub struct WeakSecret(usize);

pub struct Csrf {
    secret: Option<Vec<u8>>,
}

/// The token for one form, and the cookie to set when the reader had none.
#[derive(Clone, Debug)]
pub struct FormToken {
    pub field: String,
    set_cookie: Option<HeaderValue>,
}

impl FormToken {
    /// Headers to send with the page that carries the form.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(cookie) = &self.set_cookie {
            headers.insert(SET_COOKIE, cookie.clone());
        }
        headers
    }
}

impl Csrf {
    /// Signed tokens with a shared secret, or plain double-submit without one.
    pub fn new(secret: Option<&str>) -> Result<Self, WeakSecret> {
        match secret.map(str::as_bytes).filter(|s| !s.is_empty()) {
            Some(s) if s.len() < MIN_SECRET_BYTES => Err(WeakSecret(s.len())),
            Some(s) => Ok(Self {
                secret: Some(s.to_vec()),
            }),
            None => Ok(Self { secret: None }),
        }
    }

    pub fn is_signed(&self) -> bool {
        self.secret.is_some()
    }

    /// The token for a form, reusing the reader's cookie when it is one of ours.
    pub fn issue(&self, request: &HeaderMap, scheme: Scheme) -> FormToken {
        if let Some(cookie) = self.cookie_token(request, scheme) {
            return FormToken {
                field: self.derive(&cookie),
                set_cookie: None,
            };
        }
        let nonce = hex::encode(rand::random::<[u8; TOKEN_BYTES]>());
        let cookie = match &self.secret {
            Some(secret) => format!("{nonce}.{}", hex::encode(cookie_mac(secret, &nonce))),
            None => nonce,
        };
        let header = scheme.set_cookie(COOKIE_NAME, &cookie, None);
        FormToken {
            field: self.derive(&cookie),
            set_cookie: HeaderValue::from_str(&header).ok(),
        }
    }

    /// Whether `submitted` matches the request's cookie.
    pub fn verify(&self, request: &HeaderMap, scheme: Scheme, submitted: &str) -> bool {
        let Some(cookie) = self.cookie_token(request, scheme) else {
            return false;
        };
        match &self.secret {
            Some(secret) => {
                let Ok(tag) = hex::decode(submitted) else {
                    return false;
                };
                mac(secret, &cookie).verify_slice(&tag).is_ok()
            }
            None => constant_time_eq(cookie.as_bytes(), submitted.as_bytes()),
        }
    }

    fn derive(&self, cookie: &str) -> String {
        match &self.secret {
            Some(secret) => hex::encode(mac(secret, cookie).finalize().into_bytes()),
            None => cookie.to_string(),
        }
    }

    /// The reader's token cookie, if present and one of ours: shaped like a token and, when
    /// signed, carrying a valid MAC of its nonce.
    fn cookie_token(&self, request: &HeaderMap, scheme: Scheme) -> Option<String> {
        let value = cookies::read(request, &scheme.cookie_name(COOKIE_NAME))?;
        let ours = match &self.secret {
            None => is_hex_token(value),
            Some(secret) => value.split_once('.').is_some_and(|(nonce, tag)| {
                is_hex_token(nonce)
                    && hex::decode(tag)
                        .is_ok_and(|tag| cookie_mac_state(secret, nonce).verify_slice(&tag).is_ok())
            }),
        };
        ours.then(|| value.to_string())
    }
}

fn is_hex_token(v: &str) -> bool {
    v.len() == TOKEN_BYTES * 2 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The cookie's own MAC: under another label than the form value's, so one never stands in
/// for the other.
fn cookie_mac_state(secret: &[u8], nonce: &str) -> hmac::Hmac<sha2::Sha256> {
    crate::auth::session::mac(secret, format!("csrf-cookie:{nonce}").as_bytes())
}

fn cookie_mac(secret: &[u8], nonce: &str) -> Vec<u8> {
    cookie_mac_state(secret, nonce)
        .finalize()
        .into_bytes()
        .to_vec()
}

fn mac(secret: &[u8], cookie: &str) -> hmac::Hmac<sha2::Sha256> {
    crate::auth::session::mac(secret, cookie.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::COOKIE;

    fn with_cookie(token: &FormToken) -> HeaderMap {
        let set = token.headers();
        let cookie = set
            .get(SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("a fresh token sets a cookie")
            .to_string();
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("other=1; {cookie}")).expect("ascii"),
        );
        headers
    }

    #[test]
    fn plain_double_submit() {
        let csrf = Csrf::new(None).expect("no secret");
        let token = csrf.issue(&HeaderMap::new(), Scheme::Http);
        let headers = with_cookie(&token);
        assert!(csrf.verify(&headers, Scheme::Http, &token.field));
        assert!(!csrf.verify(&headers, Scheme::Http, "forged"));
        assert!(!csrf.verify(&HeaderMap::new(), Scheme::Http, &token.field));
        // The same cookie gets the same token, with no new cookie.
        let again = csrf.issue(&headers, Scheme::Http);
        assert_eq!(again.field, token.field);
        assert!(again.headers().is_empty());
    }

    #[test]
    fn signed_tokens_validate_in_another_process_with_the_same_secret() {
        let blue = Csrf::new(Some("a shared secret of enough length")).expect("secret");
        let green = Csrf::new(Some("a shared secret of enough length")).expect("secret");
        let other = Csrf::new(Some("a different secret, also long")).expect("secret");
        let token = blue.issue(&HeaderMap::new(), Scheme::Http);
        let headers = with_cookie(&token);
        assert!(green.verify(&headers, Scheme::Http, &token.field));
        assert!(!other.verify(&headers, Scheme::Http, &token.field));
        // The cookie value alone is not a valid signed token.
        let cookie = green.cookie_token(&headers, Scheme::Http).expect("cookie");
        assert!(!green.verify(&headers, Scheme::Http, &cookie));
    }

    #[test]
    fn a_planted_cookie_gets_a_fresh_one_never_a_token() {
        let csrf = Csrf::new(Some("a shared secret of enough length")).expect("secret");
        let planted = "ab".repeat(TOKEN_BYTES);
        for value in [
            planted.clone(),
            format!("{planted}.{}", "00".repeat(32)),
            format!("{planted}.zz"),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(
                COOKIE,
                HeaderValue::from_str(&format!("{COOKIE_NAME}={value}")).expect("ascii"),
            );
            let token = csrf.issue(&headers, Scheme::Http);
            let set = token.headers();
            let fresh = set
                .get(SET_COOKIE)
                .and_then(|v| v.to_str().ok())
                .expect("a planted cookie is replaced");
            assert!(!fresh.contains(&value), "{fresh}");
            // The token issued belongs to the fresh cookie, not to the planted one.
            assert!(!csrf.verify(&headers, Scheme::Http, &token.field));
            assert!(csrf.verify(&with_cookie(&token), Scheme::Http, &token.field));
        }
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(Csrf::new(Some("short")).is_err());
        assert!(
            Csrf::new(Some(""))
                .expect("empty means none")
                .secret
                .is_none()
        );
    }
}
