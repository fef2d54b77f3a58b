//! The daemon: owns the state directory, runs the proxy's two listeners, the supervisor,
//! the build runner and the control socket until `local down` (or SIGTERM).

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;

pub mod control;
pub mod handover;
pub mod releases;
pub mod watch;

use crate::clock::now_millis;
use crate::platform::local::daemon::engine;
use crate::platform::local::daemon::state::{self, DaemonConfig, Persisted};
use crate::platform::local::files;
use crate::platform::local::paths::Paths;
use crate::platform::local::proxy::metrics::Metrics;
use crate::platform::local::proxy::route::Routes;
use crate::platform::local::proxy::{ListenerKind, Proxy};
use crate::platform::local::registry::Registry;
use crate::platform::local::supervisor::Supervisor;
use crate::platform::local::wire::{DaemonStatus, VERSION};

/// Runs the daemon in the foreground until it is told to stop.
pub async fn run(paths: Paths, overrides: impl FnOnce(&mut DaemonConfig)) -> anyhow::Result<()> {
    // Everything the daemon creates (state, socket, logs, database) is private to its user,
    // also what the tasks and builds create without naming a mode.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    // Every descriptor the hard limit allows: the proxy's listeners bound their connections
    // to a share of it and leave the rest to tasks, health checks and the control socket.
    let nofile = crate::platform::local::proxy::slots::raise_nofile();
    tracing::debug!("descriptor limit {nofile}");
    private_state_dir(paths.root())?;
    // Started by `local restart`: the old daemon's listeners and lock come on stdin.
    let inherited = handover::Inherited::receive()?;
    let lock_path = paths.daemon_lock();
    let lock_file = match &inherited {
        // Already locked by the open file both daemons share; locking it again succeeds.
        Some(i) => i.lock.try_clone()?,
        None => files::private_file()
            .write(true)
            .truncate(false)
            .open(&lock_path)
            .with_context(|| format!("cannot create {}", lock_path.display()))?,
    };
    // Shares the lock, for a successor.
    let lock_for_successor = lock_file.try_clone()?;
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| {
            anyhow::anyhow!(
                "another daemon already runs for {} ({e}); use `bluegreen local status`",
                paths.root().display()
            )
        })?;

    // A damaged state file stops the start here, before any task is started or killed: the
    // message (in daemon.log, which `local up` shows) names the file and the way out.
    let mut persisted = state::load(&paths.state_file())?.unwrap_or_default();
    let orphans = Supervisor::orphans(&paths)?;
    Registry::new(paths.registry_dir()).check()?;
    overrides(&mut persisted.config);
    let config = persisted.config.clone();
    let secret = csrf_secret(&paths)?;

    let shutdown = CancellationToken::new();
    let routes = Arc::new(Routes::new(persisted.weights, persisted.test_color));
    // Faults carry over (a restart's handover, or down and up) with their end; due ones lapse.
    for fault in routes.faults.restore(&persisted.faults, now_millis()) {
        tracing::warn!(
            "fault on {} still in force: {}",
            fault.color,
            fault.describe(now_millis())
        );
    }
    let metrics = Arc::new(Metrics::default());
    let (prod, test) = match inherited.as_ref() {
        Some(i) => (i.production.try_clone()?, i.test.try_clone()?),
        None => (
            bind(config.port, "production", "--port")?,
            bind(config.test_port, "test", "--test-port")?,
        ),
    };
    // Kept (as duplicates of the same sockets) for a successor.
    let listeners_for_successor = (prod.try_clone()?, test.try_clone()?);
    let prod_addr = prod.local_addr()?.to_string();
    let test_addr = test.local_addr()?.to_string();

    let socket_path = paths.control_socket();
    if let Some(dir) = socket_path.parent()
        && dir != paths.root()
    {
        ensure_private_dir(dir, nix::unistd::geteuid().as_raw())?;
    }
    // We hold the lock, so a socket file left here belongs to a dead daemon.
    let _ = std::fs::remove_file(&socket_path);
    let control_listener = UnixListener::bind(&socket_path)
        .with_context(|| format!("cannot create the control socket {}", socket_path.display()))?;
    std::fs::set_permissions(&socket_path, std::fs::Permissions::from_mode(0o600)).with_context(
        || {
            format!(
                "cannot make the control socket {} private (mode 0600)",
                socket_path.display()
            )
        },
    )?;

    let supervisor = Supervisor::new(
        config.supervisor(),
        paths.clone(),
        routes.clone(),
        secret,
        persisted.services.clone(),
        shutdown.clone(),
    );
    let engine = Arc::new(engine::Engine::new(
        paths.clone(),
        config.clone(),
        &persisted,
        supervisor.clone(),
        routes.clone(),
        metrics.clone(),
        prod_addr.clone(),
        test_addr.clone(),
    ));
    // Before the proxy serves, so tasks that were healthy take traffic at once.
    supervisor.adopt(orphans).await;
    engine.save("start").map_err(|e| anyhow::anyhow!("{e}"))?;
    let status = DaemonStatus {
        pid: std::process::id(),
        state_dir: paths.root().display().to_string(),
        socket: socket_path.display().to_string(),
        production: prod_addr.clone(),
        test: test_addr.clone(),
        started_at: now_millis(),
        protocol: VERSION,
        version: env!("CARGO_PKG_VERSION").to_string(),
        unsaved: None,
    };
    files::write_json(&paths.daemon_file(), &status)
        .with_context(|| format!("cannot write {}", paths.daemon_file().display()))?;

    let proxy = Proxy::new(routes.clone(), metrics.clone());
    // Cancelled by a handover as well as by a shutdown: this daemon stops accepting.
    let accepting = shutdown.child_token();
    proxy
        .spawn_workers(
            &[(prod, ListenerKind::Production), (test, ListenerKind::Test)],
            &accepting,
        )
        .context("cannot start the proxy's worker threads")?;
    let handed_over = CancellationToken::new();
    let restarting = control::Restarting::default();
    // Both end with the daemon, and before a handover's successor starts driving and
    // watching.
    let until_quiet = || {
        let stop = shutdown.child_token();
        let quiet = restarting.quiet.clone();
        let s = stop.clone();
        tokio::spawn(async move {
            quiet.cancelled().await;
            s.cancel();
        });
        stop
    };
    let releases = Arc::new(releases::Releases::new(engine.clone(), until_quiet()));
    // The guard and the probe watch whoever is connected ([`watch`]).
    watch::spawn(engine.clone(), until_quiet());
    let control = Arc::new(control::Control {
        engine: engine.clone(),
        status,
        shutdown: shutdown.clone(),
        handover: control::HandoverParts {
            paths: paths.clone(),
            production: listeners_for_successor.0,
            test: listeners_for_successor.1,
            lock: lock_for_successor,
            proxy: proxy.clone(),
            accepting: accepting.clone(),
            done: handed_over.clone(),
        },
        restarting,
        releases: releases.clone(),
    });
    tokio::spawn(control.clone().serve(control_listener));
    tokio::spawn(supervisor.clone().run());
    {
        let engine = engine.clone();
        let shutdown = shutdown.clone();
        let quiet = control.quiet();
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut pressure = [0; 5];
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = quiet.cancelled() => return,
                    _ = tick.tick() => {
                        engine.metrics.sample(now_millis());
                        engine.tick();
                        proxy.log_pressure(&mut pressure);
                    }
                }
            }
        });
    }
    // A release the previous daemon drove goes on here.
    if let Err(e) = releases.drive().await {
        tracing::warn!("cannot pick up the recorded release: {e}");
    }
    tracing::info!(
        "local platform up: production http://{prod_addr}/, test http://{test_addr}/, socket {}",
        socket_path.display()
    );

    if let Some(inherited) = inherited {
        // The old daemon stops accepting once it reads this.
        inherited
            .ready()
            .context("cannot tell the old daemon that this one serves")?;
        tracing::info!("took over from the previous daemon");
    }

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = handed_over.cancelled() => {
            // The successor serves, adopted the tasks and owns the files: let the open
            // connections finish their last requests, and leave everything else as it is.
            let deadline = std::time::Instant::now() + DRAIN_TIMEOUT;
            while proxy.open_connections() > 0 && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tracing::info!(
                "handed over; {} client connection(s) still open closed",
                proxy.open_connections()
            );
            return Ok(());
        }
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: shutting down"),
    }
    shutdown.cancel();
    let persisted: Persisted = engine.persisted();
    supervisor.stop_all().await;
    // Save what was in force before the tasks stopped, so `up` brings the same release back.
    let _ = state::save(&paths.state_file(), &persisted);
    let _ = std::fs::remove_file(&socket_path);
    let _ = std::fs::remove_file(paths.daemon_file());
    tracing::info!(
        "local platform stopped; state kept in {}",
        paths.root().display()
    );
    Ok(())
}

/// Makes `dir` a directory only we can use, for a control socket outside the state
/// directory (`$XDG_RUNTIME_DIR/bluegreen` or `/tmp/bluegreen-<uid>`). In a shared directory
/// such as /tmp another user may have taken the name first: a symbolic link, or a directory
/// that is not ours, is refused rather than reused.
fn ensure_private_dir(dir: &Path, uid: u32) -> anyhow::Result<()> {
    let fix = "remove it, or set XDG_RUNTIME_DIR to a private directory";
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent).with_context(|| {
                    format!("cannot create {} for the control socket", parent.display())
                })?;
            }
            match std::fs::DirBuilder::new().mode(0o700).create(dir) {
                // Made by someone else meanwhile: checked below like any existing one.
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(e).with_context(|| {
                        format!(
                            "cannot create the control socket directory {}",
                            dir.display()
                        )
                    });
                }
                _ => {}
            }
            std::fs::symlink_metadata(dir).with_context(|| {
                format!(
                    "cannot inspect the control socket directory {}",
                    dir.display()
                )
            })?
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot inspect the control socket directory {}",
                    dir.display()
                )
            });
        }
    };
    if meta.file_type().is_symlink() {
        anyhow::bail!(
            "the control socket directory {} is a symbolic link, which whoever made it can point anywhere; refusing to use it: {fix}",
            dir.display()
        );
    }
    if !meta.is_dir() {
        anyhow::bail!(
            "the control socket directory {} exists but is not a directory: {fix}",
            dir.display()
        );
    }
    if meta.uid() != uid {
        anyhow::bail!(
            "the control socket directory {} is owned by uid {}, not by you (uid {uid}); refusing to use it: {fix}",
            dir.display(),
            meta.uid()
        );
    }
    if meta.mode() & 0o777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).with_context(
            || {
                format!(
                    "cannot make the control socket directory {} private (mode 0700)",
                    dir.display()
                )
            },
        )?;
    }
    Ok(())
}

/// How long the old daemon lets its open client connections finish after a handover.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

fn bind(port: u16, which: &str, flag: &str) -> anyhow::Result<std::net::TcpListener> {
    std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on 127.0.0.1:{port} for the {which} listener ({e}); choose another port with `bluegreen local up {flag} PORT`"
        )
    })
}

/// The secret every task shares (BLOG_CSRF_SECRET), created once per state directory.
fn csrf_secret(paths: &Paths) -> anyhow::Result<String> {
    let path = paths.csrf_secret();
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 32 => return Ok(s.trim().to_string()),
        Ok(_) => tracing::warn!("{} is too short; writing a new secret", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let bytes: [u8; 32] = rand::random();
    let secret = hex::encode(bytes);
    files::write_atomic(&path, secret.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(secret)
}

/// Creates the state directory 0700, or makes an existing one 0700 (an older bluegreen, or a
/// `mkdir` by hand, may have left it open): with the root private, nothing below it is
/// reachable by others whatever its own mode.
///
/// A state directory another user owns, or that others may write (or one under such a
/// directory, which its owner could swap), is refused: the daemon executes the registry's
/// binaries from it, as root on CI machines.
fn private_state_dir(root: &Path) -> anyhow::Result<()> {
    files::create_private_dir(root)
        .with_context(|| format!("cannot create the state directory {}", root.display()))?;
    let meta = std::fs::symlink_metadata(root)
        .with_context(|| format!("cannot inspect the state directory {}", root.display()))?;
    let me = nix::unistd::geteuid().as_raw();
    trusted_state_dir(root, &meta, me)?;
    let mode = meta.mode();
    if mode & 0o777 != files::DIR_MODE {
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(files::DIR_MODE))
            .with_context(|| {
                format!(
                    "cannot make the state directory {} private (mode 0700)",
                    root.display()
                )
            })?;
    }
    Ok(())
}

/// Refuses a state directory `uid` cannot trust: a symbolic link, another user's, one others
/// may write, or one inside a directory that someone else may rename it in (not theirs or
/// root's, or writable by others without the sticky bit, as /tmp has).
fn trusted_state_dir(root: &Path, meta: &std::fs::Metadata, uid: u32) -> anyhow::Result<()> {
    let fix = |why: String| {
        anyhow::anyhow!(
            "the state directory {} {why}: the daemon runs the binaries it holds, so it refuses it; use a state directory of your own (`--state-dir DIR`, or BLUEGREEN_STATE_DIR), or, if it is yours, `chown -R {uid} {}` and `chmod 700` it",
            root.display(),
            root.display()
        )
    };
    if meta.file_type().is_symlink() {
        return Err(fix("is a symbolic link".into()));
    }
    if meta.uid() != uid {
        return Err(fix(format!(
            "is owned by uid {}, not by this user (uid {uid})",
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(fix(format!(
            "can be written by others (mode {:o})",
            meta.mode() & 0o777
        )));
    }
    let canonical = std::fs::canonicalize(root)
        .with_context(|| format!("cannot resolve the state directory {}", root.display()))?;
    for dir in canonical.ancestors().skip(1) {
        let Ok(m) = std::fs::metadata(dir) else {
            continue;
        };
        let owner_ok = m.uid() == uid || m.uid() == 0;
        let sticky = m.mode() & 0o1000 != 0;
        if !owner_ok || (m.mode() & 0o022 != 0 && !sticky) {
            return Err(fix(format!(
                "is inside {} (owner uid {}, mode {:o}), where someone else can replace it",
                dir.display(),
                m.uid(),
                m.mode() & 0o7777
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).expect("exists").mode() & 0o777
    }

    /// `tmp/name`, a directory with `mode`.
    fn dir_with_mode(tmp: &tempfile::TempDir, name: &str, mode: u32) -> std::path::PathBuf {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).expect("chmod");
        dir
    }

    fn refusal(dir: &Path, uid: u32) -> String {
        format!("{:#}", ensure_private_dir(dir, uid).expect_err("refused"))
    }

    #[test]
    fn the_state_directory_is_made_private_whoever_created_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let fresh = tmp.path().join("a").join("state");
        private_state_dir(&fresh).expect("created");
        assert_eq!(mode(&fresh), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        let open = dir_with_mode(&tmp, "old-state", 0o755);
        private_state_dir(&open).expect("tightened");
        assert_eq!(mode(&open), 0o700);
    }

    #[test]
    fn a_state_directory_others_own_or_may_write_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = dir_with_mode(&tmp, "state", 0o700);
        let meta = std::fs::symlink_metadata(&dir).expect("meta");
        trusted_state_dir(&dir, &meta, me()).expect("ours");
        // As another user sees it: not theirs.
        let msg = format!(
            "{:#}",
            trusted_state_dir(&dir, &meta, me() + 1).expect_err("x")
        );
        assert!(msg.contains(&format!("owned by uid {}", me())), "{msg}");
        assert!(msg.contains("--state-dir"), "{msg}");
        let open = dir_with_mode(&tmp, "open", 0o777);
        let meta = std::fs::symlink_metadata(&open).expect("meta");
        let msg = format!(
            "{:#}",
            trusted_state_dir(&open, &meta, me()).expect_err("x")
        );
        assert!(msg.contains("written by others (mode 777)"), "{msg}");
        let msg = format!("{:#}", private_state_dir(&open).expect_err("refused"));
        assert!(msg.contains("written by others"), "{msg}");
        assert_eq!(mode(&open), 0o777, "left as found");
        // Inside a directory others may write (no sticky bit), it could be swapped.
        let shared = dir_with_mode(&tmp, "shared", 0o777);
        let inner = shared.join("state");
        std::fs::create_dir(&inner).expect("mkdir");
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let meta = std::fs::symlink_metadata(&inner).expect("meta");
        let msg = format!(
            "{:#}",
            trusted_state_dir(&inner, &meta, me()).expect_err("x")
        );
        assert!(msg.contains("where someone else can replace it"), "{msg}");
    }

    #[test]
    fn a_missing_socket_dir_is_created_private() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("runtime").join("bluegreen");
        ensure_private_dir(&dir, me()).expect("created");
        assert_eq!(mode(&dir), 0o700);
        ensure_private_dir(&dir, me()).expect("reused");
    }

    #[test]
    fn our_own_open_socket_dir_is_made_private() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = dir_with_mode(&tmp, "bluegreen-1", 0o755);
        ensure_private_dir(&dir, me()).expect("ours");
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn a_symlinked_socket_dir_is_refused_and_its_target_untouched() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let target = dir_with_mode(&tmp, "elsewhere", 0o755);
        let dir = tmp.path().join("bluegreen-1");
        std::os::unix::fs::symlink(&target, &dir).expect("symlink");
        let msg = refusal(&dir, me());
        assert!(msg.contains(&dir.display().to_string()), "{msg}");
        assert!(msg.contains("symbolic link"), "{msg}");
        assert_eq!(mode(&target), 0o755);
    }

    #[test]
    fn a_socket_dir_owned_by_someone_else_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = dir_with_mode(&tmp, "bluegreen-1", 0o777);
        // As seen by another user: the directory is not theirs.
        let other = me() + 1;
        let msg = refusal(&dir, other);
        assert!(msg.contains(&dir.display().to_string()), "{msg}");
        assert!(
            msg.contains(&format!("owned by uid {}, not by you (uid {other})", me())),
            "{msg}"
        );
        assert_eq!(mode(&dir), 0o777, "left as found");
    }

    #[test]
    fn a_file_in_place_of_the_socket_dir_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("bluegreen-1");
        std::fs::write(&dir, "").expect("file");
        let msg = refusal(&dir, me());
        assert!(msg.contains("not a directory"), "{msg}");
    }
}
