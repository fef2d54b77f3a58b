//! Accounts in their own DynamoDB table (`BlogAuthors` by default, hash key `name`), never in
//! the posts table. While serving, the blog only reads an account (GetItem, strongly
//! consistent, so a password change ends older sessions at once) and bumps its session epoch
//! when an author signs out everywhere (UpdateItem). `blog user …` adds, changes, lists and
//! removes accounts with an operator's credentials (`admin.rs`).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;

use super::Account;
use crate::store::StoreError;

pub const DEFAULT_TABLE: &str = "BlogAuthors";
pub const NAME_ATTR: &str = "name";

pub(crate) type Item = HashMap<String, AttributeValue>;

/// The accounts table.
#[derive(Clone)]
pub struct DynamoAccounts {
    pub(crate) client: Client,
    pub(crate) table: String,
}

impl DynamoAccounts {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_string(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

pub(crate) fn failed<
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
>(
    operation: &str,
    table: &str,
) -> impl FnOnce(aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError {
    let context = format!("DynamoDB {operation} on {table}");
    move |e| StoreError::backend(context, DisplayErrorContext(&e).to_string())
}

/// Whether a call failed only because its condition did not hold.
pub(crate) fn condition_failed<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_dynamodb::error::SdkError<E, R>,
) -> bool {
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

pub(crate) fn to_item(account: &Account) -> Item {
    HashMap::from([
        (
            NAME_ATTR.to_string(),
            AttributeValue::S(account.name.clone()),
        ),
        (
            "password_hash".to_string(),
            AttributeValue::S(account.password_hash.clone()),
        ),
        ("admin".to_string(), AttributeValue::Bool(account.admin)),
        (
            "session_epoch".to_string(),
            AttributeValue::N(account.session_epoch.to_string()),
        ),
    ])
}

pub(crate) fn from_item(item: &Item) -> Result<Account, StoreError> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(StoreError::backend(
            "reading an account",
            format!("the item has no string attribute {name}"),
        )),
    };
    Ok(Account {
        name: text(NAME_ATTR)?,
        password_hash: text("password_hash")?,
        admin: matches!(item.get("admin"), Some(AttributeValue::Bool(true))),
        session_epoch: match item.get("session_epoch") {
            Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
            _ => 0,
        },
    })
}

#[async_trait]
impl super::AccountStore for DynamoAccounts {
    async fn account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(NAME_ATTR, AttributeValue::S(name.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(failed("GetItem", &self.table))?;
        out.item().map(from_item).transpose()
    }

    async fn add(&self, account: &Account) -> Result<(), StoreError> {
        super::admin::add(self, account).await
    }

    async fn set_password(&self, name: &str, hash: &str) -> Result<(), StoreError> {
        self.bump(name, Some(hash)).await
    }

    async fn end_sessions(&self, name: &str) -> Result<(), StoreError> {
        self.bump(name, None).await
    }

    async fn remove(&self, name: &str) -> Result<(), StoreError> {
        super::admin::remove(self, name).await
    }

    async fn list(&self) -> Result<Vec<Account>, StoreError> {
        super::admin::list(self).await
    }
}

impl DynamoAccounts {
    /// Bumps the session epoch, and sets a new hash when given; never creates an account.
    async fn bump(&self, name: &str, hash: Option<&str>) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(NAME_ATTR, AttributeValue::S(name.to_string()))
            .condition_expression("attribute_exists(#n)")
            .expression_attribute_names("#n", NAME_ATTR)
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        update = match hash {
            Some(hash) => update
                .update_expression("SET password_hash = :h ADD session_epoch :one")
                .expression_attribute_values(":h", AttributeValue::S(hash.to_string())),
            None => update.update_expression("ADD session_epoch :one"),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Err(StoreError::NotFound),
            Err(e) => Err(failed("UpdateItem", &self.table)(e)),
        }
    }
}
