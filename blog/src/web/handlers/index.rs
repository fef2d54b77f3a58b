//! `GET /`: the newest posts, a page at a time, with links to older and newer pages.

use std::borrow::Cow;

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use askama::Template;

use super::cached;
use crate::store::paging::{self, PAGE_SIZE};
use crate::store::{Cursor, PageRequest, Scope};
use crate::web::context::Ctx;
use crate::web::pages::{Card, IndexView, Nav, author_href};
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
    listing(&state, &ctx, None, params).await
}

/// `/authors/NAME`: one author's posts, paged like the index.
pub async fn by_author(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, AppError> {
    if name.is_empty() || name.chars().count() > MAX_AUTHOR_CHARS {
        return Err(AppError::NoPage);
    }
    listing(&state, &ctx, Some(name), params).await
}

/// Longest author name looked up (the form's limit on names, with room to spare).
const MAX_AUTHOR_CHARS: usize = 200;

async fn listing(
    state: &AppState,
    ctx: &Ctx,
    author: Option<String>,
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
    let base: Cow<str> = match &author {
        Some(name) => author_href(name).into(),
        None => "/".into(),
    };
    // Keyed by what the route reads, so query strings it ignores add no entries.
    let key: Cow<str> = match &request {
        PageRequest::First => base.clone(),
        PageRequest::Older(c) => format!("{base}?older={}", c.encode()).into(),
        PageRequest::Newer(c) => format!("{base}?newer={}", c.encode()).into(),
    };
    let scope = match &author {
        Some(name) => Scope::Author(name),
        None => Scope::All,
    };
    cached(state, ctx, key, async {
        let found = paging::page(state.store.as_ref(), scope, &request, PAGE_SIZE).await?;
        if author.is_some() && found.is_first && found.posts.is_empty() {
            return Err(AppError::NoAuthor);
        }
        let view = IndexView {
            site: &state.site,
            nav: Nav::of(&ctx.viewer),
            author: author.clone(),
            posts: found.posts.iter().map(Card::of).collect(),
            newer_href: found.newer.map(|c| format!("{base}?newer={}", c.encode())),
            older_href: found.older.map(|c| format!("{base}?older={}", c.encode())),
            is_first: found.is_first,
        };
        Ok(view.render()?)
    })
    .await
}
