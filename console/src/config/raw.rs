//! The file as written: every key optional and spanned, unknown keys rejected by serde. Then
//! one validation pass turns it into [`super::ConfigFile`], naming the line of whatever is
//! wrong or missing.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{
    AwsProfile, ColorResources, ConfigError, ConfigFile, ListenerRef, LocalProfile, Profile, Target,
};
use crate::rollout::{Color, PerColor, limits};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    default_profile: Option<Spanned<String>>,
    #[serde(default)]
    profiles: BTreeMap<String, Spanned<RawProfile>>,
    #[serde(default)]
    plans: BTreeMap<String, Spanned<super::plans::RawPlan>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    platform: Option<Spanned<String>>,
    read_only: Option<bool>,
    /// Read as any TOML integer, so a negative or huge value is refused naming the range.
    max_tasks: Option<Spanned<i64>>,
    state_dir: Option<String>,
    region: Option<String>,
    aws_profile: Option<String>,
    cluster: Option<String>,
    load_balancer: Option<String>,
    prod_listener: Option<Spanned<String>>,
    test_listener: Option<Spanned<String>>,
    codebuild_project: Option<String>,
    ecr_repository: Option<String>,
    container: Option<String>,
    call_timeout: Option<Spanned<i64>>,
    blue: Option<Spanned<RawColor>>,
    green: Option<Spanned<RawColor>>,
    plan: Option<Spanned<String>>,
    gates: Option<Spanned<crate::rollout::GateConfig>>,
    /// The checks, or `[profiles.X.smoke]` with where they run ([`super::smoke`]).
    smoke: Option<Spanned<super::smoke::RawSmoke>>,
    scale_in_on_rollback: Option<bool>,
    journal_table: Option<String>,
    /// The DynamoDB table of the deploy lock (Terraform's `lock_table_name`).
    lock_table: Option<String>,
    /// `[profiles.X.guard]` and `[profiles.X.probe]` ([`super::watch`]).
    guard: Option<Spanned<super::watch::RawGuard>>,
    probe: Option<Spanned<super::watch::RawProbe>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColor {
    service: Option<String>,
    task_family: Option<String>,
    target_group: Option<String>,
    log_group: Option<String>,
    log_stream_prefix: Option<String>,
}

/// Byte offsets to `line:column` (both 1-based). The keymap file's errors use it too.
pub(crate) struct Lines<'a> {
    pub(crate) path: &'a Path,
    pub(crate) text: &'a str,
}

impl Lines<'_> {
    fn at(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rfind('\n')
            .map_or(before.len(), |i| before.len() - i - 1)
            + 1;
        (line, column)
    }

    pub(crate) fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = self.at(span.start);
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }
}

pub(super) fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
    let lines = Lines { path, text };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        lines.error(span, e.message().trim().to_string())
    })?;
    // BTreeMap loses file order; the spans keep it.
    let mut entries: Vec<_> = raw.profiles.into_iter().collect();
    entries.sort_by_key(|(_, p)| p.span().start);
    let file_plans = super::plans::plans(&lines, raw.plans)?;
    let mut profiles = Vec::with_capacity(entries.len());
    for (name, spanned) in entries {
        profiles.push(profile(&lines, name, spanned, &file_plans)?);
    }
    let default_profile = match raw.default_profile {
        Some(d) => {
            let span = d.span();
            let name = d.into_inner();
            if !profiles.iter().any(|p| p.name == name) {
                return Err(lines.error(
                    span,
                    format!(
                        "default_profile names `{name}`, which is not a [profiles.{name}] table"
                    ),
                ));
            }
            Some(name)
        }
        None => None,
    };
    Ok(ConfigFile {
        path: PathBuf::from(path),
        default_profile,
        profiles,
    })
}

fn profile(
    lines: &Lines,
    name: String,
    spanned: Spanned<RawProfile>,
    file_plans: &super::plans::FilePlans,
) -> Result<Profile, ConfigError> {
    let span = spanned.span();
    let mut raw = spanned.into_inner();
    let aws_platform = raw
        .platform
        .as_ref()
        .is_none_or(|p| p.get_ref().as_str() == "aws");
    let (smoke, smoke_from) = super::smoke::split(lines, &name, aws_platform, raw.smoke.take())?;
    let release_raw = super::plans::RawRelease {
        plan: raw.plan.take(),
        gates: raw.gates.take(),
        smoke,
        scale_in_on_rollback: raw.scale_in_on_rollback.take(),
    };
    let (raw_guard, raw_probe) = (raw.guard.take(), raw.probe.take());
    let platform = match &raw.platform {
        None => "aws",
        Some(p) => {
            match p.get_ref().as_str() {
                "aws" => "aws",
                "local" => "local",
                other => {
                    return Err(lines.error(
                    p.span(),
                    format!("profile `{name}`: platform `{other}` is unknown; expected `aws` or `local`"),
                ));
                }
            }
        }
    };
    let read_only = raw.read_only.unwrap_or(false);
    let max_tasks = match &raw.max_tasks {
        None => limits::DEFAULT_MAX_TASKS,
        Some(m) if (1..=limits::MAX_TASKS_CEILING as i64).contains(m.get_ref()) => {
            *m.get_ref() as u32
        }
        Some(m) => {
            return Err(lines.error(
                m.span(),
                format!(
                    "profile `{name}`: max_tasks = {} is out of range; use 1 to {} (tasks per color)",
                    m.get_ref(),
                    limits::MAX_TASKS_CEILING
                ),
            ));
        }
    };
    let target = if platform == "local" {
        let aws_keys = [
            ("region", raw.region.is_some()),
            ("aws_profile", raw.aws_profile.is_some()),
            ("cluster", raw.cluster.is_some()),
            ("load_balancer", raw.load_balancer.is_some()),
            ("prod_listener", raw.prod_listener.is_some()),
            ("test_listener", raw.test_listener.is_some()),
            ("codebuild_project", raw.codebuild_project.is_some()),
            ("ecr_repository", raw.ecr_repository.is_some()),
            ("container", raw.container.is_some()),
            ("call_timeout", raw.call_timeout.is_some()),
            ("blue", raw.blue.is_some()),
            ("lock_table", raw.lock_table.is_some()),
            ("green", raw.green.is_some()),
            ("journal_table", raw.journal_table.is_some()),
        ];
        if let Some((key, _)) = aws_keys.iter().find(|(_, present)| *present) {
            return Err(lines.error(
                span,
                format!("profile `{name}` is local, but sets the AWS key `{key}`; remove it or drop `platform = \"local\"`"),
            ));
        }
        Target::Local(LocalProfile {
            state_dir: raw.state_dir.map(PathBuf::from),
        })
    } else {
        if raw.state_dir.is_some() {
            return Err(lines.error(
                span,
                format!("profile `{name}` is an AWS profile; `state_dir` applies only to `platform = \"local\"`"),
            ));
        }
        let mut aws = aws(lines, &name, span.clone(), raw)?;
        aws.smoke_from = smoke_from;
        Target::Aws(Box::new(aws))
    };
    let release = super::plans::settings(
        lines,
        &name,
        matches!(target, Target::Aws(_)),
        file_plans,
        release_raw,
    )?;
    let watch = super::watch::settings(
        lines,
        &name,
        raw_guard,
        raw_probe,
        &release.gates,
        &release.smoke,
    )?;
    Ok(Profile {
        name,
        read_only,
        max_tasks,
        target,
        release,
        watch,
    })
}

fn aws(
    lines: &Lines,
    name: &str,
    span: Range<usize>,
    raw: RawProfile,
) -> Result<AwsProfile, ConfigError> {
    let absent = [
        ("cluster", raw.cluster.is_none()),
        ("prod_listener", raw.prod_listener.is_none()),
        ("codebuild_project", raw.codebuild_project.is_none()),
        ("ecr_repository", raw.ecr_repository.is_none()),
    ];
    if let Some(keys) = missing_keys(&absent) {
        return Err(lines.error(span, format!("profile `{name}` is missing {keys}")));
    }
    let missing = |key: &str| {
        lines.error(
            span.clone(),
            format!("profile `{name}` is missing the key `{key}`"),
        )
    };
    let listener = |value: Spanned<String>, key: &str| {
        let span = value.span();
        ListenerRef::parse(value.get_ref())
            .map_err(|m| lines.error(span, format!("profile `{name}`, key `{key}`: {m}")))
    };
    let prod_listener = listener(
        raw.prod_listener.ok_or_else(|| missing("prod_listener"))?,
        "prod_listener",
    )?;
    let test_listener = raw
        .test_listener
        .map(|t| listener(t, "test_listener"))
        .transpose()?;
    let call_timeout = match raw.call_timeout {
        Some(t) if !(1..=600).contains(t.get_ref()) => {
            return Err(lines.error(
                t.span(),
                format!("profile `{name}`: call_timeout must be 1..=600 seconds"),
            ));
        }
        Some(t) => Some(std::time::Duration::from_secs(
            t.into_inner().unsigned_abs(),
        )),
        None => None,
    };
    let blue = color(lines, name, Color::Blue, span.clone(), raw.blue)?;
    let green = color(lines, name, Color::Green, span.clone(), raw.green)?;
    Ok(AwsProfile {
        region: raw.region,
        aws_profile: raw.aws_profile,
        cluster: raw.cluster.ok_or_else(|| missing("cluster"))?,
        load_balancer: raw.load_balancer,
        prod_listener,
        test_listener,
        codebuild_project: raw
            .codebuild_project
            .ok_or_else(|| missing("codebuild_project"))?,
        ecr_repository: raw
            .ecr_repository
            .ok_or_else(|| missing("ecr_repository"))?,
        container: raw.container,
        call_timeout,
        colors: PerColor::new(blue, green),
        journal_table: raw.journal_table,
        lock_table: raw.lock_table.filter(|t| !t.trim().is_empty()),
        smoke_from: super::SmokeFrom::Here,
    })
}

fn color(
    lines: &Lines,
    profile: &str,
    color: Color,
    profile_span: Range<usize>,
    raw: Option<Spanned<RawColor>>,
) -> Result<ColorResources, ConfigError> {
    let Some(raw) = raw else {
        return Err(lines.error(
            profile_span,
            format!("profile `{profile}` is missing the table [profiles.{profile}.{color}]"),
        ));
    };
    let span = raw.span();
    let raw = raw.into_inner();
    let absent = [
        ("service", raw.service.is_none()),
        ("task_family", raw.task_family.is_none()),
        ("target_group", raw.target_group.is_none()),
        ("log_group", raw.log_group.is_none()),
        ("log_stream_prefix", raw.log_stream_prefix.is_none()),
    ];
    if let Some(keys) = missing_keys(&absent) {
        return Err(lines.error(
            span,
            format!("[profiles.{profile}.{color}] is missing {keys}"),
        ));
    }
    let missing = |key: &str| {
        lines.error(
            span.clone(),
            format!("[profiles.{profile}.{color}] is missing the key `{key}`"),
        )
    };
    Ok(ColorResources {
        service: raw.service.ok_or_else(|| missing("service"))?,
        task_family: raw.task_family.ok_or_else(|| missing("task_family"))?,
        target_group: raw.target_group.ok_or_else(|| missing("target_group"))?,
        log_group: raw.log_group.ok_or_else(|| missing("log_group"))?,
        log_stream_prefix: raw
            .log_stream_prefix
            .ok_or_else(|| missing("log_stream_prefix"))?,
    })
}

/// "the key `a`" or "the keys `a`, `b`", for the keys marked absent; `None` when none is.
fn missing_keys(keys: &[(&str, bool)]) -> Option<String> {
    let names: Vec<String> = keys
        .iter()
        .filter(|(_, absent)| *absent)
        .map(|(k, _)| format!("`{k}`"))
        .collect();
    match names.len() {
        0 => None,
        1 => Some(format!("the key {}", names[0])),
        _ => Some(format!("the keys {}", names.join(", "))),
    }
}
