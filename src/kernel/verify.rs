//! Verification against the f64 reference: element-wise comparisons
//! accumulated by a [`Checker`] into a [`Verdict`].

use serde::{Deserialize, Serialize};

use crate::kernel::manifest::Tolerance;

/// The outcome of verifying one output against the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub passed: bool,
    /// Largest `|out - ref| / (abs + rel * scale)`: below 1 passes
    /// (infinite for a NaN or infinite output).
    #[serde(with = "nonfinite")]
    pub worst_ratio: f64,
    /// Largest absolute error seen.
    #[serde(with = "nonfinite")]
    pub max_abs_error: f64,
    /// Largest error relative to the element's scale.
    #[serde(with = "nonfinite")]
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

/// Serde for a figure that may be infinite or NaN: JSON has no such
/// numbers (serde_json writes them as `null`, which then fails to read as
/// f64 and made a whole database unreadable), so they are stored as the
/// strings `"inf"`, `"-inf"` and `"nan"`; a `null` written by an earlier
/// version reads as NaN. Finite values are stored as numbers, as before.
pub mod nonfinite {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        match *v {
            v if v.is_finite() => s.serialize_f64(v),
            v if v.is_nan() => s.serialize_str("nan"),
            v if v > 0.0 => s.serialize_str("inf"),
            _ => s.serialize_str("-inf"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| D::Error::custom(format!("{n} is not a number"))),
            serde_json::Value::Null => Ok(f64::NAN),
            serde_json::Value::String(s) => match s.as_str() {
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                "nan" => Ok(f64::NAN),
                _ => Err(D::Error::custom(format!(
                    "'{s}' is not a number (nor inf, -inf or nan)"
                ))),
            },
            other => Err(D::Error::custom(format!("{other} is not a number"))),
        }
    }
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
    fn a_verdict_on_a_nan_output_survives_json() {
        let mut c = Checker::new(Tolerance {
            rel: 1e-6,
            abs: 0.0,
        });
        c.check(f64::NAN, 1.0, 1.0, || "x[0]".into());
        let v = c.finish();
        assert!(!v.passed && v.worst_ratio.is_infinite());
        let text = serde_json::to_string(&v).unwrap();
        assert!(text.contains(r#""worst_ratio":"inf""#), "{text}");
        let back: Verdict = serde_json::from_str(&text).unwrap();
        assert_eq!(back.worst_ratio, f64::INFINITY);
        // A null, as earlier versions wrote it, reads as NaN; a number as
        // itself; anything else is refused.
        let old = text.replace(r#""worst_ratio":"inf""#, r#""worst_ratio":null"#);
        assert!(
            serde_json::from_str::<Verdict>(&old)
                .unwrap()
                .worst_ratio
                .is_nan()
        );
        let bad = text.replace(r#""worst_ratio":"inf""#, r#""worst_ratio":"big""#);
        let err = serde_json::from_str::<Verdict>(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("'big' is not a number"), "{err}");
    }

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
