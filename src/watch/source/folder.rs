//! A local folder: every file that appears in it (or changes) is read once it has stopped
//! growing (`--dir`).

use super::{Source, offer};
use crate::watch::{Origin, Shared, Work};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A folder to follow.
pub(crate) struct Folder {
    dir: PathBuf,
}

impl Folder {
    pub(crate) fn new(dir: PathBuf) -> Folder {
        Folder { dir }
    }
}

impl Source for Folder {
    fn run(self: Box<Self>, shared: Arc<Shared>, tx: mpsc::Sender<Work>) -> BoxFuture<'static, ()> {
        Box::pin(follow(shared, self.dir, tx))
    }
}

/// Follows a local folder: every file that appears (or changes) is read once it has stopped
/// growing.
async fn follow(shared: Arc<Shared>, dir: PathBuf, tx: mpsc::Sender<Work>) {
    let every = shared.settings.dir_interval;
    // Path → (size, mtime) seen at the previous look, to wait until a file stops changing.
    let mut last: HashMap<PathBuf, (u64, i128)> = HashMap::new();
    let mut first = true;
    let mut looks = 0u32;
    loop {
        looks += 1;
        let inputs = crate::source::file::collect(std::slice::from_ref(&dir));
        for e in &inputs.errors {
            tracing::warn!("{e}");
        }
        let mut seen = HashMap::new();
        for path in inputs.files {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let mtime = meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i128);
            let stamp = (meta.len(), mtime);
            seen.insert(path.clone(), stamp);
            if last.get(&path) != Some(&stamp) {
                continue;
            }
            let name = path.display().to_string();
            let version = format!("{}:{mtime}", meta.len());
            if shared.is_recorded(&name, &version) {
                continue;
            }
            let work = Work {
                name,
                version,
                origin: Origin::File(path),
                ticket: None,
            };
            if shared.stopping() || !offer(&shared, &tx, work).await {
                break;
            }
        }
        // Two looks see every file that was there at the start (a file is read once it is the
        // same at two looks).
        if looks >= 2 {
            shared.caught_up(&mut first);
        }
        last = seen;
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shared.stopped.notified() => {}
        }
        if shared.stopping() {
            return;
        }
    }
}
