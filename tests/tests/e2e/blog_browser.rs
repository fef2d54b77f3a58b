//! The blog in a real browser: the built `blog` binary on a SQLite file, driven through
//! WebDriver (fantoccini) in headless Chromium, with `chromedriver` started here on a free
//! loopback port. Debian's `chromium` and `chromium-driver` (`.ci/run` installs them).
//!
//! - An author signs in, writes a Markdown post, sees it rendered, edits it and deletes it
//!   through the confirmation page: once with JavaScript on at a 375-pixel phone viewport
//!   (where no page scrolls sideways, and the post page's screenshot is written to the test's
//!   output directory), once with JavaScript off (the blog uses no script).
//! - The browser's log shows no Content-Security-Policy violation on any page visited, an
//!   `https` image in a post included (posts may show them, and the policy must agree).
//! - A reader who is not signed in sees no edit or delete control, and a direct POST is refused.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use bluegreen_tests::blog_http::{add_account, get, http};
use bluegreen_tests::blog_proc::Blog;

const PASSWORD: &str = "a long password for the browser";

/// chromedriver on a free loopback port; killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(which("chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A new headless Chromium session: JavaScript on or off, a phone's 375-pixel viewport
    /// or a desktop window, the browser's console log kept.
    async fn session(&self, javascript: bool, phone: bool) -> Client {
        let mut options = json!({
            "binary": which("chromium"),
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--window-size=1280,900",
            ],
        });
        if !javascript {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        if phone {
            options["mobileEmulation"] =
                json!({ "deviceMetrics": { "width": 375, "height": 812, "pixelRatio": 2 } });
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(caps) = caps else {
            unreachable!("a JSON object")
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url())
            .await
            .expect("a Chromium session")
    }

    /// The browser's console messages since the last call (chromedriver's log endpoint).
    async fn browser_log(&self, client: &Client) -> Vec<String> {
        let session = client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        let body = json!({ "type": "browser" }).to_string();
        let reply = raw_post(self.port, &format!("/session/{session}/se/log"), &body);
        let doc: Value = serde_json::from_str(&reply)
            .unwrap_or_else(|e| panic!("chromedriver's log is JSON ({e}): {reply}"));
        let Some(entries) = doc["value"].as_array() else {
            panic!("chromedriver gave no browser log: {reply}");
        };
        entries
            .iter()
            .filter_map(|e| e["message"].as_str().map(str::to_string))
            .collect()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of `tool`, or a failure that says how to get it.
fn which(tool: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .expect("sh runs");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !path.is_empty(),
        "{tool} is not installed (`bash .ci/run` installs Debian's chromium and chromium-driver)"
    );
    path
}

/// A JSON POST over a fresh connection; the body of the answer.
fn raw_post(port: u16, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to chromedriver");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    // Read the head, then exactly Content-Length bytes: chromedriver may keep the connection.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).expect("read from chromedriver");
        assert!(n > 0, "chromedriver closed before answering");
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("a Content-Length");
        while buf.len() < end + 4 + length {
            let n = stream.read(&mut chunk).expect("read the body");
            assert!(n > 0, "chromedriver closed mid-body");
            buf.extend_from_slice(&chunk[..n]);
        }
        return String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned();
    }
}

/// Every Content-Security-Policy complaint in `log`.
fn csp_violations(log: &[String]) -> Vec<&String> {
    log.iter()
        .filter(|m| m.contains("Content Security Policy") || m.contains("Content-Security-Policy"))
        .collect()
}

async fn source(c: &Client) -> String {
    c.source().await.expect("page source")
}

/// The page source once `ready` holds for it: a click on a submit button returns before the
/// browser has loaded the answer. Waits at most 15 s.
async fn settled(c: &Client, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let page = source(c).await;
        if ready(&page) {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the page is still {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(c: &Client, css: &str) {
    let element = match c.find(Locator::Css(css)).await {
        Ok(e) => e,
        Err(e) => panic!("no {css} ({e}) on {}", c.source().await.unwrap_or_default()),
    };
    element
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn type_into(c: &Client, css: &str, text: &str, clear: bool) {
    let field = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    if clear {
        field.clear().await.expect("clear");
    }
    field.send_keys(text).await.expect("type");
}

/// On a phone viewport (JavaScript on), the page must not scroll sideways.
async fn no_sideways_scroll(c: &Client, page: &str) {
    let widths = c
        .execute(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
            vec![],
        )
        .await
        .expect("measure the page");
    let (scroll, client) = (widths[0].as_u64(), widths[1].as_u64());
    assert!(
        matches!((scroll, client), (Some(s), Some(w)) if s <= w && w <= 375),
        "{page} scrolls sideways at 375 px: scrollWidth {scroll:?}, clientWidth {client:?}"
    );
}

/// Signs in, writes a Markdown post, checks it rendered, edits it, deletes it through the
/// confirmation page. `phone`: also checks every page's width and keeps a screenshot.
async fn author_flow(c: &Client, base: &str, name: &str, title: &str, phone: bool) {
    c.goto(&format!("{base}/login")).await.expect("login page");
    if phone {
        no_sideways_scroll(c, "/login").await;
    }
    type_into(c, "#name", name, false).await;
    type_into(c, "#password", PASSWORD, false).await;
    click(c, "form.post-form button[type=submit]").await;
    let account = format!("class=\"account\">{name}<");
    settled(c, &format!("signed in as {name}"), |p| p.contains(&account)).await;

    c.goto(&format!("{base}/posts/new"))
        .await
        .expect("new post");
    if phone {
        no_sideways_scroll(c, "/posts/new").await;
    }
    type_into(c, "#title", title, false).await;
    type_into(
        c,
        "#content",
        "Some **bold** words\n\n- one\n- two\n\nA [link](https://example.com/) and a very-long-word-that-must-wrap-somewhere-on-a-small-screen-without-scrolling.\n\n![an https image, which the policy lets load](https://127.0.0.1:9/pic.png)",
        false,
    )
    .await;
    click(c, "form.post-form button[type=submit]").await;
    settled(c, "the post rendered from its Markdown", |p| {
        p.contains(title) && p.contains("<strong>bold</strong>") && p.contains("<li>one</li>")
    })
    .await;
    if phone {
        no_sideways_scroll(c, "the post").await;
        let png = c.screenshot().await.expect("screenshot");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("blog-browser");
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let file = dir.join("post-375px.png");
        std::fs::write(&file, &png).expect("write the screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG at {}", file.display());
        eprintln!("screenshot of the post at 375 px: {}", file.display());
    }

    click(c, "a[href$='/edit']").await;
    settled(c, "the edit form", |p| p.contains("Edit post")).await;
    let edited = format!("{title}, edited");
    type_into(c, "#title", &edited, true).await;
    click(c, "form.post-form button[type=submit]").await;
    settled(c, "the edited post", |p| {
        p.contains(&format!("<h1>{edited}</h1>"))
            || (p.contains(&edited) && !p.contains("Edit post"))
    })
    .await;

    click(c, "a[href$='/delete']").await;
    settled(c, "a confirmation page first", |p| {
        p.contains("Delete the post")
    })
    .await;
    if phone {
        no_sideways_scroll(c, "the delete confirmation").await;
    }
    click(c, "button.button-danger").await;
    settled(c, "the post gone from the index", |p| {
        p.contains("page-title") && !p.contains("Delete the post") && !p.contains(&edited)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authors_write_edit_and_delete_and_readers_only_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("blog.db");
    let store = format!("sqlite:{}", db.display());
    for name in ["Ann", "Bob"] {
        add_account(&store, name, PASSWORD, false, &[]);
    }
    let blog = Blog::start(&db, "green", &[]);
    let base = format!("http://{}", blog.addr);
    let driver = Driver::start();

    // JavaScript off, desktop: the whole flow, and a post left for the reader.
    let plain = driver.session(false, false).await;
    author_flow(&plain, &base, "Bob", "Written without script", false).await;
    plain.goto(&format!("{base}/posts/new")).await.expect("new");
    type_into(&plain, "#title", "Kept for the reader", false).await;
    type_into(&plain, "#content", "Stays for the reader.", false).await;
    click(&plain, "form.post-form button[type=submit]").await;
    settled(&plain, "the kept post", |p| {
        p.contains("Stays for the reader.") && !p.contains("<textarea")
    })
    .await;
    let kept = plain.current_url().await.expect("url").to_string();
    let kept_path = kept.trim_start_matches(&base).to_string();
    assert!(kept_path.starts_with("/posts/"), "{kept}");
    let mut log = driver.browser_log(&plain).await;
    plain.close().await.expect("close");

    // JavaScript on, a phone: first as a reader, then as Ann.
    let phone = driver.session(true, true).await;
    phone.goto(&kept).await.expect("the kept post");
    let read = source(&phone).await;
    assert!(read.contains("Kept for the reader"), "{read}");
    for css in [
        "a[href$='/edit']",
        "a[href$='/delete']",
        "form[method=post]",
    ] {
        assert!(
            phone
                .find_all(Locator::Css(css))
                .await
                .expect("find")
                .is_empty(),
            "a reader sees no {css}: {read}"
        );
    }
    no_sideways_scroll(&phone, "the index").await;
    // A direct POST without a session is refused, and the post stays.
    let refused = http(
        &blog.addr,
        "POST",
        &format!("{kept_path}/delete"),
        None,
        Some("author=Bob&csrf_token=x"),
    );
    assert!(
        matches!(refused.status, 303 | 403),
        "a reader's POST is refused: {} {}",
        refused.status,
        refused.body
    );
    assert_eq!(get(&blog.addr, &kept_path).status, 200, "the post stays");
    author_flow(&phone, &base, "Ann", "Written on a phone", true).await;
    // The log really carries the page's console (so an empty list of violations means none).
    phone
        .execute("console.error('bluegreen log probe');", vec![])
        .await
        .expect("a console message");
    let phone_log = driver.browser_log(&phone).await;
    assert!(
        phone_log.iter().any(|m| m.contains("bluegreen log probe")),
        "the browser log reaches the test: {phone_log:?}"
    );
    log.extend(phone_log);
    phone.close().await.expect("close");

    let violations = csp_violations(&log);
    assert!(
        violations.is_empty(),
        "Content-Security-Policy violations in the browser's log: {violations:?}"
    );
}

/// Issue 32: a plain-text post (as the seed's app wrote them) shows its literal `<b>x</b>` in
/// the browser, as text, with its line breaks; nothing in it becomes an element.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_text_post_shows_its_markup_as_text() {
    use blog::domain::{Format, Post, PostId, Timestamp};
    use blog::store::PostStore;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("blog.db");
    let post = Post {
        id: PostId::generate(),
        author: "Vishal".into(),
        title: "Bold in HTML".into(),
        content: "Use <b>x</b> for bold.\n# not a heading\n*not emphasis*".into(),
        timestamp: Some(Timestamp::now()),
        format: Format::Plain,
        revision: 0,
    };
    blog::store::sqlite::SqliteStore::open(&db)
        .expect("open")
        .create(&post)
        .await
        .expect("a plain-text post");
    let blog = Blog::start(&db, "green", &[]);
    let driver = Driver::start();
    let c = driver.session(false, false).await;
    c.goto(&format!("http://{}/posts/{}", blog.addr, post.id))
        .await
        .expect("the post");
    let body = c
        .find(Locator::Css(".post-body"))
        .await
        .expect("the post's body");
    let shown = body.text().await.expect("its text");
    assert_eq!(
        shown, "Use <b>x</b> for bold.\n# not a heading\n*not emphasis*",
        "as the reader sees it"
    );
    for css in [".post-body b", ".post-body h1", ".post-body em"] {
        assert!(
            c.find_all(Locator::Css(css))
                .await
                .expect("find")
                .is_empty(),
            "no {css} element"
        );
    }
    c.goto(&format!("http://{}/", blog.addr))
        .await
        .expect("the index");
    let excerpt = c
        .find(Locator::Css(".excerpt"))
        .await
        .expect("an excerpt")
        .text()
        .await
        .expect("its text");
    assert_eq!(
        excerpt,
        "Use <b>x</b> for bold.\n# not a heading\n*not emphasis*"
    );
    c.close().await.expect("close");
}
