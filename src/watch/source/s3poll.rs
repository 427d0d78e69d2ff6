//! An S3 prefix polled without notifications (`--s3`): listed every interval for the objects of
//! the lookback not yet recorded: log files, Insights, and digests when `watch` checks them.

use super::{Source, offer};
use crate::source::layout::{Kind, Plan, Scope};
use crate::source::s3;
use crate::watch::{Origin, Shared, Work};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A prefix to poll, `s3://bucket/prefix`, and the client to list and read it with.
pub(crate) struct S3Poll {
    url: String,
    client: Option<aws_sdk_s3::Client>,
}

impl S3Poll {
    pub(crate) fn new(url: String, client: Option<aws_sdk_s3::Client>) -> S3Poll {
        S3Poll { url, client }
    }
}

impl Source for S3Poll {
    fn name(&self) -> String {
        self.url.clone()
    }

    fn run(self: Box<Self>, shared: Arc<Shared>, tx: mpsc::Sender<Work>) -> BoxFuture<'static, ()> {
        Box::pin(poll(shared, self.url, self.client, tx))
    }
}

/// Polls an S3 prefix every `interval` for objects of the last `lookback` not yet recorded (a
/// set of processed keys, never a single "last key" marker, so late or out-of-order deliveries
/// are not skipped).
async fn poll(
    shared: Arc<Shared>,
    url: String,
    client: Option<aws_sdk_s3::Client>,
    tx: mpsc::Sender<Work>,
) {
    let Some((bucket, prefix)) = s3::parse_url(&url) else {
        tracing::error!("{url}: not an s3://bucket/prefix URL");
        shared.caught_up(&mut true);
        return;
    };
    let Some(client) = client else {
        shared.caught_up(&mut true);
        return;
    };
    let mut first = true;
    loop {
        let since = jiff::Timestamp::now()
            .checked_sub(
                jiff::SignedDuration::try_from(shared.settings.lookback).unwrap_or_default(),
            )
            .ok();
        let scope = Scope {
            since,
            ..Scope::default()
        };
        // Digests are listed too when `watch` checks them (`[integrity] digests`).
        let kinds: &[Kind] = if shared.settings.integrity.digests {
            &[Kind::Log, Kind::Insight, Kind::Digest]
        } else {
            &[Kind::Log, Kind::Insight]
        };
        let plan = Plan::with_kinds(&prefix, &scope, kinds);
        match s3::list_plan(&client, &bucket, plan).await {
            Ok((objects, _)) => {
                shared.source_up(&url);
                for o in objects {
                    let name = format!("s3://{bucket}/{}", o.key);
                    let version = o.etag.clone().unwrap_or_default();
                    if shared.is_recorded(&name, &version) {
                        continue;
                    }
                    let work = Work {
                        name,
                        version,
                        origin: Origin::S3 {
                            bucket: bucket.clone(),
                            key: o.key,
                        },
                        ticket: None,
                    };
                    if shared.stopping() || !offer(&shared, &tx, work).await {
                        break;
                    }
                }
            }
            Err(e) => {
                tracing::error!("{e}");
                shared.source_down(&url, e.to_string());
            }
        }
        shared.caught_up(&mut first);
        tokio::select! {
            _ = tokio::time::sleep(shared.settings.interval) => {}
            _ = shared.stopped.notified() => {}
        }
        if shared.stopping() {
            return;
        }
    }
}
