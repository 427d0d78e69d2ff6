//! Sigma rules for CloudTrail, compiled into trailwatch [`Rule`]s.
//!
//! Parsing is done by `rsigma-parser`; this module turns its syntax tree into our conditions.
//! Supported: field modifiers `contains`, `startswith`, `endswith`, `all`, `re` (with `i`, `m`,
//! `s`), `cidr`, `exists`, `fieldref`, `cased`, `gt`/`gte`/`lt`/`lte`; conditions with `and`,
//! `or`, `not`, parentheses and `1 of` / `all of` over names or `them`. Anything else makes the
//! rule [`RuleError::Unsupported`]: it is reported and skipped, the others still load. `tags`
//! give the rule its ATT&CK ids (`attack.t1098.001`, `attack.persistence`); other namespaces are
//! ignored, and an `attack.` tag naming nothing known is dropped with a warning
//! ([`RuleError::Ignored`]) while the rule still loads.

use super::attack::{self, SigmaTag};
use super::cond::{self, Cmp, Cond, Scalar, StrOp, Test};
use super::path::FieldPath;
use super::yaml::Loaded;
use super::{Origin, Rule, RuleError};
use crate::catalog::Severity;
use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Level, Modifier, Quantifier, SelectorPattern,
    SigmaRule, SigmaString, SigmaValue, SpecialChar, StringPart,
};
use std::collections::HashMap;

/// Parse a Sigma file (one or more YAML documents) into rules and errors.
pub fn parse(file: &str, text: &str) -> Loaded {
    let mut loaded = Loaded {
        rules: Vec::new(),
        errors: Vec::new(),
    };
    let origin = Origin {
        file: file.to_string(),
        line: 0,
    };
    let collection = match rsigma_parser::parse_sigma_yaml(text) {
        Ok(c) => c,
        Err(e) => {
            loaded.errors.push(RuleError::File {
                origin,
                message: format!("not a Sigma file: {e}"),
            });
            return loaded;
        }
    };
    for message in &collection.errors {
        loaded.errors.push(RuleError::File {
            origin: origin.clone(),
            message: message.clone(),
        });
    }
    for c in &collection.correlations {
        loaded.errors.push(RuleError::Unsupported {
            origin: origin.clone(),
            id: c.id.clone().unwrap_or_else(|| c.title.clone()),
            message: "correlation rules are not supported (use a YAML rule with `threshold`)"
                .into(),
        });
    }
    for f in &collection.filters {
        loaded.errors.push(RuleError::Unsupported {
            origin: origin.clone(),
            id: f.id.clone().unwrap_or_else(|| f.title.clone()),
            message: "filter rules are not supported (use a suppression)".into(),
        });
    }
    for rule in &collection.rules {
        let origin = Origin {
            file: file.to_string(),
            line: title_line(text, &rule.title),
        };
        let id = rule_id(rule);
        match compile(rule) {
            Ok(cond) => {
                let (attack, bad) = tags(&rule.tags);
                if !bad.is_empty() {
                    loaded.errors.push(RuleError::Ignored {
                        origin: origin.clone(),
                        id: id.clone(),
                        message: format!(
                            "tag(s) {} name no known ATT&CK tactic or technique; ignored",
                            bad.join(", ")
                        ),
                    });
                }
                let description = rule.description.as_deref().unwrap_or(&rule.title);
                loaded.rules.push(Rule {
                    id,
                    pack: "sigma".into(),
                    title: rule.title.clone(),
                    severity: severity(rule.level),
                    description: description.trim().into(),
                    why: (!rule.falsepositives.is_empty()).then(|| {
                        format!("Known false positives: {}.", rule.falsepositives.join("; "))
                    }),
                    references: rule.references.clone(),
                    attack,
                    controls: Vec::new(),
                    service: None,
                    sources: Vec::new(),
                    names: Vec::new(),
                    cond: Some(cond),
                    suppress: Vec::new(),
                    dedup: None,
                    threshold: None,
                    keep_on_failure: false,
                    lower_when: Vec::new(),
                    tests: Vec::new(),
                    origin,
                })
            }
            Err(Problem::Unsupported(message)) => loaded.errors.push(RuleError::Unsupported {
                origin,
                id,
                message,
            }),
            Err(Problem::Invalid(message)) => loaded.errors.push(RuleError::Rule {
                origin,
                id,
                message,
            }),
        }
    }
    loaded
}

/// The ATT&CK ids of a rule's tags (in order, without repeats) and the `attack.` tags that name
/// nothing known.
fn tags(tags: &[String]) -> (Vec<String>, Vec<String>) {
    let mut ids: Vec<String> = Vec::new();
    let mut bad = Vec::new();
    for tag in tags {
        match attack::sigma_tag(tag) {
            SigmaTag::Attack(id) if !ids.contains(&id) => ids.push(id),
            SigmaTag::BadAttack(t) => bad.push(format!("'{t}'")),
            SigmaTag::Attack(_) | SigmaTag::Other => {}
        }
    }
    (ids, bad)
}

enum Problem {
    Unsupported(String),
    Invalid(String),
}

fn unsupported<T>(what: impl Into<String>) -> Result<T, Problem> {
    Err(Problem::Unsupported(what.into()))
}

fn rule_id(rule: &SigmaRule) -> String {
    if let Some(id) = &rule.id {
        return id.clone();
    }
    let slug: String = rule
        .title
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let slug: Vec<&str> = slug.split('-').filter(|s| !s.is_empty()).collect();
    format!("sigma.{}", slug.join("-"))
}

/// The line of the rule's `title:` key, so errors point into the file.
fn title_line(text: &str, title: &str) -> u64 {
    text.lines()
        .position(|l| l.trim_start().starts_with("title:") && l.contains(title))
        .map_or(0, |i| i as u64 + 1)
}

fn severity(level: Option<Level>) -> Severity {
    match level {
        Some(Level::Informational) => Severity::Info,
        Some(Level::Low) => Severity::Low,
        Some(Level::High) => Severity::High,
        Some(Level::Critical) => Severity::Critical,
        Some(Level::Medium) | None => Severity::Medium,
    }
}

fn compile(rule: &SigmaRule) -> Result<Cond, Problem> {
    let product = rule.logsource.product.as_deref().unwrap_or_default();
    let service = rule.logsource.service.as_deref().unwrap_or_default();
    if !product.eq_ignore_ascii_case("aws") || !service.eq_ignore_ascii_case("cloudtrail") {
        return unsupported(format!(
            "logsource is product '{product}', service '{service}'; only aws/cloudtrail is read"
        ));
    }
    let det = &rule.detection;
    if det.timeframe.is_some() {
        return unsupported("`timeframe` aggregations are not supported");
    }
    let mut compiled = HashMap::new();
    for (name, d) in &det.named {
        compiled.insert(name.as_str(), detection(d)?);
    }
    let conds = det
        .conditions
        .iter()
        .map(|c| condition(c, &compiled))
        .collect::<Result<Vec<_>, _>>()?;
    match conds.len() {
        0 => Err(Problem::Invalid("detection has no condition".into())),
        1 => Ok(conds.into_iter().next().unwrap_or(Cond::All(Vec::new()))),
        _ => Ok(Cond::any(conds)),
    }
}

fn condition(c: &ConditionExpr, named: &HashMap<&str, Cond>) -> Result<Cond, Problem> {
    Ok(match c {
        ConditionExpr::And(v) => Cond::all(
            v.iter()
                .map(|c| condition(c, named))
                .collect::<Result<_, _>>()?,
        ),
        ConditionExpr::Or(v) => Cond::any(
            v.iter()
                .map(|c| condition(c, named))
                .collect::<Result<_, _>>()?,
        ),
        ConditionExpr::Not(c) => Cond::Not(Box::new(condition(c, named)?)),
        ConditionExpr::Identifier(name) => named.get(name.as_str()).cloned().ok_or_else(|| {
            Problem::Invalid(format!("condition names unknown detection '{name}'"))
        })?,
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let mut names: Vec<&&str> = named
                .keys()
                .filter(|n| match pattern {
                    SelectorPattern::Them => !n.starts_with('_'),
                    SelectorPattern::Pattern(p) => rsigma_parser::detection_name_matches(p, n),
                })
                .collect();
            names.sort();
            if names.is_empty() {
                return Err(Problem::Invalid(format!(
                    "'{pattern}' matches no detection"
                )));
            }
            let parts: Vec<Cond> = names.iter().map(|n| named[**n].clone()).collect();
            match quantifier {
                Quantifier::Any => Cond::any(parts),
                Quantifier::All => Cond::all(parts),
                Quantifier::Count(1) => Cond::any(parts),
                Quantifier::Count(n) => return unsupported(format!("'{n} of' is not supported")),
            }
        }
    })
}

fn detection(d: &Detection) -> Result<Cond, Problem> {
    match d {
        Detection::AllOf(items) => Ok(Cond::all(items.iter().map(item).collect::<Result<_, _>>()?)),
        Detection::AnyOf(subs) => Ok(Cond::any(
            subs.iter().map(detection).collect::<Result<_, _>>()?,
        )),
        Detection::And(subs) => Ok(Cond::all(
            subs.iter().map(detection).collect::<Result<_, _>>()?,
        )),
        Detection::Keywords(_) => unsupported("keyword (field-less) detections are not supported"),
        Detection::ArrayMatch { .. } | Detection::Conditional { .. } => {
            unsupported("array object-scope blocks (`field[any]:`) are not supported")
        }
    }
}

/// One `field|modifiers: values` line.
fn item(it: &DetectionItem) -> Result<Cond, Problem> {
    let Some(name) = &it.field.name else {
        return unsupported("keyword (field-less) detections are not supported");
    };
    let path =
        FieldPath::parse(name).map_err(|e| Problem::Invalid(format!("field '{name}': {e}")))?;
    let mods = &it.field.modifiers;
    let has = |m: Modifier| mods.contains(&m);
    for m in mods {
        if !matches!(
            m,
            Modifier::Contains
                | Modifier::StartsWith
                | Modifier::EndsWith
                | Modifier::All
                | Modifier::Re
                | Modifier::Cidr
                | Modifier::Cased
                | Modifier::Exists
                | Modifier::FieldRef
                | Modifier::Gt
                | Modifier::Gte
                | Modifier::Lt
                | Modifier::Lte
                | Modifier::IgnoreCase
                | Modifier::Multiline
                | Modifier::DotAll
        ) {
            return unsupported(format!("modifier {m:?} on '{name}' is not supported"));
        }
    }
    let nocase = !has(Modifier::Cased);
    let field = |test: Test| Cond::Field {
        path: path.clone(),
        test,
    };
    let mut conds = Vec::new();
    for v in &it.values {
        let c = if has(Modifier::Exists) {
            match v {
                SigmaValue::Bool(b) => field(Test::Exists(*b)),
                _ => {
                    return Err(Problem::Invalid(format!(
                        "'{name}|exists' takes true or false"
                    )));
                }
            }
        } else if has(Modifier::FieldRef) {
            let other = text_of(v, name)?;
            // Compared as the values are (a backend's `a == b`), whatever `cased` says.
            field(Test::FieldRef {
                other: FieldPath::parse(&other)
                    .map_err(|e| Problem::Invalid(format!("fieldref '{other}': {e}")))?,
                nocase: false,
            })
        } else if has(Modifier::Re) {
            let pattern = text_of(v, name)?;
            let re = regex::RegexBuilder::new(&pattern)
                .case_insensitive(has(Modifier::IgnoreCase))
                .multi_line(has(Modifier::Multiline))
                .dot_matches_new_line(has(Modifier::DotAll))
                .size_limit(1 << 20)
                .build()
                .map_err(|e| Problem::Invalid(format!("'{name}': bad regex '{pattern}': {e}")))?;
            field(Test::Regex(vec![re]))
        } else if has(Modifier::Cidr) {
            let net = text_of(v, name)?;
            field(Test::Cidr(vec![net.parse().map_err(|_| {
                Problem::Invalid(format!("'{name}': bad CIDR '{net}'"))
            })?]))
        } else if let Some(cmp) = comparison(mods) {
            let n = match v {
                SigmaValue::Integer(i) => *i as f64,
                SigmaValue::Float(f) => *f,
                _ => {
                    return Err(Problem::Invalid(format!(
                        "'{name}': comparison needs a number"
                    )));
                }
            };
            field(Test::Num(cmp, n))
        } else {
            value_test(v, mods, nocase, name).map(field)?
        };
        conds.push(c);
    }
    Ok(if has(Modifier::All) {
        Cond::all(conds)
    } else {
        Cond::any(conds)
    })
}

fn comparison(mods: &[Modifier]) -> Option<Cmp> {
    mods.iter().find_map(|m| match m {
        Modifier::Gt => Some(Cmp::Gt),
        Modifier::Gte => Some(Cmp::Gte),
        Modifier::Lt => Some(Cmp::Lt),
        Modifier::Lte => Some(Cmp::Lte),
        _ => None,
    })
}

fn text_of(v: &SigmaValue, name: &str) -> Result<String, Problem> {
    match v {
        SigmaValue::String(s) => Ok(s.original.clone()),
        SigmaValue::Integer(i) => Ok(i.to_string()),
        _ => Err(Problem::Invalid(format!(
            "'{name}': expected a string value"
        ))),
    }
}

/// Plain values with optional `contains` / `startswith` / `endswith` and Sigma wildcards.
fn value_test(
    v: &SigmaValue,
    mods: &[Modifier],
    nocase: bool,
    name: &str,
) -> Result<Test, Problem> {
    let s = match v {
        SigmaValue::Null => return Ok(Test::Exists(false)),
        SigmaValue::Bool(b) => return Ok(Test::Equals(vec![Scalar::Bool(*b)])),
        SigmaValue::Integer(i) => return Ok(Test::Equals(vec![Scalar::Num(*i as f64)])),
        SigmaValue::Float(f) => return Ok(Test::Equals(vec![Scalar::Num(*f)])),
        SigmaValue::String(s) => s,
    };
    let (lead, trail) = if mods.contains(&Modifier::Contains) {
        (true, true)
    } else {
        (
            mods.contains(&Modifier::EndsWith),
            mods.contains(&Modifier::StartsWith),
        )
    };
    if let Some(plain) = plain(s) {
        let op = match (lead, trail) {
            (true, true) => StrOp::Contains,
            (true, false) => StrOp::Suffix,
            (false, true) => StrOp::Prefix,
            (false, false) => StrOp::Equals,
        };
        let needle = if nocase { plain.to_lowercase() } else { plain };
        return Ok(Test::Str {
            op,
            needles: vec![needle],
            nocase,
        });
    }
    let mut pattern = String::new();
    if lead {
        pattern.push('*');
    }
    for part in &s.parts {
        match part {
            StringPart::Plain(t) => pattern.push_str(t),
            StringPart::Special(SpecialChar::WildcardMulti) => pattern.push('*'),
            StringPart::Special(SpecialChar::WildcardSingle) => pattern.push('?'),
        }
    }
    if trail {
        pattern.push('*');
    }
    let g = cond::glob(&pattern, nocase).map_err(|e| Problem::Invalid(format!("'{name}': {e}")))?;
    Ok(Test::Glob(vec![g]))
}

fn plain(s: &SigmaString) -> Option<String> {
    s.parts
        .iter()
        .map(|p| match p {
            StringPart::Plain(t) => Some(t.as_str()),
            StringPart::Special(_) => None,
        })
        .collect::<Option<Vec<_>>>()
        .map(|v| v.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> Loaded {
        parse("t.yml", text)
    }

    fn eval(loaded: &Loaded, record: &str) -> bool {
        let v: sonic_rs::Value = sonic_rs::from_str(record).unwrap();
        loaded.rules[0].cond.as_ref().unwrap().eval(&v)
    }

    const STOP: &str = r#"
title: CloudTrail stopped
id: 11111111-2222-3333-4444-555555555555
logsource: { product: aws, service: cloudtrail }
detection:
  selection:
    eventSource: cloudtrail.amazonaws.com
    eventName: [StopLogging, DeleteTrail]
  filter_main:
    userIdentity.arn|endswith: ':role/Admin'
  condition: selection and not 1 of filter_*
level: high
"#;

    #[test]
    fn compiles_selection_filter_and_quantifier() {
        let l = rule(STOP);
        assert!(l.errors.is_empty(), "{:?}", l.errors);
        let r = &l.rules[0];
        assert_eq!(
            (r.id.as_str(), r.pack.as_str(), r.severity),
            (
                "11111111-2222-3333-4444-555555555555",
                "sigma",
                Severity::High
            )
        );
        assert!(eval(
            &l,
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"stoplogging"}"#
        ));
        assert!(!eval(
            &l,
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"StartLogging"}"#
        ));
        assert!(!eval(
            &l,
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"DeleteTrail","userIdentity":{"arn":"arn:aws:iam::1:role/Admin"}}"#
        ));
    }

    #[test]
    fn modifiers() {
        let l = rule(
            r#"
title: mods
logsource: { product: aws, service: cloudtrail }
detection:
  sel:
    userAgent|contains|all: [boto, linux]
    sourceIPAddress|cidr: 10.0.0.0/8
    requestParameters.roleName|re: '^adm.n$'
    errorCode|exists: false
    userIdentity.userName|fieldref: requestParameters.userName
    eventName: 'Get*Value'
  condition: all of them
"#,
        );
        assert!(l.errors.is_empty(), "{:?}", l.errors);
        assert_eq!(l.rules[0].id, "sigma.mods");
        let yes = r#"{"eventName":"GetSecretValue","userAgent":"Boto3/1 Linux","sourceIPAddress":"10.1.2.3",
            "requestParameters":{"roleName":"admin","userName":"a"},"userIdentity":{"userName":"a"}}"#;
        assert!(eval(&l, yes));
        assert!(!eval(&l, &yes.replace("Linux", "Darwin")));
        assert!(!eval(&l, &yes.replace("10.1.2.3", "192.0.2.1")));
        assert!(!eval(
            &l,
            &yes.replace(r#""userName":"a"}}"#, r#""userName":"b"}}"#)
        ));
    }

    #[test]
    fn unsupported_rules_are_reported_not_loaded() {
        let l = rule(
            r#"
title: windows
logsource: { product: windows, category: process_creation }
detection: { sel: { Image|endswith: '\cmd.exe' }, condition: sel }
---
title: b64
logsource: { product: aws, service: cloudtrail }
detection: { sel: { requestParameters.x|base64: abc }, condition: sel }
---
title: fine
logsource: { product: aws, service: cloudtrail }
detection: { sel: { eventName: ConsoleLogin }, condition: sel }
"#,
        );
        assert_eq!(l.rules.len(), 1);
        assert_eq!(l.errors.len(), 2, "{:?}", l.errors);
        assert!(l.errors.iter().all(RuleError::is_unsupported));
    }

    #[test]
    fn tags_become_attack_ids_and_bad_ones_warn() {
        let l = rule(
            r#"
title: keys
id: keys-1
logsource: { product: aws, service: cloudtrail }
detection: { sel: { eventName: CreateAccessKey }, condition: sel }
tags:
  - attack.persistence
  - attack.t1098.001
  - attack.T1098
  - attack.ta0003
  - attack.g0016
  - car.2016-04-005
  - cve.2021-44228
  - detection.threat-hunting
---
title: plain
logsource: { product: aws, service: cloudtrail }
detection: { sel: { eventName: ConsoleLogin }, condition: sel }
"#,
        );
        assert_eq!(l.rules.len(), 2, "{:?}", l.errors);
        assert_eq!(l.rules[0].attack, vec!["TA0003", "T1098.001", "T1098"]);
        assert!(l.rules[1].attack.is_empty());
        assert_eq!(l.errors.len(), 1, "{:?}", l.errors);
        let e = &l.errors[0];
        assert!(e.is_unsupported(), "a warning, not an error");
        let text = e.to_string();
        assert!(
            text.contains("'keys-1'") && text.contains("'attack.g0016'") && !text.contains("car."),
            "{text}"
        );
    }

    #[test]
    fn broken_yaml_is_a_file_error() {
        let l = rule("title: [unclosed\n");
        assert!(l.rules.is_empty());
        assert!(!l.errors.is_empty());
        assert!(!l.errors[0].is_unsupported());
    }
}
