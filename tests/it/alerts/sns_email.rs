//! Alerts to receivers that are not plain HTTP: SNS on the moto server, and email (single and
//! digest) through the test SMTP server.

use super::{event, inbox, run_until_idle, stop_logging_inbox};
use crate::support::bin;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn sns_publishes_with_message_attributes() {
    let Some(m) = crate::aws::moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let conf = m.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sns::config::Credentials::new(
                "test", "test", None, None, "static",
            ))
            .endpoint_url(&m.endpoint)
            .load(),
    );
    let sns = aws_sdk_sns::Client::new(&conf);
    let topic = m
        .block_on(sns.create_topic().name(m.unique("alerts")).send())
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let queue = m.create_queue(&m.unique("alerts"));
    m.block_on(
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(m.queue_arn(&queue))
            .send(),
    )
    .unwrap();
    let inbox = stop_logging_inbox(dir.path(), "sns-1");
    let toml = format!(
        "[aws]\nendpoint_url = \"{}\"\nregion = \"us-east-1\"\n[sinks.topic]\ntype = \"sns\"\ntopic_arn = \"{topic}\"\n[alerts]\ndefault = [\"topic\"]\n",
        m.endpoint
    );
    let err = run_until_idle(dir.path(), &inbox, &toml, "2s");
    let bodies = m.receive_bodies(&queue, 2);
    assert_eq!(bodies.len(), 1, "{err}");
    let envelope: Value = serde_json::from_str(&bodies[0]).unwrap();
    let message: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message["event_id"], "sns-1");
    let attrs = &envelope["MessageAttributes"];
    assert_eq!(attrs["severity"]["Value"], "critical", "{envelope}");
    assert_eq!(attrs["rule_id"]["Value"], "guide.cloudtrail.StopLogging");
    assert_eq!(attrs["account_id"]["Value"], "111122223333");
    assert_eq!(attrs["service"]["Value"], "cloudtrail");
    let subject = envelope["Subject"].as_str().unwrap();
    assert!(subject.chars().count() < 100, "{subject}");
    assert!(subject.starts_with("[trailwatch] CRITICAL: "), "{subject}");
    assert!(subject.ends_with(" in 111122223333/us-east-1"), "{subject}");
}

#[test]
fn email_alerts_arrive_over_smtp() {
    let Some((addr, maildir)) = crate::email::smtp() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (host, port) = addr.rsplit_once(':').unwrap();
    let id = format!("mail-{}", std::process::id());
    let inbox = stop_logging_inbox(dir.path(), &id);
    let toml = format!(
        "[sinks.mail]\ntype = \"email\"\nhost = \"{host}\"\nport = {port}\ntls = \"none\"\nusername = \"trailwatch\"\npassword = \"env:SMTP_PASSWORD\"\nfrom = \"trailwatch@example.com\"\nto = [\"{id}@example.com\"]\n[alerts]\ndefault = [\"mail\"]\n"
    );
    let config = dir.path().join("trailwatch.toml");
    std::fs::write(&config, &toml).unwrap();
    let out = Command::new(bin())
        .args([
            "watch",
            "--config",
            config.to_str().unwrap(),
            "--dir",
            inbox.to_str().unwrap(),
        ])
        .args(["--packs", "guide", "--idle-exit", "2s"])
        .args([
            "--state",
            dir.path().join("state.db").to_str().unwrap(),
            "-o",
            dir.path().join("o.jsonl").to_str().unwrap(),
        ])
        .env("SMTP_PASSWORD", "trailwatch-test-password")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    // The recipient is unique to this test: find its envelope, then the message beside it.
    let mail = loop {
        let found = std::fs::read_dir(&maildir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .find(|p| std::fs::read_to_string(p).unwrap_or_default().contains(&id));
        if let Some(envelope) = found {
            break std::fs::read_to_string(envelope.with_extension("eml")).unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no mail for {id}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(mail.contains("[trailwatch] CRITICAL"), "{mail}");
    assert!(mail.contains("text/html") && mail.contains("text/plain"));
}

#[test]
fn email_digest_sends_one_mail_for_many_findings() {
    let Some((addr, maildir)) = crate::email::smtp() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (host, port) = addr.rsplit_once(':').unwrap();
    let id = format!("digest-{}", std::process::id());
    let records: Vec<Value> = (0..3)
        .map(|i| {
            event(
                "cloudtrail.amazonaws.com",
                "StopLogging",
                &format!("{id}-{i}"),
            )
        })
        .collect();
    let inbox = inbox(dir.path(), &records);
    let toml = format!(
        "[sinks.mail]\ntype = \"email\"\nhost = \"{host}\"\nport = {port}\ntls = \"none\"\nfrom = \"trailwatch@example.com\"\nto = [\"{id}@example.com\"]\ndigest = \"1h\"\n[alerts]\ndefault = [\"mail\"]\n"
    );
    run_until_idle(dir.path(), &inbox, &toml, "2s");
    let envelopes: Vec<PathBuf> = std::fs::read_dir(&maildir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| std::fs::read_to_string(p).unwrap_or_default().contains(&id))
        .collect();
    // One mail for the three findings, sent when the watcher stopped (before the hour was up).
    assert_eq!(envelopes.len(), 1, "{envelopes:?}");
    let mail = std::fs::read_to_string(envelopes[0].with_extension("eml")).unwrap();
    assert!(mail.contains("3 findings (3 critical)"), "{mail}");
}

/// A configuration with one SNS sink publishing to `topic` through `endpoint`.
fn sns_config(endpoint: &str, topic: &str) -> String {
    format!(
        "[aws]\nendpoint_url = \"{endpoint}\"\nregion = \"us-east-1\"\n[sinks.topic]\ntype = \"sns\"\ntopic_arn = \"{topic}\"\n[alerts]\ndefault = [\"topic\"]\nretry_initial = \"1s\"\n"
    )
}

fn sns_env() -> [(&'static str, &'static str); 3] {
    [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
}

#[test]
fn sns_topic_that_does_not_exist_is_a_dead_letter_at_once() {
    let Some(m) = crate::aws::moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let inbox = stop_logging_inbox(dir.path(), "sns-missing-1");
    let topic = format!("arn:aws:sns:us-east-1:123456789012:{}", m.unique("missing"));
    let config = dir.path().join("trailwatch.toml");
    std::fs::write(&config, sns_config(&m.endpoint, &topic)).unwrap();
    let started = Instant::now();
    let out = Command::new(bin())
        .args(["watch", "--config", config.to_str().unwrap()])
        .args(["--dir", inbox.to_str().unwrap(), "--packs", "guide"])
        .args(["--state", dir.path().join("state.db").to_str().unwrap()])
        .args(["-o", dir.path().join("o.jsonl").to_str().unwrap()])
        .args(["--idle-exit", "2s", "--log", "warn"])
        .envs(sns_env())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "{err}");
    assert!(
        !err.contains("retrying"),
        "a missing topic is not retried: {err}"
    );
    let dead = crate::support::trailwatch()
        .args(["state", "dead-letters", "--state"])
        .arg(dir.path().join("state.db"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&dead.stdout);
    assert!(
        text.contains("topic") && text.contains("NotFound"),
        "{text}\n{err}"
    );
    let info = crate::support::state_info(&dir.path().join("state.db"));
    assert_eq!(info["dead_letters"], 1, "{info}");
}

#[test]
fn sns_throttling_and_server_errors_are_retried_until_published() {
    use crate::http::{Reply, Server};
    let error = |code: &str| {
        format!(
            "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>slow down</Message></Error><RequestId>r1</RequestId></ErrorResponse>"
        )
    };
    let published = "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></PublishResponse>";
    // Throttled answered as a 400 (as the query protocol may), then a 500: both retried.
    let sns = Server::start(
        vec![
            Reply::Status(400, error("Throttled")),
            Reply::Status(500, error("InternalError")),
        ],
        Reply::Status(200, published.into()),
    );
    let dir = tempfile::tempdir().unwrap();
    let inbox = stop_logging_inbox(dir.path(), "sns-throttled-1");
    let config = dir.path().join("trailwatch.toml");
    let topic = "arn:aws:sns:us-east-1:123456789012:alerts";
    std::fs::write(&config, sns_config(&sns.url(), topic)).unwrap();
    let out = Command::new(bin())
        .args(["watch", "--config", config.to_str().unwrap()])
        .args(["--dir", inbox.to_str().unwrap(), "--packs", "guide"])
        .args(["--state", dir.path().join("state.db").to_str().unwrap()])
        .args(["-o", dir.path().join("o.jsonl").to_str().unwrap()])
        .args(["--idle-exit", "6s", "--log", "warn"])
        .envs(sns_env())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let reqs = sns.requests();
    assert!(reqs.len() >= 3, "{} requests: {err}", reqs.len());
    assert!(String::from_utf8_lossy(&reqs[2].body).contains("Action=Publish"));
    let info = crate::support::state_info(&dir.path().join("state.db"));
    assert_eq!(info["dead_letters"], 0, "{info}\n{err}");
    let pending = info["outbox"].as_array().unwrap();
    assert!(pending.iter().all(|o| o[0] != "topic"), "{info}\n{err}");
}
