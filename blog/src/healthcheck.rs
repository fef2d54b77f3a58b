//! `blog healthcheck`: asks the running blog's `/health` and exits 0 only on a 200, for the
//! ECS container health check in an image without curl.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot connect to {0}: {1}")]
    Connect(SocketAddr, std::io::Error),
    #[error("talking to {0}: {1}")]
    Io(SocketAddr, std::io::Error),
    #[error("{0} did not answer within {1:?}")]
    Timeout(SocketAddr, Duration),
    #[error("{addr}/health answered {status}: {body}")]
    Unhealthy {
        addr: SocketAddr,
        status: String,
        body: String,
    },
    #[error("{0} sent something that is not HTTP")]
    Garbled(SocketAddr),
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
    tokio::time::timeout(limit, exchange(addr))
        .await
        .map_err(|_| ProbeError::Timeout(addr, limit))?
}

async fn exchange(addr: SocketAddr) -> Result<String, ProbeError> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| ProbeError::Connect(addr, e))?;
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: blog-healthcheck\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| ProbeError::Io(addr, e))?;
    let mut reply = Vec::new();
    stream
        .read_to_end(&mut reply)
        .await
        .map_err(|e| ProbeError::Io(addr, e))?;
    let text = String::from_utf8_lossy(&reply);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or(ProbeError::Garbled(addr))?;
    let status_line = head.lines().next().ok_or(ProbeError::Garbled(addr))?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .ok_or(ProbeError::Garbled(addr))?;
    if status == "200" {
        Ok(body.to_string())
    } else {
        Err(ProbeError::Unhealthy {
            addr,
            status: status_line.trim_start_matches("HTTP/1.1 ").to_string(),
            body: body.trim().to_string(),
        })
    }
}
