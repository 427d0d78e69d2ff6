//! The event filters `search` and `timeline` share: `--where` expressions, the short forms
//! (`--actor`, `--access-key`, `--source-ip`, `--event`, `--error`) and the time range.

use super::UsageError;
use crate::rules::{Cond, expr};

#[derive(Debug, Clone, clap::Args)]
pub struct FilterArgs {
    /// A filter: `PATH OP VALUE`, e.g. 'userIdentity.arn glob *alice*', 'errorCode exists',
    /// 'not sourceIPAddress cidr 10.0.0.0/8'. Repeat: every one must hold. Operators: =, !=,
    /// in, prefix, suffix, contains, glob, regex (~), cidr, >, >=, <, <=, exists, missing
    /// (string operators take :i for any case). See docs/search.md.
    #[arg(long = "where", short = 'w', value_name = "EXPR")]
    pub(super) wheres: Vec<String>,
    /// The principal: text in its ARN, role, user name or principal id (any case), or a glob.
    #[arg(long, value_name = "TEXT")]
    pub(super) actor: Vec<String>,
    /// userIdentity.accessKeyId is one of these (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_name = "KEY")]
    pub(super) access_key: Vec<String>,
    /// sourceIPAddress is one of these addresses or in one of these networks (10.0.0.0/8).
    #[arg(long, value_delimiter = ',', value_name = "IP")]
    pub(super) source_ip: Vec<String>,
    /// eventName is one of these names or globs (Delete*).
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    pub(super) event: Vec<String>,
    /// Failed calls only; with a value (--error=AccessDenied, --error='*Denied*'), those codes.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "*",
          value_delimiter = ',', value_name = "CODE")]
    pub(super) error: Option<Vec<String>>,
    /// Only events at or after this time: RFC 3339, a date, or a duration back from now (24h, 7d).
    #[arg(long, value_name = "TIME")]
    pub(super) since: Option<String>,
    /// Only events before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub(super) until: Option<String>,
}

impl FilterArgs {
    /// The conditions the flags ask for.
    pub(super) fn conditions(&self) -> Result<Vec<Cond>, UsageError> {
        let bad = |flag: &str, e: String| UsageError(format!("{flag}: {e}"));
        let mut conds = Vec::new();
        for w in &self.wheres {
            conds.push(expr::parse(w).map_err(|e| UsageError(e.to_string()))?);
        }
        if !self.actor.is_empty() {
            let any = self
                .actor
                .iter()
                .map(|a| expr::actor(a).map_err(|e| bad("--actor", e)));
            conds.push(Cond::any(any.collect::<Result<_, _>>()?));
        }
        if !self.access_key.is_empty() {
            conds.push(expr::access_key(&self.access_key));
        }
        if !self.source_ip.is_empty() {
            conds.push(expr::source_ip(&self.source_ip).map_err(|e| bad("--source-ip", e))?);
        }
        if !self.event.is_empty() {
            conds.push(expr::event(&self.event).map_err(|e| bad("--event", e))?);
        }
        if let Some(codes) = &self.error {
            conds.push(expr::error(codes).map_err(|e| bad("--error", e))?);
        }
        Ok(conds)
    }
}
