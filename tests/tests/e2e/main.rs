//! The cross-crate end-to-end tests, in one test binary (linking both crates and the AWS SDK once
//! instead of once per area). One module per area; run one area with a filter, for example
//! `cargo test -p bluegreen-tests --test e2e local_release::`. The support code they share is
//! in the `bluegreen_tests` library: `aws`, `moto`, `local`, `blog_http`, `terraform`, `bins`.
//!
//! Every test runs in this one process, alongside the others: a test keeps what it starts to
//! itself (its own moto server, temporary directory, daemon, ports and tmux socket) and changes
//! nothing process-wide (no environment variables, no current directory, no signal handlers).

mod aws_bake;
mod aws_bench;
mod aws_budget;
mod aws_cli;
mod aws_doctor;
mod aws_drift;
mod aws_faults;
mod aws_journal;
mod aws_lock;
mod aws_logs;
mod aws_platform;
mod aws_record;
mod aws_release;
mod aws_release_resume;
mod aws_smoke;
mod blog_browser;
mod blog_dynamodb;
mod blog_flood;
mod blog_slow_reader;
mod blog_two_process_sqlite;
mod cli_shell;
mod delivery_buildspec_run;
mod delivery_image;
mod delivery_operator_policy;
mod delivery_terraform;
mod demo_captures;
mod local_control;
mod local_drift;
mod local_fault;
mod local_guard;
mod local_hostile;
mod local_inject;
mod local_journal;
mod local_lock;
mod local_plan;
mod local_release;
mod local_release_rules;
mod local_restart;
mod local_wait;
mod tui_tmux;
