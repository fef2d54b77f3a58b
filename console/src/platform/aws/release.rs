//! A release's record on AWS, the smoke test's GET through the test listener, and the
//! profile's CloudWatch alarms.
//!
//! The record is kept with the production listener, beside the stable color and the bake:
//! its JSON, base64-encoded (ELB tag values allow only letters, digits, spaces and `_.:/=+-@`),
//! in chunks of at most 256 characters under `bluegreen:release:0`, `:1`, …, with the count
//! in `bluegreen:release:n`. The count is written in the same AddTags call as the chunks, and
//! a reader that finds chunks missing or undecodable says so instead of guessing.

use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, Tag};

use super::AwsPlatform;
use super::calls::Op;
use crate::platform::{FaultKind, PlatformError, PlatformResult, SMOKE_BODY_LIMIT, SmokeAnswer};
use crate::rollout::Release;
use crate::rollout::gate::AlarmState;

const DESCRIBE_TAGS: Op = Op::new("elbv2", "DescribeTags");
const ADD_TAGS: Op = Op::new("elbv2", "AddTags");
const REMOVE_TAGS: Op = Op::new("elbv2", "RemoveTags");
const DESCRIBE_LISTENERS: Op = Op::new("elbv2", "DescribeListeners");
const DESCRIBE_LOAD_BALANCERS: Op = Op::new("elbv2", "DescribeLoadBalancers");
const DESCRIBE_ALARMS: Op = Op::new("cloudwatch", "DescribeAlarms");

pub const TAG_RELEASE_COUNT: &str = "bluegreen:release:n";
const TAG_RELEASE_PREFIX: &str = "bluegreen:release:";
/// An ELB tag value's limit.
const CHUNK: usize = 256;
/// Chunks at most: a listener takes 50 tags, and the stable color and the bake use 4.
const MAX_CHUNKS: usize = 30;

/// Encodes `release` into its chunks; a release too large even without its gate details is
/// refused (it cannot happen with [`crate::rollout::plan::MAX_STEPS`] steps, but is checked).
fn encode(release: &Release) -> PlatformResult<Vec<String>> {
    let encode_one = |r: &Release| -> PlatformResult<String> {
        let json = serde_json::to_vec(r).map_err(|e| PlatformError::Config(e.to_string()))?;
        Ok(aws_smithy_types::base64::encode(json))
    };
    let mut text = encode_one(release)?;
    if text.len() > CHUNK * MAX_CHUNKS {
        // Keep only what failed; the passing gates' values are shown live anyway.
        let mut slim = release.clone();
        slim.gates
            .retain(|g| g.verdict != crate::rollout::Verdict::Pass);
        text = encode_one(&slim)?;
    }
    if text.len() > CHUNK * MAX_CHUNKS {
        return Err(PlatformError::Config(format!(
            "release {} is too large to record in listener tags ({} bytes encoded, at most {})",
            release.id,
            text.len(),
            CHUNK * MAX_CHUNKS
        )));
    }
    Ok(text
        .as_bytes()
        .chunks(CHUNK)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect())
}

/// Decodes the chunks read from the tags.
fn decode(count: &str, chunk: impl Fn(usize) -> Option<String>) -> Result<Release, String> {
    let n: usize = count
        .parse()
        .ok()
        .filter(|n| (1..=MAX_CHUNKS).contains(n))
        .ok_or_else(|| format!("{TAG_RELEASE_COUNT} is `{count}`, not a chunk count"))?;
    let mut text = String::with_capacity(n * CHUNK);
    for i in 0..n {
        text.push_str(&chunk(i).ok_or_else(|| format!("tag {TAG_RELEASE_PREFIX}{i} is missing"))?);
    }
    let json = aws_smithy_types::base64::decode(&text)
        .map_err(|e| format!("the release tags are not base64: {e}"))?;
    serde_json::from_slice(&json).map_err(|e| format!("the release tags do not parse: {e}"))
}

impl AwsPlatform {
    pub(super) async fn read_release(&self) -> PlatformResult<Option<Release>> {
        let out = self
            .elb
            .describe_tags()
            .resource_arns(self.prod_listener.clone())
            .send()
            .await
            .map_err(|e| DESCRIBE_TAGS.error(&self.prod_listener, e))?;
        let tag = |key: &str| {
            out.tag_descriptions()
                .iter()
                .flat_map(|d| d.tags())
                .find(|t| t.key() == Some(key))
                .and_then(|t| t.value())
                .map(str::to_string)
        };
        let Some(count) = tag(TAG_RELEASE_COUNT) else {
            return Ok(None);
        };
        decode(&count, |i| tag(&format!("{TAG_RELEASE_PREFIX}{i}")))
            .map(Some)
            .map_err(|why| {
                DESCRIBE_TAGS.fail(
                    &self.prod_listener,
                    FaultKind::Invalid,
                    format!("{why}; the next release rewrites them"),
                )
            })
    }

    pub(super) async fn write_release(&self, release: &Release) -> PlatformResult<()> {
        let chunks = encode(release)?;
        let n = chunks.len();
        let mut tags: Vec<Tag> = chunks
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                Tag::builder()
                    .key(format!("{TAG_RELEASE_PREFIX}{i}"))
                    .value(c)
                    .build()
            })
            .collect();
        tags.push(
            Tag::builder()
                .key(TAG_RELEASE_COUNT)
                .value(n.to_string())
                .build(),
        );
        self.elb
            .add_tags()
            .resource_arns(&self.prod_listener)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| ADD_TAGS.error(&self.prod_listener, e))?;
        // Chunks left from a longer record are removed; the count already ignores them.
        let stale: Vec<String> = (n..MAX_CHUNKS)
            .map(|i| format!("{TAG_RELEASE_PREFIX}{i}"))
            .collect();
        if n < MAX_CHUNKS && release.is_over() {
            self.elb
                .remove_tags()
                .resource_arns(&self.prod_listener)
                .set_tag_keys(Some(stale))
                .send()
                .await
                .map_err(|e| REMOVE_TAGS.error(&self.prod_listener, e))?;
        }
        Ok(())
    }

    /// `http://DNS:PORT` of the test listener.
    async fn test_listener_url(&self) -> PlatformResult<(String, u16)> {
        let arn = self.test_listener.clone().ok_or_else(|| {
            PlatformError::Config(format!(
                "profile `{}` has no test_listener: the smoke test needs one to reach the idle color alone",
                self.profile
            ))
        })?;
        let out = self
            .elb
            .describe_listeners()
            .listener_arns(arn.clone())
            .send()
            .await
            .map_err(|e| DESCRIBE_LISTENERS.error(&arn, e))?;
        let l = out.listeners().first().ok_or_else(|| {
            DESCRIBE_LISTENERS.fail(&arn, FaultKind::NotFound, "test listener not found")
        })?;
        if l.protocol() == Some(&ProtocolEnum::Https) {
            return Err(DESCRIBE_LISTENERS.fail(
                &arn,
                FaultKind::Invalid,
                "the test listener is HTTPS, and the smoke test speaks plain HTTP: give the test listener an HTTP port reachable from this machine",
            ));
        }
        let port = l
            .port()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| DESCRIBE_LISTENERS.fail(&arn, FaultKind::Invalid, "no port"))?;
        let lb = l.load_balancer_arn().unwrap_or_default().to_string();
        let out = self
            .elb
            .describe_load_balancers()
            .load_balancer_arns(lb.clone())
            .send()
            .await
            .map_err(|e| DESCRIBE_LOAD_BALANCERS.error(&lb, e))?;
        let dns = out
            .load_balancers()
            .first()
            .and_then(|b| b.dns_name())
            .ok_or_else(|| DESCRIBE_LOAD_BALANCERS.fail(&lb, FaultKind::NotFound, "no DNS name"))?;
        Ok((dns.to_string(), port))
    }

    pub(super) async fn smoke(&self, path: &str, timeout: Duration) -> PlatformResult<SmokeAnswer> {
        let (host, port) = self.test_listener_url().await?;
        let what = format!("GET http://{host}:{port}{path}");
        let started = Instant::now();
        let get = async {
            let addr = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .next()
                .ok_or_else(|| format!("{host} resolves to no address"))?;
            let mut client = crate::platform::local::http::HttpClient::new(addr);
            client.get(path).await
        };
        let answer = tokio::time::timeout(timeout, get)
            .await
            .map_err(|_| PlatformError::TimedOut {
                what: what.clone(),
                after_secs: timeout.as_secs(),
            })?
            .map_err(|e| PlatformError::call("http:smoke", &what, FaultKind::Unavailable, e))?;
        let mut body = answer.text();
        if body.len() > SMOKE_BODY_LIMIT {
            let mut cut = SMOKE_BODY_LIMIT;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
        }
        Ok(SmokeAnswer {
            status: answer.status,
            body,
            latency_ms: started.elapsed().as_millis().min(u64::MAX as u128) as u64,
        })
    }

    pub(super) async fn read_alarms(
        &self,
        names: &[String],
    ) -> PlatformResult<Vec<(String, AlarmState)>> {
        let mut found = Vec::new();
        // DescribeAlarms takes at most 100 names per call.
        for batch in names.chunks(100) {
            let out = self
                .cloudwatch
                .describe_alarms()
                .set_alarm_names(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| DESCRIBE_ALARMS.error(&batch.join(","), e))?;
            for a in out.metric_alarms() {
                let state = match a.state_value() {
                    Some(StateValue::Alarm) => AlarmState::Alarm,
                    Some(StateValue::Ok) => AlarmState::Ok,
                    _ => AlarmState::InsufficientData,
                };
                found.push((a.alarm_name().unwrap_or_default().to_string(), state));
            }
            for a in out.composite_alarms() {
                let state = match a.state_value() {
                    Some(StateValue::Alarm) => AlarmState::Alarm,
                    Some(StateValue::Ok) => AlarmState::Ok,
                    _ => AlarmState::InsufficientData,
                };
                found.push((a.alarm_name().unwrap_or_default().to_string(), state));
            }
        }
        Ok(names
            .iter()
            .map(|n| {
                let state = found
                    .iter()
                    .find(|(a, _)| a == n)
                    .map_or(AlarmState::Missing, |(_, s)| *s);
                (n.clone(), state)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Color;
    use crate::rollout::plan::{Plan, SmokeCheck};
    use crate::rollout::release::{ReleaseOptions, Stage};

    fn release() -> Release {
        Release {
            id: "r1".into(),
            tag: "v2".into(),
            canary: Color::Green,
            desired: 2,
            plan: Plan::default_canary(),
            options: ReleaseOptions {
                bake_secs: 300,
                keep_old: false,
                scale_in_on_rollback: false,
                smoke: SmokeCheck::defaults(),
                accept_unmeasured: false,
            },
            started_at: 1,
            stage: Stage::Step { index: 1, since: 5 },
            driver: "ops@host pid 7".into(),
            driven_at: 6,
            gates: Vec::new(),
            by: None,
            reason: None,
            split: None,
            request: None,
            outcome: None,
            ended_at: None,
        }
    }

    #[test]
    fn a_release_survives_the_tag_encoding() {
        let r = release();
        let chunks = encode(&r).expect("fits");
        assert!(chunks.iter().all(|c| c.len() <= CHUNK));
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_.:/=+-@ ".contains(c);
        assert!(chunks.iter().all(|c| c.chars().all(allowed)));
        let back = decode(&chunks.len().to_string(), |i| chunks.get(i).cloned()).expect("decodes");
        assert_eq!(back, r);
    }

    #[test]
    fn the_largest_release_a_person_can_start_fits_the_tags() {
        use crate::rollout::plan::{self, MAX_HOLD_SECS, MAX_STEPS, Plan, PlanKind};
        use crate::rollout::{Operator, Share, operator::MAX_NAME};
        let mut r = release();
        let steps = (1..=MAX_STEPS as u16)
            .map(|i| plan::Step {
                weight: Share::permille(i * 9).expect("below 1000"),
                hold_secs: MAX_HOLD_SECS,
            })
            .collect();
        r.plan = Plan::stepped("x".repeat(64), PlanKind::Canary, steps, 3600).expect("valid");
        let long = "n".repeat(MAX_NAME);
        r.by = Some(Operator::new(&long, &"h".repeat(MAX_NAME)).expect("valid"));
        r.reason = Some("é\"".repeat(crate::rollout::lock::MAX_REASON / 2));
        r.driver = format!("{long}@{long} pid 4294967295");
        let chunks = encode(&r).expect("fits");
        assert!(chunks.len() <= MAX_CHUNKS, "{} chunks", chunks.len());
        let back = decode(&chunks.len().to_string(), |i| chunks.get(i).cloned()).expect("decodes");
        assert_eq!(back, r);
    }

    #[test]
    fn missing_or_damaged_chunks_are_reported() {
        let chunks = encode(&release()).expect("fits");
        let n = chunks.len().to_string();
        let e = decode(&n, |i| (i > 0).then(|| chunks[i].clone())).expect_err("missing");
        assert!(e.contains("bluegreen:release:0 is missing"), "{e}");
        assert!(decode("x", |_| None).is_err());
        assert!(decode("1", |_| Some("!!!".into())).is_err());
    }
}
