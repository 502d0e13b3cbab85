//! Summary statistics of timing samples: small pure functions.
//!
//! Invariant for every function here: the sample holds at least one finite
//! value; functions that need two say so and degrade (a zero spread, a
//! degenerate interval) rather than panic.
//!
//! Outliers use the modified Z-score of Iglewicz and Hoaglin ("How to Detect
//! and Handle Outliers", ASQC Quality Press, 1993): M_i = 0.6745 (x_i - median)
//! / MAD, outlier when |M_i| > 3.5. The median absolute deviation resists the
//! very outliers it looks for, unlike the standard deviation.

use serde::{Deserialize, Serialize};

/// Threshold on the modified Z-score above which a sample is an outlier.
pub const OUTLIER_Z: f64 = 3.5;

/// Summary of a sample of times, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for a single value.
    pub stddev: f64,
    pub min: f64,
    pub max: f64,
    /// 95% confidence interval of the mean (Student's t).
    pub ci95_low: f64,
    pub ci95_high: f64,
    /// Median absolute deviation (unscaled).
    pub mad: f64,
    /// 95% confidence interval of the median (see [`median_ci95`]); absent
    /// below 6 samples and in records written before suite 0.3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_ci95: Option<Interval>,
    /// Samples whose modified Z-score exceeds [`OUTLIER_Z`].
    pub outliers: usize,
}

impl Summary {
    /// Summarises `sample`. Returns `None` for an empty sample or one with
    /// a non-finite value.
    pub fn of(sample: &[f64]) -> Option<Summary> {
        if sample.is_empty() || sample.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let mut sorted = sample.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = median_sorted(&sorted);
        let mean = sorted.iter().sum::<f64>() / n as f64;
        let stddev = stddev(&sorted, mean);
        let half = if n >= 2 {
            t_975(n - 1) * stddev / (n as f64).sqrt()
        } else {
            0.0
        };
        let mad = mad(&sorted, median);
        Some(Summary {
            n,
            median,
            mean,
            stddev,
            min: sorted[0],
            max: sorted[n - 1],
            ci95_low: mean - half,
            ci95_high: mean + half,
            mad,
            outliers: outliers(&sorted, median, mad),
            median_ci95: median_ci95(&sorted),
        })
    }

    /// Coefficient of variation (stddev / mean).
    pub fn cv(&self) -> f64 {
        if self.mean > 0.0 {
            self.stddev / self.mean
        } else {
            0.0
        }
    }
}

/// A two-sided interval `low <= high`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// The 95% confidence interval of the median of a sorted sample, free of any
/// assumption on the distribution: `[x_(k), x_(n+1-k)]` (1-based order
/// statistics) with the largest `k` such that `2 P(B <= k - 1) <= 0.05` for
/// `B ~ Binomial(n, 1/2)`, so that it covers the true median with at least
/// 95% probability. The same interval as `scipy.stats.quantile_test(x,
/// p=0.5).confidence_interval(0.95)` (Conover, "Practical Nonparametric
/// Statistics", 3rd ed., section 3.2). `None` below 6 values: even
/// `[min, max]` then covers the median with less than 95% (93.75% at 5).
pub fn median_ci95(sorted: &[f64]) -> Option<Interval> {
    let k = median_rank_95(sorted.len())?;
    Some(Interval {
        low: sorted[k - 1],
        high: sorted[sorted.len() - k],
    })
}

/// The rank `k` of [`median_ci95`] for `n` values, `None` when `n < 6`.
pub fn median_rank_95(n: usize) -> Option<usize> {
    // P(B <= j) accumulated in linear space from log-pmfs, exact enough for
    // any n a timing loop produces (the terms below 1e-300 add nothing).
    let ln_half_n = n as f64 * std::f64::consts::LN_2;
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut cdf = 0.0;
    let mut k = None;
    for j in 0..n / 2 {
        cdf += (ln_choose - ln_half_n).exp();
        // [x_(j+1), x_(n-j)] misses the median with probability 2 P(B <= j).
        if 2.0 * cdf > 0.05 {
            break;
        }
        k = Some(j + 1);
        ln_choose += ((n - j) as f64 / (j + 1) as f64).ln();
    }
    k
}

/// Median of a sorted, non-empty slice.
pub fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    }
}

/// Sample standard deviation (divisor n - 1); 0 when n < 2.
pub fn stddev(sample: &[f64], mean: f64) -> f64 {
    if sample.len() < 2 {
        return 0.0;
    }
    let ss: f64 = sample.iter().map(|x| (x - mean).powi(2)).sum();
    (ss / (sample.len() - 1) as f64).sqrt()
}

/// Median absolute deviation from `median`.
pub fn mad(sample: &[f64], median: f64) -> f64 {
    let mut dev: Vec<f64> = sample.iter().map(|x| (x - median).abs()).collect();
    dev.sort_by(f64::total_cmp);
    median_sorted(&dev)
}

/// Count of samples with modified Z-score above [`OUTLIER_Z`]. With a zero
/// MAD (more than half the samples equal) any sample off the median counts.
pub fn outliers(sample: &[f64], median: f64, mad: f64) -> usize {
    sample
        .iter()
        .filter(|&&x| {
            if mad > 0.0 {
                (0.6745 * (x - median) / mad).abs() > OUTLIER_Z
            } else {
                x != median
            }
        })
        .count()
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom (two-sided
/// 95%). Exact table to 30, then the Cornish-Fisher expansion around the
/// normal quantile, accurate to 1e-3 there.
pub fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        _ => {
            let z = 1.959_963_984_540_054_f64;
            let d = df as f64;
            z + (z.powi(3) + z) / (4.0 * d)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_by_hand() {
        // mean 3, deviations -2..2, ss = 10, s = sqrt(2.5)
        let s = Summary::of(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!(
            (s.n, s.median, s.mean, s.min, s.max),
            (5, 3.0, 3.0, 1.0, 5.0)
        );
        assert!((s.stddev - 2.5f64.sqrt()).abs() < 1e-12);
        let half = 2.776 * 2.5f64.sqrt() / 5f64.sqrt();
        assert!((s.ci95_low - (3.0 - half)).abs() < 1e-12);
        assert!((s.ci95_high - (3.0 + half)).abs() < 1e-12);
        assert_eq!(s.mad, 1.0);
        assert_eq!(s.outliers, 0);
    }

    #[test]
    fn median_interval_matches_scipy() {
        // (n, low rank, high rank) of
        // scipy.stats.quantile_test(x, p=0.5).confidence_interval(0.95) with
        // x = 1..=n (scipy 1.17.1); n = 5 has none (scipy gives nan).
        let scipy = [
            (6, 1, 6),
            (7, 1, 7),
            (8, 1, 8),
            (9, 2, 8),
            (10, 2, 9),
            (11, 2, 10),
            (20, 6, 15),
            (29, 9, 21),
            (50, 18, 33),
            (100, 40, 61),
            (101, 41, 61),
            (1000, 469, 532),
            (1001, 470, 532),
            (10000, 4902, 5099),
        ];
        for (n, low, high) in scipy {
            let x: Vec<f64> = (1..=n).map(|i| i as f64).collect();
            let ci = median_ci95(&x).unwrap();
            assert_eq!((ci.low, ci.high), (low as f64, high as f64), "n = {n}");
            let s = Summary::of(&x).unwrap();
            assert_eq!(s.median_ci95, Some(ci));
            assert!(ci.low <= s.median && s.median <= ci.high);
        }
        for n in 0..6 {
            assert_eq!(median_rank_95(n), None, "n = {n}");
        }
        assert_eq!(Summary::of(&[1.0, 2.0, 3.0]).unwrap().median_ci95, None);
    }

    #[test]
    fn outlier_is_found_by_modified_z() {
        let mut v = vec![10.0, 10.1, 9.9, 10.05, 9.95, 10.02, 9.98];
        v.push(30.0);
        let s = Summary::of(&v).unwrap();
        assert_eq!(s.outliers, 1);
        assert_eq!(s.median, 10.01);
    }

    #[test]
    fn degenerate_samples() {
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[1.0, f64::NAN]).is_none());
        let one = Summary::of(&[2.0]).unwrap();
        assert_eq!((one.stddev, one.ci95_low, one.ci95_high), (0.0, 2.0, 2.0));
        let even = Summary::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(even.median, 2.5);
    }

    #[test]
    fn t_quantiles() {
        assert_eq!(t_975(1), 12.706);
        assert_eq!(t_975(30), 2.042);
        assert!((t_975(40) - 2.021).abs() < 1e-3);
        assert!((t_975(120) - 1.980).abs() < 1e-3);
    }
}
