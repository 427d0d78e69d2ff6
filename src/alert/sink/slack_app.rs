//! `type = "slack_app"`: a Slack app posting with `chat.postMessage` and a bot token; the channel
//! can depend on the account, and repeats of a finding are posted into its message's thread.

use super::{Env, Kind, Posted, Sent, Sink};
use crate::alert::secret::Secret;
use crate::alert::{Delivery, SendError, http, render};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[sinks.NAME]` with `type = "slack_app"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The bot token (`xoxb-…`).
    pub token: Secret,
    /// The channel for findings of accounts not in `account_channels`.
    pub channel: String,
    /// Account id → channel.
    #[serde(default)]
    pub account_channels: BTreeMap<String, String>,
    /// The Slack Web API (a stand-in in tests).
    #[serde(default = "default_api")]
    pub api_url: String,
}

fn default_api() -> String {
    "https://slack.com/api".into()
}

impl Kind for Config {
    fn redacted(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "slack_app", "token": "***", "channel": self.channel,
            "account_channels": self.account_channels, "api_url": self.api_url})
    }

    fn threads(&self) -> bool {
        true
    }

    fn build(&self, _env: &Env<'_>) -> Result<Box<dyn Sink>, String> {
        Ok(Box::new(SlackApp {
            token: self.token.clone(),
            channel: self.channel.clone(),
            accounts: self.account_channels.clone(),
            api: self.api_url.trim_end_matches('/').to_string(),
            http: http::client(http::DEFAULT_TIMEOUT)?,
        }))
    }
}

struct SlackApp {
    token: Secret,
    channel: String,
    accounts: BTreeMap<String, String>,
    api: String,
    http: reqwest::Client,
}

impl SlackApp {
    /// Calls `chat.postMessage`; Slack answers 200 with `ok: false` for most failures.
    async fn post_message(&self, body: &serde_json::Value) -> Result<serde_json::Value, SendError> {
        let resp = self
            .http
            .post(format!("{}/chat.postMessage", self.api))
            .bearer_auth(self.token.expose())
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string())
            .send()
            .await
            .map_err(http::transport_error)?;
        let status = resp.status().as_u16();
        let after = http::retry_after(resp.headers());
        http::classify(status, after, String::new)?;
        let answer: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| SendError::retry(format!("Slack answered something unreadable: {}", e.without_url())))?;
        if answer["ok"] == true {
            return Ok(answer);
        }
        let error = answer["error"]
            .as_str()
            .unwrap_or("unknown error")
            .to_string();
        match error.as_str() {
            "ratelimited"
            | "service_unavailable"
            | "internal_error"
            | "fatal_error"
            | "request_timeout" => Err(SendError::Retry {
                reason: format!("Slack: {error}"),
                after,
            }),
            _ => Err(SendError::Permanent(format!("Slack: {error}"))),
        }
    }
}

#[async_trait::async_trait]
impl Sink for SlackApp {
    async fn send(&self, d: &Delivery) -> Result<Sent, SendError> {
        let account = d.finding.account_id.as_deref().unwrap_or_default();
        let channel = self.accounts.get(account).unwrap_or(&self.channel);
        let body = render::slack_message(&d.finding, d.count, Some(channel));
        let answer = self.post_message(&body).await?;
        Ok(Sent::Posted(Posted {
            channel: answer["channel"].as_str().unwrap_or(channel).to_string(),
            ts: answer["ts"].as_str().unwrap_or_default().to_string(),
        }))
    }

    async fn send_summary(&self, items: &[Delivery], why: &str) -> Result<Sent, SendError> {
        let (subject, text, _) = super::summary(items);
        let body = serde_json::json!({"channel": self.channel,
            "text": render::slack::slack_text(&subject, why, &text)});
        self.post_message(&body).await.map(|_| Sent::Done)
    }

    async fn send_repeat(&self, d: &Delivery, thread: &Posted) -> Result<(), SendError> {
        let body = render::slack_repeat_reply(&d.finding, d.count, &thread.channel, &thread.ts);
        self.post_message(&body).await.map(|_| ())
    }
}
