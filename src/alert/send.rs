//! Sending to each kind of sink: Slack (incoming webhook and app), generic webhooks, SNS, email
//! and files. Every call answers delivered, retry (with the receiver's `Retry-After` when it gave
//! one) or permanent failure; the delivery loop decides what happens next.

use super::config::{Sink, SinkConfig};
use super::email::Email;
use super::{Delivery, SendError, render};
use aws_sdk_sns::types::MessageAttributeValue;
use std::io::Write;
use std::time::Duration;

/// A sink ready to send.
pub struct Target {
    pub name: String,
    kind: Kind,
    http: reqwest::Client,
}

enum Kind {
    Slack {
        url: String,
    },
    SlackApp {
        token: String,
        channel: String,
        accounts: std::collections::BTreeMap<String, String>,
        api: String,
    },
    Webhook {
        url: String,
        headers: Vec<(String, String)>,
        secret: Option<String>,
        template: Option<String>,
    },
    Sns {
        client: aws_sdk_sns::Client,
        topic: String,
    },
    Email {
        email: Box<Email>,
    },
    File {
        path: std::path::PathBuf,
    },
}

/// Where a Slack app message went, for threading its repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

impl Target {
    /// Prepares a sink; `sns` is needed only for SNS sinks.
    pub fn new(sink: &Sink, sns: Option<&aws_sdk_sns::Client>) -> Result<Target, String> {
        let timeout = match &sink.config {
            SinkConfig::Webhook { timeout, .. } => *timeout,
            _ => Duration::from_secs(15),
        };
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("trailwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("sink {}: {e}", sink.name))?;
        let kind = match &sink.config {
            SinkConfig::Slack { url } => Kind::Slack { url: url.clone() },
            SinkConfig::SlackApp {
                token,
                channel,
                account_channels,
                api_url,
            } => Kind::SlackApp {
                token: token.clone(),
                channel: channel.clone(),
                accounts: account_channels.clone(),
                api: api_url.trim_end_matches('/').to_string(),
            },
            SinkConfig::Webhook {
                url,
                headers,
                secret,
                template,
                ..
            } => Kind::Webhook {
                url: url.clone(),
                headers: headers.clone(),
                secret: secret.clone(),
                template: template.clone(),
            },
            SinkConfig::Sns { topic_arn } => Kind::Sns {
                client: sns
                    .cloned()
                    .ok_or_else(|| format!("sink {}: no SNS client", sink.name))?,
                topic: topic_arn.clone(),
            },
            SinkConfig::Email { config, .. } => Kind::Email {
                email: Box::new(
                    Email::new(config).map_err(|e| format!("sink {}: {e}", sink.name))?,
                ),
            },
            SinkConfig::File { path } => Kind::File { path: path.clone() },
        };
        Ok(Target {
            name: sink.name.clone(),
            kind,
            http,
        })
    }

    /// Delivers one finding. A Slack app answers where the message went.
    pub async fn send(&self, d: &Delivery) -> Result<Option<Posted>, SendError> {
        match &self.kind {
            Kind::Slack { url } => {
                let body = render::slack_message(&d.finding, d.count, None);
                self.post(url, body.to_string().into_bytes(), &[], None)
                    .await
                    .map(|_| None)
            }
            Kind::SlackApp {
                token,
                channel,
                accounts,
                api,
            } => {
                let account = d.finding["account_id"].as_str().unwrap_or_default();
                let channel = accounts.get(account).unwrap_or(channel);
                let body = render::slack_message(&d.finding, d.count, Some(channel));
                let answer = self
                    .slack_api(api, token, "chat.postMessage", &body)
                    .await?;
                Ok(Some(Posted {
                    channel: answer["channel"].as_str().unwrap_or(channel).to_string(),
                    ts: answer["ts"].as_str().unwrap_or_default().to_string(),
                }))
            }
            Kind::Webhook {
                url,
                headers,
                secret,
                template,
            } => {
                let body = render::webhook_body(&d.finding, d.count, template.as_deref())
                    .map_err(SendError::Permanent)?;
                self.post(
                    url,
                    body.into_bytes(),
                    headers,
                    Some((&d.idempotency_key, secret.as_deref())),
                )
                .await
                .map(|_| None)
            }
            Kind::Sns { client, topic } => {
                let attr = |v: &str| {
                    MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(if v.is_empty() { "-" } else { v })
                        .build()
                        .map_err(|e| SendError::Permanent(e.to_string()))
                };
                let f = &d.finding;
                let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
                let (subject, _, _) = render::email_single(f, d.count);
                let subject: String = subject
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(99)
                    .collect();
                client
                    .publish()
                    .topic_arn(topic)
                    .subject(subject)
                    .message(f.to_string())
                    .message_attributes("severity", attr(&s("severity"))?)
                    .message_attributes("account_id", attr(&s("account_id"))?)
                    .message_attributes("rule_id", attr(&s("rule_id"))?)
                    .message_attributes("service", attr(&s("service"))?)
                    .send()
                    .await
                    .map(|_| None)
                    .map_err(|e| SendError::retry(crate::aws::describe(&e)))
            }
            Kind::Email { email } => {
                let (subject, text, html) = render::email_single(&d.finding, d.count);
                email.send(&subject, &text, &html).await.map(|_| None)
            }
            Kind::File { path } => {
                let mut line = d.finding.clone();
                if d.count > 1 {
                    line["count"] = d.count.into();
                }
                append(path, &format!("{line}\n")).map(|_| None)
            }
        }
    }

    /// Sends several findings as one message: an email digest, or the summary of what exceeded a
    /// rate limit.
    pub async fn send_summary(&self, items: &[Delivery], why: &str) -> Result<(), SendError> {
        let pairs: Vec<(serde_json::Value, u64)> =
            items.iter().map(|d| (d.finding.clone(), d.count)).collect();
        let (subject, text, html) = render::email_digest(&pairs);
        match &self.kind {
            Kind::Email { email } => email.send(&subject, &text, &html).await,
            Kind::Slack { url } => {
                let body = serde_json::json!({"text": format!("{subject} ({why})\n{}", slack_escape(&text))});
                self.post(url, body.to_string().into_bytes(), &[], None)
                    .await
            }
            Kind::SlackApp {
                token,
                channel,
                api,
                ..
            } => {
                let body = serde_json::json!({"channel": channel,
                    "text": format!("{subject} ({why})\n{}", slack_escape(&text))});
                self.slack_api(api, token, "chat.postMessage", &body)
                    .await
                    .map(|_| ())
            }
            Kind::Webhook {
                url,
                headers,
                secret,
                ..
            } => {
                let findings: Vec<&serde_json::Value> = items.iter().map(|d| &d.finding).collect();
                let body =
                    serde_json::json!({"summary": subject, "reason": why, "findings": findings});
                let key = format!(
                    "summary-{}",
                    items.first().map_or("", |d| d.idempotency_key.as_str())
                );
                self.post(
                    url,
                    body.to_string().into_bytes(),
                    headers,
                    Some((&key, secret.as_deref())),
                )
                .await
            }
            Kind::Sns { client, topic } => client
                .publish()
                .topic_arn(topic)
                .subject(subject.chars().take(99).collect::<String>())
                .message(text)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| SendError::retry(crate::aws::describe(&e))),
            Kind::File { path } => {
                let lines: String = items.iter().map(|d| format!("{}\n", d.finding)).collect();
                append(path, &lines)
            }
        }
    }

    /// Posts "N more like this" into the thread of a Slack app message.
    pub async fn send_repeat(&self, d: &Delivery, thread: &Posted) -> Result<(), SendError> {
        if let Kind::SlackApp { token, api, .. } = &self.kind {
            let body = render::slack_repeat_reply(&d.finding, d.count, &thread.channel, &thread.ts);
            self.slack_api(api, token, "chat.postMessage", &body)
                .await?;
        }
        Ok(())
    }

    /// Requests in flight at once: webhooks and SNS do not depend on order; Slack messages, mails
    /// and file lines are sent one after another, in order.
    pub fn parallelism(&self) -> usize {
        match self.kind {
            Kind::Webhook { .. } | Kind::Sns { .. } => 8,
            _ => 1,
        }
    }

    /// Whether this sink threads repeats (Slack app).
    pub fn threads(&self) -> bool {
        matches!(self.kind, Kind::SlackApp { .. })
    }

    async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        headers: &[(String, String)],
        signed: Option<(&str, Option<&str>)>,
    ) -> Result<(), SendError> {
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/json");
        for (h, v) in headers {
            req = req.header(h.as_str(), v.as_str());
        }
        if let Some((key, secret)) = signed {
            req = req.header("idempotency-key", key);
            if let Some(secret) = secret {
                req = req.header(
                    "x-trailwatch-signature",
                    render::signature(secret.as_bytes(), &body),
                );
            }
        }
        let resp = req.body(body).send().await.map_err(http_error)?;
        classify(resp.status().as_u16(), retry_after(resp.headers()), || {
            // The body may say why; keep it short and never echo the URL (it can hold secrets).
            String::new()
        })
    }

    async fn slack_api(
        &self,
        api: &str,
        token: &str,
        method: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, SendError> {
        let resp = self
            .http
            .post(format!("{api}/{method}"))
            .bearer_auth(token)
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string())
            .send()
            .await
            .map_err(http_error)?;
        let status = resp.status().as_u16();
        let after = retry_after(resp.headers());
        classify(status, after, String::new)?;
        let answer: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| SendError::retry(format!("Slack answered something unreadable: {e}")))?;
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

fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn append(path: &std::path::Path, text: &str) -> Result<(), SendError> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| SendError::retry(format!("{}: {e}", path.display())))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_data())
        .map_err(|e| SendError::retry(format!("{}: {e}", path.display())))
}

/// A transport error, without the URL (which may hold a secret).
fn http_error(e: reqwest::Error) -> SendError {
    if e.is_builder() {
        return SendError::Permanent(
            "the request could not be built (check the sink's URL and headers)".into(),
        );
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    SendError::retry(what)
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(3600)));
    }
    // An HTTP date: wait until then.
    let when = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let secs = when.as_second() - jiff::Timestamp::now().as_second();
    Some(Duration::from_secs(secs.clamp(0, 3600) as u64))
}

/// What an HTTP status means for a delivery.
pub fn classify(
    status: u16,
    after: Option<Duration>,
    detail: impl FnOnce() -> String,
) -> Result<(), SendError> {
    match status {
        200..=299 => Ok(()),
        429 | 408 | 500..=599 => Err(SendError::Retry {
            reason: format!("HTTP {status}{}", detail()),
            after,
        }),
        _ => Err(SendError::Permanent(format!("HTTP {status}{}", detail()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(classify(204, None, String::new), Ok(()));
        assert!(matches!(
            classify(429, Some(Duration::from_secs(3)), String::new),
            Err(SendError::Retry { after: Some(d), .. }) if d == Duration::from_secs(3)
        ));
        assert!(matches!(
            classify(503, None, String::new),
            Err(SendError::Retry { .. })
        ));
        assert!(matches!(
            classify(404, None, String::new),
            Err(SendError::Permanent(_))
        ));
    }
}
