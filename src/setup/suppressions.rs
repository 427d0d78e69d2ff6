//! Suppressions from files (`suppressions: [...]`, or a bare list) and from the configuration.

use super::SetupError;
use crate::rules::Suppression;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Reads suppression files, in order. The first problem stops the load, naming the file and the
/// entry.
pub fn load_files(paths: &[PathBuf]) -> Result<Vec<Suppression>, SetupError> {
    let mut out = Vec::new();
    for path in paths {
        out.extend(load_file(path)?);
    }
    Ok(out)
}

fn load_file(path: &Path) -> Result<Vec<Suppression>, SetupError> {
    let text = std::fs::read_to_string(path).map_err(|error| SetupError::SuppressionFile {
        path: path.to_path_buf(),
        error,
    })?;
    let bad = |message: String| SetupError::Suppression {
        path: path.to_path_buf(),
        message,
    };
    let v: Value =
        crate::rules::yaml::from_yaml(&text).map_err(|e| bad(format!("not valid YAML: {e}")))?;
    let items = match &v {
        Value::Array(items) => items,
        Value::Object(o) => match o.get("suppressions") {
            Some(Value::Array(items)) => items,
            _ => return Err(bad("expected `suppressions:` with a list".into())),
        },
        _ => return Err(bad("expected `suppressions:` with a list".into())),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            Suppression::from_value(item).map_err(|m| bad(format!("suppressions[{i}]: {m}")))
        })
        .collect()
}

/// Parses the suppressions written in the configuration file (`[[suppress]]`).
pub fn from_config(values: &[Value]) -> Result<Vec<Suppression>, SetupError> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            Suppression::from_value(v).map_err(|message| SetupError::ConfigSuppression {
                number: i + 1,
                message,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_config_name_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yaml");
        std::fs::write(&good, "suppressions:\n  - reason: ci\n    role: [ci]\n").unwrap();
        let bare = dir.path().join("bare.yaml");
        std::fs::write(&bare, "- reason: lab\n  account: ['1']\n").unwrap();
        let loaded = load_files(&[good.clone(), bare]).unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[1].reason, "lab");
        let wrong = dir.path().join("wrong.yaml");
        std::fs::write(&wrong, "suppressions:\n  - reason: ok\n  - rules: [x]\n").unwrap();
        let e = load_files(&[good, wrong]).unwrap_err().to_string();
        assert!(e.contains("wrong.yaml: suppressions[1]:"), "{e}");
        let e = load_files(&[dir.path().join("none.yaml")]).unwrap_err();
        assert!(e.to_string().starts_with("cannot read "), "{e}");
        let v: Vec<Value> = vec![serde_json::json!({"reason": "a"}), serde_json::json!({})];
        let e = from_config(&v).unwrap_err().to_string();
        assert!(e.starts_with("config suppression 2: "), "{e}");
    }
}
