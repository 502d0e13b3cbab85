//! `hetbench run`: the command line checked and turned into a plan, the
//! series of replicates measured with a progress bar, then the table and
//! the tally. The measuring itself is `hetbench::runner`'s.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use hetbench::backends::{BackendKind, BackendOptions};
use hetbench::error::{EXIT_NODE_BUSY, EXIT_RESULTS_FAILED, Error};
use hetbench::kernel::Precision;
use hetbench::kernels::Registry;
use hetbench::measure::MeasureConfig;
use hetbench::runner::{self, Observer, RunOptions, RunPlan, Sinks};
use hetbench::store::{Database, ResultRecord, Status};
use indicatif::{ProgressBar, ProgressStyle};

use super::{
    Cli, RunArgs, open_db, open_existing_db, preflight, redact_arg, run_output,
    write_results_tables, write_stdout,
};

fn expand(
    names: &[String],
    valid: &[String],
    all: &[String],
    what: &'static str,
) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        let n = n.trim();
        if n == "all" {
            for v in all {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
        } else if valid.iter().any(|v| v == n) {
            if !out.iter().any(|o| o == n) {
                out.push(n.to_string());
            }
        } else {
            return Err(Error::UnknownName {
                what,
                name: n.to_string(),
                valid: valid.join(", "),
            }
            .into());
        }
    }
    Ok(out)
}

/// HETBENCH_REQUIRE_BACKENDS: a comma list of backends that must come up.
fn required_backends() -> Result<Vec<BackendKind>> {
    match std::env::var("HETBENCH_REQUIRE_BACKENDS") {
        Ok(v) => v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| BackendKind::parse(s).context("in HETBENCH_REQUIRE_BACKENDS"))
            .collect(),
        Err(_) => Ok(Vec::new()),
    }
}

/// What `run` was asked to measure, the names resolved and checked.
struct Selection {
    kernels: Vec<String>,
    sizes: Vec<String>,
    precisions: Vec<Precision>,
    backends: Vec<BackendKind>,
    required: Vec<runner::RequiredBackend>,
}

/// The kernels, sizes, backends and precisions named on the command line,
/// each checked against what exists; the backends that must come up.
fn selection(args: &RunArgs, registry: &Registry) -> Result<Selection> {
    let kernel_names: Vec<String> = registry.names().iter().map(|s| s.to_string()).collect();
    let kernels = expand(&args.kernel, &kernel_names, &kernel_names, "kernel")?;
    let size_names: Vec<String> = hetbench::kernel::manifest::SIZE_NAMES
        .iter()
        .chain([&hetbench::kernel::manifest::XLARGE])
        .map(|s| s.to_string())
        .collect();
    let default_size = vec![if args.quick { "small" } else { "medium" }.to_string()];
    let sizes = expand(
        if args.size.is_empty() {
            &default_size
        } else {
            &args.size
        },
        &size_names,
        // `all` is the benchmark sizes; `tiny` (for tests) and `xlarge`
        // (for the biggest devices) by name only.
        &size_names[1..4],
        "size",
    )?;
    let backend_names: Vec<String> = BackendKind::ALL
        .iter()
        .map(|b| b.as_str().to_string())
        .collect();
    let explicit_backends = !args.backend.iter().any(|b| b == "all");
    let backends: Vec<BackendKind> =
        expand(&args.backend, &backend_names, &backend_names, "backend")?
            .iter()
            .map(|b| BackendKind::parse(b))
            .collect::<hetbench::error::Result<_>>()?;
    let mut required: Vec<runner::RequiredBackend> = required_backends()?
        .into_iter()
        .map(|kind| runner::RequiredBackend {
            kind,
            by: "HETBENCH_REQUIRE_BACKENDS",
        })
        .collect();
    if explicit_backends {
        // A backend named on the command line must come up.
        required.extend(backends.iter().map(|&kind| runner::RequiredBackend {
            kind,
            by: "named with --backend",
        }));
    }
    if backends.contains(&BackendKind::FpgaEmu) {
        // A bad card is bad input, refused before anything is measured.
        hetbench::fpga::card::load_default()?;
    }
    let precisions = if args.precision.iter().any(|p| p == "all") {
        Precision::ALL.to_vec()
    } else {
        let mut v = Vec::new();
        for p in &args.precision {
            let p = Precision::parse(p)?;
            if !v.contains(&p) {
                v.push(p);
            }
        }
        v
    };
    Ok(Selection {
        kernels,
        sizes,
        precisions,
        backends,
        required,
    })
}

/// An out-of-range numeric option, named with its range.
fn out_of_range(what: &str, message: String) -> anyhow::Error {
    Error::InvalidValue {
        what: what.into(),
        message,
    }
    .into()
}

/// The measurement settings and idle-baseline seconds from the command
/// line, each value checked against its range.
fn measure_settings(args: &RunArgs) -> Result<(MeasureConfig, f64)> {
    let mut measure = if args.quick {
        MeasureConfig::QUICK
    } else {
        MeasureConfig::DEFAULT
    };
    if let Some(b) = args.time_budget {
        if !(b.is_finite() && b > 0.0 && b <= 3600.0) {
            return Err(out_of_range(
                "--time-budget",
                format!("{b} is not within (0, 3600] seconds"),
            ));
        }
        measure.budget_s = b;
    }
    if let Some(n) = args.min_samples {
        if !(1..=100_000).contains(&n) {
            return Err(out_of_range(
                "--min-samples",
                format!("{n} is not within 1..=100000"),
            ));
        }
        measure.min_samples = n;
        measure.max_samples = measure.max_samples.max(n);
    }
    if let Some(t) = args.threads
        && !(1..=4096).contains(&t)
    {
        return Err(out_of_range(
            "--threads",
            format!("{t} is not within 1..=4096"),
        ));
    }
    let idle_seconds = args
        .idle_seconds
        .unwrap_or(if args.quick { 1.0 } else { 5.0 });
    if !(idle_seconds.is_finite() && (0.0..=600.0).contains(&idle_seconds)) {
        return Err(out_of_range(
            "--idle-seconds",
            format!("{idle_seconds} is not within 0..=600 seconds"),
        ));
    }
    if args.repeat == 0 || args.repeat > 1000 {
        return Err(out_of_range(
            "--repeat",
            format!("{} is not within 1..=1000 replicates", args.repeat),
        ));
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(out_of_range(
            "--timeout",
            format!("{} is not a positive number of seconds", args.timeout),
        ));
    }
    Ok((measure, idle_seconds))
}

/// The hidden `--inject-fault KERNEL=crash|hang` self-tests.
fn injected_faults(args: &RunArgs) -> Result<Vec<(String, runner::FaultKind)>> {
    let mut faults = Vec::new();
    for f in &args.inject_fault {
        let fault = match f.split_once('=') {
            Some((k, "crash")) => (k.to_string(), runner::FaultKind::Crash),
            Some((k, "hang")) => (k.to_string(), runner::FaultKind::Hang),
            _ => {
                return Err(out_of_range(
                    "--inject-fault",
                    format!("'{f}' is not KERNEL=crash or KERNEL=hang"),
                ));
            }
        };
        faults.push(fault);
    }
    Ok(faults)
}

/// The plan of a new run from the checked command line.
fn new_plan(
    cli: &Cli,
    args: &RunArgs,
    config: &hetbench::config::Config,
    selection: Selection,
) -> Result<RunPlan> {
    let (measure, idle_seconds) = measure_settings(args)?;
    Ok(RunPlan {
        kernels: selection.kernels,
        sizes: selection.sizes,
        precisions: selection.precisions,
        backends: selection.backends,
        devices: args.device.clone(),
        seed: args.seed,
        measure,
        backend_options: BackendOptions {
            cpu_threads: args.threads,
        },
        power: (!args.no_energy).then(|| config.power.clone()),
        idle_seconds,
        energy_window: args.energy_window,
        timeout_s: args.timeout,
        inject_error: args.inject_error,
        inject_fault: injected_faults(args)?,
        kernels_dir: cli.kernels_dir.clone(),
        label: args.label.as_deref().map(check_label).transpose()?,
        series: None,
    })
}

/// A flag that SIGINT, SIGTERM and SIGHUP (an ssh session dropping) raise,
/// so that the run stops between measurements as Ctrl-C does.
fn interrupt_flag() -> Result<Arc<AtomicBool>> {
    let interrupt = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, interrupt.clone())
            .context("could not install the SIGINT/SIGTERM/SIGHUP handler")?;
    }
    Ok(interrupt)
}

/// `hetbench run`: checks the command line, plans, measures each
/// replicate of the series, and prints the table and the tally.
pub(super) fn run(
    cli: &Cli,
    args: &RunArgs,
    registry: &dyn Fn() -> Result<Registry>,
    db_path: &Path,
    config: &hetbench::config::Config,
) -> Result<ExitCode> {
    // The command line is checked before anything else, before the
    // kernels are read and for a resumed run too.
    measure_settings(args)?;
    injected_faults(args)?;
    let registry = &registry()?;
    let selection = selection(args, registry)?;
    let required = selection.required.clone();
    if args.dry_run {
        let plan = new_plan(cli, args, config, selection)?;
        let jobs = runner::dry_run(registry, &plan, &required, &mut Progress::new())?;
        write_stdout(hetbench::report::dry_run::dry_run_text(&jobs).as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    // A new run's plan is checked before anything is created: bad input
    // leaves no empty database behind.
    enum Start<'a> {
        New(Box<RunPlan>),
        Resume(&'a str),
    }
    let start = match &args.resume {
        Some(run_id) => Start::Resume(run_id),
        None => {
            let plan = new_plan(cli, args, config, selection)?;
            runner::check_plan(registry, &plan)?;
            Start::New(Box::new(plan))
        }
    };
    // The node's state, before anything is stored: a busy node under
    // --strict stores nothing.
    let (checked, roots) = preflight::collect(config);
    preflight::print_advice(&checked.advice);
    if args.strict && checked.busy() {
        eprintln!(
            "error: --strict: the node is busy (see the warning above); nothing was measured or stored"
        );
        return Ok(ExitCode::from(EXIT_NODE_BUSY));
    }
    // A resumed run's database must exist already.
    let db = match &args.resume {
        Some(_) => open_existing_db(db_path)?,
        None => open_db(db_path)?,
    };
    let (plan, resume) = match start {
        Start::New(plan) => (*plan, None),
        Start::Resume(run_id) => {
            let (run, results, plan) = runner::load_for_resume(&db, run_id)?;
            (plan, Some((run, results)))
        }
    };
    // A resumed run reads its manifests from where the original did.
    let resumed_registry;
    let registry = match (&resume, &plan.kernels_dir) {
        (Some(_), dir) => {
            resumed_registry = Registry::load(dir.as_deref())?;
            &resumed_registry
        }
        (None, _) => registry,
    };
    let isolation = if args.no_isolation {
        runner::Isolation::InProcess
    } else {
        runner::Isolation::Process {
            program: std::env::current_exe()
                .context("could not find this executable for its workers")?,
            args: vec!["worker".into()],
        }
    };
    let opts = RunOptions {
        plan,
        required,
        // args_os: an argument that is not UTF-8 is stored lossily, not a panic.
        command: std::env::args_os()
            .map(|a| redact_arg(&a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" "),
        isolation,
        interrupt: interrupt_flag()?,
        preflight: Some((checked, roots)),
    };
    let series = runner::series::Series::new(args.repeat);
    let (results, outcome) = run_series(cli, args, registry, &opts, resume, &db, &series)?;
    match outcome {
        Some(outcome) => finish(cli, args, &series, &results, &outcome),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Runs each replicate of `series` in turn, stopping after one that was
/// interrupted: every replicate's results, and the last replicate's outcome.
fn run_series(
    cli: &Cli,
    args: &RunArgs,
    registry: &Registry,
    opts: &RunOptions,
    mut resume: Option<(hetbench::store::RunRecord, Vec<ResultRecord>)>,
    db: &Database,
    series: &runner::series::Series,
) -> Result<(Vec<ResultRecord>, Option<runner::RunOutcome>)> {
    let runs_dir = cli.results_dir.join("runs");
    let mut results = Vec::new();
    let mut outcome = None;
    for replicate in series.replicates() {
        let mut opts = opts.clone();
        if replicate.is_some() {
            opts.plan.series = replicate;
        }
        let mut progress = Progress::new();
        progress.verbose = args.verbose;
        let this = match runner::run(
            registry,
            &opts,
            resume.take(),
            Sinks {
                db,
                runs_dir: &runs_dir,
            },
            &mut progress,
        ) {
            Ok(outcome) => outcome,
            Err(e) => {
                progress.bar.finish_and_clear();
                if let Error::RunStopped { run_id, .. } = &e {
                    eprintln!(
                        "the run is marked interrupted where its stores still work; once storage is fixed, finish it with: {}",
                        resume_command(cli, run_id)
                    );
                }
                return Err(e.into());
            }
        };
        progress.bar.finish_and_clear();
        for line in progress.digest.lines() {
            eprintln!("{line}");
        }
        results.extend(this.results.iter().cloned());
        eprintln!(
            "run {}{}: {} results stored in '{}' and '{}'",
            this.run.run_id,
            series.describe(opts.plan.series.as_ref()),
            this.results.len(),
            db.location(),
            this.json_path.display()
        );
        let stop = this.run.status == hetbench::store::RunStatus::Interrupted;
        outcome = Some(this);
        if stop {
            break;
        }
    }
    Ok((results, outcome))
}

/// After the series: throttling advice, the table, then how to resume an
/// interrupted run or the tally; the exit code says which.
fn finish(
    cli: &Cli,
    args: &RunArgs,
    series: &runner::series::Series,
    results: &[ResultRecord],
    outcome: &runner::RunOutcome,
) -> Result<ExitCode> {
    if let Some(p) = &outcome.run.platform.preflight {
        use hetbench::platform::preflight::AdviceKind;
        preflight::print_advice(p.advice.iter().filter(|a| a.kind == AdviceKind::Throttling));
    }
    write_results_tables(results, args.wide)?;
    if outcome.run.status == hetbench::store::RunStatus::Interrupted {
        let done = outcome.results.len();
        eprintln!(
            "interrupted: {done} result(s) stored; finish the run with: {}{}",
            resume_command(cli, &outcome.run.run_id),
            series.left_out(outcome.run.plan.as_ref().and_then(|p| p.series.as_ref()))
        );
        return Ok(ExitCode::from(130));
    }
    eprintln!("{}", run_output::tally(results));
    let failures = results.iter().filter(|r| r.status.is_failure()).count();
    if failures > 0 {
        eprintln!(
            "{failures} result(s) failed (verify_failed, error, timeout or crashed): see the table above"
        );
        return Ok(ExitCode::from(EXIT_RESULTS_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

/// The progress bar (stderr, hidden when stderr is not a terminal) and the
/// warnings printed beside it.
struct Progress {
    bar: ProgressBar,
    verbose: bool,
    digest: run_output::Digest,
}

impl Progress {
    fn new() -> Self {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::new(0)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Progress {
            bar,
            verbose: false,
            digest: run_output::Digest::default(),
        }
    }
}

impl Observer for Progress {
    fn backend_unavailable(&mut self, kind: BackendKind, reason: &str) {
        self.bar
            .suspend(|| eprintln!("note: backend {} skipped: {reason}", kind.as_str()));
    }
    fn meters(&mut self, found: &[&hetbench::power::MeterInfo], _missing: &[(String, String)]) {
        let text = if found.is_empty() {
            "note: no energy meter is usable: results carry no energy (see `hetbench info`)"
                .to_string()
        } else {
            let names: Vec<String> = found
                .iter()
                .map(|m| format!("{} ({}, {})", m.name, m.scope.as_str(), m.method.as_str()))
                .collect();
            format!("energy meters: {}", names.join(", "))
        };
        self.bar.suspend(|| eprintln!("{text}"));
    }
    fn energy_note(&mut self, note: &str) {
        self.bar.suspend(|| eprintln!("energy: {note}"));
    }
    fn plan_note(&mut self, note: &str) {
        self.bar.suspend(|| eprintln!("note: {note}"));
    }
    fn planned(&mut self, total: usize, already_done: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(already_done as u64);
        if already_done > 0 {
            self.bar.suspend(|| {
                eprintln!("resuming: {already_done} of {total} measurements already stored")
            });
        }
    }
    fn started(&mut self, label: &str) {
        self.bar.set_message(label.to_string());
    }
    fn finished(&mut self, r: &ResultRecord) {
        if !self.verbose {
            let now = self.digest.add(r);
            self.bar
                .suspend(|| now.iter().for_each(|l| eprintln!("{l}")));
            self.bar.inc(1);
            return;
        }
        self.bar.suspend(|| {
            let label = format!("{} {} on {} {}", r.kernel, r.size, r.backend, r.device);
            for w in &r.warnings {
                eprintln!("warning: {label}: {w}");
            }
            for e in &r.energy {
                for f in &e.flags {
                    eprintln!("warning: {label}: energy from {}: {f}", e.meter);
                }
            }
            if let Some(m) = r.model.as_ref().and_then(|m| m.report()) {
                eprintln!("{}", hetbench::report::modeled::model_line(&label, m));
            }
            if r.status != Status::Ok {
                eprintln!(
                    "{}: {label}: {}",
                    r.status.as_str(),
                    r.message.as_deref().unwrap_or("")
                );
            }
        });
        self.bar.inc(1);
    }
}

/// A platform label: 1 to 64 characters, none of them a control character.
fn check_label(label: &str) -> Result<String> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
        return Err(Error::InvalidValue {
            what: "--label".into(),
            message: format!(
                "{label:?} is not a platform label: give 1 to 64 characters, no control characters"
            ),
        }
        .into());
    }
    Ok(label.to_string())
}

/// The command that finishes `run_id`, with the database, results
/// directory and configuration this one was given, so that it works as
/// printed (passwords masked).
fn resume_command(cli: &Cli, run_id: &str) -> String {
    let mut words = vec!["hetbench".to_string()];
    let mut option = |name: &str, value: &Path| {
        words.push(name.to_string());
        words.push(shell_word(&redact_arg(&value.to_string_lossy())));
    };
    if let Some(db) = &cli.db {
        option("--db", db);
    }
    if cli.results_dir != Path::new("results") {
        option("--results-dir", &cli.results_dir);
    }
    if let Some(config) = &cli.config {
        option("--config", config);
    }
    words.extend(["run".into(), "--resume".into(), shell_word(run_id)]);
    words.join(" ")
}

/// `text` quoted for a POSIX shell where it needs quoting.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@%,".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}
