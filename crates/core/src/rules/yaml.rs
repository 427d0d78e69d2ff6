//! The YAML rule format (see `docs/rules.md`): parsing and validation into [`Rule`]s.
//!
//! A file is parsed once into generic values with the line of each rule kept, then every rule is
//! validated on its own, so one bad rule yields one error (file, line, id) and the others load.

use super::cond::{self, Cmp, Cond, Scalar, StrOp, Test};
use super::{
    Dedup, FieldPath, NameMatch, Origin, Rule, RuleError, RuleTest, Threshold, attack, control_id,
};
use crate::catalog::Severity;
use crate::rules::Suppression;
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;
use std::time::Duration;

/// Rules loaded from one file, and the errors of those that could not be.
#[derive(Debug, Default)]
pub struct Loaded {
    pub rules: Vec<Rule>,
    pub errors: Vec<RuleError>,
}

#[derive(Deserialize)]
struct Packed {
    pack: Option<String>,
    rules: Vec<Spanned<Value>>,
}

/// Parses a rule file's text. `file` names it in errors; `default_pack` applies when the file
/// does not name one.
pub fn parse(file: &str, text: &str, default_pack: &str) -> Loaded {
    let origin = |line| Origin {
        file: file.to_string(),
        line,
    };
    let (pack, items): (String, Vec<Spanned<Value>>) = if let Ok(p) = from_yaml::<Packed>(text) {
        (p.pack.unwrap_or_else(|| default_pack.to_string()), p.rules)
    } else if let Ok(list) = from_yaml::<Vec<Spanned<Value>>>(text) {
        (default_pack.to_string(), list)
    } else {
        match from_yaml::<Spanned<Value>>(text) {
            Ok(one) if one.value.is_object() => (default_pack.to_string(), vec![one]),
            Ok(_) => {
                let message = "expected a rule, a list of rules, or `rules:`".to_string();
                return Loaded {
                    rules: Vec::new(),
                    errors: vec![RuleError::File {
                        origin: origin(0),
                        message,
                    }],
                };
            }
            Err(e) => {
                let message = format!("not valid YAML: {}", first_line(&e.to_string()));
                return Loaded {
                    rules: Vec::new(),
                    errors: vec![RuleError::File {
                        origin: origin(0),
                        message,
                    }],
                };
            }
        }
    };
    let mut out = Loaded::default();
    for item in items {
        let origin = origin(item.referenced.line());
        let id = item
            .value
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        match rule(&item.value, &pack, origin.clone()) {
            Ok(r) => out.rules.push(r),
            Err(message) => out.errors.push(RuleError::Rule {
                origin,
                id,
                message,
            }),
        }
    }
    out
}

/// YAML as rule files are read: YAML 1.2 booleans only (`true`, `false`), so `yes`, `no`, `on`,
/// `off`, `y` and `n` stay strings (`equals: No` compares with the text "No", as a CloudTrail
/// field such as `additionalEventData.MFAUsed` holds it).
pub fn from_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, serde_saphyr::options! { strict_booleans: true })
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

const RULE_KEYS: &[&str] = &[
    "id",
    "title",
    "severity",
    "description",
    "why",
    "references",
    "attack",
    "controls",
    "service",
    "match",
    "where",
    "suppress",
    "dedup",
    "threshold",
    "on_failure",
    "lower_when",
    "tests",
];

fn rule(v: &Value, pack: &str, origin: Origin) -> Result<Rule, String> {
    let obj = v.as_object().ok_or("a rule must be a mapping")?;
    unknown_keys(obj, RULE_KEYS, "rule")?;
    let id = req_str(obj, "id")?;
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(format!(
            "id '{id}' may only contain letters, digits, '.', '_' and '-'"
        ));
    }
    let severity: Severity = req_str(obj, "severity")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    let (sources, names) = match obj.get("match") {
        None => (Vec::new(), Vec::new()),
        Some(m) => {
            let m = m
                .as_object()
                .ok_or("`match` must be a mapping with sources and/or names")?;
            unknown_keys(m, &["sources", "names"], "match")?;
            let names = strings(m.get("names"), "match.names")?
                .into_iter()
                .map(|n| {
                    if n.contains(['*', '?']) {
                        let (text, g) = cond::glob(&n, false)?;
                        Ok(NameMatch::Glob(text, g))
                    } else {
                        Ok(NameMatch::Exact(n))
                    }
                })
                .collect::<Result<_, String>>()?;
            (strings(m.get("sources"), "match.sources")?, names)
        }
    };
    let cond = obj
        .get("where")
        .map(|w| condition(w, "where"))
        .transpose()?;
    let suppress = match obj.get("suppress") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(Suppression::from_value)
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`suppress` must be a list".into()),
    };
    let tests = match obj.get("tests") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, t)| test(t, i))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`tests` must be a list".into()),
    };
    let threshold = obj.get("threshold").map(threshold).transpose()?;
    let lower_when = super::lower::parse(obj.get("lower_when"), severity)?;
    if threshold.is_some() && !lower_when.is_empty() {
        return Err(
            "`lower_when` does not apply to a threshold rule (use `where` to leave records out)"
                .into(),
        );
    }
    Ok(Rule {
        id,
        pack: pack.to_string(),
        title: req_str(obj, "title")?,
        severity,
        description: req_str(obj, "description")?.trim().to_string(),
        why: opt_str(obj, "why")?.map(|s| s.trim().to_string()),
        references: strings(obj.get("references"), "references")?,
        attack: attack_ids(obj.get("attack"))?,
        controls: controls(obj.get("controls"))?,
        service: opt_str(obj, "service")?,
        sources,
        names,
        cond,
        suppress,
        dedup: obj.get("dedup").map(dedup).transpose()?,
        threshold,
        keep_on_failure: on_failure(obj.get("on_failure"))?,
        lower_when,
        tests,
        origin,
    })
}

/// `on_failure: keep` (the rule is about the failure) or `lower` (the default: a failed call is
/// an attempt, one severity level lower).
fn on_failure(v: Option<&Value>) -> Result<bool, String> {
    match v.map(|v| v.as_str()) {
        None | Some(Some("lower")) => Ok(false),
        Some(Some("keep")) => Ok(true),
        _ => Err("on_failure must be `keep` or `lower`".into()),
    }
}

/// Parses a condition (`all`, `any`, `not`, or `field` with one test).
pub fn condition(v: &Value, at: &str) -> Result<Cond, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{at}: a condition must be a mapping"))?;
    let list = |key: &str| -> Result<Vec<Cond>, String> {
        let items = obj[key]
            .as_array()
            .ok_or_else(|| format!("{at}.{key} must be a list"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, c)| condition(c, &format!("{at}.{key}[{i}]")))
            .collect()
    };
    if obj.len() == 1 && obj.contains_key("all") {
        return Ok(Cond::all(list("all")?));
    }
    if obj.len() == 1 && obj.contains_key("any") {
        return Ok(Cond::any(list("any")?));
    }
    if obj.len() == 1 && obj.contains_key("not") {
        return Ok(Cond::Not(Box::new(condition(
            &obj["not"],
            &format!("{at}.not"),
        )?)));
    }
    let path = obj
        .get("field")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{at}: expected `all`, `any`, `not`, or `field` with one test"))?;
    let path = FieldPath::parse(path).map_err(|e| format!("{at}: field '{path}': {e}"))?;
    let nocase = match obj.get("ignore_case") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(format!("{at}: ignore_case must be true or false")),
    };
    let every = match obj.get("every") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(format!("{at}: every must be true or false")),
    };
    let tests: Vec<(&String, &Value)> = obj
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "field" | "ignore_case" | "every"))
        .collect();
    let [(op, arg)] = tests.as_slice() else {
        return Err(format!(
            "{at}: field '{path}' needs exactly one test (equals, in, glob, prefix, suffix, contains, regex, cidr, exists, equals_field, gt, gte, lt, lte)"
        ));
    };
    let test = field_test(op, arg, nocase).map_err(|e| format!("{at}: field '{path}': {e}"))?;
    if every {
        if matches!(test, Test::Exists(_) | Test::FieldRef { .. }) {
            return Err(format!(
                "{at}: field '{path}': `every` does not apply to `{op}`"
            ));
        }
        return Ok(Cond::Every { path, test });
    }
    Ok(Cond::Field { path, test })
}

fn field_test(op: &str, arg: &Value, nocase: bool) -> Result<Test, String> {
    let texts = || -> Result<Vec<String>, String> {
        let v = strings(Some(arg), op)?;
        if v.is_empty() {
            Err(format!("`{op}` needs at least one value"))
        } else {
            Ok(v)
        }
    };
    let str_test = |op: StrOp| -> Result<Test, String> {
        let needles = texts()?
            .into_iter()
            .map(|s| if nocase { s.to_lowercase() } else { s })
            .collect();
        Ok(Test::Str {
            op,
            needles,
            nocase,
        })
    };
    Ok(match op {
        "equals" if nocase => str_test(StrOp::Equals)?,
        "in" if nocase => str_test(StrOp::Equals)?,
        "equals" => Test::Equals(vec![scalar(arg)?]),
        "in" => {
            let items = arg.as_array().ok_or("`in` needs a list")?;
            Test::Equals(items.iter().map(scalar).collect::<Result<_, _>>()?)
        }
        "prefix" => str_test(StrOp::Prefix)?,
        "suffix" => str_test(StrOp::Suffix)?,
        "contains" => str_test(StrOp::Contains)?,
        "glob" => Test::Glob(
            texts()?
                .iter()
                .map(|g| cond::glob(g, nocase))
                .collect::<Result<_, _>>()?,
        ),
        "regex" => Test::Regex(
            texts()?
                .iter()
                .map(|r| {
                    regex::RegexBuilder::new(r)
                        .case_insensitive(nocase)
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| format!("bad regex '{r}': {}", first_line(&e.to_string())))
                })
                .collect::<Result<_, _>>()?,
        ),
        "cidr" => Test::Cidr(
            texts()?
                .iter()
                .map(|c| c.parse().map_err(|_| format!("bad CIDR '{c}'")))
                .collect::<Result<_, _>>()?,
        ),
        "exists" => Test::Exists(arg.as_bool().ok_or("`exists` takes true or false")?),
        "equals_field" => {
            let other = arg.as_str().ok_or("`equals_field` takes a field path")?;
            Test::FieldRef {
                other: FieldPath::parse(other).map_err(|e| format!("'{other}': {e}"))?,
                nocase,
            }
        }
        "gt" | "gte" | "lt" | "lte" => {
            let n = arg
                .as_f64()
                .ok_or_else(|| format!("`{op}` takes a number"))?;
            let cmp = match op {
                "gt" => Cmp::Gt,
                "gte" => Cmp::Gte,
                "lt" => Cmp::Lt,
                _ => Cmp::Lte,
            };
            Test::Num(cmp, n)
        }
        other => return Err(format!("unknown test '{other}'")),
    })
}

fn scalar(v: &Value) -> Result<Scalar, String> {
    Ok(match v {
        Value::String(s) => Scalar::Str(s.clone()),
        Value::Number(n) => Scalar::Num(n.as_f64().unwrap_or(f64::NAN)),
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Null => Scalar::Null,
        _ => return Err("expected a scalar (string, number, boolean or null)".into()),
    })
}

fn dedup(v: &Value) -> Result<Dedup, String> {
    let obj = v
        .as_object()
        .ok_or("`dedup` must be a mapping with key and window")?;
    unknown_keys(obj, &["key", "window"], "dedup")?;
    Ok(Dedup {
        key: paths(obj.get("key"), "dedup.key")?,
        window: duration(obj.get("window"), "dedup.window")?,
    })
}

fn threshold(v: &Value) -> Result<Threshold, String> {
    let obj = v
        .as_object()
        .ok_or("`threshold` must be a mapping with count, window and group_by")?;
    unknown_keys(obj, &["count", "window", "group_by"], "threshold")?;
    let count = obj
        .get("count")
        .and_then(Value::as_u64)
        .filter(|n| (2..=1_000_000).contains(n));
    Ok(Threshold {
        count: count.ok_or("threshold.count must be a whole number from 2 to 1000000")? as u32,
        window: duration(obj.get("window"), "threshold.window")?,
        group_by: paths(obj.get("group_by"), "threshold.group_by")?,
    })
}

fn test(v: &Value, i: usize) -> Result<RuleTest, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("tests[{i}] must be a mapping"))?;
    unknown_keys(obj, &["name", "record", "expect"], "test")?;
    let record = obj
        .get("record")
        .filter(|r| r.is_object())
        .ok_or_else(|| format!("tests[{i}].record must be a mapping"))?;
    let expect_match = match obj.get("expect").and_then(Value::as_str) {
        Some("match") => true,
        Some("no-match") => false,
        _ => return Err(format!("tests[{i}].expect must be `match` or `no-match`")),
    };
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .map_or_else(|| format!("test {}", i + 1), str::to_string);
    Ok(RuleTest {
        name,
        record: record.clone(),
        expect_match,
    })
}

/// `attack:`: a list of ATT&CK ids, each one known (see [`attack`]).
fn attack_ids(v: Option<&Value>) -> Result<Vec<String>, String> {
    let ids = list_of_strings(v, "attack")?;
    attack::normalise_all(&ids).map_err(|e| format!("attack: {e}"))
}

/// `controls:`: a list of control ids (see [`control_id`]), repeats dropped.
fn controls(v: Option<&Value>) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for c in list_of_strings(v, "controls")? {
        let c = control_id(&c).map_err(|e| format!("controls: {e}"))?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// A list of strings; unlike [`strings`], a single value is refused (ids read better as lists).
fn list_of_strings(v: Option<&Value>, at: &str) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("`{at}` must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(format!("`{at}` must be a list, e.g. [TA0005, T1562.008]")),
    }
}

fn duration(v: Option<&Value>, at: &str) -> Result<Duration, String> {
    match v.and_then(Value::as_str) {
        Some(text) => crate::units::duration(text).map_err(|e| format!("{at}: {e}")),
        None => Err(format!(
            "{at} must be a duration such as 30s, 10m, 1h or 7d"
        )),
    }
}

fn paths(v: Option<&Value>, at: &str) -> Result<Vec<FieldPath>, String> {
    strings(v, at)?
        .iter()
        .map(|p| FieldPath::parse(p).map_err(|e| format!("{at}: '{p}': {e}")))
        .collect()
}

/// A string or a list of strings (numbers are accepted and written as text).
pub fn strings(v: Option<&Value>, at: &str) -> Result<Vec<String>, String> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(format!("`{at}` must be a string or a list of strings")),
    };
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(one).collect(),
        Some(v) => Ok(vec![one(v)?]),
    }
}

fn req_str(obj: &Map<String, Value>, key: &str) -> Result<String, String> {
    opt_str(obj, key)?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| format!("`{key}` is required"))
}

fn opt_str(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

/// Refuses keys a mapping should not have (usually typos).
pub fn unknown_keys(obj: &Map<String, Value>, known: &[&str], what: &str) -> Result<(), String> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "unknown key '{k}' in {what} (expected one of: {})",
            known.join(", ")
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
