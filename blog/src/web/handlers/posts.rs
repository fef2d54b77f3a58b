//! One post: show, write, edit, delete. Reading needs nothing; writing needs a signed-in
//! author, and editing or deleting the post's author or an admin (`Viewer::may_change`).
//! Forms that fail (validation, an expired token, a session that ended, a refusal, a store
//! that did not answer) come back with everything the author typed still on the page.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use askama::Template;
use http::Uri;

use super::account::login_page;
use super::{cached, form_rejected, page, query, to_login};
use crate::auth::SignedIn;
use crate::domain::{Edit, FieldErrors, FieldLimits, Format, NewPost, Post, PostId};
use crate::store::{self, StoreError};
use crate::telemetry::Chain;
use crate::web::context::Ctx;
use crate::web::pages::{self, Draft, FormMode, FormView, Nav, PostView, RefusedView, Version};
use crate::web::render;
use crate::web::{AppError, AppState};

mod delete;

pub use delete::{confirm_delete, delete};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PostForm {
    title: String,
    /// On an edit, which stored item (the author is part of the key); ignored on a new post,
    /// whose author is the signed-in account.
    author: String,
    content: String,
    /// The edit form's "Markdown" checkbox (`on` when ticked), shown on plain-text posts only.
    markdown: Option<String>,
    /// Set by a form that offered the box (an unticked box sends nothing).
    plain: Option<String>,
    /// On an edit, the post's revision when the form was shown.
    revision: Option<String>,
    csrf_token: String,
}

impl PostForm {
    fn markdown_ticked(&self) -> bool {
        self.markdown.is_some()
    }

    /// The box as the form had it: `None` when it had none.
    fn markdown_choice(&self) -> Option<bool> {
        self.plain.is_some().then(|| self.markdown_ticked())
    }

    /// The revision the edit started from; one that is not a number matches none.
    fn revision(&self) -> Option<u64> {
        self.revision
            .as_deref()
            .map(|r| r.trim().parse().unwrap_or(u64::MAX))
    }
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
const SESSION_ENDED: &str = "You are not signed in (your session may have ended while you wrote), \
                             so nothing was saved yet. Sign in: your text is kept and comes back in the form.";
pub(crate) const SIGNED_IN_AGAIN: &str =
    "You are signed in. Your text is below as you left it: check it and send it again.";

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
        StoreError::Conflict => (
            StatusCode::CONFLICT,
            "Someone else saved this post meanwhile, so nothing was saved. Your text is still \
             here."
                .to_string(),
        ),
    };
    Ok((status, form_error(&message)))
}

/// Why `me` may not change a post by `author`, in words that say who may.
async fn refusal(state: &AppState, author: &str) -> String {
    match state.auth.accounts.account(author).await {
        Ok(None) => format!(
            "This post's author, {author}, has no account on this blog, so only an admin can \
             edit or delete it."
        ),
        _ => format!("Only the post's author, {author}, or an admin can edit or delete it."),
    }
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
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    which: Result<Query<Which>, QueryRejection>,
) -> Result<Response, AppError> {
    let which = query(which)?;
    // Keyed by what the route reads, so query strings it ignores add no entries.
    let key = format!(
        "/posts/{id}?author={}",
        which
            .author
            .as_deref()
            .map(crate::web::pages::encode_query)
            .unwrap_or_default()
    );
    cached(&state, &ctx, key.into(), async {
        let (_, versions, at) = load(&state, &id, which.author.as_deref()).await?;
        let post = &versions[at];
        let body_html = render::body_html(post.format, &post.content).await;
        Ok(post_view(&state, &ctx, post, &versions, body_html).render()?)
    })
    .await
}

fn post_view<'a>(
    state: &'a AppState,
    ctx: &Ctx,
    post: &'a Post,
    versions: &[Post],
    body_html: String,
) -> PostView<'a> {
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
        nav: Nav::of(&ctx.viewer),
        post,
        author_href: pages::author_href(&post.author),
        date: date(post),
        datetime: post
            .timestamp
            .as_ref()
            .map(|t| t.machine())
            .unwrap_or_default(),
        body_html,
        edit_href: pages::post_href(post, "/edit", several),
        delete_href: pages::post_href(post, "/delete", several),
        can_change: ctx.viewer.may_change(&post.author),
        others,
    }
}

/// The post form's contents and where it goes.
pub(crate) struct FormDraft<'a> {
    /// `None` for a new post.
    pub id: Option<&'a PostId>,
    pub title: &'a str,
    pub author: &'a str,
    pub content: &'a str,
    pub cancel_href: String,
    /// On an edit of a plain-text post, whether the Markdown box is ticked; `None` for the
    /// blog's own Markdown posts and new ones (no box).
    pub markdown_choice: Option<bool>,
    /// On an edit, the revision the form saves over.
    pub revision: Option<u64>,
}

/// Renders the post form for `me`, with a token bound to their session.
pub(crate) fn form_page(
    state: &AppState,
    me: &SignedIn,
    status: StatusCode,
    draft: FormDraft<'_>,
    errors: FieldErrors,
    notice: Option<String>,
) -> Result<Response, AppError> {
    let (mode, action) = match draft.id {
        Some(id) => (FormMode::Edit, format!("/posts/{id}/edit")),
        None => (FormMode::New, "/posts/new".to_string()),
    };
    let (title, content) = (shown(draft.title), shown(draft.content));
    let view = FormView {
        site: &state.site,
        nav: Nav {
            name: Some(me.name.clone()),
        },
        mode,
        action,
        cancel_href: draft.cancel_href,
        title: &title,
        author: draft.author,
        content: &content,
        markdown_choice: draft.markdown_choice,
        revision: draft.revision,
        errors,
        csrf: me.csrf.clone(),
        notes: limit_notes(state.store.limits()),
        notice,
    };
    page(status, None, &view)
}

/// The form again after a sign-in that carried a draft, exactly as the author left it.
pub(crate) fn resume(state: &AppState, me: &SignedIn, draft: &Draft) -> Result<Response, AppError> {
    let id = draft
        .draft_action
        .strip_prefix("/posts/")
        .and_then(|rest| rest.strip_suffix("/edit"))
        .and_then(PostId::parse);
    let author = if id.is_some() {
        draft.draft_author.as_str()
    } else {
        me.name.as_str()
    };
    let form = FormDraft {
        id: id.as_ref(),
        title: &draft.draft_title,
        author,
        content: &draft.draft_content,
        cancel_href: id.as_ref().map_or("/".into(), |id| format!("/posts/{id}")),
        markdown_choice: draft.draft_markdown.as_deref().map(|ticked| ticked == "on"),
        revision: draft
            .draft_revision
            .as_deref()
            .map(|r| r.parse().unwrap_or(u64::MAX)),
    };
    form_page(
        state,
        me,
        StatusCode::OK,
        form,
        FieldErrors::default(),
        Some(SIGNED_IN_AGAIN.into()),
    )
}

/// Typed text as the form shows it again: control characters (which validation refuses and
/// HTML cannot carry) become U+FFFD, so the author sees where they were.
fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c.is_control() && !matches!(c, '\n' | '\r' | '\t');
    if text.chars().any(bad) {
        text.chars()
            .map(|c| if bad(c) { '\u{FFFD}' } else { c })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

fn form_error(message: &str) -> FieldErrors {
    FieldErrors {
        form: Some(message.to_string()),
        ..FieldErrors::default()
    }
}

/// A reader who is not signed in posted a form: the sign-in page, carrying what they typed.
fn sign_in_to_keep(
    state: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    action: String,
    form: &PostForm,
) -> Result<Response, AppError> {
    let draft = Draft {
        draft_action: action,
        draft_author: form.author.clone(),
        draft_title: form.title.clone(),
        draft_content: form.content.clone(),
        draft_markdown: form
            .markdown_choice()
            .map(|ticked| if ticked { "on" } else { "off" }.to_string()),
        draft_revision: form.revision.clone(),
    };
    login_page(
        state,
        ctx,
        headers,
        StatusCode::FORBIDDEN,
        super::account::LoginPage {
            name: "",
            next: "/",
            error: None,
            reason: Some(SESSION_ENDED),
            draft: Some(&draft),
        },
    )
}

/// The 403 page for a signed-in author who may not make this change, with their text on it.
fn refused_with_text(
    state: &AppState,
    ctx: &Ctx,
    message: &str,
    form: &PostForm,
) -> Result<Response, AppError> {
    let view = RefusedView {
        site: &state.site,
        nav: Nav::of(&ctx.viewer),
        message,
        title: &form.title,
        content: &form.content,
    };
    page(StatusCode::FORBIDDEN, None, &view)
}

pub async fn new_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Response, AppError> {
    let Some(me) = ctx.viewer.signed_in() else {
        return Ok(to_login("/posts/new"));
    };
    let draft = FormDraft {
        id: None,
        title: "",
        author: &me.name,
        content: "",
        cancel_href: "/".into(),
        markdown_choice: None,
        revision: None,
    };
    form_page(
        &state,
        me,
        StatusCode::OK,
        draft,
        FieldErrors::default(),
        None,
    )
}

pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    form: Result<Form<PostForm>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(form_rejected)?;
    let Some(me) = ctx.viewer.signed_in() else {
        return sign_in_to_keep(&state, &ctx, &headers, "/posts/new".into(), &form);
    };
    let again = |status: StatusCode, errors: FieldErrors| {
        let draft = FormDraft {
            id: None,
            title: &form.title,
            author: &me.name,
            content: &form.content,
            cancel_href: "/".into(),
            markdown_choice: None,
            revision: None,
        };
        form_page(&state, me, status, draft, errors, None)
    };
    if !state.auth.sessions.verify_csrf(&me.sid, &form.csrf_token) {
        return again(StatusCode::FORBIDDEN, form_error(CSRF_FAILED));
    }
    // Checking the Markdown parses it: a long post is checked off the async workers.
    let (title, name, content, limits) = (
        form.title.clone(),
        me.name.clone(),
        form.content.clone(),
        state.store.limits(),
    );
    let parsed = render::off_workers(content.len(), move || {
        NewPost::parse(&title, &name, &content, limits)
    })
    .await?;
    let valid = match parsed {
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
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    which: Result<Query<Which>, QueryRejection>,
    uri: Uri,
) -> Result<Response, AppError> {
    let which = query(which)?;
    let (id, versions, at) = load(&state, &id, which.author.as_deref()).await?;
    let post = &versions[at];
    let Some(me) = ctx.viewer.signed_in() else {
        return Ok(to_login(&uri.to_string()));
    };
    if !ctx.viewer.may_change(&post.author) {
        return Err(AppError::Forbidden(refusal(&state, &post.author).await));
    }
    let draft = FormDraft {
        id: Some(&id),
        title: &post.title,
        author: &post.author,
        content: &post.content,
        cancel_href: pages::post_href(post, "", versions.len() > 1),
        markdown_choice: post.format.is_plain().then_some(false),
        revision: Some(post.revision),
    };
    form_page(
        &state,
        me,
        StatusCode::OK,
        draft,
        FieldErrors::default(),
        None,
    )
}

pub async fn update(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<PostForm>, FormRejection>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let Form(form) = form.map_err(form_rejected)?;
    let Some(me) = ctx.viewer.signed_in() else {
        return sign_in_to_keep(&state, &ctx, &headers, format!("/posts/{id}/edit"), &form);
    };
    // The Markdown box comes back as it was sent, on a form that had it: a plain-text post's;
    // the revision too, but after a conflict, the one the post is at now.
    let again_at = |status: StatusCode,
                    author: &str,
                    plain: bool,
                    errors: FieldErrors,
                    revision: Option<u64>| {
        let draft = FormDraft {
            id: Some(&id),
            title: &form.title,
            author,
            content: &form.content,
            cancel_href: format!("/posts/{id}"),
            markdown_choice: plain.then_some(form.markdown_ticked()),
            revision,
        };
        form_page(&state, me, status, draft, errors, None)
    };
    let again = |status: StatusCode, author: &str, plain: bool, errors: FieldErrors| {
        again_at(status, author, plain, errors, form.revision())
    };
    if !state.auth.sessions.verify_csrf(&me.sid, &form.csrf_token) {
        let plain = form.plain.is_some();
        return again(
            StatusCode::FORBIDDEN,
            &form.author,
            plain,
            form_error(CSRF_FAILED),
        );
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
        let plain = original.format.is_plain();
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            &original.author,
            plain,
            errors,
        );
    };
    if !ctx.viewer.may_change(&current.author) {
        return refused_with_text(&state, &ctx, &refusal(&state, &current.author).await, &form);
    }
    // A plain-text post stays plain text unless its author ticked Markdown; the blog's own
    // posts stay Markdown.
    let plain = current.format.is_plain();
    let format = if plain && !form.markdown_ticked() {
        Format::Plain
    } else {
        Format::Markdown
    };
    let (title, content, limits) = (
        form.title.clone(),
        form.content.clone(),
        state.store.limits(),
    );
    let parsed = render::off_workers(content.len(), move || {
        Edit::parse_as(&title, &content, format, limits)
    })
    .await?;
    let edit = match parsed {
        Ok(edit) => edit.from_revision(form.revision()),
        Err(errors) => {
            return again(
                StatusCode::UNPROCESSABLE_ENTITY,
                &current.author,
                plain,
                errors,
            );
        }
    };
    match state.store.update(&current.key(), &edit).await {
        Ok(()) => {
            Ok(Redirect::to(&pages::post_href(current, "", versions.len() > 1)).into_response())
        }
        Err(StoreError::Conflict) => {
            // Someone saved the post since this form was shown: nothing is written, the author
            // gets their text back, and the form now saves over the version that won.
            let now = state.store.versions(&id).await?;
            let at = now
                .iter()
                .find(|p| p.author == current.author)
                .ok_or(AppError::NotFound)?;
            let message = format!(
                "Someone else saved this post after you opened it, so your changes were not saved \
                 (nothing of theirs was lost either). Your text is below as you left it. Open \
                 the post in another tab to see theirs, then save here again: that replaces \
                 their version with this one.{}",
                if at.title == form.title.trim() {
                    ""
                } else {
                    " Their title is shown on the post."
                }
            );
            again_at(
                StatusCode::CONFLICT,
                &current.author,
                plain,
                form_error(&message),
                Some(at.revision),
            )
        }
        Err(e) => {
            let (status, errors) = store_failure(e)?;
            again(status, &current.author, plain, errors)
        }
    }
}
