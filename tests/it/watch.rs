//! S3 scans and `watch` against a real S3/SQS protocol server (moto), with real files.

use crate::aws::{Moto, moto};
use crate::support::{bin, config_check, create_user, delivery_gz, record, state_info, trailwatch};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn key(account: &str, region: &str, day: u32, n: usize) -> String {
    format!(
        "AWSLogs/o-a1b2c3d4e5/{account}/CloudTrail/{region}/2026/11/{day:02}/{account}_CloudTrail_{region}_202611{day:02}T1200Z_{n:04}.json.gz"
    )
}

/// Starts `watch` with these arguments (output to `out`, state in `dir`).
fn spawn_watch(m: &Moto, dir: &Path, out: &Path, args: &[&str]) -> Child {
    Command::new(bin())
        .arg("watch")
        .args(["--endpoint-url", &m.endpoint])
        .args(["--state", dir.join("state.db").to_str().unwrap()])
        .args(["--output", out.to_str().unwrap()])
        .args(["--packs", "guide", "--log", "warn", "--concurrency", "4"])
        .args(args)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start trailwatch watch")
}

/// Runs `watch` until it has been idle for `idle`, returning its stderr.
fn watch_until_idle(m: &Moto, dir: &Path, out: &Path, args: &[&str], idle: &str) -> String {
    let mut all = args.to_vec();
    all.extend(["--idle-exit", idle]);
    let child = spawn_watch(m, dir, out, &all);
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "watch failed: {err}");
    err
}

/// Event ids in an output file, with how many times each appears.
fn ids_in(out: &Path) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for line in std::fs::read_to_string(out).unwrap_or_default().lines() {
        let f: Value = serde_json::from_str(line).expect("whole JSON lines only");
        *ids.entry(f["event_id"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    ids
}

#[test]
fn s3_scan_prunes_the_org_layout() {
    let Some(m) = moto() else { return };
    let bucket = m.unique("trail");
    m.create_bucket(&bucket);
    let mut n = 0;
    for account in ["111122223333", "444455556666"] {
        for region in ["us-east-1", "eu-west-1"] {
            for day in [1, 3, 5] {
                n += 1;
                let id = format!("{account}-{region}-{day}");
                let mut e = create_user(&id);
                e["eventTime"] = json!(format!("2026-11-{day:02}T12:00:00Z"));
                e["awsRegion"] = json!(region);
                e["recipientAccountId"] = json!(account);
                m.put_object(&bucket, &key(account, region, day, n), &delivery_gz(&[e]));
            }
        }
    }
    // A digest, which is never read.
    m.put_object(
        &bucket,
        "AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail-Digest/eu-west-1/2026/11/03/d.json.gz",
        b"{}",
    );
    let url = format!("s3://{bucket}");
    let out = trailwatch()
        .args(["scan", &url, "--packs", "guide", "--format", "jsonl"])
        .args(["--endpoint-url", &m.endpoint])
        .args(["--account", "111122223333", "--region", "eu-west-1"])
        .args([
            "--since",
            "2026-11-03T00:00:00Z",
            "--until",
            "2026-11-04T00:00:00Z",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let findings: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = findings
        .iter()
        .map(|f| f["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["111122223333-eu-west-1-3"], "{err}");
    // Only the day folders of that account and region were listed (a day either side, since
    // a folder holds deliveries, not events, of its day): two of the twelve objects fetched.
    assert!(err.contains("2 object(s) selected"), "{err}");
    assert!(err.contains("inputs      2 read"), "{err}");

    // Without filters every log object is read, the digest never.
    let all = trailwatch()
        .args(["scan", &url, "--packs", "guide", "--format", "jsonl", "-q"])
        .args(["--endpoint-url", &m.endpoint])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&all.stdout).lines().count(), 12);

    // An unreadable bucket is named, and the exit status says so.
    let missing = format!("s3://{}", m.unique("nosuch"));
    let bad = trailwatch()
        .args(["scan", &missing, "--endpoint-url", &m.endpoint, "-q"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains(&missing));
}

#[test]
fn watch_reads_every_notification_shape_once() {
    let Some(m) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("findings.jsonl");
    let bucket = m.unique("live");
    m.create_bucket(&bucket);
    let queue = m.create_queue(&m.unique("ct"));
    m.notify_bucket_to_queue(&bucket, &m.queue_arn(&queue), "AWSLogs/");

    // 1. S3 → SQS notification (moto sends it on PutObject), with a key that needs decoding.
    let spaced = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/a b+c.json.gz";
    m.put_object(
        &bucket,
        spaced,
        &delivery_gz(&[create_user("s3-direct"), create_user("dup")]),
    );
    // 2. The same record again, in another object: reported once.
    m.put_object(
        &bucket,
        &key("111122223333", "us-east-1", 20, 2),
        &delivery_gz(&[create_user("dup")]),
    );
    // 3. CloudTrail's own SNS notification, inside an SNS envelope.
    let other = m.unique("plain");
    m.create_bucket(&other);
    let k = "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/x.json.gz";
    m.put_object(&other, k, &delivery_gz(&[create_user("ct-sns")]));
    let ct = json!({"s3Bucket": other, "s3ObjectKey": [k]}).to_string();
    m.send_message(
        &queue,
        &json!({"Type": "Notification", "MessageId": "1", "Message": ct}).to_string(),
    );
    // 4. EventBridge: a CloudTrail API call (the record is the detail) ...
    let eb = json!({"version": "0", "id": "e1", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam", "account": "111122223333", "time": "2026-11-20T09:05:12Z",
        "region": "us-east-1", "resources": [], "detail": create_user("eventbridge")});
    m.send_message(&queue, &eb.to_string());
    // ... and an S3 "Object Created" event.
    let k2 = "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/y.json.gz";
    m.put_object(&other, k2, &delivery_gz(&[create_user("eb-s3")]));
    let created = json!({"version": "0", "id": "e2", "detail-type": "Object Created",
        "source": "aws.s3", "account": "111122223333", "time": "2026-11-20T09:05:12Z",
        "region": "us-east-1", "resources": [],
        "detail": {"bucket": {"name": other}, "object": {"key": k2, "size": 10, "etag": "x"}}});
    m.send_message(&queue, &created.to_string());
    // 5. A redelivered message (sent twice): its findings once.
    m.send_message(&queue, &eb.to_string());
    // 6. A poison message: logged, left for the redrive policy, not blocking the others.
    m.send_message(&queue, "this is not a notification");

    let err = watch_until_idle(&m, dir.path(), &out, &["--sqs", &queue], "4s");
    let ids = ids_in(&out);
    let want: BTreeSet<&str> = ["s3-direct", "dup", "ct-sns", "eventbridge", "eb-s3"].into();
    assert_eq!(
        ids.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        want,
        "{err}"
    );
    assert!(ids.values().all(|n| *n == 1), "{ids:?}");
    assert!(err.contains("left for the queue's redrive policy"), "{err}");
    // Everything but the poison message was deleted; the poison one is hidden, not gone.
    assert_eq!(m.queue_counts(&queue), (0, 1), "{err}");

    // A second run finds nothing new and reports nothing again.
    m.put_object(
        &bucket,
        &key("111122223333", "us-east-1", 20, 3),
        &delivery_gz(&[create_user("dup")]),
    );
    watch_until_idle(&m, dir.path(), &out, &["--sqs", &queue], "3s");
    assert_eq!(ids_in(&out).values().sum::<usize>(), 5);
}

#[test]
fn a_deleted_object_is_reported_and_acknowledged() {
    let Some(m) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("findings.jsonl");
    let bucket = m.unique("gone");
    m.create_bucket(&bucket);
    let queue = m.create_queue(&m.unique("gone"));
    m.notify_bucket_to_queue(&bucket, &m.queue_arn(&queue), "AWSLogs/");
    let k = key("111122223333", "us-east-1", 20, 1);
    m.put_object(&bucket, &k, &delivery_gz(&[create_user("never-read")]));
    m.delete_object(&bucket, &k);
    m.put_object(
        &bucket,
        &key("111122223333", "us-east-1", 20, 2),
        &delivery_gz(&[create_user("read")]),
    );
    let err = watch_until_idle(&m, dir.path(), &out, &["--sqs", &queue], "3s");
    assert!(err.contains(&format!("s3://{bucket}/{k}")), "{err}");
    assert!(err.contains("no such object"), "{err}");
    assert_eq!(ids_in(&out).keys().collect::<Vec<_>>(), ["read"]);
    assert_eq!(m.queue_counts(&queue), (0, 0));
}

#[test]
fn a_50_mb_object_is_read() {
    let Some(m) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("findings.jsonl");
    let bucket = m.unique("big");
    m.create_bucket(&bucket);
    let queue = m.create_queue(&m.unique("big"));
    m.notify_bucket_to_queue(&bucket, &m.queue_arn(&queue), "AWSLogs/");
    // ~50 MB of JSON: many ordinary records and one guide event at the end.
    let mut filler = record("s3.amazonaws.com", "GetObject");
    filler["requestParameters"] = json!({"bucketName": "b", "key": "x".repeat(1000)});
    let mut records = vec![filler; 40_000];
    records.push(create_user("needle"));
    let text = json!({ "Records": records }).to_string();
    assert!(text.len() > 50_000_000, "{}", text.len());
    m.put_object(
        &bucket,
        &key("111122223333", "us-east-1", 20, 1),
        text.as_bytes(),
    );
    let err = watch_until_idle(&m, dir.path(), &out, &["--sqs", &queue], "3s");
    assert_eq!(ids_in(&out).keys().collect::<Vec<_>>(), ["needle"], "{err}");
    assert_eq!(m.queue_counts(&queue), (0, 0));
}

#[test]
fn kill_9_at_random_points_loses_and_doubles_nothing() {
    let Some(m) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("findings.jsonl");
    let bucket = m.unique("crash");
    m.create_bucket(&bucket);
    let queue = m.create_queue(&m.unique("crash"));
    m.notify_bucket_to_queue(&bucket, &m.queue_arn(&queue), "AWSLogs/");
    let objects = 120;
    let mut want = BTreeSet::new();
    for i in 0..objects {
        // Each object has its own event, and shares one with the next object.
        let mine = format!("own-{i}");
        let shared = format!("shared-{}", i / 2);
        want.insert(mine.clone());
        want.insert(shared.clone());
        m.put_object(
            &bucket,
            &key("111122223333", "us-east-1", 20, i),
            &delivery_gz(&[create_user(&mine), create_user(&shared)]),
        );
    }
    // A pseudo-random but reproducible set of kill times.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..4 {
        // A short visibility, so the killed watcher's messages come back quickly.
        let child = spawn_watch(
            &m,
            dir.path(),
            &out,
            &["--sqs", &queue, "--visibility", "2s"],
        );
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait = Duration::from_millis(300 + seed % 1500);
        let started = Instant::now();
        let mut child = child;
        while started.elapsed() < wait {
            std::thread::sleep(Duration::from_millis(20));
        }
        // SIGKILL: no chance to clean up.
        child.kill().unwrap();
        child.wait().unwrap();
        let _ = round;
    }
    // Messages the killed watchers held come back after their 2 s visibility.
    watch_until_idle(
        &m,
        dir.path(),
        &out,
        &["--sqs", &queue, "--visibility", "2s"],
        "6s",
    );
    let ids = ids_in(&out);
    let got: BTreeSet<String> = ids.keys().cloned().collect();
    assert_eq!(got, want.iter().cloned().collect::<BTreeSet<_>>());
    let doubled: Vec<_> = ids.iter().filter(|(_, n)| **n != 1).collect();
    assert!(doubled.is_empty(), "reported more than once: {doubled:?}");
    assert_eq!(m.queue_counts(&queue), (0, 0));
}

#[test]
fn watch_follows_a_folder_and_config_check_resolves_settings() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = dir.path().join("incoming");
    std::fs::create_dir(&incoming).unwrap();
    let out = dir.path().join("findings.jsonl");
    std::fs::write(
        incoming.join("a.json.gz"),
        delivery_gz(&[create_user("from-dir")]),
    )
    .unwrap();
    let config = dir.path().join("trailwatch.toml");
    std::fs::write(
        &config,
        "[sources]\ndirs = [\"incoming\"]\n[state]\npath = \"state.db\"\n[watch]\noutput = \"findings.jsonl\"\n[rules]\npacks = [\"guide\"]\nsuppressions = [{ reason = \"test\", where = { field = \"eventID\", equals = \"suppressed\" } }]\n",
    )
    .unwrap();
    std::fs::write(
        incoming.join("b.json"),
        json!({"Records": [create_user("suppressed")]}).to_string(),
    )
    .unwrap();
    let run = trailwatch()
        .args([
            "watch",
            "--config",
            config.to_str().unwrap(),
            "--idle-exit",
            "2s",
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(ids_in(&out).keys().collect::<Vec<_>>(), ["from-dir"]);

    let text = config_check(
        &config,
        &[(
            "TRAILWATCH_ENDPOINT_URL",
            "https://user:secret@example.invalid",
        )],
    );
    let resolved: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(resolved["rules"]["packs"], json!(["guide"]));
    assert_eq!(
        resolved["aws"]["endpoint_url"],
        "https://***@example.invalid"
    );
    assert!(!text.contains("secret"));
    // A flag beats the file.
    let flag = trailwatch()
        .args([
            "config",
            "check",
            config.to_str().unwrap(),
            "--packs",
            "cis",
        ])
        .output()
        .unwrap();
    let resolved: Value = serde_json::from_slice(&flag.stdout).unwrap();
    assert_eq!(resolved["rules"]["packs"], json!(["cis"]));
    // A typo in the file is a configuration error.
    std::fs::write(&config, "[sources]\ndir = [\"x\"]\n").unwrap();
    let bad = trailwatch()
        .args(["config", "check", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    // state info reads what the watcher left.
    let info = state_info(&dir.path().join("state.db"));
    assert_eq!(info["findings"], 1);
    assert_eq!(info["inputs"], 2);
}

/// A delivery-file key in today's folder (UTC), so that S3 polling's look-back covers it.
fn today_key(name: &str) -> String {
    let d = jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date();
    format!(
        "AWSLogs/111122223333/CloudTrail/us-east-1/{:04}/{:02}/{:02}/{name}.json.gz",
        d.year(),
        d.month(),
        d.day()
    )
}

#[test]
fn s3_polling_reads_late_and_out_of_order_objects_once() {
    let Some(m) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("findings.jsonl");
    let bucket = m.unique("poll");
    m.create_bucket(&bucket);
    for (name, id) in [("b-1200", "p1"), ("c-1300", "p2"), ("d-1400", "p3")] {
        m.put_object(&bucket, &today_key(name), &delivery_gz(&[create_user(id)]));
    }
    let url = format!("s3://{bucket}");
    let args = ["--s3", url.as_str(), "--interval", "1s"];
    watch_until_idle(&m, dir.path(), &out, &args, "3s");
    assert_eq!(ids_in(&out).len(), 3);
    // An object that sorts before everything already read (a late delivery): a "last key"
    // marker would skip it; the set of processed keys does not.
    m.put_object(
        &bucket,
        &today_key("a-1100"),
        &delivery_gz(&[create_user("late")]),
    );
    let err = watch_until_idle(&m, dir.path(), &out, &args, "3s");
    let ids = ids_in(&out);
    assert_eq!(
        ids.keys().map(String::as_str).collect::<Vec<_>>(),
        ["late", "p1", "p2", "p3"],
        "{err}"
    );
    assert!(ids.values().all(|n| *n == 1));
}

#[test]
fn sigterm_stops_cleanly_after_the_work_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = dir.path().join("in");
    std::fs::create_dir(&incoming).unwrap();
    let out = dir.path().join("findings.jsonl");
    let child = Command::new(bin())
        .args([
            "watch",
            "--dir",
            incoming.to_str().unwrap(),
            "--packs",
            "guide",
        ])
        .args(["--state", dir.path().join("state.db").to_str().unwrap()])
        .args(["--output", out.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::fs::write(
        incoming.join("a.json.gz"),
        delivery_gz(&[create_user("before-term")]),
    )
    .unwrap();
    let started = Instant::now();
    while ids_in(&out).is_empty() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{err}");
    assert!(err.contains("stopping"), "{err}");
    assert_eq!(ids_in(&out).keys().collect::<Vec<_>>(), ["before-term"]);
}
