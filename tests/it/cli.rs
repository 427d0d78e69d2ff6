use crate::support::{record, scan_guide, texts, trailwatch, write};
use serde_json::{Value, json};

/// A file with a few findings across services, accounts, regions and times.
fn fixture(dir: &std::path::Path) -> String {
    let mut a = record("cloudtrail.amazonaws.com", "StopLogging");
    a["eventTime"] = json!("2026-11-20T09:00:00Z");
    let mut b = record("iam.amazonaws.com", "CreateUser");
    b["eventTime"] = json!("2026-11-21T09:00:00Z");
    b["recipientAccountId"] = json!("444455556666");
    let mut c = record("ec2.amazonaws.com", "RunInstances");
    c["eventTime"] = json!("2026-11-22T09:00:00Z");
    c["awsRegion"] = json!("eu-west-1");
    c["errorCode"] = json!("Client.UnauthorizedOperation");
    c["userAgent"] = json!("=cmd|' /C calc'!A0");
    let path = write(
        dir,
        "f.json",
        &serde_json::to_vec(&json!({"Records":[a, b, c]})).unwrap(),
    );
    path.to_str().unwrap().to_string()
}

fn events(args: &[&str]) -> Vec<String> {
    let (code, findings, stderr) = scan_guide(args);
    assert_eq!(code, 0, "{stderr}");
    texts(&findings, "event_name")
}

#[test]
fn finding_keys_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path());
    let (_, findings, _) = scan_guide(&[&f]);
    let keys: Vec<&String> = findings[0].as_object().unwrap().keys().collect();
    for k in trailwatch::finding::KEYS {
        assert!(keys.iter().any(|x| x == k), "missing {k}");
    }
    let stop = &findings[0];
    assert_eq!(stop["rule_id"], "guide.cloudtrail.StopLogging");
    assert_eq!(stop["severity"], "critical");
    assert_eq!(stop["actor"], "arn:aws:iam::111122223333:user/alice");
    assert_eq!(stop["actor_type"], "IAMUser");
    assert_eq!(stop["read_only"], false);
    assert_eq!(stop["error_code"], Value::Null);
    assert!(stop["location"].as_str().unwrap().ends_with("f.json#1"));
}

#[test]
fn filters() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path());
    assert_eq!(
        events(&[&f, "--service", "iam,ec2"]),
        vec!["CreateUser", "RunInstances"]
    );
    assert_eq!(
        events(&[&f, "--min-severity", "critical"]),
        vec!["StopLogging"]
    );
    assert_eq!(
        events(&[&f, "--since", "2026-11-21"]),
        vec!["CreateUser", "RunInstances"]
    );
    assert_eq!(
        events(&[&f, "--until", "2026-11-21T09:00:00Z"]),
        vec!["StopLogging"]
    );
    assert_eq!(
        events(&[&f, "--account", "444455556666"]),
        vec!["CreateUser"]
    );
    assert_eq!(events(&[&f, "--region", "eu-west-1"]), vec!["RunInstances"]);
    assert_eq!(events(&[&f, "--event", "createuser"]), vec!["CreateUser"]);
    assert!(
        events(&[&f, "--since", "1h"]).is_empty(),
        "the fixture is older than an hour"
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["scan", "x", "--since", "last tuesday"],
        vec!["scan", "x", "--service", "nosuch"],
        vec!["scan", "x", "--min-severity", "urgent"],
        vec!["scan", "--bogus"],
        vec!["scan"],
        vec!["explain", "NoSuchEvent"],
        vec!["catalog", "--service", "nosuch"],
    ] {
        let out = trailwatch().args(&args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

#[test]
fn formats() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path());
    let run = |fmt: &str| {
        let out = trailwatch()
            .args(["scan", &f, "--packs", "guide", "-q", "--format", fmt])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap()
    };
    let json: Value = serde_json::from_str(&run("json")).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 3);
    let csv = run("csv");
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), trailwatch::finding::KEYS.join(","));
    assert_eq!(csv.lines().count(), 4);
    assert!(csv.contains("'=cmd|"), "formula cell defused: {csv}");
    let table = run("table");
    assert!(table.starts_with("TIME"), "{table}");
    assert!(
        table.contains("StopLogging") && table.contains("[failed: Client.UnauthorizedOperation]")
    );
    assert!(!table.contains('\u{1b}'), "no colour when not a terminal");
    let colored = trailwatch()
        .args([
            "scan", &f, "--packs", "guide", "-q", "--format", "table", "--color", "always",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&colored.stdout).contains('\u{1b}'));
    // Piped output defaults to JSON Lines; empty results give an empty array in JSON.
    let out = trailwatch()
        .args(["scan", &f, "--packs", "guide", "-q"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 3);
    let none = trailwatch()
        .args([
            "scan",
            &f,
            "--packs",
            "guide",
            "-q",
            "--format",
            "json",
            "--event",
            "DeleteTrail",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(none.stdout).unwrap(), "[]\n");
    // --output writes a file.
    let target = dir.path().join("out.jsonl");
    trailwatch()
        .args([
            "scan",
            &f,
            "--packs",
            "guide",
            "-q",
            "-o",
            target.to_str().unwrap(),
        ])
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(target).unwrap().lines().count(), 3);
}

#[test]
fn catalog_and_explain() {
    let out = trailwatch()
        .args(["catalog", "--format", "json"])
        .output()
        .unwrap();
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 319);
    for k in [
        "service",
        "event_name",
        "event_sources",
        "severity",
        "title",
        "summary",
        "why",
    ] {
        assert!(all.iter().all(|e| !e[k].is_null()), "{k}");
    }
    let out = trailwatch()
        .args(["catalog", "--service", "cloudtrail", "--format", "json"])
        .output()
        .unwrap();
    let one: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(one[0]["event_name"], "StopLogging");
    let found = trailwatch()
        .args(["catalog", "--search", "mfa"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&found.stdout).contains("DeactivateMFADevice"));
    let md = trailwatch()
        .args(["catalog", "--format", "markdown", "--service", "s3"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&md.stdout).contains("| `PutBucketPolicy` |"));

    let both = trailwatch()
        .args(["explain", "deletepolicy"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&both.stdout);
    assert!(
        text.contains("autoscaling.amazonaws.com") && text.contains("iam.amazonaws.com"),
        "{text}"
    );
    let one = trailwatch()
        .args(["explain", "DeletePolicy", "--source", "iam.amazonaws.com"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&one.stdout);
    assert!(
        text.contains("guide.iam.DeletePolicy") && !text.contains("autoscaling"),
        "{text}"
    );
}

#[test]
fn manual_pages_cover_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = trailwatch()
        .args(["man", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for page in [
        "trailwatch.1",
        "trailwatch-scan.1",
        "trailwatch-timeline.1",
        "trailwatch-watch.1",
    ] {
        assert!(
            pages.iter().any(|p| p == page),
            "{page} missing from {pages:?}"
        );
    }
    assert!(
        !pages.iter().any(|p| p == "trailwatch-man.1"),
        "the hidden command has no page"
    );
    let top = std::fs::read_to_string(dir.path().join("trailwatch.1")).unwrap();
    assert!(
        top.starts_with(".ie") && top.contains(".TH trailwatch 1"),
        "{top}"
    );
    assert!(top.contains("trailwatch\\-timeline(1)"), "{top}");
    let stdout = trailwatch().arg("man").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&stdout.stdout), top);
}
