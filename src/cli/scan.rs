//! `trailwatch scan`: read CloudTrail logs from files and directories and report findings.

use super::ColorChoice;
use super::ruleset::{RuleArgs, report, usage};
use super::stdout_is_terminal;
use crate::catalog::{Catalog, Severity};
use crate::engine::Filter;
use crate::noise::Noise;
use crate::output::{self, Format};
use crate::rules::packs;
use crate::scan::held::Held;
use crate::scan::summary::Summary;
use crate::scan::{self, Options, Report};
use crate::setup::engine::{self as setup_engine, EngineOptions};
use crate::setup::{RuleSet, suppressions};
use crate::source::file;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Bad records named on stderr per input; the rest are counted.
const BAD_RECORDS_SHOWN: usize = 5;

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Files, directories (read recursively), s3://bucket[/prefix] URLs and `-` (standard
    /// input). Any mix of S3
    /// delivery files (.json.gz), JSON, JSON Lines, EventBridge envelopes and LookupEvents output.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// AWS profile for s3:// inputs.
    #[arg(long, env = "TRAILWATCH_PROFILE", value_name = "NAME")]
    profile: Option<String>,
    /// AWS region for s3:// inputs (default: the bucket's own region).
    #[arg(long, env = "TRAILWATCH_REGION", value_name = "REGION")]
    aws_region: Option<String>,
    /// Custom S3 endpoint for s3:// inputs (also AWS_ENDPOINT_URL).
    #[arg(long, env = "TRAILWATCH_ENDPOINT_URL", value_name = "URL")]
    endpoint_url: Option<String>,
    /// Output format [default: table on a terminal, jsonl otherwise].
    #[arg(short, long, value_enum)]
    pub(super) format: Option<Format>,
    /// Write findings to this file instead of standard output; .csv, .json, .jsonl choose the
    /// format, and .html writes the HTML report (as `trailwatch report`).
    #[arg(short, long, value_name = "FILE")]
    pub(super) output: Option<PathBuf>,
    /// Only events of these services: catalog slugs (`trailwatch catalog`) or eventSource prefixes
    /// (`signin`, `ec2`), any case; repeat or comma-separate.
    #[arg(long, value_delimiter = ',', value_name = "SERVICE")]
    service: Vec<String>,
    /// Only these event names (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    event: Vec<String>,
    /// Only findings of at least this severity.
    #[arg(long, value_name = "SEVERITY")]
    min_severity: Option<Severity>,
    /// Only events at or after this time: RFC 3339, a date, or a duration back from now (24h, 7d).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only events before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only events in these accounts (recipientAccountId; repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_name = "ACCOUNT_ID")]
    account: Vec<String>,
    /// Only events in these regions (awsRegion; repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_name = "REGION")]
    region: Vec<String>,
    /// Largest decompressed size read from one input (e.g. 512M, 2G); larger inputs are reported.
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = parse_size)]
    max_size: u64,
    /// Worker threads [default: one per core].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Colour the severity column.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    color: ColorChoice,
    /// Do not print the summary or the progress bar.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    rules: RuleArgs,
    /// Suppression file (YAML, see docs/rules.md). Repeatable.
    #[arg(long, value_name = "FILE")]
    suppress: Vec<PathBuf>,
    /// Also print suppressed findings, with `suppressed_by` set to the reason.
    #[arg(long)]
    show_suppressed: bool,
    /// Apply the rules' dedup windows: repeats fold into the first finding, which then carries
    /// `count`, `first_time` and `last_time` (output is written at the end). Without it every
    /// matching record is reported.
    #[arg(long)]
    dedup: bool,
    /// Also send the findings through the alert routes and sinks of --config (for scheduled
    /// runs; `watch` is the path with guaranteed delivery).
    #[arg(long, requires = "config")]
    alert: bool,
    /// Configuration file: with --alert, its [sinks], [[routes]] and [alerts], and its [rules]
    /// (packs, rule files and suppressions, each unless given as a flag).
    #[arg(long, env = "TRAILWATCH_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Also write the findings as a self-contained HTML report to this file (see docs/report.md).
    #[arg(long, value_name = "FILE")]
    pub(super) report: Option<PathBuf>,
    /// Write no finding stream (`trailwatch report`: the report is the output).
    #[arg(skip)]
    pub(super) no_stream: bool,
    /// Log level of what S3 inputs and --alert log: error, warn, info, debug, trace (also
    /// TRAILWATCH_LOG, which accepts filters).
    #[arg(
        long,
        env = "TRAILWATCH_LOG",
        default_value = "warn",
        value_name = "LEVEL"
    )]
    log: String,
}

pub fn run(mut args: ScanArgs) -> Result<ExitCode> {
    let started = Instant::now();
    if args.format.is_none() && args.output.as_deref().is_some_and(super::search::is_html) {
        // `-o report.html`: the report is the output, as with `trailwatch report`.
        if args.report.is_some() {
            return Err(super::UsageError(
                "-o FILE.html writes the report; give it or --report, not both".into(),
            )
            .into());
        }
        args.report = args.output.take();
        args.no_stream = true;
    }
    super::init_logging(&args.log, super::watch::LogFormat::Text);
    // With --alert, the configuration's [rules] (packs, rule files, suppressions) apply as they
    // do in `watch`, flags first: what is alerted is what `watch` would alert.
    let mut inline = Vec::new();
    if let (true, Some(path)) = (args.alert, &args.config) {
        let file =
            crate::config::Config::load(path).map_err(|e| super::UsageError(e.to_string()))?;
        (args.rules, args.suppress) =
            super::watch::rules_with_config(&args.rules, &args.suppress, &file);
        inline = suppressions::from_config(&file.inline_suppressions()).map_err(usage)?;
    }
    let catalog = Catalog::builtin().context("loading the built-in catalog")?;
    let loaded = RuleSet::load(&catalog, &args.rules.sources(), packs::DEFAULT).map_err(usage)?;
    let rule_errors = report(&loaded.errors);
    let mut suppressions = suppressions::load_files(&args.suppress).map_err(usage)?;
    suppressions.extend(inline);
    let opts = EngineOptions {
        services: args.service.clone(),
        events: args.event.clone(),
        min_severity: args.min_severity,
        suppressions,
        show_suppressed: args.show_suppressed,
        ..EngineOptions::new()
    };
    let engine =
        std::sync::Arc::new(setup_engine::build(&catalog, loaded.rules, opts).map_err(usage)?);
    for s in engine.expired_suppressions() {
        eprintln!(
            "trailwatch: warning: suppression '{}' expired on {} and is ignored",
            s.reason,
            s.expires.map(|d| d.to_string()).unwrap_or_default()
        );
    }
    let filter = build_filter(&args, &catalog)?;
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .context("starting worker threads")?;
    }
    let (urls, paths): (Vec<PathBuf>, Vec<PathBuf>) = args
        .inputs
        .iter()
        .cloned()
        .partition(|p| p.to_str().is_some_and(|s| s.starts_with("s3://")));
    let urls: Vec<String> = urls.iter().map(|p| p.display().to_string()).collect();
    let (stdin, paths): (Vec<PathBuf>, Vec<PathBuf>) =
        paths.into_iter().partition(|p| p.as_os_str() == "-");
    let stdin = match stdin.len() {
        0 => None,
        1 => Some(super::search::read_stdin(args.max_size)?),
        _ => return Err(super::UsageError("standard input (-) can be named once".into()).into()),
    };
    let inputs = file::collect(&paths);
    let mut summary = Summary {
        passed_over: inputs.passed_over as u64,
        ..Summary::default()
    };
    summary.digests += inputs.digests.len() as u64;
    for e in &inputs.errors {
        eprintln!("trailwatch: error: {e}");
        summary.bad_inputs += 1;
    }

    let to_terminal = args.output.is_none() && !args.no_stream && stdout_is_terminal();
    let inferred = match &args.output {
        Some(p) if args.format.is_none() => super::search::format_for_path(p)?,
        _ => None,
    };
    let format = args.format.or(inferred).unwrap_or(if to_terminal {
        Format::Table
    } else {
        Format::Jsonl
    });
    let out: Box<dyn Write> = match &args.output {
        _ if args.no_stream => Box::new(std::io::sink()),
        Some(path) => Box::new(BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout().lock())),
    };
    let mut sink = output::open(format, out, args.color.enabled(to_terminal));
    let progress = progress_bar(inputs.files.len() as u64, args.quiet);
    let opts = Options {
        max_size: args.max_size,
        raw: args.report.is_some(),
    };

    let mut write_error = None;
    let mut noise = Noise::new(args.dedup);
    let mut held = Held::default();
    let mut to_alert: Vec<crate::finding::Finding> = Vec::new();
    let mut to_report: Vec<crate::finding::Finding> = Vec::new();
    let mut handle = |report: crate::scan::Report| {
        progress.inc(1);
        if report.is_foreign() && inputs.walked(&report.name) {
            summary.not_cloudtrail += 1;
            return;
        }
        progress.suspend(|| print_problems(&report));
        summary.add(&report);
        if args.alert && !args.dedup {
            to_alert.extend(
                report
                    .findings
                    .iter()
                    .filter(|f| f.suppressed_by.is_none())
                    .cloned(),
            );
        }
        if args.report.is_some() && !args.dedup {
            to_report.extend(report.findings.iter().cloned());
        }
        if args.dedup {
            held.add(report);
        } else if write_error.is_none()
            && let Err(e) = report.findings.iter().try_for_each(|f| sink.write(f))
        {
            write_error = Some(e);
        }
    };
    if let Some(bytes) = &stdin {
        let mut report = scan::scan_blob("(stdin)", bytes, &engine, &filter, &opts);
        scan::apply_noise(&engine, &mut noise, &mut report);
        handle(report);
    }
    scan::run(
        &inputs.files,
        &engine,
        &filter,
        &opts,
        &mut noise,
        &mut handle,
    );
    if !urls.is_empty() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let aws_opts = crate::aws::AwsOptions {
            profile: args.profile.clone(),
            region: args.aws_region.clone(),
            endpoint_url: args.endpoint_url.clone(),
        };
        let scope = crate::source::layout::Scope {
            accounts: args.account.clone(),
            regions: args.region.clone(),
            since: filter.since,
            until: filter.until,
        };
        let listing = rt.block_on(crate::scan::s3::scan(
            &urls,
            &aws_opts,
            &scope,
            engine.clone(),
            std::sync::Arc::new(filter.clone()),
            &opts,
            |mut report| {
                scan::apply_noise(&engine, &mut noise, &mut report);
                handle(report);
            },
        ));
        if !args.quiet {
            progress.suspend(|| {
                eprintln!(
                    "trailwatch: s3: {} object(s) selected with {} list request(s)",
                    listing.objects, listing.requests
                )
            });
        }
    }
    progress.finish_and_clear();
    let held = held.into_findings();
    if args.dedup && write_error.is_none() {
        write_error = held.iter().try_for_each(|f| sink.write(f)).err();
    }
    if args.alert && args.dedup {
        to_alert = held
            .iter()
            .filter(|f| f.suppressed_by.is_none())
            .cloned()
            .collect();
    }
    if let Some(e) = write_error {
        return Err(e).context("writing findings");
    }
    sink.finish().context("writing findings")?;
    if let Some(path) = &args.report {
        let findings = if args.dedup { &held } else { &to_report };
        super::report::write(path, findings, engine.rules(), &args.inputs)?;
        if !args.quiet {
            eprintln!(
                "trailwatch: report: {} finding(s) written to {}",
                findings.len(),
                path.display()
            );
        }
    }
    summary.noise = noise.stats;
    summary.expired = engine
        .expired_suppressions()
        .iter()
        .map(|s| s.reason.clone())
        .collect();
    let mut alert_failures = 0;
    if let (true, Some(config)) = (args.alert, &args.config) {
        let (sent, failed) = super::alert::send_findings(config, &to_alert)?;
        alert_failures = failed;
        if !args.quiet {
            eprintln!("trailwatch: alerts: {sent} delivered, {failed} failed");
        }
    }
    if !args.quiet {
        eprint!("{}", summary.render(started.elapsed()));
    }
    Ok(if rule_errors {
        ExitCode::from(2)
    } else if summary.had_errors() || alert_failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn build_filter(args: &ScanArgs, catalog: &Catalog) -> Result<Filter> {
    let now = jiff::Timestamp::now();
    let filter = Filter {
        events: args.event.clone(),
        since: setup_engine::time_bound(args.since.as_deref(), now).map_err(usage)?,
        until: setup_engine::time_bound(args.until.as_deref(), now).map_err(usage)?,
        accounts: args.account.clone(),
        regions: args.region.clone(),
        ..Filter::default()
    };
    Ok(filter.with_services(&args.service, catalog))
}

pub(super) fn print_problems(report: &Report) {
    if let Some(e) = &report.error {
        eprintln!("trailwatch: error: {}: {e}", report.name);
    }
    for (location, e) in report.bad_records.iter().take(BAD_RECORDS_SHOWN) {
        eprintln!("trailwatch: bad record: {location}: {e}");
    }
    let more = report.bad_records.len().saturating_sub(BAD_RECORDS_SHOWN);
    if more > 0 {
        eprintln!("trailwatch: bad record: {}: {more} more", report.name);
    }
}

fn progress_bar(len: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} files {elapsed} (eta {eta})")
    {
        bar.set_style(style);
    }
    bar
}

/// Parses sizes such as `512M`, `2G`, `1048576` (a clap value parser).
pub(super) fn parse_size(s: &str) -> Result<u64, String> {
    crate::units::size(s).map_err(|e| e.to_string())
}
