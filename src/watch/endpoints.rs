//! The watcher's HTTP endpoints (`watch --listen ADDR`), for Prometheus and the orchestrator:
//!
//! - `/metrics`: every [`crate::metrics::Metrics`] family in the Prometheus text format, with the
//!   state store's backlog (outbox depth and age, dead letters) read at scrape time.
//! - `/healthz`: the process is alive and its state store has not failed (503 once it has: the
//!   watcher is stopping and should be restarted).
//! - `/readyz`: ready to do its job: the state store answers and is still the file it opened,
//!   and every source answered its last look (a queue that cannot be received from, a folder
//!   that is gone). 503 with the reasons otherwise, and while starting or stopping.
//!
//! Served with hyper's HTTP/1 server on the watcher's tokio runtime; nothing here holds up the
//! watcher: the store is asked with a time limit.

use super::Shared;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long the state store may take to answer a probe or a scrape.
const STORE_WAIT: Duration = Duration::from_secs(5);

/// The listening address could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("--listen {addr}: {source}")]
pub struct ListenError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// Binds `addr` (before anything starts, so a taken port is a start-up error).
pub(super) async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ListenError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError { addr, source })
}

/// Serves the endpoints until the task is aborted.
pub(super) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("serving /metrics, /healthz and /readyz on http://{addr}");
    }
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment rather than spin.
                tracing::warn!("endpoints: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(respond(&shared, &req).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(io, service);
            if let Err(e) = conn.await {
                tracing::debug!("endpoints: connection ended: {e}");
            }
        });
    }
}

fn text(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

async fn respond<B>(shared: &Arc<Shared>, req: &Request<B>) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, PLAIN, "GET only\n".into());
    }
    match req.uri().path() {
        "/metrics" => {
            refresh(shared).await;
            let body = shared.metrics.encode();
            text(StatusCode::OK, crate::metrics::CONTENT_TYPE, body)
        }
        "/healthz" => {
            if shared.fatal.load(std::sync::atomic::Ordering::SeqCst) {
                let body = "unhealthy: the state store failed; the watcher is stopping\n";
                text(StatusCode::SERVICE_UNAVAILABLE, PLAIN, body.into())
            } else {
                text(StatusCode::OK, PLAIN, "ok\n".into())
            }
        }
        "/readyz" => {
            let problems = readiness(shared).await;
            if problems.is_empty() {
                text(StatusCode::OK, PLAIN, "ready\n".into())
            } else {
                let mut body = String::from("not ready\n");
                for p in problems {
                    body.push_str(&p);
                    body.push('\n');
                }
                text(StatusCode::SERVICE_UNAVAILABLE, PLAIN, body)
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            PLAIN,
            "not found: /metrics, /healthz, /readyz\n".into(),
        ),
    }
}

/// Runs `f` on the store on a blocking thread, giving up after [`STORE_WAIT`].
async fn with_store<T: Send + 'static>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&crate::state::Store) -> T + Send + 'static,
) -> Result<T, String> {
    let store = shared.store.clone();
    let job = tokio::task::spawn_blocking(move || {
        let guard = store
            .lock()
            .map_err(|_| "state store lock poisoned".to_string())?;
        Ok(f(&guard))
    });
    match tokio::time::timeout(STORE_WAIT, job).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(format!("state store probe failed: {e}")),
        Err(_) => Err(format!(
            "the state store did not answer within {}s",
            STORE_WAIT.as_secs()
        )),
    }
}

/// Why the watcher is not ready (empty: ready).
async fn readiness(shared: &Arc<Shared>) -> Vec<String> {
    let mut problems = Vec::new();
    if shared.stopping() {
        problems.push("stopping".to_string());
    }
    let metrics = shared.metrics.clone();
    let checked = with_store(shared, move |s| {
        metrics.time_state("check", || s.check().map_err(|e| e.to_string()))
    })
    .await;
    if let Err(e) = checked.and_then(|r| r) {
        problems.push(format!("state: {e}"));
    }
    for (name, problem) in shared.health.problems() {
        problems.push(format!("source {name}: {problem}"));
    }
    problems
}

/// Sets the gauges read at scrape time: the store's backlog per sink, and the event lag.
async fn refresh(shared: &Arc<Shared>) {
    let metrics = shared.metrics.clone();
    let backlog = with_store(shared, move |s| {
        metrics.time_state("backlog", || s.backlog())
    })
    .await;
    let now = jiff::Timestamp::now().as_second();
    match backlog {
        Ok(Ok(rows)) => {
            // Sinks with nothing waiting are shown as 0, not left out.
            for sink in shared.sink_names() {
                let row = rows.iter().find(|r| r.sink == sink);
                let (pending, oldest, dead) =
                    row.map_or((0, None, 0), |r| (r.pending, r.oldest, r.dead_letters));
                shared
                    .metrics
                    .set_backlog(&sink, pending, oldest, dead, now);
            }
        }
        Ok(Err(e)) => tracing::warn!("/metrics: {e}"),
        Err(e) => tracing::warn!("/metrics: {e}"),
    }
    let newest = shared
        .stats
        .newest_event
        .load(std::sync::atomic::Ordering::Relaxed);
    if newest > 0 {
        let lag = (now - newest as i64).max(0) as u64;
        shared.metrics.event_lag(Duration::from_secs(lag));
    }
}
