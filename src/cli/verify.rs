//! `trailwatch verify`: check CloudTrail's digest chain over local copies and trail buckets.

use super::UsageError;
use crate::aws::AwsOptions;
use crate::record::time;
use crate::verify::chain::{self, Range};
use crate::verify::keys::PublicKeys;
use crate::verify::report::{self, Totals};
use crate::verify::{Collected, Options, cloudtrail, local, s3};
use anyhow::{Context, Result};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Output formats of `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyFormat {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Folders in the S3 layout (`.../AWSLogs/...`) and s3://bucket[/prefix] URLs.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// CloudTrail public keys: the JSON `aws cloudtrail list-public-keys` prints, for each
    /// region verified and covering the period. Repeatable. Without it, the keys come from
    /// CloudTrail's ListPublicKeys API in each region verified (standard AWS credentials).
    #[arg(long, value_name = "FILE")]
    public_keys: Vec<PathBuf>,
    /// Only these accounts (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_name = "ACCOUNT_ID")]
    account: Vec<String>,
    /// Only these regions (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_name = "REGION")]
    region: Vec<String>,
    /// Digests from this time on (RFC 3339, a date, or a duration back from now). The chain must
    /// start within an hour of it.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Digests before this time (same forms). The chain must reach to within an hour of it.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    format: VerifyFormat,
    /// For s3:// inputs: also copy every object read to --to, with each digest's signature in
    /// a sidecar (`<digest>.sig.json`), so that the copy verifies offline.
    #[arg(long, requires = "to")]
    fetch_signatures: bool,
    /// The folder --fetch-signatures writes to.
    #[arg(long, value_name = "DIR", requires = "fetch_signatures")]
    to: Option<PathBuf>,
    /// AWS profile for s3:// inputs.
    #[arg(long, env = "TRAILWATCH_PROFILE", value_name = "NAME")]
    profile: Option<String>,
    /// AWS region for s3:// inputs (default: the bucket's own region).
    #[arg(long, env = "TRAILWATCH_REGION", value_name = "REGION")]
    aws_region: Option<String>,
    /// Custom endpoint for S3 and CloudTrail (also AWS_ENDPOINT_URL, or per service
    /// AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_CLOUDTRAIL).
    #[arg(long, env = "TRAILWATCH_ENDPOINT_URL", value_name = "URL")]
    endpoint_url: Option<String>,
    /// Largest decompressed size read from one file (e.g. 512M).
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = super::scan::parse_size)]
    max_size: u64,
    /// Worker threads [default: one per core].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let now = jiff::Timestamp::now();
    let bound = |s: &Option<String>| -> Result<_> {
        s.as_deref()
            .map(|s| time::parse_bound(s, now))
            .transpose()
            .map_err(|e| UsageError(e.to_string()).into())
    };
    let range = Range {
        since: bound(&args.since)?,
        until: bound(&args.until)?,
    };
    let mut keys = load_keys(&args.public_keys)?;
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
    if args.fetch_signatures && urls.is_empty() {
        return Err(UsageError("--fetch-signatures needs an s3:// input".into()).into());
    }
    let opts = Options {
        accounts: args.account.clone(),
        regions: args.region.clone(),
        range,
        max_size: args.max_size,
    };
    let mut all = local::collect(&paths, &opts);
    let aws_opts = AwsOptions {
        profile: args.profile.clone(),
        region: args.aws_region.clone(),
        endpoint_url: args.endpoint_url.clone(),
    };
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")
    };
    if !urls.is_empty() {
        let got = runtime()?.block_on(s3::collect(&urls, &aws_opts, &opts, args.to.as_deref()));
        merge(&mut all, got);
    }
    if args.public_keys.is_empty() {
        let periods = cloudtrail::periods(&all.digests);
        if !periods.is_empty() {
            let failed = runtime()?.block_on(cloudtrail::fetch(&aws_opts, &periods, &mut keys));
            all.unreadable.extend(failed);
        }
    }
    for e in &all.unreadable {
        eprintln!("trailwatch: error: {e}");
    }
    // The last hour's digest may still be on its way: the chain must reach `until` only up to
    // two hours ago.
    let settled = Range {
        until: range
            .until
            .map(|u| u.min(now - jiff::SignedDuration::from_hours(2))),
        ..range
    };
    let analysis = chain::analyse(&all.digests, &all.logs, &all.events, &keys, settled);
    let mut totals = Totals::of(&analysis);
    totals.unreadable = all.unreadable.len() as u64;
    totals.files_read = all.files;
    totals.bytes_read = all.bytes;
    totals.seconds = started.elapsed().as_secs_f64();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match args.format {
        VerifyFormat::Table => report::table(&mut out, &analysis, &totals)?,
        VerifyFormat::Json => report::json(&mut out, &analysis, &totals)?,
    }
    out.flush()?;
    Ok(if totals.holds() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The keys of every `--public-keys` file (none: they come from the API later).
fn load_keys(files: &[PathBuf]) -> Result<PublicKeys> {
    let mut keys = PublicKeys::default();
    for f in files {
        let text =
            std::fs::read_to_string(f).map_err(|e| UsageError(format!("{}: {e}", f.display())))?;
        keys.add_json(&f.display().to_string(), &text)
            .map_err(|e| UsageError(e.to_string()))?;
    }
    Ok(keys)
}

fn merge(all: &mut Collected, more: Collected) {
    all.digests.extend(more.digests);
    all.logs.extend(more.logs);
    all.events.extend(more.events);
    all.unreadable.extend(more.unreadable);
    all.bytes += more.bytes;
    all.files += more.files;
    all.passed_over += more.passed_over;
}
