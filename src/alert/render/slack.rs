//! Slack messages: Block Kit for incoming webhooks and `chat.postMessage`, and the thread reply
//! for repeats. Text is escaped for Slack and clipped to Slack's limits.

use super::{
    account_region, console_url, event, opt, severity, severity_style, slack_escape, title,
};
use crate::finding::Finding;
use serde_json::{Value, json};

/// Slack limits, in UTF-16 code units (at least as strict as counting characters).
pub(super) const SLACK_HEADER_MAX: usize = 150;
pub(super) const SLACK_TEXT_MAX: usize = 3000;
pub(super) const SLACK_FIELD_MAX: usize = 2000;

/// Slack message for incoming webhooks and `chat.postMessage`: a fallback `text` and one
/// attachment (coloured by severity) with Block Kit blocks: header, event fields, summary, what
/// to check, context (rule, pack, and "N more like this" when `count` > 1, N being `count - 1`)
/// and a "View in CloudTrail" button when [`console_url`] has a link. `channel` adds `channel`.
pub fn slack_message(finding: &Finding, count: u64, channel: Option<&str>) -> Value {
    let sev = severity(finding);
    let (emoji, color) = severity_style(&sev);
    let title = title(finding);
    let header = format!("{emoji} {} · {}", sev.to_uppercase(), slack_escape(&title));
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": clip(&header, SLACK_HEADER_MAX), "emoji": true},
    })];

    let mut fields = Vec::new();
    let mut field = |label: &str, value: String| {
        let t = format!("*{label}*\n{value}");
        fields.push(json!({"type": "mrkdwn", "text": clip(&t, SLACK_FIELD_MAX)}));
    };
    if let Some(actor) = opt(&finding.actor) {
        let kind = opt(&finding.actor_type).map(|t| format!(" ({})", slack_escape(t)));
        field(
            "Actor",
            format!("{}{}", slack_escape(actor), kind.unwrap_or_default()),
        );
    }
    for (label, value) in [
        ("Account", &finding.account_id),
        ("Region", &finding.region),
        ("Time", &finding.event_time),
        ("Source IP", &finding.source_ip),
    ] {
        if let Some(v) = opt(value) {
            field(label, slack_escape(v));
        }
    }
    if let Some(event) = event(finding) {
        field(
            "Event",
            format!("`{}`", slack_escape(&event.replace('`', "'"))),
        );
    }
    if let Some(code) = opt(&finding.error_code) {
        let msg = opt(&finding.error_message).map(|m| format!(": {}", slack_escape(m)));
        let code = slack_escape(&code.replace('`', "'"));
        field("Error code", format!("`{code}`{}", msg.unwrap_or_default()));
    }
    if let Some(a) = super::attempt(finding) {
        field("Outcome", a.to_string());
    }
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if let Some(summary) = super::nonblank(&finding.summary) {
        blocks.push(section(&slack_escape(summary)));
    }
    if finding.rules.len() > 1 {
        let lines: Vec<String> = super::rule_lines(finding)
            .iter()
            .map(|l| format!("• {}", slack_escape(l)))
            .collect();
        blocks.push(section(&format!("*Rules matched:*\n{}", lines.join("\n"))));
    }
    if let Some(why) = super::nonblank(&finding.why) {
        blocks.push(section(&format!("*What to check:* {}", slack_escape(why))));
    }

    let mut context = Vec::new();
    if let Some(rule) = super::nonblank(&finding.rule_id) {
        context.push(format!("Rule `{}`", slack_escape(&rule.replace('`', "'"))));
    }
    if let Some(pack) = super::nonblank(&finding.pack) {
        context.push(format!("Pack {}", slack_escape(pack)));
    }
    if count > 1 {
        context.push(format!("*{} more like this*", count - 1));
    }
    if !context.is_empty() {
        let elements: Vec<Value> = context
            .iter()
            .map(|t| json!({"type": "mrkdwn", "text": clip(t, SLACK_FIELD_MAX)}))
            .collect();
        blocks.push(json!({"type": "context", "elements": elements}));
    }
    if let Some(url) = console_url(finding) {
        blocks.push(json!({"type": "actions", "elements": [{
            "type": "button",
            "text": {"type": "plain_text", "text": "View in CloudTrail"},
            "url": url,
            "action_id": "view_in_cloudtrail",
        }]}));
    }

    let fallback = format!(
        "{emoji} {}: {} ({})",
        sev.to_uppercase(),
        slack_escape(&title),
        slack_escape(&account_region(finding))
    );
    let mut msg = json!({
        "text": clip(&fallback, SLACK_TEXT_MAX),
        "attachments": [{"color": color, "blocks": blocks}],
    });
    if let Some(channel) = channel {
        msg["channel"] = json!(channel);
    }
    msg
}

/// A reply in the thread of an earlier message for the same kind of finding:
/// `"N more like this (latest: <time> by <actor>)"`, N being `count` (every finding the reply
/// stands for is a repeat). The latest time is `last_time` when present, else `event_time`.
pub fn slack_repeat_reply(finding: &Finding, count: u64, channel: &str, thread_ts: &str) -> Value {
    let time = opt(&finding.last_time).or_else(|| opt(&finding.event_time));
    let actor = opt(&finding.actor);
    let latest = match (time, actor) {
        (Some(t), Some(a)) => format!(" (latest: {} by {})", slack_escape(t), slack_escape(a)),
        (Some(t), None) => format!(" (latest: {})", slack_escape(t)),
        (None, Some(a)) => format!(" (latest by {})", slack_escape(a)),
        (None, None) => String::new(),
    };
    let reply = format!("{count} more like this{latest}");
    json!({"channel": channel, "thread_ts": thread_ts, "text": clip(&reply, SLACK_TEXT_MAX)})
}

/// A plain Slack text message (summaries and digests).
pub fn slack_text(subject: &str, why: &str, text: &str) -> String {
    format!("{subject} ({why})\n{}", slack_escape(text))
}

fn section(mrkdwn: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(mrkdwn, SLACK_TEXT_MAX)}})
}

/// Shortens already-escaped Slack text to `max` UTF-16 code units, ending with "…", without
/// cutting an entity (`&amp;`, `&lt;`, `&gt;`) in half.
fn clip(s: &str, max: usize) -> String {
    if s.encode_utf16().count() <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut units = 0;
    for c in s.chars() {
        if units + c.len_utf16() > max - 1 {
            break;
        }
        units += c.len_utf16();
        out.push(c);
    }
    if let Some(amp) = out.rfind('&')
        && !out[amp..].contains(';')
    {
        out.truncate(amp);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::render::tests::finding;

    fn texts(v: &Value) -> String {
        serde_json::to_string(v).unwrap()
    }

    fn block<'a>(msg: &'a Value, kind: &str) -> Option<&'a Value> {
        msg["attachments"][0]["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == kind)
    }

    #[test]
    fn slack_message_blocks() {
        let msg = slack_message(&finding(), 1, Some("#sec"));
        assert_eq!(msg["channel"], "#sec");
        assert_eq!(msg["attachments"][0]["color"], "#B00020");
        let header = &block(&msg, "header").unwrap()["text"]["text"];
        assert_eq!(header, "🔴 CRITICAL · CloudTrail logging stopped");
        let fields = texts(&block(&msg, "section").unwrap()["fields"]);
        for want in [
            "*Actor*",
            "user/alice (IAMUser)",
            "*Account*",
            "*Region*",
            "*Time*",
        ] {
            assert!(fields.contains(want), "{want} in {fields}");
        }
        assert!(fields.contains("`cloudtrail.amazonaws.com/StopLogging`"));
        assert!(!fields.contains("Error code"));
        let all = texts(&msg);
        assert!(all.contains("*What to check:* Logging should never stop."));
        assert!(all.contains("Rule `guide.cloudtrail.StopLogging`"));
        assert!(!all.contains("more like this"));
        let button = &block(&msg, "actions").unwrap()["elements"][0];
        assert_eq!(button["url"], json!(console_url(&finding())));
        assert_eq!(button["text"]["text"], "View in CloudTrail");
        assert!(
            msg["text"]
                .as_str()
                .unwrap()
                .contains("123456789012/eu-west-1")
        );
    }

    #[test]
    fn slack_message_error_code_no_link_no_channel() {
        let mut f = finding();
        f.error_code = Some("AccessDenied".into());
        f.error_message = Some("not allowed".into());
        f.event_id = None;
        let msg = slack_message(&f, 1, None);
        assert!(msg.get("channel").is_none());
        assert!(block(&msg, "actions").is_none());
        let fields = texts(&block(&msg, "section").unwrap()["fields"]);
        assert!(fields.contains("*Error code*\\n`AccessDenied`: not allowed"));
    }

    #[test]
    fn slack_escapes_control_characters() {
        let mut f = finding();
        f.actor = Some("<script>alert(1)</script> & <!channel>".into());
        f.title = "a <b> & c".into();
        let msg = slack_message(&f, 1, None);
        let all = texts(&msg);
        assert!(!all.contains("<script>") && !all.contains("<!channel>"));
        assert!(all.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!channel&gt;"));
        let header = &block(&msg, "header").unwrap()["text"]["text"];
        assert_eq!(header, "🔴 CRITICAL · a &lt;b&gt; &amp; c");
        let reply = slack_repeat_reply(&f, 2, "C1", "1.2");
        assert!(
            reply["text"]
                .as_str()
                .unwrap()
                .contains("by &lt;script&gt;")
        );
    }

    #[test]
    fn slack_truncates_long_texts() {
        let mut f = finding();
        f.summary = "x&".repeat(3000);
        f.title = "t".repeat(400);
        f.actor = Some("a".repeat(5000));
        let msg = slack_message(&f, 1, None);
        let blocks = msg["attachments"][0]["blocks"].as_array().unwrap();
        let summary = blocks
            .iter()
            .filter_map(|b| b["text"]["text"].as_str())
            .find(|t| t.starts_with("x&amp;"))
            .unwrap();
        assert!(summary.encode_utf16().count() <= SLACK_TEXT_MAX);
        assert!(
            summary.ends_with("x…") || summary.ends_with("&amp;…"),
            "{summary}"
        );
        let header = block(&msg, "header").unwrap()["text"]["text"]
            .as_str()
            .unwrap();
        assert!(header.encode_utf16().count() <= SLACK_HEADER_MAX && header.ends_with('…'));
        let actor = block(&msg, "section").unwrap()["fields"][0]["text"]
            .as_str()
            .unwrap();
        assert_eq!(actor.encode_utf16().count(), SLACK_FIELD_MAX);
        assert_eq!(clip("ab&amp;", 5), "ab…");
    }

    #[test]
    fn slack_count_context_and_repeat_reply() {
        let msg = slack_message(&finding(), 5, None);
        let context = texts(block(&msg, "context").unwrap());
        assert!(context.contains("*4 more like this*"), "{context}");
        assert!(context.contains("Pack guide"));
        let mut f = finding();
        let reply = slack_repeat_reply(&f, 3, "C123", "1700000000.000100");
        assert_eq!(
            reply,
            json!({"channel": "C123", "thread_ts": "1700000000.000100",
                "text": "3 more like this (latest: 2024-05-01T12:00:00Z by arn:aws:iam::123456789012:user/alice)"})
        );
        f.last_time = Some("2024-05-01T13:00:00Z".into());
        let reply = slack_repeat_reply(&f, 3, "C123", "1.1");
        assert!(
            reply["text"]
                .as_str()
                .unwrap()
                .contains("latest: 2024-05-01T13:00:00Z")
        );
    }
}
