//! `bluegreen init --from-terraform FILE…`: a profile from `terraform output -json`. Several
//! files (base state, service state) are merged; the output names are fixed (docs/architecture.md, "Rules the code relies on").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigFile;

/// Why no profile could be written.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not `terraform output -json` output: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: output `{name}` is not a string")]
    NotString { path: PathBuf, name: String },
    #[error("output `{name}` differs between {first} and {second}")]
    Conflict {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("missing Terraform output(s) {} (read: {})", .missing.join(", "), .files.join(", "))]
    Missing {
        missing: Vec<String>,
        files: Vec<String>,
    },
    #[error(
        "{path} already has a profile `{profile}`; update it from these outputs with `bluegreen --profile {profile} init --from-terraform FILE… --update`, or pick another name with --profile"
    )]
    Exists { path: PathBuf, profile: String },
    #[error("{path} does not parse as TOML ({message}); fix it by hand first")]
    Toml { path: PathBuf, message: String },
    #[error(transparent)]
    Config(#[from] super::ConfigError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Deserialize)]
struct Output {
    value: serde_json::Value,
}

/// The outputs, merged over all files: name → (value, file it came from).
#[derive(Debug, Default)]
pub struct Outputs {
    values: BTreeMap<String, (String, PathBuf)>,
    files: Vec<PathBuf>,
}

/// Outputs the console needs, in the order the profile lists them.
pub const REQUIRED: &[&str] = &[
    "region",
    "cluster_name",
    "prod_listener_arn",
    "codebuild_project_name",
    "ecr_repository_name",
    "blue_service_name",
    "green_service_name",
    "blue_task_family",
    "green_task_family",
    "blue_target_group_arn",
    "green_target_group_arn",
    "log_group_name",
    "blue_log_stream_prefix",
    "green_log_stream_prefix",
];

/// Outputs used when present.
pub const OPTIONAL: &[&str] = &[
    "load_balancer_arn",
    "test_listener_arn",
    "journal_table_name",
    "lock_table_name",
];

impl Outputs {
    /// Reads and merges the files. A name present in two files must agree.
    pub fn read(files: &[PathBuf]) -> Result<Self, InitError> {
        let mut outputs = Outputs::default();
        for path in files {
            let text = std::fs::read_to_string(path).map_err(|source| InitError::Read {
                path: path.clone(),
                source,
            })?;
            outputs.merge(path, &text)?;
        }
        Ok(outputs)
    }

    /// Merges one file's contents.
    pub fn merge(&mut self, path: &Path, text: &str) -> Result<(), InitError> {
        let parsed: BTreeMap<String, Output> =
            serde_json::from_str(text).map_err(|source| InitError::Json {
                path: path.to_path_buf(),
                source,
            })?;
        for (name, out) in parsed {
            let value = match out.value {
                serde_json::Value::String(s) => s,
                // Values the console does not use may be anything (lists, maps).
                _ if !REQUIRED.contains(&name.as_str()) && !OPTIONAL.contains(&name.as_str()) => {
                    continue;
                }
                _ => {
                    return Err(InitError::NotString {
                        path: path.to_path_buf(),
                        name,
                    });
                }
            };
            if let Some((old, first)) = self.values.get(&name)
                && *old != value
            {
                return Err(InitError::Conflict {
                    name,
                    first: first.clone(),
                    second: path.to_path_buf(),
                });
            }
            self.values.insert(name, (value, path.to_path_buf()));
        }
        self.files.push(path.to_path_buf());
        Ok(())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|(v, _)| v.as_str())
    }

    /// The profile's TOML text, or the list of missing outputs. `aws_profile` is the AWS
    /// credentials profile to record with it (`--aws-profile` at init time).
    pub fn profile_toml(
        &self,
        profile: &str,
        aws_profile: Option<&str>,
    ) -> Result<String, InitError> {
        let missing: Vec<String> = REQUIRED
            .iter()
            .filter(|n| self.get(n).is_none())
            .map(|n| n.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(InitError::Missing {
                missing,
                files: self.files.iter().map(|f| f.display().to_string()).collect(),
            });
        }
        let v = |n: &str| toml_string(self.get(n).unwrap_or_default());
        let key = toml_key(profile);
        let mut out = format!(
            "\n# Written by `bluegreen init --from-terraform` from {}.\n[profiles.{key}]\n",
            self.files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        out += &format!("region = {}\n", v("region"));
        if let Some(p) = aws_profile {
            out += &format!("aws_profile = {}\n", toml_string(p));
        }
        out += &format!("cluster = {}\n", v("cluster_name"));
        if self.get("load_balancer_arn").is_some() {
            out += &format!("load_balancer = {}\n", v("load_balancer_arn"));
        }
        out += &format!("prod_listener = {}\n", v("prod_listener_arn"));
        if self.get("test_listener_arn").is_some() {
            out += &format!("test_listener = {}\n", v("test_listener_arn"));
        }
        out += &format!("codebuild_project = {}\n", v("codebuild_project_name"));
        out += &format!("ecr_repository = {}\n", v("ecr_repository_name"));
        if self.get("journal_table_name").is_some() {
            out += &format!("journal_table = {}\n", v("journal_table_name"));
        }
        if self.get("lock_table_name").is_some() {
            out += &format!("lock_table = {}\n", v("lock_table_name"));
        }
        for color in ["blue", "green"] {
            out += &format!("\n[profiles.{key}.{color}]\n");
            out += &format!("service = {}\n", v(&format!("{color}_service_name")));
            out += &format!("task_family = {}\n", v(&format!("{color}_task_family")));
            out += &format!(
                "target_group = {}\n",
                v(&format!("{color}_target_group_arn"))
            );
            out += &format!("log_group = {}\n", v("log_group_name"));
            out += &format!(
                "log_stream_prefix = {}\n",
                v(&format!("{color}_log_stream_prefix"))
            );
        }
        Ok(out)
    }
}

/// Appends the profile to `config` (creating it), leaving everything already there as
/// written. Refuses to replace an existing profile. Returns the profile's text.
pub fn init(config: &Path, profile: &str, files: &[PathBuf]) -> Result<String, InitError> {
    init_with(config, profile, None, files, false)
}

/// Sets `keys` (name, string value) in profile `profile` of `config`, every other key,
/// profile and comment kept. For `init --create-tables`.
pub fn set_profile_keys(
    config: &Path,
    profile: &str,
    keys: &[(&str, &str)],
) -> Result<(), InitError> {
    let existing = std::fs::read_to_string(config).map_err(|source| InitError::Read {
        path: config.to_path_buf(),
        source,
    })?;
    let mut text = format!("[profiles.{}]\n", toml_key(profile));
    for (k, v) in keys {
        text += &format!("{k} = {}\n", toml_string(v));
    }
    let combined = updated(config, &existing, &text)?;
    ConfigFile::parse(config, &combined)?;
    std::fs::write(config, combined).map_err(|source| InitError::Write {
        path: config.to_path_buf(),
        source,
    })
}

/// Merges `fresh` into `into`: tables key by key, every other value replaced in place (its
/// key keeps its place and the comments around it), new keys added at the table's end.
fn merge(into: &mut dyn toml_edit::TableLike, fresh: &dyn toml_edit::TableLike) {
    for (k, item) in fresh.iter() {
        match into.get_mut(k) {
            Some(old) if old.is_table_like() && item.is_table_like() => {
                if let (Some(old), Some(new)) = (old.as_table_like_mut(), item.as_table_like()) {
                    merge(old, new);
                }
            }
            Some(toml_edit::Item::Value(old)) if item.is_value() => {
                let decor = old.decor().clone();
                if let Some(new) = item.as_value() {
                    *old = new.clone();
                    *old.decor_mut() = decor;
                }
            }
            _ => {
                into.insert(k, item.clone());
            }
        }
    }
}

/// The file `existing` with profile `profile`'s keys that Terraform's outputs give replaced
/// by `text`'s (`init --update`, `init --create-tables`): every other key of the profile
/// (plans, gates, hooks, `read_only`) and every other profile stay, and so do the file's
/// comments, blank lines and key order (edited with toml_edit, not rewritten).
fn updated(path: &Path, existing: &str, text: &str) -> Result<String, InitError> {
    let toml_error = |e: toml_edit::TomlError| InitError::Toml {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    };
    let mut doc: toml_edit::DocumentMut = existing.parse().map_err(toml_error)?;
    let fresh: toml_edit::DocumentMut = text.parse().map_err(toml_error)?;
    merge(doc.as_table_mut(), fresh.as_table());
    Ok(doc.to_string())
}

/// [`init`], also recording the AWS credentials profile (`--aws-profile` at init time).
pub fn init_with(
    config: &Path,
    profile: &str,
    aws_profile: Option<&str>,
    files: &[PathBuf],
    update: bool,
) -> Result<String, InitError> {
    let outputs = Outputs::read(files)?;
    let text = outputs.profile_toml(profile, aws_profile)?;
    let existing = match std::fs::read_to_string(config) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(InitError::Read {
                path: config.to_path_buf(),
                source,
            });
        }
    };
    let mut exists = false;
    if !existing.trim().is_empty() {
        let parsed = ConfigFile::parse(config, &existing)?;
        exists = parsed.profiles.iter().any(|p| p.name == profile);
        if exists && !update {
            return Err(InitError::Exists {
                path: config.to_path_buf(),
                profile: profile.to_string(),
            });
        }
    }
    let combined = if exists {
        updated(config, &existing, &text)?
    } else {
        let mut combined = existing.clone();
        if !combined.is_empty() && !combined.ends_with('\n') {
            combined.push('\n');
        }
        combined + &text
    };
    // Validate before writing, so a broken file is never left behind.
    ConfigFile::parse(config, &combined)?;
    std::fs::write(config, combined).map_err(|source| InitError::Write {
        path: config.to_path_buf(),
        source,
    })?;
    Ok(text)
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A bare key when possible, else quoted.
fn toml_key(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        s.to_string()
    } else {
        toml_string(s)
    }
}
