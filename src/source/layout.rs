//! CloudTrail's S3 key layout: what a key says about itself ([`parse_key`]) and which prefixes
//! a scan of a trail bucket needs to list ([`Plan`]).
//!
//! CloudTrail writes `[prefix/]AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/file.json.gz`,
//! digests under `.../ACCOUNT/CloudTrail-Digest/...` and Insights under
//! `.../ACCOUNT/CloudTrail-Insight/...`. The `DD` folder is the UTC delivery date, so an event
//! may land in the next day's folder: date pruning keeps one extra day on each side.
//!
//! This module is pure: the caller runs the listing calls a [`Plan`] asks for. The one exception
//! is [`Plan::new`], which reads the clock to bound a scan that has `since` but no `until`.

use std::collections::{HashMap, VecDeque};

use jiff::{Timestamp, civil::Date, tz::Offset};

/// What a key says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub org: Option<String>,
    pub account: String,
    pub kind: Kind,
    pub region: String,
    pub date: Date,
}

/// Which CloudTrail folder a key is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Log,
    Digest,
    Insight,
}

impl Kind {
    fn from_folder(s: &str) -> Option<Kind> {
        match s {
            "CloudTrail" => Some(Kind::Log),
            "CloudTrail-Digest" => Some(Kind::Digest),
            "CloudTrail-Insight" => Some(Kind::Insight),
            _ => None,
        }
    }
}

fn lower_alnum(s: &str, extra: u8) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == extra)
}

fn is_org(s: &str) -> bool {
    s.strip_prefix("o-")
        .is_some_and(|r| (10..=32).contains(&r.len()) && lower_alnum(r, b'0'))
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_region(s: &str) -> bool {
    s.contains('-') && !s.starts_with('-') && lower_alnum(s, b'-')
}

fn num(s: &str, len: usize) -> Option<i16> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

fn utc_date(t: Timestamp) -> Date {
    Offset::UTC.to_datetime(t).date()
}

/// A folder prefix and its last segment.
fn split_last(c: &str) -> (&str, &str) {
    (c, c[..c.len() - 1].rsplit('/').next().unwrap_or(""))
}

fn day_before(d: Date) -> Date {
    d.yesterday().unwrap_or(d)
}

fn day_after(d: Date) -> Date {
    d.tomorrow().unwrap_or(d)
}

/// Parses a key anywhere under `.../AWSLogs/...`; None when it does not follow the layout.
pub fn parse_key(key: &str) -> Option<KeyInfo> {
    let segs: Vec<&str> = key.split('/').collect();
    (0..segs.len())
        .filter(|&i| segs[i] == "AWSLogs")
        .find_map(|i| parse_rest(&segs[i + 1..]))
}

fn parse_rest(rest: &[&str]) -> Option<KeyInfo> {
    let (org, rest) = match rest.split_first() {
        Some((o, tail)) if is_org(o) => (Some(o.to_string()), tail),
        _ => (None, rest),
    };
    let [account, kind, region, y, m, d, name] = rest else {
        return None;
    };
    if !is_account(account) || !is_region(region) || name.is_empty() {
        return None;
    }
    let date = Date::new(num(y, 4)?, num(m, 2)? as i8, num(d, 2)? as i8).ok()?;
    Some(KeyInfo {
        org,
        account: account.to_string(),
        kind: Kind::from_folder(kind)?,
        region: region.to_string(),
        date,
    })
}

/// Which parts of a trail bucket a scan needs.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

impl Scope {
    fn filtered(&self) -> bool {
        !self.accounts.is_empty()
            || !self.regions.is_empty()
            || self.since.is_some()
            || self.until.is_some()
    }
    fn account_ok(&self, a: &str) -> bool {
        self.accounts.is_empty() || self.accounts.iter().any(|x| x == a)
    }
    fn region_ok(&self, r: &str) -> bool {
        self.regions.is_empty() || self.regions.iter().any(|x| x == r)
    }
}

/// One step of listing: the lister lists `prefix` with delimiter "/" (CommonPrefixes) and feeds
/// back what it found with [`Plan::expand`], or lists everything under a final prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// List with delimiter "/" and give back the CommonPrefixes through [`Plan::expand`].
    Children(String),
    /// List all objects under this prefix recursively and keep those [`Plan::wants`].
    Objects(String),
}

/// How many levels above `AWSLogs/` a filtered plan looks for it before listing everything.
const SEARCH_DEPTH: u8 = 3;
/// Ranges longer than this many days list whole months with one prefix each.
const MONTHS_AFTER_DAYS: i32 = 62;

/// What the children of a `Step::Children` prefix are.
#[derive(Debug, Clone)]
enum Level {
    /// Above the layout, this many levels below the user's prefix: looking for `AWSLogs/`.
    Above(u8),
    AwsLogs,
    Org,
    Account,
    /// `CloudTrail/` or `CloudTrail-Insight/`: children are regions.
    Kind,
    /// A region, listed for its year folders because only `until` is set; the `String` is the
    /// part of the user's prefix below the region.
    Years(String),
}

/// A listing plan for `prefix` (the user's `s3://bucket/PREFIX`, possibly empty, possibly already
/// pointing inside the layout), pruned by `scope`.
///
/// A folder holding `AWSLogs/` is taken as the trail's root: its other folders are not read.
/// Above the layout, a folder without `AWSLogs/` is listed whole (`Objects`) when the scope has
/// no filter; with a filter, its subfolders are searched for `AWSLogs/`, 3 levels down at most.
/// [`Plan::next`] returns None when nothing can run until a pending `Children` step is fed back;
/// a sequential lister (run a step, feed it back, ask again) sees None only when done.
#[derive(Debug)]
pub struct Plan {
    scope: Scope,
    /// Oldest and newest `DD` folders wanted (since - 1 day, until + 1 day).
    lo: Option<Date>,
    hi: Option<Date>,
    /// The newest `DD` folder to list: `hi`, or the day after today (or after `since`).
    end: Option<Date>,
    steps: VecDeque<Step>,
    waiting: HashMap<String, Level>,
}

impl Plan {
    pub fn new(prefix: &str, scope: &Scope) -> Plan {
        let (since, hi) = (
            scope.since.map(utc_date),
            scope.until.map(utc_date).map(day_after),
        );
        let today = || utc_date(Timestamp::now());
        let mut plan = Plan {
            scope: scope.clone(),
            lo: since.map(day_before),
            hi,
            end: hi.or_else(|| since.map(|s| day_after(s.max(today())))),
            steps: VecDeque::new(),
            waiting: HashMap::new(),
        };
        plan.start(prefix);
        plan
    }

    /// The next step to run, or None when done.
    // Not an `Iterator`: None is not final while a `Children` step awaits `expand`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Step> {
        self.steps.pop_front()
    }

    /// Whether no step is queued and no `Children` step awaits [`Plan::expand`].
    pub fn is_done(&self) -> bool {
        self.steps.is_empty() && self.waiting.is_empty()
    }

    /// Feed the CommonPrefixes returned for a `Step::Children(p)` (full prefixes ending in "/").
    pub fn expand(&mut self, parent: &str, children: &[String]) {
        let Some(level) = self.waiting.remove(parent) else {
            return;
        };
        let ok = |c: &&String| c.len() > parent.len() && c.starts_with(parent) && c.ends_with('/');
        let kids: Vec<(&str, &str)> = children.iter().filter(ok).map(|c| split_last(c)).collect();
        match level {
            Level::Above(depth) => {
                let roots: Vec<_> = kids.iter().filter(|(_, s)| *s == "AWSLogs").collect();
                if !roots.is_empty() {
                    roots
                        .iter()
                        .for_each(|(c, _)| self.children(c, Level::AwsLogs));
                } else if self.scope.filtered() && depth < SEARCH_DEPTH && !kids.is_empty() {
                    // Keys outside the layout are unwanted under a filter: only look deeper.
                    kids.iter()
                        .for_each(|(c, _)| self.children(c, Level::Above(depth + 1)));
                } else {
                    self.objects(parent);
                }
            }
            Level::AwsLogs | Level::Org => {
                for (c, s) in &kids {
                    if matches!(level, Level::AwsLogs) && is_org(s) {
                        self.children(c, Level::Org);
                    } else if is_account(s) && self.scope.account_ok(s) {
                        self.children(c, Level::Account);
                    }
                }
            }
            Level::Account => {
                for (c, s) in &kids {
                    if matches!(Kind::from_folder(s), Some(Kind::Log | Kind::Insight)) {
                        self.children(c, Level::Kind);
                    }
                }
            }
            Level::Kind => {
                for (c, s) in &kids {
                    if is_region(s) && self.scope.region_ok(s) {
                        self.region(c, "");
                    }
                }
            }
            Level::Years(sub) => {
                let first = kids.iter().filter_map(|(_, s)| num(s, 4)).min();
                if let Some(start) = first.and_then(|y| Date::new(y, 1, 1).ok()) {
                    self.dated(parent, &sub, start);
                }
            }
        }
    }

    /// Whether an object key found by a `Step::Objects` listing is wanted (Log and Insight, never
    /// Digest; account, region, and date within since/until ± 1 day). Keys that do not follow the
    /// layout are wanted only when no scope filter is set.
    pub fn wants(&self, key: &str) -> bool {
        let Some(k) = parse_key(key) else {
            return !self.scope.filtered();
        };
        k.kind != Kind::Digest
            && self.scope.account_ok(&k.account)
            && self.scope.region_ok(&k.region)
            && self.lo.is_none_or(|lo| k.date >= lo)
            && self.hi.is_none_or(|hi| k.date <= hi)
    }

    /// Queues the first step for the user's prefix, after working out which level it ends at.
    fn start(&mut self, prefix: &str) {
        let segs: Vec<&str> = prefix.split('/').collect();
        // The last segment is partial ("" when the prefix ends in "/"); the others are folders.
        let dirs = &segs[..segs.len() - 1];
        let Some(at) = dirs.iter().position(|s| *s == "AWSLogs") else {
            return self.children(prefix, Level::Above(0));
        };
        let mut rest = &dirs[at + 1..];
        let mut level = Level::AwsLogs;
        if rest.first().is_some_and(|s| is_org(s)) {
            (level, rest) = (Level::Org, &rest[1..]);
        }
        if let Some(acct) = rest.first() {
            if !is_account(acct) {
                return self.objects(prefix);
            } else if !self.scope.account_ok(acct) {
                return;
            }
            (level, rest) = (Level::Account, &rest[1..]);
        }
        if let Some(kind) = rest.first() {
            match Kind::from_folder(kind) {
                None => return self.objects(prefix),
                Some(Kind::Digest) => return,
                Some(_) => (level, rest) = (Level::Kind, &rest[1..]),
            }
        }
        if let Some(region) = rest.first() {
            if !is_region(region) {
                return self.objects(prefix);
            } else if self.scope.region_ok(region) {
                let k = dirs.len() - rest.len();
                let len = dirs[..=k].iter().map(|s| s.len() + 1).sum();
                self.region(&prefix[..len], &prefix[len..]);
            }
            return;
        }
        self.children(prefix, level);
    }

    /// Queues the listing of region folder `r`, restricted to `sub` (a part of the user's prefix
    /// below the region, usually empty).
    fn region(&mut self, r: &str, sub: &str) {
        match (self.lo, self.end) {
            (None, None) => self.objects(&format!("{r}{sub}")),
            (None, Some(_)) => self.children(r, Level::Years(sub.to_string())),
            (Some(lo), _) => self.dated(r, sub, lo),
        }
    }

    /// Queues the date folders of region folder `r` from `start` to `self.end`, within `sub`.
    fn dated(&mut self, r: &str, sub: &str, start: Date) {
        let Some(end) = self.end else { return };
        for p in date_prefixes(start, end) {
            if p.starts_with(sub) {
                self.objects(&format!("{r}{p}"));
            } else if sub.starts_with(&p) {
                return self.objects(&format!("{r}{sub}"));
            }
        }
    }

    fn children(&mut self, prefix: &str, level: Level) {
        self.steps.push_back(Step::Children(prefix.to_string()));
        self.waiting.insert(prefix.to_string(), level);
    }

    fn objects(&mut self, prefix: &str) {
        self.steps.push_back(Step::Objects(prefix.to_string()));
    }
}

/// `YYYY/MM/DD/` for each day of `start..=end`; for long ranges, `YYYY/MM/` for whole months.
fn date_prefixes(start: Date, end: Date) -> Vec<String> {
    let long = start
        .until(end)
        .is_ok_and(|s| s.get_days() > MONTHS_AFTER_DAYS);
    let mut out = Vec::new();
    let mut d = start;
    while d <= end {
        if long && d.day() == 1 && d.last_of_month() <= end {
            out.push(format!("{:04}/{:02}/", d.year(), d.month()));
            d = d.last_of_month();
        } else {
            out.push(format!("{:04}/{:02}/{:02}/", d.year(), d.month(), d.day()));
        }
        let Ok(next) = d.tomorrow() else { break };
        d = next;
    }
    out
}

#[cfg(test)]
mod tests {
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
    fn run(
        bucket: &[String],
        prefix: &str,
        scope: &Scope,
    ) -> (Vec<String>, BTreeSet<String>, usize) {
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
        let digest =
            format!("AWSLogs/{A}/CloudTrail-Digest/us-gov-west-1/2026/01/31/{A}_x.json.gz");
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
}
