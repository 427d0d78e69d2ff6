//! `type = "pagerduty"`: PagerDuty Events API v2 (`POST /v2/enqueue`), one `trigger` event per
//! finding.
//!
//! The event's `dedup_key` is the finding's stable key (the same `Idempotency-Key` the webhooks
//! get), so a retry, a restart or a second watcher updates the same PagerDuty alert instead of
//! opening another. Severities map to PagerDuty's four: critical → `critical`, high → `error`,
//! medium → `warning`, low and info → `info`. `payload.custom_details` carries the finding (every
//! rule, the actor, the call, its error, what to check); `links` the CloudTrail console.
//!
//! What an answer means, as PagerDuty documents it: 202 the event was accepted; 400 the event is
//! invalid and never will be (dead letter at once, with PagerDuty's message and errors); 429 and
//! 5xx are retried with backoff (honouring `Retry-After`); any other status is refused for good.
//! A rate-limit summary is one `trigger` for the held findings, at their highest severity, with
//! counts and the first [`SUMMARY_LISTED`] findings in its details.

use super::{Env, Kind, Sent, Sink};
use crate::alert::secret::{Secret, redact_secret_url};
use crate::alert::{Delivery, SendError, http, render};
use crate::catalog::Severity;
use crate::finding::Finding;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// PagerDuty's Events API v2 endpoint.
pub const EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// `payload.summary` is at most this many characters.
const SUMMARY_MAX: usize = 1024;
/// Findings listed one by one in a summary's details (the rest are counted).
pub const SUMMARY_LISTED: usize = 50;

/// `[sinks.NAME]` with `type = "pagerduty"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The integration key of an Events API v2 integration (32 characters).
    pub routing_key: Secret,
    /// The Events API endpoint (`https://events.eu.pagerduty.com/v2/enqueue` for the EU service
    /// region; a stand-in in tests).
    #[serde(default = "default_url")]
    pub url: String,
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::units::de::duration"
    )]
    pub timeout: Duration,
}

fn default_url() -> String {
    EVENTS_URL.into()
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl Kind for Config {
    fn redacted(&self) -> serde_json::Value {
        json!({"type": "pagerduty", "routing_key": "***", "url": redact_secret_url(&self.url),
               "timeout_secs": self.timeout.as_secs()})
    }

    fn check(&self) -> Result<(), String> {
        let key = self.routing_key.expose();
        if key.chars().count() != 32 {
            return Err(format!(
                "routing_key: an Events API v2 integration key has 32 characters, this one {}",
                key.chars().count()
            ));
        }
        Ok(())
    }

    fn build(&self, _env: &Env<'_>) -> Result<Box<dyn Sink>, String> {
        Ok(Box::new(PagerDuty {
            config: self.clone(),
            http: http::client(self.timeout)?,
        }))
    }
}

struct PagerDuty {
    config: Config,
    http: reqwest::Client,
}

/// PagerDuty's severity for a finding's.
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "info",
    }
}

/// At most `max` characters, with `…` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// One line saying what happened: title, actor, account and region.
fn summary_line(f: &Finding, count: u64) -> String {
    let mut s = format!("[{}] {}", f.severity.as_str().to_uppercase(), f.title);
    if let Some(actor) = f.actor.as_deref().filter(|a| !a.is_empty()) {
        s.push_str(&format!(" by {actor}"));
    }
    match (f.account_id.as_deref(), f.region.as_deref()) {
        (Some(a), Some(r)) => s.push_str(&format!(" in {a} ({r})")),
        (Some(a), None) => s.push_str(&format!(" in {a}")),
        _ => {}
    }
    if count > 1 {
        s.push_str(&format!(" ({count} times)"));
    }
    let s: String = s.chars().filter(|c| !c.is_control()).collect();
    cut(&s, SUMMARY_MAX)
}

/// Where it happened, as PagerDuty's `source`: `aws:ACCOUNT:REGION`, or the event source.
fn source(f: &Finding) -> String {
    match (f.account_id.as_deref(), f.region.as_deref()) {
        (Some(a), Some(r)) => format!("aws:{a}:{r}"),
        (Some(a), None) => format!("aws:{a}"),
        _ => f
            .event_source
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "trailwatch".into()),
    }
}

/// The trigger event of one finding.
pub fn trigger(routing_key: &str, d: &Delivery) -> Value {
    let f = &d.finding;
    let mut payload = json!({
        "summary": summary_line(f, d.count),
        "source": source(f),
        "severity": severity(f.severity),
        "component": f.service,
        "class": f.rule_id,
        "custom_details": render::webhook::with_count(f, d.count).as_ref(),
    });
    if let Some(a) = f.account_id.as_deref().filter(|a| !a.is_empty()) {
        payload["group"] = a.into();
    }
    if let Some(t) = f.event_time.as_deref().filter(|t| !t.is_empty()) {
        payload["timestamp"] = t.into();
    }
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": d.idempotency_key,
        "client": "trailwatch",
        "payload": payload,
    });
    if let Some(url) = render::console_url(f) {
        event["client_url"] = url.clone().into();
        event["links"] = json!([{"href": url, "text": "View in CloudTrail"}]);
    }
    event
}

/// The trigger event of a rate-limit summary: the highest severity held, counts by severity,
/// rule and account, and the first [`SUMMARY_LISTED`] findings.
pub fn summary_trigger(routing_key: &str, items: &[Delivery], why: &str) -> Value {
    let (subject, _, _) = super::summary(items);
    let top = items
        .iter()
        .map(|d| d.finding.severity)
        .max()
        .unwrap_or_default();
    let mut by_severity: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_rule: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_account: BTreeMap<&str, u64> = BTreeMap::new();
    for d in items {
        let f = &d.finding;
        *by_severity.entry(f.severity.as_str()).or_default() += d.count;
        *by_rule.entry(f.rule_id.as_str()).or_default() += d.count;
        *by_account
            .entry(f.account_id.as_deref().unwrap_or("-"))
            .or_default() += d.count;
    }
    let listed: Vec<Value> = items
        .iter()
        .take(SUMMARY_LISTED)
        .map(|d| {
            let f = &d.finding;
            json!({"rule_id": f.rule_id, "severity": f.severity.as_str(), "title": f.title,
                   "actor": f.actor, "account_id": f.account_id, "region": f.region,
                   "event_time": f.event_time, "event_id": f.event_id, "count": d.count})
        })
        .collect();
    let key = format!(
        "summary-{}",
        items.first().map_or("", |d| d.idempotency_key.as_str())
    );
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": cut(&key, 255),
        "client": "trailwatch",
        "payload": {
            "summary": cut(&format!("[{}] trailwatch: {subject} ({why})",
                                    top.as_str().to_uppercase()), SUMMARY_MAX),
            "source": "trailwatch",
            "severity": severity(top),
            "class": "summary",
            "custom_details": {
                "reason": why, "findings": items.len(),
                "by_severity": by_severity, "by_rule": by_rule, "by_account": by_account,
                "listed": listed, "not_listed": items.len().saturating_sub(SUMMARY_LISTED),
            },
        },
    })
}

/// PagerDuty's own words about a refused event: `message` and `errors` of its JSON answer.
fn explain(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return String::new();
    };
    let mut out = String::new();
    if let Some(m) = v["message"].as_str() {
        out.push_str(": ");
        out.push_str(m);
    }
    let errors: Vec<&str> = v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !errors.is_empty() {
        out.push_str(": ");
        out.push_str(&errors.join("; "));
    }
    cut(&out, 500)
}

impl PagerDuty {
    async fn post(&self, event: Value) -> Result<Sent, SendError> {
        let resp = self
            .http
            .post(&self.config.url)
            .header("content-type", "application/json")
            .body(event.to_string())
            .send()
            .await
            .map_err(http::transport_error)?;
        let status = resp.status().as_u16();
        let after = http::retry_after(resp.headers());
        let body = resp.text().await.unwrap_or_default();
        http::classify(status, after, || format!(" from PagerDuty{}", explain(&body)))?;
        Ok(Sent::Done)
    }
}

#[async_trait::async_trait]
impl Sink for PagerDuty {
    async fn send(&self, d: &Delivery) -> Result<Sent, SendError> {
        self.post(trigger(self.config.routing_key.expose(), d))
            .await
    }

    async fn send_summary(&self, items: &[Delivery], why: &str) -> Result<Sent, SendError> {
        self.post(summary_trigger(self.config.routing_key.expose(), items, why))
            .await
    }

    fn parallelism(&self) -> usize {
        4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(severity: Severity, count: u64) -> Delivery {
        let mut finding = render::sample_finding();
        finding.severity = severity;
        Delivery {
            finding,
            idempotency_key: "k-1".into(),
            count,
        }
    }

    #[test]
    fn severities_map_to_pagerdutys_four() {
        let got: Vec<&str> = Severity::ALL.iter().map(|s| severity(*s)).collect();
        assert_eq!(got, ["info", "info", "warning", "error", "critical"]);
    }

    #[test]
    fn trigger_has_the_documented_fields_within_their_limits() {
        let mut d = delivery(Severity::High, 3);
        d.finding.title = "x".repeat(3000);
        let e = trigger("R".repeat(32).as_str(), &d);
        assert_eq!(e["event_action"], "trigger");
        assert_eq!(e["dedup_key"], "k-1");
        let p = &e["payload"];
        assert_eq!(p["severity"], "error");
        assert_eq!(p["summary"].as_str().unwrap().chars().count(), SUMMARY_MAX);
        assert!(!p["source"].as_str().unwrap().is_empty());
        assert_eq!(p["custom_details"]["count"], 3);
        assert_eq!(p["custom_details"]["rule_id"], d.finding.rule_id.as_str());
    }

    #[test]
    fn summary_counts_and_lists_at_the_highest_severity() {
        let mut items: Vec<Delivery> = (0..60).map(|_| delivery(Severity::Low, 1)).collect();
        items.push(delivery(Severity::Critical, 2));
        let e = summary_trigger("key", &items, "61 above the rate limit");
        assert_eq!(e["payload"]["severity"], "critical");
        let details = &e["payload"]["custom_details"];
        assert_eq!(details["listed"].as_array().unwrap().len(), SUMMARY_LISTED);
        assert_eq!(details["not_listed"], 11);
        assert_eq!(details["by_severity"]["low"], 60);
        assert_eq!(details["by_severity"]["critical"], 2);
    }

    #[test]
    fn explains_pagerdutys_refusals() {
        let body = r#"{"status":"invalid event","message":"Event object is invalid","errors":["'payload.summary' is missing or blank"]}"#;
        assert_eq!(
            explain(body),
            ": Event object is invalid: 'payload.summary' is missing or blank"
        );
        assert_eq!(explain("<html>"), "");
    }
}
