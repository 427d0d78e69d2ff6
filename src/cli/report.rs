//! `trailwatch report`: scan like `scan` and write the findings as one self-contained HTML file
//! (`-o FILE`); `scan --report FILE` writes the same page beside its usual output.

use super::UsageError;
use super::scan::{self, ScanArgs};
use crate::finding::Finding;
use crate::output::report::Meta;
use crate::rules::Rule;
use anyhow::{Context, Result};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(mut args: ScanArgs) -> Result<ExitCode> {
    let Some(path) = args.output.take() else {
        return Err(UsageError("report needs -o FILE (the HTML file to write)".into()).into());
    };
    if args.format.is_some() || args.report.is_some() {
        return Err(UsageError(
            "report writes one HTML file (-o FILE); --format and --report are for `scan`".into(),
        )
        .into());
    }
    args.report = Some(path);
    args.no_stream = true;
    scan::run(args)
}

/// Writes the page for `findings` (raised by `rules`) to `path`, titled after the inputs.
pub(super) fn write(
    path: &Path,
    findings: &[Finding],
    rules: &[Rule],
    inputs: &[PathBuf],
) -> Result<()> {
    let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    let title = match names.len() {
        0..=3 => format!("trailwatch report: {}", names.join(", ")),
        n => format!(
            "trailwatch report: {} and {} more",
            names[..2].join(", "),
            n - 2
        ),
    };
    let generated = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_default()
        .to_string();
    let meta = Meta {
        title: &title,
        inputs: &names,
        generated: &generated,
    };
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    crate::output::report::write(&mut BufWriter::new(file), findings, rules, &meta)
        .with_context(|| format!("writing {}", path.display()))
}
