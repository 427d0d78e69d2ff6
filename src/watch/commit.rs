//! The committer: one thread that applies dedup and thresholds in commit order, records each
//! input with its findings in the state store, writes new findings to the output, and then
//! releases the input's acknowledgement.
//!
//! Output is delivered from the store's outbox. A file output is exactly-once across crashes
//! ([`JsonlFile`], shared with the alert `file` sink): the store keeps the file's length after
//! each delivered batch (written after `fsync`), and on start the file is cut back to that length
//! before the outbox is delivered again. Standard output cannot be taken back, so a crash between
//! writing and recording may repeat the last batch there.

use super::{Done, Outcome, Shared, forget, integrity};
use crate::finding::Finding;
use crate::metrics::InputOutcome;
use crate::noise::Noise;
use crate::output::JsonlFile;
use crate::scan::{self, Report};
use crate::state::{Commit, InputDone, NewFinding, Store};
use crate::verify::track::{Alarm, Tracker};
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Where `watch` writes findings (JSON Lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout,
    File(PathBuf),
}

impl Output {
    /// The sink's name in the outbox.
    pub fn sink(&self) -> String {
        match self {
            Output::Stdout => "stdout".into(),
            Output::File(p) => format!("file:{}", p.display()),
        }
    }
}

/// What `watch` writes per finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// trailwatch's finding (the keys of `scan --format jsonl`).
    Jsonl,
    /// An OCSF Detection Finding (as `scan --format ocsf`).
    Ocsf,
}

/// Writes what the outbox holds for the output: standard output, or an exactly-once
/// [`JsonlFile`].
struct Writer {
    sink: String,
    file: Option<JsonlFile>,
    format: OutputFormat,
}

/// One output line for a stored finding body.
fn line(format: OutputFormat, body: &str) -> String {
    match format {
        OutputFormat::Jsonl => body.to_string(),
        OutputFormat::Ocsf => match serde_json::from_str::<crate::finding::Finding>(body) {
            Ok(f) => {
                let now = jiff::Timestamp::now().as_millisecond();
                crate::output::ocsf::detection_finding(&f, now).to_string()
            }
            Err(e) => {
                // Never silently dropped: written as stored, and named.
                tracing::error!(
                    "a stored finding could not be read for OCSF ({e}); written as stored"
                );
                body.to_string()
            }
        },
    }
}

impl Writer {
    fn open(output: &Output, format: OutputFormat, store: &mut Store) -> anyhow::Result<Writer> {
        let sink = output.sink();
        let file = match output {
            Output::Stdout => None,
            Output::File(path) => {
                // Written but not recorded before a crash: cut off here, and written again
                // from the outbox below.
                let recorded = store.cursor(&sink)?.map(|c| c.max(0) as u64);
                let file = JsonlFile::open(path, recorded).context("opening the output")?;
                if recorded.is_none() {
                    // What the file held before is kept; everything after can be taken back.
                    store.delivered(&sink, &[], Some(file.len() as i64))?;
                }
                Some(file)
            }
        };
        Ok(Writer { sink, file, format })
    }

    /// Writes everything waiting in the outbox for this output.
    fn deliver(&mut self, store: &mut Store) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let batch = store.pending(&self.sink, 1000)?;
            if batch.is_empty() {
                return Ok(total);
            }
            let mut text = String::new();
            for p in &batch {
                text.push_str(&line(self.format, &p.body));
                text.push('\n');
            }
            let ids: Vec<i64> = batch.iter().map(|p| p.finding_id).collect();
            let cursor = match &mut self.file {
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(text.as_bytes())
                        .and_then(|_| out.flush())
                        .context("writing findings to stdout")?;
                    None
                }
                Some(f) => Some(f.append(text.as_bytes())? as i64),
            };
            store.delivered(&self.sink, &ids, cursor)?;
            total += batch.len();
        }
    }
}

/// Starts the committer thread; it runs until every worker is gone.
pub(super) fn start(
    shared: Arc<Shared>,
    rx: std::sync::mpsc::Receiver<Done>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let (mut writer, mut noise, mut tracker) = {
        let mut store = shared
            .store
            .lock()
            .map_err(|_| anyhow::anyhow!("state store lock poisoned"))?;
        let settings = &shared.settings;
        let writer = Writer::open(&settings.output, settings.output_format, &mut store)?;
        let mut noise = Noise::new(true);
        if let Some(bytes) = store.noise()?
            && !noise.restore(&bytes)
        {
            tracing::warn!("stored dedup and threshold state unreadable; starting afresh");
        }
        let tracker = integrity::restore(settings.integrity.timing, store.tracking()?);
        (writer, noise, tracker)
    };
    // Findings recorded before a crash but not yet written.
    if let Ok(mut store) = shared.store.lock() {
        writer.deliver(&mut store)?;
    }
    let keep = longest_window(&shared);
    let output_sink = writer.sink.clone();
    let alerts = &shared.settings.alerts;
    let threading: Vec<String> = alerts
        .sinks
        .iter()
        .filter(|s| s.config.kind().threads())
        .map(|s| s.name.clone())
        .collect();
    Ok(std::thread::spawn(move || {
        let mut newest: Option<jiff::Timestamp> = None;
        let mut pruned_at: Option<std::time::Instant> = None;
        let tick = tick_every(&shared);
        loop {
            let (work, mut report, digest) = match rx.recv_timeout(tick) {
                Ok(done) => done,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let alarms = tracker.tick(jiff::Timestamp::now().as_second());
                    if !alarms.is_empty() {
                        record_alarms(&shared, &mut writer, &mut tracker, &alarms, &output_sink);
                    }
                    continue;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            };
            if pruned_at.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                prune(&shared);
                pruned_at = Some(std::time::Instant::now());
            }
            scan::apply_noise(&shared.engine, &mut noise, &mut report);
            let mut findings = Vec::with_capacity(report.findings.len());
            for f in &report.findings {
                if let Some(t) = f.time {
                    newest = Some(newest.map_or(t, |n| n.max(t)));
                }
                findings.push(new_finding(&shared, f, &output_sink));
            }
            let now = jiff::Timestamp::now().as_second();
            let alarms = match &digest {
                Some(d) => tracker.digest(
                    now,
                    &d.key,
                    &d.name,
                    &d.digest,
                    d.signature.as_deref(),
                    &d.check,
                ),
                None => match integrity::log_file(&work.origin) {
                    Some((account, region, hour, key)) if !report.is_bad() => {
                        tracker.log_file(now, &account, &region, hour, &key)
                    }
                    _ => Vec::new(),
                },
            };
            let extra: Vec<Finding> = alarms.iter().map(|a| integrity::finding(a, now)).collect();
            for f in &extra {
                findings.push(new_finding(&shared, f, &output_sink));
            }
            let tracked = integrity::changed(&mut tracker);
            let problems = report_problems(&report);
            let input = InputDone {
                source: work.name.clone(),
                version: work.version.clone(),
                records: report.records,
                error: problems.first().cloned(),
            };
            let keep_after = newest
                .and_then(|n| n.checked_sub(keep).ok())
                .unwrap_or(jiff::Timestamp::MIN);
            let snapshot = noise.snapshot(keep_after);
            let result = shared.store.lock().map_err(|_| ()).and_then(|mut store| {
                let fresh = (shared.metrics)
                    .time_state("commit", || {
                        store.commit(&Commit {
                            input: Some(&input),
                            findings: &findings,
                            folds: &report.folds,
                            threading: &threading,
                            noise: Some(&snapshot),
                            tracked: &tracked,
                        })
                    })
                    .map_err(|e| tracing::error!("{e}"))?;
                let written = writer
                    .deliver(&mut store)
                    .map_err(|e| tracing::error!("{e:#}"))?;
                Ok((fresh, written))
            });
            forget(&shared, &work.name);
            shared.touch();
            shared.outbox.wake();
            let stats = &shared.stats;
            match result {
                Ok((fresh, _)) => {
                    let repeated = (findings.len() - fresh.len()) as u64;
                    stats.inputs.fetch_add(1, Ordering::Relaxed);
                    stats.records.fetch_add(report.records, Ordering::Relaxed);
                    stats
                        .findings
                        .fetch_add(fresh.len() as u64, Ordering::Relaxed);
                    stats.duplicates.fetch_add(repeated, Ordering::Relaxed);
                    let m = &shared.metrics;
                    m.input(InputOutcome::Recorded);
                    m.records(report.records);
                    m.repeated(repeated);
                    let n = report.findings.len();
                    let all = |i: usize| report.findings.get(i).or_else(|| extra.get(i - n));
                    for f in fresh.iter().filter_map(|&i| all(i)) {
                        // A finding is an event: it counts once for each of its rules, at that
                        // rule's severity.
                        if f.rules.is_empty() {
                            m.finding(f.severity.as_str(), &f.rule_id);
                        }
                        for r in &f.rules {
                            m.finding(r.severity.as_str(), &r.id);
                        }
                    }
                    if report.error.is_some() {
                        m.parse_error(false);
                    }
                    for _ in &report.bad_records {
                        m.parse_error(true);
                    }
                    if let Some(n) = newest {
                        stats
                            .newest_event
                            .fetch_max(n.as_second().max(0) as u64, Ordering::Relaxed);
                    }
                    for p in &problems {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::error!("{p}");
                    }
                    tracing::debug!(
                        input = %work.name,
                        records = report.records,
                        findings = fresh.len(),
                        "recorded"
                    );
                    shared.finish(&work.ticket, Outcome::Done);
                }
                Err(()) => {
                    shared.metrics.input(InputOutcome::Failed);
                    // The store is unusable: stop rather than acknowledge unrecorded work.
                    shared.finish(&work.ticket, Outcome::Failed);
                    shared.fatal.store(true, Ordering::SeqCst);
                    shared.stop.store(true, Ordering::SeqCst);
                    shared.stopped.notify_waiters();
                }
            }
        }
    }))
}

/// The outbox row of a finding: the output and the sinks its routes name.
fn new_finding(shared: &Shared, f: &Finding, output_sink: &str) -> NewFinding {
    let mut sinks = vec![output_sink.to_string()];
    sinks.extend(shared.settings.alerts.router.sinks(f));
    NewFinding {
        key: f.identity(),
        rule_id: f.rule_id.clone(),
        event_time: f.event_time.clone(),
        body: serde_json::to_string(f).unwrap_or_default(),
        sinks,
        window: f.window,
    }
}

/// How often the trail's deliveries are looked at for lateness and silence: a quarter of the
/// shortest margin, between 1 s and 60 s.
fn tick_every(shared: &Shared) -> std::time::Duration {
    let t = shared.settings.integrity.timing;
    let shortest = t.silent_after.map_or(t.late_after, |s| s.min(t.late_after));
    std::time::Duration::from_secs((shortest / 4).clamp(1, 60) as u64)
}

/// Records the findings of alarms raised by the clock (no input), and writes them out.
fn record_alarms(
    shared: &Shared,
    writer: &mut Writer,
    tracker: &mut Tracker,
    alarms: &[Alarm],
    output_sink: &str,
) {
    let now = jiff::Timestamp::now().as_second();
    let found: Vec<Finding> = alarms.iter().map(|a| integrity::finding(a, now)).collect();
    let rows: Vec<NewFinding> = found
        .iter()
        .map(|f| new_finding(shared, f, output_sink))
        .collect();
    let tracked = integrity::changed(tracker);
    let Ok(mut store) = shared.store.lock() else {
        return;
    };
    let commit = Commit {
        input: None,
        findings: &rows,
        folds: &[],
        threading: &[],
        noise: None,
        tracked: &tracked,
    };
    match store.commit(&commit) {
        Ok(fresh) => {
            shared
                .stats
                .findings
                .fetch_add(fresh.len() as u64, Ordering::Relaxed);
            for f in fresh.iter().filter_map(|&i| found.get(i)) {
                tracing::warn!("{}: {}", f.rule_id, f.summary);
                shared.metrics.finding(f.severity.as_str(), &f.rule_id);
            }
            if let Err(e) = writer.deliver(&mut store) {
                tracing::error!("{e:#}");
            }
        }
        Err(e) => {
            tracing::error!("{e}");
            shared.fatal.store(true, Ordering::SeqCst);
            shared.stop.store(true, Ordering::SeqCst);
            shared.stopped.notify_waiters();
        }
    }
    drop(store);
    shared.outbox.wake();
}

/// How often old inputs and delivered findings are pruned while watching.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes what is older than the retention (bounded growth of the state database).
fn prune(shared: &Shared) {
    let retention = shared.settings.retention.as_secs() as i64;
    let before = jiff::Timestamp::now().as_second() - retention;
    if let Ok(mut store) = shared.store.lock() {
        match store.prune(before) {
            Ok(p) if p.inputs + p.findings > 0 => tracing::info!(
                "pruned {} input(s) and {} finding(s) older than the retention",
                p.inputs,
                p.findings
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("{e}"),
        }
    }
}

/// What could not be read in an input, one line each, naming it.
fn report_problems(report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(e) = &report.error {
        out.push(format!("{}: {e}", report.name));
    }
    for (loc, e) in &report.bad_records {
        out.push(format!("{loc}: {e}"));
    }
    out
}

/// How long dedup windows and threshold counters must be kept, from the loaded rules.
fn longest_window(shared: &Shared) -> jiff::SignedDuration {
    let longest = shared
        .engine
        .rules()
        .iter()
        .flat_map(|r| {
            r.dedup
                .iter()
                .map(|d| d.window)
                .chain(r.threshold.iter().map(|t| t.window * 4))
        })
        .max()
        .unwrap_or_default();
    jiff::SignedDuration::try_from(longest)
        .unwrap_or(jiff::SignedDuration::from_hours(24))
        .checked_add(jiff::SignedDuration::from_hours(1))
        .unwrap_or(jiff::SignedDuration::MAX)
}
