//! trailwatch watches AWS CloudTrail for the events that matter and explains each one.
//!
//! # Layout
//!
//! The modules follow the pipeline, from where bytes come from to where findings go:
//!
//! - [`source`]: where CloudTrail data comes from (local files and directories).
//! - [`record`]: container shapes, structural splitting and the record model (pure).
//! - [`catalog`]: the built-in catalog of notable events, kept as data (pure).
//! - [`engine`]: matching records to rules, with a prefilter that skips records that cannot
//!   match (pure).
//! - [`finding`]: what a match reports.
//! - [`scan`]: the pipeline that ties the stages together, in parallel.
//! - [`sink`]: output formats.
//! - [`summary`]: the end-of-run summary.
//! - [`cli`]: the command line.
//!
//! The core (`record`, `catalog`, `engine`, `finding`) is synchronous and does no I/O.

pub mod alert;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod engine;
pub mod finding;
pub mod noise;
pub mod notify;
pub mod record;
pub mod remote;
pub mod rules;
pub mod scan;
pub mod sink;
pub mod source;
pub mod state;
pub mod summary;
pub mod watch;
