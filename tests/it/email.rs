//! The email sink against the local SMTP server that `scripts/test.sh` starts (`scripts/smtp.sh`,
//! `scripts/smtp_server.py`).
//!
//! Tests call [`smtp()`] and return early on `None`. The server writes every message it accepts to
//! `TRAILWATCH_TEST_SMTP_DIR/<n>.eml` (with the envelope in `<n>.json`); each test sends with its
//! own [`unique`] subject and finds its messages by it, so tests run in parallel on one server.

use crate::support::services::{SMTP, gate};
use crate::support::unique;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use trailwatch::alert::SendError;
use trailwatch::alert::email::{Email, EmailConfig, Tls};

/// The test server's one account (scripts/smtp_server.py).
const USER: &str = "trailwatch";
const PASSWORD: &str = "trailwatch-test-password";
const FROM: &str = "Trailwatch Alerts <alerts@example.com>";

/// The SMTP server of `TRAILWATCH_TEST_SMTP` (`127.0.0.1:PORT`) and its mail directory
/// (`TRAILWATCH_TEST_SMTP_DIR`), or `None` (with a message) when `TRAILWATCH_SKIP_SMTP=1` and no
/// server is set. Without either, it panics: a plain `cargo test` must not pass while silently
/// skipping the email tests.
pub fn smtp() -> Option<(String, PathBuf)> {
    let addr = gate(&SMTP)?;
    let dir = match std::env::var("TRAILWATCH_TEST_SMTP_DIR") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => panic!(
            "TRAILWATCH_TEST_SMTP is set but TRAILWATCH_TEST_SMTP_DIR (where the server writes \
             the messages) is not: eval \"$(scripts/smtp.sh env)\", or run scripts/test.sh"
        ),
    };
    assert!(
        dir.is_dir(),
        "TRAILWATCH_TEST_SMTP_DIR={} is not a directory",
        dir.display()
    );
    Some((addr, dir))
}

/// A configuration for the server at `addr` (`host:port`), with the test account.
fn config(addr: &str, to: &[&str]) -> EmailConfig {
    let (host, port) = addr
        .rsplit_once(':')
        .expect("TRAILWATCH_TEST_SMTP is host:port");
    EmailConfig {
        host: host.to_string(),
        port: port.parse().expect("TRAILWATCH_TEST_SMTP port"),
        tls: Tls::None,
        username: Some(USER.to_string()),
        password: Some(PASSWORD.to_string()),
        from: FROM.to_string(),
        to: to.iter().map(|s| s.to_string()).collect(),
        timeout: Duration::from_secs(10),
    }
}

/// One message the server accepted: the raw message and its envelope.
struct Received {
    raw: String,
    envelope: serde_json::Value,
}

/// The messages in `dir` whose raw text contains `tag`. The server writes `<n>.json` before it
/// renames `<n>.eml` into place, and both before it answers 250, so a finished send is there.
fn received(dir: &Path, tag: &str) -> Vec<Received> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read the SMTP mail directory") {
        let path = entry.expect("mail directory entry").path();
        if path.extension().is_none_or(|e| e != "eml") {
            continue;
        }
        let raw = std::fs::read_to_string(&path).expect("read a received .eml");
        if !raw.contains(tag) {
            continue;
        }
        let json = std::fs::read_to_string(path.with_extension("json"))
            .expect("the .json beside a received .eml");
        let envelope = serde_json::from_str(&json).expect("the envelope .json");
        found.push(Received { raw, envelope });
    }
    found
}

/// The value of the first header `name` in the message's top-level header block (unfolded).
fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next().unwrap_or_default();
    let mut value: Option<String> = None;
    for line in head.split("\r\n") {
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push_str(line);
                continue;
            }
            break;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.eq_ignore_ascii_case(name)
        {
            value = Some(v.trim().to_string());
        }
    }
    value
}

fn is_retry(r: &Result<(), SendError>) -> bool {
    matches!(r, Err(SendError::Retry { .. }))
}

fn is_permanent(r: &Result<(), SendError>) -> bool {
    matches!(r, Err(SendError::Permanent(_)))
}

#[tokio::test]
async fn sends_one_multipart_message_with_auth_to_every_recipient() {
    let Some((addr, dir)) = smtp() else { return };
    let tag = unique("ok");
    let to = ["oncall@example.com", "Security Team <security@example.org>"];
    let email = Email::new(&config(&addr, &to)).unwrap();
    let subject = format!("[trailwatch] high: ConsoleLogin without MFA {tag}");
    email
        .send(
            &subject,
            &format!("plain text body {tag}\nsecond line"),
            &format!("<html><body><p>html body {tag}</p></body></html>"),
        )
        .await
        .unwrap();

    let got = received(&dir, &tag);
    assert_eq!(got.len(), 1, "exactly one message with {tag}");
    let Received { raw, envelope } = &got[0];
    assert_eq!(header(raw, "Subject").as_deref(), Some(subject.as_str()));
    let from = header(raw, "From").unwrap();
    assert!(from.contains("<alerts@example.com>"), "From: {from}");
    let to_header = header(raw, "To").unwrap();
    assert!(
        to_header.contains("oncall@example.com") && to_header.contains("<security@example.org>"),
        "To: {to_header}"
    );
    assert!(header(raw, "Message-ID").is_some_and(|v| v.starts_with('<')));
    assert!(header(raw, "Date").is_some());
    let content_type = header(raw, "Content-Type").unwrap();
    assert!(
        content_type.starts_with("multipart/alternative;"),
        "Content-Type: {content_type}"
    );
    // Plain text first, then HTML (the preferred part last), each with its body.
    let plain = raw
        .find("Content-Type: text/plain; charset=utf-8")
        .expect(raw);
    let html = raw
        .find("Content-Type: text/html; charset=utf-8")
        .expect(raw);
    assert!(plain < html, "{raw}");
    let text_at = raw.find(&format!("plain text body {tag}")).expect(raw);
    let html_at = raw.find(&format!("<p>html body {tag}</p>")).expect(raw);
    assert!(plain < text_at && text_at < html && html < html_at, "{raw}");
    assert!(!raw.contains(PASSWORD));

    assert_eq!(envelope["mail_from"], "alerts@example.com");
    assert_eq!(
        envelope["rcpt_tos"],
        serde_json::json!(["oncall@example.com", "security@example.org"])
    );
    assert_eq!(envelope["auth_user"], USER, "sent after AUTH");
}

#[tokio::test]
async fn sends_without_credentials_when_none_are_configured() {
    let Some((addr, dir)) = smtp() else { return };
    let tag = unique("noauth");
    let cfg = EmailConfig {
        username: None,
        password: None,
        ..config(&addr, &["oncall@example.com"])
    };
    Email::new(&cfg)
        .unwrap()
        .send(&format!("no auth {tag}"), "text", "<p>html</p>")
        .await
        .unwrap();
    let got = received(&dir, &tag);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].envelope["auth_user"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_4xx_recipient_is_retried_and_nothing_is_sent() {
    let Some((addr, dir)) = smtp() else { return };
    let tag = unique("4xx");
    let email = Email::new(&config(&addr, &["fail4xx@example.com"])).unwrap();
    let r = email
        .send(&format!("4xx {tag}"), "text", "<p>html</p>")
        .await;
    assert!(is_retry(&r), "{r:?}");
    let reason = r.unwrap_err().to_string();
    assert!(
        reason.contains("451") && reason.contains("try later"),
        "{reason}"
    );
    assert!(!reason.contains(PASSWORD), "{reason}");
    assert_eq!(received(&dir, &tag).len(), 0);
}

#[tokio::test]
async fn a_5xx_recipient_is_permanent_and_nothing_is_sent() {
    let Some((addr, dir)) = smtp() else { return };
    let tag = unique("5xx");
    let email = Email::new(&config(&addr, &["fail5xx@example.com"])).unwrap();
    let r = email
        .send(&format!("5xx {tag}"), "text", "<p>html</p>")
        .await;
    assert!(is_permanent(&r), "{r:?}");
    let reason = r.unwrap_err().to_string();
    assert!(
        reason.contains("550") && reason.contains("no such user"),
        "{reason}"
    );
    assert_eq!(received(&dir, &tag).len(), 0);
}

#[tokio::test]
async fn one_refused_recipient_fails_the_whole_message() {
    let Some((addr, dir)) = smtp() else { return };
    let tag = unique("mixed");
    let email = Email::new(&config(
        &addr,
        &["oncall@example.com", "fail5xx@example.com"],
    ))
    .unwrap();
    let r = email
        .send(&format!("mixed {tag}"), "text", "<p>html</p>")
        .await;
    assert!(is_permanent(&r), "{r:?}");
    assert_eq!(received(&dir, &tag).len(), 0, "no partial delivery");
}

#[tokio::test]
async fn a_wrong_password_is_permanent_and_not_shown() {
    let Some((addr, dir)) = smtp() else { return };
    let tag = unique("badpass");
    let wrong = "wrong-password-Xy7";
    let cfg = EmailConfig {
        password: Some(wrong.to_string()),
        ..config(&addr, &["oncall@example.com"])
    };
    let r = Email::new(&cfg)
        .unwrap()
        .send(&format!("bad password {tag}"), "text", "<p>html</p>")
        .await;
    assert!(is_permanent(&r), "{r:?}");
    let reason = r.unwrap_err().to_string();
    assert!(reason.contains("535"), "{reason}");
    assert!(!reason.contains(wrong), "{reason}");
    assert_eq!(received(&dir, &tag).len(), 0);
}

#[tokio::test]
async fn required_starttls_is_never_skipped() {
    // The test server offers no STARTTLS: the send must fail rather than go out in plain text.
    let Some((addr, dir)) = smtp() else { return };
    let tag = unique("starttls");
    let cfg = EmailConfig {
        tls: Tls::StartTls,
        ..config(&addr, &["oncall@example.com"])
    };
    let r = Email::new(&cfg)
        .unwrap()
        .send(&format!("starttls {tag}"), "text", "<p>html</p>")
        .await;
    assert!(is_permanent(&r), "{r:?}");
    assert!(r.unwrap_err().to_string().contains("STARTTLS"));
    assert_eq!(received(&dir, &tag).len(), 0);
}

#[tokio::test]
async fn a_closed_port_is_retried() {
    // Needs no server: a port that was just free.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let email = Email::new(&config(&format!("127.0.0.1:{port}"), &["a@example.com"])).unwrap();
    let r = email.send("closed port", "text", "<p>html</p>").await;
    assert!(is_retry(&r), "{r:?}");
    let reason = r.unwrap_err().to_string();
    assert!(reason.contains(&format!("127.0.0.1:{port}")), "{reason}");
}

#[tokio::test]
async fn a_server_that_never_greets_times_out_as_retry() {
    // Needs no server: a listener whose backlog completes the connection, and which says nothing.
    let silent = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let addr = silent.local_addr().unwrap().to_string();
    let cfg = EmailConfig {
        timeout: Duration::from_millis(500),
        ..config(&addr, &["a@example.com"])
    };
    let t0 = Instant::now();
    let r = Email::new(&cfg)
        .unwrap()
        .send("silent", "text", "<p>html</p>")
        .await;
    let took = t0.elapsed();
    assert!(is_retry(&r), "{r:?}");
    assert!(
        took < Duration::from_secs(5),
        "the timeout bounds the whole send: took {took:?}"
    );
    drop(silent);
}
