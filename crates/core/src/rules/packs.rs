//! The built-in rule packs: `guide` (the catalog), `cis` and `baseline` (YAML in `rules/`).

use super::{Rule, RuleError, from_entry, yaml};
use crate::catalog::Catalog;

/// Built-in packs kept as YAML, embedded into the binary: (pack, file, text).
pub const YAML_PACKS: &[(&str, &str, &str)] = &[
    (
        "cis",
        "rules/cis.yaml",
        include_str!("../../rules/cis.yaml"),
    ),
    (
        "baseline",
        "rules/baseline.yaml",
        include_str!("../../rules/baseline.yaml"),
    ),
];

/// Names of every built-in pack, in load order.
pub const NAMES: &[&str] = &["guide", "cis", "baseline"];

/// Packs a scan runs when none are named: all of them. (`cis` overlaps `baseline` on root use and
/// console sign-ins without MFA; `--packs guide,baseline` leaves it out.)
pub const DEFAULT: &[&str] = NAMES;

/// The rules of the named built-in packs. Errors in embedded packs are bugs, caught by tests;
/// they are returned rather than hidden.
pub fn load(catalog: &Catalog, packs: &[&str]) -> (Vec<Rule>, Vec<RuleError>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    if packs.contains(&"guide") {
        rules.extend(catalog.entries().iter().map(from_entry));
    }
    for (pack, file, text) in YAML_PACKS {
        if packs.contains(pack) {
            let loaded = yaml::parse(file, text, pack);
            rules.extend(loaded.rules);
            errors.extend(loaded.errors);
        }
    }
    (rules, errors)
}
