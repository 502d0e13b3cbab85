//! The SQLite results database (the default, `results/hetbench.db`).
//!
//! Each result is committed as soon as it is measured. The schema carries a
//! version and is migrated forward on open; a database written by a newer
//! hetbench is refused rather than misread. WAL mode and a busy timeout let
//! two hetbench processes on one node write at once.
//!
//! Every result's full record is kept as JSON (`record_json`) beside the
//! columns that queries filter and sort on, so that nothing is lost between
//! a run file, the database and an export.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};

use crate::error::{Error, Result};
use crate::store::query::{ImportOutcome, Readout, ResultFilter};
use crate::store::record::{ResultRecord, RunFile, RunRecord};
use crate::store::sql::{self, SqlValue};

/// Migrations, in order: `MIGRATIONS[i]` takes the schema from version `i`
/// to `i + 1`. Never edit one that has shipped; append a new one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE runs (
    run_id          TEXT PRIMARY KEY,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    status          TEXT NOT NULL,
    harness_version TEXT NOT NULL,
    suite_version   TEXT NOT NULL,
    hostname        TEXT NOT NULL,
    platform_hash   TEXT NOT NULL,
    platform_json   TEXT NOT NULL,
    command         TEXT NOT NULL
);
CREATE TABLE results (
    id               INTEGER PRIMARY KEY,
    run_id           TEXT NOT NULL REFERENCES runs(run_id),
    kernel           TEXT NOT NULL,
    kernel_version   TEXT NOT NULL,
    kernel_hash      TEXT NOT NULL,
    size             TEXT NOT NULL,
    precision        TEXT NOT NULL,
    seed             INTEGER NOT NULL,
    backend          TEXT NOT NULL,
    device           TEXT NOT NULL,
    device_name      TEXT NOT NULL,
    device_type      TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN
                       ('ok', 'verify_failed', 'error', 'timeout', 'crashed', 'skipped')),
    timer            TEXT,
    n                INTEGER,
    median_s         REAL,
    mean_s           REAL,
    stddev_s         REAL,
    min_s            REAL,
    max_s            REAL,
    ci95_low_s       REAL,
    ci95_high_s      REAL,
    outliers         INTEGER,
    throughput       REAL,
    throughput_unit  TEXT NOT NULL,
    flops            REAL,
    bytes            REAL,
    items            REAL,
    verify_error     REAL,
    message          TEXT,
    hostname         TEXT NOT NULL,
    platform_hash    TEXT NOT NULL,
    recorded_at      TEXT NOT NULL,
    record_json      TEXT NOT NULL,
    UNIQUE (run_id, kernel, size, precision, backend, device)
);
CREATE INDEX results_by_kernel ON results (kernel, size, backend);
CREATE INDEX results_by_platform ON results (platform_hash);
"#,
    // 2: energy. The run's idle baseline; each result's primary energy
    // reading (the full list stays in record_json).
    r#"
ALTER TABLE runs ADD COLUMN idle_json TEXT;
ALTER TABLE results ADD COLUMN energy_scope TEXT;
ALTER TABLE results ADD COLUMN energy_method TEXT;
ALTER TABLE results ADD COLUMN energy_j REAL;
ALTER TABLE results ADD COLUMN avg_w REAL;
ALTER TABLE results ADD COLUMN idle_w REAL;
ALTER TABLE results ADD COLUMN active_w REAL;
ALTER TABLE results ADD COLUMN perf_per_w REAL;
ALTER TABLE results ADD COLUMN perf_per_w_unit TEXT;
"#,
    // 3: the run's plan, so that an interrupted run can be resumed.
    r#"
ALTER TABLE runs ADD COLUMN plan_json TEXT;
"#,
];

/// The schema version this hetbench writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A SQLite results database.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let conn = Connection::open(path).map_err(|e| db_err(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| db_err(path, e))?;
        let mut db = SqliteStore {
            conn,
            path: path.to_path_buf(),
        };
        // Opening races other processes opening the same file: switching it
        // to WAL and the migration can meet SQLITE_BUSY without the busy
        // handler being called (SQLite does not wait where waiting could
        // deadlock). Such a first open is retried, as the busy timeout would.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut pause = std::time::Duration::from_millis(10);
        loop {
            match db.init() {
                Err(Error::Database {
                    source: rusqlite::Error::SqliteFailure(f, _),
                    ..
                }) if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_millis(250));
                }
                other => return other.map(|()| db),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        db_err(&self.path, e)
    }

    fn init(&mut self) -> Result<()> {
        let path = self.path.display().to_string();
        // The first read tells whether this is an SQLite file at all.
        let tables: Vec<String> = self
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if matches!(
                        f.code,
                        rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
                    ) =>
                {
                    Error::NotADatabase {
                        path: path.clone(),
                        message: format!("{e} (move it aside or pass another --db)"),
                    }
                }
                e => self.err(e),
            })?;
        let version: i64 = if tables.iter().any(|t| t == "schema_version") {
            self.stored_version(&tables)?
        } else if tables.is_empty() {
            0
        } else {
            return Err(Error::NotADatabase {
                path,
                message: format!(
                    "it holds tables ({}) but no schema_version table",
                    tables.join(", ")
                ),
            });
        };
        if version > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                path,
                found: version,
                supported: SCHEMA_VERSION,
                harness: crate::HARNESS_VERSION,
            });
        }
        self.conn
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
            .map_err(|e| self.err(e))?;
        if version < SCHEMA_VERSION {
            // Another process may be migrating the same file: take the write
            // lock first, then read the version again under it.
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| db_err(&self.path, e))?;
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
                 INSERT INTO schema_version SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM schema_version);",
            )
            .map_err(|e| db_err(&self.path, e))?;
            let version: i64 = tx
                .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
                .map_err(|e| db_err(&self.path, e))?;
            // Newer than us after all: leave it untouched (the check above
            // refuses it on the next open).
            for m in MIGRATIONS.get(version.max(0) as usize..).unwrap_or(&[]) {
                tx.execute_batch(m).map_err(|e| db_err(&self.path, e))?;
            }
            if version < SCHEMA_VERSION {
                tx.execute("UPDATE schema_version SET version = ?1", [SCHEMA_VERSION])
                    .map_err(|e| db_err(&self.path, e))?;
            }
            tx.commit().map_err(|e| db_err(&self.path, e))?;
        }
        Ok(())
    }

    /// The version in `schema_version`, checked: a damaged one (no row,
    /// text, a negative number) or a versioned file missing the tables of
    /// its version is not a hetbench database. Busy errors stay database
    /// errors, for the retry in [`SqliteStore::open`].
    fn stored_version(&self, tables: &[String]) -> Result<i64> {
        let path = self.path.display().to_string();
        let damaged = |what: String| Error::NotADatabase {
            path: path.clone(),
            message: format!("{what} (move it aside or pass another --db)"),
        };
        let version: i64 = self
            .conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .map_err(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => {
                    damaged("its schema_version table is empty".into())
                }
                rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::IntegralValueOutOfRange(..) => {
                    damaged(format!("its schema_version is damaged: {e}"))
                }
                e => self.err(e),
            })?;
        if version < 0 {
            return Err(damaged(format!("its schema_version is {version}")));
        }
        if version >= 1 {
            for needed in ["runs", "results"] {
                if !tables.iter().any(|t| t == needed) {
                    return Err(damaged(format!(
                        "it is at schema version {version} but has no '{needed}' table"
                    )));
                }
            }
        }
        Ok(version)
    }

    /// Records the start of a run. Returns false if it was already stored.
    pub fn insert_run(&self, run: &RunRecord) -> Result<bool> {
        execute(&self.conn, sql::INSERT_RUN, &sql::run_values(run)?)
            .map(|n| n == 1)
            .map_err(|e| self.err(e))
    }

    /// Updates a run's status and end time.
    pub fn update_run(&self, run: &RunRecord) -> Result<()> {
        execute(&self.conn, sql::UPDATE_RUN, &sql::update_run_values(run))
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Stores one result, committed at once. Returns false if the run
    /// already holds a result with the same key.
    pub fn insert_result(&self, r: &ResultRecord) -> Result<bool> {
        execute(&self.conn, sql::INSERT_RESULT, &sql::result_values(r)?)
            .map(|n| n == 1)
            .map_err(|e| self.err(e))
    }

    /// Imports a run file in one transaction: all of it or nothing.
    /// Idempotent: a result already present is left as it is; a run
    /// already present only advances its status (see [`sql::ADVANCE_RUN`]).
    pub fn import(&mut self, file: &RunFile) -> Result<ImportOutcome> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_err(&path, e))?;
        let run_was_new = execute(&tx, sql::INSERT_RUN, &sql::run_values(&file.run)?)
            .map_err(|e| db_err(&path, e))?
            == 1;
        let mut status_advanced = false;
        if !run_was_new && let Some(v) = sql::advance_run_values(&file.run) {
            status_advanced =
                execute(&tx, sql::ADVANCE_RUN, &v).map_err(|e| db_err(&path, e))? == 1;
        }
        let mut inserted = 0;
        for r in &file.results {
            inserted += execute(&tx, sql::INSERT_RESULT, &sql::result_values(r)?)
                .map_err(|e| db_err(&path, e))?;
        }
        tx.commit().map_err(|e| db_err(&path, e))?;
        Ok(ImportOutcome {
            run_was_new,
            status_advanced,
            inserted,
            already_present: file.results.len() - inserted,
        })
    }

    /// Results matching `filter`, oldest first.
    pub fn results(&self, filter: &ResultFilter) -> Result<Readout> {
        let (query, values) = sql::results_query(filter);
        let mut stmt = self.conn.prepare(&query).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values.iter()), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Readout::default();
        for row in rows {
            let (id, run_id, kernel, json) = row.map_err(|e| self.err(e))?;
            sql::read_row(&mut out, id, run_id, kernel, &json);
        }
        Ok(out)
    }

    /// The run `run_id`, if stored.
    pub fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        let columns = self
            .conn
            .query_row(sql::SELECT_RUN, [run_id], |r| {
                Ok(sql::RunColumns {
                    run_id: r.get(0)?,
                    started_at: r.get(1)?,
                    finished_at: r.get(2)?,
                    status: r.get(3)?,
                    harness_version: r.get(4)?,
                    suite_version: r.get(5)?,
                    platform: r.get(6)?,
                    command: r.get(7)?,
                    idle: r.get(8)?,
                    plan: r.get(9)?,
                })
            })
            .optional()
            .map_err(|e| self.err(e))?;
        columns
            .map(|c| c.into_run(&self.path.display().to_string()))
            .transpose()
    }

    /// Every stored run id, oldest first.
    pub fn run_ids(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT run_id FROM runs ORDER BY started_at, run_id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// Number of stored results.
    pub fn count_results(&self) -> Result<usize> {
        self.conn
            .query_row("SELECT COUNT(*) FROM results", [], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(|e| self.err(e))
    }
}

fn execute(conn: &Connection, query: &str, values: &[SqlValue]) -> rusqlite::Result<usize> {
    conn.execute(query, rusqlite::params_from_iter(values.iter()))
}

fn db_err(path: &Path, source: rusqlite::Error) -> Error {
    Error::Database {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_database_is_migrated_and_keeps_its_rows() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);")
                .unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute(
                "INSERT INTO runs VALUES ('r1', 't0', NULL, 'finished', '0.1.0', '0.1', 'h', 'p', '{}', 'cmd')",
                [],
            )
            .unwrap();
        }
        let db = SqliteStore::open(&path).unwrap();
        let version: i64 = db
            .conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(SCHEMA_VERSION, 3);
        let (command, idle): (String, Option<String>) = db
            .conn
            .query_row(
                "SELECT command, idle_json FROM runs WHERE run_id = 'r1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((command.as_str(), idle), ("cmd", None));
    }
}
