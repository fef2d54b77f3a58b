//! The cost of one journal append on the local platform: serialising a typical entry, one
//! `write(2)` with `O_APPEND`, and the `fdatasync` after it (`platform::local::journal`); and
//! of reading back the latest 50 of 10,000 entries (`history`). Run with `cargo bench -p
//! bluegreen --bench journal`. The file lives under the target directory, on the disk the
//! state directory would be on, not on a tmpfs where a sync costs nothing. The AWS figure
//! (calls and milliseconds per PutItem against moto) is `aws_bench::aws_journal_figures`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use bluegreen::platform::local::journal::JournalFile;
use bluegreen::rollout::journal::{Entry, Query};
use bluegreen::rollout::{Operator, Weights};

fn entry(i: u64) -> Entry {
    let op = Operator::new("alice", "laptop").expect("valid");
    let mut e = Entry::new(1_764_766_968_000 + i as i64, i, op, "shift");
    e.before = Some(Weights::all(bluegreen::rollout::Color::Blue));
    e.after = Weights::with_green_percent(10).ok();
    e.reason = Some("weekly release, ticket 4711".into());
    e.detail = Some("to 90/10".into());
    e
}

fn journal(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let file = JournalFile::new(dir.path().join("journal.jsonl"));
    let mut i = 0;
    c.bench_function("journal append (write + fdatasync)", |b| {
        b.iter(|| {
            i += 1;
            file.append(black_box(&entry(i))).expect("append")
        })
    });
    let full = JournalFile::new(dir.path().join("full.jsonl"));
    for i in 0..10_000 {
        full.append(&entry(i)).expect("append");
    }
    c.bench_function("journal read: latest 50 of 10,000", |b| {
        b.iter(|| full.read(black_box(&Query::latest(50))).expect("read"))
    });
}

criterion_group!(benches, journal);
criterion_main!(benches);
