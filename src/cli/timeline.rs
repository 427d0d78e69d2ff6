//! `trailwatch timeline`: the events the filters match, grouped by actor, session or source
//! address, each group in time order with its findings explained inline.

use super::UsageError;
use super::filters::FilterArgs;
use super::ruleset::{RuleArgs, report, usage};
use super::search::{gather, render};
use super::stdout_is_terminal;
use crate::catalog::Catalog;
use crate::output::Format;
use crate::output::timeline::{self as out, TimelineFormat};
use crate::rules::packs;
use crate::scan::Options;
use crate::scan::summary::Summary;
use crate::search::fields::Field;
use crate::search::{self, Query, Tally};
use crate::setup::RuleSet;
use crate::setup::engine::{self as setup_engine, EngineOptions};
use crate::timeline::{self, By, FIELDS};
use anyhow::{Context, Result};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct TimelineArgs {
    /// Files, directories (read recursively), or `-` for standard input.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Group events by the principal, the session (access key) or the source address.
    #[arg(long, value_enum, default_value = "actor", value_name = "WHAT")]
    by: ByArg,
    /// Each group from its first finding on: what the principal did after the alert.
    #[arg(long)]
    from_finding: bool,
    /// Only groups with at least one finding.
    #[arg(long)]
    flagged: bool,
    /// One row per group (first and last seen, counts, regions, services, errors) instead of
    /// its events.
    #[arg(long)]
    groups: bool,
    #[command(flatten)]
    filter: FilterArgs,
    /// Output format [default: from -o's extension, else table on a terminal, jsonl otherwise].
    #[arg(short, long, value_enum)]
    format: Option<Format>,
    /// Write the timeline to this file; .csv, .json, .jsonl choose the format.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Largest decompressed size read from one input (e.g. 512M, 2G).
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = super::scan::parse_size)]
    max_size: u64,
    /// Worker threads [default: one per core].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Do not print the summary.
    #[arg(short, long)]
    quiet: bool,
    /// The rules whose findings the timeline marks.
    #[command(flatten)]
    rules: RuleArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ByArg {
    Actor,
    Session,
    Ip,
}

pub fn run(args: TimelineArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let conds = args.filter.conditions()?;
    let now = jiff::Timestamp::now();
    let since = setup_engine::time_bound(args.filter.since.as_deref(), now).map_err(usage)?;
    let until = setup_engine::time_bound(args.filter.until.as_deref(), now).map_err(usage)?;
    let to_terminal = args.output.is_none() && stdout_is_terminal();
    let inferred = match &args.output {
        Some(p) if args.format.is_none() => super::search::format_for_path(p)?,
        _ => None,
    };
    let format = match args.format.or(inferred) {
        Some(Format::Table) => TimelineFormat::Table,
        Some(Format::Jsonl) => TimelineFormat::Jsonl,
        Some(Format::Json) => TimelineFormat::Json,
        Some(Format::Csv) => TimelineFormat::Csv,
        Some(Format::Ocsf) => {
            return Err(UsageError(
                "a timeline is events, not findings: --format ocsf is for scan".into(),
            )
            .into());
        }
        None if to_terminal => TimelineFormat::Table,
        None => TimelineFormat::Jsonl,
    };
    let by = match args.by {
        ByArg::Actor => By::Actor,
        ByArg::Session => By::Session,
        ByArg::Ip => By::Ip,
    };

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
    let fields = Field::list(FIELDS).map_err(UsageError)?;
    let query = Query::new(conds, since, until, fields, false);

    let mut summary = Summary::default();
    let (inputs, collected) = gather(&args.inputs, args.max_size, &mut summary)?;
    let mut tally = Tally::default();
    let mut hits = Vec::new();
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
        hits.extend(r.hits);
    });
    let matched = hits.len() as u64;
    let groups = timeline::build(
        hits,
        timeline::Options {
            by,
            from_finding: args.from_finding,
            flagged: args.flagged,
        },
    );

    let mut sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout().lock())),
    };
    out::write(&mut *sink, format, &groups, args.groups).context("writing the timeline")?;
    if !args.quiet {
        let mut text = render(&summary, &tally, matched, &args.filter, started.elapsed());
        let flagged = groups.iter().filter(|g| g.findings > 0).count();
        let line = format!(
            "  groups      {} by {}, {flagged} with findings\n",
            groups.len(),
            by.as_str()
        );
        if let Some(at) = text.find("  time ") {
            text.insert_str(at, &line);
        }
        eprint!("{text}");
    }
    Ok(if rule_errors {
        ExitCode::from(2)
    } else if summary.had_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
