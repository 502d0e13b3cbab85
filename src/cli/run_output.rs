//! The terminal output of `hetbench run`, kept to one screen: warnings are
//! counted per kind and printed once each with their count, skipped
//! results are one note per backend and reason listing the kernels, and
//! the run ends with a tally and the next commands. Every detail stays in
//! the stored records; `--verbose` prints them per result as they come.

use std::collections::BTreeMap;

use hetbench::store::{ResultRecord, Status};

/// Warnings and skips gathered over a run.
#[derive(Default)]
pub struct Digest {
    /// Kind (the text with its figures blanked) -> (count, first text).
    warnings: BTreeMap<String, (usize, String)>,
    /// (backend, reason) -> (results, kernels).
    skipped: BTreeMap<(String, String), (usize, Vec<String>)>,
}

/// `text` with every run of digits (and a decimal point inside one) as
/// `#`: warnings that differ only in figures are one kind.
pub fn kind_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() || (in_number && c == '.') {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// A result's warnings, energy flags included, as printed.
pub fn warnings_of(r: &ResultRecord) -> Vec<String> {
    let mut v: Vec<String> = r.warnings.iter().map(|w| w.to_string()).collect();
    for e in &r.energy {
        v.extend(
            e.flags
                .iter()
                .map(|f| format!("energy from {}: {f}", e.meter)),
        );
    }
    v
}

/// `message` with the kernel's name, where it stands as a word, said as
/// "the kernel"; inside a path or a longer name (`kernels/cluster/cluster.cl`,
/// `cluster_x`) it stays, so a path in a reason is never garbled.
fn without_name(message: &str, name: &str) -> String {
    let part_of_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.' | '-');
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(name) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + name.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(part_of_name) || after.is_some_and(part_of_name) {
            out.push_str(name);
        } else {
            out.push_str("the kernel");
        }
        rest = &rest[at + name.len()..];
    }
    out.push_str(rest);
    out
}

impl Digest {
    /// Takes one result's warnings and, if skipped, its reason; returns the
    /// lines to print now (failures: each one matters).
    pub fn add(&mut self, r: &ResultRecord) -> Vec<String> {
        for w in warnings_of(r) {
            let entry = self.warnings.entry(kind_of(&w)).or_insert((0, w));
            entry.0 += 1;
        }
        let label = format!("{} {} on {} {}", r.kernel, r.size, r.backend, r.device);
        let message = r.message.clone().unwrap_or_default();
        match r.status {
            Status::Ok => Vec::new(),
            Status::Skipped => {
                // The kernel's name is left out of the reason, so one reason
                // for many kernels is one note.
                let reason = without_name(
                    &message.replace(&format!("kernel '{}' ", r.kernel), ""),
                    &r.kernel,
                );
                let (n, kernels) = self
                    .skipped
                    .entry((r.backend.to_string(), reason))
                    .or_default();
                *n += 1;
                if !kernels.contains(&r.kernel) {
                    kernels.push(r.kernel.clone());
                }
                Vec::new()
            }
            _ => vec![format!("{}: {label}: {message}", r.status.as_str())],
        }
    }

    /// One line per kind of warning and per skip reason.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .warnings
            .values()
            .map(|(n, first)| format!("warning: {n} result(s): {first}"))
            .collect();
        for ((backend, reason), (n, kernels)) in &self.skipped {
            out.push(format!(
                "note: {n} result(s) of {} kernel(s) skipped on {backend}: {reason}: {}",
                kernels.len(),
                kernels.join(", ")
            ));
        }
        if !out.is_empty() {
            out.push(
                "(each result's warnings are stored: `hetbench results --json`; `run --verbose` prints them as they come)".into(),
            );
        }
        out
    }
}

/// The last lines: the tally of the stored results and what to do next.
pub fn tally(results: &[ResultRecord]) -> String {
    let count = |f: &dyn Fn(Status) -> bool| results.iter().filter(|r| f(r.status)).count();
    let ok = count(&|s| s == Status::Ok);
    let verify = count(&|s| s == Status::VerifyFailed);
    let errors = count(&|s| matches!(s, Status::Error | Status::Timeout | Status::Crashed));
    let skipped = count(&|s| s == Status::Skipped);
    let warnings: usize = results.iter().map(|r| warnings_of(r).len()).sum();
    format!(
        "tally: {ok} ok, {verify} verify failed, {errors} errors, {skipped} skipped, {warnings} warnings\nnext: hetbench summary | hetbench report --out report | hetbench push --to postgres://USER@HOST/DB"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_reason_drops_the_kernel_name_but_not_from_paths() {
        assert_eq!(
            without_name(
                "cluster size xlarge on wgpu0: 'cluster' has no source (/k/cluster/cluster.cl, cluster_x)",
                "cluster"
            ),
            "the kernel size xlarge on wgpu0: 'the kernel' has no source (/k/cluster/cluster.cl, cluster_x)"
        );
    }

    #[test]
    fn figures_do_not_make_a_new_kind() {
        assert_eq!(
            kind_of("window 0.123 s is shorter than 10x (1 s)"),
            "window # s is shorter than #x (# s)"
        );
        assert_eq!(
            kind_of("cv 12.5% over 3 samples"),
            kind_of("cv 40.1% over 10 samples")
        );
    }
}
