//! The deploy lock on AWS: one item per environment in the profile's `lock_table` (Terraform's
//! base module makes it), written only by compare-and-swap: PutItem and DeleteItem conditional
//! on the token read. A failed condition is [`LockSwap::Conflict`] (the command layer reads
//! again and decides again); throttles are retried by the SDK's retry configuration.
//!
//! Item: `pk` (S, the production listener's ARN, so every profile naming one environment
//! shares its lock), `token` (S), `record` (S, the [`LockRecord`] as JSON), `holder` (S, for a
//! person reading the table), `expires_at` (N, Unix seconds: the table's TTL attribute, so an
//! abandoned lease is eventually deleted; an expired one is free either way).

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{AwsPlatform, Op};
use crate::platform::{FaultKind, LockSwap, PlatformError, PlatformResult};
use crate::rollout::lock::LockRecord;

const GET: Op = Op::new("dynamodb", "GetItem");
const PUT: Op = Op::new("dynamodb", "PutItem");
const DELETE: Op = Op::new("dynamodb", "DeleteItem");

/// The most of an item's `record` read: a record is a few hundred bytes.
const MAX_RECORD: usize = 16 << 10;

impl AwsPlatform {
    /// The lock table (which also holds the release record), or the refusal that says how
    /// to add it.
    pub(super) fn lock_table(&self) -> PlatformResult<&str> {
        self.cfg.lock_table.as_deref().ok_or_else(|| {
            PlatformError::Config(format!(
                "profile `{}` has no `lock_table`, so the deploy lock cannot be taken, releases cannot be recorded and writes are refused (rollback is not): apply Terraform's base module and run `bluegreen init --from-terraform FILE --update`, or `bluegreen init --create-tables` for a stack made elsewhere, or add `lock_table = \"NAME\"` (the base module's `lock_table_name` output) to the profile",
                self.profile
            ))
        })
    }

    fn lock_key(&self) -> AttributeValue {
        AttributeValue::S(self.prod_listener.clone())
    }

    /// The `record` attribute of the item `key` in `table` (a consistent read), at most `max`
    /// bytes; `None` without an item. `fix` says what to do about an item without one.
    pub(super) async fn read_record_text(
        &self,
        table: &str,
        key: AttributeValue,
        max: usize,
        fix: &str,
    ) -> PlatformResult<Option<String>> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(table)
            .key("pk", key)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| GET.error(table, e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        match item.get("record") {
            Some(AttributeValue::S(s)) if s.len() <= max => Ok(Some(s.clone())),
            _ => Err(GET.fail(
                table,
                FaultKind::Invalid,
                format!("the item has no readable `record`; {fix}"),
            )),
        }
    }

    pub(super) async fn read_lock(&self) -> PlatformResult<Option<LockRecord>> {
        let table = self.lock_table()?;
        let fix = "if nobody is writing, `bluegreen lock release --force` clears it";
        let Some(text) = self
            .read_record_text(table, self.lock_key(), MAX_RECORD, fix)
            .await?
        else {
            return Ok(None);
        };
        let text = text.as_str();
        let record: LockRecord = serde_json::from_str(text).map_err(|e| {
            GET.fail(
                table,
                FaultKind::Invalid,
                format!("the lock item's record does not parse ({e}); `bluegreen lock release --force` clears it"),
            )
        })?;
        record
            .validate()
            .map_err(|e| GET.fail(table, FaultKind::Invalid, e))?;
        Ok(Some(record))
    }

    pub(super) async fn swap_lock(
        &self,
        expected: Option<&str>,
        new: Option<&LockRecord>,
    ) -> PlatformResult<LockSwap> {
        let table = self.lock_table()?;
        let condition = match expected {
            None => "attribute_not_exists(pk)",
            Some(_) => "#token = :token",
        };
        let expected_values = |token: &str| {
            (
                Some(("#token".to_string(), "token".to_string())),
                Some((":token".to_string(), AttributeValue::S(token.to_string()))),
            )
        };
        let (name, value) = expected.map(expected_values).unwrap_or((None, None));
        match new {
            Some(record) => {
                let json = serde_json::to_string(record).map_err(|e| {
                    PUT.fail(table, FaultKind::Invalid, format!("lock record: {e}"))
                })?;
                let mut put = self
                    .dynamodb
                    .put_item()
                    .table_name(table)
                    .item("pk", self.lock_key())
                    .item("token", AttributeValue::S(record.token.clone()))
                    .item("record", AttributeValue::S(json))
                    .item("holder", AttributeValue::S(record.holder.to_string()))
                    .item(
                        "expires_at",
                        AttributeValue::N(record.expires.div_euclid(1000).to_string()),
                    )
                    .condition_expression(condition);
                if let (Some((n, a)), Some((v, t))) = (name, value) {
                    put = put
                        .expression_attribute_names(n, a)
                        .expression_attribute_values(v, t);
                }
                swapped(put.send().await, PUT, table, |e| {
                    e.is_conditional_check_failed_exception()
                })
            }
            None => {
                let (Some((n, a)), Some((v, t))) = (name, value) else {
                    // Nothing expected, nothing wanted: a swap only if there is no record.
                    return Ok(match self.read_lock().await? {
                        None => LockSwap::Swapped,
                        Some(_) => LockSwap::Conflict,
                    });
                };
                let out = self
                    .dynamodb
                    .delete_item()
                    .table_name(table)
                    .key("pk", self.lock_key())
                    .condition_expression(condition)
                    .expression_attribute_names(n, a)
                    .expression_attribute_values(v, t)
                    .send()
                    .await;
                swapped(out, DELETE, table, |e| {
                    e.is_conditional_check_failed_exception()
                })
            }
        }
    }
}

/// A conditional write's answer: a failed condition is a conflict, not an error.
fn swapped<T, E>(
    result: Result<T, SdkError<E, HttpResponse>>,
    op: Op,
    table: &str,
    failed_condition: impl Fn(&E) -> bool,
) -> PlatformResult<LockSwap>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(LockSwap::Swapped),
        Err(e) if e.as_service_error().is_some_and(&failed_condition) => Ok(LockSwap::Conflict),
        Err(e) => Err(op.error(table, e)),
    }
}
