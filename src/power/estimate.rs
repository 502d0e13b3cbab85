//! The estimated CPU meter, used only when no CPU energy counter is
//! readable. Power = TDP x sockets x (0.3 + 0.7 x utilisation), with the
//! utilisation from `/proc/stat` between samples and the TDP from the table
//! shipped in `src/power/cpu_tdp.toml` (or the config). The 30% idle floor
//! and the linear rise are a coarse model, the same kind as CodeCarbon's TDP
//! fallback: readings carry scope and method `estimated`, are marked in
//! every table, and are kept out of rankings against measured figures.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{EnergyMeter, MeterInfo, Method, PowerConfig, PowerSource, SampledMeter, Scope};

/// Fraction of TDP drawn by an idle package in the model.
pub const IDLE_FRACTION: f64 = 0.3;

/// Watts per logical CPU assumed when the CPU model has no TDP entry (a
/// typical server figure: 64 cores, 128 threads at 280 W is 2.2 W per
/// thread; small and virtual machines run hotter per thread). The reading
/// says so in `covers`.
pub const GUESS_W_PER_CPU: f64 = 5.0;

const TABLE: &str = include_str!("cpu_tdp.toml");

/// The shipped table merged with the configured entries.
pub fn tdp_table(cfg: &PowerConfig) -> Result<BTreeMap<String, f64>, String> {
    let mut table: BTreeMap<String, f64> =
        toml::from_str(TABLE).map_err(|e| format!("src/power/cpu_tdp.toml: {e}"))?;
    table.extend(cfg.cpu_tdp_table.clone());
    Ok(table)
}

/// TDP per socket of the CPU `brand`: the longest table key it contains.
pub fn lookup_tdp(table: &BTreeMap<String, f64>, brand: &str) -> Option<(String, f64)> {
    let brand = brand.to_ascii_lowercase();
    table
        .iter()
        .filter(|(k, _)| brand.contains(&k.to_ascii_lowercase()))
        .max_by_key(|(k, _)| k.len())
        .map(|(k, v)| (k.clone(), *v))
}

/// Distinct `physical_package_id`s: the number of sockets (1 if unknown).
fn sockets(sysfs: &Path) -> usize {
    let mut ids = std::collections::BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir(sysfs.join("devices/system/cpu")) {
        for e in entries.flatten() {
            if let Ok(id) = std::fs::read_to_string(e.path().join("topology/physical_package_id")) {
                ids.insert(id.trim().to_string());
            }
        }
    }
    ids.len().max(1)
}

/// (busy, total) jiffies from the `cpu` line of /proc/stat.
pub fn parse_proc_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest is in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

struct Utilisation {
    stat: std::path::PathBuf,
    watts_busy: f64,
    previous: Mutex<Option<(u64, u64)>>,
}

impl PowerSource for Utilisation {
    fn read_watts(&self) -> Result<f64, String> {
        let text = std::fs::read_to_string(&self.stat)
            .map_err(|e| format!("{}: {e}", self.stat.display()))?;
        let now = parse_proc_stat(&text)
            .ok_or_else(|| format!("{}: no 'cpu' line", self.stat.display()))?;
        let mut prev = self.previous.lock().map_err(|_| "poisoned lock")?;
        let (busy, total) = match *prev {
            Some((b, t)) if now.1 > t => (now.0.saturating_sub(b), now.1 - t),
            _ => now,
        };
        *prev = Some(now);
        let util = if total > 0 {
            busy as f64 / total as f64
        } else {
            0.0
        };
        Ok(self.watts_busy * (IDLE_FRACTION + (1.0 - IDLE_FRACTION) * util.clamp(0.0, 1.0)))
    }
}

pub fn discover(cfg: &PowerConfig) -> Result<Box<dyn EnergyMeter>, String> {
    let brand = crate::platform::cpu_summary().brand;
    let (source, tdp) = match cfg.cpu_tdp_w {
        Some(w) if w.is_finite() && w > 0.0 => ("config cpu_tdp_w".to_string(), w),
        Some(w) => return Err(format!("cpu_tdp_w = {w} is not a positive number")),
        None => match lookup_tdp(&tdp_table(cfg)?, &brand) {
            Some((key, w)) => (format!("TDP table entry '{key}'"), w),
            None => {
                let cpus = std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1);
                let sockets = sockets(&cfg.sysfs_root) as f64;
                (
                    format!(
                        "no TDP known for '{brand}': guessed {GUESS_W_PER_CPU} W per logical CPU; set [power] cpu_tdp_w"
                    ),
                    GUESS_W_PER_CPU * cpus as f64 / sockets,
                )
            }
        },
    };
    let sockets = sockets(&cfg.sysfs_root);
    let source_meter = Utilisation {
        stat: cfg.proc_root.join("stat"),
        watts_busy: tdp * sockets as f64,
        previous: Mutex::new(None),
    };
    source_meter.read_watts()?;
    Ok(Box::new(SampledMeter {
        info: MeterInfo {
            name: "estimate:cpu-tdp".into(),
            scope: Scope::Estimated,
            method: Method::Estimated,
            update_interval_s: cfg.interval().as_secs_f64(),
            covers: format!("{sockets} x {brand}, {tdp} W TDP ({source}), 30% idle floor"),
        },
        source: Arc::new(source_meter),
        interval: cfg.interval(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_longest_key_wins() {
        let cfg = PowerConfig::default();
        let table = tdp_table(&cfg).unwrap();
        assert_eq!(
            lookup_tdp(&table, "AMD EPYC 9654 96-Core Processor")
                .unwrap()
                .1,
            360.0
        );
        assert_eq!(
            lookup_tdp(&table, "Intel(R) Xeon(R) Platinum 8480+")
                .unwrap()
                .1,
            350.0
        );
        assert_eq!(
            lookup_tdp(&table, "AMD EPYC 9684X 96-Core").unwrap().0,
            "EPYC 9684X"
        );
        assert!(lookup_tdp(&table, "AMD EPYC").is_none());
    }

    #[test]
    fn proc_stat_utilisation() {
        let s = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_proc_stat(s), Some((150, 1000)));
    }

    #[test]
    fn estimate_follows_utilisation_between_reads() {
        let tmp = tempfile::tempdir().unwrap();
        let stat = tmp.path().join("stat");
        std::fs::write(&stat, "cpu  0 0 0 1000 0 0 0 0\n").unwrap();
        let u = Utilisation {
            stat: stat.clone(),
            watts_busy: 100.0,
            previous: Mutex::new(None),
        };
        assert_eq!(u.read_watts().unwrap(), 30.0);
        // 500 busy of 1000 jiffies since the last read: 50% -> 30 + 35 W.
        std::fs::write(&stat, "cpu  500 0 0 1500 0 0 0 0\n").unwrap();
        assert!((u.read_watts().unwrap() - 65.0).abs() < 1e-9);
    }

    #[test]
    fn configured_tdp_makes_an_estimated_meter_and_unknown_cpu_says_why() {
        let cfg = PowerConfig {
            cpu_tdp_w: Some(100.0),
            ..Default::default()
        };
        let m = discover(&cfg).unwrap();
        assert_eq!(m.info().method, Method::Estimated);
        assert!(m.info().covers.contains("100 W TDP (config cpu_tdp_w)"));
        let cfg = PowerConfig {
            cpu_tdp_w: Some(-1.0),
            ..Default::default()
        };
        assert!(discover(&cfg).is_err());
    }
}
