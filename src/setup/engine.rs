//! [`build`]: the one engine builder, used by `scan` and `watch` alike, and the time bounds a
//! scan is narrowed to.

use super::SetupError;
use crate::catalog::{Catalog, SERVICES, Severity};
use crate::engine::Engine;
use crate::record::time;
use crate::rules::Rule;
use crate::rules::Suppression;
use jiff::Timestamp;
use jiff::civil::Date;

/// How an engine is built besides its rules.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Only rules that can raise findings of these services (`--service`); empty means all.
    pub services: Vec<String>,
    /// Only rules that can match these event names (`--event`, case-insensitive); empty: all.
    pub events: Vec<String>,
    /// Only rules of at least this severity.
    pub min_severity: Option<Severity>,
    /// Suppressions for every rule.
    pub suppressions: Vec<Suppression>,
    /// Report suppressed findings too, with `suppressed_by` set.
    pub show_suppressed: bool,
    /// Today (UTC), which decides the suppressions that have expired.
    pub today: Date,
}

impl EngineOptions {
    /// No narrowing and no suppressions, with today's date.
    pub fn new() -> EngineOptions {
        EngineOptions {
            services: Vec::new(),
            events: Vec::new(),
            min_severity: None,
            suppressions: Vec::new(),
            show_suppressed: false,
            today: today(),
        }
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions::new()
    }
}

/// Today's date in UTC.
pub fn today() -> Date {
    jiff::tz::TimeZone::UTC.to_datetime(Timestamp::now()).date()
}

/// The services a rule's findings can have: its own, and those of its event sources (the
/// eventSource, without `.amazonaws.com`, lower case).
fn services_of(r: &Rule) -> Vec<String> {
    let own = r.service.iter().map(|s| s.to_ascii_lowercase());
    let sources = r.sources.iter().map(|s| {
        let s = s.to_ascii_lowercase();
        s.strip_suffix(".amazonaws.com").unwrap_or(&s).to_string()
    });
    own.chain(sources).collect()
}

/// Builds the engine: rules narrowed by service, event and severity (where the rule itself
/// tells), the suppressions, and the catalog's explanations for rules without their own. A
/// service that neither the catalog (as a slug or an eventSource) nor any rule knows is an error.
///
/// `--service` selects events (see [`crate::engine::Filter`]), so a rule is kept when it can
/// match an event of the service: it names the service, one of its eventSources is the
/// service's or one the service's catalog entries are logged by, or it names no source.
pub fn build(
    catalog: &Catalog,
    rules: Vec<Rule>,
    opts: EngineOptions,
) -> Result<Engine, SetupError> {
    let wanted: Vec<String> = opts
        .services
        .iter()
        .map(|s| {
            let s = s.to_ascii_lowercase();
            s.strip_suffix(".amazonaws.com").unwrap_or(&s).to_string()
        })
        .collect();
    let source_of = |s: &str| {
        let s = s.to_ascii_lowercase();
        s.strip_suffix(".amazonaws.com").unwrap_or(&s).to_string()
    };
    // The eventSources (without the suffix) each wanted service covers.
    let mut sources: Vec<String> = wanted.clone();
    for e in catalog.entries() {
        if wanted.contains(&e.service.to_ascii_lowercase()) {
            sources.extend(e.event_sources.iter().map(|s| source_of(s)));
        }
    }
    for (s, given) in wanted.iter().zip(&opts.services) {
        let known_rule = rules.iter().any(|r| services_of(r).contains(s));
        let known_source = catalog
            .entries()
            .iter()
            .any(|e| e.event_sources.iter().any(|x| source_of(x) == *s));
        if !known_rule && !known_source && !SERVICES.iter().any(|(slug, _)| slug == s) {
            let known: Vec<&str> = SERVICES.iter().map(|(s, _)| *s).collect();
            return Err(SetupError::UnknownService {
                service: given.clone(),
                known: known.join(", "),
            });
        }
    }
    let rules = rules.into_iter().filter(|r| {
        let service_ok = wanted.is_empty()
            || r.sources.is_empty()
            || services_of(r).iter().any(|s| sources.contains(s));
        let event_ok = opts.events.is_empty()
            || r.names.is_empty()
            || r.names.iter().any(|m| {
                opts.events
                    .iter()
                    .any(|e| m.text().eq_ignore_ascii_case(e) || m.matches(e))
            });
        service_ok && event_ok && opts.min_severity.is_none_or(|min| r.severity >= min)
    });
    Ok(Engine::new(rules)
        .with_suppressions(opts.suppressions, opts.today, opts.show_suppressed)
        .with_explanations(catalog))
}

/// A `--since` / `--until` bound: RFC 3339, a date, or a duration back from `now`.
pub fn time_bound(text: Option<&str>, now: Timestamp) -> Result<Option<Timestamp>, SetupError> {
    Ok(text.map(|s| time::parse_bound(s, now)).transpose()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::from_entry;

    #[test]
    fn narrows_by_service_event_and_severity() {
        let catalog = Catalog::builtin().unwrap();
        let rules: Vec<Rule> = catalog.entries().iter().map(from_entry).collect();
        let all = build(&catalog, rules.clone(), EngineOptions::new()).unwrap();
        assert_eq!(all.len(), rules.len());
        let opts = EngineOptions {
            services: vec!["cloudtrail".into()],
            events: vec!["stoplogging".into()],
            ..EngineOptions::new()
        };
        let narrow = build(&catalog, rules.clone(), opts).unwrap();
        assert_eq!(narrow.len(), 1);
        assert_eq!(narrow.rules()[0].id, "guide.cloudtrail.StopLogging");
        let opts = EngineOptions {
            min_severity: Some(Severity::Critical),
            ..EngineOptions::new()
        };
        let severe = build(&catalog, rules.clone(), opts).unwrap();
        assert!(
            severe
                .rules()
                .iter()
                .all(|r| r.severity == Severity::Critical)
        );
        let opts = EngineOptions {
            services: vec!["nope".into()],
            ..EngineOptions::new()
        };
        let e = build(&catalog, rules, opts).unwrap_err().to_string();
        assert!(
            e.starts_with("unknown service 'nope' (catalog services: "),
            "{e}"
        );
        assert!(time_bound(Some("yesterday-ish"), Timestamp::now()).is_err());
        assert_eq!(time_bound(None, Timestamp::now()).unwrap(), None);
    }
}
