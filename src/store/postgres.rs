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
use std::time::Duration;

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

/// The libpq keywords a `key=value` connection string may start with.
const CONNINFO_KEYS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "connect_timeout",
    "options",
    "application_name",
    "sslmode",
    "sslnegotiation",
    "target_session_attrs",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "tcp_user_timeout",
    "channel_binding",
    "load_balance_hosts",
];

/// The scheme of `spec` when it begins as a URL does (`name://`).
fn scheme(spec: &str) -> Option<&str> {
    let (scheme, _) = spec.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// Whether `spec` is a libpq `key=value` connection string
/// (`host=db.site dbname=hb user=bench`).
fn is_conninfo(spec: &str) -> bool {
    spec.split_whitespace()
        .next()
        .and_then(|word| word.split_once('='))
        .is_some_and(|(key, _)| CONNINFO_KEYS.contains(&key))
}

/// Whether `spec` names a PostgreSQL database (a `postgres://` or
/// `postgresql://` URL, or a libpq `key=value` string) rather than a SQLite
/// file.
pub fn is_url(spec: &str) -> bool {
    match scheme(spec) {
        Some(s) => s.eq_ignore_ascii_case("postgres") || s.eq_ignore_ascii_case("postgresql"),
        None => is_conninfo(spec),
    }
}

/// Refuses a database location with a scheme hetbench does not store into
/// (`mysql://`, `sqlite://`, a mistyped `postgress://`): such a value is
/// never taken for the name of a SQLite file.
pub fn check_location(spec: &str) -> Result<()> {
    match scheme(spec) {
        Some(s) if !is_url(spec) => Err(Error::InvalidValue {
            what: "database".into(),
            message: format!(
                "'{}' is a {s}:// URL, which hetbench cannot store results in: give a postgres:// (or postgresql://) URL, a libpq 'host=... dbname=...' string, or the path of a SQLite file",
                redact(spec)
            ),
        }),
        _ => Ok(()),
    }
}

/// `text` with every password in it replaced by `***`: the userinfo of any
/// `scheme://user:password@host` URL, and `password=...` parameters (URL
/// query or libpq `key=value` string). Works on a whole command line.
pub fn redact(text: &str) -> String {
    redact_password_params(&redact_userinfo(text))
}

/// `scheme://user:secret@host...` -> `scheme://user:***@host...`. The
/// secret runs to the last `@` of the word, so that one holding `/` or `@`
/// is masked whole (masking too much is harmless, too little is not).
fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let word_end = tail.find(char::is_whitespace).unwrap_or(tail.len());
        let (word, after) = tail.split_at(word_end);
        match word.rsplit_once('@') {
            Some((userinfo, host)) if userinfo.contains(':') => {
                let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                out.push_str(&format!("{user}:***@{host}"));
            }
            _ => out.push_str(word),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `password=secret` (after a start, a space, `?` or `&`; a libpq value
/// may be quoted) -> `password=***`.
fn redact_password_params(text: &str) -> String {
    const KEY: &str = "password=";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    while let Some(found) = lower[from..].find(KEY) {
        let at = from + found;
        let starts_word = at == 0
            || text[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_whitespace() || matches!(c, '?' | '&' | '=' | '\''));
        let value_start = at + KEY.len();
        if !starts_word {
            out.push_str(&text[from..value_start]);
            from = value_start;
            continue;
        }
        let value = &text[value_start..];
        let len = if let Some(quoted) = value.strip_prefix('\'') {
            // Up to the closing quote that is not escaped.
            let mut end = quoted.len();
            let mut escaped = false;
            for (i, c) in quoted.char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '\'' if !escaped => {
                        end = i + 1;
                        break;
                    }
                    _ => escaped = false,
                }
            }
            1 + end.min(quoted.len())
        } else {
            value
                .find(|c: char| c.is_whitespace() || c == '&')
                .unwrap_or(value.len())
        };
        out.push_str(&text[from..value_start]);
        out.push_str("***");
        from = value_start + len;
    }
    out.push_str(&text[from..]);
    out
}

/// How long a command waits for the site database: to connect (TCP and
/// the startup exchange) and for one statement. From
/// `HETBENCH_PG_CONNECT_TIMEOUT` and `HETBENCH_PG_STATEMENT_TIMEOUT`
/// (seconds; defaults 10 and 60); a `connect_timeout` in the URL wins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    pub connect: Duration,
    pub statement: Duration,
}

impl Timeouts {
    pub const DEFAULT: Timeouts = Timeouts {
        connect: Duration::from_secs(10),
        statement: Duration::from_secs(60),
    };

    /// The defaults, overridden by the environment.
    pub fn from_env() -> Result<Timeouts> {
        let read = |name: &str, default: Duration| -> Result<Duration> {
            match std::env::var(name) {
                Ok(v) => parse_seconds(&v).ok_or_else(|| Error::InvalidValue {
                    what: name.to_string(),
                    message: format!("'{v}' is not a number of seconds within (0, 86400]"),
                }),
                Err(_) => Ok(default),
            }
        };
        Ok(Timeouts {
            connect: read("HETBENCH_PG_CONNECT_TIMEOUT", Self::DEFAULT.connect)?,
            statement: read("HETBENCH_PG_STATEMENT_TIMEOUT", Self::DEFAULT.statement)?,
        })
    }
}

fn parse_seconds(text: &str) -> Option<Duration> {
    let s: f64 = text.trim().parse().ok()?;
    (s.is_finite() && s > 0.0 && s <= 86_400.0).then(|| Duration::from_secs_f64(s))
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

/// Sets the bounds on `config`: the connect timeout (the URL's, if it has
/// one), a server-side `statement_timeout`, and TCP keepalives and a user
/// timeout so that a peer that vanished is noticed. Returns the bounds used.
fn bounded(config: &mut postgres::Config, mut timeouts: Timeouts) -> Timeouts {
    match config.get_connect_timeout() {
        Some(t) if !t.is_zero() => timeouts.connect = *t,
        _ => {
            config.connect_timeout(timeouts.connect);
        }
    }
    let statement = format!("-c statement_timeout={}", timeouts.statement.as_millis());
    let options = match config.get_options() {
        Some(o) if !o.trim().is_empty() => format!("{o} {statement}"),
        _ => statement,
    };
    config.options(&options);
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(timeouts.statement);
    }
    config.keepalives(true);
    if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
        config.keepalives_idle(Duration::from_secs(30));
    }
    if config.get_keepalives_interval().is_none() {
        config.keepalives_interval(Duration::from_secs(10));
    }
    if config.get_keepalives_retries().is_none() {
        config.keepalives_retries(3);
    }
    timeouts
}

/// Connects, giving up after `limit`: the driver's own connect timeout
/// bounds only the TCP connection, not a server that accepts and then
/// never answers. The attempt runs on its own thread; one that is given up
/// on is left to end with the process.
fn connect_within(config: postgres::Config, limit: Duration, location: &str) -> Result<Client> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("pg-connect".into())
        .spawn(move || {
            let _ = tx.send(config.connect(NoTls));
        })
        .map_err(|e| Error::Backend {
            backend: format!("results database '{location}'"),
            message: format!("could not start connecting: {e}"),
        })?;
    match rx.recv_timeout(limit) {
        Ok(connected) => connected.map_err(|e| pg_err(location, e)),
        Err(_) => Err(Error::Backend {
            backend: format!("results database '{location}'"),
            message: format!(
                "no answer within {} s of connecting (a server that accepts but does not speak PostgreSQL?); the bound is HETBENCH_PG_CONNECT_TIMEOUT or connect_timeout in the URL",
                limit.as_secs_f64()
            ),
        }),
    }
}

fn pg_err(location: &str, e: postgres::Error) -> Error {
    Error::Backend {
        backend: format!("results database '{location}'"),
        message: describe(&e),
    }
}

/// What went wrong, with its cause: the server's severity, SQLSTATE,
/// message, detail and hint for an error the server sent (the client's
/// `Display` says only "db error"), else the client's error and the chain
/// of its sources ("invalid configuration: password missing"). Neither
/// holds the password: the server never echoes it, and the client's
/// configuration errors name only what is missing.
fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!(
            "the server said: {} {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(d) = db.detail() {
            s.push_str(&format!("; detail: {d}"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!("; hint: {h}"));
        }
        if db.code() == &postgres::error::SqlState::INVALID_PASSWORD {
            s.push_str("; the password comes from the URL, PGPASSWORD or PGPASSFILE (~/.pgpass)");
        }
        return s;
    }
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if s.contains("password missing") {
        s.push_str(" (no password in the URL, PGPASSWORD or a matching PGPASSFILE/~/.pgpass line: host:port:database:user:password)");
    }
    s
}

impl PgStore {
    /// Connects to `url` (waiting no longer than [`Timeouts`] allow) and
    /// creates or checks the schema.
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
        let timeouts = bounded(&mut config, Timeouts::from_env()?);
        let mut client = connect_within(config, timeouts.connect, &location)?;
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
        let mut status_advanced = false;
        if !run_was_new && let Some(v) = sql::advance_run_values(&file.run) {
            status_advanced = tx
                .execute(sql::ADVANCE_RUN, &Self::params(&v))
                .map_err(err)?
                == 1;
        }
        let statement = tx.prepare(sql::INSERT_RESULT).map_err(err)?;
        let mut inserted = 0;
        for r in &file.results {
            let v = sql::result_values(r)?;
            inserted += tx.execute(&statement, &Self::params(&v)).map_err(err)? as usize;
        }
        tx.commit().map_err(err)?;
        Ok(ImportOutcome {
            run_was_new,
            status_advanced,
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
        // Any scheme, passwords holding '/' or '@', libpq strings, command lines.
        assert_eq!(
            redact("postgress://bench:PW@host/db"),
            "postgress://bench:***@host/db"
        );
        assert_eq!(redact("mysql://u:p/w@d@h:3306/x"), "mysql://u:***@h:3306/x");
        assert_eq!(
            redact("host=db dbname=hb password='a b\\' c' user=x"),
            "host=db dbname=hb password=*** user=x"
        );
        assert_eq!(
            redact("hetbench --db=postgres://u:S@h/d push --to host=h password=Q"),
            "hetbench --db=postgres://u:***@h/d push --to host=h password=***"
        );
    }

    #[test]
    fn locations_are_what_they_look_like() {
        assert!(is_url("postgres://h/d") && is_url("postgresql://h/d"));
        assert!(is_url("host=/run/postgresql dbname=hb"));
        assert!(!is_url("results/hetbench.db") && !is_url("a=b.db"));
        for foreign in ["postgress://u:PW@h/d", "mysql://h/d", "sqlite://x.db"] {
            let err = check_location(foreign).unwrap_err().to_string();
            assert!(!err.contains("PW") && err.contains("cannot store"), "{err}");
        }
        assert!(check_location("results/hetbench.db").is_ok());
        assert!(check_location("host=h dbname=d").is_ok());
    }

    #[test]
    fn timeouts_bound_the_connection_and_every_statement() {
        let mut config: postgres::Config = "postgres://u@h/d?options=-c%20work_mem%3D4MB"
            .parse()
            .unwrap();
        let t = bounded(&mut config, Timeouts::DEFAULT);
        assert_eq!(t, Timeouts::DEFAULT);
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(10)));
        assert_eq!(
            config.get_options(),
            Some("-c work_mem=4MB -c statement_timeout=60000")
        );
        let mut config: postgres::Config = "postgres://u@h/d?connect_timeout=3".parse().unwrap();
        assert_eq!(
            bounded(&mut config, Timeouts::DEFAULT).connect,
            Duration::from_secs(3)
        );
        assert_eq!(parse_seconds("2.5"), Some(Duration::from_millis(2500)));
        assert_eq!(parse_seconds("0"), None);
        assert_eq!(parse_seconds("soon"), None);
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
