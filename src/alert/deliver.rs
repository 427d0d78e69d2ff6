//! The delivery loop of one sink: takes what the outbox holds for it, sends, and records the
//! outcome — delivered, retried later with exponential backoff and jitter (or the receiver's
//! `Retry-After`), or moved to the dead letters once it has failed for longer than `max_age` or
//! can never succeed. Each sink has its own loop, so a failing sink never holds up the others or
//! the ingestion. Above the sink's rate limit, the rest of the period's findings go out as one
//! summary message; an email sink in digest mode sends one mail per period.

use super::config::{Sink, SinkConfig};
use super::send::Target;
use super::{Delivery, SendError};
use crate::state::Pending;
use crate::watch::Shared;
use futures_util::StreamExt;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Outbox rows taken at a time.
const BATCH: usize = 200;

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

fn delivery(p: &Pending) -> Delivery {
    Delivery {
        finding: serde_json::from_str(&p.body).unwrap_or(serde_json::Value::Null),
        idempotency_key: super::idempotency_key(&p.key),
        count: 1 + p.repeats.max(0) as u64,
    }
}

/// Runs until the watcher has finished its inputs and nothing more is due.
pub(crate) async fn run(shared: Arc<Shared>, sink: Sink, target: Target) {
    let name = sink.name.clone();
    let max_age = shared.settings.alerts.max_age.as_secs() as i64;
    let digest = match &sink.config {
        SinkConfig::Email { digest, .. } => digest.filter(|d| !d.is_zero()),
        _ => None,
    };
    // Rate limit: messages sent in the current period, and findings held for its summary.
    let mut period = Instant::now();
    let mut sent = 0u32;
    let mut held: Vec<Pending> = Vec::new();
    let mut held_ids: HashSet<i64> = HashSet::new();
    let mut digest_started = Instant::now();
    let mut pause: Option<Instant> = None;
    loop {
        let finishing = shared.delivering_done.load(Ordering::SeqCst);
        if target.threads() {
            post_repeats(&shared, &name, &target).await;
        }
        let due = shared
            .store
            .lock()
            .ok()
            .and_then(|s| {
                s.pending(&name, BATCH)
                    .map_err(|e| tracing::error!("{e}"))
                    .ok()
            })
            .unwrap_or_default();
        let due: Vec<Pending> = due
            .into_iter()
            .filter(|p| !held_ids.contains(&p.finding_id))
            .collect();
        // More may be waiting right behind a full batch: go round again without sleeping.
        let more = digest.is_none() && due.len() >= BATCH && pause.is_none();
        if let Some(every) = digest {
            // Digest mode: everything due goes out together once per period.
            if !due.is_empty() && (digest_started.elapsed() >= every || finishing) {
                let items: Vec<Delivery> = due.iter().map(delivery).collect();
                let ids: Vec<i64> = due.iter().map(|p| p.finding_id).collect();
                match target.send_summary(&items, "digest").await {
                    Ok(()) => mark(&shared, &name, &ids),
                    Err(e) => {
                        for p in &due {
                            failed(&shared, &name, p, &e, max_age);
                        }
                    }
                }
                digest_started = Instant::now();
            }
        } else if pause.is_none_or(|until| Instant::now() >= until) {
            pause = None;
            let mut done = Vec::new();
            let mut batch = Vec::new();
            for p in due {
                if let Some((limit, per)) = sink.rate {
                    if period.elapsed() >= per {
                        flush_held(&shared, &name, &target, &mut held, &mut held_ids, max_age)
                            .await;
                        period = Instant::now();
                        sent = 0;
                    }
                    if sent >= limit {
                        held_ids.insert(p.finding_id);
                        held.push(p);
                        continue;
                    }
                    sent += 1;
                }
                batch.push(p);
            }
            // Several requests in flight for receivers that do not care about order; the
            // outcomes are handled in order.
            let target = &target;
            let mut sends = futures_util::stream::iter(batch.into_iter().map(|p| async move {
                let result = target.send(&delivery(&p)).await;
                (p, result)
            }))
            .buffered(target.parallelism());
            while let Some((p, result)) = sends.next().await {
                match result {
                    Ok(None) => {
                        // Recorded in batches: a crash before the record means these are sent
                        // again, with the same idempotency keys (at least once).
                        done.push(p.finding_id);
                    }
                    Ok(Some(posted)) => {
                        if let Ok(mut store) = shared.store.lock() {
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
                        if let Some(wait) = failed(&shared, &name, &p, &e, max_age) {
                            pause = Some(Instant::now() + wait);
                            break;
                        }
                    }
                }
            }
            drop(sends);
            mark(&shared, &name, &done);
        }
        if let Some((_, per)) = sink.rate
            && !held.is_empty()
            && (period.elapsed() >= per || finishing)
        {
            flush_held(&shared, &name, &target, &mut held, &mut held_ids, max_age).await;
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
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// Sends the findings held back by the rate limit as one summary message.
async fn flush_held(
    shared: &Shared,
    name: &str,
    target: &Target,
    held: &mut Vec<Pending>,
    held_ids: &mut HashSet<i64>,
    max_age: i64,
) {
    if held.is_empty() {
        return;
    }
    let items: Vec<Delivery> = held.iter().map(delivery).collect();
    let why = format!("{} finding(s) above the sink's rate limit", items.len());
    match target.send_summary(&items, &why).await {
        Ok(()) => {
            let ids: Vec<i64> = held.iter().map(|p| p.finding_id).collect();
            mark(shared, name, &ids);
            tracing::info!("{name}: {why} sent as one summary");
        }
        Err(e) => {
            for p in held.iter() {
                failed(shared, name, p, &e, max_age);
            }
        }
    }
    held.clear();
    held_ids.clear();
}

fn mark(shared: &Shared, name: &str, ids: &[i64]) {
    if let Ok(mut store) = shared.store.lock()
        && let Err(e) = store.delivered(name, ids, None)
    {
        tracing::error!("{e}");
    }
}

/// Records a failed attempt: retry later, or dead letter when permanent or too old. Returns how
/// long to wait before the next attempt, when there is one.
fn failed(
    shared: &Shared,
    name: &str,
    p: &Pending,
    e: &SendError,
    max_age: i64,
) -> Option<Duration> {
    let now = jiff::Timestamp::now().as_second();
    let (dead, retry_at, wait) = match e {
        SendError::Permanent(_) => (true, now, None),
        SendError::Retry { after, .. } => {
            let initial = shared.settings.alerts.retry_initial;
            let wait =
                after.unwrap_or_else(|| backoff(p.attempts, seed() ^ p.finding_id as u64, initial));
            let dead = now - p.created_at > max_age;
            (
                dead,
                now + wait.as_secs().max(1) as i64,
                (!dead).then_some(wait),
            )
        }
    };
    if dead {
        tracing::error!(
            "{name}: finding {} not delivered, moved to dead letters: {e}",
            p.finding_id
        );
    } else {
        tracing::warn!(
            "{name}: finding {} not delivered ({e}); retrying",
            p.finding_id
        );
    }
    if let Ok(mut store) = shared.store.lock()
        && let Err(err) = store.failed(name, p.finding_id, &e.to_string(), retry_at, dead)
    {
        tracing::error!("{err}");
    }
    wait
}

/// Posts "N more like this" replies for findings whose repeats arrived after their message.
async fn post_repeats(shared: &Shared, name: &str, target: &Target) {
    let repeats = shared
        .store
        .lock()
        .ok()
        .and_then(|mut s| s.pending_repeats(name).ok())
        .unwrap_or_default();
    for r in repeats {
        let mut finding: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        if let Some(t) = &r.last_time {
            finding["last_time"] = t.clone().into();
        }
        let d = Delivery {
            finding,
            idempotency_key: format!("repeat-{}", r.finding_id),
            count: r.repeats.max(0) as u64,
        };
        let thread = super::send::Posted {
            channel: r.channel.clone(),
            ts: r.ts.clone(),
        };
        match target.send_repeat(&d, &thread).await {
            Ok(()) => {
                if let Ok(mut s) = shared.store.lock() {
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
}
