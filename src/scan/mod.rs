//! The scan pipeline: input bytes → container items → prefilter → record → engine → findings.
//!
//! [`scan_bytes`] does the work for one file or object and is shared by every source. `run`
//! processes local files on all cores and hands the reports back in input order, a batch at a
//! time, so output is deterministic and memory stays bounded whatever the number of files.
//! `s3` does the same for a trail bucket, `held` keeps findings for `--dedup`, and `summary` is
//! what a scan says at the end.

pub(crate) mod held;
pub(crate) mod s3;
pub(crate) mod summary;

use crate::engine::{Engine, Filter};
use crate::finding::Finding;
use crate::noise::{Noise, Verdict};
use crate::record::container::{self, ContainerError, Item, Pos, Shape};
use crate::record::{Parsed, Record, RecordError};
use crate::source::file::{self, InputError, Reader};
use rayon::prelude::*;
use std::path::PathBuf;

/// Inputs processed in parallel before their reports are handed back in order.
const BATCH: usize = 256;

/// Settings of a scan that do not depend on the rules.
#[derive(Debug, Clone)]
pub struct Options {
    /// Largest decompressed size accepted for one input, in bytes.
    pub max_size: u64,
    /// Keep each finding's record as JSON in [`Finding::raw`] (for the HTML report).
    pub raw: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_size: 512 << 20,
            raw: false,
        }
    }
}

/// What scanning one input produced.
#[derive(Debug, Default)]
pub struct Report {
    /// The input's name as shown to users (path, or `s3://bucket/key`).
    pub name: String,
    pub shape: Option<Shape>,
    /// Decompressed size in bytes.
    pub bytes: u64,
    pub records: u64,
    /// Records fully parsed because they could match.
    pub parsed: u64,
    pub findings: Vec<Finding>,
    /// Rule id and suppression reason of each finding that was silenced.
    pub suppressed: Vec<(String, String)>,
    /// Items that could not be used: location and reason.
    pub bad_records: Vec<(String, RecordError)>,
    /// Why the input could not be read (fully); records read before it still count.
    pub error: Option<String>,
    /// A digest file, recognised and skipped.
    pub digest: bool,
    /// Findings folded into an earlier one by a dedup window: (window number, event time).
    pub folds: Vec<(u64, Option<String>)>,
    /// The content is not JSON at all (a LICENSE, a README).
    pub not_json: bool,
    /// Findings the filters (--since, --until, --account, --region, --event, --service) left out.
    pub filtered: u64,
}

impl Report {
    /// Whether anything in this input could not be read.
    pub fn is_bad(&self) -> bool {
        self.error.is_some() || !self.bad_records.is_empty()
    }

    /// Whether the input is not CloudTrail at all: not JSON, or JSON holding no CloudTrail
    /// record (a `manifest.json`). A directory walk skips and counts such files; a file named
    /// on the command line stays an error.
    pub fn is_foreign(&self) -> bool {
        self.records == 0
            && (self.not_json
                || (self.error.is_none()
                    && !self.bad_records.is_empty()
                    && self
                        .bad_records
                        .iter()
                        .all(|(_, e)| matches!(e, RecordError::NotCloudTrail))))
    }
}

/// Scans the content of one input.
pub fn scan_bytes(name: &str, buf: &[u8], engine: &Engine, filter: &Filter) -> Report {
    scan_bytes_with(name, buf, engine, filter, false)
}

/// [`scan_bytes`], keeping each finding's record in [`Finding::raw`] when `keep_raw` is set.
pub fn scan_bytes_with(
    name: &str,
    buf: &[u8],
    engine: &Engine,
    filter: &Filter,
    keep_raw: bool,
) -> Report {
    let mut report = Report {
        name: name.to_string(),
        bytes: buf.len() as u64,
        ..Report::default()
    };
    let mut lines = LineCounter::default();
    let decoded = container::decode(buf, |pos, item| {
        let mut location = |pos: Pos| match pos.shape {
            Shape::JsonLines => format!("{name}:{}", lines.line_at(buf, pos.offset)),
            Shape::Single => name.to_string(),
            _ => format!("{name}#{}", pos.index),
        };
        let parsed = match item {
            Item::Raw { bytes, .. } if !engine.prefilter().might_match(bytes) => {
                report.records += 1;
                return;
            }
            Item::Raw { bytes, depth } => Record::parse_item(bytes, depth),
            Item::Value(v) => Record::classify(v),
        };
        match parsed {
            Ok(parsed) => {
                let scope = Scope {
                    engine,
                    filter,
                    keep_raw,
                };
                visit(parsed, &mut report, &scope, &mut || location(pos))
            }
            Err(e) => report.bad_records.push((location(pos), e)),
        }
    });
    report.shape = Some(decoded.shape);
    report.digest = decoded.shape == Shape::Digest;
    report.not_json = matches!(decoded.error, Some(ContainerError::NotJson(_)));
    report.error = decoded.error.map(|e: ContainerError| e.to_string());
    report
}

/// What every record of one input is matched with.
struct Scope<'a> {
    engine: &'a Engine,
    filter: &'a Filter,
    keep_raw: bool,
}

fn visit(parsed: Parsed, report: &mut Report, scope: &Scope, location: &mut dyn FnMut() -> String) {
    match parsed {
        Parsed::Record(record) => {
            report.records += 1;
            report.parsed += 1;
            let out = scope.engine.evaluate(&record, &mut *location);
            let mut raw: Option<std::sync::Arc<str>> = None;
            for mut f in out.findings {
                if scope.filter.accepts(&f) {
                    if scope.keep_raw {
                        let json = raw.get_or_insert_with(|| {
                            sonic_rs::to_string(record.value())
                                .unwrap_or_default()
                                .into()
                        });
                        f.raw = Some(json.clone());
                    }
                    report.findings.push(f);
                } else {
                    report.filtered += 1;
                }
            }
            report.suppressed.extend(out.suppressed);
        }
        Parsed::Many(values) => {
            for value in values {
                match Record::classify(value) {
                    Ok(p) => visit(p, report, scope, location),
                    Err(e) => report.bad_records.push((location(), e)),
                }
            }
        }
        Parsed::Digest => report.digest = true,
    }
}

/// Scans one local file.
pub(crate) fn scan_file(
    reader: &mut Reader,
    path: &std::path::Path,
    engine: &Engine,
    filter: &Filter,
    opts: &Options,
) -> Report {
    let name = path.display().to_string();
    match reader.read(path, opts.max_size) {
        Ok(buf) => scan_bytes_with(&name, buf, engine, filter, opts.raw),
        Err(e) => Report {
            name,
            error: Some(input_reason(&e)),
            ..Report::default()
        },
    }
}

/// Scans an input already in memory (an S3 object, an SQS message body), named `name`
/// (`s3://bucket/key`), on the calling thread with that thread's buffers.
pub(crate) fn scan_blob(
    name: &str,
    bytes: &[u8],
    engine: &Engine,
    filter: &Filter,
    opts: &Options,
) -> Report {
    READER.with_borrow_mut(|reader| match reader.decode(name, bytes, opts.max_size) {
        Ok(buf) => scan_bytes_with(name, buf, engine, filter, opts.raw),
        Err(e) => Report {
            name: name.to_string(),
            error: Some(input_reason(&e)),
            ..Report::default()
        },
    })
}

/// Reads one local file with this thread's buffers (decompressing it) and hands its bytes, or
/// the reason it could not be read, to `f` (for front ends other than `scan`, such as `search`).
pub(crate) fn with_file<R>(
    path: &std::path::Path,
    opts: &Options,
    f: impl FnOnce(Result<&[u8], String>) -> R,
) -> R {
    READER.with_borrow_mut(|reader| match reader.read(path, opts.max_size) {
        Ok(buf) => f(Ok(buf)),
        Err(e) => f(Err(input_reason(&e))),
    })
}

/// [`with_file`] for bytes already in memory (standard input), named `name`.
pub(crate) fn with_blob<R>(
    name: &str,
    bytes: &[u8],
    opts: &Options,
    f: impl FnOnce(Result<&[u8], String>) -> R,
) -> R {
    READER.with_borrow_mut(|reader| match reader.decode(name, bytes, opts.max_size) {
        Ok(buf) => f(Ok(buf)),
        Err(e) => f(Err(input_reason(&e))),
    })
}

/// The reason part of an input error (the path is shown separately).
fn input_reason(e: &InputError) -> String {
    match e {
        InputError::Io { source, .. } => source.to_string(),
        InputError::TooLarge { cap, .. } => {
            format!("larger than {cap} bytes when decompressed (raise --max-size to read it)")
        }
        InputError::Gzip { .. } => "truncated or corrupt gzip data".to_string(),
    }
}

/// Applies dedup windows and thresholds to a report's findings, in order; folded findings are
/// listed in `report.folds`.
pub(crate) fn apply_noise(engine: &Engine, noise: &mut Noise, report: &mut Report) {
    let folds = &mut report.folds;
    report.findings.retain_mut(|f| {
        // Suppressed findings shown with --show-suppressed do not open windows or count.
        if f.suppressed_by.is_some() {
            return true;
        }
        match noise.judge(engine.policy(f), f) {
            Verdict::Emit => true,
            Verdict::Folded { into } => {
                folds.push((into, f.event_time.clone()));
                false
            }
            Verdict::Pending => false,
        }
    });
}

/// Scans local files on all cores, calling `on_report` for each in input order, after dedup
/// and thresholds (whose state `noise` keeps).
pub(crate) fn run(
    files: &[PathBuf],
    engine: &Engine,
    filter: &Filter,
    opts: &Options,
    noise: &mut Noise,
    mut on_report: impl FnMut(Report),
) {
    for batch in files.chunks(BATCH) {
        let reports: Vec<Report> = batch
            .par_iter()
            .map(|path| {
                if file::is_digest_path(path) {
                    let name = path.display().to_string();
                    return Report {
                        name,
                        digest: true,
                        ..Report::default()
                    };
                }
                READER.with_borrow_mut(|reader| scan_file(reader, path, engine, filter, opts))
            })
            .collect();
        for mut report in reports {
            apply_noise(engine, noise, &mut report);
            on_report(report);
        }
    }
}

thread_local! {
    /// Each worker thread keeps its read and inflate buffers for the whole run.
    static READER: std::cell::RefCell<Reader> = std::cell::RefCell::new(Reader::default());
}

/// Turns byte offsets into line numbers, counting forward from the last answer.
#[derive(Default)]
pub(crate) struct LineCounter {
    offset: usize,
    line: usize,
}

impl LineCounter {
    pub(crate) fn line_at(&mut self, buf: &[u8], offset: usize) -> usize {
        if offset < self.offset {
            *self = LineCounter::default();
        }
        self.line += memchr::memchr_iter(b'\n', &buf[self.offset..offset]).count();
        self.offset = offset;
        self.line + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn engine() -> Engine {
        Engine::new(
            Catalog::builtin()
                .unwrap()
                .entries()
                .iter()
                .map(crate::rules::from_entry),
        )
    }

    #[test]
    fn delivery_file_findings_and_bad_items() {
        let buf = br#"{"Records":[
            {"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","eventTime":"2026-11-20T09:00:00Z"},
            {"eventSource":"s3.amazonaws.com","eventName":"GetObject"},
            42,
            {"eventSource":"events.amazonaws.com","eventName":"DeleteRule"}]}"#;
        let r = scan_bytes("f.json", buf, &engine(), &Filter::default());
        assert_eq!(r.shape, Some(Shape::Delivery));
        assert_eq!(r.records, 3);
        // StopLogging, and DeleteRule whose name is a catalog name in ELB and WAF.
        assert_eq!(r.parsed, 2, "GetObject is skipped by the prefilter");
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].location, "f.json#1");
        assert_eq!(
            r.bad_records,
            vec![("f.json#3".to_string(), RecordError::NotObject("a number"))]
        );
    }

    #[test]
    fn json_lines_locations() {
        let buf = b"{\"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"GetObject\"}\n\n{\"eventSource\":\"iam.amazonaws.com\",\"eventName\":\"CreateUser\"}\n";
        let r = scan_bytes("f.jsonl", buf, &engine(), &Filter::default());
        assert_eq!(r.shape, Some(Shape::JsonLines));
        assert_eq!(r.findings[0].location, "f.jsonl:3");
    }
}
