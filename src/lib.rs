//! trailwatch watches AWS CloudTrail for the events that matter and explains each one.
//!
//! This crate holds the effectful edges around the pure core, [`trailwatch_core`] (re-exported
//! here as [`record`], [`catalog`], [`rules`], [`engine`], [`noise`], [`finding`] and [`units`]).
//! See `ARCHITECTURE.md` for the pipeline and where each kind of change goes.
//!
//! # Layout, in pipeline order
//!
//! - `setup`: the rules trailwatch would run (packs, rule files, Sigma, suppressions) and the
//!   one engine builder.
//! - [`source`]: where CloudTrail data comes from: files and folders, S3 objects, SQS messages and
//!   the notification bodies they carry, the S3 key layout.
//! - [`aws`]: AWS client set-up shared by every AWS caller.
//! - [`scan`]: the parallel pipeline that turns input bytes into findings, the S3 scan, and the
//!   end-of-run summary.
//! - [`search`]: `trailwatch search`, every event that passes a filter, on the scan pipeline.
//! - [`output`]: the output formats (table, JSON Lines, JSON, CSV, OCSF) and the exactly-once
//!   JSON Lines file of `watch --output` and the alert `file` sink.
//! - [`alert`]: routes, alert sinks and outbox delivery.
//! - [`metrics`]: the watcher's Prometheus metrics (counted by the stages, served by `watch`).
//! - `watch`: following new data (SQS, folders, S3 polling) with durable progress.
//! - `state`: the SQLite state store (processed inputs, findings, dedup, outbox).
//! - [`verify`]: digest-chain integrity (`trailwatch verify`).
//! - [`config`]: the configuration file.
//! - [`cli`]: the command line: clap types and wiring only.

pub use trailwatch_core::{catalog, engine, finding, noise, record, rules, units};

pub mod alert;
pub mod aws;
pub mod cli;
pub mod config;
pub mod metrics;
pub mod output;
pub mod scan;
pub mod search;
pub(crate) mod setup;
pub mod source;
pub(crate) mod state;
pub mod timeline;
pub mod verify;
pub(crate) mod watch;
