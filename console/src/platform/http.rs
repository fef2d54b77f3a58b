//! A small HTTP/1.1 client over one kept-alive connection: the smoke test's GET on both
//! platforms ([`smoke_get`]), what the demo uses to seed posts through the proxy, and what the
//! end-to-end tests and benchmarks use as a load client. It never retries: a failed exchange
//! is reported, and the next one reconnects.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{SMOKE_BODY_LIMIT, SmokeAnswer};

/// A response read to its end.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub struct HttpClient {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl HttpClient {
    pub fn new(addr: SocketAddr) -> Self {
        HttpClient { addr, sender: None }
    }

    async fn connection(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        let reusable = self.sender.as_ref().is_some_and(|s| !s.is_closed());
        if !reusable {
            let stream = TcpStream::connect(self.addr)
                .await
                .map_err(|e| format!("connect to {} failed: {e}", self.addr))?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake with {} failed: {e}", self.addr))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        let sender = self
            .sender
            .as_mut()
            .ok_or_else(|| "no connection".to_string())?;
        sender
            .ready()
            .await
            .map_err(|e| format!("connection to {} closed: {e}", self.addr))?;
        Ok(sender)
    }

    /// One exchange. `Err` is a transport error (no HTTP response was read completely).
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<HttpResponse, String> {
        let host = self.addr.to_string();
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let payload = match body {
            Some((content_type, bytes)) => {
                req = req.header(header::CONTENT_TYPE, content_type);
                Bytes::from(bytes)
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(payload)).map_err(|e| e.to_string())?;
        let result = async {
            let sender = self.connection().await?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| format!("request failed: {e}"))?;
            let (parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| format!("reading the body failed: {e}"))?
                .to_bytes();
            Ok::<_, String>(HttpResponse {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        }
        .await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    pub async fn get(&mut self, path: &str) -> Result<HttpResponse, String> {
        self.send(Method::GET, path, &[], None).await
    }

    /// Posts a form (`application/x-www-form-urlencoded`).
    pub async fn post_form(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        fields: &[(&str, &str)],
    ) -> Result<HttpResponse, String> {
        self.send(
            Method::POST,
            path,
            headers,
            Some((
                "application/x-www-form-urlencoded",
                form_urlencode(fields).into_bytes(),
            )),
        )
        .await
    }
}

/// Why a smoke GET has no answer; each adapter names the call and the address its own way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmokeFailure {
    /// No answer within the timeout (resolving the address included).
    TimedOut,
    /// The address did not resolve, or the exchange failed.
    Failed(String),
}

/// The smoke test's one GET: `path` at the address `addr` resolves to, within `timeout`
/// (resolving included), its body cut at [`SMOKE_BODY_LIMIT`] bytes on a character boundary.
pub async fn smoke_get(
    addr: impl Future<Output = Result<SocketAddr, String>>,
    path: &str,
    timeout: Duration,
) -> Result<SmokeAnswer, SmokeFailure> {
    let started = Instant::now();
    let get = async {
        let mut client = HttpClient::new(addr.await?);
        client.get(path).await
    };
    let answer = tokio::time::timeout(timeout, get)
        .await
        .map_err(|_| SmokeFailure::TimedOut)?
        .map_err(SmokeFailure::Failed)?;
    let mut body = answer.text();
    if body.len() > SMOKE_BODY_LIMIT {
        let mut cut = SMOKE_BODY_LIMIT;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
    }
    Ok(SmokeAnswer {
        status: answer.status,
        body,
        latency_ms: started.elapsed().as_millis().min(u64::MAX as u128) as u64,
    })
}

/// `a=1&b=x+y` with everything but unreserved characters percent-encoded.
pub fn form_urlencode(fields: &[(&str, &str)]) -> String {
    fn enc(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(k, &mut out);
        out.push('=');
        enc(v, &mut out);
    }
    out
}

/// The blog's form token: the hidden `csrf_token` field and the `Cookie` header value that
/// goes with it (from `Set-Cookie`, when the page set one).
pub fn form_token(page: &HttpResponse) -> Option<(String, Option<String>)> {
    let body = page.text();
    let at = body.find("name=\"csrf_token\"")?;
    let rest = &body[at..];
    let value_at = rest.find("value=\"")? + "value=\"".len();
    let value: String = rest[value_at..].chars().take_while(|c| *c != '"').collect();
    let cookie = page
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v: &HeaderValue| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .find(|c| c.starts_with("blog_csrf="));
    Some((value, cookie))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_forms() {
        assert_eq!(
            form_urlencode(&[("title", "Hello, world & co"), ("a", "é")]),
            "title=Hello%2C+world+%26+co&a=%C3%A9"
        );
    }
}
