//! ALB metrics per color from CloudWatch (one GetMetricData call): request count, failed
//! requests (target 5xx, ALB 5xx, target connection errors) and p99 target response time per
//! target group.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use aws_smithy_types::DateTime;

use super::AwsPlatform;
use super::calls::Op;
use super::convert::arn_resource;
use crate::platform::PlatformResult;
use crate::rollout::{Color, ColorMetrics, MetricPoint, PerColor};

const GET_METRIC_DATA: Op = Op::new("cloudwatch", "GetMetricData");

/// Seconds per point.
const PERIOD: i32 = 60;

/// The queries: (id suffix, metric name, statistic). The errors gate counts every failed
/// request of the color's target group: the targets' own 5xx, the ALB's 5xx (502/503 when a
/// target refuses or resets the connection) and the connections the ALB could not make.
const SERIES: [(&str, &str, &str); 5] = [
    ("req", "RequestCount", "Sum"),
    ("err", "HTTPCode_Target_5XX_Count", "Sum"),
    ("elberr", "HTTPCode_ELB_5XX_Count", "Sum"),
    ("connerr", "TargetConnectionErrorCount", "Sum"),
    ("p99", "TargetResponseTime", "p99"),
];

impl AwsPlatform {
    pub(super) async fn read_metrics(
        &self,
        window_secs: u64,
    ) -> PlatformResult<PerColor<ColorMetrics>> {
        // `…:listener/app/NAME/LB_ID/LISTENER_ID` → `app/NAME/LB_ID`.
        let lb = arn_resource(&self.prod_listener)
            .trim_start_matches("listener/")
            .rsplit_once('/')
            .map_or("", |(lb, _)| lb)
            .to_string();
        let mut queries = Vec::new();
        for (color, res) in self.cfg.colors.iter() {
            for (suffix, name, stat) in SERIES {
                let metric = Metric::builder()
                    .namespace("AWS/ApplicationELB")
                    .metric_name(name)
                    .dimensions(
                        Dimension::builder()
                            .name("TargetGroup")
                            .value(arn_resource(&res.target_group))
                            .build(),
                    )
                    .dimensions(Dimension::builder().name("LoadBalancer").value(&lb).build())
                    .build();
                queries.push(
                    MetricDataQuery::builder()
                        .id(format!("{color}_{suffix}"))
                        .metric_stat(
                            MetricStat::builder()
                                .metric(metric)
                                .period(PERIOD)
                                .stat(stat)
                                .build(),
                        )
                        .return_data(true)
                        .build(),
                );
            }
        }
        let (start, end) = query_range(crate::clock::now_millis(), window_secs);
        let out = self
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(DateTime::from_secs(start))
            .end_time(DateTime::from_secs(end))
            .send()
            .await
            .map_err(|e| GET_METRIC_DATA.error(&lb, e))?;
        let mut points: PerColor<BTreeMap<i64, MetricPoint>> = PerColor::default();
        for r in out.metric_data_results() {
            let Some((color, suffix)) = r.id().and_then(|id| id.split_once('_')) else {
                continue;
            };
            let Ok(color) = color.parse::<Color>() else {
                continue;
            };
            for (t, v) in r.timestamps().iter().zip(r.values()) {
                let Ok(at) = t.to_millis() else { continue };
                let p = points.get_mut(color).entry(at).or_insert(MetricPoint {
                    at,
                    ..Default::default()
                });
                match suffix {
                    "req" => p.requests = v.max(0.0).round() as u64,
                    "err" | "elberr" | "connerr" => {
                        p.errors_5xx = p.errors_5xx.saturating_add(v.max(0.0).round() as u64)
                    }
                    _ => p.p99_ms = Some(v * 1000.0),
                }
            }
        }
        Ok(points.map(|_, p| {
            let points: Vec<MetricPoint> = p.values().copied().collect();
            ColorMetrics {
                window: crate::rollout::gate::merge(&points),
                points,
            }
        }))
    }
}

/// The whole periods GetMetricData reads for a window of `window_secs` ending at `now_ms`:
/// from the start of the period holding the window's start (a window is at least one
/// period) to the end of the current period. So a read just after a minute begins still
/// holds the minute before it, instead of the new minute alone with next to no data in it.
/// The points come back whole, each stamped with its period's start; a release's gates keep
/// only the periods that start after the step's write ([`crate::rollout::gate::window_after`]).
fn query_range(now_ms: i64, window_secs: u64) -> (i64, i64) {
    let period = i64::from(PERIOD);
    let now = now_ms.div_euclid(1000);
    let window = i64::try_from(window_secs.max(PERIOD as u64)).unwrap_or(i64::MAX / 2);
    let window = window.min(crate::rollout::plan::MAX_WINDOW_SECS as i64 + period);
    let end = (now.div_euclid(period) + 1) * period;
    let start = (now - window).div_euclid(period) * period;
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::query_range;

    #[test]
    fn the_range_is_whole_periods_covering_the_window_and_the_current_period() {
        // 12:00:30: a one-second window still reads a whole minute back.
        let t = 43_230_000;
        assert_eq!(query_range(t, 1), (43_140, 43_260));
        // Just after a minute begins the minute before is read too.
        assert_eq!(query_range(43_200_500, 1), (43_140, 43_260));
        // A 90 s window at 12:00:30 starts at 11:59:00.
        assert_eq!(query_range(t, 90), (43_140, 43_260));
        assert_eq!(query_range(t, 91), (43_080, 43_260));
        // Bounded: an absurd window reads at most the longest gate window and a period.
        let (start, end) = query_range(t, u64::MAX);
        assert!(end - start <= 600 + 120, "{start}..{end}");
    }
}
