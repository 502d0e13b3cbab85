//! The statistics behind `score`, `compare` and `summary`: small pure
//! functions over the stored summaries, so that a figure can be recomputed
//! from any database or run file without the raw samples.
//!
//! - One statistic everywhere: a result's throughput is work over its
//!   median time, and its interval is the 95% interval of that median
//!   (distribution-free, from order statistics: see
//!   [`crate::measure::stats::median_ci95`]).
//! - Scores combine ratios by a weighted geometric mean, as HEPscore and
//!   SPEC do: the geometric mean of ratios does not depend on which machine
//!   is the reference, and a kernel twice as fast counts as much as one
//!   twice as slow.
//! - A derived figure (a ratio of two throughputs, a geometric mean of
//!   ratios) gets its interval by propagating the intervals of its terms on
//!   the log scale (the delta method): each term's interval gives a
//!   standard error of its logarithm on each side, `ln(value/low) / z` and
//!   `ln(high/value) / z` with `z = 1.95996` (the 97.5% normal quantile), and
//!   for `ln F = sum c_i ln x_i` the sides combine as `sqrt(sum c_i^2
//!   se_i^2)`, a term with a negative coefficient (a denominator) lending its
//!   other side. A figure of one term keeps that term's interval exactly.
//!   The terms are independent measurements; a reference figure is a
//!   constant (the score's definition), not a term.
//! - A claim that A beats B is made only when the interval of A/B excludes
//!   1 (a tie).
//!
//! Invariants: every value is finite and positive; a figure with a term that
//! has no interval has none either (`None`), rather than a narrower one.

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

/// The 97.5% quantile of the standard normal distribution.
pub const Z_975: f64 = 1.959_963_984_540_054;

/// A positive figure with its 95% interval, kept as the standard errors of
/// its logarithm below and above the value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: f64,
    /// `(se below, se above)` of `ln value`; `None`: no interval.
    pub se_log: Option<(f64, f64)>,
}

impl Estimate {
    /// A figure with its 95% interval `low <= value <= high`, all positive;
    /// `None` when they are not.
    pub fn with_interval(value: f64, low: f64, high: f64) -> Option<Estimate> {
        let ok = |x: f64| x.is_finite() && x > 0.0;
        if !(ok(value) && ok(low) && ok(high) && low <= value && value <= high) {
            return None;
        }
        Some(Estimate {
            value,
            se_log: Some(((value / low).ln() / Z_975, (high / value).ln() / Z_975)),
        })
    }

    /// A figure without an interval (`None` when it is not positive).
    pub fn bare(value: f64) -> Option<Estimate> {
        (value.is_finite() && value > 0.0).then_some(Estimate {
            value,
            se_log: None,
        })
    }

    /// A constant: an exact figure (zero-width interval), such as a
    /// reference throughput or a divisor taken as given.
    pub fn exact(value: f64) -> Option<Estimate> {
        (value.is_finite() && value > 0.0).then_some(Estimate {
            value,
            se_log: Some((0.0, 0.0)),
        })
    }

    /// The 95% interval, `(low, high)`.
    pub fn interval(&self) -> Option<(f64, f64)> {
        self.se_log.map(|(lo, hi)| {
            (
                self.value * (-Z_975 * lo).exp(),
                self.value * (Z_975 * hi).exp(),
            )
        })
    }

    /// `self / other`, the sides of `other` swapped.
    pub fn ratio(&self, other: &Estimate) -> Estimate {
        product(&[(*self, 1.0), (*other, -1.0)]).unwrap_or(Estimate {
            value: self.value / other.value,
            se_log: None,
        })
    }

    /// Whether the interval lies wholly above (`Some(true)`) or below
    /// (`Some(false)`) `x`; `None` when it holds `x` or there is none.
    pub fn excludes(&self, x: f64) -> Option<bool> {
        let (low, high) = self.interval()?;
        if low > x {
            Some(true)
        } else if high < x {
            Some(false)
        } else {
            None
        }
    }
}

/// `prod x_i^c_i` with its interval propagated on the log scale (see the
/// module doc). `None` when there is no term, a value is not positive or a
/// coefficient not finite.
pub fn product(terms: &[(Estimate, f64)]) -> Option<Estimate> {
    if terms.is_empty() {
        return None;
    }
    let mut ln = 0.0;
    let (mut below, mut above) = (0.0, 0.0);
    let mut have = true;
    for (e, c) in terms {
        if !(e.value.is_finite() && e.value > 0.0 && c.is_finite()) {
            return None;
        }
        ln += c * e.value.ln();
        match e.se_log {
            Some((lo, hi)) => {
                // A negative power turns the term's upper side into the
                // figure's lower side.
                let (lo, hi) = if *c >= 0.0 { (lo, hi) } else { (hi, lo) };
                below += (c * lo).powi(2);
                above += (c * hi).powi(2);
            }
            None => have = false,
        }
    }
    Some(Estimate {
        value: ln.exp(),
        se_log: have.then(|| (below.sqrt(), above.sqrt())),
    })
}

/// The weighted geometric mean of estimates, `(estimate, weight)`, with its
/// interval; `None` as [`weighted_geometric_mean`].
pub fn geometric_mean_of(values: &[(Estimate, f64)]) -> Option<Estimate> {
    let sum_w: f64 = values.iter().map(|(_, w)| w).sum();
    if values.is_empty() || values.iter().any(|(_, w)| !(w.is_finite() && *w > 0.0)) {
        return None;
    }
    let terms: Vec<(Estimate, f64)> = values.iter().map(|(e, w)| (*e, w / sum_w)).collect();
    let mut g = product(&terms)?;
    // A mean of one term is that term, interval and all (not exp(ln x)).
    if let [(e, _)] = values {
        g = *e;
    }
    Some(g)
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
    fn intervals_propagate_on_the_log_scale_by_hand() {
        let a = Estimate::with_interval(10.0, 8.0, 12.5).unwrap();
        let b = Estimate::with_interval(5.0, 4.0, 5.5).unwrap();
        // One term keeps its interval exactly.
        let (lo, hi) = a.interval().unwrap();
        assert!(close(lo, 8.0, 1e-12) && close(hi, 12.5, 1e-12));
        let g = geometric_mean_of(&[(a, 1.0)]).unwrap();
        assert_eq!(g, a);
        // a / b = 2: below from a's lower (1.25) and b's upper (1.1) side,
        // above from a's upper (1.25) and b's lower (1.25) side.
        let r = a.ratio(&b);
        let (lo, hi) = r.interval().unwrap();
        let l = |x: f64| x.ln();
        assert!(close(r.value, 2.0, 1e-12));
        assert!(close(
            lo,
            2.0 * (-(l(1.25).powi(2) + l(1.1).powi(2)).sqrt()).exp(),
            1e-12
        ));
        assert!(close(hi, 2.0 * 1.25f64.powf(2f64.sqrt()), 1e-12));
        assert_eq!(r.excludes(1.0), Some(true));
        assert_eq!(r.excludes(2.0), None);
        // sqrt(a b) = sqrt(50): each side sqrt((0.5 s_a)^2 + (0.5 s_b)^2).
        let g = geometric_mean_of(&[(a, 1.0), (b, 1.0)]).unwrap();
        let (lo, hi) = g.interval().unwrap();
        assert!(close(g.value, 50f64.sqrt(), 1e-12));
        assert!(close(
            lo,
            50f64.sqrt() * 1.25f64.powf(-0.5f64.sqrt()),
            1e-12
        ));
        assert!(close(
            hi,
            50f64.sqrt() * (0.5 * (l(1.25).powi(2) + l(1.1).powi(2)).sqrt()).exp(),
            1e-12
        ));
        // Weights 3:1 scale the coefficients to 3/4 and 1/4.
        let w = geometric_mean_of(&[(a, 3.0), (b, 1.0)]).unwrap();
        let below = ((0.75 * l(1.25)).powi(2) + (0.25 * l(1.25)).powi(2)).sqrt();
        assert!(close(
            w.interval().unwrap().0,
            w.value * (-below).exp(),
            1e-12
        ));
        // A term without an interval leaves the figure without one.
        let bare = Estimate::bare(3.0).unwrap();
        assert_eq!(
            geometric_mean_of(&[(a, 1.0), (bare, 1.0)]).unwrap().se_log,
            None
        );
        // Dividing by a constant keeps the relative interval.
        let c = a.ratio(&Estimate::exact(2.0).unwrap());
        let (lo, hi) = c.interval().unwrap();
        assert!(close(lo, 4.0, 1e-12) && close(hi, 6.25, 1e-12));
        assert_eq!(Estimate::with_interval(1.0, 2.0, 3.0), None);
        assert_eq!(geometric_mean_of(&[]), None);
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
