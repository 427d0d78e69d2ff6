//! One alert per event, with every built-in pack loaded: an event that five rules match is one
//! webhook request, one Slack message, one Slack app post, one email and one SNS message, each
//! listing all five rules; the same event delivered twice is sent once; routes match any rule of
//! the event; `info` findings reach only a route that asks for them.

use super::{ok, spawn};
use crate::http::{Reply, Server};
use crate::support::{delivery_gz, event};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const STOP_RULES: &[&str] = &[
    "guide.cloudtrail.StopLogging",
    "baseline.cloudtrail-stopped",
    "cis.cloudwatch-1",
    "baseline.root-activity",
    "cis.cloudwatch-5",
];

/// Root stopping a trail: five rules.
fn root_stop(id: &str) -> Value {
    let mut r = event("cloudtrail.amazonaws.com", "StopLogging", id);
    r["userIdentity"] = json!({"type": "Root", "principalId": "111122223333",
        "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"});
    r
}

/// An inbox with one delivery file per list of records.
fn inbox(dir: &Path, files: &[Vec<Value>]) -> PathBuf {
    let inbox = dir.join("in");
    std::fs::create_dir_all(&inbox).unwrap();
    for (i, records) in files.iter().enumerate() {
        std::fs::write(inbox.join(format!("f{i}.json.gz")), delivery_gz(records)).unwrap();
    }
    inbox
}

/// `watch` with every built-in pack until idle; returns stderr.
fn watch_all(dir: &Path, inbox: &Path, toml: &str) -> String {
    let out = spawn(
        dir,
        inbox,
        toml,
        &["--packs", "cis,baseline", "--idle-exit", "3s"],
    )
    .wait_with_output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn rule_ids(f: &Value) -> Vec<String> {
    f["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn lists_every_rule(text: &str) {
    for id in STOP_RULES {
        assert!(text.contains(id), "{id} missing: {text}");
    }
}

#[test]
fn webhook_slack_and_files_get_one_message_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(vec![], ok());
    let slack = Server::start(vec![], ok());
    // The same StopLogging in two files (CloudTrail may deliver a record twice), and Config
    // evaluations (info).
    let inbox = inbox(
        dir.path(),
        &[
            vec![
                root_stop("ev-stop"),
                event("config.amazonaws.com", "PutEvaluations", "ev-eval"),
            ],
            vec![root_stop("ev-stop")],
        ],
    );
    let churn = dir.path().join("churn.jsonl");
    let archive = dir.path().join("archive.jsonl");
    let toml = format!(
        r#"
[sinks.hook]
type = "webhook"
url = "{}/hook"
[sinks.slack]
type = "slack"
url = "{}/services/T000/B000/XXXX"
[sinks.churn]
type = "file"
path = "{}"
[sinks.archive]
type = "file"
path = "{}"
# Matches through the baseline rule, though the top rule is the catalog's.
[[routes]]
rules = ["baseline.cloudtrail-stopped"]
sinks = ["hook", "slack"]
[[routes]]
rules = ["guide.config.*"]
sinks = ["churn"]
[alerts]
default = ["archive"]
"#,
        hook.url(),
        slack.url(),
        churn.display(),
        archive.display()
    );
    let err = watch_all(dir.path(), &inbox, &toml);
    let hooks = hook.requests();
    assert_eq!(hooks.len(), 1, "one request for the event: {err}");
    let body = hooks[0].json();
    assert_eq!(body["event_id"], "ev-stop");
    assert_eq!(body["rule_id"], "guide.cloudtrail.StopLogging");
    assert_eq!(rule_ids(&body).len(), STOP_RULES.len(), "{body}");
    lists_every_rule(&body.to_string());
    let msgs = slack.requests();
    assert_eq!(msgs.len(), 1, "{err}");
    lists_every_rule(&msgs[0].json().to_string());
    // The info event went only to the route that names it; nothing reached the default sink.
    let churned = lines(&churn);
    assert_eq!(churned.len(), 1);
    assert_eq!(churned[0]["event_id"], "ev-eval");
    assert_eq!(churned[0]["severity"], "info");
    assert!(lines(&archive).is_empty(), "{:?}", lines(&archive));
    // The watch output has one line per event.
    let out = lines(&dir.path().join("out.jsonl"));
    assert_eq!(out.len(), 2, "{out:#?}");
}

#[test]
fn info_alone_reaches_no_default_sink() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(vec![], ok());
    let inbox = inbox(
        dir.path(),
        &[vec![
            event("config.amazonaws.com", "PutEvaluations", "ev-eval"),
            event("cloudformation.amazonaws.com", "CreateStack", "ev-stack"),
        ]],
    );
    let toml = format!(
        "[sinks.hook]\ntype = \"webhook\"\nurl = \"{}/h\"\n[alerts]\ndefault = [\"hook\"]\n",
        hook.url()
    );
    let err = watch_all(dir.path(), &inbox, &toml);
    let ids: Vec<Value> = hook
        .requests()
        .iter()
        .map(|r| r.json()["event_id"].clone())
        .collect();
    assert_eq!(ids, [json!("ev-stack")], "{err}");
}

#[test]
fn slack_app_posts_one_message_listing_every_rule() {
    let dir = tempfile::tempdir().unwrap();
    let slack = Server::start(
        vec![],
        Reply::Status(
            200,
            r#"{"ok":true,"channel":"C0SEC","ts":"1700000000.000200"}"#.into(),
        ),
    );
    let inbox = inbox(dir.path(), &[vec![root_stop("app-stop")]]);
    let toml = format!(
        "[sinks.app]\ntype = \"slack_app\"\ntoken = \"xoxb-test\"\nchannel = \"#security\"\napi_url = \"{}/api\"\n[alerts]\ndefault = [\"app\"]\n",
        slack.url()
    );
    let err = watch_all(dir.path(), &inbox, &toml);
    let posts = slack.requests();
    assert_eq!(posts.len(), 1, "{err} {posts:?}");
    assert_eq!(posts[0].path, "/api/chat.postMessage");
    lists_every_rule(&posts[0].json().to_string());
}

#[test]
fn email_is_one_message_listing_every_rule() {
    let Some((addr, maildir)) = crate::email::smtp() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (host, port) = addr.rsplit_once(':').unwrap();
    let id = format!("events-{}", std::process::id());
    let inbox = inbox(dir.path(), &[vec![root_stop(&id)], vec![root_stop(&id)]]);
    let toml = format!(
        "[sinks.mail]\ntype = \"email\"\nhost = \"{host}\"\nport = {port}\ntls = \"none\"\nfrom = \"trailwatch@example.com\"\nto = [\"{id}@example.com\"]\n[alerts]\ndefault = [\"mail\"]\n"
    );
    watch_all(dir.path(), &inbox, &toml);
    let started = Instant::now();
    let envelopes = loop {
        let found: Vec<PathBuf> = std::fs::read_dir(&maildir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter(|p| std::fs::read_to_string(p).unwrap_or_default().contains(&id))
            .collect();
        if !found.is_empty() || started.elapsed() > Duration::from_secs(10) {
            break found;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(envelopes.len(), 1, "one mail for the event: {envelopes:?}");
    let mail = std::fs::read_to_string(envelopes[0].with_extension("eml")).unwrap();
    // Quoted-printable may wrap long lines: compare without soft line breaks.
    let mail = mail.replace("=\r\n", "").replace("=\n", "");
    lists_every_rule(&mail);
}

#[test]
fn sns_message_and_attributes_carry_every_rule() {
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
        .block_on(sns.create_topic().name(m.unique("events")).send())
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let queue = m.create_queue(&m.unique("events"));
    m.block_on(
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(m.queue_arn(&queue))
            .send(),
    )
    .unwrap();
    let inbox = inbox(dir.path(), &[vec![root_stop("sns-stop")]]);
    let toml = format!(
        "[aws]\nendpoint_url = \"{}\"\nregion = \"us-east-1\"\n[sinks.topic]\ntype = \"sns\"\ntopic_arn = \"{topic}\"\n[alerts]\ndefault = [\"topic\"]\n",
        m.endpoint
    );
    let err = watch_all(dir.path(), &inbox, &toml);
    let bodies = m.receive_bodies(&queue, 2);
    assert_eq!(bodies.len(), 1, "{err}");
    let envelope: Value = serde_json::from_str(&bodies[0]).unwrap();
    let message: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(rule_ids(&message).len(), STOP_RULES.len());
    let attrs = &envelope["MessageAttributes"];
    assert_eq!(attrs["rule_id"]["Value"], "guide.cloudtrail.StopLogging");
    assert_eq!(attrs["rules"]["Type"], "String.Array", "{envelope}");
    let listed: Vec<String> =
        serde_json::from_str(attrs["rules"]["Value"].as_str().unwrap()).unwrap();
    assert_eq!(listed.len(), STOP_RULES.len());
    lists_every_rule(&listed.join(" "));
}
