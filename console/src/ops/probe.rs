//! The probe: GETs through the production listener, so a quiet service's gates and measured
//! split have requests to judge. Bounded by its rate (`[profiles.X.probe]`, at most
//! [`crate::rollout::watch::MAX_PROBE_RATE`] a second), one request in flight at a time,
//! each within [`TIMEOUT`]. When it runs is [`crate::rollout::watch::probe_wanted`]'s call;
//! the caller passes it in. Its requests say who they are: `User-Agent: bluegreen-probe/VERSION`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::now_millis;
use crate::platform::http::HttpClient;
use crate::rollout::UnixMillis;
use crate::rollout::watch::{PROBE_LOOKBACK_SECS, ProbeConfig};

/// What the probe's requests carry.
pub const USER_AGENT: &str = concat!("bluegreen-probe/", env!("CARGO_PKG_VERSION"));

/// The longest one probe request may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// How often a probe that is not wanted looks again.
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// A probe and its counts.
#[derive(Debug, Default)]
pub struct Probe {
    sent: AtomicU64,
    failed: AtomicU64,
    /// When the requests of the last [`PROBE_LOOKBACK_SECS`] were sent.
    recent: Mutex<VecDeque<UnixMillis>>,
}

impl Probe {
    /// Requests sent since the probe started.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Requests that got no answer, or a 5xx.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Requests sent since `at` (within the last [`PROBE_LOOKBACK_SECS`]).
    pub fn sent_since(&self, at: UnixMillis) -> u64 {
        let r = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        r.iter().filter(|t| **t >= at).count() as u64
    }

    fn count(&self, at: UnixMillis) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let mut r = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        r.push_back(at);
        let oldest = at - (PROBE_LOOKBACK_SECS as i64) * 1000;
        while r.front().is_some_and(|t| *t < oldest) {
            r.pop_front();
        }
    }

    /// Sends GETs to `addr` (the production listener), cycling through the paths, one every
    /// `1 / rate` seconds while `wanted` says so, until `stop`. `settings` is read before
    /// each request, so a changed rate applies at once.
    pub async fn run(
        &self,
        addr: SocketAddr,
        settings: impl Fn() -> ProbeConfig,
        wanted: impl Fn(&Probe) -> bool,
        stop: CancellationToken,
    ) {
        let mut client = HttpClient::new(addr);
        let mut next = 0usize;
        loop {
            let cfg = settings();
            let nap = match cfg.gap_ms() {
                Some(gap) if wanted(self) => {
                    let path = cfg.paths[next % cfg.paths.len()].clone();
                    next = next.wrapping_add(1);
                    self.count(now_millis());
                    let answer = tokio::time::timeout(
                        TIMEOUT,
                        client.send(
                            http::Method::GET,
                            &path,
                            &[("user-agent", USER_AGENT)],
                            None,
                        ),
                    )
                    .await;
                    let ok = matches!(&answer, Ok(Ok(r)) if r.status < 500);
                    if !ok {
                        self.failed.fetch_add(1, Ordering::Relaxed);
                        if answer.is_err() {
                            // A request cut by the timeout leaves its connection unusable.
                            client = HttpClient::new(addr);
                        }
                    }
                    Duration::from_millis(gap)
                }
                _ => IDLE_CHECK,
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }
}

/// The address of a probe URL (`http://HOST:PORT/…`, port 80 by default). The probe speaks
/// plain HTTP: an `https://` URL (an ALB with only a TLS listener) is refused, and the
/// caller says so once.
pub async fn resolve(url: &str) -> Result<SocketAddr, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("the probe speaks plain HTTP; {url} is not an http:// URL, so nothing is probed and the old rules hold")
    })?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let with_port = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    tokio::net::lookup_host(&with_port)
        .await
        .map_err(|e| format!("the probe cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("the probe cannot resolve {authority}: no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recent_count_forgets_what_is_older_than_the_lookback() {
        let p = Probe::default();
        p.count(1_000);
        p.count(5_000);
        p.count(12_000);
        assert_eq!(p.sent(), 3);
        // 1 000 fell out of the 10 s before 12 000.
        assert_eq!(p.sent_since(0), 2);
        assert_eq!(p.sent_since(6_000), 1);
    }

    #[tokio::test]
    async fn urls_resolve_to_an_address_or_say_why_not() {
        assert_eq!(
            resolve("http://127.0.0.1:8080/health").await,
            Ok("127.0.0.1:8080".parse().expect("addr"))
        );
        assert_eq!(
            resolve("http://127.0.0.1").await,
            Ok("127.0.0.1:80".parse().expect("addr"))
        );
        let e = resolve("https://blog.example/").await.expect_err("tls");
        assert!(e.contains("plain HTTP"), "{e}");
    }
}
