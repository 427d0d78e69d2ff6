//! The command line: clap types and the entry point that runs a command and chooses the exit
//! status. Nothing outside this module sees clap's types, except for the output format enum.

mod alert;
mod catalog;
mod filters;
mod report;
mod rules;
mod ruleset;
mod scan;
mod search;
mod state;
mod timeline;
mod verify;
mod watch;

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::process::ExitCode;

/// Watch AWS CloudTrail for the events that matter, and explain each one.
#[derive(Debug, Parser)]
#[command(name = "trailwatch", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan CloudTrail logs (files and directories) and report the notable events found.
    Scan(Box<scan::ScanArgs>),
    /// Find every event (not only findings) matching filters on any field, in time order.
    Search(Box<search::SearchArgs>),
    /// Scan like `scan` and write one self-contained HTML report of the findings (`-o FILE`).
    Report(Box<scan::ScanArgs>),
    /// Follow each actor, session or source address through its events in time order, with
    /// first and last seen, what it touched, its errors and its findings explained inline.
    Timeline(Box<timeline::TimelineArgs>),
    /// List the built-in catalog of notable events.
    Catalog(catalog::CatalogArgs),
    /// Explain one event of the catalog in full.
    Explain(catalog::ExplainArgs),
    /// List, show, validate and test rules (built-in packs, YAML, Sigma).
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Follow new CloudTrail data (SQS notifications, folders, S3 polling) and report each
    /// finding exactly once.
    Watch(Box<watch::WatchArgs>),
    /// Inspect and prune the watcher's state database.
    #[command(subcommand)]
    State(state::StateCommand),
    /// Check a configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Try the alert sinks of a configuration.
    #[command(subcommand)]
    Alert(alert::AlertCommand),
    /// Prove a trail is whole: check CloudTrail's signed digest chain, the log files it lists,
    /// and the gaps (folders in the S3 layout and s3:// URLs).
    Verify(Box<verify::VerifyArgs>),
    /// Write the manual pages (roff): trailwatch(1) to standard output, or every page
    /// (trailwatch.1, trailwatch-scan.1, ...) into DIR. Packages install them.
    #[command(hide = true)]
    Man {
        /// The folder to write every page into.
        dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file (with flags and TRAILWATCH_* variables) and print the
    /// resolved settings, secrets redacted.
    Check {
        /// The configuration file.
        file: std::path::PathBuf,
        #[command(flatten)]
        args: Box<watch::WatchArgs>,
    },
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// When writing to a terminal and NO_COLOR is not set.
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    fn enabled(self, terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// An error in how trailwatch was invoked or configured: exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Parses the command line, runs it, and returns the process exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => scan::run(*args),
        Command::Search(args) => search::run(*args),
        Command::Report(args) => report::run(*args),
        Command::Timeline(args) => timeline::run(*args),
        Command::Catalog(args) => catalog::list(args),
        Command::Explain(args) => catalog::explain(args),
        Command::Rules(cmd) => rules::run(cmd),
        Command::Watch(args) => watch::run(*args),
        Command::State(cmd) => state::run(cmd),
        Command::Alert(cmd) => alert::run(cmd),
        Command::Verify(args) => verify::run(*args),
        Command::Man { dir } => man(dir),
        Command::Config(ConfigCommand::Check { file, mut args }) => {
            args.config = Some(file);
            watch::check(*args)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let text = crate::alert::secret::scrub(&format!("{e:#}"));
            eprintln!("trailwatch: error: {text}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Log lines to standard error at `level` (a level or `EnvFilter` directives), every one
/// scrubbed of secrets (see [`crate::alert::secret::scrub`]).
fn init_logging(level: &str, format: watch::LogFormat) {
    use crate::alert::secret::Scrubbing;
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Scrubbing(std::io::stderr()))
        .with_target(false);
    let _ = match format {
        watch::LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        // One JSON object a line: timestamp, level, message and fields at the top level.
        watch::LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

/// The manual page, from the same clap definitions as `--help`.
fn man(dir: Option<std::path::PathBuf>) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    use clap::CommandFactory;
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(Cli::command(), &dir)
                .with_context(|| format!("writing manual pages into {}", dir.display()))?;
        }
        // As in the folder's trailwatch.1: `help` is no page of its own.
        None => clap_mangen::Man::new(Cli::command().disable_help_subcommand(true))
            .render(&mut std::io::stdout().lock())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Output closed early (`trailwatch scan ... | head`): not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}
