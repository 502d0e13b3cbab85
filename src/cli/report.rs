//! The decision makers' commands: `score`, `summary`, `compare`, `plot` and `report`.
//! Argument glue only; the figures are computed in `hetbench::report`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use hetbench::error::Error;
use hetbench::kernels::Registry;
use hetbench::report::compare::{self, Comparison};
use hetbench::report::data::{Dataset, modeled_hint, rankable};
use hetbench::report::plot::{self, Figure};
use hetbench::report::score::{self, Reference, ScoreOptions, ScoreReport};
use hetbench::report::summary;
use hetbench::store::{ResultRecord, RunRecord};

use super::{FilterArgs, open_existing_db, write_stdout};

#[derive(Args, Debug)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub(super) filter: FilterArgs,
    /// Reference run file, or a directory of them (default: the built-in reference of results/reference/)
    #[arg(long, env = "HETBENCH_REFERENCE", value_name = "PATH")]
    reference: Option<PathBuf>,
    /// Only results of this suite version (scores never mix suite versions)
    #[arg(long, value_name = "VERSION")]
    pub(super) suite: Option<String>,
    /// Count the micro domain (stream_triad, ...) in the overall score
    #[arg(long)]
    include_micro: bool,
    /// Let estimated energy into per-watt figures (always labelled)
    #[arg(long)]
    pub(super) include_estimated: bool,
    /// Rank modeled results (FPGA emulation: modeled time and energy) beside measured ones (labelled [MODELED])
    #[arg(long)]
    pub(super) include_modeled: bool,
    /// Weights of domains in the overall score and of kernels within their domain (default 1, micro 0; a domain may be 0), e.g. simulation=0.5,reconstruction=0.3,ml=0.2,gemm=2
    #[arg(long, alias = "weight", value_name = "NAME=W", value_delimiter = ',', value_parser = parse_weight)]
    weights: Vec<(String, f64)>,
    /// Compute an overall score even when a device covers only part of the suite (the coverage is shown)
    #[arg(long)]
    allow_partial: bool,
    /// Per-watt figures at node level, so that CPUs and GPUs rank together: a node meter's reading, else the CPU package, DRAM and GPU board meters summed over the same window (labelled with what the sum leaves out); devices without one get no per-watt figure
    #[arg(long)]
    node_level: bool,
}

/// One `--weights` item, `NAME=NUMBER`; whether NAME is a domain or a
/// kernel, and the number positive, the score decides.
fn parse_weight(item: &str) -> std::result::Result<(String, f64), String> {
    item.split_once('=')
        .and_then(|(k, v)| {
            v.trim()
                .parse::<f64>()
                .ok()
                .map(|v| (k.trim().to_string(), v))
        })
        .ok_or_else(|| format!("'{item}' is not NAME=NUMBER (a domain or kernel name)"))
}

impl ScoreArgs {
    pub(super) fn options(&self) -> Result<ScoreOptions> {
        let weights = self.weights.iter().cloned().collect();
        Ok(ScoreOptions {
            include_micro: self.include_micro,
            include_estimated: self.include_estimated,
            include_modeled: self.include_modeled,
            weights,
            allow_partial: self.allow_partial,
            suite: self.suite.clone(),
            node_level: self.node_level,
        })
    }

    pub(super) fn reference(&self) -> Result<Reference> {
        Ok(match &self.reference {
            Some(path) => Reference::load(path)
                .with_context(|| format!("could not load reference '{}'", path.display()))?,
            None => Reference::builtin()?,
        })
    }
}

/// The filtered results of an existing database (an error, exit 2, when
/// there is no database: reading must not create an empty one).
pub(super) fn load_results(
    db_path: &Path,
    filter: &FilterArgs,
    suite: Option<&str>,
) -> Result<Vec<ResultRecord>> {
    let db = open_existing_db(db_path)?;
    let mut results = super::read_results(&db, filter)?;
    if let Some(s) = suite {
        results.retain(|r| r.suite_version == s);
    }
    Ok(results)
}

pub(super) fn source(db_path: &Path) -> String {
    format!(
        "database '{}'",
        hetbench::store::redact(&db_path.to_string_lossy())
    )
}

/// The filtered results and their score.
fn scored(
    db_path: &Path,
    registry: &Registry,
    args: &ScoreArgs,
) -> Result<(Vec<ResultRecord>, ScoreReport)> {
    let results = load_results(db_path, &args.filter, None)?;
    let report = score::score(&results, &args.reference()?, registry, &args.options()?)?;
    Ok((results, report))
}

pub fn score(
    db_path: &Path,
    registry: &Registry,
    args: &ScoreArgs,
    json: bool,
) -> Result<ExitCode> {
    let (_, report) = scored(db_path, registry, args)?;
    print(&report, report.text(), json)
}

/// The score's leaders per domain and overall (see `hetbench::report::summary`).
pub fn summary(
    db_path: &Path,
    registry: &Registry,
    args: &ScoreArgs,
    json: bool,
) -> Result<ExitCode> {
    let (results, report) = scored(db_path, registry, args)?;
    let s = summary::summarize(&report, &results);
    print(&s, s.text(), json)
}

/// Writes `value` as JSON, or its text.
fn print<T: serde::Serialize>(value: &T, text: String, json: bool) -> Result<ExitCode> {
    if json {
        write_stdout(format!("{}\n", serde_json::to_string_pretty(value)?).as_bytes())?;
    } else {
        write_stdout(text.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn compare(
    db_path: &Path,
    filter: &FilterArgs,
    baseline: &str,
    suite: Option<&str>,
    include_modeled: bool,
    json: bool,
) -> Result<ExitCode> {
    let results = load_results(db_path, filter, suite)?;
    let c = compare::compare(&results, baseline, include_modeled)?;
    print(&c, c.text(), json)
}

/// The dataset, its score (or why none) and every figure.
struct Drawn {
    data: Dataset,
    score: std::result::Result<ScoreReport, String>,
    figures: Vec<Figure>,
}

fn draw_all(
    db_path: &Path,
    registry: &Registry,
    args: &ScoreArgs,
) -> Result<(Vec<ResultRecord>, Drawn)> {
    let all = load_results(db_path, &args.filter, args.suite.as_deref())?;
    // Modeled results stay out of every figure unless asked for.
    let (results, left_out) = rankable(&all, args.include_modeled);
    if results.is_empty() && left_out > 0 {
        return Err(Error::NoResults(format!(
            "no measured results in {}{}",
            source(db_path),
            modeled_hint(left_out)
        ))
        .into());
    }
    let data = Dataset::require(&results, &source(db_path))?;
    let suites = data.suite_versions();
    if suites.len() > 1 {
        return Err(Error::MixedSuites(format!(
            "the results are of suite versions {}: figures never mix suite versions; select one with --suite",
            suites.into_iter().collect::<Vec<_>>().join(", ")
        ))
        .into());
    }
    let score = score::score(&all, &args.reference()?, registry, &args.options()?)
        .map_err(|e| e.to_string());
    let mut figures = vec![
        plot::perf_per_watt::draw(&data)?,
        plot::pareto::draw(&data, args.include_estimated, args.include_modeled)?,
        plot::roofline::draw(&data)?,
    ];
    match &score {
        Ok(s) => {
            // The summary figure first, then the others.
            figures.insert(0, plot::summary::draw(s)?);
            figures.push(plot::score::draw(s)?);
        }
        Err(why) => eprintln!("note: no score plot: {why}"),
    }
    Ok((
        all,
        Drawn {
            data,
            score,
            figures,
        },
    ))
}

fn create_dir(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("could not create output directory '{}'", out.display()))
}

pub fn plot(db_path: &Path, registry: &Registry, args: &ScoreArgs, out: &Path) -> Result<ExitCode> {
    let (_, drawn) = draw_all(db_path, registry, args)?;
    create_dir(out)?;
    let mut listing = String::new();
    for f in &drawn.figures {
        let path = out.join(format!("{}.svg", f.name));
        std::fs::write(&path, &f.svg)
            .with_context(|| format!("could not write plot '{}'", path.display()))?;
        listing.push_str(&format!("{}\t{}\n", path.display(), f.title));
    }
    write_stdout(listing.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub fn report(
    db_path: &Path,
    registry: &Registry,
    args: &ScoreArgs,
    baseline: Option<&str>,
    cost: std::result::Result<hetbench::report::cost::CostReport, String>,
    out: &Path,
) -> Result<ExitCode> {
    let (results, drawn) = draw_all(db_path, registry, args)?;
    let comparison: std::result::Result<Comparison, String> = match baseline {
        // A baseline named on the command line must exist.
        Some(b) => Ok(compare::compare(&results, b, args.include_modeled)?),
        None => Err("no --baseline given".into()),
    };
    let db = open_existing_db(db_path)?;
    let mut runs: Vec<RunRecord> = Vec::new();
    for id in drawn.data.run_ids() {
        if let Some(r) = db.run(&id)? {
            runs.push(r);
        }
    }
    let summary = drawn
        .score
        .as_ref()
        .map(|s| summary::summarize(s, &results))
        .map_err(Clone::clone);
    let html = hetbench::report::html::render(&hetbench::report::html::ReportInput {
        data: &drawn.data,
        figures: &drawn.figures,
        score: drawn.score.as_ref().map_err(Clone::clone),
        summary: summary.as_ref().map_err(Clone::clone),
        comparison: comparison.as_ref().map_err(Clone::clone),
        cost: cost.as_ref().map_err(Clone::clone),
        runs: &runs,
        source: source(db_path),
        generated_at: hetbench::store::record::now_rfc3339(),
    });
    create_dir(out)?;
    let path = out.join("report.html");
    std::fs::write(&path, html)
        .with_context(|| format!("could not write report '{}'", path.display()))?;
    write_stdout(format!("{}\n", path.display()).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
