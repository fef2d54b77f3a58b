//! View models for the askama templates in `blog/templates/`. Every user-supplied string is
//! escaped by askama; the one thing marked safe is a post's body, which is HTML that
//! `domain::markdown` rendered and sanitized.

use askama::Template;

use super::Site;
use crate::auth::Viewer;
use crate::domain::{FieldErrors, Post, PostSummary};

/// The masthead's account links: the signed-in name, or a sign-in link.
#[derive(Clone, Debug, Default)]
pub struct Nav {
    pub name: Option<String>,
}

impl Nav {
    pub fn of(viewer: &Viewer) -> Self {
        Self {
            name: viewer.signed_in().map(|me| me.name.clone()),
        }
    }
}

#[derive(Template)]
#[template(path = "index.html")]
pub struct IndexView<'a> {
    pub site: &'a Site,
    pub nav: Nav,
    /// The author whose posts these are (`/authors/NAME`), or `None` on the index.
    pub author: Option<String>,
    pub posts: Vec<Card<'a>>,
    pub newer_href: Option<String>,
    pub older_href: Option<String>,
    pub is_first: bool,
}

/// A post on the index page, borrowing its text from the listed summary.
pub struct Card<'a> {
    pub href: String,
    pub title: &'a str,
    pub author: &'a str,
    pub author_href: String,
    pub date: String,
    pub datetime: String,
    pub excerpt: &'a str,
    /// A plain-text post's excerpt keeps its line breaks (`white-space: pre-line`).
    pub plain: bool,
}

impl<'a> Card<'a> {
    pub fn of(post: &'a PostSummary) -> Self {
        let (date, datetime) = post.timestamp.human_and_machine();
        Self {
            href: format!("/posts/{}", post.id),
            title: &post.title,
            author: &post.author,
            author_href: author_href(&post.author),
            date,
            datetime,
            excerpt: &post.excerpt,
            plain: post.format.is_plain(),
        }
    }
}

#[derive(Template)]
#[template(path = "post.html")]
pub struct PostView<'a> {
    pub site: &'a Site,
    pub nav: Nav,
    pub post: &'a Post,
    /// The post's author's page.
    pub author_href: String,
    pub date: String,
    pub datetime: String,
    /// Sanitized HTML of the post's Markdown, or its plain text escaped.
    pub body_html: String,
    pub edit_href: String,
    pub delete_href: String,
    /// Whether the reader may edit and delete this post (its author, or an admin).
    pub can_change: bool,
    /// Other items stored under the same id (the seed's edit bug), for cleaning up.
    pub others: Vec<Version>,
}

pub struct Version {
    pub author: String,
    pub title: String,
    pub date: String,
    pub view_href: String,
    pub edit_href: String,
    pub delete_href: String,
}

/// `/posts/<id>` for the newest item, `?author=` for a specific one.
pub fn post_href(post: &Post, suffix: &str, specific: bool) -> String {
    let base = format!("/posts/{}{suffix}", post.id);
    if specific {
        format!("{base}?author={}", encode_query(&post.author))
    } else {
        base
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
/// The author's page, `/authors/NAME`.
pub fn author_href(author: &str) -> String {
    format!("/authors/{}", encode_query(author))
}

pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether the form creates a post or edits one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FormMode {
    New,
    Edit,
}

#[derive(Template)]
#[template(path = "form.html")]
pub struct FormView<'a> {
    pub site: &'a Site,
    pub nav: Nav,
    pub mode: FormMode,
    pub action: String,
    pub cancel_href: String,
    pub title: &'a str,
    pub author: &'a str,
    pub content: &'a str,
    /// The "Markdown" box of a plain-text post's edit form, ticked or not; `None`: no box.
    pub markdown_choice: Option<bool>,
    /// On an edit, the revision the form saves over (docs/blog.md, "Concurrent edits").
    pub revision: Option<u64>,
    pub errors: FieldErrors,
    pub csrf: String,
    pub notes: Vec<String>,
    /// A line above the form, such as "signed in again, your text is kept".
    pub notice: Option<String>,
}

impl FormView<'_> {
    pub fn heading(&self) -> &'static str {
        match self.mode {
            FormMode::New => "Write a post",
            FormMode::Edit => "Edit post",
        }
    }

    pub fn submit_label(&self) -> &'static str {
        match self.mode {
            FormMode::New => "Publish",
            FormMode::Edit => "Save changes",
        }
    }

    pub fn is_edit(&self) -> bool {
        self.mode == FormMode::Edit
    }
}

#[derive(Template)]
#[template(path = "delete.html")]
pub struct DeleteView<'a> {
    pub site: &'a Site,
    pub nav: Nav,
    pub post: &'a Post,
    pub date: String,
    pub action: String,
    pub cancel_href: String,
    pub csrf: String,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginView<'a> {
    pub site: &'a Site,
    pub nav: Nav,
    pub csrf: String,
    pub name: &'a str,
    pub next: &'a str,
    pub error: Option<String>,
    /// Why the page is shown instead of what was asked, if that needs saying.
    pub reason: Option<&'a str>,
    pub draft: Option<&'a Draft>,
}

/// A post's text carried through a sign-in, so a session that ended while the author wrote
/// loses nothing: where it was going, and what it said.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct Draft {
    pub draft_action: String,
    pub draft_author: String,
    pub draft_title: String,
    pub draft_content: String,
    /// The edit form's Markdown box, when the form had one: `on` ticked, `off` not.
    pub draft_markdown: Option<String>,
    /// The revision the edit started from.
    pub draft_revision: Option<String>,
}

impl Draft {
    pub fn is_empty(&self) -> bool {
        self.draft_action.is_empty()
    }
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountView<'a> {
    pub site: &'a Site,
    pub nav: Nav,
    pub name: &'a str,
    pub admin: bool,
    pub csrf: &'a str,
}

/// A refusal that keeps what the author typed, so it can be copied elsewhere.
#[derive(Template)]
#[template(path = "refused.html")]
pub struct RefusedView<'a> {
    pub site: &'a Site,
    pub nav: Nav,
    pub message: &'a str,
    pub title: &'a str,
    pub content: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorView<'a> {
    pub site: &'a Site,
    pub nav: Nav,
    pub status: u16,
    pub heading: &'a str,
    pub message: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode_query("Ann B&c=d/é"), "Ann%20B%26c%3Dd%2F%C3%A9");
    }
}
