//! The blog that bluegreen deploys: the seed's Flask blog rebuilt on axum and askama, storing
//! posts in SQLite (the default, shared by every local process) or in the seed's DynamoDB
//! table.
//!
//! - [`domain`]: posts, keys, timestamps, validated input.
//! - [`store`]: the `PostStore` trait, its SQLite and DynamoDB implementations, paging, and
//!   the DynamoDB migration.
//! - [`web`]: `app(state) -> Router`, handlers, templates' view models, CSRF, error pages.
//! - [`server`]: serving with graceful shutdown; [`config`]: the `--store` setting;
//!   [`startup`]: opening that store, the periodic backfill and `blog migrate`;
//!   [`telemetry`]: logs; [`healthcheck`]: the `blog healthcheck` probe; [`smoke`]: `blog smoke`.

pub mod accounts;
pub mod auth;
pub mod config;
pub mod domain;
pub mod healthcheck;
pub mod server;
pub mod smoke;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod users;
pub mod web;

/// The version compiled in (release tag or git describe); `BLOG_VERSION` overrides it at run
/// time.
pub const BUILD_VERSION: &str = env!("BLOG_BUILD_VERSION");

/// The version to show: `BLOG_VERSION` when set and not empty, else [`BUILD_VERSION`].
pub fn effective_version(from_env: Option<&str>) -> String {
    from_env
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or(BUILD_VERSION)
        .to_string()
}
