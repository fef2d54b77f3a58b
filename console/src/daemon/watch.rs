//! The daemon watches, whoever is connected: the guard ([`crate::ops::watch`]) judges every
//! canary with traffic and every bake over the daemon's own engine, and the probe
//! ([`crate::ops::probe`]) sends the requests a quiet service lacks through the production
//! listener. Both end with the daemon (or a restart's handover: the successor starts its own).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::clock::now_millis;
use crate::ops::probe::{self, Probe};
use crate::ops::{Access, Ops};
use crate::platform::Platform;
use crate::platform::local::daemon::engine::Engine;
use crate::rollout::Operator;
use crate::rollout::watch::PROBE_LOOKBACK_SECS;

/// Starts the guard and the probe.
pub fn spawn(engine: Arc<Engine>, stop: CancellationToken) {
    let probe = Arc::new(Probe::default());
    {
        let engine = engine.clone();
        let probe = probe.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let addr = match engine.watch_settings().probe.url {
                Some(url) => match probe::resolve(&url).await {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("{e}");
                        return;
                    }
                },
                None => match engine.production_addr() {
                    Some(a) => a,
                    None => return,
                },
            };
            let lookback = (PROBE_LOOKBACK_SECS as i64) * 1000;
            probe
                .run(
                    addr,
                    || engine.watch_settings().probe,
                    |p| engine.probe_wanted(p.sent_since(now_millis() - lookback)),
                    stop,
                )
                .await;
        });
    }
    let host = crate::ops::host_name();
    let operator = Operator::new("daemon", &host).unwrap_or_else(|_| Operator {
        name: "daemon".into(),
        host: "local".into(),
    });
    let platform: Arc<dyn Platform> = engine.clone();
    let ops = Ops::new(platform, Access::default()).with_operator(operator);
    tokio::spawn(async move {
        ops.watch_until(
            || engine.watch_settings(),
            |mut rec| {
                rec.probe_sent = probe.sent();
                engine.set_watch_record(rec);
            },
            stop,
        )
        .await;
    });
}
