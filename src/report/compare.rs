//! `hetbench compare --baseline X`: every device against one baseline
//! device, per kernel, size and precision.
//!
//! The ratio is the device's throughput over the baseline's (the baseline's
//! median time over the device's; above 1: the device is faster), the same
//! throughputs that the tables, `score` and `summary` show, with the 95%
//! interval propagated from the two medians' intervals on the log scale
//! (see [`crate::report::stats`]). A device is called faster or slower only
//! when that interval excludes 1; a result without a median interval (fewer
//! than 6 samples, or stored before intervals were) is left untested.
//!
//! The baseline is named by host name, platform hash (6 digits or more),
//! device id or name, `backend:device` or `host/backend:device`; a name that
//! fits several devices is refused with the exact names to choose from.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::kernel::Precision;
use crate::report::data::throughput_estimate;
use crate::report::data::{Dataset, Subject, rankable};
use crate::report::stats::Estimate;
use crate::report::table::format_value;
use crate::store::ResultRecord;

/// One device against the baseline for one kernel, size and precision.
#[derive(Debug, Clone, Serialize)]
pub struct CompareRow {
    pub kernel: String,
    pub size: String,
    pub precision: Precision,
    pub subject: Subject,
    pub label: String,
    pub unit: String,
    pub baseline_throughput: f64,
    pub throughput: f64,
    /// Device throughput / baseline throughput.
    pub ratio: f64,
    /// Its 95% interval; `None` when either median has none.
    pub ci95_low: Option<f64>,
    pub ci95_high: Option<f64>,
    /// Whether the interval excludes 1; `None` when there is no interval.
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

pub const METHOD: &str = "ratio of throughputs (work / median time) with a 95% interval from the two medians' order-statistic intervals (delta method on the log ratio); faster or slower only where the interval excludes 1";

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
            let (Some(be), Some(de)) = (throughput_estimate(b), throughput_estimate(r)) else {
                continue;
            };
            let ratio: Estimate = de.ratio(&be);
            let interval = ratio.interval();
            let verdict = match (interval, ratio.excludes(1.0)) {
                (None, _) => "untested (no median interval)".to_string(),
                (Some(_), None) => "no significant difference".into(),
                (Some(_), Some(true)) => "faster".into(),
                (Some(_), Some(false)) => "slower".into(),
            };
            rows.push(CompareRow {
                kernel: key.0.clone(),
                size: key.1.clone(),
                precision: key.2,
                label: subject.label(),
                subject: subject.clone(),
                unit: r.throughput_unit.clone(),
                baseline_throughput: b.throughput.unwrap_or(0.0),
                throughput: r.throughput.unwrap_or(0.0),
                ratio: ratio.value,
                ci95_low: interval.map(|i| i.0),
                ci95_high: interval.map(|i| i.1),
                significant: interval.map(|_| ratio.excludes(1.0).is_some()),
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
    pub const HEADINGS: [&'static str; 9] = [
        "kernel",
        "size",
        "device",
        "unit",
        "baseline",
        "device tput",
        "ratio",
        "95% CI",
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
                    match (r.ci95_low, r.ci95_high) {
                        (Some(l), Some(h)) => format!("{l:.3} .. {h:.3}"),
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
