//! `bluegreen lock [take|release|hand-over]`: the deploy lock by hand (docs/runbook.md).

use clap::Subcommand;
use serde_json::json;

use super::outcome::{Failure, Out, Outcome};
use super::shell;
use crate::clock::now_millis;
use crate::ops::lock::LockOutcome;
use crate::ops::{Ops, exit};
use crate::rollout::lock::{DEFAULT_TAKE_MS, parse_lease};

#[derive(Debug, Clone, Subcommand)]
pub enum LockCommand {
    /// Takes the lock for a while (default 4 h), so nobody else writes: give `--reason`.
    #[command(after_long_help = shell::LOCK_TAKE)]
    Take {
        /// How long: 30m, 4h, 1h30m (1 minute to 24 hours).
        #[arg(long = "for", value_name = "DURATION", value_parser = parse_lease)]
        lease: Option<i64>,
    },
    /// Lets go of your lock; `--force` frees someone else's (say why with `--reason`).
    #[command(after_long_help = shell::LOCK_RELEASE)]
    Release {
        #[arg(long)]
        force: bool,
    },
    /// Hands your lock to another operator (their name, from any host).
    #[command(after_long_help = shell::LOCK_HAND_OVER)]
    HandOver {
        #[arg(long, value_name = "NAME")]
        to: String,
    },
}

pub(super) async fn run(ops: &Ops, action: Option<LockCommand>, out: &Out) -> Outcome {
    let now = now_millis();
    let Some(action) = action else {
        let record = ops.lock_status().await?;
        let human = match &record {
            Some(r) => format!("{}\n{}", ops.lock_header(Some(r), now), r.describe(now)),
            None => "lock: free (every write takes it for its own duration)".to_string(),
        };
        out.print(
            &human,
            json!({ "ok": true, "lock": record, "free": record.as_ref().is_none_or(|r| r.expired_at(now)) }),
        );
        return Ok(exit::OK);
    };
    let (verb, outcome) = match action {
        LockCommand::Take { lease } => {
            if ops.reason().is_none() {
                return Err(Failure {
                    code: exit::FAILURE,
                    message: "`lock take` needs a reason others can read: add --reason TEXT (for example --reason \"db migration\")".into(),
                    detail: json!(null),
                });
            }
            (
                "taken",
                ops.lock_take(lease.unwrap_or(DEFAULT_TAKE_MS)).await?,
            )
        }
        LockCommand::Release { force } => ("released", ops.lock_release(force).await?),
        LockCommand::HandOver { to } => ("handed over", ops.lock_hand_over(&to).await?),
    };
    out.print(
        &describe(verb, &outcome, now),
        json!({ "ok": true, "lock": outcome }),
    );
    Ok(exit::OK)
}

fn describe(verb: &str, o: &LockOutcome, now: i64) -> String {
    let mut s = match &o.record {
        Some(r) => format!("lock {verb}: {}", r.describe(now)),
        None => format!("lock {verb}: free"),
    };
    if let Some(p) = &o.previous {
        s.push_str(&format!("\nforced: it was held by {}", p.describe(now)));
    }
    if let Some(e) = &o.expired {
        s.push_str(&format!("\nreplaced an ended lease: {}", e.describe(now)));
    }
    s
}
