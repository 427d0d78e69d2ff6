//! Repeats folded by a dedup window into the stored finding that opened it. The fold is
//! [`crate::noise::Repeats`], the same one `scan --dedup` uses in memory; the store keeps its
//! count (`repeats`) and latest event time (`last_time`), and queues the repeat for the sinks
//! that post repeats in a thread.

use super::{StateError, store_err};
use crate::noise::Repeats;
use rusqlite::{OptionalExtension, Transaction, params};
use std::path::Path;

/// Folds each repeat (window number and event time) into the latest finding that opened the
/// window, within the caller's transaction. Repeats of windows no stored finding opened (pruned,
/// or never recorded) are dropped.
pub(super) fn fold_repeats(
    tx: &Transaction<'_>,
    path: &Path,
    folds: &[(u64, Option<String>)],
    threading: &[String],
) -> Result<(), StateError> {
    let err = |e| store_err(path, e);
    for (window, time) in folds {
        let opener: Option<(i64, i64, Option<String>)> = tx
            .query_row(
                "SELECT id, repeats, last_time FROM findings
                 WHERE id = (SELECT max(id) FROM findings WHERE window = ?1)",
                params![*window as i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(err)?;
        let Some((id, count, last_time)) = opener else {
            continue;
        };
        let mut repeats = Repeats {
            count: count.max(0) as u64,
            first_time: None,
            last_time,
        };
        repeats.add(time.as_deref());
        tx.execute(
            "UPDATE findings SET repeats = ?2, last_time = ?3 WHERE id = ?1",
            params![id, repeats.count as i64, repeats.last_time],
        )
        .map_err(err)?;
        for sink in threading {
            tx.execute(
                "INSERT INTO repeat_outbox (finding_id, sink) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
                params![id, sink],
            )
            .map_err(err)?;
        }
    }
    Ok(())
}
