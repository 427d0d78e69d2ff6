//! An SQS queue of notifications (`--sqs`): S3 event notifications, the same through SNS, and
//! EventBridge events (whose records are read from the message itself). Messages stay invisible
//! while their work runs, are deleted once it is all recorded, and are given back when it failed
//! or the watcher stops first.

use super::{Source, offer};
use crate::aws;
use crate::source::notification::{self as notify, Notice};
use crate::source::sqs::{Message, Queue};
use crate::watch::{Origin, Outcome, Shared, Ticket, Work};
use futures_util::future::BoxFuture;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Where finished tickets are sent back to their queue.
type Acks = mpsc::UnboundedSender<(Arc<Ticket>, Outcome)>;

/// A queue to follow.
pub(crate) struct Sqs {
    queue: Queue,
}

impl Sqs {
    /// The queue at `url`, with a client for the region the URL names.
    pub(crate) fn new(conf: &aws_config::SdkConfig, url: &str) -> Sqs {
        let region = aws::queue_region(url).map(str::to_string);
        Sqs {
            queue: Queue::new(aws::sqs_client(conf, region.as_deref()), url),
        }
    }
}

impl Source for Sqs {
    fn name(&self) -> String {
        crate::config::redact_url(&self.queue.url)
    }

    fn run(self: Box<Self>, shared: Arc<Shared>, tx: mpsc::Sender<Work>) -> BoxFuture<'static, ()> {
        Box::pin(follow(shared, self.queue, tx))
    }
}

/// Follows an SQS queue: receives notifications, queues the work they announce, keeps messages
/// invisible while their work runs, deletes them once it is recorded, and gives them back when
/// it failed or the watcher stops first.
async fn follow(shared: Arc<Shared>, queue: Queue, tx: mpsc::Sender<Work>) {
    // Tickets whose work finished come back here, to delete or release their message.
    let (acks_tx, mut acks) = mpsc::unbounded_channel::<(Arc<Ticket>, Outcome)>();
    let visibility = shared.settings.visibility.as_secs().clamp(1, 43_200) as i32;
    let name = queue.url.rsplit('/').next().unwrap_or("queue").to_string();
    // The queue in the metrics and /readyz.
    let label = crate::config::redact_url(&queue.url);
    // Message id → (receipt, when its visibility runs out).
    let mut open: HashMap<String, (String, Instant)> = HashMap::new();
    let mut poison_logged: HashSet<String> = HashSet::new();
    let mut tx = Some(tx);
    // Receiving runs on its own task, so that a long poll is never cancelled halfway (which
    // would hide the messages it returned until their visibility timeout).
    let (msg_tx, mut msg_rx) = mpsc::channel::<Vec<Message>>(1);
    let receiver = tokio::spawn(receive_loop(
        shared.clone(),
        queue.clone(),
        label.clone(),
        visibility,
        msg_tx,
    ));
    let mut tick = tokio::time::interval(Duration::from_millis(
        (visibility as u64 * 1000 / 3).clamp(200, 5000),
    ));
    // When stopping: how long work in progress may still take before its messages are given
    // back unacknowledged (they are read again later; nothing is lost).
    let mut give_up: Option<Instant> = None;
    loop {
        shared.metrics.in_flight(&label, open.len());
        let receiving = !shared.stopping() && tx.is_some();
        if !receiving {
            tx = None;
            let deadline = *give_up.get_or_insert_with(|| Instant::now() + Duration::from_secs(60));
            if Instant::now() >= deadline && !open.is_empty() {
                tracing::warn!(
                    "{name}: {} message(s) still in progress at shutdown; given back to the queue",
                    open.len()
                );
                for (receipt, _) in open.values() {
                    let _ = queue.set_visibility(receipt, 0).await;
                }
                open.clear();
            }
            if open.is_empty() {
                receiver.abort();
                // A batch received after the stop: give it back at once.
                while let Ok(batch) = msg_rx.try_recv() {
                    for m in batch {
                        let _ = queue.set_visibility(&m.receipt, 0).await;
                    }
                }
                return;
            }
        }
        tokio::select! {
            biased;
            Some((ticket, outcome)) = acks.recv() => {
                open.remove(&ticket.message_id);
                match outcome {
                    Outcome::Done => {
                        if let Err(e) = queue.delete(&ticket.receipt).await {
                            // Recorded anyway: a redelivery will be skipped as already done.
                            tracing::warn!("{e}");
                        }
                    }
                    Outcome::Failed => {
                        let _ = queue.set_visibility(&ticket.receipt, visibility.min(30)).await;
                    }
                }
            }
            _ = tick.tick() => {
                // Extend messages whose work is still running before SQS hands them out again.
                let soon = Instant::now() + Duration::from_millis(visibility as u64 * 1000 / 2);
                for (id, (receipt, until)) in open.iter_mut() {
                    if *until <= soon {
                        match queue.set_visibility(receipt, visibility).await {
                            Ok(()) => *until = Instant::now() + Duration::from_secs(visibility as u64),
                            Err(e) => tracing::warn!("message {id}: {e}"),
                        }
                    }
                }
                if shared.stopping() && !open.is_empty() {
                    tracing::info!("{name}: waiting for {} message(s) in progress", open.len());
                }
            }
            Some(messages) = msg_rx.recv(), if receiving => {
                if !messages.is_empty() {
                    shared.touch();
                    shared.metrics.messages(&label, messages.len() as u64);
                    let now = jiff::Timestamp::now().as_millisecond();
                    if let Some(oldest) = messages.iter().filter_map(|m| m.sent_at).min() {
                        let lag = Duration::from_millis((now - oldest).max(0) as u64);
                        shared.metrics.message_lag(&label, lag);
                    }
                }
                let Some(sender) = tx.as_ref() else { continue };
                for m in messages {
                    shared.stats.messages.fetch_add(1, Ordering::Relaxed);
                    let until = Instant::now() + Duration::from_secs(visibility as u64);
                    match plan_message(&name, &m, &acks_tx, shared.settings.integrity.digests) {
                        Planned::Work(ticket, works) => {
                            open.insert(m.id.clone(), (m.receipt.clone(), until));
                            for w in works {
                                offer(&shared, sender, w).await;
                            }
                            drop(ticket);
                        }
                        Planned::Nothing(reason) => {
                            tracing::debug!("message {}: {reason}; deleted", m.id);
                            if let Err(e) = queue.delete(&m.receipt).await {
                                tracing::warn!("{e}");
                            }
                        }
                        Planned::Poison(reason) => {
                            shared.stats.poison.fetch_add(1, Ordering::Relaxed);
                            shared.metrics.poison(&label);
                            if poison_logged.insert(m.id.clone()) {
                                tracing::error!(
                                    "message {} on {name} (received {} time(s)): {reason}; left for the queue's redrive policy",
                                    m.id, m.receive_count
                                );
                            }
                            let secs = shared.settings.poison_backoff.as_secs().min(43_200) as i32;
                            let _ = queue.set_visibility(&m.receipt, secs).await;
                        }
                    }
                }
            }
        }
    }
}

enum Planned {
    Work(Arc<Ticket>, Vec<Work>),
    Nothing(String),
    Poison(String),
}

/// What a message asks for.
fn plan_message(queue: &str, m: &Message, acks: &Acks, digests: bool) -> Planned {
    let notice = match notify::parse(&m.body) {
        Ok(n) => n,
        Err(e) => return Planned::Poison(e.to_string()),
    };
    let works: Vec<(String, String, Origin)> = match notice {
        Notice::Ignore(reason) => return Planned::Nothing(reason),
        Notice::Inline(text) => vec![(
            format!("sqs://{queue}/{}", m.id),
            String::new(),
            Origin::Inline(text),
        )],
        Notice::Objects(objects) => objects
            .into_iter()
            .filter(|o| digests || !o.key.contains("/CloudTrail-Digest/"))
            .map(|o| {
                let version = o.etag.or(o.sequencer).unwrap_or_default();
                (
                    format!("s3://{}/{}", o.bucket, o.key),
                    version,
                    Origin::S3 {
                        bucket: o.bucket,
                        key: o.key,
                    },
                )
            })
            .collect(),
    };
    if works.is_empty() {
        return Planned::Nothing("only digest files".into());
    }
    let ticket = Arc::new(Ticket {
        message_id: m.id.clone(),
        receipt: m.receipt.clone(),
        remaining: AtomicUsize::new(works.len()),
        failed: AtomicBool::new(false),
        acks: acks.clone(),
    });
    let works = works
        .into_iter()
        .map(|(name, version, origin)| Work {
            name,
            version,
            origin,
            ticket: Some(ticket.clone()),
        })
        .collect();
    Planned::Work(ticket, works)
}

/// Long-polls the queue until the watcher stops, handing each batch to [`follow`].
async fn receive_loop(
    shared: Arc<Shared>,
    queue: Queue,
    label: String,
    visibility: i32,
    out: mpsc::Sender<Vec<Message>>,
) {
    let mut backoff = Duration::from_secs(1);
    let mut first = true;
    // With --idle-exit, poll no longer than the idle time, so an empty queue is noticed.
    let wait = shared
        .settings
        .idle_exit
        .map_or(20, |d| d.as_secs().clamp(1, 20) as i32);
    // The first receive, and the first after a failure, do not wait: a queue that answers is
    // reported ready at once, not after a long poll.
    let mut short = true;
    while !shared.stopping() {
        let wait = if short { 0 } else { wait };
        match queue.receive(10, wait, Some(visibility)).await {
            Ok(m) => {
                backoff = Duration::from_secs(1);
                shared.source_up(&label);
                // A short poll may answer empty while messages wait: only an empty long poll
                // means the queue has been caught up with.
                let was_short = std::mem::take(&mut short);
                if m.is_empty() {
                    if !was_short {
                        shared.caught_up(&mut first);
                    }
                    continue;
                }
                if out.send(m).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                short = true;
                // Nothing can be read now: for --idle-exit that counts as caught up.
                shared.caught_up(&mut first);
                shared.source_down(&label, e.to_string());
                tracing::error!("{e}; retrying in {}s", backoff.as_secs());
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shared.stopped.notified() => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
}
