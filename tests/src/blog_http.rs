//! A small blocking HTTP/1.1 client for the blog tests, plus the steps a reader's browser
//! takes (sign in, get a form and its token, post a form, follow the index pages).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The hidden CSRF field of the form on this page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.body.find(marker).expect("a CSRF field") + marker.len();
        let end = self.body[start..].find('"').expect("quote");
        self.body[start..start + end].to_string()
    }
}

/// One request on its own connection over loopback.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(cookie) = cookie {
        request.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or_default());
    stream.write_all(request.as_bytes()).expect("send");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read reply");
    let (head, body) = reply.split_once("\r\n\r\n").expect("HTTP reply");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

pub fn get(addr: &str, path: &str) -> Reply {
    http(addr, "GET", path, None, None)
}

/// `application/x-www-form-urlencoded` for `fields`.
pub fn form(fields: &[(&str, &str)]) -> String {
    let encode = |value: &str| -> String {
        value
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `name=value` part of the reply's `Set-Cookie` header.
fn cookie_pair(reply: &Reply) -> String {
    let cookie = reply.header("set-cookie").expect("a cookie");
    cookie.split(';').next().expect("name=value").to_string()
}

/// Signs in as `name` through the sign-in form, then opens the form page at `path`: the
/// cookies to send (CSRF and session) and the page's form token.
pub fn sign_in(addr: &str, name: &str, password: &str, path: &str) -> (String, String) {
    let login = get(addr, "/login");
    assert_eq!(login.status, 200, "{}", login.body);
    let csrf = cookie_pair(&login);
    let body = form(&[
        ("name", name),
        ("password", password),
        ("csrf_token", &login.csrf()),
    ]);
    let signed = http(addr, "POST", "/login", Some(&csrf), Some(&body));
    assert_eq!(signed.status, 303, "sign-in as {name}: {}", signed.body);
    let cookies = format!("{csrf}; {}", cookie_pair(&signed));
    let page = http(addr, "GET", path, Some(&cookies), None);
    assert_eq!(page.status, 200, "{path}: {}", page.body);
    (cookies, page.csrf())
}

/// `blog user add NAME [--admin]` on `store`, the password piped on stdin.
pub fn add_account(store: &str, name: &str, password: &str, admin: bool, envs: &[(&str, &str)]) {
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(crate::bins::bin("blog"));
    cmd.args(["user", "add", name, "--store", store])
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if admin {
        cmd.arg("--admin");
    }
    let mut child = cmd.spawn().expect("run blog user add");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("send the password");
    let out = child.wait_with_output().expect("blog user add");
    assert!(
        out.status.success(),
        "blog user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Titles on every index page, newest first, following "older" links to the end.
pub fn all_titles(addr: &str) -> Vec<String> {
    let mut titles = Vec::new();
    let mut path = "/".to_string();
    loop {
        let page = get(addr, &path);
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        for chunk in page.body.split("<h2><a href=\"/posts/").skip(1) {
            let title = chunk
                .split_once("\">")
                .and_then(|(_, t)| t.split_once("</a>"));
            titles.push(title.expect("a title").0.to_string());
        }
        let marker = "class=\"older\" href=\"";
        match page.body.find(marker) {
            Some(at) => {
                let rest = &page.body[at + marker.len()..];
                path = rest[..rest.find('"').expect("quote")].to_string();
            }
            None => return titles,
        }
    }
}
