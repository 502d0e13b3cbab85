//! What a query of the results database asks ([`ResultFilter`]) and what
//! an import did ([`ImportOutcome`]), shared by both databases.

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
