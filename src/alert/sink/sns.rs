//! `type = "sns"`: publishes the finding as JSON to an SNS topic, with message attributes
//! `severity`, `account_id`, `rule_id` (the top rule), `rules` (every rule of the event, a
//! `String.Array`) and `service` for subscription filter policies.

use super::{Env, Kind, Sent, Sink};
use crate::alert::{Delivery, SendError, render};
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
            .map_err(|e| SendError::retry(crate::aws::describe(&e)))
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
            .map_err(|e| SendError::retry(crate::aws::describe(&e)))
    }

    fn parallelism(&self) -> usize {
        8
    }
}
