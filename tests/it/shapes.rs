use crate::support::{delivery_json, gzip, record, scan_guide, texts, write};
use serde_json::{Value, json};

#[test]
fn every_container_shape_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let stop = record("cloudtrail.amazonaws.com", "StopLogging");
    let noise = record("s3.amazonaws.com", "GetObject");
    write(
        d,
        "AWSLogs/1/CloudTrail/us-east-1/2026/11/20/a.json.gz",
        &gzip(&delivery_json(&[noise.clone(), stop.clone()])),
    );
    write(
        d,
        "plain.json",
        &delivery_json(&[record("iam.amazonaws.com", "CreateUser")]),
    );
    write(
        d,
        "array.json",
        &serde_json::to_vec(&json!([noise, record("s3.amazonaws.com", "DeleteBucket")])).unwrap(),
    );
    write(
        d,
        "single.json",
        serde_json::to_string_pretty(&record("ec2.amazonaws.com", "RunInstances"))
            .unwrap()
            .as_bytes(),
    );
    let lines = format!(
        "{}\n{}\n",
        record("rds.amazonaws.com", "DeleteDBInstance"),
        record("kms.amazonaws.com", "Decrypt")
    );
    write(d, "lines.jsonl", lines.as_bytes());
    let envelope = |r: Value, t: &str| json!({"version":"0","id":"e1","detail-type":t,"source":"aws.iam","account":"1","time":"2026-11-20T09:05:12Z","region":"us-east-1","resources":[],"detail":r});
    let eb = json!([envelope(
        record("iam.amazonaws.com", "AttachUserPolicy"),
        "AWS API Call via CloudTrail"
    )]);
    write(d, "eventbridge.json", &serde_json::to_vec(&eb).unwrap());
    let login = envelope(
        record("signin.amazonaws.com", "ConsoleLogin"),
        "AWS Console Sign In via CloudTrail",
    );
    write(d, "eventbridge.jsonl", format!("{login}\n").as_bytes());
    let row = |r: Value| json!({"EventId":"x","EventName":r["eventName"],"ReadOnly":"false","EventTime":1.7e9,"EventSource":r["eventSource"],"Resources":[],"CloudTrailEvent":r.to_string()});
    write(
        d,
        "lookup.json",
        &serde_json::to_vec(&json!({"Events":[row(record("iam.amazonaws.com", "DeleteUser"))]}))
            .unwrap(),
    );
    write(
        d,
        "lookup.jsonl",
        format!("{}\n", row(record("iam.amazonaws.com", "CreateAccessKey"))).as_bytes(),
    );
    // Gzip found by its magic bytes, whatever the name says.
    write(
        d,
        "gzipped-but-named.json",
        &gzip(&delivery_json(&[record(
            "s3.amazonaws.com",
            "PutBucketPolicy",
        )])),
    );
    write(
        d,
        "plain-but-named.gz",
        &delivery_json(&[record("s3.amazonaws.com", "PutBucketAcl")]),
    );

    let (code, findings, stderr) = scan_guide(&[d.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let mut got = texts(&findings, "event_name");
    got.sort();
    let mut want = vec![
        "StopLogging",
        "CreateUser",
        "DeleteBucket",
        "RunInstances",
        "DeleteDBInstance",
        "AttachUserPolicy",
        "ConsoleLogin",
        "DeleteUser",
        "CreateAccessKey",
        "PutBucketPolicy",
        "PutBucketAcl",
    ];
    want.sort();
    assert_eq!(got, want);
    let loc = |name: &str| {
        findings.iter().find(|f| f["event_name"] == name).unwrap()["location"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(loc("StopLogging").ends_with("a.json.gz#2"));
    // LookupEvents rows are read through their embedded record, not the row's own fields.
    for name in ["DeleteUser", "CreateAccessKey"] {
        let f = findings.iter().find(|f| f["event_name"] == name).unwrap();
        assert_eq!(f["actor"], "arn:aws:iam::111122223333:user/alice", "{name}");
        assert_eq!(f["event_id"], format!("id-{name}"));
    }
    assert!(loc("DeleteDBInstance").ends_with("lines.jsonl:1"));
    assert!(loc("RunInstances").ends_with("single.json"));
}

#[test]
fn digests_are_skipped_and_insights_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let digest = json!({"awsAccountId":"1","digestStartTime":"2026-11-20T08:00:00Z","digestEndTime":"2026-11-20T09:00:00Z",
        "digestS3Bucket":"b","digestS3Object":"k","digestPublicKeyFingerprint":"f","digestSignatureAlgorithm":"SHA256withRSA","logFiles":[]});
    write(
        d,
        "AWSLogs/1/CloudTrail-Digest/us-east-1/2026/11/20/d.json.gz",
        &gzip(digest.to_string().as_bytes()),
    );
    write(d, "elsewhere/digest.json", digest.to_string().as_bytes());
    let insight = json!({"eventVersion":"1.08","eventTime":"2026-11-20T09:00:00Z","awsRegion":"us-east-1","eventID":"i","eventType":"AwsCloudTrailInsight",
        "recipientAccountId":"1","sharedEventID":"s","insightDetails":{"state":"Start","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","insightType":"ApiCallRateInsight"},"eventCategory":"Insight"});
    write(
        d,
        "AWSLogs/1/CloudTrail-Insight/us-east-1/2026/11/20/i.json.gz",
        &gzip(&delivery_json(&[insight])),
    );
    let out = crate::support::trailwatch()
        .args([
            "scan",
            d.to_str().unwrap(),
            "--packs",
            "guide",
            "--format",
            "jsonl",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "an insight is about a call rate, not a call"
    );
    assert!(stderr.contains("2 digest file(s) skipped"), "{stderr}");
    assert!(
        stderr.contains("records     1 "),
        "the insight is counted: {stderr}"
    );
}

#[test]
fn files_that_are_not_cloudtrail() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "logs/a.json.gz",
        &gzip(&delivery_json(&[record("iam.amazonaws.com", "CreateUser")])),
    );
    write(d, "logs/LICENSE", b"Apache License\nVersion 2.0\n");
    write(d, "logs/manifest.json", b"{\"files\":[\"a.json.gz\"]}");
    let logs = d.join("logs");
    // Met by a walk: skipped, counted, exit 0.
    let (code, findings, stderr) =
        crate::support::scan_with_summary(&["--packs", "guide", logs.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(findings.len(), 1);
    assert!(
        stderr.contains("1 read") && stderr.contains("2 file(s) are not CloudTrail (skipped)"),
        "{stderr}"
    );
    // Named on the command line: still an error.
    let license = logs.join("LICENSE");
    let (code, _, stderr) = crate::support::scan_with_summary(&[license.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("LICENSE: not JSON"), "{stderr}");
    let manifest = logs.join("manifest.json");
    let (code, _, stderr) = crate::support::scan_with_summary(&[manifest.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not a CloudTrail record"), "{stderr}");
}

#[test]
fn bad_inputs_are_named_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = delivery_json(&[record("iam.amazonaws.com", "CreateUser")]);
    write(d, "a-good.json.gz", &gzip(&good));
    let gz = gzip(&good);
    write(d, "b-truncated.json.gz", &gz[..gz.len() / 2]);
    write(d, "c-invalid.json", b"{\"Records\":[{\"eventSource\":\"iam.amazonaws.com\",\"eventName\":\"DeleteUser\"} {\"a\":1}]}");
    write(d, "d-not-cloudtrail.json", b"{\"hello\":\"world\"}");
    write(d, "e-not-json.log", b"2026-11-20 something happened\n");
    write(d, "f-empty.json", b"");
    write(
        d,
        "g-items.json",
        &serde_json::to_vec(
            &json!({"Records":[1,"x",null,[2],record("s3.amazonaws.com","DeleteBucket")]}),
        )
        .unwrap(),
    );
    write(d, "h-big.json", &vec![b' '; 300_000]);
    write(
        d,
        "i-deep.json",
        format!(
            "{{\"Records\":[{}{}]}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        )
        .as_bytes(),
    );
    let missing = d.join("no-such-file.json");
    let (code, findings, stderr) = scan_guide(&[
        d.to_str().unwrap(),
        missing.to_str().unwrap(),
        "--max-size",
        "250K",
    ]);
    assert_eq!(code, 1);
    let mut got = texts(&findings, "event_name");
    got.sort();
    // The invalid file's intact record and the good items of g-items are still reported.
    assert_eq!(got, vec!["CreateUser", "DeleteBucket", "DeleteUser"]);
    for (file, reason) in [
        ("b-truncated.json.gz", "truncated or corrupt gzip"),
        ("c-invalid.json", "missing ','"),
        ("g-items.json#1", "a number"),
        ("g-items.json#2", "a string"),
        ("g-items.json#3", "null"),
        ("g-items.json#4", "an array"),
        ("h-big.json", "larger than 256000 bytes"),
        ("i-deep.json#1", "nested deeper than"),
        ("no-such-file.json", "No such file"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(file) && l.contains(reason)),
            "{file}: '{reason}' not in:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("f-empty"),
        "an empty file is not an error: {stderr}"
    );
    // Changed by issue 14: files a walk meets that are not CloudTrail at all (not JSON, or JSON
    // with no CloudTrail record) are skipped and counted, not errors.
    assert!(
        !stderr.contains("d-not-cloudtrail") && !stderr.contains("e-not-json"),
        "{stderr}"
    );
    let (_, _, summary) =
        crate::support::scan_with_summary(&["--packs", "guide", d.to_str().unwrap()]);
    assert!(
        summary.contains("2 file(s) are not CloudTrail (skipped)"),
        "{summary}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn large_records_and_unicode() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut big = record("iam.amazonaws.com", "PutUserPolicy");
    big["requestParameters"] = json!({"policyDocument": "x\"y\\".repeat(1_500_000)});
    big["userIdentity"]["arn"] = json!("arn:aws:iam::111122223333:user/Zoë-Ünal-测试");
    let mut esc = record("iam.amazonaws.com", "CreateUser");
    esc["userIdentity"]["userName"] = json!("名前");
    let text = serde_json::to_string(&json!({"Records":[big, esc]})).unwrap();
    assert!(text.len() > 5_000_000);
    write(d, "big.json", text.as_bytes());
    // Escaped non-ASCII and an escaped event name still match.
    write(d, "escaped.json", br#"{"Records":[{"eventSource":"iam.amazonaws.com","eventName":"Delete\u0055ser","userIdentity":{"arn":"arn:aws:iam::1:user/\u00e9l\u00e8ve"}}]}"#);
    let (code, findings, stderr) = scan_guide(&[d.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(findings.len(), 3);
    let actor = |n: &str| findings.iter().find(|f| f["event_name"] == n).unwrap()["actor"].clone();
    assert_eq!(
        actor("PutUserPolicy"),
        "arn:aws:iam::111122223333:user/Zoë-Ünal-测试"
    );
    assert_eq!(actor("DeleteUser"), "arn:aws:iam::1:user/élève");
}
