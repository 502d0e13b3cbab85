//! What a compute device is, whatever API reaches it: the vocabulary the
//! backends report, the records store and the power module reads (a GPU's
//! energy is its board's, a CPU's its package's). Kept with the platform
//! because it describes hardware, not a backend.

use serde::{Deserialize, Serialize};

/// What a device really is, whatever API it is reached through: Mesa's
/// lavapipe and PoCL are CPUs, never GPUs (see [`DeviceType::correct`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceType {
    Cpu,
    DiscreteGpu,
    IntegratedGpu,
    VirtualGpu,
    Accelerator,
    FpgaEmulated,
    Other,
}

impl DeviceType {
    /// A GPU of any kind (discrete, integrated, virtual): its energy is
    /// the board's, read by the GPU's own meter.
    pub fn is_gpu(self) -> bool {
        matches!(
            self,
            DeviceType::DiscreteGpu | DeviceType::IntegratedGpu | DeviceType::VirtualGpu
        )
    }

    /// The type an API reports, corrected by the device's name: software
    /// rasterisers and CPU OpenCL implementations are CPUs whatever the API
    /// says about them.
    pub fn correct(reported: DeviceType, name: &str, driver: &str) -> DeviceType {
        let text = format!("{name} {driver}").to_ascii_lowercase();
        if ["llvmpipe", "lavapipe", "softpipe", "swiftshader", "pocl"]
            .iter()
            .any(|w| text.contains(w))
            && !matches!(reported, DeviceType::FpgaEmulated)
        {
            DeviceType::Cpu
        } else {
            reported
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeviceType::Cpu => "cpu",
            DeviceType::DiscreteGpu => "discrete-gpu",
            DeviceType::IntegratedGpu => "integrated-gpu",
            DeviceType::VirtualGpu => "virtual-gpu",
            DeviceType::Accelerator => "accelerator",
            DeviceType::FpgaEmulated => "fpga-emulated",
            DeviceType::Other => "other",
        }
    }
}

impl std::fmt::Display for DeviceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
