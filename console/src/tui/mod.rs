//! The deploy console TUI (ratatui + crossterm): events → actions → a pure update → commands
//! carried out by workers.
//!
//! - [`event`]: what happened (keys, ticks, pollers' results, finished writes);
//! - [`action`]: the verbs; [`update`] maps keys to them and applies them to [`state`];
//! - [`command`]: what update asks for; [`worker`] carries it out (one poller per resource);
//! - [`view`]: draws the state, a pure function with the clock in the state.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::clock::now_millis;
use crate::ops::Ops;
use crate::platform::PlatformKind;

pub mod action;
pub mod command;
pub mod event;
/// Fixture states for the tests and the benches; not in the release binary (the benches need
/// `--features fixtures`).
#[cfg(any(test, feature = "fixtures"))]
#[doc(hidden)]
pub mod fixtures;
pub mod keymap;
pub mod state;
mod terminal;
pub mod update;
pub mod view;
pub mod worker;

#[cfg(test)]
mod tests;

use event::Event;
use state::State;

/// How the console was started.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    /// The `bluegreen.toml` profile's name, for the header.
    pub profile: String,
    /// Log lines kept in the ring buffer.
    pub log_capacity: usize,
    /// Where the console's own tracing goes (never the screen). `None`: `console.log` in the
    /// local state directory, or in the system's temporary directory.
    pub trace_file: Option<PathBuf>,
    /// How often each resource is polled; `None`: the platform's pace
    /// ([`worker::Intervals::aws`] on AWS).
    pub intervals: Option<worker::Intervals>,
    /// The `bluegreen.toml` in use: a `keymap.toml` beside it wins over the one in the
    /// configuration directory. `None`: `./bluegreen.toml`, when it exists (what the CLI reads
    /// without `--config`).
    pub config_file: Option<PathBuf>,
    /// The profile's plans, gates and smoke checks, for releases started from the console.
    pub release: crate::config::ReleaseSettings,
}

impl Default for TuiOptions {
    fn default() -> Self {
        TuiOptions {
            profile: "local".into(),
            log_capacity: 10_000,
            trace_file: None,
            intervals: None,
            config_file: None,
            release: Default::default(),
        }
    }
}

/// The clock tick: spinners advance and ages are redrawn.
const TICK: Duration = Duration::from_millis(200);
/// The shortest time between two frames drawn for pollers' results. A key's answer is drawn
/// at once; a log flood redraws at most this often, so writing frames to a slow terminal
/// never delays the next key.
const FRAME: Duration = Duration::from_millis(40);

/// Runs the console until the user quits; the terminal is restored on every exit path.
pub async fn run(ops: Ops, opts: TuiOptions) -> anyhow::Result<()> {
    let mut info = ops.platform().info();
    if !opts.profile.is_empty() {
        info.profile = opts.profile.clone();
    }
    // Before the terminal is taken: a bad keymap file is reported like a bad configuration.
    let config_file = crate::config::in_use(opts.config_file.as_deref());
    let (keymap, keymap_file) = keymap::load(config_file.as_deref())?;
    init_tracing(&opts, &info.kind);
    if let Some(f) = &keymap_file {
        tracing::info!(file = %f.display(), "keymap file applied");
    }
    let mut state = State::new(info, ops.access(), opts.log_capacity, now_millis());
    state.keymap = std::sync::Arc::new(keymap);
    state.operator = Some(ops.operator().clone());
    state.release_settings = std::sync::Arc::new(opts.release.clone());
    let (tx, mut rx) = mpsc::unbounded_channel();
    // On AWS every read is API calls against account-wide quotas: slow at rest.
    let intervals = match (&ops.platform().info().kind, opts.intervals) {
        (PlatformKind::Aws { .. }, None) => worker::Intervals::aws(),
        (_, Some(i)) => i,
        (_, None) => worker::Intervals::default(),
    };
    let mut workers = worker::Workers::start(ops, tx, intervals);
    let mut guard = terminal::TerminalGuard::enter().context("cannot set up the terminal")?;
    let mut keys = crossterm::event::EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut dirty = true;
    let mut urgent = true;
    let mut last_frame = tokio::time::Instant::now();
    let mut shown_second = state.now / 1000;
    loop {
        if state.quit {
            break;
        }
        if dirty && (urgent || last_frame.elapsed() >= FRAME) {
            guard
                .terminal
                .draw(|f| view::render(f, &state))
                .context("cannot draw the console")?;
            dirty = false;
            urgent = false;
            last_frame = tokio::time::Instant::now();
        }
        // The only awaits: the next terminal event, the next worker event, the next tick, and
        // the moment a deferred frame is due.
        // Keys first: a flood of pollers' results must not delay them.
        let first = tokio::select! {
            biased;
            key = keys.next() => match key {
                Some(Ok(ev)) => terminal_event(ev),
                Some(Err(e)) => return Err(e).context("cannot read the terminal"),
                None => break,
            },
            _ = tick.tick() => Some(Event::Tick(now_millis())),
            Some(ev) = rx.recv() => Some(ev),
            _ = tokio::time::sleep_until(last_frame + FRAME), if dirty => None,
        };
        let mut pending: Vec<Event> = first.into_iter().collect();
        // Drain the results already waiting, then draw once. (Keys are not drained this way:
        // polling the terminal stream with a no-op waker would leave its reader thread
        // waking that waker, and the next key would wait for the next tick.)
        while let Ok(ev) = rx.try_recv() {
            pending.push(ev);
        }
        for ev in pending {
            let is_tick = matches!(ev, Event::Tick(_));
            urgent |= matches!(ev, Event::Key(_) | Event::Resize { .. });
            let cmds = update::handle_event(&mut state, ev);
            // Before the commands run: the journal view's first read must find it watched,
            // or its poller would park after that read instead of keeping its interval.
            workers.watch(state::Resource::Journal, state.mode == state::Mode::Journal);
            for r in state::Resource::ALL {
                workers.activate(r, state.active(r));
            }
            for cmd in cmds {
                workers.execute(cmd);
            }
            if is_tick {
                let second = state.now / 1000;
                dirty |= state.animating() || second != shown_second;
                shown_second = second;
            } else {
                dirty = true;
            }
        }
    }
    drop(guard);
    drop(workers);
    Ok(())
}

fn terminal_event(ev: crossterm::event::Event) -> Option<Event> {
    match ev {
        crossterm::event::Event::Key(k) => Some(Event::Key(k)),
        crossterm::event::Event::Resize(width, height) => Some(Event::Resize { width, height }),
        _ => None,
    }
}

/// Sends the console's tracing to a file; never to the screen it draws on. Keeps a
/// subscriber the binary installed already.
fn init_tracing(opts: &TuiOptions, kind: &PlatformKind) {
    let path = opts.trace_file.clone().unwrap_or_else(|| match kind {
        PlatformKind::Local { state_dir, .. } => PathBuf::from(state_dir).join("console.log"),
        PlatformKind::Aws { .. } => std::env::temp_dir().join("bluegreen-console.log"),
    });
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BLUEGREEN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
}
