//! The account calls only `blog user …` makes, with an operator's credentials: the task role
//! does not grant them (Terraform gives the serving blog GetItem and UpdateItem only).

use aws_sdk_dynamodb::types::AttributeValue;

use super::Account;
use super::dynamodb::{DynamoAccounts, NAME_ATTR, condition_failed, failed, from_item, to_item};
use crate::store::StoreError;

pub(super) async fn add(accounts: &DynamoAccounts, account: &Account) -> Result<(), StoreError> {
    let put = accounts
        .client
        .put_item()
        .table_name(&accounts.table)
        .set_item(Some(to_item(account)))
        .condition_expression("attribute_not_exists(#n)")
        .expression_attribute_names("#n", NAME_ATTR)
        .send()
        .await;
    match put {
        Ok(_) => Ok(()),
        Err(e) if condition_failed(&e) => Err(StoreError::Rejected(format!(
            "there is already an account called {:?}",
            account.name
        ))),
        Err(e) => Err(failed("PutItem", &accounts.table)(e)),
    }
}

pub(super) async fn remove(accounts: &DynamoAccounts, name: &str) -> Result<(), StoreError> {
    let delete = accounts
        .client
        .delete_item()
        .table_name(&accounts.table)
        .key(NAME_ATTR, AttributeValue::S(name.to_string()))
        .condition_expression("attribute_exists(#n)")
        .expression_attribute_names("#n", NAME_ATTR)
        .send()
        .await;
    match delete {
        Ok(_) => Ok(()),
        Err(e) if condition_failed(&e) => Err(StoreError::NotFound),
        Err(e) => Err(failed("DeleteItem", &accounts.table)(e)),
    }
}

pub(super) async fn list(accounts: &DynamoAccounts) -> Result<Vec<Account>, StoreError> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = accounts
            .client
            .scan()
            .table_name(&accounts.table)
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .map_err(failed("Scan", &accounts.table))?;
        for item in page.items() {
            out.push(from_item(item)?);
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
