//! Node-level energy: what a whole node drew over a result's window, so
//! that a CPU and a GPU can be ranked per joule against each other.
//!
//! A GPU's board power leaves out the host that feeds it, and a CPU
//! package leaves out its DRAM: per-watt figures of different scopes do
//! not compare. Across device types the comparison is at node level
//! ([`node_level`]): a node meter (IPMI DCMI, a PDU through hwmon) where
//! the node has one, else the sum of the component meters that were read
//! over the same window (every meter is opened around every measurement):
//! each CPU package, the DRAM and each GPU board. The composed figure says
//! what it covers and what it leaves out, and is never called a node
//! meter's. Estimated and modeled readings never enter it: a sum with an
//! estimate in it is an estimate, and is not offered.

use std::collections::BTreeMap;

use crate::power::{EnergyReading, Method, Scope};

/// What a sum of component meters does not see.
pub const LEAVES_OUT: &str =
    "fans, power-supply losses, disks, network cards and the board's other chips";

/// The meter kind of a reading (`rapl` of `rapl:package-0`): readings of
/// one scope from two kinds may be the same hardware read twice (RAPL
/// and an hwmon driver of the same package), so only one kind is summed.
fn kind(meter: &str) -> &str {
    meter.split(':').next().unwrap_or(meter)
}

/// The readings of one scope to sum: those of one meter kind, a
/// counter's kind before a sampled one, then the first seen.
fn one_kind(readings: Vec<&EnergyReading>) -> Vec<&EnergyReading> {
    let mut kinds: Vec<&str> = Vec::new();
    for r in &readings {
        if !kinds.contains(&kind(&r.meter)) {
            kinds.push(kind(&r.meter));
        }
    }
    let chosen = kinds
        .iter()
        .find(|k| {
            readings
                .iter()
                .any(|r| kind(&r.meter) == **k && r.method == Method::Counter)
        })
        .or(kinds.first())
        .copied();
    readings
        .into_iter()
        .filter(|r| Some(kind(&r.meter)) == chosen)
        .collect()
}

/// The node-level reading of one result's `readings`: a measured node
/// meter's reading as it is; else, when a measured CPU package reading is
/// among them, the sum of the measured CPU package, DRAM and GPU board
/// readings (scope `node`, method `sampled` if any part was sampled,
/// `covers` naming the parts and what the sum leaves out, a flag where
/// no DRAM meter was read); else `None` (a GPU board alone leaves out its
/// host, an estimate is no measurement).
pub fn node_level(readings: &[EnergyReading]) -> Option<EnergyReading> {
    let measured = || {
        readings
            .iter()
            .filter(|r| r.method.is_measured() && r.avg_w > 0.0 && r.avg_w.is_finite())
    };
    if let Some(node) = measured().find(|r| r.scope == Scope::Node) {
        return Some(node.clone());
    }
    let mut by_scope: BTreeMap<Scope, Vec<&EnergyReading>> = BTreeMap::new();
    for r in
        measured().filter(|r| matches!(r.scope, Scope::CpuPackage | Scope::Dram | Scope::GpuBoard))
    {
        by_scope.entry(r.scope).or_default().push(r);
    }
    by_scope.get(&Scope::CpuPackage)?;
    let parts: Vec<&EnergyReading> = by_scope.into_values().flat_map(one_kind).collect();
    let sum = |f: fn(&EnergyReading) -> Option<f64>| -> Option<f64> {
        parts.iter().map(|r| f(r)).sum::<Option<f64>>()
    };
    let avg_w: f64 = parts.iter().map(|r| r.avg_w).sum();
    let active_w = sum(|r| r.active_w);
    // Every part divides the same throughput: perf_per_w x avg_w is it.
    let throughput = parts.iter().find_map(|r| r.perf_per_w.map(|p| p * r.avg_w));
    let mut flags: Vec<String> = Vec::new();
    if !parts.iter().any(|r| r.scope == Scope::Dram) {
        flags.push("no DRAM meter was read: the node-level sum leaves DRAM out".into());
    }
    for r in &parts {
        for f in &r.flags {
            let f = format!("{}: {f}", r.meter);
            if !flags.contains(&f) {
                flags.push(f);
            }
        }
    }
    let named: Vec<String> = parts
        .iter()
        .map(|r| format!("{} ({})", r.scope.as_str(), r.meter))
        .collect();
    Some(EnergyReading {
        meter: parts
            .iter()
            .map(|r| r.meter.as_str())
            .collect::<Vec<_>>()
            .join(" + "),
        scope: Scope::Node,
        method: if parts.iter().any(|r| r.method == Method::Sampled) {
            Method::Sampled
        } else {
            Method::Counter
        },
        covers: format!(
            "sum of {} over one window; leaves out {LEAVES_OUT}",
            named.join(" + ")
        ),
        interval_s: parts.iter().map(|r| r.interval_s).fold(0.0, f64::max),
        window_s: parts.iter().map(|r| r.window_s).fold(0.0, f64::max),
        energy_j: parts.iter().map(|r| r.energy_j).sum(),
        avg_w,
        idle_w: sum(|r| r.idle_w),
        active_w,
        perf_per_w: throughput.map(|t| t / avg_w),
        perf_per_active_w: throughput
            .zip(active_w)
            .filter(|(_, a)| *a > 0.0)
            .map(|(t, a)| t / a),
        perf_per_w_unit: parts[0].perf_per_w_unit.clone(),
        flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(meter: &str, scope: Scope, method: Method, avg_w: f64) -> EnergyReading {
        // A throughput of 100 units/s over a 2 s window.
        EnergyReading {
            meter: meter.into(),
            scope,
            method,
            covers: "test".into(),
            interval_s: 0.001,
            window_s: 2.0,
            energy_j: 2.0 * avg_w,
            avg_w,
            idle_w: Some(avg_w / 2.0),
            active_w: Some(avg_w / 2.0),
            perf_per_w: Some(100.0 / avg_w),
            perf_per_active_w: Some(200.0 / avg_w),
            perf_per_w_unit: "GFLOP/J".into(),
            flags: Vec::new(),
        }
    }

    #[test]
    fn a_gpus_node_figure_adds_its_host_package_and_dram() {
        let readings = vec![
            reading("nvml:0", Scope::GpuBoard, Method::Counter, 300.0),
            reading("rapl:package-0", Scope::CpuPackage, Method::Counter, 60.0),
            reading("rapl:package-1", Scope::CpuPackage, Method::Counter, 40.0),
            reading("rapl:dram", Scope::Dram, Method::Counter, 20.0),
            // The same packages read again through hwmon: not summed twice.
            reading("hwmon:zenpower", Scope::CpuPackage, Method::Sampled, 99.0),
            // An estimate never enters a measured sum.
            reading(
                "estimate:cpu-tdp",
                Scope::Estimated,
                Method::Estimated,
                50.0,
            ),
        ];
        let n = node_level(&readings).unwrap();
        // 300 + 60 + 40 + 20 = 420 W; 100 units/s / 420 W.
        assert_eq!(n.scope, Scope::Node);
        assert_eq!(n.method, Method::Counter);
        assert_eq!(n.avg_w, 420.0);
        assert_eq!(n.energy_j, 840.0);
        assert_eq!(n.idle_w, Some(210.0));
        assert!((n.perf_per_w.unwrap() - 100.0 / 420.0).abs() < 1e-12);
        assert!((n.perf_per_active_w.unwrap() - 100.0 / 210.0).abs() < 1e-12);
        assert_eq!(
            n.meter,
            "rapl:package-0 + rapl:package-1 + rapl:dram + nvml:0"
        );
        assert!(n.covers.starts_with("sum of cpu-package (rapl:package-0) + cpu-package (rapl:package-1) + dram (rapl:dram) + gpu-board (nvml:0) over one window; leaves out fans"), "{}", n.covers);
        assert!(n.flags.is_empty(), "{:?}", n.flags);
    }

    #[test]
    fn a_node_meter_is_preferred_and_a_board_alone_is_not_a_node() {
        let mut readings = vec![
            reading("nvml:0", Scope::GpuBoard, Method::Counter, 300.0),
            reading("rapl:package-0", Scope::CpuPackage, Method::Counter, 60.0),
            reading("ipmi:dcmi", Scope::Node, Method::Sampled, 500.0),
        ];
        assert_eq!(node_level(&readings).unwrap(), readings[2]);
        // Without the node meter and without DRAM: the sum, flagged.
        readings.pop();
        let n = node_level(&readings).unwrap();
        assert_eq!(n.avg_w, 360.0);
        assert_eq!(
            n.flags,
            vec!["no DRAM meter was read: the node-level sum leaves DRAM out".to_string()]
        );
        // A GPU board alone leaves out its host; an estimate is no measurement.
        readings.remove(1);
        assert_eq!(node_level(&readings), None);
        let estimated = vec![reading(
            "estimate:cpu-tdp",
            Scope::Estimated,
            Method::Estimated,
            50.0,
        )];
        assert_eq!(node_level(&estimated), None);
        // A sampled part makes the sum sampled.
        let sampled = vec![reading(
            "hwmon:k10temp",
            Scope::CpuPackage,
            Method::Sampled,
            50.0,
        )];
        assert_eq!(node_level(&sampled).unwrap().method, Method::Sampled);
    }
}
