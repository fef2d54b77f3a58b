//! The benchmark's ceiling (`tests/bench/blog.sh`): the least an axum server can do to answer
//! `GET /` with a page of a given size, on the blog's runtime and listener settings. What the
//! blog reaches is printed as a share of this, measured in the same run on the same machine.
//!
//! ```text
//! baseline --bytes N [--workers N] [--port N]
//! ```
//! The first stdout line is `listening on http://ADDR`, as the blog's.

use std::io::Write;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::serve::ListenerExt;
use blog::server;

fn main() -> anyhow::Result<()> {
    let mut bytes: usize = 16 * 1024;
    let mut workers = server::default_workers();
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--bytes" => bytes = value.parse().context("--bytes")?,
            "--workers" => workers = value.parse().context("--workers")?,
            "--port" => port = value.parse().context("--port")?,
            _ => anyhow::bail!(
                "unknown flag {flag}; usage: baseline --bytes N [--workers N] [--port N]"
            ),
        }
    }
    let page = Bytes::from(format!(
        "<!doctype html>\n{}\n",
        "x".repeat(bytes.saturating_sub(17))
    ));
    server::runtime(workers)?.block_on(async move {
        let listener = server::bind("127.0.0.1".parse()?, port).await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", server::announcement(listener.local_addr()?))?;
        out.flush()?;
        drop(out);
        let app = Router::new().route(
            "/",
            get(move || {
                let page = page.clone();
                async move { ([(CONTENT_TYPE, "text/html; charset=utf-8")], page) }
            }),
        );
        // Small responses go out at once, as the blog sends them.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await?;
        anyhow::Ok(())
    })
}
