//! The S3 endpoint override reached by a host name (`localhost`, as a MinIO at `http://minio:9000`
//! would be): every way of setting it — `AWS_ENDPOINT_URL_S3`, a profile's `services` section,
//! `AWS_ENDPOINT_URL`, `--endpoint-url` — addresses buckets path-style, so the bucket never becomes
//! part of the host name.

use crate::aws::moto;
use crate::support::{create_user, delivery_gz, trailwatch};
use std::path::Path;

/// `scan s3://bucket` with these arguments and environment: the event ids found, and stderr.
fn scan(url: &str, home: &Path, args: &[&str], env: &[(&str, String)]) -> (Vec<String>, String) {
    let empty = home.join("empty-config");
    std::fs::write(&empty, "").unwrap();
    let out = trailwatch()
        .args(["scan", url, "--packs", "guide", "--format", "jsonl"])
        .args(args)
        .env("AWS_CONFIG_FILE", &empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let ids = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: serde_json::Value = serde_json::from_str(l).unwrap();
            f["event_id"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    (ids, err)
}

/// How the endpoint is set: its name, the flags, the environment.
type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, String)>);

#[test]
fn s3_endpoint_by_host_name_is_addressed_path_style_however_it_is_set() {
    let Some(m) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let bucket = m.unique("named");
    m.create_bucket(&bucket);
    m.put_object(
        &bucket,
        "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/x.json.gz",
        &delivery_gz(&[create_user("by-name-1")]),
    );
    let url = format!("s3://{bucket}");
    // moto on 127.0.0.1, reached by a host name.
    let named = m.endpoint.replace("127.0.0.1", "localhost");
    assert!(named.starts_with("http://localhost:"), "{named}");
    let profile = dir.path().join("profile-config");
    std::fs::write(
        &profile,
        format!(
            "[profile tw]\nregion = us-east-1\nservices = tw-local\n\n[services tw-local]\ns3 =\n  endpoint_url = {named}\n"
        ),
    )
    .unwrap();
    let want = vec!["by-name-1".to_string()];
    let cases: Vec<Case> = vec![
        (
            "AWS_ENDPOINT_URL_S3",
            vec![],
            vec![("AWS_ENDPOINT_URL_S3", named.clone())],
        ),
        (
            "a profile's services section",
            vec!["--profile", "tw"],
            vec![("AWS_CONFIG_FILE", profile.display().to_string())],
        ),
        (
            "AWS_ENDPOINT_URL",
            vec![],
            vec![("AWS_ENDPOINT_URL", named.clone())],
        ),
        ("--endpoint-url", vec!["--endpoint-url", &named], vec![]),
    ];
    for (how, args, env) in cases {
        let (ids, err) = scan(&url, dir.path(), &args, &env);
        assert_eq!(ids, want, "endpoint by {how}: {err}");
    }
}
