//! `trailwatch search`: every event (not only findings) that matches `--where` expressions and
//! the short forms, in time order, in the scan formats or as raw records.

use super::ColorChoice;
use super::UsageError;
use super::filters::FilterArgs;
use super::ruleset::{RuleArgs, report, usage};
use super::stdout_is_terminal;
use crate::catalog::Catalog;
use crate::output::Format;
use crate::output::events::{EventFormat, EventWriter};
use crate::rules::packs;
use crate::scan::Options;
use crate::scan::summary::Summary;
use crate::search::fields::{self, Field};
use crate::search::{self, Hit, Input, Query, Tally};
use crate::setup::RuleSet;
use crate::setup::engine::{self as setup_engine, EngineOptions};
use crate::source::file;
use anyhow::{Context, Result};
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Files, directories (read recursively), or `-` for standard input.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    filter: FilterArgs,
    /// Output format [default: from -o's extension, else table on a terminal, jsonl otherwise].
    #[arg(short, long, value_enum)]
    format: Option<Format>,
    /// The columns: names (time, event, source, account, region, actor, actor_type, access_key,
    /// source_ip, user_agent, error, event_id, location, findings) or field paths.
    #[arg(long, value_name = "LIST")]
    fields: Option<String>,
    /// Write each matching record whole, one JSON object per line (for jq).
    #[arg(long, conflicts_with_all = ["format", "fields"])]
    raw: bool,
    /// Order of results: by event time (default), or as read (streams, uses no memory).
    #[arg(long, value_enum, default_value = "time", value_name = "ORDER")]
    sort: Sort,
    /// Write results to this file; .csv, .json, .jsonl choose the format.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Largest decompressed size read from one input (e.g. 512M, 2G).
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = super::scan::parse_size)]
    max_size: u64,
    /// Worker threads [default: one per core].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Colour (the table has none yet; accepted for symmetry with scan).
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        value_name = "WHEN",
        hide = true
    )]
    color: ColorChoice,
    /// Do not print the summary.
    #[arg(short, long)]
    quiet: bool,
    /// The rules whose findings each result notes.
    #[command(flatten)]
    rules: RuleArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Sort {
    Time,
    Input,
}

/// Whether `path` names an HTML file (`.html`, `.htm`, any case).
pub(super) fn is_html(path: &std::path::Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"))
}

/// The format a file name asks for: .csv, .json, .jsonl (.ndjson). `.html` is refused here:
/// `scan` takes it before asking (its `-o FILE.html` writes the report, see [`is_html`]); a
/// search's events (or a timeline) are no report.
pub(super) fn format_for_path(path: &std::path::Path) -> Result<Option<Format>, UsageError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    Ok(match ext.as_deref() {
        Some("csv") => Some(Format::Csv),
        Some("json") => Some(Format::Json),
        Some("jsonl" | "ndjson") => Some(Format::Jsonl),
        Some("html" | "htm") => {
            return Err(UsageError(format!(
                "{}: an HTML report of findings is written by `trailwatch report` (or `scan -o FILE.html`), not here; use .jsonl, .json or .csv",
                path.display()
            )));
        }
        _ => None,
    })
}

pub fn run(args: SearchArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let conds = args.filter.conditions()?;
    let now = jiff::Timestamp::now();
    let since = setup_engine::time_bound(args.filter.since.as_deref(), now).map_err(usage)?;
    let until = setup_engine::time_bound(args.filter.until.as_deref(), now).map_err(usage)?;
    let to_terminal = args.output.is_none() && stdout_is_terminal();
    let inferred = match &args.output {
        Some(p) if args.format.is_none() => format_for_path(p)?,
        _ => None,
    };
    let format = if args.raw {
        EventFormat::Raw
    } else {
        match args.format.or(inferred) {
            Some(Format::Table) => EventFormat::Table,
            Some(Format::Jsonl) => EventFormat::Jsonl,
            Some(Format::Json) => EventFormat::Json,
            Some(Format::Csv) => EventFormat::Csv,
            Some(Format::Ocsf) => {
                return Err(UsageError(
                    "search writes events, not findings: --format ocsf is for scan".into(),
                )
                .into());
            }
            None if to_terminal => EventFormat::Table,
            None => EventFormat::Jsonl,
        }
    };
    let default_fields = if format == EventFormat::Table {
        fields::TABLE
    } else {
        fields::DEFAULT
    };
    let fields =
        Field::list(args.fields.as_deref().unwrap_or(default_fields)).map_err(UsageError)?;
    if fields.is_empty() {
        return Err(UsageError("--fields names no column".into()).into());
    }

    let catalog = Catalog::builtin().context("loading the built-in catalog")?;
    let loaded = RuleSet::load(&catalog, &args.rules.sources(), packs::DEFAULT).map_err(usage)?;
    let rule_errors = report(&loaded.errors);
    let engine =
        setup_engine::build(&catalog, loaded.rules, EngineOptions::new()).map_err(usage)?;
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .context("starting worker threads")?;
    }
    let query = Query::new(conds, since, until, fields.clone(), args.raw);

    let mut summary = Summary::default();
    let (inputs, collected) = gather(&args.inputs, args.max_size, &mut summary)?;

    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout().lock())),
    };
    let mut writer = EventWriter::new(format, out, fields);
    let mut tally = Tally::default();
    let mut held: Vec<Hit> = Vec::new();
    let mut matched = 0u64;
    let mut write_error = None;
    let opts = Options {
        max_size: args.max_size,
        raw: false,
    };
    search::run(&inputs, &query, &engine, &opts, |r| {
        if r.report.is_foreign() && collected.walked(&r.report.name) {
            summary.not_cloudtrail += 1;
            return;
        }
        super::scan::print_problems(&r.report);
        summary.add(&r.report);
        tally.add(&r.tally);
        matched += r.hits.len() as u64;
        if args.sort == Sort::Time {
            held.extend(r.hits);
        } else if write_error.is_none() {
            write_error = r.hits.iter().try_for_each(|h| writer.write(h)).err();
        }
    });
    // Stable: events of the same second stay in the order read; events without a time last.
    held.sort_by_key(|h| (h.time.is_none(), h.time));
    if write_error.is_none() {
        write_error = held.iter().try_for_each(|h| writer.write(h)).err();
    }
    if let Some(e) = write_error {
        return Err(e).context("writing results");
    }
    writer.finish().context("writing results")?;
    if !args.quiet {
        eprint!(
            "{}",
            render(&summary, &tally, matched, &args.filter, started.elapsed())
        );
    }
    Ok(if rule_errors {
        ExitCode::from(2)
    } else if summary.had_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The inputs named on the command line (`-` is standard input, read whole), with the walk's
/// counts and errors noted in `summary`.
pub(super) fn gather(
    names: &[PathBuf],
    max_size: u64,
    summary: &mut Summary,
) -> Result<(Vec<Input>, file::Inputs)> {
    let mut inputs = Vec::new();
    let (stdin, paths): (Vec<&PathBuf>, Vec<&PathBuf>) =
        names.iter().partition(|p| p.as_os_str() == "-");
    if stdin.len() > 1 {
        return Err(UsageError("standard input (-) can be named once".into()).into());
    }
    if !stdin.is_empty() {
        inputs.push(Input::Bytes {
            name: "(stdin)".into(),
            bytes: read_stdin(max_size)?,
        });
    }
    let paths: Vec<PathBuf> = paths.into_iter().cloned().collect();
    let collected = file::collect(&paths);
    summary.passed_over = collected.passed_over as u64;
    summary.digests += collected.digests.len() as u64;
    for e in &collected.errors {
        eprintln!("trailwatch: error: {e}");
        summary.bad_inputs += 1;
    }
    inputs.extend(collected.files.iter().cloned().map(Input::File));
    Ok((inputs, collected))
}

/// Standard input, up to one byte more than `max` (so a larger input is reported as such).
pub(super) fn read_stdin(max: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .context("reading standard input")?;
    Ok(bytes)
}

/// The summary of a search (and a timeline): what was read, what matched, and why nothing did.
pub(super) fn render(
    s: &Summary,
    tally: &Tally,
    matched: u64,
    filter: &FilterArgs,
    elapsed: std::time::Duration,
) -> String {
    let skipped = if s.not_cloudtrail > 0 {
        format!(
            ", {} file(s) are not CloudTrail (skipped)",
            s.not_cloudtrail
        )
    } else {
        String::new()
    };
    let mut out = format!(
        "  inputs      {} read{skipped}, {} record(s), {} parsed in full\n  matched     {matched}\n",
        s.inputs, s.records, s.parsed
    );
    if matched == 0 {
        let why = if s.inputs == 0 && s.bad_inputs == 0 {
            "no input files were found".to_string()
        } else if s.records == 0 {
            "the inputs hold no CloudTrail events".to_string()
        } else {
            tally.why_empty(s.records, filter.since.as_deref(), filter.until.as_deref())
        };
        out.push_str(&format!("  why none    {why}\n"));
    }
    if s.bad_inputs + s.bad_records > 0 {
        out.push_str(&format!(
            "  unreadable  {} input(s), {} record(s)\n",
            s.bad_inputs, s.bad_records
        ));
    }
    out.push_str(&format!("  time        {:.2}s\n", elapsed.as_secs_f64()));
    out
}
