//! `hetbench cost`: argument glue; the figures are computed in
//! `hetbench::report::cost`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use hetbench::kernels::Registry;
use hetbench::report::cost::{self, CostOptions};
use hetbench::report::economics::Economics;
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

pub fn cost(db_path: &Path, registry: &Registry, args: &CostArgs, json: bool) -> Result<ExitCode> {
    let economics = Economics::load(&args.economics).with_context(|| {
        format!(
            "could not read economics file '{}'",
            args.economics.display()
        )
    })?;
    let s = &args.score;
    let results = load_results(db_path, &s.filter, s.suite.as_deref())?;
    // Without a score there are no per-domain figures; the reason is shown.
    let scored =
        score::score(&results, &s.reference()?, registry, &s.options()?).map_err(|e| e.to_string());
    let opts = CostOptions {
        include_estimated: s.include_estimated,
        include_modeled: s.include_modeled,
        sensitivity: args.sensitivity,
    };
    let report = cost::cost(
        &results,
        &economics,
        scored.as_ref().map_err(Clone::clone),
        &opts,
    )?;
    if json {
        write_stdout(format!("{}\n", serde_json::to_string_pretty(&report)?).as_bytes())?;
    } else {
        write_stdout(report.text().as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
