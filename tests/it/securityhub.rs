//! The `securityhub` sink: findings imported into the moto server's Security Hub once each,
//! however often they are sent (idempotent by finding id), and, against a local receiver, the
//! documented `BatchImportFindings` request: batches of at most 100, SigV4-signed, ASFF's
//! required fields, whole-request failures retried with the same ids, a finding refused as
//! invalid moved to the dead letters.

use crate::aws::moto;
use crate::http::{Reply, Server};
use crate::support::{bin, create_user, delivery_json, write};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The ASFF keys every imported finding must carry (the BatchImportFindings documentation's
/// required attributes).
const REQUIRED: &[&str] = &[
    "SchemaVersion",
    "Id",
    "ProductArn",
    "GeneratorId",
    "AwsAccountId",
    "Types",
    "CreatedAt",
    "UpdatedAt",
    "Severity",
    "Title",
    "Description",
    "Resources",
];

/// `watch --dir` over `n` CreateUser events (ids `{tag}-0..`) until idle, with a `securityhub`
/// sink `hub`, AWS requests to `endpoint`, state in `state`; returns stderr.
fn import(dir: &Path, state: &str, endpoint: &str, tag: &str, n: usize) -> String {
    let inbox = dir.join(format!("in-{tag}"));
    if !inbox.exists() {
        let records: Vec<Value> = (0..n).map(|i| create_user(&format!("{tag}-{i}"))).collect();
        write(&inbox, "a.json", &delivery_json(&records));
    }
    let config = dir.join("trailwatch.toml");
    std::fs::write(
        &config,
        "[sinks.hub]\ntype = \"securityhub\"\naccount_id = \"123456789012\"\nregion = \"us-east-1\"\n[alerts]\ndefault = [\"hub\"]\nretry_initial = \"1s\"\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .args([
            "watch",
            "--config",
            config.to_str().unwrap(),
            "--packs",
            "guide",
        ])
        .args(["--dir", inbox.to_str().unwrap()])
        .args(["--state", dir.join(state).to_str().unwrap()])
        .args([
            "--output",
            dir.join(format!("{state}.jsonl")).to_str().unwrap(),
        ])
        .args([
            "--endpoint-url",
            endpoint,
            "--idle-exit",
            "4s",
            "--log",
            "warn",
        ])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

fn check_asff(f: &Value) {
    for key in REQUIRED {
        assert!(!f[key].is_null(), "{key} missing: {f}");
    }
    assert_eq!(f["SchemaVersion"], "2018-10-08");
    assert!(f["Title"].as_str().unwrap().chars().count() <= 256);
    assert!(f["Description"].as_str().unwrap().chars().count() <= 1024);
    assert!(
        ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
            .contains(&f["Severity"]["Label"].as_str().unwrap())
    );
    for t in f["Types"].as_array().unwrap() {
        assert_eq!(t.as_str().unwrap().split('/').count(), 3, "{t}");
    }
    let created = f["CreatedAt"].as_str().unwrap();
    assert!(
        created.parse::<jiff::Timestamp>().is_ok() && created.ends_with('Z'),
        "{created}"
    );
    assert_eq!(f["Resources"][0]["Type"], "AwsAccount");
    assert_eq!(f["Action"]["ActionType"], "AWS_API_CALL");
    assert_eq!(f["Action"]["AwsApiCallAction"]["Api"], "CreateUser");
}

#[test]
fn findings_are_imported_into_security_hub_once_each() {
    let Some(m) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let tag = m.unique("hub");
    // 130 findings: two requests. Sent again by a second watcher with its own state.
    import(dir.path(), "one.db", &m.endpoint, &tag, 130);
    import(dir.path(), "two.db", &m.endpoint, &tag, 130);
    let client = m.block_on(async {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "static",
            ))
            .endpoint_url(&m.endpoint)
            .load()
            .await;
        aws_sdk_securityhub::Client::new(&conf)
    });
    let found = m.block_on(async {
        let mut ids = std::collections::BTreeMap::new();
        let mut token = None;
        loop {
            let page = client
                .get_findings()
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .expect("GetFindings");
            for f in page.findings() {
                let id = f.product_fields().and_then(|p| p.get("trailwatch/EventId"));
                if id.is_some_and(|e| e.starts_with(&format!("{tag}-"))) {
                    *ids.entry(f.id().unwrap().to_string()).or_insert(0) += 1;
                }
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        ids
    });
    assert_eq!(found.len(), 130, "every finding imported");
    assert!(found.values().all(|&n| n == 1), "none twice: {found:?}");
}

/// The answer of BatchImportFindings when `failed` (ids) were refused as invalid.
fn answer(ok: usize, failed: &[&str]) -> Reply {
    let failed: Vec<Value> = failed
        .iter()
        .map(|id| serde_json::json!({"Id": id, "ErrorCode": "InvalidInput", "ErrorMessage": "test refusal"}))
        .collect();
    let body = serde_json::json!({"FailedCount": failed.len(), "SuccessCount": ok, "FailedFindings": failed});
    Reply::Status(200, body.to_string())
}

#[test]
fn imports_are_batched_retried_and_refusals_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    // The finding of event `r-7` (its identity is the event) is refused at the second request.
    let refused = {
        use sha2::Digest;
        let digest = sha2::Sha256::digest("event\u{1f}r-7".as_bytes());
        format!("tw-{}", hex::encode(&digest[..16]))
    };
    let hub = Server::start(
        vec![
            Reply::Status(500, "{\"message\":\"internal\"}".into()),
            answer(99, &[&refused]),
        ],
        answer(50, &[]),
    );
    import(dir.path(), "s.db", &hub.url(), "r", 150);
    let requests = hub.wait_for(3, Duration::from_secs(30));
    assert_eq!(
        requests.len(),
        3,
        "one failed, then two batches: {requests:?}"
    );
    let bodies: Vec<Vec<Value>> = requests
        .iter()
        .map(|r| {
            assert_eq!(
                (r.method.as_str(), r.path.as_str()),
                ("POST", "/findings/import")
            );
            let auth = r.header("authorization").unwrap_or_default();
            assert!(auth.starts_with("AWS4-HMAC-SHA256 "), "{auth}");
            r.json()["Findings"].as_array().unwrap().clone()
        })
        .collect();
    assert_eq!(
        bodies.iter().map(Vec::len).collect::<Vec<_>>(),
        [100, 100, 50]
    );
    let ids = |b: &Vec<Value>| b.iter().map(|f| f["Id"].clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&bodies[0]),
        ids(&bodies[1]),
        "the retry carries the same ids"
    );
    for f in bodies.iter().flatten() {
        check_asff(f);
        assert_eq!(f["AwsAccountId"], "123456789012");
        assert_eq!(
            f["ProductArn"],
            "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
        );
    }
    assert!(ids(&bodies[1]).contains(&Value::from(refused.clone())));
    let dead = Command::new(bin())
        .args([
            "state",
            "dead-letters",
            "--state",
            dir.path().join("s.db").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let dead = String::from_utf8_lossy(&dead.stdout);
    assert!(dead.contains("InvalidInput"), "{dead}");
    assert_eq!(dead.matches("InvalidInput").count(), 1, "{dead}");
}
