//! Findings: what trailwatch reports about one event (a record that matched one or more rules),
//! or about a threshold that a rule's matches reached (an aggregate finding).
//!
//! An event finding carries every rule that matched it (`rules`, highest severity first); its
//! `rule_id`, `pack`, `title`, `summary` and `why` are those of the first (top) rule, so readers
//! of the one-rule schema keep working. Every output format (JSONL, JSON, CSV, table) carries the
//! same keys, in this order. Values the record does not have are `null`.

use crate::catalog::{Entry, Severity};
use crate::record::{Record, time};
use crate::rules::Rule;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One rule that matched an event, as a finding lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RuleHit {
    pub id: String,
    pub pack: String,
    pub title: String,
    /// The rule's severity for this event: lowered by the rule's `lower_when` when one holds,
    /// and one level lower for a failed call (see [`Outcome`]).
    pub severity: Severity,
    /// Why the rule's severity was lowered for this event (its `lower_when` reason), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowered: Option<String>,
}

/// Whether the call the record logs succeeded. A failed call is an attempt.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    #[default]
    Success,
    /// The record has an `errorCode` (or is a console sign-in whose result is `Failure`).
    Failure,
}

impl Outcome {
    /// The outcome of the call a record logs.
    pub fn of(record: &Record) -> Outcome {
        use sonic_rs::JsonValueTrait;
        let login_failed = || {
            record
                .value()
                .pointer(["responseElements", "ConsoleLogin"])
                .and_then(|v| v.as_str())
                == Some("Failure")
        };
        if record.str("errorCode").is_some_and(|c| !c.is_empty()) || login_failed() {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// One event (every rule that matched it), or one threshold reached.
/// Deserializing reads what serializing wrote (findings leaving the outbox); the fields that
/// are never written take their defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    /// `guide.<service>.<EventName>` for catalog entries.
    pub rule_id: String,
    /// The rule pack: `guide` for the built-in catalog.
    pub pack: String,
    pub title: String,
    /// The highest severity of `rules` (after the one-level drop of a failed call).
    pub severity: Severity,
    /// `success`, or `failure` when the call failed (an attempt).
    #[serde(default)]
    pub outcome: Outcome,
    /// Every rule that matched the event, highest severity first; for a threshold finding,
    /// its one rule.
    #[serde(default)]
    pub rules: Vec<RuleHit>,
    /// CIS / Security Hub control ids of every matched rule, each once, in rule order.
    #[serde(default)]
    pub controls: Vec<String>,
    /// MITRE ATT&CK tactic and technique ids of every matched rule (built-in `attack:` keys and
    /// Sigma `attack.*` tags), each once, in rule order.
    #[serde(default)]
    pub attack: Vec<String>,
    /// Service slug of the top rule (see `trailwatch catalog`).
    pub service: String,
    pub event_source: Option<String>,
    pub event_name: Option<String>,
    /// RFC 3339 in UTC when `eventTime` could be read; otherwise as written.
    pub event_time: Option<String>,
    pub event_id: Option<String>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    /// The principal's ARN, or the best description of who acted.
    pub actor: Option<String>,
    pub actor_type: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub read_only: Option<bool>,
    pub summary: String,
    pub why: String,
    /// Where the record was read: `path#N` (N-th record of the file) or `path:LINE` (JSON Lines).
    pub location: String,
    /// Threshold findings: how many matching records fell within the window; with dedup: how
    /// many findings this one stands for (itself included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Threshold and deduplicated findings: event time of the first record they stand for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_time: Option<String>,
    /// Threshold and deduplicated findings: event time of the last record they stand for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_time: Option<String>,
    /// Threshold findings: the values of the rule's `group_by` fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<std::collections::BTreeMap<String, Option<String>>>,
    /// Threshold (aggregate) findings: `true`; they stand for many records, not one event.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub aggregate: bool,
    /// With `--show-suppressed`: the reason of the suppression that matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed_by: Option<String>,
    #[serde(skip)]
    pub time: Option<Timestamp>,
    /// Values of the rule's dedup key fields (see `noise`).
    #[serde(skip)]
    pub dedup_key: Option<String>,
    /// Values of the rule's threshold `group_by` fields.
    #[serde(skip)]
    pub group_key: Option<String>,
    /// With dedup: the number of the window this finding opened, which later repeats fold into.
    #[serde(skip)]
    pub window: Option<u64>,
    /// Index in the engine of the rule whose dedup and threshold policy applies: the top rule,
    /// or the first rule at the event's severity with a dedup window.
    #[serde(skip)]
    pub rule: usize,
    /// The record itself as compact JSON, when the caller asked to keep it (the HTML report
    /// shows the raw event of each finding); `None` otherwise. Never serialized.
    #[serde(skip)]
    pub raw: Option<std::sync::Arc<str>>,
}

/// The keys every finding has, in output order (the CSV header; lists are joined by `;`).
pub const KEYS: &[&str] = &[
    "rule_id",
    "pack",
    "title",
    "severity",
    "outcome",
    "rules",
    "controls",
    "attack",
    "service",
    "event_source",
    "event_name",
    "event_time",
    "event_id",
    "account_id",
    "region",
    "actor",
    "actor_type",
    "source_ip",
    "user_agent",
    "error_code",
    "error_message",
    "read_only",
    "summary",
    "why",
    "location",
];

impl Finding {
    /// The finding a catalog entry raises on a record.
    pub fn from_entry(entry: &Entry, record: &Record, location: String) -> Finding {
        Finding::from_rule(&crate::rules::from_entry(entry), record, location)
    }

    /// The finding a rule raises on a record (`why` left empty when the rule has none), at the
    /// rule's own severity; the engine adds the other rules of the event.
    pub fn from_rule(rule: &Rule, record: &Record, location: String) -> Finding {
        let owned = |s: Option<&str>| s.map(str::to_string);
        let raw_time = record.event_time_raw();
        let time = raw_time.and_then(time::parse_event_time);
        let service = rule
            .service
            .clone()
            .unwrap_or_else(|| service_of(record.event_source()));
        Finding {
            rule_id: rule.id.clone(),
            pack: rule.pack.clone(),
            title: rule.title.clone(),
            severity: rule.severity,
            outcome: Outcome::of(record),
            rules: vec![RuleHit {
                id: rule.id.clone(),
                pack: rule.pack.clone(),
                title: rule.title.clone(),
                severity: rule.severity,
                lowered: None,
            }],
            controls: rule.controls.clone(),
            attack: rule.attack.clone(),
            service,
            event_source: owned(record.event_source()),
            event_name: owned(record.event_name()),
            event_time: time.map(time::format).or_else(|| owned(raw_time)),
            event_id: owned(record.str("eventID")),
            account_id: owned(record.account_id()),
            region: owned(record.region()),
            actor: record.actor(),
            actor_type: owned(record.actor_type()),
            source_ip: owned(record.str("sourceIPAddress")),
            user_agent: owned(record.str("userAgent")),
            error_code: owned(record.str("errorCode")),
            error_message: owned(record.str("errorMessage")),
            read_only: record.read_only(),
            summary: rule.description.clone(),
            why: rule.why.clone().unwrap_or_default(),
            location,
            count: None,
            first_time: None,
            last_time: None,
            group: None,
            aggregate: false,
            suppressed_by: None,
            time,
            dedup_key: None,
            group_key: None,
            window: None,
            rule: 0,
            raw: None,
        }
    }

    /// A finding about the trail itself rather than one of its events (a digest that fails, a
    /// trail gone silent): an aggregate with one rule, identified by `id` (unique per occurrence),
    /// at `time` (RFC 3339) in `account` and `region`.
    pub fn about_trail(
        rule: &Rule,
        id: String,
        time: Timestamp,
        where_: (&str, &str),
        summary: String,
        location: String,
    ) -> Finding {
        Finding {
            rule_id: rule.id.clone(),
            pack: rule.pack.clone(),
            title: rule.title.clone(),
            severity: rule.severity,
            outcome: Outcome::Success,
            rules: vec![RuleHit {
                id: rule.id.clone(),
                pack: rule.pack.clone(),
                title: rule.title.clone(),
                severity: rule.severity,
                lowered: None,
            }],
            controls: rule.controls.clone(),
            attack: rule.attack.clone(),
            service: rule.service.clone().unwrap_or_else(|| "cloudtrail".into()),
            event_source: Some("cloudtrail.amazonaws.com".into()),
            event_name: None,
            event_time: Some(time::format(time)),
            event_id: Some(id),
            account_id: Some(where_.0.to_string()),
            region: Some(where_.1.to_string()),
            actor: None,
            actor_type: None,
            source_ip: None,
            user_agent: None,
            error_code: None,
            error_message: None,
            read_only: None,
            summary,
            why: rule.why.clone().unwrap_or_default(),
            location,
            count: None,
            first_time: None,
            last_time: None,
            group: None,
            aggregate: true,
            suppressed_by: None,
            time: Some(time),
            dedup_key: None,
            group_key: None,
            window: None,
            rule: 0,
            raw: None,
        }
    }

    /// What identifies this finding across deliveries: the event (its `eventID`, or for records
    /// without one, the time, source, name, actor and source address), and for a threshold
    /// finding also its rule. The same record has the same key, whichever object it came in and
    /// whichever rules matched it.
    pub fn identity(&self) -> String {
        let event = match &self.event_id {
            Some(id) => id.clone(),
            None => [
                &self.event_time,
                &self.event_source,
                &self.event_name,
                &self.actor,
                &self.source_ip,
            ]
            .iter()
            .map(|v| v.as_deref().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("|"),
        };
        if self.aggregate {
            format!("{}\u{1f}{event}", self.rule_id)
        } else {
            format!("event\u{1f}{event}")
        }
    }

    /// The matched rule ids, joined by `;` (the CSV `rules` column).
    pub fn rule_ids(&self) -> String {
        let ids: Vec<&str> = self.rules.iter().map(|r| r.id.as_str()).collect();
        ids.join(";")
    }

    /// An empty finding of a rule, for tests.
    #[doc(hidden)]
    pub fn blank(rule_id: &str) -> Finding {
        let mut rule = crate::rules::from_entry(&Entry::default());
        rule.id = rule_id.to_string();
        let record = match Record::parse_text(br#"{"eventSource":"x","eventName":"y"}"#) {
            Ok(crate::record::Parsed::Record(r)) => r,
            _ => unreachable!("a valid record"),
        };
        Finding::from_rule(&rule, &record, String::new())
    }

    /// The value of one of [`KEYS`] as text, for tables and CSV (`None` for null).
    pub fn field(&self, key: &str) -> Option<String> {
        let s = |v: &Option<String>| v.clone();
        match key {
            "rule_id" => Some(self.rule_id.clone()),
            "pack" => Some(self.pack.clone()),
            "title" => Some(self.title.clone()),
            "severity" => Some(self.severity.to_string()),
            "outcome" => Some(self.outcome.as_str().to_string()),
            "rules" => Some(self.rule_ids()),
            "controls" => Some(self.controls.join(";")),
            "attack" => Some(self.attack.join(";")),
            "service" => Some(self.service.clone()),
            "event_source" => s(&self.event_source),
            "event_name" => s(&self.event_name),
            "event_time" => s(&self.event_time),
            "event_id" => s(&self.event_id),
            "account_id" => s(&self.account_id),
            "region" => s(&self.region),
            "actor" => s(&self.actor),
            "actor_type" => s(&self.actor_type),
            "source_ip" => s(&self.source_ip),
            "user_agent" => s(&self.user_agent),
            "error_code" => s(&self.error_code),
            "error_message" => s(&self.error_message),
            "read_only" => self.read_only.map(|b| b.to_string()),
            "summary" => Some(self.summary.clone()),
            "why" => Some(self.why.clone()),
            "location" => Some(self.location.clone()),
            _ => None,
        }
    }
}

/// The service part of an eventSource (`iam.amazonaws.com` → `iam`).
fn service_of(source: Option<&str>) -> String {
    let s = source.unwrap_or("unknown");
    s.strip_suffix(".amazonaws.com").unwrap_or(s).to_string()
}
