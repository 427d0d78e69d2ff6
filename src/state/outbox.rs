//! The outbox: findings waiting for delivery to each sink, the sinks' cursors, Slack threads and
//! the repeats waiting to be posted in them, and the dead letters.

use super::{StateError, Store, now_secs, store_err};
use rusqlite::{OptionalExtension, params};

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

/// One sink's backlog in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkBacklog {
    pub sink: String,
    /// Findings waiting for delivery (due or retrying later).
    pub pending: i64,
    /// When the oldest waiting finding was recorded (unix seconds).
    pub oldest: Option<i64>,
    pub dead_letters: i64,
}

impl Store {
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

    /// Per sink: findings waiting in the outbox, when the oldest of them was recorded, and dead
    /// letters (for `/metrics`).
    pub fn backlog(&self) -> Result<Vec<SinkBacklog>, StateError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT sink, sum(pending), min(oldest), sum(dead) FROM (
                     SELECT o.sink AS sink, count(*) AS pending, min(f.created_at) AS oldest,
                            0 AS dead
                     FROM outbox o JOIN findings f ON f.id = o.finding_id GROUP BY o.sink
                     UNION ALL
                     SELECT sink, 0, NULL, count(*) FROM dead_letters GROUP BY sink)
                 GROUP BY sink ORDER BY sink",
            )
            .map_err(|e| self.err(e))?;
        let rows = q
            .query_map([], |r| {
                Ok(SinkBacklog {
                    sink: r.get(0)?,
                    pending: r.get(1)?,
                    oldest: r.get(2)?,
                    dead_letters: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
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
}
