//! A test "browser" for the router: `app(state).oneshot(..)` on a real SQLite store in a temp
//! directory, with real accounts (argon2id at a small cost, to stay fast), signed sessions and a
//! cookie jar.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use blog::accounts::{Account, AccountStore};
use blog::auth::{Auth, Passwords, Sessions};
use blog::domain::{Post, PostId, Timestamp};
use blog::store::PostStore;
use blog::store::sqlite::SqliteStore;
use blog::web::pages::encode_query;
use blog::web::{AppState, Csrf, PageCache, Site, app};
use http::{HeaderMap, Request, StatusCode, header};
use tower::ServiceExt;

pub const SESSION_SECRET: &str = "router test session secret";

pub struct Blog {
    pub app: Router,
    pub store: Arc<SqliteStore>,
    /// The app's page cache, to see what it holds.
    pub pages: Arc<PageCache>,
    pub _dir: Option<tempfile::TempDir>,
    /// The cookies this "browser" holds.
    pub cookies: BTreeMap<String, String>,
    /// Extra headers sent with every request.
    pub extra: Vec<(&'static str, String)>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The hidden CSRF field of the form on this page.
    pub fn csrf_field(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.body.find(marker).expect("page has a CSRF field") + marker.len();
        let end = self.body[start..].find('"').expect("closing quote");
        self.body[start..start + end].to_string()
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect()
    }
}

pub fn password_of(name: &str) -> String {
    format!("password of {name}")
}

/// Ann and Bob are authors, root is an admin; "Legacy" has posts but no account.
pub async fn blog_with(page_cache: bool, ttl: Duration) -> Blog {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path().join("blog.db")).expect("open store"));
    let passwords = Passwords::with_cost(8, 1).expect("argon2 params");
    for (name, admin) in [("Ann", false), ("Bob", false), ("root", true)] {
        let hash = passwords.hash(password_of(name)).await.expect("hash");
        store
            .add(&Account {
                name: name.into(),
                password_hash: hash,
                admin,
                session_epoch: 0,
            })
            .await
            .expect("add account");
    }
    let state = state_with(store.clone(), passwords, ttl).with_page_cache(page_cache);
    Blog {
        pages: state.pages.clone(),
        app: app(state),
        store,
        _dir: Some(dir),
        cookies: BTreeMap::new(),
        extra: Vec::new(),
    }
}

fn state_with(store: Arc<SqliteStore>, passwords: Passwords, ttl: Duration) -> AppState {
    let site = Site::new("Test Blog", "green", "v9.9.9").expect("site");
    let sessions = Sessions::new(Some(SESSION_SECRET), None, ttl).expect("sessions");
    let auth = Auth::new(store.clone(), sessions, passwords);
    AppState::new(store, site, Csrf::new(None).expect("csrf"), auth)
}

/// Another process's state on the same database and key.
pub fn state_on(store: Arc<SqliteStore>) -> AppState {
    let passwords = Passwords::with_cost(8, 1).expect("argon2 params");
    state_with(store, passwords, Duration::from_secs(3600))
}

/// A second browser on the same app and store, with no cookies.
pub fn view_of(b: &Blog) -> Blog {
    Blog {
        app: b.app.clone(),
        store: b.store.clone(),
        pages: b.pages.clone(),
        _dir: None,
        cookies: BTreeMap::new(),
        extra: Vec::new(),
    }
}

pub async fn blog() -> Blog {
    blog_with(true, Duration::from_secs(3600)).await
}

pub fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_query(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Blog {
    pub async fn send(&mut self, mut request: Request<Body>) -> Reply {
        if !self.cookies.is_empty() {
            let jar = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request
                .headers_mut()
                .insert(header::COOKIE, jar.parse().expect("cookie header"));
        }
        for (name, value) in &self.extra {
            request
                .headers_mut()
                .insert(*name, value.parse().expect("header"));
        }
        let response = self
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("infallible router");
        let status = response.status();
        let headers = response.headers().clone();
        for set in headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().expect("ascii cookie");
            let pair = set.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || set.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_string(), value.to_string());
                }
            }
        }
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        Reply {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).expect("utf-8 body"),
        }
    }

    pub async fn get(&mut self, uri: &str) -> Reply {
        self.send(Request::get(uri).body(Body::empty()).expect("request"))
            .await
    }

    pub async fn post(&mut self, uri: &str, body: String) -> Reply {
        let request =
            Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        self.send(request.body(Body::from(body)).expect("request"))
            .await
    }

    /// Signs in through the form as `name` (with its password).
    pub async fn sign_in(&mut self, name: &str) -> Reply {
        self.sign_in_with(name, &password_of(name), &[]).await
    }

    pub async fn sign_in_with(
        &mut self,
        name: &str,
        password: &str,
        extra: &[(&str, &str)],
    ) -> Reply {
        self.sign_out_here();
        let token = self.get("/login").await.csrf_field();
        let mut fields = vec![
            ("name", name),
            ("password", password),
            ("csrf_token", token.as_str()),
        ];
        fields.extend_from_slice(extra);
        self.post("/login", form(&fields)).await
    }

    pub fn sign_out_here(&mut self) {
        self.cookies
            .retain(|name, _| !name.ends_with("blog_session"));
    }

    /// Posts the new-post form.
    pub async fn submit(&mut self, title: &str, content: &str, token: &str) -> Reply {
        let body = form(&[
            ("title", title),
            ("content", content),
            ("csrf_token", token),
        ]);
        self.post("/posts/new", body).await
    }

    /// Signs in as `author` and creates a post through the form, returning its id.
    pub async fn write(&mut self, title: &str, author: &str, content: &str) -> String {
        let signed = self.sign_in(author).await;
        assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
        let token = self.get("/posts/new").await.csrf_field();
        let reply = self.submit(title, content, &token).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        reply.location().trim_start_matches("/posts/").to_string()
    }

    pub async fn seed(&self, n: usize, author: &str, ts: &str) -> Post {
        let post = Post {
            id: PostId::generate(),
            author: author.into(),
            title: format!("Post number {n}"),
            content: format!("Body of post {n}"),
            timestamp: Some(Timestamp::parse(ts).expect("timestamp")),
            format: blog::domain::Format::Markdown,
            revision: 0,
        };
        self.store.create(&post).await.expect("create");
        post
    }
}
