//! `type = "webhook"`: an HTTP POST of the finding as JSON (or a MiniJinja template), with custom
//! headers, an `Idempotency-Key` and, with a `secret`, an HMAC-SHA256 signature.

use super::{Env, Kind, Sent, Sink};
use crate::alert::http::{self, Signed};
use crate::alert::secret::{Secret, redact_secret_url};
use crate::alert::{Delivery, SendError, render};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::time::Duration;

/// `[sinks.NAME]` with `type = "webhook"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub url: Secret,
    /// Extra headers (values may be secrets).
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// Signing key of `X-Trailwatch-Signature`.
    pub secret: Option<Secret>,
    /// A MiniJinja template for the body, checked when the configuration is read.
    #[serde(default, deserialize_with = "template")]
    pub template: Option<String>,
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::units::de::duration"
    )]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn template<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let t = String::deserialize(d)?;
    render::check_template(&t).map_err(serde::de::Error::custom)?;
    Ok(Some(t))
}

impl Kind for Config {
    fn redacted(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "webhook", "url": redact_secret_url(self.url.expose()),
            "headers": self.headers.keys().map(|h| (h.clone(), "***")).collect::<BTreeMap<_, _>>(),
            "secret": self.secret.as_ref().map(|_| "***"), "template": self.template.is_some(),
            "timeout_secs": self.timeout.as_secs()})
    }

    fn build(&self, _env: &Env<'_>) -> Result<Box<dyn Sink>, String> {
        Ok(Box::new(Webhook {
            config: self.clone(),
            http: http::client(self.timeout)?,
        }))
    }
}

struct Webhook {
    config: Config,
    http: reqwest::Client,
}

impl Webhook {
    async fn post(&self, body: Vec<u8>, key: &str) -> Result<Sent, SendError> {
        let headers: Vec<(&str, &str)> = self
            .config
            .headers
            .iter()
            .map(|(h, v)| (h.as_str(), v.expose()))
            .collect();
        let signed = Signed {
            key,
            secret: self.config.secret.as_ref(),
        };
        http::post_json(
            &self.http,
            self.config.url.expose(),
            body,
            &headers,
            Some(signed),
        )
        .await?;
        Ok(Sent::Done)
    }
}

#[async_trait::async_trait]
impl Sink for Webhook {
    async fn send(&self, d: &Delivery) -> Result<Sent, SendError> {
        let body = render::webhook_body(&d.finding, d.count, self.config.template.as_deref())
            .map_err(SendError::Permanent)?;
        self.post(body.into_bytes(), &d.idempotency_key).await
    }

    async fn send_summary(&self, items: &[Delivery], why: &str) -> Result<Sent, SendError> {
        let (subject, _, _) = super::summary(items);
        let findings: Vec<_> = items
            .iter()
            .map(|d| &d.finding)
            .collect();
        let body = serde_json::json!({"summary": subject, "reason": why, "findings": findings});
        let key = format!(
            "summary-{}",
            items.first().map_or("", |d| d.idempotency_key.as_str())
        );
        self.post(body.to_string().into_bytes(), &key).await
    }

    fn parallelism(&self) -> usize {
        8
    }
}
