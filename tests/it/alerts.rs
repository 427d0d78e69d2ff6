//! Alerts through real receivers: HTTP servers standing in for Slack and webhooks, SNS on moto,
//! and an SMTP server; failures, retries, threading and crashes.

use crate::http::{Reply, Server};
use crate::support::{bin, gzip, record, trailwatch};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn ok() -> Reply {
    Reply::Status(200, "ok".into())
}

/// A folder with one delivery file holding these records.
fn inbox(dir: &Path, records: &[Value]) -> PathBuf {
    let inbox = dir.join("in");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(
        inbox.join("a.json.gz"),
        gzip(json!({ "Records": records }).to_string().as_bytes()),
    )
    .unwrap();
    inbox
}

fn event(source: &str, name: &str, id: &str) -> Value {
    let mut r = record(source, name);
    r["eventID"] = json!(id);
    r
}

/// Starts `watch --dir` with a config file holding `toml` (sinks, routes).
fn spawn(dir: &Path, inbox: &Path, toml: &str, extra: &[&str]) -> Child {
    let config = dir.join("trailwatch.toml");
    std::fs::write(&config, toml).unwrap();
    Command::new(bin())
        .args(["watch", "--config", config.to_str().unwrap()])
        .args(["--dir", inbox.to_str().unwrap(), "--packs", "guide"])
        .args(["--state", dir.join("state.db").to_str().unwrap()])
        .args([
            "--output",
            dir.join("out.jsonl").to_str().unwrap(),
            "--log",
            "warn",
        ])
        .args(extra)
        .env("HOOK_SECRET", "s3cret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn run_until_idle(dir: &Path, inbox: &Path, toml: &str, idle: &str) -> String {
    let out = spawn(dir, inbox, toml, &["--idle-exit", idle])
        .wait_with_output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

fn stop(child: Child) -> String {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn routes_payloads_signatures_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(vec![], ok());
    let slack = Server::start(vec![], ok());
    let inbox = inbox(
        dir.path(),
        &[
            event("cloudtrail.amazonaws.com", "StopLogging", "crit-1"),
            event("cloudformation.amazonaws.com", "CreateStack", "low-1"),
        ],
    );
    let archive = dir.path().join("archive.jsonl");
    let toml = format!(
        r#"
[sinks.hook]
type = "webhook"
url = "{}/hook"
secret = "env:HOOK_SECRET"
headers = {{ "X-Team" = "security" }}
[sinks.slack]
type = "slack"
url = "{}/services/T000/B000/XXXX"
[sinks.archive]
type = "file"
path = "{}"
[[routes]]
min_severity = "high"
sinks = ["hook", "slack"]
[alerts]
default = ["archive"]
"#,
        hook.url(),
        slack.url(),
        archive.display()
    );
    let err = run_until_idle(dir.path(), &inbox, &toml, "3s");
    let hooks = hook.requests();
    assert_eq!(hooks.len(), 1, "{err}");
    let r = &hooks[0];
    assert_eq!(r.path, "/hook");
    let body = r.json();
    assert_eq!(body["event_id"], "crit-1");
    assert_eq!(body["severity"], "critical");
    assert_eq!(r.header("x-team"), Some("security"));
    assert_eq!(
        r.header("x-trailwatch-signature").unwrap(),
        trailwatch::alert::render::signature(b"s3cret", &r.body)
    );
    assert_eq!(
        r.header("idempotency-key").unwrap(),
        trailwatch::alert::idempotency_key("guide.cloudtrail.StopLogging\u{1f}crit-1")
    );
    let s = slack.requests();
    assert_eq!(s.len(), 1);
    let msg = s[0].json();
    let text = msg.to_string();
    assert!(text.contains("CRITICAL"), "{text}");
    assert!(text.contains("View in CloudTrail"), "{text}");
    assert!(msg["attachments"][0]["blocks"].is_array());
    // The low finding matched no route: the default sink.
    let lines = std::fs::read_to_string(&archive).unwrap();
    assert_eq!(lines.lines().count(), 1);
    assert!(lines.contains("low-1"));
}

#[test]
fn failures_are_retried_until_delivered_with_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(
        vec![
            Reply::Status(500, "boom".into()),
            Reply::RetryAfter(429, 1),
            Reply::Close,
            Reply::Delay(Duration::from_secs(3), Box::new(ok())),
        ],
        ok(),
    );
    let inbox = inbox(
        dir.path(),
        &[event("cloudtrail.amazonaws.com", "StopLogging", "retry-1")],
    );
    let toml = format!(
        "[sinks.hook]\ntype = \"webhook\"\nurl = \"{}/h\"\ntimeout = \"1s\"\n[alerts]\ndefault = [\"hook\"]\nretry_initial = \"1s\"\n",
        hook.url()
    );
    let child = spawn(dir.path(), &inbox, &toml, &[]);
    let reqs = hook.wait_for(5, Duration::from_secs(60));
    // Let the last answer be recorded, then stop.
    std::thread::sleep(Duration::from_millis(500));
    let err = stop(child);
    assert_eq!(reqs.len(), 5, "{err}");
    let keys: Vec<_> = reqs
        .iter()
        .map(|r| r.header("idempotency-key").map(str::to_string))
        .collect();
    assert!(
        keys.iter().all(|k| k == &keys[0] && k.is_some()),
        "{keys:?}"
    );
    // Retry-After: 1 was honoured.
    assert!(reqs[2].at.duration_since(reqs[1].at) >= Duration::from_millis(900));
    assert!(err.contains("retrying"), "{err}");
    let info = trailwatch()
        .args([
            "state",
            "info",
            "--json",
            "--state",
            dir.path().join("state.db").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    assert!(
        info["outbox"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o[0] != "hook"),
        "{info}"
    );
    assert_eq!(info["dead_letters"], 0);
}

#[test]
fn permanent_failures_become_dead_letters_and_can_be_retried() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(vec![Reply::Status(404, "no such hook".into())], ok());
    let inbox = inbox(
        dir.path(),
        &[event("cloudtrail.amazonaws.com", "StopLogging", "dead-1")],
    );
    let toml = format!(
        "[sinks.hook]\ntype = \"webhook\"\nurl = \"{}/h\"\n[alerts]\ndefault = [\"hook\"]\n",
        hook.url()
    );
    let err = run_until_idle(dir.path(), &inbox, &toml, "2s");
    assert!(err.contains("dead letters"), "{err}");
    let state = dir.path().join("state.db");
    let dead = trailwatch()
        .args(["state", "dead-letters", "--state", state.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&dead.stdout);
    assert!(
        text.contains("hook") && text.contains("HTTP 404") && text.contains("dead-1"),
        "{text}"
    );
    trailwatch()
        .args([
            "state",
            "dead-letters",
            "--retry",
            "--state",
            state.to_str().unwrap(),
        ])
        .assert()
        .success();
    run_until_idle(dir.path(), &inbox, &toml, "2s");
    assert_eq!(hook.requests().len(), 2);
}

#[test]
fn slack_app_threads_repeats_and_picks_the_account_channel() {
    let dir = tempfile::tempdir().unwrap();
    let slack = Server::start(
        vec![],
        Reply::Status(
            200,
            r#"{"ok":true,"channel":"C0PROD","ts":"1700000000.000100"}"#.into(),
        ),
    );
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "pack: acme\nrules:\n  - id: acme.user-created\n    title: User created\n    severity: high\n    description: d\n    match: { sources: [iam.amazonaws.com], names: [CreateUser] }\n    dedup: { key: [userIdentity.arn], window: 1h }\n",
    )
    .unwrap();
    let mut records = Vec::new();
    for i in 0..3 {
        let mut r = event("iam.amazonaws.com", "CreateUser", &format!("u{i}"));
        r["eventTime"] = json!(format!("2026-11-20T09:0{i}:00Z"));
        records.push(r);
    }
    let inbox = inbox(dir.path(), &records);
    let toml = format!(
        "[sinks.app]\ntype = \"slack_app\"\ntoken = \"xoxb-test\"\nchannel = \"#security\"\napi_url = \"{}/api\"\naccount_channels = {{ \"111122223333\" = \"#prod-alerts\" }}\n[[routes]]\npacks = [\"acme\"]\nsinks = [\"app\"]\n",
        slack.url()
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
        .args([
            "--packs",
            "acme",
            "--rules",
            rules.to_str().unwrap(),
            "--idle-exit",
            "3s",
        ])
        .args([
            "--state",
            dir.path().join("state.db").to_str().unwrap(),
            "-o",
            dir.path().join("o.jsonl").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let reqs = slack.requests();
    assert!(reqs.len() >= 2, "{err} {reqs:?}");
    assert!(reqs.iter().all(|r| r.path == "/api/chat.postMessage"));
    assert_eq!(reqs[0].header("authorization"), Some("Bearer xoxb-test"));
    let first = reqs[0].json();
    assert_eq!(first["channel"], "#prod-alerts");
    assert!(first.get("thread_ts").is_none());
    let replies: Vec<Value> = reqs[1..].iter().map(|r| r.json()).collect();
    assert!(
        replies
            .iter()
            .all(|r| r["thread_ts"] == "1700000000.000100"),
        "{replies:?}"
    );
    let last = replies.last().unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(last.contains("2 more like this"), "{last}");
}

#[test]
fn rate_limit_sends_the_rest_as_one_summary() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(vec![], ok());
    let records: Vec<Value> = (0..5)
        .map(|i| {
            event(
                "cloudtrail.amazonaws.com",
                "StopLogging",
                &format!("rl-{i}"),
            )
        })
        .collect();
    let inbox = inbox(dir.path(), &records);
    let toml = format!(
        "[sinks.hook]\ntype = \"webhook\"\nurl = \"{}/h\"\nrate = \"2/m\"\n[alerts]\ndefault = [\"hook\"]\n",
        hook.url()
    );
    run_until_idle(dir.path(), &inbox, &toml, "2s");
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    let summary = reqs[2].json();
    assert_eq!(
        summary["findings"].as_array().unwrap().len(),
        3,
        "{summary}"
    );
    assert!(summary["reason"].as_str().unwrap().contains("rate limit"));
}

#[test]
fn kill_9_between_send_and_record_redelivers_with_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    // The first answer comes late: the watcher is killed while waiting for it.
    let hook = Server::start(
        vec![Reply::Delay(Duration::from_secs(5), Box::new(ok()))],
        ok(),
    );
    let inbox = inbox(
        dir.path(),
        &[event("cloudtrail.amazonaws.com", "StopLogging", "k9")],
    );
    let toml = format!(
        "[sinks.hook]\ntype = \"webhook\"\nurl = \"{}/h\"\ntimeout = \"10s\"\n[alerts]\ndefault = [\"hook\"]\n",
        hook.url()
    );
    let mut child = spawn(dir.path(), &inbox, &toml, &[]);
    let first = hook.wait_for(1, Duration::from_secs(30));
    assert_eq!(first.len(), 1);
    child.kill().unwrap();
    child.wait().unwrap();
    run_until_idle(dir.path(), &inbox, &toml, "2s");
    let reqs = hook.wait_for(2, Duration::from_secs(10));
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].header("idempotency-key"),
        reqs[1].header("idempotency-key")
    );
    assert_eq!(reqs[0].body, reqs[1].body);
}

#[test]
fn alert_test_and_config_check_redact_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(vec![], ok());
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[sinks.hook]\ntype = \"webhook\"\nurl = \"{}/h\"\nsecret = \"env:HOOK_SECRET\"\n[sinks.down]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/x\"\ntimeout = \"1s\"\n[sinks.slack]\ntype = \"slack\"\nurl = \"https://hooks.slack.com/services/T/B/supersecret\"\n[sources]\ndirs = [\"in\"]\n",
            hook.url()
        ),
    )
    .unwrap();
    let ok_run = trailwatch()
        .args([
            "alert",
            "test",
            "hook",
            "--config",
            config.to_str().unwrap(),
        ])
        .env("HOOK_SECRET", "s3cret")
        .output()
        .unwrap();
    assert!(
        ok_run.status.success(),
        "{}",
        String::from_utf8_lossy(&ok_run.stderr)
    );
    assert!(String::from_utf8_lossy(&ok_run.stdout).contains("hook: delivered"));
    assert_eq!(hook.requests()[0].json()["severity"], "critical");
    let down = trailwatch()
        .args([
            "alert",
            "test",
            "down",
            "--config",
            config.to_str().unwrap(),
        ])
        .env("HOOK_SECRET", "s3cret")
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(1));
    // A missing secret is a configuration error that names it.
    let missing = trailwatch()
        .args([
            "alert",
            "test",
            "hook",
            "--config",
            config.to_str().unwrap(),
        ])
        .env_remove("HOOK_SECRET")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("HOOK_SECRET"));
    let check = trailwatch()
        .args(["config", "check", config.to_str().unwrap()])
        .env("HOOK_SECRET", "s3cret")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        !text.contains("s3cret") && !text.contains("supersecret"),
        "{text}"
    );
    assert!(text.contains("hooks.slack.com/***"), "{text}");
}

#[test]
fn scan_alert_sends_a_one_shot_scan() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(vec![], ok());
    let inbox = inbox(
        dir.path(),
        &[event("cloudtrail.amazonaws.com", "StopLogging", "scan-1")],
    );
    let config = dir.path().join("c.toml");
    std::fs::write(&config, format!("[sinks.hook]\ntype = \"webhook\"\nurl = \"{}/h\"\n[[routes]]\nmin_severity = \"critical\"\nsinks = [\"hook\"]\n", hook.url())).unwrap();
    let out = trailwatch()
        .args([
            "scan",
            inbox.to_str().unwrap(),
            "--packs",
            "guide",
            "--alert",
            "--config",
            config.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("alerts: 1 delivered, 0 failed"));
    assert_eq!(hook.requests()[0].json()["event_id"], "scan-1");
}

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
    let inbox = inbox(
        dir.path(),
        &[event("cloudtrail.amazonaws.com", "StopLogging", "sns-1")],
    );
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
}

#[test]
fn email_alerts_arrive_over_smtp() {
    let Some((addr, maildir)) = crate::email::smtp() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (host, port) = addr.rsplit_once(':').unwrap();
    let id = format!("mail-{}", std::process::id());
    let inbox = inbox(
        dir.path(),
        &[event("cloudtrail.amazonaws.com", "StopLogging", &id)],
    );
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
