//! The embedded state store (SQLite): what `watch` has processed, the findings it has recorded,
//! and the outbox of findings not yet delivered.
//!
//! The rule of the store is "record, then acknowledge": everything an input produced (its findings,
//! the outbox rows for every sink, the dedup and threshold state, and the input itself marked as
//! done) is written in **one transaction**; only after that commit may the input be acknowledged
//! (an SQS message deleted). A crash before the commit leaves the input unacknowledged, and it is
//! read again; a crash after it finds the input already done. Findings are keyed by rule and event
//! identity, so a record delivered twice (SQS and CloudTrail both deliver at least once), in the
//! same or another object, is recorded once.
//!
//! The database runs in WAL mode with `synchronous=FULL`, so a commit survives `kill -9` and power
//! loss. Its schema is versioned (`PRAGMA user_version`) and migrated forward on open.

//!
//! Layout: this file opens the store and keeps it small ([`Store::info`], [`Store::prune`]);
//! `inputs` records processed inputs with their findings, `dedup` folds repeats into the stored
//! finding they repeat, `outbox` is delivery (pending findings, cursors, threads, dead letters),
//! and `schema` holds the migrations.

mod dedup;
mod inputs;
pub mod lock;
mod outbox;
mod schema;

use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};

pub use inputs::{Commit, InputDone, NewFinding, Tracked};
pub use outbox::Pending;
pub use schema::VERSION;

/// A state store error, naming the database file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database {path}: {source}")]
    Sql {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("state database {path}: cannot create its folder: {source}")]
    Folder {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "state database {path} has schema version {found}, newer than this trailwatch understands ({VERSION}); use a newer trailwatch"
    )]
    TooNew { path: String, found: i64 },
    #[error(
        "state database {path} is in use by {holder}; one watcher per state database (stop it, or give this one its own --state)"
    )]
    Locked { path: String, holder: String },
    #[error("state database {path}: the file is no longer at its path (moved or deleted)")]
    Gone { path: String },
    #[error("state database lock {path}: {source}")]
    LockFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The state store. Not shared between threads: one task owns it.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The database file's identity (device and inode) when it was opened, to notice it being
    /// moved or deleted under a running watcher ([`Store::check`]).
    identity: Option<(u64, u64)>,
    /// Held by the watcher's store ([`Store::open_exclusive`]), for the store's life.
    _lock: Option<lock::Lock>,
}

/// What `trailwatch state info` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Info {
    pub path: String,
    pub schema_version: i64,
    pub size_bytes: u64,
    pub inputs: i64,
    pub inputs_with_errors: i64,
    pub findings: i64,
    pub outbox: Vec<(String, i64)>,
    pub dead_letters: i64,
    pub oldest_input: Option<String>,
    pub newest_input: Option<String>,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    pub inputs: usize,
    pub findings: usize,
}

fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

impl Store {
    /// [`Store::open`] for the one writer a database may have (the watcher): takes its lock
    /// first, and refuses with [`StateError::Locked`], naming the holder, when another process
    /// has it.
    pub fn open_exclusive(path: &Path) -> Result<Store, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Folder {
                path: path.display().to_string(),
                source,
            })?;
        }
        let held = lock::acquire(path)?;
        let mut store = Store::open(path)?;
        store._lock = Some(held);
        Ok(store)
    }

    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
    /// Any number of processes may open it (readers and operators' commands beside a watcher);
    /// the migration runs in an immediate transaction, so two opening at once migrate once.
    pub fn open(path: &Path) -> Result<Store, StateError> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Folder {
                path: shown.clone(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StateError::Sql {
            path: shown.clone(),
            source,
        })?;
        Store::init(conn, path.to_path_buf())
    }

    /// A throwaway in-memory store, for tests.
    #[cfg(test)]
    pub fn open_in_memory() -> Result<Store, StateError> {
        let conn = Connection::open_in_memory().map_err(|source| StateError::Sql {
            path: ":memory:".into(),
            source,
        })?;
        Store::init(conn, PathBuf::from(":memory:"))
    }

    fn init(conn: Connection, path: PathBuf) -> Result<Store, StateError> {
        let mut store = Store {
            conn,
            identity: file_identity(&path),
            path,
            _lock: None,
        };
        // The busy timeout first: another process may be switching the file to WAL or migrating.
        store
            .conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| store_err(&store.path, e))?;
        let sql = |e| store_err(&store.path, e);
        store
            .conn
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
            )
            .map_err(sql)?;
        // The version is read inside the write transaction: a process that opened the file at
        // the same moment has either migrated already (nothing to do) or waits for us.
        let tx = store
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| store_err(&store.path, e))?;
        let found: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| store_err(&store.path, e))?;
        if found > VERSION {
            return Err(StateError::TooNew {
                path: store.path.display().to_string(),
                found,
            });
        }
        schema::migrate(&tx, found).map_err(|e| store_err(&store.path, e))?;
        tx.commit().map_err(|e| store_err(&store.path, e))?;
        Ok(store)
    }

    fn err(&self, e: rusqlite::Error) -> StateError {
        store_err(&self.path, e)
    }

    /// Whether the store can be used now: the database answers, and its file is still the one
    /// opened at its path (a database moved or deleted under the watcher would lose everything
    /// recorded from then on at the next start). The error says what is wrong.
    pub fn check(&self) -> Result<(), StateError> {
        self.conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(|e| self.err(e))?;
        if self.identity.is_some() && file_identity(&self.path) != self.identity {
            return Err(StateError::Gone {
                path: self.path.display().to_string(),
            });
        }
        Ok(())
    }

    /// Counts and sizes for operators.
    pub fn info(&self) -> Result<Info, StateError> {
        let one = |sql: &str| -> Result<i64, StateError> {
            self.conn
                .query_row(sql, [], |r| r.get(0))
                .map_err(|e| self.err(e))
        };
        let when = |sql: &str| -> Result<Option<String>, StateError> {
            let secs: Option<i64> = self
                .conn
                .query_row(sql, [], |r| r.get(0))
                .map_err(|e| self.err(e))?;
            Ok(secs
                .and_then(|s| jiff::Timestamp::from_second(s).ok())
                .map(|t| t.to_string()))
        };
        let mut q = self
            .conn
            .prepare("SELECT sink, count(*) FROM outbox GROUP BY sink ORDER BY sink")
            .map_err(|e| self.err(e))?;
        let outbox = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let size_bytes = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
            + std::fs::metadata(self.path.with_extension("db-wal"))
                .map(|m| m.len())
                .unwrap_or(0);
        Ok(Info {
            path: self.path.display().to_string(),
            schema_version: one("PRAGMA user_version")?,
            size_bytes,
            inputs: one("SELECT count(*) FROM inputs")?,
            inputs_with_errors: one("SELECT count(*) FROM inputs WHERE error IS NOT NULL")?,
            findings: one("SELECT count(*) FROM findings")?,
            outbox,
            dead_letters: one("SELECT count(*) FROM dead_letters")?,
            oldest_input: when("SELECT min(done_at) FROM inputs")?,
            newest_input: when("SELECT max(done_at) FROM inputs")?,
        })
    }

    /// [`Store::prune`] of what is older than `age`, counted back from now.
    pub fn prune_older_than(&mut self, age: std::time::Duration) -> Result<Pruned, StateError> {
        let age = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
        self.prune(now_secs().saturating_sub(age))
    }

    /// Removes inputs processed before `before` (unix seconds) and findings recorded before it,
    /// except findings still waiting in the outbox or the dead letters.
    pub fn prune(&mut self, before: i64) -> Result<Pruned, StateError> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| store_err(&self.path, e))?;
        let inputs = tx
            .execute("DELETE FROM inputs WHERE done_at < ?1", params![before])
            .map_err(|e| store_err(&self.path, e))?;
        tx.execute(
            "DELETE FROM threads WHERE finding_id IN
                 (SELECT id FROM findings WHERE created_at < ?1)
             AND finding_id NOT IN (SELECT finding_id FROM repeat_outbox)",
            params![before],
        )
        .map_err(|e| store_err(&self.path, e))?;
        let findings = tx
            .execute(
                "DELETE FROM findings WHERE created_at < ?1
                 AND id NOT IN (SELECT finding_id FROM outbox)
                 AND id NOT IN (SELECT finding_id FROM dead_letters)
                 AND id NOT IN (SELECT finding_id FROM repeat_outbox)",
                params![before],
            )
            .map_err(|e| store_err(&self.path, e))?;
        tx.commit().map_err(|e| store_err(&self.path, e))?;
        Ok(Pruned { inputs, findings })
    }
}

/// The device and inode of the file at `path` (`None` when there is none, or off Unix).
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).ok().map(|_| (0, 0))
    }
}

fn store_err(path: &Path, source: rusqlite::Error) -> StateError {
    StateError::Sql {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests;
