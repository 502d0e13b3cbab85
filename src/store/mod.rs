//! Where results go: the SQLite database ([`sqlite`]), the JSON run files
//! ([`json`]) and the record types both share ([`record`]).

pub mod json;
pub mod record;
pub mod sqlite;

pub use record::{ResultRecord, RunFile, RunRecord, RunStatus, Status};
pub use sqlite::{Database, ImportOutcome, ResultFilter};
