//! `type = "slack"`: a Slack incoming webhook, one Block Kit message per finding.

use super::{Env, Kind, Sent, Sink};
use crate::alert::secret::{Secret, hide_path};
use crate::alert::{Delivery, SendError, http, render};
use serde::Deserialize;

/// `[sinks.NAME]` with `type = "slack"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The webhook URL (its path is the secret).
    pub url: Secret,
}

impl Kind for Config {
    fn redacted(&self) -> serde_json::Value {
        serde_json::json!({"type": "slack", "url": hide_path(self.url.expose())})
    }

    fn build(&self, _env: &Env<'_>) -> Result<Box<dyn Sink>, String> {
        Ok(Box::new(Slack {
            url: self.url.clone(),
            http: http::client(http::DEFAULT_TIMEOUT)?,
        }))
    }
}

struct Slack {
    url: Secret,
    http: reqwest::Client,
}

impl Slack {
    async fn post(&self, body: serde_json::Value) -> Result<Sent, SendError> {
        let body = body.to_string().into_bytes();
        http::post_json(&self.http, self.url.expose(), body, &[], None).await?;
        Ok(Sent::Done)
    }
}

#[async_trait::async_trait]
impl Sink for Slack {
    async fn send(&self, d: &Delivery) -> Result<Sent, SendError> {
        self.post(render::slack_message(&d.finding, d.count, None))
            .await
    }

    async fn send_summary(&self, items: &[Delivery], why: &str) -> Result<Sent, SendError> {
        let (subject, text, _) = super::summary(items);
        let text = render::slack::slack_text(&subject, why, &text);
        self.post(serde_json::json!({ "text": text })).await
    }
}
