//! [`RuleSet::load`]: the rules trailwatch would run, from built-in packs, YAML rule files and
//! folders, and Sigma files.
//!
//! The policy lives here and nowhere else:
//!
//! - Pack names: `all` (every built-in pack), `none`, a built-in pack (`guide`, `cis`,
//!   `baseline`), or the pack of a loaded rule file. When names are given, only rules of the
//!   named packs run; when none are, the caller's default packs and every user rule do.
//! - A path is a file, or a folder read recursively for `*.yaml` / `*.yml` (sorted, hidden
//!   entries skipped). A path that cannot be read stops the load; a file inside that cannot be
//!   read is a rule error, and the other files still load.
//! - A duplicate rule id is an error; the first definition wins.
//! - Sigma rules using what trailwatch does not support are skipped and reported as warnings
//!   ([`RuleError::is_unsupported`]), not errors.

use super::SetupError;
use crate::catalog::Catalog;
use crate::rules::{Origin, Rule, RuleError, packs, sigma, yaml};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where rules come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSources {
    /// Pack names (`all`, `none`, a built-in pack, or the pack of a user rule file); empty means
    /// the default packs and every user rule.
    pub packs: Vec<String>,
    /// YAML rule files or folders.
    pub files: Vec<PathBuf>,
    /// Sigma rule files or folders.
    pub sigma: Vec<PathBuf>,
}

/// The rules loaded, and the errors of those that could not be (each names file, line and rule).
#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub errors: Vec<RuleError>,
}

impl RuleSet {
    /// Loads every rule of `sources`, with the built-in packs `default` when no pack is named.
    /// Rule errors are collected in [`RuleSet::errors`]; only a path that cannot be read or an
    /// unknown pack name stops the load.
    pub fn load(
        catalog: &Catalog,
        sources: &RuleSources,
        default: &[&str],
    ) -> Result<RuleSet, SetupError> {
        let mut builtin: Vec<&str> = Vec::new();
        // Names that are not built in select packs of the user's files.
        let mut own: Vec<&str> = Vec::new();
        let named: Vec<&str> = sources.packs.iter().map(String::as_str).collect();
        for p in if named.is_empty() { default } else { &named } {
            match *p {
                "all" => builtin.extend_from_slice(packs::NAMES),
                "none" => {}
                p if packs::NAMES.contains(&p) => builtin.push(p),
                p => own.push(p),
            }
        }
        let (mut rules, mut errors) = packs::load(catalog, &builtin);
        for path in &sources.files {
            for file in rule_files(path)? {
                let (name, text) = read(&file, &mut errors);
                let loaded = yaml::parse(&name, &text, "user");
                rules.extend(loaded.rules);
                errors.extend(loaded.errors);
            }
        }
        for path in &sources.sigma {
            for file in rule_files(path)? {
                let (name, text) = read(&file, &mut errors);
                let loaded = sigma::parse(&name, &text);
                rules.extend(loaded.rules);
                errors.extend(loaded.errors);
            }
        }
        if !own.is_empty() {
            if let Some(p) = own.iter().find(|p| !rules.iter().any(|r| r.pack == **p)) {
                return Err(SetupError::UnknownPack {
                    pack: p.to_string(),
                    builtin: packs::NAMES.join(", "),
                });
            }
            rules.retain(|r| builtin.contains(&r.pack.as_str()) || own.contains(&r.pack.as_str()));
        }
        let mut seen: HashMap<String, Origin> = HashMap::new();
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
        Ok(RuleSet { rules, errors })
    }

    /// Whether any rule failed to load (unsupported Sigma rules, which are skipped, do not count).
    pub fn has_errors(&self) -> bool {
        self.errors.iter().any(|e| !e.is_unsupported())
    }
}

/// Reads a rule file; one that cannot be read is a rule error and loads as no rules.
fn read(file: &Path, errors: &mut Vec<RuleError>) -> (String, String) {
    let name = file.display().to_string();
    match std::fs::read_to_string(file) {
        Ok(text) => (name, text),
        Err(e) => {
            let origin = Origin {
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
fn rule_files(path: &Path) -> Result<Vec<PathBuf>, SetupError> {
    let meta = std::fs::metadata(path).map_err(|error| SetupError::RulesPath {
        path: path.to_path_buf(),
        error,
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|error| SetupError::RulesFolder {
            path: dir.clone(),
            error,
        })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(packs: &[&str], files: &[&Path]) -> RuleSources {
        RuleSources {
            packs: packs.iter().map(|p| p.to_string()).collect(),
            files: files.iter().map(|f| f.to_path_buf()).collect(),
            sigma: Vec::new(),
        }
    }

    #[test]
    fn packs_user_files_and_duplicates() {
        let catalog = Catalog::builtin().unwrap();
        let all = RuleSet::load(&catalog, &RuleSources::default(), packs::DEFAULT).unwrap();
        assert!(!all.has_errors(), "{:?}", all.errors);
        let guide = RuleSet::load(&catalog, &sources(&["guide"], &[]), packs::DEFAULT).unwrap();
        assert!(guide.rules.iter().all(|r| r.pack == "guide"));
        assert!(guide.rules.len() < all.rules.len());
        let none = RuleSet::load(&catalog, &sources(&["none"], &[]), packs::DEFAULT).unwrap();
        assert!(none.rules.is_empty());

        let dir = tempfile::tempdir().unwrap();
        let rule = "pack: mine\nrules:\n  - id: mine.one\n    title: t\n    severity: low\n    description: d\n    match: { names: [CreateUser] }\n";
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.yaml"), rule).unwrap();
        std::fs::write(dir.path().join("b.yml"), rule).unwrap();
        std::fs::write(dir.path().join(".hidden.yaml"), "not: [valid").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let mine = RuleSet::load(&catalog, &sources(&["mine"], &[dir.path()]), &[]).unwrap();
        assert_eq!(mine.rules.len(), 1, "{:?}", mine.errors);
        assert!(mine.rules[0].origin.file.ends_with("b.yml"));
        assert_eq!(mine.errors.len(), 1);
        assert!(
            mine.errors[0]
                .to_string()
                .contains("duplicate id (first defined at"),
            "{}",
            mine.errors[0]
        );
        assert!(mine.has_errors());

        let unknown = RuleSet::load(&catalog, &sources(&["nope"], &[]), &[]).unwrap_err();
        assert!(
            unknown.to_string().starts_with("unknown pack 'nope'"),
            "{unknown}"
        );
        let missing = dir.path().join("missing.yaml");
        let err = RuleSet::load(&catalog, &sources(&[], &[&missing]), &[]).unwrap_err();
        assert!(err.to_string().starts_with("cannot read rules at"), "{err}");
    }
}
