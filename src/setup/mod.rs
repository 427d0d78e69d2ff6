//! Set-up: the rules trailwatch would run, and the engine built from them.
//!
//! Every command that matches records (`scan`, `watch`, `rules list|show|validate|test`) sets up
//! through here, so they agree on what a pack name means, where rule files are found and what
//! happens to a duplicate rule id:
//!
//! - [`ruleset`]: [`RuleSet::load`] reads the built-in packs and the user's YAML and Sigma rule
//!   files and folders into one list of rules, with the errors of those that could not be loaded.
//! - [`suppressions`]: suppression files and the suppressions written in the configuration.
//! - [`engine`]: [`engine::build`], the one engine builder (narrowing by service, event and
//!   severity, suppressions, catalog explanations), and the time bounds of a scan.
//! - [`rule_tests`]: runs the example records written beside rules (`rules test`).
//!
//! Errors are [`SetupError`]s, each naming the file, pack, service or suppression at fault.

pub mod engine;
pub mod rule_tests;
pub mod ruleset;
pub mod suppressions;

pub use ruleset::{RuleSet, RuleSources};

use std::path::PathBuf;

/// What prevents setting up: every variant names what is at fault. All are the user's to fix
/// (a usage or configuration error).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A `--rules` or `--sigma` path that cannot be read.
    #[error("cannot read rules at {}: {error}", path.display())]
    RulesPath {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A folder inside a rules folder that cannot be listed.
    #[error("cannot read {}: {error}", path.display())]
    RulesFolder {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A `--packs` name that is neither built in nor the pack of a loaded rule file.
    #[error(
        "unknown pack '{pack}' (built-in: {builtin}, or all, none; or the pack of a --rules file)"
    )]
    UnknownPack { pack: String, builtin: String },
    /// A suppression file that cannot be read.
    #[error("cannot read {}: {error}", path.display())]
    SuppressionFile {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A suppression file whose content is wrong (`suppressions[2]: a suppression needs a
    /// reason`).
    #[error("{}: {message}", path.display())]
    Suppression { path: PathBuf, message: String },
    /// A suppression written in the configuration file (numbered from 1).
    #[error("config suppression {number}: {message}")]
    ConfigSuppression { number: usize, message: String },
    /// A `--service` that no catalog entry or loaded rule has.
    #[error("unknown service '{service}' (catalog services: {known})")]
    UnknownService { service: String, known: String },
    /// A `--since` / `--until` that is not a time.
    #[error(transparent)]
    TimeBound(#[from] crate::record::time::BadTime),
    /// Rules that failed to load, where every rule must (`watch`); each was reported already.
    #[error("rule errors (see above)")]
    RuleErrors,
}
