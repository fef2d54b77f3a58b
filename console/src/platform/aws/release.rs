//! A release's record on AWS, and the profile's CloudWatch alarms (the smoke test is
//! [`super::smoke`]'s).
//!
//! The record is one item of the lock table (`lock_table`, which every profile that writes
//! has): `pk` = `release#` and the production listener's ARN, `record` (S, the release as
//! JSON), `release_id` (S) and `is_over` (BOOL). It is written with a condition, so a write
//! never replaces another release that is still running, and never brings an ended release
//! back to life: a new release replaces an ended one; a running one is updated only while it
//! runs (its end may be written again).
//!
//! Older consoles kept it in the production listener's tags (base64 JSON in chunks of 256
//! characters under `bluegreen:release:0`, `:1`, … with the count in `bluegreen:release:n`,
//! up to 30 of ELB's 50 tags per listener). A stack with such tags is read once: the record is
//! moved into the table and the tags removed. The listener keeps only small tags: the stable
//! color, a pending bake, and what a console last wrote.

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_dynamodb::types::AttributeValue;

use super::AwsPlatform;
use super::calls::Op;
use crate::platform::{FaultKind, PlatformResult};
use crate::rollout::Release;
use crate::rollout::gate::AlarmState;
use crate::rollout::release::check_record;

const DESCRIBE_TAGS: Op = Op::new("elbv2", "DescribeTags");
const REMOVE_TAGS: Op = Op::new("elbv2", "RemoveTags");
const DESCRIBE_ALARMS: Op = Op::new("cloudwatch", "DescribeAlarms");
const GET: Op = Op::new("dynamodb", "GetItem");
const PUT: Op = Op::new("dynamodb", "PutItem");

/// The older consoles' tags (read once, to move the record).
pub const TAG_RELEASE_COUNT: &str = "bluegreen:release:n";
const TAG_RELEASE_PREFIX: &str = "bluegreen:release:";
/// Chunks at most in the older consoles' tags.
const MAX_CHUNKS: usize = 30;
/// The most of a record read or written: a release with the most steps and the longest names
/// is some tens of kilobytes; a DynamoDB item holds 400 KB.
const MAX_RECORD: usize = 256 << 10;

/// Decodes the chunks read from the older consoles' tags.
fn decode(count: &str, chunk: impl Fn(usize) -> Option<String>) -> Result<Release, String> {
    let n: usize = count
        .parse()
        .ok()
        .filter(|n| (1..=MAX_CHUNKS).contains(n))
        .ok_or_else(|| format!("{TAG_RELEASE_COUNT} is `{count}`, not a chunk count"))?;
    let mut text = String::with_capacity(n * 256);
    for i in 0..n {
        text.push_str(&chunk(i).ok_or_else(|| format!("tag {TAG_RELEASE_PREFIX}{i} is missing"))?);
    }
    let json = aws_smithy_types::base64::decode(&text)
        .map_err(|e| format!("the release tags are not base64: {e}"))?;
    serde_json::from_slice(&json).map_err(|e| format!("the release tags do not parse: {e}"))
}

/// The condition of a record write: [`check_record`]'s rule, evaluated by DynamoDB against
/// the stored item so that two writers cannot both pass it: no item; or another release that
/// ended (replaced by a new one); or this release, while it runs (or its end written again).
/// Never a running record over an ended one of the same id: a stale driver cannot reopen a
/// release that an abort or a rollback ended.
fn write_condition(release: &Release) -> &'static str {
    if release.is_over() {
        "attribute_not_exists(pk) OR is_over = :t OR release_id = :id"
    } else {
        "attribute_not_exists(pk) OR (is_over = :t AND release_id <> :id) OR (release_id = :id AND is_over = :f)"
    }
}

impl AwsPlatform {
    fn release_key(&self) -> AttributeValue {
        AttributeValue::S(format!("release#{}", self.prod_listener))
    }

    pub(super) async fn read_release(&self) -> PlatformResult<Option<Release>> {
        let Ok(table) = self.lock_table() else {
            // Nowhere to record one: only an older console's record can exist.
            return self.read_release_tags().await.map(|r| r.map(|(r, _)| r));
        };
        if let Some(r) = self.read_table_release(table).await? {
            return Ok(Some(r));
        }
        // No record in the table: an older console's, in the listener's tags, is moved once.
        if self
            .tags_moved
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return Ok(None);
        }
        let Some((r, chunks)) = self.read_release_tags().await? else {
            return Ok(None);
        };
        if let Err(e) = self.write_release(&r).await {
            self.tags_moved
                .store(false, std::sync::atomic::Ordering::Relaxed);
            return Err(e);
        }
        let mut keys = vec![TAG_RELEASE_COUNT.to_string()];
        keys.extend((0..chunks.max(1)).map(|i| format!("{TAG_RELEASE_PREFIX}{i}")));
        // The record is in the table: tags left behind are only clutter, removed next time.
        if let Err(e) = self
            .elb
            .remove_tags()
            .resource_arns(&self.prod_listener)
            .set_tag_keys(Some(keys))
            .send()
            .await
        {
            tracing::warn!(
                "release {} moved to {table}, but its listener tags stay: {}",
                r.id,
                REMOVE_TAGS.error(&self.prod_listener, e)
            );
            self.tags_moved
                .store(false, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(Some(r))
    }

    /// The record in the lock table, if any.
    async fn read_table_release(&self, table: &str) -> PlatformResult<Option<Release>> {
        let fix = "the next release rewrites it";
        let Some(text) = self
            .read_record_text(table, self.release_key(), MAX_RECORD, fix)
            .await?
        else {
            return Ok(None);
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            GET.fail(
                table,
                FaultKind::Invalid,
                format!("the release record does not parse ({e}); {fix}"),
            )
        })
    }

    /// An older console's record in the listener's tags, and how many chunks it has.
    async fn read_release_tags(&self) -> PlatformResult<Option<(Release, usize)>> {
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
        let chunks = count.parse().unwrap_or(MAX_CHUNKS).min(MAX_CHUNKS);
        decode(&count, |i| tag(&format!("{TAG_RELEASE_PREFIX}{i}")))
            .map(|r| Some((r, chunks)))
            .map_err(|why| {
                DESCRIBE_TAGS.fail(
                    &self.prod_listener,
                    FaultKind::Invalid,
                    format!("{why}; the next release rewrites them"),
                )
            })
    }

    pub(super) async fn write_release(&self, release: &Release) -> PlatformResult<()> {
        let table = self.lock_table()?;
        let json = serde_json::to_string(release)
            .map_err(|e| PUT.fail(table, FaultKind::Invalid, format!("release record: {e}")))?;
        if json.len() > MAX_RECORD {
            return Err(PUT.fail(
                table,
                FaultKind::Invalid,
                format!(
                    "release {} is too large to record ({} bytes, at most {MAX_RECORD})",
                    release.id,
                    json.len()
                ),
            ));
        }
        let out = self
            .dynamodb
            .put_item()
            .table_name(table)
            .item("pk", self.release_key())
            .item("record", AttributeValue::S(json))
            .item("release_id", AttributeValue::S(release.id.clone()))
            .item("is_over", AttributeValue::Bool(release.is_over()))
            .condition_expression(write_condition(release))
            .set_expression_attribute_values({
                let mut v = std::collections::HashMap::from([
                    (":id".to_string(), AttributeValue::S(release.id.clone())),
                    (":t".to_string(), AttributeValue::Bool(true)),
                ]);
                if !release.is_over() {
                    v.insert(":f".to_string(), AttributeValue::Bool(false));
                }
                Some(v)
            })
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                // The condition is the pure rule's ([`check_record`]): its refusal says why,
                // from the record that won.
                let why = match self.read_table_release(table).await {
                    Ok(current) => match check_record(current.as_ref(), release) {
                        Err(refusal) => refusal.reason,
                        Ok(()) => "the record changed meanwhile; try again".to_string(),
                    },
                    Err(_) if release.is_over() => {
                        "another release is running meanwhile".to_string()
                    }
                    Err(_) => "another release is running, or this one was ended meanwhile (an abort): `bluegreen status` shows which".to_string(),
                };
                Err(PUT.fail(
                    table,
                    FaultKind::Invalid,
                    format!("release {} was not recorded: {why}", release.id),
                ))
            }
            Err(e) => Err(PUT.error(table, e)),
        }
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

    /// What an older console wrote into the listener's tags.
    fn encode(release: &Release) -> Vec<String> {
        let json = serde_json::to_vec(release).expect("json");
        aws_smithy_types::base64::encode(json)
            .as_bytes()
            .chunks(256)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect()
    }

    #[test]
    fn an_older_consoles_tags_decode() {
        let r = release();
        let chunks = encode(&r);
        let back = decode(&chunks.len().to_string(), |i| chunks.get(i).cloned()).expect("decodes");
        assert_eq!(back, r);
    }

    #[test]
    fn missing_or_damaged_chunks_are_reported() {
        let chunks = encode(&release());
        let n = chunks.len().to_string();
        let e = decode(&n, |i| (i > 0).then(|| chunks[i].clone())).expect_err("missing");
        assert!(e.contains("bluegreen:release:0 is missing"), "{e}");
        assert!(decode("x", |_| None).is_err());
        assert!(decode("1", |_| Some("!!!".into())).is_err());
    }

    #[test]
    fn the_largest_release_a_person_can_start_fits_the_record() {
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
        let json = serde_json::to_string(&r).expect("json");
        assert!(json.len() <= MAX_RECORD, "{} bytes", json.len());
    }

    #[test]
    fn a_running_record_is_never_written_over_an_ended_one() {
        let mut r = release();
        assert!(write_condition(&r).contains("release_id = :id AND is_over = :f"));
        r.outcome = Some(crate::rollout::Outcome::Released);
        assert!(write_condition(&r).ends_with("OR release_id = :id"));
    }
}
