//! The watcher's metrics, as Prometheus scrapes them from `watch --listen ADDR` at `/metrics`.
//!
//! One [`Metrics`] per watcher holds every family; the stages that count something (the
//! committer, the SQS source, the delivery loops, the state store's callers) get it through
//! what they already share, and the endpoint encodes it with `prometheus-client` in the
//! Prometheus text format (version 0.0.4). Gauges that describe the state store (outbox depth
//! and age, dead letters) are read from the store at scrape time ([`Metrics::set_backlog`]).
//!
//! Every name starts with `trailwatch_`; counters end in `_total` and durations are in seconds.

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// A label set: (name, value) pairs.
type Labels = Vec<(&'static str, String)>;
type Timings = Family<Labels, Histogram, fn() -> Histogram>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Latency buckets from 0.5 ms to about 33 s.
fn timing() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 17))
}

/// Every metric the watcher exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    inputs: Family<Labels, Counter>,
    records: Counter,
    findings: Family<Labels, Counter>,
    repeated: Counter,
    parse_errors: Family<Labels, Counter>,
    messages: Family<Labels, Counter>,
    poison: Family<Labels, Counter>,
    in_flight: Family<Labels, Gauge>,
    message_lag: Family<Labels, FloatGauge>,
    event_lag: FloatGauge,
    outbox_pending: Family<Labels, Gauge>,
    outbox_age: Family<Labels, FloatGauge>,
    dead_letters: Family<Labels, Gauge>,
    dead_lettered: Family<Labels, Counter>,
    sends: Family<Labels, Counter>,
    send_seconds: Timings,
    state_seconds: Timings,
    source_up: Family<Labels, Gauge>,
}

/// What became of an input.
#[derive(Debug, Clone, Copy)]
pub enum InputOutcome {
    /// Read and recorded with its findings.
    Recorded,
    /// Skipped: this version was recorded before.
    AlreadyRecorded,
    /// Not recorded (could not be fetched, or the store failed); offered again later.
    Failed,
}

/// What became of one send to a sink.
#[derive(Debug, Clone, Copy)]
pub enum SendOutcome {
    Delivered,
    /// Failed for now; tried again later.
    Retry,
    /// Failed for good (to the dead letters).
    Failed,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("trailwatch"),
            inputs: Family::default(),
            records: Counter::default(),
            findings: Family::default(),
            repeated: Counter::default(),
            parse_errors: Family::default(),
            messages: Family::default(),
            poison: Family::default(),
            in_flight: Family::default(),
            message_lag: Family::default(),
            event_lag: FloatGauge::default(),
            outbox_pending: Family::default(),
            outbox_age: Family::default(),
            dead_letters: Family::default(),
            dead_lettered: Family::default(),
            sends: Family::default(),
            send_seconds: Timings::new_with_constructor(timing),
            state_seconds: Timings::new_with_constructor(timing),
            source_up: Family::default(),
        };
        let r = &mut m.registry;
        r.register(
            "inputs",
            "Inputs (S3 objects, files, inline messages) by outcome: recorded, already_recorded, failed",
            m.inputs.clone(),
        );
        r.register("records", "CloudTrail records read", m.records.clone());
        r.register(
            "findings",
            "New findings recorded, by rule and that rule's severity (a finding counts once for each of its rules)",
            m.findings.clone(),
        );
        r.register(
            "repeated_findings",
            "Findings recorded before (the same rule and event read again), not reported again",
            m.repeated.clone(),
        );
        r.register(
            "parse_errors",
            "Inputs (kind=input) and records (kind=record) that could not be read",
            m.parse_errors.clone(),
        );
        r.register(
            "sqs_messages_received",
            "SQS messages received, by queue",
            m.messages.clone(),
        );
        r.register(
            "sqs_poison_messages",
            "SQS messages whose body could not be understood, by queue",
            m.poison.clone(),
        );
        r.register(
            "sqs_messages_in_flight",
            "SQS messages received and not yet deleted or given back, by queue",
            m.in_flight.clone(),
        );
        r.register(
            "sqs_message_lag_seconds",
            "Age (since SQS accepted it) of the oldest message in the last batch received, by queue",
            m.message_lag.clone(),
        );
        r.register(
            "event_lag_seconds",
            "Time since the newest event of a recorded finding happened",
            m.event_lag.clone(),
        );
        r.register(
            "outbox_pending",
            "Findings waiting for delivery, by sink",
            m.outbox_pending.clone(),
        );
        r.register(
            "outbox_oldest_age_seconds",
            "Age of the oldest finding waiting for delivery, by sink (0 when none waits)",
            m.outbox_age.clone(),
        );
        r.register(
            "dead_letters",
            "Findings in the dead letters (delivery given up), by sink",
            m.dead_letters.clone(),
        );
        r.register(
            "dead_lettered",
            "Findings moved to the dead letters by this process, by sink",
            m.dead_lettered.clone(),
        );
        r.register(
            "sink_sends",
            "Findings sent to alert sinks, by sink and outcome: delivered, retry, failed",
            m.sends.clone(),
        );
        r.register(
            "sink_send_duration_seconds",
            "Time one request to a sink took (one finding, a batch or a summary), by sink",
            m.send_seconds.clone(),
        );
        r.register(
            "state_operation_duration_seconds",
            "Time a state store operation took, by operation",
            m.state_seconds.clone(),
        );
        r.register(
            "source_up",
            "Whether a source answered its last look (1) or not (0), by source",
            m.source_up.clone(),
        );
        // Known label values start at 0, so that every series exists from the first scrape.
        for outcome in ["recorded", "already_recorded", "failed"] {
            let _ = m.inputs.get_or_create(&vec![("outcome", outcome.into())]);
        }
        for kind in ["input", "record"] {
            let _ = m.parse_errors.get_or_create(&vec![("kind", kind.into())]);
        }
        m
    }

    /// Starts the series of a queue at 0.
    pub fn add_queue(&self, queue: &str) {
        let l = queue_label(queue);
        let _ = self.messages.get_or_create(&l);
        let _ = self.poison.get_or_create(&l);
        let _ = self.in_flight.get_or_create(&l);
    }

    /// Starts the series of a sink at 0.
    pub fn add_sink(&self, sink: &str) {
        for outcome in ["delivered", "retry", "failed"] {
            let labels = vec![("sink", sink.to_string()), ("outcome", outcome.into())];
            let _ = self.sends.get_or_create(&labels);
        }
        let _ = self.dead_lettered.get_or_create(&sink_label(sink));
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }

    pub fn input(&self, outcome: InputOutcome) {
        let v = match outcome {
            InputOutcome::Recorded => "recorded",
            InputOutcome::AlreadyRecorded => "already_recorded",
            InputOutcome::Failed => "failed",
        };
        self.inputs
            .get_or_create(&vec![("outcome", v.into())])
            .inc();
    }

    pub fn records(&self, n: u64) {
        self.records.inc_by(n);
    }

    /// A new finding of `rule` at `severity`.
    pub fn finding(&self, severity: &str, rule: &str) {
        let labels = vec![
            ("severity", severity.to_string()),
            ("rule", rule.to_string()),
        ];
        self.findings.get_or_create(&labels).inc();
    }

    pub fn repeated(&self, n: u64) {
        self.repeated.inc_by(n);
    }

    /// An unreadable input (`record == false`) or record.
    pub fn parse_error(&self, record: bool) {
        let kind = if record { "record" } else { "input" };
        self.parse_errors
            .get_or_create(&vec![("kind", kind.into())])
            .inc();
    }

    pub fn messages(&self, queue: &str, n: u64) {
        self.messages.get_or_create(&queue_label(queue)).inc_by(n);
    }

    pub fn poison(&self, queue: &str) {
        self.poison.get_or_create(&queue_label(queue)).inc();
    }

    pub fn in_flight(&self, queue: &str, n: usize) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.in_flight.get_or_create(&queue_label(queue)).set(n);
    }

    pub fn message_lag(&self, queue: &str, lag: Duration) {
        self.message_lag
            .get_or_create(&queue_label(queue))
            .set(lag.as_secs_f64());
    }

    pub fn event_lag(&self, lag: Duration) {
        self.event_lag.set(lag.as_secs_f64());
    }

    /// One sink's backlog in the store, as of `now` (unix seconds).
    pub fn set_backlog(&self, sink: &str, pending: i64, oldest: Option<i64>, dead: i64, now: i64) {
        let l = sink_label(sink);
        self.outbox_pending.get_or_create(&l).set(pending);
        let age = oldest.map_or(0, |t| (now - t).max(0));
        self.outbox_age.get_or_create(&l).set(age as f64);
        self.dead_letters.get_or_create(&l).set(dead);
    }

    pub fn dead_lettered(&self, sink: &str) {
        self.dead_lettered.get_or_create(&sink_label(sink)).inc();
    }

    /// What became of one finding sent to `sink`.
    pub fn send_outcome(&self, sink: &str, outcome: SendOutcome) {
        let v = match outcome {
            SendOutcome::Delivered => "delivered",
            SendOutcome::Retry => "retry",
            SendOutcome::Failed => "failed",
        };
        let labels = vec![("sink", sink.to_string()), ("outcome", v.into())];
        self.sends.get_or_create(&labels).inc();
    }

    /// One request to `sink` (one finding, a batch of them, or a summary) took `took`.
    pub fn send_seconds(&self, sink: &str, took: Duration) {
        self.send_seconds
            .get_or_create(&sink_label(sink))
            .observe(took.as_secs_f64());
    }

    /// One state store operation (`commit`, `is_done`, `pending`, `delivered`, ...).
    pub fn state_op(&self, op: &'static str, took: Duration) {
        self.state_seconds
            .get_or_create(&vec![("operation", op.to_string())])
            .observe(took.as_secs_f64());
    }

    /// Times `f` as the state store operation `op`.
    pub fn time_state<T>(&self, op: &'static str, f: impl FnOnce() -> T) -> T {
        let started = std::time::Instant::now();
        let out = f();
        self.state_op(op, started.elapsed());
        out
    }

    pub fn source_up(&self, source: &str, up: bool) {
        self.source_up
            .get_or_create(&vec![("source", source.to_string())])
            .set(i64::from(up));
    }
}

fn queue_label(queue: &str) -> Labels {
    vec![("queue", queue.to_string())]
}

fn sink_label(sink: &str) -> Labels {
    vec![("sink", sink.to_string())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_appear_in_the_text_format() {
        let m = Metrics::new();
        m.input(InputOutcome::Recorded);
        m.records(7);
        m.finding("high", "iam-\"quoted\"");
        m.send_outcome("hook", SendOutcome::Retry);
        m.send_seconds("hook", Duration::from_millis(3));
        m.set_backlog("hook", 4, Some(100), 1, 160);
        let text = m.encode();
        for line in [
            "# TYPE trailwatch_inputs_total counter",
            "trailwatch_inputs_total{outcome=\"recorded\"} 1",
            "trailwatch_records_total 7",
            "trailwatch_findings_total{severity=\"high\",rule=\"iam-\\\"quoted\\\"\"} 1",
            "trailwatch_sink_sends_total{sink=\"hook\",outcome=\"retry\"} 1",
            "trailwatch_sink_send_duration_seconds_count{sink=\"hook\"} 1",
            "trailwatch_outbox_pending{sink=\"hook\"} 4",
            "trailwatch_outbox_oldest_age_seconds{sink=\"hook\"} 60",
            "trailwatch_dead_letters{sink=\"hook\"} 1",
        ] {
            assert!(text.lines().any(|l| l.starts_with(line)), "{line}\n{text}");
        }
    }
}
