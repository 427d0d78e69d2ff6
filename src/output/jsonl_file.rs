//! The exactly-once JSON Lines file: the writer behind `watch --output FILE` and the alert `file`
//! sink.
//!
//! The guarantee needs the caller's help, and is the same for both users: findings come from the
//! state store's outbox; each batch is appended and synced ([`JsonlFile::append`] answers the
//! file's length after the `fsync`), and the caller records that length with the batch's
//! delivery in one store transaction. On start the file is opened with the last recorded length
//! ([`JsonlFile::open`]), which cuts off whatever was written but not recorded before a crash;
//! those findings are still in the outbox and are written again. A failed write is cut back the
//! same way at once, so the file only ever holds whole, recorded lines.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file that could not be opened, cut back or written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("opening {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cutting {} back to its last recorded length: {source}", path.display())]
    Truncate {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing to {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// An append-only JSON Lines file whose length after each synced batch is recorded by the caller.
#[derive(Debug)]
pub struct JsonlFile {
    path: PathBuf,
    file: File,
    /// The length after the last successful append (or at opening).
    len: u64,
}

impl JsonlFile {
    /// Opens (creating) `path` for appending. `recorded` is the length recorded with the last
    /// delivered batch: a longer file is cut back to it (written, never recorded). A file shorter
    /// than that (rotated or emptied by someone else) is appended to as it is; `None` (nothing
    /// recorded yet) keeps the file as it is.
    pub fn open(path: &Path, recorded: Option<u64>) -> Result<JsonlFile, FileError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(|source| FileError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let mut len = file
            .metadata()
            .map_err(|source| FileError::Open {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        if let Some(recorded) = recorded
            && recorded < len
        {
            file.set_len(recorded)
                .and_then(|_| file.sync_data())
                .map_err(|source| FileError::Truncate {
                    path: path.to_path_buf(),
                    source,
                })?;
            len = recorded;
        }
        Ok(JsonlFile {
            path: path.to_path_buf(),
            file,
            len,
        })
    }

    /// Appends `text` (whole lines) and syncs it to disk; answers the file's new length, to be
    /// recorded with the batch. On failure the file is cut back to its length before the call.
    pub fn append(&mut self, text: &[u8]) -> Result<u64, FileError> {
        let written = self
            .file
            .write_all(text)
            .and_then(|_| self.file.sync_data());
        if let Err(source) = written {
            // A partial line must not stay in front of the next batch.
            let _ = self.file.set_len(self.len);
            return Err(FileError::Write {
                path: self.path.clone(),
                source,
            });
        }
        self.len += text.len() as u64;
        Ok(self.len)
    }

    /// The length after the last successful append (or at opening).
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopening_cuts_back_to_the_recorded_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut f = JsonlFile::open(&path, None).unwrap();
        let recorded = f.append(b"{\"a\":1}\n").unwrap();
        assert_eq!(recorded, 8);
        // Written, then a crash before the length was recorded.
        f.append(b"{\"a\":2}\n").unwrap();
        drop(f);
        let mut f = JsonlFile::open(&path, Some(recorded)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n");
        assert_eq!(f.append(b"{\"a\":2}\n").unwrap(), 16);
        // Nothing recorded, or a file shorter than recorded: kept as it is.
        drop(f);
        JsonlFile::open(&path, None).unwrap();
        JsonlFile::open(&path, Some(1000)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }
}
