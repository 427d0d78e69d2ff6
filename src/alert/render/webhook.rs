//! Webhook bodies (the finding as JSON, or a MiniJinja template rendered with the finding's keys)
//! and their HMAC-SHA256 signatures.

use super::console_url;
use crate::catalog::Severity;
use crate::finding::Finding;
use hmac::{KeyInit, Mac};
use serde_json::json;

/// Webhook body. Without a template, the finding JSON as is (with `count` set when `count` > 1).
/// With one, the MiniJinja template rendered with the finding's keys plus `count` and
/// `console_url` (null without a link); no auto-escaping, so JSON templates should use
/// `|tojson` for strings. Errors name the problem (and the line).
pub fn webhook_body(
    finding: &Finding,
    count: u64,
    template: Option<&str>,
) -> Result<String, String> {
    let Some(template) = template else {
        return serde_json::to_string(&with_count(finding, count))
            .map_err(|e| format!("webhook body: {e}"));
    };
    let mut ctx = match serde_json::to_value(finding) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    ctx.insert("count".into(), json!(count));
    ctx.insert("console_url".into(), json!(console_url(finding)));
    let ctx = minijinja::Value::from(minijinja::value::Serde(&ctx));
    minijinja::Environment::new()
        .render_str(template, ctx)
        .map_err(|e| format!("webhook template: {e}"))
}

/// The finding with `count` set when the delivery stands for more than one.
pub fn with_count(finding: &Finding, count: u64) -> std::borrow::Cow<'_, Finding> {
    if count > 1 {
        let mut f = finding.clone();
        f.count = Some(count);
        std::borrow::Cow::Owned(f)
    } else {
        std::borrow::Cow::Borrowed(finding)
    }
}

/// A realistic finding: for checking templates, and the base of `alert test`'s sample.
pub fn sample_finding() -> Finding {
    let mut f = Finding::blank("guide.cloudtrail.StopLogging");
    f.pack = "guide".into();
    f.title = "CloudTrail logging stopped".into();
    f.severity = Severity::Critical;
    f.service = "cloudtrail".into();
    f.event_source = Some("cloudtrail.amazonaws.com".into());
    f.event_name = Some("StopLogging".into());
    f.event_time = Some("2024-01-01T00:00:00Z".into());
    f.event_id = Some("00000000-0000-0000-0000-000000000000".into());
    f.account_id = Some("123456789012".into());
    f.region = Some("us-east-1".into());
    f.actor = Some("arn:aws:iam::123456789012:user/alice".into());
    f.actor_type = Some("IAMUser".into());
    f.source_ip = Some("192.0.2.1".into());
    f.user_agent = Some("aws-cli/2".into());
    f.read_only = Some(false);
    f.summary = "alice stopped logging for trail main".into();
    f.why = "Check who and why.".into();
    f.location = "sample.json#1".into();
    f
}

/// Validates a webhook template once, at config time: it must compile and render against a
/// sample finding (which catches unknown filters and tests, only found when rendering).
pub fn check_template(template: &str) -> Result<(), String> {
    webhook_body(&sample_finding(), 2, Some(template)).map(|_| ())
}

/// HMAC-SHA256 of `body` keyed with `secret`, as the header value `sha256=<hex>` (the format of
/// GitHub's `X-Hub-Signature-256`).
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::render::tests::finding;
    use serde_json::Value;

    #[test]
    fn webhook_plain_json() {
        let body: Value =
            serde_json::from_str(&webhook_body(&finding(), 1, None).unwrap()).unwrap();
        assert_eq!(body, serde_json::to_value(finding()).unwrap());
        let body: Value =
            serde_json::from_str(&webhook_body(&finding(), 4, None).unwrap()).unwrap();
        assert_eq!(body["count"], 4);
        assert_eq!(body["rule_id"], "guide.cloudtrail.StopLogging");
    }

    #[test]
    fn webhook_template_renders() {
        let mut f = finding();
        f.title = "quote \" and <tag>".into();
        let t = r#"{"text": {{ (severity|upper ~ ": " ~ title)|tojson }}, "n": {{ count }}, "url": {{ console_url|tojson }}}"#;
        let body: Value = serde_json::from_str(&webhook_body(&f, 7, Some(t)).unwrap()).unwrap();
        assert_eq!(body["text"], "CRITICAL: quote \" and <tag>");
        assert_eq!(body["n"], 7);
        assert_eq!(body["url"], json!(console_url(&f)));
        let plain = webhook_body(&f, 1, Some("{{ actor }} in {{ region }}")).unwrap();
        assert_eq!(plain, "arn:aws:iam::123456789012:user/alice in eu-west-1");
        f.event_id = None;
        assert_eq!(
            webhook_body(&f, 1, Some("{{ console_url|tojson }}")).unwrap(),
            "null"
        );
    }

    #[test]
    fn template_errors() {
        let err = webhook_body(&finding(), 1, Some("{{ title ")).unwrap_err();
        assert!(err.starts_with("webhook template: syntax error"), "{err}");
        let err = webhook_body(&finding(), 1, Some("{% for x in %}")).unwrap_err();
        assert!(err.contains("syntax error"), "{err}");
        assert!(check_template("{{ title|upper }} {{ count }}").is_ok());
        assert!(
            check_template("{% if x %}")
                .unwrap_err()
                .contains("syntax error")
        );
        let err = check_template("{{ title|nosuchfilter }}").unwrap_err();
        assert!(
            err.contains("unknown filter") && err.contains("nosuchfilter"),
            "{err}"
        );
    }

    #[test]
    fn signature_rfc4231_case_2() {
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_ne!(signature(b"other", b"x"), signature(b"Jefe", b"x"));
    }
}
