//! Energy: estimated readings marked as such, meters listed with reasons, config errors.

use super::*;

#[test]
fn estimated_energy_is_stored_marked_and_turned_into_perf_per_watt() {
    let s = Scratch::new();
    let config = s.path("hetbench.toml");
    std::fs::write(
        &config,
        "[power]\ncpu_tdp_w = 100.0\nsample_interval_ms = 10\n",
    )
    .unwrap();
    let out = s
        .hb()
        .arg("--config")
        .arg(&config)
        .args([
            "run",
            "--quick",
            "-b",
            "cpu",
            "-k",
            "gemm",
            "--idle-seconds",
            "0.2",
            "--wide",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "energy meters: estimate:cpu-tdp (estimated, estimated)",
        ));
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("GFLOP/J (ESTIMATED)"), "{stdout}");

    let r = &s.results_json(&[])[0];
    let e = &r["energy"][0];
    assert_eq!(e["meter"], "estimate:cpu-tdp");
    assert_eq!(e["scope"], "estimated");
    assert_eq!(e["method"], "estimated");
    assert_eq!(e["perf_per_w_unit"], "GFLOP/J");
    let (energy, window, avg) = (
        e["energy_j"].as_f64().unwrap(),
        e["window_s"].as_f64().unwrap(),
        e["avg_w"].as_f64().unwrap(),
    );
    assert!((avg - energy / window).abs() < 1e-9 * avg);
    // The model: between 30% and 100% of the configured 100 W (one socket or more).
    assert!(avg >= 30.0 - 1e-9, "{avg}");
    let perf = r["throughput"].as_f64().unwrap() / avg;
    assert!((e["perf_per_w"].as_f64().unwrap() - perf).abs() < 1e-9 * perf);
    let idle = e["idle_w"].as_f64().unwrap();
    assert!((e["active_w"].as_f64().unwrap() - (avg - idle)).abs() < 1e-9);

    // The run file holds the idle baseline.
    let run_file = std::fs::read_dir(s.path("results/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let v: Value = serde_json::from_slice(&std::fs::read(run_file).unwrap()).unwrap();
    assert_eq!(v["run"]["idle"][0]["meter"], "estimate:cpu-tdp");
    assert!(v["run"]["idle"][0]["seconds"].as_f64().unwrap() >= 0.2);

    // CSV carries the energy columns.
    let out = s
        .hb()
        .args(["export", "--format", "csv"])
        .assert()
        .success();
    let csv = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(csv.lines().next().unwrap().ends_with(
        "energy_meter,energy_scope,energy_method,energy_j,avg_w,idle_w,active_w,perf_per_w"
    ));
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .contains(",estimate:cpu-tdp,estimated,estimated,")
    );
}

#[test]
fn info_lists_meters_and_why_missing_ones_are_missing() {
    let s = Scratch::new();
    let out = s.hb().args(["info", "--json"]).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let missing = v["energy_meters_missing"].as_array().unwrap();
    let found = v["energy_meters"].as_array().unwrap();
    // Every meter kind is either found or explained.
    for kind in ["rapl", "nvml", "hwmon", "ipmi", "estimate"] {
        let explained = missing
            .iter()
            .any(|m| m["meter"] == kind && !m["reason"].as_str().unwrap().is_empty());
        let present = found
            .iter()
            .any(|m| m["name"].as_str().unwrap().starts_with(kind));
        assert!(explained || present, "{kind}: {v}");
    }
}

#[test]
fn a_bad_config_file_names_file_and_line() {
    let s = Scratch::new();
    let config = s.path("bad.toml");
    std::fs::write(&config, "[power]\ncpu_tdp_w = \"lots\"\n").unwrap();
    s.hb()
        .arg("--config")
        .arg(&config)
        .arg("info")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("{}:2:", config.display())));
    s.hb()
        .arg("--config")
        .arg(s.path("missing.toml"))
        .arg("info")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("missing.toml"));
}
