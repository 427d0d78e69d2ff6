//! Helpers shared by the test modules, each in one place: the binary and scan runs, fixtures
//! (records, delivery files, files on disk), unique names, and the gates of what the tests need
//! from outside (`../shared`, and the servers in [`services`]).

use assert_cmd::Command;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub mod services;

/// `../shared` beside the repository, or `None` (with a message, once per run) when it is
/// absent. In CI (`CI=true`) its absence is a failure, never a skip.
pub fn shared() -> Option<PathBuf> {
    static SKIPPED: Once = Once::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if dir.join("corpus").is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{} is missing, and CI requires it", dir.display());
    }
    services::skip_once(
        &SKIPPED,
        &format!("{} is absent (tests that read it run in CI)", dir.display()),
    );
    None
}

pub fn trailwatch() -> Command {
    let mut cmd = Command::cargo_bin("trailwatch").expect("binary");
    cmd.env_remove("NO_COLOR")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// Runs `trailwatch scan ARGS --format jsonl` (summary on stderr) and returns (exit code,
/// findings, stderr).
pub fn scan_with_summary(args: &[&str]) -> (i32, Vec<Value>, String) {
    let out = trailwatch()
        .arg("scan")
        .args(args)
        .args(["--format", "jsonl"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    let findings = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    (
        out.status.code().unwrap_or(-1),
        findings,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `trailwatch scan ARGS --format jsonl -q` and returns (exit code, findings, stderr).
pub fn scan_jsonl(args: &[&str]) -> (i32, Vec<Value>, String) {
    let mut quiet = args.to_vec();
    quiet.push("-q");
    scan_with_summary(&quiet)
}

/// The path of the `trailwatch` binary, for tests that start it as a process they control.
pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("trailwatch")
}

/// The string `key` of each finding, in order (`rule_id`, `event_name`).
pub fn texts(findings: &[Value], key: &str) -> Vec<String> {
    findings
        .iter()
        .map(|f| f[key].as_str().unwrap().to_string())
        .collect()
}

/// [`scan_jsonl`] with only the catalog (`--packs guide`): one finding per guide event.
pub fn scan_guide(args: &[&str]) -> (i32, Vec<Value>, String) {
    let mut all = vec!["--packs", "guide"];
    all.extend_from_slice(args);
    scan_jsonl(&all)
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let mut out = vec![0; c.gzip_compress_bound(data.len())];
    let n = c.gzip_compress(data, &mut out).unwrap();
    out.truncate(n);
    out
}

/// A realistic record of `(source, name)` with some identity and error fields.
pub fn record(source: &str, name: &str) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": "111122223333",
            "arn": "arn:aws:iam::111122223333:user/alice", "userName": "alice"
        },
        "eventTime": "2026-11-20T09:05:12Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"x": 1},
        "responseElements": null,
        "eventID": format!("id-{name}"),
        "readOnly": false,
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333"
    })
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

/// [`record`] of `(source, name)` with this `eventID`.
pub fn event(source: &str, name: &str, id: &str) -> Value {
    let mut r = record(source, name);
    r["eventID"] = json!(id);
    r
}

/// A guide event (IAM CreateUser) with this `eventID`.
pub fn create_user(id: &str) -> Value {
    event("iam.amazonaws.com", "CreateUser", id)
}

/// A delivery file's JSON, `{"Records": [...]}`, uncompressed.
pub fn delivery_json(records: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "Records": records })).unwrap()
}

/// A delivery file as CloudTrail writes it: [`delivery_json`], gzipped.
pub fn delivery_gz(records: &[Value]) -> Vec<u8> {
    gzip(&delivery_json(records))
}

/// `trailwatch state info --json` of the state database `state`.
pub fn state_info(state: &Path) -> Value {
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
    serde_json::from_slice(&info.stdout).unwrap()
}

/// `trailwatch config check CONFIG` with these environment variables: asserts that it succeeds
/// and returns what it printed (the resolved configuration).
pub fn config_check(config: &Path, env: &[(&str, &str)]) -> String {
    let check = trailwatch()
        .args(["config", "check", config.to_str().unwrap()])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    String::from_utf8_lossy(&check.stdout).into_owned()
}

/// A tag no other test (in this or a parallel process) uses: `stem-PID-N-MILLIS`.
pub fn unique(stem: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    format!("{stem}-{}-{n}-{millis}", std::process::id())
}
