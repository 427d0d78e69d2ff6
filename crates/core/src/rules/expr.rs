//! The filter expressions of `trailwatch search --where`: one field test in words that read well
//! in a shell, compiled into the same [`Cond`] the rules use (so every operator, path rule and
//! prefilter literal is shared with them).
//!
//! An expression is `[not] PATH OP [VALUE]`: `userIdentity.arn glob *alice*`,
//! `errorCode exists`, `not sourceIPAddress cidr 10.0.0.0/8`, `eventName = ConsoleLogin,GetSecretValue`.
//! Comma-separated values are alternatives (any may match), except for `regex`, whose value is
//! taken whole; a value in single or double quotes is taken as written (commas and spaces kept).
//! A `:i` after a string operator (`contains:i`) compares without regard to case. The short
//! forms for the common questions (`--actor`, `--access-key`, ...) are built here too.

use super::FieldPath;
use super::cond::{self, Cmp, Cond, Scalar, StrOp, Test};
use std::fmt;

/// The operators, as `search --help` and error messages list them.
pub const OPERATORS: &str = "=, !=, in, prefix, suffix, contains, glob, regex (~), cidr, \
                             >, >=, <, <=, exists, missing (string operators take :i)";

/// An expression that could not be read: the expression, where the problem is, and what it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ExprError {
    pub expr: String,
    /// Byte offset of the problem in `expr`.
    pub at: usize,
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let col = self.expr[..self.at.min(self.expr.len())].chars().count();
        write!(
            f,
            "bad --where expression: {}\n  {}\n  {}^",
            self.message,
            self.expr,
            " ".repeat(col)
        )
    }
}

/// Parses one expression into a condition.
pub fn parse(expr: &str) -> Result<Cond, ExprError> {
    let err = |at: usize, message: String| ExprError {
        expr: expr.to_string(),
        at,
        message,
    };
    let mut words = Words { text: expr, at: 0 };
    let Some((mut at, mut word)) = words.next() else {
        return Err(err(0, "empty expression; write PATH OP VALUE".into()));
    };
    let negate = word == "not";
    if negate {
        (at, word) = words
            .next()
            .ok_or_else(|| err(expr.len(), "a field path must follow 'not'".into()))?;
    }
    let path = FieldPath::parse(word).map_err(|e| err(at, format!("field path '{word}': {e}")))?;
    let (op_at, op) = words.next().ok_or_else(|| {
        err(
            expr.len(),
            format!("an operator must follow '{word}' (one of {OPERATORS})"),
        )
    })?;
    let (op, nocase) = match op.strip_suffix(":i") {
        Some(base) => (base, true),
        None => (op, false),
    };
    let rest = expr[words.at..].trim();
    let rest_at = expr.len() - expr[words.at..].trim_start().len();
    let values = |whole: bool| -> Result<Vec<String>, ExprError> {
        if rest.is_empty() {
            return Err(err(expr.len(), format!("'{op}' needs a value")));
        }
        values(rest, whole).map_err(|m| err(rest_at, m))
    };
    let no_value = |cond: Cond| -> Result<Cond, ExprError> {
        if rest.is_empty() {
            Ok(cond)
        } else {
            Err(err(rest_at, format!("'{op}' takes no value")))
        }
    };
    let cased = |v: Vec<String>| -> Vec<String> {
        if nocase {
            v.into_iter().map(|s| s.to_lowercase()).collect()
        } else {
            v
        }
    };
    let str_test = |op: StrOp, v: Vec<String>| Test::Str {
        op,
        needles: cased(v),
        nocase,
    };
    if nocase
        && !matches!(
            op,
            "=" | "==" | "!=" | "in" | "prefix" | "suffix" | "contains" | "glob" | "regex" | "~"
        )
    {
        return Err(err(op_at, format!("'{op}' does not take :i")));
    }
    let field = |test: Test| Cond::Field {
        path: path.clone(),
        test,
    };
    let cond = match op {
        "=" | "==" | "in" | "!=" if nocase => field(str_test(StrOp::Equals, values(false)?)),
        "=" | "==" | "in" | "!=" => field(Test::Equals(
            values(false)?.into_iter().map(Scalar::Str).collect(),
        )),
        "prefix" => field(str_test(StrOp::Prefix, values(false)?)),
        "suffix" => field(str_test(StrOp::Suffix, values(false)?)),
        "contains" => field(str_test(StrOp::Contains, values(false)?)),
        "glob" => field(Test::Glob(
            values(false)?
                .iter()
                .map(|g| cond::glob(g, nocase))
                .collect::<Result<_, _>>()
                .map_err(|m| err(rest_at, m))?,
        )),
        "regex" | "~" => {
            let re = regex::RegexBuilder::new(&values(true)?[0])
                .case_insensitive(nocase)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| {
                    let first = e.to_string();
                    let last = first.lines().last().unwrap_or_default().trim().to_string();
                    err(rest_at, format!("bad regex: {last}"))
                })?;
            field(Test::Regex(vec![re]))
        }
        "cidr" => field(Test::Cidr(
            values(false)?
                .iter()
                .map(|c| {
                    c.parse()
                        .map_err(|_| err(rest_at, format!("bad CIDR '{c}'")))
                })
                .collect::<Result<_, _>>()?,
        )),
        ">" | ">=" | "<" | "<=" => {
            let v = values(true)?;
            let n: f64 = v[0]
                .parse()
                .map_err(|_| err(rest_at, format!("'{op}' takes a number, not '{}'", v[0])))?;
            let cmp = match op {
                ">" => Cmp::Gt,
                ">=" => Cmp::Gte,
                "<" => Cmp::Lt,
                _ => Cmp::Lte,
            };
            field(Test::Num(cmp, n))
        }
        "exists" => no_value(field(Test::Exists(true)))?,
        "missing" => no_value(field(Test::Exists(false)))?,
        other => {
            return Err(err(
                op_at,
                format!("unknown operator '{other}' (one of {OPERATORS})"),
            ));
        }
    };
    Ok(if negate ^ (op == "!=") {
        Cond::Not(Box::new(cond))
    } else {
        cond
    })
}

/// Whitespace-separated words with their offsets.
struct Words<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Words<'a> {
    fn next(&mut self) -> Option<(usize, &'a str)> {
        let rest = &self.text[self.at..];
        let start = self.at + (rest.len() - rest.trim_start().len());
        if start >= self.text.len() {
            self.at = start;
            return None;
        }
        let tail = &self.text[start..];
        // A quoted path (`"x y".z`) stays one word up to its closing quote.
        let mut end = tail.len();
        let mut quoted = false;
        for (i, c) in tail.char_indices() {
            if c == '"' {
                quoted = !quoted;
            } else if c.is_whitespace() && !quoted {
                end = i;
                break;
            }
        }
        self.at = start + end;
        Some((start, &tail[..end]))
    }
}

/// Splits a value into alternatives at commas (unless `whole`); a value in quotes is taken as
/// written.
fn values(text: &str, whole: bool) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    loop {
        let (value, after) = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let close = rest[1..]
                    .find(q)
                    .ok_or_else(|| format!("unclosed {q} quote"))?
                    + 1;
                let after = rest[close + 1..].trim_start();
                if !(after.is_empty() || (!whole && after.starts_with(','))) {
                    return Err(format!("unexpected text after the quoted value: '{after}'"));
                }
                (rest[1..close].to_string(), after)
            }
            _ => {
                let end = if whole {
                    rest.len()
                } else {
                    rest.find(',').unwrap_or(rest.len())
                };
                let value = rest[..end].trim();
                if value.is_empty() {
                    return Err("empty value".into());
                }
                (value.to_string(), &rest[end..])
            }
        };
        out.push(value);
        match after.strip_prefix(',') {
            None => return Ok(out),
            Some(r) => rest = r.trim_start(),
        }
    }
}

/// Text with a `*` or `?` is a pattern; other text is compared as written.
fn is_pattern(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// `--actor`: the principal's ARN, its role (session issuer), user name, principal id or the
/// service that called, containing the text (without regard to case) or matching it as a glob.
pub fn actor(text: &str) -> Result<Cond, String> {
    let paths = [
        "userIdentity.arn",
        "userIdentity.sessionContext.sessionIssuer.arn",
        "userIdentity.userName",
        "userIdentity.principalId",
        "userIdentity.invokedBy",
    ];
    let test = if is_pattern(text) {
        Test::Glob(vec![cond::glob(text, true)?])
    } else {
        Test::Str {
            op: StrOp::Contains,
            needles: vec![text.to_lowercase()],
            nocase: true,
        }
    };
    Ok(Cond::any(
        paths
            .iter()
            .map(|p| Cond::Field {
                path: path(p),
                test: test.clone(),
            })
            .collect(),
    ))
}

/// `--access-key`: `userIdentity.accessKeyId` is one of the keys.
pub fn access_key(keys: &[String]) -> Cond {
    equals_any("userIdentity.accessKeyId", keys)
}

/// `--source-ip`: `sourceIPAddress` is one of the addresses or in one of the networks
/// (`10.0.0.0/8`); other text (`cloudtrail.amazonaws.com`) is compared as written.
pub fn source_ip(values: &[String]) -> Result<Cond, String> {
    let (nets, plain): (Vec<&String>, Vec<&String>) = values.iter().partition(|v| v.contains('/'));
    let mut any = Vec::new();
    if !plain.is_empty() {
        any.push(equals_any(
            "sourceIPAddress",
            &plain.into_iter().cloned().collect::<Vec<_>>(),
        ));
    }
    if !nets.is_empty() {
        let nets = nets
            .iter()
            .map(|c| c.parse().map_err(|_| format!("bad network '{c}'")))
            .collect::<Result<_, _>>()?;
        any.push(Cond::Field {
            path: path("sourceIPAddress"),
            test: Test::Cidr(nets),
        });
    }
    Ok(Cond::any(any))
}

/// `--event`: `eventName` is one of the names, or matches one of the globs (`Delete*`).
pub fn event(names: &[String]) -> Result<Cond, String> {
    names_or_globs("eventName", names)
}

/// `--error`: the call failed (`errorCode` present), or its code is one of the codes or matches
/// one of the globs (`*AccessDenied*`).
pub fn error(codes: &[String]) -> Result<Cond, String> {
    if codes.is_empty() || codes.iter().any(|c| c == "*") {
        return Ok(Cond::Field {
            path: path("errorCode"),
            test: Test::Exists(true),
        });
    }
    names_or_globs("errorCode", codes)
}

fn names_or_globs(field: &str, values: &[String]) -> Result<Cond, String> {
    let (globs, exact): (Vec<&String>, Vec<&String>) = values.iter().partition(|v| is_pattern(v));
    let mut any = Vec::new();
    if !exact.is_empty() {
        any.push(equals_any(
            field,
            &exact.into_iter().cloned().collect::<Vec<_>>(),
        ));
    }
    if !globs.is_empty() {
        any.push(Cond::Field {
            path: path(field),
            test: Test::Glob(
                globs
                    .iter()
                    .map(|g| cond::glob(g, false))
                    .collect::<Result<_, _>>()?,
            ),
        });
    }
    Ok(Cond::any(any))
}

fn equals_any(field: &str, values: &[String]) -> Cond {
    Cond::Field {
        path: path(field),
        test: Test::Equals(values.iter().cloned().map(Scalar::Str).collect()),
    }
}

/// A path written in this file.
fn path(p: &str) -> FieldPath {
    FieldPath::parse(p).unwrap_or_else(|e| unreachable!("built-in path {p}: {e}"))
}

#[cfg(test)]
mod tests;
