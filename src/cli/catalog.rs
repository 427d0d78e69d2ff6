//! `trailwatch catalog` and `trailwatch explain`: browse the built-in catalog.

use super::{UsageError, stdout_is_terminal};
use crate::catalog::{Catalog, Entry, SERVICES, service_name};
use anyhow::{Context, Result};
use serde::Serialize;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CatalogFormat {
    Table,
    Json,
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct CatalogArgs {
    /// Only this service (e.g. iam, s3, vpc; see the list with --format table).
    #[arg(long, value_name = "SERVICE")]
    service: Option<String>,
    /// Only entries whose name, title or text contains this (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    search: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: CatalogFormat,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The CloudTrail eventName, e.g. StopLogging (case-insensitive).
    event_name: String,
    /// Only the entry logged under this eventSource (e.g. iam.amazonaws.com).
    #[arg(long, value_name = "SOURCE")]
    source: Option<String>,
}

/// An entry as `catalog --format json` prints it.
#[derive(Serialize)]
struct EntryJson<'a> {
    service: &'a str,
    service_name: &'a str,
    event_name: &'a str,
    event_sources: &'a [String],
    severity: crate::catalog::Severity,
    rule_id: String,
    title: &'a str,
    summary: &'a str,
    why: &'a str,
    /// MITRE ATT&CK tactic and technique ids.
    attack: &'a [String],
    /// Compliance controls the event evidences.
    controls: &'a [String],
}

pub fn list(args: CatalogArgs) -> Result<ExitCode> {
    let catalog = Catalog::builtin().context("loading the built-in catalog")?;
    if let Some(s) = &args.service
        && service_name(s).is_none()
    {
        let known: Vec<&str> = SERVICES.iter().map(|(s, _)| *s).collect();
        return Err(UsageError(format!(
            "unknown service '{s}' (known: {})",
            known.join(", ")
        ))
        .into());
    }
    let needle = args.search.as_deref().map(str::to_lowercase);
    let entries: Vec<&Entry> = catalog
        .entries()
        .iter()
        .filter(|e| args.service.as_ref().is_none_or(|s| &e.service == s))
        .filter(|e| needle.as_ref().is_none_or(|n| contains(e, n)))
        .collect();
    let mut out = BufWriter::new(std::io::stdout().lock());
    match args.format {
        CatalogFormat::Json => {
            let items: Vec<EntryJson> = entries.iter().map(|e| to_json(e)).collect();
            serde_json::to_writer_pretty(&mut out, &items)?;
            writeln!(out)?;
        }
        CatalogFormat::Markdown => write_markdown(&mut out, &entries)?,
        CatalogFormat::Table => write_table(&mut out, &entries)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub fn explain(args: ExplainArgs) -> Result<ExitCode> {
    let catalog = Catalog::builtin().context("loading the built-in catalog")?;
    let found: Vec<&Entry> = catalog
        .by_name(&args.event_name)
        .filter(|e| {
            args.source
                .as_ref()
                .is_none_or(|s| e.event_sources.contains(s))
        })
        .collect();
    if found.is_empty() {
        let hint = match &args.source {
            Some(s) => format!(" logged by {s}"),
            None => String::new(),
        };
        return Err(UsageError(format!(
            "'{}'{hint} is not in the catalog (try: trailwatch catalog --search {})",
            args.event_name, args.event_name
        ))
        .into());
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (i, e) in found.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        write_entry(&mut out, e)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn to_json(e: &Entry) -> EntryJson<'_> {
    EntryJson {
        service: &e.service,
        service_name: service_name(&e.service).unwrap_or_default(),
        event_name: &e.event_name,
        event_sources: &e.event_sources,
        severity: e.severity,
        rule_id: e.rule_id(),
        title: &e.title,
        summary: &e.summary,
        why: &e.why,
        attack: &e.attack,
        controls: &e.controls,
    }
}

fn contains(e: &Entry, needle: &str) -> bool {
    [&e.event_name, &e.title, &e.summary, &e.why, &e.service]
        .iter()
        .any(|t| t.to_lowercase().contains(needle))
}

fn write_table(out: &mut impl Write, entries: &[&Entry]) -> Result<()> {
    writeln!(
        out,
        "{:<16}  {:<38}  {:<8}  TITLE",
        "SERVICE", "EVENT", "SEVERITY"
    )?;
    for e in entries {
        writeln!(
            out,
            "{:<16}  {:<38}  {:<8}  {}",
            e.service, e.event_name, e.severity, e.title
        )?;
    }
    if stdout_is_terminal() {
        writeln!(
            out,
            "\n{} entries. Details: trailwatch explain EVENT_NAME",
            entries.len()
        )?;
    }
    Ok(())
}

fn write_markdown(out: &mut impl Write, entries: &[&Entry]) -> Result<()> {
    let mut current = "";
    for e in entries {
        if e.service != current {
            current = &e.service;
            let name = service_name(current).unwrap_or(current);
            writeln!(out, "\n## {name} (`{current}`)\n")?;
            writeln!(
                out,
                "| Event | Severity | Event source | What happened | Why it matters |"
            )?;
            writeln!(out, "| --- | --- | --- | --- | --- |")?;
        }
        let sources: Vec<String> = e.event_sources.iter().map(|s| format!("`{s}`")).collect();
        writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            e.event_name,
            e.severity,
            sources.join(", "),
            cell(&e.summary),
            cell(&e.why)
        )?;
    }
    Ok(())
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn write_entry(out: &mut impl Write, e: &Entry) -> Result<()> {
    let service = service_name(&e.service).unwrap_or(&e.service);
    writeln!(out, "{}  —  {}", e.event_name, e.title)?;
    writeln!(out, "  service:   {service} ({})", e.service)?;
    writeln!(out, "  source:    {}", e.event_sources.join(", "))?;
    writeln!(out, "  severity:  {}", e.severity)?;
    writeln!(out, "  rule id:   {}", e.rule_id())?;
    if !e.attack.is_empty() {
        let named: Vec<String> = e
            .attack
            .iter()
            .map(|id| match crate::rules::attack::name(id) {
                Some(name) => format!("{id} {name}"),
                None => id.clone(),
            })
            .collect();
        writeln!(out, "  ATT&CK:    {}", named.join("; "))?;
    }
    if !e.controls.is_empty() {
        writeln!(out, "  controls:  {}", e.controls.join(", "))?;
    }
    writeln!(out)?;
    writeln!(out, "What happened")?;
    for line in wrap(&e.summary, 92) {
        writeln!(out, "  {line}")?;
    }
    writeln!(out)?;
    writeln!(out, "Why it matters")?;
    for line in wrap(&e.why, 92) {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

/// Greedy word wrap.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}
