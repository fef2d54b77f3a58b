//! Posts are written in Markdown (CommonMark, via `pulldown-cmark`) and shown as HTML that
//! `ammonia` has sanitized: no script, no event handlers, no style, no `javascript:` or `data:`
//! links, and images only from `https` addresses or this site. The stored `content` stays the
//! author's text, so the seed's app still shows it as plain text; excerpts are plain text.

use std::collections::HashSet;
use std::sync::LazyLock;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd, html};

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer nofollow"))
        .url_relative(ammonia::UrlRelative::PassThrough)
        .attribute_filter(|element, attribute, value| {
            if element == "img" && attribute == "src" {
                // Images load from https, or from this site's own paths; never plain http
                // (mixed content) or protocol-relative addresses of another host.
                let own = value.starts_with('/') && !value.starts_with("//");
                return (value.starts_with("https://") || own).then_some(value.into());
            }
            Some(value.into())
        });
    b
});

/// The post's HTML, sanitized.
pub fn to_html(content: &str) -> String {
    let mut raw = String::with_capacity(content.len() * 3 / 2);
    html::push_html(&mut raw, Parser::new_ext(content, options()));
    SANITIZER.clean(&raw).to_string()
}

/// The post's words without markup, for excerpts and feeds' summaries: text and code, with
/// a space where a block or a line break ends.
pub fn to_plain_text(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    for event in Parser::new_ext(content, options()) {
        match event {
            Event::Text(text) | Event::Code(text) => out.push_str(&text),
            Event::SoftBreak | Event::HardBreak | Event::Rule => out.push(' '),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::TableCell
                | TagEnd::BlockQuote(_),
            ) => out.push(' '),
            Event::Start(Tag::Image { .. }) => {}
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders() {
        let html = to_html(
            "# Title\n\nSome *emphasis* and `code`.\n\n- one\n- two\n\n[a link](https://example.com)",
        );
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<em>emphasis</em>") && html.contains("<code>code</code>"));
        assert!(html.contains("<li>one</li>"));
        assert!(
            html.contains(
                "<a href=\"https://example.com\" rel=\"noopener noreferrer nofollow\">a link</a>"
            ),
            "{html}"
        );
    }

    /// Each payload must come back inert: no element or attribute that runs script, no link or
    /// image that leaves the rules.
    #[test]
    fn injection_payloads_come_back_inert() {
        let payloads = [
            "<script>alert(1)</script>",
            "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
            "<img src=x onerror=alert(1)>",
            "<img src=\"https://ok.example/a.png\" onload=alert(1)>",
            "<svg onload=alert(1)><circle/></svg>",
            "[click](javascript:alert(1))",
            "[click](JaVaScRiPt:alert(1))",
            "[click](java\tscript:alert(1))",
            "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
            "![img](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=)",
            "![img](javascript:alert(1))",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<div><p><a href=\"vbscript:msgbox(1)\">nested</a></p></div>",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<object data=\"x.swf\"></object><embed src=\"x.swf\">",
            "<style>body{display:none}</style><p style=\"background:url(javascript:alert(1))\">s</p>",
            "<form action=\"https://evil.example\"><input name=x></form>",
            "<details open ontoggle=alert(1)>d</details>",
            "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
            "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
            "<!-- <script>alert(1)</script> -->",
            "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example\">",
            "<base href=\"https://evil.example/\">",
            "<a href=\"https://ok.example\" onclick=\"alert(1)\">ok</a>",
            "<div>\n\n<script>alert(1)</script>\n\n</div>",
            "```html\n<script>alert(1)</script>\n```",
        ];
        for payload in payloads {
            let html = to_html(payload).to_ascii_lowercase();
            for bad in [
                "<script",
                "onerror",
                "onload",
                "onclick",
                "ontoggle",
                "javascript:",
                "vbscript:",
                "data:",
                "<iframe",
                "<object",
                "<embed",
                "<style",
                "style=",
                "<form",
                "<input",
                "<meta",
                "<base",
                "<svg",
                "<math",
            ] {
                assert!(!html.contains(bad), "{payload:?} kept {bad:?}: {html}");
            }
        }
        // Code blocks show the markup as text.
        assert!(to_html("```\n<script>x</script>\n```").contains("&lt;script&gt;"));
    }

    #[test]
    fn images_only_from_https_or_this_site() {
        assert!(
            to_html("![a](https://img.example/a.png)")
                .contains("src=\"https://img.example/a.png\"")
        );
        assert!(to_html("![a](/static/favicon.svg)").contains("src=\"/static/favicon.svg\""));
        for src in ["http://img.example/a.png", "//img.example/a.png"] {
            let html = to_html(&format!("![a]({src})"));
            assert!(!html.contains("src="), "{src}: {html}");
        }
    }

    #[test]
    fn plain_text_drops_the_markup() {
        assert_eq!(
            to_plain_text("# Hi\n\nSome **bold** [link](https://x.example) `code`.\n\n<b>raw</b>")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            "Hi Some bold link code. raw"
        );
    }
}
