//! The seed's table and the index this blog adds to it, as DynamoDB describes them.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType,
    Projection, ProjectionType, ProvisionedThroughput, ScalarAttributeType, TableDescription,
};

use crate::domain::FieldLimits;

/// The seed's table name, the default.
pub const DEFAULT_TABLE: &str = "BlogPosts";
/// The global secondary index that orders posts by time; its name and key are fixed
/// (docs/blog.md, "DynamoDB: the listing index").
pub const INDEX: &str = "ByTimestamp";
/// Its partition key attribute, and the one value every post carries in it.
pub const FEED_ATTR: &str = "feed";
pub const FEED_VALUE: &str = "posts";
pub const TIMESTAMP_ATTR: &str = "timestamp";
/// One author's posts by time: partition `author`, sort `timestamp` (`/authors/NAME`).
pub const AUTHOR_INDEX: &str = "ByAuthor";
pub const AUTHOR_ATTR: &str = "author";

/// The global secondary indexes the blog reads, each with its partition key (all sort by
/// `timestamp`, all project everything), in the order `blog migrate` adds them.
pub const INDEXES: [(&str, &str); 2] = [(INDEX, FEED_ATTR), (AUTHOR_INDEX, AUTHOR_ATTR)];

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("DynamoDB table {table} does not exist")]
    NoTable { table: String },
    #[error(
        "DynamoDB table {table} is keyed {found}; the blog needs post_id (hash, S) and author (range, S), the seed's key"
    )]
    WrongKey { table: String, found: String },
    #[error(
        "DynamoDB table {table} has an index {index} keyed {found}; the blog needs {} (hash) and timestamp (range)",
        partition_of(index)
    )]
    WrongIndex {
        table: String,
        index: &'static str,
        found: String,
    },
    #[error(
        "DynamoDB table {table} has no {INDEX} index yet; run `blog migrate --store dynamodb:{table}` once"
    )]
    NoIndex { table: String },
    #[error("DynamoDB: {0}")]
    Call(String),
}

/// The partition key of index `name` (one of [`INDEXES`]).
fn partition_of(name: &str) -> &'static str {
    INDEXES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, hash)| *hash)
        .unwrap_or(FEED_ATTR)
}

/// The state of the listing index on a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexState {
    Missing,
    /// Being built (DynamoDB backfills a new index before it turns ACTIVE).
    Building,
    Active,
}

/// What the blog needs to know about a table.
#[derive(Clone, Debug)]
pub struct TableShape {
    /// `ByTimestamp`, the listing index.
    pub index: IndexState,
    /// `ByAuthor`, for author pages (added by `blog migrate`; the blog starts without it).
    pub author_index: IndexState,
    pub limits: FieldLimits,
    /// Read and write capacity when the table is provisioned; a new index needs its own.
    pub provisioned: Option<(i64, i64)>,
}

/// Describes `table` and checks that it has the seed's key and, if present, a well-formed index.
pub async fn inspect(client: &Client, table: &str) -> Result<TableShape, SchemaError> {
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception())
            {
                SchemaError::NoTable {
                    table: table.into(),
                }
            } else {
                SchemaError::Call(DisplayErrorContext(&e).to_string())
            }
        })?;
    let desc = described
        .table()
        .ok_or_else(|| SchemaError::Call(format!("DescribeTable({table}) returned no table")))?;
    shape_of(table, desc)
}

fn keys(schema: &[KeySchemaElement]) -> (Option<&str>, Option<&str>) {
    let find = |kind: KeyType| {
        schema
            .iter()
            .find(|k| *k.key_type() == kind)
            .map(|k| k.attribute_name())
    };
    (find(KeyType::Hash), find(KeyType::Range))
}

fn describe_keys(schema: &[KeySchemaElement]) -> String {
    match keys(schema) {
        (Some(h), Some(r)) => format!("{h} (hash) and {r} (range)"),
        (Some(h), None) => format!("{h} (hash) only"),
        _ => "oddly".into(),
    }
}

pub(crate) fn shape_of(table: &str, desc: &TableDescription) -> Result<TableShape, SchemaError> {
    if keys(desc.key_schema()) != (Some("post_id"), Some("author")) {
        return Err(SchemaError::WrongKey {
            table: table.into(),
            found: describe_keys(desc.key_schema()),
        });
    }
    let mut limits = FieldLimits::default();
    let mut mark = |schema: &[KeySchemaElement]| {
        for key in schema {
            match key.attribute_name() {
                "title" => limits.title_indexed = true,
                "content" => limits.content_indexed = true,
                _ => {}
            }
        }
    };
    for lsi in desc.local_secondary_indexes() {
        mark(lsi.key_schema());
    }
    let mut states = [IndexState::Missing; INDEXES.len()];
    for gsi in desc.global_secondary_indexes() {
        mark(gsi.key_schema());
        for (i, (name, hash)) in INDEXES.iter().enumerate() {
            if gsi.index_name() != Some(*name) {
                continue;
            }
            if keys(gsi.key_schema()) != (Some(*hash), Some(TIMESTAMP_ATTR)) {
                return Err(SchemaError::WrongIndex {
                    table: table.into(),
                    index: name,
                    found: describe_keys(gsi.key_schema()),
                });
            }
            states[i] = match gsi.index_status() {
                Some(IndexStatus::Active) | None => IndexState::Active,
                Some(_) => IndexState::Building,
            };
        }
    }
    let [index, author_index] = states;
    let on_demand = desc
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .is_some_and(|m| *m == BillingMode::PayPerRequest);
    let provisioned = if on_demand {
        None
    } else {
        desc.provisioned_throughput().map(|p| {
            (
                p.read_capacity_units().unwrap_or(1).max(1),
                p.write_capacity_units().unwrap_or(1).max(1),
            )
        })
    };
    Ok(TableShape {
        index,
        author_index,
        limits,
        provisioned,
    })
}

pub(crate) fn attr(name: &str) -> Result<AttributeDefinition, SchemaError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| SchemaError::Call(e.to_string()))
}

pub(crate) fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, SchemaError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| SchemaError::Call(e.to_string()))
}

pub(crate) fn throughput(read: i64, write: i64) -> Result<ProvisionedThroughput, SchemaError> {
    ProvisionedThroughput::builder()
        .read_capacity_units(read)
        .write_capacity_units(write)
        .build()
        .map_err(|e| SchemaError::Call(e.to_string()))
}

/// The definition of index `name` (partition `hash`, sort `timestamp`, projecting everything),
/// as a table created by the blog carries it.
pub fn index_definition(
    name: &str,
    hash: &str,
    provisioned: Option<(i64, i64)>,
) -> Result<GlobalSecondaryIndex, SchemaError> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash)?)
        .key_schema(key(TIMESTAMP_ATTR, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .set_provisioned_throughput(provisioned.map(|(r, w)| throughput(r, w)).transpose()?)
        .build()
        .map_err(|e| SchemaError::Call(e.to_string()))
}

/// Creates a table in the blog's own shape: the seed's key, both indexes, on-demand
/// billing, and no index on title or content (so neither has the 1,024-byte limit).
pub async fn create_table(client: &Client, table: &str) -> Result<(), SchemaError> {
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("post_id")?)
        .attribute_definitions(attr("author")?)
        .attribute_definitions(attr(FEED_ATTR)?)
        .attribute_definitions(attr(TIMESTAMP_ATTR)?)
        .key_schema(key("post_id", KeyType::Hash)?)
        .key_schema(key("author", KeyType::Range)?)
        .global_secondary_indexes(index_definition(INDEX, FEED_ATTR, None)?)
        .global_secondary_indexes(index_definition(AUTHOR_INDEX, AUTHOR_ATTR, None)?)
        .send()
        .await
        .map_err(|e| SchemaError::Call(DisplayErrorContext(&e).to_string()))?;
    Ok(())
}
