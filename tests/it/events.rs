//! A finding is an event: with every built-in pack loaded, one record is one finding carrying all
//! its rules, in every output format, the summary, suppressions and `--dedup`; failed calls are
//! attempts one level lower; `--service` selects by the event's service.

use crate::support::{event, scan_with_summary, trailwatch, write};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Root stops a trail (five rules), a user tries to (denied), a stack is created (one rule), and
/// a Config rule reports evaluations (info).
fn records() -> Vec<Value> {
    let mut stop = event("cloudtrail.amazonaws.com", "StopLogging", "ev-stop");
    stop["userIdentity"] = json!({"type": "Root", "principalId": "111122223333",
        "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"});
    let mut denied = event("cloudtrail.amazonaws.com", "StopLogging", "ev-denied");
    denied["errorCode"] = json!("AccessDenied");
    denied["errorMessage"] =
        json!("User: alice is not authorized to perform: cloudtrail:StopLogging");
    vec![
        stop,
        denied,
        event("cloudformation.amazonaws.com", "CreateStack", "ev-stack"),
        event("config.amazonaws.com", "PutEvaluations", "ev-eval"),
    ]
}

const STOP_RULES: &[&str] = &[
    "guide.cloudtrail.StopLogging",
    "baseline.cloudtrail-stopped",
    "cis.cloudwatch-1",
    "baseline.root-activity",
    "cis.cloudwatch-5",
];

fn fixture(dir: &std::path::Path) -> String {
    let body = serde_json::to_vec(&json!({ "Records": records() })).unwrap();
    write(dir, "f.json", &body).to_str().unwrap().to_string()
}

fn ids(f: &Value) -> Vec<String> {
    f["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn by_event<'a>(findings: &'a [Value], id: &str) -> Vec<&'a Value> {
    findings.iter().filter(|f| f["event_id"] == id).collect()
}

#[test]
fn one_finding_per_event_with_all_its_rules_attempts_lower() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path());
    let (code, findings, err) = scan_with_summary(&[&f]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(findings.len(), 4, "{findings:#?}");
    let stop = by_event(&findings, "ev-stop");
    assert_eq!(stop.len(), 1);
    let stop = stop[0];
    assert_eq!(stop["rule_id"], "guide.cloudtrail.StopLogging");
    assert_eq!(stop["severity"], "critical");
    assert_eq!(stop["outcome"], "success");
    let got: BTreeSet<String> = ids(stop).into_iter().collect();
    let want: BTreeSet<String> = STOP_RULES.iter().map(|s| s.to_string()).collect();
    assert_eq!(got, want);
    // Controls and ATT&CK ids of every rule, each once.
    let list = |k: &str| -> Vec<String> {
        stop[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    for c in ["CloudWatch.5", "CloudWatch.1", "CloudTrail.1", "CIS 4.3"] {
        assert!(list("controls").contains(&c.to_string()), "{c}: {stop}");
    }
    for a in ["TA0005", "T1562.008", "T1078.004"] {
        assert!(list("attack").contains(&a.to_string()), "{a}: {stop}");
    }
    let unique: BTreeSet<String> = list("attack").into_iter().collect();
    assert_eq!(unique.len(), list("attack").len(), "no repeats");
    // The denied StopLogging is an attempt: high, not critical; the access-denied rules keep
    // their own severity.
    let denied = by_event(&findings, "ev-denied")[0];
    assert_eq!(denied["outcome"], "failure");
    assert_eq!(denied["severity"], "high");
    let rules = denied["rules"].as_array().unwrap();
    let sev = |id: &str| rules.iter().find(|r| r["id"] == id).unwrap()["severity"].clone();
    assert_eq!(sev("guide.cloudtrail.StopLogging"), "high");
    assert_eq!(sev("baseline.access-denied"), "low");
    assert_eq!(by_event(&findings, "ev-eval")[0]["severity"], "info");
    // The summary counts events, and rule hits apart.
    assert!(
        err.contains("findings    4: 1 critical, 1 high, 1 low, 1 info"),
        "{err}"
    );
    assert!(err.contains("rule hits"), "{err}");
}

#[test]
fn every_format_has_one_row_per_event_listing_its_rules() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path());
    let run = |fmt: &str| {
        let out = trailwatch()
            .args(["scan", &f, "-q", "--format", fmt, "--color", "never"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap()
    };
    let json: Vec<Value> = serde_json::from_str(&run("json")).unwrap();
    assert_eq!(json.len(), 4);
    assert_eq!(ids(by_event(&json, "ev-stop")[0]).len(), STOP_RULES.len());

    let csv = run("csv");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 4);
    let stop = rows
        .iter()
        .find(|r| &r[col("event_id")] == "ev-stop")
        .unwrap();
    let listed: BTreeSet<&str> = stop[col("rules")].split(';').collect();
    assert_eq!(listed, STOP_RULES.iter().copied().collect());
    assert!(stop[col("controls")].contains("CloudWatch.1"));
    assert!(stop[col("attack")].contains("T1562.008"));

    let table = run("table");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "header and four events: {table}");
    let stop = lines.iter().find(|l| l.contains("(also ")).unwrap();
    for id in &STOP_RULES[1..] {
        assert!(stop.contains(id), "{id}: {stop}");
    }
}

#[test]
fn suppressions_silence_rules_and_drop_an_event_only_when_none_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path());
    let sup = write(
        dir.path(),
        "sup.yaml",
        br#"suppressions:
  - reason: break-glass drill
    rules: [cis.cloudwatch-1, baseline.root-activity]
    principal: ["arn:aws:iam::111122223333:root"]
  - reason: stacks are deployed by CI
    rules: [guide.cloudformation.*]
"#,
    );
    let (code, findings, err) = scan_with_summary(&[&f, "--suppress", sup.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(findings.len(), 3, "{findings:#?}");
    let stop = ids(by_event(&findings, "ev-stop")[0]);
    assert!(
        !stop
            .iter()
            .any(|r| r == "baseline.root-activity" || r == "cis.cloudwatch-1")
    );
    assert_eq!(stop.len(), 3);
    assert!(by_event(&findings, "ev-stack").is_empty());
    assert!(err.contains("break-glass drill"), "{err}");
    // With --show-suppressed the dropped event comes back, marked.
    let (_, shown, _) =
        scan_with_summary(&[&f, "--suppress", sup.to_str().unwrap(), "--show-suppressed"]);
    let stack = by_event(&shown, "ev-stack");
    assert_eq!(stack.len(), 1);
    assert_eq!(stack[0]["suppressed_by"], "stacks are deployed by CI");
}

#[test]
fn dedup_folds_repeated_events_not_the_rules_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = Vec::new();
    for (i, minute) in ["00", "10", "20"].iter().enumerate() {
        let mut r = event("s3.amazonaws.com", "ListBuckets", &format!("root-{i}"));
        r["userIdentity"] = json!({"type": "Root", "arn": "arn:aws:iam::111122223333:root",
            "accountId": "111122223333"});
        r["eventTime"] = json!(format!("2026-11-20T09:{minute}:00Z"));
        records.push(r);
    }
    let body = serde_json::to_vec(&json!({ "Records": records })).unwrap();
    let f = write(dir.path(), "root.json", &body);
    let (_, plain, _) = scan_with_summary(&[f.to_str().unwrap(), "-q"]);
    assert_eq!(plain.len(), 3, "one per event without --dedup");
    assert!(plain.iter().all(|x| ids(x).len() == 2), "{plain:#?}");
    let (_, folded, err) = scan_with_summary(&[f.to_str().unwrap(), "--dedup"]);
    assert_eq!(folded.len(), 1, "{err} {folded:#?}");
    assert_eq!(folded[0]["count"], 3);
    assert_eq!(folded[0]["last_time"], "2026-11-20T09:20:00Z");
}

#[test]
fn service_selects_events_by_their_event_source_or_catalog_service() {
    let dir = tempfile::tempdir().unwrap();
    let mut login = event("signin.amazonaws.com", "ConsoleLogin", "ev-login");
    login["userIdentity"] = json!({"type": "Root", "arn": "arn:aws:iam::111122223333:root",
        "accountId": "111122223333"});
    login["responseElements"] = json!({"ConsoleLogin": "Success"});
    login["additionalEventData"] = json!({"MFAUsed": "No"});
    let mut ssh = event(
        "ec2.amazonaws.com",
        "AuthorizeSecurityGroupIngress",
        "ev-ssh",
    );
    ssh["requestParameters"] = json!({"groupId": "sg-1", "ipPermissions": {"items": [
        {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
         "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}});
    let body = serde_json::to_vec(&json!({ "Records": [login, ssh] })).unwrap();
    let f = write(dir.path(), "s.json", &body);
    let f = f.to_str().unwrap();
    let events = |service: &str| -> Vec<String> {
        let (code, found, err) = scan_with_summary(&[f, "-q", "--service", service]);
        assert_eq!(code, 0, "{service}: {err}");
        found
            .iter()
            .map(|x| x["event_id"].as_str().unwrap().to_string())
            .collect()
    };
    // The root sign-in is an IAM catalog event logged by signin: both names select it, whatever
    // rule is on top (a CIS rule here).
    assert_eq!(events("iam"), ["ev-login"]);
    assert_eq!(events("SIGNIN"), ["ev-login"]);
    assert_eq!(events("signin.amazonaws.com"), ["ev-login"]);
    // The SSH opening is a security-groups catalog event logged by ec2.
    assert_eq!(events("security-groups"), ["ev-ssh"]);
    assert_eq!(events("ec2"), ["ev-ssh"]);
    let (_, all, _) = scan_with_summary(&[f, "-q"]);
    let ssh = all.iter().find(|x| x["event_id"] == "ev-ssh").unwrap();
    assert_eq!(ssh["severity"], "high", "{ssh}");
}

#[test]
fn one_terraform_plan_reading_secrets_is_no_bulk_read() {
    let dir = tempfile::tempdir().unwrap();
    let reads = |ua: &str, who: &str| -> Vec<Value> {
        (0..8)
            .map(|i| {
                let mut r = event(
                    "secretsmanager.amazonaws.com",
                    "GetSecretValue",
                    &format!("{who}-{i}"),
                );
                r["userAgent"] = json!(ua);
                r["userIdentity"]["arn"] = json!(format!("arn:aws:iam::111122223333:user/{who}"));
                r["eventTime"] = json!(format!("2026-11-20T09:00:0{i}Z"));
                r["readOnly"] = json!(true);
                r["requestParameters"] = json!({"secretId": format!("app/secret-{i}")});
                r
            })
            .collect()
    };
    let mut records = reads(
        "APN/1.0 HashiCorp/1.0 Terraform/1.6.6 (+https://www.terraform.io) terraform-provider-aws/5.31.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.49.13",
        "ci",
    );
    records.extend(reads(
        "aws-cli/2.15.0 Python/3.11.6 Linux/6.5 exe/x86_64",
        "mallory",
    ));
    let body = serde_json::to_vec(&json!({ "Records": records })).unwrap();
    let f = write(dir.path(), "reads.json", &body);
    let (_, found, _) = scan_with_summary(&[f.to_str().unwrap(), "-q"]);
    let bursts: Vec<&Value> = found
        .iter()
        .filter(|x| x["rule_id"] == "baseline.secrets-bulk-read")
        .collect();
    assert_eq!(bursts.len(), 1, "{found:#?}");
    assert_eq!(bursts[0]["aggregate"], true);
    assert_eq!(bursts[0]["actor"], "arn:aws:iam::111122223333:user/mallory");
}
