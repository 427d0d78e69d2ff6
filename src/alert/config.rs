//! Alert configuration: the sinks, the routes from findings to sinks, and delivery settings, as
//! written in the `[sinks.NAME]`, `[[routes]]` and `[alerts]` sections of the configuration file.
//!
//! Secrets (webhook URLs, tokens, passwords, signing keys) are written as `env:NAME` or
//! `file:/path` and resolved when the configuration is loaded; they are never logged, and
//! [`SinkConfig::redacted`] hides them for `config check`.

use super::email::{EmailConfig, Tls};
use super::route::{Route, Router};
use crate::catalog::Severity;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// `[alerts]`: delivery settings shared by every sink.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// After failing this long, a delivery goes to the dead letters (default 24h).
    pub max_age: Option<String>,
    /// Sinks for findings that no route matches.
    #[serde(default)]
    pub default: Vec<String>,
    /// First retry delay, doubled on each further failure up to 5 minutes (default 2s).
    pub retry_initial: Option<String>,
}

/// `[[routes]]` as written.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    pub min_severity: Option<Severity>,
    #[serde(default)]
    pub packs: Vec<String>,
    /// Rule id globs.
    #[serde(default)]
    pub rules: Vec<String>,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default)]
    pub regions: Vec<String>,
    pub sinks: Vec<String>,
    /// Stop at this route when it matches (default: later routes may add sinks).
    #[serde(default)]
    pub last: bool,
}

/// One sink, resolved.
#[derive(Debug, Clone)]
pub enum SinkConfig {
    /// Slack incoming webhook.
    Slack {
        url: String,
    },
    /// Slack app (bot token, chat.postMessage), with per-account channels and threads for repeats.
    SlackApp {
        token: String,
        channel: String,
        account_channels: BTreeMap<String, String>,
        api_url: String,
    },
    Webhook {
        url: String,
        headers: Vec<(String, String)>,
        secret: Option<String>,
        template: Option<String>,
        timeout: Duration,
    },
    Sns {
        topic_arn: String,
    },
    Email {
        config: EmailConfig,
        digest: Option<Duration>,
    },
    File {
        path: std::path::PathBuf,
    },
}

/// A sink with its name and rate limit.
#[derive(Debug, Clone)]
pub struct Sink {
    pub name: String,
    pub config: SinkConfig,
    /// At most this many messages per period; the rest of the period's findings go out as one
    /// summary message.
    pub rate: Option<(u32, Duration)>,
}

/// Everything about alerts, resolved and checked.
#[derive(Debug, Clone, Default)]
pub struct Alerts {
    pub sinks: Vec<Sink>,
    pub router: Router,
    pub max_age: Duration,
    pub retry_initial: Duration,
}

/// Resolves `env:NAME`, `file:/path` or a literal.
pub fn secret(value: &str, what: &str) -> Result<String, String> {
    if let Some(var) = value.strip_prefix("env:") {
        return std::env::var(var)
            .map_err(|_| format!("{what}: environment variable {var} is not set"));
    }
    if let Some(path) = value.strip_prefix("file:") {
        return std::fs::read_to_string(path)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| format!("{what}: cannot read {path}: {e}"));
    }
    Ok(value.to_string())
}

fn duration(v: Option<&toml::Value>, what: &str, default: Duration) -> Result<Duration, String> {
    match v {
        None => Ok(default),
        Some(toml::Value::String(s)) => {
            crate::units::duration(s).map_err(|e| format!("{what}: {e}"))
        }
        Some(_) => Err(format!("{what}: expected a duration string")),
    }
}

/// `"20/m"`, `"100/h"`, `"5/s"`.
fn rate(s: &str) -> Result<(u32, Duration), String> {
    let (n, per) = s
        .split_once('/')
        .ok_or_else(|| format!("rate '{s}': expected N/s, N/m or N/h"))?;
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("rate '{s}': bad count"))?;
    let per = match per.trim() {
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        other => return Err(format!("rate '{s}': unknown period '{other}'")),
    };
    if n == 0 {
        return Err(format!("rate '{s}': must allow at least 1"));
    }
    Ok((n, per))
}

/// Builds one sink from its `[sinks.NAME]` table.
pub fn sink(name: &str, table: &toml::Table) -> Result<Sink, String> {
    let at = |k: &str| format!("sinks.{name}.{k}");
    let text = |k: &str| -> Result<Option<String>, String> {
        match table.get(k) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{}: expected a string", at(k))),
        }
    };
    let need = |k: &str| -> Result<String, String> {
        text(k)?.ok_or_else(|| format!("{}: required", at(k)))
    };
    let kind = need("type")?;
    let allowed: &[&str] = match kind.as_str() {
        "slack" => &["type", "url", "rate"],
        "slack_app" => &[
            "type",
            "token",
            "channel",
            "account_channels",
            "api_url",
            "rate",
        ],
        "webhook" => &[
            "type", "url", "headers", "secret", "template", "timeout", "rate",
        ],
        "sns" => &["type", "topic_arn", "rate"],
        "email" => &[
            "type", "host", "port", "tls", "username", "password", "from", "to", "digest",
            "timeout", "rate",
        ],
        "file" => &["type", "path", "rate"],
        other => {
            return Err(format!(
                "{}: unknown sink type '{other}' (slack, slack_app, webhook, sns, email, file)",
                at("type")
            ));
        }
    };
    if let Some(k) = table.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("{}: unknown key for a {kind} sink", at(k)));
    }
    let config = match kind.as_str() {
        "slack" => SinkConfig::Slack {
            url: secret(&need("url")?, &at("url"))?,
        },
        "slack_app" => {
            let mut account_channels = BTreeMap::new();
            if let Some(v) = table.get("account_channels") {
                let t = v
                    .as_table()
                    .ok_or_else(|| format!("{}: expected a table", at("account_channels")))?;
                for (acct, ch) in t {
                    let ch = ch.as_str().ok_or_else(|| {
                        format!("{}.{acct}: expected a channel", at("account_channels"))
                    })?;
                    account_channels.insert(acct.clone(), ch.to_string());
                }
            }
            SinkConfig::SlackApp {
                token: secret(&need("token")?, &at("token"))?,
                channel: need("channel")?,
                account_channels,
                api_url: text("api_url")?.unwrap_or_else(|| "https://slack.com/api".into()),
            }
        }
        "webhook" => {
            let mut headers = Vec::new();
            if let Some(v) = table.get("headers") {
                let t = v
                    .as_table()
                    .ok_or_else(|| format!("{}: expected a table", at("headers")))?;
                for (h, val) in t {
                    let val = val
                        .as_str()
                        .ok_or_else(|| format!("{}.{h}: expected a string", at("headers")))?;
                    headers.push((h.clone(), secret(val, &at("headers"))?));
                }
            }
            let template = text("template")?;
            if let Some(t) = &template {
                super::render::check_template(t).map_err(|e| format!("{}: {e}", at("template")))?;
            }
            SinkConfig::Webhook {
                url: secret(&need("url")?, &at("url"))?,
                headers,
                secret: text("secret")?
                    .map(|s| secret(&s, &at("secret")))
                    .transpose()?,
                template,
                timeout: duration(
                    table.get("timeout"),
                    &at("timeout"),
                    Duration::from_secs(10),
                )?,
            }
        }
        "sns" => SinkConfig::Sns {
            topic_arn: need("topic_arn")?,
        },
        "email" => {
            let to = match table.get("to") {
                Some(toml::Value::Array(a)) => a
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| format!("{}: expected a list of addresses", at("to")))?,
                Some(toml::Value::String(s)) => vec![s.clone()],
                _ => return Err(format!("{}: required (a list of addresses)", at("to"))),
            };
            let tls = match text("tls")?.as_deref() {
                None | Some("starttls") => Tls::StartTls,
                Some("tls") => Tls::Tls,
                Some("none") => Tls::None,
                Some(o) => return Err(format!("{}: '{o}' (starttls, tls, none)", at("tls"))),
            };
            let port = match table.get("port") {
                None => match tls {
                    Tls::Tls => 465,
                    Tls::StartTls => 587,
                    Tls::None => 25,
                },
                Some(toml::Value::Integer(p)) => {
                    u16::try_from(*p).map_err(|_| format!("{}: not a port", at("port")))?
                }
                Some(_) => return Err(format!("{}: expected a number", at("port"))),
            };
            let config = EmailConfig {
                host: need("host")?,
                port,
                tls,
                username: text("username")?,
                password: text("password")?
                    .map(|s| secret(&s, &at("password")))
                    .transpose()?,
                from: need("from")?,
                to,
                timeout: duration(
                    table.get("timeout"),
                    &at("timeout"),
                    Duration::from_secs(30),
                )?,
            };
            super::email::Email::new(&config).map_err(|e| format!("sinks.{name}: {e}"))?;
            let digest = table
                .get("digest")
                .map(|v| duration(Some(v), &at("digest"), Duration::ZERO))
                .transpose()?;
            SinkConfig::Email { config, digest }
        }
        _ => SinkConfig::File {
            path: need("path")?.into(),
        },
    };
    let rate = text("rate")?.map(|r| rate(&r)).transpose()?;
    Ok(Sink {
        name: name.to_string(),
        config,
        rate,
    })
}

/// Builds and checks everything: every route names known sinks.
pub fn build(
    sinks: &BTreeMap<String, toml::Table>,
    routes: &[RouteSection],
    alerts: &AlertsSection,
) -> Result<Alerts, String> {
    let sinks: Vec<Sink> = sinks
        .iter()
        .map(|(name, t)| sink(name, t))
        .collect::<Result<_, _>>()?;
    let known = |n: &String| sinks.iter().any(|s| &s.name == n);
    let mut built = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        if let Some(n) = r.sinks.iter().find(|n| !known(n)) {
            return Err(format!("routes[{}]: unknown sink '{n}'", i + 1));
        }
        built.push(Route::new(r).map_err(|e| format!("routes[{}]: {e}", i + 1))?);
    }
    if let Some(n) = alerts.default.iter().find(|n| !known(n)) {
        return Err(format!("alerts.default: unknown sink '{n}'"));
    }
    Ok(Alerts {
        router: Router::new(built, alerts.default.clone()),
        max_age: duration(
            alerts
                .max_age
                .as_ref()
                .map(|s| toml::Value::String(s.clone()))
                .as_ref(),
            "alerts.max_age",
            Duration::from_secs(86_400),
        )?,
        retry_initial: duration(
            alerts
                .retry_initial
                .as_ref()
                .map(|s| toml::Value::String(s.clone()))
                .as_ref(),
            "alerts.retry_initial",
            Duration::from_secs(2),
        )?,
        sinks,
    })
}

impl SinkConfig {
    /// The sink as shown by `config check`: kinds and targets, secrets replaced by `***`.
    pub fn redacted(&self) -> serde_json::Value {
        let hide_path = |url: &str| match url.split_once("://") {
            Some((scheme, rest)) => {
                let host = rest.split('/').next().unwrap_or("");
                let host = host.rsplit('@').next().unwrap_or(host);
                format!("{scheme}://{host}/***")
            }
            None => "***".into(),
        };
        match self {
            SinkConfig::Slack { url } => {
                serde_json::json!({"type": "slack", "url": hide_path(url)})
            }
            SinkConfig::SlackApp {
                channel,
                account_channels,
                api_url,
                ..
            } => serde_json::json!({
                "type": "slack_app", "token": "***", "channel": channel,
                "account_channels": account_channels, "api_url": api_url}),
            SinkConfig::Webhook {
                url,
                headers,
                secret,
                template,
                timeout,
            } => serde_json::json!({
                "type": "webhook", "url": crate::config::redact_url(url),
                "headers": headers.iter().map(|(h, _)| (h.clone(), "***")).collect::<BTreeMap<_, _>>(),
                "secret": secret.as_ref().map(|_| "***"), "template": template.is_some(),
                "timeout_secs": timeout.as_secs()}),
            SinkConfig::Sns { topic_arn } => {
                serde_json::json!({"type": "sns", "topic_arn": topic_arn})
            }
            SinkConfig::Email { config, digest } => serde_json::json!({
                "type": "email", "host": config.host, "port": config.port,
                "tls": format!("{:?}", config.tls).to_lowercase(), "username": config.username,
                "password": config.password.as_ref().map(|_| "***"), "from": config.from,
                "to": config.to, "digest_secs": digest.map(|d| d.as_secs())}),
            SinkConfig::File { path } => serde_json::json!({"type": "file", "path": path}),
        }
    }
}
