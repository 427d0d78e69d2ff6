//! `lower_when`: conditions under which a rule's match is less urgent than its severity says,
//! because the record shows the new setting protects rather than weakens (versioning turned on,
//! logging widened, a final snapshot kept) or the caller is automation doing its routine work
//! (an AWS service managing its network interfaces, ACM validation records).
//!
//! The same list is written on YAML rules and on catalog entries:
//!
//! ```yaml
//! lower_when:
//!   - reason: versioning turned on            # shown with the rule in the finding
//!     severity: info                          # optional; info unless given; below the rule's
//!     where: { field: requestParameters.VersioningConfiguration.Status, equals: Enabled }
//! ```
//!
//! The first condition that holds sets the rule's severity for that record.

use super::Cond;
use super::yaml::{condition, unknown_keys};
use crate::catalog::Severity;
use serde_json::Value;

/// One `lower_when` item.
#[derive(Debug, Clone)]
pub struct Lowering {
    /// The rule's severity when `cond` holds (below the rule's own).
    pub severity: Severity,
    /// Why: the finding lists it beside the rule.
    pub reason: String,
    pub cond: Cond,
}

/// Reads a `lower_when` list for a rule of severity `base`.
pub fn parse(v: Option<&Value>, base: Severity) -> Result<Vec<Lowering>, String> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("`lower_when` must be a list".into()),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| one(item, base, &format!("lower_when[{i}]")))
        .collect()
}

fn one(v: &Value, base: Severity, at: &str) -> Result<Lowering, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{at} must be a mapping with reason, where and severity"))?;
    unknown_keys(obj, &["reason", "where", "severity"], at)?;
    let reason = obj
        .get("reason")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| format!("{at}.reason is required"))?;
    let severity = match obj.get("severity") {
        None => Severity::Info,
        Some(s) => s
            .as_str()
            .ok_or_else(|| format!("{at}.severity must be a severity"))?
            .parse()
            .map_err(|e| format!("{at}.severity: {e}"))?,
    };
    if severity >= base {
        return Err(format!(
            "{at}.severity {severity} must be below the rule's severity {base}"
        ));
    }
    let cond = obj
        .get("where")
        .ok_or_else(|| format!("{at}.where is required"))
        .and_then(|w| condition(w, &format!("{at}.where")))?;
    Ok(Lowering {
        severity,
        reason: reason.to_string(),
        cond,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(src: &str, base: Severity) -> Result<Vec<Lowering>, String> {
        let v: Value = crate::rules::yaml::from_yaml(src).unwrap();
        parse(Some(&v), base)
    }

    #[test]
    fn items_read_with_their_defaults_and_checks() {
        let l = read(
            "- { reason: ' on ', where: { field: a, equals: 1 } }\n- { reason: kept, severity: medium, where: { field: b, equals: 2 } }",
            Severity::High,
        )
        .unwrap();
        assert_eq!(
            (l[0].severity, l[0].reason.as_str()),
            (Severity::Info, "on")
        );
        assert_eq!(l[1].severity, Severity::Medium);
        for (src, want) in [
            (
                "- { where: { field: a, equals: 1 } }",
                "lower_when[0].reason is required",
            ),
            ("- { reason: r }", "lower_when[0].where is required"),
            (
                "- { reason: r, severity: high, where: { field: a, equals: 1 } }",
                "must be below the rule's severity high",
            ),
            (
                "- { reason: r, severity: loud, where: { field: a, equals: 1 } }",
                "lower_when[0].severity",
            ),
            ("- { reason: r, wher: {} }", "unknown key 'wher'"),
            (
                "- { reason: r, where: { field: a } }",
                "lower_when[0].where",
            ),
            ("{ reason: r }", "must be a list"),
        ] {
            let e = read(src, Severity::High).err().unwrap_or_default();
            assert!(e.contains(want), "{src}: {e}");
        }
        assert!(
            read(
                "- { reason: r, where: { field: a, equals: 1 } }",
                Severity::Info
            )
            .is_err()
        );
    }
}
