//! Alerts through real receivers: HTTP servers standing in for Slack and webhooks, SNS on moto,
//! and an SMTP server; failures, retries, threading and crashes.

/// The Discord channel webhook sink.
mod discord;
/// Alert emails rendered in a real headless Chromium at phone and desktop widths.
mod email_html;
/// One alert per event, listing all its rules, in every sink.
mod events;
/// The PagerDuty Events API v2 sink.
mod pagerduty;
/// No secret from any configuration source in any output, log line or state.
mod secrets;
/// SNS and email receivers.
mod sns_email;
/// The Microsoft Teams (Workflows / incoming webhook) sink.
mod teams;

use crate::http::{Reply, Server};
use crate::support::{bin, config_check, delivery_gz, event, state_info, trailwatch};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn ok() -> Reply {
    Reply::Status(200, "ok".into())
}

/// A folder with one delivery file holding these records.
fn inbox(dir: &Path, records: &[Value]) -> PathBuf {
    let inbox = dir.join("in");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("a.json.gz"), delivery_gz(records)).unwrap();
    inbox
}

/// A folder with one delivery file holding one StopLogging (a critical guide event) with this id.
fn stop_logging_inbox(dir: &Path, id: &str) -> PathBuf {
    inbox(dir, &[event("cloudtrail.amazonaws.com", "StopLogging", id)])
}

/// A configuration with one webhook sink `hook` at `URL/h` (with `options`, TOML lines) as the
/// default sink, and `alerts` (more TOML lines) in the `[alerts]` table.
fn default_hook(url: &str, options: &str, alerts: &str) -> String {
    format!(
        "[sinks.hook]\ntype = \"webhook\"\nurl = \"{url}/h\"\n{options}[alerts]\ndefault = [\"hook\"]\n{alerts}"
    )
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
        trailwatch::alert::idempotency_key("event\u{1f}crit-1")
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
    let inbox = stop_logging_inbox(dir.path(), "retry-1");
    let toml = default_hook(
        &hook.url(),
        "timeout = \"1s\"\n",
        "retry_initial = \"1s\"\n",
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
    let info = state_info(&dir.path().join("state.db"));
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
    let inbox = stop_logging_inbox(dir.path(), "dead-1");
    let toml = default_hook(&hook.url(), "", "");
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
    let toml = default_hook(&hook.url(), "rate = \"2/m\"\n", "");
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
    let inbox = stop_logging_inbox(dir.path(), "k9");
    let toml = default_hook(&hook.url(), "timeout = \"10s\"\n", "");
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
    std::fs::create_dir(dir.path().join("in")).unwrap();
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
    let text = config_check(&config, &[("HOOK_SECRET", "s3cret")]);
    assert!(
        !text.contains("s3cret") && !text.contains("supersecret"),
        "{text}"
    );
    assert!(text.contains("hooks.slack.com/***"), "{text}");
}

#[test]
fn config_check_hides_secrets_in_webhook_paths_and_queries() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::create_dir(dir.path().join("in")).unwrap();
    std::fs::write(
        &config,
        "[sinks.discord]\ntype = \"webhook\"\nurl = \"https://discord.com/api/webhooks/123456789012345678/SentinelDiscordTok\"\n\
         [sinks.teams]\ntype = \"webhook\"\nurl = \"env:TEAMS_URL\"\n\
         [sinks.generic]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/hook?token=SentinelTok&sig=SentinelSig\"\n\
         [sources]\ndirs = [\"in\"]\n",
    )
    .unwrap();
    let teams = "https://prod-12.westus.logic.azure.com:443/workflows/0a1bSentinelWf/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SentinelTeamsSig";
    let text = config_check(&config, &[("TEAMS_URL", teams)]);
    assert!(!text.to_lowercase().contains("sentinel"), "{text}");
    assert!(text.contains("discord.com/api/webhooks/***/***"), "{text}");
    assert!(
        text.contains("/workflows/***/triggers/manual/paths/invoke?api-version=***&sig=***"),
        "{text}"
    );
    assert!(
        text.contains("127.0.0.1:9/hook?token=***&sig=***"),
        "{text}"
    );
}

#[test]
fn scan_alert_sends_a_one_shot_scan() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(vec![], ok());
    let inbox = stop_logging_inbox(dir.path(), "scan-1");
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

/// `scan --alert`: a scan with `config` (TOML) as its --config, sending to `hook`; returns
/// (exit status, stderr, every rule id of the findings printed).
fn scan_alert(
    dir: &Path,
    inbox: &Path,
    config: &str,
    extra: &[&str],
) -> (i32, String, Vec<String>) {
    let path = dir.join("scan-alert.toml");
    std::fs::write(&path, config).unwrap();
    let out = trailwatch()
        .args(["scan", inbox.to_str().unwrap(), "--format", "jsonl"])
        .args(["--alert", "--config", path.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout)
        .lines()
        .flat_map(|l| rule_ids(&serde_json::from_str(l).unwrap()))
        .collect();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), err, printed)
}

/// Every rule of a finding (an event's finding lists them all under `rules`).
fn rule_ids(f: &Value) -> Vec<String> {
    let ids = f["rules"].as_array().into_iter().flatten();
    ids.map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn scan_alert_honours_the_configs_packs_and_suppressions() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(vec![], ok());
    let inbox = inbox(
        dir.path(),
        &[
            event("cloudtrail.amazonaws.com", "StopLogging", "rules-1"),
            event("iam.amazonaws.com", "CreateUser", "rules-2"),
            event(
                "ec2.amazonaws.com",
                "AuthorizeSecurityGroupIngress",
                "rules-3",
            ),
        ],
    );
    let sink = format!(
        "[sinks.hook]\ntype = \"webhook\"\nurl = \"{}/h\"\n[alerts]\ndefault = [\"hook\"]\n",
        hook.url()
    );
    // One pack chosen and everything suppressed: nothing is printed or alerted.
    let silenced = format!(
        "[rules]\npacks = [\"guide\"]\nsuppressions = [{{ reason = \"all expected\", rules = [\"*\"] }}]\n{sink}"
    );
    let (code, err, printed) = scan_alert(dir.path(), &inbox, &silenced, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(printed.is_empty(), "{printed:?}");
    assert!(err.contains("alerts: 0 delivered, 0 failed"), "{err}");
    assert!(hook.requests().is_empty());
    // The pack alone: only its rules are alerted, and what is alerted is what is printed.
    let guide_only = format!("[rules]\npacks = [\"guide\"]\n{sink}");
    let (code, err, printed) = scan_alert(dir.path(), &inbox, &guide_only, &[]);
    assert_eq!(code, 0, "{err}");
    let alerted: Vec<String> = hook
        .requests()
        .iter()
        .flat_map(|r| rule_ids(&r.json()))
        .collect();
    assert!(!alerted.is_empty(), "{err}");
    assert!(
        alerted.iter().all(|r| r.starts_with("guide.")),
        "{alerted:?}"
    );
    let mut sorted = printed.clone();
    sorted.sort();
    let mut alerted_sorted = alerted.clone();
    alerted_sorted.sort();
    assert_eq!(sorted, alerted_sorted);
    // Without [rules], every pack runs: more than the guide alone.
    let all = scan_alert(dir.path(), &inbox, &sink, &[]).2;
    assert!(all.iter().any(|r| !r.starts_with("guide.")), "{all:?}");
    // A flag wins over the file, as in `watch`.
    let (_, err, printed) = scan_alert(dir.path(), &inbox, &silenced, &["--packs", "baseline"]);
    assert!(
        printed.is_empty(),
        "suppressions still apply: {printed:?} {err}"
    );
}
