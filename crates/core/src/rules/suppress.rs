//! Suppressions: "this rule on records like these is expected", with a reason and an optional
//! expiry date. Stateless: the engine decides them where the record is at hand. Written in rule
//! files (a rule's `suppress:` list), suppression files and the configuration.

use crate::record::Record;
use crate::rules::cond::{self, Cond};
use crate::rules::yaml::{condition, strings, unknown_keys};
use globset::GlobMatcher;
use ipnet::IpNet;
use jiff::civil::Date;
use serde_json::Value;
use std::net::IpAddr;

/// One suppression: every key given must match; a list means "any of".
#[derive(Debug, Clone)]
pub struct Suppression {
    pub reason: String,
    rules: Vec<(String, GlobMatcher)>,
    principal: Vec<(String, GlobMatcher)>,
    role: Vec<String>,
    account: Vec<String>,
    region: Vec<String>,
    source_ip: Vec<IpNet>,
    user_agent: Vec<(String, GlobMatcher)>,
    cond: Option<Cond>,
    pub expires: Option<Date>,
}

const KEYS: &[&str] = &[
    "reason",
    "rules",
    "principal",
    "role",
    "account",
    "region",
    "source_ip",
    "user_agent",
    "where",
    "expires",
];

impl Suppression {
    /// Parses one suppression mapping.
    pub fn from_value(v: &Value) -> Result<Suppression, String> {
        let obj = v.as_object().ok_or("a suppression must be a mapping")?;
        unknown_keys(obj, KEYS, "suppression")?;
        let reason = obj
            .get("reason")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty());
        let reason = reason
            .ok_or("a suppression needs a `reason`")?
            .trim()
            .to_string();
        let list = |k: &str| strings(obj.get(k), k);
        let globs = |k: &str, nocase: bool| -> Result<Vec<(String, GlobMatcher)>, String> {
            list(k)?.iter().map(|g| cond::glob(g, nocase)).collect()
        };
        let expires = match obj.get("expires") {
            None => None,
            Some(Value::String(s)) => Some(
                s.parse::<Date>()
                    .map_err(|_| format!("expires '{s}' is not a date (YYYY-MM-DD)"))?,
            ),
            Some(_) => return Err("expires must be a date (YYYY-MM-DD)".into()),
        };
        let s = Suppression {
            reason,
            rules: globs("rules", false)?,
            principal: globs("principal", false)?,
            role: list("role")?,
            account: list("account")?,
            region: list("region")?,
            source_ip: list("source_ip")?
                .iter()
                .map(|c| parse_net(c).ok_or_else(|| format!("bad CIDR '{c}' in source_ip")))
                .collect::<Result<_, _>>()?,
            user_agent: globs("user_agent", true)?,
            cond: obj
                .get("where")
                .map(|w| condition(w, "where"))
                .transpose()?,
            expires,
        };
        Ok(s)
    }

    /// Whether the suppression is past its expiry date.
    pub fn expired(&self, today: Date) -> bool {
        self.expires.is_some_and(|d| d < today)
    }

    /// Whether it silences rule `rule_id` on this record.
    pub fn matches(&self, rule_id: &str, record: &Record) -> bool {
        let any_glob = |gs: &[(String, GlobMatcher)], v: Option<&str>| {
            gs.is_empty() || v.is_some_and(|v| gs.iter().any(|(_, g)| g.is_match(v)))
        };
        let any_eq = |xs: &[String], v: Option<&str>| {
            xs.is_empty() || v.is_some_and(|v| xs.iter().any(|x| x == v))
        };
        let issuer = || {
            use sonic_rs::JsonValueTrait;
            let v =
                record
                    .value()
                    .pointer(["userIdentity", "sessionContext", "sessionIssuer", "arn"]);
            v.and_then(|v| v.as_str())
        };
        let principal = self.principal.is_empty()
            || any_glob(&self.principal, record.identity_str("arn"))
            || any_glob(&self.principal, issuer());
        any_glob(&self.rules, Some(rule_id))
            && principal
            && (self.role.is_empty() || role_name(record).is_some_and(|r| self.role.contains(&r)))
            && any_eq(&self.account, record.account_id())
            && any_eq(&self.region, record.region())
            && (self.source_ip.is_empty()
                || record
                    .str("sourceIPAddress")
                    .and_then(|s| s.parse::<IpAddr>().ok())
                    .is_some_and(|ip| self.source_ip.iter().any(|n| n.contains(&ip))))
            && any_glob(&self.user_agent, record.str("userAgent"))
            && self.cond.as_ref().is_none_or(|c| c.eval(record.value()))
    }
}

/// `10.0.0.0/8`, or a single address.
fn parse_net(s: &str) -> Option<IpNet> {
    s.parse()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// The role name of an assumed-role session (`arn:aws:sts::1:assumed-role/NAME/session`).
fn role_name(record: &Record) -> Option<String> {
    let arn = record.identity_str("arn")?;
    let rest = arn
        .split(":assumed-role/")
        .nth(1)
        .or_else(|| arn.split(":role/").nth(1))?;
    rest.split('/').next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Parsed;

    fn rec(json: &str) -> Record {
        match Record::parse_text(json.as_bytes()).unwrap() {
            Parsed::Record(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn sup(yaml: &str) -> Result<Suppression, String> {
        let v: Value = serde_saphyr::from_str(yaml).unwrap();
        Suppression::from_value(&v)
    }

    #[test]
    fn suppression_keys_combine() {
        let r = rec(
            r#"{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","sourceIPAddress":"10.1.2.3",
            "userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/terraform-ci/run-1"},
            "recipientAccountId":"111122223333","awsRegion":"us-east-1","userAgent":"APN/1.0 HashiCorp/1.0 Terraform/1.9"}"#,
        );
        let s = sup("reason: ci\nrules: [guide.iam.*]\nrole: [terraform-ci]\nsource_ip: [10.0.0.0/8]\nuser_agent: ['*terraform*']").unwrap();
        assert!(s.matches("guide.iam.CreateUser", &r));
        assert!(!s.matches("guide.s3.PutBucketPolicy", &r));
        let s = sup("reason: x\naccount: ['444455556666']").unwrap();
        assert!(!s.matches("guide.iam.CreateUser", &r));
        let s = sup("reason: x\nwhere: {field: eventName, prefix: Create}").unwrap();
        assert!(s.matches("any", &r));
        assert!(sup("rules: [x]").unwrap_err().contains("reason"));
        assert!(sup("reason: x\nexpires: soon").is_err());
        let s = sup("reason: x\nexpires: 2026-01-31").unwrap();
        assert!(
            s.expired("2026-02-01".parse().unwrap()) && !s.expired("2026-01-31".parse().unwrap())
        );
    }
}
