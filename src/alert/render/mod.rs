//! Rendering findings for people and systems: Slack messages (Block Kit, [`slack`]), email
//! subjects and bodies (plain text and HTML, single and digest, [`email`]), webhook bodies (the
//! finding JSON or a MiniJinja template) and their HMAC-SHA256 signatures ([`webhook`]).
//!
//! Pure: no I/O. Every function takes a typed [`Finding`] and, where it matters, `count`, how many
//! findings the alert stands for (1, or more when repeats were folded into it). Text from the
//! finding is attacker-influenced (actor names, user agents, error messages), so it is escaped
//! for the target everywhere: Slack control characters, HTML, and line breaks in email subjects.
//! One message per event: each lists every rule the event matched (`Finding::rules`) and says
//! when the call failed (an attempt).

pub mod email;
pub mod slack;
pub mod webhook;

pub use email::{email_digest, email_single};
pub use slack::{slack_message, slack_repeat_reply};
pub use webhook::{check_template, sample_finding, signature, webhook_body};

use crate::finding::Finding;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

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
pub fn console_url(finding: &Finding) -> Option<String> {
    let region = opt(&finding.region)?;
    let event_id = opt(&finding.event_id)?;
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
    let id = utf8_percent_encode(event_id, ID_ENCODE);
    Some(format!(
        "https://{host}/cloudtrailv2/home?region={region}#/events/{id}"
    ))
}

/// At most `max` characters of Markdown-escaped text, with `…` when cut; never leaves a lone
/// escaping backslash (the chat sinks' field limits).
pub fn cut_escaped(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    if out.ends_with('\\') && !out.ends_with("\\\\") {
        out.pop();
    }
    out.push('…');
    out
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

/// Text that is not blank.
fn nonblank(s: &str) -> Option<&str> {
    (!s.trim().is_empty()).then_some(s)
}

/// An optional value that is present and not blank.
fn opt(v: &Option<String>) -> Option<&str> {
    v.as_deref().and_then(nonblank)
}

fn severity(f: &Finding) -> String {
    f.severity.to_string()
}

/// Position in [`SEVERITIES`]; unknown severities sort last.
fn rank(sev: &str) -> usize {
    SEVERITIES
        .iter()
        .position(|s| *s == sev)
        .unwrap_or(SEVERITIES.len())
}

fn title(f: &Finding) -> String {
    nonblank(&f.title)
        .or_else(|| nonblank(&f.rule_id))
        .unwrap_or("finding")
        .to_string()
}

fn account_region(f: &Finding) -> String {
    let account = opt(&f.account_id).unwrap_or("unknown");
    let region = opt(&f.region).unwrap_or("unknown");
    format!("{account}/{region}")
}

/// `event_source/event_name`, or whichever of the two is present.
fn event(f: &Finding) -> Option<String> {
    match (opt(&f.event_source), opt(&f.event_name)) {
        (Some(s), Some(n)) => Some(format!("{s}/{n}")),
        (s, n) => s.or(n).map(str::to_string),
    }
}

/// Every rule of the event, one line each: `id (pack, severity): title`, top rule first, with
/// the reason its severity was lowered (`lower_when`) when it was.
fn rule_lines(f: &Finding) -> Vec<String> {
    f.rules
        .iter()
        .map(|r| {
            let lowered = r
                .lowered
                .as_deref()
                .map(|why| format!(" (lowered: {why})"))
                .unwrap_or_default();
            format!(
                "{} ({}, {}): {}{lowered}",
                r.id, r.pack, r.severity, r.title
            )
        })
        .collect()
}

/// `failed call (attempt)` for a failed call; nothing for a success.
fn attempt(f: &Finding) -> Option<&'static str> {
    (f.outcome == crate::finding::Outcome::Failure).then_some("failed call (an attempt)")
}

/// Escapes Slack's control characters `&`, `<` and `>`.
pub(crate) fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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
pub(crate) mod tests {
    use super::*;
    use crate::catalog::Severity;

    /// The finding the renderer tests start from.
    pub(crate) fn finding() -> Finding {
        let mut f = Finding::blank("guide.cloudtrail.StopLogging");
        f.pack = "guide".into();
        f.title = "CloudTrail logging stopped".into();
        f.severity = Severity::Critical;
        f.service = "cloudtrail".into();
        f.event_source = Some("cloudtrail.amazonaws.com".into());
        f.event_name = Some("StopLogging".into());
        f.event_time = Some("2024-05-01T12:00:00Z".into());
        f.event_id = Some("3f1e6a2c-1111-2222-3333-444455556666".into());
        f.account_id = Some("123456789012".into());
        f.region = Some("eu-west-1".into());
        f.actor = Some("arn:aws:iam::123456789012:user/alice".into());
        f.actor_type = Some("IAMUser".into());
        f.source_ip = Some("198.51.100.7".into());
        f.user_agent = Some("aws-cli/2.15".into());
        f.error_code = None;
        f.error_message = None;
        f.read_only = Some(false);
        f.summary = "alice stopped logging for trail main".into();
        f.why = "Logging should never stop.".into();
        f.location = "trail.json#3".into();
        f
    }

    #[test]
    fn console_url_with_and_without_fields() {
        assert_eq!(
            console_url(&finding()).unwrap(),
            "https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1\
             #/events/3f1e6a2c-1111-2222-3333-444455556666"
        );
        let mut f = finding();
        f.event_id = Some("a b/#?".into());
        assert!(
            console_url(&f)
                .unwrap()
                .ends_with("#/events/a%20b%2F%23%3F")
        );
        f.region = Some("cn-north-1".into());
        assert!(
            console_url(&f)
                .unwrap()
                .starts_with("https://console.amazonaws.cn/")
        );
        f.region = Some("evil.example/x".into());
        assert_eq!(console_url(&f), None);
        let mut f = finding();
        f.region = None;
        assert_eq!(console_url(&f), None);
        let mut f = finding();
        f.event_id = Some("  ".into());
        assert_eq!(console_url(&f), None);
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
}
