//! Verification against the f64 reference: element-wise comparisons
//! accumulated by a [`Checker`] into a [`Verdict`].

use serde::{Deserialize, Serialize};

use crate::kernel::manifest::Tolerance;

/// The outcome of verifying one output against the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub passed: bool,
    /// Largest `|out - ref| / (abs + rel * scale)`: below 1 passes.
    pub worst_ratio: f64,
    /// Largest absolute error seen.
    pub max_abs_error: f64,
    /// Largest error relative to the element's scale.
    pub max_rel_error: f64,
    /// How many output values were checked against the reference.
    pub checked: u64,
    /// Where the worst error is, in words.
    pub detail: String,
    /// For a kernel whose outputs decide something (a classifier's top
    /// class), the fraction of items whose decision agrees with the
    /// reference's; `None` for others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<f64>,
}

/// Accumulates element-wise comparisons into a [`Verdict`].
pub struct Checker {
    tol: Tolerance,
    worst_ratio: f64,
    max_abs: f64,
    max_rel: f64,
    checked: u64,
    detail: String,
}

impl Checker {
    pub fn new(tol: Tolerance) -> Self {
        Checker {
            tol,
            worst_ratio: 0.0,
            max_abs: 0.0,
            max_rel: 0.0,
            checked: 0,
            detail: String::new(),
        }
    }

    /// Compares `got` to the reference `want`; `scale` is the magnitude the
    /// relative tolerance applies to (for a sum, the sum of magnitudes).
    pub fn check(&mut self, got: f64, want: f64, scale: f64, what: impl FnOnce() -> String) {
        self.checked += 1;
        let err = (got - want).abs();
        let bound = self.tol.abs + self.tol.rel * scale.abs();
        // NaN compares false everywhere: make it the worst possible error.
        let ratio = if err.is_nan() {
            f64::INFINITY
        } else if bound > 0.0 {
            err / bound
        } else if err == 0.0 {
            0.0
        } else {
            f64::INFINITY
        };
        if err.is_finite() {
            self.max_abs = self.max_abs.max(err);
            if scale.abs() > 0.0 {
                self.max_rel = self.max_rel.max(err / scale.abs());
            }
        } else {
            self.max_abs = f64::INFINITY;
            self.max_rel = f64::INFINITY;
        }
        if ratio > self.worst_ratio || self.detail.is_empty() {
            self.worst_ratio = self.worst_ratio.max(ratio);
            self.detail = format!("{}: got {got:e}, reference {want:e}", what());
        }
    }

    pub fn finish(self) -> Verdict {
        Verdict {
            passed: self.worst_ratio <= 1.0,
            worst_ratio: self.worst_ratio,
            max_abs_error: self.max_abs,
            max_rel_error: self.max_rel,
            checked: self.checked,
            detail: self.detail,
            agreement: None,
        }
    }
}

/// Picks `count` distinct indices in `0..n`, spread by `seed`, always
/// including the first and the last: edge tiles are where kernels break.
pub fn sample_indices(n: usize, count: usize, seed: u64, stream: u64) -> Vec<usize> {
    if count >= n {
        return (0..n).collect();
    }
    let mut picked = std::collections::BTreeSet::new();
    picked.insert(0);
    picked.insert(n - 1);
    let mut i = 0u64;
    while picked.len() < count {
        picked.insert((crate::rng::bits(seed, stream, i) % n as u64) as usize);
        i += 1;
    }
    picked.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checker_flags_nan_and_out_of_tolerance() {
        let tol = Tolerance {
            rel: 1e-3,
            abs: 0.0,
        };
        let mut c = Checker::new(tol);
        c.check(1.0005, 1.0, 1.0, || "x[0]".into());
        let v = c.finish();
        assert!(v.passed);
        assert!((v.worst_ratio - 0.5).abs() < 1e-9);

        let mut c = Checker::new(tol);
        c.check(1.0, 1.0, 1.0, || "x[0]".into());
        c.check(f64::NAN, 1.0, 1.0, || "x[1]".into());
        let v = c.finish();
        assert!(!v.passed);
        assert!(v.detail.starts_with("x[1]"), "{}", v.detail);
    }

    #[test]
    fn sample_indices_include_edges_and_are_distinct() {
        let s = sample_indices(1000, 10, 1, 2);
        assert_eq!(s.len(), 10);
        assert_eq!(s[0], 0);
        assert_eq!(s[9], 999);
        assert_eq!(sample_indices(5, 10, 1, 2), vec![0, 1, 2, 3, 4]);
    }
}
