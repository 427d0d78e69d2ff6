use crate::support::{record, scan_jsonl, scan_with_summary, shared, texts, trailwatch, write};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashSet};

const USER_RULES: &str = r#"
pack: acme
rules:
  - id: acme.ssh-open
    title: SSH opened to the world
    severity: high
    description: An ingress rule opened port 22 to everyone.
    match: { sources: [ec2.amazonaws.com], names: [AuthorizeSecurityGroupIngress] }
    where:
      all:
        - field: requestParameters.ipPermissions.items[*].ipRanges.items[*].cidrIp
          in: [0.0.0.0/0]
        - field: requestParameters.ipPermissions.items[*].fromPort
          lte: 22
    tests:
      - record: { eventSource: ec2.amazonaws.com, eventName: AuthorizeSecurityGroupIngress,
                  requestParameters: { ipPermissions: { items: [ { fromPort: 22,
                  ipRanges: { items: [ { cidrIp: 0.0.0.0/0 } ] } } ] } } }
        expect: match
      - record: { eventSource: ec2.amazonaws.com, eventName: AuthorizeSecurityGroupIngress,
                  requestParameters: { ipPermissions: { items: [ { fromPort: 22,
                  ipRanges: { items: [ { cidrIp: 10.0.0.0/8 } ] } } ] } } }
        expect: no-match
  - id: acme.denied-burst
    title: Burst of denied calls
    severity: medium
    description: Five denied calls from one address within ten minutes.
    where: { field: errorCode, glob: ["AccessDenied*", "*UnauthorizedOperation"] }
    threshold: { count: 5, window: 10m, group_by: [sourceIPAddress] }
  - id: acme.policy-allows-everyone
    title: Bucket policy allows everyone
    severity: critical
    description: A bucket policy statement allows any principal.
    match: { names: ["PutBucket*"] }
    where:
      field: requestParameters.bucketPolicy.Statement[*].Principal
      equals: "*"
    dedup: { key: [requestParameters.bucketName], window: 1h }
"#;

fn denied(i: u32, minute: u32, ip: &str) -> Value {
    let mut r = record("ec2.amazonaws.com", "DescribeInstances");
    r["eventTime"] = json!(format!("2026-11-20T10:{minute:02}:00Z"));
    r["errorCode"] = json!("Client.UnauthorizedOperation");
    r["sourceIPAddress"] = json!(ip);
    r["eventID"] = json!(format!("denied-{i}"));
    r
}

fn open_ssh() -> Value {
    let mut r = record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress");
    r["requestParameters"] = json!({"groupId": "sg-1", "ipPermissions": {"items": [
        {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}});
    r
}

fn public_policy(bucket: &str, minute: u32) -> Value {
    let mut r = record("s3.amazonaws.com", "PutBucketPolicy");
    r["eventTime"] = json!(format!("2026-11-20T11:{minute:02}:00Z"));
    r["eventID"] = json!(format!("pol-{bucket}-{minute}"));
    // The policy as CloudTrail logs it for some clients: JSON inside a string.
    let policy =
        json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]});
    r["requestParameters"] = json!({"bucketName": bucket, "bucketPolicy": policy.to_string()});
    r
}

#[test]
fn user_rules_conditions_thresholds_and_dedup() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "acme.yaml", USER_RULES.as_bytes());
    let mut records = vec![open_ssh()];
    // Four denied calls from one address, then a fifth within ten minutes; two from another.
    for (i, m) in [0, 2, 4, 6, 8].into_iter().enumerate() {
        records.push(denied(i as u32, m, "203.0.113.9"));
    }
    records.push(denied(10, 1, "198.51.100.1"));
    records.push(denied(11, 3, "198.51.100.1"));
    for (bucket, minute) in [("a", 0), ("a", 30), ("b", 31), ("a", 59)] {
        records.push(public_policy(bucket, minute));
    }
    let logs = write(
        dir.path(),
        "logs.json",
        json!({ "Records": records }).to_string().as_bytes(),
    );
    let args = [
        logs.to_str().unwrap(),
        "--packs",
        "guide",
        "--rules",
        rules.to_str().unwrap(),
    ];
    // A plain scan reports every matching record; thresholds still apply.
    let (code, findings, err) = scan_with_summary(&args);
    assert_eq!(code, 0, "exit {code}: {err}");
    let acme: Vec<&Value> = findings.iter().filter(|f| f["pack"] == "acme").collect();
    let got: Vec<&str> = acme
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        [
            "acme.ssh-open",
            "acme.denied-burst",
            "acme.policy-allows-everyone",
            "acme.policy-allows-everyone",
            "acme.policy-allows-everyone",
            "acme.policy-allows-everyone"
        ],
        "{err}"
    );
    let burst = acme[1];
    assert_eq!(burst["count"], 5);
    assert_eq!(burst["source_ip"], "203.0.113.9");
    assert_eq!(burst["first_time"], "2026-11-20T10:00:00Z");
    assert_eq!(burst["last_time"], "2026-11-20T10:08:00Z");
    assert_eq!(burst["group"], json!({"sourceIPAddress": "203.0.113.9"}));
    assert!(acme[2].get("count").is_none());

    // --dedup: bucket a at :00 opens a window that folds :30 and :59; bucket b is its own.
    let mut dedup = args.to_vec();
    dedup.push("--dedup");
    let (code, findings, err) = scan_with_summary(&dedup);
    assert_eq!(code, 0, "exit {code}: {err}");
    let acme: Vec<&Value> = findings.iter().filter(|f| f["pack"] == "acme").collect();
    assert_eq!(acme.len(), 4, "{acme:#?}");
    assert_eq!(acme[2]["event_id"], "pol-a-0");
    assert_eq!(acme[2]["count"], 3);
    assert_eq!(acme[2]["first_time"], "2026-11-20T11:00:00Z");
    assert_eq!(acme[2]["last_time"], "2026-11-20T11:59:00Z");
    assert_eq!(acme[3]["event_id"], "pol-b-31");
    assert!(acme[3].get("count").is_none());
    assert!(err.contains("2 repeat(s)"), "{err}");
    // The catalog pack still reports the events it knows (among the rules of the event).
    assert!(
        findings
            .iter()
            .any(|f| f["rules"].as_array().is_some_and(|rs| rs
                .iter()
                .any(|r| r["id"] == "guide.security-groups.AuthorizeSecurityGroupIngress")))
    );
}

#[test]
fn suppressions_with_reasons_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write(
        dir.path(),
        "logs.json",
        json!({"Records": [open_ssh(), record("iam.amazonaws.com", "CreateUser")]})
            .to_string()
            .as_bytes(),
    );
    let sup = write(
        dir.path(),
        "suppress.yaml",
        br#"suppressions:
  - reason: alice manages IAM
    rules: ["guide.iam.*"]
    principal: ["arn:aws:iam::*:user/alice"]
  - reason: old exception
    rules: ["guide.security-groups.*"]
    expires: 2020-01-01
"#,
    );
    let args = [
        logs.to_str().unwrap(),
        "--packs",
        "guide",
        "--suppress",
        sup.to_str().unwrap(),
    ];
    let (code, findings, err) = scan_with_summary(&args);
    assert_eq!(code, 0, "exit {code}: {err}");
    assert_eq!(
        texts(&findings, "rule_id"),
        ["guide.security-groups.AuthorizeSecurityGroupIngress"]
    );
    assert!(err.contains("suppressed  1 finding(s)"), "{err}");
    assert!(
        err.contains("1  guide.iam.CreateUser: alice manages IAM"),
        "{err}"
    );
    assert!(
        err.contains("'old exception' expired on 2020-01-01"),
        "{err}"
    );
    let mut shown = args.to_vec();
    shown.push("--show-suppressed");
    let (_, findings, _) = scan_jsonl(&shown);
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[1]["suppressed_by"], "alice manages IAM");
    // A broken suppression file is a usage error.
    let bad = write(dir.path(), "bad.yaml", b"suppressions:\n  - rules: [x]\n");
    let out = trailwatch()
        .args([
            "scan",
            logs.to_str().unwrap(),
            "--suppress",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a `reason`"));
}

#[test]
fn validate_and_test_commands() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.yaml", USER_RULES.as_bytes());
    let out = trailwatch()
        .args(["rules", "validate", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = trailwatch()
        .args(["rules", "test", good.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("2 rule test(s) passed, 0 failed"), "{err}");

    let bad = USER_RULES
        .replace("lte: 22", "lte: twenty-two")
        .replace("expect: no-match", "expect: match");
    let bad = write(dir.path(), "bad.yaml", bad.as_bytes());
    let out = trailwatch()
        .args(["rules", "validate", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad.yaml:4: rule 'acme.ssh-open'") && err.contains("takes a number"),
        "{err}"
    );
    assert!(err.contains("2 rule(s) valid, 1 with errors"), "{err}");

    let failing = USER_RULES.replace("cidrIp: 10.0.0.0/8", "cidrIp: 0.0.0.0/0");
    let failing = write(dir.path(), "failing.yaml", failing.as_bytes());
    let out = trailwatch()
        .args(["rules", "test", failing.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FAIL acme.ssh-open"));

    let list = trailwatch()
        .args([
            "rules",
            "list",
            "--pack",
            "acme",
            "--rules",
            good.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert_eq!(text.lines().count(), 3, "{text}");
    let show = trailwatch()
        .args(["rules", "show", "cis.cloudwatch-1"])
        .output()
        .unwrap();
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
}

#[test]
fn builtin_packs_load_and_their_tests_pass() {
    let out = trailwatch().args(["rules", "test"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let list = trailwatch()
        .args(["rules", "list", "--format", "json"])
        .output()
        .unwrap();
    let rules: Vec<Value> = serde_json::from_slice(&list.stdout).unwrap();
    let ids: BTreeSet<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for n in 1..=14 {
        assert!(
            ids.contains(format!("cis.cloudwatch-{n}").as_str()),
            "cis.cloudwatch-{n} missing"
        );
    }
    assert!(ids.contains("cis.organizations"));
    // Every built-in YAML rule has a positive and a negative test.
    let packs = ["cis", "baseline"];
    let yaml_rules = rules
        .iter()
        .filter(|r| packs.contains(&r["pack"].as_str().unwrap()))
        .count();
    assert!(yaml_rules >= 30, "{yaml_rules} built-in YAML rules");
    assert!(err.contains(" 0 failed"), "{err}");
}

/// Severity ranks for comparisons.
fn rank(s: &str) -> u8 {
    ["info", "low", "medium", "high", "critical"]
        .iter()
        .position(|x| *x == s)
        .unwrap_or(0) as u8
}

#[test]
fn stratus_coverage_and_background_noise() {
    let Some(shared) = shared() else { return };
    let dir = shared.join("corpus/stratus-red-team/records");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 35);
    let mut uncovered = Vec::new();
    for f in &files {
        let (_, findings, err) = scan_jsonl(&[f.to_str().unwrap()]);
        if !findings
            .iter()
            .any(|x| rank(x["severity"].as_str().unwrap()) >= 2)
        {
            uncovered.push(f.file_name().unwrap().to_string_lossy().into_owned());
        }
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(
        uncovered.is_empty(),
        "{} of 35 techniques without a medium+ finding: {uncovered:#?}",
        uncovered.len()
    );

    let labels: Value = serde_json::from_str(
        &std::fs::read_to_string(
            shared.join("corpus/invictus-aws-dataset/meta/labels.derived.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let background: HashSet<&str> = labels["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["label"] == "background")
        .filter_map(|r| r["eventID"].as_str())
        .collect();
    let (_, findings, _) = scan_jsonl(&[shared
        .join("corpus/invictus-aws-dataset/records")
        .to_str()
        .unwrap()]);
    let mut loud: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &findings {
        let id = f["event_id"].as_str().unwrap_or_default();
        if background.contains(id) && rank(f["severity"].as_str().unwrap()) >= 3 {
            loud.entry(id.to_string())
                .or_default()
                .insert(f["rule_id"].as_str().unwrap().to_string());
        }
    }
    // Under 0.5% of the background records (terraform teardown of the detonation infrastructure,
    // console use) raise a high or critical finding.
    let share = loud.len() as f64 / background.len() as f64;
    assert!(
        share < 0.005,
        "{} of {} background records raise high/critical: {loud:#?}",
        loud.len(),
        background.len()
    );
}

const SIGMA: &str = r#"
title: Trail stopped outside the admin role
id: 5f0c7a1e-0000-4000-8000-000000000001
status: experimental
logsource: { product: aws, service: cloudtrail }
detection:
  selection:
    eventSource: cloudtrail.amazonaws.com
    eventName: [StopLogging, DeleteTrail]
  filter_admin:
    userIdentity.arn|endswith: ':role/TrailAdmin'
  condition: selection and not 1 of filter_*
level: critical
falsepositives: [Planned trail migrations]
---
title: Windows process
logsource: { product: windows, category: process_creation }
detection: { sel: { Image|endswith: '\cmd.exe' }, condition: sel }
---
title: Base64 things
logsource: { product: aws, service: cloudtrail }
detection: { sel: { requestParameters.x|base64: abc }, condition: sel }
"#;

#[test]
fn sigma_rules_run_and_unsupported_ones_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let sigma = write(dir.path(), "aws.yml", SIGMA.as_bytes());
    let mut admin = record("cloudtrail.amazonaws.com", "DeleteTrail");
    admin["userIdentity"]["arn"] = json!("arn:aws:sts::111122223333:role/TrailAdmin");
    admin["eventID"] = json!("admin");
    let logs = write(
        dir.path(),
        "logs.json",
        json!({"Records": [record("cloudtrail.amazonaws.com", "StopLogging"), admin,
            record("events.amazonaws.com", "DeleteRule")]})
        .to_string()
        .as_bytes(),
    );
    let (code, findings, err) = scan_with_summary(&[
        logs.to_str().unwrap(),
        "--packs",
        "none",
        "--sigma",
        sigma.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "unsupported rules are warnings: {err}");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f["pack"], "sigma");
    assert_eq!(f["rule_id"], "5f0c7a1e-0000-4000-8000-000000000001");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["event_name"], "StopLogging");
    assert_eq!(f["service"], "cloudtrail");
    // One line per skipped rule, naming the file and the reason.
    let skipped: Vec<&str> = err.lines().filter(|l| l.contains("skipped")).collect();
    assert_eq!(skipped.len(), 2, "{err}");
    assert!(skipped.iter().all(|l| l.contains("aws.yml")), "{err}");
    assert!(err.contains("only aws/cloudtrail"), "{err}");
    assert!(err.contains("Base64"), "{err}");
    // rules validate --sigma: warnings only, so success; a broken file is an error (exit 2).
    let out = trailwatch()
        .args(["rules", "validate", "--sigma", sigma.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let broken = write(dir.path(), "broken.yml", b"title: [x\n");
    let out = trailwatch()
        .args(["rules", "validate", "--sigma", broken.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
