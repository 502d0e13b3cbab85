//! `hetbench cost`: what a unit of work costs in euros and kgCO2e over a
//! node's life, from the measured work and energy and the site economics
//! file ([`crate::report::economics`]).
//!
//! For one device of a platform and one result (kernel, size, precision):
//!
//! - node power while in service `P = P_active u + P_idle (1 - u)`, with
//!   `P_active` the average power of the energy reading used: the
//!   node-level one of [`crate::power::node::node_level`] where the result
//!   has it (a node meter's, else its measured CPU package, DRAM and GPU
//!   board meters summed over the window, labelled `component sum`: the
//!   figure `--node-level` ranks), else the device's primary reading,
//!   whose scope is named (then the host is not included); `P_idle` the
//!   platform's `idle_w`, else the measured idle baseline of the same
//!   meter, else the site's `idle_w`, and `u` the utilisation;
//! - energy over the lifetime `E = P x 8760 h x years x PUE` (kWh);
//! - TCO `= purchase + maintenance x years + E x price`;
//! - work over the lifetime `W = throughput x u x 8760 x 3600 s x years`;
//! - EUR per 10^9 units of work `= TCO / W x 10^9`, work per euro `W / TCO`;
//! - kgCO2e per 10^9 units `= (embodied + E x grid / 1000) / W x 10^9`:
//!   operational from the same energy and the grid intensity, plus the
//!   embodied emissions amortised over the lifetime's work.
//!
//! Per domain the work is the domain's score ([`crate::report::score`])
//! delivered for a year at the utilisation (a score-year), and the power is
//! the arithmetic mean over the domain's results (its kernels sharing the
//! working time equally); with an `hs23` figure, the node's cost and
//! emissions are also given per kHS23-year.
//!
//! Intervals (95%): the TCO and the emissions are increasing in the powers,
//! so their interval is the figure at the ends of the power interval
//! (measured power as read, estimated power x/÷
//! [`ESTIMATED_POWER_FACTOR`], modeled power without interval); that is
//! divided by the work, whose interval is the throughput's (or the score's),
//! on the log scale ([`Estimate::ratio`]). Given economics are constants.
//!
//! Rankings compare the devices with measured energy (estimated with
//! `include_estimated`, modeled only with `include_modeled`); for the two
//! best, cost is linear in the electricity price and emissions in the grid
//! intensity, so the price and intensity at which they swap are closed
//! forms ([`flip_point`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::kernel::Precision;
use crate::power::{EnergyReading, Method, Scope};
use crate::report::data::{
    Dataset, Subject, modeled_hint, node_energy, rankable, throughput_estimate,
};
use crate::report::economics::{Economics, Input, Origin, PlatformEconomics};
use crate::report::score::{ESTIMATED_POWER_FACTOR, Figure, ScoreReport};
use crate::report::stats::Estimate;
use crate::report::table::format_value;
use crate::store::ResultRecord;

/// Hours in a year of service.
pub const HOURS_PER_YEAR: f64 = 8760.0;

/// What to cost.
#[derive(Debug, Clone)]
pub struct CostOptions {
    /// Rank devices whose energy is estimated (always shown, labelled).
    pub include_estimated: bool,
    /// Cost modeled results (FPGA emulation), labelled MODELED.
    pub include_modeled: bool,
    /// The +/- fraction each input is moved by in the sensitivity table.
    pub sensitivity: f64,
}

impl Default for CostOptions {
    fn default() -> Self {
        CostOptions {
            include_estimated: false,
            include_modeled: false,
            sensitivity: 0.2,
        }
    }
}

/// A power with its 95% interval (`None`: no interval, e.g. modeled).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Power {
    pub w: f64,
    pub ci95: Option<(f64, f64)>,
}

impl Power {
    fn exact(w: f64) -> Power {
        Power {
            w,
            ci95: Some((w, w)),
        }
    }

    /// The arithmetic mean of powers (bounds averaged: the powers of one
    /// meter err together).
    fn mean(ps: &[Power]) -> Option<Power> {
        if ps.is_empty() {
            return None;
        }
        let n = ps.len() as f64;
        let ci = ps
            .iter()
            .map(|p| p.ci95)
            .collect::<Option<Vec<_>>>()
            .map(|v| {
                (
                    v.iter().map(|c| c.0).sum::<f64>() / n,
                    v.iter().map(|c| c.1).sum::<f64>() / n,
                )
            });
        Some(Power {
            w: ps.iter().map(|p| p.w).sum::<f64>() / n,
            ci95: ci,
        })
    }
}

/// The scalar inputs of one figure: everything cost and carbon depend on.
/// Pure arithmetic, so that the sensitivity table moves one field at a time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CostModel {
    pub purchase_eur: f64,
    pub maintenance_eur_per_year: f64,
    pub lifetime_years: f64,
    pub pue: f64,
    pub electricity_eur_per_kwh: f64,
    pub grid_gco2e_per_kwh: f64,
    pub utilisation: f64,
    pub active_w: f64,
    pub idle_w: f64,
    pub embodied_kgco2e: f64,
    /// Work per year of full-time service (units, or score-years).
    pub work_per_year: f64,
}

impl CostModel {
    /// Energy at the wall over the lifetime, kWh (PUE included).
    pub fn energy_kwh(&self) -> f64 {
        let u = self.utilisation;
        (self.active_w * u + self.idle_w * (1.0 - u)) / 1000.0
            * HOURS_PER_YEAR
            * self.lifetime_years
            * self.pue
    }

    /// Purchase and maintenance over the lifetime, EUR.
    pub fn fixed_eur(&self) -> f64 {
        self.purchase_eur + self.maintenance_eur_per_year * self.lifetime_years
    }

    /// Total cost of ownership over the lifetime, EUR.
    pub fn tco_eur(&self) -> f64 {
        self.fixed_eur() + self.energy_kwh() * self.electricity_eur_per_kwh
    }

    /// Operational emissions over the lifetime, kgCO2e.
    pub fn operational_kg(&self) -> f64 {
        self.energy_kwh() * self.grid_gco2e_per_kwh / 1000.0
    }

    /// Embodied plus operational emissions over the lifetime, kgCO2e.
    pub fn kg(&self) -> f64 {
        self.embodied_kgco2e + self.operational_kg()
    }

    /// Work over the lifetime at the utilisation.
    pub fn work(&self) -> f64 {
        self.work_per_year * self.utilisation * self.lifetime_years
    }

    /// EUR per unit of work.
    pub fn eur_per_work(&self) -> f64 {
        self.tco_eur() / self.work()
    }

    /// kgCO2e per unit of work.
    pub fn kg_per_work(&self) -> f64 {
        self.kg() / self.work()
    }

    fn with_powers(&self, active_w: f64, idle_w: f64) -> CostModel {
        CostModel {
            active_w,
            idle_w,
            ..*self
        }
    }
}

/// The inputs the sensitivity table moves, with how to move each.
pub const SENSITIVITY_INPUTS: [&str; 11] = [
    "purchase_eur",
    "maintenance_eur_per_year",
    "lifetime_years",
    "electricity_eur_per_kwh",
    "pue",
    "utilisation",
    "active_w",
    "idle_w",
    "grid_gco2e_per_kwh",
    "embodied_kgco2e",
    "throughput",
];

fn moved(m: &CostModel, input: &str, factor: f64) -> CostModel {
    let mut m = *m;
    let f = match input {
        "purchase_eur" => &mut m.purchase_eur,
        "maintenance_eur_per_year" => &mut m.maintenance_eur_per_year,
        "lifetime_years" => &mut m.lifetime_years,
        "electricity_eur_per_kwh" => &mut m.electricity_eur_per_kwh,
        "pue" => &mut m.pue,
        "utilisation" => &mut m.utilisation,
        "active_w" => &mut m.active_w,
        "idle_w" => &mut m.idle_w,
        "grid_gco2e_per_kwh" => &mut m.grid_gco2e_per_kwh,
        "embodied_kgco2e" => &mut m.embodied_kgco2e,
        _ => &mut m.work_per_year,
    };
    *f *= factor;
    if input == "utilisation" {
        m.utilisation = m.utilisation.min(1.0);
    }
    m
}

/// A figure and its interval, with a flag for estimated or modeled energy.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CostFigure {
    pub value: f64,
    pub ci95: Option<(f64, f64)>,
}

impl CostFigure {
    fn of(e: Estimate, scale: f64) -> CostFigure {
        CostFigure {
            value: e.value * scale,
            ci95: e.interval().map(|(l, h)| (l * scale, h * scale)),
        }
    }

    pub fn text(&self) -> String {
        Figure::new(self.value, self.ci95).text()
    }
}

/// Which energy a figure used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnergyUsed {
    pub scope: Scope,
    pub method: Method,
    pub meter: String,
    /// Node level (the host included), or the device's own scope.
    pub node_level: bool,
    /// A node-level figure summed from component meters (no node meter):
    /// `covers` names them and what the sum leaves out.
    pub component_sum: bool,
    /// What the reading covers, as the meter (or the sum) says.
    pub covers: String,
}

impl EnergyUsed {
    /// What rankings compare like with like: the scope and whether it was
    /// measured (`node measured`, `cpu-package estimated`).
    pub fn kind(&self) -> String {
        format!(
            "{} {}",
            self.scope.as_str(),
            if self.method.is_measured() {
                "measured"
            } else {
                self.method.as_str()
            }
        )
    }

    /// `node/sampled`, `node/counter (component sum)`,
    /// `cpu-package/counter (device only)`, with ` ESTIMATED` or
    /// ` MODELED` where it applies.
    pub fn text(&self) -> String {
        format!(
            "{}/{}{}{}",
            self.scope.as_str(),
            self.method.as_str(),
            match (self.node_level, self.component_sum) {
                (true, true) => " (component sum)",
                (true, false) => "",
                (false, _) => " (device only)",
            },
            match self.method {
                Method::Estimated => " ESTIMATED",
                Method::Modeled => " MODELED",
                _ => "",
            }
        )
    }
}

/// Cost and carbon of one device and one result.
#[derive(Debug, Clone, Serialize)]
pub struct CostRow {
    pub subject: Subject,
    pub label: String,
    /// The economics entry (`match` pattern) it used.
    pub platform: String,
    pub kernel: String,
    pub size: String,
    pub precision: Precision,
    /// The unit of work, e.g. `GFLOP`.
    pub work_unit: String,
    pub energy: EnergyUsed,
    pub active: Power,
    pub idle: Power,
    pub idle_origin: Origin,
    pub model: CostModel,
    pub tco_eur: CostFigure,
    pub work_per_eur: CostFigure,
    pub eur_per_1e9: CostFigure,
    pub kg_per_1e9: CostFigure,
    /// Whether it used estimated (or modeled) energy.
    pub estimated: bool,
    pub modeled: bool,
}

/// Cost and carbon of one device per score-year of one domain.
#[derive(Debug, Clone, Serialize)]
pub struct DomainCost {
    pub subject: Subject,
    pub label: String,
    pub domain: String,
    pub score: CostFigure,
    pub active: Power,
    pub idle: Power,
    pub model: CostModel,
    pub tco_eur: CostFigure,
    pub eur_per_score_year: CostFigure,
    pub kg_per_score_year: CostFigure,
    pub energy: String,
    /// The scope(s) and measured-ness, as [`EnergyUsed::kind`].
    pub energy_kind: String,
    pub estimated: bool,
    pub modeled: bool,
}

/// A node's figures per kHS23-year, where its HS23 figure is given.
#[derive(Debug, Clone, Serialize)]
pub struct Hs23Cost {
    pub label: String,
    pub hs23: f64,
    /// Where the HS23 figure came from (given, or a suite report).
    pub hs23_origin: Origin,
    /// Power: the mean over every result of the device.
    pub active: Power,
    pub tco_eur: CostFigure,
    pub eur_per_khs23_year: CostFigure,
    pub kg_per_khs23_year: CostFigure,
    pub estimated: bool,
}

/// One input moved by -/+ the fraction, and the figures' relative change.
#[derive(Debug, Clone, Serialize)]
pub struct SensitivityRow {
    pub input: &'static str,
    pub value: f64,
    /// (figure at -fraction, at +fraction) / figure - 1.
    pub eur_change: (f64, f64),
    pub kg_change: (f64, f64),
}

/// The two best of a comparable group, and where they swap.
#[derive(Debug, Clone, Serialize)]
pub struct Ranking {
    /// `gemm medium f32` or `domain ml`.
    pub group: String,
    /// `EUR per 10^9 GFLOP` or `EUR per score-year`.
    pub figure: String,
    /// Devices ranked by cost, cheapest first.
    pub by_cost: Vec<(String, f64)>,
    /// Devices ranked by emissions (kgCO2e per the same work), least first.
    pub by_carbon: Vec<(String, f64)>,
    /// Whether the two cheapest's intervals of the ratio exclude a tie.
    pub cost_distinct: Option<bool>,
    /// Electricity price (EUR/kWh) at which the two cheapest swap, if one
    /// above 0 exists.
    pub break_even_eur_per_kwh: Option<f64>,
    /// Grid intensity (gCO2e/kWh) at which the two least emitting swap.
    pub break_even_gco2e_per_kwh: Option<f64>,
    /// Set when the two cheapest used energy of different scopes, or one
    /// measured and one not: then they are not compared like with like.
    pub scope_note: Option<String>,
    /// The sensitivity of the cheapest device's figures.
    pub sensitivity_of: String,
    pub sensitivity: Vec<SensitivityRow>,
}

/// Every cost figure of a dataset.
#[derive(Debug, Clone, Serialize)]
pub struct CostReport {
    pub economics: Economics,
    pub hours_per_year: f64,
    pub sensitivity_fraction: f64,
    pub include_estimated: bool,
    pub include_modeled: bool,
    pub intervals: String,
    pub modeled_left_out: usize,
    /// Devices with no economics entry.
    pub unpriced: Vec<String>,
    /// Results left out, and why (no energy reading, ...).
    pub skipped: Vec<String>,
    pub rows: Vec<CostRow>,
    pub domains: Vec<DomainCost>,
    /// Why there are no per-domain figures, when there are none.
    pub domains_note: Option<String>,
    pub hs23: Vec<Hs23Cost>,
    pub rankings: Vec<Ranking>,
    /// The domain weights of the score the per-domain figures come from
    /// (empty without one): what `plan` and the cost front weight by.
    pub weights: BTreeMap<String, f64>,
}

/// The price (or intensity) `x > 0` at which `(a1 + x b1) / w1` and
/// `(a2 + x b2) / w2` are equal, given as `(a, b, w)`; `None` when the
/// lines never cross above 0.
pub fn flip_point(one: (f64, f64, f64), two: (f64, f64, f64)) -> Option<f64> {
    let (a1, b1, w1) = one;
    let (a2, b2, w2) = two;
    let x = (a2 / w2 - a1 / w1) / (b1 / w1 - b2 / w2);
    (x.is_finite() && x > 0.0).then_some(x)
}

/// The reading a cost figure uses, and whether it is a sum of component
/// meters: the node-level reading ([`node_energy`], the figure
/// `--node-level` ranks: a node meter's, else the measured CPU package,
/// DRAM and GPU board meters summed over the result's window), else a
/// node-scope reading that is not measured, else the device's primary
/// reading.
fn energy_of(r: &ResultRecord) -> Option<(Cow<'_, EnergyReading>, bool)> {
    let ok = |e: &EnergyReading| e.avg_w > 0.0 && e.avg_w.is_finite();
    if let Some(e) = node_energy(r).filter(ok) {
        let sum = !r
            .energy
            .iter()
            .any(|x| x.scope == Scope::Node && x.meter == e.meter);
        return Some((Cow::Owned(e), sum));
    }
    r.energy
        .iter()
        .find(|e| ok(e) && e.scope == Scope::Node && !e.method.is_measured())
        .or_else(|| r.primary_energy().filter(|e| ok(e)))
        .map(|e| (Cow::Borrowed(e), false))
}

fn power_of(e: &EnergyReading, w: f64) -> Power {
    match e.method {
        Method::Counter | Method::Sampled => Power::exact(w),
        Method::Estimated => Power {
            w,
            ci95: Some((w / ESTIMATED_POWER_FACTOR, w * ESTIMATED_POWER_FACTOR)),
        },
        Method::Modeled => Power { w, ci95: None },
    }
}

/// The idle power: the platform's, the measured baseline, the site's.
fn idle_of(
    econ: &Economics,
    p: &PlatformEconomics,
    e: &EnergyReading,
    label: &str,
) -> Result<(Power, Origin)> {
    let given = |i: &Input| (Power::exact(i.value), i.origin.clone());
    if let Some(i) = &p.idle_w {
        return Ok(given(i));
    }
    if let Some(w) = e.idle_w.filter(|w| w.is_finite() && *w >= 0.0) {
        return Ok((
            power_of(e, w),
            Origin::Measured {
                meter: e.meter.clone(),
            },
        ));
    }
    match &econ.site.idle_w {
        Some(i) => Ok(given(i)),
        None => Err(Error::InvalidValue {
            what: format!("economics file {}", econ.path),
            message: format!(
                "{label} has no measured idle baseline: give `idle_w` in its [[platform]] entry ('{}', line {}) or in [site]",
                p.pattern, p.line
            ),
        }),
    }
}

/// TCO and emissions with their intervals from the power intervals.
fn lifetime_estimates(m: &CostModel, active: Power, idle: Power) -> (Estimate, Estimate) {
    let bounds = active.ci95.zip(idle.ci95);
    let est = |f: &dyn Fn(&CostModel) -> f64| {
        let v = f(m);
        bounds
            .and_then(|((al, ah), (il, ih))| {
                Estimate::with_interval(v, f(&m.with_powers(al, il)), f(&m.with_powers(ah, ih)))
            })
            .or_else(|| Estimate::bare(v))
    };
    let tco = est(&|m| m.tco_eur());
    let kg = est(&|m| m.kg());
    let none = Estimate {
        value: 0.0,
        se_log: None,
    };
    (tco.unwrap_or(none), kg.unwrap_or(none))
}

fn per_work(total: Estimate, work: &Estimate) -> Estimate {
    if total.value > 0.0 {
        total.ratio(work)
    } else {
        Estimate {
            value: 0.0,
            se_log: None,
        }
    }
}

fn site_model(econ: &Economics, p: &PlatformEconomics) -> CostModel {
    let s = &econ.site;
    CostModel {
        purchase_eur: p.purchase_eur.value,
        maintenance_eur_per_year: p.maintenance_eur_per_year.value,
        lifetime_years: p.lifetime_years.value,
        pue: s.pue.value,
        electricity_eur_per_kwh: s.electricity_eur_per_kwh.value,
        grid_gco2e_per_kwh: s.grid_gco2e_per_kwh.value,
        utilisation: s.utilisation.value,
        active_w: 0.0,
        idle_w: 0.0,
        embodied_kgco2e: p.embodied_kgco2e.value,
        work_per_year: 0.0,
    }
}

/// One result's row; `Ok(None)` with a reason pushed to `skipped`.
fn row(
    econ: &Economics,
    p: &PlatformEconomics,
    subject: &Subject,
    r: &ResultRecord,
    skipped: &mut Vec<String>,
) -> Result<Option<CostRow>> {
    let label = subject.label();
    let what = format!("{label} {} {} {}", r.kernel, r.size, r.precision);
    let Some(t) = throughput_estimate(r) else {
        skipped.push(format!("{what}: no throughput"));
        return Ok(None);
    };
    let Some((e, component_sum)) = energy_of(r) else {
        skipped.push(format!("{what}: no energy reading"));
        return Ok(None);
    };
    let e = e.as_ref();
    let active = power_of(e, e.avg_w);
    let (idle, idle_origin) = idle_of(econ, p, e, &label)?;
    let model = CostModel {
        active_w: active.w,
        idle_w: idle.w,
        work_per_year: t.value * HOURS_PER_YEAR * 3600.0,
        ..site_model(econ, p)
    };
    let (tco, kg) = lifetime_estimates(&model, active, idle);
    let constant = model.work() / t.value;
    let work = Estimate::exact(constant).map_or(t, |c| product_of(&t, &c));
    let eur = per_work(tco, &work);
    let kgw = per_work(kg, &work);
    Ok(Some(CostRow {
        subject: subject.clone(),
        label,
        platform: p.pattern.clone(),
        kernel: r.kernel.clone(),
        size: r.size.clone(),
        precision: r.precision,
        work_unit: r
            .throughput_unit
            .strip_suffix("/s")
            .unwrap_or(&r.throughput_unit)
            .to_string(),
        energy: EnergyUsed {
            scope: e.scope,
            method: e.method,
            meter: e.meter.clone(),
            node_level: e.scope == Scope::Node,
            component_sum,
            covers: e.covers.clone(),
        },
        active,
        idle,
        idle_origin,
        model,
        tco_eur: CostFigure::of(tco, 1.0),
        work_per_eur: CostFigure::of(work.ratio(&tco), 1.0),
        eur_per_1e9: CostFigure::of(eur, 1e9),
        kg_per_1e9: CostFigure::of(kgw, 1e9),
        estimated: !e.method.is_measured(),
        modeled: subject.modeled || e.method == Method::Modeled,
    }))
}

fn product_of(a: &Estimate, b: &Estimate) -> Estimate {
    crate::report::stats::product(&[(*a, 1.0), (*b, 1.0)]).unwrap_or(*a)
}

/// Same device, whatever its display name.
fn same_device(a: &Subject, b: &Subject) -> bool {
    a.hostname == b.hostname
        && a.platform_hash == b.platform_hash
        && a.backend == b.backend
        && a.device == b.device
}

fn energy_summary(rows: &[&CostRow], f: &dyn Fn(&EnergyUsed) -> String) -> String {
    let set: BTreeSet<String> = rows.iter().map(|r| f(&r.energy)).collect();
    set.into_iter().collect::<Vec<_>>().join(", ")
}

/// Per-domain figures from the score's domain scores.
fn domain_costs(rows: &[CostRow], score: &ScoreReport) -> Vec<DomainCost> {
    let mut out = Vec::new();
    for sc in &score.subjects {
        let mine: Vec<&CostRow> = rows
            .iter()
            .filter(|r| same_device(&r.subject, &sc.subject))
            .collect();
        let Some(first) = mine.first() else { continue };
        for d in &sc.domains {
            let kernels: BTreeSet<&str> = sc
                .kernels
                .iter()
                .filter(|k| k.domain == d.domain)
                .map(|k| k.kernel.as_str())
                .collect();
            let of_d: Vec<&CostRow> = mine
                .iter()
                .copied()
                .filter(|r| kernels.contains(r.kernel.as_str()))
                .collect();
            let actives: Vec<Power> = of_d.iter().map(|r| r.active).collect();
            let idles: Vec<Power> = of_d.iter().map(|r| r.idle).collect();
            let (Some(active), Some(idle)) = (Power::mean(&actives), Power::mean(&idles)) else {
                continue;
            };
            let s = match d.score_ci95 {
                Some((l, h)) => Estimate::with_interval(d.score, l, h),
                None => Estimate::bare(d.score),
            };
            let Some(s) = s else { continue };
            let model = CostModel {
                active_w: active.w,
                idle_w: idle.w,
                work_per_year: s.value,
                ..first.model
            };
            let (tco, kg) = lifetime_estimates(&model, active, idle);
            let work = Estimate::exact(model.work() / s.value).map_or(s, |c| product_of(&s, &c));
            out.push(DomainCost {
                subject: first.subject.clone(),
                label: first.label.clone(),
                domain: d.domain.as_str().to_string(),
                score: CostFigure::of(s, 1.0),
                active,
                idle,
                model,
                tco_eur: CostFigure::of(tco, 1.0),
                eur_per_score_year: CostFigure::of(per_work(tco, &work), 1.0),
                kg_per_score_year: CostFigure::of(per_work(kg, &work), 1.0),
                energy: energy_summary(&of_d, &EnergyUsed::text),
                energy_kind: energy_summary(&of_d, &EnergyUsed::kind),
                estimated: of_d.iter().any(|r| r.estimated),
                modeled: of_d.iter().any(|r| r.modeled),
            });
        }
    }
    out
}

/// Per-kHS23-year figures for devices whose platform gives `hs23`.
fn hs23_costs(econ: &Economics, rows: &[CostRow]) -> Result<Vec<Hs23Cost>> {
    let mut by_subject: BTreeMap<&Subject, Vec<&CostRow>> = BTreeMap::new();
    for r in rows {
        by_subject.entry(&r.subject).or_default().push(r);
    }
    let mut out = Vec::new();
    for (subject, rs) in by_subject {
        let Some(p) = econ.for_subject(subject)? else {
            continue;
        };
        let Some(hs) = &p.hs23 else { continue };
        let actives: Vec<Power> = rs.iter().map(|r| r.active).collect();
        let idles: Vec<Power> = rs.iter().map(|r| r.idle).collect();
        let (Some(active), Some(idle)) = (Power::mean(&actives), Power::mean(&idles)) else {
            continue;
        };
        let model = CostModel {
            active_w: active.w,
            idle_w: idle.w,
            work_per_year: hs.value / 1000.0,
            ..rs[0].model
        };
        let (tco, kg) = lifetime_estimates(&model, active, idle);
        let work = Estimate {
            value: model.work(),
            se_log: Some((0.0, 0.0)),
        };
        out.push(Hs23Cost {
            label: rs[0].label.clone(),
            hs23: hs.value,
            hs23_origin: hs.origin.clone(),
            active,
            tco_eur: CostFigure::of(tco, 1.0),
            eur_per_khs23_year: CostFigure::of(per_work(tco, &work), 1.0),
            kg_per_khs23_year: CostFigure::of(per_work(kg, &work), 1.0),
            estimated: rs.iter().any(|r| r.estimated),
        });
    }
    Ok(out)
}

/// One device's part in a ranking.
struct Entry {
    label: String,
    model: CostModel,
    /// Figures are per `scale` units of work (10^9 per result, 1 per
    /// score-year), and the throughput shown is `work_per_year / rate`.
    scale: f64,
    rate: f64,
    /// The energy its figures used, as [`EnergyUsed::kind`].
    energy: String,
    eur: CostFigure,
    eur_estimate: Option<Estimate>,
}

/// Each input moved by -/+ `fraction`; the throughput is shown as
/// `work_per_year / rate` (per second for a result).
fn sensitivity(m: &CostModel, fraction: f64, rate: f64) -> Vec<SensitivityRow> {
    let (eur, kg) = (m.eur_per_work(), m.kg_per_work());
    SENSITIVITY_INPUTS
        .iter()
        .map(|&input| {
            let lo = moved(m, input, 1.0 - fraction);
            let hi = moved(m, input, 1.0 + fraction);
            SensitivityRow {
                input,
                value: match input {
                    "throughput" => m.work_per_year / rate,
                    _ => field(m, input),
                },
                eur_change: (lo.eur_per_work() / eur - 1.0, hi.eur_per_work() / eur - 1.0),
                kg_change: (lo.kg_per_work() / kg - 1.0, hi.kg_per_work() / kg - 1.0),
            }
        })
        .collect()
}

/// The value of one of [`SENSITIVITY_INPUTS`].
fn field(x: &CostModel, input: &str) -> f64 {
    match input {
        "purchase_eur" => x.purchase_eur,
        "maintenance_eur_per_year" => x.maintenance_eur_per_year,
        "lifetime_years" => x.lifetime_years,
        "electricity_eur_per_kwh" => x.electricity_eur_per_kwh,
        "pue" => x.pue,
        "utilisation" => x.utilisation,
        "active_w" => x.active_w,
        "idle_w" => x.idle_w,
        "grid_gco2e_per_kwh" => x.grid_gco2e_per_kwh,
        "embodied_kgco2e" => x.embodied_kgco2e,
        _ => x.work_per_year,
    }
}

fn ranking(
    group: String,
    figure: String,
    mut entries: Vec<Entry>,
    fraction: f64,
) -> Option<Ranking> {
    if entries.len() < 2 {
        return None;
    }
    entries.sort_by(|a, b| a.eur.value.total_cmp(&b.eur.value));
    let mut by_kg: Vec<&Entry> = entries.iter().collect();
    by_kg.sort_by(|a, b| a.model.kg_per_work().total_cmp(&b.model.kg_per_work()));
    let line = |e: &Entry, fixed: f64, per: f64| (fixed, per, e.model.work());
    let price = |e: &Entry| line(e, e.model.fixed_eur(), e.model.energy_kwh());
    let grid = |e: &Entry| line(e, e.model.embodied_kgco2e, e.model.energy_kwh() / 1000.0);
    let cost_distinct = match (entries[0].eur_estimate, entries[1].eur_estimate) {
        (Some(a), Some(b)) => Some(a.ratio(&b).excludes(1.0).is_some()),
        _ => None,
    };
    Some(Ranking {
        group,
        figure,
        by_cost: entries
            .iter()
            .map(|e| (e.label.clone(), e.eur.value))
            .collect(),
        by_carbon: by_kg
            .iter()
            .map(|e| (e.label.clone(), e.model.kg_per_work() * e.scale))
            .collect(),
        cost_distinct,
        break_even_eur_per_kwh: flip_point(price(&entries[0]), price(&entries[1])),
        break_even_gco2e_per_kwh: flip_point(grid(by_kg[0]), grid(by_kg[1])),
        scope_note: (entries[0].energy != entries[1].energy).then(|| {
            format!(
                "energy differs: {} ({}) against {} ({})",
                entries[0].label, entries[0].energy, entries[1].label, entries[1].energy
            )
        }),
        sensitivity_of: entries[0].label.clone(),
        sensitivity: sensitivity(&entries[0].model, fraction, entries[0].rate),
    })
}

fn rankable_row(estimated: bool, opts: &CostOptions) -> bool {
    !estimated || opts.include_estimated
}

fn rankings(rows: &[CostRow], domains: &[DomainCost], opts: &CostOptions) -> Vec<Ranking> {
    let mut groups: BTreeMap<String, (String, Vec<Entry>)> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| rankable_row(r.estimated && !r.modeled, opts))
    {
        let key = format!("{} {} {}", r.kernel, r.size, r.precision);
        groups
            .entry(key)
            .or_insert_with(|| (format!("EUR per 10^9 {}", r.work_unit), Vec::new()))
            .1
            .push(Entry {
                label: r.label.clone(),
                model: r.model,
                scale: 1e9,
                rate: HOURS_PER_YEAR * 3600.0,
                energy: r.energy.kind(),
                eur: r.eur_per_1e9,
                eur_estimate: eur_estimate(&r.eur_per_1e9),
            });
    }
    for d in domains
        .iter()
        .filter(|d| rankable_row(d.estimated && !d.modeled, opts))
    {
        groups
            .entry(format!("domain {}", d.domain))
            .or_insert_with(|| ("EUR per score-year".into(), Vec::new()))
            .1
            .push(Entry {
                label: d.label.clone(),
                model: d.model,
                scale: 1.0,
                rate: 1.0,
                energy: d.energy_kind.clone(),
                eur: d.eur_per_score_year,
                eur_estimate: eur_estimate(&d.eur_per_score_year),
            });
    }
    groups
        .into_iter()
        .filter_map(|(group, (figure, entries))| ranking(group, figure, entries, opts.sensitivity))
        .collect()
}

fn eur_estimate(f: &CostFigure) -> Option<Estimate> {
    let (l, h) = f.ci95?;
    Estimate::with_interval(f.value, l, h)
}

pub const INTERVALS: &str = "95% intervals: throughput from each result's median-time interval (a score from its own); TCO and emissions at the ends of the power interval (measured power as read, estimated x/÷1.5, modeled none); combined on the log scale; economics inputs are constants";

/// Every cost figure of `results` under `economics`; `score` (when there
/// is one) gives the per-domain figures, `score_note` says why not.
pub fn cost(
    results: &[ResultRecord],
    economics: &Economics,
    score: std::result::Result<&ScoreReport, String>,
    opts: &CostOptions,
) -> Result<CostReport> {
    if !(opts.sensitivity > 0.0 && opts.sensitivity < 1.0) {
        return Err(Error::InvalidValue {
            what: "--sensitivity".into(),
            message: format!("{}: a fraction in (0, 1)", opts.sensitivity),
        });
    }
    let (selected, modeled_left_out) = rankable(results, opts.include_modeled);
    if selected.is_empty() && modeled_left_out > 0 {
        return Err(Error::NoResults(format!(
            "no measured results to cost{}",
            modeled_hint(modeled_left_out)
        )));
    }
    let data = Dataset::require(&selected, "the database")?;
    let mut rows = Vec::new();
    let mut unpriced = Vec::new();
    let mut skipped = Vec::new();
    for (subject, by_key) in &data.subjects {
        let Some(p) = economics.for_subject(subject)? else {
            unpriced.push(subject.label());
            continue;
        };
        for r in by_key.values() {
            if let Some(row) = row(economics, p, subject, r, &mut skipped)? {
                rows.push(row);
            }
        }
    }
    if rows.is_empty() {
        return Err(Error::NoResults(format!(
            "no result to cost: {}",
            if unpriced.is_empty() {
                "none has an energy reading".to_string()
            } else {
                format!(
                    "no [[platform]] entry of {} matches {}",
                    economics.path,
                    unpriced.join(", ")
                )
            }
        )));
    }
    let weights = score
        .as_ref()
        .map(|s| s.weights.clone())
        .unwrap_or_default();
    let (domains, domains_note) = match score {
        Ok(s) => (domain_costs(&rows, s), None),
        Err(why) => (Vec::new(), Some(why)),
    };
    let hs23 = hs23_costs(economics, &rows)?;
    let rankings = rankings(&rows, &domains, opts);
    Ok(CostReport {
        economics: economics.clone(),
        hours_per_year: HOURS_PER_YEAR,
        sensitivity_fraction: opts.sensitivity,
        include_estimated: opts.include_estimated,
        include_modeled: opts.include_modeled,
        intervals: INTERVALS.into(),
        modeled_left_out,
        unpriced,
        skipped,
        rows,
        domains,
        domains_note,
        hs23,
        rankings,
        weights,
    })
}

/// One table of a cost report, as text cells: what the terminal and the
/// HTML report show.
#[derive(Debug, Clone, Serialize)]
pub struct CostTable {
    pub title: String,
    pub headings: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

fn mark(s: String, estimated: bool, modeled: bool) -> String {
    if modeled {
        format!("{s} (MODELED)")
    } else if estimated {
        format!("{s} (ESTIMATED)")
    } else {
        s
    }
}

fn power_text(p: &Power) -> String {
    match p.ci95 {
        Some((l, h)) if l < h => Figure::new(p.w, Some((l, h))).text(),
        _ => format_value(p.w),
    }
}

fn pct(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

impl CostReport {
    /// The inputs: site, then each platform entry, each with its origin.
    pub fn inputs_table(&self) -> CostTable {
        let s = &self.economics.site;
        let mut rows = vec![
            vec![
                "site".into(),
                "pue".into(),
                format_value(s.pue.value),
                s.pue.origin.text(),
            ],
            vec![
                "site".into(),
                "electricity_eur_per_kwh".into(),
                format_value(s.electricity_eur_per_kwh.value),
                s.electricity_eur_per_kwh.origin.text(),
            ],
            vec![
                "site".into(),
                "grid_gco2e_per_kwh".into(),
                format_value(s.grid_gco2e_per_kwh.value),
                s.grid_gco2e_per_kwh.origin.text(),
            ],
            vec![
                "site".into(),
                "utilisation".into(),
                format_value(s.utilisation.value),
                s.utilisation.origin.text(),
            ],
        ];
        if let Some(i) = &s.idle_w {
            rows.push(vec![
                "site".into(),
                "idle_w".into(),
                format_value(i.value),
                i.origin.text(),
            ]);
        }
        for p in &self.economics.platforms {
            let mut add = |name: &str, i: &Input| {
                rows.push(vec![
                    p.pattern.clone(),
                    name.into(),
                    format_value(i.value),
                    i.origin.text(),
                ])
            };
            add("purchase_eur", &p.purchase_eur);
            add("maintenance_eur_per_year", &p.maintenance_eur_per_year);
            add("lifetime_years", &p.lifetime_years);
            add("rack_units", &p.rack_units);
            add("embodied_kgco2e", &p.embodied_kgco2e);
            if let Some(i) = &p.hs23 {
                add("hs23", i);
            }
            if let Some(i) = &p.idle_w {
                add("idle_w", i);
            }
        }
        CostTable {
            title: format!("inputs ({})", self.economics.path),
            headings: ["platform", "input", "value", "origin"]
                .map(String::from)
                .to_vec(),
            rows,
        }
    }

    /// What a `node (component sum)` figure covers, where a row has one.
    pub fn component_sum_note(&self) -> Option<String> {
        self.rows.iter().any(|r| r.energy.component_sum).then(|| {
            format!(
                "node (component sum): a node without a node meter is costed at the sum of its measured CPU package, DRAM and GPU board meters over the result's window (the figure `--node-level` ranks), which leaves out {}",
                crate::power::node::LEAVES_OUT
            )
        })
    }

    /// One row per device and result.
    pub fn results_table(&self) -> CostTable {
        CostTable {
            title: "per result: lifetime TCO, EUR and kgCO2e per 10^9 units of work".into(),
            headings: [
                "device",
                "kernel",
                "energy (scope/method)",
                "active W",
                "idle W (origin)",
                "TCO EUR [95%]",
                "EUR per 10^9 units [95%]",
                "kgCO2e per 10^9 units [95%]",
                "units per EUR [95%]",
            ]
            .map(String::from)
            .to_vec(),
            rows: self
                .rows
                .iter()
                .map(|r| {
                    let m = |s: String| mark(s, r.estimated, r.modeled);
                    vec![
                        r.label.clone(),
                        format!("{} {} {} ({})", r.kernel, r.size, r.precision, r.work_unit),
                        r.energy.text(),
                        m(power_text(&r.active)),
                        format!("{} ({})", power_text(&r.idle), r.idle_origin.text()),
                        m(r.tco_eur.text()),
                        m(r.eur_per_1e9.text()),
                        m(r.kg_per_1e9.text()),
                        m(r.work_per_eur.text()),
                    ]
                })
                .collect(),
        }
    }

    /// One row per device and domain (score-years), and per kHS23-year.
    pub fn domains_table(&self) -> CostTable {
        let mut rows: Vec<Vec<String>> = self
            .domains
            .iter()
            .map(|d| {
                let m = |s: String| mark(s, d.estimated, d.modeled);
                vec![
                    d.label.clone(),
                    d.domain.clone(),
                    d.score.text(),
                    d.energy.clone(),
                    m(power_text(&d.active)),
                    m(d.tco_eur.text()),
                    m(d.eur_per_score_year.text()),
                    m(d.kg_per_score_year.text()),
                ]
            })
            .collect();
        for h in &self.hs23 {
            let m = |s: String| mark(s, h.estimated, false);
            rows.push(vec![
                h.label.clone(),
                "kHS23".into(),
                format!("{} HS23 ({})", format_value(h.hs23), h.hs23_origin.text()),
                "mean of the device's results".into(),
                m(power_text(&h.active)),
                m(h.tco_eur.text()),
                m(h.eur_per_khs23_year.text()),
                m(h.kg_per_khs23_year.text()),
            ]);
        }
        CostTable {
            title: "per domain: EUR and kgCO2e per score-year (HS23 rows: per kHS23-year)".into(),
            headings: [
                "device",
                "domain",
                "score [95%]",
                "energy",
                "mean active W",
                "TCO EUR [95%]",
                "EUR per score-year [95%]",
                "kgCO2e per score-year [95%]",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        }
    }

    /// The two best per group and where they swap.
    pub fn rankings_table(&self) -> CostTable {
        let opt = |x: Option<f64>, unit: &str| match x {
            Some(v) => format!("{} {unit}", format_value(v)),
            None => "none above 0".into(),
        };
        CostTable {
            title: "rankings: the two cheapest and least emitting, and where they swap".into(),
            headings: [
                "group",
                "figure",
                "cheapest, then",
                "distinct (95%)",
                "break-even price",
                "least kgCO2e, then",
                "break-even grid intensity",
            ]
            .map(String::from)
            .to_vec(),
            rows: self
                .rankings
                .iter()
                .map(|k| {
                    let two = |v: &[(String, f64)]| {
                        v.iter()
                            .take(2)
                            .map(|(l, x)| format!("{l} {}", format_value(*x)))
                            .collect::<Vec<_>>()
                            .join("; ")
                    };
                    vec![
                        k.group.clone(),
                        k.figure.clone(),
                        two(&k.by_cost),
                        format!(
                            "{}{}",
                            match k.cost_distinct {
                                Some(true) => "yes",
                                Some(false) => "no: intervals overlap",
                                None => "no interval",
                            },
                            match &k.scope_note {
                                Some(n) => format!("; {n}"),
                                None => String::new(),
                            }
                        ),
                        opt(k.break_even_eur_per_kwh, "EUR/kWh"),
                        two(&k.by_carbon),
                        opt(k.break_even_gco2e_per_kwh, "gCO2e/kWh"),
                    ]
                })
                .collect(),
        }
    }

    /// Each ranking's cheapest device: each input moved by -/+ the fraction.
    pub fn sensitivity_table(&self) -> CostTable {
        let f = self.sensitivity_fraction;
        CostTable {
            title: format!("sensitivity of the cheapest device per group: each input x(1 -/+ {f})"),
            headings: [
                "group",
                "device",
                "input",
                "value",
                "EUR/work at -, +",
                "kgCO2e/work at -, +",
            ]
            .map(String::from)
            .to_vec(),
            rows: self
                .rankings
                .iter()
                .flat_map(|k| {
                    k.sensitivity.iter().map(|s| {
                        vec![
                            k.group.clone(),
                            k.sensitivity_of.clone(),
                            s.input.to_string(),
                            format_value(s.value),
                            format!("{}, {}", pct(s.eur_change.0), pct(s.eur_change.1)),
                            format!("{}, {}", pct(s.kg_change.0), pct(s.kg_change.1)),
                        ]
                    })
                })
                .collect(),
        }
    }

    /// Every table, in the order the terminal shows them: the data an HTML
    /// section (and a tornado plot from [`Ranking::sensitivity`]) needs.
    pub fn tables(&self) -> Vec<CostTable> {
        vec![
            self.inputs_table(),
            self.results_table(),
            self.domains_table(),
            self.rankings_table(),
            self.sensitivity_table(),
        ]
    }

    /// The report as plain text.
    pub fn text(&self) -> String {
        use crate::report::table::render_text;
        let mut s = format!(
            "cost and carbon over each platform's lifetime ({} h/year of service, utilisation {}); {}\n",
            self.hours_per_year,
            format_value(self.economics.site.utilisation.value),
            self.intervals
        );
        if self.include_modeled {
            s.push_str("modeled results (FPGA emulation) included, labelled MODELED\n");
        } else if self.modeled_left_out > 0 {
            s.push_str(&format!(
                "{} modeled result(s) (FPGA emulation) left out; --include-modeled costs them, labelled\n",
                self.modeled_left_out
            ));
        }
        s.push_str(if self.include_estimated {
            "rankings include estimated energy (labelled)\n"
        } else {
            "rankings use measured energy only (estimated rows shown, labelled; --include-estimated ranks them)\n"
        });
        for u in &self.unpriced {
            s.push_str(&format!("no economics entry matches {u}: left out\n"));
        }
        for k in &self.skipped {
            s.push_str(&format!("left out: {k}\n"));
        }
        if let Some(n) = &self.domains_note {
            s.push_str(&format!("no per-domain figures: {n}\n"));
        }
        if let Some(note) = self.component_sum_note() {
            s.push_str(&format!("{note}\n"));
        }
        for t in self.tables() {
            s.push_str(&format!("\n{}\n", t.title));
            let h: Vec<&str> = t.headings.iter().map(String::as_str).collect();
            s.push_str(&render_text(&h, &t.rows));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> CostModel {
        CostModel {
            purchase_eur: 10_000.0,
            maintenance_eur_per_year: 500.0,
            lifetime_years: 4.0,
            pue: 1.5,
            electricity_eur_per_kwh: 0.2,
            grid_gco2e_per_kwh: 50.0,
            utilisation: 0.5,
            active_w: 300.0,
            idle_w: 100.0,
            embodied_kgco2e: 1000.0,
            work_per_year: 1e12,
        }
    }

    #[test]
    fn lifetime_figures_by_hand() {
        let m = model();
        // (300 x 0.5 + 100 x 0.5) W = 200 W; x 8760 h x 4 y x 1.5 / 1000
        let kwh = 0.2 * 8760.0 * 4.0 * 1.5;
        assert!((m.energy_kwh() - kwh).abs() < 1e-9);
        assert!((m.tco_eur() - (10_000.0 + 2000.0 + kwh * 0.2)).abs() < 1e-9);
        assert!((m.kg() - (1000.0 + kwh * 0.05)).abs() < 1e-9);
        assert_eq!(m.work(), 2e12);
    }

    #[test]
    fn flip_point_is_where_the_lines_cross() {
        // A: (1000 + 100 x) / 10, B: (2000 + 50 x) / 10 cross at x = 20.
        assert_eq!(
            flip_point((1000.0, 100.0, 10.0), (2000.0, 50.0, 10.0)),
            Some(20.0)
        );
        // Parallel, and crossing below 0.
        assert_eq!(
            flip_point((1000.0, 100.0, 10.0), (2000.0, 100.0, 10.0)),
            None
        );
        assert_eq!(
            flip_point((2000.0, 100.0, 10.0), (1000.0, 50.0, 10.0)),
            None
        );
    }

    #[test]
    fn sensitivity_moves_one_input() {
        let m = model();
        let rows = sensitivity(&m, 0.2, 1.0);
        let price = rows
            .iter()
            .find(|r| r.input == "electricity_eur_per_kwh")
            .unwrap();
        let energy_share = m.energy_kwh() * 0.2 / m.tco_eur();
        assert!((price.eur_change.1 - 0.2 * energy_share).abs() < 1e-12);
        assert_eq!(price.kg_change, (0.0, 0.0));
        let t = rows.iter().find(|r| r.input == "throughput").unwrap();
        assert!((t.eur_change.1 - (1.0 / 1.2 - 1.0)).abs() < 1e-12);
    }
}
