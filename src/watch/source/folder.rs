//! A local folder (`--dir`): every file that appears in it (or changes) is read once it has
//! stopped changing.
//!
//! The operating system tells us about changes (inotify, FSEvents, kqueue, through the `notify`
//! crate): a file named by a notification becomes a candidate, and is offered when it is the
//! same (size and modification time) `dir_interval` later. A full walk of the folder runs at
//! start and every `dir_rescan` as a fallback for what notifications can miss (an overflowing
//! event queue, network file systems); where notifications cannot be had at all, the folder is
//! walked every `dir_interval`, as before. An idle folder costs nothing between walks: files
//! already offered are remembered with their stamp and never looked up in the store again.

use super::{Source, offer};
use crate::source::file;
use crate::watch::{Origin, Shared, Work};
use futures_util::future::BoxFuture;
use notify::{EventKind, RecursiveMode, Watcher};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
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
    fn name(&self) -> String {
        self.dir.display().to_string()
    }

    fn run(self: Box<Self>, shared: Arc<Shared>, tx: mpsc::Sender<Work>) -> BoxFuture<'static, ()> {
        Box::pin(follow(shared, self.dir, tx))
    }
}

/// A file's size and modification time (nanoseconds): it has stopped changing when these are
/// the same at two looks.
type Stamp = (u64, i128);

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    Some((meta.len(), mtime))
}

/// What the follower knows about the folder's files.
#[derive(Default)]
struct Files {
    /// Seen changing: the stamp then, and when.
    candidates: HashMap<PathBuf, (Stamp, Instant)>,
    /// Offered (or found recorded) at this stamp: not looked at again until it changes.
    offered: HashMap<PathBuf, Stamp>,
}

impl Files {
    /// `path` may have changed: a candidate unless it is as offered.
    fn touched(&mut self, path: PathBuf) {
        let Some(now) = stamp(&path) else {
            // Gone (or not a file): nothing to read.
            self.candidates.remove(&path);
            return;
        };
        if self.offered.get(&path) == Some(&now) {
            self.candidates.remove(&path);
            return;
        }
        match self.candidates.get_mut(&path) {
            Some((s, _)) if *s == now => {}
            Some(entry) => *entry = (now, Instant::now()),
            None => {
                self.candidates.insert(path, (now, Instant::now()));
            }
        }
    }
}

/// The OS notification watcher, when one could be set up; events arrive on the channel.
fn notifications(
    dir: &Path,
    events: mpsc::UnboundedSender<notify::Result<notify::Event>>,
) -> Option<notify::RecommendedWatcher> {
    let handler = move |e: notify::Result<notify::Event>| {
        let _ = events.send(e);
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(
                "{}: file notifications unavailable ({e}); walking the folder instead",
                dir.display()
            );
            return None;
        }
    };
    if let Err(e) = watcher.watch(dir, RecursiveMode::Recursive) {
        tracing::warn!(
            "{}: file notifications unavailable ({e}); walking the folder instead",
            dir.display()
        );
        return None;
    }
    Some(watcher)
}

/// Follows a local folder; see the module documentation.
async fn follow(shared: Arc<Shared>, dir: PathBuf, tx: mpsc::Sender<Work>) {
    let settle = shared.settings.dir_interval;
    let name = dir.display().to_string();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut watcher = notifications(&dir, events_tx.clone());
    let mut files = Files::default();
    let mut first = true;
    let mut walked_once = false;
    let digests = shared.settings.integrity.digests;
    let mut up = true;
    let mut next_walk = Instant::now();
    loop {
        if Instant::now() >= next_walk {
            let ok = walk(&shared, &dir, &mut files);
            if ok && !up {
                // The folder is back: watch it again (its old watch went with it).
                if let Some(w) = watcher.as_mut() {
                    let _ = w.unwatch(&dir);
                    if let Err(e) = w.watch(&dir, RecursiveMode::Recursive) {
                        tracing::warn!("{name}: file notifications unavailable again ({e})");
                        watcher = None;
                    }
                } else {
                    watcher = notifications(&dir, events_tx.clone());
                }
            }
            up = ok;
            walked_once = true;
            next_walk = Instant::now() + walk_every(&shared, watcher.is_some(), up);
        }
        // Candidates that have stayed the same for `settle` are offered.
        let due: Vec<PathBuf> = (files.candidates.iter())
            .filter(|(_, (_, since))| since.elapsed() >= settle)
            .map(|(p, _)| p.clone())
            .collect();
        for path in due {
            let Some((was, _)) = files.candidates.remove(&path) else {
                continue;
            };
            match stamp(&path) {
                Some(now) if now == was => {}
                Some(now) => {
                    files.candidates.insert(path, (now, Instant::now()));
                    continue;
                }
                None => continue,
            }
            files.offered.insert(path.clone(), was);
            let name = path.display().to_string();
            let version = format!("{}:{}", was.0, was.1);
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
                return;
            }
        }
        // What was there at the start has been looked at twice (walked, then settled).
        if walked_once && files.candidates.is_empty() {
            shared.caught_up(&mut first);
        }
        // Sleep until the next candidate settles, the next walk, a notification or the stop.
        let next_settle = (files.candidates.values())
            .map(|(_, since)| *since + settle)
            .min();
        let wake = next_settle.map_or(next_walk, |s| s.min(next_walk));
        let nap = wake.saturating_duration_since(Instant::now());
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            Some(event) = events.recv() => {
                noticed(&dir, event, &mut files, &mut next_walk, digests);
                // Take whatever else arrived with it before looking again.
                while let Ok(event) = events.try_recv() {
                    noticed(&dir, event, &mut files, &mut next_walk, digests);
                }
            }
            _ = shared.stopped.notified() => {}
        }
        if shared.stopping() {
            return;
        }
    }
}

/// How long until the next full walk: `dir_rescan` with notifications, `dir_interval` without,
/// and at most a few seconds while the folder cannot be read (to notice it coming back).
fn walk_every(shared: &Shared, notified: bool, up: bool) -> Duration {
    let s = &shared.settings;
    let every = if notified {
        s.dir_rescan
    } else {
        s.dir_interval
    };
    if up {
        every
    } else {
        every.min(Duration::from_secs(2))
    }
}

/// Walks the folder: every file not offered at its current stamp becomes a candidate. Returns
/// whether the folder could be read (its health).
fn walk(shared: &Shared, dir: &Path, files: &mut Files) -> bool {
    let name = dir.display().to_string();
    let inputs = file::collect(std::slice::from_ref(&dir.to_path_buf()));
    let gone = !dir.is_dir();
    for e in &inputs.errors {
        tracing::warn!("{e}");
    }
    if gone {
        shared.source_down(&name, "no such folder (or not a folder)".into());
        return false;
    }
    match inputs.errors.first() {
        Some(e) if inputs.files.is_empty() => {
            shared.source_down(&name, e.to_string());
            return false;
        }
        _ => shared.source_up(&name),
    }
    let mut all = inputs.files;
    if shared.settings.integrity.digests {
        // Digests are read for the trail's integrity (their signature sidecars with them).
        all.extend(inputs.digests.into_iter().filter(|p| is_digest(p)));
    }
    let present: std::collections::HashSet<&PathBuf> = all.iter().collect();
    files.offered.retain(|p, _| present.contains(p));
    files.candidates.retain(|p, _| present.contains(p));
    for path in all {
        files.touched(path);
    }
    true
}

/// A digest file (not its signature sidecar) under a `CloudTrail-Digest` folder.
fn is_digest(path: &Path) -> bool {
    let name = path.to_string_lossy();
    path.components()
        .any(|c| c.as_os_str() == "CloudTrail-Digest")
        && name.ends_with(".json.gz")
        && !name.ends_with(crate::verify::SIDECAR)
}

/// Takes in one notification: the files it names become candidates; a folder it names is
/// walked at once (files moved in with it raise no events of their own), as is the whole
/// folder when the notifier lost events.
fn noticed(
    dir: &Path,
    event: notify::Result<notify::Event>,
    files: &mut Files,
    next_walk: &mut Instant,
    digests: bool,
) {
    let event = match event {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(
                "{}: file notifications: {e}; walking the folder",
                dir.display()
            );
            *next_walk = Instant::now();
            return;
        }
    };
    if event.need_rescan() {
        *next_walk = Instant::now();
        return;
    }
    // Reading a file raises access events of its own: only writes and closes after writing
    // can change what is there.
    if let EventKind::Access(kind) = event.kind
        && kind != notify::event::AccessKind::Close(notify::event::AccessMode::Write)
    {
        return;
    }
    for path in event.paths {
        if path == dir || path.is_dir() {
            // The folder itself (deleted, moved) or a folder within it.
            *next_walk = Instant::now();
        } else if file::walk_takes(dir, &path) || (digests && is_digest(&path)) {
            files.touched(path);
        } else {
            files.candidates.remove(&path);
        }
    }
}
