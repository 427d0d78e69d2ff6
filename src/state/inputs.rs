//! Processed inputs and the findings they produced, recorded in one transaction ("record, then
//! acknowledge"), and the stored dedup and threshold state.

use super::{StateError, Store, dedup, now_secs, store_err};
use rusqlite::{OptionalExtension, params};

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

/// A row of what the watcher follows (see `verify::track`): replaced whole at each commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracked {
    pub kind: String,
    pub id: String,
    /// JSON.
    pub body: String,
}

/// Everything one transaction records.
#[derive(Debug, Clone, Copy)]
pub struct Commit<'a> {
    /// The input processed, if the findings come from one.
    pub input: Option<&'a InputDone>,
    pub findings: &'a [NewFinding],
    pub folds: &'a [(u64, Option<String>)],
    pub threading: &'a [String],
    pub noise: Option<&'a [u8]>,
    pub tracked: &'a [Tracked],
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

impl Store {
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
    /// one. Returns the positions in `findings` of those that were new.
    pub fn commit_input(
        &mut self,
        input: &InputDone,
        findings: &[NewFinding],
        folds: &[(u64, Option<String>)],
        threading: &[String],
        noise: Option<&[u8]>,
    ) -> Result<Vec<usize>, StateError> {
        self.commit(&Commit {
            input: Some(input),
            findings,
            folds,
            threading,
            noise,
            tracked: &[],
        })
    }

    /// Records what [`Commit`] holds in one transaction (see [`Store::commit_input`]); the
    /// input, when there is one, is recorded as processed, and the `tracked` rows replace the
    /// stored ones of their kind and id.
    pub fn commit(&mut self, c: &Commit<'_>) -> Result<Vec<usize>, StateError> {
        let Commit {
            input,
            findings,
            folds,
            threading,
            noise,
            tracked,
        } = *c;
        let now = now_secs();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| store_err(&self.path, e))?;
        let mut fresh = Vec::new();
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
            for (i, f) in findings.iter().enumerate() {
                let window = f.window.map(|w| w as i64);
                let n = insert
                    .execute(params![f.key, f.rule_id, f.event_time, now, f.body, window])
                    .map_err(|e| store_err(&self.path, e))?;
                if n == 0 {
                    continue;
                }
                fresh.push(i);
                let id = tx.last_insert_rowid();
                for sink in &f.sinks {
                    queue
                        .execute(params![id, sink])
                        .map_err(|e| store_err(&self.path, e))?;
                }
            }
            let mut track = tx
                .prepare_cached(
                    "INSERT INTO tracking (kind, id, body) VALUES (?1, ?2, ?3)
                     ON CONFLICT (kind, id) DO UPDATE SET body = ?3",
                )
                .map_err(|e| store_err(&self.path, e))?;
            for t in tracked {
                track
                    .execute(params![t.kind, t.id, t.body])
                    .map_err(|e| store_err(&self.path, e))?;
            }
        }
        dedup::fold_repeats(&tx, &self.path, folds, threading)?;
        if let Some(input) = input {
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
                    fresh.len() as i64,
                    input.error
                ],
            )
            .map_err(|e| store_err(&self.path, e))?;
        }
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

    /// Every stored tracking row: (kind, id, body).
    pub fn tracking(&self) -> Result<Vec<Tracked>, StateError> {
        let mut stmt = self
            .conn
            .prepare("SELECT kind, id, body FROM tracking ORDER BY kind, id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Tracked {
                    kind: r.get(0)?,
                    id: r.get(1)?,
                    body: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// The stored dedup and threshold state, if any.
    pub fn noise(&self) -> Result<Option<Vec<u8>>, StateError> {
        self.conn
            .query_row("SELECT snapshot FROM noise WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }
}
