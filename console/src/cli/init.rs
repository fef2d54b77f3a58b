//! `bluegreen init --create-tables`: the console's DynamoDB tables for a stack made elsewhere
//! (the tutorial's, say), made as Terraform's base module makes them: the lock table (key
//! `pk`, which also holds each release's record; TTL on `expires_at`) and the journal table
//! (keys `environment` and `id`), both on demand, with point-in-time recovery, encrypted at
//! rest. A table that exists is checked, not changed. The names are the profile's
//! `lock_table` and `journal_table`, else `CLUSTER-locks` and `CLUSTER-journal`, which are then
//! written into the profile.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    ScalarAttributeType, SseSpecification, TableStatus, TimeToLiveSpecification,
};
use serde_json::{Value, json};

use super::Global;
use super::connect::{self, Selected};
use super::outcome::{Failure, Out, Outcome};
use crate::ops::exit;
use crate::platform::aws::{self, AwsOptions, Op};

const DESCRIBE_TABLE: Op = Op::new("dynamodb", "DescribeTable");
const CREATE_TABLE: Op = Op::new("dynamodb", "CreateTable");
const UPDATE_BACKUPS: Op = Op::new("dynamodb", "UpdateContinuousBackups");
const UPDATE_TTL: Op = Op::new("dynamodb", "UpdateTimeToLive");

/// How long a new table may take to become ACTIVE.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

fn failure(code: i32, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
        detail: Value::Null,
    }
}

pub(super) async fn create_tables(g: &Global, out: &Out) -> Outcome {
    let selected = connect::select(g).map_err(|e| failure(exit::FAILURE, format!("{e:#}")))?;
    let Selected::Aws { profile, cfg, .. } = selected else {
        return Err(failure(
            exit::FAILURE,
            "init --create-tables is for an AWS profile: the local platform keeps its lock and journal in its state directory",
        ));
    };
    let opts = AwsOptions {
        aws_profile: g.aws_profile.clone(),
        region: g.region.clone(),
    };
    let sdk = aws::load_sdk_config(&cfg, &opts).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let lock = cfg
        .lock_table
        .clone()
        .unwrap_or_else(|| format!("{}-locks", cfg.cluster));
    let journal = cfg
        .journal_table
        .clone()
        .unwrap_or_else(|| format!("{}-journal", cfg.cluster));
    let lock_said = ensure(&ddb, &lock, &[("pk", KeyType::Hash)], Some("expires_at")).await?;
    let journal_said = ensure(
        &ddb,
        &journal,
        &[("environment", KeyType::Hash), ("id", KeyType::Range)],
        None,
    )
    .await?;
    let mut human =
        format!("lock table {lock}: {lock_said}\njournal table {journal}: {journal_said}");
    if cfg.lock_table.is_none() || cfg.journal_table.is_none() {
        let path = connect::config_path(g)
            .ok_or_else(|| failure(exit::FAILURE, "no bluegreen.toml to record the tables in"))?;
        crate::config::terraform::set_profile_keys(
            &path,
            &profile,
            &[("lock_table", &lock), ("journal_table", &journal)],
        )
        .map_err(|e| failure(exit::FAILURE, e.to_string()))?;
        human += &format!("\nprofile `{profile}` in {} names them", path.display());
    }
    out.print(
        &human,
        json!({ "ok": true, "lock_table": lock, "journal_table": journal }),
    );
    Ok(exit::OK)
}

/// Makes table `name` with `keys` (all strings) unless it exists; an existing one must have
/// those keys. Returns what was done.
async fn ensure(
    ddb: &aws_sdk_dynamodb::Client,
    name: &str,
    keys: &[(&str, KeyType)],
    ttl: Option<&str>,
) -> Result<String, Failure> {
    let fail = |e: crate::platform::PlatformError| failure(exit::PLATFORM, e.to_string());
    match ddb.describe_table().table_name(name).send().await {
        Ok(out) => {
            let have: Vec<(String, KeyType)> = out
                .table()
                .map(|t| t.key_schema())
                .unwrap_or_default()
                .iter()
                .map(|k| (k.attribute_name().to_string(), k.key_type().clone()))
                .collect();
            let want: Vec<(String, KeyType)> = keys
                .iter()
                .map(|(n, t)| (n.to_string(), t.clone()))
                .collect();
            if have == want {
                return Ok("exists, keyed as the console needs (left as it is)".into());
            }
            return Err(failure(
                exit::FAILURE,
                format!(
                    "table {name} exists but is keyed {have:?}, not {want:?}: name another table in the profile (`lock_table`/`journal_table`), or remove it"
                ),
            ));
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) => {}
        Err(e) => return Err(fail(DESCRIBE_TABLE.error(name, e))),
    }
    let mut create = ddb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .sse_specification(SseSpecification::builder().enabled(true).build());
    for (key, kind) in keys {
        let def = AttributeDefinition::builder()
            .attribute_name(*key)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| failure(exit::FAILURE, e.to_string()))?;
        let schema = KeySchemaElement::builder()
            .attribute_name(*key)
            .key_type(kind.clone())
            .build()
            .map_err(|e| failure(exit::FAILURE, e.to_string()))?;
        create = create.attribute_definitions(def).key_schema(schema);
    }
    create
        .send()
        .await
        .map_err(|e| fail(CREATE_TABLE.error(name, e)))?;
    let deadline = tokio::time::Instant::now() + ACTIVE_TIMEOUT;
    loop {
        let out = ddb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| fail(DESCRIBE_TABLE.error(name, e)))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(failure(
                exit::TIMED_OUT,
                format!(
                    "table {name} was created but is not ACTIVE after {ACTIVE_TIMEOUT:?}; run init --create-tables again later"
                ),
            ));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    ddb.update_continuous_backups()
        .table_name(name)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()
                .map_err(|e| failure(exit::FAILURE, e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| fail(UPDATE_BACKUPS.error(name, e)))?;
    if let Some(attr) = ttl {
        ddb.update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(attr)
                    .build()
                    .map_err(|e| failure(exit::FAILURE, e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| fail(UPDATE_TTL.error(name, e)))?;
    }
    Ok(format!(
        "created (on demand, point-in-time recovery, encrypted{})",
        ttl.map(|a| format!(", TTL on {a}")).unwrap_or_default()
    ))
}
