//! The alert emails' HTML in a real headless Chromium at 375 px (phone) and 1200 px (desktop):
//! nothing wider than the window, and a screenshot of each under `target/email-screenshots/`.

use crate::report::browser;
use base64::Engine;
use serde_json::{Value, json};
use trailwatch::alert::render::email::{email_digest, email_single};
use trailwatch_core::catalog::Severity;
use trailwatch_core::finding::Finding;

/// A finding with the long, unbreakable values that overflowed a phone screen.
fn long_finding() -> Finding {
    let mut f = Finding::blank("guide.iam.AttachRolePolicy");
    f.pack = "guide".into();
    f.title = "Managed policy attached to a role".into();
    f.severity = Severity::High;
    f.service = "iam".into();
    f.event_source = Some("iam.amazonaws.com".into());
    f.event_name = Some("AttachRolePolicy".into());
    f.event_time = Some("2024-05-01T12:00:00Z".into());
    f.event_id = Some("3f1e6a2c-1111-2222-3333-444455556666".into());
    f.account_id = Some("111122223333".into());
    f.region = Some("eu-west-1".into());
    f.actor = Some(
        "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice.longname@example.com"
            .into(),
    );
    f.actor_type = Some("AssumedRole".into());
    f.source_ip = Some("198.51.100.7".into());
    f.user_agent = Some(
        "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0-18-amd64 exe/x86_64.debian.12 prompt/off command/iam.attach-role-policy"
            .into(),
    );
    f.summary = "alice attached arn:aws:iam::aws:policy/AdministratorAccess to arn:aws:iam::111122223333:role/service-role/a-very-long-role-name-for-a-lambda-function-in-production".into();
    f.why = "Check who may assume the role.".into();
    f.location = "s3://trail-bucket-with-a-long-name/AWSLogs/111122223333/CloudTrail/eu-west-1/2024/05/01/111122223333_CloudTrail_eu-west-1_20240501T1200Z_abcdefghijklmnop.json.gz#17".into();
    f
}

/// Sets the window's width, loads `html`, and returns (scrollWidth, innerWidth).
fn widths(b: &crate::report::Browser, html: &str, width: u32) -> (u64, u64) {
    b.session(
        "POST",
        "/window/rect",
        Some(json!({"width": width, "height": 900})),
    );
    let url = format!(
        "data:text/html;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(html)
    );
    b.session("POST", "/url", Some(json!({ "url": url })));
    let v: Value = b.js(
        "return [document.documentElement.scrollWidth, window.innerWidth]",
        json!([]),
    );
    (v[0].as_u64().unwrap(), v[1].as_u64().unwrap())
}

fn screenshot(b: &crate::report::Browser, name: &str) {
    let shot = b.session("GET", "/screenshot", None);
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot.as_str().unwrap())
        .unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/email-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

#[test]
fn single_finding_email_does_not_overflow_at_phone_or_desktop_width() {
    let Some(b) = browser() else { return };
    let (_, _, html) = email_single(&long_finding(), 3);
    for width in [375, 1200] {
        let (scroll, inner) = widths(&b, &html, width);
        screenshot(&b, &format!("single-{width}.png"));
        assert!(
            scroll <= inner,
            "at {width} px the page is {scroll} px wide, the window {inner} px"
        );
    }
}

#[test]
fn digest_email_has_a_heading_one_row_per_event_and_fits_a_phone() {
    let Some(b) = browser() else { return };
    let base = long_finding();
    let mut findings: Vec<Finding> = (0..6)
        .map(|i| {
            let mut f = base.clone();
            f.event_id = Some(format!("event-{i}"));
            f.severity = [Severity::Critical, Severity::High, Severity::Medium][i % 3];
            f
        })
        .collect();
    // the same event a second time: listed once
    findings.push(findings[0].clone());
    let pairs: Vec<(&Finding, u64)> = findings.iter().map(|f| (f, 1)).collect();
    let (_, _, html) = email_digest(&pairs);
    for width in [375, 1200] {
        let (scroll, inner) = widths(&b, &html, width);
        screenshot(&b, &format!("digest-{width}.png"));
        assert!(
            scroll <= inner,
            "at {width} px the digest is {scroll} px wide, the window {inner} px"
        );
        let heading = b.js("return document.querySelector('h2').textContent", json!([]));
        assert_eq!(heading, "trailwatch: 6 findings");
        let counts = b.js("return document.querySelector('p').textContent", json!([]));
        assert_eq!(counts, "6 events · 2 critical · 2 high · 2 medium");
        let rows = b.js(
            "return document.querySelectorAll('body > div').length",
            json!([]),
        );
        assert_eq!(rows, 6);
    }
}
