//! The store's schema as an ordered list of migrations, applied on `PRAGMA user_version`.
//!
//! `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`; each runs in its own
//! transaction together with the `user_version` bump, so a crash never leaves half a migration.
//! Never edit a released migration: append a new one.

use rusqlite::{Connection, TransactionBehavior};

use super::{Result, Store, StoreError};

/// Every migration, oldest first. The binary's schema version is `MIGRATIONS.len()`.
pub(crate) const MIGRATIONS: &[&str] = &[
    V1_INITIAL,
    V2_REOPENS_LOCKS_ROUTES,
    V3_SUPPRESSED,
    V4_WATCH_DUE,
    V5_LEASE_HOLDERS,
    V6_RUNS,
    V7_NOTES,
    V8_METRICS,
    V9_PACKED_QUEUE_HISTORY,
    V10_SEARCH_INDEX,
    V11_RECALLED_ACTIONS,
    V12_CHEAPER_ACTION_ROWS,
    V13_INSERTS_WITHOUT_TRIGGERS,
    V14_BLOCK_SEARCH_INDEX,
];

/// V14: the search index keeps, per chunk of 4,096 `row_id`s, which blocks of 4 letters hold
/// each trigram (`store::search_index`, docs/ARCHITECTURE.md), in place of the V10 FTS5 table
/// and its trigram counts: an FTS5 token per trigram and letter cost ingest ≈ 80 µs a letter
/// (docs/PERFORMANCE.md, "A search index of blocks"). The index starts empty (every letter
/// behind it, read exactly) and is caught up as V10's was; the watermark, the pending letters
/// and their triggers stay.
///
/// Written to run again over its own result, like a store whose version was set back.
const V14_BLOCK_SEARCH_INDEX: &str = r#"
DROP TABLE IF EXISTS dead_letter_search;
DROP TABLE IF EXISTS dead_letter_search_grams;
CREATE TABLE IF NOT EXISTS dead_letter_search_blocks (
    key    INTEGER PRIMARY KEY,
    grams  BLOB NOT NULL
);
DELETE FROM dead_letter_search_blocks;
DELETE FROM dead_letter_search_pending;
UPDATE dead_letter_search_state SET indexed_to = 0;
"#;

/// V13: a new dead letter is counted and (in the rare case it takes an indexed `row_id` again)
/// marked for the search index by the statement that inserts it
/// (`store::dead_letters::LetterInserts`), and a new incident counted by
/// `store::incidents::upsert_incident`, not by `AFTER INSERT` triggers. A trigger runs
/// as a sub-program per row and makes the insert keep a statement journal; the two of them cost
/// ingest about as much as the table's three indexes together (docs/PERFORMANCE.md, "Ingest
/// without insert triggers"). Every insert of a dead letter or an incident goes through those
/// two functions; updates and deletes keep their triggers.
///
/// Written to run again over its own result, like a store whose version was set back.
const V13_INSERTS_WITHOUT_TRIGGERS: &str = r#"
DROP TRIGGER IF EXISTS dead_letters_count_insert;
DROP TRIGGER IF EXISTS dead_letters_search_insert;
DROP TRIGGER IF EXISTS incidents_count_insert;
"#;

/// V12: cheaper rows per replayed letter (a run writes ~7 per letter; docs/PERFORMANCE.md,
/// "Bulk recovery runs", 2026-12-02).
/// - The outbox's two state indexes become partial: due actions are found among the pending
///   ones only (`outbox_pending_due`), recently failed ones among the failed
///   (`outbox_failed_updated`). An action that is sent leaves the first and never enters the
///   second, where it used to move inside both. Their queries name them (`INDEXED BY`): without
///   statistics SQLite would rather walk `outbox_newest` through every action.
/// - The dead letters' count trigger is split by case: a letter leaving the live DLQ on its own
///   connector (what a replay or discard does) is one `UPDATE` of its counts row, where the one
///   trigger ran three statements (two of them no-ops) for it. Every other change keeps the
///   former trigger's body, so the counts stay exact.
///
/// Written to run again over its own result, like a store whose version was set back.
const V12_CHEAPER_ACTION_ROWS: &str = r#"
DROP INDEX IF EXISTS outbox_by_state_due;
DROP INDEX IF EXISTS outbox_by_state_updated;
CREATE INDEX IF NOT EXISTS outbox_pending_due ON outbox (next_attempt_ms) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS outbox_failed_updated ON outbox (updated_ms) WHERE state = 'failed';

DROP TRIGGER IF EXISTS dead_letters_count_update;
DROP TRIGGER IF EXISTS dead_letters_count_leave;
CREATE TRIGGER dead_letters_count_leave AFTER UPDATE OF upstream, connector, state ON dead_letters
WHEN old.state = 'dead' AND new.state <> 'dead'
 AND old.upstream = new.upstream AND old.connector = new.connector
BEGIN
    UPDATE connector_counts SET dead_letters = dead_letters - 1
     WHERE upstream = old.upstream AND connector = old.connector;
END;
CREATE TRIGGER dead_letters_count_update AFTER UPDATE OF upstream, connector, state ON dead_letters
WHEN ((old.state = 'dead') <> (new.state = 'dead')
      OR (new.state = 'dead' AND (old.upstream <> new.upstream OR old.connector <> new.connector)))
 AND NOT (old.state = 'dead' AND new.state <> 'dead'
          AND old.upstream = new.upstream AND old.connector = new.connector)
BEGIN
    UPDATE connector_counts SET dead_letters = dead_letters - (old.state = 'dead')
     WHERE upstream = old.upstream AND connector = old.connector;
    INSERT INTO connector_counts (upstream, connector) SELECT new.upstream, new.connector
     WHERE NOT EXISTS (SELECT 1 FROM connector_counts WHERE upstream = new.upstream AND connector = new.connector);
    UPDATE connector_counts SET dead_letters = dead_letters + (new.state = 'dead')
     WHERE upstream = new.upstream AND connector = new.connector;
END;
"#;

/// V11: an outbox action can end `recalled` (`OutboxState::Recalled`): a run's action whose
/// upstream stopped before acting on it because the run was paused (SQS's move task, cancelled),
/// closed without being a failure while its run member is planned again (`store::run_members`).
/// `outbox.state` is free text, so no table changes; the version is what matters: a triage
/// before V11 would read such a row as a damaged store ("unknown state"), and now refuses to open
/// it as too new instead.
const V11_RECALLED_ACTIONS: &str = "-- outbox.state may be 'recalled' (no table changes)";

/// V10: the dead letters' search index (`store::search_index`, docs/ARCHITECTURE.md), built off
/// the ingest path by a catch-up behind a watermark: every letter with `row_id <= indexed_to`
/// is in `dead_letter_search` (FTS5, contentless, one token per trigram the letter has that is
/// not saturated) unless its `row_id` is in `dead_letter_search_pending` — letters whose
/// searchable text changed, that were deleted, or that took an indexed `row_id` again, which
/// searches read exactly until the catch-up indexes them anew. `dead_letter_search_grams`
/// counts the letters each trigram was indexed for; a saturated trigram is no longer indexed
/// and searches never ask for it. Nothing is indexed here: a migrated store starts with
/// `indexed_to = 0` (every letter is the tail that searches read exactly) and catches up later.
const V10_SEARCH_INDEX: &str = r#"
CREATE TABLE dead_letter_search_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_to  INTEGER NOT NULL
);
INSERT INTO dead_letter_search_state (id, indexed_to) VALUES (1, 0);
CREATE TABLE dead_letter_search_pending (row_id INTEGER PRIMARY KEY);
CREATE TABLE dead_letter_search_grams (
    gram       INTEGER PRIMARY KEY,
    letters    INTEGER NOT NULL,
    saturated  INTEGER NOT NULL DEFAULT 0
);
CREATE VIRTUAL TABLE dead_letter_search USING fts5(
    grams, content = '', contentless_delete = 1, detail = none, tokenize = 'ascii'
);

-- A letter at or below the watermark whose text the index may not hold goes pending. (No
-- INSERT OR IGNORE: an outer UPSERT's conflict handling would override it.)
CREATE TRIGGER dead_letters_search_insert AFTER INSERT ON dead_letters
WHEN new.row_id <= (SELECT indexed_to FROM dead_letter_search_state)
BEGIN
    INSERT INTO dead_letter_search_pending (row_id) SELECT new.row_id
     WHERE NOT EXISTS (SELECT 1 FROM dead_letter_search_pending WHERE row_id = new.row_id);
END;

CREATE TRIGGER dead_letters_search_update
AFTER UPDATE OF id, connector, error_code, error_message, headers, payload ON dead_letters
WHEN old.row_id <= (SELECT indexed_to FROM dead_letter_search_state)
 AND (old.id, old.connector, old.error_code, old.error_message, old.headers, old.payload)
     IS NOT (new.id, new.connector, new.error_code, new.error_message, new.headers, new.payload)
BEGIN
    INSERT INTO dead_letter_search_pending (row_id) SELECT new.row_id
     WHERE NOT EXISTS (SELECT 1 FROM dead_letter_search_pending WHERE row_id = new.row_id);
END;

CREATE TRIGGER dead_letters_search_delete AFTER DELETE ON dead_letters
WHEN old.row_id <= (SELECT indexed_to FROM dead_letter_search_state)
BEGIN
    INSERT INTO dead_letter_search_pending (row_id) SELECT old.row_id
     WHERE NOT EXISTS (SELECT 1 FROM dead_letter_search_pending WHERE row_id = old.row_id);
END;
"#;

/// V9: queue history packed (`store::queue_history`, `store::queue_codec`, docs/METRICS.md):
/// connectors get an integer key (`queue_series`); polls wait as rows in `queue_polls` until
/// their hour has passed; every tier's points live in `queue_blocks` (one row per connector,
/// tier and hour — or day for 15-minute points — holding the points as a compact blob); the
/// hourly DLQ depths in `dlq_depth_days` (one blob per connector and day). The V8 rows are
/// converted in the same transaction by `queue_convert::convert_v8` (see [`after_migration`]),
/// which drops `queue_snapshots` and `dlq_depth_hourly`.
const V9_PACKED_QUEUE_HISTORY: &str = r#"
CREATE TABLE queue_series (
    key        INTEGER PRIMARY KEY,
    upstream   TEXT NOT NULL,
    connector  TEXT NOT NULL,
    UNIQUE (upstream, connector)
);
CREATE TABLE queue_polls (
    series     INTEGER NOT NULL,
    at_ms      INTEGER NOT NULL,
    ready      INTEGER NOT NULL,
    in_flight  INTEGER NOT NULL,
    retrying   INTEGER NOT NULL,
    dead       INTEGER NOT NULL,
    rate_in    REAL NOT NULL,
    rate_out   REAL NOT NULL,
    rate_fail  REAL NOT NULL
);
-- Covers the depth reads; the pack reads an hour of rows through it.
CREATE INDEX queue_polls_by_series ON queue_polls (series, at_ms, dead);
-- A rowid table: blocks of up to ~4 KB stay inside one page (a WITHOUT ROWID row spills to an
-- overflow page past ~1 KB).
CREATE TABLE queue_blocks (
    series         INTEGER NOT NULL,
    resolution_ms  INTEGER NOT NULL,
    start_ms       INTEGER NOT NULL,
    points         INTEGER NOT NULL,
    data           BLOB NOT NULL
);
-- Time order across tiers: a window's blocks are one range.
CREATE UNIQUE INDEX queue_blocks_by_series ON queue_blocks (series, start_ms, resolution_ms);
CREATE TABLE dlq_depth_days (
    series  INTEGER NOT NULL,
    day_ms  INTEGER NOT NULL,
    data    BLOB NOT NULL,
    PRIMARY KEY (series, day_ms)
) WITHOUT ROWID;
"#;

/// Work a migration needs beyond its SQL, in the same transaction, after it.
fn after_migration(version: usize, tx: &Connection) -> rusqlite::Result<()> {
    match version {
        9 => super::queue_convert::convert_v8(tx),
        _ => Ok(()),
    }
}

/// V7: notes on incidents (`store::notes`): a history with author and time, never overwritten.
const V7_NOTES: &str = r#"
CREATE TABLE incident_notes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    upstream   TEXT NOT NULL,
    incident   TEXT NOT NULL,
    at_ms      INTEGER NOT NULL,
    operator   TEXT NOT NULL,
    text       TEXT NOT NULL
);
CREATE INDEX incident_notes_by_incident ON incident_notes (upstream, incident, seq);
"#;

/// V8: what the metrics need and was not recorded (`store::metrics_report`, docs/METRICS.md):
/// - `incident_reopens`: when each reopen happened (the reopen trigger now logs it too);
/// - `escalation_steps`: one row per step taken, with who took it (earlier steps are backfilled
///   from `escalations`, one row per level reached, operator unknown);
/// - `notified_teams`: the team of each notification an escalation step sent;
/// - `team_directory`: person or team id → team id, written from config with the inventory;
/// - queue snapshots get a resolution (0 = a raw poll; 60 000 and 900 000 = downsampled) and a
///   covering index for depth reads;
/// - `dlq_depth_hourly`: the deepest DLQ per connector per hour (charts over days);
/// - a covering index on `incidents.opened_ms` for the window scans, and `audit` by time for
///   the handoff.
const V8_METRICS: &str = r#"
CREATE TABLE incident_reopens (
    upstream  TEXT NOT NULL,
    id        TEXT NOT NULL,
    at_ms     INTEGER NOT NULL
);
CREATE INDEX incident_reopens_by_time ON incident_reopens (at_ms);
DROP TRIGGER incidents_reopen;
CREATE TRIGGER incidents_reopen AFTER UPDATE OF status_rank ON incidents
WHEN old.status_rank = 3 AND new.status_rank < 3
BEGIN
    UPDATE incidents SET reopens = reopens + 1 WHERE rowid = new.rowid;
    INSERT INTO incident_reopens (upstream, id, at_ms) VALUES (new.upstream, new.id, new.updated_ms);
END;

CREATE TABLE escalation_steps (
    upstream  TEXT NOT NULL,
    id        TEXT NOT NULL,
    cycle_ms  INTEGER NOT NULL,
    level     INTEGER NOT NULL,
    at_ms     INTEGER NOT NULL,
    operator  TEXT NOT NULL
);
CREATE INDEX escalation_steps_by_incident ON escalation_steps (upstream, id);
-- Covering for the metrics' window read.
CREATE INDEX escalation_steps_by_time ON escalation_steps (at_ms, upstream, id, level);
WITH RECURSIVE levels(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM levels WHERE n < 64)
INSERT INTO escalation_steps (upstream, id, cycle_ms, level, at_ms, operator)
SELECT e.upstream, e.id, e.cycle_ms, levels.n, e.updated_ms, ''
  FROM escalations e JOIN levels ON levels.n <= e.level;

CREATE TABLE notified_teams (
    upstream  TEXT NOT NULL,
    id        TEXT NOT NULL,
    at_ms     INTEGER NOT NULL,
    level     INTEGER NOT NULL,
    team      TEXT NOT NULL
);
CREATE INDEX notified_teams_by_incident ON notified_teams (upstream, id);
CREATE INDEX notified_teams_by_time ON notified_teams (at_ms, upstream, id, team);

CREATE TABLE team_directory (
    member  TEXT PRIMARY KEY NOT NULL,
    team    TEXT NOT NULL
) WITHOUT ROWID;

ALTER TABLE queue_snapshots ADD COLUMN resolution_ms INTEGER NOT NULL DEFAULT 0;
-- Covers DLQ depth reads and the roll-ups (no row lookups); serves the old index's queries too.
DROP INDEX queue_snapshots_by_connector_time;
CREATE INDEX queue_snapshots_by_connector_time
    ON queue_snapshots (upstream, connector, at_ms, dead, resolution_ms);
-- Covers the metrics' window scan (no row lookups into the wide incidents table).
-- The deepest DLQ per connector per whole hour (the metrics' charts over days), kept by the
-- queue history's hourly pass for 90 days; the hour in progress is read from the snapshots.
CREATE TABLE dlq_depth_hourly (
    upstream    TEXT NOT NULL,
    connector   TEXT NOT NULL,
    hour_ms     INTEGER NOT NULL,
    max_dead    INTEGER NOT NULL,
    last_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (upstream, connector, hour_ms)
) WITHOUT ROWID;
-- The handoff reads a shift's audit rows by time.
CREATE INDEX audit_by_time ON audit (at_ms);
CREATE INDEX incidents_by_opened ON incidents
    (opened_ms, upstream, connector, id, acked_ms, resolved_ms, ack_deadline_ms, reopens);
"#;

/// The schema version this binary writes and understands.
pub(crate) fn supported_version() -> u32 {
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}

const V1_INITIAL: &str = r#"
CREATE TABLE connectors (
    upstream      TEXT NOT NULL,
    id            TEXT NOT NULL,
    name          TEXT NOT NULL,
    in_inventory  INTEGER NOT NULL DEFAULT 0,
    source        TEXT,
    destination   TEXT,
    direction     TEXT,
    purpose       TEXT,
    owner         TEXT,
    backup        TEXT,
    ack_sla_ms    INTEGER,
    runbook       TEXT,
    contract      TEXT,
    status        TEXT NOT NULL DEFAULT 'unknown',
    ready         INTEGER NOT NULL DEFAULT 0,
    in_flight     INTEGER NOT NULL DEFAULT 0,
    retrying      INTEGER NOT NULL DEFAULT 0,
    dead          INTEGER NOT NULL DEFAULT 0,
    rate_in       REAL NOT NULL DEFAULT 0,
    rate_out      REAL NOT NULL DEFAULT 0,
    rate_fail     REAL NOT NULL DEFAULT 0,
    last_error    TEXT,
    updated_ms    INTEGER,
    PRIMARY KEY (upstream, id)
) WITHOUT ROWID;

CREATE TABLE queue_snapshots (
    upstream   TEXT NOT NULL,
    connector  TEXT NOT NULL,
    at_ms      INTEGER NOT NULL,
    ready      INTEGER NOT NULL,
    in_flight  INTEGER NOT NULL,
    retrying   INTEGER NOT NULL,
    dead       INTEGER NOT NULL,
    rate_in    REAL NOT NULL,
    rate_out   REAL NOT NULL,
    rate_fail  REAL NOT NULL
);
CREATE INDEX queue_snapshots_by_connector_time ON queue_snapshots (upstream, connector, at_ms);

CREATE TABLE incidents (
    row_id            INTEGER PRIMARY KEY,
    upstream          TEXT NOT NULL,
    id                TEXT NOT NULL,
    connector         TEXT NOT NULL,
    kind              TEXT NOT NULL,
    severity          TEXT NOT NULL,
    status            TEXT NOT NULL,
    title             TEXT NOT NULL,
    detail            TEXT NOT NULL,
    opened_ms         INTEGER NOT NULL,
    updated_ms        INTEGER NOT NULL,
    acked_by          TEXT,
    acked_ms          INTEGER,
    resolved_ms       INTEGER,
    ack_deadline_ms   INTEGER,
    escalation_level  INTEGER NOT NULL,
    labels            TEXT NOT NULL,
    links             TEXT NOT NULL,
    status_rank       INTEGER NOT NULL,
    deadline_ms       INTEGER NOT NULL,
    UNIQUE (upstream, id)
);
CREATE INDEX incidents_by_urgency ON incidents (status_rank, deadline_ms, upstream, id);
CREATE INDEX incidents_by_connector_urgency
    ON incidents (connector, status_rank, deadline_ms, upstream, id);
CREATE INDEX incidents_by_id ON incidents (id);

CREATE TABLE dead_letters (
    row_id           INTEGER PRIMARY KEY,
    upstream         TEXT NOT NULL,
    id               TEXT NOT NULL,
    connector        TEXT NOT NULL,
    payload          BLOB NOT NULL,
    content_type     TEXT,
    headers          TEXT NOT NULL,
    error_code       TEXT NOT NULL,
    error_message    TEXT NOT NULL,
    http_status      INTEGER,
    vendor_response  TEXT,
    attempts         INTEGER NOT NULL,
    first_failed_ms  INTEGER NOT NULL,
    last_failed_ms   INTEGER NOT NULL,
    state            TEXT NOT NULL,
    updated_ms       INTEGER NOT NULL,
    UNIQUE (upstream, id)
);
CREATE INDEX dead_letters_by_state_newest
    ON dead_letters (state, last_failed_ms DESC, row_id DESC);
CREATE INDEX dead_letters_by_connector_state
    ON dead_letters (connector, state, last_failed_ms, row_id);
CREATE INDEX dead_letters_by_id ON dead_letters (id);

-- Live counts per connector, maintained by the triggers below so nothing ever counts rows.
-- (The triggers avoid INSERT OR IGNORE: an outer UPSERT's conflict handling would override it.)
CREATE TABLE connector_counts (
    upstream           TEXT NOT NULL,
    connector          TEXT NOT NULL,
    dead_letters       INTEGER NOT NULL DEFAULT 0,
    open_incidents     INTEGER NOT NULL DEFAULT 0,
    unacked_incidents  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (upstream, connector)
) WITHOUT ROWID;

CREATE TRIGGER dead_letters_count_insert AFTER INSERT ON dead_letters
WHEN new.state = 'dead'
BEGIN
    INSERT INTO connector_counts (upstream, connector) SELECT new.upstream, new.connector
     WHERE NOT EXISTS (SELECT 1 FROM connector_counts WHERE upstream = new.upstream AND connector = new.connector);
    UPDATE connector_counts SET dead_letters = dead_letters + 1
     WHERE upstream = new.upstream AND connector = new.connector;
END;

CREATE TRIGGER dead_letters_count_delete AFTER DELETE ON dead_letters
WHEN old.state = 'dead'
BEGIN
    UPDATE connector_counts SET dead_letters = dead_letters - 1
     WHERE upstream = old.upstream AND connector = old.connector;
END;

CREATE TRIGGER dead_letters_count_update AFTER UPDATE OF upstream, connector, state ON dead_letters
WHEN (old.state = 'dead') <> (new.state = 'dead')
  OR (new.state = 'dead' AND (old.upstream <> new.upstream OR old.connector <> new.connector))
BEGIN
    UPDATE connector_counts SET dead_letters = dead_letters - (old.state = 'dead')
     WHERE upstream = old.upstream AND connector = old.connector;
    INSERT INTO connector_counts (upstream, connector) SELECT new.upstream, new.connector
     WHERE NOT EXISTS (SELECT 1 FROM connector_counts WHERE upstream = new.upstream AND connector = new.connector);
    UPDATE connector_counts SET dead_letters = dead_letters + (new.state = 'dead')
     WHERE upstream = new.upstream AND connector = new.connector;
END;

CREATE TRIGGER incidents_count_insert AFTER INSERT ON incidents
BEGIN
    INSERT INTO connector_counts (upstream, connector) SELECT new.upstream, new.connector
     WHERE NOT EXISTS (SELECT 1 FROM connector_counts WHERE upstream = new.upstream AND connector = new.connector);
    UPDATE connector_counts
       SET open_incidents = open_incidents + (new.status_rank < 2),
           unacked_incidents = unacked_incidents + (new.status_rank = 0)
     WHERE upstream = new.upstream AND connector = new.connector;
END;

CREATE TRIGGER incidents_count_delete AFTER DELETE ON incidents
BEGIN
    UPDATE connector_counts
       SET open_incidents = open_incidents - (old.status_rank < 2),
           unacked_incidents = unacked_incidents - (old.status_rank = 0)
     WHERE upstream = old.upstream AND connector = old.connector;
END;

CREATE TRIGGER incidents_count_update AFTER UPDATE OF upstream, connector, status_rank ON incidents
WHEN old.status_rank <> new.status_rank OR old.upstream <> new.upstream OR old.connector <> new.connector
BEGIN
    UPDATE connector_counts
       SET open_incidents = open_incidents - (old.status_rank < 2),
           unacked_incidents = unacked_incidents - (old.status_rank = 0)
     WHERE upstream = old.upstream AND connector = old.connector;
    INSERT INTO connector_counts (upstream, connector) SELECT new.upstream, new.connector
     WHERE NOT EXISTS (SELECT 1 FROM connector_counts WHERE upstream = new.upstream AND connector = new.connector);
    UPDATE connector_counts
       SET open_incidents = open_incidents + (new.status_rank < 2),
           unacked_incidents = unacked_incidents + (new.status_rank = 0)
     WHERE upstream = new.upstream AND connector = new.connector;
END;

CREATE TABLE outbox (
    id               TEXT PRIMARY KEY NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    upstream         TEXT NOT NULL,
    target           TEXT NOT NULL,
    action           TEXT NOT NULL,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER NOT NULL,
    lease_until_ms   INTEGER,
    last_error       TEXT,
    outcome          TEXT,
    created_ms       INTEGER NOT NULL,
    updated_ms       INTEGER NOT NULL
);
CREATE INDEX outbox_by_state_due ON outbox (state, next_attempt_ms);
CREATE INDEX outbox_by_state_updated ON outbox (state, updated_ms);
CREATE INDEX outbox_newest ON outbox (created_ms, id);

CREATE TABLE audit (
    seq           INTEGER PRIMARY KEY,
    at_ms         INTEGER NOT NULL,
    operator      TEXT NOT NULL,
    event         TEXT NOT NULL,
    upstream      TEXT NOT NULL,
    target        TEXT NOT NULL,
    outbox_id     TEXT,
    payload_hash  TEXT,
    detail        TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);

CREATE TABLE sync_cursors (
    upstream  TEXT NOT NULL,
    stream    TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (upstream, stream)
) WITHOUT ROWID;

CREATE TABLE upstream_state (
    upstream    TEXT PRIMARY KEY NOT NULL,
    state       TEXT NOT NULL,
    updated_ms  INTEGER NOT NULL
);

-- When queue snapshots of an upstream were last pruned (at most hourly).
CREATE TABLE snapshot_pruning (
    upstream   TEXT PRIMARY KEY NOT NULL,
    pruned_ms  INTEGER NOT NULL
);
"#;

/// Reopen counting, the `triage watch` lock, and the route each incident was given.
const V2_REOPENS_LOCKS_ROUTES: &str = r#"
ALTER TABLE incidents ADD COLUMN reopens INTEGER NOT NULL DEFAULT 0;
-- A resolved incident that opens again (same upstream id) is a reopen.
CREATE TRIGGER incidents_reopen AFTER UPDATE OF status_rank ON incidents
WHEN old.status_rank = 2 AND new.status_rank < 2
BEGIN
    UPDATE incidents SET reopens = reopens + 1 WHERE rowid = new.rowid;
END;

-- One holder per named lock (e.g. "watch"): whoever holds an unexpired lease acts.
CREATE TABLE locks (
    name           TEXT PRIMARY KEY NOT NULL,
    holder         TEXT NOT NULL,
    lease_until_ms INTEGER NOT NULL,
    acquired_ms    INTEGER NOT NULL
);

-- The route an incident was given (rule, origin, owner, backup, SLA, chain, runbook) as JSON,
-- kept so the console can say why, even after the config changes.
-- The dead-letter detail lists triage's actions on one target.
CREATE INDEX outbox_by_target ON outbox (upstream, target, created_ms, id);

-- How far `triage watch` escalated each incident in each ack cycle (cycle = when the clock
-- started: opened_at, or when an ack expired), so a step is taken once.
CREATE TABLE escalations (
    upstream    TEXT NOT NULL,
    id          TEXT NOT NULL,
    cycle_ms    INTEGER NOT NULL,
    level       INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (upstream, id, cycle_ms)
) WITHOUT ROWID;

CREATE TABLE incident_routes (
    upstream   TEXT NOT NULL,
    id         TEXT NOT NULL,
    route      TEXT NOT NULL,
    routed_ms  INTEGER NOT NULL,
    PRIMARY KEY (upstream, id)
) WITHOUT ROWID;
"#;

/// A fourth incident status, `suppressed` (rank 2), before `resolved` (now rank 3): counts and
/// the reopen trigger treat every rank below 3 as unresolved.
const V3_SUPPRESSED: &str = r#"
UPDATE incidents SET status_rank = 3 WHERE status_rank = 2;

DROP TRIGGER incidents_count_insert;
CREATE TRIGGER incidents_count_insert AFTER INSERT ON incidents
BEGIN
    INSERT INTO connector_counts (upstream, connector) SELECT new.upstream, new.connector
     WHERE NOT EXISTS (SELECT 1 FROM connector_counts WHERE upstream = new.upstream AND connector = new.connector);
    UPDATE connector_counts
       SET open_incidents = open_incidents + (new.status_rank < 3),
           unacked_incidents = unacked_incidents + (new.status_rank = 0)
     WHERE upstream = new.upstream AND connector = new.connector;
END;

DROP TRIGGER incidents_count_delete;
CREATE TRIGGER incidents_count_delete AFTER DELETE ON incidents
BEGIN
    UPDATE connector_counts
       SET open_incidents = open_incidents - (old.status_rank < 3),
           unacked_incidents = unacked_incidents - (old.status_rank = 0)
     WHERE upstream = old.upstream AND connector = old.connector;
END;

DROP TRIGGER incidents_count_update;
CREATE TRIGGER incidents_count_update AFTER UPDATE OF upstream, connector, status_rank ON incidents
WHEN old.status_rank <> new.status_rank OR old.upstream <> new.upstream OR old.connector <> new.connector
BEGIN
    UPDATE connector_counts
       SET open_incidents = open_incidents - (old.status_rank < 3),
           unacked_incidents = unacked_incidents - (old.status_rank = 0)
     WHERE upstream = old.upstream AND connector = old.connector;
    INSERT INTO connector_counts (upstream, connector) SELECT new.upstream, new.connector
     WHERE NOT EXISTS (SELECT 1 FROM connector_counts WHERE upstream = new.upstream AND connector = new.connector);
    UPDATE connector_counts
       SET open_incidents = open_incidents + (new.status_rank < 3),
           unacked_incidents = unacked_incidents + (new.status_rank = 0)
     WHERE upstream = new.upstream AND connector = new.connector;
END;

DROP TRIGGER incidents_reopen;
CREATE TRIGGER incidents_reopen AFTER UPDATE OF status_rank ON incidents
WHEN old.status_rank = 3 AND new.status_rank < 3
BEGIN
    UPDATE incidents SET reopens = reopens + 1 WHERE rowid = new.rowid;
END;
"#;

/// `triage watch` looks only at incidents whose clock needs a look: `watch_due_ms` is when
/// (0 = now: new, changed or never evaluated; i64::MAX = only after a change). A write of any
/// field the clock or the route reads, or a new route, resets it to 0 and bumps `watch_gen`, so a
/// watcher that evaluated an older version cannot overwrite the reset with a stale mark.
/// V5: who holds an outbox lease and since when (`store::holder`), so a dead holder's lease is
/// taken over at once and `triage outbox` can say who holds what.
const V5_LEASE_HOLDERS: &str = r#"
ALTER TABLE outbox ADD COLUMN lease_holder TEXT;
ALTER TABLE outbox ADD COLUMN lease_since_ms INTEGER;
"#;

/// V6: bulk recovery runs (`store::runs`): a run and its frozen selection; each member points at
/// the outbox action it became.
const V6_RUNS: &str = r#"
CREATE TABLE runs (
    id           TEXT PRIMARY KEY NOT NULL,
    kind         TEXT NOT NULL,
    selection    TEXT NOT NULL,
    operator     TEXT NOT NULL,
    state        TEXT NOT NULL,
    reason       TEXT,
    stages       TEXT NOT NULL,
    max_failures TEXT NOT NULL,
    rate         REAL,
    concurrency  INTEGER NOT NULL,
    force        INTEGER NOT NULL,
    destination  TEXT,
    drop_ttl     INTEGER NOT NULL,
    gate         INTEGER NOT NULL DEFAULT 0,
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL
);
CREATE INDEX runs_by_state ON runs (state, created_ms);

CREATE TABLE run_members (
    run_id     TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    upstream   TEXT NOT NULL,
    target     TEXT NOT NULL,
    connector  TEXT NOT NULL,
    stage      INTEGER NOT NULL,
    state      TEXT NOT NULL,
    note       TEXT,
    outbox_id  TEXT,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE INDEX run_members_by_stage ON run_members (run_id, stage, state, seq);
"#;

const V4_WATCH_DUE: &str = r#"
ALTER TABLE incidents ADD COLUMN watch_due_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN watch_gen INTEGER NOT NULL DEFAULT 0;
CREATE INDEX incidents_by_watch_due ON incidents (watch_due_ms, row_id);

CREATE TRIGGER incidents_watch_reset
AFTER UPDATE OF connector, kind, severity, status, opened_ms, acked_ms, ack_deadline_ms,
    escalation_level, labels, status_rank ON incidents
BEGIN
    UPDATE incidents SET watch_due_ms = 0, watch_gen = watch_gen + 1 WHERE rowid = new.rowid;
END;

CREATE TRIGGER incident_routes_watch_reset_insert AFTER INSERT ON incident_routes
BEGIN
    UPDATE incidents SET watch_due_ms = 0, watch_gen = watch_gen + 1
     WHERE upstream = new.upstream AND id = new.id;
END;

CREATE TRIGGER incident_routes_watch_reset_update AFTER UPDATE OF route ON incident_routes
BEGIN
    UPDATE incidents SET watch_due_ms = 0, watch_gen = watch_gen + 1
     WHERE upstream = new.upstream AND id = new.id;
END;
"#;

impl Store {
    /// Brings the schema up to [`supported_version`], one transaction per migration.
    pub(crate) fn migrate(&mut self) -> Result<()> {
        let found = user_version(&self.conn).map_err(|e| self.sqlite(e))?;
        let supported = supported_version();
        if found > supported {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found,
                supported,
            });
        }
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let next_version = index + 1;
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(err)?;
            // Re-check inside the write lock: another process may have migrated meanwhile.
            let current = user_version(&tx).map_err(err)?;
            if current as usize >= next_version {
                continue;
            }
            tx.execute_batch(migration).map_err(err)?;
            after_migration(next_version, &tx).map_err(err)?;
            tx.pragma_update(None, "user_version", next_version as i64)
                .map_err(err)?;
            tx.commit().map_err(err)?;
            tracing::info!(path = %path.display(), version = next_version, "store migrated");
        }
        Ok(())
    }

    pub fn schema_version(&self) -> Result<u32> {
        user_version(&self.conn).map_err(|e| self.sqlite(e))
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    Ok(u32::try_from(version).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSERT: &str = "INSERT INTO incidents (upstream, id, connector, kind, severity, status,
        title, detail, opened_ms, updated_ms, escalation_level, labels, links, status_rank,
        deadline_ms) VALUES ('am', ?1, 'crm', 'k', 'major', ?2, 't', '', 0, 0, 0, '{}', '[]', ?3, 0)";

    fn counts(conn: &Connection) -> (i64, i64) {
        conn.query_row(
            "SELECT open_incidents, unacked_incidents FROM connector_counts WHERE connector = 'crm'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    /// A store written by a V2 triage (resolved = rank 2) keeps its counts and reopen counting
    /// after V3, and suppressed incidents count as unresolved but not unacked.
    #[test]
    fn v3_moves_resolved_to_rank_3_and_keeps_counts_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("triage.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(V1_INITIAL).unwrap();
            conn.execute_batch(V2_REOPENS_LOCKS_ROUTES).unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
            for (id, status, rank) in [("o", "open", 0), ("a", "acknowledged", 1)] {
                conn.execute(INSERT, rusqlite::params![id, status, rank])
                    .unwrap();
            }
            conn.execute(INSERT, rusqlite::params!["r", "resolved", 2])
                .unwrap();
            assert_eq!(counts(&conn), (2, 1));
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), supported_version());
        drop(store);
        let conn = Connection::open(&path).unwrap();
        let rank: i64 = conn
            .query_row(
                "SELECT status_rank FROM incidents WHERE id = 'r'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rank, 3);
        assert_eq!(counts(&conn), (2, 1));
        // Since V13 a new incident is counted by the one statement that inserts incidents.
        let suppressed = crate::domain::Incident {
            upstream: "am".into(),
            connector: "crm".into(),
            ..super::super::v13_tests::incident("s", crate::domain::IncidentStatus::Suppressed)
        };
        assert!(super::super::incidents::upsert_incident(&conn, &suppressed).unwrap());
        assert_eq!(counts(&conn), (3, 1));
        conn.execute(
            "UPDATE incidents SET status = 'open', status_rank = 0 WHERE id = 'r'",
            [],
        )
        .unwrap();
        let reopens: i64 = conn
            .query_row("SELECT reopens FROM incidents WHERE id = 'r'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!((reopens, counts(&conn)), (1, (4, 2)));
        // Suppressed → open is not a reopen.
        conn.execute(
            "UPDATE incidents SET status = 'open', status_rank = 0 WHERE id = 's'",
            [],
        )
        .unwrap();
        let reopens: i64 = conn
            .query_row("SELECT reopens FROM incidents WHERE id = 's'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!((reopens, counts(&conn)), (0, (4, 3)));
    }

    /// A V3 store gains watch marks: every existing incident is due for a look at once, and a
    /// later change to a clock field (not to the title) asks for a look again.
    #[test]
    fn v4_makes_every_incident_due_and_changes_reset_the_mark() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("triage.db");
        {
            let conn = Connection::open(&path).unwrap();
            for migration in [V1_INITIAL, V2_REOPENS_LOCKS_ROUTES, V3_SUPPRESSED] {
                conn.execute_batch(migration).unwrap();
            }
            conn.pragma_update(None, "user_version", 3).unwrap();
            conn.execute(INSERT, rusqlite::params!["o", "open", 0])
                .unwrap();
        }
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        let mark = |conn: &Connection| -> (i64, i64) {
            conn.query_row(
                "SELECT watch_due_ms, watch_gen FROM incidents WHERE id = 'o'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        assert_eq!(mark(&conn), (0, 0));
        conn.execute(
            "UPDATE incidents SET watch_due_ms = 5000 WHERE id = 'o'",
            [],
        )
        .unwrap();
        conn.execute("UPDATE incidents SET title = 'renamed' WHERE id = 'o'", [])
            .unwrap();
        assert_eq!(mark(&conn), (5000, 0), "a title is not a clock field");
        conn.execute(
            "UPDATE incidents SET status = 'acknowledged', status_rank = 1, acked_ms = 1 WHERE id = 'o'",
            [],
        )
        .unwrap();
        assert_eq!(mark(&conn), (0, 1));
        conn.execute(
            "UPDATE incidents SET watch_due_ms = 7000 WHERE id = 'o'",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO incident_routes (upstream, id, route, routed_ms) VALUES ('am', 'o', '{}', 1)",
            [],
        )
        .unwrap();
        assert_eq!(mark(&conn), (0, 2), "a new route asks for a look");
    }

    /// A V7 store gains V8's records: each escalation level reached becomes one step (operator
    /// unknown), snapshots are raw, and a reopen from now on is logged with its time.
    #[test]
    fn v8_backfills_escalation_steps_and_logs_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("triage.db");
        {
            let conn = Connection::open(&path).unwrap();
            for migration in &MIGRATIONS[..7] {
                conn.execute_batch(migration).unwrap();
            }
            conn.pragma_update(None, "user_version", 7).unwrap();
            conn.execute(
                "INSERT INTO escalations (upstream, id, cycle_ms, level, updated_ms) VALUES ('am', 'r', 0, 2, 50)",
                [],
            )
            .unwrap();
            conn.execute(INSERT, rusqlite::params!["r", "resolved", 3])
                .unwrap();
            conn.execute(
                "INSERT INTO queue_snapshots (upstream, connector, at_ms, ready, in_flight, retrying,
                    dead, rate_in, rate_out, rate_fail) VALUES ('am', 'crm', 1, 0, 0, 0, 4, 0, 0, 0)",
                [],
            )
            .unwrap();
        }
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        let steps: Vec<(i64, i64, String)> = conn
            .prepare("SELECT level, at_ms, operator FROM escalation_steps ORDER BY level")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(steps, [(1, 50, String::new()), (2, 50, String::new())]);
        let raw: i64 = conn
            .query_row(
                "SELECT SUM(points) FROM queue_blocks WHERE resolution_ms = 0",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(raw, 1, "the V7 snapshot is a raw poll");
        conn.execute(
            "UPDATE incidents SET status = 'open', status_rank = 0, updated_ms = 77 WHERE id = 'r'",
            [],
        )
        .unwrap();
        let reopen: (String, i64) = conn
            .query_row("SELECT id, at_ms FROM incident_reopens", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(reopen, ("r".to_string(), 77));
    }

    /// A V9 store's letters are searchable after V10 without being indexed at open: the
    /// watermark starts at 0, so every letter is the tail a search reads exactly.
    #[test]
    fn v10_indexes_nothing_at_open_and_searches_still_find_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("triage.db");
        {
            let conn = Connection::open(&path).unwrap();
            for migration in &MIGRATIONS[..9] {
                conn.execute_batch(migration).unwrap();
            }
            conn.pragma_update(None, "user_version", 9).unwrap();
            conn.execute(
                "INSERT INTO dead_letters (upstream, id, connector, payload, headers, error_code,
                    error_message, attempts, first_failed_ms, last_failed_ms, state, updated_ms)
                 VALUES ('u', 'dl-1', 'crm', X'00FF4F726465722D3737', '[]', 'E', 'm', 1, 0, 0, 'dead', 0)",
                [],
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), supported_version());
        let (indexed_to, grams): (i64, i64) = store
            .conn
            .query_row(
                "SELECT indexed_to, (SELECT count(*) FROM dead_letter_search_blocks)
                   FROM dead_letter_search_state",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((indexed_to, grams), (0, 0));
        assert_eq!(store.search_index_behind().unwrap(), 1);
        let page = |text: &str| {
            store
                .page_dead_letters(&crate::store::DeadLetterPageQuery {
                    text: Some(text.into()),
                    limit: 10,
                    ..Default::default()
                })
                .unwrap()
                .len()
        };
        assert_eq!(page("order-77"), 1);
        store.catch_up_search_index(10).unwrap();
        assert_eq!(store.search_index_behind().unwrap(), 0);
        assert_eq!(page("ORDER-77"), 1);
        assert_eq!(page("order-78"), 0);
    }

    /// One V8 queue snapshot or V9 point: upstream, connector, resolution, time, the four
    /// counts and the rates' bits.
    type Point = (String, String, i64, i64, [i64; 4], [u64; 3]);

    /// A V8 store's queue history — raw polls (one in the current hour, one a month old),
    /// rolled points of both tiers with rates that are not whole thousandths, counts at the
    /// ends of the range, hourly depths — comes through V9 packed with every value the same.
    #[test]
    fn v9_packs_every_snapshot_and_hourly_depth_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("triage.db");
        let hour = 3_600_000i64;
        let t = 1_780_000_000_000i64 - 1_780_000_000_000i64 % hour;
        let v8_points: Vec<Point>;
        let v8_hours: Vec<(String, String, i64, i64, i64)>;
        {
            let conn = Connection::open(&path).unwrap();
            for migration in &MIGRATIONS[..8] {
                conn.execute_batch(migration).unwrap();
            }
            conn.pragma_update(None, "user_version", 8).unwrap();
            let mut insert = conn
                .prepare(
                    "INSERT INTO queue_snapshots (upstream, connector, at_ms, ready, in_flight,
                        retrying, dead, rate_in, rate_out, rate_fail, resolution_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .unwrap();
            type Row = (&'static str, &'static str, i64, [i64; 4], [f64; 3], i64);
            let rows: [Row; 9] = [
                (
                    "am",
                    "crm",
                    t - 30 * 86_400_000,
                    [1, 2, 3, 4],
                    [2.37, 0.0, 1.5],
                    0,
                ),
                (
                    "am",
                    "crm",
                    t - 20 * 86_400_000,
                    [9, 0, 0, 77],
                    [2.0166666666666666, 0.1 + 0.2, 1e-9],
                    900_000,
                ),
                (
                    "am",
                    "crm",
                    t - 20 * 86_400_000 + 900_000,
                    [8, 0, 0, 76],
                    [3.0, 1.0 / 3.0, 0.0],
                    900_000,
                ),
                (
                    "am",
                    "crm",
                    t - 3 * 86_400_000,
                    [i64::MAX, 0, i64::MIN, 0],
                    [1e300, -2.5, 12345.678],
                    60_000,
                ),
                (
                    "am",
                    "crm",
                    t - 3 * 86_400_000 + 60_000,
                    [5, 5, 5, 5],
                    [0.001, 0.002, 0.003],
                    60_000,
                ),
                ("am", "crm", t - 30_000, [10, 1, 0, 3], [4.2, 4.1, 0.1], 0),
                ("am", "crm", t + 30_000, [11, 1, 0, 4], [4.3, 4.2, 0.0], 0),
                ("am", "crm", t + 60_000, [12, 1, 0, 4], [4.3, 4.2, 0.0], 0),
                (
                    "rabbit",
                    "orders.q",
                    t + 1,
                    [0, 0, 0, 123_456_789],
                    [0.0, 0.0, 0.0],
                    0,
                ),
            ];
            for (up, c, at, n, r, res) in rows {
                insert
                    .execute(rusqlite::params![
                        up, c, at, n[0], n[1], n[2], n[3], r[0], r[1], r[2], res
                    ])
                    .unwrap();
            }
            for (up, c, h, dead, last) in [
                ("am", "crm", t - 2 * hour, 12, t - 2 * hour + 3_570_000),
                ("am", "crm", t - hour, 3, t - 30_000),
                ("am", "gone", t - 40 * hour, 9, t - 40 * hour + 5),
            ] {
                conn.execute(
                    "INSERT INTO dlq_depth_hourly (upstream, connector, hour_ms, max_dead, last_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    rusqlite::params![up, c, h, dead, last],
                )
                .unwrap();
            }
            v8_points = conn
                .prepare(
                    "SELECT upstream, connector, resolution_ms, at_ms, ready, in_flight, retrying,
                        dead, rate_in, rate_out, rate_fail FROM queue_snapshots",
                )
                .unwrap()
                .query_map([], |r| {
                    let rate = |i: usize| r.get::<_, f64>(i).map(f64::to_bits);
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        [r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?],
                        [rate(8)?, rate(9)?, rate(10)?],
                    ))
                })
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            v8_hours = conn
                .prepare("SELECT upstream, connector, hour_ms, max_dead, last_at_ms FROM dlq_depth_hourly")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
        }
        assert_eq!(v8_points.len(), 9);
        let store = Store::open(&path).unwrap();
        assert!(store.schema_version().unwrap() >= 9);
        let conn = &store.conn;
        let mut v9_points: Vec<Point> = Vec::new();
        let mut stmt = conn
            .prepare(
                "SELECT q.upstream, q.connector, b.resolution_ms, b.start_ms, b.points, b.data
                 FROM queue_blocks b JOIN queue_series q ON q.key = b.series",
            )
            .unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let (up, c, res, start): (String, String, i64, i64) = (
                r.get(0).unwrap(),
                r.get(1).unwrap(),
                r.get(2).unwrap(),
                r.get(3).unwrap(),
            );
            let data: Vec<u8> = r.get(5).unwrap();
            let points = super::super::queue_codec::decode_points(start, &data).unwrap();
            assert_eq!(r.get::<_, i64>(4).unwrap(), points.len() as i64);
            for p in points {
                v9_points.push((
                    up.clone(),
                    c.clone(),
                    res,
                    p.at_ms,
                    [p.ready, p.in_flight, p.retrying, p.dead],
                    [
                        p.rate_in.to_bits(),
                        p.rate_out.to_bits(),
                        p.rate_fail.to_bits(),
                    ],
                ));
            }
        }
        let (mut want, mut got) = (v8_points, v9_points);
        want.sort();
        got.sort();
        assert_eq!(got, want);
        let mut hours: Vec<(String, String, i64, i64, i64)> = Vec::new();
        let mut stmt = conn
            .prepare(
                "SELECT q.upstream, q.connector, d.day_ms, d.data
                 FROM dlq_depth_days d JOIN queue_series q ON q.key = d.series",
            )
            .unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let data: Vec<u8> = r.get(3).unwrap();
            for h in super::super::queue_codec::decode_hours(r.get(2).unwrap(), &data).unwrap() {
                hours.push((
                    r.get(0).unwrap(),
                    r.get(1).unwrap(),
                    h.hour_ms,
                    h.max_dead,
                    h.last_at_ms,
                ));
            }
        }
        let mut want = v8_hours;
        want.sort();
        hours.sort();
        assert_eq!(hours, want);
        let old: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_schema
                 WHERE name IN ('queue_snapshots', 'dlq_depth_hourly')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old, 0, "the V8 tables are gone");
        // Readers see the same depths: the last poll in the window, and the sparkline's points.
        let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap();
        let sparkline = store.dlq_history("am", "crm", at(t - hour), 10).unwrap();
        assert_eq!(
            sparkline.iter().map(|p| (p.at, p.dead)).collect::<Vec<_>>(),
            [
                (at(t - 30_000), 3),
                (at(t + 30_000), 4),
                (at(t + 60_000), 4)
            ]
        );
    }
}
