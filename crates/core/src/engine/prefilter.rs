//! The prefilter: a byte-level test that tells, without parsing, that a record cannot match.
//!
//! Most rules are keyed on an `eventName`, so a record whose `eventName` is not one of those
//! names (nor matches a rule's name glob) can be counted and skipped. The test looks for the key
//! `"eventName"` in the raw JSON text (at any depth, since it cannot tell depth apart), reads the
//! string after it, and says "skip" only when every such string is known not to be a candidate.
//! Rules whose condition requires one of some literals (see [`crate::rules::Cond::needles`]) make
//! their names candidates only when one of those literals occurs in the text; rules that constrain
//! no name contribute their literals the same way, searched with Aho-Corasick, and one such rule
//! without literals makes every record a candidate. Anything unusual (no `eventName` key in plain text, an escape
//! sequence, a value that is not a string) means "parse it", so the prefilter can cost time but
//! never a finding.

use crate::rules::{NameMatch, Rule};
use aho_corasick::{AhoCorasick, MatchKind};
use globset::{Glob, GlobSet, GlobSetBuilder};
use memchr::memmem::Finder;
use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::HashSet;

/// The set of event names (and literals) worth parsing a record for.
#[derive(Debug, Clone)]
pub struct Prefilter {
    key: Finder<'static>,
    /// Names for which some rule has no literal requirement: always parsed.
    names: HashSet<Box<[u8]>>,
    /// Names whose every rule needs one of `name_literals` in the text: parsed only then.
    needled: HashSet<Box<[u8]>>,
    /// Name globs of rules without, and with, literal requirements.
    globs: Option<GlobSet>,
    needled_globs: Option<GlobSet>,
    /// Identifies this prefilter's globs in the per-thread answer cache.
    id: u64,
    /// Literals required by the conditions of the rules behind `needled` names and globs.
    name_literals: Literals,
    /// Literals of name-less rules.
    bucket_literals: Literals,
    /// When set, every record is parsed (some rule cannot be prefiltered).
    all: bool,
}

/// Literals searched as written and without ASCII case, one automaton each.
#[derive(Debug, Clone, Default)]
struct Literals {
    exact: Option<AhoCorasick>,
    nocase: Option<AhoCorasick>,
}

impl Literals {
    /// `None` when an automaton cannot be built (then the caller parses everything).
    fn build(exact: Vec<String>, nocase: Vec<String>) -> Option<Literals> {
        let build = |lits: Vec<String>, ci: bool| -> Result<Option<AhoCorasick>, ()> {
            if lits.is_empty() {
                return Ok(None);
            }
            // Leftmost-first lets the crate use its SIMD (Teddy) searcher; we only ask whether
            // any literal occurs, so the match semantics do not matter.
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .ascii_case_insensitive(ci)
                .build(&lits)
                .map(Some)
                .map_err(|_| ())
        };
        Some(Literals {
            exact: build(exact, false).ok()?,
            nocase: build(nocase, true).ok()?,
        })
    }

    fn is_empty(&self) -> bool {
        self.exact.is_none() && self.nocase.is_none()
    }

    fn found_in(&self, raw: &[u8]) -> bool {
        // A literal could hide behind a \u escape; such records are rare, so parse them.
        memchr::memmem::find(raw, b"\\u").is_some()
            || self.exact.as_ref().is_some_and(|a| a.is_match(raw))
            || self.nocase.as_ref().is_some_and(|a| a.is_match(raw))
    }
}

/// What a record's event name makes of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameHit {
    None,
    /// A candidate if the text holds one of the name literals.
    Needled,
    Plain,
}

impl Prefilter {
    /// A prefilter for exact event names only.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Prefilter {
        let names = names.into_iter().map(|n| n.as_bytes().into()).collect();
        Prefilter {
            key: Finder::new(b"\"eventName\"").into_owned(),
            names,
            needled: HashSet::new(),
            globs: None,
            needled_globs: None,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            name_literals: Literals::default(),
            bucket_literals: Literals::default(),
            all: false,
        }
    }

    /// A prefilter for a rule set.
    pub fn for_rules(rules: &[Rule]) -> Prefilter {
        let mut p = Prefilter::new([]);
        let (mut globs, mut needled_globs) = (GlobSetBuilder::new(), GlobSetBuilder::new());
        let (mut any_glob, mut any_needled_glob) = (false, false);
        let mut needled_names: HashSet<&str> = HashSet::new();
        let (mut name_exact, mut name_nocase) = (Vec::new(), Vec::new());
        let (mut bucket_exact, mut bucket_nocase) = (Vec::new(), Vec::new());
        for r in rules {
            if r.names.is_empty() {
                match r.needles() {
                    Some(n) => {
                        bucket_exact.extend(n.exact);
                        bucket_nocase.extend(n.nocase);
                    }
                    None => p.all = true,
                }
                continue;
            }
            // For a named rule only its condition's literals count (its event source is in
            // every record of that name anyway).
            let needles = r.cond.as_ref().and_then(crate::rules::Cond::needles);
            if let Some(n) = &needles {
                name_exact.extend(n.exact.iter().cloned());
                name_nocase.extend(n.nocase.iter().cloned());
            }
            for m in &r.names {
                match (m, needles.is_some()) {
                    (NameMatch::Exact(n), false) => {
                        p.names.insert(n.as_bytes().into());
                    }
                    (NameMatch::Exact(n), true) => {
                        needled_names.insert(n);
                    }
                    (NameMatch::Glob(_, g), false) => {
                        globs.add(Glob::clone(g.glob()));
                        any_glob = true;
                    }
                    (NameMatch::Glob(_, g), true) => {
                        needled_globs.add(Glob::clone(g.glob()));
                        any_needled_glob = true;
                    }
                }
            }
        }
        p.needled = needled_names
            .into_iter()
            .filter(|n| !p.names.contains(n.as_bytes()))
            .map(|n| n.as_bytes().into())
            .collect();
        // A set that cannot be built means "parse everything", never "match nothing".
        let mut set = |b: GlobSetBuilder, any: bool| match any.then(|| b.build()) {
            None => None,
            Some(Ok(set)) => Some(set),
            Some(Err(_)) => {
                p.all = true;
                None
            }
        };
        let (plain, needled) = (set(globs, any_glob), set(needled_globs, any_needled_glob));
        p.globs = plain;
        p.needled_globs = needled;
        match (
            Literals::build(name_exact, name_nocase),
            Literals::build(bucket_exact, bucket_nocase),
        ) {
            (Some(n), Some(b)) => {
                p.name_literals = n;
                p.bucket_literals = b;
            }
            _ => p.all = true,
        }
        p
    }

    /// A prefilter for a search: a record is a candidate when its text holds one of the
    /// literals the condition requires (every record when it requires none).
    pub fn for_cond(cond: &crate::rules::Cond) -> Prefilter {
        let Some(needles) = cond.needles() else {
            return Prefilter::everything();
        };
        match Literals::build(needles.exact, needles.nocase) {
            Some(lits) if !lits.is_empty() => Prefilter {
                bucket_literals: lits,
                ..Prefilter::new([])
            },
            _ => Prefilter::everything(),
        }
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
        let mut needled = false;
        for at in self.key.find_iter(raw) {
            seen = true;
            let Some(name) = string_after_key(raw, at + b"\"eventName\"".len()) else {
                return true;
            };
            match self.name_hit(name) {
                NameHit::Plain => return true,
                NameHit::Needled => needled = true,
                NameHit::None => {}
            }
        }
        if !seen {
            return true;
        }
        (needled && self.name_literals.found_in(raw))
            || (!self.bucket_literals.is_empty() && self.bucket_literals.found_in(raw))
    }

    fn name_hit(&self, name: &[u8]) -> NameHit {
        if self.names.contains(name) {
            return NameHit::Plain;
        }
        let needled = self.needled.contains(name);
        if self.globs.is_none() && self.needled_globs.is_none() {
            return if needled {
                NameHit::Needled
            } else {
                NameHit::None
            };
        }
        match self.glob_hit(name) {
            NameHit::None if needled => NameHit::Needled,
            hit => hit,
        }
    }

    /// Whether a name matches a rule's glob. Names repeat endlessly in CloudTrail (a few hundred
    /// distinct ones), so answers are remembered per thread.
    fn glob_hit(&self, name: &[u8]) -> NameHit {
        let id = self.id;
        GLOB_CACHE.with_borrow_mut(|(owner, cache)| {
            if *owner != id || cache.len() > 4096 {
                *owner = id;
                cache.clear();
            }
            if let Some(hit) = cache.get(name) {
                return *hit;
            }
            let hit = match std::str::from_utf8(name) {
                Err(_) => NameHit::Plain,
                Ok(n) if self.globs.as_ref().is_some_and(|g| g.is_match(n)) => NameHit::Plain,
                Ok(n) if self.needled_globs.as_ref().is_some_and(|g| g.is_match(n)) => {
                    NameHit::Needled
                }
                Ok(_) => NameHit::None,
            };
            cache.insert(name.into(), hit);
            hit
        })
    }
}

/// Glob answers by event name, tagged with the id of the prefilter that filled them.
type GlobCache = (u64, HashMap<Box<[u8]>, NameHit>);

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

    #[test]
    fn names_of_rules_with_literals_need_the_literal() {
        let text = r#"
rules:
  - { id: a, title: t, severity: low, description: d, match: { names: [CreateUser] },
      where: { field: userIdentity.type, equals: Root } }
  - { id: b, title: t, severity: low, description: d, match: { names: ["Delete*"] },
      where: { field: errorCode, prefix: AccessDenied } }
  - { id: c, title: t, severity: low, description: d, match: { names: [StopLogging] } }
  - { id: d, title: t, severity: low, description: d, match: { names: [StopLogging] },
      where: { field: userIdentity.type, equals: Root } }
"#;
        let loaded = crate::rules::yaml::parse("t.yaml", text, "user");
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let p = Prefilter::for_rules(&loaded.rules);
        assert!(!p.might_match(br#"{"eventName":"CreateUser","userIdentity":{"type":"IAMUser"}}"#));
        assert!(p.might_match(br#"{"eventName":"CreateUser","userIdentity":{"type":"Root"}}"#));
        assert!(!p.might_match(br#"{"eventName":"DeleteUser"}"#));
        assert!(p.might_match(br#"{"eventName":"DeleteUser","errorCode":"AccessDenied"}"#));
        // One rule on the name without literals makes the name a plain candidate.
        assert!(p.might_match(br#"{"eventName":"StopLogging"}"#));
        assert!(!p.might_match(br#"{"eventName":"GetObject","userIdentity":{"type":"Root"}}"#));
    }
}
