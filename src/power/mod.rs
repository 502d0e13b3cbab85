//! Energy measurement: meters opened and closed around exactly the timed
//! window of each measurement, and the provenance of every figure.
//!
//! A perf/W figure is only worth what its energy is worth, so every reading
//! says which meter produced it, what it covers (its [`Scope`]: a CPU
//! package, DRAM, a GPU board, the whole node, or an estimate) and how it
//! was obtained (its [`Method`]: a hardware energy counter, sampled power
//! integrated over time, an estimate from utilisation, or a model).
//! Estimated and modeled readings are never presented as measured ones.
//!
//! Meters come in two kinds, built from two kinds of source:
//! - [`CounterSource`]: a cumulative energy counter (RAPL `energy_uj`, NVML's
//!   total energy, hwmon `energy1_input`). The window's energy is the
//!   difference of two reads, corrected for one wraparound.
//! - [`PowerSource`]: instantaneous or short-average power (hwmon
//!   `power1_*`, NVML board power, IPMI DCMI, the utilisation estimate). A
//!   sampling thread reads it every interval (100 ms by default) and the
//!   samples are integrated with the trapezoid rule.
//!
//! [`discover`] probes every meter kind and says why each missing one is
//! missing; `hetbench info` prints that.

pub mod estimate;
pub mod hwmon;
pub mod ipmi;
pub mod node;
pub mod nvml;
pub mod rapl;
mod sampler;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::platform::DeviceType;

/// What a reading covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    CpuPackage,
    Dram,
    GpuBoard,
    Node,
    Estimated,
    Modeled,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CpuPackage => "cpu-package",
            Scope::Dram => "dram",
            Scope::GpuBoard => "gpu-board",
            Scope::Node => "node",
            Scope::Estimated => "estimated",
            Scope::Modeled => "modeled",
        }
    }
}

/// How a reading was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Counter,
    Sampled,
    Estimated,
    Modeled,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Counter => "counter",
            Method::Sampled => "sampled",
            Method::Estimated => "estimated",
            Method::Modeled => "modeled",
        }
    }

    /// Whether figures of this method are measurements (counter, sampled).
    pub fn is_measured(self) -> bool {
        matches!(self, Method::Counter | Method::Sampled)
    }
}

/// What a meter is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterInfo {
    /// Stable name, e.g. `rapl:package`, `nvml:0`, `ipmi:dcmi`.
    pub name: String,
    pub scope: Scope,
    pub method: Method,
    /// How often the underlying figure changes (counter update period,
    /// averaging window or sampling interval), seconds. A window shorter
    /// than ten of these is flagged.
    pub update_interval_s: f64,
    /// The hardware it covers, in words (`2 packages`, `NVIDIA H100 ...`).
    pub covers: String,
}

/// Energy of one window, before idle subtraction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawEnergy {
    pub joules: f64,
    pub seconds: f64,
    /// Power samples integrated (0 for a counter).
    pub samples: usize,
}

/// A cumulative energy counter.
pub trait CounterSource: Send + Sync {
    /// The counter, in joules.
    fn read_joules(&self) -> Result<f64, String>;
    /// The value at which the counter wraps to zero, in joules.
    fn wrap_joules(&self) -> Option<f64>;
}

/// A power reading, in watts.
pub trait PowerSource: Send + Sync {
    fn read_watts(&self) -> Result<f64, String>;
}

/// A meter that can be opened over a window.
pub trait EnergyMeter: Send + Sync {
    fn info(&self) -> &MeterInfo;
    /// Starts measuring now.
    fn open(&self) -> Result<Box<dyn Window>, String>;
}

/// An open measurement window.
pub trait Window: Send {
    /// Stops measuring and returns the energy since `open`.
    fn close(self: Box<Self>) -> Result<RawEnergy, String>;
}

/// A meter over a cumulative counter.
pub struct CounterMeter {
    pub info: MeterInfo,
    pub source: Arc<dyn CounterSource>,
}

struct CounterWindow {
    source: Arc<dyn CounterSource>,
    start_j: f64,
    start: Instant,
}

impl EnergyMeter for CounterMeter {
    fn info(&self) -> &MeterInfo {
        &self.info
    }

    fn open(&self) -> Result<Box<dyn Window>, String> {
        Ok(Box::new(CounterWindow {
            start_j: self.source.read_joules()?,
            start: Instant::now(),
            source: self.source.clone(),
        }))
    }
}

impl Window for CounterWindow {
    fn close(self: Box<Self>) -> Result<RawEnergy, String> {
        let end_j = self.source.read_joules()?;
        let seconds = self.start.elapsed().as_secs_f64();
        Ok(RawEnergy {
            joules: counter_delta(self.start_j, end_j, self.source.wrap_joules()),
            seconds,
            samples: 0,
        })
    }
}

/// `end - start` of a counter that wraps at `wrap` (one wraparound at most:
/// windows are far shorter than a wrap period, about 60 s at the least for
/// RAPL on a busy server).
pub fn counter_delta(start: f64, end: f64, wrap: Option<f64>) -> f64 {
    if end >= start {
        end - start
    } else {
        match wrap {
            Some(w) => w - start + end,
            None => 0.0,
        }
    }
}

/// A meter over a power source, sampled by a thread.
pub struct SampledMeter {
    pub info: MeterInfo,
    pub source: Arc<dyn PowerSource>,
    pub interval: std::time::Duration,
}

impl EnergyMeter for SampledMeter {
    fn info(&self) -> &MeterInfo {
        &self.info
    }

    fn open(&self) -> Result<Box<dyn Window>, String> {
        sampler::start(self.source.clone(), self.interval)
    }
}

/// Energy settings (the `[power]` table of the config file and flags).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PowerConfig {
    /// Where sysfs is mounted (a container may mount the host's elsewhere).
    pub sysfs_root: PathBuf,
    /// Where procfs is mounted.
    pub proc_root: PathBuf,
    /// Sampling interval of power meters, milliseconds.
    pub sample_interval_ms: u64,
    /// The command that prints the node's power (DCMI). Empty disables it.
    pub ipmi_command: Vec<String>,
    /// The CPU's TDP per socket, watts, when the shipped table lacks it.
    pub cpu_tdp_w: Option<f64>,
    /// Extra TDP table entries: model substring -> watts per socket.
    pub cpu_tdp_table: std::collections::BTreeMap<String, f64>,
    /// Whether to fall back to an estimate when no CPU meter is readable.
    pub estimate: bool,
}

impl Default for PowerConfig {
    fn default() -> Self {
        PowerConfig {
            sysfs_root: PathBuf::from("/sys"),
            proc_root: PathBuf::from("/proc"),
            sample_interval_ms: 100,
            ipmi_command: ["ipmitool", "dcmi", "power", "reading"]
                .map(String::from)
                .to_vec(),
            cpu_tdp_w: None,
            cpu_tdp_table: Default::default(),
            estimate: true,
        }
    }
}

impl PowerConfig {
    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.sample_interval_ms.max(1))
    }
}

/// The meters found on this node and why the others are missing.
pub struct Discovery {
    pub meters: Vec<Box<dyn EnergyMeter>>,
    /// (meter kind, reason) for each kind that is not usable here.
    pub missing: Vec<(String, String)>,
}

/// Probes every meter kind.
pub fn discover(cfg: &PowerConfig) -> Discovery {
    let mut d = Discovery {
        meters: Vec::new(),
        missing: Vec::new(),
    };
    let mut add = |kind: &str, found: Result<Vec<Box<dyn EnergyMeter>>, String>| match found {
        Ok(m) if !m.is_empty() => d.meters.extend(m),
        Ok(_) => d.missing.push((kind.to_string(), "nothing found".into())),
        Err(reason) => d.missing.push((kind.to_string(), reason)),
    };
    add("rapl", rapl::discover(cfg));
    add("nvml", nvml::discover(cfg));
    add("hwmon", hwmon::discover(cfg));
    add("ipmi", ipmi::discover(cfg));
    let cpu_measured = d
        .meters
        .iter()
        .any(|m| m.info().scope == Scope::CpuPackage && m.info().method.is_measured());
    if cpu_measured {
        d.missing.push((
            "estimate".into(),
            "not needed: CPU energy is measured".into(),
        ));
    } else if !cfg.estimate {
        d.missing
            .push(("estimate".into(), "disabled in the configuration".into()));
    } else {
        match estimate::discover(cfg) {
            Ok(m) => d.meters.push(m),
            Err(reason) => d.missing.push(("estimate".into(), reason)),
        }
    }
    d
}

/// One meter's energy over a result's timed window, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyReading {
    pub meter: String,
    pub scope: Scope,
    pub method: Method,
    pub covers: String,
    /// The meter's update interval, seconds.
    pub interval_s: f64,
    /// The window the energy covers, seconds.
    pub window_s: f64,
    pub energy_j: f64,
    /// Gross average power over the window, watts.
    pub avg_w: f64,
    /// The same meter's idle power before the run, watts.
    pub idle_w: Option<f64>,
    /// `avg_w - idle_w` (the power the work added), watts.
    pub active_w: Option<f64>,
    /// Throughput per gross watt, in `perf_per_w_unit`.
    pub perf_per_w: Option<f64>,
    /// Throughput per active watt, in `perf_per_w_unit`.
    pub perf_per_active_w: Option<f64>,
    /// The kernel's unit per joule, e.g. `GFLOP/J`.
    pub perf_per_w_unit: String,
    /// What weakens the figure (a window too short for the meter, ...).
    #[serde(default)]
    pub flags: Vec<String>,
}

/// A meter's idle power, measured before a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdleReading {
    pub meter: String,
    pub scope: Scope,
    pub method: Method,
    pub avg_w: f64,
    pub seconds: f64,
}

/// `GFLOP/s` -> `GFLOP/J`: throughput per watt is work per joule.
pub fn per_joule_unit(throughput_unit: &str) -> String {
    match throughput_unit.strip_suffix("/s") {
        Some(work) => format!("{work}/J"),
        None => format!("({throughput_unit})/W"),
    }
}

/// The reading that speaks for a device's result: a GPU's board, a CPU's
/// package, else the node; measured before estimated.
pub fn primary(readings: &[EnergyReading], device_type: DeviceType) -> Option<&EnergyReading> {
    let wanted: &[Scope] = if device_type.is_gpu() {
        &[Scope::GpuBoard, Scope::Node]
    } else if device_type == DeviceType::FpgaEmulated {
        &[Scope::Modeled]
    } else {
        &[Scope::CpuPackage, Scope::Estimated, Scope::Node]
    };
    wanted
        .iter()
        .find_map(|s| readings.iter().find(|r| r.scope == *s))
}

/// Builds a stored reading from a window's raw energy.
pub fn reading(
    info: &MeterInfo,
    raw: RawEnergy,
    idle_w: Option<f64>,
    throughput: Option<f64>,
    throughput_unit: &str,
) -> EnergyReading {
    let avg_w = if raw.seconds > 0.0 {
        raw.joules / raw.seconds
    } else {
        0.0
    };
    let active_w = idle_w.map(|i| avg_w - i);
    let mut flags = Vec::new();
    // An estimate (TDP x utilisation) has no update interval of its own:
    // its sampling interval bounds nothing about the figure's resolution.
    if info.method != Method::Estimated && raw.seconds < 10.0 * info.update_interval_s {
        flags.push(format!(
            "window {:.3} s is shorter than 10x the meter's update interval ({} s): use --energy-window",
            raw.seconds, info.update_interval_s
        ));
    }
    if let Some(a) = active_w
        && a <= 0.0
    {
        flags.push("active power is not above idle: the figure is within the meter's noise".into());
    }
    let per = |w: f64| throughput.filter(|_| w > 0.0).map(|t| t / w);
    EnergyReading {
        meter: info.name.clone(),
        scope: info.scope,
        method: info.method,
        covers: info.covers.clone(),
        interval_s: info.update_interval_s,
        window_s: raw.seconds,
        energy_j: raw.joules,
        avg_w,
        idle_w,
        active_w,
        perf_per_w: per(avg_w),
        perf_per_active_w: active_w.and_then(per),
        perf_per_w_unit: per_joule_unit(throughput_unit),
        flags,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_delta_handles_one_wrap() {
        assert_eq!(counter_delta(10.0, 25.0, Some(100.0)), 15.0);
        assert_eq!(counter_delta(90.0, 5.0, Some(100.0)), 15.0);
        assert_eq!(counter_delta(90.0, 5.0, None), 0.0);
    }

    #[test]
    fn units_and_perf_per_watt() {
        assert_eq!(per_joule_unit("GFLOP/s"), "GFLOP/J");
        assert_eq!(per_joule_unit("Ginteractions/s"), "Ginteractions/J");
        let info = MeterInfo {
            name: "m".into(),
            scope: Scope::CpuPackage,
            method: Method::Counter,
            update_interval_s: 0.001,
            covers: "1 package".into(),
        };
        let raw = RawEnergy {
            joules: 200.0,
            seconds: 2.0,
            samples: 0,
        };
        let r = reading(&info, raw, Some(40.0), Some(500.0), "GFLOP/s");
        assert_eq!(r.avg_w, 100.0);
        assert_eq!(r.active_w, Some(60.0));
        assert_eq!(r.perf_per_w, Some(5.0));
        assert!((r.perf_per_active_w.unwrap() - 500.0 / 60.0).abs() < 1e-12);
        assert!(r.flags.is_empty());
        let short = reading(
            &info,
            RawEnergy {
                joules: 0.1,
                seconds: 0.005,
                samples: 0,
            },
            None,
            None,
            "GB/s",
        );
        assert_eq!(short.flags.len(), 1);
        assert!(short.flags[0].contains("--energy-window"));
    }

    #[test]
    fn primary_prefers_the_device_scope_and_measured_figures() {
        let mk = |scope, method| EnergyReading {
            meter: "m".into(),
            scope,
            method,
            covers: String::new(),
            interval_s: 0.1,
            window_s: 1.0,
            energy_j: 1.0,
            avg_w: 1.0,
            idle_w: None,
            active_w: None,
            perf_per_w: None,
            perf_per_active_w: None,
            perf_per_w_unit: "x/J".into(),
            flags: vec![],
        };
        let rs = vec![
            mk(Scope::Node, Method::Sampled),
            mk(Scope::CpuPackage, Method::Counter),
            mk(Scope::GpuBoard, Method::Counter),
        ];
        assert_eq!(
            primary(&rs, DeviceType::Cpu).unwrap().scope,
            Scope::CpuPackage
        );
        assert_eq!(
            primary(&rs, DeviceType::DiscreteGpu).unwrap().scope,
            Scope::GpuBoard
        );
        assert_eq!(
            primary(&rs[..1], DeviceType::Cpu).unwrap().scope,
            Scope::Node
        );
        assert!(primary(&[], DeviceType::Cpu).is_none());
    }
}
