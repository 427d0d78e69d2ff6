//! Tests of the key layout: parsing real and malformed keys, and the listing plans for
//! organization and single-account trails, bucket prefixes, scopes and date ranges, run against
//! simulated buckets.

use super::*;
use std::collections::BTreeSet;

const A: &str = "111122223333";
const B: &str = "444455556666";
const ORG: &str = "AWSLogs/o-abc1234567/";
const EU: &str = "eu-west-1";

/// One key a day from 2026-10-30, for `days` days.
fn trail(root: &str, acct: &str, folder: &str, region: &str, days: usize) -> Vec<String> {
    let mut d = Date::new(2026, 10, 30).unwrap();
    let mut out = vec![];
    for _ in 0..days {
        let (ymd, day) = (d.strftime("%Y%m%d"), d.strftime("%Y/%m/%d"));
        out.push(format!(
            "{root}{acct}/{folder}/{region}/{day}/{acct}_{folder}_{region}_{ymd}T2355Z_0a.json.gz"
        ));
        d = d.tomorrow().unwrap();
    }
    out
}

fn org_bucket() -> Vec<String> {
    let mut keys = vec![
        "reports/summary.csv".to_string(),
        format!("{ORG}{A}/elasticloadbalancing/{EU}/2026/11/03/lb.log.gz"),
    ];
    for (acct, region) in [(A, EU), (A, "us-east-1"), (B, EU), (B, "us-east-1")] {
        keys.extend(trail(ORG, acct, "CloudTrail", region, 10));
        keys.extend(trail(ORG, acct, "CloudTrail-Digest", region, 10));
    }
    keys.extend(trail(ORG, B, "CloudTrail-Insight", EU, 10));
    keys
}

/// Runs a plan to completion against a fake bucket, as an S3 lister would: gives the
/// Objects prefixes listed, the keys wanted and the number of Children calls.
fn run(bucket: &[String], prefix: &str, scope: &Scope) -> (Vec<String>, BTreeSet<String>, usize) {
    let (mut plan, mut listed, mut wanted, mut calls) =
        (Plan::new(prefix, scope), vec![], BTreeSet::new(), 0);
    while let Some(step) = plan.next() {
        match step {
            Step::Children(p) => {
                calls += 1;
                let below = bucket.iter().filter_map(|k| k.strip_prefix(p.as_str()));
                let kids: BTreeSet<String> = below
                    .filter_map(|r| Some(format!("{p}{}", &r[..=r.find('/')?])))
                    .collect();
                plan.expand(&p, &kids.into_iter().collect::<Vec<_>>());
            }
            Step::Objects(p) => {
                let found = bucket.iter().filter(|k| k.starts_with(&p) && plan.wants(k));
                wanted.extend(found.cloned());
                listed.push(p);
            }
        }
    }
    assert!(plan.is_done());
    (listed, wanted, calls)
}

fn scope(accounts: &[&str], regions: &[&str], since: &str, until: &str) -> Scope {
    let ts = |s: &str| (!s.is_empty()).then(|| s.parse::<Timestamp>().unwrap());
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    Scope {
        accounts: strings(accounts),
        regions: strings(regions),
        since: ts(since),
        until: ts(until),
    }
}

/// The keys of `bucket` containing all of `parts`.
fn keys(bucket: &[String], parts: &[&str]) -> BTreeSet<String> {
    let found = bucket
        .iter()
        .filter(|k| parts.iter().all(|p| k.contains(p)));
    found.cloned().collect()
}

fn nov_3_4(accounts: &[&str], regions: &[&str]) -> Scope {
    scope(accounts, regions, "2026-11-03T00:00Z", "2026-11-04T00:00Z")
}

#[test]
fn org_trail_prunes_accounts_regions_and_days() {
    let bucket = org_bucket();
    let (listed, wanted, calls) = run(&bucket, "", &nov_3_4(&[A], &[EU]));
    let days = [2, 3, 4, 5].map(|d| format!("{ORG}{A}/CloudTrail/{EU}/2026/11/0{d}/"));
    assert_eq!(listed, days);
    let expect: BTreeSet<_> = days.iter().flat_map(|d| keys(&bucket, &[d])).collect();
    assert_eq!((wanted.len(), wanted), (4, expect));
    // "", AWSLogs/, the org, account A, A/CloudTrail/: B and the digests are never listed.
    assert_eq!(calls, 5);
}

#[test]
fn no_scope_reads_every_log_and_insight_region() {
    let bucket = org_bucket();
    let (listed, wanted, _) = run(&bucket, "", &Scope::default());
    assert_eq!(listed.len(), 5);
    assert!(
        listed
            .iter()
            .all(|p| p.ends_with("-1/") && !p.contains("Digest"))
    );
    let mut expect = keys(&bucket, &["/CloudTrail/"]);
    expect.extend(keys(&bucket, &["/CloudTrail-Insight/"]));
    assert_eq!((wanted.len(), wanted), (50, expect));
}

#[test]
fn non_org_trail_under_a_bucket_prefix() {
    let us = "us-east-1";
    let mut bucket = trail("logs/AWSLogs/", A, "CloudTrail", us, 10);
    bucket.extend(trail("logs/AWSLogs/", A, "CloudTrail-Digest", us, 10));
    bucket.push("other/x.json.gz".into());
    // Only `until`: the region's year folders are listed, whole months compressed.
    let s = scope(&[], &["us-east-1"], "", "2026-11-01T12:00Z");
    let root = format!("logs/AWSLogs/{A}/CloudTrail/us-east-1/2026/");
    let mut expect: Vec<String> = (1..=10).map(|m| format!("{root}{m:02}/")).collect();
    expect.extend([format!("{root}11/01/"), format!("{root}11/02/")]);
    let oct_30_nov_2 = keys(&bucket, &["/CloudTrail/"])
        .into_iter()
        .take(4)
        .collect();
    for prefix in ["", "logs", "logs/", "logs/AWSLogs/"] {
        let (listed, wanted, _) = run(&bucket, prefix, &s);
        let listed: Vec<_> = listed
            .into_iter()
            .filter(|p| p.starts_with("logs/"))
            .collect();
        assert_eq!(listed, expect, "prefix {prefix:?}");
        assert_eq!(wanted, oct_30_nov_2);
    }
    // No filter and no AWSLogs/ right under the prefix: everything but digests.
    let (listed, wanted, _) = run(&bucket, "", &Scope::default());
    assert_eq!(listed, [""]);
    assert_eq!(wanted.len(), 11);
    assert!(wanted.contains("other/x.json.gz") && wanted.iter().all(|k| !k.contains("Digest")));
}

#[test]
fn prefix_inside_the_layout() {
    let bucket = org_bucket();
    let (all, nov) = (Scope::default(), nov_3_4(&[], &[]));
    let region = format!("{ORG}{A}/CloudTrail/{EU}/");
    let at = |prefix: &str, scope: &Scope| run(&bucket, prefix, scope);
    let (listed, wanted, calls) = at(&format!("{region}2026/"), &nov);
    assert_eq!((calls, listed.len(), wanted.len()), (0, 4, 4));
    let day = format!("{region}2026/11/03/");
    assert_eq!(at(&day, &nov).0, [day]);
    assert!(at(&format!("{region}2025/"), &nov).0.is_empty());
    assert_eq!(
        at(&format!("{region}2026/"), &all).0,
        [format!("{region}2026/")]
    );
    let (listed, wanted, _) = at(&format!("{ORG}{B}/"), &all);
    assert_eq!((listed.len(), wanted.len()), (3, 30));
    // Partial segments, as S3 prefixes allow: an account id, a folder name.
    let (us, a_us) = (
        scope(&[], &["us-east-1"], "", ""),
        format!("{ORG}{A}/CloudTrail/us-east-1/"),
    );
    assert_eq!(at(&format!("{ORG}1111"), &us).0, vec![a_us.clone()]);
    assert_eq!(at(&format!("{ORG}{A}/CloudTr"), &us).0, [a_us]);
    assert!(
        at(&format!("{ORG}{A}/CloudTrail-Digest/"), &nov)
            .0
            .is_empty()
    );
    assert!(
        at(&format!("{ORG}{B}/"), &scope(&[A], &[], "", ""))
            .0
            .is_empty()
    );
}

#[test]
fn keys_outside_the_layout() {
    let bucket = ["exports/a.json.gz", "exports/old/b.json.gz"].map(String::from);
    let (listed, wanted, _) = run(&bucket, "exports/", &Scope::default());
    assert_eq!((listed, wanted.len()), (vec!["exports/".to_string()], 2));
    let (listed, wanted, _) = run(&bucket, "exports/", &scope(&[A], &[], "", ""));
    assert_eq!(
        (listed, wanted.len()),
        (vec!["exports/old/".to_string()], 0)
    );
}

#[test]
fn long_ranges_list_whole_months() {
    let d = |m, d| Date::new(2026, m, d).unwrap();
    let p = date_prefixes(d(1, 15), d(4, 10));
    assert_eq!(p.len(), 17 + 2 + 10);
    assert_eq!(
        p[16..20],
        ["2026/01/31/", "2026/02/", "2026/03/", "2026/04/01/"]
    );
    assert_eq!(date_prefixes(d(1, 1), d(3, 1)).len(), 60);
    assert!(date_prefixes(d(3, 1), d(1, 1)).is_empty());
}

#[test]
fn since_without_until_runs_to_today() {
    let now = Timestamp::now();
    let since = now.checked_sub(jiff::SignedDuration::from_hours(24)).ok();
    let mut plan = Plan::new(
        &format!("AWSLogs/{A}/CloudTrail/{EU}/"),
        &Scope {
            since,
            ..Scope::default()
        },
    );
    let steps: Vec<Step> = std::iter::from_fn(|| plan.next()).collect();
    let day = |d: Date| {
        Step::Objects(format!(
            "AWSLogs/{A}/CloudTrail/{EU}/{}/",
            d.strftime("%Y/%m/%d")
        ))
    };
    let today = utc_date(now);
    assert_eq!(steps.len(), 4);
    assert_eq!(
        (&steps[0], &steps[3]),
        (&day(day_before(day_before(today))), &day(day_after(today)))
    );
}

#[test]
fn wants_keeps_a_day_either_side() {
    let plan = Plan::new(
        "",
        &scope(&[], &[], "2026-11-03T10:00Z", "2026-11-03T11:00Z"),
    );
    let keys = trail(ORG, A, "CloudTrail", EU, 10);
    let wanted = keys.iter().filter(|k| plan.wants(k));
    let days: Vec<i8> = wanted.map(|k| parse_key(k).unwrap().date.day()).collect();
    assert_eq!(days, [2, 3, 4]);
    assert!(!plan.wants("exports/a.json.gz"));
    let open = Plan::new("", &Scope::default());
    assert!(open.wants("exports/a.json.gz"));
    assert!(!open.wants(&trail(ORG, A, "CloudTrail-Digest", EU, 1)[0]));
}

#[test]
fn parse_key_reads_real_keys_and_rejects_garbage() {
    let k = "logs/AWSLogs/o-exampleorgid/111122223333/CloudTrail/eu-west-1/2026/11/03/\
             111122223333_CloudTrail_eu-west-1_20261103T2355Z_Ab12Cd34Ef56Gh78.json.gz";
    let info = parse_key(k).unwrap();
    let org = Some("o-exampleorgid".to_string());
    let date = Date::new(2026, 11, 3).unwrap();
    let (account, region) = (A.to_string(), EU.to_string());
    assert_eq!(
        info,
        KeyInfo {
            org,
            account,
            kind: Kind::Log,
            region,
            date
        }
    );
    let digest = format!("AWSLogs/{A}/CloudTrail-Digest/us-gov-west-1/2026/01/31/{A}_x.json.gz");
    let info = parse_key(&digest).unwrap();
    assert_eq!(
        (info.org, info.kind, info.region.as_str()),
        (None, Kind::Digest, "us-gov-west-1")
    );
    let insight = &trail(ORG, B, "CloudTrail-Insight", EU, 1)[0];
    assert_eq!(parse_key(insight).unwrap().kind, Kind::Insight);
    let bad = |path: &str| format!("AWSLogs/{path}");
    for bad in [
        "".to_string(),
        "x.json.gz".to_string(),
        bad(""),
        bad(&format!("{A}/CloudTrail/{EU}/2026/11/03/")),
        bad(&format!("{A}/CloudTrail/{EU}/2026/02/30/f.json.gz")),
        bad(&format!("{A}/CloudTrail/{EU}/2026/11/03/sub/f.json.gz")),
        bad(&format!("{A}/CloudTrail/{EU}/26/11/03/f.json.gz")),
        bad(&format!(
            "{A}/elasticloadbalancing/{EU}/2026/11/03/f.log.gz"
        )),
        bad(&format!("{A}/CloudTrail/EU_WEST/2026/11/03/f.json.gz")),
        bad("11112222333/CloudTrail/eu-west-1/2026/11/03/f.json.gz"),
        bad(&format!("o-short/{A}/CloudTrail/{EU}/2026/11/03/f.json.gz")),
        bad(&format!(
            "o-UPPERCASE123/{A}/CloudTrail/{EU}/2026/11/03/f.json.gz"
        )),
    ] {
        assert_eq!(parse_key(&bad), None, "{bad:?}");
    }
}
