//! `run`: measured, verified and stored results, selection, precision, replicates.

use super::*;

#[test]
fn quick_run_measures_verifies_and_stores_three_kernels() {
    let s = Scratch::new();
    let out = s
        .hb()
        .args(["run", "--quick", "--backend", "cpu", "-k", CORE])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    // The compact table shows a result's status only where it is not
    // ok, in place of its throughput.
    for (k, unit) in [
        ("stream_triad", " GB "),
        ("gemm", " GFLOP "),
        ("nbody", " Ginteractions "),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(k))
            .unwrap_or_else(|| panic!("{k} missing:\n{stdout}"));
        assert!(line.contains(unit), "{line}");
        for status in ["verify_failed", "error", "timeout", "crashed", "skipped"] {
            assert!(!line.contains(status), "{line}");
        }
    }

    let results = s.results_json(&[]);
    assert_eq!(results.len(), 3);
    for r in &results {
        assert_eq!(r["status"], "ok");
        assert_eq!(r["backend"], "cpu");
        assert_eq!(r["device_type"], "cpu");
        assert_eq!(r["size"], "small");
        assert_eq!(r["kernel_hash"].as_str().unwrap().len(), 64);
        assert!(r["throughput"].as_f64().unwrap() > 0.0);
        assert_eq!(r["verification"]["passed"], true);
        let t = &r["timing"]["summary"];
        assert!(t["n"].as_u64().unwrap() >= 3);
        assert!(t["min"].as_f64().unwrap() <= t["median"].as_f64().unwrap());
        assert!(t["median"].as_f64().unwrap() <= t["max"].as_f64().unwrap());
    }
    // gemm at n = 64: 2 * 64^3 FLOP.
    let gemm = results.iter().find(|r| r["kernel"] == "gemm").unwrap();
    assert_eq!(gemm["work"]["flops"].as_f64().unwrap(), 2.0 * 64f64.powi(3));
    let median = gemm["timing"]["summary"]["median"].as_f64().unwrap();
    let expect = 2.0 * 64f64.powi(3) / median / 1e9;
    assert!((gemm["throughput"].as_f64().unwrap() - expect).abs() < 1e-9 * expect);

    // The run file holds the same results and a finished run.
    let files: Vec<_> = std::fs::read_dir(s.path("results/runs")).unwrap().collect();
    assert_eq!(files.len(), 1);
    let file: Value =
        serde_json::from_slice(&std::fs::read(files[0].as_ref().unwrap().path()).unwrap()).unwrap();
    assert_eq!(file["schema_version"], 1);
    assert_eq!(file["run"]["status"], "finished");
    assert_eq!(file["results"].as_array().unwrap().len(), 3);
    assert_eq!(file["run"]["run_id"], results[0]["run_id"]);
    assert!(
        file["run"]["platform"]["cpu"]["logical_cpus"]
            .as_u64()
            .unwrap()
            >= 1
    );
}

#[test]
fn precision_f64_runs_the_kernels_that_have_it_and_says_which_not() {
    let s = Scratch::new();
    let out = s
        .hb()
        .args([
            "run",
            "--quick",
            "-b",
            "cpu",
            "-k",
            "gemm,hough",
            "-p",
            "f32,f64",
        ])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("not in precision f32, f64 (their manifests do not list it): hough"),
        "{stderr}"
    );
    let results = s.results_json(&[]);
    let mut got: Vec<(String, String)> = results
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "ok", "{r}");
            (
                r["kernel"].as_str().unwrap().to_string(),
                r["precision"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [("gemm".into(), "f32".into()), ("gemm".into(), "f64".into())]
    );
    // The f64 result moves 8-byte values: twice the bytes, same FLOP.
    let by = |p: &str| results.iter().find(|r| r["precision"] == p).unwrap();
    assert_eq!(
        by("f64")["work"]["bytes"].as_f64().unwrap(),
        2.0 * by("f32")["work"]["bytes"].as_f64().unwrap()
    );
    assert_eq!(by("f64")["work"]["flops"], by("f32")["work"]["flops"]);
    // The table shows the precision; hough runs in its own (u32) by default.
    s.hb()
        .args(["run", "--quick", "-b", "cpu", "-k", "hough"])
        .assert()
        .success()
        .stdout(predicate::str::contains(" u32 "));
}

#[test]
fn label_names_the_platform_in_the_run_and_every_result() {
    let s = Scratch::new();
    s.hb()
        .args(["run", "--quick", "-b", "cpu", "-k", "stream_triad"])
        .args(["--label", "epyc-test"])
        .assert()
        .success();
    let results = s.results_json(&[]);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["platform_label"], "epyc-test");
    s.hb()
        .args(["run", "--quick", "-b", "cpu", "-k", "stream_triad"])
        .args(["--label", "bad\u{1b}[31m"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--label"));
    assert_eq!(s.results_json(&[]).len(), 1, "a refused run stores nothing");
}

#[test]
fn repeat_stores_each_replicate_as_a_run_of_one_series() {
    let s = Scratch::new();
    for bad in ["0", "1001", "three"] {
        s.hb()
            .args(["run", "--quick", "-b", "cpu", "-k", "stream_triad"])
            .args(["--repeat", bad])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--repeat"));
    }
    s.hb()
        .args(["run", "--quick", "-b", "cpu", "-k", "stream_triad"])
        .args(["--repeat", "3"])
        .assert()
        .success()
        .stderr(predicate::str::contains("replicate 3 of 3"));
    let results = s.results_json(&[]);
    assert_eq!(results.len(), 3);
    let runs: std::collections::BTreeSet<&str> = results
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(runs.len(), 3, "each replicate is its own run");
    let series = results[0]["replicate"]["series_id"].as_str().unwrap();
    let mut index: Vec<u64> = results
        .iter()
        .map(|r| {
            assert_eq!(r["replicate"]["series_id"], series);
            assert_eq!(r["replicate"]["of"], 3);
            r["replicate"]["index"].as_u64().unwrap()
        })
        .collect();
    index.sort();
    assert_eq!(index, [1, 2, 3]);
}

#[test]
fn precision_no_kernel_has_or_unknown_is_refused() {
    let s = Scratch::new();
    s.hb()
            .args(["run", "--quick", "-b", "cpu", "-k", "hough", "-p", "f64"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "--precision: no kernel of the plan has precision f64; kernels that do: stream_triad, gemm, nbody",
            ));
    s.hb()
        .args(["run", "--quick", "-b", "cpu", "-k", "gemm", "-p", "f16"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unknown precision 'f16'; valid precisions: f32, f64, u32",
        ));
    assert!(!s.db().exists() || s.results_json(&[]).is_empty());
}

#[test]
fn selection_by_kernel_and_size() {
    let s = Scratch::new();
    s.hb()
        .args([
            "run",
            "--quick",
            "-b",
            "cpu",
            "-k",
            "gemm",
            "--size",
            "small,large",
            "--seed",
            "7",
        ])
        .assert()
        .success();
    let results = s.results_json(&[]);
    let got: Vec<(String, String)> = results
        .iter()
        .map(|r| {
            (
                r["kernel"].as_str().unwrap().into(),
                r["size"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("gemm".into(), "small".into()),
            ("gemm".into(), "large".into())
        ]
    );
    assert_eq!(results[0]["seed"], 7);
    assert_eq!(results[1]["size_params"]["n"], 128);
}

#[test]
fn a_result_failing_verification_is_stored_as_such_and_exits_3() {
    let s = Scratch::new();
    let out = s
        .hb()
        .args([
            "run",
            "--quick",
            "-b",
            "cpu",
            "-k",
            "stream_triad,nbody",
            "--inject-error",
        ])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("2 result(s) failed"));
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert_eq!(stdout.matches("verify_failed").count(), 2, "{stdout}");
    let results = s.results_json(&["--status", "verify_failed"]);
    assert_eq!(results.len(), 2);
    for r in &results {
        assert_eq!(r["verification"]["passed"], false);
        assert!(r["message"].as_str().unwrap().contains("beyond tolerance"));
    }
    assert!(s.results_json(&["--status", "ok"]).is_empty());
}

#[test]
fn unknown_names_list_the_valid_ones() {
    let s = Scratch::new();
    s.hb()
        .args(["run", "--kernel", "gemmm"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unknown kernel 'gemmm'; valid kernels: stream_triad, gemm, nbody",
        ));
    s.hb()
        .args(["run", "--backend", "cuda"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unknown backend 'cuda'; valid backends: cpu, wgpu, opencl, fpga-emu",
        ));
    s.hb()
        .args(["run", "--size", "huge"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unknown size 'huge'; valid sizes: tiny, small, medium, large",
        ));
    s.hb()
        .args(["run", "--time-budget=-1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--time-budget"));
    // Nothing was stored by any of these.
    assert!(!s.db().exists() || s.results_json(&[]).is_empty());
}

#[test]
fn a_named_backend_that_is_unavailable_fails_the_run() {
    let s = Scratch::new();
    // A --device that no backend has is bad input.
    s.hb()
        .args(["run", "--quick", "--backend", "cpu", "--device", "nosuch"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no device 'nosuch' among the planned backends; devices here: cpu0 (cpu)",
        ));
    // A named backend that is not there fails the run, saying who named it.
    // (No OpenCL platform: the ICD loader is pointed at an empty folder.)
    std::fs::create_dir_all(s.path("no-icds")).unwrap();
    s.hb()
        .env("OCL_ICD_VENDORS", s.path("no-icds"))
        .args(["run", "--quick", "-k", "gemm", "--backend", "opencl"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "backend 'opencl' is required (named with --backend) but unavailable",
        ));
    assert!(!s.db().exists() || s.results_json(&[]).is_empty());
    // A required backend that is up but has none of the devices asked
    // for is passed over with a note: --device chose.
    s.hb()
        .env("HETBENCH_REQUIRE_BACKENDS", "cpu,fpga-emu")
        .args([
            "run", "--quick", "-k", "gemm", "-s", "tiny", "--device", "cpu0",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "backend fpga-emu skipped: no device matches --device cpu0",
        ));
}

#[test]
fn malformed_manifest_names_file_and_line() {
    let s = Scratch::new();
    let path = s.path("kernels/gemm/kernel.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text.replacen("domain = \"ml\"", "domain = ml", 1);
    let line = broken.lines().position(|l| l == "domain = ml").unwrap() + 1;
    std::fs::write(&path, broken).unwrap();
    s.hb()
        .args(["run", "--quick"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{}:{line}:",
            path.display()
        )));

    // Incomplete: a size missing.
    let incomplete = text.replace("[sizes.large]", "[sizes.huge]");
    std::fs::write(&path, incomplete).unwrap();
    s.hb()
        .arg("list")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("sizes.large: missing"));
}

#[test]
fn a_bad_size_in_a_manifest_is_refused_when_the_registry_loads() {
    let s = Scratch::new();
    let path = s.path("kernels/gemm/kernel.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let small = text.find("[sizes.small]").unwrap();
    let n_at = small + text[small..].find("n = ").unwrap();
    let n_end = n_at + text[n_at..].find('\n').unwrap();
    let with = |value: &str| format!("{}n = {value}{}", &text[..n_at], &text[n_end..]);
    // Out of range: refused by `list`, before anything is measured,
    // naming the manifest, the size, the parameter and the value.
    std::fs::write(&path, with("0")).unwrap();
    s.hb()
        .arg("list")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{}: sizes.small.n: 0 is outside 1..=",
            path.display()
        )));
    // Not a number: the manifest's line and what a parameter must be.
    std::fs::write(&path, with("\"big\"")).unwrap();
    s.hb()
        .arg("list")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(path.display().to_string()))
        .stderr(predicate::str::contains(
            "invalid type: string \"big\", expected a number",
        ));
    // A real where an integer is needed.
    std::fs::write(&path, with("512.5")).unwrap();
    s.hb()
        .args(["run", "--quick"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "sizes.small.n: 512.5 must be an integer",
        ));
    s.assert_empty(&s.db());
}

#[test]
fn a_size_parameter_the_kernel_never_reads_is_refused() {
    let s = Scratch::new();
    let path = s.path("kernels/gemm/kernel.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    // `m = 5` beside gemm's `n` in one size: not a parameter of gemm.
    let in_small = text.replace("[sizes.small]\n", "[sizes.small]\nm = 5\n");
    assert_ne!(in_small, text);
    std::fs::write(&path, in_small).unwrap();
    s.hb()
        .arg("list")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{}: sizes.small.m: not a parameter of this kernel (its parameters: n)",
            path.display()
        )));
    // In every size alike, `tiny` included: the kernel never reads it.
    let mut everywhere = text.clone();
    for size in ["tiny", "small", "medium", "large"] {
        let table = format!("[sizes.{size}]\n");
        everywhere = everywhere.replace(&table, &format!("{table}m = 5\n"));
    }
    std::fs::write(&path, everywhere).unwrap();
    s.hb()
        .arg("list")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{}: sizes.tiny.m: the kernel never reads this parameter",
            path.display()
        )));
    s.assert_empty(&s.db());
}
