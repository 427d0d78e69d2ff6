//! Findings held until the end of a scan, so that the repeats a dedup window folds are counted
//! into the finding that opened it (`scan --dedup`). The fold itself is
//! [`crate::noise::Repeats`], the same one `watch` stores.

use super::Report;
use crate::finding::Finding;
use crate::noise::Repeats;
use std::collections::HashMap;

/// Findings in report order, with the repeats folded into each.
#[derive(Debug, Default)]
pub struct Held {
    findings: Vec<Finding>,
    /// Window number → index in `findings` of the finding that opened it.
    by_window: HashMap<u64, usize>,
    /// Index in `findings` → its repeats so far.
    repeats: HashMap<usize, Repeats>,
}

impl Held {
    /// Takes a report's findings, and folds its repeats into the findings they repeat.
    pub fn add(&mut self, report: Report) {
        for f in report.findings {
            if let Some(w) = f.window {
                self.by_window.insert(w, self.findings.len());
            }
            self.findings.push(f);
        }
        for (window, time) in report.folds {
            if let Some(i) = self.by_window.get(&window) {
                self.repeats.entry(*i).or_default().add(time.as_deref());
            }
        }
    }

    /// The findings, each carrying `count`, `first_time` and `last_time` when repeats folded
    /// into it.
    pub fn into_findings(mut self) -> Vec<Finding> {
        for (i, r) in &self.repeats {
            if let Some(f) = self.findings.get_mut(*i) {
                r.apply(f);
            }
        }
        self.findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(window: u64, time: &str) -> Finding {
        let mut f = Finding::blank("r");
        f.window = Some(window);
        f.event_time = Some(time.into());
        f
    }

    #[test]
    fn repeats_count_into_the_window_opener() {
        let mut held = Held::default();
        held.add(Report {
            findings: vec![opened(1, "2026-01-01T00:00:00Z"), Finding::blank("other")],
            folds: vec![(1, Some("2026-01-01T00:20:00Z".into()))],
            ..Report::default()
        });
        held.add(Report {
            folds: vec![
                (1, Some("2026-01-01T00:10:00Z".into())),
                (7, Some("2026-01-01T00:10:00Z".into())),
            ],
            ..Report::default()
        });
        let out = held.into_findings();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].count, Some(3));
        assert_eq!(out[0].first_time.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(out[0].last_time.as_deref(), Some("2026-01-01T00:20:00Z"));
        assert_eq!(out[1].count, None);
    }
}
