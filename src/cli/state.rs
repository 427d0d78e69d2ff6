//! `trailwatch state info|prune|dead-letters`: the state database, for operators.

use super::UsageError;
use crate::state::Store;
use anyhow::Result;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum StateCommand {
    /// Show what the state database holds.
    Info {
        #[command(flatten)]
        db: Db,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove processed inputs and delivered findings older than a duration.
    Prune {
        #[command(flatten)]
        db: Db,
        /// Age to keep [default: 30d].
        #[arg(long, default_value = "30d", value_name = "DURATION")]
        older_than: String,
    },
    /// List findings whose delivery gave up; `--retry` queues them again.
    DeadLetters {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        retry: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct Db {
    /// State database [default: $XDG_STATE_HOME/trailwatch/state.db].
    #[arg(long, env = "TRAILWATCH_STATE", value_name = "PATH")]
    state: Option<PathBuf>,
}

impl Db {
    fn open(&self) -> Result<Store> {
        let path = self
            .state
            .clone()
            .unwrap_or_else(crate::config::default_state_path);
        if !path.exists() {
            return Err(UsageError(format!("no state database at {}", path.display())).into());
        }
        Ok(Store::open(&path)?)
    }
}

pub fn run(cmd: StateCommand) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        StateCommand::Info { db, json } => {
            let info = db.open()?.info()?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&info)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            writeln!(out, "path            {}", info.path)?;
            writeln!(out, "schema version  {}", info.schema_version)?;
            writeln!(out, "size            {} bytes", info.size_bytes)?;
            writeln!(
                out,
                "inputs          {} ({} with errors)",
                info.inputs, info.inputs_with_errors
            )?;
            writeln!(
                out,
                "                oldest {}, newest {}",
                info.oldest_input.as_deref().unwrap_or("-"),
                info.newest_input.as_deref().unwrap_or("-")
            )?;
            writeln!(out, "findings        {}", info.findings)?;
            if info.outbox.is_empty() {
                writeln!(out, "outbox          empty")?;
            }
            for (sink, n) in &info.outbox {
                writeln!(out, "outbox          {n} waiting for {sink}")?;
            }
            writeln!(out, "dead letters    {}", info.dead_letters)?;
        }
        StateCommand::Prune { db, older_than } => {
            let age = crate::units::duration(&older_than)
                .map_err(|e| UsageError(format!("--older-than: {e}")))?;
            let p = db.open()?.prune_older_than(age)?;
            writeln!(
                out,
                "pruned {} input(s) and {} finding(s) older than {older_than}",
                p.inputs, p.findings
            )?;
        }
        StateCommand::DeadLetters { db, retry } => {
            let mut store = db.open()?;
            if retry {
                let n = store.retry_dead_letters()?;
                writeln!(out, "{n} dead letter(s) queued for delivery again")?;
                return Ok(ExitCode::SUCCESS);
            }
            for d in store.dead_letters()? {
                writeln!(
                    out,
                    "{}\t{}\t{} attempt(s)\t{}\t{}",
                    d.finding_id, d.sink, d.attempts, d.error, d.body
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
