//! Email subjects and bodies (plain text and HTML) for one finding and for digests of several.

use super::{
    SEVERITIES, account_region, console_url, event, html_escape, nonblank, opt, rank, severity,
    severity_style, subject_line, title,
};
use crate::finding::Finding;

/// Email for one finding: (subject, plain text body, HTML body). The subject is
/// `"[trailwatch] CRITICAL: <title> in <account>/<region>"`, with line breaks removed.
pub fn email_single(finding: &Finding, count: u64) -> (String, String, String) {
    let sev = severity(finding).to_uppercase();
    let title = title(finding);
    let place = account_region(finding);
    let subject = subject_line(&format!("[trailwatch] {sev}: {title} in {place}"));
    let url = console_url(finding);
    let rows = detail_rows(finding, count);

    let mut plain = format!("{sev}: {title}\n\n");
    if let Some(t) = nonblank(&finding.summary) {
        plain.push_str(&format!("{t}\n\n"));
    }
    if let Some(t) = nonblank(&finding.why) {
        plain.push_str(&format!("What to check: {t}\n\n"));
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
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"></head>\n<body style=\"{WRAP}\">\n\
         <h2 style=\"border-left:6px solid {color};padding-left:8px\">{}: {}</h2>\n",
        html_escape(&sev),
        html_escape(&title)
    );
    if let Some(s) = nonblank(&finding.summary) {
        html.push_str(&format!("<p>{}</p>\n", html_escape(s)));
    }
    if let Some(w) = nonblank(&finding.why) {
        html.push_str(&format!(
            "<p><b>What to check:</b> {}</p>\n",
            html_escape(w)
        ));
    }
    html.push_str(
        "<table cellpadding=\"4\" style=\"width:100%;max-width:760px;table-layout:fixed;\
         border-collapse:collapse\">\n",
    );
    for (label, value) in &rows {
        html.push_str(&format!(
            "<tr><th align=\"left\" valign=\"top\" style=\"width:6.5em\">{}</th>\
             <td style=\"{WRAP}\">{}</td></tr>\n",
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

/// Body and cell style of the emails: long ARNs, user agents and S3 keys wrap anywhere rather
/// than widen the page past a phone's screen (`word-break` for clients without `overflow-wrap:
/// anywhere`).
const WRAP: &str = "font-family:sans-serif;overflow-wrap:anywhere;word-break:break-word";

/// Digest of several findings, each with its count: (subject, plain text body, HTML body). The
/// subject counts findings (summing counts) by severity: `"[trailwatch] 7 findings (2 critical,
/// 5 high)"`. Findings are listed most severe first, otherwise in the order given.
pub fn email_digest(findings: &[(&Finding, u64)]) -> (String, String, String) {
    let rows = one_per_event(findings);
    let mut by_sev = [0u64; SEVERITIES.len() + 1];
    for (f, n) in &rows {
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
    let heading = format!("{total} {noun}");
    let mut subject = format!("[trailwatch] {heading}");
    if !parts.is_empty() {
        subject.push_str(&format!(" ({})", parts.join(", ")));
    }
    let events = match rows.len() {
        1 => "1 event".to_string(),
        n => format!("{n} events"),
    };

    let mut plain = format!("{}\n{events}\n\n", &subject["[trailwatch] ".len()..]);
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"></head>\n<body style=\"{WRAP}\">\n\
         <h2>trailwatch: {}</h2>\n<p>{}{}</p>\n",
        html_escape(&heading),
        html_escape(&events),
        html_escape(&parts.iter().map(|p| format!(" · {p}")).collect::<String>()),
    );
    for (f, n) in rows {
        let sev = severity(f).to_uppercase();
        let (_, color) = severity_style(&sev);
        let time = opt(&f.event_time).unwrap_or("-");
        let actor = opt(&f.actor).unwrap_or("-");
        let place = account_region(f);
        let times = if n > 1 {
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
            .map(|u| format!("<br><a href=\"{}\">View in CloudTrail</a>", html_escape(&u)))
            .unwrap_or_default();
        html.push_str(&format!(
            "<div style=\"border-left:5px solid {color};padding:4px 8px;margin:10px 0\">\
             <b style=\"color:{color}\">{}</b> <b>{}</b><br>{} · {}<br>{}{link}</div>\n",
            html_escape(&sev),
            html_escape(&title),
            html_escape(time),
            html_escape(&place),
            html_escape(actor),
        ));
    }
    plain.push_str("-- \ntrailwatch\n");
    html.push_str("</body></html>\n");
    (subject, plain, html)
}

/// One row per event, most severe first, otherwise in the order given: findings with the same
/// event id (an event that reached the digest more than once) become one row, the most severe
/// one's, with the largest count. Findings without an event id (thresholds) stay apart.
fn one_per_event<'a>(findings: &[(&'a Finding, u64)]) -> Vec<(&'a Finding, u64)> {
    let mut sorted: Vec<(&Finding, u64)> = findings.to_vec();
    sorted.sort_by_key(|(f, _)| rank(&severity(f)));
    let mut rows: Vec<(&Finding, u64)> = Vec::with_capacity(sorted.len());
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (f, n) in sorted {
        match opt(&f.event_id).and_then(|id| seen.get(id).copied().map(|i| (id, i))) {
            Some((_, i)) => rows[i].1 = rows[i].1.max(n),
            None => {
                if let Some(id) = opt(&f.event_id) {
                    seen.insert(id, rows.len());
                }
                rows.push((f, n));
            }
        }
    }
    rows
}

/// Labelled values for the email bodies (plain, unescaped).
fn detail_rows(f: &Finding, count: u64) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    if let Some(actor) = opt(&f.actor) {
        let kind = opt(&f.actor_type).map(|t| format!(" ({t})"));
        rows.push(("Actor", format!("{actor}{}", kind.unwrap_or_default())));
    }
    for (label, value) in [
        ("Account", &f.account_id),
        ("Region", &f.region),
        ("Time", &f.event_time),
        ("Source IP", &f.source_ip),
        ("User agent", &f.user_agent),
    ] {
        if let Some(v) = opt(value) {
            rows.push((label, v.to_string()));
        }
    }
    if let Some(e) = event(f) {
        rows.push(("Event", e));
    }
    if let Some(code) = opt(&f.error_code) {
        let msg = opt(&f.error_message).map(|m| format!(": {m}"));
        rows.push(("Error", format!("{code}{}", msg.unwrap_or_default())));
    }
    if let Some(a) = super::attempt(f) {
        rows.push(("Outcome", a.to_string()));
    }
    if let Some(rule) = nonblank(&f.rule_id) {
        let pack = nonblank(&f.pack).map(|p| format!(" (pack {p})"));
        rows.push(("Rule", format!("{rule}{}", pack.unwrap_or_default())));
    }
    if f.rules.len() > 1 {
        rows.push(("Rules", super::rule_lines(f).join("; ")));
    }
    if let Some(loc) = nonblank(&f.location) {
        rows.push(("Location", loc.to_string()));
    }
    if count > 1 {
        let span = match (opt(&f.first_time), opt(&f.last_time)) {
            (Some(a), Some(b)) => format!(", {a} to {b}"),
            _ => String::new(),
        };
        rows.push(("Repeats", format!("{} more like this{span}", count - 1)));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::render::tests::finding;
    use crate::catalog::Severity;

    #[test]
    fn email_single_subject_and_bodies() {
        let mut f = finding();
        f.actor = Some("<script>x</script> & co".into());
        f.first_time = Some("2024-05-01T11:00:00Z".into());
        f.last_time = Some("2024-05-01T12:00:00Z".into());
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
        f.title = "evil\r\nBcc: x@example.com".into();
        let (subject, ..) = email_single(&f, 1);
        assert!(!subject.contains('\n') && !subject.contains('\r'));
    }

    #[test]
    fn email_digest_counts_by_severity() {
        let with = |sev: Severity, title: &str| {
            let mut f = finding();
            f.severity = sev;
            f.title = title.into();
            f.event_id = Some(format!("event-{title}"));
            f
        };
        let (h1, l1, c1, h2) = (
            with(Severity::High, "H1"),
            with(Severity::Low, "L1 <b>"),
            with(Severity::Critical, "C1"),
            with(Severity::High, "H2"),
        );
        let findings = vec![(&h1, 1), (&l1, 1), (&c1, 2), (&h2, 2)];
        let (subject, plain, html) = email_digest(&findings);
        assert_eq!(
            subject,
            "[trailwatch] 6 findings (2 critical, 3 high, 1 low)"
        );
        let pos = |s: &str| plain.find(s).unwrap();
        assert!(pos("C1 (x2)") < pos("H1") && pos("H1") < pos("H2") && pos("H2") < pos("L1"));
        assert!(plain.contains("[CRITICAL] 2024-05-01T12:00:00Z  C1 (x2)"));
        assert!(html.contains("L1 &lt;b&gt;") && html.contains(">View in CloudTrail</a>"));
        assert_eq!(
            email_digest(&[(&finding(), 1)]).0,
            "[trailwatch] 1 finding (1 critical)"
        );
        assert_eq!(email_digest(&[]).0, "[trailwatch] 0 findings");
        assert!(html.contains("<h2>trailwatch: 6 findings</h2>"), "{html}");
        assert!(
            html.contains("4 events · 2 critical · 3 high · 1 low"),
            "{html}"
        );
        assert!(plain.starts_with("6 findings (2 critical, 3 high, 1 low)\n4 events\n"));
    }

    #[test]
    fn email_digest_lists_each_event_once() {
        let mut high = finding();
        high.severity = Severity::High;
        high.title = "Seen as high".into();
        let crit = finding(); // the same event id, critical
        let mut other = finding();
        other.event_id = Some("another-event".into());
        other.title = "Other event".into();
        let mut threshold = finding();
        threshold.event_id = None;
        threshold.title = "Threshold".into();
        let (subject, plain, html) = email_digest(&[
            (&high, 1),
            (&crit, 3),
            (&other, 1),
            (&threshold, 1),
            (&threshold, 1),
        ]);
        assert_eq!(subject, "[trailwatch] 6 findings (6 critical)");
        assert_eq!(
            html.matches("CloudTrail logging stopped").count(),
            1,
            "{html}"
        );
        assert!(!html.contains("Seen as high"), "{html}");
        assert!(plain.contains("CloudTrail logging stopped (x3)"), "{plain}");
        assert_eq!(plain.matches("Other event").count(), 1);
        assert_eq!(plain.matches("Threshold").count(), 2);
        assert!(plain.contains("\n4 events\n"), "{plain}");
    }
}
