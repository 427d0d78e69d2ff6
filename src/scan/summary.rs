//! The end-of-scan summary printed on stderr: what was read, what was found, what could not be
//! read, and how fast.

use crate::catalog::Severity;
use crate::scan::Report;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

/// Totals gathered from every input's report.
#[derive(Debug, Default)]
pub struct Summary {
    pub inputs: u64,
    pub bytes: u64,
    pub records: u64,
    pub parsed: u64,
    pub digests: u64,
    pub passed_over: u64,
    /// Files a directory walk met that are not CloudTrail (skipped, not errors).
    pub not_cloudtrail: u64,
    /// Findings the filters left out.
    pub filtered: u64,
    pub bad_inputs: u64,
    pub bad_records: u64,
    /// Findings: one per flagged event, plus threshold (aggregate) findings.
    pub findings: u64,
    /// Rule hits on the reported findings, by rule id (an event counts once for each rule).
    pub by_rule: BTreeMap<String, u64>,
    /// Findings of failed calls (attempts).
    pub attempts: u64,
    pub by_severity: BTreeMap<Severity, u64>,
    pub by_service: BTreeMap<String, u64>,
    pub actors: HashMap<String, u64>,
    /// Suppressions, dedup folds and pending threshold matches.
    pub noise: crate::noise::NoiseStats,
    /// Reasons of expired (ignored) suppressions.
    pub expired: Vec<String>,
    /// Rules silenced on a record, by rule id and reason.
    pub suppressed: BTreeMap<(String, String), u64>,
}

impl Summary {
    /// Adds one input's report.
    pub fn add(&mut self, r: &Report) {
        if r.digest {
            self.digests += 1;
            return;
        }
        self.inputs += 1;
        self.bytes += r.bytes;
        self.records += r.records;
        self.parsed += r.parsed;
        self.filtered += r.filtered;
        self.bad_records += r.bad_records.len() as u64;
        self.bad_inputs += u64::from(r.error.is_some());
        for key in &r.suppressed {
            *self.suppressed.entry(key.clone()).or_default() += 1;
        }
        for f in r.findings.iter().filter(|f| f.suppressed_by.is_none()) {
            self.findings += 1;
            self.attempts += u64::from(f.outcome == crate::finding::Outcome::Failure);
            for r in &f.rules {
                *self.by_rule.entry(r.id.clone()).or_default() += 1;
            }
            *self.by_severity.entry(f.severity).or_default() += 1;
            *self.by_service.entry(f.service.clone()).or_default() += 1;
            let actor = f.actor.clone().unwrap_or_else(|| "(unknown)".into());
            *self.actors.entry(actor).or_default() += 1;
        }
    }

    /// Whether any input or record could not be read (exit status 1).
    pub fn had_errors(&self) -> bool {
        self.bad_inputs > 0 || self.bad_records > 0
    }

    /// Why a scan found nothing: nothing read, no events, or the filters.
    pub fn why_none(&self) -> String {
        if self.inputs == 0 && self.bad_inputs == 0 {
            "no input files were found".into()
        } else if self.records == 0 {
            "the inputs hold no CloudTrail events".into()
        } else if self.filtered > 0 {
            format!(
                "{} event(s) matched rules but fall outside --since/--until or the other filters",
                self.filtered
            )
        } else {
            format!("none of the {} event(s) matched a rule", self.records)
        }
    }

    /// The summary as text, one labelled line per topic.
    pub fn render(&self, elapsed: Duration) -> String {
        let mut s = String::new();
        let mut line = |label: &str, text: String| {
            let _ = writeln!(s, "  {label:<12}{text}");
        };
        let mut inputs = format!("{} read, {}", self.inputs, human_bytes(self.bytes));
        if self.digests > 0 {
            inputs.push_str(&format!(", {} digest file(s) skipped", self.digests));
        }
        if self.passed_over > 0 {
            inputs.push_str(&format!(
                ", {} non-log file(s) passed over",
                self.passed_over
            ));
        }
        if self.not_cloudtrail > 0 {
            inputs.push_str(&format!(
                ", {} file(s) are not CloudTrail (skipped)",
                self.not_cloudtrail
            ));
        }
        line("inputs", inputs);
        line(
            "records",
            format!("{} ({} parsed in full)", self.records, self.parsed),
        );
        let sev: Vec<String> = Severity::ALL
            .iter()
            .rev()
            .filter_map(|s| self.by_severity.get(s).map(|n| format!("{n} {s}")))
            .collect();
        let sev = if sev.is_empty() {
            String::new()
        } else {
            format!(": {}", sev.join(", "))
        };
        line("findings", format!("{}{sev}", self.findings));
        if self.findings == 0 {
            line("why none", self.why_none());
        }
        if !self.by_rule.is_empty() {
            let hits: u64 = self.by_rule.values().sum();
            let mut rules: Vec<(&String, &u64)> = self.by_rule.iter().collect();
            rules.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let top: Vec<String> = rules
                .iter()
                .take(5)
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let more = rules.len().saturating_sub(5);
            let more = if more > 0 {
                format!(", {more} more")
            } else {
                String::new()
            };
            line(
                "rule hits",
                format!(
                    "{hits} by {} rule(s), {} failed call(s): {}{more}",
                    rules.len(),
                    self.attempts,
                    top.join(", ")
                ),
            );
        }
        if !self.by_service.is_empty() {
            let mut svc: Vec<(&String, &u64)> = self.by_service.iter().collect();
            svc.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let svc: Vec<String> = svc.iter().map(|(k, v)| format!("{k} {v}")).collect();
            line("by service", svc.join(", "));
        }
        let mut actors: Vec<(&String, &u64)> = self.actors.iter().collect();
        actors.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (i, (actor, n)) in actors.iter().take(5).enumerate() {
            line(
                if i == 0 { "top actors" } else { "" },
                format!("{n:>6}  {actor}"),
            );
        }
        if !self.suppressed.is_empty() {
            let total: u64 = self.suppressed.values().sum();
            line("suppressed", format!("{total} finding(s)"));
            for ((rule, reason), n) in &self.suppressed {
                line("", format!("{n:>6}  {rule}: {reason}"));
            }
        }
        if !self.expired.is_empty() {
            line(
                "expired",
                format!("suppressions ignored: {}", self.expired.join("; ")),
            );
        }
        if self.noise.folded > 0 || self.noise.pending > 0 {
            line(
                "folded",
                format!(
                    "{} repeat(s) within dedup windows; {} match(es) below thresholds",
                    self.noise.folded, self.noise.pending
                ),
            );
        }
        if self.had_errors() {
            line(
                "unreadable",
                format!(
                    "{} input(s), {} record(s) (named above)",
                    self.bad_inputs, self.bad_records
                ),
            );
        }
        let secs = elapsed.as_secs_f64().max(1e-9);
        line(
            "elapsed",
            format!(
                "{secs:.2} s, {:.0} records/s, {}/s",
                self.records as f64 / secs,
                human_bytes((self.bytes as f64 / secs) as u64)
            ),
        );
        s
    }
}

/// Bytes as B, KB, MB or GB (decimal units).
pub fn human_bytes(n: u64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e9 => format!("{:.2} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.1} KB", n / 1e3),
        n => format!("{n} B"),
    }
}
