//! Where search results go: each matching event as a row of the chosen columns, in the scan
//! formats (JSON Lines, a JSON array, CSV, an aligned table), or the whole record as one JSON
//! line (`--raw`, for `jq`).
//!
//! The findings column lists the rules an event matched: an array of `{rule, severity, title}`
//! in JSON, `rule (severity); ...` in CSV and the table.

use super::defuse;
use super::table::{escape, terminal_width, write_table};
use crate::search::fields::{Field, Named};
use crate::search::{Hit, Tag};
use serde_json::{Value, json};
use std::io::{self, Write};

/// How search results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFormat {
    Table,
    Jsonl,
    Json,
    Csv,
    /// The whole original record, one per line.
    Raw,
}

/// Writes hits one at a time (the table waits for the last, to size its columns).
pub struct EventWriter<'w> {
    format: EventFormat,
    out: Box<dyn Write + 'w>,
    fields: Vec<Field>,
    written: u64,
    /// Table rows held until the end.
    rows: Vec<Vec<String>>,
}

impl<'w> EventWriter<'w> {
    pub fn new(format: EventFormat, out: Box<dyn Write + 'w>, fields: Vec<Field>) -> Self {
        EventWriter {
            format,
            out,
            fields,
            written: 0,
            rows: Vec::new(),
        }
    }

    pub fn write(&mut self, hit: &Hit) -> io::Result<()> {
        let first = self.written == 0;
        self.written += 1;
        match self.format {
            EventFormat::Raw => {
                self.out
                    .write_all(hit.raw.as_deref().unwrap_or("{}").as_bytes())?;
                self.out.write_all(b"\n")
            }
            EventFormat::Jsonl => {
                let obj = self.object(hit);
                writeln!(self.out, "{obj}")
            }
            EventFormat::Json => {
                let obj = self.object(hit);
                self.out
                    .write_all(if first { b"[\n  " } else { b",\n  " })?;
                self.out.write_all(obj.as_bytes())
            }
            EventFormat::Csv => {
                if first {
                    self.csv_header()?;
                }
                let cells = self.texts(hit);
                let mut w = csv::Writer::from_writer(&mut self.out);
                w.write_record(cells.iter().map(|c| defuse(c)))?;
                w.flush()
            }
            EventFormat::Table => {
                let row = self.texts(hit).iter().map(|c| escape(c)).collect();
                self.rows.push(row);
                Ok(())
            }
        }
    }

    fn csv_header(&mut self) -> io::Result<()> {
        let names: Vec<String> = self.fields.iter().map(Field::name).collect();
        let mut w = csv::Writer::from_writer(&mut self.out);
        w.write_record(&names)?;
        w.flush()
    }

    /// Completes the output (closing brackets, the table).
    pub fn finish(&mut self) -> io::Result<()> {
        match self.format {
            EventFormat::Json => {
                let end: &[u8] = if self.written == 0 { b"[]\n" } else { b"\n]\n" };
                self.out.write_all(end)?;
            }
            EventFormat::Csv if self.written == 0 => self.csv_header()?,
            EventFormat::Table if !self.rows.is_empty() => {
                let header: Vec<String> = self
                    .fields
                    .iter()
                    .map(|f| f.name().to_uppercase())
                    .collect();
                let rows = std::mem::take(&mut self.rows);
                write_table(
                    &mut self.out,
                    &header,
                    &rows,
                    terminal_width(),
                    &|_, _, t| t,
                    &[],
                )?;
            }
            _ => {}
        }
        self.out.flush()
    }

    /// The hit as a JSON object, its keys in the order of the columns.
    fn object(&self, hit: &Hit) -> String {
        let mut obj = Vec::new();
        for (field, cell) in self.fields.iter().zip(&hit.cells) {
            let value = match field {
                Field::Named(Named::Findings) => Value::Array(
                    hit.findings
                        .iter()
                        .map(|t| json!({"rule": t.rule_id, "severity": t.severity.to_string(), "title": t.title}))
                        .collect(),
                ),
                _ => cell.clone().map_or(Value::Null, Value::String),
            };
            obj.push(format!("{}:{value}", Value::String(field.name())));
        }
        format!("{{{}}}", obj.join(","))
    }

    fn texts(&self, hit: &Hit) -> Vec<String> {
        self.fields
            .iter()
            .zip(&hit.cells)
            .map(|(field, cell)| match field {
                Field::Named(Named::Findings) => tags(&hit.findings),
                _ => cell.clone().unwrap_or_default(),
            })
            .collect()
    }
}

fn tags(tags: &[Tag]) -> String {
    tags.iter()
        .map(|t| format!("{} ({})", t.rule_id, t.severity))
        .collect::<Vec<_>>()
        .join("; ")
}
