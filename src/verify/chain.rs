//! Chain and gap analysis: from what was read (digests, log-file hashes, trail events) to the
//! per-trail summary and the list of problems. Pure: no I/O, nothing read here.
//!
//! Per trail, account and region, the regular digests are put in time order and each is checked
//! against the one before it: `previousDigestS3Object` must name it, `previousDigestHashValue`
//! must be its SHA-256 and `previousDigestSignature` its signature; periods must join. A digest
//! whose previous digest is absent means deleted digests; a starting digest after others means
//! the chain restarted, which CloudTrail's own `StopLogging`/`StartLogging`/`DeleteTrail`/
//! `UpdateTrail` events may explain. Backfill digests stand outside the hourly chain: they are
//! signed like the others and the log files they list count as digested.
//!
//! A digest's signature comes from its S3 metadata or sidecar, else from the next digest's
//! `previousDigestSignature` (as AWS's offline validation guide describes).

use super::digest::{Digest, Sha256Hash, log_time};
use super::events::{Effect, TrailEvent};
use super::keys::PublicKeys;
use crate::source::layout::parse_key;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// How far apart two periods may be and still join (CloudTrail writes whole seconds).
const JOIN_SLACK: SignedDuration = SignedDuration::from_secs(2);
/// Log files named this close to the last digest's end may still be waiting for a digest.
const PENDING: SignedDuration = SignedDuration::from_mins(30);
/// How far before a gap a stop event is looked for, and after it a start event.
const EVENT_SLACK: SignedDuration = SignedDuration::from_mins(90);

/// A trail in one account and region (digests name all four).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TrailKey {
    pub trail: String,
    pub account: String,
    pub region: String,
}

impl std::fmt::Display for TrailKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.trail, self.account, self.region)
    }
}

/// One digest as read.
#[derive(Debug, Clone)]
pub struct DigestInput {
    /// As shown to users: the path, or `s3://bucket/key`.
    pub name: String,
    /// From `AWSLogs/` on.
    pub key: String,
    pub trail: TrailKey,
    pub backfill: bool,
    /// The digest's end time from its file name (used when its content is unreadable).
    pub end: Timestamp,
    pub digest: Result<Digest, String>,
    /// From S3 metadata or the sidecar.
    pub signature: Option<String>,
    /// Bucket the digest was read from (S3 inputs only), to check `digestS3Bucket`.
    pub bucket: Option<String>,
}

/// One log file as read (keyed by its `AWSLogs/...` key): the SHA-256 of its uncompressed
/// content, or why it is unreadable. Kept small, as there is one per file: the name shown to
/// users is `prefix` + key, with `prefix` shared by every file of one folder or bucket.
#[derive(Debug, Clone)]
pub struct LogInput {
    pub prefix: Arc<str>,
    pub hash: Result<Sha256Hash, Box<str>>,
}

impl LogInput {
    /// The path or `s3://` URL users know the file by.
    pub fn name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// What kind of problem (or notice) a line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    DigestUnreadable,
    DigestMoved,
    SignatureMissing,
    SignatureInvalid,
    DigestMissing,
    ChainBroken,
    Gap,
    LogMissing,
    LogModified,
    LogUnreadable,
    LogUndigested,
    NoDigests,
    // Notices: shown, not failures.
    GapExplained,
    LogPending,
    LogBeforeChain,
}

impl Kind {
    pub fn is_notice(self) -> bool {
        matches!(
            self,
            Kind::GapExplained | Kind::LogPending | Kind::LogBeforeChain
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::DigestUnreadable => "digest-unreadable",
            Kind::DigestMoved => "digest-moved",
            Kind::SignatureMissing => "signature-missing",
            Kind::SignatureInvalid => "signature-invalid",
            Kind::DigestMissing => "digest-missing",
            Kind::ChainBroken => "chain-broken",
            Kind::Gap => "gap",
            Kind::LogMissing => "log-missing",
            Kind::LogModified => "log-modified",
            Kind::LogUnreadable => "log-unreadable",
            Kind::LogUndigested => "log-undigested",
            Kind::NoDigests => "no-digests",
            Kind::GapExplained => "gap-explained",
            Kind::LogPending => "log-pending",
            Kind::LogBeforeChain => "log-before-chain",
        }
    }
}

/// One line of the report: a problem, or a notice when `kind.is_notice()`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: Kind,
    /// `trail account region`, or `account region` for log files no trail covers.
    pub scope: String,
    pub object: String,
    pub reason: String,
}

/// The summary line of one trail, account and region.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrailSummary {
    pub trail: String,
    pub account: String,
    pub region: String,
    #[serde(serialize_with = "time_or_null")]
    pub first: Option<Timestamp>,
    #[serde(serialize_with = "time_or_null")]
    pub last: Option<Timestamp>,
    pub digests: u64,
    pub backfill_digests: u64,
    pub empty_digests: u64,
    pub signatures_verified: u64,
    pub files_listed: u64,
    pub files_verified: u64,
    pub problems: u64,
}

fn time_or_null<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.collect_str(t),
        None => s.serialize_none(),
    }
}

/// The whole result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Analysis {
    pub trails: Vec<TrailSummary>,
    pub problems: Vec<Problem>,
    pub notices: Vec<Problem>,
}

/// What a run asked for: a time range to hold digests for, and keys.
#[derive(Debug, Clone, Copy, Default)]
pub struct Range {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

struct Ctx<'a> {
    keys: &'a PublicKeys,
    events: &'a [TrailEvent],
    out: Vec<Problem>,
    /// Unexplained spans without digests: (account, region, from, to).
    holes: Vec<(String, String, Timestamp, Timestamp)>,
}

impl Ctx<'_> {
    fn push(&mut self, kind: Kind, scope: &dyn ToString, object: &str, reason: String) {
        self.out.push(Problem {
            kind,
            scope: scope.to_string(),
            object: object.to_string(),
            reason,
        });
    }

    /// Explains a gap of trail `name` from `from` to `to` (None: open-ended) by trail events.
    fn explain(&self, name: &str, from: Timestamp, to: Option<Timestamp>) -> Option<String> {
        let lo = from - EVENT_SLACK;
        let hi = to.unwrap_or(Timestamp::MAX);
        let about = |e: &&TrailEvent| e.is_about(name);
        let stop = self
            .events
            .iter()
            .filter(about)
            .filter(|e| e.effect == Effect::Stop && e.time >= lo && e.time <= hi)
            .min_by_key(|e| e.time)?;
        let until = to.map(|t| t + EVENT_SLACK).unwrap_or(Timestamp::MAX);
        let start = self
            .events
            .iter()
            .filter(about)
            .filter(|e| e.effect == Effect::Start && e.time >= stop.time && e.time <= until)
            .min_by_key(|e| e.time);
        let mut s = format!(
            "logging stopped by {} at {} ({})",
            stop.actor, stop.time, stop.name
        );
        match start {
            Some(e) => s += &format!(", restarted by {} at {} ({})", e.actor, e.time, e.name),
            None => s += ", not restarted in the logs read",
        }
        Some(s)
    }

    /// Reports a gap, explained (a notice) or not (a problem).
    fn gap(&mut self, t: &TrailKey, object: &str, from: Timestamp, to: Option<Timestamp>) {
        let span = match to {
            Some(to) => format!("no digest from {from} to {to} ({})", hours(to - from)),
            None => format!("no digest after {from}"),
        };
        match self.explain(&t.trail, from, to) {
            Some(why) => self.push(Kind::GapExplained, t, object, format!("{span}: {why}")),
            None => {
                let to = to.unwrap_or(Timestamp::MAX);
                self.holes
                    .push((t.account.clone(), t.region.clone(), from, to));
                self.push(
                    Kind::Gap,
                    t,
                    object,
                    format!("{span}, and no StopLogging/DeleteTrail/UpdateTrail event explains it"),
                )
            }
        }
    }
}

fn hours(d: SignedDuration) -> String {
    let h = d.as_secs_f64() / 3600.0;
    format!("{h:.1} h")
}

/// Runs the analysis.
pub fn analyse(
    digests: &[DigestInput],
    logs: &HashMap<String, LogInput>,
    events: &[TrailEvent],
    keys: &PublicKeys,
    range: Range,
) -> Analysis {
    let mut ctx = Ctx {
        keys,
        events,
        out: Vec::new(),
        holes: Vec::new(),
    };
    let mut groups: BTreeMap<&TrailKey, Vec<&DigestInput>> = BTreeMap::new();
    for d in digests {
        groups.entry(&d.trail).or_default().push(d);
    }
    let present: HashMap<&str, &DigestInput> =
        digests.iter().map(|d| (d.key.as_str(), d)).collect();
    // Log key -> (expected hash, digest that lists it).
    let mut listed: HashMap<&str, (Sha256Hash, &DigestInput)> = HashMap::new();
    let mut summaries: BTreeMap<&TrailKey, TrailSummary> = BTreeMap::new();
    for (trail, mut group) in groups {
        group.sort_by_key(|d| {
            (
                d.digest.as_ref().map(|x| x.end).unwrap_or(d.end),
                d.backfill,
            )
        });
        let sum = summaries.entry(trail).or_insert_with(|| TrailSummary {
            trail: trail.trail.clone(),
            account: trail.account.clone(),
            region: trail.region.clone(),
            ..TrailSummary::default()
        });
        check_trail(&mut ctx, trail, &group, &present, sum, range);
        for d in &group {
            if let Ok(x) = &d.digest {
                for (k, h) in &x.logs {
                    listed.insert(k, (*h, d));
                }
            }
        }
    }
    check_logs(&mut ctx, logs, &listed, &mut summaries, range);
    let mut analysis = Analysis::default();
    let scopes: HashMap<String, &TrailKey> = summaries
        .keys()
        .flat_map(|k| {
            [
                (k.to_string(), *k),
                (format!("{} {}", k.account, k.region), *k),
            ]
        })
        .rev()
        .collect();
    for p in ctx.out {
        if p.kind.is_notice() {
            analysis.notices.push(p);
            continue;
        }
        if let Some(s) = scopes.get(&p.scope).and_then(|k| summaries.get_mut(k)) {
            s.problems += 1;
        }
        analysis.problems.push(p);
    }
    analysis.trails = summaries.into_values().collect();
    analysis
}

fn check_trail(
    ctx: &mut Ctx,
    trail: &TrailKey,
    group: &[&DigestInput],
    present: &HashMap<&str, &DigestInput>,
    sum: &mut TrailSummary,
    range: Range,
) {
    // Regular digests in order, readable ones only (unreadable ones are reported and skipped).
    let mut chain: Vec<(&DigestInput, &Digest)> = Vec::new();
    for d in group {
        sum.digests += 1;
        let x = match &d.digest {
            Ok(x) => x,
            Err(e) => {
                ctx.push(Kind::DigestUnreadable, trail, &d.name, e.clone());
                continue;
            }
        };
        if super::digest::logical_key(&x.object) != d.key
            || d.bucket.as_ref().is_some_and(|b| *b != x.bucket)
        {
            let reason = format!(
                "says it is s3://{}/{}: moved or copied from elsewhere",
                x.bucket, x.object
            );
            ctx.push(Kind::DigestMoved, trail, &d.name, reason);
        }
        sum.files_listed += x.logs.len() as u64;
        sum.empty_digests += u64::from(x.logs.is_empty());
        sum.first = Some(sum.first.map_or(x.start, |f| f.min(x.start)));
        sum.last = Some(sum.last.map_or(x.end, |l| l.max(x.end)));
        if d.backfill {
            sum.backfill_digests += 1;
            verify_signature(ctx, trail, d, x, d.signature.as_deref(), sum);
        } else {
            chain.push((d, x));
        }
    }
    for i in 0..chain.len() {
        let (d, x) = chain[i];
        // The signature: own, else the one the next digest records for this one.
        let next = chain
            .get(i + 1)
            .and_then(|(_, n)| n.previous.as_ref())
            .filter(|p| p.key == d.key);
        let signature = d
            .signature
            .as_deref()
            .or(next.map(|p| p.signature.as_str()));
        verify_signature(ctx, trail, d, x, signature, sum);
        if i == 0 {
            if let Some(since) = range.since
                && x.start > since + JOIN_SLACK + SignedDuration::from_hours(1)
            {
                ctx.gap(trail, &d.name, since, Some(x.start));
            }
            continue;
        }
        let (pd, px) = chain[i - 1];
        match &x.previous {
            None => ctx.gap(trail, &d.name, px.end, Some(x.start)),
            Some(p) if p.key == pd.key => {
                if p.hash != px.hash {
                    let reason = format!(
                        "previousDigestHashValue {} is not the SHA-256 of {} ({}): one of them was modified",
                        p.hash, pd.name, px.hash
                    );
                    ctx.push(Kind::ChainBroken, trail, &d.name, reason);
                } else if pd
                    .signature
                    .as_ref()
                    .is_some_and(|s| !s.eq_ignore_ascii_case(&p.signature))
                {
                    let reason = format!(
                        "previousDigestSignature differs from the signature of {}",
                        pd.name
                    );
                    ctx.push(Kind::ChainBroken, trail, &d.name, reason);
                }
                if (x.start - px.end).abs() > JOIN_SLACK {
                    let reason = format!(
                        "period starts at {} but the previous digest ends at {}: periods do not join",
                        x.start, px.end
                    );
                    ctx.push(Kind::Gap, trail, &d.name, reason);
                }
            }
            Some(p) => match present.get(p.key.as_str()) {
                // Unreadable, and reported as such: the link cannot be checked.
                Some(other) if other.digest.is_err() => {}
                Some(other) => {
                    let reason = format!(
                        "previous digest is {}, not the digest before it in time ({})",
                        other.name, pd.name
                    );
                    ctx.push(Kind::ChainBroken, trail, &d.name, reason);
                }
                None => {
                    ctx.holes
                        .push((trail.account.clone(), trail.region.clone(), px.end, x.start));
                    let reason = format!(
                        "named as previous digest by {}, not found: no digest from {} to {} ({})",
                        d.name,
                        px.end,
                        x.start,
                        hours(x.start - px.end)
                    );
                    ctx.push(Kind::DigestMissing, trail, &p.key, reason);
                }
            },
        }
    }
    if let (Some(until), Some((d, x))) = (range.until, chain.last())
        && x.end + SignedDuration::from_hours(1) + JOIN_SLACK < until
    {
        ctx.gap(trail, &d.name, x.end, None);
    }
}

fn verify_signature(
    ctx: &mut Ctx,
    trail: &TrailKey,
    d: &DigestInput,
    x: &Digest,
    signature: Option<&str>,
    sum: &mut TrailSummary,
) {
    let Some(sig) = signature else {
        let reason = "no signature: none in its metadata or sidecar, and no later digest names it \
                      (see verify --fetch-signatures)";
        return ctx.push(Kind::SignatureMissing, trail, &d.name, reason.into());
    };
    match ctx
        .keys
        .verify(&x.fingerprint, x.signing_string.as_bytes(), sig)
    {
        Ok(()) => sum.signatures_verified += 1,
        Err(e) => ctx.push(Kind::SignatureInvalid, trail, &d.name, e.to_string()),
    }
}

fn check_logs(
    ctx: &mut Ctx,
    logs: &HashMap<String, LogInput>,
    listed: &HashMap<&str, (Sha256Hash, &DigestInput)>,
    summaries: &mut BTreeMap<&TrailKey, TrailSummary>,
    range: Range,
) {
    let mut sorted: Vec<(&&str, &(Sha256Hash, &DigestInput))> = listed.iter().collect();
    sorted.sort_by_key(|(k, _)| **k);
    for (key, (expected, by)) in sorted {
        let sum = summaries.get_mut(&by.trail);
        match logs.get(*key) {
            None => ctx.push(
                Kind::LogMissing,
                &by.trail,
                key,
                format!("listed in {} but not found: deleted?", by.name),
            ),
            Some(l) => match &l.hash {
                Err(e) => ctx.push(Kind::LogUnreadable, &by.trail, &l.name(key), e.to_string()),
                Ok(h) if h != expected => ctx.push(
                    Kind::LogModified,
                    &by.trail,
                    &l.name(key),
                    format!("SHA-256 {h}, but {} lists {expected}: modified", by.name),
                ),
                Ok(_) => {
                    if let Some(s) = sum {
                        s.files_verified += 1;
                    }
                }
            },
        }
    }
    // Log files no digest lists, by account and region, against the span the digests cover.
    let mut spans: HashMap<(&str, &str), (Timestamp, Timestamp)> = HashMap::new();
    for s in summaries.values() {
        if let (Some(f), Some(l)) = (s.first, s.last) {
            let e = spans.entry((&s.account, &s.region)).or_insert((f, l));
            *e = (e.0.min(f), e.1.max(l));
        }
    }
    let mut unlisted: Vec<(&String, &LogInput)> = logs
        .iter()
        .filter(|(k, _)| !listed.contains_key(k.as_str()))
        .collect();
    unlisted.sort_by_key(|(k, _)| *k);
    let mut pending: BTreeMap<String, u64> = BTreeMap::new();
    let mut before: BTreeMap<String, u64> = BTreeMap::new();
    let mut uncovered: BTreeMap<String, u64> = BTreeMap::new();
    for (key, l) in unlisted {
        // Every key in `logs` was taken in for its layout, so it parses.
        let Some(info) = parse_key(key) else { continue };
        let (account, region) = (info.account.as_str(), info.region.as_str());
        let scope = format!("{account} {region}");
        let t = log_time(key);
        if t.is_some_and(|t| {
            range.since.is_some_and(|s| t < s) || range.until.is_some_and(|u| t >= u)
        }) {
            continue;
        }
        let Some(&(first, last)) = spans.get(&(account, region)) else {
            *uncovered.entry(scope).or_default() += 1;
            continue;
        };
        match t {
            Some(t) if t + PENDING > last => *pending.entry(scope).or_default() += 1,
            Some(t) if t < first => *before.entry(scope).or_default() += 1,
            _ => {
                let in_hole = t.is_some_and(|t| {
                    ctx.holes.iter().any(|(a, r, from, to)| {
                        a == account && r == region && t + PENDING >= *from && t <= *to
                    })
                });
                let reason = if in_hole {
                    "present but listed by no digest: the digest of its hour is missing"
                } else {
                    "present but listed by no digest: added after delivery?"
                };
                ctx.push(Kind::LogUndigested, &scope, &l.name(key), reason.into())
            }
        }
    }
    for (scope, n) in uncovered {
        let reason = format!(
            "{n} log file(s) and no digest for this account and region: nothing proves them"
        );
        ctx.push(Kind::NoDigests, &scope, "-", reason);
    }
    for (scope, n) in pending {
        let reason = format!(
            "{n} log file(s) newer than the last digest read: not digested yet, or their digests were not read"
        );
        ctx.push(Kind::LogPending, &scope, "-", reason);
    }
    for (scope, n) in before {
        let reason = format!(
            "{n} log file(s) older than the first digest read: delivered before validation, or their digests were not read"
        );
        ctx.push(Kind::LogBeforeChain, &scope, "-", reason);
    }
}

#[cfg(test)]
mod tests;
