//! Backends run a kernel on a device and time it.
//!
//! A closed enum ([`BackendKind`]) names every backend hetbench knows, so
//! that the command line, the database and the reports use one vocabulary
//! whether or not a backend is built or has a driver on this node. Each
//! available backend implements [`Backend`]; an unavailable one says why
//! through [`Unavailable`], and runs go on without it.
//!
//! An implementer provides `kind`, `devices` and `prepare`; the returned
//! [`Prepared`] holds everything built outside the timed loop (compiled
//! code, device buffers) so that `run` only executes the kernel.

pub mod cpu;
pub mod fpga_emu;
pub mod limits;
pub mod opencl;
pub mod wgpu;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kernel::{Buffers, Inputs, Tolerance};
use crate::kernels::RegisteredKernel;
use crate::measure::gap::DispatchGap;

/// Every backend hetbench knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    Cpu,
    Wgpu,
    Opencl,
    FpgaEmu,
}

impl BackendKind {
    pub const ALL: [BackendKind; 4] = [
        BackendKind::Cpu,
        BackendKind::Wgpu,
        BackendKind::Opencl,
        BackendKind::FpgaEmu,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Opencl => "opencl",
            BackendKind::FpgaEmu => "fpga-emu",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| Error::UnknownName {
                what: "backend",
                name: name.to_string(),
                valid: Self::ALL.map(|k| k.as_str()).join(", "),
            })
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use crate::platform::DeviceType;

/// One compute device of a backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub backend: BackendKind,
    /// Stable id within the backend, e.g. `cpu0`, used by `--device`.
    pub id: String,
    pub name: String,
    pub device_type: DeviceType,
    /// Driver or implementation and its version.
    pub driver: String,
    /// The API the device is reached through (Vulkan, Metal, OpenCL 3.0, ...).
    pub api: String,
    /// Compute units (cores, SMs, CUs) the backend will use.
    pub compute_units: u32,
    /// The device's last-level cache in bytes, where the API or the OS
    /// reports it (OpenCL's `CL_DEVICE_GLOBAL_MEM_CACHE_SIZE`; wgpu has no
    /// query, and the CPU's sysfs is not trusted in VMs): bandwidth ceilings come only
    /// from working sets at least
    /// [`crate::measure::CACHE_FACTOR`] times it.
    pub last_level_cache_bytes: Option<u64>,
}

/// Why a backend cannot be used on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    pub reason: String,
}

/// The time of one call of [`Prepared::run`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Host wall time around the iterations, always measured.
    pub host_s: f64,
    /// Device time from the API's own timer (timestamp queries, profiling
    /// events) where the backend has one.
    pub device_s: Option<f64>,
}

/// Which clock a backend's device time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceClock {
    /// The device is the host (CPU) or modeled: host time is its time.
    Host,
    /// The API's timestamps (timestamp queries, profiling events).
    Timestamps,
    /// A device with its own clock whose API gives no timestamps here (a
    /// wgpu adapter without `TIMESTAMP_QUERY`): host time only, said.
    Unavailable,
}

/// A kernel ready to run on one device.
pub trait Prepared {
    /// Runs the kernel `iters` times back to back and times them together.
    fn run(&mut self, iters: u64) -> Result<Timing>;
    /// The outputs of the last run, on the host.
    fn read_back(&mut self) -> Result<Buffers>;
    /// Host wall seconds of one complete invocation: upload of every input,
    /// one iteration, read-back of every output. `None` where the device
    /// works in host memory (the CPU backend), so the figure adds nothing.
    fn end_to_end(&mut self) -> Result<Option<f64>> {
        Ok(None)
    }
    /// Where [`Timing::device_s`] comes from.
    fn device_clock(&self) -> DeviceClock {
        DeviceClock::Host
    }
    /// The gap between dispatches of a batch, measured on the device's
    /// clock after the timed window over a batch of about `iters`
    /// iterations (backends that calibrate with an empty kernel use their
    /// own count); `None` where the device is the host or has no
    /// timestamps.
    fn dispatch_gap(&mut self, _iters: u64) -> Result<Option<DispatchGap>> {
        Ok(None)
    }
    /// Figures a model produced instead of a measurement (the FPGA
    /// emulation): the runner stores them as a `modeled` energy reading and
    /// the model's report. `None` for measured backends.
    fn modeled(&self) -> Option<ModeledFigures> {
        None
    }
    /// The tolerance this backend's outputs are verified with: the
    /// manifest's, unless the backend computes in another number format
    /// (fixed point) and derives its own from it.
    fn tolerance(&self, manifest: Tolerance) -> Tolerance {
        manifest
    }
}

/// What a modeled backend reports beside its modeled time.
#[derive(Debug, Clone, PartialEq)]
pub struct ModeledFigures {
    /// The model as a meter, e.g. `model:alveo_u250`.
    pub meter: String,
    /// What the modeled power covers, in words.
    pub covers: String,
    /// Modeled seconds and joules of one invocation.
    pub seconds: f64,
    pub energy_j: f64,
    /// The whole report: card, model version, assumptions, latency, II,
    /// resources, power, accuracy.
    pub report: crate::kernel::fpga::ModelReport,
    /// The backend's verification of its outputs with its own tolerance,
    /// which its report's accuracy was built from: the runner stores it
    /// instead of verifying the same outputs again.
    pub verdict: crate::kernel::Verdict,
}

/// A way of running kernels on devices.
pub trait Backend {
    fn kind(&self) -> BackendKind;
    /// The devices this backend can use here, or why there are none.
    fn devices(&self) -> std::result::Result<Vec<Device>, Unavailable>;
    /// Builds everything a timed run needs. Not timed.
    fn prepare(
        &self,
        kernel: &RegisteredKernel,
        device: &Device,
        inputs: &Inputs,
    ) -> Result<Box<dyn Prepared>>;
    /// What `device` allows a launch, for the check of every job before it
    /// runs; `None` for backends that run no launches (the CPU, the FPGA
    /// emulation).
    fn limits(&self, _device: &Device) -> Result<Option<limits::DeviceLimits>> {
        Ok(None)
    }
}

/// Options that shape the backends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackendOptions {
    /// CPU worker threads; `None` uses every logical CPU.
    pub cpu_threads: Option<usize>,
}

/// The backend `kind` on this node, or why it cannot be used.
pub fn open(
    kind: BackendKind,
    options: &BackendOptions,
) -> std::result::Result<Box<dyn Backend>, Unavailable> {
    match kind {
        BackendKind::Cpu => Ok(Box::new(cpu::CpuBackend::new(options.cpu_threads)?)),
        BackendKind::Wgpu => Ok(Box::new(wgpu::WgpuBackend::new()?)),
        BackendKind::Opencl => Ok(Box::new(opencl::OpenClBackend::new()?)),
        BackendKind::FpgaEmu => Ok(Box::new(fpga_emu::FpgaEmuBackend::new()?)),
    }
}
