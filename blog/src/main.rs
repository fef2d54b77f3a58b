//! The `blog` binary.
//!
//! ```text
//! blog [--store sqlite:PATH|dynamodb:TABLE] [--bind IP] [--port N]        serve (the default)
//! blog migrate [--to NEW_TABLE]                                            update a store
//! blog user add NAME [--admin] | passwd NAME | remove NAME | list          author accounts
//! blog healthcheck [--timeout SECS]                                        probe /health
//! blog smoke [--timeout SECS] URL...                                       a release's smoke checks
//! ```
//!
//! Process contract (docs/blog.md, "Process contract"), relied on by the local platform and
//! ECS:
//! - The **first line on stdout** is exactly `listening on http://ADDR:PORT` (for example
//!   `listening on http://127.0.0.1:43123`, or `http://[::1]:43123` for IPv6), printed once
//!   the socket is bound and before any log line, in text and JSON log modes alike. With
//!   `--port 0` it is how a supervisor learns the port.
//! - `GET /health` answers 200 once that line is out, for as long as the store answers.
//! - SIGTERM (or SIGINT): stop accepting, finish requests in flight, exit 0.
//! - Startup errors go to stderr with exit status 1, before any stdout line.

use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use blog::auth::session::{DEFAULT_TTL, KeySource};
use blog::auth::{Auth, Passwords, Sessions};
use blog::config::StoreSpec;
use blog::telemetry::LogFormat;
use blog::users::UserCommand;
use blog::web::{AppState, Csrf, Site};
use blog::{healthcheck, server, startup, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "blog",
    version = blog::BUILD_VERSION,
    about = "The blog service: posts in SQLite or DynamoDB, served over HTTP",
    after_help = "Environment only:\n  BLOG_VERSION      version shown in the banner and X-Blog-Version (default: compiled in)\n  BLOG_CSRF_SECRET  shared secret that signs CSRF tokens; give every process the same one\n  BLOG_SESSION_SECRET  shared secret that signs session cookies (default: derived from BLOG_CSRF_SECRET)\n  BLOG_LOG          log filter (default: warn,blog=info)\n  AWS_*             credentials, region and AWS_ENDPOINT_URL for the DynamoDB store"
)]
struct Cli {
    /// Where posts live: `sqlite:PATH` or `dynamodb:TABLE`.
    #[arg(long, env = "BLOG_STORE", default_value = blog::config::DEFAULT_STORE, global = true)]
    store: StoreSpec,
    /// Address to listen on (the container needs 0.0.0.0; local supervisors pass 127.0.0.1).
    #[arg(long, env = "BLOG_BIND", default_value = "0.0.0.0", global = true)]
    bind: IpAddr,
    /// Port to listen on; 0 picks a free one and prints it on the first stdout line.
    #[arg(long, env = "PORT", default_value_t = 5000, global = true)]
    port: u16,
    /// Deployment color, shown in the banner and the X-Blog-Color header.
    #[arg(long, env = "BLOG_COLOR", default_value = "local", global = true)]
    color: String,
    /// The blog's name in the masthead.
    #[arg(long, env = "BLOG_TITLE", default_value = "The Blog", global = true)]
    title: String,
    /// `text` or `json` (one JSON object per line, for CloudWatch).
    #[arg(long, env = "BLOG_LOG_FORMAT", default_value = "text", global = true)]
    log_format: LogFormat,
    /// Seconds to let requests in flight finish after SIGTERM.
    #[arg(long, env = "BLOG_SHUTDOWN_GRACE", default_value_t = server::DEFAULT_GRACE.as_secs(), global = true, value_parser = clap::value_parser!(u64).range(0..=3600))]
    shutdown_grace: u64,
    /// DynamoDB only: every SECS seconds, file items the seed's app wrote since `blog migrate`
    /// into the listing index (the migration's backfill, repeated). Off when unset.
    #[arg(long, env = "BLOG_BACKFILL_EVERY", value_name = "SECS", global = true)]
    backfill_every: Option<u64>,
    /// Keep rendered index and post pages until any process changes the posts (SQLite). Off
    /// renders every page from the store.
    #[arg(long, env = "BLOG_PAGE_CACHE", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", global = true)]
    page_cache: bool,
    /// Threads serving requests (default: half the CPUs, 1 to 4).
    #[arg(long, env = "BLOG_WORKERS", global = true, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: Option<u16>,
    /// DynamoDB only: the table of author accounts (hash key `name`); `blog migrate` creates it.
    #[arg(long, env = "BLOG_AUTHORS_TABLE", default_value = blog::accounts::dynamodb::DEFAULT_TABLE, global = true)]
    authors_table: String,
    /// Seconds a session lasts after signing in.
    #[arg(long, env = "BLOG_SESSION_TTL", default_value_t = DEFAULT_TTL.as_secs(), global = true, value_parser = clap::value_parser!(u64).range(60..=31_536_000))]
    session_ttl: u64,
    /// Seconds a request's head may take from its first byte (and a new connection's first
    /// request from accept); slower clients are disconnected.
    #[arg(long, env = "BLOG_HEADER_TIMEOUT", value_name = "SECS", default_value_t = server::DEFAULT_HEADER_TIMEOUT.as_secs(), global = true, value_parser = clap::value_parser!(u64).range(1..=300))]
    header_timeout: u64,
    /// Seconds a request's body may take to arrive after its head (then 408).
    #[arg(long, env = "BLOG_BODY_TIMEOUT", value_name = "SECS", default_value_t = blog::web::limits::DEFAULT_BODY_TIMEOUT.as_secs(), global = true, value_parser = clap::value_parser!(u64).range(1..=600))]
    body_timeout: u64,
    /// Seconds a keep-alive connection may wait for its next request; keep it above the load
    /// balancer's idle timeout (the ALB's is 60 s).
    #[arg(long, env = "BLOG_IDLE_TIMEOUT", value_name = "SECS", default_value_t = server::DEFAULT_IDLE_TIMEOUT.as_secs(), global = true, value_parser = clap::value_parser!(u64).range(1..=3600))]
    idle_timeout: u64,
    /// Seconds a response write may make no progress (the client stopped reading) before the
    /// connection is closed; keep it below --shutdown-grace.
    #[arg(long, env = "BLOG_WRITE_TIMEOUT", value_name = "SECS", default_value_t = server::DEFAULT_WRITE_TIMEOUT.as_secs(), global = true, value_parser = clap::value_parser!(u64).range(1..=600))]
    write_timeout: u64,
    /// Connections served at once; more wait in the accept queue.
    #[arg(long, env = "BLOG_MAX_CONNECTIONS", value_name = "N", default_value_t = server::DEFAULT_MAX_CONNECTIONS as u64, global = true, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    max_connections: u64,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the blog (the default).
    Serve,
    /// Bring the store up to date (idempotent, safe while both colors serve).
    ///
    /// DynamoDB: add the ByTimestamp index if missing and backfill legacy items the seed's app
    /// wrote; with --to, copy the table into a new one in the blog's shape. SQLite: apply the
    /// schema.
    Migrate {
        /// Copy every post into this new DynamoDB table (created if missing) instead.
        #[arg(long, value_name = "NEW_TABLE")]
        to: Option<String>,
    },
    /// Author accounts on the same --store as the server.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Exit 0 when the blog on --bind/--port answers /health with 200.
    Healthcheck {
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
    /// GET each URL (plain http:// only) and judge it by BLUEGREEN_SMOKE_CHECKS, or require a
    /// 2xx; exit 0 only when every check passed (`[profiles.X.smoke] from = "task"`).
    Smoke {
        /// Seconds each GET may take (1-120).
        #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=120))]
        timeout: u64,
        /// The URLs, in the order of the checks.
        #[arg(value_name = "URL")]
        urls: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum UserAction {
    /// Add an account; the password is read from the terminal, or from stdin's first line.
    Add {
        name: String,
        /// May edit and delete every post, including those whose author has no account.
        #[arg(long)]
        admin: bool,
    },
    /// Set a new password; every older session of the account ends.
    Passwd { name: String },
    /// Remove an account (its posts stay; only admins can change them afterwards).
    Remove { name: String },
    /// List the accounts.
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let workers = cli
        .workers
        .map_or_else(server::default_workers, usize::from);
    let runtime = match server::runtime(workers) {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("blog: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("blog: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None | Some(Command::Serve) => serve(&cli).await,
        Some(Command::Migrate { ref to }) => {
            let mut progress = |line: &str| println!("{line}");
            let summary = startup::migrate_store_with(
                &cli.store,
                to.as_deref(),
                &cli.authors_table,
                &mut progress,
            )
            .await?;
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::User { ref action }) => {
            let accounts = startup::open_accounts(&cli.store, &cli.authors_table).await?;
            let command = match action {
                UserAction::Add { name, admin } => UserCommand::Add {
                    name: name.clone(),
                    admin: *admin,
                },
                UserAction::Passwd { name } => UserCommand::Passwd { name: name.clone() },
                UserAction::Remove { name } => UserCommand::Remove { name: name.clone() },
                UserAction::List => UserCommand::List,
            };
            let passwords = Passwords::new()?;
            let out = blog::users::run(accounts.as_ref(), &passwords, command, || {
                blog::users::read_new_password("New password: ")
            })
            .await?;
            println!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Healthcheck { timeout }) => {
            let addr = healthcheck::target(cli.bind, cli.port);
            if cli.port == 0 {
                anyhow::bail!("healthcheck needs the blog's port: pass --port or set PORT");
            }
            let body = healthcheck::probe(addr, Duration::from_secs(timeout)).await?;
            println!("{}", body.trim());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Smoke { timeout, ref urls }) => {
            let checks = match std::env::var(blog::smoke::CHECKS_VAR) {
                Ok(v) => Some(v),
                Err(std::env::VarError::NotPresent) => None,
                Err(std::env::VarError::NotUnicode(_)) => {
                    anyhow::bail!("{} is not UTF-8", blog::smoke::CHECKS_VAR)
                }
            };
            let passed = blog::smoke::run(urls, checks.as_deref(), Duration::from_secs(timeout))
                .await
                .map_err(anyhow::Error::msg)?;
            Ok(if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

async fn serve(cli: &Cli) -> anyhow::Result<ExitCode> {
    let csrf_secret = std::env::var("BLOG_CSRF_SECRET").ok();
    let csrf = Csrf::new(csrf_secret.as_deref())?;
    let sessions = Sessions::new(
        std::env::var("BLOG_SESSION_SECRET").ok().as_deref(),
        csrf_secret.as_deref(),
        Duration::from_secs(cli.session_ttl),
    )?;
    let version = blog::effective_version(std::env::var("BLOG_VERSION").ok().as_deref());
    let site = Site::new(&cli.title, &cli.color, &version)?;
    let opened = startup::open_store_with(&cli.store, &cli.authors_table)
        .await
        .with_context(|| format!("cannot serve from {}", cli.store))?;
    let listener = server::bind(cli.bind, cli.port)
        .await
        .with_context(|| format!("cannot listen on {}:{}", cli.bind, cli.port))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", server::announcement(addr))?;
        out.flush()?;
    }
    let _log = telemetry::init(cli.log_format);
    tracing::info!(
        store = %cli.store,
        color = %site.color,
        version = %site.version,
        csrf = if csrf.is_signed() { "signed (BLOG_CSRF_SECRET)" } else { "double-submit cookie" },
        "serving on http://{addr}"
    );
    if sessions.source() == KeySource::Random {
        tracing::warn!(
            "neither BLOG_SESSION_SECRET nor BLOG_CSRF_SECRET is set: sessions are signed with a \
             key of this process only, so a reader is signed out when a request reaches another \
             process; give every process the same BLOG_SESSION_SECRET"
        );
    }
    startup::start_backfill(cli.backfill_every, &opened);
    let auth = Auth::new(opened.accounts.clone(), sessions, Passwords::new()?);
    let state = AppState::new(opened.store, site, csrf, auth)
        .with_page_cache(cli.page_cache)
        .with_body_timeout(Duration::from_secs(cli.body_timeout));
    let limits = server::Limits {
        header_timeout: Duration::from_secs(cli.header_timeout),
        idle_timeout: Duration::from_secs(cli.idle_timeout),
        write_timeout: Duration::from_secs(cli.write_timeout),
        max_connections: usize::try_from(cli.max_connections)
            .unwrap_or(server::DEFAULT_MAX_CONNECTIONS),
        grace: Duration::from_secs(cli.shutdown_grace),
    };
    // Half the slots may be reading bodies; the rest stay for readers (docs/blog.md).
    let state = state.with_body_reads(limits.max_connections / 2);
    server::serve_with(
        listener,
        blog::web::app(state),
        server::shutdown_signal(),
        limits,
    )
    .await
    .context("serving")?;
    Ok(ExitCode::SUCCESS)
}
