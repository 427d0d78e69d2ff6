//! Routing: which sinks a finding goes to, by severity, pack, rule id glob, service, account and
//! region. Routes are tried in order; every matching route adds its sinks (a route marked `last`
//! stops the search); findings no route matches go to the default sinks. Pure.

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
        self.min_severity.is_none_or(|m| f.severity >= m)
            && one_of(&self.packs, Some(&f.pack))
            && self.rules.as_ref().is_none_or(|g| g.is_match(&f.rule_id))
            && one_of(&self.services, Some(&f.service))
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
        if matched { out } else { self.default.clone() }
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
}
