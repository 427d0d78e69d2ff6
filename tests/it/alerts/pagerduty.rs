//! The `pagerduty` sink against a local receiver standing in for the Events API v2: every request
//! is checked against the documented event schema, and the receiver answers with the documented
//! responses (202 accepted, 400 invalid event, 429 throttled, 5xx).

use super::{event, inbox, run_until_idle};
use crate::http::{Reply, Server};
use crate::support::{config_check, state_info, trailwatch};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A routing key of the documented length (32 characters).
const KEY: &str = "R0UT1NGKEY0123456789abcdefABCDEF";

fn accepted() -> Reply {
    Reply::Status(
        202,
        r#"{"status":"success","message":"Event processed","dedup_key":"k"}"#.into(),
    )
}

fn config(url: &str, extra: &str) -> String {
    format!(
        "[sinks.oncall]\ntype = \"pagerduty\"\nrouting_key = \"{KEY}\"\nurl = \"{url}/v2/enqueue\"\n{extra}[alerts]\ndefault = [\"oncall\"]\nretry_initial = \"1s\"\n"
    )
}

/// Checks one request against the Events API v2 trigger schema; returns the event.
fn documented_trigger(r: &crate::http::Request) -> Value {
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v2/enqueue");
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let e = r.json();
    let top: BTreeSet<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
    let allowed = [
        "routing_key",
        "event_action",
        "dedup_key",
        "payload",
        "client",
        "client_url",
        "links",
        "images",
    ];
    assert!(top.iter().all(|k| allowed.contains(k)), "{top:?}");
    assert_eq!(e["routing_key"], KEY);
    assert_eq!(e["event_action"], "trigger");
    let dedup = e["dedup_key"].as_str().unwrap();
    assert!(!dedup.is_empty() && dedup.len() <= 255, "{dedup}");
    let p = e["payload"].as_object().unwrap();
    let allowed = [
        "summary",
        "source",
        "severity",
        "timestamp",
        "component",
        "group",
        "class",
        "custom_details",
    ];
    assert!(p.keys().all(|k| allowed.contains(&k.as_str())), "{p:?}");
    let summary = p["summary"].as_str().unwrap();
    assert!(!summary.is_empty() && summary.chars().count() <= 1024);
    assert!(!p["source"].as_str().unwrap().is_empty());
    let severity = p["severity"].as_str().unwrap();
    assert!(
        ["critical", "error", "warning", "info"].contains(&severity),
        "{severity}"
    );
    if let Some(t) = p.get("timestamp") {
        t.as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .expect("ISO 8601 timestamp");
    }
    for k in ["component", "group", "class"] {
        assert!(p.get(k).is_none_or(Value::is_string), "{k}");
    }
    assert!(p["custom_details"].is_object());
    for link in e["links"].as_array().into_iter().flatten() {
        assert!(link["href"].as_str().unwrap().starts_with("https://"));
        assert!(link["text"].is_string());
    }
    assert!(e.get("client").is_none_or(Value::is_string));
    e
}

#[test]
fn pagerduty_triggers_follow_the_events_api_and_retry_429_and_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let pd = Server::start(
        vec![
            Reply::RetryAfter(429, 1),
            Reply::Status(
                500,
                r#"{"status":"error","message":"Internal error"}"#.into(),
            ),
        ],
        accepted(),
    );
    let inbox = inbox(
        dir.path(),
        &[
            event("cloudtrail.amazonaws.com", "StopLogging", "pd-crit-1"),
            event("iam.amazonaws.com", "CreateUser", "pd-user-1"),
        ],
    );
    let err = run_until_idle(dir.path(), &inbox, &config(&pd.url(), ""), "4s");
    let reqs = pd.requests();
    assert!(
        reqs.len() >= 4,
        "two findings, two refusals: {} {err}",
        reqs.len()
    );
    let events: Vec<Value> = reqs.iter().map(documented_trigger).collect();
    // One dedup key per finding, the same on every attempt.
    let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in &events {
        let id = e["payload"]["custom_details"]["event_id"].as_str().unwrap();
        keys.entry(id.to_string())
            .or_default()
            .insert(e["dedup_key"].as_str().unwrap().to_string());
    }
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.values().all(|k| k.len() == 1), "{keys:?}");
    let crit = events
        .iter()
        .find(|e| e["payload"]["custom_details"]["event_id"] == "pd-crit-1")
        .unwrap();
    let p = &crit["payload"];
    assert_eq!(p["severity"], "critical", "{crit}");
    assert_eq!(p["source"], "aws:111122223333:us-east-1");
    assert_eq!(
        p["custom_details"]["actor"],
        "arn:aws:iam::111122223333:user/alice"
    );
    assert!(p["summary"].as_str().unwrap().contains("alice"), "{p}");
    assert!(
        crit["links"][0]["href"]
            .as_str()
            .unwrap()
            .contains("pd-crit-1")
    );
    let info = state_info(&dir.path().join("state.db"));
    assert_eq!(info["dead_letters"], 0, "{info}\n{err}");
    let outbox = info["outbox"].as_array().unwrap();
    assert!(outbox.iter().all(|o| o[0] != "oncall"), "{info}\n{err}");
    assert!(err.contains("retrying"), "{err}");
}

#[test]
fn pagerduty_invalid_event_is_a_dead_letter_at_once_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let refusal = r#"{"status":"invalid event","message":"Event object is invalid","errors":["'payload.summary' is missing or blank"]}"#;
    let pd = Server::start(vec![], Reply::Status(400, refusal.into()));
    let inbox = inbox(
        dir.path(),
        &[event("cloudtrail.amazonaws.com", "StopLogging", "pd-bad-1")],
    );
    let err = run_until_idle(dir.path(), &inbox, &config(&pd.url(), ""), "2s");
    assert_eq!(pd.requests().len(), 1, "not retried: {err}");
    assert!(!err.contains("retrying"), "{err}");
    let state = dir.path().join("state.db");
    let dead = trailwatch()
        .args(["state", "dead-letters", "--state", state.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&dead.stdout);
    assert!(
        text.contains("HTTP 400")
            && text.contains("Event object is invalid")
            && text.contains("'payload.summary' is missing or blank"),
        "{text}"
    );
    assert!(!text.contains(KEY) && !err.contains(KEY), "{text}{err}");
    // The key is a secret in `config check`, and one of the wrong length is a configuration error.
    let path = dir.path().join("trailwatch.toml");
    let with_source = |toml: String| format!("[sources]\ndirs = [\"in\"]\n{toml}");
    std::fs::write(&path, with_source(config(&pd.url(), ""))).unwrap();
    let shown = config_check(&path, &[]);
    assert!(
        shown.contains("\"pagerduty\"") && !shown.contains(KEY),
        "{shown}"
    );
    std::fs::write(
        &path,
        with_source(config(&pd.url(), "").replace(KEY, "short")),
    )
    .unwrap();
    let bad = trailwatch()
        .args(["config", "check", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(
        msg.contains("sinks.oncall") && msg.contains("32 characters"),
        "{msg}"
    );
}

#[test]
fn pagerduty_rate_limit_summary_is_one_documented_trigger() {
    let dir = tempfile::tempdir().unwrap();
    let pd = Server::start(vec![], accepted());
    let records: Vec<Value> = (0..4)
        .map(|i| {
            event(
                "cloudtrail.amazonaws.com",
                "StopLogging",
                &format!("pd-rl-{i}"),
            )
        })
        .collect();
    let inbox = inbox(dir.path(), &records);
    run_until_idle(
        dir.path(),
        &inbox,
        &config(&pd.url(), "rate = \"1/m\"\n"),
        "2s",
    );
    let reqs = pd.requests();
    assert_eq!(reqs.len(), 2, "one alert, one summary");
    let summary = documented_trigger(&reqs[1]);
    let details = &summary["payload"]["custom_details"];
    assert_eq!(details["findings"], 3, "{summary}");
    assert_eq!(details["listed"].as_array().unwrap().len(), 3);
    assert_eq!(details["by_severity"]["critical"], 3);
    assert_eq!(summary["payload"]["severity"], "critical");
    assert!(details["reason"].as_str().unwrap().contains("rate limit"));
}
