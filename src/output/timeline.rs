//! Where timelines go: one row per event with stable columns ([`EVENT_COLUMNS`], in CSV and
//! JSON Lines, the shape DFIR timeline tools use), one row per group with `--groups`
//! ([`GROUP_COLUMNS`]), a JSON array of groups holding their events, or a table per group with
//! its summary above and each finding explained under its event.
//!
//! Columns are only ever added at the end, so scripts reading them by position keep working.

use super::defuse;
use super::table::{escape, terminal_width, write_table};
use crate::search::Hit;
use crate::timeline::{
    COL_ACCESS_KEY, COL_ACCOUNT, COL_ACTOR, COL_ACTOR_TYPE, COL_ERROR, COL_EVENT, COL_EVENT_ID,
    COL_LOCATION, COL_REGION, COL_SOURCE, COL_SOURCE_IP, COL_TIME, COL_USER_AGENT, Group, service,
};
use serde_json::Value;
use std::io::{self, Write};

/// The columns of an event row.
pub const EVENT_COLUMNS: &[&str] = &[
    "group_by",
    "group",
    "seq",
    "time",
    "event",
    "service",
    "event_source",
    "account",
    "region",
    "actor",
    "actor_type",
    "access_key",
    "source_ip",
    "user_agent",
    "error",
    "event_id",
    "severity",
    "outcome",
    "rules",
    "title",
    "summary",
    "why",
    "attack",
    "controls",
    "location",
];

/// The columns of a group row (`--groups`).
pub const GROUP_COLUMNS: &[&str] = &[
    "group_by",
    "group",
    "first_seen",
    "last_seen",
    "events",
    "findings",
    "severity",
    "accounts",
    "regions",
    "services",
    "actors",
    "source_ips",
    "errors",
    "error_codes",
    "hidden",
];

/// How a timeline is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimelineFormat {
    Table,
    Jsonl,
    Json,
    Csv,
}

/// Writes `groups` whole: their events, or (`summary_only`) one row per group.
pub fn write(
    out: &mut dyn Write,
    format: TimelineFormat,
    groups: &[Group],
    summary_only: bool,
) -> io::Result<()> {
    match format {
        TimelineFormat::Table if summary_only => groups_table(out, groups)?,
        TimelineFormat::Table => tables(out, groups)?,
        TimelineFormat::Csv => {
            let mut w = csv::Writer::from_writer(&mut *out);
            if summary_only {
                w.write_record(GROUP_COLUMNS)?;
                for g in groups {
                    w.write_record(group_cells(g).iter().map(|c| defuse(c)))?;
                }
            } else {
                w.write_record(EVENT_COLUMNS)?;
                for g in groups {
                    for (i, h) in g.hits.iter().enumerate() {
                        w.write_record(event_cells(g, i, h).iter().map(|c| defuse(c)))?;
                    }
                }
            }
            w.flush()?;
        }
        TimelineFormat::Jsonl => {
            for g in groups {
                if summary_only {
                    writeln!(out, "{}", group_object(g))?;
                } else {
                    for (i, h) in g.hits.iter().enumerate() {
                        writeln!(out, "{}", event_object(g, i, h))?;
                    }
                }
            }
        }
        TimelineFormat::Json => {
            // An array of groups, one per line; each holds its events unless `summary_only`.
            out.write_all(b"[")?;
            for (n, g) in groups.iter().enumerate() {
                out.write_all(if n == 0 { b"\n  " } else { b",\n  " })?;
                let obj = group_object(g);
                if summary_only {
                    write!(out, "{obj}")?;
                } else {
                    let text = obj.to_string();
                    let events: Vec<String> = g
                        .hits
                        .iter()
                        .enumerate()
                        .map(|(i, h)| event_object(g, i, h).to_string())
                        .collect();
                    let body = text.strip_suffix('}').unwrap_or(&text);
                    write!(out, "{body},\"events\":[{}]}}", events.join(","))?;
                }
            }
            out.write_all(if groups.is_empty() { b"]\n" } else { b"\n]\n" })?;
        }
    }
    out.flush()
}

fn cell(h: &Hit, i: usize) -> &str {
    h.cells.get(i).and_then(|c| c.as_deref()).unwrap_or("")
}

fn time(t: Option<jiff::Timestamp>) -> String {
    t.map(crate::record::time::format).unwrap_or_default()
}

/// The event row's cells, in [`EVENT_COLUMNS`] order (lists joined by `;`).
fn event_cells(g: &Group, seq: usize, h: &Hit) -> Vec<String> {
    let e = h.explained.as_deref();
    let rules: Vec<&str> = h.findings.iter().map(|t| t.rule_id.as_str()).collect();
    vec![
        g.by.as_str().to_string(),
        g.key.clone(),
        (seq + 1 + g.hidden).to_string(),
        cell(h, COL_TIME).to_string(),
        cell(h, COL_EVENT).to_string(),
        service(cell(h, COL_SOURCE)).to_string(),
        cell(h, COL_SOURCE).to_string(),
        cell(h, COL_ACCOUNT).to_string(),
        cell(h, COL_REGION).to_string(),
        cell(h, COL_ACTOR).to_string(),
        cell(h, COL_ACTOR_TYPE).to_string(),
        cell(h, COL_ACCESS_KEY).to_string(),
        cell(h, COL_SOURCE_IP).to_string(),
        cell(h, COL_USER_AGENT).to_string(),
        cell(h, COL_ERROR).to_string(),
        cell(h, COL_EVENT_ID).to_string(),
        e.map(|e| e.severity.to_string()).unwrap_or_default(),
        e.map(|e| e.outcome.as_str().to_string())
            .unwrap_or_default(),
        rules.join(";"),
        e.map(|e| e.title.clone()).unwrap_or_default(),
        e.map(|e| e.summary.clone()).unwrap_or_default(),
        e.map(|e| e.why.clone()).unwrap_or_default(),
        e.map(|e| e.attack.join(";")).unwrap_or_default(),
        e.map(|e| e.controls.join(";")).unwrap_or_default(),
        cell(h, COL_LOCATION).to_string(),
    ]
}

/// A JSON object whose keys keep the order they were added in (the columns' order).
#[derive(Default)]
struct Object(Vec<(&'static str, Value)>);

impl Object {
    fn insert(&mut self, key: &'static str, value: impl Into<Value>) {
        self.0.push((key, value.into()));
    }
}

impl std::fmt::Display for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}:{v}", Value::from(*k))?;
        }
        f.write_str("}")
    }
}

/// The event row as JSON: strings, `seq` a number, empty cells `null`, lists as arrays.
fn event_object(g: &Group, seq: usize, h: &Hit) -> Object {
    let e = h.explained.as_deref();
    let mut obj = Object::default();
    for (name, text) in EVENT_COLUMNS.iter().zip(event_cells(g, seq, h)) {
        let value = match *name {
            "seq" => Value::from(seq + 1 + g.hidden),
            "rules" => h.findings.iter().map(|t| t.rule_id.clone()).collect(),
            "attack" => strings(e.map(|e| e.attack.as_slice()).unwrap_or_default()),
            "controls" => strings(e.map(|e| e.controls.as_slice()).unwrap_or_default()),
            _ if text.is_empty() => Value::Null,
            _ => Value::String(text),
        };
        obj.insert(name, value);
    }
    obj
}

fn strings(list: &[String]) -> Value {
    list.iter().cloned().map(Value::String).collect()
}

fn codes(g: &Group) -> String {
    g.error_codes
        .iter()
        .map(|(c, n)| format!("{c}={n}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// The group row's cells, in [`GROUP_COLUMNS`] order.
fn group_cells(g: &Group) -> Vec<String> {
    vec![
        g.by.as_str().to_string(),
        g.key.clone(),
        time(g.first),
        time(g.last),
        g.events.to_string(),
        g.findings.to_string(),
        g.severity.map(|s| s.to_string()).unwrap_or_default(),
        g.accounts.join(";"),
        g.regions.join(";"),
        g.services.join(";"),
        g.actors.join(";"),
        g.source_ips.join(";"),
        g.errors.to_string(),
        codes(g),
        g.hidden.to_string(),
    ]
}

fn group_object(g: &Group) -> Object {
    let mut obj = Object::default();
    let text = |s: String| {
        if s.is_empty() {
            Value::Null
        } else {
            Value::String(s)
        }
    };
    obj.insert("group_by", g.by.as_str());
    obj.insert("group", g.key.clone());
    obj.insert("first_seen", text(time(g.first)));
    obj.insert("last_seen", text(time(g.last)));
    obj.insert("events", g.events);
    obj.insert("findings", g.findings);
    obj.insert(
        "severity",
        text(g.severity.map(|s| s.to_string()).unwrap_or_default()),
    );
    obj.insert("accounts", strings(&g.accounts));
    obj.insert("regions", strings(&g.regions));
    obj.insert("services", strings(&g.services));
    obj.insert("actors", strings(&g.actors));
    obj.insert("source_ips", strings(&g.source_ips));
    obj.insert("errors", g.errors);
    let by_code: serde_json::Map<String, Value> = g
        .error_codes
        .iter()
        .map(|(c, n)| (c.clone(), Value::from(*n)))
        .collect();
    obj.insert("error_codes", Value::Object(by_code));
    obj.insert("hidden", g.hidden);
    obj
}

/// A list for a summary line: the first few, then how many more.
fn few(list: &[String], n: usize) -> String {
    let mut s = list
        .iter()
        .take(n)
        .map(|v| escape(v))
        .collect::<Vec<_>>()
        .join(", ");
    if list.len() > n {
        s.push_str(&format!(" +{} more", list.len() - n));
    }
    s
}

/// A table per group: a heading with the group's summary, then its events; a finding's
/// title in the FINDING column and its explanation on the line below.
fn tables(out: &mut dyn Write, groups: &[Group]) -> io::Result<()> {
    let width = terminal_width();
    for (n, g) in groups.iter().enumerate() {
        if n > 0 {
            writeln!(out)?;
        }
        heading(out, g, width)?;
        // A column whose value the heading already gives (one account, one region, the
        // group's own address) is left out.
        let mut columns: Vec<(&str, usize)> = vec![("TIME", COL_TIME), ("EVENT", COL_EVENT)];
        columns.push(("SERVICE", COL_SOURCE));
        if g.accounts.len() > 1 {
            columns.push(("ACCOUNT", COL_ACCOUNT));
        }
        if g.regions.len() > 1 {
            columns.push(("REGION", COL_REGION));
        }
        if g.by != crate::timeline::By::Actor && g.actors.len() > 1 {
            columns.push(("ACTOR", COL_ACTOR));
        }
        if g.by != crate::timeline::By::Ip && g.source_ips.len() > 1 {
            columns.push(("SOURCE_IP", COL_SOURCE_IP));
        }
        if g.errors > 0 {
            columns.push(("ERROR", COL_ERROR));
        }
        let mut header: Vec<String> = columns.iter().map(|(h, _)| h.to_string()).collect();
        header.push("FINDING".into());
        let rows: Vec<Vec<String>> = g
            .hits
            .iter()
            .map(|h| {
                let mut row: Vec<String> = columns
                    .iter()
                    .map(|(_, c)| {
                        let text = cell(h, *c);
                        escape(if *c == COL_SOURCE {
                            service(text)
                        } else {
                            text
                        })
                    })
                    .collect();
                row.push(
                    h.explained
                        .as_deref()
                        .map(|e| e.severity.as_str().to_uppercase())
                        .unwrap_or_default(),
                );
                row
            })
            .collect();
        let notes: Vec<Option<String>> = g
            .hits
            .iter()
            .map(|h| {
                h.explained
                    .as_deref()
                    .map(|e| format!("    ↳ {}: {}", escape(&e.title), escape(&e.summary)))
            })
            .collect();
        write_table(out, &header, &rows, width, &|_, _, t| t, &notes)?;
    }
    Ok(())
}

fn heading(out: &mut dyn Write, g: &Group, width: Option<usize>) -> io::Result<()> {
    let severity = g
        .severity
        .map(|s| format!(", highest {s}"))
        .unwrap_or_default();
    writeln!(
        out,
        "== {} {}  ({} event(s), {} with findings{severity})",
        g.by.as_str(),
        escape(&g.key),
        g.events,
        g.findings
    )?;
    let mut facts = vec![format!("{} → {}", time(g.first), time(g.last))];
    if g.by != crate::timeline::By::Actor && !g.actors.is_empty() {
        facts.push(format!("actors {}", few(&g.actors, 3)));
    }
    if g.by != crate::timeline::By::Ip && !g.source_ips.is_empty() {
        facts.push(format!("from {}", few(&g.source_ips, 4)));
    }
    facts.push(format!("accounts {}", few(&g.accounts, 4)));
    facts.push(format!("regions {}", few(&g.regions, 6)));
    facts.push(format!("services {}", few(&g.services, 8)));
    if g.errors > 0 {
        let top: Vec<String> = g
            .error_codes
            .iter()
            .take(3)
            .map(|(c, n)| format!("{} ×{n}", escape(c)))
            .collect();
        facts.push(format!("errors {} ({})", g.errors, top.join(", ")));
    }
    for line in wrap(&facts, width.unwrap_or(usize::MAX).max(40)) {
        writeln!(out, "   {line}")?;
    }
    if g.hidden > 0 {
        writeln!(
            out,
            "   {} earlier event(s) before the first finding not shown",
            g.hidden
        )?;
    }
    Ok(())
}

/// Joins facts with ` · `, breaking lines before `width`.
fn wrap(facts: &[String], width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for f in facts {
        if !line.is_empty() && line.chars().count() + 3 + f.chars().count() + 3 > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push_str(" · ");
        }
        line.push_str(f);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The time from the first event to the last, in its two largest units (`3d4h`, `15m7s`).
fn span(first: Option<jiff::Timestamp>, last: Option<jiff::Timestamp>) -> String {
    let (Some(a), Some(b)) = (first, last) else {
        return String::new();
    };
    let secs = b.as_second().saturating_sub(a.as_second()).max(0);
    let units = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let Some(i) = units.iter().position(|(_, n)| secs >= *n) else {
        return "0s".into();
    };
    let (u, n) = units[i];
    let mut text = format!("{}{u}", secs / n);
    if let Some((v, m)) = units.get(i + 1) {
        let rest = (secs % n) / m;
        if rest > 0 {
            text.push_str(&format!("{rest}{v}"));
        }
    }
    text
}

fn groups_table(out: &mut dyn Write, groups: &[Group]) -> io::Result<()> {
    let header: Vec<String> = [
        "FIRST", "SPAN", "EVENTS", "FINDINGS", "SEVERITY", "ERRORS", "GROUP", "SERVICES",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            vec![
                time(g.first),
                span(g.first, g.last),
                g.events.to_string(),
                g.findings.to_string(),
                g.severity.map(|s| s.to_string()).unwrap_or_default(),
                g.errors.to_string(),
                escape(&g.key),
                few(&g.services, 3),
            ]
        })
        .collect();
    write_table(out, &header, &rows, terminal_width(), &|_, _, t| t, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_in_two_units() {
        let t = |s: &str| Some(s.parse::<jiff::Timestamp>().unwrap());
        let a = t("2026-11-20T10:00:00Z");
        assert_eq!(span(a, t("2026-11-20T10:15:07Z")), "15m7s");
        assert_eq!(span(a, t("2026-11-23T14:00:00Z")), "3d4h");
        assert_eq!(span(a, t("2026-11-20T11:00:30Z")), "1h");
        assert_eq!(span(a, a), "0s");
        assert_eq!(span(a, None), "");
    }

    #[test]
    fn facts_wrap_at_the_width() {
        let facts: Vec<String> = ["a".repeat(30), "b".repeat(30), "c".repeat(30)].into();
        let lines = wrap(&facts, 70);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines.iter().all(|l| l.chars().count() <= 70));
    }
}
