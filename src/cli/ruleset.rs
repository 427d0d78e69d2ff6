//! The rule flags shared by `scan`, `watch` and `rules`, and printing what loading rules found.
//! The loading itself is [`crate::setup`].

use super::UsageError;
use crate::rules::RuleError;
use crate::setup::{RuleSources, SetupError};
use std::path::PathBuf;

/// Where rules come from, shared by `scan` and `rules`.
#[derive(Debug, Clone, clap::Args)]
pub struct RuleArgs {
    /// Built-in packs to run: guide, cis, baseline, `all` or `none` (default: all).
    #[arg(
        long,
        visible_alias = "pack",
        value_delimiter = ',',
        value_name = "PACK"
    )]
    pub packs: Vec<String>,
    /// Your YAML rules: a file or a folder (read recursively, *.yaml / *.yml). Repeatable.
    #[arg(long = "rules", value_name = "PATH")]
    pub rule_paths: Vec<PathBuf>,
    /// Sigma rules for AWS CloudTrail: a file or a folder. Repeatable.
    #[arg(long, value_name = "PATH")]
    pub sigma: Vec<PathBuf>,
}

impl RuleArgs {
    /// The rule sources these flags name.
    pub fn sources(&self) -> RuleSources {
        RuleSources {
            packs: self.packs.clone(),
            files: self.rule_paths.clone(),
            sigma: self.sigma.clone(),
        }
    }
}

/// A set-up error is the user's to fix: exit status 2.
pub fn usage(e: SetupError) -> anyhow::Error {
    UsageError(e.to_string()).into()
}

/// Prints rule errors (unsupported Sigma rules as warnings); returns whether any is an error.
pub fn report(errors: &[RuleError]) -> bool {
    for e in errors {
        let kind = if e.is_unsupported() {
            "warning"
        } else {
            "error"
        };
        eprintln!("trailwatch: {kind}: {e}");
    }
    errors.iter().any(|e| !e.is_unsupported())
}
