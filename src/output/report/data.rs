//! The report's data block: every finding, the rules they name and the raw events, as one
//! compact JSON document the page's script reads.
//!
//! Every string is stored once in `strings` and referred to by index (`-1` for none), so the
//! actor, account and rule texts repeated over thousands of findings cost a few bytes each. The
//! rules are stored once each in `rules`. Raw events (records of findings only, long opaque
//! tokens cut: [`cut_tokens`]) are sorted by event and grouped in parts of [`RAW_PART`] records,
//! each part a gzip-compressed JSON array in base64: the page inflates a part (with the
//! browser's own `DecompressionStream`) only when a detail view or a raw-event search needs it,
//! so opening the page costs nothing for them. The whole document is compressed the same way
//! ([`gzip_base64`]) and inflated once when the page opens.

use crate::finding::Finding;
use crate::rules::Rule;
use base64::Engine as _;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Raw events per compressed part.
pub const RAW_PART: usize = 1000;

/// The fields of a finding the page uses, in the order of each finding's row.
pub const FIELDS: [&str; 24] = [
    "severity",
    "event_time",
    "rule_id",
    "title",
    "service",
    "event_source",
    "event_name",
    "account_id",
    "region",
    "actor",
    "actor_type",
    "source_ip",
    "user_agent",
    "error_code",
    "error_message",
    "summary",
    "why",
    "location",
    "event_id",
    "outcome",
    "count",
    "first_time",
    "last_time",
    "suppressed_by",
];

/// What the page says about where its data came from.
pub struct Meta<'a> {
    pub title: &'a str,
    pub inputs: &'a [String],
    /// When the report was written (RFC 3339).
    pub generated: &'a str,
}

/// Strings stored once, referred to by index.
#[derive(Default)]
pub(super) struct Strings {
    index: HashMap<String, i64>,
    pub(super) list: Vec<String>,
}

impl Strings {
    pub(super) fn id(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.list.len() as i64;
        self.list.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }

    /// The index of `s`, or -1 for none or empty.
    fn opt(&mut self, s: Option<&str>) -> i64 {
        match s {
            Some(s) if !s.is_empty() => self.id(s),
            _ => -1,
        }
    }
}

fn field(f: &Finding, key: &str) -> Option<String> {
    match key {
        "count" => f.count.map(|n| n.to_string()),
        "first_time" => f.first_time.clone(),
        "last_time" => f.last_time.clone(),
        "suppressed_by" => f.suppressed_by.clone(),
        _ => f.field(key),
    }
}

/// Rules named by findings, each stored once: `[id, title, pack, severity, description, why,
/// [references]]` as string indices.
#[derive(Default)]
struct RuleTable<'a> {
    by_id: HashMap<&'a str, &'a Rule>,
    row: HashMap<String, usize>,
    rows: Vec<Value>,
}

impl<'a> RuleTable<'a> {
    fn new(rules: &'a [Rule]) -> Self {
        RuleTable {
            by_id: rules.iter().map(|r| (r.id.as_str(), r)).collect(),
            ..RuleTable::default()
        }
    }

    fn row(&mut self, s: &mut Strings, id: &str, title: &str, pack: &str) -> usize {
        if let Some(&i) = self.row.get(id) {
            return i;
        }
        let rule = self.by_id.get(id);
        let refs: Vec<i64> = rule
            .map(|r| r.references.iter().map(|x| s.id(x)).collect())
            .unwrap_or_default();
        let row = json!([
            s.id(id),
            s.id(rule.map_or(title, |r| r.title.as_str())),
            s.id(pack),
            s.opt(rule.map(|r| r.severity.as_str())),
            s.opt(rule.map(|r| r.description.as_str())),
            s.opt(rule.and_then(|r| r.why.as_deref())),
            refs,
        ]);
        let i = self.rows.len();
        self.rows.push(row);
        self.row.insert(id.to_string(), i);
        i
    }
}

/// Raw events, each once (findings of one record share it), in parts of [`RAW_PART`].
#[derive(Default)]
struct Raws {
    index: HashMap<*const u8, i64>,
    /// Each record with what it is sorted by: like records side by side compress better.
    list: Vec<((String, String), Arc<str>)>,
}

impl Raws {
    fn id(&mut self, f: &Finding) -> i64 {
        let Some(raw) = &f.raw else { return -1 };
        let key = raw.as_ptr();
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let i = self.list.len() as i64;
        let by = (
            f.event_source.clone().unwrap_or_default(),
            f.event_name.clone().unwrap_or_default(),
        );
        self.list.push((by, raw.clone()));
        self.index.insert(key, i);
        i
    }

    /// Sorts the records by event source and name; returns each old index's new one.
    fn sort(&mut self) -> Vec<i64> {
        let mut order: Vec<usize> = (0..self.list.len()).collect();
        order.sort_by(|&a, &b| self.list[a].0.cmp(&self.list[b].0));
        let mut new_of = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_of[old] = new as i64;
        }
        self.list = order.iter().map(|&i| self.list[i].clone()).collect();
        new_of
    }

    /// Each part: the JSON array of its records, opaque tokens cut, gzip-compressed, in base64.
    fn parts(&self) -> Vec<String> {
        self.list
            .chunks(RAW_PART)
            .map(|chunk| {
                let mut json = String::with_capacity(chunk.iter().map(|r| r.1.len() + 1).sum());
                json.push('[');
                for (i, (_, r)) in chunk.iter().enumerate() {
                    if i > 0 {
                        json.push(',');
                    }
                    // A record that could not be written back is shown as null, not dropped.
                    if r.is_empty() {
                        json.push_str("null");
                    } else {
                        json.push_str(&cut_tokens(r));
                    }
                }
                json.push(']');
                gzip_base64(&json)
            })
            .collect()
    }
}

/// Opaque tokens (strings of base64 or URL-safe characters only) longer than this are cut in
/// raw events, keeping their first [`TOKEN_KEPT`] characters.
pub const TOKEN_LIMIT: usize = 100;
/// What is kept of a cut token.
pub const TOKEN_KEPT: usize = 16;

/// `json` with every opaque token string longer than [`TOKEN_LIMIT`] shortened to its first
/// [`TOKEN_KEPT`] characters and `…[N characters cut]`: Config result tokens, session tokens
/// and SAML assertions are random bytes that would make up most of the page, and are nothing a
/// reader of the report can use (the finding's location names the full record).
pub fn cut_tokens(json: &str) -> Cow<'_, str> {
    let b = json.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut j = start;
        let mut opaque = true;
        while j < b.len() && b[j] != b'"' {
            if b[j] == b'\\' {
                opaque = false;
                j += 2;
                continue;
            }
            opaque &=
                b[j].is_ascii_alphanumeric() || matches!(b[j], b'+' | b'/' | b'=' | b'_' | b'-');
            j += 1;
        }
        let end = j.min(b.len());
        if opaque && end - start > TOKEN_LIMIT {
            let o = out.get_or_insert_with(|| String::with_capacity(json.len()));
            o.push_str(&json[copied..start + TOKEN_KEPT]);
            o.push_str(&format!("…[{} characters cut]", end - start - TOKEN_KEPT));
            copied = end;
        }
        i = end + 1;
    }
    match out {
        None => Cow::Borrowed(json),
        Some(mut o) => {
            o.push_str(&json[copied..]);
            Cow::Owned(o)
        }
    }
}

/// `text`, gzip-compressed, in base64 (what the page inflates with `DecompressionStream`).
pub fn gzip_base64(text: &str) -> String {
    let mut gz = libdeflater::Compressor::new(libdeflater::CompressionLvl::best());
    let mut out = vec![0; gz.gzip_compress_bound(text.len())];
    let n = gz
        .gzip_compress(text.as_bytes(), &mut out)
        .unwrap_or_default();
    out.truncate(n);
    base64::engine::general_purpose::STANDARD.encode(&out)
}

/// The data block's JSON (compressed by the caller): `{"title", "version", "generated",
/// "inputs", "fields", "strings", "rules", "findings", "raw": {"part", "count"}}`, and the
/// parts of raw events (each compressed, in base64), which the page keeps apart from it. Each finding
/// is its [`FIELDS`] as string indices (`location` without its `#N` or `:LINE` suffix;
/// `event_id` and `error_message` none when the raw event holds them), then its
/// rules as `[rule row, severity, lowered]`, its controls and ATT&CK ids as string indices, the
/// index of its raw event (-1: none), and its location's suffix.
pub fn json(findings: &[Finding], rules: &[Rule], meta: &Meta) -> (String, Vec<String>) {
    let mut s = Strings::default();
    let mut table = RuleTable::new(rules);
    let mut raws = Raws::default();
    let mut rows: Vec<Vec<Value>> = findings
        .iter()
        .map(|f| {
            let (file, suffix) = split_location(&f.location);
            let mut row: Vec<Value> = FIELDS
                .iter()
                .map(|&k| match k {
                    "location" => s.opt(Some(file)).into(),
                    // Unique per event and in the raw event, which the page shows them from.
                    "event_id" | "error_message" if f.raw.is_some() => (-1).into(),
                    _ => s.opt(field(f, k).as_deref()).into(),
                })
                .collect();
            let hits: Vec<Value> = f
                .rules
                .iter()
                .map(|h| {
                    let r = table.row(&mut s, &h.id, &h.title, &h.pack);
                    json!([r, s.id(h.severity.as_str()), s.opt(h.lowered.as_deref())])
                })
                .collect();
            row.push(hits.into());
            row.push(f.controls.iter().map(|x| s.id(x)).collect());
            row.push(f.attack.iter().map(|x| s.id(x)).collect());
            row.push(raws.id(f).into());
            row.push(s.opt(Some(suffix)).into());
            row
        })
        .collect();
    let new_of = raws.sort();
    for row in &mut rows {
        let at = FIELDS.len() + 3;
        if let Some(old) = row[at].as_i64().filter(|&i| i >= 0) {
            row[at] = new_of[old as usize].into();
        }
    }
    let doc = json!({
        "title": meta.title,
        "version": env!("CARGO_PKG_VERSION"),
        "generated": meta.generated,
        "inputs": meta.inputs,
        "fields": FIELDS,
        "strings": s.list,
        "rules": table.rows,
        "findings": rows,
        "raw": {"part": RAW_PART, "count": raws.list.len()},
    })
    .to_string();
    (doc, raws.parts())
}

/// A location as (file, suffix): `f.json.gz#3` as (`f.json.gz`, `#3`), `f.jsonl:7` as
/// (`f.jsonl`, `:7`); the file part repeats over many findings and is stored once.
fn split_location(location: &str) -> (&str, &str) {
    match location.rfind(['#', ':']) {
        Some(at)
            if location[at + 1..].bytes().all(|c| c.is_ascii_digit())
                && at + 1 < location.len() =>
        {
            location.split_at(at)
        }
        _ => (location, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn strings_are_stored_once_and_empty_is_none() {
        let mut s = Strings::default();
        assert_eq!(s.id("a"), 0);
        assert_eq!(s.id("b"), 1);
        assert_eq!(s.id("a"), 0);
        assert_eq!(s.opt(Some("")), -1);
        assert_eq!(s.opt(None), -1);
        assert_eq!(s.list, ["a", "b"]);
    }

    fn finding(rule: &str, raw: Option<&Arc<str>>) -> Finding {
        let mut f = Finding::blank(rule);
        f.raw = raw.cloned();
        f.actor = Some("arn:aws:iam::111122223333:user/alice".into());
        f
    }

    #[test]
    fn raw_events_are_stored_once_and_inflate_to_the_records() {
        let a: Arc<str> = r#"{"eventName":"StopLogging","x":"</script>"}"#.into();
        let b: Arc<str> = r#"{"eventName":"DeleteTrail"}"#.into();
        let findings = [
            finding("r1", Some(&a)),
            finding("r2", Some(&a)),
            finding("r1", Some(&b)),
            finding("r1", None),
        ];
        let meta = Meta {
            title: "t",
            inputs: &["in".to_string()],
            generated: "2026-12-02T00:00:00Z",
        };
        let (doc, parts) = json(&findings, &[], &meta);
        let v: Value = serde_json::from_str(&doc).unwrap();
        let raw_of = |i: usize| v["findings"][i][FIELDS.len() + 3].as_i64().unwrap();
        assert_eq!((raw_of(0), raw_of(1), raw_of(2), raw_of(3)), (0, 0, 1, -1));
        // The same actor string is stored once.
        let actors = v["strings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x.as_str().is_some_and(|s| s.contains("alice")))
            .count();
        assert_eq!(actors, 1);
        // Two rules named, each once.
        assert_eq!(v["rules"].as_array().unwrap().len(), 2);
        assert_eq!(v["raw"]["count"], 2);
        let gz = base64::engine::general_purpose::STANDARD
            .decode(&parts[0])
            .unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        let records: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(records[0]["x"], "</script>");
        assert_eq!(records[1]["eventName"], "DeleteTrail");
    }

    #[test]
    fn long_opaque_tokens_are_cut_and_nothing_else() {
        let token = "A".repeat(TOKEN_LIMIT + 50);
        let policy = format!("{{\\\"Version\\\":\\\"{}\\\"}}", "a".repeat(200));
        let json = serde_json::json!({
            "resultToken": token,
            "policy": policy,
            "arn": format!("arn:aws:iam::111122223333:role/{}", "r".repeat(200)),
            "short": "B".repeat(TOKEN_LIMIT),
        })
        .to_string();
        let cut = cut_tokens(&json);
        let v: Value = serde_json::from_str(&cut).unwrap();
        assert_eq!(
            v["resultToken"],
            format!(
                "{}…[{} characters cut]",
                "A".repeat(TOKEN_KEPT),
                TOKEN_LIMIT + 50 - TOKEN_KEPT
            )
        );
        assert_eq!(v["policy"], policy, "escapes: not a token");
        assert!(v["arn"].as_str().unwrap().ends_with(&"r".repeat(200)));
        assert_eq!(v["short"], "B".repeat(TOKEN_LIMIT));
        assert!(matches!(cut_tokens(r#"{"a":"b"}"#), Cow::Borrowed(_)));
        // Unterminated input does not panic.
        let _ = cut_tokens(&format!("\"{}", "C".repeat(300)));
        let _ = cut_tokens("\"\\");
    }

    #[test]
    fn locations_split_into_file_and_record() {
        assert_eq!(split_location("a/f.json.gz#3"), ("a/f.json.gz", "#3"));
        assert_eq!(split_location("f.jsonl:17"), ("f.jsonl", ":17"));
        assert_eq!(split_location("s3://b/k#2"), ("s3://b/k", "#2"));
        assert_eq!(split_location("s3://b/k"), ("s3://b/k", ""));
        assert_eq!(split_location("f#"), ("f#", ""));
        assert_eq!(split_location(""), ("", ""));
    }

    #[test]
    fn raw_parts_hold_raw_part_records_each() {
        let raws: Vec<Arc<str>> = (0..RAW_PART + 1)
            .map(|i| format!("{{\"n\":{i}}}").into())
            .collect();
        let findings: Vec<Finding> = raws.iter().map(|r| finding("r", Some(r))).collect();
        let meta = Meta {
            title: "t",
            inputs: &[],
            generated: "",
        };
        let (doc, parts) = json(&findings, &[], &meta);
        let v: Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(v["raw"]["part"], RAW_PART);
    }
}
