//! The `teams` sink against a local receiver standing in for a Teams Workflows webhook: every
//! request is checked to be a message with one Adaptive Card of the documented shape under the
//! size limit, and the receiver answers as Teams does (202 accepted, 429, a connector's
//! failure inside a 200 body, 404 for a deleted workflow).

use super::{event, inbox, run_until_idle};
use crate::http::{Reply, Server};
use crate::support::{config_check, state_info, trailwatch};
use serde_json::Value;

/// The workflow URL's signature: a secret in its query.
const SIG: &str = "Zm9yLXRlc3RzLW9ubHktc2lnbmF0dXJlLXZhbHVlLTEyMzQ1";

fn config(url: &str, extra: &str) -> String {
    format!(
        "[sinks.team]\ntype = \"teams\"\nurl = \"{url}/workflows/abc/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}\"\n{extra}[alerts]\ndefault = [\"team\"]\nretry_initial = \"1s\"\n"
    )
}

/// Checks one request: a message with one Adaptive Card; returns the card.
fn documented(r: &crate::http::Request) -> Value {
    assert_eq!(r.method, "POST");
    assert!(
        r.path
            .starts_with("/workflows/abc/triggers/manual/paths/invoke"),
        "{}",
        r.path
    );
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert!(r.body.len() <= 28_000, "{} bytes", r.body.len());
    let m = r.json();
    assert_eq!(m["type"], "message");
    let attachments = m["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(
        attachments[0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = attachments[0]["content"].clone();
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    for block in card["body"].as_array().unwrap() {
        match block["type"].as_str().unwrap() {
            "TextBlock" => assert!(
                block["text"].is_string() && block["wrap"] == true,
                "{block}"
            ),
            "FactSet" => {
                for f in block["facts"].as_array().unwrap() {
                    assert!(f["title"].is_string() && f["value"].is_string(), "{f}");
                }
            }
            other => panic!("unexpected element {other}"),
        }
    }
    for a in card["actions"].as_array().into_iter().flatten() {
        assert_eq!(a["type"], "Action.OpenUrl");
        assert!(a["url"].as_str().unwrap().starts_with("https://"));
    }
    card
}

#[test]
fn teams_cards_are_documented_and_throttling_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(
        vec![
            Reply::RetryAfter(429, 1),
            Reply::Status(
                200,
                "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId x".into(),
            ),
        ],
        Reply::Status(202, String::new()),
    );
    let inbox = inbox(
        dir.path(),
        &[
            event("cloudtrail.amazonaws.com", "StopLogging", "tm-crit-1"),
            event("iam.amazonaws.com", "CreateUser", "tm-user-1"),
        ],
    );
    let err = run_until_idle(dir.path(), &inbox, &config(&hook.url(), ""), "5s");
    let reqs = hook.requests();
    assert!(
        reqs.len() >= 4,
        "two findings, two refusals: {} {err}",
        reqs.len()
    );
    let cards: Vec<Value> = reqs.iter().map(documented).collect();
    let crit = cards
        .iter()
        .find(|c| c.to_string().contains("tm-crit-1"))
        .expect("the StopLogging card");
    assert!(
        crit["body"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("\\[CRITICAL\\]"),
        "{crit}"
    );
    assert_eq!(crit["body"][0]["color"], "Attention");
    assert!(
        crit["actions"][0]["url"]
            .as_str()
            .unwrap()
            .contains("tm-crit-1")
    );
    let info = state_info(&dir.path().join("state.db"));
    assert_eq!(info["dead_letters"], 0, "{info}\n{err}");
    assert!(err.contains("retrying"), "{err}");
    assert!(!err.contains(SIG), "{err}");
}

#[test]
fn teams_deleted_workflow_is_a_dead_letter_at_once_and_the_signature_stays_secret() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(
        vec![],
        Reply::Status(
            404,
            r#"{"error":{"code":"WorkflowNotFound","message":"The workflow was not found."}}"#
                .into(),
        ),
    );
    let inbox = inbox(
        dir.path(),
        &[event("cloudtrail.amazonaws.com", "StopLogging", "tm-bad-1")],
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
        text.contains("HTTP 404") && text.contains("WorkflowNotFound"),
        "{text}"
    );
    assert!(!text.contains(SIG) && !err.contains(SIG), "{text}{err}");
    let path = dir.path().join("trailwatch.toml");
    std::fs::write(
        &path,
        format!("[sources]\ndirs = [\"in\"]\n{}", config(&hook.url(), "")),
    )
    .unwrap();
    let shown = config_check(&path, &[]);
    assert!(
        shown.contains("\"teams\"") && !shown.contains(SIG),
        "{shown}"
    );
}

#[test]
fn teams_rate_limit_summary_is_one_card_counting_everything() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(vec![], Reply::Status(202, String::new()));
    let records: Vec<Value> = (0..6)
        .map(|i| {
            event(
                "cloudtrail.amazonaws.com",
                "StopLogging",
                &format!("tm-rl-{i}"),
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
    let card = documented(&reqs[1]);
    assert!(
        card["body"][0]["text"]
            .as_str()
            .unwrap()
            .contains("5 findings held back"),
        "{card}"
    );
    assert_eq!(
        card["body"][2]["facts"][0]["value"], "5 × critical",
        "{card}"
    );
    assert_eq!(card["body"][3]["facts"].as_array().unwrap().len(), 5);
    let info = state_info(&dir.path().join("state.db"));
    assert_eq!(info["dead_letters"], 0, "{info}");
}
