//! The measured traffic split: whether the share of requests each color actually served
//! matches the weights the console asked for. The listener's read-back says what the load
//! balancer was told; only the requests say what it does. The old color is never scaled in
//! until this says [`SplitVerdict::Matches`] (or a person overrides it, see docs/runbook.md).
//!
//! The bound is a binomial one, so a few requests are judged loosely and many tightly; the
//! numbers are justified in docs/architecture.md ("Measured traffic split").

use serde::{Deserialize, Serialize};

use super::guard::{GuardRule, Refusal};
use super::{Color, ColorMetrics, Listener, PerColor, UnixMillis, Weights};

/// The longest window a split is measured over: the default bake.
pub const MAX_WINDOW_SECS: u64 = 300;

/// The window when the time of the change is not known (no record, or weights someone else
/// wrote): the last minute, a whole CloudWatch period.
pub const UNKNOWN_CHANGE_WINDOW_SECS: u64 = 60;

/// The three numbers per color the traffic panel and `status` show, and the verdict on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// What a console last wrote (the listener's weights when none did).
    pub desired: Weights,
    /// What the listener reads back.
    pub listener: Weights,
    /// The share of requests each color served over the window; `None` with none measured.
    pub observed: Option<Weights>,
    pub requests: PerColor<u64>,
    /// The window measured, in seconds: after the last write, whole metric periods only.
    /// `None` when the weights changed too recently to measure, or no metrics were read.
    pub window_secs: Option<u64>,
    /// The requests judged against the listener's weights.
    pub verdict: Option<SplitVerdict>,
    /// Why nothing was measured (the platform has no metrics, or their read failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// The window to measure the listener's split over at `now`: after the console's last write
/// when the listener still shows it, else the last [`UNKNOWN_CHANGE_WINDOW_SECS`].
pub fn window_for(listener: &Listener, now: UnixMillis, resolution_ms: u64) -> Option<u64> {
    match listener.written {
        Some(w) if w.weights == listener.weights => {
            window_after(w.at, now, resolution_ms, MAX_WINDOW_SECS)
        }
        _ => Some(UNKNOWN_CHANGE_WINDOW_SECS),
    }
}

/// Requests per color in a metrics read: the window's summary, or the sum of its points.
pub fn counts(metrics: &PerColor<ColorMetrics>) -> PerColor<u64> {
    metrics.map(|_, m| match m.window {
        Some(w) => w.requests,
        None => m.points.iter().map(|p| p.requests).sum(),
    })
}

/// Requests per color since a write at `since`, in a metrics read of a window that starts
/// after it. Where each point is a whole period stamped with its start (`per_period`:
/// CloudWatch's minutes), the window's first period began before the write and holds
/// requests from before it: only the points that start after the write count, so the split
/// waits for the first whole minute of its own. Where the window's summary is the
/// platform's own count since the write (the local proxy reads it from a sample taken after
/// it), it counts as it is.
pub fn requests_after(
    metrics: &PerColor<ColorMetrics>,
    since: UnixMillis,
    per_period: bool,
) -> PerColor<u64> {
    if per_period {
        counts_since(metrics, since, 1)
    } else {
        counts(metrics)
    }
}

/// Requests per color in the metric points that start a whole period (`resolution_ms`)
/// after `since`: what a view that polls a fixed window can count after a write.
pub fn counts_since(
    metrics: &PerColor<ColorMetrics>,
    since: UnixMillis,
    resolution_ms: u64,
) -> PerColor<u64> {
    let from = since.saturating_add(i64::try_from(resolution_ms).unwrap_or(i64::MAX));
    metrics.map(|_, m| {
        m.points
            .iter()
            .filter(|p| p.at >= from)
            .map(|p| p.requests)
            .sum()
    })
}

/// The traffic view of `listener` with `requests` counted over `window_secs`.
pub fn measured(
    listener: &Listener,
    window_secs: Option<u64>,
    requests: Result<PerColor<u64>, String>,
) -> Measured {
    let desired = listener.written.map_or(listener.weights, |w| w.weights);
    let (requests, unavailable) = match requests {
        Ok(r) => (r, None),
        Err(e) => (PerColor::new(0, 0), Some(e)),
    };
    let judged = window_secs.is_some() && unavailable.is_none();
    Measured {
        desired,
        listener: listener.weights,
        observed: observed_weights(&requests),
        verdict: judged.then(|| judge(listener.weights, requests.clone())),
        requests,
        window_secs: window_secs.filter(|_| unavailable.is_none()),
        unavailable,
    }
}

/// Standard deviations a measured share may stray from the desired one: a correct split is
/// called a mismatch with probability about 0.27% per judgement.
pub const Z: f64 = 3.0;

/// Requests a split (neither color at 0) needs before it is judged: below this even the
/// binomial bound says little.
pub const MIN_SPLIT_REQUESTS: u64 = 20;

/// The smallest leak to a color that should get nothing that the check must catch: 5%.
pub const LEAK: f64 = 0.05;

/// Requests an all-or-nothing split (a color at 0%, the other at 100%) needs before "none
/// went to the other color" means something: with a 5% leak, `n` requests all land on the
/// right color with probability 0.95^n, which falls below the 3-sigma tail (0.27%) at 116.
pub const MIN_ALL_REQUESTS: u64 = 116;

/// The verdict on a measured split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum SplitVerdict {
    /// The requests' split is within the bound of the desired weights.
    Matches {
        desired: Weights,
        observed: Weights,
        n: u64,
    },
    /// The requests' split is outside the bound: something else routes the traffic.
    Mismatch {
        desired: Weights,
        observed: Weights,
        /// The largest deviation of green's share accepted at `n`, in per mille.
        bound_permille: u16,
        n: u64,
    },
    /// Too few requests to tell.
    TooFewRequests { n: u64, need: u64 },
}

impl SplitVerdict {
    pub fn matches(&self) -> bool {
        matches!(self, SplitVerdict::Matches { .. })
    }

    /// Words for a warning or a refusal, with both numbers.
    pub fn describe(&self) -> String {
        match self {
            SplitVerdict::Matches { observed, n, .. } => {
                format!("observed {observed} over {n} requests, as desired")
            }
            SplitVerdict::Mismatch {
                desired,
                observed,
                bound_permille,
                n,
            } => format!(
                "observed split {observed} over {n} requests does not match the desired {desired} (allowed ±{}% at this count)",
                super::Share::permille((*bound_permille).min(Weights::TOTAL))
                    .unwrap_or(super::Share::ALL)
            ),
            SplitVerdict::TooFewRequests { n, need } => format!(
                "only {n} request(s) measured since the weights changed; {need} are needed to judge the split"
            ),
        }
    }
}

/// Whether the old color may be scaled in after a promote, given the verdict on the
/// requests since it: yes when they match; with too few requests only when `accept` (the
/// answer says the override was used); never on a mismatch, which means something still
/// routes to `old`.
pub fn check_scale_in(verdict: &SplitVerdict, old: Color, accept: bool) -> Result<bool, Refusal> {
    match verdict {
        SplitVerdict::Matches { .. } => Ok(false),
        SplitVerdict::TooFewRequests { .. } if accept => Ok(true),
        SplitVerdict::TooFewRequests { .. } => Err(Refusal {
            overridable: true,
            ..Refusal::new(
                GuardRule::SplitUnmeasured,
                format!(
                    "bake held, {old} keeps running: {}; send traffic and try again, or finish it anyway with --accept-unmeasured",
                    verdict.describe()
                ),
            )
        }),
        SplitVerdict::Mismatch { .. } => Err(Refusal::new(
            GuardRule::SplitUnmeasured,
            format!(
                "bake held, {old} keeps running: {}; something still routes requests to {old}: find it (`bluegreen status`) before scaling {old} in",
                verdict.describe()
            ),
        )),
    }
}

/// Judges the requests each color served (`counts`) against `desired`.
pub fn judge(desired: Weights, counts: PerColor<u64>) -> SplitVerdict {
    let n = counts.blue.saturating_add(counts.green);
    let need = if desired.is_split() {
        MIN_SPLIT_REQUESTS
    } else {
        MIN_ALL_REQUESTS
    };
    if n < need {
        return SplitVerdict::TooFewRequests { n, need };
    }
    let observed = observed_weights(&counts).unwrap_or(desired);
    let p = f64::from(desired.get(Color::Green)) / f64::from(Weights::TOTAL);
    let seen = counts.green as f64 / n as f64;
    let bound = bound(p, n);
    // A color that should get nothing must get nothing (and all must be all): any request
    // elsewhere means another route exists.
    let ok = if desired.is_split() {
        (seen - p).abs() <= bound
    } else {
        counts.get(desired.live().unwrap_or(Color::Blue).other()) == &0
    };
    if ok {
        SplitVerdict::Matches {
            desired,
            observed,
            n,
        }
    } else {
        SplitVerdict::Mismatch {
            desired,
            observed,
            bound_permille: (bound * f64::from(Weights::TOTAL)).ceil().min(1000.0) as u16,
            n,
        }
    }
}

/// The largest accepted deviation of a share `p` measured over `n` requests: `Z` standard
/// deviations of the binomial proportion (normal approximation) plus a continuity
/// correction of half a request. 0 for an all-or-nothing share.
pub fn bound(p: f64, n: u64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let n = n as f64;
    Z * (p * (1.0 - p) / n).sqrt() + 0.5 / n
}

/// The requests as weights (per mille, rounded); `None` with no request at all.
pub fn observed_weights(counts: &PerColor<u64>) -> Option<Weights> {
    let scale = |x: u64| u32::try_from(x).unwrap_or(u32::MAX);
    // Keep the ratio when a count passes u32: scale both down alike.
    let shift = 64 - counts.blue.max(counts.green).leading_zeros();
    let shift = shift.saturating_sub(31);
    Weights::from_ratio(scale(counts.blue >> shift), scale(counts.green >> shift)).ok()
}

/// The window, in whole seconds ending `now`, that holds only requests made after a weight
/// change at `changed_at`: it starts one whole metric period (`resolution_ms`) after the
/// change, so neither a sample's baseline nor a CloudWatch period straddles it, and it is at
/// most `max_secs` long. `None` while no such window exists yet.
pub fn window_after(
    changed_at: UnixMillis,
    now: UnixMillis,
    resolution_ms: u64,
    max_secs: u64,
) -> Option<u64> {
    let res = i64::try_from(resolution_ms.max(1000)).unwrap_or(i64::MAX);
    let usable = now.checked_sub(changed_at)?.checked_sub(res)?;
    // Whole periods only.
    let secs = u64::try_from(usable.div_euclid(res) * res / 1000).ok()?;
    let secs = secs.min(max_secs);
    (secs > 0).then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(green: u16) -> Weights {
        Weights::permille(1000 - green, green).expect("valid")
    }

    fn counts(blue: u64, green: u64) -> PerColor<u64> {
        PerColor::new(blue, green)
    }

    #[test]
    fn the_all_or_nothing_minimum_is_the_three_sigma_leak_bound() {
        let tail = 0.0027f64;
        let need = (tail.ln() / (1.0 - LEAK).ln()).ceil() as u64;
        assert_eq!(need, MIN_ALL_REQUESTS);
    }

    #[test]
    fn twenty_requests_at_ten_percent_are_judged_loosely() {
        // 20 requests: anything from 0 to 6 on green is within 3 sigma of 10%.
        for g in 0..=6 {
            assert!(judge(w(100), counts(20 - g, g)).matches(), "{g} of 20");
        }
        assert!(!judge(w(100), counts(12, 8)).matches());
    }

    #[test]
    fn ten_thousand_requests_at_ten_percent_are_judged_tightly() {
        assert!(judge(w(100), counts(9_000, 1_000)).matches());
        assert!(judge(w(100), counts(9_050, 950)).matches());
        let v = judge(w(100), counts(8_900, 1_100));
        match v {
            SplitVerdict::Mismatch {
                observed,
                bound_permille,
                n,
                ..
            } => {
                assert_eq!(observed, w(110));
                assert_eq!(bound_permille, 10);
                assert_eq!(n, 10_000);
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
        assert!(v.describe().contains("blue 89 / green 11"));
        assert!(v.describe().contains("blue 90 / green 10"));
    }

    #[test]
    fn too_few_requests_say_how_many_are_needed() {
        assert_eq!(
            judge(w(100), counts(10, 9)),
            SplitVerdict::TooFewRequests { n: 19, need: 20 }
        );
        assert_eq!(
            judge(Weights::all(Color::Green), counts(0, 115)),
            SplitVerdict::TooFewRequests { n: 115, need: 116 }
        );
        assert!(
            judge(w(100), counts(0, 0))
                .describe()
                .contains("only 0 request(s)")
        );
    }

    #[test]
    fn a_color_at_zero_must_see_none_and_at_all_must_see_all() {
        let all_green = Weights::all(Color::Green);
        assert!(judge(all_green, counts(0, 116)).matches());
        assert!(!judge(all_green, counts(1, 10_000)).matches());
        assert!(!judge(Weights::all(Color::Blue), counts(500, 1)).matches());
        // Proxy weights moved to 50/50 behind the console's back: a plain mismatch.
        let v = judge(all_green, counts(60, 60));
        assert!(matches!(v, SplitVerdict::Mismatch { observed, .. } if observed == w(500)));
    }

    #[test]
    fn the_window_never_straddles_the_change() {
        // Local: one-second samples; the window starts a whole second after the change.
        assert_eq!(window_after(10_000, 10_500, 1000, 300), None);
        assert_eq!(window_after(10_000, 11_999, 1000, 300), None);
        assert_eq!(window_after(10_000, 12_000, 1000, 300), Some(1));
        assert_eq!(window_after(10_000, 25_500, 1000, 300), Some(14));
        assert_eq!(window_after(0, 1_000_000, 1000, 300), Some(300));
        // CloudWatch: whole minutes, the first one after the minute of the change.
        assert_eq!(window_after(0, 119_000, 60_000, 900), None);
        assert_eq!(window_after(0, 120_000, 60_000, 900), Some(60));
        assert_eq!(window_after(0, 200_000, 60_000, 900), Some(120));
        // A change in the future (a clock step) has no window.
        assert_eq!(window_after(20_000, 10_000, 1000, 300), None);
    }

    #[test]
    fn huge_counts_keep_their_ratio() {
        let v = judge(w(100), counts(9 * (1 << 40), 1 << 40));
        assert!(v.matches(), "{v:?}");
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::prop::config())]

        /// Requests split exactly as desired always match, at any count that can be judged.
        #[test]
        fn an_exact_split_always_matches(green in 1u16..1000, n in 20u64..1_000_000) {
            let desired = Weights::permille(1000 - green, green).expect("valid");
            let g = (n as f64 * f64::from(green) / 1000.0).round() as u64;
            prop_assert!(judge(desired, PerColor::new(n - g, g)).matches());
        }

        /// The bound only tightens as requests accumulate, and never goes negative.
        #[test]
        fn the_bound_tightens_with_more_requests(p in 0.0f64..=1.0, n in 1u64..10_000_000) {
            let (a, b) = (bound(p, n), bound(p, n + 1));
            prop_assert!(a >= 0.0 && b <= a);
        }

        /// The window is whole periods, after the change, and bounded.
        #[test]
        fn the_window_starts_after_the_change(
            changed in 0i64..1_000_000_000,
            age in 0i64..10_000_000,
            res in prop_oneof![Just(1000u64), Just(60_000u64)],
            max in 1u64..3600,
        ) {
            if let Some(secs) = window_after(changed, changed + age, res, max) {
                prop_assert!(secs <= max);
                prop_assert!(changed + age - (secs as i64) * 1000 >= changed + res as i64);
            }
        }
    }
}
