//! `trailwatch search`: every event (not only findings) that passes a [`Query`], read with the
//! scan pipeline's buffers and containers on every core, each hit carrying the findings the
//! rules make of it.
//!
//! A query is a condition of the rules' own kind (from `--where` expressions and the short
//! forms, see [`crate::rules::expr`]) and a time range. Its literals feed the byte-level
//! prefilter ([`Prefilter::for_cond`]), so a search for a key or an ARN parses only the records
//! whose text holds it. Each input's [`SearchReport`] also counts why records were left out, so
//! an empty result can say which filter removed everything ([`Tally::why_empty`]).

pub mod fields;

use crate::engine::{Engine, Prefilter};
use crate::record::container::{self, Item, Pos, Shape};
use crate::record::time::{format as format_time, parse_event_time};
use crate::record::{Parsed, Record};
use crate::rules::Cond;
use crate::scan::{LineCounter, Options, Report};
use fields::Field;
use jiff::Timestamp;
use rayon::prelude::*;
use std::path::PathBuf;

/// Inputs read in parallel before their results are handed back in order.
const BATCH: usize = 256;

/// What to look for.
#[derive(Debug)]
pub struct Query {
    cond: Cond,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    prefilter: Prefilter,
    /// The columns each hit carries; `raw` keeps the whole record instead.
    fields: Vec<Field>,
    raw: bool,
}

impl Query {
    /// All of `conds` (none: every event) within `since..until`.
    pub fn new(
        conds: Vec<Cond>,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
        fields: Vec<Field>,
        raw: bool,
    ) -> Query {
        let cond = Cond::all(conds);
        let prefilter = Prefilter::for_cond(&cond);
        Query {
            cond,
            since,
            until,
            prefilter,
            fields,
            raw,
        }
    }
}

/// The rules an event matched, for the findings column.
#[derive(Debug, Clone)]
pub struct Tag {
    pub rule_id: String,
    pub severity: crate::catalog::Severity,
    pub title: String,
}

/// One matching event.
#[derive(Debug, Clone)]
pub struct Hit {
    pub time: Option<Timestamp>,
    pub location: String,
    /// The cells of the query's fields, in order.
    pub cells: Vec<Option<String>>,
    /// The record as compact JSON, when the query asked for raw records.
    pub raw: Option<String>,
    pub findings: Vec<Tag>,
    /// What the event's finding says (its top rule's words), when it has one.
    pub explained: Option<Box<Explained>>,
}

/// The finding of a flagged event, as a timeline shows it inline.
#[derive(Debug, Clone)]
pub struct Explained {
    /// The finding's severity (after the drop of a failed call).
    pub severity: crate::catalog::Severity,
    pub title: String,
    pub outcome: crate::finding::Outcome,
    pub summary: String,
    pub why: String,
    pub controls: Vec<String>,
    pub attack: Vec<String>,
}

/// Why records were left out, and the time span of those read in full.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Records skipped by the literal prefilter (their text holds none of the literals).
    pub prefiltered: u64,
    pub older: u64,
    pub newer: u64,
    /// Records without a readable `eventTime` when a time range was given.
    pub untimed: u64,
    /// Records in the time range that the conditions refused.
    pub refused: u64,
    pub oldest: Option<Timestamp>,
    pub newest: Option<Timestamp>,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        self.prefiltered += o.prefiltered;
        self.older += o.older;
        self.newer += o.newer;
        self.untimed += o.untimed;
        self.refused += o.refused;
        self.oldest = min_opt(self.oldest, o.oldest);
        self.newest = self.newest.max(o.newest);
    }

    fn saw(&mut self, t: Timestamp) {
        self.oldest = min_opt(self.oldest, Some(t));
        self.newest = self.newest.max(Some(t));
    }

    /// Why nothing matched `records` records, naming the filter that removed the most; `None`
    /// when there were no records at all (the caller says what was read).
    pub fn why_empty(&self, records: u64, since: Option<&str>, until: Option<&str>) -> String {
        let span = match (self.oldest, self.newest) {
            (Some(a), Some(b)) => format!("; oldest is {}, newest {}", day(a), day(b)),
            _ => String::new(),
        };
        let parsed = records.saturating_sub(self.prefiltered);
        if self.prefiltered == records {
            return format!(
                "none of the {records} event(s) holds the literal text the filters need"
            );
        }
        if let (Some(s), true) = (since, self.older == parsed) {
            return format!("all {parsed} candidate event(s) are older than --since {s}{span}");
        }
        if let (Some(u), true) = (until, self.newer == parsed) {
            return format!("all {parsed} candidate event(s) are newer than --until {u}{span}");
        }
        let mut parts = Vec::new();
        if self.prefiltered > 0 {
            parts.push(format!(
                "{} lack the filters' literal text",
                self.prefiltered
            ));
        }
        if let Some(s) = since.filter(|_| self.older > 0) {
            parts.push(format!("{} are older than --since {s}", self.older));
        }
        if let Some(u) = until.filter(|_| self.newer > 0) {
            parts.push(format!("{} are newer than --until {u}", self.newer));
        }
        if self.untimed > 0 {
            parts.push(format!("{} have no readable eventTime", self.untimed));
        }
        if self.refused > 0 {
            parts.push(format!("{} fail the filters", self.refused));
        }
        format!("of {records} event(s): {}{span}", parts.join(", "))
    }
}

fn min_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn day(t: Timestamp) -> String {
    let s = format_time(t);
    s.get(..10).unwrap_or(&s).to_string()
}

/// What searching one input produced: the scan report (counts, bad records, errors; no
/// findings), the hits and the tally.
#[derive(Debug, Default)]
pub struct SearchReport {
    pub report: Report,
    pub hits: Vec<Hit>,
    pub tally: Tally,
}

/// Searches the content of one input.
pub fn search_bytes(name: &str, buf: &[u8], query: &Query, engine: &Engine) -> SearchReport {
    let mut out = SearchReport {
        report: Report {
            name: name.to_string(),
            bytes: buf.len() as u64,
            ..Report::default()
        },
        ..SearchReport::default()
    };
    let mut lines = LineCounter::default();
    let decoded = container::decode(buf, |pos, item| {
        let mut location = |pos: Pos| match pos.shape {
            Shape::JsonLines => format!("{name}:{}", lines.line_at(buf, pos.offset)),
            Shape::Single => name.to_string(),
            _ => format!("{name}#{}", pos.index),
        };
        let parsed = match item {
            Item::Raw { bytes, .. } if !query.prefilter.might_match(bytes) => {
                out.report.records += 1;
                out.tally.prefiltered += 1;
                return;
            }
            Item::Raw { bytes, depth } => Record::parse_item(bytes, depth),
            Item::Value(v) => Record::classify(v),
        };
        match parsed {
            Ok(parsed) => visit(parsed, &mut out, query, engine, &mut || location(pos)),
            Err(e) => out.report.bad_records.push((location(pos), e)),
        }
    });
    out.report.shape = Some(decoded.shape);
    out.report.digest = decoded.shape == Shape::Digest;
    out.report.not_json = matches!(decoded.error, Some(container::ContainerError::NotJson(_)));
    out.report.error = decoded.error.map(|e| e.to_string());
    out
}

fn visit(
    parsed: Parsed,
    out: &mut SearchReport,
    query: &Query,
    engine: &Engine,
    location: &mut dyn FnMut() -> String,
) {
    match parsed {
        Parsed::Record(record) => {
            out.report.records += 1;
            out.report.parsed += 1;
            let time = record.event_time_raw().and_then(parse_event_time);
            if let Some(t) = time {
                out.tally.saw(t);
            }
            if query.since.is_some() || query.until.is_some() {
                let Some(t) = time else {
                    out.tally.untimed += 1;
                    return;
                };
                if query.since.is_some_and(|s| t < s) {
                    out.tally.older += 1;
                    return;
                }
                if query.until.is_some_and(|u| t >= u) {
                    out.tally.newer += 1;
                    return;
                }
            }
            if !query.cond.eval(record.value()) {
                out.tally.refused += 1;
                return;
            }
            let location = location();
            let kept: Vec<_> = engine
                .evaluate(&record, || location.clone())
                .findings
                .into_iter()
                .filter(|f| f.suppressed_by.is_none())
                .collect();
            let explained = kept.iter().find(|f| !f.aggregate).map(|f| {
                Box::new(Explained {
                    severity: f.severity,
                    title: f.title.clone(),
                    outcome: f.outcome,
                    summary: f.summary.clone(),
                    why: f.why.clone(),
                    controls: f.controls.clone(),
                    attack: f.attack.clone(),
                })
            });
            let findings = kept
                .into_iter()
                .flat_map(|f| f.rules)
                .map(|r| Tag {
                    rule_id: r.id,
                    severity: r.severity,
                    title: r.title,
                })
                .collect();
            out.hits.push(Hit {
                time,
                cells: query
                    .fields
                    .iter()
                    .map(|f| f.cell(&record, &location))
                    .collect(),
                raw: query
                    .raw
                    .then(|| sonic_rs::to_string(record.value()).unwrap_or_default()),
                location,
                findings,
                explained,
            });
        }
        Parsed::Many(values) => {
            for value in values {
                match Record::classify(value) {
                    Ok(p) => visit(p, out, query, engine, location),
                    Err(e) => out.report.bad_records.push((location(), e)),
                }
            }
        }
        Parsed::Digest => out.report.digest = true,
    }
}

/// An input to search: a local file, or bytes already read (standard input).
#[derive(Debug)]
pub enum Input {
    File(PathBuf),
    Bytes { name: String, bytes: Vec<u8> },
}

/// Searches the inputs on all cores, calling `on_report` for each in input order.
pub fn run(
    inputs: &[Input],
    query: &Query,
    engine: &Engine,
    opts: &Options,
    mut on_report: impl FnMut(SearchReport),
) {
    for batch in inputs.chunks(BATCH) {
        let reports: Vec<SearchReport> = batch
            .par_iter()
            .map(|input| match input {
                Input::File(path) if crate::source::file::is_digest_path(path) => SearchReport {
                    report: Report {
                        name: path.display().to_string(),
                        digest: true,
                        ..Report::default()
                    },
                    ..SearchReport::default()
                },
                Input::File(path) => {
                    let name = path.display().to_string();
                    crate::scan::with_file(path, opts, |r| read(&name, r, query, engine))
                }
                Input::Bytes { name, bytes } => {
                    crate::scan::with_blob(name, bytes, opts, |r| read(name, r, query, engine))
                }
            })
            .collect();
        reports.into_iter().for_each(&mut on_report);
    }
}

fn read(name: &str, bytes: Result<&[u8], String>, query: &Query, engine: &Engine) -> SearchReport {
    match bytes {
        Ok(buf) => search_bytes(name, buf, query, engine),
        Err(e) => SearchReport {
            report: Report {
                name: name.to_string(),
                error: Some(e),
                ..Report::default()
            },
            ..SearchReport::default()
        },
    }
}

#[cfg(test)]
mod tests;
