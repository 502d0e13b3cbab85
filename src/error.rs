//! Typed errors of the library. The binary wraps them with `anyhow` context and
//! picks the exit code from [`Error::exit_code`].

use std::fmt;
use std::path::PathBuf;

/// Exit code for bad input: unknown names, malformed files, refused databases.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code for a run in which a result failed verification or errored.
pub const EXIT_RESULTS_FAILED: u8 = 3;
/// Exit code for every other failure (I/O, database, backend).
pub const EXIT_FAILURE: u8 = 1;

/// `run --strict` refused to measure: the node is busy (preflight).
pub const EXIT_NODE_BUSY: u8 = 4;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name given on the command line is not one of the valid ones.
    #[error("unknown {what} '{name}'; valid {}: {valid}", plural(.what))]
    UnknownName {
        what: &'static str,
        name: String,
        valid: String,
    },

    /// A manifest (`kernel.toml`) is malformed or incomplete.
    #[error("{path}:{line}:{column}: {message}")]
    Manifest {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },

    /// A manifest is well-formed TOML but a value is unusable.
    #[error("{path}: {message}")]
    ManifestValue { path: String, message: String },

    /// A run file (JSON) could not be parsed or is of an unknown schema.
    #[error("{path}: {message}")]
    RunFile { path: PathBuf, message: String },

    /// An I/O error, with the path it concerns.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// An input file far larger than any real one (`/dev/zero`, a wrong
    /// link): refused before it is read into memory.
    #[error(
        "{}: larger than the {} MiB an input file of hetbench may be: is it the right file?",
        path.display(),
        limit >> 20
    )]
    InputTooLarge { path: PathBuf, limit: u64 },

    /// Storing a run's progress failed mid-run: the run was stopped and
    /// marked interrupted in whichever store still works.
    #[error("run {run_id} stopped: storing its progress failed")]
    RunStopped {
        run_id: String,
        #[source]
        source: Box<Error>,
    },

    /// A database error, with the database's location.
    #[error("results database '{path}': {source}")]
    Database {
        path: String,
        #[source]
        source: rusqlite::Error,
    },

    /// The database was written by a newer hetbench.
    #[error(
        "results database '{path}' has schema version {found}, newer than the {supported} this hetbench {harness} supports; upgrade hetbench or use another --db"
    )]
    SchemaTooNew {
        path: String,
        found: i64,
        supported: i64,
        harness: &'static str,
    },

    /// A file is not a hetbench results database at all.
    #[error("'{path}' is not a hetbench results database: {message}")]
    NotADatabase { path: String, message: String },

    /// A value given by the user is out of range.
    #[error("invalid {what}: {message}")]
    InvalidValue { what: String, message: String },

    /// A backend failed while preparing or running a kernel.
    #[error("{backend} backend: {message}")]
    Backend { backend: String, message: String },

    /// A backend cannot run this kernel or size on this device (no shader,
    /// a buffer over the device's limits): the result is `skipped`.
    #[error("{backend} backend: {message}")]
    Unsupported { backend: String, message: String },

    /// A launch asks more of a device than it allows (checked by
    /// `backends::limits`); refused before it runs.
    #[error("{kernel} size {size} on {device}: {exceeded}")]
    OverDeviceLimit {
        kernel: String,
        size: String,
        device: String,
        exceeded: Box<LimitExceeded>,
    },

    /// A backend that the user required (`by`: named with --backend, or in
    /// HETBENCH_REQUIRE_BACKENDS) is missing.
    #[error("backend '{backend}' is required ({by}) but unavailable: {reason}")]
    RequiredBackendMissing {
        backend: String,
        reason: String,
        by: &'static str,
    },

    /// No stored result fits what a report needs.
    #[error("{0}")]
    NoResults(String),

    /// Results of different suite versions would be combined into one figure.
    #[error("{0}")]
    MixedSuites(String),

    /// A plot could not be drawn.
    #[error("plot: {0}")]
    Plot(String),

    /// JSON (de)serialisation outside a run file.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// The process exit code the binary uses for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::UnknownName { .. }
            | Error::Manifest { .. }
            | Error::ManifestValue { .. }
            | Error::RunFile { .. }
            | Error::InputTooLarge { .. }
            | Error::SchemaTooNew { .. }
            | Error::NotADatabase { .. }
            | Error::InvalidValue { .. }
            | Error::NoResults(_)
            | Error::MixedSuites(_) => EXIT_BAD_INPUT,
            Error::RunStopped { source, .. } => source.exit_code(),
            _ => EXIT_FAILURE,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One limit of a device: its name in the device's API and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub name: &'static str,
    pub value: u64,
}

impl Limit {
    pub const fn new(name: &'static str, value: u64) -> Self {
        Limit { name, value }
    }
}

/// Which sort of limit a launch exceeds: its shape, which the kernel
/// chooses and must fit every device (a failure), or its memory, which a
/// size needs and a small device lacks (a skip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Geometry,
    Memory,
}

/// The limit a launch exceeds and by what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    pub kind: LimitKind,
    /// What was counted, e.g. "dispatch 'kalman_fit': workgroups in x".
    pub what: String,
    pub limit: Limit,
    pub value: u64,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {}, over {} = {}",
            self.what, self.value, self.limit.name, self.limit.value
        )
    }
}

/// The plural of a one-word noun of [`Error::UnknownName`]: "backends",
/// "statuses".
fn plural(noun: &str) -> String {
    if noun.ends_with('s') {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_name_lists_the_valid_ones_in_the_plural() {
        let e = |what| Error::UnknownName {
            what,
            name: "x".into(),
            valid: "a, b".into(),
        };
        assert_eq!(
            e("status").to_string(),
            "unknown status 'x'; valid statuses: a, b"
        );
        assert_eq!(
            e("backend").to_string(),
            "unknown backend 'x'; valid backends: a, b"
        );
    }
}
