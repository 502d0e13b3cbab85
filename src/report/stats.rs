//! The statistics behind `score` and `compare`: small pure functions over the
//! stored summaries (n, mean, standard deviation), so that a comparison can
//! be recomputed from any database or run file without the raw samples.
//!
//! - Scores combine ratios by a weighted geometric mean, as HEPscore and
//!   SPEC do: the geometric mean of ratios does not depend on which machine
//!   is the reference, and a kernel twice as fast counts as much as one
//!   twice as slow.
//! - Two results differ significantly when Welch's t-test on their mean
//!   times rejects equal means at the 5% level (two-sided). Welch's test does
//!   not assume equal variances, which two different devices never have.
//!   The degrees of freedom (Welch-Satterthwaite) are rounded down before
//!   the t quantile is looked up, which makes the test slightly conservative.
//! - The 95% confidence interval of a ratio of mean times comes from the
//!   delta method on its logarithm: `var(ln(a/b)) ~ s_a^2/(n_a a^2) +
//!   s_b^2/(n_b b^2)`, with the same Welch-Satterthwaite degrees of freedom
//!   on those relative variances. It is asymmetric around the ratio and
//!   never crosses zero.
//!
//! Invariants: every input is finite; means are positive; a sample of fewer
//! than two values has no spread to test, and the functions say so with
//! `None` rather than invent one.

use crate::measure::stats::t_975;

/// `exp(sum(w ln x) / sum(w))`. `None` when there is nothing to combine, a
/// weight is not positive or a value is not positive and finite.
pub fn weighted_geometric_mean(values: &[(f64, f64)]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sum_w = 0.0;
    let mut sum = 0.0;
    for &(x, w) in values {
        if !(x.is_finite() && x > 0.0 && w.is_finite() && w > 0.0) {
            return None;
        }
        sum_w += w;
        sum += w * x.ln();
    }
    Some((sum / sum_w).exp())
}

/// The geometric mean with equal weights.
pub fn geometric_mean(values: &[f64]) -> Option<f64> {
    let v: Vec<(f64, f64)> = values.iter().map(|&x| (x, 1.0)).collect();
    weighted_geometric_mean(&v)
}

/// What a sample contributes to a comparison: its mean, sample standard
/// deviation (n - 1) and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub mean: f64,
    pub stddev: f64,
    pub n: usize,
}

/// The outcome of Welch's t-test of `a` against `b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Welch {
    /// `(mean_a - mean_b) / sqrt(s_a^2/n_a + s_b^2/n_b)`.
    pub t: f64,
    /// Welch-Satterthwaite degrees of freedom (infinite when both spreads
    /// are zero).
    pub df: f64,
    /// The two-sided 95% critical value used: `t_975(floor(df))`.
    pub critical: f64,
    /// `|t| > critical`: the means differ at the 5% level.
    pub significant: bool,
}

/// The Welch-Satterthwaite degrees of freedom of two variance terms
/// `va = s_a^2/n_a`, `vb = s_b^2/n_b`.
pub fn welch_df(va: f64, na: usize, vb: f64, nb: usize) -> f64 {
    let num = (va + vb).powi(2);
    let den = va * va / (na as f64 - 1.0) + vb * vb / (nb as f64 - 1.0);
    if den > 0.0 { num / den } else { f64::INFINITY }
}

/// The 97.5% t quantile for fractional `df`, rounded down (conservative).
fn critical(df: f64) -> f64 {
    if df.is_infinite() {
        1.959_963_984_540_054
    } else {
        t_975(df.floor().max(1.0) as usize)
    }
}

/// Welch's two-sided t-test at the 5% level. `None` when a sample has fewer
/// than two values.
pub fn welch(a: Sample, b: Sample) -> Option<Welch> {
    if a.n < 2 || b.n < 2 {
        return None;
    }
    let va = a.stddev * a.stddev / a.n as f64;
    let vb = b.stddev * b.stddev / b.n as f64;
    let se = (va + vb).sqrt();
    let diff = a.mean - b.mean;
    if se == 0.0 {
        // No spread at all: any difference is certain, none is none.
        return Some(Welch {
            t: if diff == 0.0 {
                0.0
            } else {
                diff.signum() * f64::INFINITY
            },
            df: f64::INFINITY,
            critical: critical(f64::INFINITY),
            significant: diff != 0.0,
        });
    }
    let df = welch_df(va, a.n, vb, b.n);
    let t = diff / se;
    let c = critical(df);
    Some(Welch {
        t,
        df,
        critical: c,
        significant: t.abs() > c,
    })
}

/// A ratio with its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// `num.mean / den.mean` with its 95% confidence interval by the delta
/// method on the logarithm. With fewer than two values in a sample the
/// interval collapses to the ratio itself.
pub fn ratio_of_means(num: Sample, den: Sample) -> Option<Ratio> {
    if !(num.mean > 0.0 && den.mean > 0.0 && num.mean.is_finite() && den.mean.is_finite()) {
        return None;
    }
    let value = num.mean / den.mean;
    if num.n < 2 || den.n < 2 {
        return Some(Ratio {
            value,
            low: value,
            high: value,
        });
    }
    let rel = |s: Sample| (s.stddev / s.mean).powi(2) / s.n as f64;
    let (vn, vd) = (rel(num), rel(den));
    let se = (vn + vd).sqrt();
    let half = critical(welch_df(vn, num.n, vd, den.n)) * se;
    Some(Ratio {
        value,
        low: value * (-half).exp(),
        high: value * half.exp(),
    })
}

/// Indices of the points on the Pareto front of (power, throughput): no
/// other point draws less or equal power and delivers more or equal
/// throughput with one of them strictly better. Sorted by power.
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].0.is_finite() && points[i].1.is_finite())
        .collect();
    // Least power first; at equal power the highest throughput first.
    order.sort_by(|&i, &j| {
        points[i]
            .0
            .total_cmp(&points[j].0)
            .then(points[j].1.total_cmp(&points[i].1))
    });
    let mut front = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for i in order {
        if points[i].1 > best {
            best = points[i].1;
            front.push(i);
        }
    }
    front
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-300)
    }

    #[test]
    fn geometric_means_by_hand() {
        assert!(close(geometric_mean(&[2.0, 8.0]).unwrap(), 4.0, 1e-12));
        assert!(close(
            geometric_mean(&[1.0, 10.0, 100.0]).unwrap(),
            10.0,
            1e-12
        ));
        // (2^3 * 16^1)^(1/4) = (128)^(1/4) = 2^(7/4)
        assert!(close(
            weighted_geometric_mean(&[(2.0, 3.0), (16.0, 1.0)]).unwrap(),
            2f64.powf(1.75),
            1e-12
        ));
        // Ratios and their inverses cancel: independent of the reference.
        assert!(close(geometric_mean(&[0.5, 2.0]).unwrap(), 1.0, 1e-12));
        assert_eq!(geometric_mean(&[]), None);
        assert_eq!(geometric_mean(&[1.0, 0.0]), None);
        assert_eq!(weighted_geometric_mean(&[(1.0, -1.0)]), None);
    }

    #[test]
    fn welch_by_hand() {
        // a: mean 10, s 2, n 10 -> va = 0.4; b: mean 12, s 3, n 12 -> vb = 0.75
        let a = Sample {
            mean: 10.0,
            stddev: 2.0,
            n: 10,
        };
        let b = Sample {
            mean: 12.0,
            stddev: 3.0,
            n: 12,
        };
        let w = welch(a, b).unwrap();
        let se = (0.4f64 + 0.75).sqrt();
        assert!(close(w.t, -2.0 / se, 1e-12));
        // df = 1.15^2 / (0.16/9 + 0.5625/11)
        let df = 1.3225 / (0.16 / 9.0 + 0.5625 / 11.0);
        assert!(close(w.df, df, 1e-12));
        assert!((19.0..20.0).contains(&w.df));
        assert_eq!(w.critical, 2.093); // t_975(19)
        // |t| = 1.865 < 2.093: not significant at 5%.
        assert!(!w.significant);
    }

    #[test]
    fn welch_decides_both_ways() {
        let base = Sample {
            mean: 1.0,
            stddev: 0.1,
            n: 20,
        };
        // se = sqrt(0.01/20 * 2) = 0.0316; t = 0.05 / 0.0316 = 1.58: not significant
        let near = Sample { mean: 1.05, ..base };
        let w = welch(near, base).unwrap();
        assert!(close(w.t, 0.05 / (0.001f64).sqrt(), 1e-9));
        assert!(!w.significant);
        // t = 0.1 / 0.0316 = 3.16: significant
        let far = Sample { mean: 1.1, ..base };
        assert!(welch(far, base).unwrap().significant);
        // n < 2: nothing to test.
        assert_eq!(welch(Sample { n: 1, ..base }, base), None);
        // No spread at all.
        let flat = Sample {
            mean: 1.0,
            stddev: 0.0,
            n: 5,
        };
        assert!(
            welch(Sample { mean: 2.0, ..flat }, flat)
                .unwrap()
                .significant
        );
        assert!(!welch(flat, flat).unwrap().significant);
    }

    #[test]
    fn ratio_interval_by_hand() {
        let num = Sample {
            mean: 2.0,
            stddev: 0.2,
            n: 25,
        };
        let den = Sample {
            mean: 1.0,
            stddev: 0.1,
            n: 25,
        };
        let r = ratio_of_means(num, den).unwrap();
        assert_eq!(r.value, 2.0);
        // relative variances 0.01/25 each; se = sqrt(0.0008); df = 48
        let se = 0.0008f64.sqrt();
        let t = t_975(48);
        assert!(close(r.low, 2.0 * (-t * se).exp(), 1e-12));
        assert!(close(r.high, 2.0 * (t * se).exp(), 1e-12));
        assert!(r.low < 2.0 && r.high > 2.0);
        assert_eq!(ratio_of_means(Sample { mean: 0.0, ..num }, den), None);
    }

    #[test]
    fn pareto_front_by_hand() {
        // (power, throughput)
        let pts = [
            (100.0, 10.0),
            (50.0, 8.0),
            (200.0, 9.0),
            (300.0, 20.0),
            (50.0, 5.0),
        ];
        assert_eq!(pareto_front(&pts), vec![1, 0, 3]);
        assert_eq!(pareto_front(&[]), Vec::<usize>::new());
    }
}
