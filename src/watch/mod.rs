//! `trailwatch watch`: follows new CloudTrail data in real time and records every finding exactly
//! once.
//!
//! Sources (`source`: SQS queues, local folders, S3 polling, each behind the `Source` trait) put
//! [`Work`] on a bounded queue,
//! which is the backpressure: a source waits when the workers are busy. Workers fetch and scan in
//! parallel. One committer thread (`commit`) applies dedup windows and thresholds in commit
//! order, records each input with its findings in the state store in one transaction, writes the
//! findings to the output, and only then lets the source acknowledge the input (an SQS message is
//! deleted when every object it named has been recorded). A crash at any point leaves either an
//! unacknowledged input, which is read again, or a recorded one, which is skipped; findings are
//! keyed by rule and event, so nothing is reported twice.

mod commit;
mod endpoints;
mod health;
pub mod integrity;
mod source;

use crate::aws::{self, AwsOptions};
use crate::engine::{Engine, Filter};
use crate::metrics::{InputOutcome, Metrics};
use crate::scan::{Options, Report};
use crate::source::s3;
use crate::state::Store;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

pub use commit::{Output, OutputFormat};
pub use endpoints::ListenError;
use health::Health;

/// Everything `watch` needs besides the rules.
#[derive(Debug, Clone)]
pub struct Settings {
    pub sqs: Vec<String>,
    pub dirs: Vec<PathBuf>,
    pub s3: Vec<String>,
    /// How often `--s3` prefixes are listed, and `--dir` folders looked at.
    pub interval: Duration,
    /// How long a `--dir` file must stay the same before it is read.
    pub dir_interval: Duration,
    /// How often `--dir` folders are walked in full besides their file notifications.
    pub dir_rescan: Duration,
    /// How far back `--s3` polling looks for objects not yet processed.
    pub lookback: Duration,
    pub state: PathBuf,
    /// Processed inputs and delivered findings older than this are pruned.
    pub retention: Duration,
    pub aws: AwsOptions,
    pub scan: Options,
    /// Inputs fetched and scanned at once.
    pub concurrency: usize,
    /// SQS visibility timeout kept on messages being worked on.
    pub visibility: Duration,
    /// How long a message whose body cannot be understood stays invisible before SQS hands it out
    /// again (and eventually moves it to the dead-letter queue by its redrive policy).
    pub poison_backoff: Duration,
    /// What to do with a notification for an object that no longer exists.
    pub on_missing: OnMissing,
    pub output: Output,
    /// What the output's lines are: trailwatch findings, or OCSF Detection Findings.
    pub output_format: OutputFormat,
    /// Alert sinks and routes (empty: findings go to the output only).
    pub alerts: crate::alert::config::Alerts,
    pub status_every: Duration,
    /// Where /metrics, /healthz and /readyz are served (`None`: not served).
    pub listen: Option<std::net::SocketAddr>,
    /// Stop after this long without work (tests, scheduled runs); `None` runs until a signal.
    pub idle_exit: Option<Duration>,
    /// What is checked of the trail itself: digests, lateness, silence.
    pub integrity: integrity::Settings,
}

/// Policy for notifications of objects deleted before they could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnMissing {
    /// Report it, record the input as unreadable, and delete the message.
    Ack,
    /// Report it and leave the message for the queue's redrive policy.
    Retry,
}

/// Where a piece of work comes from.
#[derive(Debug, Clone)]
pub enum Origin {
    S3 {
        bucket: String,
        key: String,
    },
    /// A message body holding records (EventBridge), scanned like a file.
    Inline(String),
    File(PathBuf),
}

/// One input to read, with what acknowledges it.
#[derive(Debug, Clone)]
pub struct Work {
    /// The input's name: `s3://bucket/key`, a path, or `sqs://queue/message-id`.
    pub name: String,
    /// The version recorded in the state store (ETag, sequencer, size and mtime).
    pub version: String,
    pub origin: Origin,
    pub ticket: Option<Arc<Ticket>>,
}

/// What a finished piece of work tells its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded (or already recorded): the source may acknowledge.
    Done,
    /// Not recorded (transient failure, or shutdown): the source must not acknowledge.
    Failed,
}

/// An SQS message's acknowledgement, shared by the pieces of work it announced.
#[derive(Debug)]
pub struct Ticket {
    pub message_id: String,
    pub receipt: String,
    remaining: AtomicUsize,
    failed: AtomicBool,
    /// Where the finished ticket goes back to: its queue's source.
    acks: mpsc::UnboundedSender<(Arc<Ticket>, Outcome)>,
}

/// Counters for the status line and the final summary.
#[derive(Debug, Default)]
pub struct Stats {
    pub inputs: AtomicU64,
    pub skipped: AtomicU64,
    pub records: AtomicU64,
    pub findings: AtomicU64,
    pub duplicates: AtomicU64,
    pub errors: AtomicU64,
    pub messages: AtomicU64,
    pub poison: AtomicU64,
    /// Newest event time of a recorded finding, in seconds.
    pub newest_event: AtomicU64,
}

/// The shared parts of a running watcher.
pub(crate) struct Shared {
    pub settings: Settings,
    pub engine: Arc<Engine>,
    pub filter: Arc<Filter>,
    pub store: Arc<Mutex<Store>>,
    /// What the alert deliveries share with the committer (the same store).
    pub outbox: Arc<crate::alert::Outbox>,
    pub stats: Stats,
    pub stop: AtomicBool,
    pub stopped: Notify,
    /// Inputs queued or being worked on (never queued twice).
    pub in_flight: Mutex<std::collections::HashSet<String>>,
    pub last_activity: Mutex<std::time::Instant>,
    pub s3: Option<aws_sdk_s3::Client>,
    /// Set when the state store failed: the watcher stops and exits with status 1.
    pub fatal: AtomicBool,
    /// Sources that have not yet caught up once (an empty receive, a full look at their folder
    /// or prefix); `--idle-exit` waits for all of them.
    pub catching_up: AtomicUsize,
    pub metrics: Arc<Metrics>,
    pub health: Health,
    /// CloudTrail's public keys, for digest signatures.
    pub keys: tokio::sync::Mutex<integrity::Keys>,
}

/// What a worker hands the committer: the input, its scan, and the digest it was, if one.
pub(crate) type Done = (Work, Report, Option<Box<integrity::DigestSeen>>);

impl Shared {
    /// The source `name` answered its look.
    pub fn source_up(&self, name: &str) {
        self.health.set(name, None);
        self.metrics.source_up(name, true);
    }

    /// The source `name` could not be looked at (`why`).
    pub fn source_down(&self, name: &str, why: String) {
        self.health.set(name, Some(why));
        self.metrics.source_up(name, false);
    }

    /// The outbox's sinks: the output, then the alert sinks.
    pub fn sink_names(&self) -> Vec<String> {
        let mut names = vec![self.settings.output.sink()];
        names.extend(self.settings.alerts.sinks.iter().map(|s| s.name.clone()));
        names
    }

    /// A source has caught up for the first time (see `catching_up`).
    pub fn caught_up(&self, first: &mut bool) {
        if std::mem::take(first) {
            self.catching_up.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Whether this version of an input is already recorded (a store error counts as "no": the
    /// input is read again and its findings deduplicated).
    pub fn is_recorded(&self, name: &str, version: &str) -> bool {
        self.store
            .lock()
            .ok()
            .and_then(|s| {
                (self.metrics)
                    .time_state("is_done", || s.is_done(name, version))
                    .ok()
            })
            .unwrap_or(false)
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub fn touch(&self) {
        if let Ok(mut t) = self.last_activity.lock() {
            *t = std::time::Instant::now();
        }
    }

    /// Marks one piece of a ticket's work finished; the last one hands the ticket back to its
    /// queue to be deleted (all done) or released (something failed).
    pub fn finish(&self, ticket: &Option<Arc<Ticket>>, outcome: Outcome) {
        let Some(t) = ticket else { return };
        if outcome == Outcome::Failed {
            t.failed.store(true, Ordering::SeqCst);
        }
        if t.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
            let outcome = if t.failed.load(Ordering::SeqCst) {
                Outcome::Failed
            } else {
                Outcome::Done
            };
            let _ = t.acks.send((t.clone(), outcome));
        }
    }
}

/// The watcher's exit: what it did.
pub struct Summary {
    /// The watcher stopped because its state store failed.
    pub fatal: bool,
    pub inputs: u64,
    pub skipped: u64,
    pub records: u64,
    pub findings: u64,
    pub duplicates: u64,
    pub errors: u64,
}

/// Runs the watcher until SIGINT/SIGTERM (or `idle_exit`). Errors are returned only for what
/// prevents starting (state store, output, AWS configuration); everything after is logged.
pub async fn run(settings: Settings, engine: Engine, filter: Filter) -> anyhow::Result<Summary> {
    let store = Arc::new(Mutex::new(Store::open_exclusive(&settings.state)?));
    let listener = match settings.listen {
        Some(addr) => Some(endpoints::bind(addr).await?),
        None => None,
    };
    let metrics = Arc::new(Metrics::new());
    let outbox = Arc::new(crate::alert::Outbox {
        metrics: metrics.clone(),
        ..crate::alert::Outbox::new(store.clone(), &settings.alerts)
    });
    let conf = if needs_aws(&settings) {
        aws::sdk_config(&settings.aws).await
    } else {
        // Nothing talks to AWS: no credential, region or instance-metadata look-up at all.
        tracing::debug!("no AWS source or sink: AWS configuration not loaded");
        aws_config::SdkConfig::builder().build()
    };
    let needs_s3 = !settings.sqs.is_empty() || !settings.s3.is_empty();
    let s3_client = needs_s3.then(|| aws::s3_client(&conf, None));
    let sources = source::from_settings(&settings, &conf, s3_client.as_ref());
    let keys = integrity::Keys::load(&settings.integrity.public_keys, needs_s3)
        .map_err(|e| anyhow::anyhow!("public keys: {e}"))?;
    let shared = Arc::new(Shared {
        engine: Arc::new(engine),
        filter: Arc::new(filter),
        store,
        outbox,
        stats: Stats::default(),
        stop: AtomicBool::new(false),
        stopped: Notify::new(),
        in_flight: Mutex::new(Default::default()),
        last_activity: Mutex::new(std::time::Instant::now()),
        s3: s3_client,
        fatal: AtomicBool::new(false),
        catching_up: AtomicUsize::new(sources.len()),
        metrics,
        health: Health::default(),
        keys: tokio::sync::Mutex::new(keys),
        settings,
    });
    for s in &sources {
        shared.health.register(&s.name());
        shared.metrics.source_up(&s.name(), false);
    }
    for q in &shared.settings.sqs {
        shared.metrics.add_queue(&crate::config::redact_url(q));
    }
    for s in &shared.settings.alerts.sinks {
        shared.metrics.add_sink(&s.name);
    }
    let server = listener.map(|l| tokio::spawn(endpoints::serve(l, shared.clone())));
    // Sinks are checked before anything starts.
    let env = crate::alert::sink::Env { aws: &conf };
    let mut targets = Vec::new();
    for entry in shared.settings.alerts.sinks.clone() {
        let sink = entry
            .config
            .kind()
            .build(&env)
            .map_err(|e| anyhow::anyhow!("sink {}: {e}", entry.name))?;
        targets.push((entry, sink));
    }
    let (work_tx, work_rx) = mpsc::channel::<Work>(shared.settings.concurrency * 2);
    let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<Done>(shared.settings.concurrency * 2);
    let committer = commit::start(shared.clone(), done_rx)?;

    let mut tasks = tokio::task::JoinSet::new();
    for source in sources {
        tasks.spawn(source.run(shared.clone(), work_tx.clone()));
    }
    drop(work_tx);
    tasks.spawn(status(shared.clone()));
    let mut deliveries = tokio::task::JoinSet::new();
    for (entry, sink) in targets {
        deliveries.spawn(crate::alert::deliver::run(
            shared.outbox.clone(),
            entry,
            sink,
        ));
    }
    let workers = tokio::spawn(workers(shared.clone(), work_rx, done_tx));

    wait_for_stop(&shared).await;
    tracing::info!("stopping: finishing work in progress");
    shared.stop.store(true, Ordering::SeqCst);
    shared.stopped.notify_waiters();
    // Sources stop taking new work; workers drain what is queued; the committer records it.
    let _ = workers.await;
    while tasks.join_next().await.is_some() {}
    let _ = tokio::task::spawn_blocking(move || committer.join()).await;
    // Deliveries get a last chance to send what the final inputs produced.
    shared.outbox.wake();
    tokio::time::sleep(Duration::from_millis(200)).await;
    shared.outbox.finish();
    let grace = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(grace);
    loop {
        tokio::select! {
            next = deliveries.join_next() => if next.is_none() { break },
            _ = &mut grace => { deliveries.abort_all(); break }
        }
    }
    if let Some(server) = server {
        server.abort();
    }
    let s = &shared.stats;
    Ok(Summary {
        fatal: shared.fatal.load(Ordering::SeqCst),
        inputs: s.inputs.load(Ordering::SeqCst),
        skipped: s.skipped.load(Ordering::SeqCst),
        records: s.records.load(Ordering::SeqCst),
        findings: s.findings.load(Ordering::SeqCst),
        duplicates: s.duplicates.load(Ordering::SeqCst),
        errors: s.errors.load(Ordering::SeqCst),
    })
}

/// Whether any source or sink talks to AWS (and so needs credentials and a region).
fn needs_aws(settings: &Settings) -> bool {
    !settings.sqs.is_empty()
        || !settings.s3.is_empty()
        || (settings.alerts.sinks.iter()).any(|s| s.config.kind().uses_aws())
}

async fn wait_for_stop(shared: &Shared) {
    let idle = async {
        let Some(limit) = shared.settings.idle_exit else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let quiet = shared
                .last_activity
                .lock()
                .map(|t| t.elapsed() >= limit)
                .unwrap_or(true);
            let busy = shared
                .in_flight
                .lock()
                .map(|s| !s.is_empty())
                .unwrap_or(false);
            // Every source must have looked once at what was there at the start: a slow first
            // listing is not idleness.
            let caught_up = shared.catching_up.load(Ordering::SeqCst) == 0;
            if quiet && !busy && caught_up {
                return;
            }
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
        _ = idle => {}
    }
}

/// Fetches and scans work on `concurrency` tasks at once, handing reports to the committer.
async fn workers(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Work>,
    done: std::sync::mpsc::SyncSender<Done>,
) {
    let limit = Arc::new(tokio::sync::Semaphore::new(shared.settings.concurrency));
    let mut running = tokio::task::JoinSet::new();
    while let Some(work) = rx.recv().await {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let (shared, done) = (shared.clone(), done.clone());
        running.spawn(async move {
            let _permit = permit;
            match read(&shared, &work).await {
                Ok((report, digest)) => {
                    let done = done.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        done.send((work, report, digest)).is_ok()
                    })
                    .await;
                }
                Err(outcome) => {
                    if outcome == Outcome::Failed {
                        shared.metrics.input(InputOutcome::Failed);
                    }
                    forget(&shared, &work.name);
                    shared.finish(&work.ticket, outcome);
                }
            }
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

/// Removes an input from the in-flight set.
pub(crate) fn forget(shared: &Shared, name: &str) {
    if let Ok(mut s) = shared.in_flight.lock() {
        s.remove(name);
    }
}

/// What a worker read: the scan, and the digest it was, if one.
type Read = (Report, Option<Box<integrity::DigestSeen>>);

/// Reads and scans one input (or, for a digest, reads it for the trail's integrity). `Err`
/// means nothing was recorded and the input must be offered again (`Failed`) or was already
/// recorded (`Done`).
async fn read(shared: &Arc<Shared>, work: &Work) -> Result<Read, Outcome> {
    if shared.is_recorded(&work.name, &work.version) {
        tracing::debug!(input = %work.name, "already recorded; skipped");
        shared.stats.skipped.fetch_add(1, Ordering::Relaxed);
        shared.metrics.input(InputOutcome::AlreadyRecorded);
        return Err(Outcome::Done);
    }
    let (engine, filter, opts) = (
        shared.engine.clone(),
        shared.filter.clone(),
        shared.settings.scan.clone(),
    );
    let name = work.name.clone();
    let digest = shared
        .settings
        .integrity
        .digests
        .then(|| integrity::digest_name(&work.origin))
        .flatten();
    let mut metadata = None;
    let bytes = match &work.origin {
        Origin::Inline(body) => body.clone().into_bytes(),
        Origin::File(path) => match tokio::fs::read(path).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("{}: {e}", path.display());
                shared.stats.errors.fetch_add(1, Ordering::Relaxed);
                return Err(Outcome::Failed);
            }
        },
        Origin::S3 { bucket, key } => {
            let Some(client) = &shared.s3 else {
                return Err(Outcome::Failed);
            };
            match s3::get_with_metadata(client, bucket, key, opts.max_size).await {
                Ok((b, _, m)) => {
                    metadata = Some(m);
                    b
                }
                Err(e @ s3::S3Error::Missing { .. }) => {
                    tracing::error!("{e}");
                    shared.stats.errors.fetch_add(1, Ordering::Relaxed);
                    if shared.settings.on_missing == OnMissing::Retry {
                        return Err(Outcome::Failed);
                    }
                    // Recorded as an unreadable input, so the message can be deleted.
                    return Ok((
                        Report {
                            name,
                            error: Some("no such object".into()),
                            ..Report::default()
                        },
                        None,
                    ));
                }
                Err(e) => {
                    tracing::error!("{e}; will retry");
                    shared.stats.errors.fetch_add(1, Ordering::Relaxed);
                    return Err(Outcome::Failed);
                }
            }
        }
    };
    if let Some((key, digest_name)) = digest {
        let seen = integrity::read(
            shared,
            &work.origin,
            key,
            digest_name,
            &bytes,
            metadata.as_ref(),
        )
        .await;
        let report = Report {
            name,
            digest: true,
            bytes: bytes.len() as u64,
            ..Report::default()
        };
        return Ok((report, Some(Box::new(seen))));
    }
    let report = tokio::task::spawn_blocking(move || {
        crate::scan::scan_blob(&name, &bytes, &engine, &filter, &opts)
    })
    .await
    .map_err(|_| Outcome::Failed)?;
    Ok((report, None))
}

/// Logs a status line every `status_every`.
async fn status(shared: Arc<Shared>) {
    let every = shared.settings.status_every;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shared.stopped.notified() => return,
        }
        if shared.stopping() {
            return;
        }
        let s = &shared.stats;
        let newest = s.newest_event.load(Ordering::Relaxed);
        let lag = (newest > 0)
            .then(|| jiff::Timestamp::now().as_second() - newest as i64)
            .map(|l| format!("{l}s"))
            .unwrap_or_else(|| "-".into());
        tracing::info!(
            "status: {} input(s) read, {} skipped as already recorded, {} record(s), {} finding(s) ({} repeated), {} error(s), {} message(s), newest finding's event lag {lag}",
            s.inputs.load(Ordering::Relaxed),
            s.skipped.load(Ordering::Relaxed),
            s.records.load(Ordering::Relaxed),
            s.findings.load(Ordering::Relaxed),
            s.duplicates.load(Ordering::Relaxed),
            s.errors.load(Ordering::Relaxed),
            s.messages.load(Ordering::Relaxed),
        );
    }
}
