//! RAPL through the powercap sysfs tree (`/sys/class/powercap`), Intel and
//! AMD alike (both use the `intel-rapl` zones). One meter sums every
//! `package-N` zone (scope `cpu-package`) and one every `dram` subzone
//! (scope `dram`); `core`, `uncore` and `psys` zones are left out, being
//! parts of a package or of unclear coverage. Counters are `energy_uj`,
//! wrapping at `max_energy_range_uj`.
//!
//! Since Linux 5.10 `energy_uj` is readable by root only (the PLATYPUS
//! side channel, CVE-2020-8694); the reason then says how to open it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{CounterMeter, CounterSource, EnergyMeter, MeterInfo, Method, PowerConfig, Scope};

/// RAPL counters update about every millisecond.
const RAPL_UPDATE_S: f64 = 0.001;

/// The advice given when `energy_uj` is not readable.
pub const PERMISSION_ADVICE: &str = "energy_uj is readable by root only since Linux 5.10 (CVE-2020-8694): run hetbench as root, or make it readable, e.g. with the udev rule SUBSYSTEM==\"powercap\", ACTION==\"add\", RUN+=\"/bin/chmod a+r /sys%p/energy_uj\" (or chmod a+r /sys/class/powercap/*/energy_uj after each boot)";

/// The zones of one scope, summed.
struct Zones {
    /// (energy_uj path, wrap in joules)
    zones: Vec<(PathBuf, f64)>,
}

/// A read error in words, with the fix for the root-only counter.
fn describe_read_error(path: &Path, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        format!("{}: permission denied; {PERMISSION_ADVICE}", path.display())
    } else {
        format!("{}: {e}", path.display())
    }
}

fn read_u64(path: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(path).map_err(|e| describe_read_error(path, &e))?;
    text.trim()
        .parse()
        .map_err(|e| format!("{}: '{}' is not a number: {e}", path.display(), text.trim()))
}

impl CounterSource for Zones {
    /// The sum of the zones' counters. Each zone wraps on its own, so the
    /// sum is not a counter with one wrap value: the meter reads zones
    /// separately through [`ZoneSum`] instead.
    fn read_joules(&self) -> Result<f64, String> {
        let mut sum = 0.0;
        for (path, _) in &self.zones {
            sum += read_u64(path)? as f64 * 1e-6;
        }
        Ok(sum)
    }

    fn wrap_joules(&self) -> Option<f64> {
        None
    }
}

/// A meter over several zones, each delta wrap-corrected on its own.
struct ZoneSum {
    info: MeterInfo,
    zones: Arc<Zones>,
}

impl EnergyMeter for ZoneSum {
    fn info(&self) -> &MeterInfo {
        &self.info
    }

    fn open(&self) -> Result<Box<dyn super::Window>, String> {
        let windows = self
            .zones
            .zones
            .iter()
            .map(|(path, wrap)| {
                CounterMeter {
                    info: self.info.clone(),
                    source: Arc::new(OneZone {
                        path: path.clone(),
                        wrap: *wrap,
                    }),
                }
                .open()
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Box::new(SumWindow { windows }))
    }
}

struct OneZone {
    path: PathBuf,
    wrap: f64,
}

impl CounterSource for OneZone {
    fn read_joules(&self) -> Result<f64, String> {
        Ok(read_u64(&self.path)? as f64 * 1e-6)
    }
    fn wrap_joules(&self) -> Option<f64> {
        Some(self.wrap)
    }
}

struct SumWindow {
    windows: Vec<Box<dyn super::Window>>,
}

impl super::Window for SumWindow {
    fn close(self: Box<Self>) -> Result<super::RawEnergy, String> {
        let mut total = super::RawEnergy {
            joules: 0.0,
            seconds: 0.0,
            samples: 0,
        };
        for w in self.windows {
            let e = w.close()?;
            total.joules += e.joules;
            total.seconds = total.seconds.max(e.seconds);
        }
        Ok(total)
    }
}

/// Finds the package and DRAM zones under `<sysfs>/class/powercap`.
pub fn discover(cfg: &PowerConfig) -> Result<Vec<Box<dyn EnergyMeter>>, String> {
    let root = cfg.sysfs_root.join("class/powercap");
    let entries = std::fs::read_dir(&root).map_err(|e| {
        format!(
            "{}: {e} (no powercap interface: the kernel lacks intel_rapl_common/rapl, or this is a VM without RAPL)",
            root.display()
        )
    })?;
    let mut packages = Vec::new();
    let mut dram = Vec::new();
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    for zone in names {
        let fname = zone
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if !fname.starts_with("intel-rapl:") {
            continue;
        }
        let Ok(name) = std::fs::read_to_string(zone.join("name")) else {
            continue;
        };
        let name = name.trim();
        let target = if name.starts_with("package-") {
            &mut packages
        } else if name == "dram" {
            &mut dram
        } else {
            continue;
        };
        let wrap = read_u64(&zone.join("max_energy_range_uj"))? as f64 * 1e-6;
        let energy = zone.join("energy_uj");
        read_u64(&energy)?;
        target.push((energy, wrap));
    }
    if packages.is_empty() {
        return Err(format!("{}: no RAPL package zone", root.display()));
    }
    let mut meters: Vec<Box<dyn EnergyMeter>> = Vec::new();
    for (zones, scope, what) in [
        (packages, Scope::CpuPackage, "package"),
        (dram, Scope::Dram, "dram"),
    ] {
        if zones.is_empty() {
            continue;
        }
        meters.push(Box::new(ZoneSum {
            info: MeterInfo {
                name: format!("rapl:{what}"),
                scope,
                method: Method::Counter,
                update_interval_s: RAPL_UPDATE_S,
                covers: format!("{} RAPL {what} zone(s)", zones.len()),
            },
            zones: Arc::new(Zones { zones }),
        }));
    }
    Ok(meters)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(root: &Path, dir: &str, name: &str, uj: u64, max: u64) {
        let z = root.join("class/powercap").join(dir);
        std::fs::create_dir_all(&z).unwrap();
        std::fs::write(z.join("name"), format!("{name}\n")).unwrap();
        std::fs::write(z.join("energy_uj"), format!("{uj}\n")).unwrap();
        std::fs::write(z.join("max_energy_range_uj"), format!("{max}\n")).unwrap();
    }

    #[test]
    fn finds_packages_and_dram_and_sums_with_wraparound() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        zone(
            root,
            "intel-rapl:0",
            "package-0",
            999_000_000,
            1_000_000_000,
        );
        zone(root, "intel-rapl:1", "package-1", 5_000_000, 1_000_000_000);
        zone(root, "intel-rapl:0:0", "dram", 1_000_000, 2_000_000_000);
        zone(root, "intel-rapl:0:1", "core", 7, 100);
        let cfg = PowerConfig {
            sysfs_root: root.to_path_buf(),
            ..Default::default()
        };
        let meters = discover(&cfg).unwrap();
        let names: Vec<&str> = meters.iter().map(|m| m.info().name.as_str()).collect();
        assert_eq!(names, vec!["rapl:package", "rapl:dram"]);
        assert_eq!(meters[0].info().covers, "2 RAPL package zone(s)");

        let w = meters[0].open().unwrap();
        // package-0 wraps: 999 J -> 1000 J (wrap) -> 2 J: 3 J; package-1: 5 -> 9 J.
        std::fs::write(
            root.join("class/powercap/intel-rapl:0/energy_uj"),
            "2000000\n",
        )
        .unwrap();
        std::fs::write(
            root.join("class/powercap/intel-rapl:1/energy_uj"),
            "9000000\n",
        )
        .unwrap();
        let e = w.close().unwrap();
        assert!((e.joules - 7.0).abs() < 1e-9, "{e:?}");
    }

    #[test]
    fn missing_tree_and_unreadable_counter_say_why() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = PowerConfig {
            sysfs_root: tmp.path().to_path_buf(),
            ..Default::default()
        };
        let err = discover(&cfg).err().unwrap();
        assert!(err.contains("no powercap interface"), "{err}");

        zone(tmp.path(), "intel-rapl:0", "package-0", 1, 10);
        let energy = tmp.path().join("class/powercap/intel-rapl:0/energy_uj");
        std::fs::write(&energy, "garbage").unwrap();
        let err = discover(&cfg).err().unwrap();
        assert!(err.contains("is not a number"), "{err}");
    }

    #[test]
    fn permission_denied_explains_the_root_only_counter() {
        // Root reads any file, so the kernel's EACCES is produced directly.
        let e = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let msg = describe_read_error(Path::new("/sys/class/powercap/intel-rapl:0/energy_uj"), &e);
        assert!(msg.starts_with("/sys/class/powercap/intel-rapl:0/energy_uj: permission denied"));
        assert!(msg.contains("Linux 5.10"));
        assert!(msg.contains("run hetbench as root"));
        assert!(msg.contains("udev rule"));
    }
}
