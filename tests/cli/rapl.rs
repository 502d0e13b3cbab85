//! RAPL counters read from a fake powercap tree, wraparound included.

use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A fake powercap tree whose package counter a thread advances at
/// 50 W, wrapping at 30 J (every 600 ms), written atomically as the
/// kernel presents it. About half the runs cross a wrap in the 200 ms
/// idle window or the 100 ms timed one (a window never spans two wraps,
/// even on a loaded machine); src/power/rapl.rs pins the exact wrap
/// arithmetic.
#[test]
fn a_fake_powercap_tree_gives_counter_energy_across_wraparounds() {
    let s = Scratch::new();
    let root = s.path("sys");
    let zone = root.join("class/powercap/intel-rapl:0");
    std::fs::create_dir_all(&zone).unwrap();
    std::fs::write(zone.join("name"), "package-0\n").unwrap();
    std::fs::write(zone.join("max_energy_range_uj"), "30000000\n").unwrap();
    std::fs::write(zone.join("energy_uj"), "0\n").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let zone = zone.clone();
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let uj = (start.elapsed().as_micros() as u64 * 50) % 30_000_000;
                std::fs::write(zone.join("energy_uj.tmp"), format!("{uj}\n")).unwrap();
                std::fs::rename(zone.join("energy_uj.tmp"), zone.join("energy_uj")).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
    };
    let out = s
        .hb()
        .env("HETBENCH_SYSFS_ROOT", &root)
        .args([
            "run",
            "--quick",
            "-b",
            "cpu",
            "-k",
            "nbody",
            "--idle-seconds",
            "0.2",
        ])
        .assert();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    out.success().stderr(predicate::str::contains(
        "rapl:package (cpu-package, counter)",
    ));

    let r = &s.results_json(&[])[0];
    let e = r["energy"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["meter"] == "rapl:package")
        .unwrap();
    assert_eq!(e["scope"], "cpu-package");
    assert_eq!(e["method"], "counter");
    let window = e["window_s"].as_f64().unwrap();
    assert!(window > 0.01 && window < 0.6, "{window}");
    let avg = e["avg_w"].as_f64().unwrap();
    assert!((avg - 50.0).abs() < 15.0, "avg {avg} W over {window} s");
    let idle = e["idle_w"].as_f64().unwrap();
    assert!((idle - 50.0).abs() < 15.0, "idle {idle} W");
    // Measured CPU energy makes the estimate unnecessary.
    assert!(
        r["energy"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["method"] != "estimated")
    );
    assert!(
        r["energy"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["scope"] == "cpu-package"),
        "{}",
        r["energy"]
    );
}
