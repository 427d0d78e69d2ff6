//! The self-contained HTML report (`trailwatch report`, `scan --report FILE`): one file with its
//! CSS, JavaScript and data inline, nothing loaded from the network when it is opened.
//!
//! The findings are embedded as compact JSON in a `<script type="application/json">` block: every
//! string is stored once in a table and findings refer to it by index. The JSON is escaped so no
//! record can close the block or start markup (`<`, `>`, `&`, U+2028 and U+2029 become `\u`
//! escapes); the page's script only ever puts record text into the page through `textContent`.

use crate::finding::Finding;
use std::collections::HashMap;
use std::io::{self, Write};

const TEMPLATE: &str = include_str!("report/report.html");
const STYLE: &str = include_str!("report/report.css");
const SCRIPT: &str = include_str!("report/report.js");

/// The fields of a finding the page shows, in the order of each row of the data block.
pub const FIELDS: [&str; 17] = [
    "severity",
    "event_time",
    "rule_id",
    "title",
    "service",
    "event_name",
    "account_id",
    "region",
    "actor",
    "source_ip",
    "user_agent",
    "error_code",
    "summary",
    "why",
    "location",
    "event_id",
    "outcome",
];

/// Strings stored once, referred to by index.
#[derive(Default)]
struct Strings {
    index: HashMap<String, usize>,
    list: Vec<String>,
}

impl Strings {
    fn id(&mut self, s: &str) -> usize {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.list.len();
        self.list.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

fn field(f: &Finding, key: &str) -> String {
    match key {
        "severity" => f.severity.to_string(),
        "outcome" => f.outcome.as_str().to_string(),
        _ => f.field(key).unwrap_or_default(),
    }
}

/// The data block's JSON: `{"fields":[...],"strings":[...],"findings":[[...], ...]}` where each
/// finding is its [`FIELDS`] as string indices, then its rule ids, controls and ATT&CK ids as
/// arrays of indices, then its rules' titles.
pub fn data_json(findings: &[Finding], title: &str) -> String {
    let mut strings = Strings::default();
    let rows: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            let mut row: Vec<serde_json::Value> = FIELDS
                .iter()
                .map(|k| strings.id(&field(f, k)).into())
                .collect();
            let ids = |s: &mut Strings, v: &mut dyn Iterator<Item = &str>| -> serde_json::Value {
                v.map(|x| serde_json::Value::from(s.id(x))).collect()
            };
            row.push(ids(
                &mut strings,
                &mut f.rules.iter().map(|r| r.id.as_str()),
            ));
            row.push(ids(
                &mut strings,
                &mut f.controls.iter().map(String::as_str),
            ));
            row.push(ids(&mut strings, &mut f.attack.iter().map(String::as_str)));
            row.push(ids(
                &mut strings,
                &mut f.rules.iter().map(|r| r.title.as_str()),
            ));
            serde_json::Value::Array(row)
        })
        .collect();
    let data = serde_json::json!({
        "title": title,
        "fields": FIELDS,
        "strings": strings.list,
        "findings": rows,
    });
    escape_for_script(&data.to_string())
}

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

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Writes the whole page for `findings` to `out`.
pub fn write(out: &mut dyn Write, findings: &[Finding], title: &str) -> io::Result<()> {
    let page = TEMPLATE
        .replacen("{{title}}", &escape_html(title), 1)
        .replacen("/*{{style}}*/", STYLE, 1)
        .replacen("{{data}}", &data_json(findings, title), 1)
        .replacen("/*{{script}}*/", SCRIPT, 1);
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
        assert_eq!(
            back["a"],
            "</script><!-- ]]> & x\u{2028}".trim_end_matches('\u{2028}')
        );
        assert_eq!(
            escape_for_script("\"\u{2028}\u{2029}\""),
            "\"\\u2028\\u2029\""
        );
    }

    #[test]
    fn title_is_escaped() {
        assert_eq!(
            escape_html("<b a='1'>&\""),
            "&lt;b a=&#39;1&#39;&gt;&amp;&quot;"
        );
        let mut out = Vec::new();
        write(&mut out, &[], "<script>alert(1)</script>").unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(!page.contains("<script>alert(1)"));
        assert!(page.contains("<script type=\"application/json\" id=\"data\">"));
    }

    #[test]
    fn strings_are_stored_once() {
        let mut s = Strings::default();
        assert_eq!(s.id("a"), 0);
        assert_eq!(s.id("b"), 1);
        assert_eq!(s.id("a"), 0);
        assert_eq!(s.list, ["a", "b"]);
    }
}
