//! The self-contained HTML report (`trailwatch report`, `scan --report FILE`, `scan -o
//! FILE.html`): one file with its CSS, JavaScript and data inline, nothing loaded from the
//! network when it is opened.
//!
//! The data ([`data`]) sits in a `<script type="application/gzip+base64">` block: JSON,
//! gzip-compressed, in base64 (and the raw events in another, one compressed part a line), which no record can use to close the block or start markup
//! (and [`escape_for_script`] would keep it so if it held JSON); the page's script only ever
//! puts record text into the page through `textContent`. The page's
//! Content-Security-Policy allows nothing but its own script and style, by their SHA-256 hashes:
//! no network, no other inline script, no inline event handler.

pub mod data;

pub use data::Meta;

use crate::finding::Finding;
use crate::rules::Rule;
use base64::Engine as _;
use sha2::Digest as _;
use std::io::{self, Write};

const TEMPLATE: &str = include_str!("report/report.html");
const STYLE: &str = include_str!("report/report.css");
/// `detail.js` first: it starts the script with "use strict" and defines what `report.js` uses.
const SCRIPT: &str = concat!(
    include_str!("report/detail.js"),
    include_str!("report/report.js")
);

/// Makes JSON safe inside an HTML `<script>` element: no `</script>`, `<!--` or `]]>` can
/// appear, and the line separators JavaScript once treated as line ends are escaped.
pub fn escape_for_script(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for HTML element content and attribute values (and the line separators, so
/// the page holds none raw).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\u{2028}' => out.push_str("&#8232;"),
            '\u{2029}' => out.push_str("&#8233;"),
            c => out.push(c),
        }
    }
    out
}

/// A CSP source for an inline element's exact text: `'sha256-…'`.
fn csp_hash(text: &str) -> String {
    let digest = sha2::Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The page's Content-Security-Policy: nothing but its own style and script.
fn policy() -> String {
    format!(
        "default-src 'none'; style-src {}; script-src {}; img-src data:; base-uri 'none'; form-action 'none'",
        csp_hash(STYLE),
        csp_hash(SCRIPT)
    )
}

/// The template with each `{{name}}` replaced by `value(name)`, in one pass: no filled-in text
/// is read again (a title holding `{{data}}` stays that text).
fn fill<'a>(template: &str, value: impl Fn(&str) -> &'a str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push_str(value(&after[..end]));
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[at..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Writes the whole page for `findings` to `out`; `rules` are the rules the scan ran (their
/// descriptions, what to check and references are shown for every rule a finding names).
pub fn write(
    out: &mut dyn Write,
    findings: &[Finding],
    rules: &[Rule],
    meta: &Meta,
) -> io::Result<()> {
    let title = escape_html(meta.title);
    // Base64 cannot close the element; the escape keeps it so whatever the block holds.
    let (doc, parts) = data::json(findings, rules, meta);
    let data = escape_for_script(&data::gzip_base64(&doc));
    let raw = escape_for_script(&parts.join("\n"));
    let policy = policy();
    let page = fill(TEMPLATE, |name| match name {
        "policy" => &policy,
        "title" => &title,
        "style" => STYLE,
        "data" => &data,
        "raw" => &raw,
        "script" => SCRIPT,
        _ => "",
    });
    out.write_all(page.as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_breakers_are_escaped() {
        let s = escape_for_script(r#"{"a":"</script><!-- ]]> & x"}"#);
        assert!(!s.contains('<') && !s.contains('>') && !s.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["a"], "</script><!-- ]]> & x");
        let s = escape_for_script("\"a\u{2028}b\u{2029}\"");
        assert_eq!(s, "\"a\\u2028b\\u2029\"");
        assert_eq!(
            serde_json::from_str::<String>(&s).unwrap(),
            "a\u{2028}b\u{2029}"
        );
    }

    #[test]
    fn the_page_assets_cannot_close_their_elements() {
        assert!(!SCRIPT.contains("</script") && !SCRIPT.contains("<!--"));
        assert!(!STYLE.contains("</style"));
        for p in [
            "{{policy}}",
            "{{title}}",
            "{{style}}",
            "{{data}}",
            "{{script}}",
        ] {
            assert!(TEMPLATE.contains(p), "{p}");
        }
        // No inline event handlers (the policy would block them).
        let attrs = TEMPLATE.split(" on").skip(1);
        for a in attrs {
            let name: String = a.chars().take_while(char::is_ascii_alphabetic).collect();
            assert!(
                !a[name.len()..].starts_with('='),
                "on{name}= in the template"
            );
        }
    }

    fn page(findings: &[Finding], title: &str) -> String {
        let mut out = Vec::new();
        let meta = Meta {
            title,
            inputs: &[title.to_string()],
            generated: "2026-12-02T00:00:00Z",
        };
        write(&mut out, findings, &[], &meta).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn hostile_strings_stay_text() {
        assert_eq!(
            escape_html("<b a='1'>&\""),
            "&lt;b a=&#39;1&#39;&gt;&amp;&quot;"
        );
        let hostile =
            "\"><img src=x onerror=alert(1)></script><script>alert(2)</script><!--\u{2028}";
        let mut f = Finding::blank("r");
        f.actor = Some(hostile.into());
        f.summary = hostile.into();
        f.raw = Some(format!("{{\"userAgent\":{}}}", serde_json::json!(hostile)).into());
        let page = page(&[f], &format!("{hostile}{{{{data}}}}"));
        assert!(page.contains("&lt;!--&#8232;{{data}}"), "filled once");
        // Only the page's own script elements: data, raw events, script.
        assert_eq!(page.matches("<script").count(), 3, "{page}");
        assert_eq!(page.matches("</script>").count(), 3);
        assert!(!page.contains("<img") && !page.contains("<!--"));
        assert!(!page.contains('\u{2028}'));
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
        // The data block reads back to the hostile text.
        let start = page.find("id=\"data\">").unwrap() + "id=\"data\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        let gz = base64::engine::general_purpose::STANDARD
            .decode(&page[start..end])
            .unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            v["strings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == hostile)
        );
        assert_eq!(v["title"], format!("{hostile}{{{{data}}}}"));
    }

    #[test]
    fn the_policy_names_the_inline_script_and_style_exactly() {
        let page = page(&[], "t");
        let start = page.find("<script>").unwrap() + "<script>".len();
        let end = start + page[start..].find("</script>").unwrap();
        assert_eq!(&page[start..end], SCRIPT);
        let start = page.find("<style>").unwrap() + "<style>".len();
        let end = start + page[start..].find("</style>").unwrap();
        assert_eq!(&page[start..end], STYLE);
        assert!(page.contains(&csp_hash(SCRIPT)) && page.contains(&csp_hash(STYLE)));
        assert!(page.contains("default-src 'none'"));
        assert!(!page.contains("unsafe-inline"));
    }
}
