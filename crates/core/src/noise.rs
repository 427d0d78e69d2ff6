//! Noise control over time: dedup windows and thresholds.
//!
//! Suppressions are stateless, live with the rules ([`crate::rules::Suppression`]) and are decided
//! where the record is at hand (the engine, in parallel). Dedup and thresholds need history: the engine writes each finding's dedup key and
//! threshold group into it, and [`Noise`] decides in order, one finding at a time, using event
//! times (not arrival times) so a scan of old logs behaves like the live stream did. Pure: the
//! caller gives today's date and keeps (or persists) the state.

use crate::finding::Finding;
pub use crate::rules::Policy;
use jiff::Timestamp;
use std::collections::HashMap;

/// What [`Noise`] decided about a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Emit,
    /// A repeat within the dedup window that the finding numbered `into` opened.
    Folded {
        into: u64,
    },
    /// A threshold rule's match that has not reached its count (yet).
    Pending,
}

/// Counts for the summary.
#[derive(Debug, Default, Clone)]
pub struct NoiseStats {
    /// Repeats folded into an earlier finding by a dedup window.
    pub folded: u64,
    /// Threshold matches that did not (yet) reach their count.
    pub pending: u64,
}

/// Dedup windows and threshold counters, in event-time order.
#[derive(Debug, Default)]
pub struct Noise {
    /// Whether rules' dedup windows apply (`scan --dedup`, and always in `watch`); thresholds
    /// always do.
    pub dedup_enabled: bool,
    /// (rule id, key) → event time and number of the finding that opened the window.
    dedup: HashMap<(String, String), (Timestamp, u64)>,
    windows: u64,
    /// (rule id, group) → event times seen, sorted.
    counts: HashMap<(String, String), Vec<Timestamp>>,
    pub stats: NoiseStats,
}

impl Noise {
    /// Noise control with dedup windows on or off.
    pub fn new(dedup_enabled: bool) -> Noise {
        Noise {
            dedup_enabled,
            ..Noise::default()
        }
    }

    /// Decides one finding; may set its `count`, `first_time`, `last_time` and `window`.
    pub fn judge(&mut self, policy: Policy, f: &mut Finding) -> Verdict {
        if let (Some((count, window)), Some(t)) = (policy.threshold, f.time) {
            let group = f.group_key.clone().unwrap_or_default();
            let times = self.counts.entry((f.rule_id.clone(), group)).or_default();
            let at = times.partition_point(|x| *x <= t);
            times.insert(at, t);
            let window =
                jiff::SignedDuration::try_from(window).unwrap_or(jiff::SignedDuration::MAX);
            // Forget what can no longer share a window with anything newer.
            let newest = *times.last().unwrap_or(&t);
            times.retain(|x| newest.duration_since(*x) <= window * 4);
            // Any window of this length that holds `t` and at least `count` times fires.
            let hit = times.iter().enumerate().find_map(|(i, start)| {
                let end = start.checked_add(window).unwrap_or(Timestamp::MAX);
                let inside = times[i..].iter().take_while(|x| **x <= end).count();
                (*start <= t && t <= end && inside >= count as usize)
                    .then(|| times[i..i + inside].to_vec())
            });
            let Some(in_window) = hit else {
                self.stats.pending += 1;
                return Verdict::Pending;
            };
            f.count = Some(in_window.len() as u64);
            f.first_time = in_window.first().map(|t| crate::record::time::format(*t));
            f.last_time = in_window.last().map(|t| crate::record::time::format(*t));
            times.clear();
        } else if policy.threshold.is_some() {
            // Without a readable eventTime a record cannot be placed in a window.
            self.stats.pending += 1;
            return Verdict::Pending;
        }
        if let (true, Some(window), Some(t), Some(key)) = (
            self.dedup_enabled,
            policy.dedup,
            f.time,
            f.dedup_key.clone(),
        ) {
            let window =
                jiff::SignedDuration::try_from(window).unwrap_or(jiff::SignedDuration::MAX);
            let slot = (f.rule_id.clone(), key);
            match self.dedup.get(&slot) {
                Some((open, into)) if t >= *open && t.duration_since(*open) < window => {
                    self.stats.folded += 1;
                    return Verdict::Folded { into: *into };
                }
                _ => {
                    self.windows += 1;
                    f.window = Some(self.windows);
                    self.dedup.insert(slot, (t, self.windows));
                }
            }
        }
        Verdict::Emit
    }
}

/// The repeats a dedup window folded into the finding that opened it: how many, and the
/// earliest and latest of their event times. The one fold of repeats, whether they are held in
/// memory (`scan --dedup`) or stored (`watch`, which keeps `count` and `last_time`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repeats {
    pub count: u64,
    pub first_time: Option<String>,
    pub last_time: Option<String>,
}

impl Repeats {
    /// Folds in one more repeat, with its event time (RFC 3339 in UTC, which compares as text).
    pub fn add(&mut self, time: Option<&str>) {
        self.count += 1;
        if let Some(t) = time {
            if self.last_time.as_deref().is_none_or(|l| t > l) {
                self.last_time = Some(t.to_string());
            }
            if self.first_time.as_deref().is_none_or(|f| t < f) {
                self.first_time = Some(t.to_string());
            }
        }
    }

    /// Counts the repeats into the finding they folded into: `count` (the finding itself, or
    /// what a threshold already counted, plus the repeats) and the span of event times.
    pub fn apply(&self, f: &mut Finding) {
        if self.count == 0 {
            return;
        }
        if f.count.is_none() {
            f.first_time = f.event_time.clone();
            f.last_time = f.event_time.clone();
        }
        f.count = Some(f.count.unwrap_or(1) + self.count);
        let earliest = |a: Option<String>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) if b < &a => Some(b.clone()),
            (None, b) => b.clone(),
            (a, _) => a,
        };
        let latest = |a: Option<String>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) if b > &a => Some(b.clone()),
            (None, b) => b.clone(),
            (a, _) => a,
        };
        f.first_time = earliest(f.first_time.take(), &self.first_time);
        f.last_time = latest(f.last_time.take(), &self.last_time);
    }
}

/// The persistent part of [`Noise`], as stored by `watch` between inputs.
#[derive(serde::Serialize, serde::Deserialize)]
struct Snapshot {
    /// (rule id, key, opened at in ns, window number)
    dedup: Vec<(String, String, i128, u64)>,
    /// (rule id, group, times in ns)
    counts: Vec<(String, String, Vec<i128>)>,
    windows: u64,
}

impl Noise {
    /// The dedup windows and threshold counters as bytes, forgetting what started before `keep_after`
    /// (no window or count that old can matter again).
    pub fn snapshot(&mut self, keep_after: Timestamp) -> Vec<u8> {
        self.dedup.retain(|_, (t, _)| *t >= keep_after);
        self.counts.retain(|_, times| {
            times.retain(|t| *t >= keep_after);
            !times.is_empty()
        });
        let snap = Snapshot {
            dedup: self
                .dedup
                .iter()
                .map(|((r, k), (t, n))| (r.clone(), k.clone(), t.as_nanosecond(), *n))
                .collect(),
            counts: self
                .counts
                .iter()
                .map(|((r, g), ts)| {
                    (
                        r.clone(),
                        g.clone(),
                        ts.iter().map(|t| t.as_nanosecond()).collect(),
                    )
                })
                .collect(),
            windows: self.windows,
        };
        serde_json::to_vec(&snap).unwrap_or_default()
    }

    /// Restores state saved by [`Noise::snapshot`]; unreadable bytes give a fresh state (the cost
    /// is at most a repeated alert or a threshold counted again from zero).
    pub fn restore(&mut self, bytes: &[u8]) -> bool {
        let Ok(snap) = serde_json::from_slice::<Snapshot>(bytes) else {
            return false;
        };
        let ts = |n: i128| Timestamp::from_nanosecond(n).ok();
        self.dedup = snap
            .dedup
            .into_iter()
            .filter_map(|(r, k, t, n)| Some(((r, k), (ts(t)?, n))))
            .collect();
        self.counts = snap
            .counts
            .into_iter()
            .map(|(r, g, times)| ((r, g), times.into_iter().filter_map(ts).collect()))
            .collect();
        self.windows = snap.windows;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn finding(rule: &str, time: &str, key: &str) -> Finding {
        let mut f = Finding::blank(rule);
        f.time = Some(time.parse().unwrap());
        f.dedup_key = Some(key.into());
        f.group_key = Some(key.into());
        f
    }

    #[test]
    fn dedup_folds_within_the_window() {
        let mut n = Noise::new(true);
        let p = Policy {
            dedup: Some(Duration::from_secs(3600)),
            threshold: None,
        };
        assert_eq!(
            n.judge(p, &mut finding("r", "2026-01-01T00:00:00Z", "a")),
            Verdict::Emit
        );
        assert_eq!(
            n.judge(p, &mut finding("r", "2026-01-01T00:30:00Z", "a")),
            Verdict::Folded { into: 1 }
        );
        assert_eq!(
            n.judge(p, &mut finding("r", "2026-01-01T00:30:00Z", "b")),
            Verdict::Emit
        );
        assert_eq!(
            n.judge(p, &mut finding("r", "2026-01-01T01:00:00Z", "a")),
            Verdict::Emit
        );
        assert_eq!(n.stats.folded, 1);
        // Plain scans report every record.
        let mut off = Noise::new(false);
        for _ in 0..2 {
            assert_eq!(
                off.judge(p, &mut finding("r", "2026-01-01T00:00:00Z", "a")),
                Verdict::Emit
            );
        }
    }

    #[test]
    fn repeats_fold_count_and_span() {
        let mut r = Repeats::default();
        let mut f = finding("r", "2026-01-01T00:10:00Z", "a");
        f.event_time = Some("2026-01-01T00:10:00Z".into());
        r.apply(&mut f);
        assert_eq!((f.count, f.first_time.as_deref()), (None, None));
        r.add(Some("2026-01-01T00:30:00Z"));
        r.add(None);
        r.add(Some("2026-01-01T00:05:00Z"));
        assert_eq!(r.count, 3);
        assert_eq!(r.last_time.as_deref(), Some("2026-01-01T00:30:00Z"));
        r.apply(&mut f);
        assert_eq!(f.count, Some(4));
        assert_eq!(f.first_time.as_deref(), Some("2026-01-01T00:05:00Z"));
        assert_eq!(f.last_time.as_deref(), Some("2026-01-01T00:30:00Z"));
        // A threshold finding already carries its count and span.
        let mut t = finding("r", "2026-01-01T00:10:00Z", "a");
        t.count = Some(3);
        t.first_time = Some("2026-01-01T00:00:00Z".into());
        t.last_time = Some("2026-01-01T00:20:00Z".into());
        let mut one = Repeats::default();
        one.add(Some("2026-01-01T00:15:00Z"));
        one.apply(&mut t);
        assert_eq!(t.count, Some(4));
        assert_eq!(t.first_time.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(t.last_time.as_deref(), Some("2026-01-01T00:20:00Z"));
    }

    #[test]
    fn threshold_counts_per_group_in_event_time() {
        let mut n = Noise::default();
        let p = Policy {
            dedup: None,
            threshold: Some((3, Duration::from_secs(600))),
        };
        let mut v = Vec::new();
        for (t, g) in [
            ("00:09", "a"),
            ("00:00", "a"),
            ("00:01", "b"),
            ("00:30", "a"),
        ] {
            v.push(n.judge(p, &mut finding("r", &format!("2026-01-01T{t}:00Z"), g)));
        }
        assert_eq!(v, [Verdict::Pending; 4]);
        // 00:00, 00:05 and 00:09 fall within ten minutes, although they arrived out of order.
        let mut last = finding("r", "2026-01-01T00:05:00Z", "a");
        assert_eq!(n.judge(p, &mut last), Verdict::Emit);
        assert_eq!(last.first_time.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(last.count, Some(3));
        assert_eq!(last.last_time.as_deref(), Some("2026-01-01T00:09:00Z"));
        // The counter starts again after firing.
        assert_eq!(
            n.judge(p, &mut finding("r", "2026-01-01T00:06:00Z", "a")),
            Verdict::Pending
        );
    }

    #[test]
    fn snapshot_round_trip_and_pruning() {
        let mut n = Noise::new(true);
        let p = Policy {
            dedup: Some(Duration::from_secs(3600)),
            threshold: None,
        };
        n.judge(p, &mut finding("r", "2026-01-01T00:00:00Z", "a"));
        n.judge(p, &mut finding("r", "2026-01-02T00:00:00Z", "b"));
        let bytes = n.snapshot("2025-12-31T00:00:00Z".parse().unwrap());
        let mut back = Noise::new(true);
        assert!(back.restore(&bytes));
        assert_eq!(
            back.judge(p, &mut finding("r", "2026-01-01T00:10:00Z", "a")),
            Verdict::Folded { into: 1 }
        );
        // Pruned windows are forgotten.
        let bytes = n.snapshot("2026-01-01T12:00:00Z".parse().unwrap());
        let mut pruned = Noise::new(true);
        assert!(pruned.restore(&bytes));
        assert_eq!(
            pruned.judge(p, &mut finding("r", "2026-01-01T00:10:00Z", "a")),
            Verdict::Emit
        );
        assert!(!Noise::new(true).restore(b"garbage"));
    }
}
