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

mod schema;

use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};

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
}

/// The state store. Not shared between threads: one task owns it.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// An input that has been processed.
#[derive(Debug, Clone, Default)]
pub struct InputDone {
    /// `s3://bucket/key`, a file path, or `sqs://queue#message-id` for an inline message.
    pub source: String,
    /// What identifies this version of the input: ETag, sequencer, or size and mtime.
    pub version: String,
    pub records: u64,
    pub error: Option<String>,
}

/// A finding to record: its identity key, its JSON body and where it goes.
#[derive(Debug, Clone, Default)]
pub struct NewFinding {
    /// Rule id and event identity; the same record matched by the same rule has the same key.
    pub key: String,
    pub rule_id: String,
    pub event_time: Option<String>,
    pub body: String,
    /// The sinks (outputs) it is queued for.
    pub sinks: Vec<String>,
    /// The dedup window it opened, which later repeats fold into.
    pub window: Option<u64>,
}

/// A repeat waiting to be posted into the thread of the finding it folded into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRepeat {
    pub finding_id: i64,
    pub body: String,
    pub repeats: i64,
    pub last_time: Option<String>,
    pub channel: String,
    pub ts: String,
}

/// A finding waiting for delivery to one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub finding_id: i64,
    pub sink: String,
    pub attempts: i64,
    pub body: String,
    /// When the finding was recorded (unix seconds).
    pub created_at: i64,
    /// The finding's identity (rule and event): the idempotency key of its deliveries.
    pub key: String,
    /// Repeats folded into it so far.
    pub repeats: i64,
}

/// A finding whose delivery to a sink gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub finding_id: i64,
    pub sink: String,
    pub attempts: i64,
    pub error: String,
    pub body: String,
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
    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
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

    /// A throwaway in-memory store (tests, `--state :memory:`).
    pub fn open_in_memory() -> Result<Store, StateError> {
        let conn = Connection::open_in_memory().map_err(|source| StateError::Sql {
            path: ":memory:".into(),
            source,
        })?;
        Store::init(conn, PathBuf::from(":memory:"))
    }

    fn init(conn: Connection, path: PathBuf) -> Result<Store, StateError> {
        let mut store = Store { conn, path };
        let sql = |e| store_err(&store.path, e);
        store
            .conn
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
            )
            .map_err(sql)?;
        store
            .conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| store_err(&store.path, e))?;
        let found: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| store_err(&store.path, e))?;
        if found > VERSION {
            return Err(StateError::TooNew {
                path: store.path.display().to_string(),
                found,
            });
        }
        let tx = store
            .conn
            .transaction()
            .map_err(|e| store_err(&store.path, e))?;
        schema::migrate(&tx, found).map_err(|e| store_err(&store.path, e))?;
        tx.commit().map_err(|e| store_err(&store.path, e))?;
        Ok(store)
    }

    fn err(&self, e: rusqlite::Error) -> StateError {
        store_err(&self.path, e)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this version of an input has been processed already.
    pub fn is_done(&self, source: &str, version: &str) -> Result<bool, StateError> {
        self.conn
            .query_row(
                "SELECT 1 FROM inputs WHERE source = ?1 AND version = ?2",
                params![source, version],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(|e| self.err(e))
    }

    /// Records an input and its findings in one transaction: findings seen before (same key) are
    /// skipped, new ones are queued for their sinks, repeats (`folds`: window number and event
    /// time) are counted into the finding that opened the window and queued for the `threading`
    /// sinks, and `noise` (the dedup and threshold state after this input) replaces the stored
    /// one. Returns the number of new findings.
    pub fn commit_input(
        &mut self,
        input: &InputDone,
        findings: &[NewFinding],
        folds: &[(u64, Option<String>)],
        threading: &[String],
        noise: Option<&[u8]>,
    ) -> Result<usize, StateError> {
        let now = now_secs();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| store_err(&self.path, e))?;
        let mut fresh = 0;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO findings (key, rule_id, event_time, created_at, body, window)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (key) DO NOTHING",
                )
                .map_err(|e| store_err(&self.path, e))?;
            let mut queue = tx
                .prepare_cached("INSERT INTO outbox (finding_id, sink) VALUES (?1, ?2)")
                .map_err(|e| store_err(&self.path, e))?;
            for f in findings {
                let window = f.window.map(|w| w as i64);
                let n = insert
                    .execute(params![f.key, f.rule_id, f.event_time, now, f.body, window])
                    .map_err(|e| store_err(&self.path, e))?;
                if n == 0 {
                    continue;
                }
                fresh += 1;
                let id = tx.last_insert_rowid();
                for sink in &f.sinks {
                    queue
                        .execute(params![id, sink])
                        .map_err(|e| store_err(&self.path, e))?;
                }
            }
        }
        for (window, time) in folds {
            let id: Option<i64> = tx
                .query_row(
                    "UPDATE findings SET repeats = repeats + 1,
                         last_time = max(coalesce(last_time, ''), coalesce(?2, ''))
                     WHERE id = (SELECT max(id) FROM findings WHERE window = ?1) RETURNING id",
                    params![*window as i64, time],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| store_err(&self.path, e))?;
            if let Some(id) = id {
                for sink in threading {
                    tx.execute(
                        "INSERT INTO repeat_outbox (finding_id, sink) VALUES (?1, ?2)
                         ON CONFLICT DO NOTHING",
                        params![id, sink],
                    )
                    .map_err(|e| store_err(&self.path, e))?;
                }
            }
        }
        tx.execute(
            "INSERT INTO inputs (source, version, done_at, records, findings, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (source, version) DO UPDATE SET done_at = ?3, records = ?4,
                 findings = findings + ?5, error = ?6",
            params![
                input.source,
                input.version,
                now,
                input.records as i64,
                fresh as i64,
                input.error
            ],
        )
        .map_err(|e| store_err(&self.path, e))?;
        if let Some(snapshot) = noise {
            tx.execute(
                "INSERT INTO noise (id, snapshot) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET snapshot = ?1",
                params![snapshot],
            )
            .map_err(|e| store_err(&self.path, e))?;
        }
        tx.commit().map_err(|e| store_err(&self.path, e))?;
        Ok(fresh)
    }

    /// The stored dedup and threshold state, if any.
    pub fn noise(&self) -> Result<Option<Vec<u8>>, StateError> {
        self.conn
            .query_row("SELECT snapshot FROM noise WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Findings waiting for `sink` whose next attempt is due, oldest first.
    pub fn pending(&self, sink: &str, limit: usize) -> Result<Vec<Pending>, StateError> {
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT o.finding_id, o.sink, o.attempts, f.body, f.created_at, f.repeats, f.key
                 FROM outbox o
                 JOIN findings f ON f.id = o.finding_id
                 WHERE o.sink = ?1 AND o.next_at <= ?2 ORDER BY o.finding_id LIMIT ?3",
            )
            .map_err(|e| self.err(e))?;
        let rows = q
            .query_map(params![sink, now_secs(), limit as i64], |r| {
                Ok(Pending {
                    finding_id: r.get(0)?,
                    sink: r.get(1)?,
                    attempts: r.get(2)?,
                    body: r.get(3)?,
                    created_at: r.get(4)?,
                    repeats: r.get(5)?,
                    key: r.get(6)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Marks findings delivered to `sink` (their outbox rows go) and stores the sink's cursor
    /// (for a file sink: its length after the write), in one transaction.
    pub fn delivered(
        &mut self,
        sink: &str,
        ids: &[i64],
        cursor: Option<i64>,
    ) -> Result<(), StateError> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| store_err(&self.path, e))?;
        {
            let mut del = tx
                .prepare_cached("DELETE FROM outbox WHERE finding_id = ?1 AND sink = ?2")
                .map_err(|e| store_err(&self.path, e))?;
            for id in ids {
                del.execute(params![id, sink])
                    .map_err(|e| store_err(&self.path, e))?;
            }
        }
        if let Some(c) = cursor {
            tx.execute(
                "INSERT INTO sinks (sink, cursor) VALUES (?1, ?2)
                 ON CONFLICT (sink) DO UPDATE SET cursor = ?2",
                params![sink, c],
            )
            .map_err(|e| store_err(&self.path, e))?;
        }
        tx.commit().map_err(|e| store_err(&self.path, e))
    }

    /// Records a failed delivery attempt: retried at `retry_at` (unix seconds), or moved to the
    /// dead letters when `dead` is set.
    pub fn failed(
        &mut self,
        sink: &str,
        id: i64,
        error: &str,
        retry_at: i64,
        dead: bool,
    ) -> Result<(), StateError> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| store_err(&self.path, e))?;
        if dead {
            tx.execute(
                "INSERT INTO dead_letters (finding_id, sink, attempts, failed_at, last_error)
                 SELECT finding_id, sink, attempts + 1, ?3, ?4 FROM outbox
                 WHERE finding_id = ?1 AND sink = ?2
                 ON CONFLICT (finding_id, sink) DO UPDATE SET attempts = excluded.attempts,
                     failed_at = excluded.failed_at, last_error = excluded.last_error",
                params![id, sink, now_secs(), error],
            )
            .map_err(|e| store_err(&self.path, e))?;
            tx.execute(
                "DELETE FROM outbox WHERE finding_id = ?1 AND sink = ?2",
                params![id, sink],
            )
            .map_err(|e| store_err(&self.path, e))?;
        } else {
            tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_at = ?3, last_error = ?4
                 WHERE finding_id = ?1 AND sink = ?2",
                params![id, sink, retry_at, error],
            )
            .map_err(|e| store_err(&self.path, e))?;
        }
        tx.commit().map_err(|e| store_err(&self.path, e))
    }

    /// Remembers where a Slack app posted a finding, for threading its repeats.
    pub fn set_thread(
        &mut self,
        finding_id: i64,
        sink: &str,
        channel: &str,
        ts: &str,
    ) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO threads (finding_id, sink, channel, ts) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO UPDATE SET channel = ?3, ts = ?4",
                params![finding_id, sink, channel, ts],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Repeats waiting for `sink` whose original message has been posted. Repeats of findings
    /// never routed to the sink are dropped here.
    pub fn pending_repeats(&mut self, sink: &str) -> Result<Vec<PendingRepeat>, StateError> {
        self.conn
            .execute(
                "DELETE FROM repeat_outbox WHERE sink = ?1
                 AND finding_id NOT IN (SELECT finding_id FROM threads WHERE sink = ?1)
                 AND finding_id NOT IN (SELECT finding_id FROM outbox WHERE sink = ?1)",
                params![sink],
            )
            .map_err(|e| self.err(e))?;
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT f.id, f.body, f.repeats, f.last_time, t.channel, t.ts
                 FROM repeat_outbox r JOIN findings f ON f.id = r.finding_id
                 JOIN threads t ON t.finding_id = r.finding_id AND t.sink = r.sink
                 WHERE r.sink = ?1 ORDER BY f.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = q
            .query_map(params![sink], |r| {
                Ok(PendingRepeat {
                    finding_id: r.get(0)?,
                    body: r.get(1)?,
                    repeats: r.get(2)?,
                    last_time: r.get(3)?,
                    channel: r.get(4)?,
                    ts: r.get(5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// A repeat has been posted.
    pub fn repeat_delivered(&mut self, finding_id: i64, sink: &str) -> Result<(), StateError> {
        self.conn
            .execute(
                "DELETE FROM repeat_outbox WHERE finding_id = ?1 AND sink = ?2",
                params![finding_id, sink],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// A sink's stored cursor (file sinks: the output length known to be complete).
    pub fn cursor(&self, sink: &str) -> Result<Option<i64>, StateError> {
        self.conn
            .query_row(
                "SELECT cursor FROM sinks WHERE sink = ?1",
                params![sink],
                |r| r.get(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.err(e))
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

    /// Dead letters, newest first.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, StateError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT d.finding_id, d.sink, d.attempts, coalesce(d.last_error, ''), f.body
                 FROM dead_letters d JOIN findings f ON f.id = d.finding_id
                 ORDER BY d.failed_at DESC",
            )
            .map_err(|e| self.err(e))?;
        let rows = q
            .query_map([], |r| {
                Ok(DeadLetter {
                    finding_id: r.get(0)?,
                    sink: r.get(1)?,
                    attempts: r.get(2)?,
                    error: r.get(3)?,
                    body: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Puts every dead letter back into the outbox for another round of attempts.
    pub fn retry_dead_letters(&mut self) -> Result<usize, StateError> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| store_err(&self.path, e))?;
        let n = tx
            .execute(
                "INSERT INTO outbox (finding_id, sink) SELECT finding_id, sink FROM dead_letters
                 WHERE true ON CONFLICT DO NOTHING",
                [],
            )
            .map_err(|e| store_err(&self.path, e))?;
        tx.execute("DELETE FROM dead_letters", [])
            .map_err(|e| store_err(&self.path, e))?;
        tx.commit().map_err(|e| store_err(&self.path, e))?;
        Ok(n)
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

fn store_err(path: &Path, source: rusqlite::Error) -> StateError {
    StateError::Sql {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests;
