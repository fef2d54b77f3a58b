//! `GET /`: the newest posts, a page at a time, with links to older and newer pages.

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use askama::Template;

use super::cached;
use crate::store::paging::{self, PAGE_SIZE};
use crate::store::{Cursor, PageRequest};
use crate::web::context::Ctx;
use crate::web::pages::{Card, IndexView, Nav};
use crate::web::{AppError, AppState};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListParams {
    older: Option<String>,
    newer: Option<String>,
}

const DAMAGED: &str =
    "This page link is damaged or out of date. Start again from the latest posts.";

pub async fn list(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let Query(params) = params.map_err(|_| AppError::BadRequest(DAMAGED.into()))?;
    let decode =
        |text: &str| Cursor::decode(text).map_err(|_| AppError::BadRequest(DAMAGED.into()));
    let request = match (params.older.as_deref(), params.newer.as_deref()) {
        (None, None) => PageRequest::First,
        (Some(older), None) => PageRequest::Older(decode(older)?),
        (None, Some(newer)) => PageRequest::Newer(decode(newer)?),
        (Some(_), Some(_)) => return Err(AppError::BadRequest(DAMAGED.into())),
    };
    // Keyed by what the route reads, so query strings it ignores add no entries.
    let key = match &request {
        PageRequest::First => "/".to_string(),
        PageRequest::Older(c) => format!("/?older={}", c.encode()),
        PageRequest::Newer(c) => format!("/?newer={}", c.encode()),
    };
    cached(&state, &ctx, key, async {
        let found = paging::page(state.store.as_ref(), &request, PAGE_SIZE).await?;
        let view = IndexView {
            site: &state.site,
            nav: Nav::of(&ctx.viewer),
            posts: found.posts.iter().map(Card::of).collect(),
            newer_href: found.newer.map(|c| format!("/?newer={}", c.encode())),
            older_href: found.older.map(|c| format!("/?older={}", c.encode())),
            is_first: found.is_first,
        };
        Ok(view.render()?)
    })
    .await
}
