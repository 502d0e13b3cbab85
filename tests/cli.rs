//! Integration tests: the real `hetbench` binary, every command and every
//! bad input of the harness core. Runs use tiny sizes through
//! `--kernels-dir` (the real manifests with their sizes shrunk), so they are
//! fast and deterministic in what they assert.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use tempfile::TempDir;

/// The kernels of the harness core, which tests count on.
const CORE: &str = "stream_triad,gemm,nbody";

/// A scratch results directory with tiny-size manifests.
struct Scratch {
    dir: TempDir,
}

impl Scratch {
    /// Copies every kernel folder; the core kernels get the sizes below,
    /// every other kernel its own `tiny` size for small, medium and large.
    fn new() -> Self {
        let dir = TempDir::new().unwrap();
        let core: [(&str, &str); 3] = [
            (
                "stream_triad",
                "[sizes.small]\nn = 100003\n[sizes.medium]\nn = 200000\n[sizes.large]\nn = 300000\n",
            ),
            (
                "gemm",
                "[sizes.small]\nn = 64\n[sizes.medium]\nn = 96\n[sizes.large]\nn = 128\n",
            ),
            (
                "nbody",
                "[sizes.small]\nn = 257\nsoftening = 0.01\n[sizes.medium]\nn = 512\nsoftening = 0.01\n[sizes.large]\nn = 1024\nsoftening = 0.01\n",
            ),
        ];
        let kernels = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
        for entry in std::fs::read_dir(&kernels).unwrap() {
            let src = entry.unwrap().path();
            let manifest = src.join("kernel.toml");
            if !manifest.is_file() {
                continue;
            }
            let name = src.file_name().unwrap().to_string_lossy().to_string();
            let kdir = dir.path().join("kernels").join(&name);
            std::fs::create_dir_all(&kdir).unwrap();
            for file in std::fs::read_dir(&src).unwrap() {
                let file = file.unwrap().path();
                std::fs::copy(&file, kdir.join(file.file_name().unwrap())).unwrap();
            }
            let mut table: toml::Table =
                toml::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
            let sizes = table["sizes"].as_table().unwrap().clone();
            let mut shrunk = toml::Table::new();
            shrunk.insert("tiny".into(), sizes["tiny"].clone());
            match core.iter().find(|(k, _)| *k == name) {
                Some((_, text)) => {
                    let t: toml::Table = toml::from_str(text).unwrap();
                    for (k, v) in t["sizes"].as_table().unwrap() {
                        shrunk.insert(k.clone(), v.clone());
                    }
                }
                None => {
                    for size in ["small", "medium", "large"] {
                        shrunk.insert(size.into(), sizes["tiny"].clone());
                    }
                }
            }
            table.insert("sizes".into(), shrunk.into());
            std::fs::write(kdir.join("kernel.toml"), toml::to_string(&table).unwrap()).unwrap();
        }
        Scratch { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn db(&self) -> PathBuf {
        self.path("results/hetbench.db")
    }

    /// `hetbench` with this scratch's results dir, database and manifests.
    fn hb(&self) -> Command {
        let mut c = Command::cargo_bin("hetbench").unwrap();
        c.env_remove("HETBENCH_DB")
            .env_remove("HETBENCH_RESULTS_DIR")
            .env_remove("HETBENCH_KERNELS_DIR")
            .env_remove("HETBENCH_REQUIRE_BACKENDS")
            .arg("--results-dir")
            .arg(self.path("results"))
            .arg("--kernels-dir")
            .arg(self.path("kernels"));
        c
    }

    /// Runs the three kernels quickly on the CPU; returns the run file path.
    fn quick_run(&self) -> PathBuf {
        let out = self
            .hb()
            .args(["run", "--quick", "--backend", "cpu", "-k", CORE])
            .assert()
            .success();
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        let json = stderr
            .split('\'')
            .find(|s| s.ends_with(".json"))
            .unwrap_or_else(|| panic!("no run file named in: {stderr}"));
        PathBuf::from(json)
    }

    /// Asserts that the database at `db` holds no result (one that is not
    /// there holds none).
    fn assert_empty(&self, db: &Path) {
        if !db.exists() {
            return;
        }
        let out = self
            .hb()
            .arg("--db")
            .arg(db)
            .args(["results", "--json"])
            .assert()
            .success();
        assert_eq!(
            String::from_utf8_lossy(&out.get_output().stdout).trim(),
            "[]"
        );
    }

    fn results_json(&self, extra: &[&str]) -> Vec<Value> {
        let out = self
            .hb()
            .arg("results")
            .arg("--json")
            .args(extra)
            .assert()
            .success();
        serde_json::from_slice::<Value>(&out.get_output().stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

mod run {
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
            serde_json::from_slice(&std::fs::read(files[0].as_ref().unwrap().path()).unwrap())
                .unwrap();
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
}

mod fpga {
    use super::*;

    /// `run --backend fpga-emu` on every supported kernel and every shipped
    /// card: verified, labelled modeled results, the accuracy and the
    /// assumptions shown after the results table.
    #[test]
    fn fpga_emulation_shows_accuracy_and_assumptions() {
        let s = Scratch::new();
        let kernels = "gemm,stream_triad,mlp_jet,conv2d,kalman_fit,stencil3d,fma_peak,hough,cluster,nbody,pic_push";
        let out = s
            .hb()
            .args([
                "run",
                "--quick",
                "--backend",
                "fpga-emu",
                "-k",
                kernels,
                "--wide",
            ])
            .assert()
            .success();
        let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        let (_, modeled) = stdout
            .split_once("modeled results (FPGA emulation, NOT measured")
            .unwrap_or_else(|| panic!("no modeled section in {stdout}"));
        // Without --wide the same view fits 120 columns: per kernel a design
        // row and a resources-and-accuracy row per card, the notes wrapped.
        let compact = s
            .hb()
            .args(["results", "--backend", "fpga-emu"])
            .assert()
            .success();
        let compact = String::from_utf8_lossy(&compact.get_output().stdout).to_string();
        let (_, compact) = compact
            .split_once("modeled results (FPGA emulation, NOT measured")
            .unwrap_or_else(|| panic!("no modeled section in {compact}"));
        assert!(
            compact.lines().all(|l| l.chars().count() <= 120),
            "{compact}"
        );
        for k in kernels.split(',') {
            let rows: Vec<&str> = compact
                .lines()
                .filter(|l| l.starts_with(&format!("{k} ")))
                .collect();
            assert_eq!(rows.len(), 6, "{k}: {compact}");
            assert_eq!(
                rows.iter().filter(|r| r.ends_with(" within")).count(),
                3,
                "{rows:?}"
            );
        }
        assert!(compact.contains("kalman_fit: kalman_fit runs in ap_fixed<64,18"));
        for k in kernels.split(',') {
            let rows: Vec<&str> = modeled
                .lines()
                .filter(|l| l.starts_with(&format!("{k} ")))
                .collect();
            assert_eq!(rows.len(), 3, "{k}: {modeled}");
            for card in ["AMD Alveo U250", "AMD Alveo U55C", "Intel Agilex 7 AGI 027"] {
                assert!(rows.iter().any(|r| r.contains(card)), "{k} on {card}");
            }
            assert!(
                rows.iter().all(|r| r.contains("(within tolerance)")),
                "{rows:?}"
            );
        }
        assert!(modeled.contains("top class"), "mlp_jet's agreement");
        assert!(
            modeled.contains("<64,18,RND_CONV,SAT>"),
            "kalman_fit's format"
        );
        assert!(modeled.contains("kalman_fit: kalman_fit runs in ap_fixed<64,18"));
        let assumptions = modeled.split_once("assumptions:").unwrap().1;
        for card in ["alveo_u250", "alveo_u55c", "agilex7_agi027"] {
            let line = assumptions.lines().find(|l| l.contains(card)).unwrap();
            assert!(
                line.contains("clock 300 MHz") && line.contains("toggle rate 0.125"),
                "{line}"
            );
            assert!(
                line.contains("model v3") && line.contains("uncalibrated:"),
                "{line}"
            );
        }
        let results = s.results_json(&["--backend", "fpga-emu"]);
        assert_eq!(results.len(), 33);
        for r in &results {
            assert_eq!(r["status"], "ok", "{}", r["message"]);
            assert_eq!(r["energy"][0]["method"], "modeled");
            let m = &r["model"];
            assert_eq!(m["model_version"], "3");
            // hough and cluster are exact (integer data); the rest quantise.
            let err = m["accuracy"]["max_abs_error"].as_f64().unwrap();
            if ["hough", "cluster"].contains(&r["kernel"].as_str().unwrap()) {
                assert_eq!(err, 0.0, "{}", r["kernel"]);
            } else {
                assert!(err > 0.0, "{}", r["kernel"]);
            }
            assert!(
                m["accuracy"]["tolerance_derivation"]
                    .as_str()
                    .unwrap()
                    .len()
                    > 20
            );
        }
        // `results` shows the same section for stored results.
        s.hb()
            .args(["results", "--kernel", "kalman_fit"])
            .assert()
            .success()
            .stdout(predicate::str::contains("max rel"));
    }
}

mod inspect {
    use super::*;

    #[test]
    fn info_shows_platform_and_backends_with_reasons() {
        let s = Scratch::new();
        s.hb()
            .arg("info")
            .assert()
            .success()
            .stdout(predicate::str::contains("cpu       available"))
            .stdout(predicate::str::contains("[cpu]"))
            // Every backend is either available or says why not.
            .stdout(predicate::str::is_match("(?m)^  wgpu +(available|unavailable: .+)$").unwrap())
            .stdout(
                predicate::str::is_match("(?m)^  opencl +(available|unavailable: .+)$").unwrap(),
            )
            // The emulated FPGA cards are labelled as such.
            .stdout(predicate::str::is_match("(?m)^  fpga-emu +available$").unwrap())
            .stdout(predicate::str::contains("(emulated) [fpga-emulated]"));
        let out = s.hb().args(["info", "--json"]).assert().success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert_eq!(v["platform"]["hash"].as_str().unwrap().len(), 16);
        let cpu = &v["backends"][0];
        assert_eq!(cpu["backend"], "cpu");
        assert_eq!(cpu["available"], true);
        assert_eq!(cpu["devices"][0]["device_type"], "cpu");
    }

    #[test]
    fn list_shows_kernels_domains_and_sizes() {
        let s = Scratch::new();
        s.hb()
            .arg("list")
            .assert()
            .success()
            .stdout(
                predicate::str::is_match(
                    "gemm +ml +1.0.0 +f32,f64 +GFLOP/s +tiny\\(n=67\\), small\\(n=64\\)",
                )
                .unwrap(),
            )
            .stdout(predicate::str::contains("stream_triad  micro"))
            .stdout(predicate::str::contains("nbody         simulation"));
        let out = Command::cargo_bin("hetbench")
            .unwrap()
            .args(["list", "--json"])
            .assert()
            .success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        // Without --kernels-dir, the built-in sizes.
        let gemm = v
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == "gemm")
            .unwrap();
        assert_eq!(gemm["sizes"]["large"]["n"], 2048);
    }

    #[test]
    fn help_has_examples_on_every_command() {
        for cmd in ["info", "list", "run", "results", "import", "export"] {
            Command::cargo_bin("hetbench")
                .unwrap()
                .args([cmd, "--help"])
                .assert()
                .success()
                .stdout(predicate::str::contains("Examples:"));
        }
    }
}

mod store {
    use super::*;

    #[test]
    fn results_filters_and_exports() {
        let s = Scratch::new();
        s.quick_run();
        let gemm = s.results_json(&["--kernel", "gemm"]);
        assert_eq!(gemm.len(), 1);
        assert_eq!(gemm[0]["kernel"], "gemm");
        assert_eq!(s.results_json(&["--limit", "2"]).len(), 2);
        s.hb()
            .args(["results", "--status", "bogus"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("unknown status 'bogus'"));
        s.hb()
            .arg("results")
            .assert()
            .success()
            .stdout(predicate::str::is_match("(?m)^nbody +small +f32 +cpu").unwrap());

        let out = s
            .hb()
            .args(["export", "--format", "csv"])
            .assert()
            .success();
        let csv = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("run_id,hostname,platform_hash,kernel,"));
        assert_eq!(lines[1].split(',').nth(3), Some("stream_triad"));

        let md = s.path("out.md");
        s.hb()
            .args(["export", "--format", "markdown", "--out"])
            .arg(&md)
            .assert()
            .success();
        let md = std::fs::read_to_string(md).unwrap();
        assert!(
            md.starts_with("| kernel | size | precision | backend |"),
            "{md}"
        );
        assert_eq!(md.lines().count(), 5);

        let out = s
            .hb()
            .args(["export", "--format", "json", "-k", "nbody"])
            .assert()
            .success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 1);
        s.hb()
            .args(["export", "--format", "xml"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "valid formats: json, csv, markdown, openmetrics, hep-benchmark-suite",
            ));
    }

    /// The OpenMetrics export: every sample under its declared metric,
    /// no two with the same labels, the throughput the stored one.
    #[test]
    fn openmetrics_export_is_well_formed_and_carries_the_stored_figures() {
        let s = Scratch::new();
        s.quick_run();
        s.quick_run();
        let out = s
            .hb()
            .args(["export", "--format", "openmetrics"])
            .assert()
            .success();
        let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        let mut declared = std::collections::BTreeSet::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert_eq!(kind, "gauge");
                assert!(declared.insert(name.to_string()), "{name} declared twice");
                current = name.to_string();
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap();
            let name = series.split('{').next().unwrap();
            assert_eq!(name, current, "a sample away from its metric: {line}");
            assert!(value.parse::<f64>().unwrap().is_finite(), "{line}");
            assert!(seen.insert(series.to_string()), "duplicate series {series}");
        }
        // Two runs of three kernels: one series per kernel (the newest).
        let ok: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("hetbench_result_ok{"))
            .collect();
        assert_eq!(ok.len(), 3, "{text}");
        let newest = s.results_json(&["--kernel", "gemm", "--limit", "1"]);
        let t = newest[0]["throughput"].as_f64().unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("hetbench_throughput{") && l.contains("kernel=\"gemm\""))
            .unwrap();
        let v: f64 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
        assert!((v - t).abs() <= 1e-9 * t, "{v} {t}");
        assert!(
            text.contains("scope=\"estimated\",method=\"estimated\""),
            "{text}"
        );
    }

    /// The HEP Benchmark Suite export: one run in the suite's layout, its
    /// scores those of `score`; two runs at once are refused.
    #[test]
    fn hep_benchmark_suite_export_is_one_run_in_the_suites_layout() {
        let s = Scratch::new();
        s.quick_run();
        s.quick_run();
        s.hb()
            .args(["export", "--format", "hep-benchmark-suite"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("choose one with --run ID"));
        let run_id = s.results_json(&["--limit", "1"])[0]["run_id"]
            .as_str()
            .unwrap()
            .to_string();
        let out = s
            .hb()
            .args([
                "export",
                "--format",
                "hep-benchmark-suite",
                "--run",
                &run_id,
            ])
            .assert()
            .success();
        let doc: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        for key in [
            "host",
            "suite",
            "_id",
            "_timestamp",
            "json_version",
            "profiles",
            "plugins",
        ] {
            assert!(doc.get(key).is_some(), "no {key}: {doc}");
        }
        assert!(doc["host"]["hostname"].is_string());
        assert!(doc["host"]["HW"]["CPU"]["CPU_Model"].is_string());
        let profile = &doc["profiles"]["hetbench"];
        assert_eq!(profile["run_id"], run_id.as_str());
        assert_eq!(profile["results"], 3);
        let gemm = &profile["devices"]["cpu:cpu0"]["kernels"]["gemm"];
        let score = s
            .hb()
            .args(["score", "--json", "--allow-partial", "--run", &run_id])
            .assert()
            .success();
        let score: Value = serde_json::from_slice(&score.get_output().stdout).unwrap();
        let want = score["subjects"][0]["kernels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kernel"] == "gemm")
            .unwrap();
        assert_eq!(gemm["ratio"], want["ratio"]);
        assert_eq!(gemm["ratio_ci95"], want["ratio_ci95"]);
        // The energy, as plugin data: one reading per result, in watts.
        let during = doc["plugins"]["hetbench-energy"]["hetbench"]
            .as_object()
            .unwrap();
        assert_eq!(during.len(), 3);
        assert!(during.values().all(|m| m["config"]["unit"] == "W"
            && m["config"]["scope"].is_string()
            && m["values"][0].as_f64().unwrap() > 0.0));
    }

    #[test]
    fn import_is_idempotent_by_run_id() {
        let s = Scratch::new();
        let run_file = s.quick_run();
        let other = s.path("other.db");
        s.hb()
            .arg("--db")
            .arg(&other)
            .arg("import")
            .arg(&run_file)
            .assert()
            .success()
            .stdout(predicate::str::contains(
                "(new), 3 results imported, 0 already present",
            ));
        s.hb()
            .arg("--db")
            .arg(&other)
            .arg("import")
            .arg(&run_file)
            .assert()
            .success()
            .stdout(predicate::str::contains(
                "(already known), 0 results imported, 3 already present",
            ));
        let out = s
            .hb()
            .arg("--db")
            .arg(&other)
            .args(["results", "--json"])
            .assert()
            .success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert_eq!(v.as_array().unwrap(), &s.results_json(&[]));
    }

    #[test]
    fn corrupt_or_truncated_json_imports_nothing() {
        let s = Scratch::new();
        let run_file = s.quick_run();
        let text = std::fs::read_to_string(&run_file).unwrap();
        let truncated = s.path("truncated.json");
        std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
        let other = s.path("other.db");
        // A good file followed by a truncated one: neither is imported.
        s.hb()
            .arg("--db")
            .arg(&other)
            .arg("import")
            .arg(&run_file)
            .arg(&truncated)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(truncated.display().to_string()))
            .stderr(predicate::str::contains("not valid JSON"));
        s.assert_empty(&other);

        let mut v: Value = serde_json::from_str(&text).unwrap();
        v["schema_version"] = 99.into();
        let future = s.path("future.json");
        std::fs::write(&future, v.to_string()).unwrap();
        s.hb()
            .arg("import")
            .arg(&future)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "unknown run-file schema version 99",
            ));

        let mut v: Value = serde_json::from_str(&text).unwrap();
        v["results"][1]["run_id"] = "someone-else".into();
        let mixed = s.path("mixed.json");
        std::fs::write(&mixed, v.to_string()).unwrap();
        s.hb()
            .arg("import")
            .arg(&mixed)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("results[1].run_id"));
        // The original database still holds its three results.
        assert_eq!(s.results_json(&[]).len(), 3);
    }

    #[test]
    fn impossible_figures_are_refused_with_the_field_named() {
        let s = Scratch::new();
        let run_file = s.quick_run();
        let text = std::fs::read_to_string(&run_file).unwrap();
        let other = s.path("other.db");
        type Edit = fn(&mut Value);
        let cases: [(&str, Edit, &str); 5] = [
            (
                "negative min",
                |v| v["results"][0]["timing"]["summary"]["min"] = (-1.0).into(),
                "results[0] (stream_triad",
            ),
            (
                "negative stddev",
                |v| v["results"][1]["timing"]["summary"]["stddev"] = (-1.0).into(),
                "timing.summary.stddev: -1 is not a finite non-negative number",
            ),
            (
                "min above max",
                |v| v["results"][2]["timing"]["host"]["min"] = 1e9.into(),
                "timing.host: min 1000000000",
            ),
            (
                "ok but not verified",
                |v| v["results"][0]["verification"]["passed"] = false.into(),
                "status: ok but verification did not pass",
            ),
            (
                "negative power",
                |v| v["results"][0]["energy"][0]["avg_w"] = (-5.0).into(),
                "energy[0].avg_w",
            ),
        ];
        for (what, edit, says) in cases {
            let mut v: Value = serde_json::from_str(&text).unwrap();
            edit(&mut v);
            let bad = s.path("bad.json");
            std::fs::write(&bad, v.to_string()).unwrap();
            s.hb()
                .arg("--db")
                .arg(&other)
                .arg("import")
                .arg(&bad)
                .assert()
                .append_context("case", what)
                .code(2)
                .stderr(predicate::str::contains(bad.display().to_string()))
                .stderr(predicate::str::contains(says));
        }
        s.assert_empty(&other);
    }

    #[test]
    fn an_unreadable_stored_record_is_skipped_and_named_not_fatal() {
        // A record stored by an earlier version with a non-finite figure
        // (serde_json wrote it as null) used to make every read fail.
        let s = Scratch::new();
        s.quick_run();
        let conn = rusqlite::Connection::open(s.db()).unwrap();
        let (id, json): (i64, String) = conn
            .query_row(
                "SELECT id, record_json FROM results ORDER BY id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let mut v: Value = serde_json::from_str(&json).unwrap();
        v["timing"]["summary"]["median"] = Value::Null;
        conn.execute(
            "UPDATE results SET record_json = ?1 WHERE id = ?2",
            rusqlite::params![v.to_string(), id],
        )
        .unwrap();
        drop(conn);
        for args in [
            &["results", "--json"][..],
            &["export", "--format", "csv"][..],
        ] {
            s.hb()
                .args(args)
                .assert()
                .success()
                .stderr(predicate::str::contains(format!(
                    "1 stored result record(s) could not be read and were skipped (first: row {id}, run "
                )));
        }
        assert_eq!(s.results_json(&[]).len(), 2);
    }

    #[test]
    fn newer_schema_and_foreign_files_are_refused_untouched() {
        let s = Scratch::new();
        s.quick_run();
        {
            let conn = rusqlite::Connection::open(s.db()).unwrap();
            conn.execute("UPDATE schema_version SET version = 99", [])
                .unwrap();
        }
        let before = std::fs::read(s.db()).unwrap();
        s.hb()
            .args(["run", "--quick", "-b", "cpu", "-k", CORE])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "has schema version 99, newer than the 3",
            ));
        s.hb().arg("results").assert().code(2);
        assert_eq!(std::fs::read(s.db()).unwrap(), before);

        let garbage = s.path("garbage.db");
        std::fs::write(&garbage, vec![0x42u8; 8192]).unwrap();
        s.hb()
            .arg("--db")
            .arg(&garbage)
            .arg("results")
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "is not a hetbench results database",
            ));
        assert_eq!(std::fs::read(&garbage).unwrap(), vec![0x42u8; 8192]);
    }
}

mod energy {
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
}

mod rapl {
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
}

mod robustness {
    use super::*;

    fn statuses(s: &Scratch) -> Vec<(String, String, String)> {
        s.results_json(&[])
            .iter()
            .map(|r| {
                (
                    r["kernel"].as_str().unwrap().to_string(),
                    r["status"].as_str().unwrap().to_string(),
                    r["message"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn a_crashing_and_a_hanging_kernel_are_marked_and_the_rest_stored() {
        let s = Scratch::new();
        s.hb()
            .args(["run", "--quick", "-b", "cpu", "-k", CORE, "--timeout", "3"])
            .args([
                "--inject-fault",
                "gemm=crash",
                "--inject-fault",
                "nbody=hang",
            ])
            .assert()
            .code(3)
            .stderr(predicate::str::contains("crashed: gemm small"))
            .stderr(predicate::str::contains("timeout: nbody small"));
        let st = statuses(&s);
        assert_eq!(st.len(), 3, "{st:?}");
        assert_eq!((st[0].0.as_str(), st[0].1.as_str()), ("stream_triad", "ok"));
        assert_eq!((st[1].0.as_str(), st[1].1.as_str()), ("gemm", "crashed"));
        assert!(st[1].2.contains("SIGABRT"), "{}", st[1].2);
        assert_eq!((st[2].0.as_str(), st[2].1.as_str()), ("nbody", "timeout"));
        assert!(st[2].2.contains("time limit of 3 s"), "{}", st[2].2);
        // The run itself finished, and its file agrees with the database.
        let file = std::fs::read_dir(s.path("results/runs"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let v: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        assert_eq!(v["run"]["status"], "finished");
        assert_eq!(v["results"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn sigint_leaves_a_consistent_run_that_resume_finishes() {
        let s = Scratch::new();
        let bin = assert_cmd::cargo::cargo_bin("hetbench");
        let child = std::process::Command::new(&bin)
            .arg("--results-dir")
            .arg(s.path("results"))
            .arg("--kernels-dir")
            .arg(s.path("kernels"))
            .args([
                "run",
                "-b",
                "cpu",
                "-k",
                CORE,
                "--time-budget",
                "1.5",
                "--idle-seconds",
                "0",
            ])
            .env_remove("HETBENCH_REQUIRE_BACKENDS")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for the first result, then interrupt the second measurement.
        let runs = s.path("results/runs");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let stored = std::fs::read_dir(&runs)
                .ok()
                .and_then(|mut d| d.next())
                .and_then(|f| std::fs::read(f.ok()?.path()).ok())
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .map(|v| v["results"].as_array().map(|a| a.len()).unwrap_or(0))
                .unwrap_or(0);
            if stored >= 1 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no result within 60 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        let status = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(130), "{stderr}");
        // The printed command names the results directory it was given.
        let printed = format!(
            "hetbench --results-dir {} run --resume ",
            s.path("results").display()
        );
        assert!(stderr.contains(&printed), "{stderr}");
        let run_id = stderr.split("--resume ").nth(1).unwrap().trim().to_string();

        // Consistent: the database and the run file hold the same results.
        let db = s.results_json(&["--run", &run_id]);
        assert_eq!(db.len(), 1, "{db:?}");
        let file: Value =
            serde_json::from_slice(&std::fs::read(runs.join(format!("{run_id}.json"))).unwrap())
                .unwrap();
        assert_eq!(file["run"]["status"], "interrupted");
        assert_eq!(file["results"].as_array().unwrap(), &db);

        // Resume measures the rest, once, with the original settings.
        s.hb()
            .args(["run", "--resume", &run_id])
            .assert()
            .success()
            .stderr(predicate::str::contains(
                "resuming: 1 of 3 measurements already stored",
            ));
        let all = s.results_json(&["--run", &run_id]);
        let kernels: Vec<&str> = all.iter().map(|r| r["kernel"].as_str().unwrap()).collect();
        assert_eq!(kernels, vec!["stream_triad", "gemm", "nbody"]);
        assert_eq!(all[0], db[0]);
        let file: Value =
            serde_json::from_slice(&std::fs::read(runs.join(format!("{run_id}.json"))).unwrap())
                .unwrap();
        assert_eq!(file["run"]["status"], "finished");
        assert_eq!(file["results"].as_array().unwrap().len(), 3);
        // The resumed session's preflight is the run's, the first session's
        // is kept before it (each measured its own results).
        let preflight = &file["run"]["platform"]["preflight"];
        let earlier = preflight["earlier_sessions"].as_array().unwrap();
        assert_eq!(earlier.len(), 1, "{preflight}");
        assert!(earlier[0]["load"].is_object() && preflight["load"].is_object());
        assert!(earlier[0].get("earlier_sessions").is_none(), "{preflight}");
        // A finished run has nothing to resume.
        s.hb()
            .args(["run", "--resume", &run_id])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("nothing to resume"));
        s.hb()
            .args(["run", "--resume", "no-such-run"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("no run 'no-such-run'"));
    }

    #[test]
    fn two_processes_write_one_database_at_once() {
        let s = Scratch::new();
        let spawn = || {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("hetbench"))
                .env_remove("HETBENCH_REQUIRE_BACKENDS")
                .arg("--results-dir")
                .arg(s.path("results"))
                .arg("--kernels-dir")
                .arg(s.path("kernels"))
                .args([
                    "run",
                    "--quick",
                    "-b",
                    "cpu",
                    "-k",
                    CORE,
                    "--idle-seconds",
                    "0",
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let results = s.results_json(&[]);
        assert_eq!(results.len(), 6);
        let runs: std::collections::BTreeSet<&str> = results
            .iter()
            .map(|r| r["run_id"].as_str().unwrap())
            .collect();
        assert_eq!(runs.len(), 2);
    }

    #[test]
    fn unwritable_results_directory_is_a_clear_error() {
        let s = Scratch::new();
        let file = s.path("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let mut c = Command::cargo_bin("hetbench").unwrap();
        c.env_remove("HETBENCH_DB")
            .arg("--results-dir")
            .arg(file.join("results"))
            .args(["run", "--quick", "-b", "cpu"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                file.join("results").display().to_string(),
            ));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    }

    #[test]
    fn absurd_sizes_and_seeds_are_refused_with_the_field_named() {
        let s = Scratch::new();
        let path = s.path("kernels/nbody/kernel.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("n = 257", "n = 0", 1)).unwrap();
        // Refused before anything is measured, file and field named; no
        // error row is stored.
        for bad in ["n = 0", "n = 1000000000000"] {
            std::fs::write(&path, text.replacen("n = 257", bad, 1)).unwrap();
            s.hb()
                .args(["run", "--quick", "-b", "cpu", "-k", "nbody"])
                .assert()
                .code(2)
                .stderr(predicate::str::contains(
                    "nbody/kernel.toml: sizes.small.n: ",
                ))
                .stderr(predicate::str::contains(" is outside 1..="));
        }
        assert!(!s.db().exists() || s.results_json(&[]).is_empty());
        s.hb()
            .args(["run", "--seed=-5"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--seed"));
        s.hb()
            .args(["run", "--quick", "--timeout", "0"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--timeout"));
    }
}

/// Whether `backend` has a device here; prints why a test skips, and fails
/// where HETBENCH_REQUIRE_BACKENDS names it.
fn available(backend: &str) -> bool {
    let out = Command::cargo_bin("hetbench")
        .unwrap()
        .args(["info", "--json"])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let b = v["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["backend"] == backend)
        .unwrap();
    if b["available"] != true {
        let required = std::env::var("HETBENCH_REQUIRE_BACKENDS").unwrap_or_default();
        assert!(
            !required.split(',').any(|r| r == backend),
            "{backend} required but {}",
            b["reason"]
        );
        println!("skipped: backend {backend} unavailable: {}", b["reason"]);
        return false;
    }
    true
}

mod shaders {
    use super::*;

    #[test]
    fn a_kernel_folder_missing_its_shader_is_skipped_with_the_file_named() {
        for (backend, ext) in [("wgpu", "wgsl"), ("opencl", "cl")] {
            let s = Scratch::new();
            if !available(backend) {
                continue;
            }
            std::fs::remove_file(s.path(&format!("kernels/gemm/gemm.{ext}"))).unwrap();
            s.hb()
                .args(["run", "--quick", "-b", backend, "-k", "gemm"])
                .assert()
                .success();
            let r = &s.results_json(&[])[0];
            assert_eq!(r["status"], "skipped", "{r}");
            let msg = r["message"].as_str().unwrap();
            assert!(msg.contains(&format!("has no gemm.{ext}")), "{msg}");
        }
    }

    #[test]
    fn a_shader_compile_error_names_file_and_line() {
        for (backend, ext, bad) in [
            ("wgpu", "wgsl", "let stride = groups.x * 256u;"),
            ("opencl", "cl", "const uint stride = get_global_size(0);"),
        ] {
            let s = Scratch::new();
            if !available(backend) {
                continue;
            }
            let path = s.path(&format!("kernels/stream_triad/stream_triad.{ext}"));
            let text = std::fs::read_to_string(&path).unwrap();
            let line = text.lines().position(|l| l.trim() == bad).unwrap() + 1;
            std::fs::write(&path, text.replace(bad, &bad.replace(';', ""))).unwrap();
            s.hb()
                .args(["run", "--quick", "-b", backend, "-k", "stream_triad"])
                .assert()
                .code(3);
            let r = &s.results_json(&[])[0];
            assert_eq!(r["status"], "error", "{r}");
            let msg = r["message"].as_str().unwrap();
            assert!(
                msg.contains(&path.display().to_string()),
                "{backend}: {msg}"
            );
            assert!(
                msg.contains(&format!(":{line}:")) || msg.contains(&format!(":{}:", line + 1)),
                "{backend}: line {line} not in {msg}"
            );
        }
    }
}

/// PostgreSQL: the same commands against a real server. HETBENCH_TEST_PG is
/// the URL of a role that may create databases (`.ci/run` starts one on
/// loopback with scripts/start-test-postgres.sh); each test makes its own
/// database. Without it the tests skip, unless HETBENCH_REQUIRE_POSTGRES=1.
mod fleet {
    use super::*;

    /// A fresh database's URL, or `None` (printed) when no server is given.
    fn fresh_pg() -> Option<String> {
        let Ok(admin) = std::env::var("HETBENCH_TEST_PG") else {
            assert!(
                std::env::var("HETBENCH_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "HETBENCH_REQUIRE_POSTGRES=1 but HETBENCH_TEST_PG is not set"
            );
            println!("skipped: HETBENCH_TEST_PG is not set (scripts/start-test-postgres.sh)");
            return None;
        };
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("HETBENCH_TEST_PG is set but unreachable: {e}"));
        let name = format!("hb_{}", uuid::Uuid::new_v4().simple());
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let base = admin.rsplit_once('/').unwrap().0;
        Some(format!("{base}/{name}"))
    }

    fn results_at(s: &Scratch, db: &str) -> Vec<Value> {
        let out = s
            .hb()
            .args(["--db", db, "results", "--json"])
            .assert()
            .success();
        serde_json::from_slice::<Value>(&out.get_output().stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// `n` results of a new run, built from a real record.
    fn synthetic_run(template: &Value, n: usize) -> Value {
        let run_id = uuid::Uuid::new_v4().to_string();
        let mut file = template.clone();
        file["run"]["run_id"] = run_id.clone().into();
        let record = template["results"][0].clone();
        let results: Vec<Value> = (0..n)
            .map(|i| {
                let mut r = record.clone();
                r["run_id"] = run_id.clone().into();
                r["size"] = format!("s{i}").into();
                r
            })
            .collect();
        file["results"] = results.into();
        file
    }

    #[test]
    fn run_import_score_and_report_work_on_postgres_as_on_sqlite() {
        let Some(pg) = fresh_pg() else { return };
        let s = Scratch::new();
        s.hb()
            .args([
                "--db",
                &pg,
                "run",
                "--quick",
                "-b",
                "cpu",
                "-k",
                CORE,
                "--idle-seconds",
                "0",
            ])
            .assert()
            .success()
            .stderr(predicate::str::contains(
                "3 results stored in 'postgres://hetbench:***@",
            ));
        let on_pg = results_at(&s, &pg);
        assert_eq!(on_pg.len(), 3);
        // Import the same run file into SQLite: identical records.
        let file = std::fs::read_dir(s.path("results/runs"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let lite = s.path("lite.db").display().to_string();
        s.hb()
            .args(["--db", &lite, "import"])
            .arg(&file)
            .assert()
            .success();
        assert_eq!(results_at(&s, &lite), on_pg);
        // Importing into PostgreSQL again changes nothing.
        s.hb()
            .args(["--db", &pg, "import"])
            .arg(&file)
            .assert()
            .success()
            .stdout(predicate::str::contains(
                "0 results imported, 3 already present",
            ));
        // Reports read PostgreSQL like SQLite.
        let score = |db: &str| {
            let out = s
                .hb()
                .args(["--db", db, "score", "--json"])
                .assert()
                .success();
            serde_json::from_slice::<Value>(&out.get_output().stdout).unwrap()
        };
        assert_eq!(score(&pg), score(&lite));
        let out = s.path("report");
        s.hb()
            .args(["--db", &pg, "report", "--out"])
            .arg(&out)
            .assert()
            .success();
        let html = std::fs::read_to_string(out.join("report.html")).unwrap();
        assert!(
            !html.contains("hetbench:hetbench@"),
            "password leaked into the report"
        );
        assert!(html.contains("<svg"));
    }

    #[test]
    fn sixteen_concurrent_pushers_land_every_result_exactly_once() {
        let Some(pg) = fresh_pg() else { return };
        let s = Scratch::new();
        let template: Value = serde_json::from_str(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/run.json"),
            )
            .unwrap(),
        )
        .unwrap();
        // Every pusher pushes its own run and the one shared by all.
        let shared = s.path("shared.json");
        std::fs::write(&shared, synthetic_run(&template, 200).to_string()).unwrap();
        let pushers: Vec<_> = (0..16)
            .map(|i| {
                let own = s.path(&format!("node{i}.json"));
                std::fs::write(&own, synthetic_run(&template, 200).to_string()).unwrap();
                std::process::Command::new(assert_cmd::cargo::cargo_bin("hetbench"))
                    .args(["push", "--to", &pg])
                    .arg(&own)
                    .arg(&shared)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for p in pushers {
            let out = p.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut client = postgres::Client::connect(&pg, postgres::NoTls).unwrap();
        let mut count = |q: &str| client.query_one(q, &[]).unwrap().get::<_, i64>(0);
        assert_eq!(count("SELECT COUNT(*) FROM runs"), 17);
        assert_eq!(count("SELECT COUNT(*) FROM results"), 17 * 200);
        assert_eq!(
            count("SELECT COUNT(DISTINCT (run_id, size)) FROM results"),
            17 * 200
        );
    }

    /// A TCP proxy to `target` that drops both connections once `budget`
    /// bytes have gone from client to server.
    fn dropping_proxy(target: &str, budget: usize) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = target.to_string();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                let Ok(mut server) = std::net::TcpStream::connect(&target) else {
                    return;
                };
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = s2.read(&mut buf) {
                        if n == 0 || c2.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
                let mut sent = 0;
                let mut buf = [0u8; 4096];
                while let Ok(n) = client.read(&mut buf) {
                    if n == 0 || sent + n > budget {
                        break;
                    }
                    if server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    sent += n;
                }
                let _ = client.shutdown(std::net::Shutdown::Both);
                let _ = server.shutdown(std::net::Shutdown::Both);
            }
        });
        format!("127.0.0.1:{port}")
    }

    /// A refused login says why (the server's message and SQLSTATE), and
    /// a missing password where it may come from, never the password.
    #[test]
    fn database_errors_show_the_servers_cause_never_the_password() {
        let Some(pg) = fresh_pg() else { return };
        let s = Scratch::new();
        let (user, rest) = pg.split_once('@').unwrap();
        let user = user.rsplit_once(':').unwrap().0;
        let wrong = format!("{user}:Sup3rSecretPw@{rest}");
        let out = s.hb().args(["--db", &wrong, "results"]).assert().code(1);
        let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
        assert!(
            err.contains("password authentication failed") && err.contains("SQLSTATE 28P01"),
            "{err}"
        );
        assert!(!err.contains("Sup3rSecretPw"), "{err}");
        let none = format!("{user}@{rest}");
        let out = s
            .hb()
            .env_remove("PGPASSWORD")
            .env("PGPASSFILE", s.path("no-such-pgpass"))
            .args(["--db", &none, "results"])
            .assert()
            .code(1);
        let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
        assert!(
            err.contains("password missing") && err.contains("PGPASSFILE"),
            "{err}"
        );
    }

    /// A run pushed while interrupted and pushed again once resumed takes
    /// the finished status and its new results, in PostgreSQL and in
    /// SQLite alike; an older copy pushed after it changes nothing.
    #[test]
    fn a_resumed_run_pushed_again_updates_its_status_not_the_reverse() {
        let Some(pg) = fresh_pg() else { return };
        let s = Scratch::new();
        let mut run: Value = serde_json::from_str(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/run.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let all = run["results"].as_array().unwrap().len();
        assert!(all >= 2);
        let mut cut = run.clone();
        cut["run"]["status"] = "interrupted".into();
        cut["run"]["finished_at"] = Value::Null;
        cut["results"] = serde_json::json!([run["results"][0].clone()]);
        run["run"]["status"] = "finished".into();
        let (early, late) = (s.path("interrupted.json"), s.path("finished.json"));
        std::fs::write(&early, cut.to_string()).unwrap();
        std::fs::write(&late, run.to_string()).unwrap();
        let site = s.path("site.db").display().to_string();
        for target in [pg.as_str(), site.as_str()] {
            let push = |file: &Path| {
                let out = s
                    .hb()
                    .args(["push", "--to", target])
                    .arg(file)
                    .assert()
                    .success();
                String::from_utf8(out.get_output().stdout.clone()).unwrap()
            };
            push(&early);
            let out = push(&late);
            assert!(
                out.contains(&format!(
                    "0 new, 1 with their status brought up to date, {} results stored, 1 already there",
                    all - 1
                )),
                "{out}"
            );
            // The stale copy again: nothing changes.
            let out = push(&early);
            assert!(
                out.contains("0 new, 0 with their status brought up to date, 0 results stored"),
                "{out}"
            );
        }
        let mut client = postgres::Client::connect(&pg, postgres::NoTls).unwrap();
        let row = client
            .query_one("SELECT status, finished_at FROM runs", &[])
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "finished");
        assert!(row.get::<_, Option<String>>(1).is_some());
        let db = rusqlite::Connection::open(&site).unwrap();
        let status: String = db
            .query_row("SELECT status FROM runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(status, "finished");
    }

    #[test]
    fn a_push_cut_mid_way_leaves_no_partial_run_and_succeeds_when_retried() {
        let Some(pg) = fresh_pg() else { return };
        let s = Scratch::new();
        let template: Value = serde_json::from_str(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/run.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let file = s.path("big.json");
        std::fs::write(&file, synthetic_run(&template, 200).to_string()).unwrap();
        // Create the schema first, so that the cut falls inside the push.
        s.hb().args(["--db", &pg, "results"]).assert().success();
        let (prefix, rest) = pg.split_once('@').unwrap();
        let (host, db) = rest.split_once('/').unwrap();
        let cut = format!("{prefix}@{}/{db}", dropping_proxy(host, 60_000));
        s.hb()
            .args(["push", "--to", &cut])
            .arg(&file)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                "nothing of it was stored; push again",
            ))
            .stderr(predicate::str::contains("hetbench:***@"));
        let mut client = postgres::Client::connect(&pg, postgres::NoTls).unwrap();
        let count =
            |c: &mut postgres::Client, q: &str| c.query_one(q, &[]).unwrap().get::<_, i64>(0);
        assert_eq!(count(&mut client, "SELECT COUNT(*) FROM runs"), 0);
        assert_eq!(count(&mut client, "SELECT COUNT(*) FROM results"), 0);
        s.hb()
            .args(["push", "--to", &pg])
            .arg(&file)
            .assert()
            .success()
            .stdout(predicate::str::contains(
                "1 new, 0 with their status brought up to date, 200 results stored, 0 already there",
            ));
        assert_eq!(count(&mut client, "SELECT COUNT(*) FROM results"), 200);
    }

    #[test]
    fn malformed_records_are_refused_with_file_and_record_named() {
        let s = Scratch::new();
        let mut v: Value = serde_json::from_str(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/run.json"),
            )
            .unwrap(),
        )
        .unwrap();
        v["results"][1]["status"] = "bogus".into();
        let file = s.path("bad.json");
        std::fs::write(&file, v.to_string()).unwrap();
        s.hb()
            .arg("import")
            .arg(&file)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!(
                "{}: invalid results[1]: unknown variant `bogus`",
                file.display()
            )));
        s.hb()
            .args(["push", "--to", &s.path("site.db").display().to_string()])
            .arg(&file)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("invalid results[1]"));
    }

    #[test]
    fn push_from_the_local_database_to_another_is_idempotent() {
        let s = Scratch::new();
        s.quick_run();
        let site = s.path("site.db").display().to_string();
        s.hb()
            .args(["push", "--to", &site])
            .assert()
            .success()
            .stdout(predicate::str::contains("pushed 1 run(s)"))
            .stdout(predicate::str::contains(
                "1 new, 0 with their status brought up to date, 3 results stored, 0 already there",
            ));
        s.hb()
            .args(["push", "--to", &site])
            .assert()
            .success()
            .stdout(predicate::str::contains(
                "0 new, 0 with their status brought up to date, 0 results stored, 3 already there",
            ));
        assert_eq!(results_at(&s, &site), s.results_json(&[]));
    }

    /// The campaign job script, run as HTCondor runs it (a plain script):
    /// a header in the log, the run file in the shared directory before the
    /// push, exit 75 when only the push failed, 1 when there is no binary.
    #[test]
    fn the_campaign_job_keeps_the_run_file_and_says_when_the_push_failed() {
        let s = Scratch::new();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/batch/slurm-campaign.sbatch");
        let binary = assert_cmd::cargo::cargo_bin("hetbench");
        let shared = s.path("shared");
        let job = |db: &str, bin: &Path| {
            std::process::Command::new("bash")
                .arg(&script)
                .env("HETBENCH", bin)
                .env("HETBENCH_SHARED", &shared)
                .env("HETBENCH_SITE_DB", db)
                .env("HETBENCH_RUN_ARGS", "--quick -b cpu -k stream_triad,gemm")
                .env_remove("HETBENCH_DB")
                .env_remove("HETBENCH_RESULTS_DIR")
                .env_remove("HETBENCH_REQUIRE_BACKENDS")
                .output()
                .unwrap()
        };
        let site = s.path("site.db");
        let out = job(site.to_str().unwrap(), &binary);
        let log = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{log}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            log.contains("== hetbench campaign: job ") && log.contains("== binary "),
            "{log}"
        );
        assert!(
            log.contains("-k stream_triad,gemm"),
            "the comma list arrives whole: {log}"
        );
        let runs = |d: &Path| std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0);
        assert_eq!(runs(&shared.join("runs")), 1);
        let pushed = s
            .hb()
            .arg("--db")
            .arg(&site)
            .args(["results", "--json"])
            .output()
            .unwrap();
        let pushed: Value = serde_json::from_slice(&pushed.stdout).unwrap();
        assert_eq!(pushed.as_array().unwrap().len(), 2);
        // The database cannot be reached: the run file is kept, exit 75.
        let out = job("postgres://bench@127.0.0.1:1/hetbench", &binary);
        assert_eq!(out.status.code(), Some(75));
        assert!(String::from_utf8_lossy(&out.stderr).contains("push them later with"));
        assert_eq!(runs(&shared.join("runs")), 2);
        // No binary: exit 1, and where to put one.
        let out = job(site.to_str().unwrap(), &s.path("no-such-hetbench"));
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("set HETBENCH to the path"));
    }

    #[test]
    fn batch_templates_are_valid_shell() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/batch");
        let status = std::process::Command::new("bash")
            .arg("-n")
            .arg(dir.join("slurm-campaign.sbatch"))
            .status()
            .unwrap();
        assert!(status.success(), "slurm-campaign.sbatch has a syntax error");
        let submit = std::fs::read_to_string(dir.join("htcondor-campaign.sub")).unwrap();
        for key in ["executable", "arguments", "request_cpus", "queue"] {
            assert!(
                submit.lines().any(|l| l.trim_start().starts_with(key)),
                "htcondor submit file lacks {key}"
            );
        }
    }
}

mod catalogue {
    use super::*;

    #[test]
    fn list_has_the_twelve_kernels_of_the_design_by_domain() {
        let out = Command::cargo_bin("hetbench")
            .unwrap()
            .args(["list", "--json"])
            .assert()
            .success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let listed: Vec<(&str, &str)> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|k| (k["domain"].as_str().unwrap(), k["name"].as_str().unwrap()))
            .collect();
        // The catalogue of the design; more kernels may come without
        // touching this test.
        for want in [
            ("simulation", "mc_transport"),
            ("simulation", "nbody"),
            ("simulation", "stencil3d"),
            ("simulation", "pic_push"),
            ("reconstruction", "kalman_fit"),
            ("reconstruction", "hough"),
            ("reconstruction", "cluster"),
            ("ml", "gemm"),
            ("ml", "conv2d"),
            ("ml", "mlp_jet"),
            ("micro", "stream_triad"),
            ("micro", "fma_peak"),
        ] {
            assert!(listed.contains(&want), "{want:?} not in {listed:?}");
        }
        let cluster = v
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == "cluster")
            .unwrap();
        assert_eq!(cluster["unit"], "Gcells/s");
    }

    #[test]
    fn results_roofline_places_each_result_under_measured_ceilings() {
        let s = Scratch::new();
        s.quick_run();
        let out = s.hb().args(["results", "--roofline"]).assert().success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        // The triad defines the bandwidth ceiling, so it sits exactly on it.
        let triad = text
            .lines()
            .find(|l| l.contains(" stream_triad "))
            .unwrap_or_else(|| panic!("{text}"));
        let tail: Vec<&str> = triad.split_whitespace().rev().take(2).collect();
        assert_eq!(tail, vec!["1.00", "(memory)"], "{triad}");
        for k in [" gemm ", " nbody "] {
            let line = text
                .lines()
                .find(|l| l.contains(k))
                .unwrap_or_else(|| panic!("{k}: {text}"));
            let fraction: f64 = line.split_whitespace().last().unwrap().parse().unwrap();
            assert!(fraction > 0.0 && fraction <= 1.0 + 1e-9, "{line}");
        }
        assert!(text.contains("(stream_triad)"), "{text}");
    }

    #[test]
    fn new_kernel_refuses_bad_names_and_trees() {
        let s = Scratch::new();
        s.hb()
            .args(["new-kernel", "saxpy", "--domain", "micro", "--root"])
            .arg(s.path("nowhere"))
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "run this in the hetbench source tree or pass --root",
            ));
        s.hb()
            .args(["new-kernel", "Saxpy", "--domain", "micro", "--root"])
            .arg(env!("CARGO_MANIFEST_DIR"))
            .assert()
            .code(2)
            .stderr(predicate::str::contains("is not a kernel name"));
        s.hb()
            .args(["new-kernel", "gemm", "--domain", "ml", "--root"])
            .arg(env!("CARGO_MANIFEST_DIR"))
            .assert()
            .code(2)
            .stderr(predicate::str::contains("exists already"));
        s.hb()
            .args(["new-kernel", "x", "--domain", "astrology"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("unknown domain 'astrology'"));
    }
}

mod dry_run {
    use super::*;

    /// The rows of a dry-run table, each split into its cells (columns are
    /// separated by at least two spaces, cells hold single spaces only).
    fn rows(stdout: &str) -> Vec<Vec<String>> {
        stdout
            .lines()
            .skip(2)
            .take_while(|l| !l.trim().is_empty())
            .map(|l| {
                l.split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(String::from)
                    .collect()
            })
            .collect()
    }

    /// `run --dry-run` over the real manifests: every kernel, size and
    /// precision on one backend, with nothing stored.
    fn dry_run(backend: &str) -> Vec<Vec<String>> {
        let results = TempDir::new().unwrap();
        let out = Command::cargo_bin("hetbench")
            .unwrap()
            .env_remove("HETBENCH_DB")
            .env_remove("HETBENCH_KERNELS_DIR")
            .env_remove("HETBENCH_REQUIRE_BACKENDS")
            .arg("--results-dir")
            .arg(results.path())
            .args(["run", "--dry-run", "--backend", backend, "--kernel", "all"])
            .args(["--size", "tiny,small,medium,large", "--precision", "all"])
            .assert()
            .success();
        assert_eq!(
            std::fs::read_dir(results.path()).unwrap().count(),
            0,
            "a dry run stored something"
        );
        let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        assert!(stdout.contains("nothing was run or stored"), "{stdout}");
        rows(&stdout)
    }

    /// Every job's launch fits its device, big sizes included: the
    /// workgroup grid, workgroup size, workgroup memory and what one
    /// dispatch binds of a buffer (lavapipe binds at most 128 MiB: larger
    /// buffers are worked on in windows or bound in parts).
    #[test]
    fn every_kernel_size_and_precision_fits_the_devices_here() {
        let reg = hetbench::kernels::Registry::builtin().unwrap();
        let expected: usize = reg
            .kernels
            .iter()
            .map(|k| 4 * k.manifest.precisions.len())
            .sum();
        for backend in ["wgpu", "opencl"] {
            if !available(backend) {
                continue;
            }
            let rows = dry_run(backend);
            let devices = rows.iter().filter(|r| r[0] == "kalman_fit").count() / 4;
            assert!(devices >= 1, "{rows:?}");
            assert_eq!(rows.len(), expected * devices, "{rows:?}");
            // Neither lavapipe nor PoCL refuses any.
            let refused: Vec<(&str, &str, &str)> = rows
                .iter()
                .filter(|r| r[8] != "yes")
                .map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str()))
                .collect();
            assert_eq!(
                refused,
                [] as [(&str, &str, &str); 0],
                "{backend}: {rows:?}"
            );
            for r in &rows {
                assert_eq!(r.len(), 9, "{r:?}");
                assert_eq!(r[3], backend, "{r:?}");
            }
            // The case that once could not launch at all.
            for r in rows
                .iter()
                .filter(|r| r[0] == "kalman_fit" && r[1] == "large")
            {
                assert!(r[5].starts_with("65535x1x1 of 64x1x1"), "{r:?}");
            }
            // Worked on in windows: 8 chunks of 2^24 elements at 2^27.
            for r in rows
                .iter()
                .filter(|r| r[0] == "stream_triad" && r[1] == "large")
            {
                assert!(r[5].starts_with("8 x [65535x1x1 of 256x1x1]"), "{r:?}");
            }
        }
    }

    /// The windowed launches verify on the devices here: with the binding
    /// lowered to 300,000 bytes, stream_triad and stencil3d `tiny` and
    /// pic_push `small` (43 blocks) are worked on a window at a time, as
    /// their large sizes are on lavapipe.
    #[test]
    fn windowed_launches_verify() {
        for backend in ["wgpu", "opencl"] {
            if !available(backend) {
                continue;
            }
            let s = Scratch::new();
            for (kernels, size) in [("stream_triad,stencil3d", "tiny"), ("pic_push", "small")] {
                s.hb()
                    .env("HETBENCH_MAX_BINDING_BYTES", "300000")
                    .args(["run", "--quick", "-b", backend, "-s", size, "-p", "all"])
                    .args(["-k", kernels])
                    .assert()
                    .success();
            }
            let results = s.results_json(&[]);
            assert_eq!(results.len(), 6, "{results:?}");
            for r in results {
                assert_eq!(r["status"], "ok", "{backend}: {r}");
            }
        }
    }

    #[test]
    fn dry_run_with_resume_or_a_bad_size_is_bad_input() {
        let results = TempDir::new().unwrap();
        let hb = || {
            let mut c = Command::cargo_bin("hetbench").unwrap();
            c.env_remove("HETBENCH_REQUIRE_BACKENDS")
                .arg("--results-dir")
                .arg(results.path());
            c
        };
        hb().args(["run", "--dry-run", "--resume", "x"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--resume"));
        hb().args(["run", "--dry-run", "-b", "cpu", "-s", "huge"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("huge"));
        let out = hb()
            .args(["run", "--dry-run", "-b", "cpu", "-k", "gemm", "-s", "large"])
            .assert()
            .success();
        let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        let rows = rows(&stdout);
        assert_eq!(rows.len(), 1, "{stdout}");
        assert_eq!(rows[0][5], "- (no GPU launch)", "{stdout}");
        assert_eq!(rows[0][6], "-", "{stdout}");
        // n = 2048: gemm's memory model, six matrices of 16 MiB.
        assert_eq!(rows[0][7], "96.0 MiB", "{stdout}");
        assert_eq!(std::fs::read_dir(results.path()).unwrap().count(), 0);
    }
}

/// Issue 16: a hostile or careless user. Locations that are what they look
/// like, bounded waits, read commands that create nothing, safe output,
/// exit codes, failures that leave a way back, process lifetimes.
mod hostile {
    use super::*;
    use std::time::{Duration, Instant};

    fn corpus_run() -> Value {
        serde_json::from_slice(
            &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/run.json"))
                .unwrap(),
        )
        .unwrap()
    }

    /// The names in `dir`, sorted.
    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    }

    fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
        String::from_utf8_lossy(&a.get_output().stderr).to_string()
    }

    /// A local TCP port that accepts connections and never says a word.
    fn silent_server() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for c in listener.incoming() {
                held.push(c);
            }
        });
        port
    }

    /// Whether process `pid` is gone (or a zombie waiting to be reaped).
    fn gone(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }

    /// The children of process `pid`.
    fn children(pid: u32) -> Vec<u32> {
        let mut found = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
                continue;
            };
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(pid) && !gone(child) {
                found.push(child);
            }
        }
        found
    }

    fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !done() {
            assert!(Instant::now() < deadline, "{what}: not within {secs} s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `hetbench run` in the background (for signals), on the CPU.
    fn spawn_run(s: &Scratch, extra: &[&str]) -> std::process::Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("hetbench"))
            .env_remove("HETBENCH_REQUIRE_BACKENDS")
            .env_remove("HETBENCH_DB")
            .arg("--results-dir")
            .arg(s.path("results"))
            .arg("--kernels-dir")
            .arg(s.path("kernels"))
            .args(["run", "-b", "cpu", "--idle-seconds", "0"])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The id of the only run in `s`, once its file is written.
    fn only_run_id(s: &Scratch) -> String {
        let runs = s.path("results/runs");
        let mut id = String::new();
        wait_for("the run file", 60, || {
            let names = std::fs::read_dir(&runs)
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().to_string())
                        .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            if let [one] = names.as_slice() {
                id = one.trim_end_matches(".json").to_string();
            }
            !id.is_empty()
        });
        id
    }

    fn run_status(s: &Scratch, run_id: &str) -> String {
        let conn = rusqlite::Connection::open(s.db()).unwrap();
        conn.query_row("SELECT status FROM runs WHERE run_id = ?1", [run_id], |r| {
            r.get(0)
        })
        .unwrap()
    }

    #[test]
    fn a_foreign_url_is_refused_masked_and_never_becomes_a_file() {
        let s = Scratch::new();
        let work = s.path("work");
        std::fs::create_dir_all(&work).unwrap();
        let run = s.path("run.json");
        std::fs::write(&run, corpus_run().to_string()).unwrap();
        for url in [
            "postgress://bench:PW@host/db",
            "mysql://bench:PW@host/db",
            "sqlite://hetbench.db",
        ] {
            let shown = url.replace(":PW@", ":***@");
            let a = s
                .hb()
                .current_dir(&work)
                .args(["push", "--to", url])
                .arg(&run)
                .assert()
                .code(2);
            let err = stderr_of(&a);
            assert!(err.contains(&format!("'{shown}'")), "{err}");
            assert!(
                err.contains("cannot store results in") && !err.contains("PW"),
                "{err}"
            );
            s.hb()
                .current_dir(&work)
                .args(["--db", url, "results"])
                .assert()
                .code(2)
                .stderr(predicate::str::contains(shown.as_str()));
            s.hb()
                .current_dir(&work)
                .args(["--db", url, "import"])
                .arg(&run)
                .assert()
                .code(2);
        }
        assert!(listing(&work).is_empty(), "{:?}", listing(&work));

        // A libpq key=value string is PostgreSQL: it is connected to, not
        // created as a file, and its password is masked.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conninfo = format!("host=127.0.0.1 port={closed} dbname=hb user=u password=PW");
        let a = s
            .hb()
            .current_dir(&work)
            .args(["push", "--to", &conninfo])
            .arg(&run)
            .assert()
            .code(1);
        let err = stderr_of(&a);
        assert!(err.contains("password=***") && !err.contains("PW"), "{err}");
        assert!(listing(&work).is_empty(), "{:?}", listing(&work));
    }

    #[test]
    fn passwords_and_odd_bytes_in_arguments_are_stored_masked_without_a_panic() {
        use std::os::unix::ffi::OsStrExt;
        let s = Scratch::new();
        // Not UTF-8: clap takes it as a path; recording the command must
        // not panic (it did, exit 101).
        let odd = s
            .dir
            .path()
            .join(std::ffi::OsStr::from_bytes(b"results-\xff"));
        let mut c = Command::cargo_bin("hetbench").unwrap();
        c.env_remove("HETBENCH_DB")
            .env_remove("HETBENCH_REQUIRE_BACKENDS")
            .arg("--results-dir")
            .arg(&odd)
            .arg("--kernels-dir")
            .arg(s.path("kernels"))
            .args([
                "run",
                "--quick",
                "-b",
                "cpu",
                "-k",
                "stream_triad",
                "--idle-seconds",
                "0",
            ])
            .args(["--label", "mysql://bench:PW@db/x"])
            .assert()
            .success();
        let runs = odd.join("runs");
        let file = std::fs::read_dir(&runs)
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .unwrap()
            .path();
        let v: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let command = v["run"]["command"].as_str().unwrap();
        assert!(command.contains("mysql://bench:***@db/x"), "{command}");
        assert!(!command.contains("PW"), "{command}");
        assert!(command.contains("results-\u{fffd}"), "{command}");
    }

    #[test]
    fn a_database_that_accepts_and_never_answers_fails_within_the_bound() {
        let s = Scratch::new();
        let port = silent_server();
        let url = format!("postgres://bench:PW@127.0.0.1:{port}/hb");
        for args in [vec!["results"], vec!["score"]] {
            let start = Instant::now();
            let a = s
                .hb()
                .env("HETBENCH_PG_CONNECT_TIMEOUT", "2")
                .args(["--db", &url])
                .args(&args)
                .timeout(Duration::from_secs(30))
                .assert()
                .code(1);
            let took = start.elapsed();
            let err = stderr_of(&a);
            assert!(
                took < Duration::from_secs(8),
                "{args:?} took {took:?}: {err}"
            );
            assert!(err.contains("no answer within 2 s"), "{err}");
            assert!(
                err.contains("bench:***@127.0.0.1") && !err.contains("PW"),
                "{err}"
            );
        }
        s.hb()
            .env("HETBENCH_PG_CONNECT_TIMEOUT", "soon")
            .args(["--db", &url, "results"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("HETBENCH_PG_CONNECT_TIMEOUT"));
    }

    #[test]
    fn an_ipmi_command_that_keeps_its_output_open_is_bounded_and_killed() {
        let s = Scratch::new();
        let bin = s.path("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let pid_file = s.path("grandchild.pid");
        let script = bin.join("ipmitool");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho 'Instantaneous power reading: 250 Watts'\nsleep 60 &\necho $! > {}\n",
                pid_file.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        let start = Instant::now();
        let out = s
            .hb()
            .env("PATH", path)
            .env("HETBENCH_SYSFS_ROOT", s.path("no-sysfs"))
            .args(["info", "--json"])
            .timeout(Duration::from_secs(40))
            .assert()
            .success();
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{:?}",
            start.elapsed()
        );
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let ipmi = v["energy_meters_missing"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["meter"] == "ipmi")
            .unwrap_or_else(|| panic!("ipmi not missing: {v}"));
        assert!(
            ipmi["reason"]
                .as_str()
                .unwrap()
                .contains("did not answer within 5s"),
            "{ipmi}"
        );
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        wait_for("the grandchild's end", 2, || gone(pid));
    }

    #[test]
    fn inputs_far_too_large_are_refused_at_once_naming_the_file() {
        let s = Scratch::new();
        let start = Instant::now();
        s.hb()
            .args(["import", "/dev/zero"])
            .timeout(Duration::from_secs(30))
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "/dev/zero: larger than the 128 MiB",
            ));
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(!s.db().exists());
        s.hb()
            .args(["--config", "/dev/zero", "info"])
            .timeout(Duration::from_secs(30))
            .assert()
            .code(2)
            .stderr(predicate::str::contains("/dev/zero: larger than the 4 MiB"));
        let manifest = s.path("kernels/nbody/kernel.toml");
        std::fs::remove_file(&manifest).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &manifest).unwrap();
        s.hb()
            .arg("list")
            .timeout(Duration::from_secs(30))
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!(
                "{}: larger than",
                manifest.display()
            )));
    }

    #[test]
    fn read_commands_on_a_missing_database_say_so_and_create_nothing() {
        let s = Scratch::new();
        let db = s.path("typo/none.db");
        let out = s.path("out");
        let site = s.path("site.db");
        let commands: [Vec<&str>; 8] = [
            vec!["results"],
            vec!["results", "--json"],
            vec!["export", "--format", "csv", "--out", out.to_str().unwrap()],
            vec!["score"],
            vec!["compare", "--baseline", "node01"],
            vec!["plot", "--out", out.to_str().unwrap()],
            vec!["report", "--out", out.to_str().unwrap()],
            vec!["push", "--to", site.to_str().unwrap()],
        ];
        for args in commands {
            s.hb()
                .arg("--db")
                .arg(&db)
                .args(&args)
                .assert()
                .code(2)
                .stderr(predicate::str::contains(format!(
                    "no results database at '{}'",
                    db.display()
                )));
            for made in [
                s.path("typo"),
                out.clone(),
                s.path("site.db"),
                s.path("results"),
            ] {
                assert!(!made.exists(), "{args:?} created {}", made.display());
            }
        }
        s.hb()
            .args(["run", "--resume", "some-run"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("no results database at"));
        assert!(!s.path("results").exists());
    }

    #[test]
    fn imported_names_are_neutralised_in_csv_and_escaped_everywhere() {
        let s = Scratch::new();
        let mut file = corpus_run();
        let r = &mut file["results"][0];
        r["hostname"] = "=cmd|' /C calc'!A0".into();
        r["device_name"] = "\u{1b}]0;pwned\u{7}\u{1b}[2J EPYC\u{9b}".into();
        r["message"] = "=HYPERLINK(\"http://evil\",\"x\")".into();
        let path = s.path("hostile.json");
        std::fs::write(&path, file.to_string()).unwrap();
        s.hb().arg("import").arg(&path).assert().success();

        let stdout = |args: &[&str]| {
            let out = s.hb().args(args).assert().success();
            String::from_utf8(out.get_output().stdout.clone()).unwrap()
        };
        let raw = |text: &str| {
            text.chars()
                .any(|c| c == '\u{1b}' || c == '\u{9b}' || c == '\u{7}')
        };
        let csv = stdout(&["export", "--format", "csv"]);
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let row = csv.lines().nth(1).unwrap();
        assert!(row.contains(",'=cmd|' /C calc'!A0,"), "{row}");
        assert!(
            row.contains("\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\""),
            "{row}"
        );
        assert!(
            row.contains("\\u001b]0;pwned\\u0007\\u001b[2J EPYC\\u009b"),
            "{row}"
        );
        // Numbers are written as numbers, never prefixed.
        let col = header.iter().position(|h| *h == "median_s").unwrap();
        let median = file["results"][0]["timing"]["summary"]["median"].as_f64();
        let cell = row.split(',').nth(col).unwrap();
        assert_eq!(cell.parse::<f64>().ok(), median, "{row}");
        for args in [
            vec!["export", "--format", "csv"],
            vec!["export", "--format", "markdown"],
            vec!["export", "--format", "json"],
            vec!["results"],
            vec!["results", "--json"],
        ] {
            let text = stdout(&args);
            assert!(
                !raw(&text),
                "{args:?} wrote a raw control character: {text:?}"
            );
            assert!(text.contains("pwned"), "{args:?}: {text}");
        }
        let json = stdout(&["export", "--format", "json"]);
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            v[0]["device_name"], "\u{1b}]0;pwned\u{7}\u{1b}[2J EPYC\u{9b}",
            "JSON keeps the value, escaped"
        );
    }

    #[test]
    fn a_damaged_schema_version_or_missing_table_is_not_a_hetbench_database() {
        let s = Scratch::new();
        let run = s.path("run.json");
        std::fs::write(&run, corpus_run().to_string()).unwrap();
        s.hb().arg("import").arg(&run).assert().success();
        let fresh = std::fs::read(s.db()).unwrap();
        for damage in [
            "UPDATE schema_version SET version = 'three'",
            "DELETE FROM schema_version",
            "DROP TABLE results",
        ] {
            std::fs::write(s.db(), &fresh).unwrap();
            rusqlite::Connection::open(s.db())
                .unwrap()
                .execute_batch(damage)
                .unwrap();
            for args in [vec!["results"], vec!["import", run.to_str().unwrap()]] {
                s.hb()
                    .args(&args)
                    .assert()
                    .code(2)
                    .stderr(predicate::str::contains(
                        "is not a hetbench results database",
                    ));
            }
        }
    }

    #[test]
    fn a_storage_failure_mid_run_marks_it_interrupted_and_prints_a_resume_that_works() {
        let s = Scratch::new();
        let child = spawn_run(&s, &["-k", CORE, "--time-budget", "1.5"]);
        let run_id = only_run_id(&s);
        let file = s.path(&format!("results/runs/{run_id}.json"));
        wait_for("the first result", 60, || {
            std::fs::read(&file)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .is_some_and(|v| v["results"].as_array().is_some_and(|a| !a.is_empty()))
        });
        // The run file's place becomes a folder: the next write fails.
        std::fs::remove_file(&file).unwrap();
        std::fs::create_dir_all(file.join("blocker")).unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("run {run_id} stopped")),
            "{stderr}"
        );
        assert_eq!(run_status(&s, &run_id), "interrupted");
        // The measurement in flight is kept in the store that worked.
        assert_eq!(s.results_json(&["--run", &run_id]).len(), 2, "{stderr}");
        let printed = stderr
            .lines()
            .find_map(|l| l.split_once("finish it with: ").map(|(_, c)| c.to_string()))
            .unwrap_or_else(|| panic!("no resume command: {stderr}"));
        assert!(
            printed.contains(&format!("--results-dir {}", s.path("results").display())),
            "{printed}"
        );
        std::fs::remove_dir_all(&file).unwrap();
        // The command works as printed.
        let bin_dir = assert_cmd::cargo::cargo_bin("hetbench")
            .parent()
            .unwrap()
            .to_path_buf();
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&printed)
            .env(
                "PATH",
                format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
            )
            .env_remove("HETBENCH_REQUIRE_BACKENDS")
            .env_remove("HETBENCH_DB")
            .env_remove("HETBENCH_RESULTS_DIR")
            .current_dir(s.dir.path())
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        assert_eq!(run_status(&s, &run_id), "finished");
        assert_eq!(s.results_json(&["--run", &run_id]).len(), 3);
    }

    #[test]
    fn workers_die_with_the_run_and_a_second_resume_is_refused_naming_the_holder() {
        let s = Scratch::new();
        let hang = [
            "--quick",
            "-k",
            "nbody",
            "--inject-fault",
            "nbody=hang",
            "--timeout",
            "120",
        ];
        let mut run = spawn_run(&s, &hang);
        let run_id = only_run_id(&s);
        let mut worker = Vec::new();
        wait_for("the worker", 60, || {
            worker = children(run.id());
            !worker.is_empty()
        });
        // kill -9 of the run (the OOM killer, Slurm): its worker goes too.
        run.kill().unwrap();
        run.wait().unwrap();
        wait_for("the orphaned worker's end", 5, || gone(worker[0]));

        // One resume at a time: the second is refused and says who holds it.
        let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin("hetbench"))
            .env_remove("HETBENCH_REQUIRE_BACKENDS")
            .env_remove("HETBENCH_DB")
            .arg("--results-dir")
            .arg(s.path("results"))
            .args(["run", "--resume", &run_id])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_for("the resumed worker", 60, || {
            !children(first.id()).is_empty()
        });
        s.hb()
            .args(["run", "--resume", &run_id])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!(
                "run {run_id} is being measured by another hetbench (pid {} on",
                first.id()
            )));
        // SIGHUP (an ssh session dropping) interrupts as Ctrl-C does.
        let status = std::process::Command::new("kill")
            .args(["-HUP", &first.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let code = first.wait().unwrap().code();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut first.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(code, Some(130), "{stderr}");
        assert!(stderr.contains(&format!("--resume {run_id}")), "{stderr}");
        assert_eq!(run_status(&s, &run_id), "interrupted");
    }

    #[test]
    fn an_unknown_device_or_a_bad_card_is_bad_input_and_a_bad_card_hides_no_other() {
        let s = Scratch::new();
        // --device that no planned backend has: exit 2 with the devices there are.
        let a = s
            .hb()
            .args(["run", "--quick", "-k", "gemm", "-s", "tiny", "-b", "cpu"])
            .args(["--device", "nosuch"])
            .assert()
            .code(2);
        let err = stderr_of(&a);
        assert!(
            err.contains("no device 'nosuch'") && err.contains("cpu0 (cpu)"),
            "{err}"
        );
        assert!(!err.contains("HETBENCH_REQUIRE_BACKENDS"), "{err}");
        if s.db().exists() {
            s.assert_empty(&s.db());
        }
        // A card with a field out of place: the run is refused naming the
        // file and the field; `info` lists it beside the cards that load.
        let cards = s.path("cards");
        std::fs::create_dir_all(&cards).unwrap();
        std::fs::write(cards.join("broken.toml"), "id = \"x\"\n[clock]\nmhz = 0\n").unwrap();
        let a = s
            .hb()
            .env("HETBENCH_FPGA_CARDS", &cards)
            .args([
                "run", "--quick", "-k", "gemm", "-s", "tiny", "-b", "fpga-emu",
            ])
            .assert()
            .code(2);
        let err = stderr_of(&a);
        assert!(
            err.contains("broken.toml") && err.contains("unknown field `clock`"),
            "{err}"
        );
        assert!(!err.contains("HETBENCH_REQUIRE_BACKENDS"), "{err}");
        let out = s
            .hb()
            .env("HETBENCH_FPGA_CARDS", &cards)
            .arg("info")
            .assert()
            .success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        assert!(
            text.contains("fpga0") && text.contains("AMD Alveo U250"),
            "{text}"
        );
        assert!(
            text.contains("not loaded: ") && text.contains("broken.toml"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_ipmi_meter_is_probed_once_per_run_not_per_job() {
        let s = Scratch::new();
        let count = s.path("probes");
        let config = s.path("config.toml");
        std::fs::write(
            &config,
            format!(
                "[power]\nipmi_command = [\"sh\", \"-c\", \"echo probe >> '{}'; exit 1\"]\n",
                count.display()
            ),
        )
        .unwrap();
        s.hb()
            .arg("--config")
            .arg(&config)
            .args([
                "run",
                "--quick",
                "-k",
                "gemm,stream_triad",
                "-s",
                "tiny",
                "-b",
                "cpu",
            ])
            .args(["--idle-seconds", "0"])
            .assert()
            .success();
        // Two jobs in two workers; the parent's probe is the only one.
        let probes = std::fs::read_to_string(&count).unwrap();
        assert_eq!(probes.lines().count(), 1, "{probes}");
        assert_eq!(s.results_json(&[]).len(), 2);
    }
}
