//! Finding filters: the `--since/--until/--account/--region` restrictions applied after a match.
//!
//! `--service`, `--event` and `--min-severity` also narrow the rules when the engine is built, so
//! that they narrow the prefilter too; the service and event checks here catch rules that span
//! several services or names.
//!
//! `--service` selects the service an *event* belongs to, whichever rules matched it: a name
//! selects a finding when it is its eventSource (`signin.amazonaws.com`), the eventSource without
//! `.amazonaws.com` (`signin`, `ec2`), the catalog slug of its (eventSource, eventName)
//! (`security-groups` for `ec2.amazonaws.com` `AuthorizeSecurityGroupIngress`, `iam` for
//! `signin.amazonaws.com` `ConsoleLogin`), or the service its top rule declares. Names compare
//! case-insensitively.

use crate::catalog::Catalog;
use crate::finding::Finding;
use jiff::Timestamp;
use std::collections::HashSet;

/// Conditions a finding must meet to be reported. Empty lists mean "any".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Services (`--service`), lower case: catalog slugs or eventSource prefixes; see the
    /// module doc. Set with [`Filter::with_services`].
    pub services: Vec<String>,
    /// (eventSource, eventName) of the catalog entries whose slug is one of `services`.
    pub service_events: HashSet<(String, String)>,
    /// Event names (`--event`), case-insensitive.
    pub events: Vec<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
}

impl Filter {
    /// Selects events of these services (catalog slugs or eventSource prefixes, any case).
    pub fn with_services(mut self, services: &[String], catalog: &Catalog) -> Filter {
        self.services = services.iter().map(|s| s.to_ascii_lowercase()).collect();
        self.service_events = catalog
            .entries()
            .iter()
            .filter(|e| self.services.contains(&e.service.to_ascii_lowercase()))
            .flat_map(|e| {
                e.event_sources
                    .iter()
                    .map(|s| (s.to_ascii_lowercase(), e.event_name.clone()))
            })
            .collect();
        self
    }

    /// Whether the event of a finding belongs to one of the `--service` services.
    fn service_ok(&self, f: &Finding) -> bool {
        if self.services.is_empty() {
            return true;
        }
        let source = f
            .event_source
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let prefix = source.strip_suffix(".amazonaws.com").unwrap_or(&source);
        let top = f.service.to_ascii_lowercase();
        let in_catalog = f.event_name.as_ref().is_some_and(|n| {
            self.service_events
                .contains(&(source.clone(), n.to_string()))
        });
        in_catalog
            || self
                .services
                .iter()
                .any(|s| *s == source || s == prefix || *s == top)
    }

    pub fn accepts(&self, f: &Finding) -> bool {
        let in_list = |list: &[String], v: &Option<String>| {
            list.is_empty() || v.as_deref().is_some_and(|v| list.iter().any(|x| x == v))
        };
        // A finding whose time cannot be read is kept only when no time bound is set.
        let time_ok = match f.time {
            Some(t) => self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u),
            None => self.since.is_none() && self.until.is_none(),
        };
        let service_ok = self.service_ok(f);
        let event_ok = self.events.is_empty()
            || f.event_name
                .as_deref()
                .is_some_and(|n| self.events.iter().any(|e| e.eq_ignore_ascii_case(n)));
        service_ok
            && event_ok
            && time_ok
            && in_list(&self.accounts, &f.account_id)
            && in_list(&self.regions, &f.region)
    }
}
