//! Grouping: keys of each kind, time order, the summary of a group, the order of groups and
//! the cut at the first finding.

use super::*;
use crate::finding::Outcome;
use crate::search::Explained;

/// A hit with the timeline columns: (time, event, source, account, region, actor, key, ip, error).
#[allow(clippy::too_many_arguments)]
fn hit(
    time: &str,
    event: &str,
    source: &str,
    region: &str,
    actor: &str,
    key: &str,
    ip: &str,
    error: &str,
    flagged: Option<Severity>,
) -> Hit {
    let s = |v: &str| (!v.is_empty()).then(|| v.to_string());
    let mut cells = vec![None; 14];
    cells[COL_TIME] = s(time);
    cells[COL_EVENT] = s(event);
    cells[COL_SOURCE] = s(source);
    cells[COL_ACCOUNT] = s("111122223333");
    cells[COL_REGION] = s(region);
    cells[COL_ACTOR] = s(actor);
    cells[COL_ACCESS_KEY] = s(key);
    cells[COL_SOURCE_IP] = s(ip);
    cells[COL_ERROR] = s(error);
    Hit {
        time: time.parse().ok(),
        location: format!("f#{event}"),
        cells,
        raw: None,
        findings: Vec::new(),
        explained: flagged.map(|severity| {
            Box::new(Explained {
                severity,
                title: format!("{event} seen"),
                outcome: Outcome::Success,
                summary: String::new(),
                why: String::new(),
                controls: Vec::new(),
                attack: Vec::new(),
            })
        }),
    }
}

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:sts::111122223333:assumed-role/Deploy/bob";

fn sample() -> Vec<Hit> {
    vec![
        hit(
            "2026-11-20T10:05:00Z",
            "ListBuckets",
            "s3.amazonaws.com",
            "us-east-1",
            ALICE,
            "AKIAALICE",
            "198.51.100.7",
            "",
            None,
        ),
        hit(
            "2026-11-20T09:00:00Z",
            "GetCallerIdentity",
            "sts.amazonaws.com",
            "us-east-1",
            ALICE,
            "AKIAALICE",
            "198.51.100.7",
            "",
            None,
        ),
        hit(
            "2026-11-20T10:10:00Z",
            "StopLogging",
            "cloudtrail.amazonaws.com",
            "eu-west-1",
            ALICE,
            "AKIAALICE",
            "203.0.113.9",
            "",
            Some(Severity::Critical),
        ),
        hit(
            "2026-11-20T10:20:00Z",
            "DeleteTrail",
            "cloudtrail.amazonaws.com",
            "eu-west-1",
            ALICE,
            "AKIAALICE",
            "203.0.113.9",
            "AccessDenied",
            Some(Severity::High),
        ),
        hit(
            "2026-11-20T08:00:00Z",
            "PutObject",
            "s3.amazonaws.com",
            "us-east-1",
            BOB,
            "ASIABOB1",
            "10.0.0.1",
            "",
            None,
        ),
        hit(
            "2026-11-20T08:30:00Z",
            "PutObject",
            "s3.amazonaws.com",
            "us-east-1",
            BOB,
            "ASIABOB2",
            "10.0.0.1",
            "NoSuchBucket",
            None,
        ),
        hit(
            "2026-11-20T11:00:00Z",
            "CreateUser",
            "iam.amazonaws.com",
            "us-east-1",
            BOB,
            "ASIABOB2",
            "10.0.0.1",
            "",
            Some(Severity::Medium),
        ),
    ]
}

fn opts(by: By) -> Options {
    Options {
        by,
        from_finding: false,
        flagged: false,
    }
}

#[test]
fn actor_groups_are_in_time_order_with_what_they_touched() {
    let groups = build(sample(), opts(By::Actor));
    assert_eq!(groups.len(), 2);
    let alice = &groups[0];
    assert_eq!(alice.key, ALICE, "the critical group comes first");
    let events: Vec<_> = alice
        .hits
        .iter()
        .map(|h| h.cells[COL_EVENT].clone().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "GetCallerIdentity",
            "ListBuckets",
            "StopLogging",
            "DeleteTrail"
        ]
    );
    assert_eq!((alice.events, alice.findings), (4, 2));
    assert_eq!(alice.severity, Some(Severity::Critical));
    assert_eq!(alice.regions, ["eu-west-1", "us-east-1"]);
    assert_eq!(alice.services, ["cloudtrail", "s3", "sts"]);
    assert_eq!(alice.source_ips, ["198.51.100.7", "203.0.113.9"]);
    assert_eq!(alice.errors, 1);
    assert_eq!(alice.error_codes, [("AccessDenied".to_string(), 1)]);
    assert_eq!(alice.first, Some("2026-11-20T09:00:00Z".parse().unwrap()));
    assert_eq!(alice.last, Some("2026-11-20T10:20:00Z".parse().unwrap()));
    assert_eq!(groups[1].key, BOB);
    assert_eq!(groups[1].severity, Some(Severity::Medium));
}

#[test]
fn sessions_split_one_actor_by_access_key_and_ips_join_actors() {
    let groups = build(sample(), opts(By::Session));
    let keys: Vec<_> = groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["AKIAALICE", "ASIABOB2", "ASIABOB1"]);
    assert_eq!(groups[1].events, 2);
    assert_eq!(groups[1].error_codes, [("NoSuchBucket".to_string(), 1)]);

    let groups = build(sample(), opts(By::Ip));
    let keys: Vec<_> = groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["203.0.113.9", "10.0.0.1", "198.51.100.7"]);
    assert_eq!(groups[1].actors, [BOB]);
}

#[test]
fn a_session_without_an_access_key_is_its_principal_and_start() {
    let mut h = hit(
        "2026-11-20T08:00:00Z",
        "ConsoleLogin",
        "signin.amazonaws.com",
        "us-east-1",
        ALICE,
        "",
        "192.0.2.1",
        "",
        None,
    );
    h.cells[COL_SESSION_START] = Some("2026-11-20T07:59:00Z".into());
    assert_eq!(
        By::Session.key(&h),
        format!("{ALICE} @ 2026-11-20T07:59:00Z")
    );
    let none = hit("2026-11-20T08:00:00Z", "X", "", "", "", "", "", "", None);
    assert_eq!(By::Ip.key(&none), "(unknown)");
}

#[test]
fn from_finding_starts_each_group_at_its_first_finding() {
    let groups = build(
        sample(),
        Options {
            by: By::Actor,
            from_finding: true,
            flagged: false,
        },
    );
    let alice = &groups[0];
    assert_eq!(alice.hidden, 2);
    assert_eq!(alice.hits.len(), 2);
    assert_eq!(
        alice.hits[0].cells[COL_EVENT].as_deref(),
        Some("StopLogging")
    );
    assert_eq!(alice.events, 4, "the summary still counts every event");
    assert_eq!(groups[1].hidden, 2);
}

#[test]
fn flagged_keeps_only_groups_with_findings() {
    let mut hits = sample();
    hits.push(hit(
        "2026-11-20T12:00:00Z",
        "ListRoles",
        "iam.amazonaws.com",
        "us-east-1",
        "arn:aws:iam::111122223333:user/carol",
        "AKIACAROL",
        "192.0.2.2",
        "",
        None,
    ));
    assert_eq!(build(hits.clone(), opts(By::Actor)).len(), 3);
    let only = build(
        hits,
        Options {
            by: By::Actor,
            from_finding: false,
            flagged: true,
        },
    );
    assert_eq!(only.len(), 2);
    assert!(only.iter().all(|g| g.findings > 0));
}
