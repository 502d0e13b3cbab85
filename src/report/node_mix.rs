//! `hetbench plan`: the node mix a budget buys, solved exactly as the
//! integer program it is (good_lp with the pure-Rust microlp
//! branch-and-bound solver), not by a hand-written search.
//!
//! Each candidate is one node of a platform (host and platform hash: a
//! CPU+GPU node is one candidate, not one per device, since buying it buys
//! both). Per domain the node runs on its device with the best score there
//! (as a centre would route the work; its CPU and GPU are not counted
//! together, which hetbench does not measure), and the candidate carries
//! that device's mix-weighted throughput per node (the domain scores
//! weighted as `score --weights`, arithmetic: nodes add their work), its
//! lifetime cost per node (the TCO of [`crate::report::cost`], weighted the
//! same way), its power at the wall while working (active W x PUE) and the
//! node's rack units; `uses` says which device runs which domain. The
//! program:
//!
//! - maximise `sum n_i throughput_i` subject to `sum n_i tco_i <= budget`,
//!   `sum n_i wall_kw_i <= power cap`, `sum n_i ru_i <= rack units`,
//!   `n_i >= 0` integer; or, with a throughput target, minimise
//!   `sum n_i kgCO2e_i` subject to the same and `sum n_i throughput_i >=
//!   target`.
//!
//! A constraint binds when what is left of it is less than the least any
//! candidate needs of it (no further node fits). An infeasible plan names
//! each constraint that alone cannot reach the target.

use good_lp::{
    Expression, ProblemVariables, ResolutionError, Solution, SolverModel, Variable, constraint,
    microlp, variable,
};
use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::report::cost::{CostReport, DomainCost};
use crate::report::score::DOMAINS;

/// One candidate platform, per node.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub label: String,
    /// Which device runs each domain: `ml: wgpu:0`.
    pub uses: Vec<String>,
    /// Mix-weighted throughput (score points) per node.
    pub throughput: f64,
    /// Lifetime cost per node, EUR.
    pub tco_eur: f64,
    /// Lifetime emissions per node, kgCO2e.
    pub kgco2e: f64,
    /// Power at the wall while working, kW (PUE included).
    pub wall_kw: f64,
    pub rack_units: f64,
    /// Estimated or modeled figures (labelled).
    pub flag: Option<&'static str>,
}

/// The limits of a plan.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Limits {
    pub budget_eur: f64,
    pub power_kw: f64,
    pub rack_units: f64,
    /// Meet this throughput at the least kgCO2e instead of maximising.
    pub target: Option<f64>,
}

/// One constraint's use.
#[derive(Debug, Clone, Serialize)]
pub struct Use {
    pub constraint: &'static str,
    pub used: f64,
    pub limit: f64,
    pub binds: bool,
}

/// A solved mix.
#[derive(Debug, Clone, Serialize)]
pub struct Mix {
    /// (candidate label, nodes), nodes > 0 only.
    pub nodes: Vec<(String, u64)>,
    pub throughput: f64,
    pub tco_eur: f64,
    pub kgco2e: f64,
    pub uses: Vec<Use>,
}

/// The plan: the optimum and the best mixes without each chosen platform.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub objective: &'static str,
    pub limits: Limits,
    pub best: Mix,
    /// (left out platform, the best mix without it).
    pub runners_up: Vec<(String, Option<Mix>)>,
}

const NAMES: [&str; 3] = ["budget", "power cap", "rack units"];

fn resource(c: &Candidate, k: usize) -> f64 {
    match k {
        0 => c.tco_eur,
        1 => c.wall_kw,
        _ => c.rack_units,
    }
}

fn limit(l: &Limits, k: usize) -> f64 {
    match k {
        0 => l.budget_eur,
        1 => l.power_kw,
        _ => l.rack_units,
    }
}

/// Solves with the constraints in `active` and candidates in `allowed`;
/// `Ok(None)` when infeasible.
fn solve_with(
    cands: &[Candidate],
    l: &Limits,
    active: &[usize],
    allowed: &dyn Fn(usize) -> bool,
) -> Result<Option<Vec<u64>>> {
    let mut vars = ProblemVariables::new();
    let n: Vec<Variable> = cands
        .iter()
        .enumerate()
        .map(|(i, c)| {
            // Racks bound every count (rack units > 0).
            let max = if allowed(i) {
                (l.rack_units / c.rack_units).floor().max(0.0)
            } else {
                0.0
            };
            vars.add(variable().integer().min(0).max(max))
        })
        .collect();
    let sum = |f: &dyn Fn(&Candidate) -> f64| -> Expression {
        n.iter().zip(cands).map(|(&v, c)| v * f(c)).sum()
    };
    let throughput = sum(&|c| c.throughput);
    let mut model = match l.target {
        Some(_) => vars.minimise(sum(&|c| c.kgco2e)).using(microlp),
        None => vars.maximise(throughput.clone()).using(microlp),
    };
    for &k in active {
        let used = sum(&|c| resource(c, k));
        model = model.with(constraint!(used <= limit(l, k)));
    }
    if let Some(t) = l.target {
        model = model.with(constraint!(throughput >= t));
    }
    match model.solve() {
        Ok(s) => Ok(Some(
            n.iter()
                .map(|&v| s.value(v).round().max(0.0) as u64)
                .collect(),
        )),
        Err(ResolutionError::Infeasible) => Ok(None),
        Err(e) => Err(Error::InvalidValue {
            what: "plan".into(),
            message: format!("the solver failed: {e}"),
        }),
    }
}

fn mix(cands: &[Candidate], l: &Limits, counts: &[u64]) -> Mix {
    let total = |f: &dyn Fn(&Candidate) -> f64| -> f64 {
        cands
            .iter()
            .zip(counts)
            .map(|(c, &k)| k as f64 * f(c))
            .sum()
    };
    let uses = (0..3)
        .map(|k| {
            let used = total(&|c| resource(c, k));
            let least = cands
                .iter()
                .map(|c| resource(c, k))
                .fold(f64::INFINITY, f64::min);
            Use {
                constraint: NAMES[k],
                used,
                limit: limit(l, k),
                binds: limit(l, k) - used < least,
            }
        })
        .collect();
    Mix {
        nodes: cands
            .iter()
            .zip(counts)
            .filter(|(_, k)| **k > 0)
            .map(|(c, &k)| (c.label.clone(), k))
            .collect(),
        throughput: total(&|c| c.throughput),
        tco_eur: total(&|c| c.tco_eur),
        kgco2e: total(&|c| c.kgco2e),
        uses,
    }
}

fn check(cands: &[Candidate], l: &Limits) -> Result<()> {
    let bad = |what: &str, v: f64| Error::InvalidValue {
        what: what.into(),
        message: format!("{v}: a finite number > 0"),
    };
    for (name, v) in [
        ("--budget", l.budget_eur),
        ("--power-kw", l.power_kw),
        ("--rack-units", l.rack_units),
        ("--target", l.target.unwrap_or(1.0)),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err(bad(name, v));
        }
    }
    if cands.is_empty() {
        return Err(Error::NoResults(
            "no candidate platform: none has cost figures for the weighted domains".into(),
        ));
    }
    Ok(())
}

/// Solves the plan over `cands` within `l`.
pub fn plan(cands: &[Candidate], l: &Limits) -> Result<Plan> {
    check(cands, l)?;
    let all = [0, 1, 2];
    let Some(counts) = solve_with(cands, l, &all, &|_| true)? else {
        return Err(infeasible(cands, l)?);
    };
    let best = mix(cands, l, &counts);
    let mut runners_up = Vec::new();
    for (i, c) in cands.iter().enumerate() {
        if counts[i] == 0 {
            continue;
        }
        let without = solve_with(cands, l, &all, &|j| j != i)?.map(|k| mix(cands, l, &k));
        runners_up.push((c.label.clone(), without));
    }
    Ok(Plan {
        objective: if l.target.is_some() {
            "least kgCO2e meeting the throughput target"
        } else {
            "most mix-weighted throughput"
        },
        limits: *l,
        best,
        runners_up,
    })
}

/// Why a plan with a target is infeasible: each constraint that alone
/// cannot reach it, with the most throughput it allows.
fn infeasible(cands: &[Candidate], l: &Limits) -> Result<Error> {
    let target = l.target.unwrap_or(0.0);
    let mut reasons = Vec::new();
    for (k, name) in NAMES.iter().enumerate() {
        let alone = Limits { target: None, ..*l };
        let most = solve_with(cands, &alone, &[k], &|_| true)?
            .map(|c| mix(cands, l, &c).throughput)
            .unwrap_or(0.0);
        if most < target {
            reasons.push(format!(
                "the {} ({}) cannot be met: within it alone at most {} of the target {}",
                name,
                limit(l, k),
                crate::report::table::format_value(most),
                target
            ));
        }
    }
    if reasons.is_empty() {
        reasons.push(format!(
            "budget, power cap and rack units together cannot reach the target {target}, though each alone can"
        ));
    }
    Ok(Error::InvalidValue {
        what: "plan".into(),
        message: format!("infeasible: {}", reasons.join("; ")),
    })
}

/// The candidates of a cost report: each node with per-domain figures
/// for every domain of weight above 0 (`weights` as the score's). Devices
/// with estimated energy only with `include_estimated`; the notes say who
/// was left out and why.
pub fn candidates(
    cost: &CostReport,
    weights: &BTreeMap<String, f64>,
    include_estimated: bool,
) -> Result<(Vec<Candidate>, Vec<String>)> {
    let wanted: Vec<(&str, f64)> = weights
        .iter()
        .filter(|(k, w)| **w > 0.0 && DOMAINS.iter().any(|d| d.as_str() == k.as_str()))
        .map(|(k, w)| (k.as_str(), *w))
        .collect();
    let sum_w: f64 = wanted.iter().map(|(_, w)| w).sum();
    let mut by_node: BTreeMap<(&str, &str), Vec<&DomainCost>> = BTreeMap::new();
    for d in &cost.domains {
        let s = &d.subject;
        by_node
            .entry((s.hostname.as_str(), s.platform_hash.as_str()))
            .or_default()
            .push(d);
    }
    let pue = cost.economics.site.pue.value;
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    for ds in by_node.values() {
        let node = ds[0].subject.platform_name();
        // Estimated energy only when asked (modeled rows are already only
        // here when asked, and labelled).
        let (usable, unasked): (Vec<&DomainCost>, Vec<&DomainCost>) = ds
            .iter()
            .partition(|d| d.modeled || !d.estimated || include_estimated);
        let best = |name: &str| {
            usable
                .iter()
                .filter(|d| d.domain == name)
                .max_by(|a, b| a.score.value.total_cmp(&b.score.value))
                .copied()
        };
        let chosen: Vec<(&str, f64, Option<&DomainCost>)> =
            wanted.iter().map(|(n, w)| (*n, *w, best(n))).collect();
        let missing: Vec<&str> = chosen
            .iter()
            .filter(|(_, _, d)| d.is_none())
            .map(|(n, _, _)| *n)
            .collect();
        if !missing.is_empty() {
            let why = if unasked.iter().any(|d| missing.contains(&d.domain.as_str())) {
                " measured (estimated energy: --include-estimated plans with it)"
            } else {
                ""
            };
            notes.push(format!(
                "{node}: no{why} figures for {}: left out",
                missing.join(", ")
            ));
            continue;
        }
        let chosen: Vec<(&str, f64, &DomainCost)> = chosen
            .into_iter()
            .filter_map(|(n, w, d)| d.map(|d| (n, w, d)))
            .collect();
        let estimated = chosen.iter().any(|(_, _, d)| d.estimated);
        let modeled = chosen.iter().any(|(_, _, d)| d.modeled);
        let mean = |f: &dyn Fn(&DomainCost) -> f64| -> f64 {
            chosen.iter().map(|(_, w, d)| w * f(d)).sum::<f64>() / sum_w
        };
        let Some(p) = cost.economics.for_subject(&chosen[0].2.subject)? else {
            continue;
        };
        out.push(Candidate {
            label: if estimated && !modeled {
                format!("{node} (ESTIMATED)")
            } else {
                node
            },
            uses: chosen
                .iter()
                .map(|(n, _, d)| format!("{n}: {}:{}", d.subject.backend, d.subject.device))
                .collect(),
            throughput: mean(&|d| d.score.value),
            tco_eur: mean(&|d| d.model.tco_eur()),
            kgco2e: mean(&|d| d.model.kg()),
            wall_kw: mean(&|d| d.active.w) * pue / 1000.0,
            rack_units: p.rack_units.value,
            flag: if modeled {
                Some("MODELED")
            } else if estimated {
                Some("ESTIMATED")
            } else {
                None
            },
        });
    }
    Ok((out, notes))
}

/// The candidates, one line each: what a node gives and costs, and which
/// device runs which domain.
pub fn candidates_text(cands: &[Candidate]) -> String {
    use crate::report::table::format_value;
    let mut s = String::from("candidates (per node; each domain on the node's best device):\n");
    for c in cands {
        s.push_str(&format!(
            "  {}{}: {} score points, TCO {} EUR, {} kgCO2e, {} kW at the wall, {} U ({})\n",
            c.label,
            c.flag
                .filter(|f| !c.label.contains(f))
                .map(|f| format!(" [{f}]"))
                .unwrap_or_default(),
            format_value(c.throughput),
            format_value(c.tco_eur),
            format_value(c.kgco2e),
            format_value(c.wall_kw),
            format_value(c.rack_units),
            c.uses.join(", ")
        ));
    }
    s
}

impl Plan {
    /// The plan as plain text.
    pub fn text(&self) -> String {
        use crate::report::table::format_value;
        let m = |mix: &Mix| {
            mix.nodes
                .iter()
                .map(|(l, k)| format!("{k} x {l}"))
                .collect::<Vec<_>>()
                .join(" + ")
        };
        let mut s = format!(
            "plan: {} (exact integer program, good_lp + microlp)\nchosen mix: {}\nthroughput {} score points, lifetime TCO {} EUR, {} kgCO2e\n",
            self.objective,
            m(&self.best),
            format_value(self.best.throughput),
            format_value(self.best.tco_eur),
            format_value(self.best.kgco2e)
        );
        for u in &self.best.uses {
            s.push_str(&format!(
                "  {}: {} of {}{}\n",
                u.constraint,
                format_value(u.used),
                format_value(u.limit),
                if u.binds { " (binds)" } else { "" }
            ));
        }
        for (left_out, mix) in &self.runners_up {
            s.push_str(&match mix {
                Some(x) => format!(
                    "runner-up without {left_out}: {} (throughput {})\n",
                    m(x),
                    format_value(x.throughput)
                ),
                None => format!("runner-up without {left_out}: none feasible\n"),
            });
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(label: &str, t: f64, eur: f64, kw: f64, ru: f64) -> Candidate {
        Candidate {
            label: label.into(),
            uses: vec![format!("ml: {label}")],
            throughput: t,
            tco_eur: eur,
            kgco2e: kw * 1000.0,
            wall_kw: kw,
            rack_units: ru,
            flag: None,
        }
    }

    #[test]
    fn the_power_cap_binds_not_the_budget() {
        // gpu: 10 points, 20 kEUR, 2 kW; cpu: 2 points, 3 kEUR, 0.5 kW.
        // Budget 200 kEUR, 5 kW, 42 U. By power: 2 gpu + 2 cpu = 24 points
        // at 5 kW (46 kEUR); 2 gpu alone 20; 10 cpu 20; 1 gpu + 6 cpu 22.
        let c = [
            cand("gpu", 10.0, 20e3, 2.0, 2.0),
            cand("cpu", 2.0, 3e3, 0.5, 1.0),
        ];
        let l = Limits {
            budget_eur: 200e3,
            power_kw: 5.0,
            rack_units: 42.0,
            target: None,
        };
        let p = plan(&c, &l).unwrap();
        assert_eq!(
            p.best.nodes,
            vec![("gpu".to_string(), 2), ("cpu".to_string(), 2)]
        );
        assert_eq!(p.best.throughput, 24.0);
        let binds: Vec<&str> = p
            .best
            .uses
            .iter()
            .filter(|u| u.binds)
            .map(|u| u.constraint)
            .collect();
        assert_eq!(binds, vec!["power cap"]);
        // Without gpu: 10 cpu (5 kW).
        assert_eq!(p.runners_up[0].1.as_ref().unwrap().throughput, 20.0);
    }

    #[test]
    fn an_infeasible_target_names_the_constraint() {
        let c = [
            cand("gpu", 10.0, 20e3, 2.0, 2.0),
            cand("cpu", 2.0, 3e3, 0.5, 1.0),
        ];
        // 50 points need at least 5 gpu (10 kW); the cap is 5 kW.
        let l = Limits {
            budget_eur: 1e6,
            power_kw: 5.0,
            rack_units: 42.0,
            target: Some(50.0),
        };
        let err = plan(&c, &l).unwrap_err().to_string();
        assert!(err.contains("power cap (5) cannot be met"), "{err}");
        assert!(err.contains("at most 24"), "{err}");
        assert!(!err.contains("budget ("), "{err}");
        // A reachable target: least kgCO2e for 20 points is 2 gpu (4 t).
        let ok = plan(
            &c,
            &Limits {
                target: Some(20.0),
                ..l
            },
        )
        .unwrap();
        assert_eq!(ok.best.nodes, vec![("gpu".to_string(), 2)]);
    }
}
