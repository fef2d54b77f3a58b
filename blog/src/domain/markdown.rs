//! Posts are written in Markdown (CommonMark, via `pulldown-cmark`) and shown as HTML that
//! `ammonia` has sanitized: no script, no event handlers, no style, no `javascript:` or `data:`
//! links, and images only from `https` addresses or this site. The stored `content` stays the
//! author's text, so the seed's app still shows it as plain text; excerpts are plain text.
//! Posts the seed's app wrote are not Markdown at all ([`plain_to_html`]; docs/blog.md,
//! "Plain text and Markdown").

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
                return image_allowed(value).then_some(value.into());
            }
            Some(value.into())
        });
    b
});

/// Whether an image may load from `src`: an `https` address, or a path on this site; never
/// plain http (mixed content) or a protocol-relative address of another host. The
/// Content-Security-Policy says the same (`img-src 'self' https:`, `web::layers`).
///
/// A browser reads an address more loosely than its text: it drops tabs and line breaks
/// anywhere in it, trims spaces and control characters at its ends, and takes `\` for `/`, so
/// `/\<TAB>evil.example/a.png` is `//evil.example/a.png`, another host. An address with any of
/// those characters is refused outright; what is left is read as written.
pub fn image_allowed(src: &str) -> bool {
    if src
        .chars()
        .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
    {
        return false;
    }
    let own = src.starts_with('/') && !src.starts_with("//");
    own || src
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// Deepest nesting a post may have: block quotes, lists and their items, emphasis, links and
/// the other elements Markdown makes, counted together with the elements raw HTML in the post
/// opens. Parsing and sanitizing cost grows faster than the text past a few hundred levels (a
/// 100 KB post of `>` took 98 s); no post needs more than a handful.
pub const MAX_NESTING: usize = 32;

/// What makes a post's Markdown unfit to save, in words for its author.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unfit {
    /// Nested deeper than [`MAX_NESTING`] at this line (1-based).
    TooDeep { line: usize },
    /// A character reference (`&#1;`) for a character XML cannot carry, at this line.
    Unencodable { c: char, line: usize },
}

impl std::fmt::Display for Unfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooDeep { line } => write!(
                f,
                "The text nests quotes, lists or other elements more than {MAX_NESTING} levels \
                 deep (at line {line}), more than the blog can show. Flatten it: fewer `>` or \
                 indented list levels, or fewer unclosed HTML elements."
            ),
            Self::Unencodable { c, line } => write!(
                f,
                "The text asks for the character U+{:04X} (at line {line}, as a character \
                 reference such as `&#{};`), which cannot be shown or sent in the feed; remove it.",
                u32::from(*c),
                u32::from(*c)
            ),
        }
    }
}

/// Elements HTML never nests by themselves: void ones, and ones a parser closes when the next
/// opens (a `<p>` in a `<p>`).
const NOT_NESTING: [&str; 22] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "p", "li", "dt", "dd", "option", "tr", "td", "th", "rt",
];

/// How the open-element count changes through a piece of raw HTML: +1 per start tag of an
/// element that nests, -1 per end tag. Only a bound, not a parser: it over-counts at worst.
fn html_nesting(html: &str, depth: &mut usize, deepest: &mut usize) {
    let bytes = html.as_bytes();
    let mut at = 0;
    while let Some(found) = html[at..].find('<') {
        let start = at + found + 1;
        at = start;
        let closing = bytes.get(start) == Some(&b'/');
        let name_start = start + usize::from(closing);
        let name: String = html[name_start..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .take(16)
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() || !name.as_bytes()[0].is_ascii_alphabetic() {
            continue;
        }
        if closing {
            *depth = depth.saturating_sub(1);
            continue;
        }
        let self_closing = html[name_start..]
            .find('>')
            .is_some_and(|end| html[name_start..name_start + end].ends_with('/'));
        if !self_closing && !NOT_NESTING.contains(&name.as_str()) {
            *depth += 1;
            *deepest = (*deepest).max(*depth);
        }
    }
}

/// Characters XML 1.0 cannot carry (so neither can the Atom feed): C0 controls but tab, line
/// feed and carriage return, and U+FFFE and U+FFFF. Surrogates cannot be in a `str`.
pub fn xml_invalid(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

/// Unicode's non-characters (U+FDD0–U+FDEF and the last two of every plane): never text, so
/// the blog refuses them on save.
pub fn noncharacter(c: char) -> bool {
    let n = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&n) || n & 0xFFFE == 0xFFFE
}

/// `text` without the characters XML cannot carry, for old data written before they were
/// refused (borrowed when there are none, as almost always).
pub fn xml_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(xml_invalid) {
        text.chars()
            .filter(|c| !xml_invalid(*c))
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

/// A character reference in raw HTML (`&#1;`, `&#x1;`) for a character XML cannot carry.
fn html_reference_invalid(html: &str) -> Option<char> {
    let mut rest = html;
    while let Some(at) = rest.find("&#") {
        rest = &rest[at + 2..];
        let (hex, digits) = match rest.strip_prefix(['x', 'X']) {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let end = digits
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(digits.len())
            .min(8);
        let number = if hex {
            u32::from_str_radix(&digits[..end], 16)
        } else {
            digits[..end].parse::<u32>()
        };
        if let Some(c) = number.ok().and_then(char::from_u32)
            && c != '\u{0}'
            && xml_invalid(c)
        {
            return Some(c);
        }
    }
    None
}

/// Checks a post's Markdown before it is saved: nesting within [`MAX_NESTING`], and no
/// character reference for a character XML cannot carry. One parse, linear in the text.
pub fn check(content: &str) -> Result<(), Unfit> {
    let line = |offset: usize| content[..offset.min(content.len())].matches('\n').count() + 1;
    let (mut depth, mut html_depth, mut deepest_html) = (0usize, 0usize, 0usize);
    for (event, range) in Parser::new_ext(content, options()).into_offset_iter() {
        match &event {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Text(text) | Event::Code(text) => {
                if let Some(c) = text.chars().find(|c| xml_invalid(*c)) {
                    return Err(Unfit::Unencodable {
                        c,
                        line: line(range.start),
                    });
                }
            }
            Event::Html(html) | Event::InlineHtml(html) => {
                html_nesting(html, &mut html_depth, &mut deepest_html);
                if let Some(c) = html_reference_invalid(html) {
                    return Err(Unfit::Unencodable {
                        c,
                        line: line(range.start),
                    });
                }
            }
            _ => {}
        }
        if depth + html_depth > MAX_NESTING || deepest_html > MAX_NESTING {
            return Err(Unfit::TooDeep {
                line: line(range.start),
            });
        }
    }
    Ok(())
}

/// The post's HTML, sanitized. Text saved before nesting was bounded, and nested deeper than
/// [`MAX_NESTING`], is shown as plain text instead: its cost stays linear, and what it says
/// stays readable.
pub fn to_html(content: &str) -> String {
    let mut raw = String::with_capacity(content.len() * 3 / 2);
    let mut too_deep = false;
    let (mut depth, mut html_depth, mut deepest_html) = (0usize, 0usize, 0usize);
    let events = Parser::new_ext(content, options()).map_while(|event| {
        match &event {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Html(html) | Event::InlineHtml(html) => {
                html_nesting(html, &mut html_depth, &mut deepest_html);
            }
            _ => {}
        }
        too_deep = depth + html_depth > MAX_NESTING || deepest_html > MAX_NESTING;
        (!too_deep).then_some(event)
    });
    html::push_html(&mut raw, events);
    if too_deep {
        return plain_to_html(content);
    }
    let clean = SANITIZER.clean(&raw).to_string();
    match xml_safe(&clean) {
        std::borrow::Cow::Borrowed(_) => clean,
        std::borrow::Cow::Owned(safe) => safe,
    }
}

/// A plain-text post's HTML: the text as written, escaped, every line break kept as `<br>`
/// (docs/blog.md, "Plain text and Markdown"). Nothing in it is markup.
pub fn plain_to_html(content: &str) -> String {
    let mut out = String::with_capacity(content.len() + content.len() / 8 + 32);
    out.push_str("<p class=\"plain-text\">");
    let mut lines = content.lines().peekable();
    while let Some(line) = lines.next() {
        for c in line.chars().filter(|c| !xml_invalid(*c)) {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                c => out.push(c),
            }
        }
        if lines.peek().is_some() {
            out.push_str("<br>\n");
        }
    }
    out.push_str("</p>");
    out
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
        assert!(to_html("![a](HTTPS://img.example/a.png)").contains("src="));
        // Forms a browser turns into another host's address (or a scheme the rules refuse).
        for src in [
            "http://img.example/a.png",
            "//img.example/a.png",
            "/\\evil.example/a.png",
            "/\\\tevil.example/a.png",
            "/\t/evil.example/a.png",
            "/\n/evil.example/a.png",
            "\\\\evil.example/a.png",
            " //evil.example/a.png",
            "\u{1}//evil.example/a.png",
        ] {
            assert!(!image_allowed(src), "{src:?}");
        }
        assert!(image_allowed("/static/favicon.svg") && image_allowed("https://i.example/a"));
        // In Markdown (which percent-encodes a backslash in a destination, making it a path
        // of this site), and in raw HTML, where the browser would see the backslash.
        let md = to_html("![a](/\\evil.example/a.png)");
        assert!(md.contains("src=\"/%5Cevil.example/a.png\""), "{md}");
        for src in ["http://img.example/a.png", "//img.example/a.png"] {
            let html = to_html(&format!("![a]({src})"));
            assert!(!html.contains("src="), "{src}: {html}");
        }
        for raw in [
            "<img src=\"/\\\tevil.example/a.png\">",
            "<img src=\"/\\evil.example/a.png\">",
            "<img src=\"/&#9;/evil.example/a.png\">",
            "<img src=\"/&#92;evil.example/a.png\">",
        ] {
            let html = to_html(raw);
            assert!(!html.contains("src="), "{raw}: {html}");
        }
    }

    #[test]
    fn plain_text_posts_are_escaped_with_their_line_breaks() {
        let html = plain_to_html(
            "Use <b>x</b> & <script>alert('1')</script>\r\n# not a heading\n\n*kept*",
        );
        assert_eq!(
            html,
            "<p class=\"plain-text\">Use &lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;alert(&#39;1&#39;)&lt;/script&gt;<br>\n\
             # not a heading<br>\n<br>\n*kept*</p>"
        );
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
