//! Where findings go: the output formats of `trailwatch scan` (JSON Lines, a JSON array, CSV and
//! an aligned table), written to any `io::Write`, and the exactly-once JSON Lines file
//! ([`JsonlFile`]) behind `watch --output` and the alert `file` sink. [`ocsf`] maps a finding to
//! an OCSF Detection Finding (`--format ocsf`); [`report`] writes the self-contained HTML report.

pub mod events;
mod jsonl_file;
pub mod ocsf;
pub mod report;
mod table;
pub mod timeline;

pub use jsonl_file::{FileError, JsonlFile};
pub use table::Table;

use crate::finding::{Finding, KEYS};
use std::io::{self, Write};

/// An output format for findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, severity coloured (default on a terminal).
    Table,
    /// One JSON object per line (default when piped).
    Jsonl,
    /// One JSON array.
    Json,
    /// Comma-separated values with a header row.
    Csv,
    /// One OCSF Detection Finding (JSON) per line, for Security Lake and SIEMs.
    Ocsf,
}

/// The stable id of a finding, from its identity (rule and event): the same for every
/// delivery, output and restart (alert idempotency keys, OCSF and ASFF finding ids).
pub fn finding_uid(identity: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(identity.as_bytes());
    format!("tw-{}", hex::encode(&digest[..16]))
}

/// Receives findings one at a time.
pub trait FindingSink {
    fn write(&mut self, finding: &Finding) -> io::Result<()>;
    /// Completes the output (closing brackets, flushing).
    fn finish(&mut self) -> io::Result<()>;
}

/// Opens a sink of the given format over `out`.
pub fn open<'w>(
    format: Format,
    out: Box<dyn Write + 'w>,
    color: bool,
) -> Box<dyn FindingSink + 'w> {
    match format {
        Format::Table => Box::new(Table::new(out, color)),
        Format::Jsonl => Box::new(Jsonl { out }),
        Format::Json => Box::new(JsonArray { out, first: true }),
        Format::Csv => Box::new(Csv::new(out)),
        Format::Ocsf => Box::new(Ocsf { out }),
    }
}

struct Ocsf<'w> {
    out: Box<dyn Write + 'w>,
}

impl FindingSink for Ocsf<'_> {
    fn write(&mut self, finding: &Finding) -> io::Result<()> {
        let now = jiff::Timestamp::now().as_millisecond();
        serde_json::to_writer(&mut self.out, &ocsf::detection_finding(finding, now))?;
        self.out.write_all(b"\n")
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

struct Jsonl<'w> {
    out: Box<dyn Write + 'w>,
}

impl FindingSink for Jsonl<'_> {
    fn write(&mut self, finding: &Finding) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, finding)?;
        self.out.write_all(b"\n")
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

struct JsonArray<'w> {
    out: Box<dyn Write + 'w>,
    first: bool,
}

impl FindingSink for JsonArray<'_> {
    fn write(&mut self, finding: &Finding) -> io::Result<()> {
        self.out
            .write_all(if self.first { b"[\n  " } else { b",\n  " })?;
        self.first = false;
        serde_json::to_writer(&mut self.out, finding)?;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out
            .write_all(if self.first { b"[]\n" } else { b"\n]\n" })?;
        self.out.flush()
    }
}

struct Csv<'w> {
    out: csv::Writer<Box<dyn Write + 'w>>,
    header: bool,
}

impl<'w> Csv<'w> {
    fn new(out: Box<dyn Write + 'w>) -> Self {
        Csv {
            out: csv::Writer::from_writer(out),
            header: false,
        }
    }
}

impl FindingSink for Csv<'_> {
    fn write(&mut self, finding: &Finding) -> io::Result<()> {
        if !self.header {
            self.out.write_record(KEYS)?;
            self.header = true;
        }
        let row = KEYS
            .iter()
            .map(|k| finding.field(k).map(|v| defuse(&v)).unwrap_or_default());
        self.out.write_record(row)?;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if !self.header {
            self.out.write_record(KEYS)?;
        }
        self.out.flush()
    }
}

/// Keeps a spreadsheet from running a cell as a formula: values that start with `=`, `+`, `-`,
/// `@`, a tab or a carriage return get a leading apostrophe.
pub fn defuse(value: &str) -> String {
    match value.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{value}"),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused() {
        assert_eq!(defuse("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(defuse("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(defuse("arn:aws:iam::1:user/a"), "arn:aws:iam::1:user/a");
    }
}
