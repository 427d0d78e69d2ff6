//! The configuration file (`trailwatch.toml`) for `watch`: sources, AWS access, rules and
//! suppressions, state, and output.
//!
//! Every setting can also be given as a flag or a `TRAILWATCH_*` environment variable. Precedence,
//! highest first: command-line flag, environment variable, configuration file, built-in default.
//! Unknown keys are errors (a typo must not silently turn a setting off).

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A configuration file as written.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub sources: Sources,
    #[serde(default)]
    pub aws: Aws,
    #[serde(default)]
    pub rules: Rules,
    #[serde(default)]
    pub state: State,
    #[serde(default)]
    pub watch: Watch,
    /// `[sinks.NAME]`: where alerts go (see docs/alerts.md).
    #[serde(default)]
    pub sinks: std::collections::BTreeMap<String, toml::Table>,
    /// `[[routes]]`: which findings go to which sinks.
    #[serde(default)]
    pub routes: Vec<crate::alert::config::RouteSection>,
    #[serde(default)]
    pub alerts: crate::alert::config::AlertsSection,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    #[serde(default)]
    pub sqs: Vec<String>,
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
    #[serde(default)]
    pub s3: Vec<String>,
    /// How often `s3` prefixes are listed (e.g. "60s").
    pub interval: Option<String>,
    /// How far back S3 polling looks (e.g. "2d").
    pub lookback: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Aws {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Packs to run (default: all built-in).
    #[serde(default)]
    pub packs: Vec<String>,
    /// YAML rule files or folders.
    #[serde(default)]
    pub files: Vec<PathBuf>,
    #[serde(default)]
    pub sigma: Vec<PathBuf>,
    /// Suppression files.
    #[serde(default)]
    pub suppress: Vec<PathBuf>,
    /// Suppressions written in the config itself (same keys as in a suppression file).
    #[serde(default)]
    pub suppressions: Vec<toml::Value>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub path: Option<PathBuf>,
    /// How long processed inputs and delivered findings are kept (e.g. "30d").
    pub retention: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Watch {
    /// Findings output: a file path, or "-" for standard output.
    pub output: Option<String>,
    pub concurrency: Option<usize>,
    pub visibility: Option<String>,
    pub poison_backoff: Option<String>,
    /// "ack" or "retry".
    pub on_missing: Option<String>,
    pub status_every: Option<String>,
    pub max_size: Option<String>,
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Config {
    /// Reads and parses a configuration file; relative paths in it are taken relative to the
    /// file's folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        let mut c: Config = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: shown,
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        c.sources.dirs.iter_mut().for_each(fix);
        c.rules.files.iter_mut().for_each(fix);
        c.rules.sigma.iter_mut().for_each(fix);
        c.rules.suppress.iter_mut().for_each(fix);
        if let Some(p) = &mut c.state.path {
            fix(p);
        }
        for table in c.sinks.values_mut() {
            if table.get("type").and_then(|t| t.as_str()) == Some("file")
                && let Some(toml::Value::String(p)) = table.get_mut("path")
                && Path::new(p.as_str()).is_relative()
            {
                *p = base.join(&*p).display().to_string();
            }
        }
        if let Some(o) = &mut c.watch.output
            && o != "-"
            && Path::new(o).is_relative()
        {
            *o = base.join(&*o).display().to_string();
        }
        Ok(c)
    }

    /// The alert sinks, routes and settings, resolved (secrets read from the environment or files).
    pub fn alerts(&self) -> Result<crate::alert::config::Alerts, String> {
        crate::alert::config::build(&self.sinks, &self.routes, &self.alerts)
    }

    /// The suppressions written in the config, as JSON values for [`crate::noise::Suppression`].
    pub fn inline_suppressions(&self) -> Vec<serde_json::Value> {
        self.rules
            .suppressions
            .iter()
            .filter_map(|v| serde_json::to_value(v).ok())
            .collect()
    }
}

/// The default state database: `$XDG_STATE_HOME/trailwatch/state.db`, else
/// `~/.local/state/trailwatch/state.db`, else `./trailwatch-state.db`.
pub fn default_state_path() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("trailwatch/state.db");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(h).join(".local/state/trailwatch/state.db");
    }
    PathBuf::from("trailwatch-state.db")
}

/// A URL with any user name and password replaced by `***`, for printing.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{path}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_resolves_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trailwatch.toml");
        std::fs::write(
            &path,
            r#"
[sources]
sqs = ["https://sqs.eu-west-1.amazonaws.com/111122223333/ct"]
dirs = ["incoming"]
[rules]
packs = ["guide", "baseline"]
files = ["rules/"]
suppressions = [{ reason = "CI role", principal = ["arn:aws:iam::*:role/ci"] }]
[state]
path = "state.db"
[watch]
output = "findings.jsonl"
"#,
        )
        .unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.sources.dirs, [dir.path().join("incoming")]);
        assert_eq!(c.state.path, Some(dir.path().join("state.db")));
        assert_eq!(
            c.watch.output.as_deref(),
            Some(dir.path().join("findings.jsonl").to_str().unwrap())
        );
        let sup = c.inline_suppressions();
        assert_eq!(sup[0]["reason"], "CI role");
        assert!(crate::noise::Suppression::from_value(&sup[0]).is_ok());
    }

    #[test]
    fn unknown_keys_and_bad_toml_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[sources]\nsqs_url = \"x\"\n").unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.contains("c.toml") && e.contains("sqs_url"), "{e}");
        std::fs::write(&path, "[sources\n").unwrap();
        assert!(Config::load(&path).is_err());
        assert!(Config::load(&dir.path().join("missing.toml")).is_err());
    }

    #[test]
    fn redacts_credentials_in_urls() {
        assert_eq!(
            redact_url("https://user:pw@hooks.example.com/x"),
            "https://***@hooks.example.com/x"
        );
        assert_eq!(redact_url("http://127.0.0.1:5055"), "http://127.0.0.1:5055");
    }
}
