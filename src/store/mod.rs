//! Where results go: the results database ([`Database`]: SQLite by default,
//! [`postgres`] for a whole site, behind one interface), the JSON run files
//! ([`json`]) and the record types all share ([`record`]).

pub mod json;
pub mod postgres;
pub mod query;
pub mod record;
pub mod sql;
pub mod sqlite;

use std::path::Path;

use crate::error::Result;
pub use postgres::{Timeouts, check_location, is_url, redact};
pub use query::{ImportOutcome, Readout, ResultFilter, Unreadable};
pub use record::{ModelRecord, ResultRecord, RunFile, RunRecord, RunStatus, Status};

/// A results database: a SQLite file, or PostgreSQL for a site.
pub enum Database {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

macro_rules! each {
    ($self:expr, $db:ident => $body:expr) => {
        match $self {
            Database::Sqlite($db) => $body,
            Database::Postgres($db) => $body,
        }
    };
}

impl Database {
    /// Opens `spec`: a `postgres://` (or `postgresql://`) URL or libpq
    /// `key=value` string, or the path of a SQLite file (created if
    /// needed). Either is migrated or checked. A URL of any other scheme is
    /// refused, never taken for a file name.
    pub fn open(spec: &str) -> Result<Self> {
        check_location(spec)?;
        if is_url(spec) {
            Ok(Database::Postgres(postgres::PgStore::open(spec)?))
        } else {
            Ok(Database::Sqlite(sqlite::SqliteStore::open(Path::new(
                spec,
            ))?))
        }
    }

    /// Opens an existing database to read it: a SQLite file that is not
    /// there is an error (bad input), and nothing is created.
    pub fn open_existing(spec: &str) -> Result<Self> {
        check_location(spec)?;
        if !is_url(spec) && !Path::new(spec).exists() {
            return Err(crate::error::Error::NoResults(format!(
                "no results database at '{spec}': run `hetbench run` or `hetbench import` first, or pass --db"
            )));
        }
        Self::open(spec)
    }

    /// Where the database is, for messages (passwords redacted).
    pub fn location(&self) -> String {
        match self {
            Database::Sqlite(db) => db.path().display().to_string(),
            Database::Postgres(db) => db.location().to_string(),
        }
    }

    /// Records the start of a run. Returns false if it was already stored.
    pub fn insert_run(&self, run: &RunRecord) -> Result<bool> {
        each!(self, db => db.insert_run(run))
    }

    /// Updates a run's status and end time.
    pub fn update_run(&self, run: &RunRecord) -> Result<()> {
        each!(self, db => db.update_run(run))
    }

    /// Stores one result, committed at once; false if already stored.
    pub fn insert_result(&self, r: &ResultRecord) -> Result<bool> {
        each!(self, db => db.insert_result(r))
    }

    /// Imports a run and its results in one transaction, idempotently.
    pub fn import(&mut self, file: &RunFile) -> Result<ImportOutcome> {
        each!(self, db => db.import(file))
    }

    /// Results matching `filter`, oldest first, and the stored ones that
    /// could not be read (skipped, so that one bad record blocks nothing).
    pub fn results(&self, filter: &ResultFilter) -> Result<Readout> {
        each!(self, db => db.results(filter))
    }

    /// The run `run_id`, if stored.
    pub fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        each!(self, db => db.run(run_id))
    }

    /// Every stored run id, oldest first.
    pub fn run_ids(&self) -> Result<Vec<String>> {
        each!(self, db => db.run_ids())
    }

    /// Number of stored results.
    pub fn count_results(&self) -> Result<usize> {
        each!(self, db => db.count_results())
    }

    /// The run `run_id` with all its results, as a run file.
    pub fn run_file(&self, run_id: &str) -> Result<Option<RunFile>> {
        let Some(run) = self.run(run_id)? else {
            return Ok(None);
        };
        let read = self.results(&ResultFilter {
            run_id: Some(run_id.to_string()),
            ..Default::default()
        })?;
        // A run file is the whole run: one that cannot be read whole is not
        // made, and the error names the row.
        if let Some(note) = read.skipped_note() {
            return Err(crate::error::Error::NotADatabase {
                path: self.location(),
                message: format!("run {run_id}: {note}"),
            });
        }
        let results = read.records;
        Ok(Some(RunFile {
            schema_version: record::RUN_FILE_SCHEMA,
            run,
            results,
        }))
    }
}
