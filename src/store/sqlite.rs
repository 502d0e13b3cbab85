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

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Error, Result};
use crate::store::record::{ResultRecord, RunFile, RunRecord, RunStatus};

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

/// Which results to return.
#[derive(Debug, Clone, Default)]
pub struct ResultFilter {
    pub kernels: Vec<String>,
    pub backends: Vec<String>,
    pub sizes: Vec<String>,
    pub statuses: Vec<String>,
    pub run_id: Option<String>,
    pub hostname: Option<String>,
    /// Only the newest `limit` results.
    pub limit: Option<usize>,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOutcome {
    pub run_was_new: bool,
    pub inserted: usize,
    pub already_present: usize,
}

pub struct Database {
    conn: Connection,
    path: PathBuf,
}

impl Database {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let conn = Connection::open(path).map_err(|e| db_err(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| db_err(path, e))?;
        let mut db = Database {
            conn,
            path: path.to_path_buf(),
        };
        db.init()?;
        Ok(db)
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
            self.conn
                .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
                .map_err(|e| self.err(e))?
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

    /// Records the start of a run.
    pub fn insert_run(&self, run: &RunRecord) -> Result<bool> {
        insert_run(&self.conn, run).map_err(|e| self.err(e))
    }

    /// Updates a run's status and end time.
    pub fn update_run(&self, run: &RunRecord) -> Result<()> {
        self.conn
            .execute(
                "UPDATE runs SET status = ?2, finished_at = ?3 WHERE run_id = ?1",
                params![run.run_id, run.status.as_str(), run.finished_at],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Stores one result, committed at once. Returns false if the run
    /// already holds a result with the same key.
    pub fn insert_result(&self, r: &ResultRecord) -> Result<bool> {
        insert_result(&self.conn, r).map_err(|e| self.err(e))
    }

    /// Imports a run file in one transaction: all of it or nothing.
    /// Idempotent: a run or result already present is left as it is.
    pub fn import(&mut self, file: &RunFile) -> Result<ImportOutcome> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_err(&path, e))?;
        let run_was_new = insert_run(&tx, &file.run).map_err(|e| db_err(&path, e))?;
        let mut inserted = 0;
        for r in &file.results {
            if insert_result(&tx, r).map_err(|e| db_err(&path, e))? {
                inserted += 1;
            }
        }
        tx.commit().map_err(|e| db_err(&path, e))?;
        Ok(ImportOutcome {
            run_was_new,
            inserted,
            already_present: file.results.len() - inserted,
        })
    }

    /// Results matching `filter`, oldest first.
    pub fn results(&self, filter: &ResultFilter) -> Result<Vec<ResultRecord>> {
        let mut clauses: Vec<String> = Vec::new();
        let mut values: Vec<String> = Vec::new();
        let mut any_of = |column: &str, wanted: &[String]| {
            if !wanted.is_empty() {
                let marks: Vec<String> = wanted
                    .iter()
                    .map(|w| {
                        values.push(w.clone());
                        format!("?{}", values.len())
                    })
                    .collect();
                clauses.push(format!("{column} IN ({})", marks.join(", ")));
            }
        };
        any_of("kernel", &filter.kernels);
        any_of("backend", &filter.backends);
        any_of("size", &filter.sizes);
        any_of("status", &filter.statuses);
        any_of("run_id", filter.run_id.as_slice());
        any_of("hostname", filter.hostname.as_slice());
        let filter_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let inner = format!("SELECT id, record_json FROM results{filter_sql}");
        let sql = match filter.limit {
            Some(limit) => format!(
                "SELECT record_json FROM ({inner} ORDER BY id DESC LIMIT {limit}) ORDER BY id"
            ),
            None => format!("SELECT record_json FROM ({inner}) ORDER BY id"),
        };
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values.iter()), |r| {
                r.get::<_, String>(0)
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let json = row.map_err(|e| self.err(e))?;
            let record: ResultRecord =
                serde_json::from_str(&json).map_err(|e| Error::NotADatabase {
                    path: self.path.display().to_string(),
                    message: format!("a stored result record does not parse: {e}"),
                })?;
            out.push(record);
        }
        Ok(out)
    }

    /// The run `run_id`, if stored.
    pub fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        /// Columns as stored; JSON and status still to parse.
        struct Row {
            run: RunRecord,
            status: String,
            platform: String,
            idle: Option<String>,
            plan: Option<String>,
        }
        let row = self
            .conn
            .query_row(
                "SELECT run_id, started_at, finished_at, status, harness_version, suite_version, platform_json, command, idle_json, plan_json FROM runs WHERE run_id = ?1",
                [run_id],
                |r| {
                    Ok(Row {
                        run: RunRecord {
                            run_id: r.get(0)?,
                            started_at: r.get(1)?,
                            finished_at: r.get(2)?,
                            status: RunStatus::Running,
                            harness_version: r.get(4)?,
                            suite_version: r.get(5)?,
                            platform: crate::platform::Fingerprint::default(),
                            command: r.get(7)?,
                            idle: Vec::new(),
                            plan: None,
                        },
                        status: r.get(3)?,
                        platform: r.get(6)?,
                        idle: r.get(8)?,
                        plan: r.get(9)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some(Row {
            mut run,
            status,
            platform,
            idle,
            plan,
        }) = row
        else {
            return Ok(None);
        };
        let corrupt = |m: String| Error::NotADatabase {
            path: self.path.display().to_string(),
            message: format!("run {}: {m}", run.run_id),
        };
        run.status = serde_json::from_value(serde_json::Value::String(status.clone()))
            .map_err(|_| corrupt(format!("unknown status '{status}'")))?;
        run.platform = serde_json::from_str(&platform)
            .map_err(|e| corrupt(format!("platform does not parse: {e}")))?;
        if let Some(idle) = idle {
            run.idle = serde_json::from_str(&idle)
                .map_err(|e| corrupt(format!("idle readings do not parse: {e}")))?;
        }
        if let Some(plan) = plan {
            run.plan = Some(
                serde_json::from_str(&plan)
                    .map_err(|e| corrupt(format!("plan does not parse: {e}")))?,
            );
        }
        Ok(Some(run))
    }

    /// Number of stored results.
    pub fn count_results(&self) -> Result<usize> {
        self.conn
            .query_row("SELECT COUNT(*) FROM results", [], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(|e| self.err(e))
    }
}

fn db_err(path: &Path, source: rusqlite::Error) -> Error {
    Error::Database {
        path: path.display().to_string(),
        source,
    }
}

fn insert_run(conn: &Connection, run: &RunRecord) -> rusqlite::Result<bool> {
    let platform = serde_json::to_string(&run.platform)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let idle = serde_json::to_string(&run.idle)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let plan = match &run.plan {
        Some(p) => Some(
            serde_json::to_string(p)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
        ),
        None => None,
    };
    let n = conn.execute(
        "INSERT OR IGNORE INTO runs (run_id, started_at, finished_at, status, harness_version, suite_version, hostname, platform_hash, platform_json, command, idle_json, plan_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            run.run_id,
            run.started_at,
            run.finished_at,
            run.status.as_str(),
            run.harness_version,
            run.suite_version,
            run.platform.hostname,
            run.platform.hash,
            platform,
            run.command,
            idle,
            plan
        ],
    )?;
    Ok(n == 1)
}

fn insert_result(conn: &Connection, r: &ResultRecord) -> rusqlite::Result<bool> {
    let json = serde_json::to_string(r)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let s = r.timing.as_ref().map(|t| &t.summary);
    let e = r.primary_energy();
    let n = conn.execute(
        "INSERT OR IGNORE INTO results (run_id, kernel, kernel_version, kernel_hash, size, precision, seed, backend, device, device_name, device_type, status,
            timer, n, median_s, mean_s, stddev_s, min_s, max_s, ci95_low_s, ci95_high_s, outliers,
            throughput, throughput_unit, flops, bytes, items, verify_error, message, hostname, platform_hash, recorded_at, record_json,
            energy_scope, energy_method, energy_j, avg_w, idle_w, active_w, perf_per_w, perf_per_w_unit)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33,
            ?34, ?35, ?36, ?37, ?38, ?39, ?40, ?41)",
        params![
            r.run_id,
            r.kernel,
            r.kernel_version,
            r.kernel_hash,
            r.size,
            r.precision,
            r.seed as i64,
            r.backend,
            r.device,
            r.device_name,
            r.device_type,
            r.status.as_str(),
            r.timing.as_ref().map(|t| t.timer.clone()),
            s.map(|s| s.n as i64),
            s.map(|s| s.median),
            s.map(|s| s.mean),
            s.map(|s| s.stddev),
            s.map(|s| s.min),
            s.map(|s| s.max),
            s.map(|s| s.ci95_low),
            s.map(|s| s.ci95_high),
            s.map(|s| s.outliers as i64),
            r.throughput,
            r.throughput_unit,
            r.work.as_ref().map(|w| w.flops),
            r.work.as_ref().map(|w| w.bytes),
            r.work.as_ref().map(|w| w.items),
            r.verification.as_ref().map(|v| v.max_rel_error),
            r.message,
            r.hostname,
            r.platform_hash,
            r.recorded_at,
            json,
            e.map(|e| e.scope.as_str()),
            e.map(|e| e.method.as_str()),
            e.map(|e| e.energy_j),
            e.map(|e| e.avg_w),
            e.and_then(|e| e.idle_w),
            e.and_then(|e| e.active_w),
            e.and_then(|e| e.perf_per_w),
            e.map(|e| e.perf_per_w_unit.clone())
        ],
    )?;
    Ok(n == 1)
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
        let db = Database::open(&path).unwrap();
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
