//! `hetbench compare --baseline X`: every device against one baseline
//! device, per kernel, size and precision.
//!
//! The ratio is the baseline's mean time over the device's mean time (above
//! 1: the device is faster), with its 95% confidence interval, and the
//! difference is called significant when Welch's t-test on the two mean
//! times rejects equality at the 5% level (see [`crate::report::stats`]).
//! Both use the stored summaries (mean, standard deviation, n), so any two
//! imported runs can be compared without their raw samples. The ratio is of
//! means, not of the medians behind the stored throughputs, because the test
//! and the interval are about means; the two differ when a sample has
//! outliers, and the table shows both throughputs as stored.
//!
//! The baseline is named by host name, platform hash (6 digits or more),
//! device id or name, `backend:device` or `host/backend:device`; a name that
//! fits several devices is refused with the exact names to choose from.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::report::data::{Dataset, Subject, rankable};
use crate::report::stats::{Ratio, Sample, Welch, ratio_of_means, welch};
use crate::report::table::format_value;
use crate::store::ResultRecord;

/// One device against the baseline for one kernel, size and precision.
#[derive(Debug, Clone, Serialize)]
pub struct CompareRow {
    pub kernel: String,
    pub size: String,
    pub precision: String,
    pub subject: Subject,
    pub label: String,
    pub unit: String,
    pub baseline_throughput: f64,
    pub throughput: f64,
    /// Baseline mean time / device mean time.
    pub ratio: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
    /// Welch's t of (baseline mean time - device mean time); `None` when a
    /// sample has fewer than two values.
    pub t: Option<f64>,
    pub df: Option<f64>,
    pub significant: Option<bool>,
    /// `faster`, `slower`, `no significant difference` or `untested`.
    pub verdict: String,
}

/// Every device against the baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub baseline: Subject,
    pub baseline_label: String,
    pub method: &'static str,
    pub rows: Vec<CompareRow>,
}

pub const METHOD: &str = "ratio of mean times with a 95% CI (delta method on the log ratio); significance by Welch's two-sided t-test at 5% on the mean times";

/// The one subject that `name` names.
pub fn resolve_baseline(data: &Dataset, name: &str) -> Result<Subject> {
    let hits: Vec<&Subject> = data.subjects.keys().filter(|s| s.matches(name)).collect();
    let all = || {
        data.subjects
            .keys()
            .map(|s| s.spec())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::UnknownName {
            what: "baseline",
            name: name.to_string(),
            valid: format!("{} (or a host name, platform hash or device name)", all()),
        }),
        many => Err(Error::InvalidValue {
            what: "--baseline".into(),
            message: format!(
                "'{name}' names {} devices: {}; name one as host/backend:device",
                many.len(),
                many.iter().map(|s| s.spec()).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

fn sample(r: &ResultRecord) -> Option<Sample> {
    r.timing.as_ref().map(|t| Sample {
        mean: t.summary.mean,
        stddev: t.summary.stddev,
        n: t.summary.n,
    })
}

/// Compares every other device with the baseline `name`. Modeled results
/// (FPGA emulation) take part only with `include_modeled`: a modeled time
/// is no measurement to test against one.
pub fn compare(results: &[ResultRecord], name: &str, include_modeled: bool) -> Result<Comparison> {
    let (kept, left_out) = rankable(results, include_modeled);
    if left_out > 0 {
        let (all, _) = rankable(results, true);
        let everything = Dataset::new(&all);
        if let Ok(b) = resolve_baseline(&everything, name)
            && b.modeled
        {
            return Err(Error::InvalidValue {
                what: "--baseline".into(),
                message: format!(
                    "'{name}' is a modeled device ({}): pass --include-modeled to compare against it",
                    b.spec()
                ),
            });
        }
    }
    let data = Dataset::require(&kept, "the database")?;
    let suites = data.suite_versions();
    if suites.len() > 1 {
        return Err(Error::MixedSuites(format!(
            "the results are of suite versions {}: kernels differ between suites; select one with --suite",
            suites.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let baseline = resolve_baseline(&data, name)?;
    let base = &data.subjects[&baseline];
    let mut rows = Vec::new();
    for key in data.keys() {
        let Some(b) = base.get(&key) else { continue };
        for (subject, by_key) in &data.subjects {
            if *subject == baseline {
                continue;
            }
            let Some(r) = by_key.get(&key) else { continue };
            let (Some(bs), Some(rs)) = (sample(b), sample(r)) else {
                continue;
            };
            let Some(Ratio { value, low, high }) = ratio_of_means(bs, rs) else {
                continue;
            };
            let w: Option<Welch> = welch(bs, rs);
            let verdict = match w {
                None => "untested (n < 2)".to_string(),
                Some(w) if !w.significant => "no significant difference".into(),
                Some(_) if value > 1.0 => "faster".into(),
                Some(_) => "slower".into(),
            };
            rows.push(CompareRow {
                kernel: key.0.clone(),
                size: key.1.clone(),
                precision: key.2.clone(),
                label: subject.label(),
                subject: subject.clone(),
                unit: r.throughput_unit.clone(),
                baseline_throughput: b.throughput.unwrap_or(0.0),
                throughput: r.throughput.unwrap_or(0.0),
                ratio: value,
                ci95_low: low,
                ci95_high: high,
                t: w.map(|w| w.t),
                df: w.map(|w| w.df),
                significant: w.map(|w| w.significant),
                verdict,
            });
        }
    }
    if rows.is_empty() {
        return Err(Error::NoResults(format!(
            "no other device shares a kernel, size and precision with the baseline {}",
            baseline.spec()
        )));
    }
    Ok(Comparison {
        baseline_label: baseline.label(),
        baseline,
        method: METHOD,
        rows,
    })
}

impl Comparison {
    pub const HEADINGS: [&'static str; 10] = [
        "kernel",
        "size",
        "device",
        "unit",
        "baseline",
        "device tput",
        "ratio",
        "95% CI",
        "t (df)",
        "verdict",
    ];

    /// The cells of each row, shared by the terminal and the HTML report.
    pub fn cells(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|r| {
                vec![
                    r.kernel.clone(),
                    format!("{} {}", r.size, r.precision),
                    r.label.clone(),
                    r.unit.clone(),
                    format_value(r.baseline_throughput),
                    format_value(r.throughput),
                    format!("{:.3}", r.ratio),
                    format!("{:.3} .. {:.3}", r.ci95_low, r.ci95_high),
                    match (r.t, r.df) {
                        (Some(t), Some(df)) if df.is_finite() => format!("{t:.2} ({df:.1})"),
                        (Some(t), Some(_)) => format!("{t:.2} (inf)"),
                        _ => "-".into(),
                    },
                    r.verdict.clone(),
                ]
            })
            .collect()
    }

    pub fn text(&self) -> String {
        format!(
            "baseline {}\n{}\n\n{}",
            self.baseline_label,
            self.method,
            crate::report::table::render_text(&Self::HEADINGS, &self.cells())
        )
    }
}
