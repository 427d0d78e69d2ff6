//! Rendering findings for people and systems: Slack messages (Block Kit), email subjects and
//! bodies (plain text and HTML, single and digest), webhook bodies (the finding JSON or a
//! MiniJinja template) and their HMAC-SHA256 signatures.
//!
//! Pure: no I/O. Every function takes a finding as JSON (the README's finding schema) and, where
//! it matters, `count`, how many findings the alert stands for (1, or more when repeats were
//! folded into it). Text from the finding is attacker-influenced (actor names, user agents, error
//! messages), so it is escaped for the target everywhere: Slack control characters, HTML, and
//! line breaks in email subjects.

use hmac::{KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

/// Slack limits, in UTF-16 code units (at least as strict as counting characters).
const SLACK_HEADER_MAX: usize = 150;
const SLACK_TEXT_MAX: usize = 3000;
const SLACK_FIELD_MAX: usize = 2000;

/// Severities, most severe first.
const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "info"];

/// Unreserved characters (RFC 3986) stay as they are; everything else is percent-encoded.
const ID_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Link to the event in the CloudTrail console's event history:
/// `https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}#/events/{event_id}`
/// (the China and GovCloud partitions use their own console hosts). `None` without a region or
/// event id, or when the region is not a plain region name. The event id is percent-encoded.
pub fn console_url(finding: &Value) -> Option<String> {
    let region = text(finding, "region")?;
    let event_id = text(finding, "event_id")?;
    let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if !region.chars().all(plain) {
        return None;
    }
    let host = if region.starts_with("cn-") {
        "console.amazonaws.cn".to_string()
    } else if region.starts_with("us-gov-") {
        "console.amazonaws-us-gov.com".to_string()
    } else {
        format!("{region}.console.aws.amazon.com")
    };
    let id = utf8_percent_encode(&event_id, ID_ENCODE);
    Some(format!(
        "https://{host}/cloudtrailv2/home?region={region}#/events/{id}"
    ))
}

/// Severity marker emoji and colour (hex) for a severity name (case-insensitive); unknown
/// severities look like `info`.
pub fn severity_style(severity: &str) -> (&'static str, &'static str) {
    match severity.to_ascii_lowercase().as_str() {
        "critical" => ("🔴", "#B00020"),
        "high" => ("🟠", "#E8590C"),
        "medium" => ("🟡", "#F2C037"),
        "low" => ("🔵", "#1E88E5"),
        _ => ("⚪", "#9E9E9E"),
    }
}

/// Slack message for incoming webhooks and `chat.postMessage`: a fallback `text` and one
/// attachment (coloured by severity) with Block Kit blocks: header, event fields, summary, what
/// to check, context (rule, pack, and "N more like this" when `count` > 1, N being `count - 1`)
/// and a "View in CloudTrail" button when [`console_url`] has a link. `channel` adds `channel`.
pub fn slack_message(finding: &Value, count: u64, channel: Option<&str>) -> Value {
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
    if let Some(actor) = text(finding, "actor") {
        let kind = text(finding, "actor_type").map(|t| format!(" ({})", slack_escape(&t)));
        field(
            "Actor",
            format!("{}{}", slack_escape(&actor), kind.unwrap_or_default()),
        );
    }
    for (label, key) in [
        ("Account", "account_id"),
        ("Region", "region"),
        ("Time", "event_time"),
        ("Source IP", "source_ip"),
    ] {
        if let Some(v) = text(finding, key) {
            field(label, slack_escape(&v));
        }
    }
    if let Some(event) = event(finding) {
        field(
            "Event",
            format!("`{}`", slack_escape(&event.replace('`', "'"))),
        );
    }
    if let Some(code) = text(finding, "error_code") {
        let msg = text(finding, "error_message").map(|m| format!(": {}", slack_escape(&m)));
        let code = slack_escape(&code.replace('`', "'"));
        field("Error code", format!("`{code}`{}", msg.unwrap_or_default()));
    }
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if let Some(summary) = text(finding, "summary") {
        blocks.push(section(&slack_escape(&summary)));
    }
    if let Some(why) = text(finding, "why") {
        blocks.push(section(&format!("*What to check:* {}", slack_escape(&why))));
    }

    let mut context = Vec::new();
    if let Some(rule) = text(finding, "rule_id") {
        context.push(format!("Rule `{}`", slack_escape(&rule.replace('`', "'"))));
    }
    if let Some(pack) = text(finding, "pack") {
        context.push(format!("Pack {}", slack_escape(&pack)));
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
pub fn slack_repeat_reply(finding: &Value, count: u64, channel: &str, thread_ts: &str) -> Value {
    let time = text(finding, "last_time").or_else(|| text(finding, "event_time"));
    let actor = text(finding, "actor");
    let latest = match (time, actor) {
        (Some(t), Some(a)) => format!(" (latest: {} by {})", slack_escape(&t), slack_escape(&a)),
        (Some(t), None) => format!(" (latest: {})", slack_escape(&t)),
        (None, Some(a)) => format!(" (latest by {})", slack_escape(&a)),
        (None, None) => String::new(),
    };
    let reply = format!("{count} more like this{latest}");
    json!({"channel": channel, "thread_ts": thread_ts, "text": clip(&reply, SLACK_TEXT_MAX)})
}

/// Email for one finding: (subject, plain text body, HTML body). The subject is
/// `"[trailwatch] CRITICAL: <title> in <account>/<region>"`, with line breaks removed.
pub fn email_single(finding: &Value, count: u64) -> (String, String, String) {
    let sev = severity(finding).to_uppercase();
    let title = title(finding);
    let place = account_region(finding);
    let subject = subject_line(&format!("[trailwatch] {sev}: {title} in {place}"));
    let url = console_url(finding);
    let rows = detail_rows(finding, count);

    let mut plain = format!("{sev}: {title}\n\n");
    for key in ["summary", "why"] {
        if let Some(t) = text(finding, key) {
            let label = if key == "why" { "What to check: " } else { "" };
            plain.push_str(&format!("{label}{t}\n\n"));
        }
    }
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 1;
    for (label, value) in &rows {
        plain.push_str(&format!("{:<width$} {value}\n", format!("{label}:")));
    }
    if let Some(url) = &url {
        plain.push_str(&format!("\nView in CloudTrail: {url}\n"));
    }
    plain.push_str("\n-- \ntrailwatch\n");

    let (_, color) = severity_style(&sev);
    let mut html = format!(
        "<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif\">\n\
         <h2 style=\"border-left:6px solid {color};padding-left:8px\">{}: {}</h2>\n",
        html_escape(&sev),
        html_escape(&title)
    );
    if let Some(s) = text(finding, "summary") {
        html.push_str(&format!("<p>{}</p>\n", html_escape(&s)));
    }
    if let Some(w) = text(finding, "why") {
        html.push_str(&format!(
            "<p><b>What to check:</b> {}</p>\n",
            html_escape(&w)
        ));
    }
    html.push_str("<table cellpadding=\"4\">\n");
    for (label, value) in &rows {
        html.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>\n",
            html_escape(label),
            html_escape(value)
        ));
    }
    html.push_str("</table>\n");
    if let Some(url) = &url {
        let url = html_escape(url);
        html.push_str(&format!(
            "<p><a href=\"{url}\">View in CloudTrail</a></p>\n"
        ));
    }
    html.push_str("</body></html>\n");
    (subject, plain, html)
}

/// Digest of several findings, each with its count: (subject, plain text body, HTML body). The
/// subject counts findings (summing counts) by severity: `"[trailwatch] 7 findings (2 critical,
/// 5 high)"`. Findings are listed most severe first, otherwise in the order given.
pub fn email_digest(findings: &[(Value, u64)]) -> (String, String, String) {
    let mut by_sev = [0u64; SEVERITIES.len() + 1];
    for (f, n) in findings {
        by_sev[rank(&severity(f))] += (*n).max(1);
    }
    let total: u64 = by_sev.iter().sum();
    let parts: Vec<String> = SEVERITIES
        .iter()
        .chain(["other"].iter())
        .zip(by_sev)
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    let noun = if total == 1 { "finding" } else { "findings" };
    let mut subject = format!("[trailwatch] {total} {noun}");
    if !parts.is_empty() {
        subject.push_str(&format!(" ({})", parts.join(", ")));
    }

    let mut sorted: Vec<&(Value, u64)> = findings.iter().collect();
    sorted.sort_by_key(|(f, _)| rank(&severity(f)));

    let mut plain = format!("{}\n\n", &subject["[trailwatch] ".len()..]);
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif\">\n\
         <table cellpadding=\"4\">\n<tr><th align=\"left\">Severity</th><th align=\"left\">Time\
         </th><th align=\"left\">Finding</th><th align=\"left\">Actor</th>\
         <th align=\"left\">Account/Region</th><th></th></tr>\n",
    );
    for (f, n) in sorted {
        let sev = severity(f).to_uppercase();
        let (_, color) = severity_style(&sev);
        let time = text(f, "event_time").unwrap_or_else(|| "-".into());
        let actor = text(f, "actor").unwrap_or_else(|| "-".into());
        let place = account_region(f);
        let times = if *n > 1 {
            format!(" (x{n})")
        } else {
            String::new()
        };
        let title = format!("{}{times}", title(f));
        let url = console_url(f);
        plain.push_str(&format!(
            "[{sev}] {time}  {title}\n    {actor} in {place}\n"
        ));
        if let Some(url) = &url {
            plain.push_str(&format!("    {url}\n"));
        }
        plain.push('\n');
        let link = url
            .map(|u| format!("<a href=\"{}\">CloudTrail</a>", html_escape(&u)))
            .unwrap_or_default();
        html.push_str(&format!(
            "<tr><td style=\"color:{color}\"><b>{}</b></td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{link}</td></tr>\n",
            html_escape(&sev),
            html_escape(&time),
            html_escape(&title),
            html_escape(&actor),
            html_escape(&place),
        ));
    }
    plain.push_str("-- \ntrailwatch\n");
    html.push_str("</table>\n</body></html>\n");
    (subject, plain, html)
}

/// Webhook body. Without a template, the finding JSON as is (with `count` set when `count` > 1).
/// With one, the MiniJinja template rendered with the finding's keys plus `count` and
/// `console_url` (null without a link); no auto-escaping, so JSON templates should use
/// `|tojson` for strings. Errors name the problem (and the line).
pub fn webhook_body(finding: &Value, count: u64, template: Option<&str>) -> Result<String, String> {
    let Some(template) = template else {
        let mut body = finding.clone();
        if count > 1
            && let Some(map) = body.as_object_mut()
        {
            map.insert("count".into(), json!(count));
        }
        return serde_json::to_string(&body).map_err(|e| format!("webhook body: {e}"));
    };
    let mut ctx = finding.as_object().cloned().unwrap_or_default();
    ctx.insert("count".into(), json!(count));
    ctx.insert("console_url".into(), json!(console_url(finding)));
    let ctx = minijinja::Value::from(minijinja::value::Serde(&ctx));
    minijinja::Environment::new()
        .render_str(template, ctx)
        .map_err(|e| format!("webhook template: {e}"))
}

/// Validates a webhook template once, at config time: it must compile and render against a
/// sample finding (which catches unknown filters and tests, only found when rendering).
pub fn check_template(template: &str) -> Result<(), String> {
    let sample = json!({
        "rule_id": "guide.cloudtrail.StopLogging", "pack": "guide", "title": "CloudTrail logging stopped",
        "severity": "critical", "service": "cloudtrail", "event_source": "cloudtrail.amazonaws.com",
        "event_name": "StopLogging", "event_time": "2024-01-01T00:00:00Z",
        "event_id": "00000000-0000-0000-0000-000000000000", "account_id": "123456789012",
        "region": "us-east-1", "actor": "arn:aws:iam::123456789012:user/alice",
        "actor_type": "IAMUser", "source_ip": "192.0.2.1", "user_agent": "aws-cli/2",
        "error_code": null, "error_message": null, "read_only": false,
        "summary": "alice stopped logging for trail main", "why": "Check who and why.",
        "location": "sample.json#1",
    });
    webhook_body(&sample, 2, Some(template)).map(|_| ())
}

/// HMAC-SHA256 of `body` keyed with `secret`, as the header value `sha256=<hex>` (the format of
/// GitHub's `X-Hub-Signature-256`).
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A key's value as text: non-empty strings, numbers and booleans; `None` otherwise.
fn text(f: &Value, key: &str) -> Option<String> {
    match f.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn severity(f: &Value) -> String {
    text(f, "severity").map_or_else(|| "unknown".into(), |s| s.to_ascii_lowercase())
}

/// Position in [`SEVERITIES`]; unknown severities sort last.
fn rank(sev: &str) -> usize {
    SEVERITIES
        .iter()
        .position(|s| *s == sev)
        .unwrap_or(SEVERITIES.len())
}

fn title(f: &Value) -> String {
    text(f, "title")
        .or_else(|| text(f, "rule_id"))
        .unwrap_or_else(|| "finding".into())
}

fn account_region(f: &Value) -> String {
    let account = text(f, "account_id").unwrap_or_else(|| "unknown".into());
    let region = text(f, "region").unwrap_or_else(|| "unknown".into());
    format!("{account}/{region}")
}

/// `event_source/event_name`, or whichever of the two is present.
fn event(f: &Value) -> Option<String> {
    match (text(f, "event_source"), text(f, "event_name")) {
        (Some(s), Some(n)) => Some(format!("{s}/{n}")),
        (s, n) => s.or(n),
    }
}

/// Labelled values for the email bodies (plain, unescaped).
fn detail_rows(f: &Value, count: u64) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    if let Some(actor) = text(f, "actor") {
        let kind = text(f, "actor_type").map(|t| format!(" ({t})"));
        rows.push(("Actor", format!("{actor}{}", kind.unwrap_or_default())));
    }
    for (label, key) in [
        ("Account", "account_id"),
        ("Region", "region"),
        ("Time", "event_time"),
        ("Source IP", "source_ip"),
        ("User agent", "user_agent"),
    ] {
        if let Some(v) = text(f, key) {
            rows.push((label, v));
        }
    }
    if let Some(e) = event(f) {
        rows.push(("Event", e));
    }
    if let Some(code) = text(f, "error_code") {
        let msg = text(f, "error_message").map(|m| format!(": {m}"));
        rows.push(("Error", format!("{code}{}", msg.unwrap_or_default())));
    }
    if let Some(rule) = text(f, "rule_id") {
        let pack = text(f, "pack").map(|p| format!(" (pack {p})"));
        rows.push(("Rule", format!("{rule}{}", pack.unwrap_or_default())));
    }
    if let Some(loc) = text(f, "location") {
        rows.push(("Location", loc));
    }
    if count > 1 {
        let span = match (text(f, "first_time"), text(f, "last_time")) {
            (Some(a), Some(b)) => format!(", {a} to {b}"),
            _ => String::new(),
        };
        rows.push(("Repeats", format!("{} more like this{span}", count - 1)));
    }
    rows
}

fn section(mrkdwn: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(mrkdwn, SLACK_TEXT_MAX)}})
}

/// Escapes Slack's control characters `&`, `<` and `>`.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// One line, no control characters (no header injection), at most 250 characters.
fn subject_line(s: &str) -> String {
    let one: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match one.char_indices().nth(249) {
        Some((i, _)) => format!("{}…", &one[..i]),
        None => one,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding() -> Value {
        json!({
            "rule_id": "guide.cloudtrail.StopLogging", "pack": "guide",
            "title": "CloudTrail logging stopped", "severity": "critical", "service": "cloudtrail",
            "event_source": "cloudtrail.amazonaws.com", "event_name": "StopLogging",
            "event_time": "2024-05-01T12:00:00Z", "event_id": "3f1e6a2c-1111-2222-3333-444455556666",
            "account_id": "123456789012", "region": "eu-west-1",
            "actor": "arn:aws:iam::123456789012:user/alice", "actor_type": "IAMUser",
            "source_ip": "198.51.100.7", "user_agent": "aws-cli/2.15", "error_code": null,
            "error_message": null, "read_only": false,
            "summary": "alice stopped logging for trail main", "why": "Logging should never stop.",
            "location": "trail.json#3",
        })
    }

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
    fn console_url_with_and_without_fields() {
        assert_eq!(
            console_url(&finding()).unwrap(),
            "https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1\
             #/events/3f1e6a2c-1111-2222-3333-444455556666"
        );
        let mut f = finding();
        f["event_id"] = json!("a b/#?");
        assert!(
            console_url(&f)
                .unwrap()
                .ends_with("#/events/a%20b%2F%23%3F")
        );
        f["region"] = json!("cn-north-1");
        assert!(
            console_url(&f)
                .unwrap()
                .starts_with("https://console.amazonaws.cn/")
        );
        f["region"] = json!("evil.example/x");
        assert_eq!(console_url(&f), None);
        for key in ["region", "event_id"] {
            let mut f = finding();
            f[key] = Value::Null;
            assert_eq!(console_url(&f), None);
            f.as_object_mut().unwrap().remove(key);
            assert_eq!(console_url(&f), None);
        }
    }

    #[test]
    fn severity_styles() {
        assert_eq!(severity_style("critical"), ("🔴", "#B00020"));
        assert_eq!(severity_style("HIGH").0, "🟠");
        assert_eq!(severity_style("medium").0, "🟡");
        assert_eq!(severity_style("low").0, "🔵");
        assert_eq!(severity_style("info").0, "⚪");
        assert_eq!(severity_style("bogus"), severity_style("info"));
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
        f["error_code"] = json!("AccessDenied");
        f["error_message"] = json!("not allowed");
        f["event_id"] = Value::Null;
        let msg = slack_message(&f, 1, None);
        assert!(msg.get("channel").is_none());
        assert!(block(&msg, "actions").is_none());
        let fields = texts(&block(&msg, "section").unwrap()["fields"]);
        assert!(fields.contains("*Error code*\\n`AccessDenied`: not allowed"));
    }

    #[test]
    fn slack_escapes_control_characters() {
        let mut f = finding();
        f["actor"] = json!("<script>alert(1)</script> & <!channel>");
        f["title"] = json!("a <b> & c");
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
        f["summary"] = json!("x&".repeat(3000));
        f["title"] = json!("t".repeat(400));
        f["actor"] = json!("a".repeat(5000));
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
        f["last_time"] = json!("2024-05-01T13:00:00Z");
        let reply = slack_repeat_reply(&f, 3, "C123", "1.1");
        assert!(
            reply["text"]
                .as_str()
                .unwrap()
                .contains("latest: 2024-05-01T13:00:00Z")
        );
    }

    #[test]
    fn email_single_subject_and_bodies() {
        let mut f = finding();
        f["actor"] = json!("<script>x</script> & co");
        f["first_time"] = json!("2024-05-01T11:00:00Z");
        f["last_time"] = json!("2024-05-01T12:00:00Z");
        let (subject, plain, html) = email_single(&f, 3);
        assert_eq!(
            subject,
            "[trailwatch] CRITICAL: CloudTrail logging stopped in 123456789012/eu-west-1"
        );
        assert!(plain.starts_with("CRITICAL: CloudTrail logging stopped\n\n"));
        assert!(plain.contains("alice stopped logging for trail main"));
        assert!(plain.contains("What to check: Logging should never stop."));
        assert!(plain.contains("<script>x</script> & co (IAMUser)"));
        assert!(plain.contains("2 more like this, 2024-05-01T11:00:00Z to 2024-05-01T12:00:00Z"));
        assert!(plain.contains("View in CloudTrail: https://eu-west-1.console"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt; &amp; co"));
        assert!(html.contains("<a href=\"https://eu-west-1.console.aws.amazon.com/"));
        f["title"] = json!("evil\r\nBcc: x@example.com");
        let (subject, ..) = email_single(&f, 1);
        assert!(!subject.contains('\n') && !subject.contains('\r'));
    }

    #[test]
    fn email_digest_counts_by_severity() {
        let with = |sev: &str, title: &str| {
            let mut f = finding();
            f["severity"] = json!(sev);
            f["title"] = json!(title);
            f
        };
        let findings = vec![
            (with("high", "H1"), 1),
            (with("low", "L1 <b>"), 1),
            (with("critical", "C1"), 2),
            (with("high", "H2"), 2),
        ];
        let (subject, plain, html) = email_digest(&findings);
        assert_eq!(
            subject,
            "[trailwatch] 6 findings (2 critical, 3 high, 1 low)"
        );
        let pos = |s: &str| plain.find(s).unwrap();
        assert!(pos("C1 (x2)") < pos("H1") && pos("H1") < pos("H2") && pos("H2") < pos("L1"));
        assert!(plain.contains("[CRITICAL] 2024-05-01T12:00:00Z  C1 (x2)"));
        assert!(html.contains("L1 &lt;b&gt;") && html.contains(">CloudTrail</a>"));
        assert_eq!(
            email_digest(&[(finding(), 1)]).0,
            "[trailwatch] 1 finding (1 critical)"
        );
        assert_eq!(email_digest(&[]).0, "[trailwatch] 0 findings");
    }

    #[test]
    fn webhook_plain_json() {
        let body: Value =
            serde_json::from_str(&webhook_body(&finding(), 1, None).unwrap()).unwrap();
        assert_eq!(body, finding());
        let body: Value =
            serde_json::from_str(&webhook_body(&finding(), 4, None).unwrap()).unwrap();
        assert_eq!(body["count"], 4);
        assert_eq!(body["rule_id"], "guide.cloudtrail.StopLogging");
    }

    #[test]
    fn webhook_template_renders() {
        let mut f = finding();
        f["title"] = json!("quote \" and <tag>");
        let t = r#"{"text": {{ (severity|upper ~ ": " ~ title)|tojson }}, "n": {{ count }}, "url": {{ console_url|tojson }}}"#;
        let body: Value = serde_json::from_str(&webhook_body(&f, 7, Some(t)).unwrap()).unwrap();
        assert_eq!(body["text"], "CRITICAL: quote \" and <tag>");
        assert_eq!(body["n"], 7);
        assert_eq!(body["url"], json!(console_url(&f)));
        let plain = webhook_body(&f, 1, Some("{{ actor }} in {{ region }}")).unwrap();
        assert_eq!(plain, "arn:aws:iam::123456789012:user/alice in eu-west-1");
        f["event_id"] = Value::Null;
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
