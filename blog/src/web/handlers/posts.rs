//! One post: show, write, edit, delete. Forms that fail (validation, an expired CSRF token, an
//! attempt to change the author, a store that did not answer) come back with everything the
//! author typed still in them.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use askama::Template;
use http::Uri;

use super::{cached, form_rejected, page};
use crate::domain::{Edit, FieldErrors, FieldLimits, NewPost, Post, PostId, PostKey};
use crate::store::{self, StoreError};
use crate::telemetry::Chain;
use crate::web::pages::{self, DeleteView, FormMode, FormView, PostView, Version};
use crate::web::{AppError, AppState};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PostForm {
    title: String,
    author: String,
    content: String,
    csrf_token: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteForm {
    author: Option<String>,
    csrf_token: String,
}

/// `?author=` picks one item when the seed's edit bug left several under one id.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Which {
    author: Option<String>,
}

const CSRF_FAILED: &str = "This form had expired or did not come from this blog, so nothing was saved. \
                           Your text is still here: check it and send it again.";
const STORE_DOWN: &str = "The blog could not reach its database, so nothing was saved. Your text is \
                          still here: try again in a moment.";

fn parse_id(raw: &str) -> Result<PostId, AppError> {
    PostId::parse(raw).ok_or(AppError::NotFound)
}

fn limit_notes(limits: FieldLimits) -> Vec<String> {
    let mut notes = Vec::new();
    if limits.content_indexed {
        notes.push(
            "This blog's table indexes the post text (it was made by the original Python app), so \
             the text cannot be empty and is limited to 1,024 bytes."
                .to_string(),
        );
    }
    if limits.title_indexed {
        notes.push("Titles are also indexed there, and limited to 1,024 bytes.".to_string());
    }
    notes
}

/// A form failure: what the store said, turned into a status and words for the author.
fn store_failure(e: StoreError) -> Result<(StatusCode, FieldErrors), AppError> {
    let (status, message) = match e {
        StoreError::Rejected(why) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("The database refused the post: {why}."),
        ),
        e @ StoreError::Backend { .. } => {
            tracing::error!(error = %Chain(&e), "store failed while saving a form");
            (StatusCode::SERVICE_UNAVAILABLE, STORE_DOWN.to_string())
        }
        StoreError::NotFound => return Err(AppError::NotFound),
    };
    Ok((status, form_error(&message)))
}

/// The stored versions of the post at `raw_id`, and the position of the one asked for: the
/// exact author if given, else the newest.
async fn load(
    state: &AppState,
    raw_id: &str,
    author: Option<&str>,
) -> Result<(PostId, Vec<Post>, usize), AppError> {
    let id = parse_id(raw_id)?;
    let versions = state.store.versions(&id).await?;
    let at = match author {
        Some(author) => versions.iter().position(|p| p.author == author),
        None => (!versions.is_empty()).then_some(0),
    };
    Ok((id, versions, at.ok_or(AppError::NotFound)?))
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(which): Query<Which>,
    uri: Uri,
) -> Result<Response, AppError> {
    cached(&state, uri.to_string(), async {
        let (_, versions, at) = load(&state, &id, which.author.as_deref()).await?;
        Ok(post_view(&state, &versions[at], &versions).render()?)
    })
    .await
}

fn post_view<'a>(state: &'a AppState, post: &'a Post, versions: &[Post]) -> PostView<'a> {
    let several = versions.len() > 1;
    let date = |p: &Post| p.timestamp.as_ref().map(|t| t.human()).unwrap_or_default();
    let others = versions
        .iter()
        .filter(|v| v.author != post.author)
        .map(|v| Version {
            author: v.author.clone(),
            title: v.title.clone(),
            date: date(v),
            view_href: pages::post_href(v, "", true),
            edit_href: pages::post_href(v, "/edit", true),
            delete_href: pages::post_href(v, "/delete", true),
        })
        .collect();
    PostView {
        site: &state.site,
        post,
        date: date(post),
        datetime: post
            .timestamp
            .as_ref()
            .map(|t| t.machine())
            .unwrap_or_default(),
        paragraphs: pages::paragraphs(&post.content),
        edit_href: pages::post_href(post, "/edit", several),
        delete_href: pages::post_href(post, "/delete", several),
        others,
    }
}

/// The post form's contents and where it goes.
struct Draft<'a> {
    /// `None` for a new post.
    id: Option<&'a PostId>,
    title: &'a str,
    author: &'a str,
    content: &'a str,
    cancel_href: String,
}

/// Renders the post form with a token valid for this reader.
fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    draft: Draft<'_>,
    errors: FieldErrors,
) -> Result<Response, AppError> {
    let token = state.csrf.issue(headers);
    let (mode, action) = match draft.id {
        Some(id) => (FormMode::Edit, format!("/posts/{id}/edit")),
        None => (FormMode::New, "/posts/new".to_string()),
    };
    let view = FormView {
        site: &state.site,
        mode,
        action,
        cancel_href: draft.cancel_href,
        title: draft.title,
        author: draft.author,
        content: draft.content,
        errors,
        csrf: token.field.clone(),
        notes: limit_notes(state.store.limits()),
    };
    page(status, Some(&token), &view)
}

fn form_error(message: &str) -> FieldErrors {
    FieldErrors {
        form: Some(message.to_string()),
        ..FieldErrors::default()
    }
}

pub async fn new_form(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let draft = Draft {
        id: None,
        title: "",
        author: "",
        content: "",
        cancel_href: "/".into(),
    };
    form_page(
        &state,
        &headers,
        StatusCode::OK,
        draft,
        FieldErrors::default(),
    )
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<PostForm>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(form_rejected)?;
    let again = |status: StatusCode, errors: FieldErrors| {
        let draft = Draft {
            id: None,
            title: &form.title,
            author: &form.author,
            content: &form.content,
            cancel_href: "/".into(),
        };
        form_page(&state, &headers, status, draft, errors)
    };
    if !state.csrf.verify(&headers, &form.csrf_token) {
        return again(StatusCode::FORBIDDEN, form_error(CSRF_FAILED));
    }
    let valid = match NewPost::parse(
        &form.title,
        &form.author,
        &form.content,
        state.store.limits(),
    ) {
        Ok(valid) => valid,
        Err(errors) => return again(StatusCode::UNPROCESSABLE_ENTITY, errors),
    };
    let post = store::new_post(&valid);
    match state.store.create(&post).await {
        Ok(()) => Ok(Redirect::to(&format!("/posts/{}", post.id)).into_response()),
        Err(e) => {
            let (status, errors) = store_failure(e)?;
            again(status, errors)
        }
    }
}

pub async fn edit_form(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(which): Query<Which>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (id, versions, at) = load(&state, &id, which.author.as_deref()).await?;
    let post = &versions[at];
    let draft = Draft {
        id: Some(&id),
        title: &post.title,
        author: &post.author,
        content: &post.content,
        cancel_href: pages::post_href(post, "", versions.len() > 1),
    };
    form_page(
        &state,
        &headers,
        StatusCode::OK,
        draft,
        FieldErrors::default(),
    )
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<PostForm>, FormRejection>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let Form(form) = form.map_err(form_rejected)?;
    let again = |status: StatusCode, author: &str, errors: FieldErrors| {
        let draft = Draft {
            id: Some(&id),
            title: &form.title,
            author,
            content: &form.content,
            cancel_href: format!("/posts/{id}"),
        };
        form_page(&state, &headers, status, draft, errors)
    };
    if !state.csrf.verify(&headers, &form.csrf_token) {
        return again(StatusCode::FORBIDDEN, &form.author, form_error(CSRF_FAILED));
    }
    let versions = state.store.versions(&id).await?;
    // The author is part of the key: an author that matches no stored item is an attempt to
    // change it, which the seed turned into a silent second copy. Refuse it.
    let Some(current) = versions.iter().find(|p| p.author == form.author) else {
        let original = versions.first().ok_or(AppError::NotFound)?;
        let errors = FieldErrors {
            author: Some(format!(
                "The author cannot be changed once a post is published. It is back to “{}”; \
                 your title and text are kept, so you can save them under that name.",
                original.author
            )),
            ..FieldErrors::default()
        };
        return again(StatusCode::UNPROCESSABLE_ENTITY, &original.author, errors);
    };
    let edit = match Edit::parse(&form.title, &form.content, state.store.limits()) {
        Ok(edit) => edit,
        Err(errors) => return again(StatusCode::UNPROCESSABLE_ENTITY, &current.author, errors),
    };
    match state.store.update(&current.key(), &edit).await {
        Ok(()) => {
            Ok(Redirect::to(&pages::post_href(current, "", versions.len() > 1)).into_response())
        }
        Err(e) => {
            let (status, errors) = store_failure(e)?;
            again(status, &current.author, errors)
        }
    }
}

pub async fn confirm_delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(which): Query<Which>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (_, versions, at) = load(&state, &id, which.author.as_deref()).await?;
    let post = &versions[at];
    let token = state.csrf.issue(&headers);
    confirm_page(
        &state,
        post,
        versions.len() > 1,
        &token,
        None,
        StatusCode::OK,
    )
}

fn confirm_page(
    state: &AppState,
    post: &Post,
    several: bool,
    token: &crate::web::csrf::FormToken,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let view = DeleteView {
        site: &state.site,
        post,
        date: post
            .timestamp
            .as_ref()
            .map(|t| t.human())
            .unwrap_or_default(),
        action: format!("/posts/{}/delete", post.id),
        cancel_href: pages::post_href(post, "", several),
        csrf: token.field.clone(),
        error,
    };
    page(status, Some(token), &view)
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<DeleteForm>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(form_rejected)?;
    let (_, versions, at) = load(&state, &id, form.author.as_deref()).await?;
    if form.author.is_none() && versions.len() > 1 {
        // Without an author only an unambiguous post can be meant.
        return Err(AppError::NotFound);
    }
    let post = &versions[at];
    if !state.csrf.verify(&headers, &form.csrf_token) {
        let token = state.csrf.issue(&headers);
        let error = "This confirmation had expired or did not come from this blog, so nothing was \
                     deleted. Confirm again to delete the post.";
        return confirm_page(
            &state,
            post,
            versions.len() > 1,
            &token,
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
