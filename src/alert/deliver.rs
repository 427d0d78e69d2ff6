//! The delivery loop of one sink: takes what the outbox holds for it, sends, and records the
//! outcome — delivered, retried later with exponential backoff and jitter (or the receiver's
//! `Retry-After`), or moved to the dead letters once it has failed for longer than `max_age` or
//! can never succeed. Each sink has its own loop, so a failing sink never holds up the others or
//! the ingestion. Above the sink's rate limit, the rest of the period's findings go out as one
//! summary message; an email sink in digest mode sends one mail per period.
//!
//! A loop needs only an [`Outbox`] (the store, a wake-up, the signal to finish and the retry
//! policy), which the watcher builds. Findings leave the outbox as typed [`Finding`]s; a row that
//! is not one goes to the dead letters. A sink that answers [`Sent::Cursor`] (the `file` sink) has
//! that cursor recorded with the delivery, which makes it exactly once.

use super::config::{Alerts, SinkEntry};
use super::sink::{Posted, Sent, Sink};
use super::{Delivery, SendError};
use crate::finding::Finding;
use crate::metrics::{Metrics, SendOutcome};
use crate::state::{Pending, Store};
use futures_util::StreamExt;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Outbox rows taken at a time.
const BATCH: usize = 200;

/// What the delivery loops share with whoever fills the outbox (the watcher): the store, a
/// wake-up for new findings, the signal that no more are coming, and the retry policy.
pub struct Outbox {
    pub store: Arc<Mutex<Store>>,
    /// Notified after each commit, so deliveries start at once.
    pub wake: Notify,
    /// Set when inputs are finished: deliveries send what is due and stop.
    pub finishing: AtomicBool,
    /// After failing this long, a delivery goes to the dead letters.
    pub max_age: Duration,
    /// First retry delay, doubled on each further failure up to 5 minutes.
    pub retry_initial: Duration,
    /// Sends, failures, latency and dead letters are counted here.
    pub metrics: Arc<Metrics>,
}

impl Outbox {
    pub fn new(store: Arc<Mutex<Store>>, alerts: &Alerts) -> Outbox {
        Outbox {
            store,
            wake: Notify::new(),
            finishing: AtomicBool::new(false),
            max_age: alerts.max_age,
            retry_initial: alerts.retry_initial,
            metrics: Arc::default(),
        }
    }

    /// New findings are in the outbox.
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    /// No more findings are coming: deliveries send what is due and return.
    pub fn finish(&self) {
        self.finishing.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }
}

/// Delay before attempt `n + 1`: `initial` doubling up to 5 minutes, with ±25% jitter.
pub fn backoff(attempts: i64, seed: u64, initial: Duration) -> Duration {
    let factor = 2u64.saturating_pow(attempts.clamp(0, 20) as u32);
    let base = (initial.as_millis() as u64)
        .saturating_mul(factor)
        .min(300_000) as i64;
    let jitter = (seed % 500) as i64 - 250; // per mille, ±25%
    Duration::from_millis((base * (1000 + jitter) / 1000).max(100) as u64)
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// The outbox rows as deliveries. A body that is not a finding can never be sent: it goes to
/// the dead letters, named.
fn readable(outbox: &Outbox, name: &str, rows: Vec<Pending>) -> Vec<(Pending, Delivery)> {
    let mut out = Vec::with_capacity(rows.len());
    for p in rows {
        match serde_json::from_str::<Finding>(&p.body) {
            Ok(finding) => {
                let d = Delivery {
                    finding,
                    idempotency_key: super::idempotency_key(&p.key),
                    count: 1 + p.repeats.max(0) as u64,
                };
                out.push((p, d));
            }
            Err(e) => {
                let e = SendError::Permanent(format!("unreadable finding in the outbox: {e}"));
                failed(outbox, name, &p, &e);
            }
        }
    }
    out
}

/// Runs until the outbox is finishing and nothing more is due.
pub async fn run(outbox: Arc<Outbox>, entry: SinkEntry, sink: Box<dyn Sink>) {
    let name = entry.name.clone();
    let threads = entry.config.kind().threads();
    let digest = sink.digest().filter(|d| !d.is_zero());
    let cursor = outbox
        .store
        .lock()
        .ok()
        .and_then(|s| s.cursor(&name).map_err(|e| tracing::error!("{e}")).ok())
        .flatten();
    if let Some(start) = sink.resume(cursor.map(|c| c.max(0) as u64))
        && let Ok(mut store) = outbox.store.lock()
        && let Err(e) = store.delivered(&name, &[], Some(start as i64))
    {
        tracing::error!("{e}");
    }
    // Rate limit: messages sent in the current period, and findings held for its summary.
    let mut period = Instant::now();
    let mut sent = 0u32;
    let mut held: Vec<(Pending, Delivery)> = Vec::new();
    let mut held_ids: HashSet<i64> = HashSet::new();
    let mut digest_started = Instant::now();
    let mut pause: Option<Instant> = None;
    loop {
        let finishing = outbox.finishing.load(Ordering::SeqCst);
        if threads {
            post_repeats(&outbox, &name, sink.as_ref()).await;
        }
        let due = outbox
            .store
            .lock()
            .ok()
            .and_then(|s| {
                let pending = outbox
                    .metrics
                    .time_state("pending", || s.pending(&name, BATCH));
                pending.map_err(|e| tracing::error!("{e}")).ok()
            })
            .unwrap_or_default();
        let due: Vec<Pending> = due
            .into_iter()
            .filter(|p| !held_ids.contains(&p.finding_id))
            .collect();
        // More may be waiting right behind a full batch: go round again without sleeping.
        let more = digest.is_none() && due.len() >= BATCH && pause.is_none();
        let due = readable(&outbox, &name, due);
        if let Some(every) = digest {
            // Digest mode: everything due goes out together once per period.
            if !due.is_empty() && (digest_started.elapsed() >= every || finishing) {
                summarize(&outbox, &name, sink.as_ref(), &due, "digest").await;
                digest_started = Instant::now();
            }
        } else if pause.is_none_or(|until| Instant::now() >= until) {
            pause = None;
            let mut done = Vec::new();
            let mut cursor = None;
            let mut batch = Vec::new();
            for (p, d) in due {
                if let Some((limit, per)) = entry.rate {
                    if period.elapsed() >= per {
                        flush_held(&outbox, &name, sink.as_ref(), &mut held, &mut held_ids).await;
                        period = Instant::now();
                        sent = 0;
                    }
                    if sent >= limit {
                        held_ids.insert(p.finding_id);
                        held.push((p, d));
                        continue;
                    }
                    sent += 1;
                }
                batch.push((p, d));
            }
            // Several requests in flight for receivers that do not care about order, each with
            // up to `batch()` findings; the outcomes are handled in order.
            let target = sink.as_ref();
            let (metrics, sink_name) = (&outbox.metrics, name.as_str());
            let size = target.batch().max(1);
            let mut chunks: Vec<Vec<(Pending, Delivery)>> = Vec::new();
            let mut rest = batch.into_iter().peekable();
            while rest.peek().is_some() {
                chunks.push(rest.by_ref().take(size).collect());
            }
            let mut sends =
                futures_util::stream::iter(chunks.into_iter().map(|chunk| async move {
                    let started = Instant::now();
                    let results = if size == 1 {
                        vec![target.send(&chunk[0].1).await]
                    } else {
                        let items: Vec<Delivery> = chunk.iter().map(|(_, d)| d.clone()).collect();
                        target.send_batch(&items).await
                    };
                    metrics.send_seconds(sink_name, started.elapsed());
                    let mut results = results.into_iter();
                    let missing = || Err(SendError::retry("the sink gave no outcome for it"));
                    let paired: Vec<_> = chunk
                        .into_iter()
                        .map(|(p, _)| (p, results.next().unwrap_or_else(missing)))
                        .collect();
                    futures_util::stream::iter(paired)
                }))
                .buffered(target.parallelism().max(1))
                .flatten();
            while let Some((p, result)) = sends.next().await {
                metrics.send_outcome(&name, outcome(&result));
                match result {
                    Ok(Sent::Done) => {
                        // Recorded in batches: a crash before the record means these are sent
                        // again, with the same idempotency keys (at least once).
                        done.push(p.finding_id);
                    }
                    Ok(Sent::Cursor(c)) => {
                        // Recorded with the file's length: exactly once (see `JsonlFile`).
                        done.push(p.finding_id);
                        cursor = Some(c);
                    }
                    Ok(Sent::Posted(posted)) => {
                        if let Ok(mut store) = outbox.store.lock() {
                            if let Err(e) = store.delivered(&name, &[p.finding_id], None) {
                                tracing::error!("{e}");
                            }
                            if let Err(e) =
                                store.set_thread(p.finding_id, &name, &posted.channel, &posted.ts)
                            {
                                tracing::error!("{e}");
                            }
                        }
                    }
                    Err(e) => {
                        // A sink that asks to wait is left alone until then (older findings
                        // first, no hammering a receiver that is down).
                        if let Some(wait) = failed(&outbox, &name, &p, &e) {
                            pause = Some(Instant::now() + wait);
                            break;
                        }
                    }
                }
            }
            drop(sends);
            mark(&outbox, &name, &done, cursor);
        }
        if let Some((_, per)) = entry.rate
            && !held.is_empty()
            && (period.elapsed() >= per || finishing)
        {
            flush_held(&outbox, &name, sink.as_ref(), &mut held, &mut held_ids).await;
            period = Instant::now();
            sent = 0;
        }
        if finishing && !more {
            return;
        }
        if more && pause.is_none() {
            continue;
        }
        tokio::select! {
            _ = outbox.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// A send's outcome as counted in the metrics.
fn outcome(result: &Result<Sent, SendError>) -> SendOutcome {
    match result {
        Ok(_) => SendOutcome::Delivered,
        Err(SendError::Retry { .. }) => SendOutcome::Retry,
        Err(SendError::Permanent(_)) => SendOutcome::Failed,
    }
}

/// Sends several findings as one message and records the outcome for each.
async fn summarize(
    outbox: &Outbox,
    name: &str,
    sink: &dyn Sink,
    items: &[(Pending, Delivery)],
    why: &str,
) -> bool {
    let deliveries: Vec<Delivery> = items.iter().map(|(_, d)| d.clone()).collect();
    let started = Instant::now();
    let result = sink.send_summary(&deliveries, why).await;
    outbox.metrics.send_seconds(name, started.elapsed());
    for _ in items {
        outbox.metrics.send_outcome(name, outcome(&result));
    }
    match result {
        Ok(sent) => {
            let ids: Vec<i64> = items.iter().map(|(p, _)| p.finding_id).collect();
            let cursor = match sent {
                Sent::Cursor(c) => Some(c),
                _ => None,
            };
            mark(outbox, name, &ids, cursor);
            true
        }
        Err(e) => {
            for (p, _) in items {
                failed(outbox, name, p, &e);
            }
            false
        }
    }
}

/// Sends the findings held back by the rate limit as one summary message.
async fn flush_held(
    outbox: &Outbox,
    name: &str,
    sink: &dyn Sink,
    held: &mut Vec<(Pending, Delivery)>,
    held_ids: &mut HashSet<i64>,
) {
    if held.is_empty() {
        return;
    }
    let why = format!("{} finding(s) above the sink's rate limit", held.len());
    if summarize(outbox, name, sink, held, &why).await {
        tracing::info!("{name}: {why} sent as one summary");
    }
    held.clear();
    held_ids.clear();
}

fn mark(outbox: &Outbox, name: &str, ids: &[i64], cursor: Option<u64>) {
    if ids.is_empty() {
        return;
    }
    if let Ok(mut store) = outbox.store.lock()
        && let Err(e) = (outbox.metrics).time_state("delivered", || {
            store.delivered(name, ids, cursor.map(|c| c as i64))
        })
    {
        tracing::error!("{e}");
    }
}

/// Records a failed attempt: retry later, or dead letter when permanent or too old. Returns how
/// long to wait before the next attempt, when there is one.
fn failed(outbox: &Outbox, name: &str, p: &Pending, e: &SendError) -> Option<Duration> {
    // The reason is logged and stored: never with a secret in it.
    let reason = super::secret::scrub(&e.to_string());
    let now = jiff::Timestamp::now().as_second();
    let max_age = outbox.max_age.as_secs() as i64;
    let (dead, retry_at, wait) = match e {
        SendError::Permanent(_) => (true, now, None),
        SendError::Retry { after, .. } => {
            let wait = after.unwrap_or_else(|| {
                backoff(
                    p.attempts,
                    seed() ^ p.finding_id as u64,
                    outbox.retry_initial,
                )
            });
            let dead = now - p.created_at > max_age;
            (
                dead,
                now + wait.as_secs().max(1) as i64,
                (!dead).then_some(wait),
            )
        }
    };
    if dead {
        outbox.metrics.dead_lettered(name);
        tracing::error!(
            "{name}: finding {} not delivered, moved to dead letters: {reason}",
            p.finding_id
        );
    } else {
        tracing::warn!(
            "{name}: finding {} not delivered ({reason}); retrying",
            p.finding_id
        );
    }
    if let Ok(mut store) = outbox.store.lock()
        && let Err(err) = store.failed(name, p.finding_id, &reason, retry_at, dead)
    {
        tracing::error!("{err}");
    }
    wait
}

/// Posts "N more like this" replies for findings whose repeats arrived after their message.
async fn post_repeats(outbox: &Outbox, name: &str, sink: &dyn Sink) {
    let repeats = outbox
        .store
        .lock()
        .ok()
        .and_then(|mut s| s.pending_repeats(name).ok())
        .unwrap_or_default();
    for r in repeats {
        let mut finding: Finding = match serde_json::from_str(&r.body) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(
                    "{name}: repeat of finding {} not posted (unreadable finding: {e})",
                    r.finding_id
                );
                continue;
            }
        };
        if let Some(t) = &r.last_time {
            finding.last_time = Some(t.clone());
        }
        let d = Delivery {
            finding,
            idempotency_key: format!("repeat-{}", r.finding_id),
            count: r.repeats.max(0) as u64,
        };
        let thread = Posted {
            channel: r.channel.clone(),
            ts: r.ts.clone(),
        };
        match sink.send_repeat(&d, &thread).await {
            Ok(()) => {
                if let Ok(mut s) = outbox.store.lock() {
                    let _ = s.repeat_delivered(r.finding_id, name);
                }
            }
            Err(e) => tracing::warn!(
                "{name}: repeat of finding {} not posted ({e})",
                r.finding_id
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_a_ceiling() {
        let two = Duration::from_secs(2);
        let d: Vec<u64> = (0..12).map(|a| backoff(a, 250, two).as_secs()).collect();
        assert_eq!(&d[..4], &[2, 4, 8, 16]);
        assert!(d[11] <= 300);
        assert!(backoff(0, 0, two) < backoff(0, 499, two));
    }

    #[tokio::test]
    async fn an_unreadable_outbox_row_becomes_a_dead_letter() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Mutex::new(
            Store::open(&dir.path().join("state.db")).unwrap(),
        ));
        let broken = crate::state::NewFinding {
            key: "k".into(),
            rule_id: "r".into(),
            event_time: None,
            body: "{\"not\": \"a finding\"}".into(),
            sinks: vec!["archive".into()],
            window: None,
        };
        let input = crate::state::InputDone {
            source: "in".into(),
            version: "v1".into(),
            records: 1,
            error: None,
        };
        store
            .lock()
            .unwrap()
            .commit_input(&input, &[broken], &[], &[], None)
            .unwrap();
        let path = dir.path().join("alerts.jsonl");
        let config = crate::alert::sink::file::Config { path: path.clone() };
        let aws = aws_config::SdkConfig::builder().build();
        let sink = crate::alert::sink::Kind::build(&config, &crate::alert::sink::Env { aws: &aws })
            .unwrap();
        let outbox = Arc::new(Outbox::new(store.clone(), &Alerts::default()));
        outbox.finish();
        let entry = SinkEntry {
            name: "archive".into(),
            config: crate::alert::sink::SinkConfig::File(config),
            rate: None,
        };
        run(outbox, entry, sink).await;
        let dead = store.lock().unwrap().dead_letters().unwrap();
        assert_eq!(dead.len(), 1);
        assert!(
            dead[0].error.contains("unreadable finding"),
            "{}",
            dead[0].error
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap_or_default(), "");
    }
}
