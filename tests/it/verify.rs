//! `trailwatch verify` on digest chains the tests generate and sign themselves with a test RSA
//! key (the real algorithm: RSA PKCS#1 v1.5 with SHA-256 over CloudTrail's signing string), in
//! local folders and in moto's S3 with the signatures in object metadata.

use crate::support::{gzip, record, trailwatch, write};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

const ACCT: &str = "111122223333";
const REGION: &str = "eu-west-1";
const TRAIL: &str = "main";
const FINGERPRINT: &str = "0123456789abcdef0123456789abcdef";
/// The first hour of every generated trail.
const T0: &str = "2026-11-02T00:00:00Z";

pub(crate) fn key_pair() -> &'static RsaKeyPair {
    static PAIR: OnceLock<RsaKeyPair> = OnceLock::new();
    PAIR.get_or_init(|| RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key"))
}

fn sign(message: &str) -> String {
    let pair = key_pair();
    let mut sig = vec![0; pair.public_modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        message.as_bytes(),
        &mut sig,
    )
    .expect("signing");
    hex::encode(sig)
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The `aws cloudtrail list-public-keys` output for the test key.
pub(crate) fn keys_file(dir: &Path) -> String {
    let der = key_pair().public_key().as_ref();
    let doc = json!({"publicKeyList": [{
        "ValidityStartTime": "2026-10-01T00:00:00+00:00",
        "ValidityEndTime": "2026-12-31T00:00:00+00:00",
        "Value": base64::engine::general_purpose::STANDARD.encode(der),
        "Fingerprint": FINGERPRINT,
    }]});
    let path = write(dir, "public-keys.json", doc.to_string().as_bytes());
    path.display().to_string()
}

fn at(hour: i64, minute: i64) -> jiff::Timestamp {
    let t0: jiff::Timestamp = T0.parse().unwrap();
    t0 + jiff::SignedDuration::from_mins(hour * 60 + minute)
}

fn folder(kind: &str, t: jiff::Timestamp) -> String {
    format!("AWSLogs/{ACCT}/{kind}/{REGION}/{}", t.strftime("%Y/%m/%d"))
}

/// How to generate a trail.
#[derive(Default, Clone)]
pub(crate) struct Gen {
    pub(crate) hours: i64,
    /// Logging stopped in this hour (StopLogging in its logs) and restarted at the second.
    pub(crate) stop: Option<(i64, i64)>,
    /// This hour's digest is validly signed but names a wrong previous hash.
    pub(crate) bad_link: Option<i64>,
    pub(crate) bucket: String,
}

/// A generated trail bucket: objects by key, and each digest's signature.
#[derive(Default)]
pub(crate) struct Built {
    pub(crate) objects: BTreeMap<String, Vec<u8>>,
    pub(crate) signatures: BTreeMap<String, String>,
    pub(crate) logs: Vec<String>,
    pub(crate) digests: Vec<String>,
}

fn log_record(name: &str, t: jiff::Timestamp) -> Value {
    let mut r = record("cloudtrail.amazonaws.com", name);
    r["eventTime"] = t.to_string().into();
    r["requestParameters"] =
        json!({"name": format!("arn:aws:cloudtrail:{REGION}:{ACCT}:trail/{TRAIL}")});
    r
}

pub(crate) fn generate(g: &Gen) -> Built {
    let mut b = Built::default();
    let mut previous: Option<(String, String, String)> = None; // key, hash, signature
    for h in 0..g.hours {
        if let Some((stop, start)) = g.stop
            && h > stop
            && h < start
        {
            continue;
        }
        let (start, end) = (at(h, 0), at(h + 1, 0));
        let mut listed = Vec::new();
        // Two log files an hour, none every fifth hour (an empty digest).
        let files = if h % 5 == 4 { 0 } else { 2 };
        for i in 0..files {
            let t = at(h, 10 + 25 * i);
            let mut records = vec![record("s3.amazonaws.com", "PutBucketPolicy")];
            records[0]["eventTime"] = t.to_string().into();
            if g.stop.is_some_and(|(s, _)| s == h) && i == 1 {
                records.push(log_record("StopLogging", t));
            }
            if g.stop.is_some_and(|(_, s)| s == h) && i == 0 {
                records.push(log_record("StartLogging", t));
            }
            let content = json!({ "Records": records }).to_string().into_bytes();
            let key = format!(
                "{}/{ACCT}_CloudTrail_{REGION}_{}_h{h}f{i}.json.gz",
                folder("CloudTrail", t),
                t.strftime("%Y%m%dT%H%MZ")
            );
            listed.push(json!({
                "s3Bucket": g.bucket, "s3Object": key, "hashValue": sha(&content),
                "hashAlgorithm": "SHA-256",
                "newestEventTime": t.to_string(), "oldestEventTime": t.to_string()
            }));
            b.objects.insert(key.clone(), gzip(&content));
            b.logs.push(key);
        }
        let key = format!(
            "{}/{ACCT}_CloudTrail-Digest_{REGION}_{TRAIL}_{REGION}_{}.json.gz",
            folder("CloudTrail-Digest", end),
            end.strftime("%Y%m%dT%H%M%SZ")
        );
        let restart = g.stop.is_some_and(|(_, s)| s == h);
        let prev = previous.take().filter(|_| !restart);
        let mut doc = json!({
            "awsAccountId": ACCT,
            "digestStartTime": start.to_string(), "digestEndTime": end.to_string(),
            "digestS3Bucket": g.bucket, "digestS3Object": key,
            "digestPublicKeyFingerprint": FINGERPRINT,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": null, "oldestEventTime": null,
            "previousDigestS3Bucket": null, "previousDigestS3Object": null,
            "previousDigestHashValue": null, "previousDigestHashAlgorithm": null,
            "previousDigestSignature": null,
            "logFiles": listed,
        });
        if let Some((pk, ph, ps)) = &prev {
            let ph = if g.bad_link == Some(h) {
                sha(b"elsewhere")
            } else {
                ph.clone()
            };
            doc["previousDigestS3Bucket"] = g.bucket.clone().into();
            doc["previousDigestS3Object"] = pk.clone().into();
            doc["previousDigestHashValue"] = ph.into();
            doc["previousDigestHashAlgorithm"] = "SHA-256".into();
            doc["previousDigestSignature"] = ps.clone().into();
        }
        let content = serde_json::to_vec(&doc).unwrap();
        let hash = sha(&content);
        let prev_sig = prev.as_ref().map_or("null".to_string(), |p| p.2.clone());
        let signature = sign(&format!("{}\n{}/{key}\n{hash}\n{prev_sig}", end, g.bucket));
        b.objects.insert(key.clone(), gzip(&content));
        b.signatures.insert(key.clone(), signature.clone());
        b.digests.push(key.clone());
        previous = Some((key, hash, signature));
        if g.stop.is_some_and(|(s, _)| s == h) {
            previous = None;
        }
    }
    b
}

pub(crate) fn week() -> Gen {
    Gen {
        hours: 24 * 7,
        bucket: "trail-bucket".into(),
        ..Gen::default()
    }
}

/// Writes a generated bucket under `dir/bucket/` with a sidecar for every digest.
pub(crate) fn write_local(dir: &Path, b: &Built) -> String {
    let root = dir.join("bucket");
    for (k, v) in &b.objects {
        write(&root, k, v);
    }
    for (k, s) in &b.signatures {
        let side = json!({"signature": s, "signatureAlgorithm": "SHA256withRSA"});
        write(&root, &format!("{k}.sig.json"), side.to_string().as_bytes());
    }
    root.display().to_string()
}

/// Runs `verify ARGS --format json`: (exit code, document).
fn verify(args: &[&str]) -> (i32, Value) {
    let out = trailwatch()
        .arg("verify")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), doc)
}

/// The kinds of the problems, with the object of each.
fn problems(doc: &Value) -> Vec<(String, String)> {
    let list = doc["problems"].as_array().cloned().unwrap_or_default();
    list.iter()
        .map(|p| {
            let o = p["object"].as_str().unwrap_or("");
            let o = o.rsplit('/').next().unwrap_or(o).to_string();
            (p["kind"].as_str().unwrap_or("").to_string(), o)
        })
        .collect()
}

fn run_local(b: &Built) -> (i32, Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let root = write_local(dir.path(), b);
    let keys = keys_file(dir.path());
    let (code, doc) = verify(&[&root, "--public-keys", &keys]);
    (code, doc, dir)
}

fn name(key: &str) -> String {
    key.rsplit('/').next().unwrap().to_string()
}

#[test]
fn intact_week_holds_with_zero_problems() {
    let b = generate(&week());
    let (code, doc, _dir) = run_local(&b);
    assert_eq!(problems(&doc), [], "{doc:#}");
    assert_eq!(code, 0);
    let t = &doc["trails"][0];
    assert_eq!(t["digests"], 168);
    assert_eq!(t["signatures_verified"], 168);
    assert_eq!(t["files_verified"], b.logs.len());
    assert_eq!(t["empty_digests"], 33);
    assert_eq!(t["first"], T0);
    assert_eq!(doc["notices"], json!([]));
}

#[test]
fn without_sidecars_only_the_newest_digest_is_unsigned() {
    let b = generate(&week());
    let dir = tempfile::tempdir().unwrap();
    for (k, v) in &b.objects {
        write(&dir.path().join("copy"), k, v);
    }
    let keys = keys_file(dir.path());
    let root = dir.path().join("copy").display().to_string();
    let (code, doc) = verify(&[&root, "--public-keys", &keys]);
    let last = name(b.digests.last().unwrap());
    assert_eq!(problems(&doc), [("signature-missing".into(), last)]);
    assert_eq!(doc["trails"][0]["signatures_verified"], 167);
    assert_eq!(code, 1);
}

#[test]
fn deleted_log_file() {
    let mut b = generate(&week());
    let gone = b.logs[40].clone();
    b.objects.remove(&gone);
    let (code, doc, _dir) = run_local(&b);
    assert_eq!(problems(&doc), [("log-missing".into(), name(&gone))]);
    assert_eq!(code, 1);
}

#[test]
fn edited_log_file() {
    let mut b = generate(&week());
    let edited = b.logs[7].clone();
    let body = json!({"Records": [record("ec2.amazonaws.com", "RunInstances")]});
    b.objects
        .insert(edited.clone(), gzip(body.to_string().as_bytes()));
    let (code, doc, _dir) = run_local(&b);
    assert_eq!(problems(&doc), [("log-modified".into(), name(&edited))]);
    assert_eq!(code, 1);
}

#[test]
fn edited_digest() {
    let mut b = generate(&week());
    let d = b.digests[50].clone();
    let content = {
        let mut r = flate2::read::GzDecoder::new(&b.objects[&d][..]);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut r, &mut s).unwrap();
        s
    };
    let mut doc: Value = serde_json::from_str(&content).unwrap();
    doc["logFiles"] = json!([]);
    b.objects
        .insert(d.clone(), gzip(doc.to_string().as_bytes()));
    let (code, out, _dir) = run_local(&b);
    let p = problems(&out);
    // Its signature fails, the next digest's link to it fails, and the files it listed are
    // now listed by nothing.
    assert!(p.contains(&("signature-invalid".into(), name(&d))), "{p:?}");
    assert!(
        p.contains(&("chain-broken".into(), name(&b.digests[51]))),
        "{p:?}"
    );
    assert!(p.iter().any(|(k, _)| k == "log-undigested"), "{p:?}");
    assert_eq!(code, 1);
}

#[test]
fn missing_digest_hour() {
    let mut b = generate(&week());
    let d = b.digests[100].clone();
    b.objects.remove(&d);
    let (code, doc, _dir) = run_local(&b);
    let p = problems(&doc);
    assert_eq!(p[0], ("digest-missing".into(), name(&d)), "{p:?}");
    // The two files of that hour are now proven by nothing.
    let undigested = p.iter().filter(|(k, _)| k == "log-undigested").count();
    assert_eq!((p.len(), undigested), (3, 2), "{p:?}");
    let reason = doc["problems"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("(1.0 h)"), "{reason}");
    assert_eq!(code, 1);
}

#[test]
fn broken_chain_link() {
    let mut g = week();
    g.bad_link = Some(30);
    let b = generate(&g);
    let (code, doc, _dir) = run_local(&b);
    assert_eq!(
        problems(&doc),
        [("chain-broken".into(), name(&b.digests[30]))]
    );
    assert_eq!(code, 1);
}

#[test]
fn extra_undigested_file() {
    let mut b = generate(&week());
    let t = at(60, 33);
    let key = format!(
        "{}/{ACCT}_CloudTrail_{REGION}_{}_INJECTED.json.gz",
        folder("CloudTrail", t),
        t.strftime("%Y%m%dT%H%MZ")
    );
    let body = json!({"Records": [record("iam.amazonaws.com", "ListUsers")]});
    b.objects
        .insert(key.clone(), gzip(body.to_string().as_bytes()));
    let (code, doc, _dir) = run_local(&b);
    assert_eq!(problems(&doc), [("log-undigested".into(), name(&key))]);
    assert_eq!(code, 1);
}

#[test]
fn gap_explained_by_stop_logging() {
    let mut g = week();
    g.stop = Some((70, 75));
    let b = generate(&g);
    let (code, doc, _dir) = run_local(&b);
    assert_eq!(problems(&doc), [], "{doc:#}");
    assert_eq!(code, 0);
    let notice = &doc["notices"][0];
    assert_eq!(notice["kind"], "gap-explained");
    let reason = notice["reason"].as_str().unwrap();
    assert!(
        reason.contains("logging stopped by arn:aws:iam::111122223333:user/alice")
            && reason.contains("(StopLogging)")
            && reason.contains("restarted by")
            && reason.contains("(4.0 h)"),
        "{reason}"
    );
    // The same gap without the events in the logs is a problem.
    let mut unexplained = b;
    let dir = tempfile::tempdir().unwrap();
    let root = write_local(dir.path(), &unexplained);
    let keys = keys_file(dir.path());
    let since = at(0, 0).to_string();
    let until = at(g.hours, 0).to_string();
    let (_, doc) = verify(&[
        &root,
        "--public-keys",
        &keys,
        "--since",
        &since,
        "--until",
        &until,
    ]);
    assert_eq!(problems(&doc), [], "{doc:#}");
    unexplained
        .objects
        .retain(|k, _| !k.contains("_h70f1") && !k.contains("_h75f0"));
    let (code, doc, _dir) = run_local(&unexplained);
    let p = problems(&doc);
    assert!(
        p.contains(&("gap".into(), name(&unexplained.digests[71]))),
        "{p:?}"
    );
    assert_eq!(code, 1);
}

#[test]
fn range_ends_are_checked() {
    let b = generate(&Gen {
        hours: 24,
        bucket: "b".into(),
        ..Gen::default()
    });
    let (dir, keys) = {
        let dir = tempfile::tempdir().unwrap();
        let keys = keys_file(dir.path());
        (dir, keys)
    };
    let root = write_local(dir.path(), &b);
    let until = at(30, 0).to_string();
    let (code, doc) = verify(&[&root, "--public-keys", &keys, "--until", &until]);
    assert_eq!(problems(&doc), [("gap".into(), name(&b.digests[23]))]);
    assert_eq!(code, 1);
    let status = |args: &[&str]| trailwatch().arg("verify").args(args).output().unwrap();
    let out = status(&[&root, "--public-keys", &keys, "--since", "nonsense"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Without `--public-keys`, trailwatch asks CloudTrail's ListPublicKeys (here a local server
/// speaking its JSON protocol) in the digests' region, for the period they cover.
#[test]
fn keys_from_list_public_keys() {
    use crate::http::{Reply, Server};
    let b = generate(&Gen {
        hours: 6,
        bucket: "b".into(),
        ..Gen::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let root = write_local(dir.path(), &b);
    let der = key_pair().public_key().as_ref();
    let listed = json!({"PublicKeyList": [{
        "Value": base64::engine::general_purpose::STANDARD.encode(der),
        "ValidityStartTime": 1.7e9,
        "ValidityEndTime": 1.9e9,
        "Fingerprint": FINGERPRINT,
    }]});
    let run = |server: &Server| {
        let out = trailwatch()
            .args(["verify", &root, "--format", "json"])
            .env("AWS_ENDPOINT_URL_CLOUDTRAIL", server.url())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.code(), doc, stderr)
    };
    let server = Server::start(vec![], Reply::Status(200, listed.to_string()));
    let (code, doc, stderr) = run(&server);
    assert_eq!((code, problems(&doc)), (Some(0), vec![]), "{stderr}");
    assert_eq!(doc["trails"][0]["signatures_verified"], 6, "{doc:#}");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "one call for the one region");
    let target = reqs[0].header("x-amz-target").unwrap_or_default();
    assert!(target.ends_with(".ListPublicKeys"), "{target}");
    assert!(
        reqs[0]
            .header("authorization")
            .is_some_and(|a| a.contains(REGION))
    );
    let body = reqs[0].json();
    assert_eq!(body["StartTime"], at(0, 0).as_second(), "{body}");
    assert_eq!(body["EndTime"], at(6, 0).as_second(), "{body}");
    // Keys that cannot be listed: named, the run fails, the digests are unverified.
    let denied = json!({"__type": "AccessDeniedException", "message": "no"}).to_string();
    let server = Server::start(vec![], Reply::Status(400, denied));
    let (code, doc, stderr) = run(&server);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!("ListPublicKeys in {REGION}")),
        "{stderr}"
    );
    assert_eq!(doc["trails"][0]["signatures_verified"], 0, "{doc:#}");
}

#[test]
fn s3_bucket_with_signatures_in_metadata() {
    let Some(moto) = crate::aws::moto() else {
        return;
    };
    let bucket = moto.unique("verify");
    moto.create_bucket(&bucket);
    let b = generate(&Gen {
        hours: 48,
        bucket: bucket.clone(),
        ..Gen::default()
    });
    for (k, v) in &b.objects {
        let mut put = moto
            .s3
            .put_object()
            .bucket(&bucket)
            .key(k)
            .body(v.clone().into());
        if let Some(sig) = b.signatures.get(k) {
            put = put
                .metadata("signature", sig)
                .metadata("signature-algorithm", "SHA256withRSA");
        }
        moto.block_on(put.send()).expect("PutObject");
    }
    let dir = tempfile::tempdir().unwrap();
    let keys = keys_file(dir.path());
    let url = format!("s3://{bucket}");
    let copy = dir.path().join("copy");
    let copy_s = copy.display().to_string();
    let args = |extra: &[&str]| {
        let mut a = vec![
            url.as_str(),
            "--public-keys",
            &keys,
            "--endpoint-url",
            &moto.endpoint,
        ];
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        verify(&a)
    };
    let (code, doc) = run(args(&["--fetch-signatures", "--to", &copy_s]));
    assert_eq!(problems(&doc), [], "{doc:#}");
    assert_eq!(doc["trails"][0]["signatures_verified"], 48);
    assert_eq!(code, 0);
    // The copy verifies offline, the newest digest included.
    let (code, doc) = verify(&[&copy_s, "--public-keys", &keys]);
    assert_eq!((code, problems(&doc)), (0, vec![]));
    assert_eq!(doc["trails"][0]["signatures_verified"], 48);
    // A log deleted from the bucket.
    moto.delete_object(&bucket, &b.logs[3]);
    let (code, doc) = run(args(&[]));
    assert_eq!(problems(&doc), [("log-missing".into(), name(&b.logs[3]))]);
    assert_eq!(code, 1);
}
