//! View models for the askama templates in `blog/templates/`. Every user-supplied string is
//! escaped by askama; nothing here is marked safe.

use askama::Template;

use super::Site;
use crate::domain::{FieldErrors, Post, PostSummary};

#[derive(Template)]
#[template(path = "index.html")]
pub struct IndexView<'a> {
    pub site: &'a Site,
    pub posts: Vec<Card>,
    pub newer_href: Option<String>,
    pub older_href: Option<String>,
    pub is_first: bool,
}

/// A post on the index page.
pub struct Card {
    pub href: String,
    pub title: String,
    pub author: String,
    pub date: String,
    pub datetime: String,
    pub excerpt: String,
}

impl Card {
    pub fn of(post: &PostSummary) -> Self {
        Self {
            href: format!("/posts/{}", post.id),
            title: post.title.clone(),
            author: post.author.clone(),
            date: post.timestamp.human(),
            datetime: post.timestamp.machine(),
            excerpt: post.excerpt.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "post.html")]
pub struct PostView<'a> {
    pub site: &'a Site,
    pub post: &'a Post,
    pub date: String,
    pub datetime: String,
    pub paragraphs: Vec<&'a str>,
    pub edit_href: String,
    pub delete_href: String,
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

/// Splits text into paragraphs at blank lines; single line breaks stay inside a paragraph.
pub fn paragraphs(content: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = content.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            let mut j = i + 1;
            while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t' || bytes[j] == b'\r') {
                j += 1;
            }
            if j < bytes.len() && bytes[j] == b'\n' {
                out.push(content[start..i].trim());
                start = j + 1;
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    out.push(content[start..].trim());
    out.retain(|p| !p.is_empty());
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
    pub mode: FormMode,
    pub action: String,
    pub cancel_href: String,
    pub title: &'a str,
    pub author: &'a str,
    pub content: &'a str,
    pub errors: FieldErrors,
    pub csrf: String,
    pub notes: Vec<String>,
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
    pub post: &'a Post,
    pub date: String,
    pub action: String,
    pub cancel_href: String,
    pub csrf: String,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorView<'a> {
    pub site: &'a Site,
    pub status: u16,
    pub heading: &'a str,
    pub message: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_paragraphs() {
        assert_eq!(
            paragraphs("one\ntwo\n\nthree\r\n \r\nfour\n"),
            vec!["one\ntwo", "three", "four"]
        );
        assert!(paragraphs("  \n\n ").is_empty());
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode_query("Ann B&c=d/é"), "Ann%20B%26c%3Dd%2F%C3%A9");
    }
}
