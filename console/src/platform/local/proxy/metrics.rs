//! Per-color traffic counters: the local stand-in for the load balancer's CloudWatch metrics.
//!
//! The request path only increments monotonic atomics (a count, a 5xx count and one latency
//! bucket). A sampler copies the totals once a second into a bounded history, and a metrics
//! query subtracts two samples, so nothing on the hot path locks or resets.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::rollout::{Color, ColorMetrics, MetricPoint, PerColor, UnixMillis};

/// Upper bounds of the latency buckets, in microseconds; the last bucket is open.
const BOUNDS_US: [u64; 22] = [
    250, 500, 1_000, 2_000, 3_000, 5_000, 7_500, 10_000, 15_000, 20_000, 30_000, 50_000, 75_000,
    100_000, 150_000, 200_000, 300_000, 500_000, 750_000, 1_000_000, 2_000_000, 5_000_000,
];
const BUCKETS: usize = BOUNDS_US.len() + 1;

/// How many one-second samples are kept (15 minutes).
const HISTORY: usize = 900;
/// Points a metrics query returns at most.
const MAX_POINTS: u64 = 30;

/// Lifetime counters of one color.
#[derive(Debug, Default)]
pub struct ColorCounters {
    requests: AtomicU64,
    errors_5xx: AtomicU64,
    /// Requests that picked this color by weight but were served by the other one because
    /// this color had no healthy target.
    fallbacks: AtomicU64,
    latency: [AtomicU64; BUCKETS],
}

impl ColorCounters {
    pub fn record(&self, latency: Duration, is_5xx: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if is_5xx {
            self.errors_5xx.fetch_add(1, Ordering::Relaxed);
        }
        let us = latency.as_micros() as u64;
        let idx = BOUNDS_US.partition_point(|&b| b < us);
        self.latency[idx].fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_fallback(&self) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
    }

    fn totals(&self) -> Totals {
        Totals {
            requests: self.requests.load(Ordering::Relaxed),
            errors_5xx: self.errors_5xx.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            latency: std::array::from_fn(|i| self.latency[i].load(Ordering::Relaxed)),
        }
    }
}

/// A copy of one color's counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub requests: u64,
    pub errors_5xx: u64,
    pub fallbacks: u64,
    latency: [u64; BUCKETS],
}

impl Totals {
    pub(super) fn since(&self, earlier: &Totals) -> Totals {
        Totals {
            requests: self.requests.saturating_sub(earlier.requests),
            errors_5xx: self.errors_5xx.saturating_sub(earlier.errors_5xx),
            fallbacks: self.fallbacks.saturating_sub(earlier.fallbacks),
            latency: std::array::from_fn(|i| self.latency[i].saturating_sub(earlier.latency[i])),
        }
    }

    /// The 99th percentile, as the upper bound of the bucket it falls in (milliseconds).
    pub fn p99_ms(&self) -> Option<f64> {
        let n: u64 = self.latency.iter().sum();
        if n == 0 {
            return None;
        }
        let rank = (n * 99).div_ceil(100);
        let mut seen = 0;
        for (i, count) in self.latency.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let bound = BOUNDS_US.get(i).or(BOUNDS_US.last()).copied().unwrap_or(0);
                return Some(bound as f64 / 1000.0);
            }
        }
        None
    }
}

/// Both colors' counters and their sampled history.
#[derive(Debug, Default)]
pub struct Metrics {
    colors: PerColor<ColorCounters>,
    history: Mutex<VecDeque<(UnixMillis, PerColor<Totals>)>>,
}

impl Default for Totals {
    fn default() -> Self {
        Totals {
            requests: 0,
            errors_5xx: 0,
            fallbacks: 0,
            latency: [0; BUCKETS],
        }
    }
}

impl Metrics {
    pub fn color(&self, color: Color) -> &ColorCounters {
        self.colors.get(color)
    }

    /// Lifetime totals now.
    pub fn totals(&self) -> PerColor<Totals> {
        self.colors.map(|_, c| c.totals())
    }

    /// Appends one sample; called once a second by the daemon.
    pub fn sample(&self, now: UnixMillis) {
        let totals = self.totals();
        let mut h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        h.push_back((now, totals));
        while h.len() > HISTORY {
            h.pop_front();
        }
    }

    /// Points over the last `window_secs` (at most 15 minutes), oldest first, at most 30.
    pub fn points(&self, window_secs: u64, now: UnixMillis) -> PerColor<ColorMetrics> {
        let window = window_secs.clamp(1, HISTORY as u64);
        let period_ms = (window.div_ceil(MAX_POINTS) * 1000) as i64;
        let start = now - window as i64 * 1000;
        let mut samples: Vec<(UnixMillis, PerColor<Totals>)> = {
            let h = self.history.lock().unwrap_or_else(|e| e.into_inner());
            // The last sample before the window is the baseline of the first point.
            let first = h.iter().rposition(|(t, _)| *t <= start).unwrap_or(0);
            h.iter().skip(first).cloned().collect()
        };
        samples.push((now, self.totals()));
        let mut out = PerColor::<ColorMetrics>::default();
        let Some(&(mut base_at, ref base)) = samples.first() else {
            return out;
        };
        let (last_at, last) = &samples[samples.len() - 1];
        for color in Color::ALL {
            let d = last.get(color).since(base.get(color));
            out.get_mut(color).window = Some(MetricPoint {
                at: *last_at,
                requests: d.requests,
                errors_5xx: d.errors_5xx,
                p99_ms: d.p99_ms(),
            });
        }
        let mut base = base.clone();
        let n = samples.len();
        for (i, (at, totals)) in samples.iter().enumerate().skip(1) {
            if at - base_at < period_ms && i + 1 < n {
                continue;
            }
            for color in Color::ALL {
                let d = totals.get(color).since(base.get(color));
                out.get_mut(color).points.push(MetricPoint {
                    at: *at,
                    requests: d.requests,
                    errors_5xx: d.errors_5xx,
                    p99_ms: d.p99_ms(),
                });
            }
            base_at = *at;
            base = totals.clone();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_is_the_bucket_bound() {
        let c = ColorCounters::default();
        for _ in 0..99 {
            c.record(Duration::from_micros(400), false);
        }
        c.record(Duration::from_millis(40), true);
        let t = c.totals();
        assert_eq!(t.requests, 100);
        assert_eq!(t.errors_5xx, 1);
        assert_eq!(t.p99_ms(), Some(0.5));
        c.record(Duration::from_millis(40), false);
        // 101 requests: rank 100 falls in the 40 ms request's bucket (<= 50 ms).
        assert_eq!(c.totals().p99_ms(), Some(50.0));
        assert_eq!(Totals::default().p99_ms(), None);
    }

    #[test]
    fn points_are_differences_between_samples() {
        let m = Metrics::default();
        m.sample(0);
        for _ in 0..5 {
            m.color(Color::Blue).record(Duration::from_millis(1), false);
        }
        m.sample(1_000);
        m.color(Color::Green).record(Duration::from_millis(1), true);
        let p = m.points(60, 2_000);
        let blue: u64 = p.blue.points.iter().map(|p| p.requests).sum();
        let green: u64 = p.green.points.iter().map(|p| p.errors_5xx).sum();
        assert_eq!((blue, green), (5, 1));
        let window = p.blue.window.expect("a summary");
        assert_eq!((window.requests, window.at), (5, 2_000));
        assert_eq!(
            p.green.window.map(|w| (w.requests, w.errors_5xx)),
            Some((1, 1))
        );
        assert_eq!(window.p99_ms, Some(1.0));
        assert!(p.blue.points.windows(2).all(|w| w[0].at < w[1].at));
    }
}
