//! The cost of one gate interval's pure decision: evaluating every gate from a window of
//! metrics and deciding the step (`rollout::gate::evaluate` + `rollout::plan::decide`), and
//! encoding the release record the driver writes. Run with `cargo bench -p bluegreen --bench
//! gates`; the figures go in the closing note (the driver makes this decision once per
//! interval, 10 s by default).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use bluegreen::rollout::gate::{self, AlarmState, GateConfig, GateInput};
use bluegreen::rollout::plan::{self, Plan};
use bluegreen::rollout::{Color, MetricPoint};

fn point(requests: u64, errors_5xx: u64, p99_ms: f64) -> MetricPoint {
    MetricPoint {
        at: 0,
        requests,
        errors_5xx,
        p99_ms: Some(p99_ms),
    }
}

fn gates(c: &mut Criterion) {
    let plan = Plan::default_canary();
    let cfg = GateConfig {
        alarms: vec!["blog-5xx".into(), "blog-latency".into()],
        ..GateConfig::default()
    };
    let input = GateInput {
        healthy: 2,
        desired: 2,
        canary: Ok(Some(point(480, 1, 21.0))),
        stable: Some(point(4320, 4, 15.0)),
        alarms: Ok(vec![
            ("blog-5xx".into(), AlarmState::Ok),
            ("blog-latency".into(), AlarmState::Ok),
        ]),
    };
    c.bench_function("gate interval: evaluate 4 gates + decide", |b| {
        b.iter(|| {
            let results = gate::evaluate(black_box(&cfg), Color::Green, black_box(&input));
            black_box(plan::decide(&plan, 0, 0, 30_000, &results))
        })
    });
    let failing = GateInput {
        canary: Ok(Some(point(480, 96, 21.0))),
        ..input.clone()
    };
    c.bench_function("gate interval: a failing errors gate + decide", |b| {
        b.iter(|| {
            let results = gate::evaluate(black_box(&cfg), Color::Green, black_box(&failing));
            black_box(plan::decide(&plan, 0, 0, 30_000, &results))
        })
    });
}

criterion_group!(benches, gates);
criterion_main!(benches);
