//! The DynamoDB store on the seed's table (`BlogPosts` by default): `post_id` hash key,
//! `author` range key. Listing queries the `ByTimestamp` index newest first, a page at a time,
//! instead of the seed's full Scan; one post is a Query on its `post_id`.

pub mod item;
pub mod migrate;
pub mod schema;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;

use self::schema::{FEED_ATTR, FEED_VALUE, INDEX, IndexState, SchemaError, TIMESTAMP_ATTR};
use super::{Cursor, Order, PostStore, Scope, StoreError, newest_first};
use crate::domain::{Edit, FieldLimits, Format, Post, PostId, PostKey, PostSummary, Timestamp};

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    limits: FieldLimits,
}

impl DynamoStore {
    /// Checks the table (key, listing index) and learns its index limits.
    pub async fn open(client: Client, table: &str) -> Result<Self, SchemaError> {
        let shape = schema::inspect(&client, table).await?;
        match shape.index {
            IndexState::Active => {}
            IndexState::Missing => {
                return Err(SchemaError::NoIndex {
                    table: table.into(),
                });
            }
            IndexState::Building => {
                return Err(SchemaError::Call(format!(
                    "the {INDEX} index on {table} is still being built; wait for `blog migrate` to finish"
                )));
            }
        }
        Ok(Self {
            client,
            table: table.to_string(),
            limits: shape.limits,
        })
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

fn call_failed<E, R>(operation: &str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::backend(format!("DynamoDB {operation}"), e)
}

/// An index key DynamoDB refused (the seed table's title/content indexes).
fn rejected_or_failed<E, R>(operation: &str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if let Some(service) = e.as_service_error()
        && service.code() == Some("ValidationException")
    {
        return StoreError::Rejected(service.message().unwrap_or("invalid item").to_string());
    }
    call_failed(operation, e)
}

#[async_trait]
impl PostStore for DynamoStore {
    fn kind(&self) -> &'static str {
        "dynamodb"
    }

    fn limits(&self) -> FieldLimits {
        self.limits
    }

    async fn feed(
        &self,
        scope: Scope<'_>,
        after: Option<&Cursor>,
        order: Order,
        limit: usize,
    ) -> Result<Vec<PostSummary>, StoreError> {
        let mut posts = Vec::with_capacity(limit);
        // Every post, through `ByTimestamp` (one partition, `feed = "posts"`); one author's,
        // through `ByAuthor` (partition `author`). Both sort by `timestamp`.
        let (index, attr, value) = match scope {
            Scope::All => (INDEX, FEED_ATTR, FEED_VALUE),
            Scope::Author(author) => (schema::AUTHOR_INDEX, "author", author),
        };
        let mut start = after.map(|c| match scope {
            Scope::All => item::start_key(c),
            Scope::Author(_) => item::author_start_key(c),
        });
        // A query page stops at 1 MB; long posts can need a second round trip.
        loop {
            let want = i32::try_from(limit - posts.len()).unwrap_or(i32::MAX);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#part = :part")
                .expression_attribute_names("#part", attr)
                .expression_attribute_values(":part", AttributeValue::S(value.into()))
                .scan_index_forward(order == Order::OldestFirst)
                .limit(want)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| call_failed("Query", e))?;
            for found in out.items() {
                posts.push(item::summary_from_item(found)?);
            }
            match out.last_evaluated_key() {
                Some(key) if posts.len() < limit => start = Some(key.clone()),
                _ => break,
            }
        }
        posts.truncate(limit);
        Ok(posts)
    }

    async fn versions(&self, id: &PostId) -> Result<Vec<Post>, StoreError> {
        let mut posts = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("post_id = :id")
                .expression_attribute_values(":id", AttributeValue::S(id.as_str().into()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| call_failed("Query", e))?;
            for found in out.items() {
                posts.push(item::from_item(found)?);
            }
            match out.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => break,
            }
        }
        newest_first(&mut posts);
        Ok(posts)
    }

    async fn create(&self, post: &Post) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item::to_item(post)))
            .condition_expression("attribute_not_exists(post_id)")
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception())
                {
                    StoreError::Rejected(format!("post {} already exists", post.id))
                } else {
                    rejected_or_failed("PutItem", e)
                }
            })?;
        Ok(())
    }

    async fn update(&self, key: &PostKey, edit: &Edit) -> Result<(), StoreError> {
        // Also files a legacy item into the listing index, as the backfill would. A plain-text
        // item stays without the Markdown marker unless the edit chose Markdown. The revision
        // goes up by one, on the condition that it is the one the edit started from.
        let set = "SET title = :title, content = :content, #feed = :feed, \
                   #ts = if_not_exists(#ts, :now)";
        let expression = match edit.format {
            Format::Markdown => format!("{set}, #fmt = :markdown ADD #rev :one"),
            Format::Plain => format!("{set} REMOVE #fmt ADD #rev :one"),
        };
        let condition = match edit.expected {
            None => "attribute_exists(post_id)",
            Some(0) => {
                "attribute_exists(post_id) AND (attribute_not_exists(#rev) OR #rev = :expected)"
            }
            Some(_) => "attribute_exists(post_id) AND #rev = :expected",
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(key)))
            .update_expression(expression)
            .condition_expression(condition)
            .expression_attribute_names("#fmt", item::FORMAT_ATTR)
            .expression_attribute_names("#rev", item::REVISION_ATTR)
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        if edit.format == Format::Markdown {
            update = update.expression_attribute_values(
                ":markdown",
                AttributeValue::S(Format::MARKDOWN.into()),
            );
        }
        if let Some(expected) = edit.expected {
            update = update
                .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()));
        }
        let sent = update
            .expression_attribute_names("#feed", FEED_ATTR)
            .expression_attribute_names("#ts", TIMESTAMP_ATTR)
            .expression_attribute_values(":title", AttributeValue::S(edit.title.as_str().into()))
            .expression_attribute_values(
                ":content",
                AttributeValue::S(edit.content.as_str().into()),
            )
            .expression_attribute_values(":feed", AttributeValue::S(FEED_VALUE.into()))
            .expression_attribute_values(
                ":now",
                AttributeValue::S(Timestamp::now().as_str().into()),
            )
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                // Gone, or changed since the edit began: a read tells which (a Query, which
                // the task role may make; it has no GetItem on this table).
                let versions = self.versions(&key.id).await?;
                Err(if versions.iter().any(|p| p.author == key.author) {
                    StoreError::Conflict
                } else {
                    StoreError::NotFound
                })
            }
            Err(e) => Err(rejected_or_failed("UpdateItem", e)),
        }
    }

    async fn delete(&self, key: &PostKey) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(item::key(key)))
            .condition_expression("attribute_exists(post_id)")
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception())
                {
                    StoreError::NotFound
                } else {
                    call_failed("DeleteItem", e)
                }
            })?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| call_failed("DescribeTable", e))?;
        Ok(())
    }
}
