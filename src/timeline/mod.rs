//! `trailwatch timeline`: the events a search matched, grouped by actor, session or source
//! address, each group in time order with what it touched (accounts, regions, services), its
//! errors and its findings.
//!
//! Grouping is pure: [`build`] takes the hits of [`crate::search`] (read with the fixed columns
//! of [`FIELDS`]) and returns the groups in the order a responder reads them — groups with
//! findings first, the most severe first, then by first appearance. `--from-finding` keeps,
//! in each group, the events from its first finding on ("what did it do after the alert"),
//! and counts the ones left out.

use crate::catalog::Severity;
use crate::search::Hit;
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The columns a timeline query reads, in this order (see the `COL_*` indices).
pub const FIELDS: &str = "time,event,source,account,region,actor,actor_type,access_key,source_ip,\
     user_agent,error,event_id,location,userIdentity.sessionContext.attributes.creationDate";

pub const COL_TIME: usize = 0;
pub const COL_EVENT: usize = 1;
pub const COL_SOURCE: usize = 2;
pub const COL_ACCOUNT: usize = 3;
pub const COL_REGION: usize = 4;
pub const COL_ACTOR: usize = 5;
pub const COL_ACTOR_TYPE: usize = 6;
pub const COL_ACCESS_KEY: usize = 7;
pub const COL_SOURCE_IP: usize = 8;
pub const COL_USER_AGENT: usize = 9;
pub const COL_ERROR: usize = 10;
pub const COL_EVENT_ID: usize = 11;
pub const COL_LOCATION: usize = 12;
const COL_SESSION_START: usize = 13;

/// What events are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The principal (its ARN, or the best description of who acted).
    Actor,
    /// The access key of the call (one per role session), else the principal and the time its
    /// session began.
    Session,
    /// `sourceIPAddress` (an address, or the AWS service that called).
    Ip,
}

impl By {
    pub fn as_str(self) -> &'static str {
        match self {
            By::Actor => "actor",
            By::Session => "session",
            By::Ip => "ip",
        }
    }

    /// The group an event belongs to.
    pub fn key(self, hit: &Hit) -> String {
        let cell = |i: usize| hit.cells.get(i).and_then(|c| c.as_deref());
        let key = match self {
            By::Actor => cell(COL_ACTOR).map(str::to_string),
            By::Ip => cell(COL_SOURCE_IP).map(str::to_string),
            By::Session => cell(COL_ACCESS_KEY)
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .or_else(|| {
                    let actor = cell(COL_ACTOR)?;
                    Some(match cell(COL_SESSION_START) {
                        Some(start) => format!("{actor} @ {start}"),
                        None => actor.to_string(),
                    })
                }),
        };
        key.filter(|k| !k.is_empty())
            .unwrap_or_else(|| "(unknown)".to_string())
    }
}

/// How groups are formed and cut.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub by: By,
    /// Each group from its first finding on.
    pub from_finding: bool,
    /// Only groups with at least one finding.
    pub flagged: bool,
}

/// The events of one actor, session or address, and what they add up to. The counts and
/// lists cover every event of the group that the filters kept, also those `--from-finding`
/// leaves out.
#[derive(Debug, Clone)]
pub struct Group {
    pub by: By,
    pub key: String,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    pub events: usize,
    /// Events with a finding.
    pub findings: usize,
    /// The highest severity of its findings.
    pub severity: Option<Severity>,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    /// Services by short name (`iam`, `s3`), from `eventSource`.
    pub services: Vec<String>,
    pub actors: Vec<String>,
    pub source_ips: Vec<String>,
    /// Failed calls, and how many of each error code, the most frequent first.
    pub errors: usize,
    pub error_codes: Vec<(String, usize)>,
    /// Events before the first finding, left out by `--from-finding`.
    pub hidden: usize,
    /// The events shown, in time order (events without a readable time last).
    pub hits: Vec<Hit>,
}

/// A service's short name: `iam` for `iam.amazonaws.com`.
pub fn service(event_source: &str) -> &str {
    event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(event_source)
}

/// Groups `hits` (read with [`FIELDS`]) and orders the groups.
pub fn build(hits: Vec<Hit>, opts: Options) -> Vec<Group> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut members: Vec<(String, Vec<Hit>)> = Vec::new();
    for hit in hits {
        let key = opts.by.key(&hit);
        let i = *index.entry(key.clone()).or_insert_with(|| {
            members.push((key, Vec::new()));
            members.len() - 1
        });
        members[i].1.push(hit);
    }
    let mut groups: Vec<Group> = members
        .into_iter()
        .map(|(key, hits)| group(opts, key, hits))
        .filter(|g| !opts.flagged || g.findings > 0)
        .collect();
    groups.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| (a.first.is_none(), a.first).cmp(&(b.first.is_none(), b.first)))
            .then_with(|| a.key.cmp(&b.key))
    });
    groups
}

fn group(opts: Options, key: String, mut hits: Vec<Hit>) -> Group {
    // Stable: events of one instant stay in the order read.
    hits.sort_by_key(|h| (h.time.is_none(), h.time));
    let mut sets: [BTreeSet<String>; 5] = Default::default();
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    let (mut errors, mut findings, mut severity) = (0, 0, None);
    for h in &hits {
        let cell = |i: usize| h.cells.get(i).and_then(|c| c.as_deref());
        for (set, col) in sets.iter_mut().zip([
            COL_ACCOUNT,
            COL_REGION,
            COL_SOURCE,
            COL_ACTOR,
            COL_SOURCE_IP,
        ]) {
            if let Some(v) = cell(col).filter(|v| !v.is_empty()) {
                let v = if col == COL_SOURCE { service(v) } else { v };
                if !set.contains(v) {
                    set.insert(v.to_string());
                }
            }
        }
        if let Some(code) = cell(COL_ERROR).filter(|c| !c.is_empty()) {
            errors += 1;
            *codes.entry(code.to_string()).or_default() += 1;
        }
        if let Some(e) = &h.explained {
            findings += 1;
            severity = severity.max(Some(e.severity));
        }
    }
    let mut error_codes: Vec<(String, usize)> = codes.into_iter().collect();
    error_codes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let first = hits.iter().find_map(|h| h.time);
    let last = hits.iter().rev().find_map(|h| h.time);
    let events = hits.len();
    let mut hidden = 0;
    if opts.from_finding
        && let Some(at) = hits.iter().position(|h| h.explained.is_some())
    {
        hidden = at;
        hits.drain(..at);
    }
    let [accounts, regions, services, actors, source_ips] = sets.map(|s| s.into_iter().collect());
    Group {
        by: opts.by,
        key,
        first,
        last,
        events,
        findings,
        severity,
        accounts,
        regions,
        services,
        actors,
        source_ips,
        errors,
        error_codes,
        hidden,
        hits,
    }
}

#[cfg(test)]
mod tests;
