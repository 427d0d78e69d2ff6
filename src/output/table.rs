//! The table format: one aligned line per finding, streamed (column widths are fixed, so the
//! first line does not wait for the last), with the severity coloured unless colour is off.

use super::FindingSink;
use crate::catalog::Severity;
use crate::finding::Finding;
use owo_colors::OwoColorize;
use std::io::{self, Write};

/// Columns: header, width (0 = rest of the line), and how to get the cell.
const COLUMNS: &[(&str, usize)] = &[
    ("TIME", 20),
    ("SEVERITY", 8),
    ("EVENT", 30),
    ("ACCOUNT", 12),
    ("REGION", 14),
    ("ACTOR", 44),
    ("SOURCE IP", 15),
    ("TITLE", 0),
];

pub struct Table<'w> {
    out: Box<dyn Write + 'w>,
    color: bool,
    header: bool,
}

impl<'w> Table<'w> {
    pub fn new(out: Box<dyn Write + 'w>, color: bool) -> Self {
        Table {
            out,
            color,
            header: false,
        }
    }

    fn line(&mut self, cells: &[String], severity: Option<Severity>) -> io::Result<()> {
        let mut line = String::new();
        for (i, ((_, width), cell)) in COLUMNS.iter().zip(cells).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let text = if *width == 0 {
                cell.clone()
            } else {
                fit(cell, *width)
            };
            match (i, severity, self.color) {
                (1, Some(sev), true) => line.push_str(&paint(&text, sev)),
                _ => line.push_str(&text),
            }
        }
        writeln!(self.out, "{}", line.trim_end())
    }
}

impl FindingSink for Table<'_> {
    fn write(&mut self, f: &Finding) -> io::Result<()> {
        if !self.header {
            let names: Vec<String> = COLUMNS.iter().map(|(n, _)| n.to_string()).collect();
            self.line(&names, None)?;
            self.header = true;
        }
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let mut title = f.title.clone();
        if let Some(code) = &f.error_code {
            title.push_str(&format!(" [failed: {code}]"));
        }
        // The event's other rules, so one line says everything the event matched.
        let others: Vec<&str> = f.rules.iter().skip(1).map(|r| r.id.as_str()).collect();
        if !others.is_empty() {
            title.push_str(&format!(" (also {})", others.join(", ")));
        }
        let cells = [
            or_dash(&f.event_time),
            f.severity.to_string(),
            or_dash(&f.event_name),
            or_dash(&f.account_id),
            or_dash(&f.region),
            or_dash(&f.actor),
            or_dash(&f.source_ip),
            title,
        ];
        self.line(&cells, Some(f.severity))
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Pads or cuts `s` to exactly `width` characters; a cut keeps the end of ARNs readable by
/// eliding the middle.
fn fit(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return format!("{s:<width$}");
    }
    let head = width / 3;
    let tail = width - head - 1;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

fn paint(text: &str, severity: Severity) -> String {
    match severity {
        Severity::Critical => text.on_red().white().bold().to_string(),
        Severity::High => text.red().bold().to_string(),
        Severity::Medium => text.yellow().to_string(),
        Severity::Low => text.cyan().to_string(),
        Severity::Info => text.dimmed().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_pads_and_elides() {
        assert_eq!(fit("abc", 5), "abc  ");
        let arn = "arn:aws:sts::111122223333:assumed-role/DeployRole/session-name";
        let cut = fit(arn, 20);
        assert_eq!(cut.chars().count(), 20);
        assert!(
            cut.starts_with("arn:aw") && cut.ends_with("session-name"),
            "{cut}"
        );
    }
}
