//! The report's data block: every finding, the rules they name and the raw events, as one
//! compact JSON document the page's script reads.
//!
//! Every string is stored once in `strings` and referred to by index (`-1` for none), so the
//! actor, account and rule texts repeated over thousands of findings cost a few bytes each. The
//! rules are stored once each in `rules`. Raw events (records of findings only) are grouped in
//! parts of [`RAW_PART`] records, each part a gzip-compressed JSON array in base64: the page
//! inflates a part (with the browser's own `DecompressionStream`) only when a detail view or a
//! raw-event search needs it, so opening the page costs nothing for them.

use crate::finding::Finding;
use crate::rules::Rule;
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Raw events per compressed part.
pub const RAW_PART: usize = 200;

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
    list: Vec<Arc<str>>,
}

impl Raws {
    fn id(&mut self, raw: Option<&Arc<str>>) -> i64 {
        let Some(raw) = raw else { return -1 };
        let key = raw.as_ptr();
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let i = self.list.len() as i64;
        self.list.push(raw.clone());
        self.index.insert(key, i);
        i
    }

    /// Each part: the JSON array of its records, gzip-compressed, in base64.
    fn parts(&self) -> Vec<String> {
        let mut gz = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
        self.list
            .chunks(RAW_PART)
            .map(|chunk| {
                let mut json = String::with_capacity(chunk.iter().map(|r| r.len() + 1).sum());
                json.push('[');
                for (i, r) in chunk.iter().enumerate() {
                    if i > 0 {
                        json.push(',');
                    }
                    // A record that could not be written back is shown as null, not dropped.
                    json.push_str(if r.is_empty() { "null" } else { r });
                }
                json.push(']');
                let mut out = vec![0; gz.gzip_compress_bound(json.len())];
                let n = gz
                    .gzip_compress(json.as_bytes(), &mut out)
                    .unwrap_or_default();
                out.truncate(n);
                base64::engine::general_purpose::STANDARD.encode(&out)
            })
            .collect()
    }
}

/// The data block's JSON (not yet escaped for `<script>`): `{"title", "version", "generated",
/// "inputs", "fields", "strings", "rules", "findings", "raw": {"part", "parts"}}`. Each finding
/// is its [`FIELDS`] as string indices, then its rules as `[rule row, severity, lowered]`, its
/// controls and ATT&CK ids as string indices, and the index of its raw event (-1: none).
pub fn json(findings: &[Finding], rules: &[Rule], meta: &Meta) -> String {
    let mut s = Strings::default();
    let mut table = RuleTable::new(rules);
    let mut raws = Raws::default();
    let rows: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut row: Vec<Value> = FIELDS
                .iter()
                .map(|k| s.opt(field(f, k).as_deref()).into())
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
            row.push(raws.id(f.raw.as_ref()).into());
            Value::Array(row)
        })
        .collect();
    json!({
        "title": meta.title,
        "version": env!("CARGO_PKG_VERSION"),
        "generated": meta.generated,
        "inputs": meta.inputs,
        "fields": FIELDS,
        "strings": s.list,
        "rules": table.rows,
        "findings": rows,
        "raw": {"part": RAW_PART, "parts": raws.parts()},
    })
    .to_string()
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
        let v: Value = serde_json::from_str(&json(&findings, &[], &meta)).unwrap();
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
        let part = v["raw"]["parts"][0].as_str().unwrap();
        let gz = base64::engine::general_purpose::STANDARD
            .decode(part)
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
        let v: Value = serde_json::from_str(&json(&findings, &[], &meta)).unwrap();
        assert_eq!(v["raw"]["parts"].as_array().unwrap().len(), 2);
        assert_eq!(v["raw"]["part"], RAW_PART);
    }
}
