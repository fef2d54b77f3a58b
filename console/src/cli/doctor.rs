//! `bluegreen doctor`: runs the checks of [`crate::doctor`] for the selected profile and prints
//! them. It never needs the platform to work, so it selects the profile without connecting.

use serde_json::Value;

use super::Global;
use super::connect::{self, Selected};
use super::local::default_source_dir;
use super::outcome::{Failure, Outcome};
use super::output;
use crate::doctor::{self, Report};
use crate::ops::exit;
use crate::platform::aws::AwsOptions;

pub(super) async fn run(g: &Global) -> Outcome {
    let selected = connect::select(g).map_err(|e| Failure {
        code: exit::FAILURE,
        message: format!("{e:#}"),
        detail: Value::Null,
    })?;
    let report = match selected {
        Selected::Local {
            profile, state_dir, ..
        } => Report {
            profile,
            platform: format!("local ({})", state_dir.display()),
            checks: doctor::local::check(&state_dir, default_source_dir()).await,
        },
        Selected::Aws { profile, cfg, .. } => {
            let opts = AwsOptions {
                aws_profile: g.aws_profile.clone(),
                region: g.region.clone(),
            };
            // The gates' alarms and the smoke checks are the profile's release settings.
            let release = match connect::config_file(g) {
                Ok(Some(file)) => file
                    .profile(g.profile.as_deref())
                    .map(|p| p.release.clone())
                    .unwrap_or_default(),
                _ => Default::default(),
            };
            let (platform, checks) = doctor::aws::check(&profile, &cfg, &opts, &release).await;
            Report {
                profile,
                platform,
                checks,
            }
        }
    };
    if g.json {
        let mut doc = report.json();
        if report.platform.starts_with("aws") {
            doc["permissions"] = serde_json::json!({ "needed": doctor::aws::needed_actions() });
        }
        output::out_json(&serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        output::out(&report.human());
    }
    Ok(report.exit_code())
}
