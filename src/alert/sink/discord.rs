//! `type = "discord"`: a Discord channel webhook (`https://discord.com/api/webhooks/ID/TOKEN`),
//! one message with one embed per finding.
//!
//! The embed holds the title (linked to the CloudTrail console), what happened, why it matters,
//! and fields for the actor, account and region, source address, the call and its error, every
//! rule, and ATT&CK ids; its colour is the severity's. Everything stays within Discord's
//! documented limits (title 256, description 4096, 25 fields of name 256 and value 1024, footer
//! 2048, 6000 characters per embed, content 2000); record text is escaped for Discord's Markdown
//! and `allowed_mentions` is empty, so a record cannot ping `@everyone` or a role.
//!
//! What an answer means: 200/204 delivered; 429 retried after Discord's `retry_after` (body, in
//! seconds) or `Retry-After`; 5xx retried; any other 4xx (400 invalid body, 401/403 bad token,
//! 404 unknown webhook) is a dead letter at once with Discord's `code` and `message`. A
//! rate-limit summary is one message: counts by severity, rule and account, and the first
//! [`SUMMARY_LISTED`] findings as fields.

use super::{Env, Kind, Sent, Sink};
use crate::alert::secret::{Secret, redact_secret_url};
use crate::alert::render::cut_escaped as cut;
use crate::alert::{Delivery, SendError, http, render};
use crate::catalog::Severity;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Discord's limits on a message and its embeds.
pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 4096;
pub const FIELDS_MAX: usize = 25;
pub const FIELD_NAME_MAX: usize = 256;
pub const FIELD_VALUE_MAX: usize = 1024;
pub const FOOTER_MAX: usize = 2048;
pub const EMBED_TOTAL_MAX: usize = 6000;
pub const CONTENT_MAX: usize = 2000;
/// Findings listed one by one in a summary (the rest are counted).
pub const SUMMARY_LISTED: usize = 20;

/// `[sinks.NAME]` with `type = "discord"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The channel webhook's URL; its token makes it a secret (`env:NAME` is best).
    pub url: Secret,
    /// The name the messages are posted under.
    #[serde(default = "default_username")]
    pub username: String,
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::units::de::duration"
    )]
    pub timeout: Duration,
}

fn default_username() -> String {
    "trailwatch".into()
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl Kind for Config {
    fn redacted(&self) -> Value {
        json!({"type": "discord", "url": redact_secret_url(self.url.expose()),
               "username": self.username, "timeout_secs": self.timeout.as_secs()})
    }

    fn check(&self) -> Result<(), String> {
        let url = self.url.expose();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err("url: a Discord webhook URL starts with https://".into());
        }
        if self.username.is_empty() || self.username.chars().count() > 80 {
            return Err("username: Discord takes 1 to 80 characters".into());
        }
        Ok(())
    }

    fn build(&self, _env: &Env<'_>) -> Result<Box<dyn Sink>, String> {
        Ok(Box::new(Discord {
            config: self.clone(),
            http: http::client(self.timeout)?,
        }))
    }
}

struct Discord {
    config: Config,
    http: reqwest::Client,
}

/// The embed colour of a severity (RGB).
pub fn colour(s: Severity) -> u32 {
    match s {
        Severity::Critical => 0x99_1b_1b,
        Severity::High => 0xdc_26_26,
        Severity::Medium => 0xf5_9e_0b,
        Severity::Low => 0x25_63_eb,
        Severity::Info => 0x6b_72_80,
    }
}

/// Record text made inert for Discord's Markdown: control characters dropped, the characters
/// that format (`\ * _ ~ ` | > # [ ] ( ) < @`) escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| !c.is_control() || *c == '\n') {
        if "\\*_~`|>#[]()<@".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Builds an embed's fields and keeps the whole embed under [`EMBED_TOTAL_MAX`].
struct Fields {
    list: Vec<Value>,
    used: usize,
}

impl Fields {
    fn new(used: usize) -> Fields {
        Fields {
            list: Vec::new(),
            used,
        }
    }

    /// Adds a field when it fits (empty values are left out).
    fn add(&mut self, name: &str, value: &str, inline: bool) {
        if value.is_empty() || self.list.len() >= FIELDS_MAX {
            return;
        }
        let name = cut(name, FIELD_NAME_MAX);
        let room = EMBED_TOTAL_MAX.saturating_sub(self.used + name.chars().count());
        if room < 16 {
            return;
        }
        let value = cut(value, FIELD_VALUE_MAX.min(room));
        self.used += name.chars().count() + value.chars().count();
        self.list
            .push(json!({"name": name, "value": value, "inline": inline}));
    }
}

/// The message of one finding.
pub fn message(username: &str, d: &Delivery) -> Value {
    let f = &d.finding;
    let mut title = format!("[{}] {}", f.severity.as_str().to_uppercase(), f.title);
    if d.count > 1 {
        title.push_str(&format!(" ({} times)", d.count));
    }
    let title = cut(&escape(&title), TITLE_MAX);
    let mut description = escape(&f.summary);
    if !f.why.is_empty() {
        description.push_str("\n\n**Why it matters:** ");
        description.push_str(&escape(&f.why));
    }
    let description = cut(&description, DESCRIPTION_MAX.min(EMBED_TOTAL_MAX / 2));
    let footer = cut(&escape(&format!("trailwatch · {}", f.rule_id)), FOOTER_MAX);
    let mut fields = Fields::new(
        title.chars().count() + description.chars().count() + footer.chars().count(),
    );
    let text = |v: &Option<String>| v.as_deref().map(escape).unwrap_or_default();
    fields.add("Actor", &text(&f.actor), false);
    let place = match (f.account_id.as_deref(), f.region.as_deref()) {
        (Some(a), Some(r)) => format!("{a} · {r}"),
        (Some(a), None) => a.to_string(),
        (None, Some(r)) => r.to_string(),
        (None, None) => String::new(),
    };
    fields.add("Account · region", &escape(&place), true);
    fields.add("Source address", &text(&f.source_ip), true);
    let call = match (f.event_source.as_deref(), f.event_name.as_deref()) {
        (Some(s), Some(n)) => format!("{n} ({s})"),
        (None, Some(n)) => n.to_string(),
        _ => String::new(),
    };
    fields.add("Call", &escape(&call), true);
    if let Some(code) = f.error_code.as_deref().filter(|c| !c.is_empty()) {
        let msg = f.error_message.as_deref().unwrap_or("");
        fields.add("Error", &escape(&format!("{code} {msg}")), false);
    }
    let rules: Vec<String> = f
        .rules
        .iter()
        .map(|r| format!("{} ({})", r.id, r.severity))
        .collect();
    fields.add("Rules", &escape(&rules.join(", ")), false);
    if !f.attack.is_empty() {
        fields.add("ATT&CK", &escape(&f.attack.join(", ")), true);
    }
    if !f.controls.is_empty() {
        fields.add("Controls", &escape(&f.controls.join(", ")), true);
    }
    fields.add("Event", &text(&f.event_id), true);
    let mut embed = json!({
        "title": title,
        "description": description,
        "color": colour(f.severity),
        "fields": fields.list,
        "footer": {"text": footer},
    });
    if let Some(t) = f.event_time.as_deref().filter(|t| !t.is_empty()) {
        embed["timestamp"] = t.into();
    }
    if let Some(url) = render::console_url(f) {
        embed["url"] = url.into();
    }
    json!({
        "username": username,
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    })
}

/// The message of a rate-limit summary.
pub fn summary_message(username: &str, items: &[Delivery], why: &str) -> Value {
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
    let counts = |m: Vec<(String, u64)>| {
        let mut m = m;
        m.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let lines: Vec<String> = m
            .iter()
            .take(10)
            .map(|(k, n)| format!("{n} × {}", escape(k)))
            .collect();
        let mut text = lines.join("\n");
        if m.len() > 10 {
            text.push_str(&format!("\n… {} more", m.len() - 10));
        }
        text
    };
    let title = cut(
        &format!(
            "[{}] trailwatch: {total} findings held back",
            top.as_str().to_uppercase()
        ),
        TITLE_MAX,
    );
    let description = cut(&escape(why), DESCRIPTION_MAX.min(1000));
    let mut fields = Fields::new(title.chars().count() + description.chars().count());
    let sev: Vec<(String, u64)> = by_severity
        .iter()
        .rev()
        .map(|(s, n)| (s.as_str().to_string(), *n))
        .collect();
    fields.add("By severity", &counts(sev), true);
    let rule = by_rule.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    fields.add("By rule", &counts(rule), true);
    let acct = by_account.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    fields.add("By account", &counts(acct), true);
    let mut listed = 0;
    for d in items.iter().take(SUMMARY_LISTED) {
        let f = &d.finding;
        let before = fields.list.len();
        let name = format!("{} {}", f.severity.as_str().to_uppercase(), escape(&f.title));
        let value = format!(
            "{} · {} · {}",
            escape(f.actor.as_deref().unwrap_or("-")),
            escape(f.account_id.as_deref().unwrap_or("-")),
            escape(f.event_time.as_deref().unwrap_or("-"))
        );
        fields.add(&name, &value, false);
        listed += usize::from(fields.list.len() > before);
    }
    let rest = items.len() - listed;
    let mut embed = json!({
        "title": title,
        "description": description,
        "color": colour(top),
        "fields": fields.list,
    });
    if rest > 0 {
        embed["footer"] = json!({"text": format!("{rest} more not listed")});
    }
    json!({
        "username": username,
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    })
}

/// Discord's words about a refusal (`code`, `message`), and its `retry_after` in seconds.
fn explain(body: &str) -> (String, Option<Duration>) {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return (String::new(), None);
    };
    let mut out = String::new();
    if let Some(c) = v["code"].as_u64() {
        out.push_str(&format!(": code {c}"));
    }
    if let Some(m) = v["message"].as_str() {
        out.push_str(": ");
        out.push_str(m);
    }
    let after = v["retry_after"]
        .as_f64()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)));
    (cut(&out, 500), after)
}

impl Discord {
    async fn post(&self, message: Value) -> Result<Sent, SendError> {
        let resp = self
            .http
            .post(self.config.url.expose())
            .header("content-type", "application/json")
            .body(message.to_string())
            .send()
            .await
            .map_err(http::transport_error)?;
        let status = resp.status().as_u16();
        let header_after = http::retry_after(resp.headers());
        let body = resp.text().await.unwrap_or_default();
        let (words, body_after) = explain(&body);
        http::classify(status, body_after.or(header_after), || {
            format!(" from Discord{words}")
        })?;
        Ok(Sent::Done)
    }
}

#[async_trait::async_trait]
impl Sink for Discord {
    async fn send(&self, d: &Delivery) -> Result<Sent, SendError> {
        self.post(message(&self.config.username, d)).await
    }

    async fn send_summary(&self, items: &[Delivery], why: &str) -> Result<Sent, SendError> {
        self.post(summary_message(&self.config.username, items, why))
            .await
    }

    fn parallelism(&self) -> usize {
        // Discord limits a webhook to a few requests a second.
        1
    }
}

#[cfg(test)]
mod tests;
