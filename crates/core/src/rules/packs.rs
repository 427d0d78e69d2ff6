//! The built-in rule packs: `guide` (the catalog), `cis` and `baseline` (YAML in `rules/`).
//! Every built-in rule carries at least one ATT&CK id; the CIS rules also name their controls.

use super::{Rule, RuleError, from_entry_checked, yaml};
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
        for e in catalog.entries() {
            let (rule, error) = from_entry_checked(e);
            rules.push(rule);
            errors.extend(error);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{attack, control_id};

    #[test]
    fn every_builtin_rule_carries_valid_attack_ids_and_cis_rules_controls() {
        let catalog = Catalog::builtin().unwrap();
        let (rules, errors) = load(&catalog, NAMES);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rules.iter().filter(|r| r.pack == "guide").count(), 319);
        assert_eq!(rules.iter().filter(|r| r.pack == "baseline").count(), 42);
        for r in &rules {
            assert!(!r.attack.is_empty(), "{} has no ATT&CK id", r.id);
            for id in &r.attack {
                assert_eq!(
                    attack::normalise(id).as_deref(),
                    Ok(id.as_str()),
                    "{}",
                    r.id
                );
            }
            for c in &r.controls {
                assert_eq!(control_id(c).as_deref(), Ok(c.as_str()), "{}", r.id);
            }
        }
        let cis: Vec<_> = rules.iter().filter(|r| r.pack == "cis").collect();
        assert!(!cis.is_empty());
        for r in cis {
            assert!(
                r.controls.iter().any(|c| c.starts_with("CIS ")),
                "{} has no CIS recommendation",
                r.id
            );
            if let Some(n) = r.id.strip_prefix("cis.cloudwatch-") {
                assert!(
                    r.controls.contains(&format!("CloudWatch.{n}")),
                    "{} lacks its Security Hub control",
                    r.id
                );
            }
        }
    }

    #[test]
    fn control_ids() {
        assert_eq!(control_id("CloudWatch.1").unwrap(), "CloudWatch.1");
        assert_eq!(control_id(" cis 4.15 ").unwrap(), "CIS 4.15");
        assert_eq!(control_id("CIS 2.1.5").unwrap(), "CIS 2.1.5");
        for bad in [
            "cloudwatch.1",
            "CloudWatch",
            "CloudWatch.x",
            "CIS 4",
            "CIS",
            "CIS 4..1",
            "S3 .1",
        ] {
            assert!(control_id(bad).is_err(), "{bad}");
        }
    }
}
