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
    /// The CloudTrail folders listed: logs and Insights unless [`Plan::with_kinds`] says.
    kinds: Vec<Kind>,
}

impl Plan {
    pub fn new(prefix: &str, scope: &Scope) -> Plan {
        Plan::with_kinds(prefix, scope, &[Kind::Log, Kind::Insight])
    }

    /// A plan that lists the folders of `kinds` (e.g. logs and digests, for `verify`).
    pub fn with_kinds(prefix: &str, scope: &Scope, kinds: &[Kind]) -> Plan {
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
            kinds: kinds.to_vec(),
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
                    if Kind::from_folder(s).is_some_and(|k| self.kinds.contains(&k)) {
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
    /// Digest, unless [`Plan::with_kinds`] chose other kinds; account, region, and date within since/until ± 1 day). Keys that do not follow the
    /// layout are wanted only when no scope filter is set.
    pub fn wants(&self, key: &str) -> bool {
        let Some(k) = parse_key(key) else {
            return !self.scope.filtered();
        };
        self.kinds.contains(&k.kind)
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
                Some(k) if !self.kinds.contains(&k) => return,
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
mod tests;
