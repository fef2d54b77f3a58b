//! The console's hot paths: drawing a full frame with a full log buffer and a regex filter,
//! drawing a frame with the release panel shown (a release holding its step with its gates,
//! and one rolled back by a gate), and ingesting log lines. Targets (issue 5): a 160×48 frame
//! ≤ 2 ms; ingest ≥ 50,000 lines/s with keys still answered within 50 ms.
//!
//! `cargo bench -p bluegreen --features fixtures --bench tui_render` (the fixture states are
//! behind that feature).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use bluegreen::tui::action::Action;
use bluegreen::tui::event::{Event, Polled};
use bluegreen::tui::fixtures::{self, NOW};
use bluegreen::tui::state::State;
use bluegreen::tui::update::{handle_event, update};
use bluegreen::tui::view::render;

const LINES: u64 = 10_000;

/// A full buffer (10,000 lines) with `filter` active.
fn state_with_filter(filter: &str) -> State {
    let mut s = fixtures::healthy_blue_live();
    handle_event(
        &mut s,
        Event::Polled(Polled::Logs(Ok(fixtures::log_lines(LINES, NOW))), NOW),
    );
    update(&mut s, Action::StartFilter);
    for c in filter.chars() {
        update(&mut s, Action::Input(c));
    }
    update(&mut s, Action::Submit);
    assert_eq!(s.log_buffer.len(), LINES as usize);
    assert!(s.log_view.filter.is_some(), "filter {filter} compiles");
    s
}

fn render_frame(c: &mut Criterion) {
    let mut g = c.benchmark_group("render_160x48_10k_lines");
    // A filter matching about a third of the lines, and one matching a few percent, which
    // makes the view scan further back for a screenful.
    for (name, filter) in [
        ("filter_common", r"status=30[34]"),
        ("filter_rare", r"ERROR|cursor=\d*7\b"),
    ] {
        let state = state_with_filter(filter);
        let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("test backend");
        g.bench_function(name, |b| {
            b.iter(|| {
                terminal
                    .draw(|f| render(f, black_box(&state)))
                    .expect("draws");
            })
        });
    }
    g.finish();
}

/// A frame with the release panel: the steps in a row and the gates with their values, over
/// a full log buffer, at the size of the real binary's tests and at the smallest supported.
fn render_release(c: &mut Criterion) {
    let mut g = c.benchmark_group("render_release_panel");
    for (name, mut state) in [
        ("holding", fixtures::release_holding()),
        ("rolled_back", fixtures::release_rolled_back()),
    ] {
        handle_event(
            &mut state,
            Event::Polled(Polled::Logs(Ok(fixtures::log_lines(LINES, NOW))), NOW),
        );
        assert!(
            matches!(state.release.data, Some(Some(_))),
            "{name}: the release panel has a release"
        );
        for (w, h) in [(160, 48), (80, 24)] {
            let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test backend");
            g.bench_function(format!("{name}_{w}x{h}"), |b| {
                b.iter(|| {
                    terminal
                        .draw(|f| render(f, black_box(&state)))
                        .expect("draws");
                })
            });
        }
    }
    g.finish();
}

fn ingest(c: &mut Criterion) {
    let mut g = c.benchmark_group("log_ingest");
    const BATCH: u64 = 5_000;
    g.throughput(Throughput::Elements(BATCH));
    let batch = fixtures::log_lines(BATCH, NOW);
    let mut state = fixtures::healthy_blue_live();
    g.bench_function("batch_of_5000_into_full_ring", |b| {
        b.iter_batched(
            || batch.clone(),
            |lines| handle_event(&mut state, Event::Polled(Polled::Logs(Ok(lines)), NOW)),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// Key latency under load: a 5,000-line batch arrives, then a key, then one frame is drawn
/// (what the UI loop does when both are pending). Reported as the worst of many rounds.
fn key_during_ingest(c: &mut Criterion) {
    let mut state = state_with_filter(r"status=30[34]");
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("test backend");
    let batch = fixtures::log_lines(5_000, NOW);
    let key = || Event::Key(KeyEvent::new(KeyCode::Char('l'), KeyModifiers::NONE));
    c.bench_function("key_after_5000_line_batch_then_draw", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let lines = batch.clone();
                let start = Instant::now();
                handle_event(&mut state, Event::Polled(Polled::Logs(Ok(lines)), NOW));
                handle_event(&mut state, key());
                terminal.draw(|f| render(f, &state)).expect("draws");
                total += start.elapsed();
            }
            total
        })
    });
}

criterion_group!(
    benches,
    render_frame,
    render_release,
    ingest,
    key_during_ingest
);
criterion_main!(benches);
