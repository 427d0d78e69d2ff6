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

/// Pads or cuts `s` to exactly `width` characters. An ARN loses its `arn:partition:service:region:`
/// start first and then the middle of its resource, so the account and the name stay; other
/// text loses its middle.
pub(super) fn fit_width(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return format!("{s:<width$}");
    }
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if parts.len() == 6 && parts[0] == "arn" {
        let (account, resource) = (parts[4], parts[5]);
        let short = if account.is_empty() {
            resource.to_string()
        } else {
            format!("{account}:{resource}")
        };
        let n = short.chars().count();
        if n <= width {
            return format!("{short:<width$}");
        }
        let keep = account.chars().count() + 2;
        if !account.is_empty() && width > keep + 4 {
            let tail = width - keep;
            let end: String = resource
                .chars()
                .skip(resource.chars().count() - tail)
                .collect();
            return format!("{account}:…{end}");
        }
    }
    fit(s, width)
}

/// Control characters and escape sequences in record values written visibly (`\u{1b}`), so
/// a record cannot move the cursor or recolour the terminal.
pub(super) fn escape(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The terminal's width: `COLUMNS` when set, else the terminal standard output is (ioctl),
/// else none (no limit, as when piped).
pub(crate) fn terminal_width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return Some(n).filter(|n: &usize| *n > 0);
    }
    terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| usize::from(w.0))
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
    fn arns_keep_account_and_name() {
        let arn = "arn:aws:sts::111122223333:assumed-role/DeployRole/session-name";
        assert_eq!(fit_width(arn, 70).trim_end(), arn);
        let cut = fit_width(arn, 40);
        assert_eq!(cut, "111122223333:…le/DeployRole/session-name");
        assert_eq!(cut.chars().count(), 40);
        let cut = fit_width(arn, 30);
        assert!(
            cut.starts_with("111122223333:…") && cut.ends_with("session-name"),
            "{cut}"
        );
        assert_eq!(cut.chars().count(), 30);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\u{a}");
        assert_eq!(escape("plain"), "plain");
    }

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
