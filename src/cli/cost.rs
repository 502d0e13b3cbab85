//! `hetbench cost`: argument glue; the figures are computed in
//! `hetbench::report::cost`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use hetbench::kernels::Registry;
use hetbench::report::cost::{self, CostOptions};
use hetbench::report::economics::Economics;
use hetbench::report::node_mix::{self, Limits};
use hetbench::report::score;

use super::report::{ScoreArgs, load_results};
use super::write_stdout;

#[derive(Args, Debug)]
pub struct CostArgs {
    /// Site economics file (TOML): per platform price, maintenance, lifetime, rack units, embodied kgCO2e; per site PUE, EUR/kWh, gCO2e/kWh, utilisation (see README.md and results/economics-example.toml)
    #[arg(long, value_name = "FILE")]
    economics: PathBuf,
    /// The +/- fraction each input is moved by in the sensitivity table
    #[arg(long, default_value_t = 0.2, value_name = "FRACTION")]
    sensitivity: f64,
    /// Score options: the per-domain figures are per score-year of `hetbench score` with these options
    #[command(flatten)]
    score: ScoreArgs,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Site economics file (TOML), as for `hetbench cost`
    #[arg(long, value_name = "FILE")]
    economics: PathBuf,
    /// What the nodes may cost over their lifetime (TCO: purchase, maintenance, energy), EUR
    #[arg(long, value_name = "EUR")]
    budget: f64,
    /// Power cap at the wall while all nodes work (PUE included), kW
    #[arg(long, value_name = "KW")]
    power_kw: f64,
    /// Rack units available
    #[arg(long, value_name = "U")]
    rack_units: f64,
    /// Meet this mix-weighted throughput (score points) at the least kgCO2e instead of maximising throughput
    #[arg(long, value_name = "SCORE")]
    target: Option<f64>,
    /// Score options (--weights sets the workload mix, as for `score`)
    #[command(flatten)]
    score: ScoreArgs,
}

/// The cost report and the score behind it.
pub(super) fn cost_report(
    db_path: &Path,
    registry: &Registry,
    economics_path: &Path,
    s: &ScoreArgs,
    sensitivity: f64,
) -> Result<(cost::CostReport, Result<score::ScoreReport, String>)> {
    let economics = Economics::load(economics_path).with_context(|| {
        format!(
            "could not read economics file '{}'",
            economics_path.display()
        )
    })?;
    let results = load_results(db_path, &s.filter, s.suite.as_deref())?;
    // Without a score there are no per-domain figures; the reason is shown.
    let scored =
        score::score(&results, &s.reference()?, registry, &s.options()?).map_err(|e| e.to_string());
    let opts = CostOptions {
        include_estimated: s.include_estimated,
        include_modeled: s.include_modeled,
        sensitivity,
    };
    let report = cost::cost(
        &results,
        &economics,
        scored.as_ref().map_err(Clone::clone),
        &opts,
    )?;
    Ok((report, scored))
}

pub fn cost(db_path: &Path, registry: &Registry, args: &CostArgs, json: bool) -> Result<ExitCode> {
    let (report, _) = cost_report(
        db_path,
        registry,
        &args.economics,
        &args.score,
        args.sensitivity,
    )?;
    if json {
        write_stdout(format!("{}\n", serde_json::to_string_pretty(&report)?).as_bytes())?;
    } else {
        write_stdout(report.text().as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn plan(db_path: &Path, registry: &Registry, args: &PlanArgs, json: bool) -> Result<ExitCode> {
    let (report, scored) = cost_report(db_path, registry, &args.economics, &args.score, 0.2)?;
    let scored = scored.map_err(|why| {
        hetbench::error::Error::NoResults(format!("a plan needs per-domain scores: {why}"))
    })?;
    let (candidates, notes) =
        node_mix::candidates(&report, &scored.weights, args.score.include_estimated)?;
    for n in &notes {
        eprintln!("note: {n}");
    }
    let plan = node_mix::plan(
        &candidates,
        &Limits {
            budget_eur: args.budget,
            power_kw: args.power_kw,
            rack_units: args.rack_units,
            target: args.target,
        },
    )?;
    if json {
        let v = serde_json::json!({ "candidates": candidates, "plan": plan });
        write_stdout(format!("{}\n", serde_json::to_string_pretty(&v)?).as_bytes())?;
    } else {
        let text = format!("{}{}", node_mix::candidates_text(&candidates), plan.text());
        write_stdout(text.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
