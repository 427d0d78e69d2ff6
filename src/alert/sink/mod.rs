//! Alert sinks: where findings are delivered. Each kind of sink is one file here with its
//! configuration (`[sinks.NAME]` with `type = "<kind>"`, a struct with `deny_unknown_fields`
//! implementing [`Kind`]) and its sender (implementing [`Sink`]).
//!
//! Adding a sink: write `<kind>.rs` with a `Config` and a sender, and add one line to the
//! `sinks!` list below (which declares the module and the [`SinkConfig`] variant). Nothing else
//! names the kinds: delivery, routing, `alert test`, `scan --alert` and `config check` go through
//! the two traits.

use super::{Delivery, SendError};
use std::path::Path;
use std::time::Duration;

/// Declares the sink modules and [`SinkConfig`], one variant per kind (the kind's `type` is the
/// variant in snake case, which is also the module's name), with the dispatch to [`Kind`].
macro_rules! sinks {
    ($($module:ident => $variant:ident),+ $(,)?) => {
        $(pub mod $module;)+

        /// One `[sinks.NAME]` table, by its `type`.
        #[derive(Debug, Clone, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum SinkConfig {
            $($variant($module::Config),)+
        }

        impl SinkConfig {
            /// The kind behind the variant.
            pub fn kind(&self) -> &dyn Kind {
                match self {
                    $(SinkConfig::$variant(c) => c,)+
                }
            }

            /// The kind behind the variant, to adjust.
            pub fn kind_mut(&mut self) -> &mut dyn Kind {
                match self {
                    $(SinkConfig::$variant(c) => c,)+
                }
            }
        }
    };
}

sinks! {
    slack => Slack,
    slack_app => SlackApp,
    webhook => Webhook,
    sns => Sns,
    email => Email,
    file => File,
    securityhub => Securityhub,
    pagerduty => Pagerduty,
    discord => Discord,
    teams => Teams,
}

/// What building a sender may need from outside its configuration.
pub struct Env<'a> {
    /// The AWS configuration (region, credentials, endpoint), for AWS sinks.
    pub aws: &'a aws_config::SdkConfig,
}

/// The configuration side of a kind of sink.
pub trait Kind: std::fmt::Debug + Send + Sync {
    /// The sink as shown by `config check`: its `type` and targets, secrets replaced by `***`.
    fn redacted(&self) -> serde_json::Value;

    /// Checks what the keys cannot check one by one; an error names the problem.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }

    /// Whether the sink talks to AWS (and so needs the AWS configuration: credentials, region).
    fn uses_aws(&self) -> bool {
        false
    }

    /// Takes paths in the configuration relative to the configuration file's folder.
    fn relative_to(&mut self, _base: &Path) {}

    /// Whether repeats of a delivered finding are posted into its thread (see
    /// [`Sink::send_repeat`]); the store then keeps where each message went.
    fn threads(&self) -> bool {
        false
    }

    /// Builds the sender.
    fn build(&self, env: &Env<'_>) -> Result<Box<dyn Sink>, String>;
}

/// Where a threaded message went (Slack app), for posting its repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

/// What a successful send leaves for the delivery loop to record with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Delivered; nothing more to record.
    Done,
    /// Delivered as a message that repeats are threaded under.
    Posted(Posted),
    /// Delivered into an exactly-once file: its length after the write, recorded with the
    /// delivery in the same transaction (see [`crate::output::JsonlFile`]).
    Cursor(u64),
}

/// A sink ready to send. Every call answers delivered, retry (with the receiver's
/// `Retry-After` when it gave one) or permanent failure; the delivery loop decides what happens
/// next (backoff, dead letters, rate-limit summaries, digests).
#[async_trait::async_trait]
pub trait Sink: Send + Sync {
    /// Delivers one finding.
    async fn send(&self, d: &Delivery) -> Result<Sent, SendError>;

    /// Sends several findings as one message: the summary of what exceeded a rate limit (`why`
    /// says so), or an email digest.
    async fn send_summary(&self, items: &[Delivery], why: &str) -> Result<Sent, SendError>;

    /// Posts "N more like this" into the thread of an earlier message (when [`Kind::threads`]).
    async fn send_repeat(&self, _d: &Delivery, _thread: &Posted) -> Result<(), SendError> {
        Ok(())
    }

    /// Findings one request may carry: above 1, the delivery loop hands the sink up to this many
    /// at a time through [`Sink::send_batch`].
    fn batch(&self) -> usize {
        1
    }

    /// Delivers several findings in one request: one outcome per finding, in order.
    async fn send_batch(&self, items: &[Delivery]) -> Vec<Result<Sent, SendError>> {
        let mut out = Vec::with_capacity(items.len());
        for d in items {
            out.push(self.send(d).await);
        }
        out
    }

    /// Requests in flight at once: receivers that do not care about order may take several.
    fn parallelism(&self) -> usize {
        1
    }

    /// Digest mode: everything due goes out as one summary per period.
    fn digest(&self) -> Option<Duration> {
        None
    }

    /// Called by the delivery loop before the first send with the cursor recorded with the last
    /// delivery (see [`Sent::Cursor`]). Answers a cursor to record at once when there was none
    /// (a file's length before its first write, so that even that write can be taken back).
    fn resume(&self, _cursor: Option<u64>) -> Option<u64> {
        None
    }
}

/// The digest rendering of several deliveries: (subject, plain text, HTML).
pub(crate) fn summary(items: &[Delivery]) -> (String, String, String) {
    let pairs: Vec<_> = items.iter().map(|d| (&d.finding, d.count)).collect();
    super::render::email_digest(&pairs)
}
