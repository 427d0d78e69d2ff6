//! Messages within Discord's limits, record text made inert, summaries that count everything.

use super::*;

fn delivery(severity: Severity, count: u64) -> Delivery {
    let mut finding = render::sample_finding();
    finding.severity = severity;
    Delivery {
        finding,
        idempotency_key: "k-1".into(),
        count,
    }
}

/// Every documented limit of one message.
fn within_limits(m: &Value) {
    assert!(m["content"].as_str().unwrap_or("").chars().count() <= CONTENT_MAX);
    let embeds = m["embeds"].as_array().unwrap();
    assert!(!embeds.is_empty() && embeds.len() <= 10);
    for e in embeds {
        let n = |v: &Value| v.as_str().unwrap_or("").chars().count();
        assert!(n(&e["title"]) <= TITLE_MAX, "{e}");
        assert!(n(&e["description"]) <= DESCRIPTION_MAX);
        assert!(n(&e["footer"]["text"]) <= FOOTER_MAX);
        let fields = e["fields"].as_array().unwrap();
        assert!(fields.len() <= FIELDS_MAX);
        let mut total = n(&e["title"]) + n(&e["description"]) + n(&e["footer"]["text"]);
        for f in fields {
            assert!(n(&f["name"]) > 0 && n(&f["name"]) <= FIELD_NAME_MAX, "{f}");
            assert!(n(&f["value"]) > 0 && n(&f["value"]) <= FIELD_VALUE_MAX, "{f}");
            total += n(&f["name"]) + n(&f["value"]);
        }
        assert!(total <= EMBED_TOTAL_MAX, "{total}");
    }
    assert_eq!(m["allowed_mentions"]["parse"], json!([]));
}

#[test]
fn a_finding_is_one_embed_within_every_limit_even_when_huge() {
    let d = delivery(Severity::High, 1);
    let m = message("trailwatch", &d);
    within_limits(&m);
    let e = &m["embeds"][0];
    assert_eq!(e["color"], colour(Severity::High));
    assert!(e["title"].as_str().unwrap().starts_with("\\[HIGH\\]"), "{e}");
    assert!(e["url"].as_str().unwrap().starts_with("https://"), "{e}");
    let names: Vec<&str> = e["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Actor") && names.contains(&"Rules"), "{names:?}");

    let mut big = delivery(Severity::Critical, 4);
    big.finding.title = "T".repeat(5000);
    big.finding.summary = "S".repeat(9000);
    big.finding.why = "W".repeat(9000);
    big.finding.actor = Some("a".repeat(3000));
    big.finding.error_code = Some("E".repeat(3000));
    big.finding.error_message = Some("M".repeat(3000));
    for i in 0..40 {
        big.finding.rules.push(crate::finding::RuleHit {
            id: format!("rule-{i}-{}", "x".repeat(200)),
            pack: "p".into(),
            title: "t".into(),
            severity: Severity::Low,
            lowered: None,
        });
    }
    within_limits(&message("trailwatch", &big));
}

#[test]
fn record_text_cannot_format_or_ping() {
    assert_eq!(escape("@everyone **bold** `x`"), "\\@everyone \\*\\*bold\\*\\* \\`x\\`");
    assert_eq!(escape("a\u{1b}[31mb"), "a\\[31mb");
    let mut d = delivery(Severity::Low, 1);
    d.finding.actor = Some("@here <@&123> [x](https://evil)".into());
    let m = message("trailwatch", &d);
    let text = m.to_string();
    assert!(!text.contains("[x](https"), "{text}");
    assert!(text.contains("\\\\@here"), "{text}");
    // A cut never leaves a dangling escape.
    let c = cut(&format!("{}\\*", "a".repeat(9)), 11);
    assert!(!c.ends_with("\\…"), "{c}");
}

#[test]
fn a_summary_counts_every_finding_within_the_limits() {
    let mut items: Vec<Delivery> = (0..500).map(|_| delivery(Severity::Low, 1)).collect();
    items.push(delivery(Severity::Critical, 3));
    for (i, d) in items.iter_mut().enumerate() {
        d.finding.rule_id = format!("rule-{}", i % 37);
        d.finding.title = "x".repeat(400);
    }
    let m = summary_message("trailwatch", &items, "501 above the rate limit of 10/m");
    within_limits(&m);
    let e = &m["embeds"][0];
    assert_eq!(e["color"], colour(Severity::Critical));
    assert!(e["title"].as_str().unwrap().contains("503 findings"), "{e}");
    let fields = e["fields"].as_array().unwrap();
    assert_eq!(fields[0]["name"], "By severity");
    assert!(fields[0]["value"].as_str().unwrap().contains("500 × low"), "{e}");
    assert!(fields[0]["value"].as_str().unwrap().contains("3 × critical"), "{e}");
    let listed = fields.len() - 3;
    let footer = e["footer"]["text"].as_str().unwrap();
    assert_eq!(footer, format!("{} more not listed", items.len() - listed));
}

#[test]
fn explains_refusals_and_reads_retry_after() {
    let (words, after) = explain(r#"{"message":"Unknown Webhook","code":10015}"#);
    assert_eq!(words, ": code 10015: Unknown Webhook");
    assert_eq!(after, None);
    let (_, after) = explain(r#"{"message":"You are being rate limited.","retry_after":1.5,"global":false}"#);
    assert_eq!(after, Some(Duration::from_millis(1500)));
    assert_eq!(explain("<html>").0, "");
}
