//! A small blocking HTTP/1.1 client for the blog tests, plus the steps a reader's browser
//! takes (get a CSRF cookie and token, post a form, follow the index pages).

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

/// A reader's CSRF cookie and token, from the form page at `path`.
pub fn session(addr: &str, path: &str) -> (String, String) {
    let page = get(addr, path);
    assert_eq!(page.status, 200, "{path}: {}", page.body);
    let cookie = page.header("set-cookie").expect("a CSRF cookie");
    let cookie = cookie.split(';').next().expect("name=value").to_string();
    (cookie, page.csrf())
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
