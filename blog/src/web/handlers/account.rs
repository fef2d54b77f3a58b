//! Signing in and out: `GET /login` (the form), `POST /login`, `POST /logout` (here, or
//! everywhere), and `GET /account`.
//!
//! A failed sign-in says the same for an unknown name and a wrong password, and costs the same
//! time (the password is checked against a decoy hash). Failures are throttled per address and
//! name, per address, and per name from unfamiliar addresses (`auth::throttle`). The sign-in form's token is the double-submit token
//! (there is no session yet); every other form's token is bound to the session.

use std::time::Instant;

use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;

use super::{form_rejected, page, posts, to_login};
use crate::accounts::NAME_MAX_CHARS;
use crate::auth::password::PasswordError;
use crate::auth::session::unix_now;
use crate::auth::throttle::Refusal;
use crate::auth::{Auth, Viewer};
use crate::web::context::Ctx;
use crate::web::pages::{AccountView, Draft, LoginView, Nav};
use crate::web::{AppError, AppState};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Next {
    next: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    name: String,
    password: String,
    csrf_token: String,
    next: String,
    draft_action: String,
    draft_author: String,
    draft_title: String,
    draft_content: String,
    draft_markdown: Option<String>,
    draft_revision: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogoutForm {
    csrf_token: String,
    everywhere: Option<String>,
}

const NO_MATCH: &str = "That name and password do not match an account. Check both and try again.";
const FORM_EXPIRED: &str =
    "This sign-in form had expired or did not come from this blog. Sign in again.";

/// Where to go after signing in: a path on this site, never another site.
fn safe_next(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(char::is_control);
    if ok { next } else { "/" }
}

/// What the sign-in page says and carries.
pub(crate) struct LoginPage<'a> {
    pub name: &'a str,
    pub next: &'a str,
    pub error: Option<String>,
    pub reason: Option<&'a str>,
    pub draft: Option<&'a Draft>,
}

pub(crate) fn login_page(
    state: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    status: StatusCode,
    login: LoginPage<'_>,
) -> Result<Response, AppError> {
    let token = state.csrf.issue(headers, ctx.scheme);
    let view = LoginView {
        site: &state.site,
        nav: Nav::default(),
        csrf: token.field.clone(),
        name: login.name,
        next: safe_next(login.next),
        error: login.error,
        reason: login.reason,
        draft: login.draft,
    };
    page(status, Some(&token), &view)
}

pub async fn login_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    next: Result<Query<Next>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let next = super::query(next)?;
    if ctx.viewer.signed_in().is_some() {
        return Ok(Redirect::to(safe_next(&next.next)).into_response());
    }
    let reason = matches!(ctx.viewer, Viewer::Anonymous { ended: true })
        .then_some("Your session has ended. Sign in again to go on.");
    login_page(
        &state,
        &ctx,
        &headers,
        StatusCode::OK,
        LoginPage {
            name: "",
            next: &next.next,
            error: None,
            reason,
            draft: None,
        },
    )
}

/// The client's address as the load balancer saw it: the last `X-Forwarded-For` entry (the
/// one the balancer added; earlier ones are the client's to invent), else "direct".
fn client_address(headers: &HeaderMap) -> String {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|v| !v.is_empty())
        .unwrap_or("direct")
        .to_string()
}

pub async fn login(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(form_rejected)?;
    let draft = Draft {
        draft_action: form.draft_action.clone(),
        draft_author: form.draft_author.clone(),
        draft_title: form.draft_title.clone(),
        draft_content: form.draft_content.clone(),
        draft_markdown: form.draft_markdown.clone(),
        draft_revision: form.draft_revision.clone(),
    };
    let again = |status: StatusCode, error: String| {
        let login = LoginPage {
            name: &form.name,
            next: &form.next,
            error: Some(error),
            reason: None,
            draft: (!draft.is_empty()).then_some(&draft),
        };
        login_page(&state, &ctx, &headers, status, login)
    };
    if !state.csrf.verify(&headers, ctx.scheme, &form.csrf_token) {
        return again(StatusCode::FORBIDDEN, FORM_EXPIRED.into());
    }
    let name = form.name.trim();
    let address = client_address(&headers);
    let auth: &Auth = &state.auth;
    if let Err(refusal) = auth.throttle.check(name, &address, Instant::now()) {
        let minutes = refusal.wait().as_secs().div_ceil(60).max(1);
        let plural = if minutes == 1 { "" } else { "s" };
        let message = match refusal {
            Refusal::Address(_) => format!(
                "Too many failed sign-ins for this name or from this address. Try again in \
                 {minutes} minute{plural}."
            ),
            Refusal::Unfamiliar(_) => format!(
                "Too many failed sign-ins for this name from many places. Sign in from where \
                 you signed in before, or try again in {minutes} minute{plural}."
            ),
        };
        return again(StatusCode::TOO_MANY_REQUESTS, message);
    }
    // No account has a longer name: such a name is not looked up (the password is still
    // checked against the decoy, so the answer takes the same time).
    let account = if name.chars().count() <= NAME_MAX_CHARS {
        auth.accounts.account(name).await?
    } else {
        None
    };
    let hash = account.as_ref().map(|a| a.password_hash.clone());
    let matched = match auth.passwords.verify(form.password.clone(), hash).await {
        Ok(matched) => matched,
        Err(PasswordError::Busy) => {
            return again(
                StatusCode::SERVICE_UNAVAILABLE,
                PasswordError::Busy.to_string(),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "password check failed");
            return again(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The password could not be checked. Try again.".into(),
            );
        }
    };
    let Some(account) = account.filter(|_| matched) else {
        auth.throttle.failed(name, &address, Instant::now());
        let shown: String = name.chars().take(NAME_MAX_CHARS).collect();
        tracing::info!(name = shown, address, "failed sign-in");
        return again(StatusCode::FORBIDDEN, NO_MATCH.into());
    };
    auth.throttle.succeeded(name, &address, Instant::now());
    tracing::info!(name = %account.name, "signed in");
    let (me, cookie) = auth.start(&account, ctx.scheme, unix_now());
    let mut response = if draft.is_empty() {
        Redirect::to(safe_next(&form.next)).into_response()
    } else {
        posts::resume(&state, &me, &draft)?
    };
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    Ok(response)
}

pub async fn logout(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(form_rejected)?;
    let Some(me) = ctx.viewer.signed_in() else {
        return Ok(signed_out(&ctx, "/"));
    };
    if !state.auth.sessions.verify_csrf(&me.sid, &form.csrf_token) {
        return Err(AppError::Forbidden(
            "This sign-out form had expired or did not come from this blog, so you are still \
             signed in. Open your account page and sign out from there."
                .into(),
        ));
    }
    if form.everywhere.is_some() {
        state.auth.accounts.end_sessions(&me.name).await?;
        tracing::info!(name = %me.name, "signed out everywhere");
    }
    Ok(signed_out(&ctx, "/"))
}

fn signed_out(ctx: &Ctx, to: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    if let Ok(value) = HeaderValue::from_str(&Auth::end(ctx.scheme)) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

pub async fn account_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Response, AppError> {
    let Some(me) = ctx.viewer.signed_in() else {
        return Ok(to_login("/account"));
    };
    let view = AccountView {
        site: &state.site,
        nav: Nav::of(&ctx.viewer),
        name: &me.name,
        admin: me.admin,
        csrf: &me.csrf,
    };
    page(StatusCode::OK, None, &view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next("/posts/new"), "/posts/new");
        assert_eq!(safe_next("//evil.example/"), "/");
        assert_eq!(safe_next("/\\evil.example"), "/");
        assert_eq!(safe_next("https://evil.example"), "/");
        assert_eq!(safe_next(""), "/");
    }

    #[test]
    fn the_balancer_added_address_counts() {
        let mut h = HeaderMap::new();
        assert_eq!(client_address(&h), "direct");
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 10.0.0.7"),
        );
        assert_eq!(client_address(&h), "10.0.0.7");
    }
}
