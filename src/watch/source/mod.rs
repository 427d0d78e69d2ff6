//! The watcher's sources, one file per kind: [`sqs`] (queues of S3, SNS or EventBridge
//! notifications), [`folder`] (local folders) and [`s3poll`] (S3 prefixes listed without
//! notifications). Each turns what it sees into [`Work`] and acknowledges an input only when the
//! committer says it is recorded.
//!
//! The watch loop knows sources only as [`Source`]s. Adding a kind of source is a file here
//! implementing the trait, plus a line in [`from_settings`].

mod folder;
mod s3poll;
mod sqs;

use super::{Outcome, Settings, Shared, Work};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Something the watcher follows for new inputs.
pub(crate) trait Source: Send {
    /// The source as named in `/readyz` and the metrics (a queue URL, a folder, an S3 URL).
    fn name(&self) -> String;

    /// Follows the source until the watcher stops: offers each new input on `tx` (with
    /// [`offer`]), acknowledges it when the committer finishes it as [`Outcome::Done`], and
    /// calls [`Shared::caught_up`] once when it has seen what was there at the start.
    fn run(self: Box<Self>, shared: Arc<Shared>, tx: mpsc::Sender<Work>) -> BoxFuture<'static, ()>;
}

/// The sources the settings name, in the order queues, folders, S3 prefixes.
pub(crate) fn from_settings(
    settings: &Settings,
    conf: &aws_config::SdkConfig,
    s3: Option<&aws_sdk_s3::Client>,
) -> Vec<Box<dyn Source>> {
    let mut sources: Vec<Box<dyn Source>> = Vec::new();
    for url in &settings.sqs {
        sources.push(Box::new(sqs::Sqs::new(conf, url)));
    }
    for dir in &settings.dirs {
        sources.push(Box::new(folder::Folder::new(dir.clone())));
    }
    for url in &settings.s3 {
        sources.push(Box::new(s3poll::S3Poll::new(url.clone(), s3.cloned())));
    }
    sources
}

/// Queues `work` unless the same input is already queued or being worked on.
async fn offer(shared: &Shared, tx: &mpsc::Sender<Work>, work: Work) -> bool {
    let fresh = shared
        .in_flight
        .lock()
        .map(|mut s| s.insert(work.name.clone()))
        .unwrap_or(false);
    if !fresh {
        // Being worked on for another message (SQS delivered it twice, or two notifications
        // name the same object): this message must wait for that work, so it is given back and
        // will find the input recorded when it returns.
        shared.finish(&work.ticket, Outcome::Failed);
        return true;
    }
    shared.touch();
    tx.send(work).await.is_ok()
}
