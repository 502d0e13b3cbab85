//! `hetbench score`: one number per device, HEPscore-style.
//!
//! Each kernel's throughput is divided by the reference node's throughput
//! for the same kernel, size and precision (a ratio of 2 means twice as fast
//! as the reference). A kernel measured at several sizes gets the geometric
//! mean of its size ratios; the kernels of a domain are combined by a
//! weighted geometric mean (weight 1 unless `--weight KERNEL=W`), and the
//! overall score is the geometric mean of the domain scores, each domain
//! counting once however many kernels it has, so a catalogue that grows in
//! one domain does not tilt the score towards it.
//!
//! The `micro` domain (`stream_triad`, `fma_peak`) is scored and shown but
//! does not count in the overall score unless asked (`--include-micro`):
//! micro kernels calibrate the roofline (peak bandwidth and FLOP/s), they
//! stand for no workload of the institute, and counting them would reward
//! a device twice for the bandwidth the real kernels already use.
//!
//! The reference is a set of run files (`results/reference/`, built into
//! the binary) measured on a documented node; the reference figure for a key
//! is the best verified throughput among its results. A score names the
//! reference and the suite version it was computed against, and refuses to
//! combine results of different suite versions: their kernels differ.
//!
//! The score per watt divides each kernel's ratio by the average power of
//! its primary energy reading (HEPscore/W): points per watt. Only measured
//! energy (counter, sampled) counts unless `--include-estimated`, and a
//! figure that used an estimated or modeled reading says so.
//!
//! Modeled results (the FPGA emulation: modeled time and energy) are not
//! scored at all unless `--include-modeled`: their throughput is no
//! measurement, so they never rank against measured devices by default;
//! when included, their devices are labelled `[MODELED]` and their modeled
//! energy counts per watt (labelled).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::kernel::manifest::{Domain, Precision};
use crate::kernels::Registry;
use crate::power::{EnergyReading, Method};
use crate::report::data::{
    Dataset, Key, Subject, key_of, modeled_hint, rankable, throughput_estimate, usable_energy,
};
use crate::report::stats::{Estimate, geometric_mean_of};
use crate::store::{ResultRecord, RunFile, Status, json};

/// The reference built into the binary: `results/reference/` of this source tree.
const BUILTIN_REFERENCE: (&str, &str) = (
    "vm-epyc-zen5-2vcpu.json",
    include_str!("../../results/reference/vm-epyc-zen5-2vcpu.json"),
);

/// The node scores are normalised to.
#[derive(Debug, Clone, Serialize)]
pub struct Reference {
    /// Where it came from: `built-in vm-epyc-zen5-2vcpu.json` or the paths.
    pub source: String,
    pub suite_version: String,
    /// `host (CPU brand, N logical CPUs)` of each reference run.
    pub nodes: Vec<String>,
    pub run_ids: Vec<String>,
    /// Best verified throughput per (kernel, size, precision).
    pub throughput: BTreeMap<Key, f64>,
}

impl Reference {
    /// The reference built into the binary.
    pub fn builtin() -> Result<Reference> {
        let (name, text) = BUILTIN_REFERENCE;
        let file = json::parse(text, Path::new(name))?;
        Reference::from_files(format!("built-in {name}"), &[file])
    }

    /// A run file, or every `*.json` in a directory.
    pub fn load(path: &Path) -> Result<Reference> {
        let mut paths = Vec::new();
        if path.is_dir() {
            for entry in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
                let p = entry.map_err(|e| Error::io(path, e))?.path();
                if p.extension().is_some_and(|e| e == "json") {
                    paths.push(p);
                }
            }
            paths.sort();
        } else {
            paths.push(path.to_path_buf());
        }
        let files: Vec<RunFile> = paths.iter().map(|p| json::read(p)).collect::<Result<_>>()?;
        if files.is_empty() {
            return Err(Error::InvalidValue {
                what: "--reference".into(),
                message: format!("'{}' holds no run files (*.json)", path.display()),
            });
        }
        Reference::from_files(path.display().to_string(), &files)
    }

    pub fn from_files(source: String, files: &[RunFile]) -> Result<Reference> {
        let suites: BTreeSet<&str> = files
            .iter()
            .flat_map(|f| f.results.iter().map(|r| r.suite_version.as_str()))
            .collect();
        if suites.len() > 1 {
            return Err(Error::MixedSuites(format!(
                "reference {source} mixes suite versions {}: a reference must be of one suite version",
                suites.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        let mut throughput: BTreeMap<Key, f64> = BTreeMap::new();
        for r in files.iter().flat_map(|f| &f.results) {
            if let (Status::Ok, Some(t)) = (r.status, r.throughput)
                && t > 0.0
            {
                let e = throughput.entry(key_of(r)).or_insert(t);
                *e = e.max(t);
            }
        }
        let Some(suite) = suites.into_iter().next().filter(|_| !throughput.is_empty()) else {
            return Err(Error::InvalidValue {
                what: "reference".into(),
                message: format!("{source} holds no verified (ok) result"),
            });
        };
        Ok(Reference {
            source,
            suite_version: suite.to_string(),
            nodes: files
                .iter()
                .map(|f| {
                    let p = &f.run.platform;
                    format!(
                        "{} ({}, {} logical CPUs)",
                        p.hostname, p.cpu.brand, p.cpu.logical_cpus
                    )
                })
                .collect(),
            run_ids: files.iter().map(|f| f.run.run_id.clone()).collect(),
            throughput,
        })
    }

    /// One line naming the reference.
    pub fn describe(&self) -> String {
        format!(
            "{} [{}], suite {}",
            self.source,
            self.nodes.join("; "),
            self.suite_version
        )
    }
}

/// What to score.
#[derive(Debug, Clone, Default)]
pub struct ScoreOptions {
    /// Count the micro domain in the overall score.
    pub include_micro: bool,
    /// Let estimated energy into the score per watt.
    pub include_estimated: bool,
    /// Score modeled results (time and energy) beside measured ones.
    pub include_modeled: bool,
    /// Weights: a kernel's within its domain, a domain's in the overall
    /// score (default 1; micro 0 unless `include_micro`; 0 leaves a domain
    /// out). Keys are kernel or domain names.
    pub weights: BTreeMap<String, f64>,
    /// Compute an overall score that covers only part of the suite.
    pub allow_partial: bool,
    /// Per-watt figures at node level (a node meter, or the CPU package,
    /// DRAM and GPU board meters summed over the same window), so that
    /// device types compare; devices without one get none.
    pub node_level: bool,
    /// Only results of this suite version.
    pub suite: Option<String>,
}

/// The relative 95% half-range given to a power that is estimated (a TDP
/// figure, not a reading): the interval spans x/÷ this factor.
pub const ESTIMATED_POWER_FACTOR: f64 = 1.5;

/// A score figure with its 95% interval (`None`: a term had none).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Figure {
    pub value: f64,
    pub ci95: Option<(f64, f64)>,
}

impl Figure {
    pub fn new(value: f64, ci95: Option<(f64, f64)>) -> Figure {
        Figure { value, ci95 }
    }

    /// `value [low, high]`, or the value alone.
    pub fn text(&self) -> String {
        use crate::report::table::format_value;
        match self.ci95 {
            Some((l, h)) => format!(
                "{} [{}, {}]",
                format_value(self.value),
                format_value(l),
                format_value(h)
            ),
            None => format_value(self.value),
        }
    }
}

/// One kernel's part of a score.
#[derive(Debug, Clone, Serialize)]
pub struct KernelScore {
    pub kernel: String,
    pub domain: Domain,
    pub weight: f64,
    /// (size, precision, throughput / reference throughput).
    pub ratios: Vec<(String, Precision, f64)>,
    /// Geometric mean of `ratios`.
    pub ratio: f64,
    pub ratio_ci95: Option<(f64, f64)>,
    /// Geometric mean of ratio / average watts over sizes with usable energy.
    pub per_watt: Option<f64>,
    pub per_watt_ci95: Option<(f64, f64)>,
    /// Whether `per_watt` used an estimated or modeled reading.
    pub per_watt_estimated: bool,
    /// The energy scope(s) `per_watt` divides by (`cpu-package`, ...).
    pub per_watt_scope: Option<String>,
    /// How that energy was obtained (`counter`, `sampled`, ...; `+` between several).
    pub per_watt_method: Option<String>,
    #[serde(skip)]
    estimate: Option<Estimate>,
    #[serde(skip)]
    per_watt_estimate: Option<Estimate>,
}

/// One domain of a score.
#[derive(Debug, Clone, Serialize)]
pub struct DomainScore {
    pub domain: Domain,
    pub weight: f64,
    pub score: f64,
    pub score_ci95: Option<(f64, f64)>,
    pub per_watt: Option<f64>,
    pub per_watt_ci95: Option<(f64, f64)>,
    pub per_watt_estimated: bool,
    /// The energy scope(s) and method(s) of `per_watt` (see [`KernelScore`]).
    pub per_watt_scope: Option<String>,
    pub per_watt_method: Option<String>,
    /// Whether it counts in the overall score (weight above 0).
    pub counted: bool,
    /// Kernels of the suite in this domain that this device has a ratio for,
    /// and the suite's kernels of the domain.
    pub covered: usize,
    pub of: usize,
    #[serde(skip)]
    estimate: Estimate,
    #[serde(skip)]
    per_watt_estimate: Option<Estimate>,
}

/// The score of one device.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectScore {
    pub subject: Subject,
    pub label: String,
    pub kernels: Vec<KernelScore>,
    pub domains: Vec<DomainScore>,
    /// Weighted geometric mean of the counted domains; `None` when it would
    /// cover less than the suite without `allow_partial` (see `partial`).
    pub overall: Option<f64>,
    pub overall_ci95: Option<(f64, f64)>,
    pub overall_per_watt: Option<f64>,
    pub overall_per_watt_ci95: Option<(f64, f64)>,
    pub overall_per_watt_estimated: bool,
    /// The energy scope(s) and method(s) of `overall_per_watt`.
    pub overall_per_watt_scope: Option<String>,
    pub overall_per_watt_method: Option<String>,
    /// Kernels of the suite (counted domains) scored, and the suite's count.
    pub covered: usize,
    pub of: usize,
    /// Kernels of the suite (counted domains) this device has no ratio for:
    /// not run, failed, or at no size and precision the reference has.
    pub missing: Vec<String>,
    /// Why there is no overall score, when it is left out.
    pub partial: Option<String>,
    #[serde(skip)]
    overall_estimate: Option<Estimate>,
    #[serde(skip)]
    overall_per_watt_estimate: Option<Estimate>,
}

impl DomainScore {
    /// The domain score as an estimate (value and interval), for ratios
    /// between devices (`summary`).
    pub fn estimate(&self) -> Estimate {
        self.estimate
    }

    pub fn per_watt_estimate(&self) -> Option<Estimate> {
        self.per_watt_estimate
    }
}

impl SubjectScore {
    /// The overall score as an estimate, where there is one.
    pub fn overall_estimate(&self) -> Option<Estimate> {
        self.overall_estimate
    }

    pub fn overall_per_watt_estimate(&self) -> Option<Estimate> {
        self.overall_per_watt_estimate
    }
}

/// The parts of `a+b` labels, each once, sorted and joined by `+`.
fn join_parts<'a>(labels: impl Iterator<Item = &'a str>) -> String {
    let parts: BTreeSet<&str> = labels.flat_map(|l| l.split('+')).collect();
    parts.into_iter().collect::<Vec<_>>().join("+")
}

/// Scores of every device against one reference.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreReport {
    pub suite_version: String,
    pub reference: String,
    pub include_micro: bool,
    pub include_estimated: bool,
    pub include_modeled: bool,
    pub allow_partial: bool,
    /// Per-watt figures at node level ([`ScoreOptions::node_level`]).
    pub node_level: bool,
    /// The weights used: every kernel's and every domain's.
    pub weights: BTreeMap<String, f64>,
    /// What the intervals cover.
    pub intervals: String,
    /// Modeled results left out (without `include_modeled`).
    pub modeled_left_out: usize,
    pub subjects: Vec<SubjectScore>,
}

pub const INTERVALS: &str = "95% intervals from each result's median-time interval, propagated through the geometric means on the log scale; the reference is a constant; measured power is taken as read, estimated power as x/÷1.5; a result of a `run --repeat` series is the median of its replicates with their interval (see report::data)";

/// [`INTERVALS`] and whether run-to-run variation is in them.
pub fn intervals_text(data: &Dataset) -> String {
    match data.single_run_note() {
        Some(n) => format!("{INTERVALS}; {n}"),
        None => format!(
            "{INTERVALS}; every measured figure combines replicates, so run-to-run variation is included"
        ),
    }
}

/// The weights in effect: every kernel and domain of the registry, checked.
fn weights(registry: &Registry, opts: &ScoreOptions) -> Result<BTreeMap<String, f64>> {
    let domains = [
        Domain::Simulation,
        Domain::Reconstruction,
        Domain::Ml,
        Domain::Micro,
    ];
    let mut out = BTreeMap::new();
    for d in domains {
        let w = if d == Domain::Micro && !opts.include_micro {
            0.0
        } else {
            1.0
        };
        out.insert(d.as_str().to_string(), w);
    }
    for k in registry.names() {
        out.insert(k.to_string(), 1.0);
    }
    for (k, w) in &opts.weights {
        if !out.contains_key(k) {
            return Err(Error::UnknownName {
                what: "weight",
                name: k.clone(),
                valid: out.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        }
        let is_domain = domains.iter().any(|d| d.as_str() == k);
        // A domain may be left out (0); a kernel within one may not, since a
        // zero weight would hide it while counting it as covered.
        if !(w.is_finite() && (*w > 0.0 || (is_domain && *w == 0.0))) {
            return Err(Error::InvalidValue {
                what: "--weights".into(),
                message: format!(
                    "{k}={w}: a weight must be a positive number{}",
                    if is_domain {
                        " (or 0 to leave the domain out)"
                    } else {
                        ""
                    }
                ),
            });
        }
        out.insert(k.clone(), *w);
    }
    if domains.iter().all(|d| out[d.as_str()] == 0.0) {
        return Err(Error::InvalidValue {
            what: "--weights".into(),
            message: "every domain has weight 0: nothing would be scored".into(),
        });
    }
    Ok(out)
}

/// The power a per-watt term divides by, as an estimate: measured power as
/// read, estimated power with [`ESTIMATED_POWER_FACTOR`], modeled power with
/// no interval (a model has no sampling error to state).
fn power_estimate(e: &EnergyReading) -> Option<Estimate> {
    match e.method {
        Method::Counter | Method::Sampled => Estimate::exact(e.avg_w),
        Method::Estimated => Estimate::with_interval(
            e.avg_w,
            e.avg_w / ESTIMATED_POWER_FACTOR,
            e.avg_w * ESTIMATED_POWER_FACTOR,
        ),
        Method::Modeled => Estimate::bare(e.avg_w),
    }
}

/// Checks the options against the reference and the results, and keeps the
/// results a score may use; with the count of modeled results left out.
fn select(
    results: &[ResultRecord],
    reference: &Reference,
    opts: &ScoreOptions,
) -> Result<(Dataset, usize)> {
    if let Some(s) = &opts.suite
        && *s != reference.suite_version
    {
        return Err(Error::MixedSuites(format!(
            "--suite {s} differs from the reference's suite {} ({}): a score never mixes suite versions",
            reference.suite_version, reference.source
        )));
    }
    let of_suite: Vec<ResultRecord> = results
        .iter()
        .filter(|r| opts.suite.as_ref().is_none_or(|s| *s == r.suite_version))
        .cloned()
        .collect();
    let (selected, modeled_left_out) = rankable(&of_suite, opts.include_modeled);
    if selected.is_empty() && modeled_left_out > 0 {
        return Err(Error::NoResults(format!(
            "no measured results to score{}",
            modeled_hint(modeled_left_out)
        )));
    }
    let data = Dataset::require(&selected, "the database")?;
    let suites = data.suite_versions();
    if suites.len() > 1 || !suites.contains(&reference.suite_version) {
        return Err(Error::MixedSuites(format!(
            "the results are of suite version(s) {} and the reference is of {}: a score never mixes suite versions; pass --suite {} to score only those results, or a reference of the other suite",
            suites.iter().cloned().collect::<Vec<_>>().join(", "),
            reference.suite_version,
            reference.suite_version
        )));
    }
    Ok((data, modeled_left_out))
}

/// Scores every subject of `results` against `reference`.
pub fn score(
    results: &[ResultRecord],
    reference: &Reference,
    registry: &Registry,
    opts: &ScoreOptions,
) -> Result<ScoreReport> {
    let weights = weights(registry, opts)?;
    let (data, modeled_left_out) = select(results, reference, opts)?;
    let ctx = Context {
        reference,
        registry,
        opts,
        weights: &weights,
    };
    let subjects: Vec<SubjectScore> = data
        .subjects
        .iter()
        .filter_map(|(subject, by_key)| ctx.subject(subject, by_key))
        .collect();
    if subjects.is_empty() {
        return Err(Error::NoResults(format!(
            "no result shares a kernel, size and precision with the reference ({}); run the sizes it has",
            reference.describe()
        )));
    }
    Ok(ScoreReport {
        suite_version: reference.suite_version.clone(),
        reference: reference.describe(),
        include_micro: opts.include_micro,
        include_estimated: opts.include_estimated,
        include_modeled: opts.include_modeled,
        allow_partial: opts.allow_partial,
        node_level: opts.node_level,
        weights,
        intervals: intervals_text(&data),
        modeled_left_out,
        subjects,
    })
}

/// What scoring one subject needs.
struct Context<'a> {
    reference: &'a Reference,
    registry: &'a Registry,
    opts: &'a ScoreOptions,
    weights: &'a BTreeMap<String, f64>,
}

impl Context<'_> {
    fn domain_of(&self, kernel: &str) -> Option<Domain> {
        self.registry.get(kernel).ok().map(|k| k.manifest.domain)
    }

    fn domain_weight(&self, d: Domain) -> f64 {
        self.weights.get(d.as_str()).copied().unwrap_or(0.0)
    }

    /// The suite's kernels of domain `d`.
    fn suite_of(&self, d: Domain) -> Vec<&str> {
        self.registry
            .names()
            .into_iter()
            .filter(|k| self.domain_of(k) == Some(d))
            .collect()
    }

    /// One kernel's ratios, from every result the reference has a figure for.
    fn kernels(&self, by_key: &BTreeMap<Key, ResultRecord>) -> Vec<KernelScore> {
        // kernel -> (score, ratio terms, per-watt terms, scopes, methods)
        type Terms = (
            KernelScore,
            Vec<(Estimate, f64)>,
            Vec<(Estimate, f64)>,
            BTreeSet<String>,
            BTreeSet<String>,
        );
        let mut per_kernel: BTreeMap<String, Terms> = BTreeMap::new();
        for (key, r) in by_key {
            let (Some(reference_t), Some(t), Some(domain)) = (
                self.reference
                    .throughput
                    .get(key)
                    .copied()
                    .and_then(Estimate::exact),
                throughput_estimate(r),
                self.domain_of(&r.kernel),
            ) else {
                continue;
            };
            let ratio = t.ratio(&reference_t);
            let entry = per_kernel.entry(r.kernel.clone()).or_insert_with(|| {
                (
                    KernelScore {
                        kernel: r.kernel.clone(),
                        domain,
                        weight: self.weights.get(&r.kernel).copied().unwrap_or(1.0),
                        ratios: Vec::new(),
                        ratio: 0.0,
                        ratio_ci95: None,
                        per_watt: None,
                        per_watt_ci95: None,
                        per_watt_estimated: false,
                        per_watt_scope: None,
                        per_watt_method: None,
                        estimate: None,
                        per_watt_estimate: None,
                    },
                    Vec::new(),
                    Vec::new(),
                    BTreeSet::new(),
                    BTreeSet::new(),
                )
            });
            entry.0.ratios.push((key.1.clone(), key.2, ratio.value));
            entry.1.push((ratio, 1.0));
            let opts = self.opts;
            if let Some(e) = usable_energy(
                r,
                opts.include_estimated,
                opts.include_modeled,
                opts.node_level,
            ) && let Some(w) = power_estimate(&e)
            {
                entry.2.push((ratio.ratio(&w), 1.0));
                entry.3.insert(e.scope.as_str().to_string());
                entry.4.insert(e.method.as_str().to_string());
                entry.0.per_watt_estimated |= !e.method.is_measured();
            }
        }
        per_kernel
            .into_values()
            .map(|(mut k, ratios, per_watt, scopes, methods)| {
                let g = geometric_mean_of(&ratios);
                k.ratio = g.map_or(0.0, |g| g.value);
                k.ratio_ci95 = g.and_then(|g| g.interval());
                k.estimate = g;
                // Per watt only when every size has it, like a domain.
                let pw = (per_watt.len() == ratios.len())
                    .then(|| geometric_mean_of(&per_watt))
                    .flatten();
                k.per_watt = pw.map(|p| p.value);
                k.per_watt_ci95 = pw.and_then(|p| p.interval());
                k.per_watt_estimate = pw;
                k.per_watt_scope = pw.map(|_| join_parts(scopes.iter().map(String::as_str)));
                k.per_watt_method = pw.map(|_| join_parts(methods.iter().map(String::as_str)));
                k
            })
            .filter(|k| k.estimate.is_some())
            .collect()
    }

    fn domains(&self, kernels: &[KernelScore]) -> Vec<DomainScore> {
        let present: BTreeSet<Domain> = kernels.iter().map(|k| k.domain).collect();
        let mut domains = Vec::new();
        for d in present {
            let of_d: Vec<&KernelScore> = kernels.iter().filter(|k| k.domain == d).collect();
            let terms: Vec<(Estimate, f64)> = of_d
                .iter()
                .filter_map(|k| k.estimate.map(|e| (e, k.weight)))
                .collect();
            let pw: Vec<(Estimate, f64)> = of_d
                .iter()
                .filter_map(|k| k.per_watt_estimate.map(|p| (p, k.weight)))
                .collect();
            let Some(score) = geometric_mean_of(&terms) else {
                continue;
            };
            // Per watt only when every kernel of the domain has it: a
            // partial mean would favour devices that lack meters.
            let per_watt = (pw.len() == of_d.len())
                .then(|| geometric_mean_of(&pw))
                .flatten();
            let weight = self.domain_weight(d);
            let label = |f: fn(&KernelScore) -> &Option<String>| {
                per_watt.map(|_| join_parts(of_d.iter().filter_map(|k| f(k).as_deref())))
            };
            domains.push(DomainScore {
                per_watt_scope: label(|k| &k.per_watt_scope),
                per_watt_method: label(|k| &k.per_watt_method),
                domain: d,
                weight,
                score: score.value,
                score_ci95: score.interval(),
                per_watt: per_watt.map(|p| p.value),
                per_watt_ci95: per_watt.and_then(|p| p.interval()),
                per_watt_estimated: of_d.iter().any(|k| k.per_watt_estimated),
                counted: weight > 0.0,
                covered: of_d.len(),
                of: self.suite_of(d).len(),
                estimate: score,
                per_watt_estimate: per_watt,
            });
        }
        domains
    }

    fn subject(
        &self,
        subject: &Subject,
        by_key: &BTreeMap<Key, ResultRecord>,
    ) -> Option<SubjectScore> {
        let kernels = self.kernels(by_key);
        if kernels.is_empty() {
            return None;
        }
        let domains = self.domains(&kernels);
        let counted: Vec<&DomainScore> = domains.iter().filter(|d| d.counted).collect();
        let have: BTreeSet<&str> = kernels.iter().map(|k| k.kernel.as_str()).collect();
        let suite: Vec<&str> = self
            .registry
            .names()
            .into_iter()
            .filter(|k| {
                self.domain_of(k)
                    .is_some_and(|d| self.domain_weight(d) > 0.0)
            })
            .collect();
        let missing: Vec<String> = suite
            .iter()
            .filter(|k| !have.contains(*k))
            .map(|k| k.to_string())
            .collect();
        let covered = suite.len() - missing.len();
        let partial = (!missing.is_empty() && !self.opts.allow_partial).then(|| {
            format!(
                "covers {covered} of the suite's {} kernels (missing {}): no overall score; --allow-partial computes one over what there is",
                suite.len(),
                missing.join(", ")
            )
        });
        let overall = partial
            .is_none()
            .then(|| {
                geometric_mean_of(
                    &counted
                        .iter()
                        .map(|d| (d.estimate, d.weight))
                        .collect::<Vec<_>>(),
                )
            })
            .flatten();
        let pw: Vec<(Estimate, f64)> = counted
            .iter()
            .filter_map(|d| d.per_watt_estimate.map(|p| (p, d.weight)))
            .collect();
        let overall_per_watt = (overall.is_some() && pw.len() == counted.len())
            .then(|| geometric_mean_of(&pw))
            .flatten();
        let label = |f: fn(&DomainScore) -> &Option<String>| {
            overall_per_watt.map(|_| join_parts(counted.iter().filter_map(|d| f(d).as_deref())))
        };
        Some(SubjectScore {
            overall_per_watt_scope: label(|d| &d.per_watt_scope),
            overall_per_watt_method: label(|d| &d.per_watt_method),
            overall_estimate: overall,
            overall_per_watt_estimate: overall_per_watt,
            label: subject.label(),
            subject: subject.clone(),
            overall_per_watt_estimated: overall_per_watt.is_some()
                && counted.iter().any(|d| d.per_watt_estimated),
            overall: overall.map(|o| o.value),
            overall_ci95: overall.and_then(|o| o.interval()),
            overall_per_watt: overall_per_watt.map(|o| o.value),
            overall_per_watt_ci95: overall_per_watt.and_then(|o| o.interval()),
            kernels,
            domains,
            covered,
            of: suite.len(),
            missing,
            partial,
        })
    }
}

/// A figure with its interval, `(ESTIMATED)` after it when it used
/// estimated or modeled energy.
pub fn labelled_figure(f: Option<Figure>, estimated: bool) -> String {
    match f {
        Some(f) if estimated => format!("{} (ESTIMATED)", f.text()),
        Some(f) => f.text(),
        None => "-".into(),
    }
}

/// The domains in the order tables show them.
pub const DOMAINS: [Domain; 4] = [
    Domain::Simulation,
    Domain::Reconstruction,
    Domain::Ml,
    Domain::Micro,
];

pub const KERNEL_HEADINGS: [&str; 7] = [
    "device",
    "kernel",
    "domain",
    "ratios",
    "ratio [95%]",
    "ratio/W [95%]",
    "energy scope",
];

impl ScoreReport {
    /// The score as plain text: a summary per device, then each kernel.
    pub fn text(&self) -> String {
        use crate::report::table::render_text;
        let mut s = format!(
            "score against reference {}\noverall: geometric mean of the domain scores ({}); per watt: score / average W, {}\n\n",
            self.reference,
            if self.include_micro {
                "micro included"
            } else {
                "micro shown, not counted; --include-micro counts it"
            },
            if self.include_estimated {
                "estimated energy included and labelled"
            } else {
                "measured energy only (--include-estimated allows estimates)"
            }
        );
        if self.include_modeled {
            s.push_str("modeled results (FPGA emulation) included, their devices labelled [MODELED], modeled energy labelled\n\n");
        } else if self.modeled_left_out > 0 {
            s.push_str(&format!(
                "{} modeled result(s) (FPGA emulation) left out; --include-modeled scores them, labelled\n\n",
                self.modeled_left_out
            ));
        }
        s.push_str(&format!("intervals: {}\n", self.intervals));
        let w: Vec<String> = DOMAINS
            .iter()
            .map(|d| format!("{}={}", d.as_str(), self.weights[d.as_str()]))
            .collect();
        s.push_str(&format!("domain weights: {}\n\n", w.join(", ")));
        let (headings, rows) = self.subject_rows();
        s.push_str(&render_text(&headings, &rows));
        for sc in &self.subjects {
            if let Some(why) = &sc.partial {
                s.push_str(&format!("{}: {why}\n", sc.label));
            }
        }
        s.push('\n');
        s.push_str(&render_text(&KERNEL_HEADINGS, &self.kernel_rows()));
        s
    }

    /// Headings and one row per device: overall and per watt with their
    /// intervals, coverage, each domain (in brackets when not counted) and
    /// the missing kernels. Shared by the terminal and the HTML report.
    pub fn subject_rows(&self) -> (Vec<&'static str>, Vec<Vec<String>>) {
        use crate::report::table::format_value;
        let mut headings = vec!["device", "overall [95%]", "overall/W [95%]", "coverage"];
        headings.extend(DOMAINS.iter().map(|d| d.as_str()));
        headings.push("missing");
        let rows = self
            .subjects
            .iter()
            .map(|sc| {
                let mut row = vec![
                    sc.label.clone(),
                    match sc.overall {
                        Some(v) => Figure::new(v, sc.overall_ci95).text(),
                        None if sc.partial.is_some() => "partial".into(),
                        None => "-".into(),
                    },
                    labelled_figure(
                        sc.overall_per_watt
                            .map(|v| Figure::new(v, sc.overall_per_watt_ci95)),
                        sc.overall_per_watt_estimated,
                    ),
                    format!("{}/{}", sc.covered, sc.of),
                ];
                for d in DOMAINS {
                    row.push(match sc.domains.iter().find(|x| x.domain == d) {
                        Some(x) if x.counted => format!(
                            "{} ({}/{})",
                            Figure::new(x.score, x.score_ci95).text(),
                            x.covered,
                            x.of
                        ),
                        Some(x) => format!("({})", format_value(x.score)),
                        None => "-".into(),
                    });
                }
                row.push(if sc.missing.is_empty() {
                    "-".into()
                } else {
                    sc.missing.join(",")
                });
                row
            })
            .collect();
        (headings, rows)
    }

    /// One row per device and kernel: device, kernel, domain, the ratios
    /// per size, the kernel's ratio and its ratio per watt (labelled).
    pub fn kernel_rows(&self) -> Vec<Vec<String>> {
        use crate::report::table::format_value;
        self.subjects
            .iter()
            .flat_map(|sc| {
                sc.kernels.iter().map(|k| {
                    vec![
                        sc.label.clone(),
                        k.kernel.clone(),
                        k.domain.as_str().into(),
                        k.ratios
                            .iter()
                            .map(|(size, p, r)| format!("{size} {p}: {}", format_value(*r)))
                            .collect::<Vec<_>>()
                            .join(", "),
                        Figure::new(k.ratio, k.ratio_ci95).text(),
                        labelled_figure(
                            k.per_watt.map(|v| Figure::new(v, k.per_watt_ci95)),
                            k.per_watt_estimated,
                        ),
                        k.per_watt_scope.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
            })
            .collect()
    }
}
