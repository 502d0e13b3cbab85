//! What a run measures and how: the [`RunPlan`] (stored with the run, so
//! that `--resume` finishes it with the same settings) and the [`Job`]s it
//! becomes, one per kernel, size, precision, backend and device. Both the
//! runner, which executes jobs, and the store, which keeps the plan with
//! the run, depend on this module; it depends on neither.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::backends::{BackendKind, BackendOptions};
use crate::kernel::Precision;
use crate::kernels::RegisteredKernel;
use crate::measure::MeasureConfig;
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
