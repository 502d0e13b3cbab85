//! Command-line arguments and the commands behind them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use hetbench::backends::{self, BackendKind, BackendOptions};
use hetbench::error::EXIT_BAD_INPUT;
use hetbench::kernels::Registry;
use hetbench::report::{export::Format, table};
use hetbench::runner;
use hetbench::store::{Database, ResultFilter, Status, json};

mod cost;
mod preflight;
mod report;
mod run;
mod run_output;

const ABOUT: &str = "Measure how fast and how energy-efficiently portable physics kernels run on every compute device of a node, and keep the results in a comparable database.";

#[derive(Parser, Debug)]
#[command(name = "hetbench", version, about = ABOUT, propagate_version = true)]
struct Cli {
    /// Results database (SQLite file). Default: <results-dir>/hetbench.db
    #[arg(long, global = true, env = "HETBENCH_DB", value_name = "PATH")]
    db: Option<PathBuf>,

    /// Directory for the database and run files (runs/<run-id>.json)
    #[arg(
        long,
        global = true,
        env = "HETBENCH_RESULTS_DIR",
        default_value = "results",
        value_name = "DIR"
    )]
    results_dir: PathBuf,

    /// Configuration file (TOML; see `hetbench info` for what it sets)
    #[arg(long, global = true, env = "HETBENCH_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Read kernel manifests from DIR/<kernel>/kernel.toml instead of the built-in ones
    #[arg(long, global = true, env = "HETBENCH_KERNELS_DIR", value_name = "DIR")]
    kernels_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show this node's fingerprint and which backends and devices are usable
    #[command(after_help = "Examples:\n  hetbench info\n  hetbench info --json")]
    Info {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// List the kernels with their domains and sizes
    #[command(after_help = "Examples:\n  hetbench list\n  hetbench list --json")]
    List {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Measure kernels on devices, verify them and store the results
    #[command(
        after_help = "Examples:\n  hetbench run --quick\n  hetbench run --kernel gemm,nbody --size large\n  hetbench run --precision f32,f64 -k gemm,stream_triad\n  hetbench run --backend cpu --threads 16 --time-budget 3"
    )]
    Run(RunArgs),
    /// Query stored results
    #[command(
        after_help = "Examples:\n  hetbench results\n  hetbench results --kernel gemm --status ok --json\n  hetbench results --run 1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    )]
    Results {
        #[command(flatten)]
        filter: FilterArgs,
        /// Print JSON records instead of a table
        #[arg(long)]
        json: bool,
        /// Place each result under its device's measured roofline: FLOP/byte,
        /// GFLOP/s, GB/s, the attainable bound and the fraction of it reached
        #[arg(long)]
        roofline: bool,
        /// Every column uncut, skipped results and each replicate of a `run --repeat` series included (default: fits 120 columns, a series on one combined row)
        #[arg(long)]
        wide: bool,
    },
    /// Import JSON run files (from other nodes); importing twice changes nothing
    #[command(
        after_help = "Examples:\n  hetbench import results/runs/*.json\n  hetbench --db site.db import node42/*.json"
    )]
    Import {
        /// Run files written by `hetbench run`
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Upload this node's runs to a site database (PostgreSQL), idempotently by run id
    #[command(
        after_help = "Examples:\n  hetbench push --to postgres://bench@db.site/hetbench\n  hetbench push --to \"$SITE_DB\" results/runs/*.json\n\nEach run goes in one transaction: pushing twice, or from many nodes at once, loses and duplicates nothing, and a dropped connection leaves no partial run. Passwords come from the URL, PGPASSWORD or PGPASSFILE (~/.pgpass) and are never printed."
    )]
    Push {
        /// The site database (postgres://... or a SQLite path)
        #[arg(long, value_name = "URL")]
        to: String,
        /// Run files to push instead of every run in --db
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Write the skeleton of a new kernel into the source tree and register it
    #[command(
        after_help = "Examples:\n  hetbench new-kernel saxpy --domain micro\n  hetbench new-kernel track_seed --domain reconstruction --root ~/src/hetbench\n\nWrites kernels/NAME/ (manifest, WGSL, OpenCL C, README) and src/kernels/NAME.rs, and adds NAME to the registry: it builds and runs on every backend, and fails verification until the TODOs are done. See kernels/README.md."
    )]
    NewKernel {
        /// The kernel's name: lowercase letters, digits and '_'
        name: String,
        /// simulation, reconstruction, ml or micro
        #[arg(long, value_parser = hetbench::kernel::Domain::parse)]
        domain: hetbench::kernel::Domain,
        /// The hetbench source tree
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
    /// Internal: run one measurement described as JSON on stdin (used by `run`)
    #[command(hide = true)]
    Worker,
    /// Export stored results as JSON, CSV, Markdown, OpenMetrics (node_exporter) or a HEP Benchmark Suite report
    #[command(
        after_help = "Examples:\n  hetbench export --format csv --out results.csv\n  hetbench export --format markdown --kernel gemm\n  hetbench export --format openmetrics --out /var/lib/node_exporter/hetbench.prom\n  hetbench export --format hep-benchmark-suite --run RUN_ID --out report.json"
    )]
    Export {
        /// json, csv, markdown, openmetrics or hep-benchmark-suite (one run)
        #[arg(long, default_value = "json", value_parser = Format::parse)]
        format: Format,
        /// Write to FILE instead of standard output
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Score each device against the reference node, per domain and overall (HEPscore-style)
    #[command(
        after_help = "Examples:\n  hetbench score\n  hetbench score --size medium --include-estimated\n  hetbench score --reference results/reference --weight gemm=2 --json"
    )]
    Score {
        #[command(flatten)]
        args: report::ScoreArgs,
        /// Print JSON instead of tables
        #[arg(long)]
        json: bool,
    },
    /// Which device is fastest and which does the most work per joule, per domain and overall, with 95% intervals
    #[command(
        after_help = "Examples:\n  hetbench summary\n  hetbench summary --allow-partial --include-estimated\n  hetbench summary --size medium --json\n\nThe figures are `score`'s; \"A beats B\" only where the 95% interval of A/B excludes 1."
    )]
    Summary {
        #[command(flatten)]
        args: report::ScoreArgs,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Compare every device with a baseline: throughput ratio with its 95% CI, a verdict only where the CI excludes 1
    #[command(
        after_help = "Examples:\n  hetbench compare --baseline node01\n  hetbench compare --baseline node01/cpu:cpu0 --kernel gemm\n  hetbench compare --baseline b5229495a54b --json"
    )]
    Compare {
        /// Host name, platform hash (6+ digits), device id or name, backend:device or host/backend:device
        #[arg(long, value_name = "PLATFORM_OR_DEVICE")]
        baseline: String,
        #[command(flatten)]
        filter: FilterArgs,
        /// Only results of this suite version
        #[arg(long, value_name = "VERSION")]
        suite: Option<String>,
        /// Compare modeled results (FPGA emulation) too, labelled [MODELED]
        #[arg(long)]
        include_modeled: bool,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Draw SVG plots: perf/W, throughput against power (Pareto front), rooflines, scores
    #[command(
        after_help = "Examples:\n  hetbench plot --out plots\n  hetbench plot --out plots --size medium --include-estimated"
    )]
    Plot {
        /// Directory to write the SVG files into
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        args: report::ScoreArgs,
    },
    /// Write a self-contained HTML report (plots, tables, fingerprints, provenance)
    #[command(
        after_help = "Examples:\n  hetbench report --out report\n  hetbench report --out report --baseline node01 --size medium"
    )]
    Report {
        /// Directory to write report.html into
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Compare every device with this one (see `hetbench compare --help`)
        #[arg(long, value_name = "PLATFORM_OR_DEVICE")]
        baseline: Option<String>,
        /// Add the cost and carbon section of `hetbench cost` from this site economics file
        #[arg(long, value_name = "FILE")]
        economics: Option<PathBuf>,
        /// The +/- fraction each economics input is moved by in the sensitivity table and plot
        #[arg(long, default_value_t = 0.2, value_name = "FRACTION")]
        sensitivity: f64,
        #[command(flatten)]
        args: report::ScoreArgs,
    },
    /// Cost and carbon per unit of work over each platform's lifetime, from a site economics file
    #[command(
        after_help = "Examples:\n  hetbench cost --economics results/economics-example.toml\n  hetbench cost --economics site.toml --include-estimated --sensitivity 0.3 --json"
    )]
    Cost {
        #[command(flatten)]
        args: cost::CostArgs,
        /// Print JSON instead of tables
        #[arg(long)]
        json: bool,
    },
    /// The node mix that maximises mix-weighted throughput within a budget, power cap and rack units (exact integer program)
    #[command(
        after_help = "Examples:\n  hetbench plan --economics site.toml --budget 2000000 --power-kw 80 --rack-units 84\n  hetbench plan --economics site.toml --budget 2e6 --power-kw 80 --rack-units 84 --target 500 --weights simulation=2,ml=1"
    )]
    Plan {
        #[command(flatten)]
        args: cost::PlanArgs,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Kernels to run (comma list or repeated; `all`)
    #[arg(short, long, value_delimiter = ',', default_value = "all")]
    kernel: Vec<String>,
    /// Backends to use (comma list or repeated; `all` = every available one)
    #[arg(short, long, value_delimiter = ',', default_value = "all")]
    backend: Vec<String>,
    /// Sizes: small, medium, large or all (by name only: tiny, for smoke tests; xlarge, for the biggest GPUs, where a kernel defines it). Default: small with --quick, else medium
    #[arg(short, long, value_delimiter = ',')]
    size: Vec<String>,
    /// Device ids to use (see `hetbench info`), e.g. cpu0
    #[arg(short, long, value_delimiter = ',')]
    device: Vec<String>,
    /// Precisions: f32, f64, u32 or all, each where a kernel has it (default: each kernel's own, f32 for floating-point kernels)
    #[arg(short, long, value_delimiter = ',')]
    precision: Vec<String>,
    /// A short smoke run: small sizes, 0.1 s per measurement
    #[arg(long)]
    quick: bool,
    /// Seed of the generated inputs
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// A name for this platform in tables and for --baseline (default: the host name), e.g. "epyc-9654-2s"
    #[arg(long, value_name = "NAME")]
    label: Option<String>,
    /// Run the planned suite N times in a row, each replicate its own run of one series; reports combine them (the median of the replicates' medians)
    #[arg(long, value_name = "N", default_value_t = 1, conflicts_with_all = ["resume", "dry_run"])]
    repeat: u32,
    /// CPU backend threads (default: all logical CPUs)
    #[arg(long)]
    threads: Option<usize>,
    /// Seconds of timed samples per measurement (default 1, 0.1 with --quick)
    #[arg(long, value_name = "SECONDS")]
    time_budget: Option<f64>,
    /// Minimum samples per measurement (default 10, 3 with --quick)
    #[arg(long)]
    min_samples: Option<usize>,
    /// Seconds of idle power baseline before the first measurement (default 5, 1 with --quick; 0: none)
    #[arg(long, value_name = "SECONDS")]
    idle_seconds: Option<f64>,
    /// Lengthen each timed window to ten update intervals of the slowest energy meter
    #[arg(long)]
    energy_window: bool,
    /// Measure no energy
    #[arg(long)]
    no_energy: bool,
    /// Seconds one measurement may take (preparation and verification included) before it is killed and stored as `timeout`
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
    timeout: f64,
    /// Run measurements in this process rather than one child process each (faster; a crash or hang then ends the run)
    #[arg(long)]
    no_isolation: bool,
    /// Finish the interrupted run RUN_ID with its original settings (other selection flags are ignored)
    #[arg(long, value_name = "RUN_ID")]
    resume: Option<String>,
    /// Print the plan (each job's launch geometry, memory, and whether it fits its device) and stop: nothing is measured or stored
    #[arg(long, conflicts_with = "resume")]
    dry_run: bool,
    /// Print every result's warnings, skips and model lines as they come (default: one line per kind, with its count)
    #[arg(long)]
    verbose: bool,
    /// Print the results table with every column uncut, skipped results and each replicate included (default: fits 120 columns, a series on one combined row)
    #[arg(long)]
    wide: bool,
    /// Refuse to measure on a busy node (other processes using more than a quarter of the CPUs): exit 4, nothing stored
    #[arg(long)]
    strict: bool,
    /// Self-test of isolation: make KERNEL's worker crash or hang (KERNEL=crash|hang).
    #[arg(long, hide = true, value_name = "KERNEL=FAULT")]
    inject_fault: Vec<String>,
    /// Self-test of verification: corrupt one output value of every result,
    /// which must then be stored as verify_failed.
    #[arg(long, hide = true)]
    inject_error: bool,
}

#[derive(Args, Debug)]
struct FilterArgs {
    /// Only these kernels
    #[arg(short, long, value_delimiter = ',')]
    kernel: Vec<String>,
    /// Only these backends
    #[arg(short, long, value_delimiter = ',', value_parser = BackendKind::parse)]
    backend: Vec<BackendKind>,
    /// Only these sizes
    #[arg(short, long, value_delimiter = ',')]
    size: Vec<String>,
    /// Only these statuses (ok, verify_failed, error, timeout, crashed, skipped)
    #[arg(long, value_delimiter = ',', value_parser = Status::from_name)]
    status: Vec<Status>,
    /// Only this run
    #[arg(long, value_name = "RUN_ID")]
    run: Option<String>,
    /// Only this host
    #[arg(long)]
    host: Option<String>,
    /// Only the newest N results
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

impl FilterArgs {
    fn to_filter(&self) -> ResultFilter {
        ResultFilter {
            kernels: self.kernel.clone(),
            backends: self.backend.clone(),
            sizes: self.size.clone(),
            statuses: self.status.clone(),
            run_id: self.run.clone(),
            hostname: self.host.clone(),
            limit: self.limit,
        }
    }
}

pub fn main() -> Result<ExitCode> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return Ok(argument_error(&e)),
    };
    let mut config = match &cli.config {
        Some(path) => hetbench::config::Config::load(path)
            .with_context(|| format!("could not load configuration '{}'", path.display()))?,
        None => hetbench::config::Config::default(),
    };
    // Where the host's sysfs is, in a container; tests point it at a fake tree.
    if let Some(root) = std::env::var_os("HETBENCH_SYSFS_ROOT") {
        config.power.sysfs_root = root.into();
    }
    let db_path = cli
        .db
        .clone()
        .unwrap_or_else(|| cli.results_dir.join("hetbench.db"));
    let registry = || -> Result<Registry> { Ok(Registry::load(cli.kernels_dir.as_deref())?) };
    match &cli.command {
        Command::Info { json } => info(*json, &config),
        Command::List { json } => list(&registry()?, *json),
        Command::Run(args) => run::run(&cli, args, &registry, &db_path, &config),
        Command::Results {
            filter,
            json,
            roofline,
            wide,
        } => results(&db_path, filter, *json, *roofline, *wide),
        Command::Import { files } => import(&db_path, files),
        Command::Worker => worker(),
        Command::NewKernel { name, domain, root } => new_kernel(name, *domain, root),
        Command::Push { to, files } => push(&db_path, to, files),
        Command::Export {
            format,
            out,
            filter,
        } => export(&db_path, &registry, *format, out.as_deref(), filter),
        Command::Score { args, json } => report::score(&db_path, &registry()?, args, *json),
        Command::Summary { args, json } => report::summary(&db_path, &registry()?, args, *json),
        Command::Compare {
            baseline,
            filter,
            suite,
            include_modeled,
            json,
        } => report::compare(
            &db_path,
            filter,
            baseline,
            suite.as_deref(),
            *include_modeled,
            *json,
        ),
        Command::Plot { out, args } => report::plot(&db_path, &registry()?, args, out),
        Command::Report {
            out,
            baseline,
            economics,
            sensitivity,
            args,
        } => {
            let registry = registry()?;
            // A cost section named on the command line must work.
            let cost = match economics {
                Some(path) => {
                    Ok(cost::cost_report(&db_path, &registry, path, args, *sensitivity)?.0)
                }
                None => Err("no --economics FILE given".to_string()),
            };
            report::report(&db_path, &registry, args, baseline.as_deref(), cost, out)
        }
        Command::Cost { args, json } => cost::cost(&db_path, &registry()?, args, *json),
        Command::Plan { args, json } => cost::plan(&db_path, &registry()?, args, *json),
    }
}

/// `hetbench results`: the stored results as tables, JSON or roofline
/// fractions.
fn results(
    db_path: &Path,
    filter: &FilterArgs,
    json: bool,
    roofline: bool,
    wide: bool,
) -> Result<ExitCode> {
    let db = open_existing_db(db_path)?;
    let results = read_results(&db, filter)?;
    if roofline {
        let data = hetbench::report::data::Dataset::new(&results);
        let rows = hetbench::report::plot::roofline::fractions(&data);
        let mut text = table::render_text(
            &[
                "device",
                "kernel",
                "size",
                "precision",
                "FLOP/B",
                "GFLOP/s",
                "GB/s",
                "bound GFLOP/s",
                "fraction",
            ],
            &rows,
        );
        text.push_str("\nceilings (measured on each device):\n");
        for c in hetbench::report::plot::roofline::ceilings(&data) {
            text.push_str(&format!("  {c}\n"));
        }
        write_stdout(text.as_bytes())?;
    } else if json {
        write_stdout(&hetbench::report::export::Exporter::serialize(
            &hetbench::report::export::JsonExporter,
            &results,
        )?)?;
    } else if results.is_empty() {
        eprintln!("no results match in '{}'", db_path.display());
    } else {
        write_results_tables(&results, wide)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `hetbench new-kernel`: the scaffold of a kernel in `root`.
fn new_kernel(name: &str, domain: hetbench::kernel::Domain, root: &Path) -> Result<ExitCode> {
    for file in hetbench::kernels::scaffold::new_kernel(root, name, domain)? {
        println!("wrote {}", file.display());
    }
    eprintln!(
        "next: cargo build --release && cargo run --release -- run -k {name} --size tiny (it fails verification until written; see kernels/README.md)"
    );
    Ok(ExitCode::SUCCESS)
}

/// `hetbench export`: the selected results in `format`, to `out` or stdout.
fn export(
    db_path: &Path,
    registry: &dyn Fn() -> Result<Registry>,
    format: Format,
    out: Option<&Path>,
    filter: &FilterArgs,
) -> Result<ExitCode> {
    let db = open_existing_db(db_path)?;
    let results = read_results(&db, filter)?;
    let bytes = match format.exporter() {
        Some(e) => e.serialize(&results)?,
        None => suite_report(&db, &registry()?, &results)?,
    };
    match out {
        Some(path) => std::fs::write(path, bytes)
            .with_context(|| format!("could not write export '{}'", path.display()))?,
        None => write_stdout(&bytes)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn open_db(path: &Path) -> Result<Database> {
    let spec = path.to_string_lossy();
    Database::open(&spec).with_context(|| {
        format!(
            "could not open results database '{}'",
            hetbench::store::redact(&spec)
        )
    })
}

/// As [`open_db`] for a command that only reads: a database that is not
/// there is bad input, and nothing is created.
fn open_existing_db(path: &Path) -> Result<Database> {
    let spec = path.to_string_lossy();
    Database::open_existing(&spec).with_context(|| {
        format!(
            "could not open results database '{}'",
            hetbench::store::redact(&spec)
        )
    })
}

/// The results `filter` selects; stored records that cannot be read are
/// skipped, and stderr says how many.
fn read_results(db: &Database, filter: &FilterArgs) -> Result<Vec<hetbench::store::ResultRecord>> {
    let read = db.results(&filter.to_filter())?;
    if let Some(note) = read.skipped_note() {
        eprintln!("warning: {}", table::escape_controls(&note, &[]));
    }
    Ok(read.records)
}

/// The results table and, where any result is modeled, the modeled view:
/// fitted to [`table::TERMINAL_WIDTH`] columns, or every column uncut
/// (`--wide`).
fn write_results_tables(results: &[hetbench::store::ResultRecord], wide: bool) -> Result<()> {
    let width = (!wide).then_some(table::TERMINAL_WIDTH);
    let text = match width {
        Some(w) => table::results_text_compact(results, w),
        None => table::results_text(results),
    };
    write_stdout(text.as_bytes())?;
    if let Some(text) = hetbench::report::modeled::modeled_text(results, width) {
        write_stdout(format!("\n{text}").as_bytes())?;
    }
    Ok(())
}

/// Writes `bytes` to stdout, UTF-8 text with its control characters but
/// newline and tab escaped: names imported from a run file never reach the
/// terminal raw.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    let escaped = std::str::from_utf8(bytes).map(|t| table::escape_controls(t, &['\n', '\t']));
    let bytes = match &escaped {
        Ok(text) => text.as_bytes(),
        Err(_) => bytes,
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        // A reader that stopped early (`hetbench results | head`) is not
        // an error: everything is stored, as with ripgrep or ls.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        r => r.context("could not write to standard output"),
    }
}

fn info(as_json: bool, config: &hetbench::config::Config) -> Result<ExitCode> {
    let mut fp = hetbench::platform::fingerprint();
    fp.preflight = Some(preflight::collect(config).0);
    let discovery = hetbench::power::discover(&config.power);
    let meters: Vec<&hetbench::power::MeterInfo> =
        discovery.meters.iter().map(|m| m.info()).collect();
    let missing: Vec<serde_json::Value> = discovery
        .missing
        .iter()
        .map(|(kind, reason)| serde_json::json!({ "meter": kind, "reason": reason }))
        .collect();
    let opts = BackendOptions::default();
    let backends: Vec<serde_json::Value> = BackendKind::ALL
        .iter()
        .map(
            |&kind| match backends::open(kind, &opts).and_then(|b| b.devices()) {
                Ok(devices) => {
                    // Cards that do not parse, listed beside the good ones.
                    let problems: Vec<String> = match kind {
                        BackendKind::FpgaEmu => hetbench::fpga::card::load_default_each()
                            .1
                            .iter()
                            .map(|e| e.to_string())
                            .collect(),
                        _ => Vec::new(),
                    };
                    serde_json::json!({
                        "backend": kind.as_str(), "available": true, "devices": devices,
                        "problems": problems,
                    })
                }
                Err(u) => serde_json::json!({
                    "backend": kind.as_str(), "available": false, "reason": u.reason,
                }),
            },
        )
        .collect();
    if as_json {
        let v = serde_json::json!({
            "platform": fp, "backends": backends,
            "energy_meters": meters, "energy_meters_missing": missing,
        });
        write_stdout(format!("{}\n", serde_json::to_string_pretty(&v)?).as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut s = String::new();
    s.push_str(&format!("host        {}\n", fp.hostname));
    s.push_str(&format!(
        "os          {} {} (kernel {}, {})\n",
        fp.os, fp.os_version, fp.kernel_version, fp.arch
    ));
    s.push_str(&format!(
        "cpu         {} ({} physical cores, {} logical CPUs, {} MHz, {})\n",
        fp.cpu.brand,
        fp.cpu
            .physical_cores
            .map(|n| n.to_string())
            .unwrap_or_else(|| "?".into()),
        fp.cpu.logical_cpus,
        fp.cpu.frequency_mhz,
        if fp.cpu.simd.is_empty() {
            "no SIMD extensions".to_string()
        } else {
            fp.cpu.simd.join(" ")
        }
    ));
    s.push_str(&format!(
        "memory      {:.1} GiB\n",
        fp.memory_bytes as f64 / (1u64 << 30) as f64
    ));
    s.push_str(&format!("platform    {}\n\nbackends\n", fp.hash));
    for b in &backends {
        let name = b["backend"].as_str().unwrap_or_default();
        if b["available"].as_bool() == Some(true) {
            s.push_str(&format!("  {name:<9} available\n"));
            for d in b["devices"].as_array().into_iter().flatten() {
                s.push_str(&format!(
                    "    {:<8} {} [{}] api: {}, driver: {}\n",
                    d["id"].as_str().unwrap_or_default(),
                    d["name"].as_str().unwrap_or_default(),
                    d["device_type"].as_str().unwrap_or_default(),
                    d["api"].as_str().unwrap_or_default(),
                    d["driver"].as_str().unwrap_or_default()
                ));
            }
            for p in b["problems"].as_array().into_iter().flatten() {
                s.push_str(&format!(
                    "    not loaded: {}\n",
                    p.as_str().unwrap_or_default()
                ));
            }
        } else {
            s.push_str(&format!(
                "  {name:<9} unavailable: {}\n",
                b["reason"].as_str().unwrap_or_default()
            ));
        }
    }
    s.push_str("\nenergy meters\n");
    for m in &meters {
        s.push_str(&format!(
            "  {:<16} {} ({}, every {} s): {}\n",
            m.name,
            m.scope.as_str(),
            m.method.as_str(),
            m.update_interval_s,
            m.covers
        ));
    }
    for (kind, reason) in &discovery.missing {
        s.push_str(&format!("  {kind:<16} unavailable: {reason}\n"));
    }
    if let Some(p) = &fp.preflight {
        s.push_str(&preflight::info_text(p));
    }
    write_stdout(s.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn list(registry: &Registry, as_json: bool) -> Result<ExitCode> {
    if as_json {
        let v: Vec<serde_json::Value> = registry
            .kernels
            .iter()
            .map(|k| {
                serde_json::json!({
                    "name": k.name(), "version": k.manifest.version, "hash": k.hash,
                    "domain": k.manifest.domain, "summary": k.manifest.summary,
                    "precisions": k.manifest.precisions, "unit": k.manifest.throughput.unit,
                    "sizes": k.manifest.sizes,
                })
            })
            .collect();
        write_stdout(format!("{}\n", serde_json::to_string_pretty(&v)?).as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = registry
        .kernels
        .iter()
        .map(|k| {
            let sizes = k
                .manifest
                .size_names()
                .iter()
                .map(|name| {
                    let params = &k.manifest.sizes[name];
                    let p: Vec<String> = params
                        .iter()
                        .map(|(key, v)| match v {
                            hetbench::kernel::Param::Int(i) => format!("{key}={i}"),
                            hetbench::kernel::Param::Float(f) => format!("{key}={f}"),
                        })
                        .collect();
                    format!("{name}({})", p.join(" "))
                })
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                k.name().to_string(),
                k.manifest.domain.as_str().to_string(),
                k.manifest.version.clone(),
                k.manifest
                    .precisions
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                k.manifest.throughput.unit.clone(),
                sizes,
                k.manifest.summary.clone(),
            ]
        })
        .collect();
    write_stdout(
        table::render_text(
            &[
                "kernel",
                "domain",
                "version",
                "precisions",
                "unit",
                "sizes",
                "summary",
            ],
            &rows,
        )
        .as_bytes(),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Expands `all` (to `all`) and checks names against `valid`.
/// Prints clap's message for a bad command line with any password it
/// quotes masked and its control characters escaped; the exit code is
/// clap's (2). Help and version go out as clap writes them.
fn argument_error(e: &clap::Error) -> ExitCode {
    if !e.use_stderr() {
        e.exit();
    }
    let text = e.render().to_string();
    let safe = table::escape_controls(&redact_arg(&text), &['\n', '\t']).into_owned();
    let _ = std::io::stderr().lock().write_all(safe.as_bytes());
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(EXIT_BAD_INPUT))
}

/// A command-line argument with any password in it redacted (a URL of any
/// scheme, `--db=...`, a libpq `password=...`), for storing the command.
fn redact_arg(arg: &str) -> String {
    hetbench::store::redact(arg)
}

/// Pushes run files, or every run of the local database, to `to`.
fn push(db_path: &Path, to: &str, files: &[PathBuf]) -> Result<ExitCode> {
    let target_name = hetbench::store::redact(to);
    // Read everything first: a bad file pushes nothing.
    let runs: Vec<(String, hetbench::store::RunFile)> = if files.is_empty() {
        let local = open_existing_db(db_path)?;
        let mut runs = Vec::new();
        for id in local.run_ids()? {
            if let Some(file) = local.run_file(&id)? {
                runs.push((format!("run {id}"), file));
            }
        }
        runs
    } else {
        files
            .iter()
            .map(|f| Ok((f.display().to_string(), json::read(f)?)))
            .collect::<hetbench::error::Result<_>>()?
    };
    let mut target = Database::open(to)
        .with_context(|| format!("could not open the site database '{target_name}'"))?;
    let (mut new_runs, mut advanced, mut inserted, mut present) = (0, 0, 0, 0);
    for (name, run) in &runs {
        let o = target.import(run).with_context(|| {
            format!(
                "could not push {name} to '{target_name}' (nothing of it was stored; push again)"
            )
        })?;
        new_runs += o.run_was_new as usize;
        advanced += o.status_advanced as usize;
        inserted += o.inserted;
        present += o.already_present;
    }
    println!(
        "pushed {} run(s) to '{target_name}': {new_runs} new, {advanced} with their status brought up to date, {inserted} results stored, {present} already there",
        runs.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// One run's results as a HEP Benchmark Suite report, scored against the
/// built-in reference (partial coverage allowed and stated).
fn suite_report(
    db: &Database,
    registry: &hetbench::kernels::Registry,
    results: &[hetbench::store::ResultRecord],
) -> Result<Vec<u8>> {
    let runs: std::collections::BTreeSet<&str> =
        results.iter().map(|r| r.run_id.as_str()).collect();
    let [run_id] = runs.iter().copied().collect::<Vec<_>>()[..] else {
        return Err(hetbench::error::Error::InvalidValue {
            what: "--format hep-benchmark-suite".into(),
            message: format!(
                "a suite report is one run of one node, and the selection holds {}: choose one with --run ID{}",
                runs.len(),
                if runs.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (runs: {})",
                        runs.iter().copied().collect::<Vec<_>>().join(", ")
                    )
                }
            ),
        }
        .into());
    };
    let Some(run) = db.run(run_id)? else {
        return Err(hetbench::error::Error::NoResults(format!(
            "run {run_id} has results but no run record"
        ))
        .into());
    };
    let options = hetbench::report::score::ScoreOptions {
        allow_partial: true,
        ..Default::default()
    };
    let scored = hetbench::report::score::score(
        results,
        &hetbench::report::score::Reference::builtin()?,
        registry,
        &options,
    )
    .map_err(|e| e.to_string());
    let doc =
        hetbench::report::hep_suite::document(&run, results, scored.as_ref().map_err(Clone::clone));
    let mut bytes = serde_json::to_vec_pretty(&doc)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The hidden worker: one job as JSON on stdin, its record as JSON on stdout.
fn worker() -> Result<ExitCode> {
    let mut input = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)
        .context("could not read the job from standard input")?;
    let job: runner::Job = serde_json::from_str(&input).context("the job does not parse")?;
    let record = runner::measure_in_worker(&job)?;
    write_stdout(&serde_json::to_vec(&record)?)?;
    Ok(ExitCode::SUCCESS)
}

fn import(db_path: &Path, files: &[PathBuf]) -> Result<ExitCode> {
    // Parse every file before writing anything: one bad file imports nothing.
    let parsed: Vec<_> = files
        .iter()
        .map(|f| json::read(f))
        .collect::<hetbench::error::Result<_>>()?;
    let mut db = open_db(db_path)?;
    for (file, run) in files.iter().zip(&parsed) {
        let o = db
            .import(run)
            .with_context(|| format!("could not import '{}'", file.display()))?;
        println!(
            "{}: run {} ({}), {} results imported, {} already present",
            file.display(),
            table::escape_controls(&run.run.run_id, &[]),
            if o.run_was_new {
                "new".to_string()
            } else if o.status_advanced {
                format!("already known, status now {}", run.run.status.as_str())
            } else {
                "already known".to_string()
            },
            o.inserted,
            o.already_present
        );
    }
    Ok(ExitCode::SUCCESS)
}
