//! `hetbench summary` and the report's first page: for each domain and
//! overall, which device is fastest and which does the most work per joule,
//! and how sure that is.
//!
//! Every figure here is a figure of [`crate::report::score`]: a domain's or
//! the overall score (and score per watt) with its 95% interval, taken as
//! the score computed it, so that `summary`, `score`, `compare` and the
//! tables never disagree. What the summary adds is the ranking:
//!
//! - A ranking compares devices that cover the same kernels: a geometric
//!   mean over other kernels is another figure. Devices scored on other
//!   kernel sets are named as left out of that ranking.
//! - The leader is compared with the runner-up by the ratio of their
//!   figures, with its interval propagated on the log scale
//!   ([`Estimate::ratio`]). "A beats B" is claimed only when that interval
//!   excludes 1; otherwise "A and B are not told apart".
//! - Per-watt rankings compare one energy scope at a time (like with like:
//!   `cpu-package` with `cpu-package`, `gpu-board` with `gpu-board`), each
//!   ranking naming its scope and method.
//! - A CPU behind a GPU API (lavapipe through wgpu, PoCL through OpenCL:
//!   device type `cpu` on a backend other than `cpu`) is the host CPU
//!   again: its energy reading is the CPU's, so it is never ranked per
//!   watt as separate hardware, and is listed with that reason.
//! - Estimated energy and modeled results take part only as `score` lets
//!   them (`--include-estimated`, `--include-modeled`), flagged.
//! - A device whose results warn of high variation or of many outliers
//!   (what a record says of a node that other work disturbed; no preflight
//!   load figure is stored) is flagged "possibly contended".

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::measure::Warning;
use crate::report::data::Subject;
use crate::report::score::{DOMAINS, Figure, ScoreReport, SubjectScore};
use crate::report::stats::Estimate;
use crate::report::table::{format_value, render_text};
use crate::store::{ResultRecord, Status};

/// What a ranking ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// The score: speed against the reference.
    Score,
    /// The score per watt: work per joule.
    ScorePerWatt,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Score => "fastest",
            Metric::ScorePerWatt => "most work per joule",
        }
    }
}

/// What the leader's lead over the runner-up amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The interval of leader / runner-up lies above 1.
    Beats,
    /// It holds 1.
    NotToldApart,
    /// A figure has no interval: nothing to test.
    Untested,
    /// No other device to compare with.
    Alone,
}

/// One device in a ranking.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub label: String,
    pub subject: Subject,
    pub figure: Figure,
    /// Kernels of the suite behind the figure, and the suite's count.
    pub covered: usize,
    pub of: usize,
    /// `MODELED`, `ESTIMATED energy`, `incomplete coverage 2/4`,
    /// `CPU behind wgpu`, `possibly contended: ...`.
    pub flags: Vec<String>,
}

impl Entry {
    /// A device's entry: its figure, coverage `(covered, of)` and flags,
    /// incomplete coverage and `extra` added.
    fn new(
        sc: &SubjectScore,
        figure: Figure,
        (covered, of): (usize, usize),
        mut flags: Vec<String>,
        extra: Option<&str>,
    ) -> Entry {
        if covered < of {
            flags.push(format!("incomplete coverage {covered}/{of}"));
        }
        flags.extend(extra.map(String::from));
        Entry {
            label: sc.label.clone(),
            subject: sc.subject.clone(),
            figure,
            covered,
            of,
            flags,
        }
    }
}

/// Who leads one metric in one section, and by how much.
#[derive(Debug, Clone, Serialize)]
pub struct Ranking {
    pub metric: Metric,
    /// The energy scope and method of a per-watt ranking.
    pub energy_scope: Option<String>,
    pub energy_method: Option<String>,
    pub leader: Entry,
    pub runner_up: Option<Entry>,
    /// Leader / runner-up with its 95% interval.
    pub ratio: Option<Figure>,
    pub verdict: Verdict,
    /// The claim in words: "A beats B (ratio ..., 95% CI ...)" or "A and B
    /// are not told apart (...)".
    pub claim: String,
    /// Devices ranked (same kernels, same scope).
    pub ranked: usize,
    /// Devices the leader is not told apart from (the runner-up among them).
    pub not_told_apart: Vec<String>,
    /// Devices with a figure left out of this ranking, and why.
    pub left_out: Vec<String>,
}

/// A domain, or the overall score.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    /// `simulation`, ..., or `overall`.
    pub name: String,
    /// Whether a domain counts in the overall score (always true for overall).
    pub counted: bool,
    /// The suite's kernels in it.
    pub suite_kernels: usize,
    pub fastest: Option<Ranking>,
    /// One ranking per energy scope.
    pub per_joule: Vec<Ranking>,
    /// Why a ranking is missing.
    pub notes: Vec<String>,
}

/// A device that is not ranked per watt, and why.
#[derive(Debug, Clone, Serialize)]
pub struct LeftOut {
    pub label: String,
    pub reason: String,
}

/// The whole summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub suite_version: String,
    pub reference: String,
    pub intervals: String,
    pub claims: &'static str,
    pub include_micro: bool,
    pub include_estimated: bool,
    pub include_modeled: bool,
    /// Per-watt figures at node level (`--node-level`).
    pub node_level: bool,
    pub modeled_left_out: usize,
    pub sections: Vec<Section>,
    pub not_ranked_per_watt: Vec<LeftOut>,
}

pub const CLAIMS: &str = "\"A beats B\" only where the 95% interval of the ratio A/B excludes 1 (a tie); otherwise \"A and B are not told apart\"; rankings compare devices scored on the same kernels, per watt within one energy scope";

/// Whether a device is the host CPU seen through another API (lavapipe via
/// wgpu, PoCL via OpenCL): the records mark it device type `cpu` on a
/// backend other than `cpu`.
pub fn cpu_behind_api(s: &Subject) -> bool {
    s.device_type == "cpu" && s.backend != "cpu"
}

/// A candidate for a ranking: its entry, its estimate and the kernels its
/// figure covers.
struct Candidate {
    entry: Entry,
    estimate: Estimate,
    kernels: BTreeSet<String>,
    scope: Option<String>,
    method: Option<String>,
}

/// Builds the summary of a score; `results` are those the score was
/// computed from (their warnings flag contended nodes).
pub fn summarize(score: &ScoreReport, results: &[ResultRecord]) -> Summary {
    let noise = noisy_results(results);
    let flags = |sc: &SubjectScore, kernels: &BTreeSet<String>| -> Vec<String> {
        let mut f = Vec::new();
        if sc.subject.modeled {
            f.push("MODELED".to_string());
        }
        if cpu_behind_api(&sc.subject) {
            f.push(format!("CPU behind {}", sc.subject.backend));
        }
        let n = kernels
            .iter()
            .filter(|k| noise.contains(&(identity(&sc.subject), (*k).clone())))
            .count();
        if n > 0 {
            f.push(format!(
                "possibly contended: {n} kernel(s) warn of high variation or many outliers"
            ));
        }
        f
    };
    let mut sections: Vec<Section> = DOMAINS
        .iter()
        .map(|d| {
            let name = d.as_str();
            let candidates = score.subjects.iter().filter_map(|sc| {
                let ds = sc.domains.iter().find(|x| x.domain == *d)?;
                let kernels = kernels_of(sc, &[name]);
                Some((sc, ds, kernels))
            });
            let mut fastest = Vec::new();
            let mut per_watt = Vec::new();
            let mut suite = 0;
            let mut counted = false;
            for (sc, ds, kernels) in candidates {
                suite = ds.of;
                counted = ds.counted;
                let entry = |figure: Figure, extra: Option<&str>| {
                    Entry::new(sc, figure, (ds.covered, ds.of), flags(sc, &kernels), extra)
                };
                fastest.push(Candidate {
                    entry: entry(Figure::new(ds.score, ds.score_ci95), None),
                    estimate: ds.estimate(),
                    kernels: kernels.clone(),
                    scope: None,
                    method: None,
                });
                if let (Some(v), Some(e)) = (ds.per_watt, ds.per_watt_estimate()) {
                    per_watt.push((
                        sc,
                        Candidate {
                            entry: entry(
                                Figure::new(v, ds.per_watt_ci95),
                                ds.per_watt_estimated.then_some("ESTIMATED energy"),
                            ),
                            estimate: e,
                            kernels,
                            scope: ds.per_watt_scope.clone(),
                            method: ds.per_watt_method.clone(),
                        },
                    ));
                }
            }
            section(name, counted, suite, fastest, per_watt)
        })
        .filter(|s| s.fastest.is_some())
        .collect();
    sections.push(overall(score, &flags));
    Summary {
        suite_version: score.suite_version.clone(),
        reference: score.reference.clone(),
        intervals: score.intervals.clone(),
        claims: CLAIMS,
        include_micro: score.include_micro,
        include_estimated: score.include_estimated,
        include_modeled: score.include_modeled,
        node_level: score.node_level,
        modeled_left_out: score.modeled_left_out,
        sections,
        not_ranked_per_watt: not_ranked_per_watt(score),
    }
}

/// The overall section, from each device's overall score.
fn overall(
    score: &ScoreReport,
    flags: &dyn Fn(&SubjectScore, &BTreeSet<String>) -> Vec<String>,
) -> Section {
    let counted: Vec<&str> = DOMAINS
        .iter()
        .map(|d| d.as_str())
        .filter(|d| score.weights.get(*d).is_some_and(|w| *w > 0.0))
        .collect();
    let mut fastest = Vec::new();
    let mut per_watt = Vec::new();
    let mut suite = 0;
    let mut notes = Vec::new();
    for sc in &score.subjects {
        suite = sc.of;
        let (Some(v), Some(e)) = (sc.overall, sc.overall_estimate()) else {
            if let Some(why) = &sc.partial {
                notes.push(format!("{}: {why}", sc.label));
            }
            continue;
        };
        let kernels = kernels_of(sc, &counted);
        let entry = |figure: Figure, extra: Option<&str>| {
            Entry::new(sc, figure, (sc.covered, sc.of), flags(sc, &kernels), extra)
        };
        fastest.push(Candidate {
            entry: entry(Figure::new(v, sc.overall_ci95), None),
            estimate: e,
            kernels: kernels.clone(),
            scope: None,
            method: None,
        });
        if let (Some(v), Some(e)) = (sc.overall_per_watt, sc.overall_per_watt_estimate()) {
            per_watt.push((
                sc,
                Candidate {
                    entry: entry(
                        Figure::new(v, sc.overall_per_watt_ci95),
                        sc.overall_per_watt_estimated.then_some("ESTIMATED energy"),
                    ),
                    estimate: e,
                    kernels,
                    scope: sc.overall_per_watt_scope.clone(),
                    method: sc.overall_per_watt_method.clone(),
                },
            ));
        }
    }
    let mut s = section("overall", true, suite, fastest, per_watt);
    if s.fastest.is_none() {
        s.notes.push(
            "no device has an overall score: each covers only part of the suite; --allow-partial ranks what there is".into(),
        );
    }
    s.notes.extend(notes);
    s
}

/// One section's rankings: the fastest over every candidate, the most
/// efficient per energy scope over those that are separate hardware.
fn section(
    name: &str,
    counted: bool,
    suite_kernels: usize,
    fastest: Vec<Candidate>,
    per_watt: Vec<(&SubjectScore, Candidate)>,
) -> Section {
    let mut by_scope: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for (sc, c) in per_watt {
        if !cpu_behind_api(&sc.subject) {
            by_scope
                .entry(c.scope.clone().unwrap_or_else(|| "unknown".into()))
                .or_default()
                .push(c);
        }
    }
    let mut notes = Vec::new();
    if by_scope.is_empty() && !fastest.is_empty() {
        notes.push("no device has a per-watt figure for every kernel here (measured energy only unless --include-estimated)".into());
    }
    Section {
        name: name.to_string(),
        counted,
        suite_kernels,
        fastest: rank(Metric::Score, fastest),
        per_joule: by_scope
            .into_values()
            .filter_map(|c| rank(Metric::ScorePerWatt, c))
            .collect(),
        notes,
    }
}

/// Ranks the candidates that cover the largest common kernel set (the most
/// kernels, then the most devices), highest figure first.
fn rank(metric: Metric, candidates: Vec<Candidate>) -> Option<Ranking> {
    let mut groups: BTreeMap<&BTreeSet<String>, usize> = BTreeMap::new();
    for c in &candidates {
        *groups.entry(&c.kernels).or_default() += 1;
    }
    let chosen = groups
        .into_iter()
        .max_by_key(|(k, n)| (k.len(), *n))
        .map(|(k, _)| k.clone())?;
    let (mut ranked, other): (Vec<Candidate>, Vec<Candidate>) =
        candidates.into_iter().partition(|c| c.kernels == chosen);
    ranked.sort_by(|a, b| {
        b.estimate
            .value
            .total_cmp(&a.estimate.value)
            .then(a.entry.label.cmp(&b.entry.label))
    });
    let left_out = other
        .iter()
        .map(|c| {
            format!(
                "{}: scored on other kernels ({}) than the ranked ({})",
                c.entry.label,
                join(&c.kernels),
                join(&chosen)
            )
        })
        .collect();
    let mut it = ranked.into_iter();
    let leader = it.next()?;
    let rest: Vec<Candidate> = it.collect();
    let not_told_apart = rest
        .iter()
        .filter(|c| leader.estimate.ratio(&c.estimate).excludes(1.0) != Some(true))
        .map(|c| c.entry.label.clone())
        .collect();
    let (ratio, verdict, claim) = match rest.first() {
        None => (
            None,
            Verdict::Alone,
            format!("only {} has a figure here", leader.entry.label),
        ),
        Some(next) => verdict(&leader, next),
    };
    Some(Ranking {
        metric,
        energy_scope: leader.scope.clone(),
        energy_method: leader.method.clone(),
        ranked: rest.len() + 1,
        runner_up: rest.first().map(|c| c.entry.clone()),
        leader: leader.entry,
        ratio,
        verdict,
        claim,
        not_told_apart,
        left_out,
    })
}

/// The leader against the runner-up.
fn verdict(leader: &Candidate, next: &Candidate) -> (Option<Figure>, Verdict, String) {
    let r = leader.estimate.ratio(&next.estimate);
    let ci = r.interval();
    let (a, b) = (&leader.entry.label, &next.entry.label);
    let figure = Figure::new(r.value, ci);
    let (verdict, claim) = match (ci, r.excludes(1.0)) {
        (Some((l, h)), Some(true)) => (
            Verdict::Beats,
            format!(
                "{a} beats {b} (ratio {}, 95% CI {} .. {})",
                format_value(r.value),
                format_value(l),
                format_value(h)
            ),
        ),
        (Some((l, h)), _) => (
            Verdict::NotToldApart,
            format!(
                "{a} and {b} are not told apart (ratio {}, 95% CI {} .. {})",
                format_value(r.value),
                format_value(l),
                format_value(h)
            ),
        ),
        (None, _) => (
            Verdict::Untested,
            format!(
                "{a} against {b}: untested, a figure has no 95% interval (ratio {} without one)",
                format_value(r.value)
            ),
        ),
    };
    (Some(figure), verdict, claim)
}

fn join(kernels: &BTreeSet<String>) -> String {
    kernels.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// The kernels of `domains` a device's score covers.
fn kernels_of(sc: &SubjectScore, domains: &[&str]) -> BTreeSet<String> {
    sc.kernels
        .iter()
        .filter(|k| domains.contains(&k.domain.as_str()))
        .map(|k| k.kernel.clone())
        .collect()
}

/// A device's identity across datasets: host, platform hash, backend, device.
type Identity = (String, String, String, String);

fn identity(s: &Subject) -> Identity {
    (
        s.hostname.clone(),
        s.platform_hash.clone(),
        s.backend.clone(),
        s.device.clone(),
    )
}

/// The fraction of outlying samples above which a result counts as
/// disturbed (a few outliers come with any node's interrupts).
pub const CONTENDED_OUTLIERS: f64 = 0.05;

/// (device, kernel) of every verified result that warns of high variation
/// (see [`crate::measure::HIGH_CV`]) or of more than
/// [`CONTENDED_OUTLIERS`] outliers: what a record says of a node that other
/// work disturbed.
fn noisy_results(results: &[ResultRecord]) -> BTreeSet<(Identity, String)> {
    results
        .iter()
        .filter(|r| r.status == Status::Ok)
        .filter(|r| {
            r.warnings.iter().any(|w| match w {
                Warning::HighVariation { .. } => true,
                // A few outliers are any busy node's; many are another load's.
                Warning::OutliersDetected { outliers, n } => {
                    *outliers as f64 > CONTENDED_OUTLIERS * *n as f64
                }
                _ => false,
            })
        })
        .map(|r| (identity(&Subject::of(r)), r.kernel.clone()))
        .collect()
}

/// Every scored device that no per-watt ranking takes, and why.
fn not_ranked_per_watt(score: &ScoreReport) -> Vec<LeftOut> {
    score
        .subjects
        .iter()
        .filter_map(|sc| {
            let reason = if cpu_behind_api(&sc.subject) {
                format!(
                    "the host CPU behind {} ({}): its energy reading is the CPU's own, so it is not ranked per watt as separate hardware; the CPU is ranked as itself",
                    sc.subject.backend, sc.subject.device_name
                )
            } else if sc.domains.iter().all(|d| d.per_watt.is_none()) {
                if score.include_estimated {
                    "no usable energy reading for every kernel of a domain".to_string()
                } else {
                    "no measured energy reading for every kernel of a domain (--include-estimated lets estimates in, labelled)".to_string()
                }
            } else {
                return None;
            };
            Some(LeftOut {
                label: sc.label.clone(),
                reason,
            })
        })
        .collect()
}

/// Headings of the summary table ([`Summary::rows`]).
pub const HEADINGS: [&str; 7] = [
    "domain",
    "ranking",
    "leader",
    "figure [95%]",
    "covers",
    "claim",
    "flags",
];

impl Ranking {
    /// `fastest`, or `most work per joule (cpu-package, counter)`.
    pub fn title(&self) -> String {
        match (&self.energy_scope, &self.energy_method) {
            (Some(s), Some(m)) => format!("{} ({s}, {m})", self.metric.as_str()),
            (Some(s), None) => format!("{} ({s})", self.metric.as_str()),
            _ => self.metric.as_str().to_string(),
        }
    }
}

impl Summary {
    /// One row per ranking: section, ranking, leader, its figure, its
    /// coverage, the claim and the leader's flags. Shared by the terminal
    /// and the HTML report.
    pub fn rows(&self) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        for s in &self.sections {
            let name = if s.counted {
                s.name.clone()
            } else {
                format!("{} (not counted)", s.name)
            };
            for r in s.fastest.iter().chain(&s.per_joule) {
                rows.push(vec![
                    name.clone(),
                    r.title(),
                    r.leader.label.clone(),
                    r.leader.figure.text(),
                    format!("{}/{}", r.leader.covered, r.leader.of),
                    r.claim.clone(),
                    if r.leader.flags.is_empty() {
                        "-".into()
                    } else {
                        r.leader.flags.join("; ")
                    },
                ]);
            }
        }
        rows
    }

    /// What the summary rests on, one line each.
    pub fn preamble(&self) -> Vec<String> {
        let mut lines = vec![
            format!(
                "suite {}, scores against reference {}",
                self.suite_version, self.reference
            ),
            format!(
                "figures: score (geometric mean of throughput / reference) and score per watt, per domain and overall ({}); {}",
                if self.include_micro {
                    "micro counted"
                } else {
                    "micro shown, not counted"
                },
                if self.include_estimated {
                    "estimated energy included, flagged"
                } else {
                    "measured energy only (--include-estimated lets estimates in)"
                }
            ),
            format!("claims: {}", self.claims),
            format!("intervals: {}", self.intervals),
            if self.node_level {
                format!(
                    "energy: node level (--node-level): a node meter's reading where the node has one, else the CPU package, DRAM and GPU board meters summed over the same window, which leaves out {}; devices without either have no per-watt figure",
                    crate::power::node::LEAVES_OUT
                )
            } else {
                "energy: each device's own scope (a GPU's board leaves out its host); --node-level ranks device types together at node level".into()
            },
        ];
        if self.include_modeled {
            lines.push("modeled results (FPGA emulation) included, flagged MODELED".into());
        } else if self.modeled_left_out > 0 {
            lines.push(format!(
                "{} modeled result(s) (FPGA emulation) left out of every ranking; --include-modeled ranks them, flagged",
                self.modeled_left_out
            ));
        }
        lines
    }

    /// Notes below the table: rankings left out and why.
    pub fn notes(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for s in &self.sections {
            for r in s.fastest.iter().chain(&s.per_joule) {
                if r.not_told_apart.len() > 1 {
                    lines.push(format!(
                        "{}, {}: {} is not told apart from (or, without an interval, untested against) {}",
                        s.name,
                        r.title(),
                        r.leader.label,
                        r.not_told_apart.join(", ")
                    ));
                }
                for l in &r.left_out {
                    lines.push(format!("{}, {}: left out: {l}", s.name, r.title()));
                }
            }
            for n in &s.notes {
                lines.push(format!("{}: {n}", s.name));
            }
        }
        for l in &self.not_ranked_per_watt {
            lines.push(format!("not ranked per watt: {}: {}", l.label, l.reason));
        }
        lines
    }

    /// The summary as plain text.
    pub fn text(&self) -> String {
        let mut s = String::from("hetbench summary\n");
        for l in self.preamble() {
            s.push_str(&l);
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&render_text(&HEADINGS, &self.rows()));
        let notes = self.notes();
        if !notes.is_empty() {
            s.push('\n');
            for n in notes {
                s.push_str(&n);
                s.push('\n');
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(label: &str, value: f64, rel: f64) -> Candidate {
        let subject = Subject {
            hostname: label.into(),
            platform_hash: "0".into(),
            backend: "cpu".into(),
            device: "cpu0".into(),
            device_name: "CPU".into(),
            device_type: "cpu".into(),
            modeled: false,
            platform_label: None,
            short_hash: None,
        };
        let estimate = Estimate::with_interval(value, value / rel, value * rel).unwrap();
        Candidate {
            entry: Entry {
                label: label.into(),
                subject,
                figure: Figure::new(value, estimate.interval()),
                covered: 1,
                of: 1,
                flags: Vec::new(),
            },
            estimate,
            kernels: ["gemm".to_string()].into(),
            scope: None,
            method: None,
        }
    }

    #[test]
    fn a_lead_is_claimed_only_where_the_ratio_excludes_1() {
        // 2 against 1, each x/÷1.1: ratio 2, each side ln 1.1 * sqrt 2.
        let r = rank(
            Metric::Score,
            vec![candidate("b", 1.0, 1.1), candidate("a", 2.0, 1.1)],
        )
        .unwrap();
        assert_eq!(r.leader.label, "a");
        assert_eq!(r.verdict, Verdict::Beats);
        let (lo, hi) = r.ratio.unwrap().ci95.unwrap();
        let side = 1.1f64.ln() * 2f64.sqrt();
        assert!((lo - 2.0 * (-side).exp()).abs() < 1e-12);
        assert!((hi - 2.0 * side.exp()).abs() < 1e-12);
        assert!(r.claim.starts_with("a beats b (ratio 2.000, 95% CI "));
        // 1.1 against 1, each x/÷1.1: the interval holds 1.
        let r = rank(
            Metric::Score,
            vec![candidate("b", 1.0, 1.1), candidate("a", 1.1, 1.1)],
        )
        .unwrap();
        assert_eq!(r.verdict, Verdict::NotToldApart);
        assert_eq!(r.not_told_apart, ["b"]);
        assert!(r.claim.starts_with("a and b are not told apart"));
    }

    #[test]
    fn only_devices_on_the_same_kernels_are_ranked_together() {
        let mut other = candidate("c", 9.0, 1.1);
        other.kernels = ["conv2d".to_string()].into();
        let r = rank(
            Metric::Score,
            vec![candidate("a", 2.0, 1.1), candidate("b", 1.0, 1.1), other],
        )
        .unwrap();
        assert_eq!((r.leader.label.as_str(), r.ranked), ("a", 2));
        assert_eq!(r.left_out.len(), 1);
        assert!(r.left_out[0].starts_with("c: scored on other kernels (conv2d)"));
        let alone = rank(Metric::Score, vec![candidate("a", 2.0, 1.1)]).unwrap();
        assert_eq!(alone.verdict, Verdict::Alone);
    }

    #[test]
    fn a_cpu_behind_a_gpu_api_is_told_by_type_and_backend() {
        let mut s = candidate("a", 1.0, 1.1).entry.subject;
        assert!(!cpu_behind_api(&s));
        s.backend = "wgpu".into();
        assert!(cpu_behind_api(&s));
        s.device_type = "discrete-gpu".into();
        assert!(!cpu_behind_api(&s));
    }
}
