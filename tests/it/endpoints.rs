//! `watch --listen`: `/metrics` read by Prometheus' own text-format parser, `/healthz` and
//! `/readyz` flipping when the state store, a folder or a queue becomes unreachable and back,
//! and the folder source finding new files through file notifications.

use crate::aws::moto;
use crate::support::services::{TEST_PYTHON, gate};
use crate::support::{bin, create_user, delivery_json, write};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A watcher started with `--listen 127.0.0.1:0`, its endpoint address read from its log.
struct Watcher {
    child: Child,
    addr: String,
    log: mpsc::Receiver<String>,
}

impl Watcher {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Watcher {
        let mut child = Command::new(bin())
            .arg("watch")
            .args(["--packs", "guide", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start trailwatch watch");
        let (tx, log) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = String::new();
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = log
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no endpoint address logged:\n{seen}"));
            if let Some((_, a)) = line.split_once("/readyz on http://") {
                break a.trim().to_string();
            }
            seen.push_str(&line);
            seen.push('\n');
        };
        Watcher { child, addr, log }
    }

    /// `GET path`: (status, body).
    fn get(&self, path: &str) -> (u16, String) {
        let mut conn = std::net::TcpStream::connect(&self.addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            conn,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut raw = String::new();
        conn.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
        (status, body.to_string())
    }

    /// Polls `path` until it answers `status` (within 30 s); returns the body.
    fn until(&self, path: &str, status: u16) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (s, body) = self.get(path);
            if s == status {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{path} still answers {s}, not {status}: {body}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the watcher logged so far.
    fn logged(&self) -> String {
        self.log.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `/metrics` parsed by `prometheus_client.parser.text_string_to_metric_families`: family name →
/// `{"type", "samples": [[name, labels, value]]}`.
fn parse_metrics(python: &str, text: &str) -> serde_json::Map<String, Value> {
    const SCRIPT: &str = "import sys, json\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        out = {}\n\
        for f in text_string_to_metric_families(sys.stdin.read()):\n\
        \x20   out[f.name] = {'type': f.type, 'samples': [[s.name, s.labels, s.value] for s in f.samples]}\n\
        print(json.dumps(out))\n";
    let mut child = Command::new(python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "Prometheus' parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The sum of a family's samples named `sample` whose labels include `labels`.
fn total(
    families: &serde_json::Map<String, Value>,
    family: &str,
    sample: &str,
    labels: &[(&str, &str)],
) -> f64 {
    let Some(f) = families.get(family) else {
        panic!(
            "no family {family} in {:?}",
            families.keys().collect::<Vec<_>>()
        );
    };
    f["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s[0] == sample && labels.iter().all(|(k, v)| s[1][*k] == *v))
        .map(|s| s[2].as_f64().unwrap())
        .sum()
}

#[test]
fn metrics_are_read_by_prometheus_own_parser() {
    let Some(python) = gate(&TEST_PYTHON) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let incoming = dir.path().join("in");
    for i in 0..3 {
        let records = [
            create_user(&format!("m-{i}-a")),
            create_user(&format!("m-{i}-b")),
        ];
        write(&incoming, &format!("f{i}.json"), &delivery_json(&records));
    }
    // The same record again (a repeat), and an input that is not CloudTrail at all.
    write(
        &incoming,
        "again.json",
        &delivery_json(&[create_user("m-0-a")]),
    );
    write(&incoming, "broken.json", b"{\"Records\": [ not json");
    let config = dir.path().join("trailwatch.toml");
    std::fs::write(
        &config,
        "[sinks.archive]\ntype = \"file\"\npath = \"alerts.jsonl\"\n[alerts]\ndefault = [\"archive\"]\n",
    )
    .unwrap();
    let w = Watcher::start(
        &[
            "--dir",
            incoming.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--state",
            dir.path().join("state.db").to_str().unwrap(),
            "--output",
            dir.path().join("out.jsonl").to_str().unwrap(),
        ],
        &[],
    );
    // Every input recorded and every alert delivered.
    let deadline = Instant::now() + Duration::from_secs(30);
    let families = loop {
        let (status, text) = w.get("/metrics");
        assert_eq!(status, 200, "{text}");
        let families = parse_metrics(&python, &text);
        let recorded = total(
            &families,
            "trailwatch_inputs",
            "trailwatch_inputs_total",
            &[("outcome", "recorded")],
        );
        let waiting = total(
            &families,
            "trailwatch_outbox_pending",
            "trailwatch_outbox_pending",
            &[],
        );
        if recorded == 5.0 && waiting == 0.0 {
            break families;
        }
        assert!(
            Instant::now() < deadline,
            "not all recorded: {text}\n{}",
            w.logged()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let findings: Vec<Value> = std::fs::read_to_string(dir.path().join("out.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Six events in three files: one finding each, counted once for each of its rules.
    assert_eq!(findings.len(), 6, "{findings:?}");
    let n = findings.len() as f64;
    assert_eq!(families["trailwatch_findings"]["type"], "counter");
    let hits: Vec<(String, String)> = findings
        .iter()
        .flat_map(|f| f["rules"].as_array().unwrap().clone())
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(hits.len() >= 6, "{findings:?}");
    assert_eq!(
        total(
            &families,
            "trailwatch_findings",
            "trailwatch_findings_total",
            &[]
        ),
        hits.len() as f64
    );
    for (rule, severity) in &hits {
        let want = hits
            .iter()
            .filter(|h| h == &&(rule.clone(), severity.clone()))
            .count() as f64;
        let labels = [("rule", rule.as_str()), ("severity", severity.as_str())];
        assert_eq!(
            total(
                &families,
                "trailwatch_findings",
                "trailwatch_findings_total",
                &labels
            ),
            want
        );
    }
    assert_eq!(
        total(
            &families,
            "trailwatch_records",
            "trailwatch_records_total",
            &[]
        ),
        7.0
    );
    assert_eq!(
        total(
            &families,
            "trailwatch_repeated_findings",
            "trailwatch_repeated_findings_total",
            &[]
        ),
        1.0
    );
    assert_eq!(
        total(
            &families,
            "trailwatch_parse_errors",
            "trailwatch_parse_errors_total",
            &[]
        ),
        1.0
    );
    assert_eq!(
        total(
            &families,
            "trailwatch_sink_sends",
            "trailwatch_sink_sends_total",
            &[("sink", "archive"), ("outcome", "delivered")]
        ),
        6.0
    );
    assert_eq!(
        families["trailwatch_sink_send_duration_seconds"]["type"],
        "histogram"
    );
    assert_eq!(
        total(
            &families,
            "trailwatch_sink_send_duration_seconds",
            "trailwatch_sink_send_duration_seconds_count",
            &[("sink", "archive")]
        ),
        n
    );
    // The outbox is empty once delivered; dead letters none; the store was timed.
    assert_eq!(
        total(
            &families,
            "trailwatch_outbox_pending",
            "trailwatch_outbox_pending",
            &[("sink", "archive")]
        ),
        0.0
    );
    assert_eq!(
        total(
            &families,
            "trailwatch_dead_letters",
            "trailwatch_dead_letters",
            &[]
        ),
        0.0
    );
    assert!(families.contains_key("trailwatch_outbox_oldest_age_seconds"));
    assert!(
        total(
            &families,
            "trailwatch_state_operation_duration_seconds",
            "trailwatch_state_operation_duration_seconds_count",
            &[("operation", "commit")]
        ) >= 5.0
    );
    assert_eq!(
        total(
            &families,
            "trailwatch_source_up",
            "trailwatch_source_up",
            &[("source", incoming.to_str().unwrap())]
        ),
        1.0
    );
    assert!(families.contains_key("trailwatch_event_lag_seconds"));
}

#[test]
fn readyz_flips_when_the_state_database_or_the_folder_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = dir.path().join("in");
    std::fs::create_dir(&incoming).unwrap();
    let state_dir = dir.path().join("state");
    let w = Watcher::start(
        &[
            "--dir",
            incoming.to_str().unwrap(),
            "--state",
            state_dir.join("state.db").to_str().unwrap(),
        ],
        &[],
    );
    w.until("/readyz", 200);
    assert_eq!(w.get("/healthz").0, 200);
    // The state database moved away under the watcher.
    let moved = dir.path().join("moved");
    std::fs::rename(&state_dir, &moved).unwrap();
    let body = w.until("/readyz", 503);
    assert!(
        body.contains("state: ") && body.contains("no longer at its path"),
        "{body}"
    );
    assert_eq!(w.get("/healthz").0, 200, "alive, only not ready");
    std::fs::rename(&moved, &state_dir).unwrap();
    w.until("/readyz", 200);
    // The folder deleted, then back.
    std::fs::remove_dir(&incoming).unwrap();
    let body = w.until("/readyz", 503);
    assert!(
        body.contains(&format!("source {}", incoming.display())),
        "{body}"
    );
    std::fs::create_dir(&incoming).unwrap();
    w.until("/readyz", 200);
    // Unknown paths and methods.
    assert_eq!(w.get("/nope").0, 404);
}

#[test]
fn readyz_flips_when_the_queue_becomes_unreachable() {
    let Some(m) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let name = m.unique("ready");
    let url = m.create_queue(&name);
    let w = Watcher::start(
        &[
            "--sqs",
            &url,
            "--endpoint-url",
            &m.endpoint,
            "--state",
            dir.path().join("state.db").to_str().unwrap(),
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    w.until("/readyz", 200);
    m.delete_queue(&url);
    let body = w.until("/readyz", 503);
    assert!(body.contains(&format!("source {url}")), "{body}");
    assert_eq!(w.get("/healthz").0, 200);
    assert_eq!(m.create_queue(&name), url);
    w.until("/readyz", 200);
}

#[test]
fn a_new_file_is_read_at_once_through_file_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = dir.path().join("in");
    std::fs::create_dir(&incoming).unwrap();
    let out = dir.path().join("out.jsonl");
    // No full walk for an hour: only a notification can make the file show up.
    let w = Watcher::start(
        &[
            "--dir",
            incoming.to_str().unwrap(),
            "--dir-rescan",
            "1h",
            "--state",
            dir.path().join("state.db").to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ],
        &[],
    );
    w.until("/readyz", 200);
    let started = Instant::now();
    write(
        &incoming.join("2026/11/20"),
        "new.json",
        &delivery_json(&[create_user("n-1")]),
    );
    while std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .count()
        < 1
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a new file was not read within 10 s: {}",
            w.logged()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A file that changes again is read again, its findings not repeated.
    std::fs::write(
        incoming.join("2026/11/20/new.json"),
        delivery_json(&[create_user("n-1"), create_user("n-2")]),
    )
    .unwrap();
    while std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .count()
        < 2
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            w.logged()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2);
}

/// `/metrics` works without any source having answered yet (sources start after the server).
#[test]
fn the_endpoints_answer_at_once_and_a_taken_port_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let w = Watcher::start(
        &[
            "--dir",
            dir.path().to_str().unwrap(),
            "--state",
            dir.path().join("s.db").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(w.get("/healthz"), (200, "ok\n".to_string()));
    let out = Command::new(bin())
        .args(["watch", "--packs", "guide", "--listen", &w.addr])
        .args(["--dir", dir.path().to_str().unwrap()])
        .args(["--state", dir.path().join("other.db").to_str().unwrap()])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("--listen {}", w.addr)), "{err}");
}
