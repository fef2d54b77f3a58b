//! How long the Markdown pipeline (pulldown-cmark, then ammonia) takes on hostile posts of the
//! largest size the blog accepts, and on the worst post it accepts (issue 27, item 2). Run
//! with `cargo run --release -p blog --example render_cost`; it prints one line per input.

use std::time::{Duration, Instant};

use blog::domain::Format;
use blog::domain::input::{CONTENT_MAX_BYTES, Content, FieldLimits};
use blog::domain::markdown;

fn timed(f: impl Fn() -> usize) -> (Duration, usize) {
    let started = Instant::now();
    let out = f();
    (started.elapsed(), out)
}

/// `unit` repeated to fill `bytes`.
fn fill(unit: &str, bytes: usize) -> String {
    unit.repeat(bytes / unit.len())
}

fn main() {
    let size: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(CONTENT_MAX_BYTES);
    let nested_list: String = (0..size / 40)
        .map(|i| format!("{}- x\n", "  ".repeat(i % 200)))
        .collect();
    let cases: Vec<(&str, String)> = vec![
        ("nested >", fill(">", size)),
        (
            "nested > lines",
            fill("> ", size / 2) + "\n" + &fill("> ", size / 2),
        ),
        ("nested - lists", fill("- ", size)),
        ("nested * lists", fill("* ", size)),
        ("nested 1. lists", fill("1. ", size)),
        ("indented lists", nested_list),
        ("<div> html", fill("<div>", size)),
        ("<b> html", fill("<b>", size)),
        ("<b><i> misnested", fill("<b><i></b></i>", size)),
        ("<table> html", fill("<table><tr><td>", size)),
        ("[ brackets", fill("[", size)),
        ("[a]( links", fill("[a](", size)),
        ("* emphasis", fill("*a ", size)),
        ("_* mixed", fill("*_", size)),
        ("** strong", fill("**a", size)),
        ("` backticks", fill("`a``", size)),
        (
            "table columns",
            format!("{}\n{}\n", fill("|a", size / 2), fill("|-", size / 2)),
        ),
        ("&#1; entities", fill("&#1;", size)),
        ("plain words", fill("word ", size)),
    ];
    let mut worst: Option<(&str, Duration)> = None;
    for (name, text) in &cases {
        let started = Instant::now();
        let checked = Content::parse_as(text, Format::Markdown, FieldLimits::default());
        let check = started.elapsed();
        let (took, len) = timed(|| markdown::to_html(text).len());
        if checked.is_ok() && worst.is_none_or(|(_, w)| took > w) {
            worst = Some((name, took));
        }
        println!(
            "{name:>20}: {:>6} bytes, checked in {:>7.1} ms, rendered in {:>7.1} ms to {len} \
             bytes; on save: {}",
            text.len(),
            check.as_secs_f64() * 1e3,
            took.as_secs_f64() * 1e3,
            match checked {
                Ok(_) => "accepted".to_string(),
                Err(e) => format!("refused ({})", e.chars().take(50).collect::<String>()),
            }
        );
    }
    // Nested as deep as allowed, all the way through.
    let unit = format!("{}x\n", ">".repeat(markdown::MAX_NESTING - 1));
    let deepest = fill(&unit, size);
    assert!(Content::parse_as(&deepest, Format::Markdown, FieldLimits::default()).is_ok());
    let (took, len) = timed(|| markdown::to_html(&deepest).len());
    println!(
        "{:>20}: {} bytes rendered in {:.1} ms to {len} bytes",
        format!("{} levels of >", markdown::MAX_NESTING - 1),
        deepest.len(),
        took.as_secs_f64() * 1e3
    );
    if let Some((name, took)) = worst {
        println!(
            "the slowest post accepted: {name}, {:.1} ms",
            took.as_secs_f64() * 1e3
        );
    }
}
