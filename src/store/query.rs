//! What a query of the results database asks ([`ResultFilter`]) and what
//! an import did ([`ImportOutcome`]), shared by both databases.

/// Which results to return.
#[derive(Debug, Clone, Default)]
pub struct ResultFilter {
    pub kernels: Vec<String>,
    pub backends: Vec<crate::backends::BackendKind>,
    pub sizes: Vec<String>,
    pub statuses: Vec<crate::store::record::Status>,
    pub run_id: Option<String>,
    pub hostname: Option<String>,
    /// Only the newest `limit` results.
    pub limit: Option<usize>,
}

/// Results read back: the records, and the stored ones that could not be
/// read (written by a version that stored a non-finite figure as `null`,
/// or damaged), which readers skip and report instead of failing on.
#[derive(Debug, Clone, Default)]
pub struct Readout {
    pub records: Vec<crate::store::record::ResultRecord>,
    pub unreadable: Vec<Unreadable>,
}

/// A stored result that does not parse, by its row and run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub row: i64,
    pub run_id: String,
    pub kernel: String,
    pub why: String,
}

impl Readout {
    /// One line for the user, if anything was skipped.
    pub fn skipped_note(&self) -> Option<String> {
        let first = self.unreadable.first()?;
        Some(format!(
            "{} stored result record(s) could not be read and were skipped (first: row {}, run {}, kernel {}: {}); `hetbench export` of the rest still works",
            self.unreadable.len(),
            first.row,
            first.run_id,
            first.kernel,
            first.why
        ))
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOutcome {
    pub run_was_new: bool,
    /// The run was stored before with a status behind this one's
    /// (running or interrupted) and now has this one's.
    pub status_advanced: bool,
    pub inserted: usize,
    pub already_present: usize,
}
