//! Cookie names and attributes. Behind the load balancer a request that arrived over HTTPS
//! carries `X-Forwarded-Proto: https`; its cookies are then `Secure` and named `__Host-…`, which
//! a browser only accepts from a secure origin, for the whole host, and which no subdomain or
//! plain-HTTP page can plant.

use http::HeaderMap;
use http::header::COOKIE;

/// How the request reached the blog (or the load balancer in front of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn of(headers: &HeaderMap) -> Self {
        let https = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
        if https { Scheme::Https } else { Scheme::Http }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The cookie `base` is called on this scheme.
    pub fn cookie_name(self, base: &str) -> String {
        match self {
            Scheme::Http => base.to_string(),
            Scheme::Https => format!("__Host-{base}"),
        }
    }

    /// A `Set-Cookie` value for `base` (`max_age` seconds; 0 deletes it).
    pub fn set_cookie(self, base: &str, value: &str, max_age: Option<u64>) -> String {
        let mut out = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax",
            self.cookie_name(base)
        );
        if let Some(age) = max_age {
            out.push_str(&format!("; Max-Age={age}"));
        }
        if self == Scheme::Https {
            out.push_str("; Secure");
        }
        out
    }
}

/// The value of the cookie `name` in the request, if any.
pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn https_cookies_are_secure_host_cookies() {
        let mut headers = HeaderMap::new();
        assert_eq!(Scheme::of(&headers), Scheme::Http);
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let scheme = Scheme::of(&headers);
        assert_eq!(scheme, Scheme::Https);
        assert_eq!(
            scheme.set_cookie("blog_session", "v", Some(60)),
            "__Host-blog_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        assert_eq!(
            Scheme::Http.set_cookie("blog_session", "v", None),
            "blog_session=v; Path=/; HttpOnly; SameSite=Lax"
        );
        headers.insert(COOKIE, HeaderValue::from_static("a=1; blog_session=xyz"));
        assert_eq!(read(&headers, "blog_session"), Some("xyz"));
        assert_eq!(read(&headers, "__Host-blog_session"), None);
    }
}
