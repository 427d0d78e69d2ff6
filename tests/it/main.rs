//! Integration tests: one binary, one module per area.

/// The moto S3/SQS/SNS server the protocol tests talk to.
mod aws;
/// A scripted HTTP server standing in for Slack and webhooks.
mod http;
/// Helpers shared by the modules: paths, the binary, fixtures.
mod support;

/// Alerts: sinks, routes, retries and delivery guarantees against real receivers.
mod alerts;
/// Output formats, filters, exit codes and the catalog commands.
mod cli;
/// The whole real-data corpus in `../shared/corpus`.
mod corpus;
/// The email sink against the test SMTP server (scripts/smtp.sh).
mod email;
/// `watch --listen`: metrics through Prometheus' parser, health and readiness flipping.
mod endpoints;
/// A finding is an event: every rule of a record on one finding, in every output.
mod events;
/// Property tests: no input bytes make the decoder panic, and splitting agrees with a parser.
mod fuzz;
/// The findings of `trailwatch scan examples/logs`, pinned in `tests/golden/`.
mod golden;
/// The catalog against the guide in `../shared/spec`.
mod guide;
/// `watch` checking the trail itself: digest chains and signatures, late digests, silence.
mod integrity;
/// `scan --format ocsf` against the published OCSF schema.
mod ocsf;
/// Running `watch` as a service: state lock, endpoints, logs, configuration errors.
mod ops;
/// The HTML report in a real headless Chromium: counts, filters, raw events, hostile text.
mod report;
/// Rules: YAML front end, packs, noise control, coverage on real attack data.
mod rules;
/// The S3 endpoint override by host name, however it is set (path-style addressing).
mod s3_endpoints;
/// `search`: every event matching filters, through the CLI.
mod search;
/// The `securityhub` sink against moto's Security Hub and a local receiver.
mod securityhub;
/// Container shapes and bad inputs, through the CLI.
mod shapes;
/// `timeline`: events grouped by actor, session or address, through the CLI.
mod timeline;
/// `verify`: digest chains signed with a test key, tampered in every way, locally and in moto.
mod verify;
/// S3 scans and `watch` against the moto server; folders; configuration.
mod watch;
