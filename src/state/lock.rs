//! One watcher per state database: an exclusive advisory lock on `<database>.lock`, held for
//! the life of the watcher, with the holder (process id, host, start time) written inside so
//! that a second watcher on the same file is refused with a message naming the first.
//!
//! Readers (`state info`, `state dead-letters`) do not take the lock: SQLite's WAL mode lets them
//! read while a watcher writes. The lock is released by the operating system when the process
//! ends, however it ends (`kill -9` included), so a stale lock file never blocks a restart.

use super::StateError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// The lock file beside a database: `state.db` → `state.db.lock`.
pub fn path_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the lock of the database at `db`, or names who holds it.
pub fn acquire(db: &Path) -> Result<Lock, StateError> {
    let path = path_for(db);
    let io = |source| StateError::LockFile {
        path: path.display().to_string(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(StateError::Locked {
                path: db.display().to_string(),
                holder: read_holder(&mut file)
                    .unwrap_or_else(|| "another process (it has not yet written its name)".into()),
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    let host = hostname().unwrap_or_else(|| "unknown host".into());
    let me = format!(
        "trailwatch watch, pid {} on {host}, since {}\n",
        std::process::id(),
        jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_default()
    );
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    file.write_all(me.as_bytes()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(Lock { _file: file })
}

/// The holder's name from the lock file. The holder writes it just after taking the lock, so a
/// second watcher started at the same moment can find the file still empty (or just truncated):
/// it looks again for up to a second before giving up on the name.
fn read_holder(file: &mut File) -> Option<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let mut holder = String::new();
        if file.rewind().is_ok() && file.read_to_string(&mut holder).is_ok() {
            // A complete name ends with the newline written last.
            if holder.ends_with('\n') && !holder.trim().is_empty() {
                return Some(holder.trim().to_string());
            }
        }
        if std::time::Instant::now() >= deadline {
            let holder = holder.trim();
            return (!holder.is_empty()).then(|| holder.to_string());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_named() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let first = acquire(&db).unwrap();
        let err = acquire(&db).unwrap_err().to_string();
        assert!(err.contains("state.db"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        acquire(&db).unwrap();
    }
}
