//! Routing: which sinks a finding goes to, by severity, pack, rule id glob, service, account and
//! region. Routes are tried in order; every matching route adds its sinks (a route marked `last`
//! stops the search); findings no route matches go to the default sinks. Pure.
//!
//! A finding is one event with all its rules: `packs` and `rules` match when *any* of the
//! event's rules is in one of the packs or matches one of the globs; `services` matches the
//! top rule's service or the event's eventSource (without `.amazonaws.com`). `info` findings
//! (automation churn) are quiet: only a route that asks for them (`min_severity = "info"`, or
//! `rules` globs naming one of their rules) sends them, never the default sinks.

use crate::catalog::Severity;
use crate::finding::Finding;
use globset::{Glob, GlobSet, GlobSetBuilder};

/// `[[routes]]` as written.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
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

/// One route, compiled.
#[derive(Debug, Clone)]
pub struct Route {
    min_severity: Option<Severity>,
    packs: Vec<String>,
    rules: Option<GlobSet>,
    services: Vec<String>,
    accounts: Vec<String>,
    regions: Vec<String>,
    pub sinks: Vec<String>,
    last: bool,
}

impl Route {
    pub fn new(r: &RouteSection) -> Result<Route, String> {
        let rules = if r.rules.is_empty() {
            None
        } else {
            let mut b = GlobSetBuilder::new();
            for g in &r.rules {
                b.add(Glob::new(g).map_err(|e| format!("rule glob '{g}': {e}"))?);
            }
            Some(b.build().map_err(|e| e.to_string())?)
        };
        if r.sinks.is_empty() {
            return Err("a route needs `sinks`".into());
        }
        Ok(Route {
            min_severity: r.min_severity,
            packs: r.packs.clone(),
            rules,
            services: r.services.clone(),
            accounts: r.accounts.clone(),
            regions: r.regions.clone(),
            sinks: r.sinks.clone(),
            last: r.last,
        })
    }

    pub fn matches(&self, f: &Finding) -> bool {
        let one_of = |list: &[String], v: Option<&str>| {
            list.is_empty() || v.is_some_and(|v| list.iter().any(|x| x == v))
        };
        let rule_ok =
            |g: &GlobSet| g.is_match(&f.rule_id) || f.rules.iter().any(|r| g.is_match(&r.id));
        let pack_ok = self.packs.is_empty()
            || self.packs.contains(&f.pack)
            || f.rules.iter().any(|r| self.packs.contains(&r.pack));
        let source = f.event_source.as_deref().unwrap_or_default();
        let source = source.strip_suffix(".amazonaws.com").unwrap_or(source);
        let service_ok = self.services.is_empty()
            || self.services.iter().any(|s| *s == f.service || s == source);
        // Info findings go only where a route asks for them.
        let asked = f.severity > Severity::Info
            || self.min_severity == Some(Severity::Info)
            || self.rules.is_some();
        asked
            && self.min_severity.is_none_or(|m| f.severity >= m)
            && pack_ok
            && self.rules.as_ref().is_none_or(rule_ok)
            && service_ok
            && one_of(&self.accounts, f.account_id.as_deref())
            && one_of(&self.regions, f.region.as_deref())
    }
}

/// The routes and the default sinks.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
    default: Vec<String>,
}

impl Router {
    pub fn new(routes: Vec<Route>, default: Vec<String>) -> Router {
        Router { routes, default }
    }

    /// The sinks for a finding, each once, in route order.
    pub fn sinks(&self, f: &Finding) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut matched = false;
        for r in &self.routes {
            if r.matches(f) {
                matched = true;
                for s in &r.sinks {
                    if !out.contains(s) {
                        out.push(s.clone());
                    }
                }
                if r.last {
                    break;
                }
            }
        }
        if matched || f.severity == Severity::Info {
            out
        } else {
            self.default.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(toml: &str) -> Route {
        Route::new(&toml::from_str::<RouteSection>(toml).unwrap()).unwrap()
    }

    fn finding(rule: &str, sev: Severity, account: &str) -> Finding {
        let mut f = Finding::blank(rule);
        f.severity = sev;
        f.account_id = Some(account.into());
        f.pack = rule.split('.').next().unwrap_or("").into();
        f
    }

    #[test]
    fn routes_add_sinks_in_order_and_default_catches_the_rest() {
        let router = Router::new(
            vec![
                route("min_severity = \"high\"\nsinks = [\"pager\", \"slack\"]"),
                route("rules = [\"guide.iam.*\"]\nsinks = [\"slack\", \"iam-team\"]"),
                route("accounts = [\"111122223333\"]\nsinks = [\"prod\"]\nlast = true"),
                route("packs = [\"cis\"]\nsinks = [\"never\"]"),
            ],
            vec!["archive".into()],
        );
        assert_eq!(
            router.sinks(&finding(
                "guide.iam.CreateUser",
                Severity::High,
                "444455556666"
            )),
            ["pager", "slack", "iam-team"]
        );
        assert_eq!(
            router.sinks(&finding("cis.cloudwatch-1", Severity::Low, "111122223333")),
            ["prod"]
        );
        assert_eq!(
            router.sinks(&finding(
                "guide.s3.PutBucketAcl",
                Severity::Medium,
                "444455556666"
            )),
            ["archive"]
        );
        assert!(Route::new(&RouteSection::default()).is_err());
    }

    #[test]
    fn any_rule_of_the_event_routes_it_and_info_is_quiet() {
        let router = Router::new(
            vec![
                route("packs = [\"cis\"]\nsinks = [\"audit\"]"),
                route("rules = [\"guide.config.*\"]\nsinks = [\"churn\"]"),
            ],
            vec!["archive".into()],
        );
        let mut f = finding("baseline.root-activity", Severity::High, "1");
        f.rules.push(crate::finding::RuleHit {
            id: "cis.cloudwatch-1".into(),
            pack: "cis".into(),
            title: "t".into(),
            severity: Severity::Medium,
            lowered: None,
        });
        assert_eq!(router.sinks(&f), ["audit"]);
        // Info: only the route that names its rule; never the default sinks.
        let churn = finding("guide.config.PutEvaluations", Severity::Info, "1");
        assert_eq!(router.sinks(&churn), ["churn"]);
        let quiet = finding("guide.ec2.CreateNetworkInterface", Severity::Info, "1");
        assert!(router.sinks(&quiet).is_empty());
        let all = Router::new(
            vec![route("min_severity = \"info\"\nsinks = [\"all\"]")],
            vec![],
        );
        assert_eq!(all.sinks(&quiet), ["all"]);
    }
}
