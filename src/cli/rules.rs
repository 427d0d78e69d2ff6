//! `trailwatch rules list|show|validate|test`: inspect, check and test rules.

use super::UsageError;
use super::ruleset::{RuleArgs, report, usage};
use crate::catalog::{Catalog, Severity};
use crate::rules::{Rule, packs};
use crate::setup::{RuleSet, RuleSources, rule_tests};
use anyhow::{Context, Result};
use serde::Serialize;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// List loaded rules (built-in packs, or those named with --pack, plus --rules/--sigma).
    List {
        #[command(flatten)]
        rules: RuleArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: ListFormat,
        /// Same as `--format json`.
        #[arg(long, hide = true)]
        json: bool,
    },
    /// Show one rule in full.
    Show {
        id: String,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Check rule files; exit 2 when any rule has an error.
    Validate {
        /// Rule files or folders (YAML); `--sigma` adds Sigma files.
        paths: Vec<PathBuf>,
        #[arg(long, value_name = "PATH")]
        sigma: Vec<PathBuf>,
    },
    /// Run the tests written beside rules (built-in packs when no path is given).
    Test { paths: Vec<PathBuf> },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Serialize)]
struct RuleRow<'a> {
    id: &'a str,
    pack: &'a str,
    severity: Severity,
    title: &'a str,
    sources: &'a [String],
    names: Vec<&'a str>,
    attack: &'a [String],
    controls: &'a [String],
    origin: String,
}

pub fn run(cmd: RulesCommand) -> Result<ExitCode> {
    let catalog = Catalog::builtin().context("loading the built-in catalog")?;
    match cmd {
        RulesCommand::List {
            rules,
            format,
            json,
        } => {
            let loaded = RuleSet::load(&catalog, &rules.sources(), packs::NAMES).map_err(usage)?;
            report(&loaded.errors);
            let rows: Vec<RuleRow> = loaded.rules.iter().map(row).collect();
            let mut out = BufWriter::new(std::io::stdout().lock());
            if json || matches!(format, ListFormat::Json) {
                serde_json::to_writer_pretty(&mut out, &rows)?;
                writeln!(out)?;
            } else {
                for r in &rows {
                    writeln!(
                        out,
                        "{:<44} {:<9} {:<8} {}",
                        r.id, r.pack, r.severity, r.title
                    )?;
                }
            }
            out.flush()?;
            Ok(if loaded.has_errors() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        RulesCommand::Show { id, rules } => {
            let loaded = RuleSet::load(&catalog, &rules.sources(), packs::NAMES).map_err(usage)?;
            let rule = loaded.rules.iter().find(|r| r.id == id);
            let rule = rule.ok_or_else(|| {
                UsageError(format!("no rule '{id}' (see `trailwatch rules list`)"))
            })?;
            let mut out = std::io::stdout().lock();
            out.write_all(show(rule).as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Validate { paths, sigma } => {
            if paths.is_empty() && sigma.is_empty() {
                return Err(UsageError("give rule files or folders to validate".into()).into());
            }
            let sources = RuleSources {
                packs: vec!["guide".into()],
                files: paths,
                sigma,
            };
            let loaded = RuleSet::load(&catalog, &sources, packs::NAMES).map_err(usage)?;
            report(&loaded.errors);
            let user = loaded.rules.iter().filter(|r| r.pack != "guide").count();
            eprintln!(
                "trailwatch: {user} rule(s) valid, {} with errors",
                loaded.errors.len()
            );
            Ok(if loaded.has_errors() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        RulesCommand::Test { paths } => {
            let sources = if paths.is_empty() {
                RuleSources::default()
            } else {
                RuleSources {
                    packs: vec!["guide".into()],
                    files: paths,
                    sigma: Vec::new(),
                }
            };
            let loaded = RuleSet::load(&catalog, &sources, packs::NAMES).map_err(usage)?;
            report(&loaded.errors);
            let results = rule_tests::run(&loaded.rules);
            for f in &results.failures {
                eprintln!("trailwatch: FAIL {f}");
            }
            eprintln!(
                "trailwatch: {} rule test(s) passed, {} failed",
                results.passed,
                results.failures.len()
            );
            Ok(if !results.failures.is_empty() {
                ExitCode::from(1)
            } else if loaded.has_errors() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

fn row(r: &Rule) -> RuleRow<'_> {
    RuleRow {
        id: &r.id,
        pack: &r.pack,
        severity: r.severity,
        title: &r.title,
        sources: &r.sources,
        names: r.names.iter().map(|n| n.text()).collect(),
        attack: &r.attack,
        controls: &r.controls,
        origin: r.origin.to_string(),
    }
}

fn show(r: &Rule) -> String {
    let mut s = format!("{}  [{}]  {}\n  {}\n", r.id, r.severity, r.pack, r.title);
    let any = |v: Vec<&str>| {
        if v.is_empty() {
            "any".to_string()
        } else {
            v.join(", ")
        }
    };
    s += &format!(
        "  sources:  {}\n",
        any(r.sources.iter().map(String::as_str).collect())
    );
    s += &format!(
        "  names:    {}\n",
        any(r.names.iter().map(|n| n.text()).collect())
    );
    for id in &r.attack {
        let name = crate::rules::attack::name(id).unwrap_or_default();
        s += &format!("  attack:   {id} {name}\n");
    }
    if !r.controls.is_empty() {
        s += &format!("  controls: {}\n", r.controls.join(", "));
    }
    if let Some(c) = &r.cond {
        s += &format!("  where:    {c:?}\n");
    }
    if let Some(d) = &r.dedup {
        s += &format!("  dedup:    {:?} within {:?}\n", d.key, d.window);
    }
    if let Some(t) = &r.threshold {
        s += &format!(
            "  threshold: {} within {:?} by {:?}\n",
            t.count, t.window, t.group_by
        );
    }
    s += &format!("  defined:  {}\n\n  {}\n", r.origin, r.description);
    if let Some(why) = &r.why {
        s += &format!("\n  Why it matters: {why}\n");
    }
    for reference in &r.references {
        s += &format!("  - {reference}\n");
    }
    s
}
