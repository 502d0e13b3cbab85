//! NVIDIA GPUs through NVML (nvml-wrapper). `libnvidia-ml.so.1` is opened at
//! run time, so nodes without the NVIDIA driver start and simply have no
//! NVML meters. Where the GPU has it (Volta and later), the total-energy
//! counter (mJ) is used; otherwise board power is sampled. NVML's power
//! figure is a one-second average on most boards, hence the update interval.

use std::sync::Arc;

use nvml_wrapper::Nvml;

use super::{
    CounterMeter, CounterSource, EnergyMeter, MeterInfo, Method, PowerConfig, PowerSource,
    SampledMeter, Scope,
};

struct Gpu {
    nvml: Arc<Nvml>,
    index: u32,
}

impl CounterSource for Gpu {
    fn read_joules(&self) -> Result<f64, String> {
        let d = self
            .nvml
            .device_by_index(self.index)
            .map_err(|e| e.to_string())?;
        d.total_energy_consumption()
            .map(|mj| mj as f64 * 1e-3)
            .map_err(|e| e.to_string())
    }
    fn wrap_joules(&self) -> Option<f64> {
        // A 64-bit millijoule counter does not wrap in a benchmark's life.
        None
    }
}

impl PowerSource for Gpu {
    fn read_watts(&self) -> Result<f64, String> {
        let d = self
            .nvml
            .device_by_index(self.index)
            .map_err(|e| e.to_string())?;
        d.power_usage()
            .map(|mw| mw as f64 * 1e-3)
            .map_err(|e| e.to_string())
    }
}

pub fn discover(cfg: &PowerConfig) -> Result<Vec<Box<dyn EnergyMeter>>, String> {
    let nvml = Nvml::init()
        .map_err(|e| format!("NVML not usable ({e}): no NVIDIA driver on this node"))?;
    let nvml = Arc::new(nvml);
    let count = nvml.device_count().map_err(|e| e.to_string())?;
    let mut meters: Vec<Box<dyn EnergyMeter>> = Vec::new();
    for index in 0..count {
        let device = nvml.device_by_index(index).map_err(|e| e.to_string())?;
        let name = device.name().unwrap_or_else(|_| "NVIDIA GPU".into());
        let covers = format!("GPU {index}: {name}");
        let gpu = Arc::new(Gpu {
            nvml: nvml.clone(),
            index,
        });
        if device.total_energy_consumption().is_ok() {
            meters.push(Box::new(CounterMeter {
                info: MeterInfo {
                    name: format!("nvml:{index}"),
                    scope: Scope::GpuBoard,
                    method: Method::Counter,
                    update_interval_s: 0.1,
                    covers,
                },
                source: gpu,
            }));
        } else if device.power_usage().is_ok() {
            meters.push(Box::new(SampledMeter {
                info: MeterInfo {
                    name: format!("nvml:{index}"),
                    scope: Scope::GpuBoard,
                    method: Method::Sampled,
                    update_interval_s: 1.0,
                    covers,
                },
                source: gpu,
                interval: cfg.interval(),
            }));
        }
    }
    if meters.is_empty() {
        return Err(format!(
            "NVML found {count} GPU(s) but none reports energy or power"
        ));
    }
    Ok(meters)
}

/// Each NVIDIA GPU's clocks and power limits, for the preflight; why not
/// when NVML is not usable.
pub fn gpu_states() -> Result<Vec<crate::platform::preflight::GpuState>, String> {
    use nvml_wrapper::enum_wrappers::device::Clock;
    let nvml = Nvml::init().map_err(|e| {
        format!(
            "NVML not usable ({e}): no NVIDIA driver on this node, so no GPU clocks or power limits"
        )
    })?;
    let count = nvml.device_count().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for index in 0..count {
        let d = nvml.device_by_index(index).map_err(|e| e.to_string())?;
        out.push(crate::platform::preflight::GpuState {
            index,
            name: d.name().unwrap_or_else(|_| "NVIDIA GPU".into()),
            graphics_mhz: d.clock_info(Clock::Graphics).ok(),
            max_graphics_mhz: d.max_clock_info(Clock::Graphics).ok(),
            power_limit_w: d.power_management_limit().ok().map(|mw| mw as f64 * 1e-3),
            enforced_power_limit_w: d.enforced_power_limit().ok().map(|mw| mw as f64 * 1e-3),
        });
    }
    Ok(out)
}
