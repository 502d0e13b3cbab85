//! The PostgreSQL results database, for a whole site: the same schema and
//! statements as SQLite (`src/store/sql.rs`), so every command works on
//! either. Many nodes push at once: every write is idempotent by key (run
//! id; run id + kernel + size + precision + backend + device), and a run is
//! pushed in one transaction, so a dropped connection leaves no partial run.
//!
//! Passwords come from the URL, `PGPASSWORD` or the password file
//! (`PGPASSFILE`, default `~/.pgpass`), as libpq does; they are never
//! printed ([`redact`]). Connections are plain TCP (`NoTls`): use a
//! loopback, a Unix socket (`host=/run/postgresql`) or an SSH/stunnel tunnel
//! to reach a remote site database; TLS is not built in.

use std::sync::Mutex;

use postgres::{Client, NoTls};

use crate::error::{Error, Result};
use crate::store::query::{ImportOutcome, Readout, ResultFilter};
use crate::store::record::{ResultRecord, RunFile, RunRecord};
use crate::store::sql::{self, SqlValue};

/// The schema, at the same version as SQLite's newest.
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS runs (
    run_id          TEXT PRIMARY KEY,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    status          TEXT NOT NULL,
    harness_version TEXT NOT NULL,
    suite_version   TEXT NOT NULL,
    hostname        TEXT NOT NULL,
    platform_hash   TEXT NOT NULL,
    platform_json   TEXT NOT NULL,
    command         TEXT NOT NULL,
    idle_json       TEXT,
    plan_json       TEXT
);
CREATE TABLE IF NOT EXISTS results (
    id               BIGSERIAL PRIMARY KEY,
    run_id           TEXT NOT NULL REFERENCES runs(run_id),
    kernel           TEXT NOT NULL,
    kernel_version   TEXT NOT NULL,
    kernel_hash      TEXT NOT NULL,
    size             TEXT NOT NULL,
    precision        TEXT NOT NULL,
    seed             BIGINT NOT NULL,
    backend          TEXT NOT NULL,
    device           TEXT NOT NULL,
    device_name      TEXT NOT NULL,
    device_type      TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN
                       ('ok', 'verify_failed', 'error', 'timeout', 'crashed', 'skipped')),
    timer            TEXT,
    n                BIGINT,
    median_s         DOUBLE PRECISION,
    mean_s           DOUBLE PRECISION,
    stddev_s         DOUBLE PRECISION,
    min_s            DOUBLE PRECISION,
    max_s            DOUBLE PRECISION,
    ci95_low_s       DOUBLE PRECISION,
    ci95_high_s      DOUBLE PRECISION,
    outliers         BIGINT,
    throughput       DOUBLE PRECISION,
    throughput_unit  TEXT NOT NULL,
    flops            DOUBLE PRECISION,
    bytes            DOUBLE PRECISION,
    items            DOUBLE PRECISION,
    verify_error     DOUBLE PRECISION,
    message          TEXT,
    hostname         TEXT NOT NULL,
    platform_hash    TEXT NOT NULL,
    recorded_at      TEXT NOT NULL,
    record_json      TEXT NOT NULL,
    energy_scope     TEXT,
    energy_method    TEXT,
    energy_j         DOUBLE PRECISION,
    avg_w            DOUBLE PRECISION,
    idle_w           DOUBLE PRECISION,
    active_w         DOUBLE PRECISION,
    perf_per_w       DOUBLE PRECISION,
    perf_per_w_unit  TEXT,
    UNIQUE (run_id, kernel, size, precision, backend, device)
);
CREATE INDEX IF NOT EXISTS results_by_kernel ON results (kernel, size, backend);
CREATE INDEX IF NOT EXISTS results_by_platform ON results (platform_hash);
"#;

/// Key of the advisory lock that serialises schema creation across nodes.
const SCHEMA_LOCK: i64 = 0x6865_7462_656e_6368; // "hetbench"

/// Whether `spec` names a PostgreSQL database rather than a SQLite file.
pub fn is_url(spec: &str) -> bool {
    spec.starts_with("postgres://") || spec.starts_with("postgresql://")
}

/// `spec` with any password replaced by `***`, for messages.
pub fn redact(spec: &str) -> String {
    if !is_url(spec) {
        return spec.to_string();
    }
    let (scheme, rest) = spec.split_once("://").unwrap_or(("", spec));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    // key=value password parameters in the query string.
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some(("password", _)) => "password=***".to_string(),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// The password for (host, port, database, user) from a `.pgpass` text:
/// `hostname:port:database:username:password`, `*` matching anything.
pub fn pgpass_lookup(text: &str, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        // Fields are ':'-separated with '\\:' and '\\\\' escapes.
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        field.push(n);
                    }
                }
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
                _ => field.push(c),
            }
        }
        fields.push(field);
        if fields.len() != 5 {
            continue;
        }
        let ok = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        if ok(&fields[0], host)
            && ok(&fields[1], &port)
            && ok(&fields[2], db)
            && ok(&fields[3], user)
        {
            return Some(fields[4].clone());
        }
    }
    None
}

fn password_from_environment(config: &postgres::Config) -> Option<String> {
    if let Ok(p) = std::env::var("PGPASSWORD") {
        return Some(p);
    }
    let file = std::env::var_os("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".pgpass"))
        })?;
    let text = std::fs::read_to_string(file).ok()?;
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or_default().to_string();
    let db = config.get_dbname().unwrap_or(&user).to_string();
    pgpass_lookup(&text, &host, port, &db, &user)
}

/// A PostgreSQL results database.
pub struct PgStore {
    client: Mutex<Client>,
    location: String,
}

fn pg_err(location: &str, e: postgres::Error) -> Error {
    Error::Backend {
        backend: format!("results database '{location}'"),
        message: e.to_string(),
    }
}

impl PgStore {
    /// Connects to `url` and creates or checks the schema.
    pub fn open(url: &str) -> Result<Self> {
        let location = redact(url);
        let mut config: postgres::Config =
            url.parse()
                .map_err(|e: postgres::Error| Error::InvalidValue {
                    what: "--db".into(),
                    message: format!("'{location}' is not a PostgreSQL URL: {e}"),
                })?;
        if config.get_password().is_none()
            && let Some(p) = password_from_environment(&config)
        {
            config.password(p);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        let mut client = config.connect(NoTls).map_err(|e| pg_err(&location, e))?;
        let mut tx = client.transaction().map_err(|e| pg_err(&location, e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .map_err(|e| pg_err(&location, e))?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .map_err(|e| pg_err(&location, e))?;
        let found: Option<i64> = tx
            .query_opt("SELECT version FROM schema_version", &[])
            .map_err(|e| pg_err(&location, e))?
            .map(|r| r.get(0));
        let supported = crate::store::sqlite::SCHEMA_VERSION;
        match found {
            Some(v) if v > supported => {
                return Err(Error::SchemaTooNew {
                    path: location,
                    found: v,
                    supported,
                    harness: crate::HARNESS_VERSION,
                });
            }
            Some(_) => {}
            None => {
                tx.batch_execute(SCHEMA).map_err(|e| pg_err(&location, e))?;
                tx.execute("INSERT INTO schema_version VALUES ($1)", &[&supported])
                    .map_err(|e| pg_err(&location, e))?;
            }
        }
        tx.commit().map_err(|e| pg_err(&location, e))?;
        Ok(PgStore {
            client: Mutex::new(client),
            location,
        })
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    fn client(&self) -> std::sync::MutexGuard<'_, Client> {
        // A panic while holding the lock leaves the client usable.
        self.client.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn params(values: &[SqlValue]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
        values
            .iter()
            .map(|v| v as &(dyn postgres::types::ToSql + Sync))
            .collect()
    }

    fn err(&self, e: postgres::Error) -> Error {
        pg_err(&self.location, e)
    }

    pub fn insert_run(&self, run: &RunRecord) -> Result<bool> {
        let v = sql::run_values(run)?;
        self.client()
            .execute(sql::INSERT_RUN, &Self::params(&v))
            .map(|n| n == 1)
            .map_err(|e| self.err(e))
    }

    pub fn update_run(&self, run: &RunRecord) -> Result<()> {
        let v = sql::update_run_values(run);
        self.client()
            .execute(sql::UPDATE_RUN, &Self::params(&v))
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn insert_result(&self, r: &ResultRecord) -> Result<bool> {
        let v = sql::result_values(r)?;
        self.client()
            .execute(sql::INSERT_RESULT, &Self::params(&v))
            .map(|n| n == 1)
            .map_err(|e| self.err(e))
    }

    /// Imports a run in one transaction: all of it or nothing.
    pub fn import(&mut self, file: &RunFile) -> Result<ImportOutcome> {
        let location = self.location.clone();
        let err = |e| pg_err(&location, e);
        let mut client = self.client();
        let mut tx = client.transaction().map_err(err)?;
        let run = sql::run_values(&file.run)?;
        let run_was_new = tx
            .execute(sql::INSERT_RUN, &Self::params(&run))
            .map_err(err)?
            == 1;
        let statement = tx.prepare(sql::INSERT_RESULT).map_err(err)?;
        let mut inserted = 0;
        for r in &file.results {
            let v = sql::result_values(r)?;
            inserted += tx.execute(&statement, &Self::params(&v)).map_err(err)? as usize;
        }
        tx.commit().map_err(err)?;
        Ok(ImportOutcome {
            run_was_new,
            inserted,
            already_present: file.results.len() - inserted,
        })
    }

    pub fn results(&self, filter: &ResultFilter) -> Result<Readout> {
        let (query, values) = sql::results_query(filter);
        let rows = self
            .client()
            .query(&query, &Self::params(&values))
            .map_err(|e| self.err(e))?;
        let mut out = Readout::default();
        for r in &rows {
            sql::read_row(&mut out, r.get(0), r.get(1), r.get(2), r.get::<_, &str>(3));
        }
        Ok(out)
    }

    pub fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        let row = self
            .client()
            .query_opt(sql::SELECT_RUN, &[&run_id])
            .map_err(|e| self.err(e))?;
        row.map(|r| {
            sql::RunColumns {
                run_id: r.get(0),
                started_at: r.get(1),
                finished_at: r.get(2),
                status: r.get(3),
                harness_version: r.get(4),
                suite_version: r.get(5),
                platform: r.get(6),
                command: r.get(7),
                idle: r.get(8),
                plan: r.get(9),
            }
            .into_run(&self.location)
        })
        .transpose()
    }

    pub fn run_ids(&self) -> Result<Vec<String>> {
        let rows = self
            .client()
            .query("SELECT run_id FROM runs ORDER BY started_at, run_id", &[])
            .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub fn count_results(&self) -> Result<usize> {
        let row = self
            .client()
            .query_one("SELECT COUNT(*) FROM results", &[])
            .map_err(|e| self.err(e))?;
        Ok(row.get::<_, i64>(0) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://bench:s3cret@db.site:5432/hb"),
            "postgres://bench:***@db.site:5432/hb"
        );
        assert_eq!(
            redact("postgresql://bench@db/hb?password=x&sslmode=disable"),
            "postgresql://bench@db/hb?password=***&sslmode=disable"
        );
        assert_eq!(redact("postgres://db/hb"), "postgres://db/hb");
        assert_eq!(redact("results/hetbench.db"), "results/hetbench.db");
    }

    #[test]
    fn pgpass_matches_like_libpq() {
        let text =
            "# comment\ndb.site:5432:hb:bench:first\n*:*:*:bench:any\nweird\\:host:*:*:u:p\\:w\n";
        assert_eq!(
            pgpass_lookup(text, "db.site", 5432, "hb", "bench").as_deref(),
            Some("first")
        );
        assert_eq!(
            pgpass_lookup(text, "other", 5433, "x", "bench").as_deref(),
            Some("any")
        );
        assert_eq!(
            pgpass_lookup(text, "weird:host", 1, "d", "u").as_deref(),
            Some("p:w")
        );
        assert_eq!(pgpass_lookup(text, "db.site", 5432, "hb", "nobody"), None);
    }
}
