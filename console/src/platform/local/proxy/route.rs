//! The routing table: weights, the test listener's color, and each color's routable targets.
//! Every field is swapped atomically, so a change applies to the next request and never to
//! one already routed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use super::fault::Faults;
use super::upstream::{InflightGuard, Upstream};
use crate::rollout::{Color, PerColor, Weights};

/// A permutation step: `(n * STRIDE) % 1000` visits every position in 0..1000 once per 1000
/// requests (37 is coprime with 1000), so each block of 1000 consecutive requests splits
/// exactly by the per-mille weights while the two colors stay interleaved.
const STRIDE: u64 = 37;

/// The `n`th request's position in its block of 1000 for a `stride` coprime with 1000 (see
/// [`STRIDE`]): any 1000 consecutive `n` give every position once, so `slot(n, stride) < share`
/// holds for exactly `share` of them.
pub(super) fn slot(n: u64, stride: u64) -> u16 {
    (n.wrapping_mul(stride) % Weights::TOTAL as u64) as u16
}

#[derive(Debug)]
pub struct Routes {
    /// Green's weight in per mille.
    green_share: AtomicU16,
    /// 0 = none, 1 = blue, 2 = green.
    test_color: AtomicU8,
    targets: PerColor<RwLock<Arc<[Arc<Upstream>]>>>,
    seq: AtomicU64,
    /// Round-robin position per color (one shared counter would correlate with the color
    /// sequence and could pin a color's traffic to one target).
    rr: PerColor<AtomicUsize>,
    /// The faults injected into a color's answers (`bluegreen local fault`).
    pub faults: Faults,
}

impl Routes {
    pub fn new(weights: Weights, test_color: Option<Color>) -> Self {
        let r = Routes {
            green_share: AtomicU16::new(weights.get(Color::Green)),
            test_color: AtomicU8::new(0),
            targets: PerColor::from_fn(|_| RwLock::new(Arc::from(Vec::new()))),
            seq: AtomicU64::new(0),
            rr: PerColor::default(),
            faults: Faults::default(),
        };
        r.set_test_color(test_color);
        r
    }

    pub fn set_weights(&self, w: Weights) {
        self.green_share
            .store(w.get(Color::Green), Ordering::SeqCst);
    }

    pub fn weights(&self) -> Weights {
        let green = self.green_share.load(Ordering::SeqCst).min(Weights::TOTAL);
        Weights::nudge_green(Weights::all(Color::Blue), green as i32)
    }

    pub fn set_test_color(&self, c: Option<Color>) {
        let v = match c {
            None => 0,
            Some(Color::Blue) => 1,
            Some(Color::Green) => 2,
        };
        self.test_color.store(v, Ordering::SeqCst);
    }

    pub fn test_color(&self) -> Option<Color> {
        match self.test_color.load(Ordering::SeqCst) {
            1 => Some(Color::Blue),
            2 => Some(Color::Green),
            _ => None,
        }
    }

    /// Replaces a color's routable targets.
    pub fn set_targets(&self, color: Color, targets: Vec<Arc<Upstream>>) {
        *self
            .targets
            .get(color)
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::from(targets);
    }

    pub fn targets(&self, color: Color) -> Arc<[Arc<Upstream>]> {
        self.targets
            .get(color)
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The color the next production request goes to, by weight.
    pub fn choose_color(&self) -> Color {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        if slot(n, STRIDE) < self.green_share.load(Ordering::SeqCst) {
            Color::Green
        } else {
            Color::Blue
        }
    }

    /// A target for a request meant for `color`: a routable, non-suspect target of that
    /// color; else (when `allow_other`) one of the other color; else a suspect one as a last
    /// resort. Returns the color that will serve and the in-flight slot.
    pub fn pick(
        &self,
        color: Color,
        allow_other: bool,
        excluded: &[SocketAddr],
        now_ms: i64,
    ) -> Option<(Color, InflightGuard)> {
        let order = [
            (color, false, true),
            (color.other(), false, allow_other),
            (color, true, true),
            (color.other(), true, allow_other),
        ];
        for (c, accept_suspect, allowed) in order {
            if !allowed {
                continue;
            }
            let list = self.targets(c);
            if list.is_empty() {
                continue;
            }
            let start = self.rr.get(c).fetch_add(1, Ordering::Relaxed);
            for i in 0..list.len() {
                let up = &list[(start + i) % list.len()];
                if excluded.contains(&up.addr) || up.is_suspect(now_ms) != accept_suspect {
                    continue;
                }
                if let Some(guard) = up.acquire() {
                    return Some((c, guard));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(port: u16) -> Arc<Upstream> {
        Arc::new(Upstream::new(
            SocketAddr::from(([127, 0, 0, 1], port)),
            format!("t{port}"),
        ))
    }

    #[test]
    fn every_block_of_1000_splits_exactly_by_weight() {
        let r = Routes::new(Weights::with_green_percent(10).expect("valid"), None);
        let greens = |r: &Routes| {
            (0..1000)
                .filter(|_| r.choose_color() == Color::Green)
                .count()
        };
        for _block in 0..3 {
            assert_eq!(greens(&r), 100);
        }
        r.set_weights(Weights::with_green_percent(90).expect("valid"));
        assert_eq!(greens(&r), 900);
        // The finest split the ALB offers: one request in a thousand.
        r.set_weights(Weights::permille(999, 1).expect("valid"));
        assert_eq!(greens(&r), 1);
        r.set_weights(Weights::permille(995, 5).expect("valid"));
        assert_eq!(greens(&r), 5);
    }

    #[test]
    fn falls_back_to_the_other_color_then_to_suspects() {
        let r = Routes::new(Weights::all(Color::Green), Some(Color::Blue));
        let b = up(1);
        r.set_targets(Color::Blue, vec![b.clone()]);
        let (c, _g) = r.pick(Color::Green, true, &[], 0).expect("blue serves");
        assert_eq!(c, Color::Blue);
        assert!(r.pick(Color::Green, false, &[], 0).is_none());
        b.mark_suspect(0);
        let (c, _g) = r
            .pick(Color::Blue, true, &[], 0)
            .expect("suspect as last resort");
        assert_eq!(c, Color::Blue);
        assert!(r.pick(Color::Blue, true, &[b.addr], 0).is_none());
    }

    #[test]
    fn draining_targets_take_no_new_requests() {
        let r = Routes::new(Weights::all(Color::Blue), None);
        let a = up(1);
        r.set_targets(Color::Blue, vec![a.clone()]);
        let g = r.pick(Color::Blue, true, &[], 0).expect("routable");
        assert_eq!(a.inflight(), 1);
        a.start_draining();
        assert!(r.pick(Color::Blue, true, &[], 0).is_none());
        assert_eq!(a.inflight(), 1, "a refused pick leaves the count alone");
        drop(g);
        assert_eq!(a.inflight(), 0);
    }
}
