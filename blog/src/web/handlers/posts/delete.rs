//! Deleting a post: the confirm page, then the delete itself, for the post's author or an
//! admin, with the form's CSRF token checked.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use http::{StatusCode, Uri};
use serde::Deserialize;

use super::super::{form_rejected, page, query, to_login};
use super::{Which, load, refusal};
use crate::auth::SignedIn;
use crate::domain::{Post, PostKey};
use crate::web::context::Ctx;
use crate::web::pages::{self, DeleteView, Nav};
use crate::web::{AppError, AppState};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteForm {
    author: Option<String>,
    csrf_token: String,
}

pub async fn confirm_delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    which: Result<Query<Which>, QueryRejection>,
    uri: Uri,
) -> Result<Response, AppError> {
    let which = query(which)?;
    let (_, versions, at) = load(&state, &id, which.author.as_deref()).await?;
    let post = &versions[at];
    let Some(me) = ctx.viewer.signed_in() else {
        return Ok(to_login(&uri.to_string()));
    };
    if !ctx.viewer.may_change(&post.author) {
        return Err(AppError::Forbidden(refusal(&state, &post.author).await));
    }
    confirm_page(&state, me, post, versions.len() > 1, None, StatusCode::OK)
}

fn confirm_page(
    state: &AppState,
    me: &SignedIn,
    post: &Post,
    several: bool,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let view = DeleteView {
        site: &state.site,
        nav: Nav {
            name: Some(me.name.clone()),
        },
        post,
        date: post
            .timestamp
            .as_ref()
            .map(|t| t.human())
            .unwrap_or_default(),
        action: format!("/posts/{}/delete", post.id),
        cancel_href: pages::post_href(post, "", several),
        csrf: me.csrf.clone(),
        error,
    };
    page(status, None, &view)
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    form: Result<Form<DeleteForm>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(form_rejected)?;
    let (_, versions, at) = load(&state, &id, form.author.as_deref()).await?;
    if form.author.is_none() && versions.len() > 1 {
        // Without an author only an unambiguous post can be meant.
        return Err(AppError::NotFound);
    }
    let post = &versions[at];
    let Some(me) = ctx.viewer.signed_in() else {
        return Ok(to_login(&pages::post_href(
            post,
            "/delete",
            versions.len() > 1,
        )));
    };
    if !ctx.viewer.may_change(&post.author) {
        return Err(AppError::Forbidden(refusal(&state, &post.author).await));
    }
    if !state.auth.sessions.verify_csrf(&me.sid, &form.csrf_token) {
        let error = "This confirmation had expired or did not come from this blog, so nothing was \
                     deleted. Confirm again to delete the post.";
        return confirm_page(
            &state,
            me,
            post,
            versions.len() > 1,
            Some(error),
            StatusCode::FORBIDDEN,
        );
    }
    let key = PostKey {
        id: post.id.clone(),
        author: post.author.clone(),
    };
    state.store.delete(&key).await?;
    Ok(Redirect::to("/").into_response())
}
