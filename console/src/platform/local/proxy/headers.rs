//! What the proxy does to headers on the way through, as a load balancer does: drops the
//! hop-by-hop ones, keeps `Host`, adds `X-Forwarded-*`, and sends the origin form of the URI.

use std::net::SocketAddr;

use bytes::Bytes;
use http::Uri;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// The connection-level headers a proxy must not forward (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");

pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        let listed: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in listed {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    // hyper frames the forwarded body itself (length or chunked).
    headers.remove(header::TRANSFER_ENCODING);
}

/// The header values one listener adds, built when it starts.
#[derive(Debug, Clone)]
pub(super) struct ListenerHeaders {
    /// `X-Forwarded-Port`.
    port: HeaderValue,
    /// The `Host` of a request that came without one (HTTP/1.0).
    host: HeaderValue,
}

impl ListenerHeaders {
    pub(super) fn new(local_port: u16) -> Self {
        ListenerHeaders {
            port: HeaderValue::from(local_port),
            host: HeaderValue::from_str(&format!("127.0.0.1:{local_port}"))
                .unwrap_or(HeaderValue::from_static("localhost")),
        }
    }

    pub(super) fn for_peer(&self, peer: SocketAddr) -> ForwardedHeaders {
        ForwardedHeaders {
            client_ip: HeaderValue::from_str(&peer.ip().to_string())
                .unwrap_or(HeaderValue::from_static("unknown")),
            listener: self.clone(),
        }
    }
}

/// The header values added to every request of one client connection, built once when it
/// is accepted.
#[derive(Debug)]
pub(super) struct ForwardedHeaders {
    client_ip: HeaderValue,
    listener: ListenerHeaders,
}

/// Keeps `Host` as the client sent it and adds the `X-Forwarded-*` headers a load balancer
/// adds, appending the client's address to any `X-Forwarded-For` chain.
pub(super) fn forward_headers(headers: &mut HeaderMap, fwd: &ForwardedHeaders) {
    strip_hop_by_hop(headers);
    let xff = if headers.contains_key(&X_FORWARDED_FOR) {
        let mut chain = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ");
        chain.push_str(", ");
        chain.push_str(fwd.client_ip.to_str().unwrap_or_default());
        HeaderValue::from_str(&chain).unwrap_or_else(|_| fwd.client_ip.clone())
    } else {
        fwd.client_ip.clone()
    };
    headers.insert(X_FORWARDED_FOR, xff);
    let host = match headers.get(header::HOST) {
        Some(h) => h.clone(),
        None => {
            // HTTP/1.0 clients may omit Host; name the listener instead.
            let h = fwd.listener.host.clone();
            headers.insert(header::HOST, h.clone());
            h
        }
    };
    headers.insert(X_FORWARDED_HOST, host);
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    headers.insert(X_FORWARDED_PORT, fwd.listener.port.clone());
}

/// `/path?query` from whatever form the client used; an origin-form URI (what clients
/// send to a server) is kept as it is.
pub(super) fn origin_form(uri: Uri) -> Uri {
    if uri.scheme().is_none() && uri.authority().is_none() {
        return uri;
    }
    match uri.path_and_query() {
        Some(pq) => Uri::from_maybe_shared(Bytes::copy_from_slice(pq.as_str().as_bytes()))
            .unwrap_or_else(|_| Uri::from_static("/")),
        None => Uri::from_static("/"),
    }
}
