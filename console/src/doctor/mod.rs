//! `bluegreen doctor`: checks that a profile will work before the first release needs it, and
//! says how to fix what will not. AWS profiles ([`aws`]): credentials, identity, permissions,
//! every resource and how they fit together. Local profiles ([`local`]): the state directory,
//! the daemon, the ports, the source checkout and cargo.
//!
//! Each check ends in pass, warn (works, but something is off or could not be checked) or
//! fail (a release would fail); any fail makes the exit code [`crate::ops::exit::REFUSED`].

use serde::Serialize;
use serde_json::{Value, json};

pub mod aws;
pub mod local;

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked, short: `listener forward`, `blue service`.
    pub name: String,
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// The way to fix it, for a warn or a fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn warn(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::with_fix(Status::Warn, name.into(), detail.into(), fix.into())
    }

    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::with_fix(Status::Fail, name.into(), detail.into(), fix.into())
    }

    fn with_fix(status: Status, name: String, detail: String, fix: String) -> Self {
        Check {
            name,
            status,
            detail,
            fix: Some(fix),
        }
    }
}

/// Everything one run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub profile: String,
    /// `aws (us-east-1)` or `local (./.bluegreen)`.
    pub platform: String,
    pub checks: Vec<Check>,
}

impl Report {
    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    pub fn failed(&self) -> bool {
        self.count(Status::Fail) > 0
    }

    /// 0 when nothing failed, 3 when something did.
    pub fn exit_code(&self) -> i32 {
        if self.failed() {
            crate::ops::exit::REFUSED
        } else {
            crate::ops::exit::OK
        }
    }

    /// The list for a terminal: one line per check, its fix indented below it.
    pub fn human(&self) -> String {
        let width = self
            .checks
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = format!("doctor: profile `{}` on {}\n", self.profile, self.platform);
        for c in &self.checks {
            out += &format!(
                "  {}  {:<width$}  {}\n",
                c.status.as_str(),
                c.name,
                c.detail
            );
            if let Some(fix) = &c.fix {
                out += &format!("        {:<width$}  fix: {fix}\n", "");
            }
        }
        out += &format!(
            "summary: {} pass · {} warn · {} fail",
            self.count(Status::Pass),
            self.count(Status::Warn),
            self.count(Status::Fail)
        );
        out
    }

    /// The `--json` document.
    pub fn json(&self) -> Value {
        json!({
            "ok": !self.failed(),
            "exit_code": self.exit_code(),
            "profile": self.profile,
            "platform": self.platform,
            "checks": self.checks,
            "summary": {
                "pass": self.count(Status::Pass),
                "warn": self.count(Status::Warn),
                "fail": self.count(Status::Fail),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(checks: Vec<Check>) -> Report {
        Report {
            profile: "prod".into(),
            platform: "aws (eu-west-1)".into(),
            checks,
        }
    }

    #[test]
    fn a_warning_alone_exits_zero_and_a_failure_exits_three() {
        let warned = report(vec![
            Check::pass("identity", "arn:aws:iam::1:user/me"),
            Check::warn(
                "permissions",
                "cannot check",
                "grant iam:SimulatePrincipalPolicy",
            ),
        ]);
        assert_eq!(warned.exit_code(), 0);
        assert_eq!(warned.json()["ok"], true);
        let failed = report(vec![Check::fail(
            "ecr repository",
            "not found",
            "create it",
        )]);
        assert_eq!(failed.exit_code(), 3);
        assert_eq!(failed.json()["summary"]["fail"], 1);
    }

    #[test]
    fn the_list_aligns_names_and_puts_each_fix_under_its_check() {
        let text = report(vec![
            Check::pass("region", "eu-west-1"),
            Check::fail("blue service", "not found", "apply the service stack"),
        ])
        .human();
        assert_eq!(
            text,
            "doctor: profile `prod` on aws (eu-west-1)\n  \
             pass  region        eu-west-1\n  \
             fail  blue service  not found\n                      \
             fix: apply the service stack\n\
             summary: 1 pass · 0 warn · 1 fail"
        );
    }
}
