//! Following a trail as it arrives, for `watch`: each digest is checked against the digests of
//! its chain received before it, and the deliveries of digests and log files are timed, so that
//! a digest that fails, a chain that breaks or restarts, a digest that is late and an account
//! and region that went silent each raise an [`Alarm`]. Pure: the caller passes "now" in (Unix
//! seconds), reads the files, checks signatures (see [`super::keys`]) and keeps the state
//! ([`Tracker::changed`] hands back what to store).
//!
//! CloudTrail delivers one digest an hour per trail, account and region, even for an hour with
//! no log files, and stops when logging stops; so a digest is *late* when none has ended within
//! an hour and a margin of the last one. A chain is checked link by link: each digest names the
//! one before it with its hash and signature, and must start where it ended.

use super::digest::{Digest, DigestName};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many of a chain's newest digests are kept to check the links of digests that arrive out
/// of order (a backlog read in parallel): a day and a bit of hourly digests.
const KEEP: usize = 26;
/// How many distinct delivery hours of an account and region are remembered.
const HOURS: usize = 24;

/// When a delivery counts as late or missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// A digest is late when none has ended within an hour and this margin of the last one.
    pub late_after: i64,
    /// An account and region is silent after this long without a log file (`None`: never).
    pub silent_after: Option<i64>,
    /// ... once log files have arrived in at least this many distinct hours ("usually sends").
    pub usual_hours: usize,
}

/// A trail's chain in one account and region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChainKey {
    pub trail: String,
    pub account: String,
    pub region: String,
}

impl std::fmt::Display for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "trail {} in {} {}",
            self.trail, self.account, self.region
        )
    }
}

/// One digest as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// From `AWSLogs/` on.
    pub key: String,
    pub start: i64,
    pub end: i64,
    /// Hex SHA-256 of the uncompressed digest.
    pub hash: String,
    /// Its signature (hex), when one came with it.
    pub signature: Option<String>,
    /// The digest it names as the one before it: key, hash and signature.
    #[serde(default)]
    pub previous: Option<(String, String, String)>,
}

/// What is known of a chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    /// The newest digests received, oldest first.
    pub links: Vec<Link>,
    /// When the next digest was due, once reported late.
    pub late_since: Option<i64>,
    /// Digests named as previous by one received, not received themselves (yet): key, the
    /// digest naming it, and when that one arrived. Missing after the margin: the chain broke.
    #[serde(default)]
    pub expected: Vec<(String, String, i64)>,
}

/// What is known of an account and region's log deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// When the last log file arrived (this watcher's clock).
    pub last_at: i64,
    /// Distinct hours (Unix seconds) named by the log files received, newest last.
    pub hours: Vec<i64>,
    /// When it was reported silent.
    pub silent_since: Option<i64>,
}

/// How a digest's signature held up (checked by the caller, who has the keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    Valid,
    Invalid(String),
    /// An S3 object without its `x-amz-meta-signature`.
    Missing,
    /// No key or no signature source: not checked.
    NotChecked,
}

/// Something about the trail that people should hear of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alarm {
    /// The digest could not be read or is not a valid digest.
    Unreadable {
        chain: ChainKey,
        key: String,
        reason: String,
    },
    SignatureInvalid {
        chain: ChainKey,
        key: String,
        reason: String,
    },
    SignatureMissing {
        chain: ChainKey,
        key: String,
    },
    /// The digest does not join the one before it.
    ChainBroken {
        chain: ChainKey,
        key: String,
        reason: String,
    },
    /// A starting digest after others: the chain began again (logging or validation was off).
    ChainRestarted {
        chain: ChainKey,
        key: String,
        /// End of the last digest before it, and start of this one.
        since: i64,
        start: i64,
    },
    /// No digest has ended within an hour and the margin of the last one.
    DigestLate {
        chain: ChainKey,
        last_end: i64,
        due: i64,
    },
    /// A digest arrived after the chain was reported late.
    DigestResumed {
        chain: ChainKey,
        key: String,
        due: i64,
    },
    /// An account and region that usually sends log files has sent none for a while.
    Silent {
        account: String,
        region: String,
        last_at: i64,
        since: i64,
    },
    /// Log files arrive again after a silence.
    Resumed {
        account: String,
        region: String,
        silent_since: i64,
        key: String,
    },
}

/// The chains and deliveries followed, with what changed since last asked.
#[derive(Debug, Clone)]
pub struct Tracker {
    timing: Timing,
    /// When this watcher started: nothing is late or silent for having been unwatched.
    started: i64,
    chains: BTreeMap<ChainKey, Chain>,
    activity: BTreeMap<(String, String), Activity>,
    changed_chains: Vec<ChainKey>,
    changed_activity: Vec<(String, String)>,
}

/// What changed, to store: chains and activities by key.
pub type Changes = (Vec<(ChainKey, Chain)>, Vec<((String, String), Activity)>);

impl Tracker {
    pub fn new(timing: Timing, started: i64) -> Tracker {
        Tracker {
            timing,
            started,
            chains: BTreeMap::new(),
            activity: BTreeMap::new(),
            changed_chains: Vec::new(),
            changed_activity: Vec::new(),
        }
    }

    /// Takes back what was stored.
    pub fn restore(
        &mut self,
        chains: Vec<(ChainKey, Chain)>,
        activity: Vec<((String, String), Activity)>,
    ) {
        self.chains.extend(chains);
        self.activity.extend(activity);
    }

    pub fn chains(&self) -> usize {
        self.chains.len()
    }

    /// What changed since the last call.
    pub fn changed(&mut self) -> Changes {
        let mut chains: Vec<ChainKey> = std::mem::take(&mut self.changed_chains);
        chains.sort();
        chains.dedup();
        let mut activity = std::mem::take(&mut self.changed_activity);
        activity.sort();
        activity.dedup();
        (
            chains
                .into_iter()
                .filter_map(|k| self.chains.get(&k).map(|c| (k, c.clone())))
                .collect(),
            activity
                .into_iter()
                .filter_map(|k| self.activity.get(&k).map(|a| (k, a.clone())))
                .collect(),
        )
    }

    /// Takes in one digest: `key` from `AWSLogs/` on, `digest` as parsed (or why not).
    pub fn digest(
        &mut self,
        now: i64,
        key: &str,
        name: &DigestName,
        digest: &Result<Digest, String>,
        signature: Option<&str>,
        check: &Signature,
    ) -> Vec<Alarm> {
        let chain = ChainKey {
            trail: name.trail.clone(),
            account: name.account.clone(),
            region: name.region.clone(),
        };
        let mut alarms = Vec::new();
        let d = match digest {
            Ok(d) => d,
            Err(reason) => {
                alarms.push(Alarm::Unreadable {
                    chain,
                    key: key.to_string(),
                    reason: reason.clone(),
                });
                return alarms;
            }
        };
        match check {
            Signature::Invalid(reason) => alarms.push(Alarm::SignatureInvalid {
                chain: chain.clone(),
                key: key.to_string(),
                reason: reason.clone(),
            }),
            Signature::Missing => alarms.push(Alarm::SignatureMissing {
                chain: chain.clone(),
                key: key.to_string(),
            }),
            Signature::Valid | Signature::NotChecked => {}
        }
        if name.backfill {
            // Backfill digests stand outside the hourly chain.
            return alarms;
        }
        let state = self.chains.entry(chain.clone()).or_default();
        if state.links.iter().any(|l| l.key == key) {
            // Delivered again: checked the first time.
            return alarms;
        }
        let link = Link {
            key: key.to_string(),
            start: d.start.as_second(),
            end: d.end.as_second(),
            hash: d.hash.clone(),
            signature: signature.map(str::to_ascii_lowercase),
            previous: d
                .previous
                .as_ref()
                .map(|p| (p.key.clone(), p.hash.clone(), p.signature.clone())),
        };
        let (found, expect) = check_link(&chain, state, d, &link);
        alarms.extend(found);
        if let Some(previous) = expect {
            state.expected.push((previous, link.key.clone(), now));
        }
        state.expected.retain(|(k, _, _)| *k != link.key);
        alarms.extend(check_later(&chain, state, &link));
        if let Some(due) = state.late_since
            && link.end > state.links.last().map_or(i64::MIN, |l| l.end)
        {
            alarms.push(Alarm::DigestResumed {
                chain: chain.clone(),
                key: key.to_string(),
                due,
            });
            state.late_since = None;
        }
        state.links.push(link);
        state.links.sort_by_key(|l| l.end);
        if state.links.len() > KEEP {
            let extra = state.links.len() - KEEP;
            state.links.drain(..extra);
        }
        self.changed_chains.push(chain);
        alarms
    }

    /// Takes in one log file of `account` and `region`, named for `hour` when its name says.
    pub fn log_file(
        &mut self,
        now: i64,
        account: &str,
        region: &str,
        hour: Option<Timestamp>,
        key: &str,
    ) -> Vec<Alarm> {
        let id = (account.to_string(), region.to_string());
        let a = self.activity.entry(id.clone()).or_default();
        let mut alarms = Vec::new();
        if let Some(since) = a.silent_since.take() {
            alarms.push(Alarm::Resumed {
                account: account.to_string(),
                region: region.to_string(),
                silent_since: since,
                key: key.to_string(),
            });
        }
        a.last_at = a.last_at.max(now);
        if let Some(h) = hour {
            let h = h.as_second().div_euclid(3600) * 3600;
            if !a.hours.contains(&h) {
                a.hours.push(h);
                a.hours.sort_unstable();
                if a.hours.len() > HOURS {
                    a.hours.remove(0);
                }
            }
        }
        self.changed_activity.push(id);
        alarms
    }

    /// What is late or silent at `now`.
    pub fn tick(&mut self, now: i64) -> Vec<Alarm> {
        let t = self.timing;
        let mut alarms = Vec::new();
        for (key, c) in &mut self.chains {
            let before = c.expected.len();
            c.expected.retain(|(previous, by, at)| {
                if now - at <= t.late_after {
                    return true;
                }
                alarms.push(Alarm::ChainBroken {
                    chain: key.clone(),
                    key: by.clone(),
                    reason: format!(
                        "it names {previous} as the digest before it, which has not arrived"
                    ),
                });
                false
            });
            if c.expected.len() != before {
                self.changed_chains.push(key.clone());
            }
            let Some(last) = c.links.last() else { continue };
            if c.late_since.is_some() {
                continue;
            }
            let due = last.end + 3600 + t.late_after;
            if now > due.max(self.started + t.late_after) {
                alarms.push(Alarm::DigestLate {
                    chain: key.clone(),
                    last_end: last.end,
                    due,
                });
                c.late_since = Some(due);
                self.changed_chains.push(key.clone());
            }
        }
        if let Some(after) = t.silent_after {
            for ((account, region), a) in &mut self.activity {
                if a.silent_since.is_some() || a.hours.len() < t.usual_hours.max(1) {
                    continue;
                }
                if now - a.last_at.max(self.started) > after {
                    alarms.push(Alarm::Silent {
                        account: account.clone(),
                        region: region.clone(),
                        last_at: a.last_at,
                        since: now,
                    });
                    a.silent_since = Some(now);
                    self.changed_activity
                        .push((account.clone(), region.clone()));
                }
            }
        }
        alarms
    }
}

/// How a new digest joins the chain received so far: the alarms, and the previous digest to
/// expect when it has not been received (digests read in parallel may arrive out of order).
fn check_link(
    chain: &ChainKey,
    state: &Chain,
    d: &Digest,
    link: &Link,
) -> (Vec<Alarm>, Option<String>) {
    let broken = |reason: String| Alarm::ChainBroken {
        chain: chain.clone(),
        key: link.key.clone(),
        reason,
    };
    let Some(newest) = state.links.last() else {
        return (Vec::new(), None);
    };
    let alarms = match &d.previous {
        // Older than the newest: an out-of-order arrival, checked by the digests naming it.
        None if link.end <= newest.end => Vec::new(),
        None => {
            if link.start > newest.end - 60 {
                vec![Alarm::ChainRestarted {
                    chain: chain.clone(),
                    key: link.key.clone(),
                    since: newest.end,
                    start: link.start,
                }]
            } else {
                vec![broken(format!(
                    "a starting digest (no previous digest) for a period already covered by {}",
                    newest.key
                ))]
            }
        }
        Some(p) => match state.links.iter().find(|l| l.key == p.key) {
            Some(prev) => {
                let mut out = Vec::new();
                if prev.hash != p.hash {
                    out.push(broken(format!(
                        "previousDigestHashValue {} is not the SHA-256 of {} as received ({})",
                        p.hash, prev.key, prev.hash
                    )));
                }
                if let Some(sig) = &prev.signature
                    && *sig != p.signature
                {
                    out.push(broken(format!(
                        "previousDigestSignature is not the signature {} arrived with",
                        prev.key
                    )));
                }
                if out.is_empty() && (link.start - prev.end).abs() > 60 {
                    out.push(broken(format!(
                        "its period starts at {} but {} ended at {}",
                        time(link.start),
                        prev.key,
                        time(prev.end)
                    )));
                }
                out
            }
            None => {
                let named_end = super::digest::parse_name(&p.key).map(|n| n.end.as_second());
                let oldest = state.links.first().map_or(i64::MAX, |l| l.end);
                // Older than what is kept: nothing to compare. Otherwise it should come.
                return match named_end {
                    Some(e) if e < oldest => (Vec::new(), None),
                    _ => (Vec::new(), Some(p.key.clone())),
                };
            }
        },
    };
    (alarms, None)
}

/// Digests received before `link` that name it as their previous one (they arrived out of
/// order, so their link could not be checked then).
fn check_later(chain: &ChainKey, state: &Chain, link: &Link) -> Vec<Alarm> {
    let mut out = Vec::new();
    for later in &state.links {
        let Some((key, hash, signature)) = &later.previous else {
            continue;
        };
        if *key != link.key {
            continue;
        }
        let mut reason = None;
        if *hash != link.hash {
            reason = Some(format!(
                "previousDigestHashValue {hash} is not the SHA-256 of {} as received ({})",
                link.key, link.hash
            ));
        } else if let Some(sig) = &link.signature
            && sig != signature
        {
            reason = Some(format!(
                "previousDigestSignature is not the signature {} arrived with",
                link.key
            ));
        } else if (later.start - link.end).abs() > 60 {
            reason = Some(format!(
                "its period starts at {} but {} ended at {}",
                time(later.start),
                link.key,
                time(link.end)
            ));
        }
        if let Some(reason) = reason {
            out.push(Alarm::ChainBroken {
                chain: chain.clone(),
                key: later.key.clone(),
                reason,
            });
        }
    }
    out
}

/// A Unix time as RFC 3339.
pub fn time(secs: i64) -> String {
    Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| secs.to_string())
}

#[cfg(test)]
mod tests;
