//! Field paths: `userIdentity.type`, `resources[*].ARN`, `requestParameters.policyDocument.Statement[*].Effect`.
//!
//! A path reaches zero or more values of a record. Arrays are walked implicitly when a key is
//! applied to them, keys fall back to a case-insensitive match (lower-cased exports), and a path
//! that continues past a string parses that string as JSON (URL-decoding it first when it looks
//! URL-encoded), which is how IAM policy documents are logged.

use sonic_rs::{JsonContainerTrait, JsonValueTrait, Value};
use std::fmt;

/// Strings longer than this are not parsed as embedded JSON (policies are limited to 10 KB-ish;
/// this keeps a hostile record from costing much).
const MAX_EMBEDDED: usize = 1 << 20;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    /// `[*]`: every item of an array.
    Each,
    /// `[N]`: one item of an array.
    Index(usize),
}

/// A parsed field path.
#[derive(Clone, PartialEq, Eq)]
pub struct FieldPath {
    text: String,
    segs: Vec<Seg>,
}

impl fmt::Debug for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.text)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FieldPath {
    /// Parses `a.b[*].c`, `a."x-y"[0]`. Returns a message on malformed paths.
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        let mut segs = Vec::new();
        let b = text.as_bytes();
        let mut i = 0;
        let mut need_key = true;
        while i < b.len() {
            match b[i] {
                b'.' if !need_key => {
                    need_key = true;
                    i += 1;
                }
                b'[' => {
                    let close = text[i..].find(']').ok_or("unclosed '['")? + i;
                    let inner = text[i + 1..close].trim();
                    segs.push(if inner == "*" {
                        Seg::Each
                    } else {
                        Seg::Index(inner.parse().map_err(|_| format!("bad index [{inner}]"))?)
                    });
                    need_key = false;
                    i = close + 1;
                }
                b'"' if need_key => {
                    let close = text[i + 1..].find('"').ok_or("unclosed quote")? + i + 1;
                    segs.push(Seg::Key(text[i + 1..close].to_string()));
                    need_key = false;
                    i = close + 1;
                }
                _ if need_key => {
                    let end = text[i..].find(['.', '[']).map_or(b.len(), |e| e + i);
                    let key = &text[i..end];
                    if key.is_empty() || key.contains(['"', ']', ' ']) {
                        return Err(format!("bad key '{key}'"));
                    }
                    segs.push(Seg::Key(key.to_string()));
                    need_key = false;
                    i = end;
                }
                c => return Err(format!("unexpected '{}' at {i}", c as char)),
            }
        }
        if need_key {
            return Err("empty path or trailing '.'".into());
        }
        Ok(FieldPath {
            text: text.to_string(),
            segs,
        })
    }

    /// The last key of the path, if it ends in one.
    pub fn last_key(&self) -> Option<&str> {
        match self.segs.last() {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// Calls `f` on every value the path reaches until it returns `true`; returns whether it did.
    pub fn any(&self, root: &Value, f: &mut dyn FnMut(&Value) -> bool) -> bool {
        walk(root, &self.segs, f)
    }

    /// The first scalar reached, as text (for dedup keys, threshold groups and messages).
    pub fn first_text(&self, root: &Value) -> Option<String> {
        let mut out = None;
        self.any(root, &mut |v| {
            out = scalar_text(v);
            out.is_some()
        });
        out
    }
}

/// A scalar as text: strings as they are, numbers and booleans as JSON.
pub fn scalar_text(v: &Value) -> Option<String> {
    if let Some(s) = v.as_str() {
        Some(s.to_string())
    } else if v.is_number() || v.is_boolean() {
        Some(v.to_string())
    } else {
        None
    }
}

fn walk(v: &Value, segs: &[Seg], f: &mut dyn FnMut(&Value) -> bool) -> bool {
    let Some((seg, rest)) = segs.split_first() else {
        // At the end: an array's items are the values (so `in`, `equals` work on lists).
        if let Some(items) = v.as_array() {
            return items.iter().any(&mut *f) || f(v);
        }
        return f(v);
    };
    if let Some(s) = v.as_str() {
        return match embedded(s) {
            Some(inner) => walk(&inner, segs, f),
            None => false,
        };
    }
    match seg {
        Seg::Key(k) => {
            if let Some(items) = v.as_array() {
                return items.iter().any(|item| walk(item, segs, f));
            }
            match key(v, k) {
                Some(child) => walk(child, rest, f),
                None => false,
            }
        }
        Seg::Each => match v.as_array() {
            Some(items) => items.iter().any(|item| walk(item, rest, f)),
            // A single object where a list was expected (CloudTrail does this for one-item lists).
            None if v.is_object() => walk(v, rest, f),
            None => false,
        },
        Seg::Index(n) => match v.as_array() {
            Some(items) => items.get(*n).is_some_and(|item| walk(item, rest, f)),
            None => false,
        },
    }
}

fn key<'v>(v: &'v Value, k: &str) -> Option<&'v Value> {
    v.get(k).or_else(|| {
        let obj = v.as_object()?;
        obj.iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(k))
            .map(|(_, v)| v)
    })
}

/// JSON held in a string (policy documents), URL-decoded first when it is URL-encoded.
fn embedded(s: &str) -> Option<Value> {
    let t = s.trim_start();
    if t.len() > MAX_EMBEDDED {
        return None;
    }
    if t.starts_with(['{', '[']) {
        return sonic_rs::from_str(t).ok();
    }
    let lower = t.get(..3)?.to_ascii_lowercase();
    if lower == "%7b" || lower == "%5b" {
        // Form encoding: `+` is a space and `%2B` a plus, so `+` goes before decoding.
        let spaced = t.replace('+', " ");
        let decoded = percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .ok()?;
        return sonic_rs::from_str(&decoded).ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(path: &str, json: &str) -> Vec<String> {
        let v: Value = sonic_rs::from_str(json).unwrap();
        let mut out = Vec::new();
        FieldPath::parse(path).unwrap().any(&v, &mut |x| {
            out.push(x.to_string());
            false
        });
        out
    }

    #[test]
    fn parses_and_rejects() {
        assert!(FieldPath::parse("a.b[*].c[2].\"x-y\"").is_ok());
        for bad in ["", "a.", "a..b", "a[", "a[x]", ".a", "a b"] {
            assert!(FieldPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn walks_objects_arrays_and_case() {
        let j = r#"{"a":{"items":[{"c":1},{"c":2}]},"UserIdentity":{"Type":"Root"}}"#;
        assert_eq!(values("a.items[*].c", j), ["1", "2"]);
        assert_eq!(values("a.items.c", j), ["1", "2"]);
        assert_eq!(values("a.items[1].c", j), ["2"]);
        assert_eq!(values("userIdentity.type", j), ["\"Root\""]);
        assert!(values("a.missing", j).is_empty());
    }

    #[test]
    fn reads_json_inside_strings() {
        let j = r#"{"p":"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\"}]}",
                    "u":"%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Deny%22%7D%5D%7D"}"#;
        assert_eq!(values("p.Statement[*].Effect", j), ["\"Allow\""]);
        assert_eq!(values("p.Statement[*].Principal", j), ["\"*\""]);
        assert_eq!(values("u.Statement[*].Effect", j), ["\"Deny\""]);
        assert!(values("p.Statement[*].Nope", j).is_empty());
    }
}
