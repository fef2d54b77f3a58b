//! `blog healthcheck`: asks the running blog's `/health` and exits 0 only on a 200, for the
//! ECS container health check in an image without curl. Its bounded plain-HTTP/1.1 GET
//! ([`get`]) also serves `blog smoke` ([`crate::smoke`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most of an answer (head and body) read; the rest is not waited for.
pub const MAX_REPLY: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("talking to {0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0} did not answer within {1:?}")]
    Timeout(String, Duration),
    #[error("{addr}/health answered {status}: {body}")]
    Unhealthy {
        addr: SocketAddr,
        status: String,
        body: String,
    },
    #[error("{0} sent something that is not HTTP")]
    Garbled(String),
}

/// An HTTP answer: the status code, the status line's text after the version, the body
/// (de-chunked, lossily UTF-8, at most [`MAX_REPLY`] bytes with the head).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub status_text: String,
    pub body: String,
}

/// Where to reach a server bound to `bind`: a wildcard address is reached over loopback.
pub fn target(bind: IpAddr, port: u16) -> SocketAddr {
    let ip = match bind {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    SocketAddr::new(ip, port)
}

/// GETs `/health`; returns the body on a 200.
pub async fn probe(addr: SocketAddr, limit: Duration) -> Result<String, ProbeError> {
    let host = addr.ip().to_string();
    let reply = get(&host, addr.port(), "/health", limit).await?;
    if reply.status == 200 {
        Ok(reply.body)
    } else {
        Err(ProbeError::Unhealthy {
            addr,
            status: reply.status_text,
            body: reply.body.trim().to_string(),
        })
    }
}

/// One plain-HTTP/1.1 GET of `path` at `host` (a name or an IP address) and `port`, all of it
/// within `limit`.
pub async fn get(host: &str, port: u16, path: &str, limit: Duration) -> Result<Reply, ProbeError> {
    let authority = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
        _ => format!("{host}:{port}"),
    };
    tokio::time::timeout(limit, exchange(host, port, &authority, path))
        .await
        .map_err(|_| ProbeError::Timeout(authority.clone(), limit))?
}

async fn exchange(host: &str, port: u16, authority: &str, path: &str) -> Result<Reply, ProbeError> {
    let at = || authority.to_string();
    let mut stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| ProbeError::Connect(at(), e))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: blog-healthcheck\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| ProbeError::Io(at(), e))?;
    let mut reply = Vec::new();
    (&mut stream)
        .take(MAX_REPLY)
        .read_to_end(&mut reply)
        .await
        .map_err(|e| ProbeError::Io(at(), e))?;
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| ProbeError::Garbled(at()))?;
    let head = String::from_utf8_lossy(&reply[..split]);
    let raw_body = &reply[split + 4..];
    let status_line = head
        .lines()
        .next()
        .ok_or_else(|| ProbeError::Garbled(at()))?;
    let mut parts = status_line.splitn(2, ' ');
    let version = parts.next().unwrap_or_default();
    let status_text = parts.next().unwrap_or_default().trim().to_string();
    let status = status_text
        .split_whitespace()
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| version.starts_with("HTTP/"))
        .ok_or_else(|| ProbeError::Garbled(at()))?;
    let chunked = head.lines().skip(1).any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
        })
    });
    let body = if chunked {
        dechunk(raw_body)
    } else {
        raw_body.to_vec()
    };
    Ok(Reply {
        status,
        status_text,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A chunked body's data, as far as it is well formed (a truncated answer keeps what came).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            break;
        };
        raw = &raw[eol + 2..];
        if size == 0 {
            break;
        }
        let take = size.min(raw.len());
        out.extend_from_slice(&raw[..take]);
        raw = raw.get(take + 2..).unwrap_or_default();
    }
    out
}
