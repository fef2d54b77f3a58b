//! `blog smoke URL...`: a release's smoke checks from inside the blog's own image (which has no
//! curl), for `[profiles.X.smoke] from = "task"` (docs/aws-setup.md). Each URL gets one bounded
//! plain-HTTP GET ([`crate::healthcheck::get`]); the checks in `BLUEGREEN_SMOKE_CHECKS` (the
//! console's JSON: path, status, body_contains, max_latency_ms) judge the answers, or a 2xx
//! when the variable is unset. One line per URL; the exit code says whether all passed.

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::healthcheck;

/// The variable the console fills with the checks as JSON.
pub const CHECKS_VAR: &str = "BLUEGREEN_SMOKE_CHECKS";
/// The most URLs (and checks) one run takes.
pub const MAX_URLS: usize = 100;
/// The most bytes of [`CHECKS_VAR`] read.
pub const MAX_CHECKS_JSON: usize = 256 * 1024;

/// One check as the console writes it (`SmokeCheck` in console/src/rollout/plan.rs).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Check {
    pub path: String,
    #[serde(default = "ok_status")]
    pub status: u16,
    #[serde(default)]
    pub body_contains: Option<String>,
    #[serde(default)]
    pub max_latency_ms: Option<u64>,
}

fn ok_status() -> u16 {
    200
}

/// A URL the checker can GET: `http://HOST[:PORT][/PATH]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// Parses `url`; anything but `http://` is refused with the reason.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let rest = if let Some(rest) = url.strip_prefix("http://") {
        rest
    } else if url.starts_with("https://") {
        return Err(format!(
            "{url}: blog smoke speaks plain HTTP only (it checks from inside the VPC); give the \
             test listener an HTTP port or use a checker with TLS"
        ));
    } else {
        return Err(format!(
            "{url}: not an http:// URL (http://HOST[:PORT][/PATH])"
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url}: unclosed [ in the host"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => 80,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{url}: the port must be 1-65535"))?,
    };
    if host.is_empty() || path.contains(char::is_whitespace) {
        return Err(format!("{url}: no host, or spaces in the path"));
    }
    Ok(Target {
        url: url.to_string(),
        host: host.to_string(),
        port,
        path,
    })
}

/// The checks in [`CHECKS_VAR`]'s value; bad JSON is an error naming the variable.
pub fn parse_checks(raw: &str) -> Result<Vec<Check>, String> {
    if raw.len() > MAX_CHECKS_JSON {
        return Err(format!(
            "{CHECKS_VAR} is {} bytes, more than the {MAX_CHECKS_JSON} read",
            raw.len()
        ));
    }
    let checks: Vec<Check> = serde_json::from_str(raw).map_err(|e| {
        format!(
            "{CHECKS_VAR} is not a JSON list of checks ({{\"path\":…,\"status\":…}}): {e}; unset \
             it to require a 2xx"
        )
    })?;
    if checks.len() > MAX_URLS {
        return Err(format!(
            "{CHECKS_VAR} has {} checks, more than {MAX_URLS}",
            checks.len()
        ));
    }
    Ok(checks)
}

/// The check for the `index`th of `targets`: the same position when there are as many checks as
/// URLs, else the first with the URL's path.
pub fn check_for<'a>(checks: &'a [Check], targets: &[Target], index: usize) -> Option<&'a Check> {
    if checks.len() == targets.len() {
        return checks.get(index);
    }
    let path = &targets.get(index)?.path;
    checks.iter().find(|c| &c.path == path)
}

/// What a check made of an answer: `Ok(())` passes, `Err(why)` fails.
pub fn judge(
    check: Option<&Check>,
    reply: &healthcheck::Reply,
    latency: Duration,
) -> Result<(), String> {
    let Some(check) = check else {
        return if (200..300).contains(&reply.status) {
            Ok(())
        } else {
            Err(format!("expected a 2xx, got {}", reply.status_text))
        };
    };
    if reply.status != check.status {
        return Err(format!(
            "expected status {}, got {}",
            check.status, reply.status_text
        ));
    }
    if let Some(text) = &check.body_contains
        && !reply.body.contains(text.as_str())
    {
        return Err(format!("the body does not contain {text:?}"));
    }
    if let Some(max) = check.max_latency_ms
        && latency > Duration::from_millis(max)
    {
        return Err(format!("slower than {max} ms"));
    }
    Ok(())
}

/// Runs the checks, prints one line per URL to stdout, and says whether all passed. Errors
/// (bad URLs, a bad [`CHECKS_VAR`]) come before any GET.
pub async fn run(
    urls: &[String],
    checks_json: Option<&str>,
    limit: Duration,
) -> Result<bool, String> {
    if urls.is_empty() {
        return Err("give the URLs to check: blog smoke http://HOST[:PORT]/PATH...".into());
    }
    if urls.len() > MAX_URLS {
        return Err(format!("{} URLs, more than {MAX_URLS}", urls.len()));
    }
    let targets = urls
        .iter()
        .map(|u| parse_url(u))
        .collect::<Result<Vec<_>, _>>()?;
    let checks = match checks_json.map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => parse_checks(raw)?,
        None => Vec::new(),
    };
    let mut all = true;
    for (i, target) in targets.iter().enumerate() {
        let check = check_for(&checks, &targets, i);
        let started = Instant::now();
        let answer = healthcheck::get(&target.host, target.port, &target.path, limit).await;
        let latency = started.elapsed();
        let ms = latency.as_millis();
        let line = match answer {
            Ok(reply) => match judge(check, &reply, latency) {
                Ok(()) => format!("PASS {} {} {ms} ms", target.url, reply.status),
                Err(why) => format!("FAIL {} {} {ms} ms: {why}", target.url, reply.status),
            },
            Err(e) => format!("FAIL {} - {ms} ms: {e}", target.url),
        };
        all &= line.starts_with("PASS");
        println!("{line}");
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_plain_http_only() {
        let t = parse_url("http://lb.example:8080/health?x=1").expect("http");
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("lb.example", 8080, "/health?x=1")
        );
        let t = parse_url("http://[::1]/").expect("v6");
        assert_eq!((t.host.as_str(), t.port), ("::1", 80));
        let e = parse_url("https://lb.example/health").expect_err("https");
        assert!(e.contains("plain HTTP"), "{e}");
        assert!(parse_url("ftp://x/").is_err());
        assert!(parse_url("http://x:0/").is_err());
    }

    #[test]
    fn bad_json_names_the_variable() {
        let e = parse_checks("{not json").expect_err("bad");
        assert!(e.contains(CHECKS_VAR), "{e}");
        let checks = parse_checks(r#"[{"path":"/health"},{"path":"/","status":404}]"#).expect("ok");
        assert_eq!(checks[0].status, 200);
        assert_eq!(checks[1].status, 404);
    }
}
