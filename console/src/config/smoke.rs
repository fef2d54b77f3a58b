//! Where a release's smoke checks run: the profile's `smoke`, either the list of checks alone
//! (`smoke = [{ path = "/health" }]`, run from here through the test listener) or a table:
//!
//! ```toml
//! [profiles.prod.smoke]
//! from = "task"        # "here" (default) | "url" | "task" | "skip"
//! checks = [{ path = "/health" }, { path = "/", body_contains = "Blog" }]
//! command = ["curl", "-fsS", "--max-time", "10"]   # from = "task": the checker in the image
//! # url = "http://blog-test.internal:8080"          # from = "url"
//! # skip_reason = "the test listener is HTTPS-only" # from = "skip" (journaled)
//! ```

use std::ops::Range;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

use super::{ConfigError, Lines};
use crate::rollout::SmokeCheck;

/// The most arguments of a smoke task's command, and the longest one.
const MAX_COMMAND_ARGS: usize = 64;
const MAX_ARG: usize = 1024;
/// The longest URL or skip reason.
const MAX_TEXT: usize = 500;

/// Where a release's smoke checks run (`[profiles.X.smoke]`, key `from`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SmokeFrom {
    /// From this machine, through the test listener (plain HTTP): the default.
    #[default]
    Here,
    /// From this machine, at another address that reaches the idle color alone (`url`,
    /// `http://HOST[:PORT]`, a path prefix allowed).
    Url(String),
    /// Inside the VPC: a one-off task of the idle color's own task definition, in its
    /// service's network, whose command is `command` followed by each check's URL through
    /// the test listener; its exit code decides, and its log lines are shown.
    Task { command: Vec<String> },
    /// Not at all, for this reason, journaled with each release.
    Skip { reason: String },
}

impl SmokeFrom {
    /// `here`, `url`, `task` or `skip`: the value of `from`.
    pub fn name(&self) -> &'static str {
        match self {
            SmokeFrom::Here => "here",
            SmokeFrom::Url(_) => "url",
            SmokeFrom::Task { .. } => "task",
            SmokeFrom::Skip { .. } => "skip",
        }
    }
}

/// `smoke` as written: the list of checks, or the table.
pub(super) enum RawSmoke {
    Checks(Vec<SmokeCheck>),
    Table(RawSmokeTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSmokeTable {
    from: Option<Spanned<String>>,
    checks: Option<Spanned<Vec<SmokeCheck>>>,
    url: Option<Spanned<String>>,
    command: Option<Spanned<Vec<String>>>,
    skip_reason: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawSmoke {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = RawSmoke;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of smoke checks, or a table with `from` and `checks`")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawSmoke, A::Error> {
                Vec::<SmokeCheck>::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(RawSmoke::Checks)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawSmoke, A::Error> {
                RawSmokeTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawSmoke::Table)
            }
        }
        d.deserialize_any(Either)
    }
}

/// The checks as written, with their span, if any.
type SpannedChecks = Option<Spanned<Vec<SmokeCheck>>>;

/// The checks (spanned, for [`super::plans::settings`]) and where they run. `aws`: the
/// profile is an AWS one (only `here` and `skip` mean anything locally, and `here` is all a
/// local profile does).
pub(super) fn split(
    lines: &Lines,
    profile: &str,
    aws: bool,
    raw: Option<Spanned<RawSmoke>>,
) -> Result<(SpannedChecks, SmokeFrom), ConfigError> {
    let Some(raw) = raw else {
        return Ok((None, SmokeFrom::Here));
    };
    let span = raw.span();
    let t = match raw.into_inner() {
        RawSmoke::Checks(list) => return Ok((Some(Spanned::new(span, list)), SmokeFrom::Here)),
        RawSmoke::Table(t) => t,
    };
    let err = |span: Range<usize>, m: String| {
        lines.error(
            span,
            format!("profile `{profile}`, [profiles.{profile}.smoke]: {m}"),
        )
    };
    let from = match &t.from {
        None => "here".to_string(),
        Some(f) => f.get_ref().clone(),
    };
    let from_span = t.from.as_ref().map_or(span.clone(), |f| f.span());
    // Each key belongs to one `from`: a key of another is a mistake worth naming.
    let extra = |key: &str, present: Option<Range<usize>>, wanted: &str| match present {
        Some(s) if from != wanted => Err(err(
            s,
            format!(
                "`{key}` applies only to from = \"{wanted}\" (this table has from = \"{from}\")"
            ),
        )),
        _ => Ok(()),
    };
    extra("url", t.url.as_ref().map(|u| u.span()), "url")?;
    extra("command", t.command.as_ref().map(|c| c.span()), "task")?;
    extra(
        "skip_reason",
        t.skip_reason.as_ref().map(|r| r.span()),
        "skip",
    )?;
    let needs = |key: &str| {
        err(
            from_span.clone(),
            format!("from = \"{from}\" needs `{key}`"),
        )
    };
    let where_ = match from.as_str() {
        "here" => SmokeFrom::Here,
        "url" => {
            let url = t.url.ok_or_else(|| needs("url"))?;
            let s = url.span();
            let url = url.into_inner();
            check_url(&url).map_err(|m| err(s, m))?;
            SmokeFrom::Url(url.trim_end_matches('/').to_string())
        }
        "task" => {
            let command = t.command.ok_or_else(|| needs("command"))?;
            let s = command.span();
            let command = command.into_inner();
            if command.is_empty()
                || command.len() > MAX_COMMAND_ARGS
                || command.first().is_some_and(|c| c.trim().is_empty())
                || command.iter().any(|a| a.len() > MAX_ARG)
            {
                return Err(err(
                    s,
                    format!(
                        "`command` is the checker in the image and its first arguments (1 to {MAX_COMMAND_ARGS}, each at most {MAX_ARG} bytes), for example [\"curl\", \"-fsS\", \"--max-time\", \"10\"]: the console adds each check's URL"
                    ),
                ));
            }
            SmokeFrom::Task { command }
        }
        "skip" => {
            let reason = t.skip_reason.ok_or_else(|| needs("skip_reason"))?;
            let s = reason.span();
            let reason = reason.into_inner();
            if reason.trim().is_empty() || reason.chars().count() > MAX_TEXT {
                return Err(err(
                    s,
                    format!(
                        "`skip_reason` says why the smoke checks are skipped (1 to {MAX_TEXT} characters); it is journaled with each release"
                    ),
                ));
            }
            SmokeFrom::Skip {
                reason: reason.trim().to_string(),
            }
        }
        other => {
            return Err(err(
                from_span,
                format!(
                    "from = \"{other}\" is unknown; expected \"here\", \"url\", \"task\" or \"skip\""
                ),
            ));
        }
    };
    if !aws && !matches!(where_, SmokeFrom::Here) {
        return Err(err(
            from_span,
            "a local profile runs its smoke checks through the local test listener; `from` applies only to AWS profiles".into(),
        ));
    }
    Ok((t.checks, where_))
}

/// `http://HOST[:PORT][/PREFIX]`: the console's client speaks plain HTTP.
fn check_url(url: &str) -> Result<(), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!(
            "`url` = `{}` must start with http:// (the console's smoke client speaks plain HTTP; for HTTPS, run the checks with from = \"task\")",
            url.chars().take(64).collect::<String>()
        )
    })?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || url.len() > MAX_TEXT || url.contains(char::is_whitespace) {
        return Err(format!(
            "`url` = `{}` names no host (expected http://HOST[:PORT], at most {MAX_TEXT} bytes, no spaces)",
            url.chars().take(64).collect::<String>()
        ));
    }
    if let Some((_, port)) = host.rsplit_once(':')
        && !host.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return Err(format!("`url`: `{port}` is not a port number"));
    }
    Ok(())
}

/// `(host, port, path prefix)` of a `url` [`split`] accepted.
pub fn url_parts(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (host, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let (name, port) = match host.rsplit_once(':') {
        Some((h, p)) if !host.ends_with(']') => (h, p.parse().ok()?),
        _ => (host, 80),
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    (!name.is_empty()).then(|| (name.to_string(), port, prefix.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigFile, Target};

    /// An AWS profile `prod` (the default) and a local one.
    const AWS: &str = crate::config::tests::GOOD;

    /// The profile's checks and where they run, for `smoke` written as `table`.
    fn parse(table: &str) -> Result<(Vec<SmokeCheck>, SmokeFrom), String> {
        let text = format!("{AWS}\n{table}\n");
        let f = ConfigFile::parse(std::path::Path::new("bluegreen.toml"), &text)
            .map_err(|e| e.to_string())?;
        let p = f.profile(None).map_err(|e| e.to_string())?;
        let Target::Aws(aws) = &p.target else {
            panic!("an AWS profile")
        };
        Ok((p.release.smoke.clone(), aws.smoke_from.clone()))
    }

    #[test]
    fn smoke_is_a_list_of_checks_or_a_table_that_says_where_they_run() {
        let (checks, from) = parse("").expect("no smoke key");
        assert_eq!((checks, from), (SmokeCheck::defaults(), SmokeFrom::Here));
        // The list alone, as before: from here.
        let text = AWS.replace(
            "ecr_repository = \"blog\"\n",
            "ecr_repository = \"blog\"\nsmoke = [{ path = \"/up\" }]\n",
        );
        let f = ConfigFile::parse(std::path::Path::new("b.toml"), &text).expect("list");
        let p = f.profile(None).expect("profile");
        assert_eq!(p.release.smoke, vec![SmokeCheck::get("/up")]);
        let (checks, from) = parse(
            "[profiles.prod.smoke]\nfrom = \"task\"\ncommand = [\"curl\", \"-fsS\"]\nchecks = [{ path = \"/health\" }]",
        )
        .expect("task");
        assert_eq!(checks, vec![SmokeCheck::get("/health")]);
        assert_eq!(
            from,
            SmokeFrom::Task {
                command: vec!["curl".into(), "-fsS".into()]
            }
        );
        let (_, from) =
            parse("[profiles.prod.smoke]\nfrom = \"url\"\nurl = \"http://10.0.0.5:8080/\"")
                .expect("url");
        assert_eq!(from, SmokeFrom::Url("http://10.0.0.5:8080".into()));
        let (checks, from) =
            parse("[profiles.prod.smoke]\nfrom = \"skip\"\nskip_reason = \" HTTPS only \"")
                .expect("skip");
        assert_eq!(checks, SmokeCheck::defaults());
        assert_eq!(
            from,
            SmokeFrom::Skip {
                reason: "HTTPS only".into()
            }
        );
    }

    #[test]
    fn a_smoke_table_that_cannot_work_is_refused_by_line_and_key() {
        for (table, wanted) in [
            ("from = \"moon\"", "from = \"moon\" is unknown"),
            ("from = \"url\"", "from = \"url\" needs `url`"),
            ("from = \"task\"", "from = \"task\" needs `command`"),
            ("from = \"task\"\ncommand = []", "`command` is the checker"),
            ("from = \"skip\"", "needs `skip_reason`"),
            (
                "from = \"skip\"\nskip_reason = \"  \"",
                "says why the smoke checks are skipped",
            ),
            ("url = \"http://x\"", "`url` applies only to from = \"url\""),
            (
                "from = \"url\"\nurl = \"https://x\"",
                "must start with http://",
            ),
            ("from = \"here\"\nwhere = 1", "unknown field `where`"),
        ] {
            let e = parse(&format!("[profiles.prod.smoke]\n{table}")).expect_err(table);
            assert!(e.contains(wanted), "{table}: {e}");
            assert!(e.contains("bluegreen.toml:"), "{table}: {e}");
        }
        let local = "[profiles.dev]\nplatform = \"local\"\n[profiles.dev.smoke]\nfrom = \"skip\"\nskip_reason = \"x\"\n";
        let e = ConfigFile::parse(std::path::Path::new("b.toml"), local).expect_err("local");
        assert!(e.to_string().contains("only to AWS profiles"), "{e}");
    }

    #[test]
    fn urls_split_into_host_port_and_prefix() {
        assert_eq!(
            url_parts("http://10.0.1.5:8080/blog"),
            Some(("10.0.1.5".into(), 8080, "/blog".into()))
        );
        assert_eq!(
            url_parts("http://test.internal"),
            Some(("test.internal".into(), 80, String::new()))
        );
        assert_eq!(
            url_parts("http://[::1]:9000/"),
            Some(("::1".into(), 9000, String::new()))
        );
        assert!(check_url("https://x").is_err());
        assert!(check_url("http://").is_err());
        assert!(check_url("http://x:port").is_err());
        assert!(check_url("http://x:81/a").is_ok());
    }
}
