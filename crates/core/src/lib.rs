//! The pure core of trailwatch: what a CloudTrail record is, which events matter, and how rules
//! decide that a record is a finding.
//!
//! Everything here is synchronous and does no I/O: no files, no network, no clock (callers pass
//! "now" in). The crate does not depend on tokio, an HTTP client, a database or the AWS SDK, so
//! the compiler keeps it that way. The edges (reading files and S3, watching queues, writing
//! output, sending alerts, keeping state) live in the `trailwatch` crate.
//!
//! # Layout, in pipeline order
//!
//! - [`record`]: container shapes (a CloudTrail file, JSON Lines, EventBridge, LookupEvents, ...),
//!   structural splitting into records, and the borrowed record model.
//! - [`catalog`]: the built-in catalog of notable events (data in `catalog/*.yaml`).
//! - [`rules`]: the rule model every front end compiles into: catalog entries, YAML rules
//!   (including the built-in packs in `rules/*.yaml`) and Sigma rules; conditions and field paths.
//! - [`engine`]: matches records to rules, with a prefilter that skips records no rule can match.
//! - [`noise`]: suppressions, dedup windows and thresholds.
//! - [`finding`]: what a match reports.
//! - [`units`]: durations and sizes as users write them (`1h30m`, `512MiB`).

pub mod catalog;
pub mod engine;
pub mod finding;
pub mod mask;
pub mod noise;
pub mod record;
pub mod rules;
pub mod units;
