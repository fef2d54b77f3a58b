//! The target group's health check: `GET /health` on a fresh connection, like a load
//! balancer's, with healthy and unhealthy thresholds.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One check. `Err` says why it failed, for the target's reason.
pub async fn check(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let attempt = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect failed: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake failed: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = Request::get("/health")
            .header(header::HOST, addr.to_string())
            .header(header::USER_AGENT, "bluegreen-health-check")
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if resp.status() == StatusCode::OK {
            Ok(())
        } else {
            Err(format!("GET /health answered {}", resp.status()))
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "GET /health timed out after {} ms",
            timeout.as_millis()
        )),
    }
}

/// Consecutive results turned into a verdict, as a target group does it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Streaks {
    pub ok: u32,
    pub failed: u32,
}

/// What a target is, from the load balancer's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetPhase {
    /// Registered; not enough checks passed yet.
    Initial,
    Healthy,
    Unhealthy,
    /// Deregistered; in-flight requests finish.
    Draining,
}

impl Streaks {
    /// Records one result and returns the phase that follows from `current`.
    pub fn record(
        &mut self,
        passed: bool,
        current: TargetPhase,
        healthy_threshold: u32,
        unhealthy_threshold: u32,
    ) -> TargetPhase {
        if passed {
            self.ok += 1;
            self.failed = 0;
        } else {
            self.failed += 1;
            self.ok = 0;
        }
        match current {
            TargetPhase::Draining => TargetPhase::Draining,
            _ if self.ok >= healthy_threshold => TargetPhase::Healthy,
            _ if self.failed >= unhealthy_threshold => TargetPhase::Unhealthy,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_decide_transitions() {
        let mut s = Streaks::default();
        let mut p = TargetPhase::Initial;
        p = s.record(true, p, 2, 2);
        assert_eq!(p, TargetPhase::Initial);
        p = s.record(true, p, 2, 2);
        assert_eq!(p, TargetPhase::Healthy);
        p = s.record(false, p, 2, 2);
        assert_eq!(p, TargetPhase::Healthy, "one failure is not enough");
        p = s.record(false, p, 2, 2);
        assert_eq!(p, TargetPhase::Unhealthy);
        assert_eq!(
            s.record(true, TargetPhase::Draining, 2, 2),
            TargetPhase::Draining
        );
    }

    #[tokio::test]
    async fn a_closed_port_fails_with_a_reason() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        let err = check(addr, Duration::from_secs(1))
            .await
            .expect_err("closed");
        assert!(err.contains("connect failed"), "{err}");
    }
}
