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

/// SNS subjects are less than 100 characters long.
const SUBJECT_MAX: usize = 99;

/// An SNS subject: no control characters, at most [`SUBJECT_MAX`] characters, cut at a word
/// boundary with "…" when longer. The place at the end (" in ACCOUNT/REGION") is kept whole and
/// the title before it is shortened, so an account id is never cut in the middle.
fn subject(s: &str) -> String {
    let one: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let one = one.trim();
    if one.chars().count() <= SUBJECT_MAX {
        return one.to_string();
    }
    let (head, tail) = match one.rsplit_once(" in ") {
        Some((h, t)) if !h.is_empty() && t.chars().count() <= 40 => (h, format!(" in {t}")),
        _ => (one, String::new()),
    };
    let room = SUBJECT_MAX - 1 - tail.chars().count();
    format!("{}…{tail}", cut_words(head, room))
}

/// The longest prefix of `s` of at most `n` characters that ends at a word boundary (or, when
/// the first word alone is longer than half of `n`, at `n` characters), without trailing spaces.
fn cut_words(s: &str, n: usize) -> &str {
    let Some((end, next)) = s.char_indices().nth(n) else {
        return s.trim_end();
    };
    let prefix = &s[..end];
    if next.is_whitespace() {
        return prefix.trim_end();
    }
    match prefix.rfind(char::is_whitespace) {
        Some(i) if prefix[..i].chars().count() >= n / 2 => prefix[..i].trim_end(),
        _ => prefix,
    }
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
            .subject(subject(&title))
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
    fn subjects_fit_and_keep_the_place_whole() {
        let short = "[trailwatch] CRITICAL: CloudTrail logging stopped in 123456789012/eu-west-1";
        assert_eq!(subject(short), short);
        let long = format!(
            "[trailwatch] HIGH: {} in 123456789012/ap-southeast-2",
            "Security group ingress opened to the whole internet on a production VPC"
        );
        let s = subject(&long);
        assert!(s.chars().count() <= SUBJECT_MAX, "{s}");
        assert!(s.ends_with("… in 123456789012/ap-southeast-2"), "{s}");
        // cut after a whole word
        let head = s.trim_end_matches("… in 123456789012/ap-southeast-2");
        assert!(long.starts_with(head), "{s}");
        assert_eq!(long.as_bytes()[head.len()], b' ', "{s}");
        // control characters never reach SNS
        assert_eq!(subject("a\nb\tc"), "a b c");
        // one huge word: cut at the limit, still within it
        let word = "x".repeat(300);
        let s = subject(&word);
        assert_eq!(s.chars().count(), SUBJECT_MAX);
        assert!(s.ends_with('…'));
        // a long place is not kept whole but the subject still fits
        let s = subject(&format!("title in {}", "é".repeat(200)));
        assert!(s.chars().count() <= SUBJECT_MAX, "{s}");
        // multi-byte text is cut on a character boundary
        let s = subject(&format!("{} in 123456789012/eu-west-1", "ü ".repeat(80)));
        assert!(s.chars().count() <= SUBJECT_MAX);
        assert!(s.ends_with("… in 123456789012/eu-west-1"), "{s}");
    }

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
