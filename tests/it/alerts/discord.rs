//! The `discord` sink against a local receiver standing in for a channel webhook: every request
//! is checked against Discord's documented message and embed limits, and the receiver answers
//! as Discord does (204 delivered, 429 with `retry_after`, 404 Unknown Webhook, 5xx).

use super::{event, inbox, run_until_idle};
use crate::http::{Reply, Server};
use crate::support::{config_check, state_info, trailwatch};
use serde_json::Value;

/// The webhook's token: a secret in its path.
const TOKEN: &str = "dGhpc2lzYXRlc3R0b2tlbmZvcmRpc2NvcmR3ZWJob29rcw";

fn config(url: &str, extra: &str) -> String {
    format!(
        "[sinks.chat]\ntype = \"discord\"\nurl = \"{url}/api/webhooks/123456789012345678/{TOKEN}\"\n{extra}[alerts]\ndefault = [\"chat\"]\nretry_initial = \"1s\"\n"
    )
}

/// Checks one request against Discord's execute-webhook schema and limits; returns its embed.
fn documented(r: &crate::http::Request) -> Value {
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/api/webhooks/123456789012345678/{TOKEN}"));
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let m = r.json();
    let allowed = [
        "content",
        "username",
        "avatar_url",
        "tts",
        "embeds",
        "allowed_mentions",
    ];
    assert!(
        m.as_object()
            .unwrap()
            .keys()
            .all(|k| allowed.contains(&k.as_str())),
        "{m}"
    );
    assert_eq!(
        m["allowed_mentions"]["parse"],
        serde_json::json!([]),
        "no pings"
    );
    let n = |v: &Value| v.as_str().unwrap_or("").chars().count();
    assert!(n(&m["content"]) <= 2000);
    let embeds = m["embeds"].as_array().unwrap();
    assert!(!embeds.is_empty() && embeds.len() <= 10);
    let e = &embeds[0];
    let mut total = n(&e["title"]) + n(&e["description"]) + n(&e["footer"]["text"]);
    assert!(
        n(&e["title"]) <= 256 && n(&e["description"]) <= 4096 && n(&e["footer"]["text"]) <= 2048
    );
    let fields = e["fields"].as_array().unwrap();
    assert!(fields.len() <= 25);
    for f in fields {
        assert!(
            (1..=256).contains(&n(&f["name"])) && (1..=1024).contains(&n(&f["value"])),
            "{f}"
        );
        assert!(f["inline"].is_boolean());
        total += n(&f["name"]) + n(&f["value"]);
    }
    assert!(total <= 6000);
    assert!(e["color"].as_u64().unwrap() <= 0xFF_FF_FF);
    if let Some(t) = e.get("timestamp") {
        t.as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .expect("ISO 8601");
    }
    e.clone()
}

#[test]
fn discord_messages_follow_the_limits_and_retry_after_429_and_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(
        vec![
            Reply::Status(
                429,
                r#"{"message":"You are being rate limited.","retry_after":0.5,"global":false}"#
                    .into(),
            ),
            Reply::Status(502, "bad gateway".into()),
        ],
        Reply::Status(204, String::new()),
    );
    let inbox = inbox(
        dir.path(),
        &[
            event("cloudtrail.amazonaws.com", "StopLogging", "dc-crit-1"),
            event("iam.amazonaws.com", "CreateUser", "dc-user-1"),
        ],
    );
    let err = run_until_idle(dir.path(), &inbox, &config(&hook.url(), ""), "4s");
    let reqs = hook.requests();
    assert!(
        reqs.len() >= 4,
        "two findings, two refusals: {} {err}",
        reqs.len()
    );
    let embeds: Vec<Value> = reqs.iter().map(documented).collect();
    let crit = embeds
        .iter()
        .find(|e| {
            e["fields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["value"].as_str().unwrap().contains("dc-crit-1"))
        })
        .expect("the StopLogging finding");
    assert!(
        crit["title"]
            .as_str()
            .unwrap()
            .starts_with("\\[CRITICAL\\]"),
        "{crit}"
    );
    assert!(
        crit["url"].as_str().unwrap().contains("dc-crit-1"),
        "console link: {crit}"
    );
    assert!(crit.to_string().contains("alice"), "{crit}");
    let info = state_info(&dir.path().join("state.db"));
    assert_eq!(info["dead_letters"], 0, "{info}\n{err}");
    assert!(err.contains("retrying"), "{err}");
    assert!(!err.contains(TOKEN), "{err}");
}

#[test]
fn discord_unknown_webhook_is_a_dead_letter_at_once_and_the_token_stays_secret() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(
        vec![],
        Reply::Status(404, r#"{"message":"Unknown Webhook","code":10015}"#.into()),
    );
    let inbox = inbox(
        dir.path(),
        &[event("cloudtrail.amazonaws.com", "StopLogging", "dc-bad-1")],
    );
    let err = run_until_idle(dir.path(), &inbox, &config(&hook.url(), ""), "2s");
    assert_eq!(hook.requests().len(), 1, "not retried: {err}");
    let state = dir.path().join("state.db");
    let dead = trailwatch()
        .args(["state", "dead-letters", "--state", state.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&dead.stdout);
    assert!(
        text.contains("HTTP 404") && text.contains("code 10015: Unknown Webhook"),
        "{text}"
    );
    assert!(!text.contains(TOKEN) && !err.contains(TOKEN), "{text}{err}");
    let path = dir.path().join("trailwatch.toml");
    std::fs::write(
        &path,
        format!("[sources]\ndirs = [\"in\"]\n{}", config(&hook.url(), "")),
    )
    .unwrap();
    let shown = config_check(&path, &[]);
    assert!(
        shown.contains("\"discord\"") && !shown.contains(TOKEN),
        "{shown}"
    );
}

#[test]
fn discord_rate_limit_summary_is_one_message_counting_everything() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(vec![], Reply::Status(204, String::new()));
    let records: Vec<Value> = (0..6)
        .map(|i| {
            event(
                "cloudtrail.amazonaws.com",
                "StopLogging",
                &format!("dc-rl-{i}"),
            )
        })
        .collect();
    let inbox = inbox(dir.path(), &records);
    run_until_idle(
        dir.path(),
        &inbox,
        &config(&hook.url(), "rate = \"1/m\"\n"),
        "2s",
    );
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 2, "one alert, one summary");
    let summary = documented(&reqs[1]);
    assert!(
        summary["title"]
            .as_str()
            .unwrap()
            .contains("5 findings held back"),
        "{summary}"
    );
    let by_severity = &summary["fields"][0];
    assert_eq!(by_severity["name"], "By severity");
    assert!(
        by_severity["value"]
            .as_str()
            .unwrap()
            .contains("5 × critical"),
        "{summary}"
    );
    let listed = summary["fields"].as_array().unwrap().len() - 3;
    assert_eq!(listed, 5, "each held finding listed: {summary}");
    let info = state_info(&dir.path().join("state.db"));
    assert_eq!(info["dead_letters"], 0, "{info}");
}
