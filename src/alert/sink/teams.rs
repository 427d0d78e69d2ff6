//! `type = "teams"`: a Microsoft Teams channel through a Workflows ("Post to a channel when a
//! webhook request is received") or incoming-webhook URL, one Adaptive Card per finding.
//!
//! The card (schema 1.4, the version Teams renders) holds the title at the severity's colour,
//! what happened, why it matters, a fact set (actor, account and region, source address, call,
//! error, rules, ATT&CK ids, event time) and a "View in CloudTrail" button. Record text is
//! escaped for the card's Markdown subset, and the whole message stays under [`MESSAGE_MAX`]
//! bytes (Teams refuses messages over about 28 KB).
//!
//! What an answer means: 200/202 delivered — except a 200 whose body says the delivery failed
//! (the incoming-webhook connector reports a throttled or refused post that way), which is read
//! as the status it names; 429 and 5xx retried (honouring `Retry-After`); other 4xx (400 bad
//! card, 401/403/404 for a revoked or deleted webhook) dead letters at once with the answer's
//! text. A rate-limit summary is one card: counts by severity, rule and account, and the first
//! [`SUMMARY_LISTED`] findings.

use super::{Env, Kind, Sent, Sink};
use crate::alert::secret::{Secret, redact_secret_url};
use crate::alert::render::cut_escaped as cut;
use crate::alert::{Delivery, SendError, http, render};
use crate::catalog::Severity;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// The largest message posted, in bytes (under Teams' limit of about 28 KB, with room for the
/// envelope Teams adds).
pub const MESSAGE_MAX: usize = 24_000;
/// A text block's length before it is cut.
const TEXT_MAX: usize = 3_000;
/// A fact's value length before it is cut.
const FACT_MAX: usize = 600;
/// Findings listed one by one in a summary (the rest are counted).
pub const SUMMARY_LISTED: usize = 20;

/// `[sinks.NAME]` with `type = "teams"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Workflows or incoming-webhook URL; its signature (`sig=`) makes it a secret.
    pub url: Secret,
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::units::de::duration"
    )]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl Kind for Config {
    fn redacted(&self) -> Value {
        json!({"type": "teams", "url": redact_secret_url(self.url.expose()),
               "timeout_secs": self.timeout.as_secs()})
    }

    fn check(&self) -> Result<(), String> {
        let url = self.url.expose();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err("url: a Teams workflow or webhook URL starts with https://".into());
        }
        Ok(())
    }

    fn build(&self, _env: &Env<'_>) -> Result<Box<dyn Sink>, String> {
        Ok(Box::new(Teams {
            config: self.clone(),
            http: http::client(self.timeout)?,
        }))
    }
}

struct Teams {
    config: Config,
    http: reqwest::Client,
}

/// The Adaptive Card colour of a severity's title.
pub fn colour(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "Attention",
        Severity::Medium => "Warning",
        Severity::Low => "Accent",
        Severity::Info => "Default",
    }
}

/// Record text made inert for the card's Markdown: control characters dropped, the characters
/// that format (`\ * _ ~ ` [ ] ( ) < > #`) escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| !c.is_control() || *c == '\n') {
        if "\\*_~`[]()<>#".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn text(t: &str, extra: Value) -> Value {
    let mut block = json!({"type": "TextBlock", "text": t, "wrap": true});
    if let (Some(b), Some(e)) = (block.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    block
}

fn fact(title: &str, value: &str) -> Option<Value> {
    (!value.is_empty()).then(|| json!({"title": title, "value": cut(&escape(value), FACT_MAX)}))
}

/// The message around a card.
fn envelope(body: Vec<Value>, actions: Vec<Value>) -> Value {
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    });
    if !actions.is_empty() {
        card["actions"] = Value::Array(actions);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// The message of one finding.
pub fn message(d: &Delivery) -> Value {
    let f = &d.finding;
    let mut title = format!("[{}] {}", f.severity.as_str().to_uppercase(), f.title);
    if d.count > 1 {
        title.push_str(&format!(" ({} times)", d.count));
    }
    let mut body = vec![text(
        &cut(&escape(&title), 300),
        json!({"weight": "Bolder", "size": "Medium", "color": colour(f.severity)}),
    )];
    body.push(text(&cut(&escape(&f.summary), TEXT_MAX), json!({})));
    if !f.why.is_empty() {
        body.push(text(
            &cut(&format!("**Why it matters:** {}", escape(&f.why)), TEXT_MAX),
            json!({"isSubtle": true}),
        ));
    }
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let place = [f.account_id.as_deref(), f.region.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
    let call = match (f.event_name.as_deref(), f.event_source.as_deref()) {
        (Some(n), Some(s)) => format!("{n} ({s})"),
        (Some(n), None) => n.to_string(),
        _ => String::new(),
    };
    let error = match f.error_code.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => format!("{c} {}", f.error_message.as_deref().unwrap_or("")),
        None => String::new(),
    };
    let rules: Vec<String> = f
        .rules
        .iter()
        .map(|r| format!("{} ({})", r.id, r.severity))
        .collect();
    let facts: Vec<Value> = [
        fact("Actor", &opt(&f.actor)),
        fact("Account · region", &place),
        fact("Source address", &opt(&f.source_ip)),
        fact("Call", &call),
        fact("Error", error.trim()),
        fact("Rules", &rules.join(", ")),
        fact("ATT&CK", &f.attack.join(", ")),
        fact("Event time", &opt(&f.event_time)),
        fact("Event", &opt(&f.event_id)),
    ]
    .into_iter()
    .flatten()
    .collect();
    body.push(json!({"type": "FactSet", "facts": facts}));
    let actions = render::console_url(f)
        .map(|url| vec![json!({"type": "Action.OpenUrl", "title": "View in CloudTrail", "url": url})])
        .unwrap_or_default();
    fit(envelope(body, actions))
}

/// Drops the last body blocks (then facts) until the message is under [`MESSAGE_MAX`] bytes.
fn fit(mut m: Value) -> Value {
    while m.to_string().len() > MESSAGE_MAX {
        let body = &mut m["attachments"][0]["content"]["body"];
        let Some(blocks) = body.as_array_mut() else {
            break;
        };
        if let Some(facts) = blocks
            .last_mut()
            .and_then(|b| b["facts"].as_array_mut())
            .filter(|f| !f.is_empty())
        {
            facts.pop();
        } else if blocks.len() > 1 {
            blocks.pop();
        } else {
            break;
        }
    }
    m
}

/// The message of a rate-limit summary.
pub fn summary_message(items: &[Delivery], why: &str) -> Value {
    let top = items
        .iter()
        .map(|d| d.finding.severity)
        .max()
        .unwrap_or_default();
    let total: u64 = items.iter().map(|d| d.count).sum();
    let mut by_severity: BTreeMap<Severity, u64> = BTreeMap::new();
    let mut by_rule: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_account: BTreeMap<&str, u64> = BTreeMap::new();
    for d in items {
        let f = &d.finding;
        *by_severity.entry(f.severity).or_default() += d.count;
        *by_rule.entry(f.rule_id.as_str()).or_default() += d.count;
        *by_account
            .entry(f.account_id.as_deref().unwrap_or("-"))
            .or_default() += d.count;
    }
    let counts = |mut m: Vec<(String, u64)>| {
        m.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut t: Vec<String> = m.iter().take(10).map(|(k, n)| format!("{n} × {k}")).collect();
        if m.len() > 10 {
            t.push(format!("… {} more", m.len() - 10));
        }
        t.join(", ")
    };
    let sev = by_severity
        .iter()
        .rev()
        .map(|(s, n)| (s.as_str().to_string(), *n))
        .collect();
    let rule = by_rule.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    let acct = by_account.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    let mut body = vec![
        text(
            &format!("[{}] trailwatch: {total} findings held back", top.as_str().to_uppercase()),
            json!({"weight": "Bolder", "size": "Medium", "color": colour(top)}),
        ),
        text(&cut(&escape(why), 500), json!({"isSubtle": true})),
    ];
    let facts: Vec<Value> = [
        fact("By severity", &counts(sev)),
        fact("By rule", &counts(rule)),
        fact("By account", &counts(acct)),
    ]
    .into_iter()
    .flatten()
    .collect();
    body.push(json!({"type": "FactSet", "facts": facts}));
    let listed: Vec<Value> = items
        .iter()
        .take(SUMMARY_LISTED)
        .filter_map(|d| {
            let f = &d.finding;
            fact(
                &format!("{} {}", f.severity.as_str().to_uppercase(), cut(&f.title, 80)),
                &format!(
                    "{} · {} · {}",
                    f.actor.as_deref().unwrap_or("-"),
                    f.account_id.as_deref().unwrap_or("-"),
                    f.event_time.as_deref().unwrap_or("-")
                ),
            )
        })
        .collect();
    let shown = listed.len();
    body.push(json!({"type": "FactSet", "facts": listed}));
    let rest = items.len() - shown;
    if rest > 0 {
        body.push(text(&format!("{rest} more not listed"), json!({"isSubtle": true})));
    }
    envelope(body, Vec::new())
}

/// The status a 200 answer's body names, when the connector reports a failed delivery there.
fn status_in_body(body: &str) -> Option<u16> {
    let lower = body.to_ascii_lowercase();
    if !(lower.contains("failed") || lower.contains("error")) {
        return None;
    }
    let at = lower.find("http error ")? + "http error ".len();
    lower.get(at..at + 3)?.parse().ok()
}

impl Teams {
    async fn post(&self, message: Value) -> Result<Sent, SendError> {
        let resp = self
            .http
            .post(self.config.url.expose())
            .header("content-type", "application/json")
            .body(message.to_string())
            .send()
            .await
            .map_err(http::transport_error)?;
        let mut status = resp.status().as_u16();
        let after = http::retry_after(resp.headers());
        let body = resp.text().await.unwrap_or_default();
        if status == 200
            && let Some(named) = status_in_body(&body)
        {
            status = named;
        }
        let words = cut(body.trim(), 300);
        http::classify(status, after, || {
            if words.is_empty() {
                " from Teams".into()
            } else {
                format!(" from Teams: {words}")
            }
        })?;
        Ok(Sent::Done)
    }
}

#[async_trait::async_trait]
impl Sink for Teams {
    async fn send(&self, d: &Delivery) -> Result<Sent, SendError> {
        self.post(message(d)).await
    }

    async fn send_summary(&self, items: &[Delivery], why: &str) -> Result<Sent, SendError> {
        self.post(summary_message(items, why)).await
    }

    fn parallelism(&self) -> usize {
        // Teams throttles a webhook at a few messages a second.
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(severity: Severity) -> Delivery {
        let mut finding = render::sample_finding();
        finding.severity = severity;
        Delivery {
            finding,
            idempotency_key: "k-1".into(),
            count: 1,
        }
    }

    fn card(m: &Value) -> &Value {
        assert_eq!(m["type"], "message");
        let a = &m["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        let c = &a["content"];
        assert_eq!((c["type"].as_str(), c["version"].as_str()), (Some("AdaptiveCard"), Some("1.4")));
        c
    }

    #[test]
    fn a_finding_is_one_card_under_the_size_limit_even_when_huge() {
        let m = message(&delivery(Severity::High));
        let c = card(&m);
        assert_eq!(c["body"][0]["color"], "Attention");
        assert!(c["body"][0]["text"].as_str().unwrap().starts_with("\\[HIGH\\]"));
        assert_eq!(c["actions"][0]["type"], "Action.OpenUrl");
        let mut big = delivery(Severity::Critical);
        big.finding.summary = "S".repeat(50_000);
        big.finding.why = "W".repeat(50_000);
        big.finding.actor = Some("a".repeat(50_000));
        for i in 0..300 {
            big.finding.attack.push(format!("T{i:04}{}", "x".repeat(50)));
        }
        let m = message(&big);
        assert!(m.to_string().len() <= MESSAGE_MAX, "{}", m.to_string().len());
        card(&m);
    }

    #[test]
    fn record_text_cannot_format() {
        assert_eq!(escape("[x](https://evil) **b** <at>"), "\\[x\\]\\(https://evil\\) \\*\\*b\\*\\* \\<at\\>");
        assert_eq!(escape("a\u{1b}b"), "ab");
    }

    #[test]
    fn a_summary_counts_everything_and_lists_the_first() {
        let items: Vec<Delivery> = (0..100).map(|_| delivery(Severity::Low)).collect();
        let m = summary_message(&items, "100 above the rate limit");
        let c = card(&m);
        assert!(c["body"][0]["text"].as_str().unwrap().contains("100 findings"));
        assert_eq!(c["body"][2]["facts"][0]["value"], "100 × low");
        assert_eq!(c["body"][3]["facts"].as_array().unwrap().len(), SUMMARY_LISTED);
        assert_eq!(c["body"][4]["text"], "80 more not listed");
        assert!(m.to_string().len() <= MESSAGE_MAX);
    }

    #[test]
    fn a_connector_failure_in_a_200_body_is_read() {
        assert_eq!(
            status_in_body("Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId ..."),
            Some(429)
        );
        assert_eq!(status_in_body("1"), None);
        assert_eq!(status_in_body(""), None);
    }
}
