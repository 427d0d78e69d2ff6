//! `trailwatch search` through the CLI: the short forms and `--where` operators on
//! `examples/logs` and generated files (each with a case that must not match), time order, the
//! findings each event carries, `--raw`, `--fields`, standard input, `-o` format inference, and
//! what an empty result says.

use crate::support::{delivery_gz, record, trailwatch, write};
use serde_json::{Value, json};

const LOGS: &str = "examples/logs";

/// Runs `trailwatch search ARGS` (piped: JSON Lines) and returns (exit code, lines, stderr).
fn search(args: &[&str]) -> (i32, Vec<Value>, String) {
    let out = trailwatch().arg("search").args(args).output().unwrap();
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (
        out.status.code().unwrap_or(-1),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn strings<'a>(hits: &'a [Value], key: &str) -> Vec<&'a str> {
    hits.iter().map(|h| h[key].as_str().unwrap_or("")).collect()
}

#[test]
fn one_access_key_in_time_order() {
    let (code, hits, err) = search(&[LOGS, "--access-key", "AKIAWNQ3UYFB7K2LXE5D"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(hits.len(), 112, "{err}");
    assert!(
        strings(&hits, "access_key")
            .iter()
            .all(|k| *k == "AKIAWNQ3UYFB7K2LXE5D")
    );
    let times = strings(&hits, "time");
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not in time order");
    // Every event is a result; those the rules flag say so.
    assert!(
        hits.iter()
            .any(|h| h["findings"].as_array().unwrap().is_empty())
    );
    let flagged = hits
        .iter()
        .find(|h| !h["findings"].as_array().unwrap().is_empty());
    let tag = &flagged.expect("some flagged event")["findings"][0];
    assert!(tag["rule"].is_string() && tag["severity"].is_string() && tag["title"].is_string());
    // A key of the same prefix is another key.
    let (_, none, err) = search(&[LOGS, "--access-key", "AKIAWNQ3UYFB7K2LXE5"]);
    assert!(none.is_empty());
    assert!(err.contains("why none"), "{err}");
}

#[test]
fn one_source_ip_across_accounts() {
    let (code, hits, _) = search(&[LOGS, "--source-ip", "198.51.100.90"]);
    assert_eq!(code, 0);
    assert_eq!(hits.len(), 207);
    let mut accounts: Vec<&str> = strings(&hits, "account");
    accounts.sort();
    accounts.dedup();
    assert_eq!(accounts, ["111122223333", "444455556666"]);
    let (_, net, _) = search(&[LOGS, "--source-ip", "198.51.100.88/30"]);
    assert!(
        net.len() >= 207
            && strings(&net, "source_ip").iter().all(|ip| {
                ip.strip_prefix("198.51.100.")
                    .and_then(|n| n.parse::<u8>().ok())
                    .is_some_and(|n| (88..92).contains(&n))
            })
    );
    let (_, none, _) = search(&[LOGS, "--source-ip", "203.0.113.250"]);
    assert!(none.is_empty());
}

#[test]
fn failed_calls_of_one_role() {
    let (code, hits, err) = search(&[LOGS, "--actor", "role/orders-api-task", "--error"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(hits.len(), 5, "{hits:?}");
    assert!(hits.iter().all(|h| h["error"].is_string()));
    assert!(
        strings(&hits, "actor")
            .iter()
            .all(|a| a.contains("orders-api-task"))
    );
    let (_, found, _) = search(&[LOGS, "--actor", "orders-api-task", "--error=*NotFound"]);
    assert_eq!(found.len(), 5);
    let (_, denied, _) = search(&[LOGS, "--actor", "orders-api-task", "--error=*Denied*"]);
    assert!(denied.is_empty());
    let (_, none, _) = search(&[LOGS, "--actor", "nobody-at-all", "--error"]);
    assert!(none.is_empty());
}

#[test]
fn where_operators_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = record("s3.amazonaws.com", "GetObject");
    a["sourceIPAddress"] = json!("10.1.2.3");
    a["requestParameters"] = json!({"bucketName": "prod-data", "maxKeys": 900});
    let mut b = record("iam.amazonaws.com", "CreateAccessKey");
    b["errorCode"] = json!("AccessDenied");
    b["userIdentity"]["arn"] = json!("arn:aws:iam::111122223333:user/bob");
    write(dir.path(), "a.json.gz", &delivery_gz(&[a, b]));
    let p = dir.path().to_str().unwrap();
    let cases: &[(&str, &[&str])] = &[
        ("eventName = GetObject", &["GetObject"]),
        ("eventName != GetObject", &["CreateAccessKey"]),
        (
            "eventName in ListBuckets,CreateAccessKey",
            &["CreateAccessKey"],
        ),
        ("userIdentity.arn glob *:user/b*", &["CreateAccessKey"]),
        ("userIdentity.arn glob *:role/*", &[]),
        ("userIdentity.arn suffix:i /ALICE", &["GetObject"]),
        ("userIdentity.arn contains carol", &[]),
        (
            "userIdentity.arn prefix arn:aws:iam::",
            &["GetObject", "CreateAccessKey"],
        ),
        ("sourceIPAddress cidr 10.0.0.0/8", &["GetObject"]),
        ("not sourceIPAddress cidr 10.0.0.0/8", &["CreateAccessKey"]),
        ("eventSource regex ^i[a-z]+\\.", &["CreateAccessKey"]),
        ("errorCode exists", &["CreateAccessKey"]),
        ("errorCode missing", &["GetObject"]),
        ("requestParameters.maxKeys > 500", &["GetObject"]),
        ("requestParameters.maxKeys <= 500", &[]),
        ("requestParameters.bucketName = prod-data", &["GetObject"]),
    ];
    for (expr, want) in cases {
        let (code, hits, err) = search(&[p, "--where", expr]);
        assert_eq!(code, 0, "{expr}: {err}");
        let mut got = strings(&hits, "event");
        got.sort();
        let mut want = want.to_vec();
        want.sort();
        assert_eq!(got, want, "{expr}");
    }
    // Two filters: both must hold.
    let (_, hits, _) = search(&[p, "-w", "errorCode exists", "-w", "eventName = GetObject"]);
    assert!(hits.is_empty());
}

#[test]
fn a_bad_expression_is_a_usage_error_pointing_at_the_problem() {
    let (code, hits, err) = search(&[LOGS, "--where", "userIdentity.arn globb *x*"]);
    assert_eq!(code, 2);
    assert!(hits.is_empty());
    assert!(err.contains("unknown operator 'globb'"), "{err}");
    let caret = err.lines().find(|l| l.trim() == "^").expect(&err);
    let expr_line = err.lines().find(|l| l.contains("globb *x*")).unwrap();
    assert_eq!(caret.find('^'), expr_line.find("globb"), "{err}");
    let (code, _, err) = search(&[LOGS, "--where", "n > ten"]);
    assert_eq!(code, 2);
    assert!(err.contains("takes a number"), "{err}");
    let (code, _, err) = search(&[LOGS, "--fields", "time,a..b"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn raw_records_fields_and_stdin() {
    let (_, raw, _) = search(&[LOGS, "--event", "StopLogging,DeleteTrail", "--raw"]);
    assert!(!raw.is_empty());
    assert!(
        raw.iter().all(
            |r| r["eventSource"] == "cloudtrail.amazonaws.com" && r["userIdentity"].is_object()
        )
    );
    let (_, some, _) = search(&[
        LOGS,
        "--event",
        "StopLogging",
        "--fields",
        "event,requestParameters.name,findings",
    ]);
    assert!(!some.is_empty());
    // Keys in the order of --fields.
    let out = trailwatch()
        .args([
            "search",
            LOGS,
            "--event",
            "StopLogging",
            "--fields",
            "event,requestParameters.name,findings",
        ])
        .output()
        .unwrap();
    let first = String::from_utf8(out.stdout).unwrap();
    assert!(
        first.starts_with(r#"{"event":"StopLogging","requestParameters.name":"arn:"#),
        "{first}"
    );
    assert!(
        first
            .lines()
            .all(|l| l.contains(r#","findings":[{"rule":"#)),
        "{first}"
    );
    assert!(
        !some[0]["findings"].as_array().unwrap().is_empty(),
        "StopLogging is a finding"
    );

    let mut r = record("iam.amazonaws.com", "ListUsers");
    r["userIdentity"]["accessKeyId"] = json!("AKIASTDIN");
    let lines = format!("{}\n{}\n", r, record("s3.amazonaws.com", "GetObject"));
    let out = trailwatch()
        .args(["search", "-", "--access-key", "AKIASTDIN"])
        .write_stdin(lines)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let hits: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["event"], "ListUsers");
    assert_eq!(hits[0]["location"], "(stdin):1");
}

#[test]
fn output_file_format_from_its_extension() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("hits.csv");
    let (code, _, err) = search(&[LOGS, "--event", "ConsoleLogin", "-o", csv.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("time,event,source,"), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.contains(",ConsoleLogin,"))
            .count(),
        text.lines().count() - 1
    );
    let json = dir.path().join("hits.json");
    search(&[
        LOGS,
        "--event",
        "ConsoleLogin",
        "-o",
        json.to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), text.lines().count() - 1);
    let html = dir.path().join("hits.html");
    let (code, _, err) = search(&[LOGS, "-o", html.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("HTML"), "{err}");
}

#[test]
fn empty_results_say_why() {
    let (code, hits, err) = search(&[LOGS, "--since", "2030-01-01"]);
    assert_eq!(code, 0);
    assert!(hits.is_empty());
    assert!(
        err.contains("all 1499 candidate event(s) are older than --since 2030-01-01; oldest is 2026-11-03, newest 2026-11-05"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = search(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(err.contains("no input files were found"), "{err}");
    let (_, _, err) = search(&[
        LOGS,
        "--event",
        "ConsoleLogin",
        "-w",
        "sourceIPAddress cidr 10.0.0.0/8",
    ]);
    assert!(err.contains("fail the filters"), "{err}");
}

#[test]
fn scan_reads_stdin_infers_the_output_format_and_says_why_nothing_was_found() {
    let bytes = std::fs::read("examples/shapes/records.jsonl").unwrap();
    let out = trailwatch()
        .args(["scan", "-", "--format", "jsonl"])
        .write_stdin(bytes)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 4);
    assert!(text.contains(r#""location":"(stdin):2""#), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("f.csv");
    let out = trailwatch()
        .args(["scan", LOGS, "-q", "-o", csv.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        trailwatch::finding::KEYS.join(",")
    );
    // -o FILE.html writes the HTML report (as `trailwatch report`), and nothing on stdout.
    let html = dir.path().join("f.html");
    let out = trailwatch()
        .args(["scan", LOGS, "-o", html.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page:.200}");
    assert!(page.contains("Content-Security-Policy"));

    let out = trailwatch()
        .args(["scan", LOGS, "--since", "2030-01-01", "--format", "jsonl"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("why none") && err.contains("fall outside --since"),
        "{err}"
    );
    let empty = tempfile::tempdir().unwrap();
    let out = trailwatch()
        .args(["scan", empty.path().to_str().unwrap(), "--format", "jsonl"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no input files were found"), "{err}");
}

#[test]
fn the_table_is_in_time_order_fits_the_terminal_and_escapes_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let mut late = record("iam.amazonaws.com", "CreateUser");
    late["eventTime"] = json!("2026-11-21T00:00:00Z");
    late["userIdentity"]["arn"] = json!("arn:aws:iam::111122223333:user/evil\u{1b}[2J");
    let early = record("cloudtrail.amazonaws.com", "StopLogging");
    write(dir.path(), "a.json.gz", &delivery_gz(&[late, early]));
    let p = dir.path().to_str().unwrap();
    let out = trailwatch()
        .args(["scan", p, "-q", "--format", "table"])
        .env("COLUMNS", "150")
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("TIME") && lines[0].contains("RULE") && lines[0].contains("COUNT"),
        "{table}"
    );
    assert!(lines.iter().all(|l| l.chars().count() <= 150), "{table}");
    assert!(
        lines[1].contains("StopLogging") && lines[2].contains("CreateUser"),
        "time order: {table}"
    );
    assert!(
        !table.contains('\u{1b}'),
        "escape sequence printed raw: {table:?}"
    );
    assert!(table.contains("\\u{1b}"), "{table}");
    // Search's table as well.
    let out = trailwatch()
        .args(["search", p, "-q", "--format", "table"])
        .env("COLUMNS", "110")
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.lines().all(|l| l.chars().count() <= 110), "{table}");
    assert!(
        !table.contains('\u{1b}') && table.lines().nth(1).unwrap().contains("StopLogging"),
        "{table}"
    );
}
