//! No secret leaves: sentinel secrets configured through every source the configuration supports
//! (literal, `env:`, `file:`, URL user information, headers, the AWS credential chain) for every
//! sink (Slack webhook and app, webhooks, SNS, PagerDuty, email) are looked
//! for in everything trailwatch writes — `config check`, `scan --alert` and `watch` at the most
//! verbose log level against receivers that fail (retries, then dead letters), `/metrics`, the
//! dead-letter listing, the findings output and the state database's bytes.

use super::stop_logging_inbox;
use crate::http::{Reply, Server};
use crate::support::{bin, trailwatch};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Every sentinel, each configured one way; none may appear anywhere.
const LITERAL_SLACK: &str = "SntlSlackLit01";
const ENV_SLACK_APP: &str = "xoxb-SntlAppTok02";
const FILE_PATH_TOKEN: &str = "SntlPathTok03";
const FILE_QUERY_TOKEN: &str = "SntlQueryTok04";
const USERINFO_PASSWORD: &str = "SntlUserPw05";
const LITERAL_HEADER: &str = "SntlHeaderLit06";
const ENV_HEADER: &str = "SntlHeaderEnv07";
const FILE_SIGNING: &str = "SntlSigning08";
const ENV_DISCORD: &str = "SntlDiscord09";
const ENV_SMTP: &str = "SntlSmtpPw10";
const AWS_SECRET: &str = "SntlAwsSecret11";
const AWS_SESSION: &str = "SntlAwsSession12";
const LITERAL_TEAMS_SIG: &str = "SntlTeamsSig13";
/// 32 characters, as PagerDuty routing keys are.
const FILE_PAGERDUTY: &str = "SntlPdRoutingKey14abcdefghijklmn";

const ALL: [&str; 14] = [
    LITERAL_SLACK,
    ENV_SLACK_APP,
    FILE_PATH_TOKEN,
    FILE_QUERY_TOKEN,
    USERINFO_PASSWORD,
    LITERAL_HEADER,
    ENV_HEADER,
    FILE_SIGNING,
    ENV_DISCORD,
    ENV_SMTP,
    AWS_SECRET,
    AWS_SESSION,
    LITERAL_TEAMS_SIG,
    FILE_PAGERDUTY,
];

/// Base64 (standard alphabet, padded), for the `Authorization: Basic` form of user information.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What must not appear: each sentinel, and the encodings a request would carry it in.
fn needles() -> Vec<String> {
    let mut n: Vec<String> = ALL.iter().map(|s| s.to_string()).collect();
    n.push(base64(format!("alice:{USERINFO_PASSWORD}").as_bytes()));
    n.push(base64(
        format!("trailwatch\0trailwatch\0{ENV_SMTP}").as_bytes(),
    ));
    n.push(base64(ENV_SMTP.as_bytes()));
    n
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for n in needles() {
        assert!(
            !text.contains(&n),
            "{what} shows the secret {n}:\n{}",
            excerpt(&text, &n)
        );
    }
}

/// The lines around the first occurrence of `needle`.
fn excerpt(text: &str, needle: &str) -> String {
    let at = text.find(needle).unwrap_or(0);
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    text[start..end].chars().take(2000).collect()
}

/// Receivers that fail: one retryable answer, then one that can never succeed.
fn failing() -> Server {
    Server::start(
        vec![Reply::RetryAfter(503, 0)],
        Reply::Status(404, "no".into()),
    )
}

/// A port on loopback with nothing listening.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn config(dir: &Path, servers: &[&Server; 5]) -> std::path::PathBuf {
    let [slack, app, hook, discord, aws] = servers;
    let hook_url = format!(
        "http://alice:{USERINFO_PASSWORD}@{}/hook/{FILE_PATH_TOKEN}?token={FILE_QUERY_TOKEN}",
        hook.url().trim_start_matches("http://")
    );
    std::fs::write(dir.join("hook-url"), format!("{hook_url}\n")).unwrap();
    std::fs::write(dir.join("signing"), FILE_SIGNING).unwrap();
    std::fs::write(dir.join("pagerduty"), format!("{FILE_PAGERDUTY}\n")).unwrap();
    std::fs::create_dir_all(dir.join("in")).unwrap();
    let toml = format!(
        r##"
[sources]
dirs = ["in"]
[aws]
endpoint_url = "{aws}"
region = "us-east-1"
[sinks.slack]
type = "slack"
url = "{slack}/services/T0SNTL/B0SNTL/{LITERAL_SLACK}"
[sinks.app]
type = "slack_app"
token = "env:TW_TEST_APP_TOKEN"
channel = "#sec"
api_url = "{app}/api"
[sinks.hook]
type = "webhook"
url = "file:{hook_file}"
secret = "file:{signing_file}"
headers = {{ "Authorization" = "Bearer {LITERAL_HEADER}", "X-Api-Key" = "env:TW_TEST_HEADER" }}
timeout = "2s"
[sinks.discord]
type = "webhook"
url = "env:TW_TEST_DISCORD"
timeout = "2s"
[sinks.teams]
type = "webhook"
url = "{discord}/workflows/0a1b/triggers/manual/paths/invoke?api-version=2016-06-01&sig={LITERAL_TEAMS_SIG}"
timeout = "2s"
[sinks.topic]
type = "sns"
topic_arn = "arn:aws:sns:us-east-1:111122223333:alerts"
[sinks.pd]
type = "pagerduty"
routing_key = "file:{pd_file}"
url = "{discord}/v2/enqueue"
timeout = "2s"
[sinks.mail]
type = "email"
host = "127.0.0.1"
port = {smtp}
tls = "none"
username = "trailwatch"
password = "env:TW_TEST_SMTP"
from = "trailwatch@example.com"
to = "sec@example.com"
timeout = "1s"
[alerts]
default = ["slack", "app", "hook", "discord", "teams", "topic", "pd", "mail"]
max_age = "30s"
retry_initial = "1s"
"##,
        slack = slack.url(),
        app = app.url(),
        discord = discord.url(),
        aws = aws.url(),
        hook_file = dir.join("hook-url").display(),
        signing_file = dir.join("signing").display(),
        pd_file = dir.join("pagerduty").display(),
        smtp = closed_port(),
    );
    let path = dir.join("trailwatch.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

fn env(discord: &Server) -> Vec<(&'static str, String)> {
    vec![
        ("TW_TEST_APP_TOKEN", ENV_SLACK_APP.to_string()),
        ("TW_TEST_HEADER", ENV_HEADER.to_string()),
        (
            "TW_TEST_DISCORD",
            format!(
                "{}/api/webhooks/123456789012345678/{ENV_DISCORD}",
                discord.url()
            ),
        ),
        ("TW_TEST_SMTP", ENV_SMTP.to_string()),
        ("AWS_ACCESS_KEY_ID", "AKIDTEST".to_string()),
        ("AWS_SECRET_ACCESS_KEY", AWS_SECRET.to_string()),
        ("AWS_SESSION_TOKEN", AWS_SESSION.to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ("TRAILWATCH_LOG", "trace".to_string()),
        ("RUST_LOG", "trace".to_string()),
    ]
}

/// `GET /metrics` from the watcher's endpoint.
fn metrics(addr: &str) -> String {
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    conn.read_to_string(&mut raw).unwrap();
    raw
}

#[test]
fn no_secret_from_any_source_appears_in_output_logs_or_state() {
    let dir = tempfile::tempdir().unwrap();
    let servers = [failing(), failing(), failing(), failing(), failing()];
    let [slack, app, hook, discord, aws] = &servers;
    let config = config(dir.path(), &[slack, app, hook, discord, aws]);
    let env = env(discord);
    let inbox = stop_logging_inbox(dir.path(), "secret-1");

    // The resolved configuration.
    let check = trailwatch()
        .args(["config", "check", config.to_str().unwrap()])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert_clean("config check stdout", &check.stdout);
    assert_clean("config check stderr", &check.stderr);
    assert!(String::from_utf8_lossy(&check.stdout).contains("\"app\""));

    // A one-shot scan sending through every sink: each is retried, then fails.
    let scan = trailwatch()
        .args(["scan", inbox.to_str().unwrap(), "--packs", "guide"])
        .args(["--alert", "--config", config.to_str().unwrap()])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let scan_err = String::from_utf8_lossy(&scan.stderr).into_owned();
    assert_eq!(scan.status.code(), Some(1), "{scan_err}");
    assert!(
        scan_err.contains("alerts: 0 delivered, 8 failed"),
        "{scan_err}"
    );
    assert!(scan_err.contains("retrying"), "{scan_err}");
    assert!(scan_err.contains("TRACE"), "scan logs at trace: {scan_err}");
    assert_clean("scan stdout", &scan.stdout);
    assert_clean("scan stderr", &scan.stderr);
    let mut before = Vec::new();
    for s in &servers {
        assert!(s.requests().len() >= 2, "every receiver was tried twice");
        s.set_script(
            vec![Reply::RetryAfter(503, 0)],
            Reply::Status(404, "no".into()),
        );
        before.push(s.requests().len());
    }

    // The watcher: retries, dead letters, the state, the output, /metrics.
    let state = dir.path().join("state.db");
    let out = dir.path().join("out.jsonl");
    let mut child = Command::new(bin())
        .args(["watch", "--config", config.to_str().unwrap()])
        .args(["--dir", inbox.to_str().unwrap(), "--packs", "guide"])
        .args(["--state", state.to_str().unwrap()])
        .args(["--output", out.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0", "--idle-exit", "8s"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, log) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        let line = log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the endpoint address is logged");
        if let Some((_, a)) = line.split_once("/readyz on http://") {
            break a.trim().to_string();
        }
    };
    // Wait until every HTTP receiver has had its retry and its final answer.
    for (s, n) in servers.iter().zip(before) {
        s.wait_for(n + 2, Duration::from_secs(30));
    }
    let metrics = metrics(&addr);
    assert!(metrics.contains("trailwatch_"), "{metrics}");
    assert_clean("/metrics", metrics.as_bytes());
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    let watch_err = reader.join().unwrap();
    assert!(status.success(), "{watch_err}");
    assert!(watch_err.contains("TRACE"), "watch logs at trace");
    assert!(watch_err.contains("retrying"), "{watch_err}");
    assert!(watch_err.contains("dead letters"), "{watch_err}");
    assert_clean("watch stdout", &stdout);
    assert_clean("watch stderr", watch_err.as_bytes());

    let dead = trailwatch()
        .args(["state", "dead-letters", "--state", state.to_str().unwrap()])
        .output()
        .unwrap();
    let dead_text = String::from_utf8_lossy(&dead.stdout);
    assert!(dead_text.contains("HTTP 404"), "{dead_text}");
    assert_clean("state dead-letters", &dead.stdout);
    let info = trailwatch()
        .args([
            "state",
            "info",
            "--json",
            "--state",
            state.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_clean("state info", &info.stdout);
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("state.db") || name.ends_with(".jsonl") {
            assert_clean(&name, &std::fs::read(&path).unwrap());
            files += 1;
        }
    }
    assert!(files >= 2, "the state database and the output were read");
}
