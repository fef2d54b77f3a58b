//! The buildspec format (version 0.2): the parts the local runner executes.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid buildspec: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct BuildSpec {
    pub version: serde_yaml_ng::Value,
    #[serde(default)]
    pub env: Env,
    #[serde(default)]
    pub phases: Phases,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Env {
    pub shell: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    pub exported_variables: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Phases {
    pub install: Option<Phase>,
    pub pre_build: Option<Phase>,
    pub build: Option<Phase>,
    pub post_build: Option<Phase>,
}

/// What a failing command does to the build: abort it (the default) or carry on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OnFailure {
    #[default]
    Abort,
    Continue,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Phase {
    #[serde(default)]
    pub commands: Vec<String>,
    #[serde(default)]
    pub finally: Vec<String>,
    #[serde(rename = "on-failure", default)]
    pub on_failure: OnFailure,
}

impl BuildSpec {
    pub fn load(path: &Path) -> Result<BuildSpec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|message| SpecError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<BuildSpec, String> {
        let spec: BuildSpec = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        let version = match &spec.version {
            serde_yaml_ng::Value::Number(n) => n.to_string(),
            serde_yaml_ng::Value::String(s) => s.clone(),
            other => format!("{other:?}"),
        };
        if version != "0.2" {
            return Err(format!(
                "version `{version}` is not supported; use `version: 0.2`"
            ));
        }
        for name in spec.env.variables.keys() {
            if !is_shell_name(name) {
                return Err(format!(
                    "env.variables: `{name}` is not a valid variable name"
                ));
            }
        }
        for name in &spec.env.exported_variables {
            if !is_shell_name(name) {
                return Err(format!(
                    "env.exported-variables: `{name}` is not a valid variable name"
                ));
            }
        }
        Ok(spec)
    }

    /// `env.variables` as strings (YAML numbers and booleans included).
    pub fn variables(&self) -> Vec<(String, String)> {
        self.env
            .variables
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    serde_yaml_ng::Value::String(s) => s.clone(),
                    serde_yaml_ng::Value::Number(n) => n.to_string(),
                    serde_yaml_ng::Value::Bool(b) => b.to_string(),
                    serde_yaml_ng::Value::Null => String::new(),
                    other => serde_yaml_ng::to_string(other).unwrap_or_default(),
                };
                (k.clone(), value)
            })
            .collect()
    }
}

pub fn is_shell_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_phases_and_variables() {
        let spec = BuildSpec::parse(
            "version: 0.2\nenv:\n  shell: bash\n  variables:\n    A: 1\n    B: x\n  exported-variables: [A]\nphases:\n  build:\n    on-failure: CONTINUE\n    commands:\n      - echo hi\n",
        )
        .expect("valid");
        assert_eq!(
            spec.variables(),
            vec![("A".into(), "1".into()), ("B".into(), "x".into())]
        );
        let build = spec.phases.build.expect("build phase");
        assert_eq!(build.commands, vec!["echo hi"]);
        assert_eq!(build.on_failure, OnFailure::Continue);
        assert!(spec.phases.install.is_none());
    }

    #[test]
    fn rejects_other_versions_and_bad_names() {
        let err = BuildSpec::parse("version: 0.1\n").expect_err("old version");
        assert!(err.contains("0.1"), "{err}");
        let err = BuildSpec::parse("version: 0.2\nenv:\n  variables:\n    1A: x\n")
            .expect_err("bad name");
        assert!(err.contains("1A"), "{err}");
    }

    mod proptests {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::prop::config())]

            #[test]
            fn any_text_is_a_buildspec_or_an_error(
                text in "\\PC{0,80}|version: 0\\.2\\nphases:\\n  (build|install):\\n    commands:\\n      - \\PC{0,10}",
            ) {
                if let Err(e) = BuildSpec::parse(&text) {
                    prop_assert!(!e.is_empty());
                }
            }
        }
    }
}
