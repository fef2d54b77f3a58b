//! Carrying out a parsed command line.

use std::time::Duration;

use serde_json::{Value, json};

use super::connect::{self, Selected};
use super::outcome::{Failure, Out, Outcome};
use super::output;
use super::render;
use super::{Cli, Command, Global, WaitArgs};
use crate::clock::now_millis;
use crate::config::terraform;
use crate::ops::{self, OpError, Ops, WaitFor, exit};
use crate::platform::PlatformError;
use crate::rollout::release::Request;
use crate::rollout::{BuildStatus, Color, Weights, drift, limits};

/// Reports a command line clap could not parse (or `--help`), and returns the exit code. With
/// `--json` among the arguments, a usage error is one JSON document on stdout like every other
/// failure, so a pipeline reading JSON never gets clap's text instead.
pub fn usage_failure(e: &clap::Error, args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let json = args.into_iter().any(|a| a == "--json");
    if json && e.use_stderr() {
        output::out_json(&usage_json(e).to_string());
    } else {
        // Help and version go to stdout, errors to stderr, as clap formats them.
        let _ = e.print();
    }
    e.exit_code()
}

/// The `--json` document of a usage error.
pub(super) fn usage_json(e: &clap::Error) -> Value {
    let message = e.render().to_string();
    let first = message.lines().next().unwrap_or_default();
    json!({
        "ok": false,
        "exit_code": e.exit_code(),
        "error": first.strip_prefix("error: ").unwrap_or(first),
        "detail": { "usage": message },
    })
}

/// Runs the command line; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    let out = Out::new(cli.global.json);
    match dispatch(cli, &out).await {
        Ok(code) => code,
        Err(f) => {
            if out.json {
                let doc = json!({ "ok": false, "exit_code": f.code, "error": f.message, "detail": f.detail });
                output::out_json(&serde_json::to_string_pretty(&doc).unwrap_or_default());
            } else {
                output::err(&format!("error: {}", f.message));
            }
            f.code
        }
    }
}

async fn dispatch(cli: Cli, out: &Out) -> Outcome {
    let g = cli.global;
    let Some(command) = cli.command else {
        let conn = connect::connect(&g).await?;
        let opts = crate::tui::TuiOptions {
            profile: conn.profile,
            config_file: conn.config_file,
            release: conn.release,
            ..Default::default()
        };
        crate::tui::run(conn.ops, opts).await?;
        return Ok(exit::OK);
    };
    match command {
        Command::Init {
            create_tables: true,
            ..
        } => super::init::create_tables(&g, out).await,
        Command::Init {
            from_terraform,
            update,
            ..
        } => init(&g, &from_terraform, update, out),
        Command::Local(cmd) => Ok(super::local::run(cmd, &local_state_dir(&g)?).await?),
        Command::Demo(args) => super::demo::run(args, &local_state_dir(&g)?).await,
        Command::Doctor => super::doctor::run(&g).await,
        Command::Completions { shell } => super::shell::completions(shell),
        Command::Man { out: dir } => super::shell::man(dir.as_deref(), out),
        Command::Release(args) => {
            let conn = connect::connect(&g).await?;
            let done = super::release::release(&conn.ops, &conn.release, args, out).await;
            journal_warnings(&conn.ops, done)
        }
        Command::Adopt { stable } => {
            let conn = connect::connect(&g).await?;
            adopt(&conn, stable, out).await
        }
        Command::Rehearse(args) => {
            let conn = connect::connect(&g).await?;
            let done = super::rehearse::rehearse(&conn.ops, &conn.release, args, out).await;
            journal_warnings(&conn.ops, done)
        }
        command => {
            let conn = connect::connect(&g).await?;
            let done = verb(command, &conn.ops, &conn.profile, out).await;
            journal_warnings(&conn.ops, done)
        }
    }
}

/// Says, on stderr, which writes went unjournaled; the command's outcome stands as it is.
fn journal_warnings(ops: &Ops, done: Outcome) -> Outcome {
    for w in ops.take_journal_warnings() {
        output::err(&format!("warning: {w}"));
    }
    done
}

fn local_state_dir(g: &Global) -> Result<std::path::PathBuf, Failure> {
    match connect::select(g)? {
        Selected::Local { state_dir, .. } => Ok(state_dir),
        Selected::Aws { profile, .. } => Err(Failure {
            code: exit::FAILURE,
            message: format!(
                "profile `{profile}` is an AWS profile; the local platform needs a profile with platform = \"local\""
            ),
            detail: Value::Null,
        }),
    }
}

fn init(g: &Global, files: &[std::path::PathBuf], update: bool, out: &Out) -> Outcome {
    let path = g
        .config
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(crate::config::DEFAULT_FILE));
    let profile = g.profile.clone().unwrap_or_else(|| "default".into());
    let text = terraform::init_with(&path, &profile, g.aws_profile.as_deref(), files, update)
        .map_err(|e| Failure {
            code: exit::FAILURE,
            message: e.to_string(),
            detail: Value::Null,
        })?;
    out.print(
        &format!(
            "wrote profile `{profile}` to {}:\n{}",
            path.display(),
            text.trim_start()
        ),
        json!({ "ok": true, "profile": profile, "file": path }),
    );
    Ok(exit::OK)
}

async fn verb(command: Command, ops: &Ops, profile: &str, out: &Out) -> Outcome {
    match command {
        Command::Status { verbose, check } => status(ops, profile, verbose, check, out).await,
        Command::Shift(args) => {
            let change = if args.unguarded {
                ops.shift_unguarded(args.weights(), args.force).await?
            } else {
                ops.shift(args.weights(), args.force).await?
            };
            out.print(
                &render::weight_change("shifted", &change),
                json!({ "ok": true, "change": change, "outcome": change.outcome() }),
            );
            Ok(exit::OK)
        }
        Command::Promote { bake, keep_old } => {
            super::promote::promote(ops, bake, keep_old, out).await
        }
        Command::Rollback => {
            let report = ops.rollback().await?;
            out.print(
                &render::rollback(&report),
                json!({ "ok": true, "rollback": report }),
            );
            Ok(exit::OK)
        }
        Command::Build {
            source_version,
            wait,
            timeout,
        } => build(ops, source_version, wait, timeout, out).await,
        Command::Deploy {
            tag,
            color,
            wait,
            timeout,
        } => {
            let receipt = ops.deploy(&tag, color).await?;
            if wait {
                out.progress(&render::deploy(&receipt));
                out.progress(&format!(
                    "waiting up to {timeout} s for {} to become healthy",
                    receipt.color
                ));
                wait_explained(
                    ops,
                    &WaitFor::Healthy(receipt.color),
                    Duration::from_secs(timeout),
                    out.mode(),
                )
                .await?;
            }
            // An environment's first release is stable once healthy, with all the traffic.
            let stable = wait && ops.settle_first_release(receipt.color).await?;
            let human = match (wait, stable) {
                (true, true) => format!(
                    "{} is healthy with {}: the first release, stable with all traffic",
                    receipt.color, receipt.tag
                ),
                (true, false) => format!("{} is healthy with {}", receipt.color, receipt.tag),
                _ => render::deploy(&receipt),
            };
            out.print(
                &human,
                json!({ "ok": true, "deploy": receipt, "healthy": wait, "first_release": stable }),
            );
            Ok(exit::OK)
        }
        Command::Wait(args) => wait(ops, &args, out).await,
        Command::Logs {
            since,
            color,
            follow,
            lines,
        } => {
            let args = LogsArgs {
                since,
                color,
                follow,
                lines,
            };
            logs(ops, args, out).await
        }
        Command::Scale { color, count } => {
            ops.scale(color, count).await?;
            out.print(
                &format!("{color} desired count set to {count}"),
                json!({ "ok": true, "color": color, "desired": count }),
            );
            Ok(exit::OK)
        }
        Command::Lock { action } => super::lock::run(ops, action, out).await,
        Command::Pause => super::release::request(ops, Request::Pause, out).await,
        Command::Resume => super::release::request(ops, Request::Resume, out).await,
        Command::Abort => super::release::request(ops, Request::Abort, out).await,
        Command::Init { .. }
        | Command::Local(_)
        | Command::Demo(_)
        | Command::Release(_)
        | Command::Rehearse(_)
        | Command::Adopt { .. }
        | Command::Doctor
        | Command::Completions { .. }
        | Command::Man { .. } => Ok(exit::OK),
        Command::History {
            since,
            limit,
            release,
        } => {
            let args = super::history::HistoryArgs {
                since_secs: since,
                limit: limit as usize,
                release,
            };
            super::history::history(ops, args, out).await
        }
    }
}

async fn status(ops: &Ops, profile: &str, verbose: bool, check: bool, out: &Out) -> Outcome {
    let p = ops.platform();
    let before = p.api_calls();
    let snap = p.snapshot().await?;
    let (builds, images) = tokio::join!(p.builds(5), p.images());
    let refresh = p.api_calls().saturating_sub(before);
    let info = p.info();
    let builds = builds.map_err(|e| e.to_string());
    let images = images.map_err(|e| e.to_string());
    let now = now_millis();
    let code = if builds.is_err() || images.is_err() {
        exit::PLATFORM
    } else {
        exit::OK
    };
    let human = render::status(&render::Status {
        info: &info,
        snap: &snap,
        builds: builds.as_deref().map_err(String::as_str),
        images: images.as_deref().map_err(String::as_str),
        verbose,
        calls: Some(render::Calls { refresh }),
        now,
    });
    let errors: Vec<&String> = [builds.as_ref().err(), images.as_ref().err()]
        .into_iter()
        .flatten()
        .collect();
    let value = json!({
        "ok": code == exit::OK,
        "profile": profile,
        "platform": info,
        "snapshot": snap,
        "derived": {
            "live": snap.live(),
            "idle": snap.idle(),
            "stable": snap.stable(),
            "canary": snap.canary(),
            "shift_in_progress": snap.shift_in_progress(),
            "bake_pending": snap.bake_pending(),
            "rollback_target": snap.rollback_target().ok(),
        },
        "builds": builds.as_ref().ok(),
        "images": images.as_ref().ok().map(|list| list
            .iter()
            .map(|i| json!({ "image": i, "running_on": render::running_on(&snap, &i.digest) }))
            .collect::<Vec<_>>()),
        "errors": errors,
        "api_calls": { "refresh": refresh, "total": p.api_calls() },
    });
    // The release is read after the refresh's count, so the budget stays the refresh's own.
    let release = p.release().await;
    let mut value = value;
    let mut human = human;
    match &release {
        Ok(Some(r)) => {
            human.push_str(&super::release::status_lines(r, now));
            value["release"] = json!({
                "release": r,
                "hold_left_ms": r.hold_left_ms(now),
                "driver_gone": r.driver_gone(now),
                "undriven_since": r.driver_gone(now).then_some(r.driven_at),
                // What the step waits for besides its hold, or the mismatch it warns about.
                "step_split": r.split.as_ref().filter(|_| !r.is_over()).and_then(|s| s.describe()),
            });
        }
        Ok(None) => value["release"] = Value::Null,
        Err(e) => {
            human.push_str(&format!("\nrelease  unreadable: {e}\n"));
            value["release"] = json!({ "error": e.to_string() });
        }
    }
    // A platform that finishes bakes by itself (the local daemon) watches by itself too.
    let watches = info.finishes_bake;
    let guard_lines = super::watch::status_lines(&snap.listener, now, watches);
    if !guard_lines.is_empty() {
        human.push_str(&format!("\n{guard_lines}"));
    }
    value["guard"] = super::watch::status_json(&snap.listener, now, watches);
    // Measured after the refresh's count too: one metrics read.
    let measured = ops.measure(&snap.listener).await;
    let drifts = drift::find(&snap, measured.verdict.as_ref());
    human.push('\n');
    human.push_str(&render::traffic(&measured, &drifts));
    if let Some(line) = super::watch::probe_line(&snap.listener) {
        human.push_str(&format!("{line}\n"));
    }
    value["traffic"] = json!(measured);
    value["drift"] = json!(drifts);
    let code = if check && !drifts.is_empty() {
        exit::DRIFT
    } else {
        code
    };
    value["ok"] = json!(code == exit::OK);
    // The lock is shown only when someone holds it (or a driver's lease ended).
    if let Ok(Some(lock)) = p.lock_read().await {
        human.push_str(&format!("\n{}\n", ops.lock_header(Some(&lock), now)));
        value["lock"] = json!(lock);
    }
    out.print(human.trim_end(), value);
    Ok(code)
}

/// `adopt --stable COLOR`: checks the stack, then records the stable color.
async fn adopt(conn: &connect::Connection, stable: Color, out: &Out) -> Outcome {
    let adopted = conn.ops.adopt(stable, conn.expected.as_ref()).await?;
    let human = if adopted.recorded {
        format!(
            "{stable} recorded as stable ({}): the services and task families match the profile; promote and rollback now work from it",
            adopted.weights
        )
    } else {
        format!("{stable} was already recorded as stable; nothing written")
    };
    out.print(&human, json!({ "ok": true, "adopted": adopted }));
    Ok(exit::OK)
}

async fn build(ops: &Ops, source: Option<String>, wait: bool, timeout: u64, out: &Out) -> Outcome {
    let started = ops.build(source).await?;
    out.progress(&format!("started build {}", started.id));
    if !wait {
        out.print(
            &format!("started build {}", started.id),
            json!({ "ok": true, "build": started }),
        );
        return Ok(exit::OK);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let progress = super::progress::Progress::start(out.mode(), &format!("build {}", started.id));
    loop {
        let builds = ops.platform().builds(20).await?;
        if let Some(b) = builds.iter().find(|b| b.id == started.id) {
            let phase = b.phases.last().map_or("QUEUED", |p| p.name.as_str());
            // A local build's log is a file; its latest line is cargo's progress.
            let latest = b
                .log_location
                .as_deref()
                .and_then(|l| super::progress::latest_log_line(std::path::Path::new(l)))
                .unwrap_or_default();
            progress.set(phase, &latest);
            if b.status.is_done() {
                drop(progress);
                let line = render::build_line(b, now_millis());
                let ok = b.status == BuildStatus::Succeeded;
                if ok {
                    out.print(&line, json!({ "ok": true, "build": b }));
                    return Ok(exit::OK);
                }
                let failed = b
                    .phases
                    .iter()
                    .find(|p| p.status.is_done() && p.status != BuildStatus::Succeeded)
                    .map(|p| {
                        format!(
                            " in phase {}{}",
                            p.name,
                            p.context
                                .first()
                                .map(|c| format!(": {c}"))
                                .unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                return Err(Failure {
                    code: exit::PLATFORM,
                    message: format!(
                        "build {} ended {}{failed}",
                        b.id,
                        render::build_status(b.status)
                    ),
                    detail: json!({ "build": b }),
                });
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(PlatformError::TimedOut {
                what: format!("build {}", started.id),
                after_secs: timeout,
            }
            .into());
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

async fn wait(ops: &Ops, args: &WaitArgs, out: &Out) -> Outcome {
    if args.release {
        let timeout = Duration::from_secs(args.timeout);
        return super::release::wait_release(ops, args.until, timeout, out).await;
    }
    let what = match (args.healthy, args.weights) {
        (Some(c), _) => WaitFor::Healthy(c),
        (None, Some(w)) => WaitFor::Weights(w),
        (None, None) => WaitFor::Weights(Weights::all(crate::rollout::Color::Blue)),
    };
    let snap = wait_explained(ops, &what, Duration::from_secs(args.timeout), out.mode()).await?;
    let human = match &what {
        WaitFor::Healthy(c) => {
            let s = snap.colors.get(*c);
            format!(
                "{c} is healthy: {} healthy target(s), desired {}",
                s.healthy_targets(),
                s.service.desired
            )
        }
        WaitFor::Weights(w) => format!("the listener shows {w}"),
        WaitFor::Stable(c) => format!("{c} is stable with all traffic"),
    };
    out.print(&human, json!({ "ok": true, "snapshot": snap }));
    Ok(exit::OK)
}

/// What `logs` was asked for.
struct LogsArgs {
    since: u64,
    color: Option<crate::rollout::Color>,
    follow: bool,
    lines: u32,
}

async fn logs(ops: &Ops, args: LogsArgs, out: &Out) -> Outcome {
    let since_ms = i64::try_from(args.since.saturating_mul(1000)).unwrap_or(i64::MAX);
    let mut cursor = crate::platform::LogCursor {
        since: Some(now_millis().saturating_sub(since_ms)),
        ..Default::default()
    };
    let wanted = |l: &crate::rollout::LogLine| args.color.is_none_or(|c| c == l.color);
    let keep = usize::try_from(args.lines).unwrap_or(usize::MAX);
    let tail = ops.log_tail(cursor, args.color, keep).await?;
    cursor = tail.cursor;
    if tail.cut > 0 {
        out.progress(&format!(
            "… {} earlier line(s) of the window not shown (the latest {} follow; --lines N shows more, --since S a shorter window)",
            tail.cut,
            tail.lines.len()
        ));
    }
    if tail.unread {
        out.progress(&format!(
            "… the window holds more than {} lines: only the first of them were read; use a shorter --since",
            limits::MAX_LOG_SCAN
        ));
    }
    for line in &tail.lines {
        print_log_line(line, out);
    }
    if !args.follow {
        return Ok(exit::OK);
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(exit::OK),
        }
        let batch = ops.platform().read_logs(&cursor, ops::LOG_BATCH).await?;
        for line in batch.lines.iter().filter(|l| wanted(l)) {
            print_log_line(line, out);
        }
        cursor = batch.cursor;
    }
}

fn print_log_line(line: &crate::rollout::LogLine, out: &Out) {
    if out.json {
        output::out_json(&serde_json::to_string(line).unwrap_or_default());
    } else {
        output::out(&render::log_line(line));
    }
}

/// [`Ops::wait`]; when waiting for health times out, the failure also says what the color
/// looks like: its targets, stopped tasks and latest service events.
/// While it waits, the progress line says what it waits for and what the last poll saw.
pub(super) async fn wait_explained(
    ops: &Ops,
    what: &WaitFor,
    timeout: Duration,
    mode: super::progress::Mode,
) -> Result<crate::rollout::Snapshot, Failure> {
    let progress =
        super::progress::Progress::start(mode, &format!("waiting for {}", what.describe()));
    let watch = |snap: &crate::rollout::Snapshot| {
        progress.set(&render::wait_seen(what, snap), "");
    };
    let waited = ops.wait_watching(what, timeout, &watch).await;
    drop(progress);
    match waited {
        Ok(snap) => Ok(snap),
        Err(e @ OpError::Platform(PlatformError::TimedOut { .. })) => {
            let mut failure = Failure::from(e);
            if let WaitFor::Healthy(color) | WaitFor::Stable(color) = what
                && let Ok(snap) = ops.platform().snapshot().await
            {
                failure.message += &render::why_unhealthy(snap.colors.get(*color));
            }
            Err(failure)
        }
        Err(e) => Err(e.into()),
    }
}
