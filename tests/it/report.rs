//! The HTML report in a real headless Chromium: Debian's `chromium` and `chromium-driver`
//! (installed, pinned, by `scripts/test.sh`), driven over WebDriver on loopback. The page must
//! load with no console error and no network request, show the counts of `scan`'s JSON output
//! on the same input, narrow its rows by severity, rule and search, page through them, show each
//! finding's raw event, and keep hostile record text as text. Without Chromium the tests print
//! a skip message; in CI (`CI=true`) they fail instead.

use crate::support::{self, trailwatch};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session behind its own chromedriver, with a fresh profile.
pub(crate) struct Browser {
    driver: Child,
    base: String,
    session: String,
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    _profile: tempfile::TempDir,
}

/// A browser, or `None` (with a message) when Chromium is not installed; in CI its absence
/// fails the test.
pub(crate) fn browser() -> Option<Browser> {
    static SKIPPED: Once = Once::new();
    if !(Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()) {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "{CHROMIUM} or {CHROMEDRIVER} is missing, and CI requires them (scripts/test.sh installs them)"
            );
        }
        support::services::skip_once(
            &SKIPPED,
            &format!(
                "HTML report browser tests: {CHROMIUM} or {CHROMEDRIVER} is absent (scripts/test.sh installs them)"
            ),
        );
        return None;
    }
    Some(Browser::start())
}

impl Browser {
    fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            rt,
            client,
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while browser.try_call("GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = browser._profile.path().display().to_string();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={profile}"),
            ]},
            "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
        }}});
        let session = browser.call("POST", "/session", Some(caps));
        browser.session = session["sessionId"].as_str().unwrap().to_string();
        browser
    }

    fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        self.rt.block_on(async {
            let req = match method {
                "GET" => self.client.get(&url),
                "DELETE" => self.client.delete(&url),
                _ => self.client.post(&url).json(&body.unwrap_or(json!({}))),
            };
            let resp = req.send().await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let v: Value = resp.json().await.map_err(|e| e.to_string())?;
            if status.is_success() {
                Ok(v["value"].clone())
            } else {
                Err(format!("{method} {path}: {status}: {}", v["value"]))
            }
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body).unwrap()
    }

    pub(crate) fn session(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    pub(crate) fn js(&self, script: &str, args: Value) -> Value {
        self.session(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    fn logs(&self, kind: &str) -> Vec<Value> {
        let v = self.session("POST", "/se/log", Some(json!({ "type": kind })));
        v.as_array().cloned().unwrap_or_default()
    }

    /// Opens `page` and waits for its ready marker; returns the URLs of every request the page
    /// made (the page itself included).
    fn open(&self, page: &Path) -> Vec<String> {
        self.session("POST", "/url", Some(json!({"url": "about:blank"})));
        self.logs("performance");
        self.logs("browser");
        let url = format!("file://{}", page.display());
        self.session("POST", "/url", Some(json!({ "url": url })));
        self.wait_ready();
        self.logs("performance")
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e["message"].as_str()?).ok())
            .filter(|m| m["message"]["method"] == "Network.requestWillBeSent")
            .map(|m| {
                m["message"]["params"]["request"]["url"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self.js("return document.body.dataset.ready", json!([]));
            if ready == "true" {
                break;
            }
            assert_ne!(ready, "error", "{:?}", self.console_errors());
            assert!(Instant::now() < deadline, "the page never became ready");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Console messages at error level (script errors, CSP violations, failed loads).
    fn console_errors(&self) -> Vec<Value> {
        self.logs("browser")
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .collect()
    }

    fn element(&self, css: &str) -> String {
        let e = self.session(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        e[ELEMENT].as_str().unwrap().to_string()
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.session("POST", &format!("/element/{id}/click"), None);
        self.wait_ready();
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.session("POST", &format!("/element/{id}/clear"), None);
        self.session(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
        self.wait_ready();
    }

    /// The "N of M findings shown" line, as (N, M).
    fn shown(&self) -> (usize, usize) {
        let t = self.js(
            "return document.getElementById('shown').textContent",
            json!([]),
        );
        let words: Vec<usize> = t
            .as_str()
            .unwrap()
            .split(' ')
            .filter_map(|w| w.parse().ok())
            .collect();
        (words[0], words[1])
    }

    fn rows(&self) -> usize {
        self.js(
            "return document.querySelectorAll('#findings tbody tr.row').length",
            json!([]),
        )
        .as_u64()
        .unwrap() as usize
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.try_call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `trailwatch scan ARGS --format json -q --report PAGE`: the JSON findings of the same run
/// that wrote the page.
fn scan_and_report(args: &[&str], page: &Path) -> Vec<Value> {
    let out = trailwatch()
        .arg("scan")
        .args(args)
        .args(["--format", "json", "-q", "--report", page.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The page's rows of a count table (`#by-account`...), as (key, count).
fn table(b: &Browser, id: &str) -> Vec<(String, u64)> {
    let rows = b.js(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tr'))\
         .map(function (tr) { return [tr.cells[0].textContent, Number(tr.cells[1].textContent)]; })",
        json!([id]),
    );
    serde_json::from_value(rows).unwrap()
}

/// The counts of `key` over `findings`, as the page orders them (most first, then by key),
/// the first `limit`.
fn counts(findings: &[Value], key: &str, limit: usize) -> Vec<(String, u64)> {
    let mut m: BTreeMap<String, u64> = BTreeMap::new();
    for f in findings {
        let k = f[key]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("(none)");
        *m.entry(k.to_string()).or_default() += 1;
    }
    let mut v: Vec<(String, u64)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(limit);
    v
}

/// Everything the page shows as counts agrees with `findings` (scan's JSON output).
fn assert_counts(b: &Browser, findings: &[Value]) {
    assert_eq!(b.shown(), (findings.len(), findings.len()));
    for sev in ["critical", "high", "medium", "low", "info"] {
        let shown = b.js(
            "return Number(document.querySelector('#totals [data-severity=' + arguments[0] + '] b').textContent)",
            json!([sev]),
        );
        let want = findings.iter().filter(|f| f["severity"] == sev).count();
        assert_eq!(shown, want, "{sev}");
    }
    assert_eq!(table(b, "by-account"), counts(findings, "account_id", 20));
    assert_eq!(table(b, "by-region"), counts(findings, "region", 20));
    assert_eq!(table(b, "by-service"), counts(findings, "service", 20));
    assert_eq!(table(b, "by-actor"), counts(findings, "actor", 10));
    // The chart: one bar segment per (day, severity), of that many findings.
    let bars = b.js(
        "return Array.from(document.querySelectorAll('#chart rect'))\
         .map(function (r) { return [r.dataset.day + ' ' + r.dataset.severity, Number(r.dataset.count)]; })",
        json!([]),
    );
    let bars: BTreeMap<String, u64> = serde_json::from_value::<Vec<(String, u64)>>(bars)
        .unwrap()
        .into_iter()
        .collect();
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for f in findings {
        let day = f["event_time"].as_str().map_or("unknown", |t| &t[..10]);
        *want
            .entry(format!("{day} {}", f["severity"].as_str().unwrap()))
            .or_default() += 1;
    }
    assert_eq!(bars, want);
}

/// No console error, and no request but the page itself.
fn assert_quiet(b: &Browser, requests: &[String], page: &Path) {
    assert_eq!(b.console_errors(), Vec::<Value>::new());
    assert_eq!(requests, [format!("file://{}", page.display())]);
    let resources = b.js(
        "return performance.getEntriesByType('resource').length",
        json!([]),
    );
    assert_eq!(resources, 0);
}

#[test]
fn the_report_of_the_examples_shows_scans_counts_and_filters() {
    let Some(b) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let findings = scan_and_report(&["examples/logs"], &page);
    assert!(findings.len() > 50, "{} findings", findings.len());
    let requests = b.open(&page);
    assert_quiet(&b, &requests, &page);
    assert_counts(&b, &findings);
    assert_eq!(b.rows(), 50, "one page of 50 rows");

    // Severity narrows to that severity's findings.
    b.click("#f-severity option[value=high]");
    let high = findings.iter().filter(|f| f["severity"] == "high").count();
    assert_eq!(b.shown().0, high);
    assert_eq!(b.rows(), high.min(50));

    // Search: a source IP, which no other field of these findings holds.
    let ip = findings
        .iter()
        .filter_map(|f| f["source_ip"].as_str())
        .find(|ip| ip.starts_with("203.0.113."))
        .or_else(|| findings[0]["source_ip"].as_str())
        .unwrap()
        .to_string();
    let with_ip = |f: &&Value| f["source_ip"] == ip.as_str();
    let anywhere = findings
        .iter()
        .filter(|f| f.to_string().contains(&ip))
        .count();
    assert_eq!(anywhere, findings.iter().filter(with_ip).count(), "{ip}");
    b.click("#f-clear");
    b.type_into("#f-search", &ip);
    assert_eq!(b.shown().0, anywhere, "search {ip}");
    // With a severity too: both apply.
    let sev = findings.iter().find(with_ip).unwrap()["severity"]
        .as_str()
        .unwrap()
        .to_string();
    b.click(&format!("#f-severity option[value={sev}]"));
    let both = findings
        .iter()
        .filter(with_ip)
        .filter(|f| f["severity"] == sev.as_str())
        .count();
    assert_eq!(b.shown().0, both);

    // A rule: every finding that rule is among the rules of.
    b.click("#f-clear");
    let rule = "baseline.access-denied";
    b.click(&format!("#f-rule option[value='{rule}']"));
    let of_rule = findings
        .iter()
        .filter(|f| {
            f["rules"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == rule)
        })
        .count();
    assert!(of_rule > 0);
    assert_eq!(b.shown().0, of_rule);

    // The detail view: explanation, what to check, and the raw event of the first row.
    b.click("#f-clear");
    b.click("#findings tbody tr.row");
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.js(
        "return document.querySelector('tr.detail pre.raw').dataset.loaded",
        json!([]),
    ) != "true"
    {
        assert!(Instant::now() < deadline, "the raw event never loaded");
        std::thread::sleep(Duration::from_millis(20));
    }
    let detail = b.js(
        "return document.querySelector('tr.detail').innerText",
        json!([]),
    );
    let detail = detail.as_str().unwrap();
    assert!(detail.contains("What happened") && detail.contains("What to check"));
    let raw = b.js(
        "return JSON.parse(document.querySelector('tr.detail pre.raw').textContent)",
        json!([]),
    );
    let index = b.js(
        "return Number(document.querySelector('#findings tbody tr.row').dataset.index)",
        json!([]),
    );
    // Rows are in time order; the data block keeps scan's order, so the index names the finding.
    let first = &findings[index.as_u64().unwrap() as usize];
    assert_eq!(raw["eventID"], first["event_id"], "{raw}");
    assert_eq!(raw["eventName"], first["event_name"]);
    assert_eq!(b.console_errors(), Vec::<Value>::new());
}

/// 130 findings over three days, two accounts, several severities; one record's fields are
/// hostile markup, one holds a value found only in its raw event.
fn fixture(dir: &Path) -> PathBuf {
    let hostile_agent = "\"><img src=x onerror=\"window.__pwned=1\">";
    let hostile_user = "</script><script>window.__pwned=2</script><!--\u{2028}";
    let mut records = Vec::new();
    for i in 0..130 {
        let (source, name) = match i % 5 {
            0 => ("iam.amazonaws.com", "CreateUser"),
            1 => ("cloudtrail.amazonaws.com", "StopLogging"),
            2 => ("iam.amazonaws.com", "CreateAccessKey"),
            3 => ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"),
            _ => ("s3.amazonaws.com", "PutBucketPolicy"),
        };
        let mut r = support::event(source, name, &format!("fixture-{i}"));
        r["eventTime"] = json!(format!("2026-11-{:02}T{:02}:00:00Z", 20 + i % 3, i % 24));
        if i % 2 == 1 {
            r["recipientAccountId"] = json!("444455556666");
            r["userIdentity"]["accountId"] = json!("444455556666");
            r["userIdentity"]["arn"] = json!("arn:aws:iam::444455556666:user/bob");
        }
        r["requestParameters"] = json!({"bucketName": format!("bucket-{i}")});
        if i == 7 {
            r["userAgent"] = json!(hostile_agent);
            r["userIdentity"]["userName"] = json!(hostile_user);
            r["userIdentity"]["arn"] =
                json!(format!("arn:aws:iam::444455556666:user/{hostile_user}"));
            r["requestParameters"] = json!({"bucketName": "only-in-the-raw-event-7"});
        }
        records.push(r);
    }
    support::write(
        dir,
        "AWSLogs/fixture.json.gz",
        &support::delivery_gz(&records),
    )
}

#[test]
fn a_generated_report_pages_searches_raw_events_and_keeps_hostile_text_inert() {
    let Some(b) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = fixture(dir.path());
    let page = dir.path().join("fixture.html");
    let findings = scan_and_report(&[input.to_str().unwrap(), "--packs", "guide"], &page);
    assert_eq!(findings.len(), 130);
    let requests = b.open(&page);
    assert_quiet(&b, &requests, &page);
    assert_counts(&b, &findings);

    // 50-row pages.
    assert_eq!(b.rows(), 50);
    b.click("#next");
    assert_eq!(b.rows(), 50);
    b.click("#next");
    assert_eq!(b.rows(), 30);
    let next_disabled = b.js("return document.getElementById('next').disabled", json!([]));
    assert_eq!(next_disabled, true);

    // A value only the raw event holds: not found in the fields, found in raw events.
    b.type_into("#f-search", "only-in-the-raw-event-7");
    assert_eq!(b.shown().0, 0);
    b.click("#f-raw");
    assert_eq!(b.shown().0, 1);

    // The hostile record: shown as text, in the row and in its raw event; nothing ran.
    b.click("#findings tbody tr.row");
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.js(
        "return document.querySelector('tr.detail pre.raw').dataset.loaded",
        json!([]),
    ) != "true"
    {
        assert!(Instant::now() < deadline, "the raw event never loaded");
        std::thread::sleep(Duration::from_millis(20));
    }
    let raw = b.js(
        "return JSON.parse(document.querySelector('tr.detail pre.raw').textContent)",
        json!([]),
    );
    assert_eq!(raw["eventID"], "fixture-7");
    assert_eq!(
        raw["userAgent"], "\"><img src=x onerror=\"window.__pwned=1\">",
        "{raw}"
    );
    let detail = b.js(
        "return document.querySelector('tr.detail').textContent",
        json!([]),
    );
    assert!(
        detail
            .as_str()
            .unwrap()
            .contains("onerror=\"window.__pwned=1\""),
        "{detail}"
    );
    let state = b.js(
        "return [typeof window.__pwned, document.images.length, document.scripts.length]",
        json!([]),
    );
    assert_eq!(state, json!(["undefined", 0, 3]));
    assert_eq!(b.console_errors(), Vec::<Value>::new());
}

#[test]
fn report_needs_one_html_file_and_writes_the_findings_of_a_dedup_scan() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("r.html");
    let page = page.to_str().unwrap();
    for args in [
        vec!["report", "examples/logs"],
        vec!["report", "examples/logs", "-o", page, "--format", "json"],
        vec!["report", "examples/logs", "-o", page, "--report", page],
        vec!["scan", "examples/logs", "-o", page, "--report", page],
    ] {
        let out = trailwatch().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!Path::new(page).exists(), "{args:?}");
    }
    // With --dedup the page holds the findings scan prints after folding (held to the end).
    let findings = scan_and_report(&["examples/logs", "--dedup"], Path::new(page));
    let html = std::fs::read_to_string(page).unwrap();
    let out = trailwatch()
        .args(["report", "examples/logs", "-o", page])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(out.stdout.is_empty());
    let all = err
        .split("report: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap();
    assert!(
        findings.len() <= all,
        "{} with --dedup of {all}",
        findings.len()
    );
    assert!(html.contains("Content-Security-Policy"));
    let Some(b) = browser() else { return };
    let dedup = dir.path().join("dedup.html");
    scan_and_report(&["examples/logs", "--dedup"], &dedup);
    let requests = b.open(&dedup);
    assert_quiet(&b, &requests, &dedup);
    assert_counts(&b, &findings);
}
