//! Every route through `app(state).oneshot(..)` (the test browser is in `support`).

use crate::support;

use blog::domain::{Post, PostId, Timestamp};
use blog::store::PostStore;
use http::{StatusCode, header};
use support::{blog, form};

#[tokio::test]
async fn every_page_has_banner_and_headers() {
    let mut b = blog().await;
    for uri in [
        "/",
        "/login",
        "/posts/00000000-0000-4000-8000-000000000000",
        "/no/such/page",
    ] {
        let r = b.get(uri).await;
        assert_eq!(r.headers["x-blog-color"], "green", "{uri}");
        assert_eq!(r.headers["x-blog-version"], "v9.9.9", "{uri}");
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
        assert_eq!(r.headers["referrer-policy"], "same-origin");
        let csp = r.headers["content-security-policy"]
            .to_str()
            .expect("ascii");
        assert!(
            csp.contains("default-src 'self'")
                && csp.contains("script-src 'none'")
                && csp.contains("img-src 'self' https:"),
            "{csp}"
        );
        assert!(
            r.body.contains("banner-green") && r.body.contains("v9.9.9"),
            "{uri}: {}",
            r.body
        );
        assert!(r.body.contains("name=\"viewport\""));
        assert!(!r.body.contains("<script"), "no script on {uri}");
    }
}

#[tokio::test]
async fn write_read_edit_delete() {
    let mut b = blog().await;
    let signed = b.sign_in("Ann").await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    let cookie = signed.set_cookies().join("\n");
    assert!(
        cookie.contains("blog_session=") && cookie.contains("HttpOnly; SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let form_page = b.get("/posts/new").await;
    assert_eq!(form_page.status, StatusCode::OK);
    assert!(
        form_page.body.contains("Publishing as Ann"),
        "{}",
        form_page.body
    );

    let id = b
        .write("  First post ", "Ann", "Hello.\n\nSecond paragraph.")
        .await;
    let view = b.get(&format!("/posts/{id}")).await;
    assert_eq!(view.status, StatusCode::OK);
    assert!(
        view.body.contains("<h1>First post</h1>"),
        "trimmed title: {}",
        view.body
    );
    assert!(view.body.contains("<p>Hello.</p>") && view.body.contains("<p>Second paragraph.</p>"));
    let stored = b
        .store
        .versions(&PostId::parse(&id).expect("id"))
        .await
        .expect("read");
    assert_eq!(stored[0].author, "Ann");

    let index = b.get("/").await;
    assert!(index.body.contains(&format!("href=\"/posts/{id}\"")));

    let edit = b.get(&format!("/posts/{id}/edit")).await;
    assert_eq!(edit.status, StatusCode::OK);
    assert!(
        edit.body.contains("name=\"author\" value=\"Ann\"")
            && edit.body.contains("By Ann; the author is fixed"),
        "{}",
        edit.body
    );
    let token = edit.csrf_field();
    let saved = b
        .post(
            &format!("/posts/{id}/edit"),
            form(&[
                ("title", "Renamed"),
                ("author", "Ann"),
                ("content", "New body"),
                ("csrf_token", &token),
            ]),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert_eq!(saved.location(), format!("/posts/{id}"));
    assert!(
        b.get(&format!("/posts/{id}"))
            .await
            .body
            .contains("Renamed")
    );

    // The seed's delete link shows the confirmation instead of deleting.
    let confirm = b.get(&format!("/posts/{id}/delete?author=Ann")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("Delete this post?"));
    assert_eq!(b.get(&format!("/posts/{id}")).await.status, StatusCode::OK);

    let token = confirm.csrf_field();
    let gone = b
        .post(
            &format!("/posts/{id}/delete"),
            form(&[("author", "Ann"), ("csrf_token", &token)]),
        )
        .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert_eq!(gone.location(), "/");
    assert_eq!(
        b.get(&format!("/posts/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn unknown_ids_are_404_pages() {
    let mut b = blog().await;
    let unknown = "5b0e1a8e-4a3c-4f7e-9d61-2b4c8d9e0f11";
    for uri in [
        format!("/posts/{unknown}"),
        format!("/posts/{unknown}/edit"),
        format!("/posts/{unknown}/delete"),
        "/posts/not%20an%20id".to_string(),
    ] {
        let r = b.get(&uri).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(r.body.contains("Post not found"), "{uri}: {}", r.body);
        assert!(
            r.headers[header::CONTENT_TYPE]
                .to_str()
                .expect("ascii")
                .starts_with("text/html")
        );
    }
    b.sign_in("Ann").await;
    let token = b.get("/posts/new").await.csrf_field();
    let r = b
        .post(
            &format!("/posts/{unknown}/edit"),
            form(&[
                ("title", "t"),
                ("author", "a"),
                ("content", ""),
                ("csrf_token", &token),
            ]),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = b
        .post(
            &format!("/posts/{unknown}/delete"),
            form(&[("author", "a"), ("csrf_token", &token)]),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_input_comes_back_with_everything_typed() {
    let mut b = blog().await;
    b.sign_in("Ann").await;
    let token = b.get("/posts/new").await.csrf_field();
    let content = "My long draft & <notes>\n\nwith paragraphs";
    let r = b.submit("   ", content, &token).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Give the post a title."), "{}", r.body);
    assert!(
        r.body
            .contains("My long draft &#38; &#60;notes&#62;\n\nwith paragraphs</textarea>"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("id=\"title\" name=\"title\" type=\"text\" value=\"   \"")
    );
    // Nothing was stored.
    assert!(b.get("/").await.body.contains("Nothing here yet."));

    let too_long = "y".repeat(100 * 1024 + 1);
    let r = b.submit("t", &too_long, &token).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("the limit is 100 KB"));
}

#[tokio::test]
async fn csrf_failures_are_refused_and_keep_the_text() {
    let mut b = blog().await;
    b.sign_in("Ann").await;
    let token = b.get("/posts/new").await.csrf_field();
    let fields = |t: &str| {
        form(&[
            ("title", "Kept title"),
            ("author", "Ann"),
            ("content", "Kept body"),
            ("csrf_token", t),
        ])
    };

    let forged = b.post("/posts/new", fields("forged")).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.body.contains("nothing was saved"));
    assert!(
        forged.body.contains("value=\"Kept title\"")
            && forged.body.contains("Kept body</textarea>")
    );

    let missing = b
        .post("/posts/new", form(&[("title", "t"), ("author", "a")]))
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);

    // A cross-site post carries the field it could read nowhere, and no cookie.
    let jar = std::mem::take(&mut b.cookies);
    let no_cookie = b.post("/posts/new", fields(&token)).await;
    assert_eq!(no_cookie.status, StatusCode::FORBIDDEN);
    assert!(b.get("/").await.body.contains("Nothing here yet."));
    b.cookies = jar;

    // Deleting needs the token too.
    let id = b.write("Keep me", "Ann", "").await;
    let r = b
        .post(
            &format!("/posts/{id}/delete"),
            form(&[("author", "Ann"), ("csrf_token", "nope")]),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(b.get(&format!("/posts/{id}")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_author_cannot_change() {
    let mut b = blog().await;
    let id = b.write("Mine", "Ann", "text").await;
    let token = b.get(&format!("/posts/{id}/edit")).await.csrf_field();
    let r = b
        .post(
            &format!("/posts/{id}/edit"),
            form(&[
                ("title", "Edited title"),
                ("author", "Mallory"),
                ("content", "edited"),
                ("csrf_token", &token),
            ]),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("The author cannot be changed"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("name=\"author\" value=\"Ann\""),
        "original author restored"
    );
    assert!(r.body.contains("value=\"Edited title\"") && r.body.contains("edited</textarea>"));
    let stored = b
        .store
        .versions(&PostId::parse(&id).expect("id"))
        .await
        .expect("read");
    assert_eq!(stored.len(), 1, "no second copy under the new author");
    assert_eq!(stored[0].title, "Mine");
}

#[tokio::test]
async fn user_text_is_escaped() {
    let mut b = blog().await;
    let attack = "<script>alert('x')</script><img src=x onerror=alert(1)>";
    // A legacy post (no account can have such a name), seen by an admin, who gets every page.
    let post = Post {
        id: PostId::generate(),
        author: "\"><b>Eve</b>".into(),
        title: attack.into(),
        content: attack.into(),
        timestamp: Some(Timestamp::now()),
        format: blog::domain::Format::Markdown,
        revision: 0,
    };
    b.store.create(&post).await.expect("create");
    let id = post.id.to_string();
    b.sign_in("root").await;
    for uri in [
        "/".to_string(),
        format!("/posts/{id}"),
        format!("/posts/{id}/edit"),
        format!("/posts/{id}/delete"),
    ] {
        let r = b.get(&uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert!(
            !r.body.contains("<script>alert"),
            "{uri} leaks a script tag"
        );
        assert!(!r.body.contains("<img src=x"), "{uri} leaks an img tag");
        assert!(
            !r.body.contains("<b>Eve</b>"),
            "{uri} leaks markup in the author"
        );
        assert!(r.body.contains("&#60;script&#62;"), "{uri}: {}", r.body);
    }
}

#[tokio::test]
async fn the_list_pages_by_cursor() {
    let mut b = blog().await;
    let mut ids = Vec::new();
    for n in 0..45 {
        let ts = format!("2026-01-01T00:{:02}:{:02}.000001", n / 60, n % 60);
        ids.push(b.seed(n, "Ann", &ts).await.id);
    }
    let first = b.get("/").await;
    assert!(first.body.contains("Post number 44") && first.body.contains("Post number 25"));
    assert!(!first.body.contains("Post number 24<"));
    assert!(
        first.body.find("Post number 44").expect("44")
            < first.body.find("Post number 43").expect("43")
    );
    assert!(!first.body.contains("class=\"newer\""));
    let older = href(&first.body, "class=\"older\" href=\"");
    let second = b.get(&older).await;
    assert_eq!(second.status, StatusCode::OK);
    assert!(second.body.contains("Post number 24<") && second.body.contains("Post number 5<"));
    assert!(!second.body.contains("Post number 25<") && !second.body.contains("Post number 4<"));
    let third = b.get(&href(&second.body, "class=\"older\" href=\"")).await;
    assert!(third.body.contains("Post number 4<") && third.body.contains("Post number 0<"));
    assert!(!third.body.contains("class=\"older\""));
    // Back again: newer from the third page is the second page.
    let back = b.get(&href(&third.body, "class=\"newer\" href=\"")).await;
    assert!(back.body.contains("Post number 24<") && back.body.contains("Post number 5<"));
    let top = b.get(&href(&back.body, "class=\"newer\" href=\"")).await;
    assert!(top.body.contains("Latest posts") && top.body.contains("Post number 44<"));

    let damaged = b.get("/?older=abc").await;
    assert_eq!(damaged.status, StatusCode::BAD_REQUEST);
    assert!(damaged.body.contains("page link is damaged"));
}

fn href(body: &str, marker: &str) -> String {
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {body}"))
        + marker.len();
    let end = body[start..].find('"').expect("quote");
    body[start..start + end].to_string()
}

#[tokio::test]
async fn duplicate_ids_show_the_newest_and_address_each_copy() {
    let mut b = blog().await;
    let old = b.seed(1, "Ann", "2026-01-01T10:00:00").await;
    let newer = Post {
        author: "Bob".into(),
        title: "Copy made by the seed's edit".into(),
        timestamp: Some(Timestamp::parse("2026-01-02T10:00:00").expect("ts")),
        format: blog::domain::Format::Markdown,
        revision: 0,
        ..old.clone()
    };
    b.store
        .create(&newer)
        .await
        .expect("duplicate under another author");

    b.sign_in("root").await;
    let view = b.get(&format!("/posts/{}", old.id)).await;
    assert!(
        view.body
            .contains("<h1>Copy made by the seed&#39;s edit</h1>"),
        "{}",
        view.body
    );
    assert!(view.body.contains("Other copies of this post"));
    assert!(
        view.body
            .contains(&format!("/posts/{}/delete?author=Ann", old.id))
    );

    let specific = b.get(&format!("/posts/{}?author=Ann", old.id)).await;
    assert!(specific.body.contains("<h1>Post number 1</h1>"));

    let edit = b.get(&format!("/posts/{}/edit?author=Ann", old.id)).await;
    assert!(edit.body.contains("name=\"author\" value=\"Ann\""));
    let token = edit.csrf_field();
    let saved = b
        .post(
            &format!("/posts/{}/edit", old.id),
            form(&[
                ("title", "Fixed"),
                ("author", "Ann"),
                ("content", "x"),
                ("csrf_token", &token),
            ]),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert_eq!(saved.location(), format!("/posts/{}?author=Ann", old.id));

    let confirm = b.get(&format!("/posts/{}/delete?author=Ann", old.id)).await;
    let token = confirm.csrf_field();
    let r = b
        .post(
            &format!("/posts/{}/delete", old.id),
            form(&[("author", "Ann"), ("csrf_token", &token)]),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let left = b.store.versions(&old.id).await.expect("read");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].author, "Bob");
}

#[tokio::test]
async fn cached_pages_follow_writes_from_any_process() {
    let mut b = blog().await;
    let first = b.seed(1, "Ann", "2026-01-01T10:00:00").await;
    let index = b.get("/").await;
    assert!(index.body.contains("Post number 1<"));
    assert_eq!(
        b.get("/").await.body,
        index.body,
        "served again from the cache"
    );
    let view = b.get(&format!("/posts/{}", first.id)).await;
    assert!(view.body.contains("Body of post 1"));

    // Another blog process (another connection to the same file) changes the posts.
    let other = rusqlite::Connection::open(b.store.path()).expect("open");
    other
        .execute(
            "UPDATE posts SET title = 'Retitled elsewhere', content = 'New body'",
            [],
        )
        .expect("update");
    other
        .execute(
            "INSERT INTO posts (post_id, author, title, content, timestamp) VALUES ('0b9d6f5e-2c1a-4c6e-9a3e-8f7d6c5b4a39', 'Bob', 'From green', '', '2026-01-02T00:00:00')",
            [],
        )
        .expect("insert");
    let index = b.get("/").await;
    assert!(
        index.body.contains("Retitled elsewhere") && index.body.contains("From green"),
        "{}",
        index.body
    );
    assert!(
        b.get(&format!("/posts/{}", first.id))
            .await
            .body
            .contains("New body")
    );

    // And through this app: a delete is visible at once.
    b.sign_in("Ann").await;
    let confirm = b.get(&format!("/posts/{}/delete", first.id)).await;
    let token = confirm.csrf_field();
    let gone = b
        .post(
            &format!("/posts/{}/delete", first.id),
            form(&[("author", "Ann"), ("csrf_token", &token)]),
        )
        .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert!(!b.get("/").await.body.contains("Retitled elsewhere"));
    assert_eq!(
        b.get(&format!("/posts/{}", first.id)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn health_follows_the_store() {
    let mut b = blog().await;
    let ok = b.get("/health").await;
    assert_eq!(ok.status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&ok.body).expect("json");
    assert_eq!(json["status"], "ok");
    assert_eq!(json["color"], "green");
    assert_eq!(json["version"], "v9.9.9");
    assert_eq!(json["store"]["ok"], true);
    b.sign_in("Ann").await;
    let token = b.get("/posts/new").await.csrf_field();

    // Break the database underneath the running app.
    let conn = rusqlite::Connection::open(b.store.path()).expect("open");
    conn.execute_batch("DROP TABLE posts").expect("drop");
    let down = b.get("/health").await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    let json: serde_json::Value = serde_json::from_str(&down.body).expect("json");
    assert_eq!(json["status"], "unavailable");
    assert_eq!(json["store"]["ok"], false);
    // A form sent meanwhile keeps the text and says nothing was saved.
    let kept = b.submit("Unsaved", "Words worth keeping", &token).await;
    assert_eq!(kept.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        kept.body.contains("nothing was saved")
            && kept.body.contains("Words worth keeping</textarea>")
    );
    // Readers get a page, not the database's words.
    let page = b.get("/").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.body.contains("cannot reach its database") && !page.body.contains("no such table")
    );
}

#[tokio::test]
async fn bodies_are_limited_and_assets_served() {
    let mut b = blog().await;
    b.sign_in("Ann").await;
    let token = b.get("/posts/new").await.csrf_field();
    let huge = "z".repeat(blog::web::BODY_LIMIT + 1);
    let r = b.submit("t", &huge, &token).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.body.contains("too much text"));

    let css = b.get("/static/style.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert!(css.body.contains(".banner-green"));
    assert_eq!(b.get("/static/favicon.svg").await.status, StatusCode::OK);
}

#[tokio::test]
async fn markdown_is_rendered_sanitized_and_stored_as_written() {
    let mut b = blog().await;
    let text = "## Notes\n\nSome **bold** words and [a link](https://example.com).\n\n\
                <script>alert(1)</script>\n\n[bad](javascript:alert(1)) <img src=x onerror=alert(1)>";
    let id = b.write("Markdown", "Ann", text).await;
    let view = b.get(&format!("/posts/{id}")).await;
    assert!(view.body.contains("<h2>Notes</h2>"), "{}", view.body);
    assert!(view.body.contains("<strong>bold</strong>"));
    assert!(view.body.contains("href=\"https://example.com\""));
    let lower = view.body.to_ascii_lowercase();
    assert!(
        !lower.contains("<script") && !lower.contains("javascript:") && !lower.contains("onerror")
    );
    // The store keeps the author's text, which the seed's app shows as it is.
    let stored = b
        .store
        .versions(&PostId::parse(&id).expect("id"))
        .await
        .expect("read");
    assert_eq!(stored[0].content, text);
    // The edit form gives the text back as written; the index shows plain words.
    assert!(
        b.get(&format!("/posts/{id}/edit"))
            .await
            .body
            .contains("## Notes\n\nSome **bold**")
    );
    let index = b.get("/").await;
    assert!(
        index
            .body
            .contains("<p class=\"excerpt\">Notes Some bold words and a link."),
        "{}",
        index.body
    );
}

#[tokio::test]
async fn health_notices_a_deleted_database_file() {
    let mut b = blog().await;
    assert_eq!(b.get("/health").await.status, StatusCode::OK);
    b.sign_in("Ann").await;
    let token = b.get("/posts/new").await.csrf_field();
    std::fs::remove_file(b.store.path()).expect("delete the database file");
    let down = b.get("/health").await;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        down.body
    );
    // A post would go into the unlinked file and be lost at the next start: it is refused,
    // and the author's text comes back with the error.
    let refused = b
        .submit("Into the void", "Text that must not vanish", &token)
        .await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("Into the void")
            && refused.body.contains("Text that must not vanish"),
        "{}",
        refused.body
    );
    assert!(!b.store.path().exists(), "nothing recreated the file");
}

#[tokio::test]
async fn every_error_is_the_blogs_page() {
    let mut b = blog().await;
    let post = b.seed(1, "Ann", "2026-01-01T10:00:00").await;
    let twice = b
        .get(&format!("/posts/{}?author=a&author=b", post.id))
        .await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    assert!(twice.body.contains("banner-green") && twice.body.contains("parameter given twice"));
    let nowhere = b.get("/no/such/page").await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    assert!(nowhere.body.contains("Page not found"), "{}", nowhere.body);
}

#[tokio::test]
async fn control_character_titles_are_refused() {
    let mut b = blog().await;
    b.sign_in("Ann").await;
    let token = b.get("/posts/new").await.csrf_field();
    for title in ["\u{0}", "\u{1b}\u{1b}", "\u{200B}\u{200B}"] {
        let r = b.submit(title, "text", &token).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{title:?}");
        assert!(!r.body.contains('\u{0}'), "NUL never reaches the HTML");
    }
    assert!(b.get("/").await.body.contains("Nothing here yet."));
}

#[tokio::test]
async fn errors_the_router_answers_itself_are_blog_pages() {
    use axum::body::Body;
    use http::Request;
    let mut b = blog().await;
    for (method, uri) in [("DELETE", "/"), ("PUT", "/posts/new"), ("POST", "/health")] {
        let r = b
            .send(
                Request::builder()
                    .method(method)
                    .uri(uri)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert!(
            r.headers[header::CONTENT_TYPE]
                .to_str()
                .expect("ascii")
                .starts_with("text/html"),
            "{method} {uri}: {:?}",
            r.headers
        );
        assert!(r.headers.contains_key(header::ALLOW), "{method} {uri}");
        assert!(
            r.body.contains("banner-green") && r.body.contains("not something this page does"),
            "{method} {uri}: {}",
            r.body
        );
        assert_eq!(r.headers["x-frame-options"], "DENY");
    }
}

#[tokio::test]
async fn query_strings_the_routes_ignore_add_no_cache_entries() {
    let mut b = blog().await;
    let post = b.seed(1, "Ann", "2026-01-01T10:00:00").await;
    let index = b.get("/").await.body;
    let view = b.get(&format!("/posts/{}", post.id)).await.body;
    assert_eq!(b.pages.usage().0, 2);
    for i in 0..300 {
        assert_eq!(b.get(&format!("/?utm_source={i}")).await.body, index);
        assert_eq!(
            b.get(&format!("/posts/{}?ref={i}", post.id)).await.body,
            view
        );
    }
    let (pages, bytes) = b.pages.usage();
    assert_eq!(pages, 2, "still one entry per page");
    assert!(bytes <= blog::web::cache::MAX_BYTES, "{bytes}");
    // What the routes do read still selects another page.
    b.get(&format!("/posts/{}?author=Ann", post.id)).await;
    assert_eq!(b.pages.usage().0, 3);
}

#[tokio::test]
async fn the_atom_feed_has_the_latest_twenty_posts_with_absolute_links() {
    let mut b = blog().await;
    for n in 1..=24 {
        b.seed(n, "Ann", &format!("2026-01-{n:02}T10:00:00")).await;
    }
    let id = b
        .write(
            "Tags & <b>brackets</b>",
            "Bob",
            "**bold** <script>alert(1)</script> [x](javascript:alert(2))",
        )
        .await;
    b.sign_out_here();
    b.extra.push(("host", "Blog.Example:8443".into()));
    b.extra.push(("x-forwarded-proto", "https".into()));
    let r = b.get("/feed.atom").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.headers[header::CONTENT_TYPE],
        "application/atom+xml; charset=utf-8"
    );
    assert!(
        r.body
            .starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
        "{}",
        r.body
    );
    assert_eq!(r.body.matches("<entry>").count(), 20, "{}", r.body);
    // Newest first: Bob's post (now), then Ann's 24, 23, …; the 4 oldest are left out.
    let first = r.body.find("<entry>").expect("an entry");
    assert!(r.body[first..].find(&format!("urn:uuid:{id}")).is_some());
    assert!(r.body.contains("Post number 6<") && !r.body.contains("Post number 5<"));
    assert!(r.body.contains("<updated>2026-01-24T10:00:00Z</updated>"));
    assert!(
        r.body.contains(&format!(
            "href=\"https://blog.example:8443/posts/{id}?author=Bob\""
        )),
        "{}",
        r.body
    );
    assert!(r.body.contains("<link rel=\"self\" type=\"application/atom+xml\" href=\"https://blog.example:8443/feed.atom\"/>"));
    // Titles and content are escaped text; the content is the sanitized HTML, escaped once.
    // (askama writes numeric character references: &#60; is <, &#38; is &.)
    assert!(
        r.body
            .contains("Tags &#38; &#60;b&#62;brackets&#60;/b&#62;"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("&#60;strong&#62;bold&#60;/strong&#62;"),
        "{}",
        r.body
    );
    assert!(
        !r.body.contains("<script") && !r.body.contains("&#60;script"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("javascript:"), "{}", r.body);
    // Every page links to it.
    let page = b.get("/").await;
    assert!(page.body.contains(
        "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"Test Blog\" href=\"/feed.atom\">"
    ));
    // A forged Host cannot put markup into the links.
    b.extra.retain(|(k, _)| *k != "host");
    b.extra.push(("host", "evil\"><x".into()));
    let forged = b.get("/feed.atom").await;
    assert!(
        forged.body.contains("https://localhost/feed.atom"),
        "{}",
        forged.body
    );
}

#[tokio::test]
async fn author_pages_list_one_authors_posts_paged_and_linked() {
    let mut b = blog().await;
    for n in 1..=25 {
        let author = if n % 5 == 0 { "Bob" } else { "Ann Lee" };
        b.seed(n, author, &format!("2026-01-{n:02}T10:00:00")).await;
    }
    let index = b.get("/").await;
    assert!(
        index
            .body
            .contains("<a class=\"author\" href=\"/authors/Ann%20Lee\">Ann Lee</a>"),
        "{}",
        index.body
    );
    let first = b.get("/authors/Ann%20Lee").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(
        first
            .body
            .contains("<h1 class=\"page-title\">Posts by Ann Lee</h1>")
    );
    assert_eq!(first.body.matches("class=\"card\"").count(), 20);
    assert!(!first.body.contains(">Bob<"), "only Ann Lee's posts");
    // 20 of Ann's 20 posts fit on the first page: no older link.
    assert!(!first.body.contains("Older posts →"), "{}", first.body);

    let bob = b.get("/authors/Bob").await;
    assert_eq!(bob.body.matches("class=\"card\"").count(), 5);
    for n in [5, 10, 15, 20, 25] {
        assert!(bob.body.contains(&format!("Post number {n}<")), "{n}");
    }

    // Paging stays on the author's page.
    for n in 26..=30 {
        b.seed(n, "Bob", &format!("2026-01-{n:02}T10:00:00")).await;
    }
    for n in 31..=45 {
        b.seed(n, "Bob", &format!("2026-02-{:02}T10:00:00", n - 30))
            .await;
    }
    let bob = b.get("/authors/Bob").await;
    let older = bob
        .body
        .split("href=\"")
        .find(|s| s.starts_with("/authors/Bob?older="))
        .and_then(|s| s.split('"').next())
        .expect("an older link on Bob's page")
        .to_string();
    let page2 = b.get(&older).await;
    assert_eq!(page2.status, StatusCode::OK);
    assert!(page2.body.contains("Posts by Bob, older"));
    assert_eq!(page2.body.matches("class=\"card\"").count(), 5);
    assert!(page2.body.contains("href=\"/authors/Bob?newer="));

    let post = b.seed(99, "Ann Lee", "2025-01-01T00:00:00").await;
    let view = b.get(&format!("/posts/{}", post.id)).await;
    assert!(
        view.body.contains("href=\"/authors/Ann%20Lee\""),
        "{}",
        view.body
    );

    let nobody = b.get("/authors/Nobody").await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    assert!(nobody.body.contains("No posts by this author"));
    let long = b.get(&format!("/authors/{}", "x".repeat(300))).await;
    assert_eq!(long.status, StatusCode::NOT_FOUND);
}

/// The post's body on its page.
fn post_body(page: &str) -> &str {
    let start = page.find("<div class=\"post-body\">").expect("a post body");
    let end = page[start..].find("</div>").expect("its end");
    &page[start..start + end]
}

/// A post written by a client that does not know Markdown (the seed's app; here a row whose
/// `format` is `plain`) shows as written on every page, escaped, its line breaks kept; an edit
/// keeps it so unless its author ticks Markdown (issue 32).
#[tokio::test]
async fn plain_text_posts_stay_plain_text_until_their_author_chooses_markdown() {
    use blog::domain::Format;
    let mut b = blog().await;
    let text = "Use <b>x</b> for bold & <script>alert(1)</script>\n# not a heading\n\
                1. not a list\n*not emphasis*\n\nA second paragraph";
    let post = Post {
        id: PostId::generate(),
        author: "Ann".into(),
        title: "Plain <i>text</i>".into(),
        content: text.into(),
        timestamp: Some(Timestamp::now()),
        format: Format::Plain,
        revision: 0,
    };
    b.store.create(&post).await.expect("create");
    let id = post.id.to_string();
    let page = b.get(&format!("/posts/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains(
            "<p class=\"plain-text\">Use &lt;b&gt;x&lt;/b&gt; for bold &amp; \
             &lt;script&gt;alert(1)&lt;/script&gt;<br>\n# not a heading<br>\n1. not a list<br>\n\
             *not emphasis*<br>\n<br>\nA second paragraph</p>"
        ),
        "{}",
        page.body
    );
    let body = post_body(&page.body);
    for markup in ["<b>x", "<h1>", "<ol>", "<em>", "<script"] {
        assert!(!body.contains(markup), "{markup}: {body}");
    }
    // The index and the author page: the excerpt as written, escaped, line breaks kept.
    let excerpt = "<p class=\"excerpt plain-text\">Use &#60;b&#62;x&#60;/b&#62; for bold &#38; \
                   &#60;script&#62;alert(1)&#60;/script&#62;\n# not a heading\n1. not a list\n\
                   *not emphasis*\n\nA second paragraph</p>";
    for listing in ["/", "/authors/Ann"] {
        let r = b.get(listing).await;
        assert!(r.body.contains(excerpt), "{listing}: {}", r.body);
    }
    // The feed: the summary is the text, the content its escaped HTML (escaped once more).
    let feed = b.get("/feed.atom").await;
    assert!(
        feed.body.contains(
            "<summary type=\"text\">Use &#60;b&#62;x&#60;/b&#62; for bold &#38; \
             &#60;script&#62;alert(1)&#60;/script&#62;\n# not a heading"
        ),
        "{}",
        feed.body
    );
    assert!(
        feed.body.contains(
            "&#60;p class=&#34;plain-text&#34;&#62;Use &#38;lt;b&#38;gt;x&#38;lt;/b&#38;gt;"
        ),
        "{}",
        feed.body
    );

    // The author's edit form offers Markdown, unticked; saving leaves the post plain text.
    b.sign_in("Ann").await;
    let edit = b.get(&format!("/posts/{id}/edit")).await;
    assert!(
        edit.body
            .contains("<input id=\"markdown\" name=\"markdown\" type=\"checkbox\">"),
        "{}",
        edit.body
    );
    let token = edit.csrf_field();
    let save = |content: &str, markdown: bool| {
        let mut fields = vec![
            ("title", "Plain, edited"),
            ("author", "Ann"),
            ("content", content),
            ("plain", "1"),
            ("csrf_token", token.as_str()),
        ];
        if markdown {
            fields.push(("markdown", "on"));
        }
        form(&fields)
    };
    let saved = b
        .post(&format!("/posts/{id}/edit"), save("<b>y</b> *z*", false))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let stored = &b.store.versions(&post.id).await.expect("read")[0];
    assert_eq!(
        (stored.format, stored.content.as_str()),
        (Format::Plain, "<b>y</b> *z*")
    );
    let page = b.get(&format!("/posts/{id}")).await;
    assert!(
        page.body.contains("&lt;b&gt;y&lt;/b&gt; *z*"),
        "{}",
        page.body
    );
    // Invalid input comes back with the box as it was sent.
    let invalid = b
        .post(
            &format!("/posts/{id}/edit"),
            save("", true).replace("title=Plain%2C%20edited", "title="),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        invalid
            .body
            .contains("<input id=\"markdown\" name=\"markdown\" type=\"checkbox\" checked>"),
        "{}",
        invalid.body
    );
    // Ticked, it becomes Markdown, and its form offers the box no more.
    let saved = b
        .post(&format!("/posts/{id}/edit"), save("<b>y</b> *z*", true))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let stored = &b.store.versions(&post.id).await.expect("read")[0];
    assert_eq!(stored.format, Format::Markdown);
    let page = b.get(&format!("/posts/{id}")).await;
    assert!(page.body.contains("<b>y</b> <em>z</em>"), "{}", page.body);
    let edit = b.get(&format!("/posts/{id}/edit")).await;
    assert!(!edit.body.contains("name=\"markdown\""), "{}", edit.body);
    // A Markdown post stays Markdown whatever the form says.
    let saved = b
        .post(&format!("/posts/{id}/edit"), save("*w*", false))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let stored = &b.store.versions(&post.id).await.expect("read")[0];
    assert_eq!(stored.format, Format::Markdown);
}

/// Issue 27, item 11: characters XML cannot carry never reach the feed. New ones are refused on
/// save; old data that holds them (written before) loses them on the way out.
#[tokio::test]
async fn the_feed_never_carries_characters_xml_cannot() {
    use blog::domain::Format;
    let mut b = blog().await;
    for (n, format) in [(1, Format::Markdown), (2, Format::Plain)] {
        let post = Post {
            id: PostId::generate(),
            author: "Old\u{1}Data".into(),
            title: format!("Title {n} \u{FFFE}\u{FFFF}\u{B}"),
            content: "a &#1; b &#xFFFF; c <p>&#x1F;</p> \u{C} d".into(),
            timestamp: Some(Timestamp::now()),
            format,
            revision: 0,
        };
        b.store.create(&post).await.expect("create");
    }
    let feed = b.get("/feed.atom").await;
    assert_eq!(feed.status, StatusCode::OK);
    let invalid: Vec<char> = feed
        .body
        .chars()
        .filter(|c| blog::domain::markdown::xml_invalid(*c))
        .collect();
    assert!(invalid.is_empty(), "{invalid:?} in {}", feed.body);
    assert!(feed.body.contains("Title 1 ") && feed.body.contains("OldData"));
    // Numeric references to them would be as bad as the characters.
    for reference in ["&#1;", "&#x1;", "&#65535;", "&#xffff;", "&#31;"] {
        assert!(
            !feed.body.to_ascii_lowercase().contains(reference),
            "{reference}"
        );
    }

    b.sign_in("Ann").await;
    let token = b.get("/posts/new").await.csrf_field();
    for (title, content, says) in [
        ("T \u{FFFE}", "fine", "U+FFFE, which is not a character"),
        ("T", "a &#1; b", "U+0001 (at line 1"),
        ("T", "ok\n\n<b>&#x1f;</b>", "U+001F (at line 3"),
    ] {
        let r = b.submit(title, content, &token).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{title}: {}",
            r.body
        );
        assert!(r.body.contains(says), "{says}: {}", r.body);
    }
}

/// Issue 27, item 15: two edits begun from the same version of a post. The first save wins;
/// the second is a conflict (409) that loses nothing: its author gets the text back, and the
/// form, now at the winning revision, saves over it when sent again.
#[tokio::test]
async fn a_second_concurrent_edit_is_a_conflict_with_the_text_back() {
    let mut b = blog().await;
    let id = b.write("First", "Ann", "the original").await;
    let mut admin = support::view_of(&b);
    admin.sign_in("root").await;
    let mine = b.get(&format!("/posts/{id}/edit")).await;
    let theirs = admin.get(&format!("/posts/{id}/edit")).await;
    assert!(
        mine.body
            .contains("<input type=\"hidden\" name=\"revision\" value=\"0\">"),
        "{}",
        mine.body
    );
    let save = |title: &str, content: &str, revision: &str, token: &str| {
        form(&[
            ("title", title),
            ("author", "Ann"),
            ("content", content),
            ("revision", revision),
            ("csrf_token", token),
        ])
    };
    let first = admin
        .post(
            &format!("/posts/{id}/edit"),
            save("By root", "root's words", "0", &theirs.csrf_field()),
        )
        .await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let token = mine.csrf_field();
    let second = b
        .post(
            &format!("/posts/{id}/edit"),
            save("By Ann", "Ann's words & more", "0", &token),
        )
        .await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.body);
    assert!(
        second.body.contains("Someone else saved this post")
            && second.body.contains("Ann&#39;s words &#38; more")
            && second
                .body
                .contains("<input type=\"hidden\" name=\"revision\" value=\"1\">"),
        "{}",
        second.body
    );
    let stored = &b
        .store
        .versions(&PostId::parse(&id).expect("id"))
        .await
        .expect("read")[0];
    assert_eq!(
        (stored.content.as_str(), stored.revision),
        ("root's words", 1),
        "the first save stands"
    );
    // Sent again from the conflict page, it replaces the version it was shown.
    let again = b
        .post(
            &format!("/posts/{id}/edit"),
            save("By Ann", "Ann's words & more", "1", &token),
        )
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    let stored = &b
        .store
        .versions(&PostId::parse(&id).expect("id"))
        .await
        .expect("read")[0];
    assert_eq!(stored.content, "Ann's words & more");
}

/// Issue 27, item 2: a post nested deeper than the blog can render cheaply is refused on save
/// with the author's text back; one saved before the bound is shown as plain text.
#[tokio::test]
async fn deeply_nested_markdown_is_refused_on_save_and_shown_plain_if_old() {
    let mut b = blog().await;
    b.sign_in("Ann").await;
    let token = b.get("/posts/new").await.csrf_field();
    let deep = format!("intro\n\n{}deep", ">".repeat(40_000));
    let r = b.submit("Deep", &deep, &token).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("more than 32 levels deep (at line 3)"),
        "{}",
        &r.body[..2000.min(r.body.len())]
    );
    assert!(
        r.body
            .contains(&format!("intro\n\n{}", "&#62;".repeat(100))),
        "the text comes back"
    );
    // Written before the bound (straight into the store): plain text, not 40,000 quotes.
    let old = Post {
        id: PostId::generate(),
        author: "Ann".into(),
        title: "Old and deep".into(),
        content: deep.clone(),
        timestamp: Some(Timestamp::now()),
        format: blog::domain::Format::Markdown,
        revision: 0,
    };
    b.store.create(&old).await.expect("create");
    let page = b.get(&format!("/posts/{}", old.id)).await;
    assert_eq!(page.status, StatusCode::OK);
    let body = post_body(&page.body);
    assert!(
        body.contains("<p class=\"plain-text\">intro<br>\n<br>\n&gt;&gt;&gt;")
            && !body.contains("<blockquote"),
        "{}",
        &body[..300.min(body.len())]
    );
}
