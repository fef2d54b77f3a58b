//! `blog migrate` on DynamoDB creates the accounts table when it is missing: on-demand
//! billing, hash key `name` (S). Run with an operator's credentials; idempotent.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
};

use super::dynamodb::NAME_ATTR;
use crate::store::dynamodb::migrate::MigrateError;

const ACTIVE_WAIT: Duration = Duration::from_secs(120);

/// Creates `table` unless it exists; `true` when this call created it.
pub async fn ensure_table(
    client: &Client,
    table: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<bool, MigrateError> {
    let call = |operation: &'static str| {
        move |message: String| MigrateError::Call {
            operation,
            table: table.to_string(),
            message,
        }
    };
    match client.describe_table().table_name(table).send().await {
        Ok(_) => {
            progress(&format!("accounts table {table} already present"));
            return Ok(false);
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) => {}
        Err(e) => return Err(call("DescribeTable")(DisplayErrorContext(&e).to_string())),
    }
    progress(&format!("creating accounts table {table}"));
    let definition = AttributeDefinition::builder()
        .attribute_name(NAME_ATTR)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| call("CreateTable")(e.to_string()))?;
    let key = KeySchemaElement::builder()
        .attribute_name(NAME_ATTR)
        .key_type(KeyType::Hash)
        .build()
        .map_err(|e| call("CreateTable")(e.to_string()))?;
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(definition)
        .key_schema(key)
        .send()
        .await
        .map_err(|e| call("CreateTable")(DisplayErrorContext(&e).to_string()))?;
    let started = std::time::Instant::now();
    loop {
        let desc = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| call("DescribeTable")(DisplayErrorContext(&e).to_string()))?;
        if desc.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(true);
        }
        if started.elapsed() > ACTIVE_WAIT {
            return Err(MigrateError::TimedOut(
                ACTIVE_WAIT,
                format!("table {table} to be active"),
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
