//! The built-in catalog: every notable CloudTrail event of the events guide, with what it means.
//!
//! The entries are data, kept in `catalog/<service>.yaml` at the root of the repository (one file
//! per service, in the guide's order) and embedded into the binary. An entry is identified by its
//! service and event name, and it matches a record only on `(eventSource, eventName)`: the same
//! name logged by another service is a different API. See `docs/catalog.md` for the schema and
//! the severity criteria.

mod severity;

pub use severity::Severity;

use serde::{Deserialize, Serialize};

/// The catalog's services: slug and display name, in the guide's order.
pub const SERVICES: &[(&str, &str)] = &[
    ("autoscaling", "Auto Scaling"),
    ("cloudformation", "CloudFormation"),
    ("acm", "Certificate Manager"),
    ("cloudtrail", "CloudTrail"),
    ("config", "AWS Config"),
    ("directconnect", "Direct Connect"),
    ("ec2", "EC2"),
    ("vpc", "VPC"),
    ("security-groups", "EC2 Security Groups"),
    ("efs", "EFS"),
    ("elasticbeanstalk", "Elastic Beanstalk"),
    ("elasticache", "ElastiCache"),
    ("elb", "Elastic Load Balancing"),
    ("iam", "IAM"),
    ("redshift", "Redshift"),
    ("rds", "RDS"),
    ("route53", "Route 53"),
    ("s3", "S3"),
    ("waf", "WAF"),
];

/// The embedded catalog files, in the same order as [`SERVICES`].
const FILES: &[(&str, &str)] = &[
    (
        "autoscaling.yaml",
        include_str!("../../catalog/autoscaling.yaml"),
    ),
    (
        "cloudformation.yaml",
        include_str!("../../catalog/cloudformation.yaml"),
    ),
    ("acm.yaml", include_str!("../../catalog/acm.yaml")),
    (
        "cloudtrail.yaml",
        include_str!("../../catalog/cloudtrail.yaml"),
    ),
    ("config.yaml", include_str!("../../catalog/config.yaml")),
    (
        "directconnect.yaml",
        include_str!("../../catalog/directconnect.yaml"),
    ),
    ("ec2.yaml", include_str!("../../catalog/ec2.yaml")),
    ("vpc.yaml", include_str!("../../catalog/vpc.yaml")),
    (
        "security-groups.yaml",
        include_str!("../../catalog/security-groups.yaml"),
    ),
    ("efs.yaml", include_str!("../../catalog/efs.yaml")),
    (
        "elasticbeanstalk.yaml",
        include_str!("../../catalog/elasticbeanstalk.yaml"),
    ),
    (
        "elasticache.yaml",
        include_str!("../../catalog/elasticache.yaml"),
    ),
    ("elb.yaml", include_str!("../../catalog/elb.yaml")),
    ("iam.yaml", include_str!("../../catalog/iam.yaml")),
    ("redshift.yaml", include_str!("../../catalog/redshift.yaml")),
    ("rds.yaml", include_str!("../../catalog/rds.yaml")),
    ("route53.yaml", include_str!("../../catalog/route53.yaml")),
    ("s3.yaml", include_str!("../../catalog/s3.yaml")),
    ("waf.yaml", include_str!("../../catalog/waf.yaml")),
];

/// One notable event.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Service slug (see [`SERVICES`]); filled in from the file, not written per entry.
    #[serde(default)]
    pub service: String,
    pub event_name: String,
    pub event_sources: Vec<String>,
    pub severity: Severity,
    pub title: String,
    pub summary: String,
    pub why: String,
    /// MITRE ATT&CK tactic and technique ids for what the event enables (see `docs/catalog.md`).
    #[serde(default)]
    pub attack: Vec<String>,
    /// Compliance controls the event evidences (`CloudWatch.1`, `CIS 4.3`), where one exists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<String>,
    /// Conditions under which the event is less urgent (the new setting protects, or automation
    /// did it), as rule conditions; compiled with the rules (`rules::lower`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lower_when: Vec<serde_json::Value>,
}

impl Entry {
    /// The rule id findings of this entry carry: `guide.<service>.<EventName>`.
    pub fn rule_id(&self) -> String {
        format!("guide.{}.{}", self.service, self.event_name)
    }

    /// Whether this entry is the event logged as `(source, name)`.
    pub fn matches(&self, source: &str, name: &str) -> bool {
        self.event_name == name && self.event_sources.iter().any(|s| s == source)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceFile {
    service: String,
    name: String,
    entries: Vec<Entry>,
}

/// Why a catalog file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog file {file}: {message}")]
    Parse { file: String, message: String },
    #[error("catalog file {file}: {message}")]
    Invalid { file: String, message: String },
}

/// The set of catalog entries, in guide order.
#[derive(Debug, Clone)]
pub struct Catalog {
    entries: Vec<Entry>,
}

impl Catalog {
    /// The catalog embedded in the binary.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        Catalog::from_files(FILES)
    }

    /// Loads and checks catalog files given as `(file name, YAML text)`.
    pub fn from_files(files: &[(&str, &str)]) -> Result<Catalog, CatalogError> {
        let mut entries = Vec::new();
        for (file, text) in files {
            let parsed: ServiceFile =
                serde_saphyr::from_str(text).map_err(|e| CatalogError::Parse {
                    file: file.to_string(),
                    message: e.to_string(),
                })?;
            let invalid = |message: String| CatalogError::Invalid {
                file: file.to_string(),
                message,
            };
            if !SERVICES.iter().any(|(slug, _)| *slug == parsed.service) {
                return Err(invalid(format!("unknown service '{}'", parsed.service)));
            }
            if parsed.name.trim().is_empty() {
                return Err(invalid("empty service name".into()));
            }
            for mut entry in parsed.entries {
                check_entry(&mut entry).map_err(&invalid)?;
                entry.service.clone_from(&parsed.service);
                entries.push(entry);
            }
        }
        Ok(Catalog { entries })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Every entry with this event name, in any service (e.g. `DeletePolicy` is in two).
    pub fn by_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.event_name.eq_ignore_ascii_case(name))
    }

    /// The entries of one service.
    pub fn by_service<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| e.service == service)
    }

    /// The entry logged as `(source, name)`, if any.
    pub fn lookup(&self, source: &str, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.matches(source, name))
    }
}

/// The display name of a service slug.
pub fn service_name(slug: &str) -> Option<&'static str> {
    SERVICES.iter().find(|(s, _)| *s == slug).map(|(_, n)| *n)
}

fn check_entry(e: &mut Entry) -> Result<(), String> {
    let name_ok =
        !e.event_name.is_empty() && e.event_name.chars().all(|c| c.is_ascii_alphanumeric());
    if !name_ok {
        return Err(format!("invalid event name '{}'", e.event_name));
    }
    if e.event_sources.is_empty() {
        return Err(format!("{}: no event_sources", e.event_name));
    }
    if let Some(bad) = e
        .event_sources
        .iter()
        .find(|s| !s.ends_with(".amazonaws.com"))
    {
        return Err(format!(
            "{}: event source '{bad}' is not a service endpoint",
            e.event_name
        ));
    }
    for (field, text) in [
        ("title", &e.title),
        ("summary", &e.summary),
        ("why", &e.why),
    ] {
        if text.trim().is_empty() {
            return Err(format!("{}: empty {field}", e.event_name));
        }
    }
    e.attack = crate::rules::attack::normalise_all(&e.attack)
        .map_err(|err| format!("{}: attack: {err}", e.event_name))?;
    e.controls = e
        .controls
        .iter()
        .map(|c| crate::rules::control_id(c).map_err(|err| format!("{}: {err}", e.event_name)))
        .collect::<Result<_, _>>()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_loads_and_is_consistent() {
        let catalog = Catalog::builtin().expect("embedded catalog");
        assert_eq!(catalog.entries().len(), 319);
        // Services appear in guide order, each as one contiguous run.
        let mut seen: Vec<&str> = Vec::new();
        for e in catalog.entries() {
            if seen.last() != Some(&e.service.as_str()) {
                assert!(!seen.contains(&e.service.as_str()), "{} split", e.service);
                seen.push(&e.service);
            }
        }
        let order: Vec<&str> = SERVICES.iter().map(|(s, _)| *s).collect();
        assert_eq!(seen, order);
        // No (source, name) pair belongs to two entries.
        let mut pairs = std::collections::HashSet::new();
        for e in catalog.entries() {
            for s in &e.event_sources {
                assert!(
                    pairs.insert((s.as_str(), e.event_name.as_str())),
                    "{s} {}",
                    e.event_name
                );
            }
        }
    }

    #[test]
    fn every_entry_has_valid_attack_ids() {
        let catalog = Catalog::builtin().unwrap();
        for e in catalog.entries() {
            assert!(!e.attack.is_empty(), "{} has no ATT&CK id", e.rule_id());
            for id in &e.attack {
                assert!(
                    crate::rules::attack::name(id).is_some(),
                    "{}: {id}",
                    e.rule_id()
                );
            }
        }
        let stop = catalog
            .lookup("cloudtrail.amazonaws.com", "StopLogging")
            .unwrap();
        assert_eq!(stop.attack, vec!["TA0005", "T1562.008"]);
    }

    #[test]
    fn two_section_names_are_distinct_entries() {
        let catalog = Catalog::builtin().unwrap();
        let services: Vec<&str> = catalog
            .by_name("DeletePolicy")
            .map(|e| e.service.as_str())
            .collect();
        assert_eq!(services, vec!["autoscaling", "iam"]);
        assert_eq!(
            catalog
                .lookup("iam.amazonaws.com", "DeletePolicy")
                .unwrap()
                .service,
            "iam"
        );
        assert!(
            catalog
                .lookup("organizations.amazonaws.com", "DeletePolicy")
                .is_none()
        );
        assert!(
            catalog
                .lookup("events.amazonaws.com", "DeleteRule")
                .is_none()
        );
        assert_eq!(
            catalog
                .lookup("signin.amazonaws.com", "ConsoleLogin")
                .unwrap()
                .service,
            "iam"
        );
        assert_eq!(
            catalog
                .lookup("cloudtrail.amazonaws.com", "StopLogging")
                .unwrap()
                .severity,
            Severity::Critical
        );
    }

    #[test]
    fn rejects_bad_files() {
        let bad = "service: iam\nname: IAM\nentries:\n  - event_name: X\n    event_sources: []\n    severity: low\n    title: t\n    summary: s\n    why: w\n";
        let err = Catalog::from_files(&[("iam.yaml", bad)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("iam.yaml") && err.contains("no event_sources"),
            "{err}"
        );
        let bad_id = bad.replace(
            "event_sources: []",
            "event_sources: [iam.amazonaws.com]\n    attack: [T1098.1]",
        );
        let err = Catalog::from_files(&[("iam.yaml", &bad_id)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("iam.yaml") && err.contains("X: attack: 'T1098.1'"),
            "{err}"
        );
        let err = Catalog::from_files(&[("x.yaml", "service: nope\nname: N\nentries: []\n")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown service"), "{err}");
    }
}
