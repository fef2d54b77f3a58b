//! The journal on AWS: the `${name}-journal` DynamoDB table (hash key `environment`, range key
//! `id`, the entry's time-ordered id). Append-only: one conditional PutItem per entry
//! (`attribute_not_exists(id)`, so an entry is never overwritten) and Query to read; the
//! operator policy grants nothing else on the table.
//!
//! An item holds the key, `at` (N), `verb` (S), `release` (S, when the entry belongs to one)
//! and `entry` (S), the entry's JSON, which is what a reader parses: new fields of newer
//! consoles pass through untouched.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{AwsPlatform, Op};
use crate::platform::{FaultKind, JournalPage, PlatformError, PlatformResult};
use crate::rollout::journal::{self, Entry, Query};

const PUT: Op = Op::new("dynamodb", "PutItem");
const QUERY: Op = Op::new("dynamodb", "Query");

/// Items one Query page asks for.
const PAGE: i32 = 500;

/// What a profile without a journal table gets, once per command.
pub fn no_table(profile: &str) -> String {
    format!(
        "profile `{profile}` names no journal_table, so this write is not journaled: add `journal_table` (the Terraform output journal_table_name) to the profile"
    )
}

impl AwsPlatform {
    /// The journal's partition: the environment, named by its cluster.
    fn journal_partition(&self) -> String {
        self.cfg.cluster.clone()
    }

    pub(super) async fn put_journal(&self, entry: &Entry) -> PlatformResult<()> {
        let Some(table) = &self.cfg.journal_table else {
            return Err(PlatformError::Config(no_table(&self.profile)));
        };
        let json = serde_json::to_string(entry)
            .map_err(|e| PUT.fail(table, FaultKind::Invalid, e.to_string()))?;
        let mut put = self
            .dynamodb
            .put_item()
            .table_name(table)
            .item("environment", AttributeValue::S(self.journal_partition()))
            .item("id", AttributeValue::S(entry.id.clone()))
            .item("at", AttributeValue::N(entry.at.to_string()))
            .item("verb", AttributeValue::S(entry.verb.clone()))
            .item("entry", AttributeValue::S(json))
            .condition_expression("attribute_not_exists(id)");
        if let Some(r) = &entry.release {
            put = put.item("release", AttributeValue::S(r.id.clone()));
        }
        put.send().await.map_err(|e| PUT.error(table, e))?;
        Ok(())
    }

    /// Newest first from the table, pages until `q.limit` entries match, then oldest first.
    pub(super) async fn query_journal(&self, q: &Query) -> PlatformResult<JournalPage> {
        let Some(table) = &self.cfg.journal_table else {
            return Ok(JournalPage {
                note: Some(no_table(&self.profile)),
                ..JournalPage::default()
            });
        };
        let limit = q.limit.clamp(1, journal::MAX_ENTRIES);
        let since = journal::entry_id(q.since.unwrap_or(0), 0);
        let (mut entries, mut skipped, mut read) = (Vec::new(), 0usize, 0usize);
        let mut start = None;
        loop {
            let out = self
                .dynamodb
                .query()
                .table_name(table)
                .key_condition_expression("environment = :e AND id >= :since")
                .expression_attribute_values(":e", AttributeValue::S(self.journal_partition()))
                .expression_attribute_values(":since", AttributeValue::S(since.clone()))
                .scan_index_forward(false)
                .limit(PAGE)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| QUERY.error(table, e))?;
            for item in out.items() {
                read += 1;
                match item
                    .get("entry")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|s| serde_json::from_str::<Entry>(s).ok())
                {
                    Some(e) if q.matches(&e) => entries.push(e),
                    Some(_) => {}
                    None => skipped += 1,
                }
            }
            start = out.last_evaluated_key().cloned();
            // Bounded: at most MAX_ENTRIES matches, and as many items read again beside them.
            if start.is_none() || entries.len() >= limit || read >= 2 * journal::MAX_ENTRIES {
                break;
            }
        }
        Ok(JournalPage {
            entries: journal::select(entries, q),
            skipped,
            note: None,
        })
    }
}
