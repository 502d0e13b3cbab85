//! SQL shared by the SQLite and PostgreSQL stores: the statements (written
//! once, in the dialect both accept: `$n` parameters, `ON CONFLICT DO
//! NOTHING`), the values bound to them, and the mapping between records and
//! rows. SQLite numbers `$n` parameters by their first appearance, not by
//! `n`, so every statement must use `$1, $2, ...` in that order (a test
//! checks). Column types are chosen so that one value type binds to both
//! engines: 64-bit integers, 64-bit floats and text.

use crate::error::{Error, Result};
use crate::store::query::{Readout, ResultFilter, Unreadable};
use crate::store::record::{ResultRecord, RunRecord, RunStatus};

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            SqlValue::Int(v) => v.to_sql(),
            SqlValue::Real(v) => v.to_sql(),
            SqlValue::Text(v) => v.to_sql(),
        }
    }
}

impl postgres::types::ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        match self {
            SqlValue::Int(v) => v.to_sql(ty, out),
            SqlValue::Real(v) => v.to_sql(ty, out),
            SqlValue::Text(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        <i64 as postgres::types::ToSql>::accepts(ty)
            || <f64 as postgres::types::ToSql>::accepts(ty)
            || <String as postgres::types::ToSql>::accepts(ty)
    }

    postgres::types::to_sql_checked!();
}

fn text(s: &str) -> SqlValue {
    SqlValue::Text(Some(s.to_string()))
}

fn json<T: serde::Serialize>(v: &T) -> Result<SqlValue> {
    Ok(SqlValue::Text(Some(serde_json::to_string(v)?)))
}

pub const INSERT_RUN: &str = "INSERT INTO runs (run_id, started_at, finished_at, status, harness_version, suite_version, hostname, platform_hash, platform_json, command, idle_json, plan_json)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING";

pub fn run_values(run: &RunRecord) -> Result<Vec<SqlValue>> {
    Ok(vec![
        text(&run.run_id),
        text(&run.started_at),
        SqlValue::Text(run.finished_at.clone()),
        text(run.status.as_str()),
        text(&run.harness_version),
        text(&run.suite_version),
        text(&run.platform.hostname),
        text(&run.platform.hash),
        json(&run.platform)?,
        text(&run.command),
        json(&run.idle)?,
        match &run.plan {
            Some(p) => json(p)?,
            None => SqlValue::Text(None),
        },
    ])
}

/// The platform is rewritten too: the preflight's throttling is recorded
/// at the end of the run.
pub const UPDATE_RUN: &str =
    "UPDATE runs SET status = $1, finished_at = $2, platform_json = $3 WHERE run_id = $4";

pub fn update_run_values(run: &RunRecord) -> Vec<SqlValue> {
    vec![
        text(run.status.as_str()),
        SqlValue::Text(run.finished_at.clone()),
        // A plain struct always serialises; NULL would be refused, not stored.
        SqlValue::Text(serde_json::to_string(&run.platform).ok()),
        text(&run.run_id),
    ]
}

/// A run stored while `running` or `interrupted` and pushed or imported
/// again once resumed takes the newer status and end time; a stale copy
/// (an older run file of a run stored as finished) changes nothing. The
/// statuses a run may advance from are bound as $4 and $5 (see
/// [`advance_run_values`]).
pub const ADVANCE_RUN: &str =
    "UPDATE runs SET status = $1, finished_at = $2 WHERE run_id = $3 AND status IN ($4, $5)";

/// How far along a run is: running, then interrupted, then ended.
fn progress(s: RunStatus) -> u8 {
    match s {
        RunStatus::Running => 0,
        RunStatus::Interrupted => 1,
        RunStatus::Finished | RunStatus::Failed => 2,
    }
}

/// The values of [`ADVANCE_RUN`]: the statuses behind the file's; `None`
/// when no stored status is behind it (a running run advances nothing).
pub fn advance_run_values(run: &RunRecord) -> Option<Vec<SqlValue>> {
    let behind: Vec<&str> = [RunStatus::Running, RunStatus::Interrupted]
        .into_iter()
        .filter(|s| progress(*s) < progress(run.status))
        .map(RunStatus::as_str)
        .collect();
    let (first, second) = match behind.as_slice() {
        [] => return None,
        [one] => (*one, *one),
        [one, two, ..] => (*one, *two),
    };
    Some(vec![
        text(run.status.as_str()),
        SqlValue::Text(run.finished_at.clone()),
        text(&run.run_id),
        text(first),
        text(second),
    ])
}

pub const INSERT_RESULT: &str = "INSERT INTO results (run_id, kernel, kernel_version, kernel_hash, size, precision, seed, backend, device, device_name, device_type, status,
        timer, n, median_s, mean_s, stddev_s, min_s, max_s, ci95_low_s, ci95_high_s, outliers,
        throughput, throughput_unit, flops, bytes, items, verify_error, message, hostname, platform_hash, recorded_at, record_json,
        energy_scope, energy_method, energy_j, avg_w, idle_w, active_w, perf_per_w, perf_per_w_unit)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33,
        $34, $35, $36, $37, $38, $39, $40, $41)
     ON CONFLICT DO NOTHING";

pub fn result_values(r: &ResultRecord) -> Result<Vec<SqlValue>> {
    let s = r.timing.as_ref().map(|t| &t.summary);
    let e = r.primary_energy();
    let real = SqlValue::Real;
    let int = SqlValue::Int;
    let opt_text = SqlValue::Text;
    Ok(vec![
        text(&r.run_id),
        text(&r.kernel),
        text(&r.kernel_version),
        text(&r.kernel_hash),
        text(&r.size),
        text(r.precision.as_str()),
        // The full u64 seed is in record_json; the column keeps its bits.
        int(Some(r.seed as i64)),
        text(r.backend.as_str()),
        text(&r.device),
        text(&r.device_name),
        text(r.device_type.as_str()),
        text(r.status.as_str()),
        opt_text(r.timing.as_ref().map(|t| t.timer.to_string())),
        int(s.map(|s| s.n as i64)),
        real(s.map(|s| s.median)),
        real(s.map(|s| s.mean)),
        real(s.map(|s| s.stddev)),
        real(s.map(|s| s.min)),
        real(s.map(|s| s.max)),
        real(s.map(|s| s.ci95_low)),
        real(s.map(|s| s.ci95_high)),
        int(s.map(|s| s.outliers as i64)),
        real(r.throughput),
        text(&r.throughput_unit),
        real(r.work.as_ref().map(|w| w.flops)),
        real(r.work.as_ref().map(|w| w.bytes)),
        real(r.work.as_ref().map(|w| w.items)),
        real(r.verification.as_ref().map(|v| v.max_rel_error)),
        opt_text(r.message.clone()),
        text(&r.hostname),
        text(&r.platform_hash),
        text(&r.recorded_at),
        json(r)?,
        opt_text(e.map(|e| e.scope.as_str().to_string())),
        opt_text(e.map(|e| e.method.as_str().to_string())),
        real(e.map(|e| e.energy_j)),
        real(e.map(|e| e.avg_w)),
        real(e.and_then(|e| e.idle_w)),
        real(e.and_then(|e| e.active_w)),
        real(e.and_then(|e| e.perf_per_w)),
        opt_text(e.map(|e| e.perf_per_w_unit.clone())),
    ])
}

fn names(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The query for `filter`: one `record_json` column, oldest first.
pub fn results_query(filter: &ResultFilter) -> (String, Vec<SqlValue>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut values: Vec<SqlValue> = Vec::new();
    let mut any_of = |column: &str, wanted: &[&str]| {
        if !wanted.is_empty() {
            let marks: Vec<String> = wanted
                .iter()
                .map(|w| {
                    values.push(text(w));
                    format!("${}", values.len())
                })
                .collect();
            clauses.push(format!("{column} IN ({})", marks.join(", ")));
        }
    };
    any_of("kernel", &names(&filter.kernels));
    let backends: Vec<&str> = filter.backends.iter().map(|b| b.as_str()).collect();
    any_of("backend", &backends);
    any_of("size", &names(&filter.sizes));
    let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
    any_of("status", &statuses);
    any_of("run_id", &names(filter.run_id.as_slice()));
    any_of("hostname", &names(filter.hostname.as_slice()));
    let filter_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    let inner = format!("SELECT id, run_id, kernel, record_json FROM results{filter_sql}");
    let sql = match filter.limit {
        Some(limit) => format!(
            "SELECT id, run_id, kernel, record_json FROM ({inner} ORDER BY id DESC LIMIT {limit}) AS r ORDER BY id"
        ),
        None => format!("SELECT id, run_id, kernel, record_json FROM ({inner}) AS r ORDER BY id"),
    };
    (sql, values)
}

/// Adds a stored row (id, run id, kernel, record JSON) to `out`: its
/// record, or, where the JSON does not parse, the row as unreadable.
pub fn read_row(out: &mut Readout, row: i64, run_id: String, kernel: String, json: &str) {
    match serde_json::from_str(json) {
        Ok(r) => out.records.push(r),
        Err(e) => out.unreadable.push(Unreadable {
            row,
            run_id,
            kernel,
            why: format!("the record does not parse: {e}"),
        }),
    }
}

pub const SELECT_RUN: &str = "SELECT run_id, started_at, finished_at, status, harness_version, suite_version, platform_json, command, idle_json, plan_json FROM runs WHERE run_id = $1";

/// A run's columns as read, in `SELECT_RUN` order.
pub struct RunColumns {
    pub run_id: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub harness_version: String,
    pub suite_version: String,
    pub platform: String,
    pub command: String,
    pub idle: Option<String>,
    pub plan: Option<String>,
}

impl RunColumns {
    /// The run record; `location` names the database in errors.
    pub fn into_run(self, location: &str) -> Result<RunRecord> {
        let corrupt = |m: String| Error::NotADatabase {
            path: location.to_string(),
            message: format!("run {}: {m}", self.run_id),
        };
        let status: RunStatus =
            serde_json::from_value(serde_json::Value::String(self.status.clone()))
                .map_err(|_| corrupt(format!("unknown status '{}'", self.status)))?;
        let platform = serde_json::from_str(&self.platform)
            .map_err(|e| corrupt(format!("platform does not parse: {e}")))?;
        let idle = match &self.idle {
            Some(i) => serde_json::from_str(i)
                .map_err(|e| corrupt(format!("idle readings do not parse: {e}")))?,
            None => Vec::new(),
        };
        let plan = match &self.plan {
            Some(p) => Some(
                serde_json::from_str(p)
                    .map_err(|e| corrupt(format!("plan does not parse: {e}")))?,
            ),
            None => None,
        };
        Ok(RunRecord {
            run_id: self.run_id,
            started_at: self.started_at,
            finished_at: self.finished_at,
            status,
            harness_version: self.harness_version,
            suite_version: self.suite_version,
            platform,
            command: self.command,
            idle,
            plan,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `$k` first appear in the order 1, 2, 3, ...: SQLite binds by order.
    fn in_order(sql: &str) -> bool {
        let mut seen = Vec::new();
        let b = sql.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'$' {
                let digits: String = sql[i + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                if let Ok(k) = digits.parse::<usize>()
                    && !seen.contains(&k)
                {
                    seen.push(k);
                }
                i += digits.len();
            }
            i += 1;
        }
        seen.iter().enumerate().all(|(i, &k)| k == i + 1)
    }

    #[test]
    fn parameters_appear_in_order() {
        for sql in [INSERT_RUN, UPDATE_RUN, INSERT_RESULT, SELECT_RUN] {
            assert!(in_order(sql), "{sql}");
        }
        assert!(!in_order("UPDATE t SET a = $2 WHERE b = $1"));
        let (q, _) = results_query(&ResultFilter {
            kernels: vec!["a".into()],
            statuses: vec![crate::store::Status::Ok, crate::store::Status::Error],
            ..Default::default()
        });
        assert!(in_order(&q), "{q}");
        assert_eq!(
            update_run_values(&RunRecord {
                run_id: "r".into(),
                started_at: String::new(),
                finished_at: None,
                status: RunStatus::Finished,
                harness_version: String::new(),
                suite_version: String::new(),
                platform: Default::default(),
                command: String::new(),
                idle: vec![],
                plan: None,
            })[3],
            SqlValue::Text(Some("r".into()))
        );
    }

    #[test]
    fn statements_have_one_value_per_parameter() {
        let count = |sql: &str| (1..100).filter(|i| sql.contains(&format!("${i}"))).count();
        assert_eq!(count(INSERT_RESULT), 41);
        assert_eq!(count(INSERT_RUN), 12);
        let (sql, values) = results_query(&ResultFilter {
            kernels: vec!["gemm".into(), "nbody".into()],
            run_id: Some("r".into()),
            limit: Some(5),
            ..Default::default()
        });
        assert_eq!(values.len(), 3);
        assert!(
            sql.contains("kernel IN ($1, $2) AND run_id IN ($3)"),
            "{sql}"
        );
        assert!(sql.contains("LIMIT 5"), "{sql}");
    }
}
