//! The table format: one aligned line per finding, in event-time order, sized to the terminal
//! (`COLUMNS`, else the terminal's own width; unlimited when piped), with the rule and count
//! columns, ARNs shortened from the left (account and name kept), control characters in record
//! values escaped, and the severity coloured unless colour is off. Rows are held until the end,
//! to sort them and size the columns. [`write_table`] also lays out `search`'s table.

use super::FindingSink;
use crate::catalog::Severity;
use crate::finding::Finding;
use owo_colors::OwoColorize;
use std::io::{self, Write};

const HEADER: &[&str] = &[
    "TIME",
    "SEVERITY",
    "RULE",
    "EVENT",
    "ACCOUNT",
    "REGION",
    "ACTOR",
    "SOURCE IP",
    "COUNT",
    "TITLE",
];

pub struct Table<'w> {
    out: Box<dyn Write + 'w>,
    color: bool,
    /// (event time, severity, cells) of each finding so far.
    rows: Vec<(Option<String>, Severity, Vec<String>)>,
}

impl<'w> Table<'w> {
    pub fn new(out: Box<dyn Write + 'w>, color: bool) -> Self {
        Table {
            out,
            color,
            rows: Vec::new(),
        }
    }
}

impl FindingSink for Table<'_> {
    fn write(&mut self, f: &Finding) -> io::Result<()> {
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
        let rule = match others.len() {
            0 => f.rule_id.clone(),
            n => format!("{} +{n}", f.rule_id),
        };
        let cells = [
            or_dash(&f.event_time),
            f.severity.to_string(),
            rule,
            or_dash(&f.event_name),
            or_dash(&f.account_id),
            or_dash(&f.region),
            or_dash(&f.actor),
            or_dash(&f.source_ip),
            f.count.unwrap_or(1).to_string(),
            title,
        ];
        let cells = cells.iter().map(|c| escape(c)).collect();
        self.rows.push((f.event_time.clone(), f.severity, cells));
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        let mut rows = std::mem::take(&mut self.rows);
        // Stable: findings of the same second keep the order they were found in.
        rows.sort_by(|a, b| (a.0.is_none(), &a.0).cmp(&(b.0.is_none(), &b.0)));
        if !rows.is_empty() {
            let header: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
            let severities: Vec<Severity> = rows.iter().map(|r| r.1).collect();
            let cells: Vec<Vec<String>> = rows.into_iter().map(|r| r.2).collect();
            let color = self.color;
            let paint_cell = |row: usize, col: usize, text: String| match (col, color) {
                (1, true) => paint(&text, severities[row]),
                _ => text,
            };
            write_table(
                &mut self.out,
                &header,
                &cells,
                terminal_width(),
                &paint_cell,
                &[],
            )?;
        }
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
        // Too narrow for the account: the end of the name.
        let n = resource.chars().count();
        if width >= 2 && n >= width {
            let end: String = resource.chars().skip(n + 1 - width).collect();
            return format!("…{end}");
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

/// Writes aligned rows: each column as wide as its widest cell, the widest columns narrowed
/// (ARNs from the left) until the line fits `width` (when known). A row's note, if any, is
/// written on the line below it, cut to the width.
pub(super) fn write_table(
    out: &mut dyn Write,
    header: &[String],
    rows: &[Vec<String>],
    width: Option<usize>,
    paint: &dyn Fn(usize, usize, String) -> String,
    notes: &[Option<String>],
) -> io::Result<()> {
    let n = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    if let Some(total) = width {
        // Two spaces between columns. The widest column narrows first, down to the next widest
        // and never below 16 characters (the first column, the time, keeps its width); then the
        // last column gives up what is still over, down to 8.
        let gaps = 2 * n.saturating_sub(1);
        let floor: Vec<usize> = widths
            .iter()
            .enumerate()
            .map(|(i, w)| if i == 0 { *w } else { (*w).min(16) })
            .collect();
        let over = |widths: &[usize]| (widths.iter().sum::<usize>() + gaps).saturating_sub(total);
        while over(&widths) > 0 {
            let Some(i) = (0..n)
                .filter(|&i| widths[i] > floor[i])
                .max_by_key(|&i| widths[i])
            else {
                break;
            };
            let next = (0..n)
                .filter(|&j| j != i)
                .map(|j| widths[j])
                .max()
                .unwrap_or(0);
            let w = widths[i];
            widths[i] = w
                .saturating_sub(over(&widths))
                .max(next)
                .max(floor[i])
                .min(w - 1);
        }
        if n > 0 {
            let cut = over(&widths).min(widths[n - 1].saturating_sub(8));
            widths[n - 1] -= cut;
        }
    }
    let line = |row: Option<usize>, cells: &[String]| -> String {
        let mut line = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let text = fit_width(cell, *w);
            line.push_str(&match row {
                Some(r) => paint(r, i, text),
                None => text,
            });
        }
        line.trim_end().to_string()
    };
    writeln!(out, "{}", line(None, header))?;
    for (r, row) in rows.iter().enumerate() {
        writeln!(out, "{}", line(Some(r), row))?;
        if let Some(Some(note)) = notes.get(r) {
            let note = match width {
                Some(w) if note.chars().count() > w => {
                    let mut cut: String = note.chars().take(w.saturating_sub(1)).collect();
                    cut.push('…');
                    cut
                }
                _ => note.clone(),
            };
            writeln!(out, "{note}")?;
        }
    }
    Ok(())
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
    fn columns_fit_the_terminal() {
        let header = vec!["TIME".to_string(), "ACTOR".to_string()];
        let rows = vec![vec![
            "2026-01-01T00:00:00Z".to_string(),
            "arn:aws:sts::111122223333:assumed-role/Deploy/alice".to_string(),
        ]];
        let mut out = Vec::new();
        write_table(&mut out, &header, &rows, Some(60), &|_, _, t| t, &[]).unwrap();
        let text = String::from_utf8(out).unwrap();
        for l in text.lines() {
            assert!(l.chars().count() <= 60, "{l}");
        }
        assert!(text.contains("111122223333"), "{text}");
        assert!(text.contains("Deploy/alice"), "{text}");
        let mut wide = Vec::new();
        write_table(&mut wide, &header, &rows, None, &|_, _, t| t, &[]).unwrap();
        assert!(String::from_utf8(wide).unwrap().contains(&rows[0][1]));
    }

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
