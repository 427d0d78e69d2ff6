//! `trailwatch timeline` through the CLI: groups by actor, session and address on
//! `examples/logs` and generated records, each group in time order with its summary, findings
//! explained inline, `--from-finding`, `--flagged`, `--groups`, and the stable CSV columns.

use crate::support::{delivery_gz, record, trailwatch, write};
use serde_json::{Value, json};

const LOGS: &str = "examples/logs";

/// Runs `trailwatch timeline ARGS` and returns (exit code, stdout, stderr).
fn timeline(args: &[&str]) -> (i32, String, String) {
    let out = trailwatch()
        .arg("timeline")
        .args(args)
        .env("COLUMNS", "120")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

#[test]
fn actor_timelines_hold_every_event_in_time_order_most_severe_group_first() {
    let (code, out, err) = timeline(&[LOGS, "-f", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    let rows = lines(&out);
    assert_eq!(rows.len(), 1499, "every event of examples/logs, once");
    assert!(err.contains("groups "), "{err}");
    // Rows come group by group; within a group, in time order with seq counting up.
    let mut groups: Vec<&str> = Vec::new();
    for w in rows.windows(2) {
        if s(&w[0], "group") == s(&w[1], "group") {
            assert!(
                s(&w[0], "time") <= s(&w[1], "time"),
                "{} then {}",
                w[0],
                w[1]
            );
            assert_eq!(
                w[0]["seq"].as_u64().unwrap() + 1,
                w[1]["seq"].as_u64().unwrap()
            );
        }
    }
    for r in &rows {
        assert_eq!(s(r, "group_by"), "actor");
        assert_eq!(s(r, "group"), s(r, "actor"), "{r}");
        if groups.last() != Some(&s(r, "group")) {
            assert!(
                !groups.contains(&s(r, "group")),
                "group {} split",
                s(r, "group")
            );
            groups.push(s(r, "group"));
        }
    }
    // The group holding the critical StopLogging comes first.
    assert_eq!(groups[0], "arn:aws:iam::444455556666:user/support-backup");
    let stop = rows
        .iter()
        .find(|r| s(r, "event") == "StopLogging" && s(r, "group") == groups[0])
        .expect("StopLogging in the first group");
    assert_eq!(s(stop, "severity"), "critical");
    assert!(!s(stop, "summary").is_empty() && !s(stop, "why").is_empty());
    assert!(stop["rules"].as_array().unwrap().len() > 1, "{stop}");
    // Unflagged events carry no finding.
    let plain = rows
        .iter()
        .find(|r| s(r, "event") == "GetCallerIdentity")
        .unwrap();
    assert!(plain["severity"].is_null() && plain["rules"].as_array().unwrap().is_empty());
}

#[test]
fn from_finding_shows_what_the_principal_did_after_the_alert() {
    let (code, out, err) = timeline(&[
        LOGS,
        "--actor",
        "support-backup",
        "--from-finding",
        "-f",
        "jsonl",
    ]);
    assert_eq!(code, 0, "{err}");
    let rows = lines(&out);
    assert!(!rows.is_empty());
    assert_eq!(
        s(&rows[0], "event"),
        "StopLogging",
        "starts at the first finding"
    );
    assert_eq!(rows[0]["seq"], 2, "one event before it is left out");
    let (_, all, _) = timeline(&[LOGS, "--actor", "support-backup", "-f", "jsonl"]);
    assert_eq!(lines(&all).len(), rows.len() + 1);
    // The table says so.
    let (_, table, _) = timeline(&[
        LOGS,
        "--actor",
        "support-backup",
        "--from-finding",
        "-f",
        "table",
    ]);
    assert!(
        table.contains("1 earlier event(s) before the first finding not shown"),
        "{table}"
    );
    assert!(
        table.contains("    ↳ CloudTrail trail logging stopped: "),
        "{table}"
    );
    assert!(table.lines().all(|l| l.chars().count() <= 120), "{table}");
}

/// One role, two sessions (two temporary keys); a console sign-in without a key; another
/// address.
fn sessions(dir: &std::path::Path) -> std::path::PathBuf {
    let role = |key: &str, time: &str, name: &str, ip: &str| {
        let mut r = record("s3.amazonaws.com", name);
        r["userIdentity"] = json!({
            "type": "AssumedRole", "principalId": "AROAEXAMPLE:deploy", "accountId": "111122223333",
            "arn": "arn:aws:sts::111122223333:assumed-role/Deploy/deploy", "accessKeyId": key,
            "sessionContext": {"attributes": {"creationDate": "2026-11-20T08:00:00Z", "mfaAuthenticated": "false"},
                "sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/Deploy", "userName": "Deploy"}}
        });
        r["eventTime"] = json!(time);
        r["sourceIPAddress"] = json!(ip);
        r["eventID"] = json!(format!("{key}-{name}-{time}"));
        r
    };
    let mut login = record("signin.amazonaws.com", "ConsoleLogin");
    login["userIdentity"] = json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": "111122223333",
        "arn": "arn:aws:iam::111122223333:user/alice", "userName": "alice"});
    login["responseElements"] = json!({"ConsoleLogin": "Success"});
    login["eventTime"] = json!("2026-11-20T07:00:00Z");
    let mut denied = role(
        "ASIASECOND",
        "2026-11-20T10:00:00Z",
        "GetObject",
        "203.0.113.9",
    );
    denied["errorCode"] = json!("AccessDenied");
    let records = [
        role(
            "ASIAFIRST",
            "2026-11-20T09:10:00Z",
            "ListBuckets",
            "198.51.100.7",
        ),
        role(
            "ASIAFIRST",
            "2026-11-20T09:00:00Z",
            "GetObject",
            "198.51.100.7",
        ),
        role(
            "ASIASECOND",
            "2026-11-20T10:05:00Z",
            "DeleteBucketPolicy",
            "203.0.113.9",
        ),
        denied,
        login,
    ];
    write(dir, "sessions.json.gz", &delivery_gz(&records))
}

#[test]
fn sessions_split_a_role_by_its_keys_and_groups_summarise_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = sessions(dir.path());
    let file = file.to_str().unwrap();
    let (code, out, err) = timeline(&[file, "--by", "session", "--groups", "-f", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    let groups = lines(&out);
    let keys: Vec<&str> = groups.iter().map(|g| s(g, "group")).collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert_eq!(
        keys[0], "ASIASECOND",
        "the session with a finding first: {keys:?}"
    );
    let second = &groups[0];
    assert_eq!(second["events"], 2);
    assert_eq!(s(second, "first_seen"), "2026-11-20T10:00:00Z");
    assert_eq!(s(second, "last_seen"), "2026-11-20T10:05:00Z");
    assert_eq!(second["errors"], 1);
    assert_eq!(second["error_codes"], json!({"AccessDenied": 1}));
    assert_eq!(second["source_ips"], json!(["203.0.113.9"]));
    assert_eq!(second["services"], json!(["s3"]));
    assert!(second["findings"].as_u64().unwrap() >= 1);
    assert!(keys.contains(&"ASIAFIRST"));
    assert!(
        keys.contains(&"arn:aws:iam::111122223333:user/alice"),
        "{keys:?}"
    );
    // By actor the two sessions are one group; by address, two groups.
    let (_, out, _) = timeline(&[file, "--by", "actor", "--groups", "-f", "jsonl"]);
    assert_eq!(lines(&out).len(), 2);
    let (_, out, _) = timeline(&[file, "--by", "ip", "--groups", "-f", "jsonl"]);
    let ips: Vec<String> = lines(&out)
        .iter()
        .map(|g| s(g, "group").to_string())
        .collect();
    assert_eq!(ips.len(), 2, "{ips:?}");
    assert_eq!(ips[0], "203.0.113.9");
    // --flagged keeps only the sessions with findings.
    let (_, out, _) = timeline(&[
        file,
        "--by",
        "session",
        "--groups",
        "--flagged",
        "-f",
        "jsonl",
    ]);
    let flagged = lines(&out);
    assert!(flagged.iter().all(|g| g["findings"].as_u64().unwrap() > 0));
    assert!(flagged.len() < groups.len());
}

#[test]
fn csv_columns_are_stable_and_cells_are_defused() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = record("iam.amazonaws.com", "ListUsers");
    r["userAgent"] = json!("=HYPERLINK(\"http://x\")");
    let file = write(
        dir.path(),
        "f.json",
        &serde_json::to_vec(&json!({"Records": [r]})).unwrap(),
    );
    let csv_path = dir.path().join("t.csv");
    let (code, _, err) = timeline(&[file.to_str().unwrap(), "-o", csv_path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "group_by,group,seq,time,event,service,event_source,account,region,actor,actor_type,\
         access_key,source_ip,user_agent,error,event_id,severity,outcome,rules,title,summary,why,\
         attack,controls,location"
    );
    let row = lines.next().unwrap();
    assert!(
        row.starts_with(
            "actor,arn:aws:iam::111122223333:user/alice,1,2026-11-20T09:05:12Z,ListUsers,iam,"
        ),
        "{row}"
    );
    assert!(row.contains("'=HYPERLINK"), "{row}");
    let (_, groups, _) = timeline(&[file.to_str().unwrap(), "--groups", "-f", "csv"]);
    assert_eq!(
        groups.lines().next().unwrap(),
        "group_by,group,first_seen,last_seen,events,findings,severity,accounts,regions,services,\
         actors,source_ips,errors,error_codes,hidden"
    );
}

#[test]
fn nothing_matched_says_why_and_bad_input_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let file = sessions(dir.path());
    write(dir.path(), "broken.json", b"{\"Records\": [");
    let (code, out, err) = timeline(&[
        dir.path().to_str().unwrap(),
        "--access-key",
        "AKIANOBODY",
        "-f",
        "jsonl",
    ]);
    assert_eq!(code, 1, "an unreadable file is exit 1: {err}");
    assert!(out.is_empty());
    assert!(err.contains("broken.json"), "{err}");
    assert!(err.contains("why none"), "{err}");
    let (code, _, err) = timeline(&[file.to_str().unwrap(), "--by", "nobody"]);
    assert_eq!(code, 2, "{err}");
}
