//! MITRE ATT&CK (Enterprise) ids for rules: the tactic table, the techniques trailwatch maps its
//! rules to, and the checks that turn written ids and Sigma `attack.*` tags into normalised ids.
//!
//! Ids are written as tactics `TA0005`, techniques `T1562` and sub-techniques `T1562.008`
//! (case-insensitive on input, upper case once normalised). Only ids in the tables below are
//! accepted, so a typo is an error rather than a silent wrong mapping; the names are ATT&CK's
//! own and are shown next to the ids. The tactics are those of ATT&CK Enterprise up to v18.

use std::fmt;

/// One Enterprise tactic: id, name, and the short name Sigma tags use (`attack.persistence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tactic {
    pub id: &'static str,
    pub name: &'static str,
    pub short: &'static str,
}

const fn tactic(id: &'static str, name: &'static str, short: &'static str) -> Tactic {
    Tactic { id, name, short }
}

/// The Enterprise tactics, in matrix order.
pub const TACTICS: &[Tactic] = &[
    tactic("TA0043", "Reconnaissance", "reconnaissance"),
    tactic("TA0042", "Resource Development", "resource_development"),
    tactic("TA0001", "Initial Access", "initial_access"),
    tactic("TA0002", "Execution", "execution"),
    tactic("TA0003", "Persistence", "persistence"),
    tactic("TA0004", "Privilege Escalation", "privilege_escalation"),
    tactic("TA0005", "Defense Evasion", "defense_evasion"),
    tactic("TA0006", "Credential Access", "credential_access"),
    tactic("TA0007", "Discovery", "discovery"),
    tactic("TA0008", "Lateral Movement", "lateral_movement"),
    tactic("TA0009", "Collection", "collection"),
    tactic("TA0011", "Command and Control", "command_and_control"),
    tactic("TA0010", "Exfiltration", "exfiltration"),
    tactic("TA0040", "Impact", "impact"),
];

/// Techniques and sub-techniques relevant to cloud control planes: those the built-in rules use,
/// and those cloud Sigma rules commonly tag. (id, name); a sub-technique's name is its own part.
pub const TECHNIQUES: &[(&str, &str)] = &[
    ("T1021", "Remote Services"),
    ("T1021.007", "Cloud Services"),
    ("T1021.008", "Direct Cloud VM Connections"),
    ("T1046", "Network Service Discovery"),
    ("T1048", "Exfiltration Over Alternative Protocol"),
    ("T1059", "Command and Scripting Interpreter"),
    ("T1059.009", "Cloud API"),
    ("T1069", "Permission Groups Discovery"),
    ("T1069.003", "Cloud Groups"),
    ("T1070", "Indicator Removal"),
    ("T1074", "Data Staged"),
    ("T1078", "Valid Accounts"),
    ("T1078.001", "Default Accounts"),
    ("T1078.004", "Cloud Accounts"),
    ("T1087", "Account Discovery"),
    ("T1087.004", "Cloud Account"),
    ("T1098", "Account Manipulation"),
    ("T1098.001", "Additional Cloud Credentials"),
    ("T1098.003", "Additional Cloud Roles"),
    ("T1098.004", "SSH Authorized Keys"),
    ("T1098.005", "Device Registration"),
    ("T1110", "Brute Force"),
    ("T1110.001", "Password Guessing"),
    ("T1110.003", "Password Spraying"),
    ("T1110.004", "Credential Stuffing"),
    ("T1133", "External Remote Services"),
    ("T1136", "Create Account"),
    ("T1136.003", "Cloud Account"),
    ("T1190", "Exploit Public-Facing Application"),
    ("T1199", "Trusted Relationship"),
    ("T1201", "Password Policy Discovery"),
    ("T1204", "User Execution"),
    ("T1204.003", "Malicious Image"),
    ("T1484", "Domain or Tenant Policy Modification"),
    ("T1484.002", "Trust Modification"),
    ("T1485", "Data Destruction"),
    ("T1485.001", "Lifecycle-Triggered Deletion"),
    ("T1486", "Data Encrypted for Impact"),
    ("T1489", "Service Stop"),
    ("T1490", "Inhibit System Recovery"),
    ("T1491", "Defacement"),
    ("T1491.002", "External Defacement"),
    ("T1496", "Resource Hijacking"),
    ("T1496.001", "Compute Hijacking"),
    ("T1496.004", "Cloud Service Hijacking"),
    ("T1498", "Network Denial of Service"),
    ("T1499", "Endpoint Denial of Service"),
    ("T1525", "Implant Internal Image"),
    ("T1526", "Cloud Service Discovery"),
    ("T1528", "Steal Application Access Token"),
    ("T1530", "Data from Cloud Storage"),
    ("T1531", "Account Access Removal"),
    ("T1535", "Unused/Unsupported Cloud Regions"),
    ("T1537", "Transfer Data to Cloud Account"),
    ("T1538", "Cloud Service Dashboard"),
    ("T1548", "Abuse Elevation Control Mechanism"),
    ("T1548.005", "Temporary Elevated Cloud Access"),
    ("T1550", "Use Alternate Authentication Material"),
    ("T1550.001", "Application Access Token"),
    ("T1552", "Unsecured Credentials"),
    ("T1552.001", "Credentials In Files"),
    ("T1552.005", "Cloud Instance Metadata API"),
    ("T1555", "Credentials from Password Stores"),
    ("T1555.006", "Cloud Secrets Management Stores"),
    ("T1556", "Modify Authentication Process"),
    ("T1556.006", "Multi-Factor Authentication"),
    ("T1556.007", "Hybrid Identity"),
    ("T1556.009", "Conditional Access Policies"),
    ("T1562", "Impair Defenses"),
    ("T1562.001", "Disable or Modify Tools"),
    ("T1562.007", "Disable or Modify Cloud Firewall"),
    ("T1562.008", "Disable or Modify Cloud Logs"),
    ("T1565", "Data Manipulation"),
    ("T1565.001", "Stored Data Manipulation"),
    ("T1567", "Exfiltration Over Web Service"),
    ("T1578", "Modify Cloud Compute Infrastructure"),
    ("T1578.001", "Create Snapshot"),
    ("T1578.002", "Create Cloud Instance"),
    ("T1578.003", "Delete Cloud Instance"),
    ("T1578.004", "Revert Cloud Instance"),
    ("T1578.005", "Modify Cloud Compute Configurations"),
    ("T1580", "Cloud Infrastructure Discovery"),
    ("T1583", "Acquire Infrastructure"),
    ("T1583.006", "Web Services"),
    ("T1584", "Compromise Infrastructure"),
    ("T1584.002", "DNS Server"),
    ("T1584.006", "Web Services"),
    ("T1588", "Obtain Capabilities"),
    ("T1588.004", "Digital Certificates"),
    ("T1606", "Forge Web Credentials"),
    ("T1606.002", "SAML Tokens"),
    ("T1619", "Cloud Storage Object Discovery"),
    ("T1621", "Multi-Factor Authentication Request Generation"),
    ("T1648", "Serverless Execution"),
    ("T1651", "Cloud Administration Command"),
    ("T1654", "Log Enumeration"),
    ("T1657", "Financial Theft"),
    ("T1666", "Modify Cloud Resource Hierarchy"),
];

/// Why an ATT&CK id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("'{0}' is not an ATT&CK id (expected TA0000, T0000 or T0000.000)")]
    Malformed(String),
    #[error("'{0}' is not a known ATT&CK tactic or technique")]
    Unknown(String),
}

/// The normalised form of a written id (`t1098.001` → `T1098.001`), if it is one we know.
pub fn normalise(text: &str) -> Result<String, IdError> {
    let id = text.trim().to_ascii_uppercase();
    if !well_formed(&id) {
        return Err(IdError::Malformed(text.trim().to_string()));
    }
    if name(&id).is_none() {
        return Err(IdError::Unknown(id));
    }
    Ok(id)
}

/// Normalises a rule's list of ids: every one must be known; repeats are dropped, order kept.
pub fn normalise_all(ids: &[String]) -> Result<Vec<String>, IdError> {
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        let id = normalise(id)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

fn well_formed(id: &str) -> bool {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = id.strip_prefix("TA") {
        return digits(rest, 4);
    }
    let Some(rest) = id.strip_prefix('T') else {
        return false;
    };
    match rest.split_once('.') {
        None => digits(rest, 4),
        Some((main, sub)) => digits(main, 4) && digits(sub, 3),
    }
}

/// The ATT&CK name of a normalised id: the tactic's name, the technique's name, or for a
/// sub-technique `Parent: Sub` (`Impair Defenses: Disable or Modify Cloud Logs`).
pub fn name(id: &str) -> Option<String> {
    if let Some(t) = TACTICS.iter().find(|t| t.id == id) {
        return Some(t.name.to_string());
    }
    let own = technique_name(id)?;
    Some(match id.split_once('.') {
        Some((parent, _)) => match technique_name(parent) {
            Some(p) => format!("{p}: {own}"),
            None => own.to_string(),
        },
        None => own.to_string(),
    })
}

fn technique_name(id: &str) -> Option<&'static str> {
    TECHNIQUES.iter().find(|(i, _)| *i == id).map(|(_, n)| *n)
}

/// The tactic with this Sigma short name (`defense_evasion`; `-` is read as `_`).
pub fn tactic_by_short(short: &str) -> Option<&'static Tactic> {
    let short = short.to_ascii_lowercase().replace('-', "_");
    TACTICS.iter().find(|t| t.short == short)
}

/// What a Sigma `tags:` entry means to trailwatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigmaTag {
    /// An ATT&CK id (`attack.t1098.001` → `T1098.001`, `attack.persistence` → `TA0003`).
    Attack(String),
    /// An `attack.` tag that names no known tactic or technique.
    BadAttack(String),
    /// Another namespace (`car.`, `cve.`, `detection.`, `tlp.`…): not ours to read.
    Other,
}

impl fmt::Display for SigmaTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigmaTag::Attack(id) => f.write_str(id),
            SigmaTag::BadAttack(tag) => write!(f, "unknown ATT&CK tag '{tag}'"),
            SigmaTag::Other => f.write_str("(other namespace)"),
        }
    }
}

/// Reads one Sigma tag.
pub fn sigma_tag(tag: &str) -> SigmaTag {
    let tag = tag.trim();
    let Some((ns, rest)) = tag.split_once('.') else {
        return SigmaTag::Other;
    };
    if !ns.eq_ignore_ascii_case("attack") {
        return SigmaTag::Other;
    }
    if let Ok(id) = normalise(rest) {
        return SigmaTag::Attack(id);
    }
    match tactic_by_short(rest) {
        Some(t) => SigmaTag::Attack(t.id.to_string()),
        None => SigmaTag::BadAttack(tag.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_normalised_and_checked() {
        assert_eq!(normalise(" t1562.008 ").unwrap(), "T1562.008");
        assert_eq!(normalise("ta0005").unwrap(), "TA0005");
        assert_eq!(normalise("T1098").unwrap(), "T1098");
        for bad in [
            "T156",
            "T1562.08",
            "TA05",
            "X1234",
            "T1562.008.1",
            "",
            "T12345",
        ] {
            assert!(
                matches!(normalise(bad), Err(IdError::Malformed(_))),
                "{bad}"
            );
        }
        assert_eq!(
            normalise("T9999"),
            Err(IdError::Unknown("T9999".to_string()))
        );
        assert!(matches!(normalise("TA0099"), Err(IdError::Unknown(_))));
        let ids = ["T1098".to_string(), "t1098".into(), "TA0003".into()];
        assert_eq!(normalise_all(&ids).unwrap(), vec!["T1098", "TA0003"]);
    }

    #[test]
    fn names_come_from_the_tables() {
        assert_eq!(name("TA0040").as_deref(), Some("Impact"));
        assert_eq!(
            name("T1562.008").as_deref(),
            Some("Impair Defenses: Disable or Modify Cloud Logs")
        );
        assert_eq!(name("T1530").as_deref(), Some("Data from Cloud Storage"));
        assert_eq!(name("T0000"), None);
    }

    #[test]
    fn tables_are_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for t in TACTICS {
            assert!(well_formed(t.id) && t.id.starts_with("TA"), "{}", t.id);
            assert!(seen.insert(t.id), "{} twice", t.id);
            assert!(!t.name.is_empty() && !t.short.contains(' '));
        }
        for (id, name) in TECHNIQUES {
            assert!(well_formed(id) && !id.starts_with("TA"), "{id}");
            assert!(seen.insert(id), "{id} twice");
            assert!(!name.is_empty());
            if let Some((parent, _)) = id.split_once('.') {
                assert!(technique_name(parent).is_some(), "{id} without {parent}");
            }
        }
        // Sorted, so a reader finds an id quickly.
        let ids: Vec<&str> = TECHNIQUES.iter().map(|(i, _)| *i).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn sigma_tags() {
        assert_eq!(sigma_tag("attack.t1098"), SigmaTag::Attack("T1098".into()));
        assert_eq!(
            sigma_tag("attack.t1098.001"),
            SigmaTag::Attack("T1098.001".into())
        );
        assert_eq!(
            sigma_tag("attack.ta0003"),
            SigmaTag::Attack("TA0003".into())
        );
        assert_eq!(
            sigma_tag("attack.persistence"),
            SigmaTag::Attack("TA0003".into())
        );
        assert_eq!(
            sigma_tag("attack.defense-evasion"),
            SigmaTag::Attack("TA0005".into())
        );
        assert_eq!(
            sigma_tag("attack.g0016"),
            SigmaTag::BadAttack("attack.g0016".into())
        );
        assert_eq!(
            sigma_tag("attack.t9999"),
            SigmaTag::BadAttack("attack.t9999".into())
        );
        for other in [
            "car.2016-04-005",
            "cve.2021-44228",
            "detection.threat-hunting",
            "tlp",
        ] {
            assert_eq!(sigma_tag(other), SigmaTag::Other, "{other}");
        }
    }
}
