//! What a run measures and how: the [`RunPlan`] (stored with the run, so
//! that `--resume` finishes it with the same settings) and the jobs it
//! becomes, one per kernel, size, precision, backend and device
//! ([`planned_jobs`]), each checked against its device's limits and the
//! host's memory before it runs ([`check_job`]; `run --dry-run` stops
//! there), and sent to a worker as a [`Job`]. Both the runner, which
//! executes jobs, and the store, which keeps the plan with the run, depend
//! on this module; it depends on neither.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::backends::limits::{self, Footprint, LimitExceeded};
use crate::backends::wgpu::workgroup_memory;
use crate::backends::{Backend, BackendKind, BackendOptions, Device};
use crate::error::Result;
use crate::kernel::manifest::is_optional_size;
use crate::kernel::{Launch, Precision, ShaderLanguage, ShaderSource, SizeSpec};
use crate::kernels::RegisteredKernel;
use crate::measure::MeasureConfig;
use crate::platform;
use crate::power::{IdleReading, PowerConfig};

/// A deliberate failure of the worker, to test isolation (hidden option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// Abort the worker process (SIGABRT) during the measurement.
    Crash,
    /// Never finish the measurement.
    Hang,
}

/// Everything that defines what a run measures and how; stored with the
/// run, so that an interrupted run resumes with the same settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPlan {
    pub kernels: Vec<String>,
    pub sizes: Vec<String>,
    /// Precisions to run, each where a kernel's manifest lists it; empty
    /// runs every kernel in its first listed (default) precision.
    #[serde(default)]
    pub precisions: Vec<Precision>,
    pub backends: Vec<BackendKind>,
    /// Device ids to keep (`cpu0`); empty keeps all.
    pub devices: Vec<String>,
    pub seed: u64,
    pub measure: MeasureConfig,
    pub backend_options: BackendOptions,
    /// Energy meters' settings; `None` measures no energy.
    pub power: Option<PowerConfig>,
    /// Seconds of idle baseline before the first measurement (0: none).
    pub idle_seconds: f64,
    /// Lengthen each timed window to ten update intervals of the slowest
    /// meter, instead of only flagging short windows.
    pub energy_window: bool,
    /// Seconds one measurement may take, preparation and verification
    /// included, before it is killed (isolated runs only).
    pub timeout_s: f64,
    /// Self-test of verification: perturb one output value before verifying.
    #[serde(default)]
    pub inject_error: bool,
    /// Self-test of isolation: (kernel, fault).
    #[serde(default)]
    pub inject_fault: Vec<(String, FaultKind)>,
    /// Where manifests and shaders were read from, if not built in.
    pub kernels_dir: Option<PathBuf>,
    /// The platform's name (`--label`), stored in the run's fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The replicate of a `run --repeat N` series this run is, copied onto
    /// each of its results; `None` for a single run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<Replicate>,
}

/// One run of a series that `hetbench run --repeat N` measured: each
/// replicate has its own run id and shares the series id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replicate {
    pub series_id: String,
    /// 1-based.
    pub index: u32,
    /// How many replicates the series planned.
    pub of: u32,
}

/// The precisions `kernel` runs in under `plan`.
pub fn planned_precisions(plan: &RunPlan, kernel: &RegisteredKernel) -> Vec<Precision> {
    if plan.precisions.is_empty() {
        vec![kernel.manifest.default_precision()]
    } else {
        plan.precisions
            .iter()
            .copied()
            .filter(|p| kernel.manifest.precisions.contains(p))
            .collect()
    }
}

/// One measurement, self-contained so that a child process can run it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub run_id: String,
    pub hostname: String,
    pub platform_hash: String,
    #[serde(default)]
    pub platform_label: Option<String>,
    pub kernel: String,
    pub size: String,
    pub precision: Precision,
    pub backend: BackendKind,
    pub device: String,
    pub seed: u64,
    pub measure: MeasureConfig,
    pub backend_options: BackendOptions,
    pub power: Option<PowerConfig>,
    pub idle: Vec<IdleReading>,
    pub inject_error: bool,
    pub fault: Option<FaultKind>,
    pub kernels_dir: Option<PathBuf>,
}

/// A backend opened for a run with the devices it will measure on.
pub type OpenBackend = (Box<dyn Backend>, Vec<Device>);

/// One job of a plan before it runs: kernel, size, precision and device.
pub struct PlannedJob<'a> {
    pub kernel: &'a RegisteredKernel,
    pub size: SizeSpec,
    pub precision: Precision,
    pub backend: &'a dyn Backend,
    pub device: &'a Device,
}

/// Whether a plan of size `name` runs `kernel`: always for a required
/// size, the optional `xlarge` only where the kernel defines it.
pub fn runs_size(kernel: &RegisteredKernel, name: &str) -> bool {
    !is_optional_size(name) || kernel.manifest.sizes.contains_key(name)
}

/// Every job of `plan` over `kernels` and the opened `backends`, in order:
/// kernel, size, precision, then backend and device.
pub fn planned_jobs<'a>(
    plan: &RunPlan,
    kernels: &[&'a RegisteredKernel],
    backends: &'a [OpenBackend],
) -> Result<Vec<PlannedJob<'a>>> {
    let mut jobs = Vec::new();
    for &kernel in kernels {
        for size_name in &plan.sizes {
            if !runs_size(kernel, size_name) {
                continue;
            }
            let size = kernel.size(size_name)?;
            for &precision in &planned_precisions(plan, kernel) {
                for (backend, devices) in backends {
                    for device in devices {
                        jobs.push(PlannedJob {
                            kernel,
                            size: size.clone(),
                            precision,
                            backend: backend.as_ref(),
                            device,
                        });
                    }
                }
            }
        }
    }
    Ok(jobs)
}

/// What a job needs and whether its device and this host can give it.
#[derive(Debug, Clone)]
pub struct JobCheck {
    /// The launch's footprint on its device; `None` where the backend runs
    /// no launch (the CPU, the FPGA emulation).
    pub footprint: Option<Footprint>,
    /// Bytes of host memory the job needs (inputs, outputs, reference).
    pub host_bytes: u64,
    /// Bytes of host memory available, where known.
    pub host_available: Option<u64>,
    pub admission: Admission,
}

/// Whether a job may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Fits,
    /// Its launch exceeds a limit of its device.
    OverDeviceLimit(LimitExceeded),
    /// Its host memory is more than this host has free.
    HostMemoryShort,
}

/// `bytes` in GiB, two decimals.
pub fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Checks `job` against its device's limits and this host's free memory,
/// from the size alone (no inputs are generated). An error means the size's
/// parameters are unusable or the device's limits could not be read.
pub fn check_job(job: &PlannedJob, seed: u64) -> Result<JobCheck> {
    let host_bytes = job.kernel.memory_bytes(&job.size, job.precision)?;
    let host_available = platform::available_memory();
    let footprint = match job.backend.limits(job.device)? {
        Some(limits) => {
            let launch = limits::planned_launch(job.kernel, &job.size, job.precision, seed)?;
            let footprint = footprint(job.kernel, &launch, job.precision)?;
            Some((limits.check(&footprint), footprint))
        }
        None => None,
    };
    let admission = match &footprint {
        Some((Err(exceeded), _)) => Admission::OverDeviceLimit(exceeded.clone()),
        _ if host_available.is_some_and(|a| host_bytes > a) => Admission::HostMemoryShort,
        _ => Admission::Fits,
    };
    Ok(JobCheck {
        footprint: footprint.map(|(_, f)| f),
        host_bytes,
        host_available,
        admission,
    })
}

/// The footprint of `launch` of `kernel` in `precision`; workgroup memory
/// from the kernel's WGSL (none without one).
pub fn footprint(
    kernel: &RegisteredKernel,
    launch: &Launch,
    precision: Precision,
) -> Result<Footprint> {
    let workgroup = match kernel.shader(ShaderLanguage::Wgsl) {
        Ok(wgsl) => workgroup_memory(&ShaderSource {
            origin: wgsl.origin.clone(),
            text: wgsl.wgsl_in_precision(precision)?,
        })?,
        Err(_) => Vec::new(),
    };
    Ok(Footprint::of(launch, &workgroup))
}
