use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// `../shared` beside the repository, or `None` (with a message) when it is absent. In CI
/// (`CI=true`) its absence is a failure, never a skip.
pub fn shared() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if dir.join("corpus").is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{} is missing, and CI requires it", dir.display());
    }
    eprintln!(
        "skipped: {} is absent (tests that read it run in CI)",
        dir.display()
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
pub fn scan_with_summary(args: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
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
pub fn scan_jsonl(args: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let mut quiet = args.to_vec();
    quiet.push("-q");
    scan_with_summary(&quiet)
}

/// The path of the `trailwatch` binary, for tests that start it as a process they control.
pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("trailwatch")
}

/// [`scan_jsonl`] with only the catalog (`--packs guide`): one finding per guide event.
pub fn scan_guide(args: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
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
pub fn record(source: &str, name: &str) -> serde_json::Value {
    serde_json::json!({
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
