//! The findings of `trailwatch scan examples/logs` (default packs, JSON Lines), pinned in
//! `tests/golden/examples-logs.jsonl` exactly as the binary writes them: nothing is normalised,
//! since every field (locations are the relative paths given) is deterministic.
//!
//! When a change means to alter the findings (a new rule or finding field, a reworded summary),
//! rewrite the file and review what changed before committing it:
//!
//! ```text
//! UPDATE_GOLDEN=1 cargo test --test it golden
//! git diff tests/golden/
//! ```

use crate::support::trailwatch;
use serde_json::Value;
use std::path::Path;

/// The committed findings, relative to the repository.
const GOLDEN: &str = "tests/golden/examples-logs.jsonl";

#[test]
fn examples_logs_findings_are_pinned() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = trailwatch()
        .current_dir(root)
        .args(["scan", "examples/logs", "--format", "jsonl", "-q"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let actual = String::from_utf8(out.stdout).expect("utf-8 output");
    let path = root.join(GOLDEN);
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &actual).unwrap();
        eprintln!("rewrote {GOLDEN}: review it with `git diff tests/golden/`");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{GOLDEN}: {e} (write it with UPDATE_GOLDEN=1)"));
    if let Some(diff) = difference(&expected, &actual) {
        panic!(
            "the findings of `trailwatch scan examples/logs` differ from {GOLDEN}:\n{diff}\n\
             If the change is intended: UPDATE_GOLDEN=1 cargo test --test it golden, and review \
             `git diff tests/golden/`."
        );
    }
}

/// The findings of `scan examples/logs` with these extra arguments.
fn examples(args: &[&str]) -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = trailwatch()
        .current_dir(root)
        .args(["scan", "examples/logs", "--format", "jsonl", "-q"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn examples_logs_is_one_finding_per_flagged_event() {
    use std::collections::{BTreeMap, BTreeSet};
    let all = examples(&[]);
    let events: Vec<&Value> = all.iter().filter(|f| f["aggregate"] != true).collect();
    // Each pack on its own: the events it flags and the rules it matches on each.
    let mut flagged: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for pack in ["guide", "cis", "baseline"] {
        for f in examples(&["--packs", pack]) {
            if f["aggregate"] == true {
                continue;
            }
            let id = f["event_id"].as_str().unwrap().to_string();
            for r in f["rules"].as_array().unwrap() {
                flagged
                    .entry(id.clone())
                    .or_default()
                    .insert(r["id"].as_str().unwrap().to_string());
            }
        }
    }
    assert_eq!(events.len(), flagged.len(), "one finding per flagged event");
    for f in &events {
        let id = f["event_id"].as_str().unwrap();
        let rules: BTreeSet<String> = f["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            Some(&rules),
            flagged.get(id),
            "{id}: every rule of the event"
        );
        assert_eq!(f["rule_id"], f["rules"][0]["id"], "rule_id is the top rule");
    }
    assert_eq!(events.len(), 70);
    assert_eq!(all.len() - events.len(), 2, "two threshold findings");
}

/// A readable account of where `actual` first departs from `expected`, or `None` when they are
/// the same: the first differing line with the fields that differ, then the next few lines.
fn difference(expected: &str, actual: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    let (want, got): (Vec<&str>, Vec<&str>) =
        (expected.lines().collect(), actual.lines().collect());
    let first = (0..want.len().max(got.len())).find(|&i| want.get(i) != got.get(i))?;
    let mut out = format!(
        "{} line(s) expected, {} now; first difference at line {}:\n",
        want.len(),
        got.len(),
        first + 1
    );
    match (want.get(first), got.get(first)) {
        (Some(w), Some(g)) => out += &fields(w, g),
        (Some(w), None) => out += &format!("  missing now: {}\n", label(w)),
        (None, Some(g)) => out += &format!("  new: {}\n", label(g)),
        (None, None) => {}
    }
    for i in first + 1..(first + 4).min(want.len().max(got.len())) {
        let show = |l: Option<&&str>| l.map_or_else(|| "(none)".to_string(), |l| label(l));
        let mark = if want.get(i) == got.get(i) { ' ' } else { '!' };
        out += &format!(
            "{mark} line {}: expected {} | now {}\n",
            i + 1,
            show(want.get(i)),
            show(got.get(i))
        );
    }
    Some(out)
}

/// The keys whose values differ between two finding lines, with both values.
fn fields(want: &str, got: &str) -> String {
    let (Ok(Value::Object(w)), Ok(Value::Object(g))) = (
        serde_json::from_str::<Value>(want),
        serde_json::from_str::<Value>(got),
    ) else {
        return format!("  - {}\n  + {}\n", short(want), short(got));
    };
    let mut out = format!("  expected {}\n  now      {}\n", label(want), label(got));
    let keys = w.keys().chain(g.keys().filter(|k| !w.contains_key(*k)));
    for k in keys {
        let (a, b) = (w.get(k), g.get(k));
        if a != b {
            let show =
                |v: Option<&Value>| v.map_or_else(|| "(absent)".into(), |v| short(&v.to_string()));
            out += &format!("  {k}:\n    - {}\n    + {}\n", show(a), show(b));
        }
    }
    if w.keys().ne(g.keys()) {
        out += "  (the keys or their order differ)\n";
    }
    out
}

/// `rule_id event_id` of a finding line.
fn label(line: &str) -> String {
    match serde_json::from_str::<Value>(line) {
        Ok(v) => format!(
            "{} {}",
            v["rule_id"].as_str().unwrap_or("?"),
            v["event_id"].as_str().unwrap_or("?")
        ),
        Err(_) => short(line),
    }
}

/// At most 160 characters of `s`.
fn short(s: &str) -> String {
    match s.char_indices().nth(160) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

#[test]
fn the_difference_names_the_line_and_fields() {
    let a = r#"{"rule_id":"r","event_id":"1","summary":"old"}"#;
    let b = r#"{"rule_id":"r","event_id":"1","summary":"new"}"#;
    assert_eq!(difference(&format!("{a}\n"), &format!("{a}\n")), None);
    let d = difference(&format!("{a}\n{a}\n"), &format!("{a}\n{b}\n")).unwrap();
    assert!(d.contains("first difference at line 2"), "{d}");
    assert!(d.contains("summary:\n    - \"old\"\n    + \"new\""), "{d}");
    let d = difference(&format!("{a}\n"), &format!("{a}\n{b}\n")).unwrap();
    assert!(d.contains("new: r 1"), "{d}");
}
