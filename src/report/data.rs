//! What the decision-maker reports compare: a [`Subject`] is one compute
//! device of one node (host name, platform hash, backend, device id), and
//! each subject keeps its newest `ok` figure per kernel, size and precision.
//!
//! Only results that passed verification carry figures here: a
//! `verify_failed` result is never ranked, plotted or scored. When a node ran
//! a kernel more than once, the newest result speaks for it, so a rerun on a
//! quieter node replaces a noisy one rather than being averaged with it.
//!
//! # Replicates (`run --repeat N`)
//!
//! When the newest result belongs to a series of replicates, every `ok`
//! replicate of that series (same subject and key) is combined into one
//! figure, so that score, compare, summary, tables and plots all read the
//! same combined record:
//!
//! - the figure is the median of the replicates' throughputs (each the
//!   work over its own run's median time); the record that carries it is
//!   the replicate at the upper middle rank, whose timing it keeps, the
//!   time the figure stands for (the work over it) set beside it;
//! - its work per joule, per meter that every replicate read, is the
//!   median of the replicates' (the powers stored are those that give it
//!   at the combined throughput); a meter not read in every replicate is
//!   left out, so a scope is kept only where all replicates share it. The
//!   node-level reading (`--node-level`, `cost`) is combined the same way
//!   from each replicate's;
//! - its 95% interval covers run-to-run variation. With 6 or more
//!   replicates it is the distribution-free order-statistic interval of the
//!   median of the replicates' throughputs (the one the timing loop uses
//!   for samples, `measure::stats::median_ci95`, the same as
//!   `scipy.stats.quantile_test(x, p=0.5).confidence_interval(0.95)`).
//!   Below 6 no such interval exists (the range of 3 replicates covers the
//!   median with 75% only, of 5 with 93.75%), so the interval is the
//!   envelope of the replicates' own 95% intervals, from the lowest low to
//!   the highest high: it holds every replicate's within-run uncertainty
//!   and the spread between them, and is at least as wide as their range.
//!   Where a replicate has no interval of its own (fewer than 6 samples),
//!   the combined figure below 6 replicates has none either.
//!
//! A figure of one run keeps its own interval, which leaves run-to-run
//! variation out; [`Dataset::single_run_note`] says so once per output.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::kernel::Precision;
use crate::measure::stats::{Interval, median_ci95, median_sorted};
use crate::power::{EnergyReading, Method};
use crate::report::stats::Estimate;
use crate::store::record::Combined;
use crate::store::{ResultRecord, Status};

/// One device of one node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Subject {
    pub hostname: String,
    pub platform_hash: String,
    pub backend: String,
    pub device: String,
    pub device_name: String,
    pub device_type: String,
    /// Its figures are modeled, not measured (FPGA emulation).
    pub modeled: bool,
    /// The platform's label (`run --label`), if it was given one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_label: Option<String>,
    /// The first 8 digits of the platform hash, shown after the name where
    /// two platforms of a dataset would otherwise look alike.
    #[serde(skip)]
    pub short_hash: Option<String>,
}

impl Subject {
    pub fn of(r: &ResultRecord) -> Subject {
        Subject {
            hostname: r.hostname.clone(),
            platform_hash: r.platform_hash.clone(),
            backend: r.backend.to_string(),
            device: r.device.clone(),
            device_name: r.device_name.clone(),
            device_type: r.device_type.to_string(),
            modeled: r.is_modeled(),
            platform_label: r.platform_label.clone(),
            short_hash: None,
        }
    }

    /// The platform's name: its label, else its host name, with the short
    /// hash where that is needed to tell it from another.
    pub fn platform_name(&self) -> String {
        let name = self.platform_label.as_deref().unwrap_or(&self.hostname);
        match &self.short_hash {
            Some(h) => format!("{name} [{h}]"),
            None => name.to_string(),
        }
    }

    /// `host/backend:device`, the exact name `--baseline` accepts.
    pub fn spec(&self) -> String {
        let platform = match &self.short_hash {
            Some(h) => h.clone(),
            None => self
                .platform_label
                .clone()
                .unwrap_or_else(|| self.hostname.clone()),
        };
        format!("{platform}/{}:{}", self.backend, self.device)
    }

    /// `platform: device name (backend:device)`, for tables and legends;
    /// ` [MODELED]` after a modeled device.
    pub fn label(&self) -> String {
        format!(
            "{}: {} ({}:{}){}",
            self.platform_name(),
            self.device_name,
            self.backend,
            self.device,
            if self.modeled { " [MODELED]" } else { "" }
        )
    }

    /// Whether `name` names this subject: its label, host name, platform
    /// hash (or a prefix of at least 6 digits), device id, device name,
    /// `backend:device`, or any of the platform names followed by
    /// `/backend:device`.
    pub fn matches(&self, name: &str) -> bool {
        let platform = |p: &str| {
            p == self.hostname
                || self.platform_label.as_deref() == Some(p)
                || (p.len() >= 6 && self.platform_hash.starts_with(p))
        };
        let device = |d: &str| d == format!("{}:{}", self.backend, self.device);
        match name.rsplit_once('/') {
            Some((p, d)) if device(d) => platform(p),
            _ => platform(name) || name == self.device || name == self.device_name || device(name),
        }
    }
}

/// (kernel, size, precision).
pub type Key = (String, String, Precision);

pub fn key_of(r: &ResultRecord) -> Key {
    (r.kernel.clone(), r.size.clone(), r.precision)
}

/// The newest `ok` result with a throughput per subject and key.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub subjects: BTreeMap<Subject, BTreeMap<Key, ResultRecord>>,
}

impl Dataset {
    /// Builds the dataset; `results` come oldest first (as the database
    /// returns them), and a result recorded later replaces an earlier one.
    pub fn new(results: &[ResultRecord]) -> Dataset {
        let mut subjects: BTreeMap<Subject, BTreeMap<Key, ResultRecord>> = BTreeMap::new();
        let ok = |r: &&ResultRecord| r.status == Status::Ok && r.throughput.is_some();
        for r in results.iter().filter(ok) {
            let slot = subjects.entry(Subject::of(r)).or_default();
            match slot.get(&key_of(r)) {
                Some(old) if old.recorded_at > r.recorded_at => {}
                _ => {
                    slot.insert(key_of(r), r.clone());
                }
            }
        }
        // The newest result of a series speaks with all its replicates.
        for (subject, slot) in subjects.iter_mut() {
            for (key, newest) in slot.iter_mut() {
                let Some(series) = newest.replicate.as_ref().map(|r| r.series_id.clone()) else {
                    continue;
                };
                let replicates: Vec<&ResultRecord> = results
                    .iter()
                    .filter(ok)
                    .filter(|r| {
                        r.replicate.as_ref().map(|x| &x.series_id) == Some(&series)
                            && &key_of(r) == key
                            && &Subject::of(r) == subject
                    })
                    .collect();
                if let Some(c) = combine(&replicates) {
                    *newest = c;
                }
            }
        }
        Dataset {
            subjects: disambiguate(subjects),
        }
    }

    /// Like [`Dataset::new`], but an error (exit 2) when nothing is left.
    pub fn require(results: &[ResultRecord], source: &str) -> Result<Dataset> {
        let d = Dataset::new(results);
        if d.subjects.is_empty() {
            return Err(Error::NoResults(format!(
                "no verified (ok) results in {source}{}; run `hetbench run` or `hetbench import` run files first",
                if results.is_empty() {
                    ""
                } else {
                    " match (the others failed, were skipped or are filtered out)"
                }
            )));
        }
        Ok(d)
    }

    /// Every result of the dataset.
    pub fn results(&self) -> impl Iterator<Item = (&Subject, &ResultRecord)> {
        self.subjects
            .iter()
            .flat_map(|(s, m)| m.values().map(move |r| (s, r)))
    }

    /// Every key, in kernel order of first appearance then size order.
    pub fn keys(&self) -> Vec<Key> {
        let set: BTreeSet<Key> = self.results().map(|(_, r)| key_of(r)).collect();
        let mut keys: Vec<Key> = set.into_iter().collect();
        keys.sort_by_key(|k| (k.0.clone(), size_rank(&k.1), k.2));
        keys
    }

    /// The suite versions present.
    pub fn suite_versions(&self) -> BTreeSet<String> {
        self.results()
            .map(|(_, r)| r.suite_version.clone())
            .collect()
    }

    /// The run ids present, every replicate's included.
    pub fn run_ids(&self) -> BTreeSet<String> {
        self.results()
            .flat_map(|(_, r)| match &r.combined {
                Some(c) => c.run_ids.clone(),
                None => vec![r.run_id.clone()],
            })
            .collect()
    }

    /// A note when some measured figure comes from a single run: its
    /// interval is that run's and leaves run-to-run variation out. `None`
    /// when every measured figure combines replicates.
    pub fn single_run_note(&self) -> Option<String> {
        let measured: Vec<&ResultRecord> = self
            .results()
            .map(|(_, r)| r)
            .filter(|r| !r.is_modeled())
            .collect();
        let single = measured.iter().filter(|r| r.combined.is_none()).count();
        (single > 0).then(|| {
            format!(
                "{single} of {} measured figure(s) come from a single run: their 95% intervals cover the run's samples and leave out run-to-run variation (`hetbench run --repeat 3` measures it)",
                measured.len()
            )
        })
    }
}

/// Combines the `ok` replicates of one series and key into one record (see
/// the module doc): the median of their throughputs with an interval over
/// the replicates. `None` when there is nothing to combine.
pub fn combine(replicates: &[&ResultRecord]) -> Option<ResultRecord> {
    let mut sorted: Vec<&ResultRecord> = replicates
        .iter()
        .copied()
        .filter(|r| r.throughput.is_some_and(f64::is_finite))
        .collect();
    sorted.sort_by(|a, b| {
        a.throughput
            .partial_cmp(&b.throughput)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let first = sorted.first()?;
    let series_id = first.replicate.as_ref()?.series_id.clone();
    let values: Vec<f64> = sorted.iter().filter_map(|r| r.throughput).collect();
    let (throughput_ci95, interval_method) = match median_ci95(&values) {
        Some(ci) => (Some(ci), "order-statistic"),
        None => (envelope(&sorted), "envelope"),
    };
    let mut run_ids: Vec<(String, String)> = sorted
        .iter()
        .map(|r| (r.recorded_at.clone(), r.run_id.clone()))
        .collect();
    run_ids.sort();
    let mut out = sorted[sorted.len() / 2].clone();
    let throughput = median_sorted(&values);
    // Work in the throughput's unit times seconds: the same for every
    // replicate of one kernel and size.
    let work = out
        .throughput
        .zip(out.timing.as_ref().map(|t| t.summary.median))
        .map(|(t, m)| t * m)
        .filter(|w| *w > 0.0 && w.is_finite());
    let time_s = work.map(|w| w / throughput);
    let time_ci95 = work.zip(throughput_ci95).and_then(|(w, ci)| {
        (ci.low > 0.0).then(|| Interval {
            low: w / ci.high,
            high: w / ci.low,
        })
    });
    out.throughput = Some(throughput);
    out.energy = combine_energy(&sorted, throughput, |r| r.energy.clone());
    let node_energy = combine_energy(&sorted, throughput, |r| {
        crate::power::node::node_level(&r.energy)
            .into_iter()
            .collect()
    })
    .pop();
    out.combined = Some(Combined {
        series_id,
        replicates: sorted.len(),
        run_ids: run_ids.into_iter().map(|(_, id)| id).collect(),
        throughput_ci95,
        interval_method: interval_method.into(),
        time_s,
        time_ci95,
        node_energy,
    });
    Some(out)
}

/// The energy readings of a combined figure: for each meter (name, scope
/// and method) that every replicate read, with a positive power, one
/// reading whose work per joule is the median of the replicates' (and
/// likewise per active watt, where every replicate has one), and whose
/// powers are the ones that give it at the combined `throughput`
/// (`avg_w = throughput / perf_per_w`), so that whatever divides the
/// throughput by the power (score, cost) gets that median. Idle power,
/// energy and window are the replicates' medians, flags all of theirs. A
/// meter missing from one replicate is left out: its scope is kept only
/// when all replicates share it.
fn combine_energy(
    replicates: &[&ResultRecord],
    throughput: f64,
    readings_of: impl Fn(&ResultRecord) -> Vec<EnergyReading>,
) -> Vec<EnergyReading> {
    let per_replicate: Vec<(f64, Vec<EnergyReading>)> = replicates
        .iter()
        .map(|r| (r.throughput.unwrap_or(f64::NAN), readings_of(r)))
        .collect();
    let Some((_, first)) = per_replicate.first() else {
        return Vec::new();
    };
    let usable = |e: &EnergyReading| e.avg_w > 0.0 && e.avg_w.is_finite();
    let median_of = |mut v: Vec<f64>| -> Option<f64> {
        if v.iter().any(|x| !x.is_finite()) || v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(median_sorted(&v))
    };
    let mut out = Vec::new();
    for e in first.iter().filter(|e| usable(e)) {
        let same: Option<Vec<(f64, &EnergyReading)>> = per_replicate
            .iter()
            .map(|(t, rs)| {
                rs.iter()
                    .find(|x| x.meter == e.meter && x.scope == e.scope && x.method == e.method)
                    .filter(|x| usable(x))
                    .map(|x| (*t, x))
            })
            .collect();
        let Some(same) = same else { continue };
        let each = |f: &dyn Fn(f64, &EnergyReading) -> Option<f64>| -> Option<f64> {
            median_of(
                same.iter()
                    .map(|(t, x)| f(*t, x))
                    .collect::<Option<Vec<f64>>>()?,
            )
        };
        let Some(perf) = each(&|t, x| Some(x.perf_per_w.unwrap_or(t / x.avg_w))) else {
            continue;
        };
        if perf <= 0.0 {
            continue;
        }
        let per_active = each(&|_, x| x.perf_per_active_w).filter(|p| *p > 0.0);
        let mut flags: Vec<String> = Vec::new();
        for (_, x) in &same {
            for f in &x.flags {
                if !flags.contains(f) {
                    flags.push(f.clone());
                }
            }
        }
        out.push(EnergyReading {
            interval_s: same.iter().map(|(_, x)| x.interval_s).fold(0.0, f64::max),
            window_s: each(&|_, x| Some(x.window_s)).unwrap_or(e.window_s),
            energy_j: each(&|_, x| Some(x.energy_j)).unwrap_or(e.energy_j),
            avg_w: throughput / perf,
            idle_w: each(&|_, x| x.idle_w),
            active_w: per_active.map(|p| throughput / p),
            perf_per_w: Some(perf),
            perf_per_active_w: per_active,
            flags,
            ..e.clone()
        });
    }
    out
}

/// The node-level reading of a result ([`crate::power::node::node_level`]:
/// a node meter's, or the measured components summed); for a combined
/// figure, the series' combined one.
pub fn node_energy(r: &ResultRecord) -> Option<EnergyReading> {
    match &r.combined {
        Some(c) => c.node_energy.clone(),
        None => crate::power::node::node_level(&r.energy),
    }
}

/// One row of a results table: a result as stored, or the combined figure
/// of a `run --repeat` series with the replicates it combines.
#[derive(Debug, Clone)]
pub enum Listed<'a> {
    Result(&'a ResultRecord),
    Series {
        combined: Box<ResultRecord>,
        replicates: Vec<&'a ResultRecord>,
    },
}

/// `results` (oldest first) as table rows: the `ok` replicates of each
/// series, subject and key combined into one row ([`combine`], the figure
/// score and summary use) where the first of them stood; every other
/// result, a failed or skipped replicate included, as it is.
pub fn listed(results: &[ResultRecord]) -> Vec<Listed<'_>> {
    enum Pending<'a> {
        One(&'a ResultRecord),
        Group(Vec<&'a ResultRecord>),
    }
    let mut pending: Vec<Pending> = Vec::new();
    let mut groups: BTreeMap<(String, Subject, Key), usize> = BTreeMap::new();
    for r in results {
        let series = r
            .replicate
            .as_ref()
            .filter(|_| r.status == Status::Ok && r.throughput.is_some_and(f64::is_finite));
        let Some(series) = series else {
            pending.push(Pending::One(r));
            continue;
        };
        let group = (series.series_id.clone(), Subject::of(r), key_of(r));
        match groups.get(&group) {
            Some(&i) => {
                if let Pending::Group(g) = &mut pending[i] {
                    g.push(r);
                }
            }
            None => {
                groups.insert(group, pending.len());
                pending.push(Pending::Group(vec![r]));
            }
        }
    }
    pending
        .into_iter()
        .flat_map(|p| match p {
            Pending::One(r) => vec![Listed::Result(r)],
            Pending::Group(g) => match combine(&g) {
                Some(c) => vec![Listed::Series {
                    combined: Box::new(c),
                    replicates: g,
                }],
                None => g.into_iter().map(Listed::Result).collect(),
            },
        })
        .collect()
}

/// From the lowest low to the highest high of the replicates' own
/// intervals; `None` if one has none.
fn envelope(replicates: &[&ResultRecord]) -> Option<Interval> {
    let mut low = f64::INFINITY;
    let mut high = f64::NEG_INFINITY;
    for r in replicates {
        let ci = r.throughput_interval()?;
        low = low.min(ci.low);
        high = high.max(ci.high);
    }
    (low <= high).then_some(Interval { low, high })
}

/// Gives the subjects of platforms that share a name (label or host) with
/// another platform their short hash.
fn disambiguate<V>(subjects: BTreeMap<Subject, V>) -> BTreeMap<Subject, V> {
    let mut hashes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in subjects.keys() {
        hashes
            .entry(s.platform_name())
            .or_default()
            .insert(s.platform_hash.clone());
    }
    subjects
        .into_iter()
        .map(|(mut s, v)| {
            if hashes[&s.platform_name()].len() > 1 {
                s.short_hash = Some(s.platform_hash.chars().take(8).collect());
            }
            (s, v)
        })
        .collect()
}

/// small < medium < large < xlarge < anything else.
pub fn size_rank(size: &str) -> (usize, String) {
    use crate::kernel::manifest::{SIZE_NAMES, XLARGE};
    let rank = SIZE_NAMES
        .iter()
        .chain([&XLARGE])
        .position(|s| *s == size)
        .unwrap_or(usize::MAX);
    (rank, size.to_string())
}

/// A result's throughput with the 95% interval of its median time (see
/// [`ResultRecord::throughput_interval`]), or without one.
pub fn throughput_estimate(r: &ResultRecord) -> Option<Estimate> {
    let t = r.throughput?;
    match r.throughput_interval() {
        Some(ci) => Estimate::with_interval(t, ci.low, ci.high),
        None => Estimate::bare(t),
    }
}

/// The energy reading a figure may use: the result's primary reading, if it
/// has a perf/W and is measured, or estimated (modeled) when
/// `include_estimated` (`include_modeled`) allows it; with `node_level`,
/// its node-level reading instead ([`node_energy`]: a node meter's, or
/// the measured components summed), which is never estimated or modeled.
pub fn usable_energy(
    r: &ResultRecord,
    include_estimated: bool,
    include_modeled: bool,
    node_level: bool,
) -> Option<std::borrow::Cow<'_, EnergyReading>> {
    let reading = if node_level {
        node_energy(r).map(std::borrow::Cow::Owned)
    } else {
        r.primary_energy().map(std::borrow::Cow::Borrowed)
    };
    reading
        .filter(|e| e.avg_w > 0.0 && e.avg_w.is_finite())
        .filter(|e| match e.method {
            Method::Counter | Method::Sampled => true,
            Method::Estimated => include_estimated,
            Method::Modeled => include_modeled,
        })
}

/// The results a ranking may use: all of them with `include_modeled`,
/// else only measured ones (see [`ResultRecord::is_modeled`]); and how
/// many modeled results were left out. Modeled timings and energy never
/// meet measured ones in a score, comparison or plot unless asked.
pub fn rankable(results: &[ResultRecord], include_modeled: bool) -> (Vec<ResultRecord>, usize) {
    let kept: Vec<ResultRecord> = results
        .iter()
        .filter(|r| include_modeled || !r.is_modeled())
        .cloned()
        .collect();
    let left_out = results.len() - kept.len();
    (kept, left_out)
}

/// The hint that goes with an empty selection when modeled results were
/// left out.
pub fn modeled_hint(left_out: usize) -> String {
    if left_out > 0 {
        format!(
            "; {left_out} modeled result(s) (FPGA emulation) left out: --include-modeled ranks them, labelled"
        )
    } else {
        String::new()
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::plan::Replicate;
    use crate::store::RunFile;

    /// The committed reference run's gemm medium f32 result as replicate
    /// `index` of series `series`, with throughput `t` and a median-time
    /// interval of median x [0.95, 1.05] (so its throughput's is
    /// t x [1/1.05, 1/0.95]).
    fn replicate(series: Option<&str>, index: u32, t: f64, at: &str) -> ResultRecord {
        let file: RunFile = serde_json::from_str(include_str!(
            "../../results/reference/vm-epyc-zen5-2vcpu.json"
        ))
        .unwrap();
        let mut r = file
            .results
            .into_iter()
            .find(|r| r.kernel == "gemm" && r.size == "medium" && r.precision == Precision::F32)
            .unwrap();
        r.run_id = format!("run-{index}-{t}");
        r.throughput = Some(t);
        r.recorded_at = at.into();
        let s = &mut r.timing.as_mut().unwrap().summary;
        s.median_ci95 = Some(Interval {
            low: s.median * 0.95,
            high: s.median * 1.05,
        });
        r.replicate = series.map(|id| Replicate {
            series_id: id.into(),
            index,
            of: 3,
        });
        r
    }

    fn only(d: &Dataset) -> &ResultRecord {
        assert_eq!(d.subjects.len(), 1);
        let m = d.subjects.values().next().unwrap();
        assert_eq!(m.len(), 1);
        m.values().next().unwrap()
    }

    #[test]
    fn three_replicates_give_their_median_and_the_envelope_of_their_intervals() {
        let rs = vec![
            // An older single run: replaced by the newer series.
            replicate(None, 0, 500.0, "2026-01-01T00:00:00Z"),
            replicate(Some("s"), 1, 120.0, "2026-01-02T00:00:00Z"),
            replicate(Some("s"), 2, 90.0, "2026-01-02T00:01:00Z"),
            replicate(Some("s"), 3, 100.0, "2026-01-02T00:02:00Z"),
        ];
        let d = Dataset::new(&rs);
        let r = only(&d);
        assert_eq!(r.throughput, Some(100.0));
        let c = r.combined.as_ref().unwrap();
        assert_eq!(c.replicates, 3);
        assert_eq!(c.interval_method, "envelope");
        assert_eq!(c.run_ids, ["run-1-120", "run-2-90", "run-3-100"]);
        // By hand: 90 / 1.05 and 120 / 0.95.
        let ci = r.throughput_interval().unwrap();
        assert!((ci.low - 85.714_285_714_285_71).abs() < 1e-9, "{ci:?}");
        assert!((ci.high - 126.315_789_473_684_2).abs() < 1e-9, "{ci:?}");
        let e = throughput_estimate(r).unwrap();
        assert_eq!(e.value, 100.0);
        assert_eq!(d.run_ids().len(), 3);
        assert_eq!(d.single_run_note(), None);
    }

    #[test]
    fn nine_replicates_give_the_order_statistic_interval_of_scipy() {
        // scipy.stats.quantile_test(10 * [1..9], p=0.5)
        //   .confidence_interval(0.95) = (20, 80); the median is 50.
        let rs: Vec<ResultRecord> = [70.0, 10.0, 90.0, 30.0, 50.0, 20.0, 80.0, 40.0, 60.0]
            .iter()
            .enumerate()
            .map(|(i, &t)| replicate(Some("s9"), i as u32 + 1, t, "2026-01-02T00:00:00Z"))
            .collect();
        let d = Dataset::new(&rs);
        let r = only(&d);
        assert_eq!(r.throughput, Some(50.0));
        assert_eq!(
            r.combined.as_ref().unwrap().interval_method,
            "order-statistic"
        );
        assert_eq!(
            r.throughput_interval(),
            Some(Interval {
                low: 20.0,
                high: 80.0
            })
        );
    }

    #[test]
    fn a_single_run_says_its_interval_leaves_out_run_to_run_variation() {
        let d = Dataset::new(&[replicate(None, 1, 100.0, "2026-01-02T00:00:00Z")]);
        let r = only(&d);
        assert!(r.combined.is_none());
        let note = d.single_run_note().unwrap();
        assert!(
            note.starts_with("1 of 1 measured figure(s) come from a single run"),
            "{note}"
        );
        assert!(note.contains("run-to-run variation"), "{note}");
        // A replicate without an interval of its own: none below 6.
        let mut rs: Vec<ResultRecord> = (1..=3)
            .map(|i| replicate(Some("s"), i, 100.0 + i as f64, "2026-01-02T00:00:00Z"))
            .collect();
        rs[1].timing.as_mut().unwrap().summary.median_ci95 = None;
        let d = Dataset::new(&rs);
        assert_eq!(only(&d).throughput, Some(102.0));
        assert_eq!(only(&d).throughput_interval(), None);
    }

    fn reading(meter: &str, scope: crate::power::Scope, t: f64, w: f64) -> EnergyReading {
        EnergyReading {
            meter: meter.into(),
            scope,
            method: Method::Counter,
            covers: "test".into(),
            interval_s: 0.001,
            window_s: 1.0,
            energy_j: w,
            avg_w: w,
            idle_w: Some(10.0),
            active_w: None,
            perf_per_w: Some(t / w),
            perf_per_active_w: None,
            perf_per_w_unit: "GFLOP/J".into(),
            flags: Vec::new(),
        }
    }

    #[test]
    fn a_series_works_per_joule_at_the_median_of_its_replicates_on_shared_meters() {
        use crate::power::Scope;
        // (throughput, package W, DRAM W or none): 4, 5 and 3 GFLOP/J at
        // the package; the middle replicate (600) has 3.
        let rs: Vec<ResultRecord> = [(400.0, 100.0, Some(10.0)), (1000.0, 200.0, Some(20.0))]
            .into_iter()
            .chain([(600.0, 200.0, None)])
            .enumerate()
            .map(|(i, (t, w, dram))| {
                let mut r = replicate(Some("s"), i as u32 + 1, t, "2026-01-02T00:00:00Z");
                r.energy = vec![reading("rapl:package-0", Scope::CpuPackage, t, w)];
                r.energy
                    .extend(dram.map(|d| reading("rapl:dram", Scope::Dram, t, d)));
                r
            })
            .collect();
        let d = Dataset::new(&rs);
        let r = only(&d);
        assert_eq!(r.throughput, Some(600.0));
        // The package: median of 4, 5, 3 = 4, at 600 / 4 = 150 W.
        assert_eq!(r.energy.len(), 1, "{:?}", r.energy);
        let e = &r.energy[0];
        assert_eq!(
            (e.scope, e.perf_per_w, e.avg_w),
            (Scope::CpuPackage, Some(4.0), 150.0)
        );
        assert_eq!(e.idle_w, Some(10.0));
        assert_eq!(
            usable_energy(r, false, false, false).map(|e| e.avg_w),
            Some(150.0)
        );
        // DRAM was not read in the third replicate: no DRAM, and no
        // node-level sum (the replicates' sums cover different meters).
        assert_eq!(node_energy(r), None);
        // With DRAM in all three: node level 110, 220, 220 W, so 400 / 110,
        // 1000 / 220, 600 / 220 per joule, median 400 / 110 at 600 W x 110 / 400.
        let mut rs = rs;
        rs[2]
            .energy
            .push(reading("rapl:dram", Scope::Dram, 600.0, 20.0));
        let d = Dataset::new(&rs);
        let n = node_energy(only(&d)).unwrap();
        assert_eq!(n.scope, Scope::Node);
        assert!(
            (n.perf_per_w.unwrap() - 400.0 / 110.0).abs() < 1e-12,
            "{n:?}"
        );
        assert!((n.avg_w - 165.0).abs() < 1e-9, "{n:?}");
        assert!(
            n.covers
                .contains("cpu-package (rapl:package-0) + dram (rapl:dram)")
        );
    }

    #[test]
    fn tables_list_a_series_as_one_row_and_keep_failed_replicates() {
        let mut rs: Vec<ResultRecord> = [120.0, 90.0, 100.0]
            .into_iter()
            .enumerate()
            .map(|(i, t)| replicate(Some("s"), i as u32 + 1, t, "2026-01-02T00:00:00Z"))
            .collect();
        let mut failed = replicate(Some("s"), 4, 80.0, "2026-01-02T00:03:00Z");
        failed.status = Status::VerifyFailed;
        rs.insert(1, failed);
        rs.push(replicate(None, 0, 500.0, "2026-01-03T00:00:00Z"));
        let rows = listed(&rs);
        assert_eq!(rows.len(), 3);
        match &rows[0] {
            Listed::Series {
                combined,
                replicates,
            } => {
                assert_eq!(combined.throughput, Some(100.0));
                assert_eq!(replicates.len(), 3);
                // The time the median throughput stands for: the 100
                // replicate's median time, with the envelope's interval.
                let c = combined.combined.as_ref().unwrap();
                let m = rs[3].timing.as_ref().unwrap().summary.median;
                assert!((c.time_s.unwrap() - m).abs() < 1e-15 * m);
                let ci = c.time_ci95.unwrap();
                assert!((ci.low - m * 100.0 * 0.95 / 120.0).abs() < 1e-12 * m);
                assert!((ci.high - m * 100.0 * 1.05 / 90.0).abs() < 1e-12 * m);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(rows[1], Listed::Result(r) if r.status == Status::VerifyFailed));
        assert!(matches!(rows[2], Listed::Result(r) if r.throughput == Some(500.0)));
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            html_escape("<script>alert('x&y')</script>\""),
            "&lt;script&gt;alert(&#39;x&amp;y&#39;)&lt;/script&gt;&quot;"
        );
    }

    #[test]
    fn sizes_sort_by_rank() {
        let mut v = vec!["large", "small", "huge", "medium"];
        v.sort_by_key(|s| size_rank(s));
        assert_eq!(v, ["small", "medium", "large", "huge"]);
    }
}
