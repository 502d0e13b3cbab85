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
use crate::kernel::manifest::Domain;
use crate::kernels::Registry;
use crate::report::data::{Dataset, Key, Subject, key_of, modeled_hint, rankable, usable_energy};
use crate::report::stats::weighted_geometric_mean;
use crate::store::{RunFile, Status, json};

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
    /// Kernel weights within their domain (default 1).
    pub weights: BTreeMap<String, f64>,
    /// Only results of this suite version.
    pub suite: Option<String>,
}

/// One kernel's part of a score.
#[derive(Debug, Clone, Serialize)]
pub struct KernelScore {
    pub kernel: String,
    pub domain: Domain,
    pub weight: f64,
    /// (size, precision, throughput / reference throughput).
    pub ratios: Vec<(String, String, f64)>,
    /// Geometric mean of `ratios`.
    pub ratio: f64,
    /// Geometric mean of ratio / average watts over sizes with usable energy.
    pub per_watt: Option<f64>,
    /// Whether `per_watt` used an estimated or modeled reading.
    pub per_watt_estimated: bool,
}

/// One domain of a score.
#[derive(Debug, Clone, Serialize)]
pub struct DomainScore {
    pub domain: Domain,
    pub score: f64,
    pub per_watt: Option<f64>,
    pub per_watt_estimated: bool,
    /// Whether it counts in the overall score.
    pub counted: bool,
}

/// The score of one device.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectScore {
    pub subject: Subject,
    pub label: String,
    pub kernels: Vec<KernelScore>,
    pub domains: Vec<DomainScore>,
    /// Geometric mean of the counted domains.
    pub overall: Option<f64>,
    pub overall_per_watt: Option<f64>,
    pub overall_per_watt_estimated: bool,
    /// Reference kernels (of counted domains) this device has no result for.
    pub missing: Vec<String>,
}

/// Scores of every device against one reference.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreReport {
    pub suite_version: String,
    pub reference: String,
    pub include_micro: bool,
    pub include_estimated: bool,
    pub include_modeled: bool,
    /// Modeled results left out (without `include_modeled`).
    pub modeled_left_out: usize,
    pub subjects: Vec<SubjectScore>,
}

/// Scores every subject of `results` against `reference`.
pub fn score(
    results: &[crate::store::ResultRecord],
    reference: &Reference,
    registry: &Registry,
    opts: &ScoreOptions,
) -> Result<ScoreReport> {
    if let Some(s) = &opts.suite
        && *s != reference.suite_version
    {
        return Err(Error::MixedSuites(format!(
            "--suite {s} differs from the reference's suite {} ({}): a score never mixes suite versions",
            reference.suite_version, reference.source
        )));
    }
    let of_suite: Vec<crate::store::ResultRecord> = results
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
    for (k, w) in &opts.weights {
        if !(w.is_finite() && *w > 0.0) {
            return Err(Error::InvalidValue {
                what: "--weight".into(),
                message: format!("{k}={w}: a weight must be a positive number"),
            });
        }
        registry.get(k)?;
    }
    let domain_of = |kernel: &str| registry.get(kernel).ok().map(|k| k.manifest.domain);
    let counted = |d: Domain| d != Domain::Micro || opts.include_micro;

    let mut subjects = Vec::new();
    for (subject, by_key) in &data.subjects {
        // kernel -> (ratios, per-watt terms, estimated?)
        let mut per_kernel: BTreeMap<String, KernelScore> = BTreeMap::new();
        let mut per_watt_terms: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for (key, r) in by_key {
            let (Some(reference_t), Some(t), Some(domain)) = (
                reference.throughput.get(key),
                r.throughput,
                domain_of(&r.kernel),
            ) else {
                continue;
            };
            if t <= 0.0 {
                continue;
            }
            let ratio = t / reference_t;
            let ks = per_kernel
                .entry(r.kernel.clone())
                .or_insert_with(|| KernelScore {
                    kernel: r.kernel.clone(),
                    domain,
                    weight: opts.weights.get(&r.kernel).copied().unwrap_or(1.0),
                    ratios: Vec::new(),
                    ratio: 0.0,
                    per_watt: None,
                    per_watt_estimated: false,
                });
            ks.ratios.push((key.1.clone(), key.2.clone(), ratio));
            if let Some(e) = usable_energy(r, opts.include_estimated, opts.include_modeled) {
                per_watt_terms
                    .entry(r.kernel.clone())
                    .or_default()
                    .push(ratio / e.avg_w);
                ks.per_watt_estimated |= !e.method.is_measured();
            }
        }
        if per_kernel.is_empty() {
            continue;
        }
        let mut kernels: Vec<KernelScore> = per_kernel.into_values().collect();
        for k in &mut kernels {
            let ratios: Vec<(f64, f64)> = k.ratios.iter().map(|r| (r.2, 1.0)).collect();
            k.ratio = weighted_geometric_mean(&ratios).unwrap_or(0.0);
            k.per_watt = per_watt_terms.get(&k.kernel).and_then(|v| {
                weighted_geometric_mean(&v.iter().map(|&x| (x, 1.0)).collect::<Vec<_>>())
            });
        }
        let domains_present: BTreeSet<Domain> = kernels.iter().map(|k| k.domain).collect();
        let mut domains = Vec::new();
        for d in domains_present {
            let of_d: Vec<&KernelScore> = kernels.iter().filter(|k| k.domain == d).collect();
            let score = weighted_geometric_mean(
                &of_d.iter().map(|k| (k.ratio, k.weight)).collect::<Vec<_>>(),
            );
            let pw: Vec<(f64, f64)> = of_d
                .iter()
                .filter_map(|k| k.per_watt.map(|p| (p, k.weight)))
                .collect();
            if let Some(score) = score {
                domains.push(DomainScore {
                    domain: d,
                    score,
                    // Per watt only when every kernel of the domain has it:
                    // a partial mean would favour devices that lack meters.
                    per_watt: (pw.len() == of_d.len())
                        .then(|| weighted_geometric_mean(&pw))
                        .flatten(),
                    per_watt_estimated: of_d.iter().any(|k| k.per_watt_estimated),
                    counted: counted(d),
                });
            }
        }
        let counted_domains: Vec<&DomainScore> = domains.iter().filter(|d| d.counted).collect();
        let overall = weighted_geometric_mean(
            &counted_domains
                .iter()
                .map(|d| (d.score, 1.0))
                .collect::<Vec<_>>(),
        );
        let pw: Vec<(f64, f64)> = counted_domains
            .iter()
            .filter_map(|d| d.per_watt.map(|p| (p, 1.0)))
            .collect();
        let overall_per_watt = (!pw.is_empty() && pw.len() == counted_domains.len())
            .then(|| weighted_geometric_mean(&pw))
            .flatten();
        let have: BTreeSet<&str> = kernels.iter().map(|k| k.kernel.as_str()).collect();
        let missing: Vec<String> = reference
            .throughput
            .keys()
            .map(|k| k.0.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|k| !have.contains(k) && domain_of(k).is_some_and(counted))
            .map(str::to_string)
            .collect();
        subjects.push(SubjectScore {
            label: subject.label(),
            subject: subject.clone(),
            overall_per_watt_estimated: overall_per_watt.is_some()
                && counted_domains.iter().any(|d| d.per_watt_estimated),
            kernels,
            domains,
            overall,
            overall_per_watt,
            missing,
        });
    }
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
        modeled_left_out,
        subjects,
    })
}

/// A figure with `(ESTIMATED)` after it when it used estimated energy.
pub fn labelled(v: Option<f64>, estimated: bool) -> String {
    match v {
        Some(v) if estimated => format!("{} (ESTIMATED)", crate::report::table::format_value(v)),
        Some(v) => crate::report::table::format_value(v),
        None => "-".into(),
    }
}

impl ScoreReport {
    /// The score as plain text: a summary per device, then each kernel.
    pub fn text(&self) -> String {
        use crate::report::table::{format_value, render_text};
        let domains = [
            Domain::Simulation,
            Domain::Reconstruction,
            Domain::Ml,
            Domain::Micro,
        ];
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
        let mut headings = vec!["device", "overall", "overall/W"];
        headings.extend(domains.iter().map(|d| d.as_str()));
        headings.push("missing");
        let rows: Vec<Vec<String>> = self
            .subjects
            .iter()
            .map(|sc| {
                let mut row = vec![
                    sc.label.clone(),
                    sc.overall.map(format_value).unwrap_or_else(|| "-".into()),
                    labelled(sc.overall_per_watt, sc.overall_per_watt_estimated),
                ];
                for d in domains {
                    row.push(match sc.domains.iter().find(|x| x.domain == d) {
                        Some(x) if x.counted => format_value(x.score),
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
        s.push_str(&render_text(&headings, &rows));
        s.push('\n');
        s.push_str(&render_text(
            &["device", "kernel", "domain", "ratios", "ratio", "ratio/W"],
            &self.kernel_rows(),
        ));
        s
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
                        format_value(k.ratio),
                        labelled(k.per_watt, k.per_watt_estimated),
                    ]
                })
            })
            .collect()
    }
}
