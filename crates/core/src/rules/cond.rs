//! Conditions: the `where` part of a rule, shared by the YAML and Sigma front ends.
//!
//! A condition is a tree of `all` / `any` / `not` over field tests. Children are ordered cheapest
//! first when built (plain comparisons before globs and CIDRs, regular expressions last), so most
//! records are decided before an expensive test runs. [`Cond::needles`] extracts literals that
//! must appear in a record's raw text for the condition to hold, which feeds the prefilter of
//! rules that constrain neither eventSource nor eventName.

use super::path::{FieldPath, scalar_text};
use globset::{GlobBuilder, GlobMatcher};
use ipnet::IpNet;
use regex::Regex;
use sonic_rs::{JsonValueTrait, Value};
use std::net::IpAddr;

/// A literal value a field is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

/// How a string test compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrOp {
    Equals,
    Prefix,
    Suffix,
    Contains,
}

/// Numeric comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A test applied to the values a field path reaches.
#[derive(Debug, Clone)]
pub enum Test {
    /// `equals` / `in` on scalars of any type (case-sensitive strings).
    Equals(Vec<Scalar>),
    /// String comparisons; with `nocase`, needles are stored lower-cased.
    Str {
        op: StrOp,
        needles: Vec<String>,
        nocase: bool,
    },
    Glob(Vec<(String, GlobMatcher)>),
    Regex(Vec<Regex>),
    Cidr(Vec<IpNet>),
    Exists(bool),
    Num(Cmp, f64),
    /// `equals_field` / Sigma `fieldref`: equals some value of another field (as text; with
    /// `nocase`, compared lower-cased).
    FieldRef {
        other: FieldPath,
        nocase: bool,
    },
}

/// A condition over one record.
#[derive(Debug, Clone)]
pub enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Field {
        path: FieldPath,
        test: Test,
    },
    /// `every: true`: the path reaches at least one value and every value it reaches passes
    /// (arrays count by their items). Not for `exists` or `equals_field`.
    Every {
        path: FieldPath,
        test: Test,
    },
}

impl Cond {
    /// `all` with its children ordered cheapest first.
    pub fn all(mut children: Vec<Cond>) -> Cond {
        children.sort_by_key(Cond::cost);
        Cond::All(children)
    }

    /// `any` with its children ordered cheapest first.
    pub fn any(mut children: Vec<Cond>) -> Cond {
        children.sort_by_key(Cond::cost);
        Cond::Any(children)
    }

    /// A rough cost estimate used for ordering.
    pub fn cost(&self) -> u32 {
        match self {
            Cond::All(c) | Cond::Any(c) => c.iter().map(Cond::cost).sum(),
            Cond::Not(c) => c.cost(),
            Cond::Field { test, .. } | Cond::Every { test, .. } => match test {
                Test::Exists(_) | Test::Equals(_) | Test::Num(..) => 1,
                Test::Str { nocase, .. } => 1 + u32::from(*nocase),
                Test::Cidr(_) | Test::FieldRef { .. } => 3,
                Test::Glob(_) => 4,
                Test::Regex(_) => 10,
            },
        }
    }

    /// Whether the record satisfies the condition.
    pub fn eval(&self, root: &Value) -> bool {
        match self {
            Cond::All(c) => c.iter().all(|c| c.eval(root)),
            Cond::Any(c) => c.iter().any(|c| c.eval(root)),
            Cond::Not(c) => !c.eval(root),
            Cond::Field {
                path,
                test: Test::Exists(want),
            } => path.any(root, &mut |v| !v.is_null()) == *want,
            Cond::Field {
                path,
                test: Test::FieldRef { other, nocase },
            } => {
                let text = |v: &Value| {
                    let t = scalar_text(v)?;
                    Some(if *nocase { t.to_lowercase() } else { t })
                };
                let mut mine = Vec::new();
                path.any(root, &mut |v| {
                    mine.extend(text(v));
                    false
                });
                other.any(root, &mut |v| text(v).is_some_and(|t| mine.contains(&t)))
            }
            Cond::Field { path, test } => path.any(root, &mut |v| test.check(v)),
            Cond::Every { path, test } => {
                let mut seen = false;
                // An array's items are visited, then the array itself: judge the items.
                let failed = path.any(root, &mut |v| {
                    if v.is_array() {
                        return false;
                    }
                    seen = true;
                    !test.check(v)
                });
                seen && !failed
            }
        }
    }

    /// Literals of which at least one appears in the raw JSON text of every record that satisfies
    /// the condition (see [`needle`]), or `None` when no such set is known. The second value
    /// says whether they must be searched without regard to ASCII case.
    pub fn needles(&self) -> Option<Needles> {
        match self {
            Cond::All(c) => c
                .iter()
                .filter_map(Cond::needles)
                .min_by_key(Needles::weakness),
            Cond::Any(c) => {
                let mut out = Needles::default();
                for n in c.iter().map(Cond::needles) {
                    let n = n?;
                    out.exact.extend(n.exact);
                    out.nocase.extend(n.nocase);
                }
                Some(out)
            }
            Cond::Not(_) => None,
            // Every value passes, and there is one: what holds for one value holds here.
            Cond::Field { path, test } | Cond::Every { path, test } => match test {
                Test::Equals(values) => {
                    let lits = values.iter().map(|v| match v {
                        Scalar::Str(s) => needle(s),
                        _ => None,
                    });
                    Needles::exact(lits.collect::<Option<Vec<_>>>()?)
                }
                Test::Str {
                    needles, nocase, ..
                } => {
                    if *nocase {
                        let lits = needles.iter().map(|s| needle_lowered(s));
                        Needles::nocase(lits.collect::<Option<Vec<_>>>()?)
                    } else {
                        let lits = needles.iter().map(|s| needle(s));
                        Needles::exact(lits.collect::<Option<Vec<_>>>()?)
                    }
                }
                Test::Glob(globs) => {
                    let lits = globs
                        .iter()
                        .map(|(g, _)| needle(g))
                        .collect::<Option<Vec<_>>>()?;
                    Needles::nocase(lits)
                }
                // Keys may be lower-cased by some exports, so search them without case.
                Test::Exists(true) => Needles::nocase(vec![needle(path.last_key()?)?]),
                _ => None,
            },
        }
    }
}

/// Literals for the prefilter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needles {
    pub exact: Vec<String>,
    pub nocase: Vec<String>,
}

impl Needles {
    fn exact(v: Vec<String>) -> Option<Needles> {
        (!v.is_empty()).then_some(Needles {
            exact: v,
            nocase: Vec::new(),
        })
    }
    fn nocase(v: Vec<String>) -> Option<Needles> {
        (!v.is_empty()).then_some(Needles {
            exact: Vec::new(),
            nocase: v,
        })
    }
    /// Prefer few, long literals.
    fn weakness(&self) -> (usize, usize) {
        let all = self.exact.iter().chain(&self.nocase);
        let shortest = all.clone().map(String::len).min().unwrap_or(0);
        (
            usize::MAX - shortest.min(32) * 1000 + self.exact.len() + self.nocase.len(),
            0,
        )
    }
}

/// The longest run of characters that survive JSON and URL encoding unchanged (letters, digits,
/// `_ . ~ -`), if at least 3 long: such a run of a string value appears verbatim in the record's
/// text, even inside a URL-encoded or JSON-in-string policy document.
pub fn needle(s: &str) -> Option<String> {
    longest(runs(s))
}

/// [`needle`] for a test that compares lower-cased text (`ignore_case` string tests): such a
/// record may spell a `k` as the Kelvin sign (U+212A lower-cases to `k`) and end an `i` as the
/// dotted capital I (U+0130 lower-cases to `i` and a combining dot), so neither letter need be in
/// its text. The literal is cut at every `k`, and a run loses a final `i`.
pub fn needle_lowered(s: &str) -> Option<String> {
    let pieces = runs(s).flat_map(|r| r.split(['k', 'K']));
    longest(pieces.map(|r| r.strip_suffix(['i', 'I']).unwrap_or(r)))
}

/// The runs of characters that survive JSON and URL encoding (see [`needle`]).
fn runs(s: &str) -> impl Iterator<Item = &str> {
    let keep = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '~' | '-');
    s.split(move |c: char| !keep(c))
}

/// The longest of `runs`, if at least 3 long.
fn longest<'a>(runs: impl Iterator<Item = &'a str>) -> Option<String> {
    runs.max_by_key(|r| r.len())
        .filter(|r| r.len() >= 3)
        .map(str::to_string)
}

impl Test {
    /// Whether one value passes.
    fn check(&self, v: &Value) -> bool {
        match self {
            Test::Equals(values) => values.iter().any(|s| scalar_eq(s, v)),
            Test::Str {
                op,
                needles,
                nocase,
            } => {
                let Some(text) = text_of(v) else { return false };
                let text = if *nocase { text.to_lowercase() } else { text };
                needles.iter().any(|n| match op {
                    StrOp::Equals => text == *n,
                    StrOp::Prefix => text.starts_with(n.as_str()),
                    StrOp::Suffix => text.ends_with(n.as_str()),
                    StrOp::Contains => text.contains(n.as_str()),
                })
            }
            Test::Glob(globs) => {
                text_of(v).is_some_and(|t| globs.iter().any(|(_, g)| g.is_match(&t)))
            }
            Test::Regex(res) => text_of(v).is_some_and(|t| res.iter().any(|r| r.is_match(&t))),
            Test::Cidr(nets) => v
                .as_str()
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
                .is_some_and(|ip| nets.iter().any(|n| n.contains(&ip))),
            Test::Num(cmp, n) => number_of(v).is_some_and(|x| match cmp {
                Cmp::Gt => x > *n,
                Cmp::Gte => x >= *n,
                Cmp::Lt => x < *n,
                Cmp::Lte => x <= *n,
            }),
            // Handled in `Cond::eval`, which needs the whole record.
            Test::Exists(_) | Test::FieldRef { .. } => false,
        }
    }
}

/// Builds a glob test; `*` and `?` are wildcards and nothing else is special.
pub fn glob(pattern: &str, nocase: bool) -> Result<(String, GlobMatcher), String> {
    let escaped: String = pattern
        .chars()
        .flat_map(|c| match c {
            // (`!` is special only first in a class, and no class is left open for it.)
            '[' | ']' | '{' | '}' | '\\' => vec!['[', c, ']'],
            c => vec![c],
        })
        .collect();
    let g = GlobBuilder::new(&escaped)
        .case_insensitive(nocase)
        .literal_separator(false)
        .backslash_escape(false)
        .build()
        .map_err(|e| format!("bad glob '{pattern}': {e}"))?;
    Ok((pattern.to_string(), g.compile_matcher()))
}

fn text_of(v: &Value) -> Option<String> {
    scalar_text(v)
}

fn number_of(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.trim().parse().ok())
}

fn scalar_eq(s: &Scalar, v: &Value) -> bool {
    match s {
        Scalar::Str(s) => match v.as_str() {
            Some(t) => t == s,
            None => scalar_text(v).is_some_and(|t| t == *s),
        },
        Scalar::Num(n) => number_of(v).is_some_and(|x| x == *n),
        Scalar::Bool(b) => {
            v.as_bool() == Some(*b)
                || v.as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(&b.to_string()))
        }
        Scalar::Null => v.is_null(),
    }
}

#[cfg(test)]
mod every_tests;
#[cfg(test)]
mod tests;
