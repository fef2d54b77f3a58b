//! Sign-in, sessions and who may do what, through `app(state).oneshot(..)` (the test browser
//! is in `support`): 403 against redirect, author against admin against legacy post, CSRF on
//! sign-in and sign-out, expired and tampered sessions, sessions across two processes, the
//! throttle, and the page cache never mixing readers.

use crate::support;

use std::time::Duration;

use blog::accounts::AccountStore;
use blog::domain::PostId;
use blog::store::PostStore;
use http::{StatusCode, header};
use support::{Blog, blog, blog_with, form};

fn session_cookie(b: &Blog) -> String {
    b.cookies
        .get("blog_session")
        .cloned()
        .expect("a session cookie")
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_name_get_the_same_answer() {
    let mut b = blog().await;
    let wrong = b.sign_in_with("Ann", "not her password", &[]).await;
    let unknown = b.sign_in_with("Nobody", "not her password", &[]).await;
    for r in [&wrong, &unknown] {
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(
            r.body
                .contains("That name and password do not match an account")
        );
        assert!(r.set_cookies().iter().all(|c| !c.contains("blog_session")));
    }
    let signed = b.sign_in("Ann").await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.location(), "/");
    // The masthead names the account; reading still needs nothing.
    assert!(
        b.get("/")
            .await
            .body
            .contains("href=\"/account\" class=\"account\">Ann<")
    );
}

#[tokio::test]
async fn sign_in_needs_its_form_token_and_the_same_origin() {
    let mut b = blog().await;
    let page = b.get("/login").await;
    let token = page.csrf_field();
    let fields = |t: &str| {
        form(&[
            ("name", "Ann"),
            ("password", "password of Ann"),
            ("csrf_token", t),
        ])
    };
    let forged = b.post("/login", fields("forged")).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.body.contains("sign-in form had expired"));
    // A page on another site posting the form: refused before anything is checked.
    b.extra = vec![
        ("origin", "http://evil.example".into()),
        ("host", "blog.test".into()),
    ];
    let cross = b.post("/login", fields(&token)).await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert!(
        cross.body.contains("sent from another site"),
        "{}",
        cross.body
    );
    b.extra = vec![("sec-fetch-site", "cross-site".into())];
    assert_eq!(
        b.post("/login", fields(&token)).await.status,
        StatusCode::FORBIDDEN
    );
    b.extra = vec![
        ("sec-fetch-site", "same-origin".into()),
        ("origin", "http://blog.test".into()),
        ("host", "blog.test".into()),
    ];
    assert_eq!(
        b.post("/login", fields(&token)).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn sign_in_goes_back_where_it_was_asked_and_never_off_site() {
    let mut b = blog().await;
    let asked = b.get("/posts/new").await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    assert_eq!(asked.location(), "/login?next=%2Fposts%2Fnew");
    let r = b
        .sign_in_with("Ann", "password of Ann", &[("next", "/posts/new")])
        .await;
    assert_eq!(r.location(), "/posts/new");
    let r = b
        .sign_in_with("Ann", "password of Ann", &[("next", "//evil.example/")])
        .await;
    assert_eq!(r.location(), "/");
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_name() {
    let mut b = blog().await;
    b.extra.push(("x-forwarded-for", "198.51.100.7".into()));
    for _ in 0..blog::auth::throttle::PAIR_LIMIT {
        assert_eq!(
            b.sign_in_with("Bob", "guess", &[]).await.status,
            StatusCode::FORBIDDEN
        );
    }
    let throttled = b.sign_in("Bob").await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(
        throttled.body.contains("Too many failed sign-ins"),
        "{}",
        throttled.body
    );
    assert!(
        throttled.body.contains("Try again in 15 minutes"),
        "{}",
        throttled.body
    );
    // Another name is not affected.
    assert_eq!(b.sign_in("Ann").await.status, StatusCode::SEE_OTHER);
    // Nor is Bob elsewhere: five wrong guesses lock out the guesser's address, not Bob
    // (issue 27, item 12).
    b.extra.retain(|(k, _)| *k != "x-forwarded-for");
    b.extra.push(("x-forwarded-for", "203.0.113.9".into()));
    assert_eq!(b.sign_in("Bob").await.status, StatusCode::SEE_OTHER);
}

/// Issue 27, item 12: guesses spread over many addresses stop being checked for that name,
/// except from an address the owner signed in from; names of any length cost a bounded key.
#[tokio::test]
async fn guesses_from_many_addresses_do_not_lock_the_owner_out() {
    let mut b = blog().await;
    let from = |b: &mut Blog, address: &str| {
        b.extra.retain(|(k, _)| *k != "x-forwarded-for");
        b.extra.push(("x-forwarded-for", address.to_string()));
    };
    from(&mut b, "192.0.2.10");
    assert_eq!(b.sign_in("root").await.status, StatusCode::SEE_OTHER);
    for i in 0..blog::auth::throttle::NAME_LIMIT {
        from(&mut b, &format!("10.7.{}.{}", i / 200, i % 200));
        let r = b.sign_in_with("root", "guess", &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    from(&mut b, "10.8.0.1");
    let refused = b.sign_in("root").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        refused
            .body
            .contains("Sign in from where you signed in before"),
        "{}",
        refused.body
    );
    from(&mut b, "192.0.2.10");
    assert_eq!(
        b.sign_in("root").await.status,
        StatusCode::SEE_OTHER,
        "the owner's own address"
    );
    // A name far past any account's length is answered like any wrong name.
    let long = "x".repeat(200_000);
    let r = b.sign_in_with(&long, "guess", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn https_requests_get_secure_host_cookies_and_hsts() {
    let mut b = blog().await;
    b.extra = vec![("x-forwarded-proto", "https".into())];
    let page = b.get("/login").await;
    assert_eq!(
        page.headers["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let set = page.set_cookies().join("\n");
    assert!(
        set.starts_with("__Host-blog_csrf=") && set.contains("; Secure"),
        "{set}"
    );
    let token = page.csrf_field();
    let r = b
        .post(
            "/login",
            form(&[
                ("name", "Ann"),
                ("password", "password of Ann"),
                ("csrf_token", &token),
            ]),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let set = r.set_cookies().join("\n");
    assert!(
        set.starts_with("__Host-blog_session=")
            && set.contains("Path=/; HttpOnly; SameSite=Lax")
            && set.contains("; Secure"),
        "{set}"
    );
    assert!(b.get("/posts/new").await.body.contains("Publishing as Ann"));
    // Plain HTTP has no HSTS, and the __Host- cookie means nothing there.
    b.extra.clear();
    let plain = b.get("/posts/new").await;
    assert!(!plain.headers.contains_key("strict-transport-security"));
    assert_eq!(plain.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn authors_change_their_own_posts_admins_all_and_legacy_posts_only_admins() {
    let mut b = blog().await;
    let anns = b.write("Ann's post", "Ann", "mine").await;
    let legacy = b.seed(1, "Vishal", "2026-01-01T10:00:00").await;

    // Bob sees no controls on Ann's post and is refused with a page, text kept.
    b.sign_in("Bob").await;
    let view = b.get(&format!("/posts/{anns}")).await;
    assert!(
        !view.body.contains("/edit\"") && !view.body.contains("/delete\""),
        "{}",
        view.body
    );
    let edit = b.get(&format!("/posts/{anns}/edit")).await;
    assert_eq!(edit.status, StatusCode::FORBIDDEN);
    assert!(
        edit.body
            .contains("Only the post&#39;s author, Ann, or an admin"),
        "{}",
        edit.body
    );
    let token = b.get("/posts/new").await.csrf_field();
    let tried = b
        .post(
            &format!("/posts/{anns}/edit"),
            form(&[
                ("title", "Bob's takeover"),
                ("author", "Ann"),
                ("content", "Bob's words, kept"),
                ("csrf_token", &token),
            ]),
        )
        .await;
    assert_eq!(tried.status, StatusCode::FORBIDDEN);
    assert!(
        tried.body.contains("Bob&#39;s words, kept</textarea>"),
        "{}",
        tried.body
    );
    let deleted = b
        .post(
            &format!("/posts/{anns}/delete"),
            form(&[("author", "Ann"), ("csrf_token", &token)]),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::FORBIDDEN);
    let id = PostId::parse(&anns).expect("id");
    assert_eq!(
        b.store.versions(&id).await.expect("read")[0].title,
        "Ann's post"
    );

    // Nobody but an admin touches a post whose author has no account.
    let legacy_edit = b.get(&format!("/posts/{}/edit", legacy.id)).await;
    assert_eq!(legacy_edit.status, StatusCode::FORBIDDEN);
    assert!(
        legacy_edit
            .body
            .contains("has no account on this blog, so only an admin")
    );
    b.sign_in("root").await;
    let view = b.get(&format!("/posts/{}", legacy.id)).await;
    assert!(view.body.contains(&format!("/posts/{}/edit", legacy.id)));
    assert_eq!(
        b.get(&format!("/posts/{}/edit", legacy.id)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        b.get(&format!("/posts/{anns}/delete")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn readers_are_sent_to_sign_in_and_direct_posts_are_refused() {
    let mut b = blog().await;
    let anns = b.write("Ann's post", "Ann", "mine").await;
    b.sign_out_here();
    for uri in [
        format!("/posts/{anns}/edit"),
        format!("/posts/{anns}/delete"),
        "/account".into(),
    ] {
        let r = b.get(&uri).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{uri}");
        assert!(
            r.location().starts_with("/login?next=%2F"),
            "{uri}: {}",
            r.location()
        );
    }
    let view = b.get(&format!("/posts/{anns}")).await;
    assert!(!view.body.contains("Delete"), "{}", view.body);
    let direct = b
        .post(
            &format!("/posts/{anns}/delete"),
            form(&[("author", "Ann"), ("csrf_token", "x")]),
        )
        .await;
    assert_eq!(direct.status, StatusCode::SEE_OTHER);
    assert!(direct.location().starts_with("/login"));
    let id = PostId::parse(&anns).expect("id");
    assert_eq!(b.store.versions(&id).await.expect("read").len(), 1);
}

#[tokio::test]
async fn an_ended_session_keeps_the_text_through_signing_in_again() {
    let mut b = blog_with(true, Duration::from_secs(60)).await;
    b.sign_in("Ann").await;
    let token = b.get("/posts/new").await.csrf_field();
    // The session ends while Ann writes (here: it is signed out everywhere, as a password
    // change would do).
    b.store.end_sessions("Ann").await.expect("bump");
    let text = "A long draft & <thoughts>\n\nthat must not be lost";
    let r = b.submit("Draft title", text, &token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("your text is kept"), "{}", r.body);
    assert!(
        r.body
            .contains("name=\"draft_content\" value=\"A long draft &#38; &#60;thoughts&#62;"),
        "{}",
        r.body
    );
    // Signing in from that page brings the form back, filled in, with a fresh token.
    let fields = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = r.body.find(&marker).expect("field") + marker.len();
        let end = r.body[start..].find('"').expect("quote");
        html_unescape(&r.body[start..start + end])
    };
    let extra = [
        ("draft_action", fields("draft_action")),
        ("draft_author", fields("draft_author")),
        ("draft_title", fields("draft_title")),
        ("draft_content", fields("draft_content")),
    ];
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let back = b.sign_in_with("Ann", "password of Ann", &extra).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert!(back.body.contains("You are signed in. Your text is below"));
    assert!(back.body.contains("value=\"Draft title\""));
    assert!(
        back.body
            .contains("A long draft &#38; &#60;thoughts&#62;\n\nthat must not be lost</textarea>"),
        "{}",
        back.body
    );
    let saved = b.submit("Draft title", text, &back.csrf_field()).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
}

/// Undoes askama's escaping of a form value.
fn html_unescape(value: &str) -> String {
    value
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#38;", "&")
}

#[tokio::test]
async fn expired_and_tampered_sessions_are_not_sessions() {
    let mut b = blog_with(true, Duration::from_secs(60)).await;
    b.sign_in("Ann").await;
    let good = session_cookie(&b);
    // Tampered: claim to be root with Ann's signature.
    let tampered = good.replacen(&hex::encode("Ann"), &hex::encode("root"), 1);
    b.cookies.insert("blog_session".into(), tampered);
    let r = b.get("/posts/new").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // Expired: the same key signs a session that ended a minute ago.
    let sessions =
        blog::auth::Sessions::new(Some(support::SESSION_SECRET), None, Duration::from_secs(60))
            .expect("sessions");
    let (_, old) = sessions.issue("Ann", 0, blog::auth::session::unix_now() - 120);
    b.cookies.insert("blog_session".into(), old);
    assert_eq!(b.get("/posts/new").await.status, StatusCode::SEE_OTHER);
    let login = b.get("/login").await;
    assert!(
        login.body.contains("Your session has ended"),
        "{}",
        login.body
    );
    // The genuine cookie still works.
    b.cookies.insert("blog_session".into(), good);
    assert_eq!(b.get("/posts/new").await.status, StatusCode::OK);
}

#[tokio::test]
async fn sessions_hold_across_processes_and_end_everywhere() {
    // Two apps on one database with the same key: blue and green.
    let mut blue = blog().await;
    let green = blog::web::app(support::state_on(blue.store.clone()));
    blue.sign_in("Ann").await;
    let cookie = session_cookie(&blue);
    let token = blue.get("/posts/new").await.csrf_field();
    let mut on_green = Blog {
        app: green,
        ..support::view_of(&blue)
    };
    on_green
        .cookies
        .insert("blog_session".into(), cookie.clone());
    let created = on_green
        .submit("Written on green", "from blue's form", &token)
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);

    // Sign-out needs the session's token, then ends every session of the account.
    let refused = on_green
        .post(
            "/logout",
            form(&[("csrf_token", "forged"), ("everywhere", "1")]),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let out = on_green
        .post(
            "/logout",
            form(&[("csrf_token", &token), ("everywhere", "1")]),
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(
        out.set_cookies()
            .iter()
            .any(|c| c.starts_with("blog_session=;") && c.contains("Max-Age=0"))
    );
    // Blue's browser still holds the old cookie; it no longer signs anyone in.
    assert_eq!(blue.get("/posts/new").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_page_cache_never_mixes_readers() {
    let mut b = blog().await;
    let anns = b.write("Cached post", "Ann", "text").await;
    let post = format!("/posts/{anns}");
    // Ann first: her page has the controls; a reader after her gets none.
    assert!(b.get(&post).await.body.contains("/edit\""));
    assert!(b.get("/").await.body.contains(">Ann<"));
    b.sign_out_here();
    let anonymous = b.get(&post).await;
    // (The post names Ann as its author, with a link to her page; the masthead names nobody.)
    assert!(!anonymous.body.contains("/edit\"") && !anonymous.body.contains("class=\"account\""));
    let index = b.get("/").await;
    assert!(index.body.contains("Sign in") && !index.body.contains("class=\"account\""));
    // Now the anonymous pages are cached: Ann still gets her own.
    assert_eq!(
        b.get(&post).await.body,
        anonymous.body,
        "served from the cache"
    );
    b.sign_in("Ann").await;
    let hers = b.get(&post).await;
    assert!(hers.body.contains("/edit\"") && hers.body.contains("class=\"account\""));
    assert!(b.get("/").await.body.contains("class=\"account\">Ann<"));
    assert_eq!(hers.headers[header::CACHE_CONTROL], "no-store");
}

/// Issue 27, item 6: an account removed and added again with `blog user` does not bring back
/// any of its old sessions, neither one still open nor one `blog user passwd` ended.
#[tokio::test]
async fn an_account_added_again_does_not_revive_its_old_sessions() {
    use blog::users::{UserCommand, run};
    let mut b = blog().await;
    let passwords = blog::auth::Passwords::with_cost(8, 1).expect("params");
    let password = || Ok("password of Cy".to_string());
    let add = UserCommand::Add {
        name: "Cy".into(),
        admin: false,
    };
    run(b.store.as_ref(), &passwords, add.clone(), password)
        .await
        .expect("add");
    b.sign_in("Cy").await;
    let ended = session_cookie(&b);
    run(
        b.store.as_ref(),
        &passwords,
        UserCommand::Passwd { name: "Cy".into() },
        password,
    )
    .await
    .expect("passwd");
    b.sign_in("Cy").await;
    let open = session_cookie(&b);
    run(
        b.store.as_ref(),
        &passwords,
        UserCommand::Remove { name: "Cy".into() },
        password,
    )
    .await
    .expect("remove");
    run(b.store.as_ref(), &passwords, add, password)
        .await
        .expect("add again");
    for (which, cookie) in [("ended by passwd", &ended), ("open at removal", &open)] {
        b.cookies.insert("blog_session".into(), cookie.clone());
        let r = b.get("/account").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{which}: {}", r.body);
        assert!(r.location().starts_with("/login"), "{which}");
    }
    // The account itself works: a fresh sign-in is a session.
    b.sign_in("Cy").await;
    assert_eq!(b.get("/account").await.status, StatusCode::OK);
}
