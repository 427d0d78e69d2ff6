//! Searching one input: hits, the prefilter's skips, the time range and why nothing matched.

use super::*;
use crate::rules::expr;

fn engine() -> Engine {
    Engine::new(
        crate::catalog::Catalog::builtin()
            .unwrap()
            .entries()
            .iter()
            .map(crate::rules::from_entry),
    )
}

const LINES: &[u8] = br#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2026-11-20T09:00:00Z","userIdentity":{"accessKeyId":"AKIAONE"}}
{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","eventTime":"2026-11-20T10:00:00Z","userIdentity":{"accessKeyId":"AKIATWO"}}
{"eventSource":"iam.amazonaws.com","eventName":"ListUsers","eventTime":"2026-11-21T10:00:00Z","userIdentity":{"accessKeyId":"AKIATWO"}}
"#;

fn query(exprs: &[&str], since: Option<&str>) -> Query {
    let conds = exprs.iter().map(|e| expr::parse(e).unwrap()).collect();
    let since = since.map(|s| s.parse().unwrap());
    Query::new(
        conds,
        since,
        None,
        Field::list("event,location,findings").unwrap(),
        false,
    )
}

#[test]
fn hits_carry_their_findings_and_the_prefilter_skips_the_rest() {
    let r = search_bytes(
        "f.jsonl",
        LINES,
        &query(&["userIdentity.accessKeyId = AKIATWO"], None),
        &engine(),
    );
    assert_eq!(r.report.records, 3);
    assert_eq!(r.tally.prefiltered, 1, "the AKIAONE line holds no AKIATWO");
    let events: Vec<_> = r.hits.iter().map(|h| h.cells[0].clone().unwrap()).collect();
    assert_eq!(events, ["StopLogging", "ListUsers"]);
    assert_eq!(r.hits[0].cells[1].as_deref(), Some("f.jsonl:2"));
    assert!(
        !r.hits[0].findings.is_empty(),
        "StopLogging is in the catalog"
    );
    assert!(r.hits[1].findings.is_empty());
}

#[test]
fn empty_results_say_which_filter_removed_everything() {
    let q = query(&[], Some("2026-12-01T00:00:00Z"));
    let r = search_bytes("f.jsonl", LINES, &q, &engine());
    assert!(r.hits.is_empty());
    let why = r
        .tally
        .why_empty(r.report.records, Some("2026-12-01"), None);
    assert_eq!(
        why,
        "all 3 candidate event(s) are older than --since 2026-12-01; oldest is 2026-11-20, newest 2026-11-21"
    );
    let q = query(&["userIdentity.accessKeyId = AKIATHREE"], None);
    let r = search_bytes("f.jsonl", LINES, &q, &engine());
    let why = r.tally.why_empty(r.report.records, None, None);
    assert!(why.starts_with("none of the 3 event(s) holds"), "{why}");
    let q = query(
        &["eventName glob List*", "userIdentity.accessKeyId = AKIAONE"],
        None,
    );
    let r = search_bytes("f.jsonl", LINES, &q, &engine());
    let why = r.tally.why_empty(r.report.records, None, None);
    assert!(why.contains("fail the filters"), "{why}");
}
