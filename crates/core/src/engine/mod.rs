//! The matching engine: decides which rules a record raises, fast.
//!
//! Rules are indexed by exact `eventName` (then checked against `eventSource` and their
//! condition), so a record costs one hash lookup however many such rules are loaded. Rules with
//! name globs, and rules that constrain no name at all, sit in two small lists checked for every
//! parsed record. The engine also owns the [`Prefilter`] built from the same rules, which lets
//! the scan skip parsing records that cannot match. Suppressions are applied here, where the
//! record is at hand; dedup and thresholds later, in order (the `noise` module, which runs after
//! the engine).
//! Pure and synchronous: no I/O, no async.

mod filter;
mod prefilter;

pub use filter::Filter;
pub use prefilter::Prefilter;

use crate::catalog::Severity;
use crate::finding::{Finding, Outcome as CallOutcome, RuleHit};
use crate::record::Record;
use crate::rules::{FieldPath, NameMatch, Policy, Rule, Suppression};
use globset::{GlobSet, GlobSetBuilder};
use jiff::civil::Date;
use std::collections::HashMap;

/// Compiled rules, ready to match records.
#[derive(Debug, Clone)]
pub struct Engine {
    rules: Vec<Rule>,
    /// eventName → rules naming it exactly.
    by_name: HashMap<Box<str>, Vec<usize>>,
    /// Every rule's `eventName` globs as one automaton, and the rule each glob belongs to.
    globs: GlobSet,
    glob_rule: Vec<usize>,
    /// Rules that constrain no eventName.
    bucket: Vec<usize>,
    prefilter: Prefilter,
    /// Suppressions for every rule (`--suppress`), and today's date for their expiry.
    suppressions: Vec<Suppression>,
    today: Option<Date>,
    show_suppressed: bool,
    /// (eventSource, eventName) → catalog explanation, for rules without their own `why`.
    explain: HashMap<(Box<str>, Box<str>), Box<str>>,
}

/// What matching one record produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    /// Rule id and suppression reason of each rule silenced on the record.
    pub suppressed: Vec<(String, String)>,
}

impl Engine {
    /// Builds an engine from rules (already narrowed by `--service`, `--event`, ...).
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> Engine {
        let rules: Vec<Rule> = rules.into_iter().collect();
        let mut by_name: HashMap<Box<str>, Vec<usize>> = HashMap::new();
        let (mut globs, mut glob_rule, mut bucket) =
            (GlobSetBuilder::new(), Vec::new(), Vec::new());
        for (i, r) in rules.iter().enumerate() {
            if r.names.is_empty() {
                bucket.push(i);
            }
            for n in &r.names {
                match n {
                    NameMatch::Exact(n) => {
                        let slot = by_name.entry(n.as_str().into()).or_default();
                        if slot.last() != Some(&i) {
                            slot.push(i);
                        }
                    }
                    NameMatch::Glob(_, g) => {
                        globs.add(g.glob().clone());
                        glob_rule.push(i);
                    }
                }
            }
        }
        // Each glob compiled on its own already, so the set builds; if not, no glob matches.
        let globs = globs.build().unwrap_or_else(|_| GlobSet::empty());
        let prefilter = Prefilter::for_rules(&rules);
        Engine {
            rules,
            by_name,
            globs,
            glob_rule,
            bucket,
            prefilter,
            suppressions: Vec::new(),
            today: None,
            show_suppressed: false,
            explain: HashMap::new(),
        }
    }

    /// Adds suppressions for every rule; `today` decides which have expired.
    pub fn with_suppressions(mut self, s: Vec<Suppression>, today: Date, show: bool) -> Engine {
        self.suppressions = s;
        self.today = Some(today);
        self.show_suppressed = show;
        self
    }

    /// Explanations to fall back on for rules without a `why` (the catalog's, by event).
    pub fn with_explanations(mut self, catalog: &crate::catalog::Catalog) -> Engine {
        for e in catalog.entries() {
            for s in &e.event_sources {
                self.explain.insert(
                    (s.as_str().into(), e.event_name.as_str().into()),
                    e.why.as_str().into(),
                );
            }
        }
        self
    }

    pub fn prefilter(&self) -> &Prefilter {
        &self.prefilter
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Number of rules loaded.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The dedup/threshold policy of a finding: its rule's, or for an event, that of the rule
    /// its repeats fold by (see [`Engine::evaluate`]).
    pub fn policy(&self, f: &Finding) -> Policy {
        self.rules.get(f.rule).map(Rule::policy).unwrap_or(Policy {
            dedup: None,
            threshold: None,
        })
    }

    /// Suppressions whose expiry date has passed (ignored), for the summary.
    pub fn expired_suppressions(&self) -> Vec<&Suppression> {
        let Some(today) = self.today else {
            return Vec::new();
        };
        let per_rule = self.rules.iter().flat_map(|r| &r.suppress);
        self.suppressions
            .iter()
            .chain(per_rule)
            .filter(|s| s.expired(today))
            .collect()
    }

    /// The rules a record matches.
    pub fn matching<'a>(
        &'a self,
        record: &'a Record,
    ) -> impl Iterator<Item = (usize, &'a Rule)> + 'a {
        let source = record.event_source();
        let name = record.event_name();
        let exact = name
            .and_then(|n| self.by_name.get(n))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut globbed: Vec<usize> = match name {
            Some(n) if !self.glob_rule.is_empty() => self
                .globs
                .matches(n)
                .into_iter()
                .map(|g| self.glob_rule[g])
                .collect(),
            _ => Vec::new(),
        };
        globbed.sort_unstable();
        globbed.dedup();
        // A rule may name an event exactly and by a glob; run it once.
        globbed.retain(|i| !exact.contains(i));
        // The name is already known to match: check the source and the condition.
        exact
            .iter()
            .copied()
            .chain(globbed)
            .chain(self.bucket.iter().copied())
            .map(|i| (i, &self.rules[i]))
            .filter(move |(_, r)| r.matches_after_name(source, record.value()))
    }

    /// The findings a record raises, and the rules suppressed on it with their reasons.
    ///
    /// Every rule without a threshold that matches (and is not suppressed) lands on one event
    /// finding, highest severity first; the top rule gives `rule_id`, `title`, `summary` and
    /// `why`, and the first rule at the top severity with a dedup window gives the dedup policy
    /// (none when no such rule has one). A rule's first `lower_when` condition that holds sets its severity
    /// for the record; a failed call then lowers it one level unless the rule keeps it
    /// (`on_failure: keep`). Each threshold rule's match is a finding of its own, which
    /// [`crate::noise`] turns into an aggregate finding when the count is reached. A suppression
    /// silences the rules it names; the event is dropped (or, with `--show-suppressed`, marked
    /// with the top rule's reason) only when no rule is left.
    pub fn evaluate(&self, record: &Record, mut location: impl FnMut() -> String) -> Outcome {
        let mut out = Outcome::default();
        if record.is_insight() {
            return out;
        }
        let failed = CallOutcome::of(record) == CallOutcome::Failure;
        let mut hits: Vec<Hit> = Vec::new();
        for (i, rule) in self.matching(record) {
            let reason = self.suppressed_by(rule, record);
            if let Some(r) = &reason {
                out.suppressed.push((rule.id.clone(), r.clone()));
            }
            if rule.threshold.is_some() {
                if reason.is_none() || self.show_suppressed {
                    let mut f = self.finding(i, rule.severity, record, &mut location);
                    f.suppressed_by = reason;
                    out.findings.push(f);
                }
                continue;
            }
            let lowering = rule.lower_when.iter().find(|l| l.cond.eval(record.value()));
            let mut severity = lowering.map_or(rule.severity, |l| l.severity);
            if failed && !rule.keep_on_failure {
                severity = lower(severity);
            }
            hits.push(Hit {
                rule: i,
                severity,
                lowered: lowering.map(|l| l.reason.clone()),
                suppressed_by: reason,
            });
        }
        let live = hits.iter().any(|h| h.suppressed_by.is_none());
        if live {
            hits.retain(|h| h.suppressed_by.is_none());
        } else if !self.show_suppressed {
            hits.clear();
        }
        // Highest severity first; among equals, the engine's (load) order.
        hits.sort_by_key(|h| (std::cmp::Reverse(h.severity), h.rule));
        if let Some(top) = hits.first() {
            let mut f = self.finding(top.rule, top.severity, record, &mut location);
            f.suppressed_by = top.suppressed_by.clone();
            // Repeats fold by the first rule at the event's severity that has a dedup window
            // (the top rule when it has one): `cis.cloudwatch-1` and `baseline.root-activity`
            // both say "root", and the baseline rule knows how to fold root activity.
            let folding = hits
                .iter()
                .take_while(|h| h.severity == top.severity)
                .find(|h| self.rules[h.rule].dedup.is_some());
            if let Some(h) = folding.filter(|h| h.rule != top.rule)
                && let Some(d) = &self.rules[h.rule].dedup
            {
                f.rule = h.rule;
                f.dedup_key = Some(key_of(record, &d.key, true));
            }
            f.rules = hits
                .iter()
                .map(|h| {
                    let r = &self.rules[h.rule];
                    RuleHit {
                        id: r.id.clone(),
                        pack: r.pack.clone(),
                        title: r.title.clone(),
                        severity: h.severity,
                        lowered: h.lowered.clone(),
                    }
                })
                .collect();
            // The top rule's ids are already there; add the others' once each.
            for h in &hits[1..] {
                let r = &self.rules[h.rule];
                union(&mut f.controls, &r.controls);
                union(&mut f.attack, &r.attack);
            }
            // The event comes before the threshold matches of the same record.
            out.findings.insert(0, f);
        }
        out
    }

    /// The finding rule `i` raises on a record at `severity`, with its dedup and threshold keys.
    fn finding(
        &self,
        i: usize,
        severity: Severity,
        record: &Record,
        location: &mut impl FnMut() -> String,
    ) -> Finding {
        let rule = &self.rules[i];
        let mut f = Finding::from_rule(rule, record, location());
        f.rule = i;
        f.severity = severity;
        if let Some(hit) = f.rules.first_mut() {
            hit.severity = severity;
        }
        if f.why.is_empty()
            && let (Some(s), Some(n)) = (record.event_source(), record.event_name())
            && let Some(why) = self.explain.get(&(s.into(), n.into()))
        {
            f.why = why.to_string();
        }
        if let Some(d) = &rule.dedup {
            f.dedup_key = Some(key_of(record, &d.key, true));
        }
        if let Some(t) = &rule.threshold {
            f.aggregate = true;
            f.group_key = Some(key_of(record, &t.group_by, false));
            f.group = (!t.group_by.is_empty()).then(|| {
                t.group_by
                    .iter()
                    .map(|p| (p.to_string(), p.first_text(record.value())))
                    .collect()
            });
        }
        f
    }

    fn suppressed_by(&self, rule: &Rule, record: &Record) -> Option<String> {
        let live = |s: &&Suppression| self.today.is_none_or(|d| !s.expired(d));
        let mut all = rule.suppress.iter().chain(&self.suppressions).filter(live);
        all.find(|s| s.matches(&rule.id, record))
            .map(|s| s.reason.clone())
    }
}

/// One rule that matched a record, before the record's finding is built.
struct Hit {
    /// Index of the rule in the engine.
    rule: usize,
    /// The rule's severity for this record: after `lower_when`, and one level lower for a
    /// failed call unless the rule keeps it.
    severity: Severity,
    /// The reason of the `lower_when` item that applied.
    lowered: Option<String>,
    suppressed_by: Option<String>,
}

/// Appends the ids of `more` that `into` does not have yet, in order.
fn union(into: &mut Vec<String>, more: &[String]) {
    for id in more {
        if !into.contains(id) {
            into.push(id.clone());
        }
    }
}

/// One severity level lower (an attempt); `info` stays `info`.
fn lower(s: Severity) -> Severity {
    match s {
        Severity::Critical => Severity::High,
        Severity::High => Severity::Medium,
        Severity::Medium => Severity::Low,
        Severity::Low | Severity::Info => Severity::Info,
    }
}

/// The values of `fields` joined into one key; with no fields, the actor and event name (dedup's
/// default) or nothing (a threshold over every match).
fn key_of(record: &Record, fields: &[FieldPath], default_actor: bool) -> String {
    if fields.is_empty() {
        if !default_actor {
            return String::new();
        }
        return format!(
            "{}\u{1f}{}",
            record.actor().unwrap_or_default(),
            record.event_name().unwrap_or_default()
        );
    }
    let parts: Vec<String> = fields
        .iter()
        .map(|p| p.first_text(record.value()).unwrap_or_default())
        .collect();
    parts.join("\u{1f}")
}

#[cfg(test)]
mod event_tests;
#[cfg(test)]
mod judge_tests;
#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::record::Parsed;
    use crate::rules::from_entry;

    fn rec(json: &str) -> Record {
        match Record::parse_item(json.as_bytes(), 2).unwrap() {
            Parsed::Record(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn guide() -> Engine {
        Engine::new(Catalog::builtin().unwrap().entries().iter().map(from_entry))
    }

    #[test]
    fn matches_on_source_and_name_only() {
        let engine = guide();
        let ids = |json: &str| -> Vec<String> {
            let out = engine.evaluate(&rec(json), || "t#1".into());
            out.findings.into_iter().map(|f| f.rule_id).collect()
        };
        assert_eq!(
            ids(r#"{"eventSource":"iam.amazonaws.com","eventName":"DeletePolicy"}"#),
            vec!["guide.iam.DeletePolicy"]
        );
        assert_eq!(
            ids(r#"{"eventSource":"autoscaling.amazonaws.com","eventName":"DeletePolicy"}"#),
            vec!["guide.autoscaling.DeletePolicy"]
        );
        assert!(
            ids(r#"{"eventSource":"events.amazonaws.com","eventName":"DeleteRule"}"#).is_empty()
        );
        assert!(
            ids(r#"{"eventSource":"guardduty.amazonaws.com","eventName":"CreateIPSet"}"#)
                .is_empty()
        );
        assert!(
            ids(r#"{"eventSource":"transfer.amazonaws.com","eventName":"CreateUser"}"#).is_empty()
        );
        assert_eq!(
            ids(r#"{"eventSource":"wafv2.amazonaws.com","eventName":"CreateIPSet"}"#),
            vec!["guide.waf.CreateIPSet"]
        );
        assert_eq!(
            ids(r#"{"eventSource":"elasticloadbalancing.amazonaws.com","eventName":"DeleteRule"}"#),
            vec!["guide.elb.DeleteRule"]
        );
        assert_eq!(
            ids(
                r#"{"eventSource":"application-autoscaling.amazonaws.com","eventName":"PutScalingPolicy"}"#
            ),
            vec!["guide.autoscaling.PutScalingPolicy"]
        );
    }

    #[test]
    fn globs_buckets_and_suppressions() {
        let text = r#"
rules:
  - id: t.deletes
    title: Deletes
    severity: low
    description: d
    match: { names: ["Delete*"], sources: [s3.amazonaws.com] }
  - id: t.denied
    title: Denied
    severity: medium
    description: d
    where: { field: errorCode, equals: AccessDenied }
    suppress:
      - reason: scanner
        source_ip: [10.0.0.0/8]
"#;
        let loaded = crate::rules::yaml::parse("t.yaml", text, "user");
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let engine = Engine::new(loaded.rules);
        let ids = |json: &str| -> (Vec<String>, Vec<(String, String)>) {
            let out = engine.evaluate(&rec(json), || "t#1".into());
            assert!(out.findings.len() <= 1, "one finding per event");
            (
                out.findings
                    .into_iter()
                    .flat_map(|f| f.rules.into_iter().map(|r| r.id))
                    .collect(),
                out.suppressed,
            )
        };
        let (hit, _) = ids(
            r#"{"eventSource":"s3.amazonaws.com","eventName":"DeleteBucket","errorCode":"AccessDenied"}"#,
        );
        // One event, both rules, the higher severity first.
        assert_eq!(hit, ["t.denied", "t.deletes"]);
        let (hit, sup) = ids(
            r#"{"eventSource":"ec2.amazonaws.com","eventName":"X","errorCode":"AccessDenied","sourceIPAddress":"10.2.3.4"}"#,
        );
        assert!(hit.is_empty());
        assert_eq!(sup, [("t.denied".to_string(), "scanner".to_string())]);
        assert!(
            engine
                .prefilter()
                .might_match(br#"{"eventName":"Nope","errorCode":"AccessDenied"}"#)
        );
        assert!(
            !engine
                .prefilter()
                .might_match(br#"{"eventName":"Nope","errorCode":"Throttling"}"#)
        );
        assert!(
            engine
                .prefilter()
                .might_match(br#"{"eventName":"DeleteThing"}"#)
        );
    }
}
