//! `trailwatch watch` and `trailwatch config check`: settings from flags, `TRAILWATCH_*`
//! environment variables and the configuration file, in that order of precedence.

use super::UsageError;
use super::ruleset::{RuleArgs, report, usage};
use crate::aws::AwsOptions;
use crate::catalog::Catalog;
use crate::config::{self, Config};
use crate::engine::{Engine, Filter};
use crate::rules::packs;
use crate::scan::Options;
use crate::setup::engine::{self as setup_engine, EngineOptions};
use crate::setup::{RuleSet, SetupError, suppressions};
use crate::watch::{self, OnMissing, Output, Settings};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Options of `watch` (and what `config check` resolves).
#[derive(Debug, Clone, clap::Args)]
pub struct WatchArgs {
    /// Configuration file (TOML; see docs/watch.md).
    #[arg(long, env = "TRAILWATCH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SQS queue URL receiving S3, SNS or EventBridge notifications. Repeatable.
    #[arg(
        long,
        env = "TRAILWATCH_SQS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub sqs: Vec<String>,
    /// Local folder to follow: files that appear in it are read. Repeatable.
    #[arg(
        long,
        env = "TRAILWATCH_DIR",
        value_delimiter = ',',
        value_name = "PATH"
    )]
    pub dir: Vec<PathBuf>,
    /// S3 prefix to poll without notifications (s3://bucket/prefix). Repeatable.
    #[arg(long, env = "TRAILWATCH_S3", value_delimiter = ',', value_name = "URL")]
    pub s3: Vec<String>,
    /// How often --s3 prefixes are listed [default: 60s].
    #[arg(long, env = "TRAILWATCH_INTERVAL", value_name = "DURATION")]
    pub interval: Option<String>,
    /// How often --dir folders are walked in full, besides the operating system's file
    /// notifications (which make new files show up at once) [default: 60s].
    #[arg(long, env = "TRAILWATCH_DIR_RESCAN", value_name = "DURATION")]
    pub dir_rescan: Option<String>,
    /// How far back --s3 polling looks for objects not yet read [default: 2d].
    #[arg(long, env = "TRAILWATCH_LOOKBACK", value_name = "DURATION")]
    pub lookback: Option<String>,
    /// State database [default: $XDG_STATE_HOME/trailwatch/state.db].
    #[arg(long, env = "TRAILWATCH_STATE", value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Keep processed inputs and delivered findings this long [default: 30d].
    #[arg(long, env = "TRAILWATCH_RETENTION", value_name = "DURATION")]
    pub retention: Option<String>,
    /// Write findings (JSON Lines) to this file instead of standard output ("-": stdout).
    #[arg(short, long, env = "TRAILWATCH_OUTPUT", value_name = "FILE")]
    pub output: Option<String>,
    /// What each output line is: a trailwatch finding, or an OCSF Detection Finding
    /// [default: jsonl].
    #[arg(long, env = "TRAILWATCH_FORMAT", value_enum, value_name = "FORMAT")]
    pub format: Option<watch::OutputFormat>,
    /// AWS profile.
    #[arg(long, env = "TRAILWATCH_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region (default: from the environment or profile; queue URLs carry their own).
    #[arg(long, env = "TRAILWATCH_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// Custom AWS endpoint (also AWS_ENDPOINT_URL).
    #[arg(long, env = "TRAILWATCH_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Inputs fetched and scanned at once [default: 16].
    #[arg(long, env = "TRAILWATCH_CONCURRENCY", value_name = "N")]
    pub concurrency: Option<usize>,
    /// SQS visibility kept on messages being worked on [default: 5m].
    #[arg(long, env = "TRAILWATCH_VISIBILITY", value_name = "DURATION")]
    pub visibility: Option<String>,
    /// How long an unreadable message stays hidden before SQS offers it again [default: 5m].
    #[arg(long, env = "TRAILWATCH_POISON_BACKOFF", value_name = "DURATION")]
    pub poison_backoff: Option<String>,
    /// What to do when a notified object no longer exists [default: ack].
    #[arg(long, env = "TRAILWATCH_ON_MISSING", value_enum)]
    pub on_missing: Option<OnMissing>,
    /// How often a status line is logged [default: 60s].
    #[arg(long, env = "TRAILWATCH_STATUS_EVERY", value_name = "DURATION")]
    pub status_every: Option<String>,
    /// Largest decompressed size of one input [default: 512M].
    #[arg(long, env = "TRAILWATCH_MAX_SIZE", value_name = "SIZE")]
    pub max_size: Option<String>,
    /// Exit after this long without work instead of running until a signal.
    #[arg(long, value_name = "DURATION")]
    pub idle_exit: Option<String>,
    /// Log level: error, warn, info, debug, trace (also TRAILWATCH_LOG, which accepts filters).
    #[arg(
        long,
        env = "TRAILWATCH_LOG",
        default_value = "info",
        value_name = "LEVEL"
    )]
    pub log: String,
    /// Log lines as text for people or JSON objects (one a line) for log collectors.
    #[arg(
        long,
        env = "TRAILWATCH_LOG_FORMAT",
        value_enum,
        default_value = "text",
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,
    /// Serve /metrics (Prometheus), /healthz and /readyz on this address (e.g. 127.0.0.1:9464).
    #[arg(long, env = "TRAILWATCH_LISTEN", value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Pass over CloudTrail digest files instead of checking them as they arrive.
    #[arg(long, env = "TRAILWATCH_NO_DIGESTS")]
    pub no_digests: bool,
    /// A digest is late when none has arrived this long after the hour it was due
    /// [default: 1h].
    #[arg(long, env = "TRAILWATCH_DIGEST_LATE_AFTER", value_name = "DURATION")]
    pub digest_late_after: Option<String>,
    /// An account and region that usually sends log files is reported silent after this long
    /// without one ("off": never) [default: 2h].
    #[arg(long, env = "TRAILWATCH_SILENT_AFTER", value_name = "DURATION|off")]
    pub silent_after: Option<String>,
    /// CloudTrail public keys (the JSON `aws cloudtrail list-public-keys` prints) for digest
    /// signatures; without, they are asked of CloudTrail when an AWS source is watched.
    #[arg(long, value_name = "FILE")]
    pub public_keys: Vec<PathBuf>,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Suppression file (YAML). Repeatable.
    #[arg(
        long,
        env = "TRAILWATCH_SUPPRESS",
        value_delimiter = ',',
        value_name = "FILE"
    )]
    pub suppress: Vec<PathBuf>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings resolved from flags, environment and the config file, with the rules.
pub struct Resolved {
    pub settings: Settings,
    pub file: Config,
    pub rules: RuleArgs,
    pub suppress: Vec<PathBuf>,
    pub inline_suppressions: Vec<serde_json::Value>,
}

fn duration(text: &str, what: &str) -> Result<Duration> {
    crate::units::duration(text).map_err(|e| UsageError(format!("{what}: {e}")).into())
}

/// The flag's duration, else the config file's (already checked), else the default.
fn pick_duration(
    flag: &Option<String>,
    conf: Option<Duration>,
    default: &str,
    what: &str,
) -> Result<Duration> {
    match (flag, conf) {
        (Some(text), _) => duration(text, what),
        (None, Some(d)) => Ok(d),
        (None, None) => duration(default, what),
    }
}

/// The `[integrity]` settings: flags over the file over defaults.
fn integrity(args: &WatchArgs, file: &config::Integrity) -> Result<watch::integrity::Settings> {
    let defaults = watch::integrity::Settings::default();
    let late = pick_duration(
        &args.digest_late_after,
        file.late_after,
        "1h",
        "digest late after",
    )?;
    let silent = match args.silent_after.as_ref().or(file.silent_after.as_ref()) {
        Some(s) if s.eq_ignore_ascii_case("off") => None,
        Some(s) => Some(duration(s, "silent after")?.as_secs() as i64),
        None => defaults.timing.silent_after,
    };
    let public_keys = if args.public_keys.is_empty() {
        file.public_keys.clone()
    } else {
        args.public_keys.clone()
    };
    for f in &public_keys {
        if !f.is_file() {
            return Err(UsageError(format!("--public-keys {}: no such file", f.display())).into());
        }
    }
    Ok(watch::integrity::Settings {
        digests: !args.no_digests && file.digests.unwrap_or(true),
        timing: crate::verify::track::Timing {
            late_after: late.as_secs() as i64,
            silent_after: silent,
            usual_hours: file.usual_hours.unwrap_or(defaults.timing.usual_hours),
        },
        public_keys,
    })
}

/// Merges flags (and their environment variables) over the config file over defaults.
pub fn resolve(args: &WatchArgs) -> Result<Resolved> {
    let file = match &args.config {
        Some(p) => Config::load(p).map_err(|e| UsageError(e.to_string()))?,
        None => Config::default(),
    };
    let pick = |flag: &Option<String>, conf: &Option<String>, default: &str| -> String {
        flag.clone()
            .or_else(|| conf.clone())
            .unwrap_or_else(|| default.to_string())
    };
    let or_conf = |flag: &Vec<String>, conf: &Vec<String>| {
        if flag.is_empty() {
            conf.clone()
        } else {
            flag.clone()
        }
    };
    let sqs = or_conf(&args.sqs, &file.sources.sqs);
    let s3 = or_conf(&args.s3, &file.sources.s3);
    let dirs = if args.dir.is_empty() {
        file.sources.dirs.clone()
    } else {
        args.dir.clone()
    };
    if sqs.is_empty() && dirs.is_empty() && s3.is_empty() {
        return Err(UsageError(
            "nothing to watch: give --sqs, --dir or --s3 (or [sources] in the config)".into(),
        )
        .into());
    }
    for u in &sqs {
        config::check_queue_url(u).map_err(|e| {
            UsageError(format!(
                "--sqs {}: malformed queue URL: {e}",
                config::redact_url(u)
            ))
        })?;
    }
    for d in &dirs {
        if !d.is_dir() {
            let why = if d.exists() {
                "not a folder"
            } else {
                "no such folder"
            };
            return Err(UsageError(format!("--dir {}: {why}", d.display())).into());
        }
    }
    for u in &s3 {
        if crate::source::s3::parse_url(u).is_none() {
            return Err(UsageError(format!("--s3 {u}: expected s3://bucket[/prefix]")).into());
        }
    }
    let output = match pick(&args.output, &file.watch.output, "-").as_str() {
        "-" => Output::Stdout,
        p => Output::File(PathBuf::from(p)),
    };
    let on_missing = args
        .on_missing
        .or(file.watch.on_missing)
        .unwrap_or(OnMissing::Ack);
    let max_size = match (&args.max_size, file.watch.max_size) {
        (Some(text), _) => super::scan::parse_size(text)
            .map_err(|e| UsageError(format!("max size '{text}': {e}")))?,
        (None, Some(n)) => n,
        (None, None) => 512 << 20,
    };
    let integrity = integrity(args, &file.integrity)?;
    let settings = Settings {
        integrity,
        sqs,
        dirs,
        s3,
        interval: pick_duration(&args.interval, file.sources.interval, "60s", "interval")?,
        dir_interval: Duration::from_millis(200),
        dir_rescan: pick_duration(&args.dir_rescan, file.sources.rescan, "60s", "rescan")?,
        lookback: pick_duration(&args.lookback, file.sources.lookback, "2d", "lookback")?,
        state: args
            .state
            .clone()
            .or(file.state.path.clone())
            .unwrap_or_else(config::default_state_path),
        retention: pick_duration(&args.retention, file.state.retention, "30d", "retention")?,
        aws: AwsOptions {
            profile: args.profile.clone().or(file.aws.profile.clone()),
            region: args.region.clone().or(file.aws.region.clone()),
            endpoint_url: args.endpoint_url.clone().or(file.aws.endpoint_url.clone()),
        },
        scan: Options {
            max_size,
            raw: false,
        },
        concurrency: args
            .concurrency
            .or(file.watch.concurrency)
            .unwrap_or(16)
            .max(1),
        visibility: pick_duration(&args.visibility, file.watch.visibility, "5m", "visibility")?,
        poison_backoff: pick_duration(
            &args.poison_backoff,
            file.watch.poison_backoff,
            "5m",
            "poison backoff",
        )?,
        on_missing,
        output,
        output_format: args
            .format
            .or(file.watch.format)
            .unwrap_or(watch::OutputFormat::Jsonl),
        alerts: file.alerts(),
        status_every: pick_duration(
            &args.status_every,
            file.watch.status_every,
            "60s",
            "status interval",
        )?,
        listen: args.listen.or(file.watch.listen),
        idle_exit: args
            .idle_exit
            .as_deref()
            .map(|d| duration(d, "idle exit"))
            .transpose()?,
    };
    let (rules, suppress) = rules_with_config(&args.rules, &args.suppress, &file);
    Ok(Resolved {
        settings,
        rules,
        suppress,
        inline_suppressions: file.inline_suppressions(),
        file,
    })
}

/// The rule flags and suppression files completed from the configuration's `[rules]`: each
/// flag that is given wins over its key (the same for `watch` and `scan --alert`).
pub(super) fn rules_with_config(
    flags: &RuleArgs,
    suppress: &[PathBuf],
    file: &Config,
) -> (RuleArgs, Vec<PathBuf>) {
    let mut rules = flags.clone();
    if rules.packs.is_empty() {
        rules.packs = file.rules.packs.clone();
    }
    if rules.rule_paths.is_empty() {
        rules.rule_paths = file.rules.files.clone();
    }
    if rules.sigma.is_empty() {
        rules.sigma = file.rules.sigma.clone();
    }
    let suppress = if suppress.is_empty() {
        file.rules.suppress.clone()
    } else {
        suppress.to_vec()
    };
    (rules, suppress)
}

/// Loads rules and suppressions into an engine; any rule error is a usage error.
fn engine(r: &Resolved) -> Result<Engine> {
    let catalog = Catalog::builtin().context("loading the built-in catalog")?;
    let loaded = RuleSet::load(&catalog, &r.rules.sources(), packs::DEFAULT).map_err(usage)?;
    if report(&loaded.errors) {
        return Err(usage(SetupError::RuleErrors));
    }
    let mut suppressions = suppressions::load_files(&r.suppress).map_err(usage)?;
    suppressions.extend(suppressions::from_config(&r.inline_suppressions).map_err(usage)?);
    let opts = EngineOptions {
        suppressions,
        ..EngineOptions::new()
    };
    setup_engine::build(&catalog, loaded.rules, opts).map_err(usage)
}

pub fn run(args: WatchArgs) -> Result<ExitCode> {
    super::init_logging(&args.log, args.log_format);
    let resolved = resolve(&args)?;
    let engine = engine(&resolved)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let settings = resolved.settings;
    tracing::info!(
        "watching: {} queue(s), {} folder(s), {} S3 prefix(es); {} rule(s); state {}",
        settings.sqs.len(),
        settings.dirs.len(),
        settings.s3.len(),
        engine.rules().len(),
        settings.state.display()
    );
    let summary = rt
        .block_on(watch::run(settings, engine, Filter::default()))
        .map_err(|e| match e.downcast_ref::<crate::state::StateError>() {
            // Another watcher holds the database: a configuration error (exit 2).
            Some(crate::state::StateError::Locked { .. }) => UsageError(e.to_string()).into(),
            // The --listen address is taken or not ours: a configuration error too.
            _ if e.downcast_ref::<watch::ListenError>().is_some() => {
                UsageError(e.to_string()).into()
            }
            _ => e,
        })?;
    tracing::info!(
        "stopped: {} input(s) read, {} skipped as already recorded, {} record(s), {} new finding(s), {} repeated, {} error(s)",
        summary.inputs,
        summary.skipped,
        summary.records,
        summary.findings,
        summary.duplicates,
        summary.errors
    );
    if summary.fatal {
        tracing::error!("stopped because the state database could not be written (see above)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// A duration in the largest unit that divides it: `2d`, `90m`, `45s`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s > 0 && s.is_multiple_of(n) {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

/// `trailwatch config check`: validates the configuration and prints what it resolves to.
pub fn check(args: WatchArgs) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let resolved = resolve(&args)?;
    let engine = engine(&resolved)?;
    let s = &resolved.settings;
    let redact = |v: &Option<String>| v.as_deref().map(config::redact_url);
    let shown = serde_json::json!({
        "sources": {"sqs": s.sqs.iter().map(|u| config::redact_url(u)).collect::<Vec<_>>(),
                    "dirs": s.dirs, "s3": s.s3,
                    "interval": human(s.interval), "lookback": human(s.lookback),
                    "rescan": human(s.dir_rescan)},
        "aws": {"profile": s.aws.profile, "region": s.aws.region,
                "endpoint_url": redact(&s.aws.endpoint_url)},
        "rules": {"packs": resolved.rules.packs, "files": resolved.rules.rule_paths,
                  "sigma": resolved.rules.sigma, "loaded": engine.rules().len(),
                  "suppression_files": resolved.suppress,
                  "inline_suppressions": resolved.inline_suppressions.len()},
        "state": {"path": s.state, "retention": human(s.retention)},
        "sinks": s.alerts.sinks.iter().map(|k| {
            let mut v = k.config.kind().redacted();
            v["name"] = k.name.clone().into();
            if let Some((n, per)) = k.rate { v["rate"] = format!("{n}/{}", human(per)).into(); }
            v
        }).collect::<Vec<_>>(),
        "routes": resolved.file.routes,
        "alerts": {"default": resolved.file.alerts.default, "max_age": human(s.alerts.max_age)},
        "watch": {"output": match &s.output { Output::Stdout => "-".to_string(), Output::File(p) => p.display().to_string() },
                  "format": format!("{:?}", s.output_format).to_lowercase(),
                  "concurrency": s.concurrency, "visibility": human(s.visibility),
                  "poison_backoff": human(s.poison_backoff),
                  "on_missing": format!("{:?}", s.on_missing).to_lowercase(),
                  "status_every": human(s.status_every), "max_size": s.scan.max_size,
                  "listen": s.listen.map(|a| a.to_string())},
    });
    let text = serde_json::to_string_pretty(&shown)?;
    writeln!(out, "{}", crate::alert::secret::scrub(&text))?;
    Ok(ExitCode::SUCCESS)
}
