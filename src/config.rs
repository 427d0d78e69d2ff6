//! The configuration file (`trailwatch.toml`) for `watch`: sources, AWS access, rules and
//! suppressions, state, output, and alerts (whose sections are [`crate::alert::config`]'s).
//!
//! Every setting can also be given as a flag or a `TRAILWATCH_*` environment variable. Precedence,
//! highest first: command-line flag, environment variable, configuration file, built-in default.
//! Unknown keys are errors (a typo must not silently turn a setting off), and every error names
//! the file, line, column and key: `trailwatch.toml:12:11: sinks.hook.timeout: ...`.

use crate::alert::config::{Alerts, AlertsSection, SinkSection};
use crate::alert::route::RouteSection;
use crate::watch::OnMissing;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::de::{DeTable, DeValue};

pub use crate::alert::secret::redact_url;

/// A configuration file as written.
#[derive(Debug, Clone, Default, Deserialize)]
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
    #[serde(default)]
    pub integrity: Integrity,
    /// `[sinks.NAME]`: where alerts go (see docs/alerts.md).
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkSection>,
    /// `[[routes]]`: which findings go to which sinks.
    #[serde(default)]
    pub routes: Vec<RouteSection>,
    #[serde(default)]
    pub alerts: AlertsSection,
    /// The sinks, routes and settings, checked when the file was read.
    #[serde(skip)]
    built: Alerts,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    #[serde(default)]
    pub sqs: Vec<String>,
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
    #[serde(default)]
    pub s3: Vec<String>,
    /// How often `s3` prefixes are listed (e.g. "60s").
    #[serde(default, deserialize_with = "crate::units::de::opt_duration")]
    pub interval: Option<Duration>,
    /// How far back S3 polling looks (e.g. "2d").
    #[serde(default, deserialize_with = "crate::units::de::opt_duration")]
    pub lookback: Option<Duration>,
    /// How often `dirs` are walked in full besides their file notifications (e.g. "60s").
    #[serde(default, deserialize_with = "crate::units::de::opt_duration")]
    pub rescan: Option<Duration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Aws {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub path: Option<PathBuf>,
    /// How long processed inputs and delivered findings are kept (e.g. "30d").
    #[serde(default, deserialize_with = "crate::units::de::opt_duration")]
    pub retention: Option<Duration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watch {
    /// Findings output: a file path, or "-" for standard output.
    pub output: Option<String>,
    /// What the output's lines are: "jsonl" (trailwatch findings) or "ocsf".
    pub format: Option<crate::watch::OutputFormat>,
    pub concurrency: Option<usize>,
    #[serde(default, deserialize_with = "crate::units::de::opt_duration")]
    pub visibility: Option<Duration>,
    #[serde(default, deserialize_with = "crate::units::de::opt_duration")]
    pub poison_backoff: Option<Duration>,
    /// "ack" or "retry".
    pub on_missing: Option<OnMissing>,
    #[serde(default, deserialize_with = "crate::units::de::opt_duration")]
    pub status_every: Option<Duration>,
    #[serde(default, deserialize_with = "crate::units::de::opt_size")]
    pub max_size: Option<u64>,
    /// Address of the /metrics, /healthz and /readyz endpoints (e.g. "127.0.0.1:9464").
    pub listen: Option<std::net::SocketAddr>,
}

/// `[integrity]`: what `watch` checks of the trail itself (see docs/watch.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integrity {
    /// Read digests as they arrive (default true).
    pub digests: Option<bool>,
    /// A digest is late this long after the hour it was due (e.g. "1h").
    #[serde(default, deserialize_with = "crate::units::de::opt_duration")]
    pub late_after: Option<Duration>,
    /// An account and region that usually sends log files is silent after this long without
    /// one: a duration, or "off".
    pub silent_after: Option<String>,
    /// How many distinct hours with log files make an account and region a usual sender.
    pub usual_hours: Option<usize>,
    /// `aws cloudtrail list-public-keys` output files (default: asked of CloudTrail).
    #[serde(default)]
    pub public_keys: Vec<PathBuf>,
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// At a key (empty for syntax errors outside any key), with its line and column (from 1).
    #[error("{path}:{line}:{column}: {}{message}", if key.is_empty() { String::new() } else { format!("{key}: ") })]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
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
        Config::parse(&text, &shown, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses and checks configuration text; `shown` names it in errors, `base` is the folder
    /// relative paths start from.
    pub fn parse(text: &str, shown: &str, base: &Path) -> Result<Config, ConfigError> {
        let at = |span: Option<Range<usize>>, key: String, message: &str| {
            let (line, column) = line_column(text, span.map_or(0, |s| s.start));
            ConfigError::Invalid {
                path: shown.to_string(),
                line,
                column,
                key,
                message: message.trim_end().replace('\n', " "),
            }
        };
        let mut doc = DeTable::parse(text).map_err(|e| at(e.span(), String::new(), e.message()))?;
        let original = doc.get_ref().clone();
        crate::alert::config::untag_sinks(doc.get_mut())
            .map_err(|e| at(span_of(&original, &e.key), e.key, &e.message))?;
        let mut c = Config::deserialize(toml::de::Deserializer::from(doc)).map_err(|e| {
            let key = e
                .span()
                .map(|s| key_at(&original, s.start))
                .unwrap_or_default();
            at(e.span(), key, e.message())
        })?;
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
        for s in c.sinks.values_mut() {
            s.kind.kind_mut().relative_to(base);
        }
        if let Some(o) = &mut c.watch.output
            && o != "-"
            && Path::new(o).is_relative()
        {
            *o = base.join(&*o).display().to_string();
        }
        for (i, v) in c.inline_suppressions().iter().enumerate() {
            if let Err(e) = crate::rules::Suppression::from_value(v) {
                let key = format!("rules.suppressions[{}]", i + 1);
                return Err(at(span_of(&original, &key), key, &e.to_string()));
            }
        }
        c.built = crate::alert::config::build(&c.sinks, &c.routes, &c.alerts)
            .map_err(|e| at(span_of(&original, &e.key), e.key, &e.message))?;
        Ok(c)
    }

    /// The alert sinks, routes and settings, resolved (secrets read from the environment or
    /// files) and checked when the file was read.
    pub fn alerts(&self) -> Alerts {
        self.built.clone()
    }

    /// The suppressions written in the config, as JSON values for [`crate::rules::Suppression`].
    pub fn inline_suppressions(&self) -> Vec<serde_json::Value> {
        self.rules
            .suppressions
            .iter()
            .filter_map(|v| serde_json::to_value(v).ok())
            .collect()
    }
}

/// Line and column (from 1, the column in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// One step of a key path: `sinks`, `hook`, or the N-th (from 1) table of `[[routes]]`.
fn step(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

/// The dotted key path (`sinks.hook.timeout`, `routes[2].sinks`) of the deepest key whose name
/// or value holds `offset`.
fn key_at(doc: &DeTable<'_>, offset: usize) -> String {
    fn walk(table: &DeTable<'_>, offset: usize, path: &str, best: &mut String) {
        for (k, v) in table.iter() {
            let mut here = path.to_string();
            step(&mut here, k.get_ref());
            if (k.span().contains(&offset) || v.span().contains(&offset)) && here.len() > best.len()
            {
                *best = here.clone();
            }
            value(v.get_ref(), offset, &here, best);
        }
    }
    fn value(v: &DeValue<'_>, offset: usize, path: &str, best: &mut String) {
        match v {
            DeValue::Table(t) => walk(t, offset, path, best),
            DeValue::Array(a) => {
                for (i, item) in a.iter().enumerate() {
                    let here = format!("{path}[{}]", i + 1);
                    if item.span().contains(&offset) && here.len() > best.len() {
                        *best = here.clone();
                    }
                    value(item.get_ref(), offset, &here, best);
                }
            }
            _ => {}
        }
    }
    let mut best = String::new();
    walk(doc, offset, "", &mut best);
    best
}

/// Where a key path (as [`key_at`] writes it) is in the document: its value, or the deepest
/// part of the path that exists.
fn span_of(doc: &DeTable<'_>, key: &str) -> Option<Range<usize>> {
    let mut table = doc;
    let mut found = None;
    for part in key.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, i)) => (n, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let Some(mut v) = table.get(name) else {
            break;
        };
        if let (Some(i), DeValue::Array(a)) = (index, v.get_ref()) {
            match a.get(i.saturating_sub(1)) {
                Some(item) => v = item,
                None => break,
            }
        }
        found = Some(v.span());
        match v.get_ref() {
            DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    found
}

/// Checks that `url` looks like an SQS queue URL: `http(s)://HOST/ACCOUNT/QUEUE`, where the
/// queue name is 1 to 80 letters, digits, `-` or `_` (with `.fifo` for FIFO queues). The error
/// says what is wrong, without echoing credentials the URL may carry.
pub fn check_queue_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("scheme {}: expected https", parsed.scheme()));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    let parts: Vec<&str> = parsed
        .path_segments()
        .map(|p| p.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let [account, queue] = parts.as_slice() else {
        return Err("expected the path /ACCOUNT-ID/QUEUE-NAME".into());
    };
    if !account.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("account {account:?}: expected digits"));
    }
    let name = queue.strip_suffix(".fifo").unwrap_or(queue);
    let valid = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if name.is_empty() || queue.len() > 80 || !name.bytes().all(valid) {
        return Err(format!(
            "queue name {queue:?}: 1 to 80 letters, digits, '-' or '_' (and .fifo)"
        ));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_are_checked() {
        for good in [
            "https://sqs.eu-west-1.amazonaws.com/111122223333/ct-events",
            "https://sqs.us-east-1.amazonaws.com/111122223333/q.fifo",
            "http://127.0.0.1:5055/123456789012/q_1",
        ] {
            assert_eq!(check_queue_url(good), Ok(()), "{good}");
        }
        for bad in [
            "garbage",
            "sqs.eu-west-1.amazonaws.com/111122223333/q",
            "ftp://host/1/q",
            "https://sqs.eu-west-1.amazonaws.com/q",
            "https://sqs.eu-west-1.amazonaws.com/1/q/extra",
            "https://sqs.eu-west-1.amazonaws.com/1/q%20x",
        ] {
            assert!(check_queue_url(bad).is_err(), "{bad}");
        }
    }

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
        assert!(crate::rules::Suppression::from_value(&sup[0]).is_ok());
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

    /// The message for `text` as the configuration file `c.toml`.
    fn error(text: &str) -> String {
        Config::parse(text, "c.toml", Path::new("."))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn every_error_names_file_line_column_and_key() {
        let cases = [
            (
                "[watch]\nconcurrency = 4\nvisibility = \"soon\"\n",
                "c.toml:3:14: watch.visibility: 'soon' is not a duration",
            ),
            (
                "[watch]\non_missing = \"drop\"\n",
                "c.toml:2:14: watch.on_missing: unknown variant `drop`",
            ),
            (
                "[rules]\npacks = \"guide\"\n",
                "c.toml:2:9: rules.packs: invalid type",
            ),
            (
                "[state]\nretention = \"1000000w\"\n",
                "c.toml:2:13: state.retention: duration '1000000w' is too long",
            ),
            (
                "[sinks.hook]\ntype = \"webhook\"\nurl = \"http://x\"\ntimeout = 5\n",
                "c.toml:4:11: sinks.hook.timeout: invalid type: integer `5`, expected a string",
            ),
            (
                "[sinks.hook]\ntype = \"webhook\"\nurl = \"http://x\"\nurls = []\n",
                "c.toml:4:1: sinks.hook.urls: unknown field `urls`",
            ),
            (
                "[sinks.hook]\ntype = \"webhok\"\n",
                "c.toml:2:8: sinks.hook.type: unknown variant `webhok`",
            ),
            (
                "[sinks.hook]\nurl = \"http://x\"\n",
                "c.toml:1:1: sinks.hook: missing key `type`",
            ),
            (
                "[sinks.hook]\ntype = \"slack\"\n",
                "c.toml:1:1: sinks.hook: missing field `url`",
            ),
            (
                "[sinks.a]\ntype = \"slack\"\nurl = \"http://x\"\nrate = \"5/d\"\n",
                "c.toml:4:8: sinks.a.rate: rate '5/d': unknown period 'd'",
            ),
            (
                "[sinks.a]\ntype = \"webhook\"\nurl = \"env:TRAILWATCH_SURELY_UNSET_VAR\"\n",
                "c.toml:3:7: sinks.a.url: environment variable TRAILWATCH_SURELY_UNSET_VAR is not set",
            ),
            (
                "[sinks.a]\ntype = \"webhook\"\nurl = \"http://x\"\ntemplate = \"{{ x|nosuch }}\"\n",
                "c.toml:4:12: sinks.a.template: webhook template: unknown filter",
            ),
            (
                "[sinks.m]\ntype = \"email\"\nhost = \"h\"\nfrom = \"nobody\"\nto = [\"a@example.com\"]\n",
                "c.toml:1:1: sinks.m: email: bad from address",
            ),
            (
                "[sinks.a]\ntype = \"file\"\npath = \"a.jsonl\"\n[[routes]]\nsinks = [\"a\"]\n[[routes]]\nsinks = [\"b\"]\n",
                "c.toml:7:9: routes[2].sinks: unknown sink 'b'",
            ),
            (
                "[[routes]]\nsinks = [\"a\"]\nlasts = true\n",
                "c.toml:3:1: routes[1].lasts: unknown field `lasts`",
            ),
            (
                "[alerts]\ndefault = [\"nowhere\"]\n",
                "c.toml:2:11: alerts.default: unknown sink 'nowhere'",
            ),
            (
                "[alerts]\nmax_age = \"forever\"\n",
                "c.toml:2:11: alerts.max_age: 'forever' is not a duration",
            ),
            (
                "[rules]\nsuppressions = [{ reason = \"x\" }, { rules = [\"a\"] }]\n",
                "c.toml:2:35: rules.suppressions[2]: ",
            ),
            ("[sources\n", "c.toml:1:9: "),
        ];
        for (text, want) in cases {
            let e = error(text);
            assert!(e.starts_with(want), "{text:?}\n  got:  {e}\n  want: {want}");
        }
    }

    #[test]
    fn the_example_configuration_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/trailwatch.toml");
        let c = Config::load(&path).unwrap();
        assert_eq!(c.watch.on_missing, Some(OnMissing::Ack));
        assert_eq!(c.watch.max_size, Some(512 << 20));
        assert_eq!(c.sources.interval, Some(Duration::from_secs(60)));
    }

    #[test]
    fn sinks_read_by_type_with_relative_file_paths() {
        let c = Config::parse(
            "[sinks.archive]\ntype = \"file\"\npath = \"out/a.jsonl\"\nrate = \"20/m\"\n\
             [sinks.mail]\ntype = \"email\"\nhost = \"127.0.0.1\"\ntls = \"none\"\n\
             from = \"a@example.com\"\nto = \"b@example.com\"\ndigest = \"15m\"\n\
             [alerts]\ndefault = [\"archive\"]\nretry_initial = \"1s\"\n",
            "c.toml",
            Path::new("/etc/trailwatch"),
        )
        .unwrap();
        let alerts = c.alerts();
        assert_eq!(alerts.sinks.len(), 2);
        assert_eq!(alerts.retry_initial, Duration::from_secs(1));
        let archive = &alerts.sinks[0];
        assert_eq!(archive.rate, Some((20, Duration::from_secs(60))));
        assert_eq!(
            archive.config.kind().redacted(),
            serde_json::json!({"type": "file", "path": "/etc/trailwatch/out/a.jsonl"})
        );
        let mail = alerts.sinks[1].config.kind().redacted();
        assert_eq!(mail["port"], 25);
        assert_eq!(mail["to"], serde_json::json!(["b@example.com"]));
        assert_eq!(mail["digest_secs"], 900);
    }
}
