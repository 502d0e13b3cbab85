//! One `hetbench run`: kernels x sizes x precisions x backends x devices.
//!
//! For each combination: generate inputs (seeded, once per kernel and size),
//! prepare on the backend (not timed), measure, read back, verify against the
//! CPU reference, and store one [`ResultRecord`] at once: in the database
//! (its own transaction) and in the run's JSON file (rewritten atomically).
//! A failure of one combination is recorded as such and the run goes on.

use std::path::{Path, PathBuf};

use crate::backends::{self, Backend, BackendKind, BackendOptions, Device};
use crate::error::{Error, Result};
use crate::kernels::{Buffer, Inputs, RegisteredKernel, Registry, SizeSpec};
use crate::measure::{self, MeasureConfig};
use crate::platform::{self, Fingerprint};
use crate::power::{self, EnergyMeter, IdleReading, PowerConfig};
use crate::store::record::{RUN_FILE_SCHEMA, TimingRecord, now_rfc3339};
use crate::store::{Database, ResultRecord, RunFile, RunRecord, RunStatus, Status, json};

/// What to run and how.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub kernels: Vec<String>,
    pub sizes: Vec<String>,
    pub backends: Vec<BackendKind>,
    /// Device ids to keep (`cpu0`); empty keeps all.
    pub devices: Vec<String>,
    pub seed: u64,
    pub measure: MeasureConfig,
    pub backend_options: BackendOptions,
    /// Backends whose absence is an error (HETBENCH_REQUIRE_BACKENDS).
    pub required: Vec<BackendKind>,
    /// Self-test of verification: perturb one output value before verifying.
    pub inject_error: bool,
    /// The command line, stored with the run.
    pub command: String,
    /// Energy meters' settings; `None` measures no energy.
    pub power: Option<PowerConfig>,
    /// Seconds of idle baseline before the first measurement (0: none).
    pub idle_seconds: f64,
    /// Lengthen each timed window to ten update intervals of the slowest
    /// meter, instead of only flagging short windows.
    pub energy_window: bool,
}

/// Hears about a run's progress; the binary draws the progress bar and
/// prints warnings from these calls.
pub trait Observer {
    fn backend_unavailable(&mut self, _kind: BackendKind, _reason: &str) {}
    fn planned(&mut self, _total: usize) {}
    fn started(&mut self, _label: &str) {}
    fn finished(&mut self, _record: &ResultRecord) {}
    /// Energy meters found, and those missing with the reason.
    fn meters(&mut self, _found: &[&power::MeterInfo], _missing: &[(String, String)]) {}
    /// A note about energy measurement (idle baseline, a failed meter).
    fn energy_note(&mut self, _note: &str) {}
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run: RunRecord,
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

/// A backend opened for a run with the devices it will measure on.
pub type OpenBackend = (Box<dyn Backend>, Vec<Device>);

/// Opens the requested backends and lists the devices to measure on.
pub fn open_backends(opts: &RunOptions, observer: &mut dyn Observer) -> Result<Vec<OpenBackend>> {
    let mut out = Vec::new();
    for &kind in &opts.backends {
        let opened = backends::open(kind, &opts.backend_options).and_then(|b| {
            let devices: Vec<Device> = b
                .devices()?
                .into_iter()
                .filter(|d| opts.devices.is_empty() || opts.devices.contains(&d.id))
                .collect();
            if devices.is_empty() {
                Err(backends::Unavailable {
                    reason: format!("no device matches --device {}", opts.devices.join(",")),
                })
            } else {
                Ok((b, devices))
            }
        });
        match opened {
            Ok(pair) => out.push(pair),
            Err(u) if opts.required.contains(&kind) => {
                return Err(Error::RequiredBackendMissing {
                    backend: kind.as_str().into(),
                    reason: u.reason,
                });
            }
            Err(u) => observer.backend_unavailable(kind, &u.reason),
        }
    }
    Ok(out)
}

/// Runs the plan and stores every result as it is measured.
pub fn run(
    registry: &Registry,
    opts: &RunOptions,
    sinks: Sinks,
    observer: &mut dyn Observer,
) -> Result<RunOutcome> {
    // Resolve names first: bad input fails before anything is stored.
    let kernels: Vec<&RegisteredKernel> = opts
        .kernels
        .iter()
        .map(|k| registry.get(k))
        .collect::<Result<_>>()?;
    for k in &kernels {
        for s in &opts.sizes {
            k.size(s)?;
        }
    }
    let fingerprint = platform::fingerprint();
    let backends = open_backends(opts, observer)?;
    let meters = match &opts.power {
        Some(cfg) => {
            let d = power::discover(cfg);
            let found: Vec<&power::MeterInfo> = d.meters.iter().map(|m| m.info()).collect();
            observer.meters(&found, &d.missing);
            d.meters
        }
        None => Vec::new(),
    };
    let mut measure_cfg = opts.measure;
    if opts.energy_window {
        let slowest = meters
            .iter()
            .map(|m| m.info().update_interval_s)
            .fold(0.0, f64::max);
        measure_cfg.min_window_s = 10.0 * slowest;
    }
    let idle = idle_baseline(&meters, opts.idle_seconds, observer);

    let mut run = RunRecord {
        run_id: uuid::Uuid::new_v4().to_string(),
        started_at: now_rfc3339(),
        finished_at: None,
        status: RunStatus::Running,
        harness_version: crate::HARNESS_VERSION.into(),
        suite_version: crate::SUITE_VERSION.into(),
        platform: fingerprint.clone(),
        command: opts.command.clone(),
        idle,
    };
    let json_path = json::run_file_path(sinks.runs_dir, &run.run_id);
    let mut file = RunFile {
        schema_version: RUN_FILE_SCHEMA,
        run: run.clone(),
        results: Vec::new(),
    };
    sinks.db.insert_run(&run)?;
    json::write_atomic(&json_path, &file)?;

    let devices: usize = backends.iter().map(|(_, d)| d.len()).sum();
    let total: usize = kernels
        .iter()
        .map(|k| k.manifest.precisions.len() * opts.sizes.len() * devices)
        .sum();
    observer.planned(total);

    for kernel in &kernels {
        for size_name in &opts.sizes {
            let size = kernel.size(size_name)?;
            // Generated once, shared by every precision, backend and device.
            let mut inputs: Option<Result<Inputs>> = None;
            for precision in &kernel.manifest.precisions {
                for (backend, devs) in &backends {
                    for device in devs {
                        observer.started(&format!(
                            "{} {} {} {}",
                            kernel.name(),
                            size_name,
                            backend.kind().as_str(),
                            device.id
                        ));
                        let base = Base {
                            kernel,
                            size: &size,
                            precision: precision.as_str(),
                            device,
                            seed: opts.seed,
                            run: &run,
                            fingerprint: &fingerprint,
                        };
                        let record = match memory_check(kernel, &size) {
                            Some(reason) => base.record(Status::Skipped, Some(reason)),
                            None => {
                                let inputs = inputs.get_or_insert_with(|| {
                                    kernel.kernel.generate(&size, opts.seed)
                                });
                                match inputs {
                                    Ok(inputs) => {
                                        let ctx = MeasureContext {
                                            cfg: &measure_cfg,
                                            meters: &meters,
                                            idle: &run.idle,
                                            inject_error: opts.inject_error,
                                        };
                                        measure_one(&base, backend.as_ref(), inputs, &ctx, observer)
                                    }
                                    Err(e) => base.record(
                                        Status::Error,
                                        Some(format!("input generation failed: {e}")),
                                    ),
                                }
                            }
                        };
                        sinks.db.insert_result(&record)?;
                        file.results.push(record.clone());
                        json::write_atomic(&json_path, &file)?;
                        observer.finished(&record);
                    }
                }
            }
        }
    }

    run.status = RunStatus::Finished;
    run.finished_at = Some(now_rfc3339());
    sinks.db.update_run(&run)?;
    file.run = run.clone();
    json::write_atomic(&json_path, &file)?;
    Ok(RunOutcome {
        run,
        results: file.results,
        json_path,
    })
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
    std::thread::sleep(std::time::Duration::from_secs_f64(seconds));
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

/// What every measurement of a run shares.
struct MeasureContext<'a> {
    cfg: &'a MeasureConfig,
    meters: &'a [Box<dyn EnergyMeter>],
    idle: &'a [IdleReading],
    inject_error: bool,
}

/// The reason to skip `size` when it cannot fit in the host's free memory.
fn memory_check(kernel: &RegisteredKernel, size: &SizeSpec) -> Option<String> {
    let need = match kernel.kernel.memory_bytes(size) {
        Ok(n) => n,
        Err(e) => return Some(e.to_string()),
    };
    let available = platform::available_memory()?;
    (need > available).then(|| {
        format!(
            "needs {:.2} GiB of host memory, {:.2} GiB available",
            need as f64 / (1u64 << 30) as f64,
            available as f64 / (1u64 << 30) as f64
        )
    })
}

/// The fields every record of one combination shares.
struct Base<'a> {
    kernel: &'a RegisteredKernel,
    size: &'a SizeSpec,
    precision: &'a str,
    device: &'a Device,
    seed: u64,
    run: &'a RunRecord,
    fingerprint: &'a Fingerprint,
}

impl Base<'_> {
    fn record(&self, status: Status, message: Option<String>) -> ResultRecord {
        let m = &self.kernel.manifest;
        ResultRecord {
            run_id: self.run.run_id.clone(),
            kernel: m.name.clone(),
            kernel_version: m.version.clone(),
            kernel_hash: self.kernel.hash.clone(),
            size: self.size.name.clone(),
            size_params: self.size.params.clone(),
            precision: self.precision.into(),
            seed: self.seed,
            backend: self.device.backend.as_str().into(),
            device: self.device.id.clone(),
            device_name: self.device.name.clone(),
            device_type: self.device.device_type.as_str().into(),
            status,
            timing: None,
            throughput: None,
            throughput_unit: m.throughput.unit.clone(),
            work: self.kernel.kernel.work(self.size).ok(),
            verification: None,
            message,
            warnings: Vec::new(),
            energy: Vec::new(),
            harness_version: crate::HARNESS_VERSION.into(),
            suite_version: crate::SUITE_VERSION.into(),
            hostname: self.fingerprint.hostname.clone(),
            platform_hash: self.fingerprint.hash.clone(),
            recorded_at: now_rfc3339(),
        }
    }
}

fn measure_one(
    base: &Base,
    backend: &dyn Backend,
    inputs: &Inputs,
    ctx: &MeasureContext,
    observer: &mut dyn Observer,
) -> ResultRecord {
    let mut attempt = || -> Result<ResultRecord> {
        let mut prepared = backend.prepare(base.kernel, base.device, inputs)?;
        let m = measure::measure(prepared.as_mut(), ctx.cfg, ctx.meters)?;
        let mut outputs = prepared.read_back()?;
        drop(prepared);
        if ctx.inject_error
            && let Some((_, Buffer::F32(v))) = outputs.entries.first_mut()
            && let Some(x) = v.last_mut()
        {
            *x = *x * 1.5 + 1.0;
        }
        let manifest = &base.kernel.manifest;
        let verdict = base
            .kernel
            .kernel
            .verify(inputs, &outputs, manifest.tolerance)?;
        let work = base.kernel.kernel.work(base.size)?;
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
                    manifest.tolerance.rel, manifest.tolerance.abs, verdict.detail
                )
            }),
        );
        r.timing = Some(TimingRecord {
            timer: if m.device.is_some() { "device" } else { "host" }.into(),
            summary: primary,
            host: m.host,
            iters_per_sample: m.iters_per_sample,
            window_s: m.window_s,
            end_to_end: m.end_to_end,
        });
        r.throughput = Some(throughput);
        r.warnings = m.warnings;
        for (meter, raw) in ctx.meters.iter().zip(m.energy) {
            let info = meter.info();
            match raw {
                Ok(raw) => {
                    let idle = ctx
                        .idle
                        .iter()
                        .find(|i| i.meter == info.name)
                        .map(|i| i.avg_w);
                    // A throughput that failed verification gets no perf/W either.
                    let perf = verdict.passed.then_some(throughput);
                    r.energy.push(power::reading(
                        info,
                        raw,
                        idle,
                        perf,
                        &manifest.throughput.unit,
                    ));
                }
                Err(e) => observer.energy_note(&format!(
                    "{}: meter {} failed: {e}",
                    base.kernel.name(),
                    info.name
                )),
            }
        }
        r.verification = Some(verdict);
        r.work = Some(work);
        Ok(r)
    };
    attempt().unwrap_or_else(|e| match e {
        Error::Unsupported { .. } => base.record(Status::Skipped, Some(e.to_string())),
        e => base.record(Status::Error, Some(e.to_string())),
    })
}
