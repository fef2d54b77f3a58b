//! What the `blog` binary does before and beside serving: open the store named by `--store`,
//! build the DynamoDB client from the AWS environment, keep re-running the legacy backfill, and
//! carry out `blog migrate`. Errors are typed so the binary only adds context; each one names
//! the problem and what to do about it.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;

use crate::accounts::AccountStore;
use crate::accounts::dynamodb::{DEFAULT_TABLE as DEFAULT_AUTHORS, DynamoAccounts};
use crate::config::{StoreSpec, StoreSpecError, valid_table};
use crate::store::PostStore;
use crate::store::dynamodb::DynamoStore;
use crate::store::dynamodb::migrate::{self, MigrateError};
use crate::store::dynamodb::schema::{INDEX, SchemaError};
use crate::store::sqlite::{self, SqliteStore};
use crate::telemetry::Chain;

// AWS's defaults wait far longer than a supervisor waits for the first stdout line, so an
// unreachable endpoint would look like a hung start instead of an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Sqlite(#[from] sqlite::OpenError),
    #[error("no AWS region for the DynamoDB store: set AWS_REGION (or a profile's region)")]
    NoRegion,
    #[error(transparent)]
    Dynamo(#[from] SchemaError),
    #[error(transparent)]
    TableName(#[from] StoreSpecError),
    #[error("--to copies DynamoDB tables; the store is {0}. Pass --store dynamodb:TABLE")]
    CopyNeedsDynamo(StoreSpec),
    #[error("--to names the table being copied ({0}); pick a new name")]
    CopyOntoItself(String),
    #[error("migrating {table}")]
    Migrate {
        table: String,
        #[source]
        source: MigrateError,
    },
    #[error("copying {from} to {to}")]
    Copy {
        from: String,
        to: String,
        #[source]
        source: MigrateError,
    },
}

/// An open store. `dynamo` is the same store again when it is DynamoDB, for the backfill;
/// `accounts` the authors' accounts beside it (SQLite: the same file; DynamoDB: their table).
pub struct OpenStore {
    pub store: Arc<dyn PostStore>,
    pub dynamo: Option<DynamoStore>,
    pub accounts: Arc<dyn AccountStore>,
}

/// Opens the store `spec` names: SQLite creates the file and schema if needed; DynamoDB checks
/// the table's key and its listing index, so a table `blog migrate` has not prepared fails
/// here, with the command to run, instead of on the first request.
pub async fn open_store(spec: &StoreSpec) -> Result<OpenStore, StartupError> {
    open_store_with(spec, DEFAULT_AUTHORS).await
}

/// [`open_store`] with the DynamoDB accounts table named `authors_table`.
pub async fn open_store_with(
    spec: &StoreSpec,
    authors_table: &str,
) -> Result<OpenStore, StartupError> {
    Ok(match spec {
        StoreSpec::Sqlite(path) => {
            let store = Arc::new(SqliteStore::open(path)?);
            OpenStore {
                store: store.clone(),
                dynamo: None,
                accounts: store,
            }
        }
        StoreSpec::Dynamo(table) => {
            let authors_table = valid_table(authors_table)?;
            let client = dynamo_client().await?;
            let store = DynamoStore::open(client.clone(), table).await?;
            OpenStore {
                store: Arc::new(store.clone()),
                dynamo: Some(store),
                accounts: Arc::new(DynamoAccounts::new(client, authors_table)),
            }
        }
    })
}

/// The accounts of the store `spec` names, for `blog user …`.
pub async fn open_accounts(
    spec: &StoreSpec,
    authors_table: &str,
) -> Result<Arc<dyn AccountStore>, StartupError> {
    Ok(match spec {
        StoreSpec::Sqlite(path) => Arc::new(SqliteStore::open(path)?),
        StoreSpec::Dynamo(_) => Arc::new(DynamoAccounts::new(
            dynamo_client().await?,
            valid_table(authors_table)?,
        )),
    })
}

/// A DynamoDB client from the AWS environment (`AWS_*` variables, profiles, the ECS task
/// role), with timeouts short enough to fail a start quickly.
pub async fn dynamo_client() -> Result<Client, StartupError> {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await;
    client_for(&config)
}

/// The client for a loaded configuration. Without a region the SDK would only fail at the first
/// call, with a message that does not say which setting is missing.
pub fn client_for(config: &SdkConfig) -> Result<Client, StartupError> {
    if config.region().is_none() {
        return Err(StartupError::NoRegion);
    }
    Ok(Client::new(config))
}

/// What `--backfill-every` asks of the store that was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backfill {
    /// Not asked for (unset, or 0).
    Off,
    Every(Duration),
    /// Asked for, but only DynamoDB has legacy items to file; worth a warning.
    NotDynamo,
}

impl Backfill {
    pub fn plan(every_secs: Option<u64>, is_dynamo: bool) -> Self {
        match every_secs {
            None => Backfill::Off,
            Some(_) if !is_dynamo => Backfill::NotDynamo,
            Some(0) => Backfill::Off,
            Some(secs) => Backfill::Every(Duration::from_secs(secs)),
        }
    }
}

/// Starts the periodic backfill `every_secs` asks for, in the background, and logs when it
/// does not apply. Call it after logging is set up, so the warning is seen.
pub fn start_backfill(every_secs: Option<u64>, opened: &OpenStore) {
    match (
        Backfill::plan(every_secs, opened.dynamo.is_some()),
        &opened.dynamo,
    ) {
        (Backfill::Every(every), Some(store)) => {
            tokio::spawn(backfill_loop(store.clone(), every));
        }
        (Backfill::NotDynamo, _) => {
            tracing::warn!("--backfill-every applies to the DynamoDB store only; ignored")
        }
        _ => {}
    }
}

/// Repeats the migration's backfill, so posts the seed's app writes during a blue/green shift
/// show up in this blog's listing within one interval. A failed round is only logged: the next
/// one retries, and serving does not depend on it.
async fn backfill_loop(store: DynamoStore, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let mut quiet = |_: &str| {};
        match migrate::backfill(store.client(), store.table(), &mut quiet).await {
            Ok((0, _)) => {}
            Ok((filed, _)) => {
                tracing::info!(items = filed, "filed legacy posts into the listing index")
            }
            Err(e) => tracing::warn!(error = %Chain(&e), "periodic backfill failed; will retry"),
        }
    }
}

/// `blog migrate [--to NEW_TABLE]`: brings the store up to date, or copies a DynamoDB table
/// into `to`. `progress` gets one line per step; the result is the closing summary.
pub async fn migrate_store(
    spec: &StoreSpec,
    to: Option<&str>,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<String, StartupError> {
    migrate_store_with(spec, to, DEFAULT_AUTHORS, progress).await
}

/// [`migrate_store`], creating the DynamoDB accounts table `authors_table` if it is missing.
pub async fn migrate_store_with(
    spec: &StoreSpec,
    to: Option<&str>,
    authors_table: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<String, StartupError> {
    match (spec, to) {
        (StoreSpec::Sqlite(path), None) => {
            SqliteStore::open(path)?;
            Ok(format!("SQLite database {} is up to date", path.display()))
        }
        (StoreSpec::Sqlite(_), Some(_)) => Err(StartupError::CopyNeedsDynamo(spec.clone())),
        (StoreSpec::Dynamo(table), None) => {
            let authors_table = valid_table(authors_table)?;
            let client = dynamo_client().await?;
            let report = migrate::migrate(&client, table, progress)
                .await
                .map_err(|source| StartupError::Migrate {
                    table: table.clone(),
                    source,
                })?;
            let authors_created =
                crate::accounts::migrate::ensure_table(&client, authors_table, progress)
                    .await
                    .map_err(|source| StartupError::Migrate {
                        table: authors_table.to_string(),
                        source,
                    })?;
            Ok(format!(
                "{table}: index {INDEX} ({}), {} legacy items backfilled, {} deleted meanwhile; \
                 accounts table {authors_table} ({})",
                if report.index_created {
                    "created"
                } else {
                    "already present"
                },
                report.backfilled,
                report.vanished,
                if authors_created {
                    "created"
                } else {
                    "already present"
                }
            ))
        }
        (StoreSpec::Dynamo(table), Some(new_table)) => {
            // Both checks come before any AWS call, so a typo costs no round trip.
            let new_table = valid_table(new_table)?;
            if new_table == table {
                return Err(StartupError::CopyOntoItself(table.clone()));
            }
            let report = migrate::copy_table(&dynamo_client().await?, table, new_table, progress)
                .await
                .map_err(|source| StartupError::Copy {
                    from: table.clone(),
                    to: new_table.to_string(),
                    source,
                })?;
            Ok(format!(
                "{table} -> {new_table}: {} copied, {} already there{}; point BLOG_STORE at dynamodb:{new_table}",
                report.copied,
                report.skipped,
                if report.table_created {
                    ", table created"
                } else {
                    ""
                }
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_config::{BehaviorVersion, Region};

    use super::*;

    fn no_progress() -> impl FnMut(&str) + Send {
        |line: &str| panic!("no step should run, got {line:?}")
    }

    #[tokio::test]
    async fn opens_a_sqlite_store_in_a_new_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blog.db");
        let opened = open_store(&StoreSpec::Sqlite(path.clone()))
            .await
            .expect("open");
        assert_eq!(opened.store.kind(), "sqlite");
        assert!(opened.dynamo.is_none());
        assert!(path.exists());
        opened.store.ping().await.expect("the new store answers");
    }

    #[tokio::test]
    async fn a_sqlite_path_that_cannot_be_created_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("no-such-dir").join("blog.db");
        let Err(e) = open_store(&StoreSpec::Sqlite(path.clone())).await else {
            panic!("a file in a missing directory opened");
        };
        let message = e.to_string();
        assert!(
            message.starts_with(&format!(
                "cannot open the SQLite database {}",
                path.display()
            )),
            "{message}"
        );
    }

    #[test]
    fn a_missing_region_says_which_setting_to_give() {
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .build();
        let Err(e) = client_for(&config) else {
            panic!("a client without a region");
        };
        assert!(matches!(e, StartupError::NoRegion));
        assert!(e.to_string().contains("set AWS_REGION"), "{e}");
    }

    #[test]
    fn a_region_is_enough_for_a_client() {
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .build();
        let client = client_for(&config).expect("client");
        let region = client.config().region().map(ToString::to_string);
        assert_eq!(region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn backfill_runs_only_on_dynamodb_and_only_when_asked() {
        assert_eq!(Backfill::plan(None, true), Backfill::Off);
        assert_eq!(Backfill::plan(None, false), Backfill::Off);
        assert_eq!(Backfill::plan(Some(0), true), Backfill::Off);
        assert_eq!(
            Backfill::plan(Some(30), true),
            Backfill::Every(Duration::from_secs(30))
        );
        assert_eq!(Backfill::plan(Some(30), false), Backfill::NotDynamo);
        assert_eq!(Backfill::plan(Some(0), false), Backfill::NotDynamo);
    }

    #[tokio::test]
    async fn migrating_sqlite_creates_the_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blog.db");
        let summary = migrate_store(&StoreSpec::Sqlite(path.clone()), None, &mut no_progress())
            .await
            .expect("migrate");
        assert_eq!(
            summary,
            format!("SQLite database {} is up to date", path.display())
        );
        let conn = rusqlite::Connection::open(&path).expect("open");
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'posts'",
                [],
                |row| row.get(0),
            )
            .expect("query");
        assert_eq!(tables, 1);
    }

    #[tokio::test]
    async fn copying_a_sqlite_store_points_at_dynamodb() {
        let spec = StoreSpec::Sqlite("blog.db".into());
        let Err(e) = migrate_store(&spec, Some("BlogPostsV2"), &mut no_progress()).await else {
            panic!("--to on SQLite went ahead");
        };
        assert_eq!(
            e.to_string(),
            "--to copies DynamoDB tables; the store is sqlite:blog.db. Pass --store dynamodb:TABLE"
        );
    }

    #[tokio::test]
    async fn copy_targets_are_checked_before_any_aws_call() {
        let spec = StoreSpec::Dynamo("BlogPosts".into());
        let Err(onto_itself) = migrate_store(&spec, Some("BlogPosts"), &mut no_progress()).await
        else {
            panic!("a copy onto itself went ahead");
        };
        assert_eq!(
            onto_itself.to_string(),
            "--to names the table being copied (BlogPosts); pick a new name"
        );
        let Err(bad_name) = migrate_store(&spec, Some("a b"), &mut no_progress()).await else {
            panic!("a bad table name went ahead");
        };
        assert!(
            matches!(bad_name, StartupError::TableName(StoreSpecError::TableName(ref n)) if n == "a b"),
            "{bad_name}"
        );
        assert!(bad_name.to_string().contains("3-255 letters"), "{bad_name}");
    }
}
