//! Alert configuration: the sinks, the routes from findings to sinks, and delivery settings, as
//! written in the `[sinks.NAME]`, `[[routes]]` and `[alerts]` sections of the configuration file.
//!
//! Each `[sinks.NAME]` is tagged by its `type` key (see [`SinkConfig`]); its other keys belong
//! to that kind of sink, except `rate`, which every sink has. Secrets are resolved while the
//! section is read (see [`super::secret`]). The configuration file's reader (`crate::config`)
//! puts errors at their key, with line and column: [`untag_sinks`] prepares the sink tables for
//! that, and [`build`] names the key of every check it makes.

use super::route::{Route, RouteSection, Router};
use super::sink::SinkConfig;
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// `[alerts]`: delivery settings shared by every sink.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// After failing this long, a delivery goes to the dead letters (default 24h).
    #[serde(default, deserialize_with = "crate::units::de::opt_duration")]
    pub max_age: Option<Duration>,
    /// Sinks for findings that no route matches.
    #[serde(default)]
    pub default: Vec<String>,
    /// First retry delay, doubled on each further failure up to 5 minutes (default 2s).
    #[serde(default, deserialize_with = "crate::units::de::opt_duration")]
    pub retry_initial: Option<Duration>,
}

/// One `[sinks.NAME]` table, once [`untag_sinks`] has moved the kind's keys under `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSection {
    /// `"20/m"`: at most 20 messages a minute; the rest of the period's findings go out as one
    /// summary message.
    #[serde(default, deserialize_with = "rate")]
    pub rate: Option<(u32, Duration)>,
    pub kind: SinkConfig,
}

/// A sink with its name and rate limit.
#[derive(Debug, Clone)]
pub struct SinkEntry {
    pub name: String,
    pub config: SinkConfig,
    /// At most this many messages per period; the rest of the period's findings go out as one
    /// summary message.
    pub rate: Option<(u32, Duration)>,
}

/// Everything about alerts, resolved and checked.
#[derive(Debug, Clone, Default)]
pub struct Alerts {
    pub sinks: Vec<SinkEntry>,
    pub router: Router,
    pub max_age: Duration,
    pub retry_initial: Duration,
}

/// A check that failed, at a key such as `routes[2].sinks` or `sinks.hook`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct Invalid {
    pub key: String,
    pub message: String,
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// `"20/m"`, `"100/h"`, `"5/s"`.
pub fn parse_rate(s: &str) -> Result<(u32, Duration), String> {
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

fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<(u32, Duration)>, D::Error> {
    let text = String::deserialize(d)?;
    parse_rate(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Rewrites each `[sinks.NAME]` table of a parsed document from `{type = "K", rate, ...}` to
/// `{rate, kind = {K = {...}}}`, keeping every key's position, so the kind's keys are read
/// straight from the document and an error points at its key (a tagged enum read through serde's
/// buffering would only point at the table). A table without `type` is an error.
pub fn untag_sinks(doc: &mut DeTable<'_>) -> Result<(), Invalid> {
    let Some(sinks) = doc.get_mut("sinks") else {
        return Ok(());
    };
    let DeValue::Table(sinks) = sinks.get_mut() else {
        return Ok(());
    };
    for (name, sink) in sinks.iter_mut() {
        let span = sink.span();
        let DeValue::Table(table) = sink.get_mut() else {
            continue;
        };
        let Some((type_key, kind)) = table.remove_entry("type") else {
            return Err(invalid(
                format!("sinks.{}", name.get_ref()),
                "missing key `type` (the kind of sink, see docs/alerts.md)",
            ));
        };
        let DeValue::String(kind_name) = kind.get_ref().clone() else {
            return Err(invalid(
                format!("sinks.{}.type", name.get_ref()),
                "expected a string (the kind of sink, see docs/alerts.md)",
            ));
        };
        let rate = table.remove_entry("rate");
        let body = std::mem::take(table);
        let mut variant = DeTable::new();
        variant.insert(
            Spanned::new(kind.span(), kind_name),
            Spanned::new(span.clone(), DeValue::Table(body)),
        );
        table.insert(
            Spanned::new(type_key.span(), Cow::Borrowed("kind")),
            Spanned::new(span.clone(), DeValue::Table(variant)),
        );
        if let Some((k, v)) = rate {
            table.insert(k, v);
        }
    }
    Ok(())
}

/// Builds and checks everything: each sink's own checks, and that every route names known
/// sinks.
pub fn build(
    sinks: &BTreeMap<String, SinkSection>,
    routes: &[RouteSection],
    alerts: &AlertsSection,
) -> Result<Alerts, Invalid> {
    let mut entries = Vec::new();
    for (name, s) in sinks {
        s.kind
            .kind()
            .check()
            .map_err(|e| invalid(format!("sinks.{name}"), e))?;
        entries.push(SinkEntry {
            name: name.clone(),
            config: s.kind.clone(),
            rate: s.rate,
        });
    }
    let known = |n: &String| sinks.contains_key(n);
    let mut built = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        let at = format!("routes[{}]", i + 1);
        if let Some(n) = r.sinks.iter().find(|n| !known(n)) {
            return Err(invalid(
                format!("{at}.sinks"),
                format!("unknown sink '{n}'"),
            ));
        }
        built.push(Route::new(r).map_err(|e| invalid(at, e))?);
    }
    if let Some(n) = alerts.default.iter().find(|n| !known(n)) {
        return Err(invalid("alerts.default", format!("unknown sink '{n}'")));
    }
    Ok(Alerts {
        sinks: entries,
        router: Router::new(built, alerts.default.clone()),
        max_age: alerts.max_age.unwrap_or(Duration::from_secs(86_400)),
        retry_initial: alerts.retry_initial.unwrap_or(Duration::from_secs(2)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("20/m"), Ok((20, Duration::from_secs(60))));
        assert_eq!(parse_rate("5 / s"), Ok((5, Duration::from_secs(1))));
        assert!(parse_rate("0/h").unwrap_err().contains("at least 1"));
        assert!(parse_rate("3/d").unwrap_err().contains("unknown period"));
        assert!(parse_rate("x").is_err());
    }
}
