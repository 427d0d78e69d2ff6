//! Finding filters: the `--since/--until/--account/--region` restrictions applied after a match.
//!
//! `--service`, `--event` and `--min-severity` also narrow the rules when the engine is built, so
//! that they narrow the prefilter too; the service and event checks here catch rules that span
//! several services or names.

use crate::finding::Finding;
use jiff::Timestamp;

/// Conditions a finding must meet to be reported. Empty lists mean "any".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Service slugs (`--service`); checked on findings, as rules outside the catalog may match
    /// several services.
    pub services: Vec<String>,
    /// Event names (`--event`), case-insensitive.
    pub events: Vec<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
}

impl Filter {
    pub fn accepts(&self, f: &Finding) -> bool {
        let in_list = |list: &[String], v: &Option<String>| {
            list.is_empty() || v.as_deref().is_some_and(|v| list.iter().any(|x| x == v))
        };
        // A finding whose time cannot be read is kept only when no time bound is set.
        let time_ok = match f.time {
            Some(t) => self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u),
            None => self.since.is_none() && self.until.is_none(),
        };
        let service_ok = self.services.is_empty() || self.services.contains(&f.service);
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
