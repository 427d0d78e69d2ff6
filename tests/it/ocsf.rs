//! `scan --format ocsf`: every finding of the example logs (and of findings with every optional
//! part: errors, a service as the caller, folded repeats) validates against the published JSON
//! schema of the pinned OCSF version's Detection Finding class, with the `cloud` profile.

use crate::support::services::{TEST_PYTHON, gate};
use crate::support::{create_user, delivery_json, event, trailwatch, write};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

/// The OCSF version trailwatch writes (`src/output/ocsf.rs`).
const VERSION: &str = "1.1.0";

/// Validates each JSON line of `lines` against Detection Finding of OCSF `VERSION` with the cloud
/// profile, as generated from the published schema by `ocsf-json-schema`; returns one list of
/// error messages per line.
fn validate(python: &str, lines: &[String]) -> Vec<Vec<String>> {
    const SCRIPT: &str = "import sys, json\n\
        from jsonschema import Draft202012Validator\n\
        from ocsf_json_schema import get_ocsf_schema, OcsfJsonSchemaEmbedded\n\
        ocsf = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=sys.argv[1]))\n\
        name = ocsf.lookup_class_name_from_uid(class_uid=2004)\n\
        assert name == 'detection_finding', name\n\
        schema = ocsf.get_class_schema(class_name=name, profiles=['cloud'])\n\
        Draft202012Validator.check_schema(schema)\n\
        v = Draft202012Validator(schema)\n\
        out = []\n\
        for line in sys.stdin:\n\
        \x20   out.append([f'{list(e.absolute_path)}: {e.message}' for e in v.iter_errors(json.loads(line))])\n\
        print(json.dumps(out))\n";
    let mut child = Command::new(python)
        .args(["-c", SCRIPT, VERSION])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    for l in lines {
        writeln!(input, "{l}").unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "validator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn scan_ocsf(args: &[&str]) -> Vec<String> {
    let out = trailwatch()
        .arg("scan")
        .args(args)
        .args(["--format", "ocsf"])
        .output()
        .unwrap();
    assert!(
        out.status.code() == Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn ocsf_output_validates_against_the_published_schema() {
    let Some(python) = gate(&TEST_PYTHON) else {
        return;
    };
    let mut lines = scan_ocsf(&["examples/logs"]);
    assert!(lines.len() >= 5, "{lines:?}");
    // Every optional part: an error, a service calling, a record without an eventID, repeats
    // folded by dedup.
    let dir = tempfile::tempdir().unwrap();
    let mut failed = event("iam.amazonaws.com", "CreateUser", "o-err");
    failed["errorCode"] = "AccessDenied".into();
    failed["errorMessage"] = "not allowed".into();
    failed["sourceIPAddress"] = "cloudformation.amazonaws.com".into();
    let mut anonymous = create_user("o-x");
    anonymous.as_object_mut().unwrap().remove("eventID");
    let records = [failed, anonymous, create_user("o-1"), create_user("o-2")];
    let logs = dir.path().join("logs");
    write(&logs, "t.json", &delivery_json(&records));
    let rules = write(
        dir.path(),
        "rules.yaml",
        b"rules:\n  - id: t.user-created\n    title: User created\n    severity: medium\n    description: A user was created.\n    match: { sources: [iam.amazonaws.com], names: [CreateUser] }\n    dedup: { key: [userIdentity.arn], window: 1h }\n",
    );
    let extra = scan_ocsf(&[
        logs.to_str().unwrap(),
        "--packs",
        "guide",
        "--rules",
        rules.to_str().unwrap(),
        "--dedup",
    ]);
    assert!(!extra.is_empty());
    lines.extend(extra);
    let errors = validate(&python, &lines);
    for (line, errs) in lines.iter().zip(&errors) {
        assert!(errs.is_empty(), "{errs:?}\n{line}");
    }
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(parsed.iter().all(|v| v["metadata"]["version"] == VERSION));
    assert!(
        parsed
            .iter()
            .any(|v| v["evidences"][0]["api"]["response"]["error"] == "AccessDenied")
    );
    assert!(parsed.iter().any(|v| v["count"].as_u64() > Some(1)));
    // The check can fail: a finding without its uid, or with a severity id out of range, is
    // refused.
    let mut broken = parsed[0].clone();
    broken["finding_info"]
        .as_object_mut()
        .unwrap()
        .remove("uid");
    let mut bad_severity = parsed[0].clone();
    bad_severity["severity_id"] = 42.into();
    let errors = validate(&python, &[broken.to_string(), bad_severity.to_string()]);
    assert!(errors.iter().all(|e| !e.is_empty()), "{errors:?}");
}

#[test]
fn watch_writes_ocsf_too() {
    let Some(python) = gate(&TEST_PYTHON) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("in");
    write(
        &inbox,
        "a.json",
        &delivery_json(&[create_user("w-1"), create_user("w-2")]),
    );
    let out = dir.path().join("out.jsonl");
    let run = Command::new(crate::support::bin())
        .args([
            "watch",
            "--dir",
            inbox.to_str().unwrap(),
            "--packs",
            "guide",
        ])
        .args(["--state", dir.path().join("s.db").to_str().unwrap()])
        .args(["--output", out.to_str().unwrap(), "--format", "ocsf"])
        .args(["--idle-exit", "2s"])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let lines: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (line, errs) in lines.iter().zip(validate(&python, &lines)) {
        assert!(errs.is_empty(), "{errs:?}\n{line}");
    }
    let ids: Vec<Value> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["finding_info"]["related_events"][0]["uid"]
                .clone()
        })
        .collect();
    assert_eq!(ids, ["w-1", "w-2"]);
}
