//! hwmon power and energy files (`/sys/class/hwmon/hwmon*`): AMD GPUs
//! (`amdgpu`: `power1_average`), ACPI power meters (`acpi_power_meter`:
//! node power) and AMD's `amd_energy` (package counters). A device with
//! `energy1_input` (µJ) gets a counter meter; otherwise `power1_average` or
//! `power1_input` (µW) is sampled. Devices of unknown coverage are listed as
//! missing rather than guessed.

use std::path::Path;
use std::sync::Arc;

use super::{
    CounterMeter, CounterSource, EnergyMeter, MeterInfo, Method, PowerConfig, PowerSource,
    SampledMeter, Scope,
};

fn scope_of(name: &str) -> Option<Scope> {
    match name {
        "amdgpu" | "nouveau" | "i915" | "xe" => Some(Scope::GpuBoard),
        "acpi_power_meter" | "power_meter" => Some(Scope::Node),
        "amd_energy" | "zenpower" => Some(Scope::CpuPackage),
        _ => None,
    }
}

struct Micro {
    path: std::path::PathBuf,
}

impl Micro {
    fn read(&self) -> Result<f64, String> {
        let t = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        t.trim()
            .parse::<f64>()
            .map(|v| v * 1e-6)
            .map_err(|e| format!("{}: '{}': {e}", self.path.display(), t.trim()))
    }
}

impl PowerSource for Micro {
    fn read_watts(&self) -> Result<f64, String> {
        self.read()
    }
}

impl CounterSource for Micro {
    fn read_joules(&self) -> Result<f64, String> {
        self.read()
    }
    fn wrap_joules(&self) -> Option<f64> {
        None
    }
}

/// Averaging window of `power1_average`, from `power1_average_interval`
/// (ms) where the driver has it; else one second, a conservative guess.
fn average_interval(dir: &Path) -> f64 {
    std::fs::read_to_string(dir.join("power1_average_interval"))
        .ok()
        .and_then(|t| t.trim().parse::<f64>().ok())
        .map(|ms| ms / 1000.0)
        .unwrap_or(1.0)
}

pub fn discover(cfg: &PowerConfig) -> Result<Vec<Box<dyn EnergyMeter>>, String> {
    let root = cfg.sysfs_root.join("class/hwmon");
    let entries = std::fs::read_dir(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut dirs: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    let mut meters: Vec<Box<dyn EnergyMeter>> = Vec::new();
    let mut unknown = Vec::new();
    for dir in dirs {
        let name = std::fs::read_to_string(dir.join("name"))
            .unwrap_or_default()
            .trim()
            .to_string();
        let has = |f: &str| dir.join(f).is_file();
        if !(has("energy1_input") || has("power1_average") || has("power1_input")) {
            continue;
        }
        let Some(scope) = scope_of(&name) else {
            unknown.push(name);
            continue;
        };
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let covers = format!("{name} ({id})");
        if has("energy1_input") {
            meters.push(Box::new(CounterMeter {
                info: MeterInfo {
                    name: format!("hwmon:{id}"),
                    scope,
                    method: Method::Counter,
                    update_interval_s: 0.001,
                    covers,
                },
                source: Arc::new(Micro {
                    path: dir.join("energy1_input"),
                }),
            }));
        } else {
            let (file, interval) = if has("power1_average") {
                ("power1_average", average_interval(&dir))
            } else {
                ("power1_input", cfg.interval().as_secs_f64())
            };
            meters.push(Box::new(SampledMeter {
                info: MeterInfo {
                    name: format!("hwmon:{id}"),
                    scope,
                    method: Method::Sampled,
                    update_interval_s: interval.max(cfg.interval().as_secs_f64()),
                    covers,
                },
                source: Arc::new(Micro {
                    path: dir.join(file),
                }),
                interval: cfg.interval(),
            }));
        }
    }
    if meters.is_empty() && !unknown.is_empty() {
        return Err(format!(
            "power files only on devices of unknown coverage: {}",
            unknown.join(", ")
        ));
    }
    if meters.is_empty() {
        return Err(format!(
            "{}: no device with power or energy files",
            root.display()
        ));
    }
    Ok(meters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amdgpu_power_is_sampled_and_energy_counters_are_counted() {
        let tmp = tempfile::tempdir().unwrap();
        let h0 = tmp.path().join("class/hwmon/hwmon0");
        let h1 = tmp.path().join("class/hwmon/hwmon1");
        let h2 = tmp.path().join("class/hwmon/hwmon2");
        for (d, name) in [(&h0, "amdgpu"), (&h1, "amd_energy"), (&h2, "k10temp")] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("name"), format!("{name}\n")).unwrap();
        }
        std::fs::write(h0.join("power1_average"), "150000000\n").unwrap();
        std::fs::write(h1.join("energy1_input"), "5000000\n").unwrap();
        std::fs::write(h2.join("temp1_input"), "40000\n").unwrap();
        let cfg = PowerConfig {
            sysfs_root: tmp.path().to_path_buf(),
            sample_interval_ms: 5,
            ..Default::default()
        };
        let meters = discover(&cfg).unwrap();
        assert_eq!(meters.len(), 2);
        assert_eq!(meters[0].info().scope, Scope::GpuBoard);
        assert_eq!(meters[0].info().method, Method::Sampled);
        assert_eq!(meters[0].info().update_interval_s, 1.0);
        assert_eq!(meters[1].info().scope, Scope::CpuPackage);
        let w = meters[0].open().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let e = w.close().unwrap();
        assert!((e.joules / e.seconds - 150.0).abs() < 1e-6, "{e:?}");
    }
}
