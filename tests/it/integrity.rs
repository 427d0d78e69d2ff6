//! `watch` checking the trail itself as it arrives: digests signed with a test RSA key (the real
//! algorithm) dropped into a followed folder, with their signature sidecars. A broken link and
//! an edited digest are named; an intact chain raises nothing; a late digest and a silent
//! account and region are reported once (also across a restart) and their resumption too.

use crate::support::{bin, write};
use crate::verify::{generate, keys_file, week, write_local};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn spawn(dir: &str, state: &Path, out: &Path, args: &[&str]) -> Child {
    Command::new(bin())
        .args(["watch", "--dir", dir, "--packs", "guide"])
        .args(["--state", state.to_str().unwrap()])
        .args(["-o", out.to_str().unwrap()])
        .args(args)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn integrity_findings(out: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|f| f["pack"] == "integrity")
        .map(|f| {
            let loc = f["location"].as_str().unwrap_or("").to_string();
            let loc = loc.rsplit('/').next().unwrap_or(&loc).to_string();
            (f["rule_id"].as_str().unwrap_or("").to_string(), loc)
        })
        .collect()
}

/// Waits (up to 30 s) until the output holds `n` integrity findings.
fn wait_for(out: &Path, n: usize) -> Vec<(String, String)> {
    let start = Instant::now();
    loop {
        let f = integrity_findings(out);
        if f.len() >= n || start.elapsed() > Duration::from_secs(30) {
            return f;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stop(child: Child) -> String {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn name(key: &str) -> String {
    key.rsplit('/').next().unwrap().to_string()
}

#[test]
fn digests_are_checked_as_they_arrive() {
    let mut g = week();
    g.hours = 24;
    g.bad_link = Some(6);
    let mut b = generate(&g);
    // Hour 12's digest is edited after signing (a file it listed dropped).
    let edited = b.digests[12].clone();
    let mut doc: Value = {
        let mut r = flate2::read::GzDecoder::new(&b.objects[&edited][..]);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut r, &mut s).unwrap();
        serde_json::from_str(&s).unwrap()
    };
    doc["logFiles"] = serde_json::json!([]);
    b.objects.insert(
        edited.clone(),
        crate::support::gzip(doc.to_string().as_bytes()),
    );
    let dir = tempfile::tempdir().unwrap();
    let root = write_local(dir.path(), &b);
    let keys = keys_file(dir.path());
    let (state, out) = (dir.path().join("state.db"), dir.path().join("out.jsonl"));
    let child = spawn(
        &root,
        &state,
        &out,
        &["--public-keys", &keys, "--idle-exit", "2s"],
    );
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let mut found = integrity_findings(&out);
    found.sort();
    let mut expected = vec![
        (
            "integrity.digest-chain-broken".to_string(),
            name(&b.digests[6]),
        ),
        (
            "integrity.digest-signature-invalid".to_string(),
            name(&edited),
        ),
        // The next digest names the original hour-12 digest's hash.
        (
            "integrity.digest-chain-broken".to_string(),
            name(&b.digests[13]),
        ),
    ];
    expected.sort();
    assert_eq!(found, expected, "{err}");
    // The other findings of the logs are there too: digests are not scanned as records.
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.lines().count() > found.len());
    assert!(!err.contains("not CloudTrail"), "{err}");
}

#[test]
fn late_digests_and_silence_are_reported_once_then_resumed() {
    let mut g = week();
    g.hours = 6;
    let b = generate(&g);
    let dir = tempfile::tempdir().unwrap();
    let root = write_local(dir.path(), &b);
    let keys = keys_file(dir.path());
    let (state, out) = (dir.path().join("state.db"), dir.path().join("out.jsonl"));
    let timing = ["--digest-late-after", "2s", "--silent-after", "3s"];
    let mut args = vec!["--public-keys", keys.as_str()];
    args.extend(timing);
    let child = spawn(&root, &state, &out, &args);
    // The last digest ended a month ago: late once the watcher has run for the margin; the
    // account and region sent files in four distinct hours: silent after 3 s.
    let found = wait_for(&out, 2);
    let rules: Vec<&str> = found.iter().map(|(r, _)| r.as_str()).collect();
    assert!(rules.contains(&"integrity.digest-late"), "{found:?}");
    assert!(rules.contains(&"integrity.trail-silent"), "{found:?}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(integrity_findings(&out).len(), 2, "each reported once");
    let err = stop(child);
    // A restart remembers what was reported.
    let child = spawn(&root, &state, &out, &args);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        integrity_findings(&out).len(),
        2,
        "not again after a restart"
    );
    // The next hour arrives: a log file and its digest.
    let mut more = week();
    more.hours = 7;
    let next = generate(&more);
    let new_log = next.logs.last().unwrap();
    let new_digest = next.digests.last().unwrap();
    // Same key pair, same chain: hour 6 links to hour 5 as delivered.
    let sidecar = serde_json::json!({
        "signature": next.signatures[new_digest], "signatureAlgorithm": "SHA256withRSA"
    });
    let root = Path::new(&root);
    write(
        root,
        &format!("{new_digest}.sig.json"),
        sidecar.to_string().as_bytes(),
    );
    write(root, new_log, &next.objects[new_log]);
    write(root, new_digest, &next.objects[new_digest]);
    let found = wait_for(&out, 4);
    let rules: Vec<&str> = found.iter().map(|(r, _)| r.as_str()).collect();
    assert!(
        rules.contains(&"integrity.digest-resumed"),
        "{found:?}\n{err}"
    );
    assert!(rules.contains(&"integrity.trail-resumed"), "{found:?}");
    assert!(
        !rules.contains(&"integrity.digest-chain-broken"),
        "{found:?}"
    );
    stop(child);
}

/// `watch --s3` lists digests too: a bucket polled without notifications, signatures in the
/// objects' metadata, one broken link named and nothing else.
#[test]
fn polled_buckets_have_their_digests_checked() {
    let Some(moto) = crate::aws::moto() else {
        return;
    };
    let bucket = moto.unique("polldigests");
    moto.create_bucket(&bucket);
    let mut g = week();
    g.hours = 12;
    g.bad_link = Some(5);
    g.bucket = bucket.clone();
    let b = generate(&g);
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
    let (state, out) = (dir.path().join("state.db"), dir.path().join("out.jsonl"));
    let run = |extra: &[&str]| {
        Command::new(bin())
            .args([
                "watch",
                "--s3",
                &format!("s3://{bucket}/AWSLogs/"),
                "--packs",
                "guide",
            ])
            .args([
                "--state",
                state.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ])
            .args(["--endpoint-url", &moto.endpoint, "--public-keys", &keys])
            .args([
                "--lookback",
                "3650d",
                "--interval",
                "1s",
                "--idle-exit",
                "3s",
            ])
            .args(["--silent-after", "off"])
            .args(extra)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap()
    };
    let output = run(&[]);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let found = integrity_findings(&out);
    assert_eq!(
        found,
        [(
            "integrity.digest-chain-broken".to_string(),
            name(&b.digests[5])
        )],
        "{err}"
    );
    assert!(!err.contains("not CloudTrail"), "{err}");
    // With digests off, polling lists none: no integrity finding, and the logs still read.
    let (state2, out2) = (dir.path().join("s2.db"), dir.path().join("o2.jsonl"));
    let off = Command::new(bin())
        .args([
            "watch",
            "--s3",
            &format!("s3://{bucket}/AWSLogs/"),
            "--packs",
            "guide",
        ])
        .args([
            "--state",
            state2.to_str().unwrap(),
            "-o",
            out2.to_str().unwrap(),
        ])
        .args(["--endpoint-url", &moto.endpoint, "--no-digests"])
        .args([
            "--lookback",
            "3650d",
            "--interval",
            "1s",
            "--idle-exit",
            "3s",
        ])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(
        off.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&off.stderr)
    );
    assert!(integrity_findings(&out2).is_empty());
    let text = std::fs::read_to_string(&out2).unwrap();
    assert!(text.lines().count() > 0, "the logs' findings are there");
}
