//! `blog migrate`: brings a table made by the seed's Terraform up to date, in place or by
//! copying it into a new table. Every step is idempotent and safe while both colors serve:
//! the index is only added, legacy items only gain attributes, and every write is conditional
//! on the item still existing, so a post deleted meanwhile is never brought back.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeValue, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate, Projection,
    ProjectionType, TableStatus,
};

use super::item::Item;
use super::schema::{
    self, FEED_ATTR, FEED_VALUE, INDEXES, IndexState, SchemaError, TIMESTAMP_ATTR, TableShape,
};
use crate::domain::Timestamp;

/// How long to wait for DynamoDB to finish building the index or a new table.
const WAIT_LIMIT: Duration = Duration::from_secs(30 * 60);
const POLL_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("DynamoDB {operation} on {table}: {message}")]
    Call {
        operation: &'static str,
        table: String,
        message: String,
    },
    #[error("gave up after {0:?} waiting for {1}")]
    TimedOut(Duration, String),
}

/// What a migration did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrateReport {
    /// Whether this run asked DynamoDB to create the `ByTimestamp` index.
    pub index_created: bool,
    /// Whether this run asked DynamoDB to create the `ByAuthor` index.
    pub author_index_created: bool,
    /// Legacy items that gained `feed` (and a `timestamp` if they had none).
    pub backfilled: usize,
    /// Legacy items deleted between the scan and their update, left deleted.
    pub vanished: usize,
}

/// What a copy into a new table did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub table_created: bool,
    pub copied: usize,
    /// Items already in the new table (a re-run, or a post edited there since), left alone.
    pub skipped: usize,
}

fn call<
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
>(
    operation: &'static str,
    table: &str,
) -> impl FnOnce(aws_sdk_dynamodb::error::SdkError<E, R>) -> MigrateError {
    let table = table.to_string();
    move |e| MigrateError::Call {
        operation,
        table,
        message: DisplayErrorContext(&e).to_string(),
    }
}

/// Adds the `ByTimestamp` index if missing, backfills legacy items, waits for the index, then
/// does the same for `ByAuthor` (DynamoDB builds one new index on a table at a time; author
/// pages need no backfill, since every item has an `author`).
pub async fn migrate(
    client: &Client,
    table: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<MigrateReport, MigrateError> {
    let mut report = MigrateReport::default();
    let shape = schema::inspect(client, table).await?;
    report.index_created = ensure_index(client, table, 0, &shape, progress).await?;
    let (backfilled, vanished) = backfill(client, table, progress).await?;
    report.backfilled = backfilled;
    report.vanished = vanished;
    wait_for_index(client, table, 0, progress).await?;
    let shape = schema::inspect(client, table).await?;
    report.author_index_created = ensure_index(client, table, 1, &shape, progress).await?;
    wait_for_index(client, table, 1, progress).await?;
    Ok(report)
}

/// The state of [`INDEXES`]`[which]` in `shape`.
fn state(shape: &TableShape, which: usize) -> IndexState {
    if which == 0 {
        shape.index
    } else {
        shape.author_index
    }
}

/// Asks for index `which` of [`INDEXES`] when `shape` lacks it; returns whether it asked.
async fn ensure_index(
    client: &Client,
    table: &str,
    which: usize,
    shape: &TableShape,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<bool, MigrateError> {
    let (name, hash) = INDEXES[which];
    if state(shape, which) != IndexState::Missing {
        progress(&format!("index {name} already on {table}"));
        return Ok(false);
    }
    progress(&format!("adding index {name} to {table}"));
    add_index(client, table, name, hash, shape.provisioned).await?;
    Ok(true)
}

async fn add_index(
    client: &Client,
    table: &str,
    name: &str,
    hash: &str,
    provisioned: Option<(i64, i64)>,
) -> Result<(), MigrateError> {
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name(name)
        .key_schema(schema::key(hash, aws_sdk_dynamodb::types::KeyType::Hash)?)
        .key_schema(schema::key(
            TIMESTAMP_ATTR,
            aws_sdk_dynamodb::types::KeyType::Range,
        )?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .set_provisioned_throughput(
            provisioned
                .map(|(r, w)| schema::throughput(r, w))
                .transpose()?,
        )
        .build()
        .map_err(|e| SchemaError::Call(e.to_string()))?;
    client
        .update_table()
        .table_name(table)
        .attribute_definitions(schema::attr(hash)?)
        .attribute_definitions(schema::attr(TIMESTAMP_ATTR)?)
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().create(create).build(),
        )
        .send()
        .await
        .map_err(call("UpdateTable", table))?;
    Ok(())
}

/// Gives every item without `feed` (or without `timestamp`, which only the seed's edit bug
/// leaves) the attributes the index needs. Returns (backfilled, vanished). `blog migrate` runs
/// it once; `blog --backfill-every` runs it periodically while the seed's app still writes.
pub async fn backfill(
    client: &Client,
    table: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(usize, usize), MigrateError> {
    let (mut done, mut vanished) = (0, 0);
    let mut start: Option<Item> = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .filter_expression("attribute_not_exists(#feed) OR attribute_not_exists(#ts)")
            .projection_expression("post_id, #author")
            .expression_attribute_names("#feed", FEED_ATTR)
            .expression_attribute_names("#ts", TIMESTAMP_ATTR)
            .expression_attribute_names("#author", "author")
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(call("Scan", table))?;
        for key in page.items() {
            let result = client
                .update_item()
                .table_name(table)
                .set_key(Some(key.clone()))
                .update_expression("SET #feed = :feed, #ts = if_not_exists(#ts, :now)")
                .condition_expression("attribute_exists(post_id)")
                .expression_attribute_names("#feed", FEED_ATTR)
                .expression_attribute_names("#ts", TIMESTAMP_ATTR)
                .expression_attribute_values(":feed", AttributeValue::S(FEED_VALUE.into()))
                .expression_attribute_values(
                    ":now",
                    AttributeValue::S(Timestamp::now().as_str().into()),
                )
                .send()
                .await;
            match result {
                Ok(_) => done += 1,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    vanished += 1;
                }
                Err(e) => return Err(call("UpdateItem", table)(e)),
            }
            if (done + vanished) % 500 == 0 {
                progress(&format!("backfilled {done} items so far"));
            }
        }
        match page.last_evaluated_key() {
            Some(key) => start = Some(key.clone()),
            None => break,
        }
    }
    progress(&format!(
        "backfilled {done} legacy items ({vanished} deleted meanwhile)"
    ));
    Ok((done, vanished))
}

async fn wait_for_index(
    client: &Client,
    table: &str,
    which: usize,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), MigrateError> {
    let name = INDEXES[which].0;
    let started = std::time::Instant::now();
    loop {
        match state(&schema::inspect(client, table).await?, which) {
            IndexState::Active => return Ok(()),
            IndexState::Missing => {
                return Err(SchemaError::NoIndex {
                    table: table.into(),
                }
                .into());
            }
            IndexState::Building => {}
        }
        if started.elapsed() > WAIT_LIMIT {
            return Err(MigrateError::TimedOut(
                WAIT_LIMIT,
                format!("index {name} on {table}"),
            ));
        }
        progress(&format!(
            "index {name} on {table} is still being built; waiting"
        ));
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Copies every item of `from` into `to` (created in the blog's shape if missing), adding the
/// index attributes on the way. Items already in `to` are left alone, so a re-run is safe.
pub async fn copy_table(
    client: &Client,
    from: &str,
    to: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<CopyReport, MigrateError> {
    let mut report = CopyReport::default();
    schema::inspect(client, from).await?;
    match schema::inspect(client, to).await {
        Ok(shape) => {
            for which in 0..INDEXES.len() {
                if ensure_index(client, to, which, &shape, progress).await? {
                    wait_for_index(client, to, which, progress).await?;
                }
            }
            progress(&format!("{to} exists; copying into it"));
        }
        Err(SchemaError::NoTable { .. }) => {
            progress(&format!("creating {to}"));
            schema::create_table(client, to).await?;
            report.table_created = true;
            wait_for_table(client, to).await?;
        }
        Err(e) => return Err(e.into()),
    }
    let mut start: Option<Item> = None;
    loop {
        let page = client
            .scan()
            .table_name(from)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(call("Scan", from))?;
        for found in page.items() {
            let mut copy = found.clone();
            copy.insert(FEED_ATTR.into(), AttributeValue::S(FEED_VALUE.into()));
            copy.entry(TIMESTAMP_ATTR.into())
                .or_insert_with(|| AttributeValue::S(Timestamp::now().as_str().into()));
            let result = client
                .put_item()
                .table_name(to)
                .set_item(Some(copy))
                .condition_expression("attribute_not_exists(post_id)")
                .send()
                .await;
            match result {
                Ok(_) => report.copied += 1,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    report.skipped += 1;
                }
                Err(e) => return Err(call("PutItem", to)(e)),
            }
        }
        match page.last_evaluated_key() {
            Some(key) => start = Some(key.clone()),
            None => break,
        }
    }
    progress(&format!(
        "copied {} items from {from} to {to} ({} already there)",
        report.copied, report.skipped
    ));
    for which in 0..INDEXES.len() {
        wait_for_index(client, to, which, progress).await?;
    }
    Ok(report)
}

async fn wait_for_table(client: &Client, table: &str) -> Result<(), MigrateError> {
    let started = std::time::Instant::now();
    loop {
        let out = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(call("DescribeTable", table))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        if started.elapsed() > WAIT_LIMIT {
            return Err(MigrateError::TimedOut(WAIT_LIMIT, format!("table {table}")));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
