//! Loading rules for a command: built-in packs, rule files and folders, Sigma, suppressions.

use super::UsageError;
use crate::catalog::Catalog;
use crate::noise::Suppression;
use crate::rules::{Rule, RuleError, packs, sigma, yaml};
use anyhow::Result;
use std::path::{Path, PathBuf};

/// Where rules come from, shared by `scan` and `rules`.
#[derive(Debug, Clone, clap::Args)]
pub struct RuleArgs {
    /// Built-in packs to run: guide, cis, baseline, `all` or `none` (default: all).
    #[arg(
        long,
        visible_alias = "pack",
        value_delimiter = ',',
        value_name = "PACK"
    )]
    pub packs: Vec<String>,
    /// Your YAML rules: a file or a folder (read recursively, *.yaml / *.yml). Repeatable.
    #[arg(long = "rules", value_name = "PATH")]
    pub rule_paths: Vec<PathBuf>,
    /// Sigma rules for AWS CloudTrail: a file or a folder. Repeatable.
    #[arg(long, value_name = "PATH")]
    pub sigma: Vec<PathBuf>,
}

/// Rules loaded, and the errors of those that could not be (each names file, line and rule).
pub struct Loaded {
    pub rules: Vec<Rule>,
    pub errors: Vec<RuleError>,
}

impl RuleArgs {
    /// Loads every rule, with `default` packs when none are named; duplicate ids are errors (the
    /// later one is dropped).
    pub fn load(&self, catalog: &Catalog, default: &[&'static str]) -> Result<Loaded> {
        let mut packs: Vec<&str> = Vec::new();
        // Names that are not built-in select packs of the --rules / --sigma files.
        let mut own: Vec<&str> = Vec::new();
        let named: Vec<&str> = self.packs.iter().map(String::as_str).collect();
        for p in if named.is_empty() { default } else { &named } {
            match *p {
                "all" => packs.extend_from_slice(packs::NAMES),
                "none" => {}
                p if packs::NAMES.contains(&p) => packs.push(p),
                p => own.push(p),
            }
        }
        let (mut rules, mut errors) = packs::load(catalog, &packs);
        for path in &self.rule_paths {
            for file in rule_files(path)? {
                let (name, text) = read(&file, &mut errors);
                let l = yaml::parse(&name, &text, "user");
                rules.extend(l.rules);
                errors.extend(l.errors);
            }
        }
        for path in &self.sigma {
            for file in rule_files(path)? {
                let (name, text) = read(&file, &mut errors);
                let l = sigma::parse(&name, &text);
                rules.extend(l.rules);
                errors.extend(l.errors);
            }
        }
        if !own.is_empty() {
            let builtin = |r: &Rule| packs.contains(&r.pack.as_str());
            if let Some(p) = own.iter().find(|p| !rules.iter().any(|r| r.pack == **p)) {
                return Err(UsageError(format!(
                    "unknown pack '{p}' (built-in: {}, or all, none; or the pack of a --rules file)",
                    packs::NAMES.join(", ")
                ))
                .into());
            }
            rules.retain(|r| builtin(r) || own.contains(&r.pack.as_str()));
        }
        let mut seen = std::collections::HashMap::new();
        rules.retain(|r| match seen.get(&r.id) {
            Some(first) => {
                errors.push(RuleError::Rule {
                    origin: r.origin.clone(),
                    id: r.id.clone(),
                    message: format!("duplicate id (first defined at {first})"),
                });
                false
            }
            None => {
                seen.insert(r.id.clone(), r.origin.clone());
                true
            }
        });
        Ok(Loaded { rules, errors })
    }
}

fn read(file: &Path, errors: &mut Vec<RuleError>) -> (String, String) {
    let name = file.display().to_string();
    match std::fs::read_to_string(file) {
        Ok(text) => (name, text),
        Err(e) => {
            let origin = crate::rules::Origin {
                file: name.clone(),
                line: 0,
            };
            errors.push(RuleError::File {
                origin,
                message: e.to_string(),
            });
            (name, String::from("rules: []"))
        }
    }
}

/// A file, or the `.yaml`/`.yml` files under a folder (sorted, recursive, hidden ones skipped).
fn rule_files(path: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path)
        .map_err(|e| UsageError(format!("cannot read rules at {}: {e}", path.display())))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", dir.display())))?;
        for entry in entries.flatten() {
            let p = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads suppression files (`suppressions: [...]`, or a bare list).
/// Prints rule errors (unsupported Sigma rules as warnings); returns whether any is an error.
pub fn report(errors: &[RuleError]) -> bool {
    for e in errors {
        let kind = if e.is_unsupported() {
            "warning"
        } else {
            "error"
        };
        eprintln!("trailwatch: {kind}: {e}");
    }
    errors.iter().any(|e| !e.is_unsupported())
}

pub fn load_suppressions(paths: &[PathBuf]) -> Result<Vec<Suppression>> {
    let mut out = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
        let bad = |m: String| UsageError(format!("{}: {m}", path.display()));
        let v: serde_json::Value =
            serde_saphyr::from_str(&text).map_err(|e| bad(format!("not valid YAML: {e}")))?;
        let items = match &v {
            serde_json::Value::Array(items) => items,
            serde_json::Value::Object(o) => match o.get("suppressions") {
                Some(serde_json::Value::Array(items)) => items,
                _ => return Err(bad("expected `suppressions:` with a list".into()).into()),
            },
            _ => return Err(bad("expected `suppressions:` with a list".into()).into()),
        };
        for (i, item) in items.iter().enumerate() {
            out.push(
                Suppression::from_value(item)
                    .map_err(|m| bad(format!("suppressions[{i}]: {m}")))?,
            );
        }
    }
    Ok(out)
}
