use crate::support::{scan_guide, shared};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use trailwatch::catalog::Catalog;

const INVALID: &str = "cloudtrail2sightings/records/aws.execution.ec2-user-data.json";

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out)
        } else {
            out.push(p)
        }
    }
}

fn get<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// An independent, slow reader of the same shapes: serde_json over whole files.
fn records_of(v: Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(items) => items.into_iter().for_each(|i| item(i, out)),
        Value::Object(ref o) if o.get("Records").is_some_and(Value::is_array) => {
            if let Some(Value::Array(items)) = v.get("Records").cloned() {
                items.into_iter().for_each(|i| item(i, out));
            }
        }
        Value::Object(ref o) if o.get("Events").is_some_and(Value::is_array) => {
            if let Some(Value::Array(items)) = v.get("Events").cloned() {
                items.into_iter().for_each(|i| item(i, out));
            }
        }
        other => item(other, out),
    }
}

fn item(v: Value, out: &mut Vec<Value>) {
    if let Some(detail) = v.get("detail").filter(|_| v.get("detail-type").is_some()) {
        return item(detail.clone(), out);
    }
    if let Some(text) = v.get("CloudTrailEvent").and_then(Value::as_str) {
        return item(
            serde_json::from_str(text).expect("CloudTrailEvent JSON"),
            out,
        );
    }
    if get(&v, "eventSource").is_some() && get(&v, "eventName").is_some() {
        out.push(v);
    }
}

fn read(path: &Path) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap();
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    }
}

#[test]
fn whole_corpus_findings_are_exactly_the_catalog_pairs() {
    let Some(shared) = shared() else { return };
    let corpus = shared.join("corpus");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path().join("records"))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 9, "corpus record folders: {dirs:?}");

    // Expected: every record whose (eventSource, eventName) is a catalog pair.
    let catalog = Catalog::builtin().unwrap();
    let pairs: HashSet<(String, String)> = catalog
        .entries()
        .iter()
        .flat_map(|e| {
            e.event_sources
                .iter()
                .map(|s| (s.clone(), e.event_name.clone()))
        })
        .collect();
    let mut expected: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut all = Vec::new();
    dirs.iter().for_each(|d| files(d, &mut all));
    for path in &all {
        if path.ends_with(INVALID) {
            continue;
        }
        let bytes = read(path);
        let mut records = Vec::new();
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => records_of(v, &mut records),
            Err(_) => {
                for line in String::from_utf8(bytes)
                    .unwrap()
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                {
                    records_of(serde_json::from_str(line).expect("JSON line"), &mut records);
                }
            }
        }
        for r in records {
            let s = get(&r, "eventSource")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let n = get(&r, "eventName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if pairs.contains(&(s.clone(), n.clone())) {
                *expected.entry((s, n)).or_default() += 1;
            }
        }
    }

    let args: Vec<&str> = dirs.iter().map(|d| d.to_str().unwrap()).collect();
    let (code, findings, stderr) = scan_guide(&args);
    let mut actual: BTreeMap<(String, String), usize> = BTreeMap::new();
    for f in &findings {
        assert_eq!(f["pack"], "guide");
        if f["location"].as_str().unwrap().contains(INVALID) {
            continue;
        }
        let key = (
            f["event_source"].as_str().unwrap().to_string(),
            f["event_name"].as_str().unwrap().to_string(),
        );
        *actual.entry(key).or_default() += 1;
    }
    assert_eq!(actual, expected);
    assert!(
        expected.values().sum::<usize>() > 400,
        "the corpus has hundreds of guide events"
    );

    // The one invalid upstream file is named; it is the only unreadable input.
    assert_eq!(code, 1, "stderr: {stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("trailwatch: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains(INVALID) && errors[0].contains("missing ','"),
        "{}",
        errors[0]
    );
    // Panther's hand-written partial test events lack eventSource: named as bad records.
    for line in stderr
        .lines()
        .filter(|l| l.starts_with("trailwatch: bad record:"))
    {
        assert!(
            line.contains("panther-analysis") && line.contains("not a CloudTrail record"),
            "{line}"
        );
    }
}

#[test]
fn every_record_file_is_read() {
    let Some(shared) = shared() else { return };
    let mut all = Vec::new();
    for entry in std::fs::read_dir(shared.join("corpus")).unwrap() {
        let records = entry.unwrap().path().join("records");
        if records.is_dir() {
            files(&records, &mut all);
        }
    }
    let out = crate::support::trailwatch()
        .arg("scan")
        .args(&all)
        .args(["--format", "jsonl"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let inputs = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("inputs"))
        .expect("summary");
    assert!(
        inputs.contains(&format!("{} read", all.len())),
        "{inputs} vs {} files",
        all.len()
    );
}
