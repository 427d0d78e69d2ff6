//! `type = "sns"`: publishes the finding as JSON to an SNS topic, with message attributes
//! `severity`, `account_id`, `rule_id` (the top rule), `rules` (every rule of the event, a
//! `String.Array`) and `service` for subscription filter policies.

use super::{Env, Kind, Sent, Sink};
use crate::alert::{Delivery, SendError, render};
use aws_sdk_sns::config::http::HttpResponse;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;
use serde::Deserialize;

/// `[sinks.NAME]` with `type = "sns"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub topic_arn: String,
}

impl Kind for Config {
    fn redacted(&self) -> serde_json::Value {
        serde_json::json!({"type": "sns", "topic_arn": self.topic_arn})
    }

    fn uses_aws(&self) -> bool {
        true
    }

    fn build(&self, env: &Env<'_>) -> Result<Box<dyn Sink>, String> {
        Ok(Box::new(Sns {
            client: aws_sdk_sns::Client::new(env.aws),
            topic: self.topic_arn.clone(),
        }))
    }
}

struct Sns {
    client: aws_sdk_sns::Client,
    topic: String,
}

fn attr(v: &str) -> Result<MessageAttributeValue, SendError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(if v.is_empty() { "-" } else { v })
        .build()
        .map_err(|e| SendError::Permanent(e.to_string()))
}

/// Every rule id of the event as a `String.Array` attribute, which a filter policy matches when
/// any item does (`{"rules": ["baseline.cloudtrail-stopped"]}`).
fn rules_attr(f: &crate::finding::Finding) -> Result<MessageAttributeValue, SendError> {
    let ids: Vec<&str> = f.rules.iter().map(|r| r.id.as_str()).collect();
    let ids = if ids.is_empty() {
        vec![f.rule_id.as_str()]
    } else {
        ids
    };
    let text = serde_json::to_string(&ids).map_err(|e| SendError::Permanent(e.to_string()))?;
    MessageAttributeValue::builder()
        .data_type("String.Array")
        .string_value(text)
        .build()
        .map_err(|e| SendError::Permanent(e.to_string()))
}

/// SNS error codes that are worth retrying (besides any 5xx, 408 and 429).
const RETRY_CODES: &[&str] = &[
    "Throttled",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "KMSThrottling",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "ExpiredToken",
    "RequestExpired",
    "RequestTimeout",
];

/// Whether an error SNS answered with `code` and HTTP `status` can succeed later.
fn retryable(code: Option<&str>, status: Option<u16>) -> bool {
    if code.is_some_and(|c| RETRY_CODES.contains(&c)) {
        return true;
    }
    match status {
        Some(400..=499) => matches!(status, Some(408 | 429)),
        // 5xx, or no answer at all.
        _ => true,
    }
}

/// An SDK error as a delivery outcome: refused for good (dead letter now) or worth retrying.
fn outcome<E>(e: SdkError<E, HttpResponse>) -> SendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    let (code, message) = match &e {
        SdkError::ServiceError(s) => (s.err().code(), s.err().message()),
        _ => (None, None),
    };
    let reason = match code {
        Some(c) => format!(
            "SNS{}: {c}: {}",
            status.map_or_else(String::new, |s| format!(" HTTP {s}")),
            message.unwrap_or("")
        ),
        None => crate::aws::describe(&e),
    };
    let retry = match &e {
        SdkError::ServiceError(_) => retryable(code, status),
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    };
    if retry {
        SendError::retry(reason)
    } else {
        SendError::Permanent(reason)
    }
}

/// At most 99 characters, no control characters (SNS subjects).
fn subject(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(99).collect()
}

#[async_trait::async_trait]
impl Sink for Sns {
    async fn send(&self, d: &Delivery) -> Result<Sent, SendError> {
        let f = &d.finding;
        let (title, _, _) = render::email_single(f, d.count);
        let message =
            serde_json::to_string(f).map_err(|e| SendError::Permanent(e.to_string()))?;
        self.client
            .publish()
            .topic_arn(&self.topic)
            .subject(subject(&title))
            .message(message)
            .message_attributes("severity", attr(f.severity.as_str())?)
            .message_attributes("account_id", attr(f.account_id.as_deref().unwrap_or(""))?)
            .message_attributes("rule_id", attr(&f.rule_id)?)
            .message_attributes("rules", rules_attr(f)?)
            .message_attributes("service", attr(&f.service)?)
            .send()
            .await
            .map(|_| Sent::Done)
            .map_err(outcome)
    }

    async fn send_summary(&self, items: &[Delivery], _why: &str) -> Result<Sent, SendError> {
        let (title, text, _) = super::summary(items);
        self.client
            .publish()
            .topic_arn(&self.topic)
            .subject(title.chars().take(99).collect::<String>())
            .message(text)
            .send()
            .await
            .map(|_| Sent::Done)
            .map_err(outcome)
    }

    fn parallelism(&self) -> usize {
        8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_dead_letter_and_throttling_retries() {
        for (code, status) in [
            ("NotFound", 404),
            ("AuthorizationError", 403),
            ("InvalidParameter", 400),
            ("InvalidParameterValue", 400),
            ("KMSDisabled", 400),
        ] {
            assert!(!retryable(Some(code), Some(status)), "{code}");
        }
        for (code, status) in [
            (Some("Throttled"), Some(400)),
            (Some("Throttling"), Some(400)),
            (Some("ThrottledException"), Some(429)),
            (Some("InternalError"), Some(500)),
            (None, Some(503)),
            (None, Some(429)),
            (None, None),
        ] {
            assert!(retryable(code, status), "{code:?} {status:?}");
        }
    }
}
