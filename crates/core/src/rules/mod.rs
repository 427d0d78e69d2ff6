//! The rule model every front end compiles into: catalog entries, YAML rules and Sigma rules.
//!
//! A [`Rule`] says which records it applies to (`eventSource` values, `eventName` values or
//! globs, both optional), an optional [`Cond`] on any field, and what to report. Front ends:
//! [`from_entry`] (the built-in catalog), [`yaml`] (our format, also the built-in packs) and
//! [`sigma`]. Every rule also carries the MITRE ATT&CK ids ([`attack`]) and compliance controls
//! it stands for. Pure and synchronous.

pub mod attack;
pub mod cond;
pub mod expr;
pub mod lower;
pub mod packs;
pub mod path;
pub mod sigma;
pub mod suppress;
pub mod yaml;

pub use cond::{Cond, Needles};
pub use lower::Lowering;
pub use path::FieldPath;
pub use suppress::Suppression;

use crate::catalog::{Entry, Severity};
use globset::GlobMatcher;
use std::fmt;
use std::time::Duration;

/// Where a rule was defined, for error messages and `rules show`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: u64,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}", self.file, self.line)
        } else {
            f.write_str(&self.file)
        }
    }
}

/// A rule that could not be loaded. The other rules of the same file still load.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RuleError {
    #[error("{origin}: {message}")]
    File { origin: Origin, message: String },
    #[error("{origin}: rule '{id}': {message}")]
    Rule {
        origin: Origin,
        id: String,
        message: String,
    },
    /// A Sigma rule using something trailwatch does not support; skipped, not fatal.
    #[error("{origin}: sigma rule '{id}' skipped: {message}")]
    Unsupported {
        origin: Origin,
        id: String,
        message: String,
    },
    /// A Sigma rule loaded without a part trailwatch cannot read (an unknown `attack.` tag).
    #[error("{origin}: sigma rule '{id}': {message}")]
    Ignored {
        origin: Origin,
        id: String,
        message: String,
    },
}

impl RuleError {
    /// Whether this is a warning about an unsupported Sigma feature (the rule was skipped, or
    /// loaded without that part) rather than an error.
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            RuleError::Unsupported { .. } | RuleError::Ignored { .. }
        )
    }
}

/// Checks and normalises a compliance control id. Two spellings are accepted: Security Hub
/// control ids, `<Service>.<n>` (`CloudWatch.1`, `IAM.4`), and CIS AWS Foundations Benchmark
/// recommendations, `CIS <n>.<n>[.<n>]` (`CIS 4.3`; `cis 4.3` is written `CIS 4.3`).
pub fn control_id(text: &str) -> Result<String, String> {
    let text = text.trim();
    let numbered = |s: &str, parts: std::ops::RangeInclusive<usize>| {
        let n: Vec<&str> = s.split('.').collect();
        parts.contains(&n.len())
            && n.iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    if let Some(rest) = text
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("cis "))
        .map(|_| text[4..].trim())
    {
        if numbered(rest, 2..=3) {
            return Ok(format!("CIS {rest}"));
        }
    } else if let Some((service, n)) = text.split_once('.') {
        let service_ok = service.starts_with(|c: char| c.is_ascii_uppercase())
            && service.chars().all(|c| c.is_ascii_alphanumeric());
        if service_ok && numbered(n, 1..=1) {
            return Ok(text.to_string());
        }
    }
    Err(format!(
        "control '{text}' is neither a Security Hub control id (CloudWatch.1) nor a CIS recommendation (CIS 4.3)"
    ))
}

/// An `eventName` constraint.
#[derive(Debug, Clone)]
pub enum NameMatch {
    Exact(String),
    Glob(String, GlobMatcher),
}

impl NameMatch {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            NameMatch::Exact(n) => n == name,
            NameMatch::Glob(_, g) => g.is_match(name),
        }
    }

    pub fn text(&self) -> &str {
        match self {
            NameMatch::Exact(n) | NameMatch::Glob(n, _) => n,
        }
    }
}

/// Fold repeats of a finding into the first one for a while.
#[derive(Debug, Clone)]
pub struct Dedup {
    /// Fields whose values make two findings "the same"; empty means actor + event name.
    pub key: Vec<FieldPath>,
    pub window: Duration,
}

/// Raise a finding only when enough matching records fall within a window.
#[derive(Debug, Clone)]
pub struct Threshold {
    pub count: u32,
    pub window: Duration,
    pub group_by: Vec<FieldPath>,
}

/// The stateful parts of a rule, as dedup and thresholds need them (see `noise`).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub dedup: Option<Duration>,
    pub threshold: Option<(u32, Duration)>,
}

/// An example record a rule must (or must not) match, written beside the rule.
#[derive(Debug, Clone)]
pub struct RuleTest {
    pub name: String,
    pub record: serde_json::Value,
    pub expect_match: bool,
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub pack: String,
    pub title: String,
    pub severity: Severity,
    /// What happened, in plain words (the finding's `summary`).
    pub description: String,
    /// Why it matters and what to check next (the finding's `why`).
    pub why: Option<String>,
    pub references: Vec<String>,
    /// MITRE ATT&CK tactic and technique ids, normalised (`TA0005`, `T1562.008`); see [`attack`].
    pub attack: Vec<String>,
    /// Compliance controls the rule implements or evidences (`CloudWatch.1`, `CIS 4.3`); see
    /// [`control_id`].
    pub controls: Vec<String>,
    /// Service slug for findings; derived from the event source when not given.
    pub service: Option<String>,
    /// `eventSource` values; empty means any.
    pub sources: Vec<String>,
    /// `eventName` constraints; empty means any.
    pub names: Vec<NameMatch>,
    pub cond: Option<Cond>,
    pub suppress: Vec<Suppression>,
    pub dedup: Option<Dedup>,
    pub threshold: Option<Threshold>,
    /// Keep the full severity when the call failed (`on_failure: keep`): the rule's point is
    /// the failure (access denied, failed sign-ins). Otherwise a failed call is an attempt, one
    /// level lower.
    pub keep_on_failure: bool,
    /// Conditions under which the match is less urgent (`lower_when`; see [`lower`]).
    pub lower_when: Vec<Lowering>,
    pub tests: Vec<RuleTest>,
    pub origin: Origin,
}

impl Rule {
    /// The rule's dedup window and threshold.
    pub fn policy(&self) -> Policy {
        Policy {
            dedup: self.dedup.as_ref().map(|d| d.window),
            threshold: self.threshold.as_ref().map(|t| (t.count, t.window)),
        }
    }

    /// Whether the rule applies to this `(eventSource, eventName)` and its condition holds.
    pub fn matches(
        &self,
        source: Option<&str>,
        name: Option<&str>,
        record: &sonic_rs::Value,
    ) -> bool {
        let source_ok =
            self.sources.is_empty() || source.is_some_and(|s| self.sources.iter().any(|x| x == s));
        let name_ok =
            self.names.is_empty() || name.is_some_and(|n| self.names.iter().any(|m| m.matches(n)));
        source_ok && name_ok && self.cond.as_ref().is_none_or(|c| c.eval(record))
    }

    /// [`Rule::matches`] for a record whose name is already known to satisfy `names`.
    pub fn matches_after_name(&self, source: Option<&str>, record: &sonic_rs::Value) -> bool {
        let source_ok =
            self.sources.is_empty() || source.is_some_and(|s| self.sources.iter().any(|x| x == s));
        source_ok && self.cond.as_ref().is_none_or(|c| c.eval(record))
    }

    /// Literals of which one must appear in the raw text of a matching record, for rules that
    /// constrain no event name (see [`Cond::needles`]).
    pub fn needles(&self) -> Option<Needles> {
        let from_sources = (!self.sources.is_empty())
            .then(|| {
                self.sources
                    .iter()
                    .map(|s| cond::needle(s))
                    .collect::<Option<Vec<_>>>()
            })
            .flatten()
            .map(|exact| Needles {
                exact,
                nocase: Vec::new(),
            });
        let from_cond = self.cond.as_ref().and_then(Cond::needles);
        match (from_sources, from_cond) {
            // The condition's literals are usually rarer than a service name.
            (_, Some(n)) => Some(n),
            (s, None) => s,
        }
    }
}

/// The rule for a catalog entry: `(eventSource, eventName)`, and the entry's `lower_when`.
/// A `lower_when` item that does not compile is left out here; [`from_entry_checked`] reports it
/// (the built-in packs are loaded that way, and a test keeps them clean).
pub fn from_entry(entry: &Entry) -> Rule {
    from_entry_checked(entry).0
}

/// [`from_entry`], and when the entry's `lower_when` was refused (the rule is then without it),
/// the reason.
pub fn from_entry_checked(entry: &Entry) -> (Rule, Option<RuleError>) {
    let mut rule = Rule {
        id: entry.rule_id(),
        pack: "guide".into(),
        title: entry.title.clone(),
        severity: entry.severity,
        description: entry.summary.clone(),
        why: Some(entry.why.clone()),
        references: Vec::new(),
        attack: entry.attack.clone(),
        controls: entry.controls.clone(),
        service: Some(entry.service.clone()),
        sources: entry.event_sources.clone(),
        names: vec![NameMatch::Exact(entry.event_name.clone())],
        cond: None,
        suppress: Vec::new(),
        dedup: None,
        threshold: None,
        keep_on_failure: false,
        lower_when: Vec::new(),
        tests: Vec::new(),
        origin: Origin {
            file: format!("catalog/{}.yaml", entry.service),
            line: 0,
        },
    };
    if entry.lower_when.is_empty() {
        return (rule, None);
    }
    let list = serde_json::Value::Array(entry.lower_when.clone());
    match lower::parse(Some(&list), entry.severity) {
        Ok(l) => {
            rule.lower_when = l;
            (rule, None)
        }
        Err(message) => {
            let e = RuleError::Rule {
                origin: rule.origin.clone(),
                id: rule.id.clone(),
                message,
            };
            (rule, Some(e))
        }
    }
}
