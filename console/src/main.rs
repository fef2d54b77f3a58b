//! `bluegreen`: the console (no command) and the headless CLI.

use clap::Parser;

fn main() {
    let cli = match bluegreen::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => std::process::exit(bluegreen::cli::usage_failure(&e, std::env::args_os())),
    };
    // Diagnostics only on request, and never while the console owns the terminal.
    if cli.command.is_some()
        && let Ok(filter) = std::env::var("BLUEGREEN_LOG")
    {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "error: cannot start the async runtime: {e}"
            );
            std::process::exit(bluegreen::ops::exit::FAILURE);
        }
    };
    let code = runtime.block_on(bluegreen::cli::run(cli));
    std::process::exit(code);
}
