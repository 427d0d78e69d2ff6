//! Where search results go: each matching event as a row of the chosen columns, in the scan
//! formats (JSON Lines, a JSON array, CSV, an aligned table), or the whole record as one JSON
//! line (`--raw`, for `jq`).
//!
//! The findings column lists the rules an event matched: an array of `{rule, severity, title}`
//! in JSON, `rule (severity); ...` in CSV and the table.

use super::defuse;
use super::table::{escape, fit_width, terminal_width};
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
                write_table(&mut self.out, &header, &rows, terminal_width())?;
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

/// Writes aligned rows: each column as wide as its widest cell, the widest columns narrowed
/// (ARNs from the left) until the line fits `width` (when known).
pub(super) fn write_table(
    out: &mut dyn Write,
    header: &[String],
    rows: &[Vec<String>],
    width: Option<usize>,
) -> io::Result<()> {
    let n = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    if let Some(total) = width {
        // Two spaces between columns; narrow the widest column, down to 12, until it fits.
        let gaps = 2 * n.saturating_sub(1);
        while widths.iter().sum::<usize>() + gaps > total {
            let Some((i, w)) = widths.iter().enumerate().max_by_key(|(_, w)| **w) else {
                break;
            };
            if *w <= 12 {
                break;
            }
            let over = widths.iter().sum::<usize>() + gaps - total;
            let next = widths
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, w)| *w)
                .max()
                .unwrap_or(0);
            widths[i] = w.saturating_sub(over).max(next).max(12).min(w - 1);
        }
    }
    let line = |cells: &[String]| -> String {
        let mut line = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(&fit_width(cell, *w));
        }
        line.trim_end().to_string()
    };
    writeln!(out, "{}", line(header))?;
    for row in rows {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_the_terminal() {
        let header = vec!["TIME".to_string(), "ACTOR".to_string()];
        let rows = vec![vec![
            "2026-01-01T00:00:00Z".to_string(),
            "arn:aws:sts::111122223333:assumed-role/Deploy/alice".to_string(),
        ]];
        let mut out = Vec::new();
        write_table(&mut out, &header, &rows, Some(60)).unwrap();
        let text = String::from_utf8(out).unwrap();
        for l in text.lines() {
            assert!(l.chars().count() <= 60, "{l}");
        }
        assert!(text.contains("111122223333"), "{text}");
        assert!(text.contains("Deploy/alice"), "{text}");
        let mut wide = Vec::new();
        write_table(&mut wide, &header, &rows, None).unwrap();
        assert!(String::from_utf8(wide).unwrap().contains(&rows[0][1]));
    }
}
