//! The state database's schema and its migrations, one per version.

use rusqlite::Transaction;

/// The schema version this trailwatch writes.
pub const VERSION: i64 = 3;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 → 1
    "CREATE TABLE inputs (
        source   TEXT NOT NULL,
        version  TEXT NOT NULL,
        done_at  INTEGER NOT NULL,
        records  INTEGER NOT NULL DEFAULT 0,
        findings INTEGER NOT NULL DEFAULT 0,
        error    TEXT,
        PRIMARY KEY (source, version)
    ) WITHOUT ROWID;
    CREATE INDEX inputs_done_at ON inputs (done_at);
    CREATE TABLE findings (
        id         INTEGER PRIMARY KEY,
        key        TEXT NOT NULL UNIQUE,
        rule_id    TEXT NOT NULL,
        event_time TEXT,
        created_at INTEGER NOT NULL,
        body       TEXT NOT NULL
    );
    CREATE INDEX findings_created_at ON findings (created_at);
    CREATE TABLE outbox (
        finding_id INTEGER NOT NULL REFERENCES findings (id),
        sink       TEXT NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0,
        next_at    INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        PRIMARY KEY (finding_id, sink)
    );
    CREATE INDEX outbox_sink ON outbox (sink, next_at);
    CREATE TABLE dead_letters (
        finding_id INTEGER NOT NULL REFERENCES findings (id),
        sink       TEXT NOT NULL,
        attempts   INTEGER NOT NULL,
        failed_at  INTEGER NOT NULL,
        last_error TEXT,
        PRIMARY KEY (finding_id, sink)
    );
    CREATE TABLE sinks (sink TEXT PRIMARY KEY, cursor INTEGER);
    CREATE TABLE noise (id INTEGER PRIMARY KEY CHECK (id = 1), snapshot BLOB NOT NULL);",
    // 1 → 2: repeats folded into a finding by a dedup window, and Slack threads to post them in.
    "ALTER TABLE findings ADD COLUMN window INTEGER;
    ALTER TABLE findings ADD COLUMN repeats INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE findings ADD COLUMN last_time TEXT;
    CREATE INDEX findings_window ON findings (window);
    CREATE TABLE threads (
        finding_id INTEGER NOT NULL REFERENCES findings (id),
        sink       TEXT NOT NULL,
        channel    TEXT NOT NULL,
        ts         TEXT NOT NULL,
        PRIMARY KEY (finding_id, sink)
    );
    CREATE TABLE repeat_outbox (
        finding_id INTEGER NOT NULL REFERENCES findings (id),
        sink       TEXT NOT NULL,
        PRIMARY KEY (finding_id, sink)
    );",
    // 2 → 3: what the watcher follows of the trail itself (digest chains, log deliveries),
    // one JSON body per kind and id.
    "CREATE TABLE tracking (
        kind TEXT NOT NULL,
        id   TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, id)
    ) WITHOUT ROWID;",
];

/// Applies the migrations after `from`, and records the new version.
pub fn migrate(tx: &Transaction<'_>, from: i64) -> rusqlite::Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    Ok(())
}
