//! One `hetbench run`: kernels x sizes x precisions x backends x devices.
//!
//! The run is planned ([`RunPlan`], in [`crate::plan`], stored with the run so that `--resume`
//! can finish it), the platform fingerprint and the idle power are taken
//! before the first measurement, and then each combination becomes a
//! [`Job`]. By default each job runs in a child process (the same binary's
//! hidden `worker` command): drivers crash and hang, and a five-hour campaign
//! must not be lost to one bad kernel. A child that dies is recorded as
//! `crashed` with its signal and last words, one that overruns `--timeout`
//! is killed and recorded as `timeout`, and the run goes on.
//!
//! Every result is stored at once: in the database (its own transaction) and
//! in the run's JSON file (rewritten atomically). SIGINT and SIGTERM stop
//! the run between or during jobs; the run is marked `interrupted` and
//! `hetbench run --resume RUN_ID` measures what is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

mod lifetime;
pub mod series;
pub use lifetime::RunLock;

use crate::backends::limits::LimitKind;
use crate::backends::{self, Backend, BackendKind, Device};
use crate::error::{Error, Result};
use crate::kernel::manifest::is_optional_size;
use crate::kernel::{Buffer, Precision, SizeSpec};
use crate::kernels::{RegisteredKernel, Registry};
use crate::measure::{self, MeasureConfig};
pub use crate::plan::{
    Admission, FaultKind, Job, JobCheck, OpenBackend, PlannedJob, RunPlan, check_job, gib,
    planned_jobs, planned_precisions,
};
use crate::platform::{self, Fingerprint};
use crate::power::{self, EnergyMeter, IdleReading, PowerConfig};
use crate::process;
use crate::store::record::{RUN_FILE_SCHEMA, Timer, TimingRecord, now_rfc3339};
use crate::store::{
    Database, ModelRecord, ResultFilter, ResultRecord, RunFile, RunRecord, RunStatus, Status, json,
};

/// How jobs are executed.
#[derive(Debug, Clone)]
pub enum Isolation {
    /// In this process: fastest, but a crash or hang takes the run with it.
    InProcess,
    /// In a child process: `program args...` reading a [`Job`] as JSON on
    /// stdin and writing a [`ResultRecord`] as JSON on stdout.
    Process { program: PathBuf, args: Vec<String> },
}

/// A run to start or resume.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub plan: RunPlan,
    /// Backends whose absence is an error (HETBENCH_REQUIRE_BACKENDS and
    /// those named on the command line).
    pub required: Vec<RequiredBackend>,
    /// The command line, stored with the run.
    pub command: String,
    pub isolation: Isolation,
    /// Set by SIGINT/SIGTERM: stop as soon as possible.
    pub interrupt: Arc<AtomicBool>,
    /// The node's state, stored in a new run's fingerprint; its throttling
    /// is read again under the roots at the end.
    pub preflight: Option<(platform::preflight::Preflight, platform::preflight::Roots)>,
}

/// Hears about a run's progress; the binary draws the progress bar and
/// prints warnings from these calls.
pub trait Observer {
    fn backend_unavailable(&mut self, _kind: BackendKind, _reason: &str) {}
    fn planned(&mut self, _total: usize, _already_done: usize) {}
    fn started(&mut self, _label: &str) {}
    fn finished(&mut self, _record: &ResultRecord) {}
    /// Energy meters found, and those missing with the reason.
    fn meters(&mut self, _found: &[&power::MeterInfo], _missing: &[(String, String)]) {}
    /// A note about energy measurement (idle baseline, a failed meter).
    fn energy_note(&mut self, _note: &str) {}
    /// A note about the plan (kernels left out of a precision).
    fn plan_note(&mut self, _note: &str) {}
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run: RunRecord,
    /// Every result of the run, those of earlier sessions included.
    pub results: Vec<ResultRecord>,
    pub json_path: PathBuf,
}

impl RunOutcome {
    pub fn failures(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.status.is_failure())
            .count()
    }
}

/// Where a run's records go.
pub struct Sinks<'a> {
    pub db: &'a Database,
    pub runs_dir: &'a Path,
}

/// A backend whose absence stops the run, and who asked for it (for the
/// message: `--backend` or `HETBENCH_REQUIRE_BACKENDS`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequiredBackend {
    pub kind: BackendKind,
    pub by: &'static str,
}

/// Opens the planned backends and lists the devices to measure on. A
/// `--device` that no backend has is bad input, answered with the devices
/// there are.
pub fn open_backends(
    plan: &RunPlan,
    required: &[RequiredBackend],
    observer: &mut dyn Observer,
) -> Result<Vec<OpenBackend>> {
    let mut out = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for &kind in &plan.backends {
        let opened = backends::open(kind, &plan.backend_options)
            .and_then(|b| b.devices().map(|all| (b, all)));
        let (b, all) = match opened {
            Ok(pair) => pair,
            Err(u) => match required.iter().find(|r| r.kind == kind) {
                Some(r) => {
                    return Err(Error::RequiredBackendMissing {
                        backend: kind.as_str().into(),
                        reason: u.reason,
                        by: r.by,
                    });
                }
                None => {
                    observer.backend_unavailable(kind, &u.reason);
                    continue;
                }
            },
        };
        seen.extend(all.iter().map(|d| format!("{} ({})", d.id, kind.as_str())));
        let devices: Vec<Device> = all
            .into_iter()
            .filter(|d| plan.devices.is_empty() || plan.devices.contains(&d.id))
            .collect();
        // A backend up but without the devices asked for is passed over,
        // even when required: --device chose.
        if devices.is_empty() {
            let reason = format!("no device matches --device {}", plan.devices.join(","));
            observer.backend_unavailable(kind, &reason);
        } else {
            out.push((b, devices));
        }
    }
    let unknown: Vec<&str> = plan
        .devices
        .iter()
        .filter(|id| !out.iter().any(|(_, ds)| ds.iter().any(|d| &d.id == *id)))
        .map(|id| id.as_str())
        .collect();
    if !unknown.is_empty() {
        if seen.is_empty() {
            seen.push("none (no planned backend is available)".into());
        }
        return Err(Error::InvalidValue {
            what: "--device".into(),
            message: format!(
                "no device '{}' among the planned backends; devices here: {}",
                unknown.join(","),
                seen.join(", ")
            ),
        });
    }
    Ok(out)
}

/// Something a plan asks of its kernels (an optional size, a precision).
struct Asked {
    /// Whether a plan where no kernel has it is bad input (else a note).
    refuse_if_none: bool,
    option: &'static str,
    /// What a kernel that has it does, e.g. "has precision f64".
    what: String,
    /// The note's words for the kernels without it.
    lacking: String,
}

/// The plan's `kernels` against `asked`: where none `has` it (and that is
/// refused), bad input naming the registry's kernels that do; else a note
/// naming the kernels left out.
fn check_asked(
    registry: &Registry,
    kernels: &[&RegisteredKernel],
    has: &dyn Fn(&RegisteredKernel) -> bool,
    asked: Asked,
    observer: &mut dyn Observer,
) -> Result<()> {
    let names = |ks: Vec<&RegisteredKernel>| {
        let n: Vec<&str> = ks.iter().map(|k| k.name()).collect();
        if n.is_empty() {
            "none".to_string()
        } else {
            n.join(", ")
        }
    };
    if asked.refuse_if_none && !kernels.iter().any(|k| has(k)) {
        let capable = registry.kernels.iter().filter(|k| has(k)).collect();
        return Err(Error::InvalidValue {
            what: asked.option.into(),
            message: format!(
                "no kernel of the plan {}; kernels that do: {}",
                asked.what,
                names(capable)
            ),
        });
    }
    let without: Vec<&RegisteredKernel> = kernels.iter().copied().filter(|k| !has(k)).collect();
    if !without.is_empty() {
        observer.plan_note(&format!("{}: {}", asked.lacking, names(without)));
    }
    Ok(())
}

/// Checks a new run's plan as [`run`] will (its kernels, sizes and
/// precisions), so that the caller can refuse bad input before it creates
/// or opens anything; the notes `run` prints are left to it.
pub fn check_plan(registry: &Registry, plan: &RunPlan) -> Result<()> {
    struct Quiet;
    impl Observer for Quiet {}
    resolve(registry, plan, &mut Quiet).map(|_| ())
}

/// The plan's kernels, every size and precision checked: bad input fails
/// here, before anything is opened or stored.
fn resolve<'a>(
    registry: &'a Registry,
    plan: &RunPlan,
    observer: &mut dyn Observer,
) -> Result<Vec<&'a RegisteredKernel>> {
    let kernels: Vec<&RegisteredKernel> = plan
        .kernels
        .iter()
        .map(|k| registry.get(k))
        .collect::<Result<_>>()?;
    for k in &kernels {
        for s in plan.sizes.iter().filter(|s| crate::plan::runs_size(k, s)) {
            // The size's figures are checked as the kernel reads them: a bad
            // one in a manifest is bad input now, not an error row later.
            k.kernel.work(&k.size(s)?)?;
        }
    }
    // The optional size, where some kernels of the plan do not define it.
    let only_optional = plan.sizes.iter().all(|s| is_optional_size(s));
    for s in plan.sizes.iter().filter(|s| is_optional_size(s)) {
        check_asked(
            registry,
            &kernels,
            &|k| crate::plan::runs_size(k, s),
            Asked {
                refuse_if_none: only_optional,
                option: "--size",
                what: format!("defines the optional size {s}"),
                lacking: format!("not at size {s} (their manifests do not define it)"),
            },
            observer,
        )?;
    }
    if !plan.precisions.is_empty() {
        let asked = plan
            .precisions
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        check_asked(
            registry,
            &kernels,
            &|k| !planned_precisions(plan, k).is_empty(),
            Asked {
                refuse_if_none: true,
                option: "--precision",
                what: format!("has precision {asked}"),
                lacking: format!("not in precision {asked} (their manifests do not list it)"),
            },
            observer,
        )?;
    }
    Ok(kernels)
}

/// The status and message of a job refused before it runs, or `None` when
/// it may run. A launch whose shape exceeds a device's limits is a failure
/// (every size must fit every device); memory a size needs and a device or
/// the host lacks is a skip.
pub fn refusal(check: &JobCheck, job: &PlannedJob) -> Option<(Status, String)> {
    match &check.admission {
        Admission::Fits => None,
        Admission::OverDeviceLimit(exceeded) => {
            let status = match exceeded.kind {
                LimitKind::Geometry => Status::Error,
                LimitKind::Memory => Status::Skipped,
            };
            let error = Error::OverDeviceLimit {
                kernel: job.kernel.name().to_string(),
                size: job.size.name.clone(),
                device: job.device.id.clone(),
                exceeded: Box::new(exceeded.clone()),
            };
            Some((status, error.to_string()))
        }
        Admission::HostMemoryShort => Some((
            Status::Skipped,
            format!(
                "needs {} of host memory, {} available",
                gib(check.host_bytes),
                gib(check.host_available.unwrap_or(0))
            ),
        )),
    }
}

/// One job of a dry run: what it would run and whether it fits.
pub struct DryRunJob {
    pub kernel: String,
    pub size: String,
    pub precision: Precision,
    pub backend: BackendKind,
    pub device: Device,
    pub check: JobCheck,
    /// Status and reason where the job would be refused, as `run` stores it.
    pub refusal: Option<(Status, String)>,
}

/// The plan of `run` without running it: every job with its launch
/// geometry, memory and whether it fits its device. Nothing is measured
/// or stored.
pub fn dry_run(
    registry: &Registry,
    plan: &RunPlan,
    required: &[RequiredBackend],
    observer: &mut dyn Observer,
) -> Result<Vec<DryRunJob>> {
    let kernels = resolve(registry, plan, observer)?;
    let backends = open_backends(plan, required, observer)?;
    planned_jobs(plan, &kernels, &backends)?
        .into_iter()
        .map(|job| {
            let check = check_job(&job, plan.seed)?;
            Ok(DryRunJob {
                kernel: job.kernel.name().to_string(),
                size: job.size.name.clone(),
                precision: job.precision,
                backend: job.device.backend,
                device: job.device.clone(),
                refusal: refusal(&check, &job),
                check,
            })
        })
        .collect()
}

/// Starts a run, or resumes the interrupted run `resume`, and stores every
/// result as it is measured.
pub fn run(
    registry: &Registry,
    opts: &RunOptions,
    resume: Option<(RunRecord, Vec<ResultRecord>)>,
    sinks: Sinks,
    observer: &mut dyn Observer,
) -> Result<RunOutcome> {
    let plan = &opts.plan;
    // Resolve names first: bad input fails before anything is stored.
    let kernels = resolve(registry, plan, observer)?;
    let fingerprint = platform::fingerprint();
    if let Some((run, _)) = &resume {
        same_platform(run, &fingerprint)?;
    }
    let backends = open_backends(plan, &opts.required, observer)?;
    let meters = Meters::open(plan, observer);
    let (mut run, mut results) = match resume {
        Some((run, results)) => (resumed(run, opts), results),
        None => {
            let run = new_run(opts, &fingerprint, &meters.meters, observer);
            sinks.db.insert_run(&run)?;
            (run, Vec::new())
        }
    };
    // One process measures a run at a time: a second resume is refused.
    let _lock = RunLock::acquire(
        &lock_dir(sinks.runs_dir),
        &run.run_id,
        &fingerprint.hostname,
    )?;
    sinks.db.update_run(&run)?;
    let json_path = json::run_file_path(sinks.runs_dir, &run.run_id);
    let mut file = RunFile {
        schema_version: RUN_FILE_SCHEMA,
        run: run.clone(),
        results: results.clone(),
    };
    json::write_atomic(&json_path, &file)?;

    // The plan, in order; jobs already measured (on resume) are skipped.
    let mut todo = planned_jobs(plan, &kernels, &backends)?;
    let total = todo.len();
    todo.retain(|j| !results.iter().any(|r| measured_by(r, j)));
    observer.planned(total, total - todo.len());

    let mut interrupted = false;
    for planned in todo {
        if opts.interrupt.load(Ordering::SeqCst) {
            interrupted = true;
            break;
        }
        observer.started(&format!(
            "{} {} {} {}",
            planned.kernel.name(),
            planned.size.name,
            planned.device.backend.as_str(),
            planned.device.id
        ));
        let Some(mut record) = measure_planned(&planned, opts, &run, &meters, observer) else {
            interrupted = true;
            break;
        };
        record.refuse_impossible_figures();
        record.replicate = plan.series.clone();
        file.results.push(record.clone());
        if let Err(e) = store_result(&sinks, &json_path, &file, &record) {
            return Err(stop(&sinks, &json_path, &mut file, e));
        }
        observer.finished(&record);
        results.push(record);
    }

    run.status = if interrupted || opts.interrupt.load(Ordering::SeqCst) {
        RunStatus::Interrupted
    } else {
        RunStatus::Finished
    };
    run.finished_at = Some(now_rfc3339());
    if let (Some(p), Some((_, roots))) = (run.platform.preflight.as_mut(), &opts.preflight) {
        p.finish(roots);
    }
    file.run = run.clone();
    let stored = sinks.db.update_run(&run);
    let written = json::write_atomic(&json_path, &file);
    if let Err(e) = stored.and(written) {
        return Err(stop(&sinks, &json_path, &mut file, e));
    }
    Ok(RunOutcome {
        run,
        results,
        json_path,
    })
}

/// A run resumes only on the platform that measured its first part.
fn same_platform(run: &RunRecord, fingerprint: &Fingerprint) -> Result<()> {
    if run.platform.hash == fingerprint.hash {
        return Ok(());
    }
    Err(Error::InvalidValue {
        what: "--resume".into(),
        message: format!(
            "run {} was measured on platform {} ({}), this node is {} ({}): resume it there",
            run.run_id,
            run.platform.hash,
            run.platform.hostname,
            fingerprint.hash,
            fingerprint.hostname
        ),
    })
}

/// Whether `r` is the stored result of the planned job `j`.
fn measured_by(r: &ResultRecord, j: &PlannedJob) -> bool {
    r.kernel == j.kernel.name()
        && r.size == j.size.name
        && r.precision == j.precision
        && r.backend == j.device.backend
        && r.device == j.device.id
}

/// The energy meters of a run, what its workers are told to open, and the
/// measurement settings they imply.
struct Meters {
    meters: Vec<Box<dyn EnergyMeter>>,
    /// Workers open the meters found here and probe no kind that is
    /// missing: a hung IPMI command costs its time limit once per run, not
    /// per job.
    worker_power: Option<PowerConfig>,
    measure: MeasureConfig,
}

impl Meters {
    fn open(plan: &RunPlan, observer: &mut dyn Observer) -> Meters {
        let meters = match &plan.power {
            Some(cfg) => {
                let d = power::discover(cfg);
                let found: Vec<&power::MeterInfo> = d.meters.iter().map(|m| m.info()).collect();
                observer.meters(&found, &d.missing);
                d.meters
            }
            None => Vec::new(),
        };
        let worker_power = plan.power.clone().map(|mut cfg| {
            if !meters.iter().any(|m| m.info().name.starts_with("ipmi")) {
                cfg.ipmi_command.clear();
            }
            cfg
        });
        let mut measure = plan.measure;
        if plan.energy_window {
            let slowest = meters
                .iter()
                .map(|m| m.info().update_interval_s)
                .fold(0.0, f64::max);
            measure.min_window_s = 10.0 * slowest;
        }
        Meters {
            meters,
            worker_power,
            measure,
        }
    }
}

/// An interrupted run, running again under this session's node state.
fn resumed(mut run: RunRecord, opts: &RunOptions) -> RunRecord {
    run.status = RunStatus::Running;
    run.finished_at = None;
    if let Some((p, _)) = &opts.preflight {
        run.platform.preflight = Some(p.clone().resuming(run.platform.preflight.take()));
    }
    run
}

/// A new run's record, after its idle power baseline.
fn new_run(
    opts: &RunOptions,
    fingerprint: &Fingerprint,
    meters: &[Box<dyn EnergyMeter>],
    observer: &mut dyn Observer,
) -> RunRecord {
    let plan = &opts.plan;
    let idle = idle_baseline(meters, plan.idle_seconds, observer);
    RunRecord {
        run_id: uuid::Uuid::new_v4().to_string(),
        started_at: now_rfc3339(),
        finished_at: None,
        status: RunStatus::Running,
        harness_version: crate::HARNESS_VERSION.into(),
        suite_version: crate::SUITE_VERSION.into(),
        platform: Fingerprint {
            label: plan.label.clone(),
            preflight: opts.preflight.as_ref().map(|(p, _)| p.clone()),
            ..fingerprint.clone()
        },
        command: opts.command.clone(),
        idle,
        plan: Some(plan.clone()),
    }
}

/// One planned job's record: refused before it runs (over a device limit,
/// short of memory), or measured in this process or a worker. `None` when
/// the run was interrupted while its worker ran.
fn measure_planned(
    planned: &PlannedJob,
    opts: &RunOptions,
    run: &RunRecord,
    meters: &Meters,
    observer: &mut dyn Observer,
) -> Option<ResultRecord> {
    let plan = &opts.plan;
    let base = Base {
        kernel: planned.kernel,
        size: &planned.size,
        precision: planned.precision,
        device: planned.device,
        seed: plan.seed,
        run: RunStamp::of_run(run),
    };
    let refused = check_job(planned, plan.seed).map(|c| refusal(&c, planned));
    match refused {
        Err(e) => return Some(base.record(Status::Error, Some(e.to_string()))),
        Ok(Some((status, reason))) => return Some(base.record(status, Some(reason))),
        Ok(None) => {}
    }
    let job = Job {
        run_id: run.run_id.clone(),
        hostname: run.platform.hostname.clone(),
        platform_hash: run.platform.hash.clone(),
        platform_label: run.platform.label.clone(),
        kernel: planned.kernel.name().to_string(),
        size: planned.size.name.clone(),
        precision: planned.precision,
        backend: planned.device.backend,
        device: planned.device.id.clone(),
        seed: plan.seed,
        measure: meters.measure,
        backend_options: plan.backend_options.clone(),
        power: meters.worker_power.clone(),
        idle: run.idle.clone(),
        inject_error: plan.inject_error,
        fault: plan
            .inject_fault
            .iter()
            .find(|(k, _)| k == planned.kernel.name())
            .map(|(_, f)| *f),
        kernels_dir: plan.kernels_dir.clone(),
    };
    match &opts.isolation {
        Isolation::InProcess => {
            let mut notes = Vec::new();
            let r = measure_job(&job, &base, planned.backend, &meters.meters, &mut notes);
            for n in notes {
                observer.energy_note(&n);
            }
            Some(r)
        }
        Isolation::Process { program, args } => {
            match run_child(program, args, &job, plan.timeout_s, &opts.interrupt) {
                ChildOutcome::Record(r) => Some(*r),
                ChildOutcome::Failed(status, message) => Some(base.record(status, Some(message))),
                ChildOutcome::Interrupted => None,
            }
        }
    }
}

/// Where the run locks are: `.locks` beside the run files' folder.
fn lock_dir(runs_dir: &Path) -> PathBuf {
    match runs_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(".locks"),
        _ => runs_dir.join(".locks"),
    }
}

/// Stores one result in the database and the run file (already holding
/// it). Both are tried even when the first fails, so that the measurement
/// is kept in whichever store works.
fn store_result(
    sinks: &Sinks,
    json_path: &Path,
    file: &RunFile,
    record: &ResultRecord,
) -> Result<()> {
    let stored = sinks.db.insert_result(record).map(|_| ());
    let written = json::write_atomic(json_path, file);
    stored.and(written)
}

/// After a storage failure: marks the run interrupted in every store that
/// still takes it (best effort: the failure itself is what is reported)
/// and returns the error that stops the run, naming it for its resume.
fn stop(sinks: &Sinks, json_path: &Path, file: &mut RunFile, cause: Error) -> Error {
    file.run.status = RunStatus::Interrupted;
    file.run.finished_at = Some(now_rfc3339());
    let _ = sinks.db.update_run(&file.run);
    let _ = json::write_atomic(json_path, file);
    Error::RunStopped {
        run_id: file.run.run_id.clone(),
        source: Box::new(cause),
    }
}

/// The run `run_id` and its results, ready for [`run`] to resume.
pub fn load_for_resume(
    db: &Database,
    run_id: &str,
) -> Result<(RunRecord, Vec<ResultRecord>, RunPlan)> {
    let run = db.run(run_id)?.ok_or_else(|| Error::InvalidValue {
        what: "--resume".into(),
        message: format!("no run '{run_id}' in '{}'", db.location()),
    })?;
    if run.status == RunStatus::Finished {
        return Err(Error::InvalidValue {
            what: "--resume".into(),
            message: format!("run {run_id} finished; there is nothing to resume"),
        });
    }
    let plan = run.plan.clone().ok_or_else(|| Error::InvalidValue {
        what: "--resume".into(),
        message: format!("run {run_id} was stored without its plan and cannot be resumed"),
    })?;
    // A stored result that cannot be read is measured again.
    let results = db
        .results(&ResultFilter {
            run_id: Some(run_id.to_string()),
            ..Default::default()
        })?
        .records;
    Ok((run, results, plan))
}

/// Each meter's average power over `seconds` of idling, before any work.
fn idle_baseline(
    meters: &[Box<dyn EnergyMeter>],
    seconds: f64,
    observer: &mut dyn Observer,
) -> Vec<IdleReading> {
    if meters.is_empty() || seconds <= 0.0 {
        return Vec::new();
    }
    observer.energy_note(&format!("measuring idle power for {seconds} s"));
    let windows: Vec<_> = meters.iter().map(|m| m.open()).collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let mut idle = Vec::new();
    for (meter, window) in meters.iter().zip(windows) {
        let info = meter.info();
        match window.and_then(|w| w.close()) {
            Ok(raw) if raw.seconds > 0.0 => idle.push(IdleReading {
                meter: info.name.clone(),
                scope: info.scope,
                method: info.method,
                avg_w: raw.joules / raw.seconds,
                seconds: raw.seconds,
            }),
            Ok(_) => {}
            Err(e) => observer.energy_note(&format!("idle baseline of {}: {e}", info.name)),
        }
    }
    idle
}

/// What a result records of the run it belongs to: the run and its
/// platform. The parent takes it from the run; a worker from its job.
struct RunStamp<'a> {
    run_id: &'a str,
    hostname: &'a str,
    platform_hash: &'a str,
    platform_label: Option<&'a str>,
}

impl<'a> RunStamp<'a> {
    fn of_run(run: &'a RunRecord) -> Self {
        RunStamp {
            run_id: &run.run_id,
            hostname: &run.platform.hostname,
            platform_hash: &run.platform.hash,
            platform_label: run.platform.label.as_deref(),
        }
    }

    fn of_job(job: &'a Job) -> Self {
        RunStamp {
            run_id: &job.run_id,
            hostname: &job.hostname,
            platform_hash: &job.platform_hash,
            platform_label: job.platform_label.as_deref(),
        }
    }
}

/// The fields every record of one combination shares.
struct Base<'a> {
    kernel: &'a RegisteredKernel,
    size: &'a SizeSpec,
    precision: Precision,
    device: &'a Device,
    seed: u64,
    run: RunStamp<'a>,
}

impl Base<'_> {
    fn record(&self, status: Status, message: Option<String>) -> ResultRecord {
        let m = &self.kernel.manifest;
        ResultRecord {
            run_id: self.run.run_id.to_string(),
            kernel: m.name.clone(),
            kernel_version: m.version.clone(),
            kernel_hash: self.kernel.hash.clone(),
            size: self.size.name.clone(),
            size_params: self.size.params.clone(),
            precision: self.precision,
            seed: self.seed,
            backend: self.device.backend,
            device: self.device.id.clone(),
            device_name: self.device.name.clone(),
            device_type: self.device.device_type,
            last_level_cache_bytes: self.device.last_level_cache_bytes,
            status,
            timing: None,
            throughput: None,
            throughput_unit: m.throughput.unit.clone(),
            work: self.kernel.work(self.size, self.precision).ok(),
            verification: None,
            message,
            warnings: Vec::new(),
            energy: Vec::new(),
            harness_version: crate::HARNESS_VERSION.into(),
            suite_version: crate::SUITE_VERSION.into(),
            hostname: self.run.hostname.to_string(),
            platform_hash: self.run.platform_hash.to_string(),
            platform_label: self.run.platform_label.map(str::to_string),
            recorded_at: now_rfc3339(),
            model: None,
            replicate: None,
            combined: None,
        }
    }
}

/// Runs one job in this process. Never fails: failures become records.
/// Notes about energy meters go to `notes`.
fn measure_job(
    job: &Job,
    base: &Base,
    backend: &dyn Backend,
    meters: &[Box<dyn EnergyMeter>],
    notes: &mut Vec<String>,
) -> ResultRecord {
    let mut attempt = || -> Result<ResultRecord> {
        let precision = base.precision;
        let inputs = base.kernel.kernel.generate(base.size, job.seed)?;
        // The backend gets the inputs in the run's precision; verification
        // the generated ones (the same values, see Inputs::in_precision).
        let mut prepared =
            backend.prepare(base.kernel, base.device, &inputs.in_precision(precision))?;
        match job.fault {
            Some(FaultKind::Crash) => std::process::abort(),
            Some(FaultKind::Hang) => loop {
                std::thread::sleep(Duration::from_secs(3600));
            },
            None => {}
        }
        // A modeled backend (FPGA emulation) brings its time, energy and
        // report, and takes its own path that measures nothing; a
        // fixed-point one brings its own tolerance.
        let modeled = prepared.modeled();
        let m = match modeled {
            Some(_) => measure::modeled(prepared.as_mut())?,
            None => measure::measure(prepared.as_mut(), &job.measure, meters)?,
        };
        let mut outputs = prepared.read_back()?;
        let tolerance = prepared.tolerance(base.kernel.manifest.tolerance_for(precision));
        drop(prepared);
        if job.inject_error {
            corrupt_one_value(&mut outputs);
        }
        let manifest = &base.kernel.manifest;
        // A modeled backend verified its outputs for its accuracy report:
        // its verdict stands, unless a fault was injected after it.
        let verdict = match &modeled {
            Some(mf) if !job.inject_error => mf.verdict.clone(),
            _ => base.kernel.kernel.verify(&inputs, &outputs, tolerance)?,
        };
        let work = base.kernel.work(base.size, precision)?;
        // A modeled time is one figure (n = 1): it has no interval.
        let primary = *m.primary();
        let throughput =
            work.metric(manifest.throughput.metric) / primary.median / manifest.throughput.scale;
        let status = if verdict.passed {
            Status::Ok
        } else {
            Status::VerifyFailed
        };
        let mut r = base.record(
            status,
            (!verdict.passed).then(|| {
                format!(
                    "output differs from the reference beyond tolerance (rel {}, abs {}): {}",
                    tolerance.rel, tolerance.abs, verdict.detail
                )
            }),
        );
        r.timing = Some(TimingRecord {
            timer: if m.device.is_some() {
                Timer::Device
            } else {
                Timer::Host
            },
            summary: primary,
            host: m.host,
            iters_per_sample: m.iters_per_sample,
            window_s: m.window_s,
            end_to_end: m.end_to_end,
            dispatch_gap: m.dispatch_gap,
        });
        r.throughput = Some(throughput);
        r.warnings = m.warnings;
        // Host meters measure the host, not a modeled device: a modeled
        // result carries only the model's reading.
        let perf = verdict.passed.then_some(throughput);
        if modeled.is_none() {
            host_readings(&mut r, job, meters, m.energy, perf, notes);
        }
        if let Some(mf) = modeled {
            modeled_reading(&mut r, mf, perf);
        }
        r.verification = Some(verdict);
        r.work = Some(work);
        Ok(r)
    };
    attempt().unwrap_or_else(|e| match e {
        Error::Unsupported { .. } => base.record(Status::Skipped, Some(e.to_string())),
        Error::OverDeviceLimit { ref exceeded, .. } if exceeded.kind == LimitKind::Memory => {
            base.record(Status::Skipped, Some(e.to_string()))
        }
        e => base.record(Status::Error, Some(e.to_string())),
    })
}

/// The self-test of verification: the last value of the first output,
/// changed beyond any tolerance.
fn corrupt_one_value(outputs: &mut crate::kernel::Buffers) {
    match outputs.entries.first_mut() {
        Some((_, Buffer::F32(v))) => {
            if let Some(x) = v.last_mut() {
                *x = *x * 1.5 + 1.0;
            }
        }
        Some((_, Buffer::F64(v))) => {
            if let Some(x) = v.last_mut() {
                *x = *x * 1.5 + 1.0;
            }
        }
        _ => {}
    }
}

/// Each host meter's reading of the measurement, idle power subtracted;
/// a meter that failed becomes a note. `perf` is the verified throughput
/// (none when verification failed: no perf/W either).
fn host_readings(
    r: &mut ResultRecord,
    job: &Job,
    meters: &[Box<dyn EnergyMeter>],
    energy: Vec<std::result::Result<power::RawEnergy, String>>,
    perf: Option<f64>,
    notes: &mut Vec<String>,
) {
    for (meter, raw) in meters.iter().zip(energy) {
        let info = meter.info();
        match raw {
            Ok(raw) => {
                let idle = job
                    .idle
                    .iter()
                    .find(|i| i.meter == info.name)
                    .map(|i| i.avg_w);
                let reading = power::reading(info, raw, idle, perf, &r.throughput_unit);
                r.energy.push(reading);
            }
            Err(e) => notes.push(format!("{}: meter {} failed: {e}", r.kernel, info.name)),
        }
    }
}

/// A modeled backend's energy, as a reading of scope and method `modeled`,
/// and its model report.
fn modeled_reading(r: &mut ResultRecord, mf: backends::ModeledFigures, perf: Option<f64>) {
    let info = power::MeterInfo {
        name: mf.meter,
        scope: power::Scope::Modeled,
        method: power::Method::Modeled,
        update_interval_s: 0.0,
        covers: mf.covers,
    };
    let raw = power::RawEnergy {
        joules: mf.energy_j,
        seconds: mf.seconds,
        samples: 0,
    };
    let reading = power::reading(&info, raw, None, perf, &r.throughput_unit);
    r.energy.push(reading);
    r.model = Some(ModelRecord::Report(Box::new(mf.report)));
}

/// The worker side of process isolation: runs `job` in this process.
pub fn measure_in_worker(job: &Job) -> Result<ResultRecord> {
    let registry = Registry::load(job.kernels_dir.as_deref())?;
    let kernel = registry.get(&job.kernel)?;
    let size = kernel.size(&job.size)?;
    let backend =
        backends::open(job.backend, &job.backend_options).map_err(|u| Error::Backend {
            backend: job.backend.as_str().into(),
            message: u.reason,
        })?;
    let device = backend
        .devices()
        .map_err(|u| Error::Backend {
            backend: job.backend.as_str().into(),
            message: u.reason,
        })?
        .into_iter()
        .find(|d| d.id == job.device)
        .ok_or_else(|| Error::Backend {
            backend: job.backend.as_str().into(),
            message: format!("device '{}' is gone", job.device),
        })?;
    let meters = job
        .power
        .as_ref()
        .map(|cfg| power::discover(cfg).meters)
        .unwrap_or_default();
    let base = Base {
        kernel,
        size: &size,
        precision: job.precision,
        device: &device,
        seed: job.seed,
        run: RunStamp::of_job(job),
    };
    let mut notes = Vec::new();
    let mut record = measure_job(job, &base, backend.as_ref(), &meters, &mut notes);
    if !notes.is_empty() {
        // Meter failures travel in the record, as warnings cannot.
        let text = notes.join("; ");
        record.message = Some(match record.message.take() {
            Some(m) => format!("{m}; {text}"),
            None => text,
        });
    }
    Ok(record)
}

enum ChildOutcome {
    Record(Box<ResultRecord>),
    /// Status (crashed, timeout, error) and what happened.
    Failed(Status, String),
    Interrupted,
}

/// The last `n` non-empty lines of `text`.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "",
    };
    if name.is_empty() {
        format!("signal {signal}")
    } else {
        format!("{name} (signal {signal})")
    }
}

/// At most this much of a worker's stdout (its record) and stderr is read.
const WORKER_OUTPUT_LIMIT: u64 = 256 << 20;

/// Runs `job` in a child process with a time limit.
fn run_child(
    program: &Path,
    args: &[String],
    job: &Job,
    timeout_s: f64,
    interrupt: &AtomicBool,
) -> ChildOutcome {
    let failed = |m: String| ChildOutcome::Failed(Status::Error, m);
    let input = match serde_json::to_vec(job) {
        Ok(v) => v,
        Err(e) => return failed(format!("could not encode the job: {e}")),
    };
    let mut command = Command::new(program);
    command.args(args);
    lifetime::bind_to_parent(&mut command);
    let limit = Duration::from_secs_f64(timeout_s.max(0.001));
    let done = match process::supervise(
        command,
        Some(input),
        limit,
        WORKER_OUTPUT_LIMIT,
        Some(interrupt),
    ) {
        Ok(done) => done,
        Err(process::SuperviseError::Spawn(e)) => {
            return failed(format!(
                "could not start worker '{}': {e}",
                program.display()
            ));
        }
        Err(process::SuperviseError::Wait(e)) => {
            return failed(format!("could not wait for the worker: {e}"));
        }
    };
    let (stdout, stderr) = (done.stdout, done.stderr);
    if matches!(done.ended, process::Ended::Interrupted) || interrupt.load(Ordering::SeqCst) {
        return ChildOutcome::Interrupted;
    }
    let last = last_lines(&stderr, 3);
    let said = if last.is_empty() {
        String::new()
    } else {
        format!("; last output: {last}")
    };
    let status = match done.ended {
        process::Ended::Exited(status) => status,
        _ => {
            return ChildOutcome::Failed(
                Status::Timeout,
                format!("killed after exceeding the time limit of {timeout_s} s (--timeout){said}"),
            );
        }
    };
    match status {
        s if s.success() => match serde_json::from_str::<ResultRecord>(&stdout) {
            Ok(r) => ChildOutcome::Record(Box::new(r)),
            Err(e) => failed(format!("the worker's result does not parse: {e}{said}")),
        },
        s => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt;
                if let Some(sig) = s.signal() {
                    return ChildOutcome::Failed(
                        Status::Crashed,
                        format!("the worker died of {}{said}", signal_name(sig)),
                    );
                }
            }
            ChildOutcome::Failed(Status::Crashed, format!("the worker exited with {s}{said}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_and_signal_names() {
        assert_eq!(last_lines("a\n\nb\nc\nd\n", 2), "c | d");
        assert_eq!(signal_name(11), "SIGSEGV (signal 11)");
        assert_eq!(signal_name(64), "signal 64");
    }
}
