//! The prefilter: a byte-level test that tells, without parsing, that a record cannot match.
//!
//! Most rules are keyed on an `eventName`, so a record whose `eventName` is not one of those
//! names (nor matches a rule's name glob) can be counted and skipped. The test looks for the key
//! `"eventName"` in the raw JSON text (at any depth, since it cannot tell depth apart), reads the
//! string after it, and says "skip" only when every such string is known not to be a candidate.
//! Rules that constrain no name contribute literals their conditions require (see
//! [`crate::rules::Cond::needles`]), searched with Aho-Corasick; one such rule without literals
//! makes every record a candidate. Anything unusual (no `eventName` key in plain text, an escape
//! sequence, a value that is not a string) means "parse it", so the prefilter can cost time but
//! never a finding.

use crate::rules::{NameMatch, Rule};
use aho_corasick::AhoCorasick;
use globset::{Glob, GlobSet, GlobSetBuilder};
use memchr::memmem::Finder;
use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::HashSet;

/// The set of event names (and literals) worth parsing a record for.
#[derive(Debug, Clone)]
pub struct Prefilter {
    key: Finder<'static>,
    names: HashSet<Box<[u8]>>,
    /// Every rule's name globs, as one automaton (`None` when there are none).
    globs: Option<GlobSet>,
    /// Identifies this prefilter's globs in the per-thread answer cache.
    id: u64,
    /// Literals of name-less rules, searched as written and without ASCII case.
    exact: Option<AhoCorasick>,
    nocase: Option<AhoCorasick>,
    /// When set, every record is parsed (some rule cannot be prefiltered).
    all: bool,
}

impl Prefilter {
    /// A prefilter for exact event names only.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Prefilter {
        let names = names.into_iter().map(|n| n.as_bytes().into()).collect();
        Prefilter {
            key: Finder::new(b"\"eventName\"").into_owned(),
            names,
            globs: None,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            exact: None,
            nocase: None,
            all: false,
        }
    }

    /// A prefilter for a rule set whose exact names are `names`.
    pub fn for_rules<'a>(rules: &[Rule], names: impl IntoIterator<Item = &'a str>) -> Prefilter {
        let mut p = Prefilter::new(names);
        let (mut exact, mut nocase) = (Vec::new(), Vec::new());
        let mut globs = GlobSetBuilder::new();
        let mut any_glob = false;
        for r in rules {
            for n in &r.names {
                if let NameMatch::Glob(_, g) = n {
                    globs.add(Glob::clone(g.glob()));
                    any_glob = true;
                }
            }
            if r.names.is_empty() {
                match r.needles() {
                    Some(n) => {
                        exact.extend(n.exact);
                        nocase.extend(n.nocase);
                    }
                    None => p.all = true,
                }
            }
        }
        if any_glob {
            match globs.build() {
                Ok(set) => p.globs = Some(set),
                Err(_) => p.all = true,
            }
        }
        let build = |lits: Vec<String>, ci: bool| {
            (!lits.is_empty())
                .then(|| {
                    AhoCorasick::builder()
                        .ascii_case_insensitive(ci)
                        .build(&lits)
                        .ok()
                })
                .flatten()
        };
        // If an automaton cannot be built, fall back to parsing everything.
        let (want_exact, want_nocase) = (!exact.is_empty(), !nocase.is_empty());
        p.exact = build(exact, false);
        p.nocase = build(nocase, true);
        if (want_exact && p.exact.is_none()) || (want_nocase && p.nocase.is_none()) {
            p.all = true;
        }
        p
    }

    /// A prefilter that lets every record through.
    pub fn everything() -> Prefilter {
        Prefilter {
            all: true,
            ..Prefilter::new([])
        }
    }

    /// Whether the record whose JSON text is `raw` could match; `false` only when it certainly
    /// cannot.
    pub fn might_match(&self, raw: &[u8]) -> bool {
        if self.all {
            return true;
        }
        let mut seen = false;
        for at in self.key.find_iter(raw) {
            seen = true;
            match string_after_key(raw, at + b"\"eventName\"".len()) {
                Some(name) if !self.names.contains(name) && !self.glob_match(name) => {}
                _ => return true,
            }
        }
        if !seen {
            return true;
        }
        if self.exact.is_none() && self.nocase.is_none() {
            return false;
        }
        // A literal could hide behind a \u escape; such records are rare, so parse them.
        memchr::memmem::find(raw, b"\\u").is_some()
            || self.exact.as_ref().is_some_and(|a| a.is_match(raw))
            || self.nocase.as_ref().is_some_and(|a| a.is_match(raw))
    }

    /// Whether a name matches a rule's glob. Names repeat endlessly in CloudTrail (a few hundred
    /// distinct ones), so answers are remembered per thread.
    fn glob_match(&self, name: &[u8]) -> bool {
        let Some(globs) = &self.globs else {
            return false;
        };
        let id = self.id;
        GLOB_CACHE.with_borrow_mut(|(owner, cache)| {
            if *owner != id || cache.len() > 4096 {
                *owner = id;
                cache.clear();
            }
            if let Some(hit) = cache.get(name) {
                return *hit;
            }
            let hit = std::str::from_utf8(name).is_ok_and(|n| globs.is_match(n));
            cache.insert(name.into(), hit);
            hit
        })
    }
}

/// Glob answers by event name, tagged with the id of the prefilter that filled them.
type GlobCache = (u64, HashMap<Box<[u8]>, bool>);

thread_local! {
    static GLOB_CACHE: RefCell<GlobCache> = RefCell::new((0, HashMap::new()));
}

/// Prefilter ids start at 1, so the empty cache belongs to none.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The plain (escape-free) string value following a key that ends at `at`, or `None` when the
/// value is not a plain string.
fn string_after_key(raw: &[u8], at: usize) -> Option<&[u8]> {
    let at = crate::record::skip_ws(raw, at);
    if raw.get(at) != Some(&b':') {
        // `"eventName"` was a value, not a key; treat it as unusual.
        return None;
    }
    let open = crate::record::skip_ws(raw, at + 1);
    if raw.get(open) != Some(&b'"') {
        return None;
    }
    let rest = raw.get(open + 1..)?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    (rest[end] == b'"').then_some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_only_certain_non_candidates() {
        let p = Prefilter::new(["StopLogging", "CreateUser"]);
        assert!(!p.might_match(br#"{"eventName":"GetObject","eventSource":"s3.amazonaws.com"}"#));
        assert!(p.might_match(br#"{"eventName":"StopLogging"}"#));
        assert!(p.might_match(br#"{ "eventName" :  "CreateUser" }"#));
        // Escapes, odd types, missing keys and nested names all go to the parser.
        assert!(p.might_match(br#"{"eventName":"Create\u0055ser"}"#));
        assert!(p.might_match(br#"{"eventName":7}"#));
        assert!(p.might_match(br#"{"event\u004eame":"CreateUser"}"#));
        assert!(p.might_match(
            br#"{"eventName":"PutRule","requestParameters":{"eventName":"CreateUser"}}"#
        ));
        assert!(p.might_match(br#"{"x":"eventName"}"#));
        assert!(Prefilter::everything().might_match(b"{}"));
    }
}
