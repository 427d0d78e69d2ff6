//! Alerts: delivering findings to people and systems (Slack, webhooks, SNS, Security Hub, email,
//! files), with routing, rate limits and guaranteed delivery through the state store's outbox.
//!
//! - [`config`]: the `[sinks.NAME]`, `[[routes]]` and `[alerts]` sections, checked and resolved.
//! - [`route`]: which sinks a finding goes to.
//! - [`sink`]: one file per kind of destination, behind the [`sink::Sink`] trait.
//! - [`http`]: the HTTP policy the HTTP sinks share (timeouts, `Retry-After`, what is retried).
//! - [`render`]: what the messages look like.
//! - [`deliver`]: the delivery loop of one sink over the [`Outbox`].
//! - [`secret`]: `env:`/`file:` secrets and redaction.
//!
//! A sink receives [`Delivery`]s and answers, for each, whether it was delivered, should be
//! retried (and when), or failed for good. Retrying, backoff and dead letters are decided by the
//! delivery loop, not by the sinks.

pub mod config;
pub mod deliver;
pub mod http;
pub mod render;
pub mod route;
pub mod secret;
pub mod sink;

pub use deliver::Outbox;
/// The SMTP client of the email sink.
pub use sink::email;

use crate::finding::Finding;
use std::time::Duration;

/// One finding to deliver to one sink.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub finding: Finding,
    /// Stable across retries and restarts: receivers that support it deduplicate on it.
    pub idempotency_key: String,
    /// How many findings this one stands for (1, or more when repeats were folded into it).
    pub count: u64,
}

/// Why a delivery did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Try again later (timeouts, refused connections, 5xx, 429); `after` when the receiver said
    /// when (Retry-After).
    #[error("{reason}")]
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Will never succeed as configured (4xx other than 408/429, bad address).
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    pub fn retry(reason: impl Into<String>) -> SendError {
        SendError::Retry {
            reason: reason.into(),
            after: None,
        }
    }
}

/// The idempotency key of a finding's deliveries: a digest of its identity (rule and event), the
/// same on every retry and restart, and safe in an HTTP header.
pub fn idempotency_key(identity: &str) -> String {
    crate::output::finding_uid(identity)
}
