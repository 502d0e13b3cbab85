//! Integration tests of the decision makers' commands (`score`, `compare`,
//! `plot`, `report`) on a database of known figures: the committed
//! reference run (a real run file) is copied into a reference node and two
//! platforms, with throughputs, times and energy set to values whose
//! scores, ratios and significance are computed by hand below.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use hetbench::kernel::Precision;
use serde_json::{Value, json};
use tempfile::TempDir;

const HOSTILE: &str = "<script>alert(1)</script>";

/// Per kernel: (throughput, mean time, stddev, n) of one platform.
type Figures = [(&'static str, f64, f64, f64, usize); 3];

struct Fixture {
    dir: TempDir,
}

fn real_run() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("results/reference/vm-epyc-zen5-2vcpu.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A copy of the real run as host `host`, medium size only, with the given
/// figures and one energy reading of `watts` by `method` (None: no energy).
fn platform(
    host: &str,
    hash: &str,
    suite: &str,
    figures: &Figures,
    energy: Option<(&str, &str, f64)>,
) -> Value {
    let mut run = real_run();
    let id = uuid::Uuid::new_v4().to_string();
    run["run"]["run_id"] = json!(id);
    run["run"]["suite_version"] = json!(suite);
    run["run"]["platform"]["hostname"] = json!(host);
    run["run"]["platform"]["hash"] = json!(hash);
    let results: Vec<Value> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        // Medium, each kernel's default precision (the reference also has f64).
        .filter(|r| {
            r["size"] == "medium"
                && r["precision"] != "f64"
                && figures.iter().any(|f| f.0 == r["kernel"])
        })
        .map(|r| {
            let mut r = r.clone();
            let (_, tput, mean, sd, n) = *figures
                .iter()
                .find(|f| f.0 == r["kernel"].as_str().unwrap())
                .unwrap();
            r["run_id"] = json!(id);
            r["hostname"] = json!(host);
            r["platform_hash"] = json!(hash);
            r["suite_version"] = json!(suite);
            r["throughput"] = json!(tput);
            // The figures are synthetic: the real run's warnings do not apply.
            r["warnings"] = json!([]);
            let s = &mut r["timing"]["summary"];
            s["mean"] = json!(mean);
            s["median"] = json!(mean);
            s["stddev"] = json!(sd);
            s["n"] = json!(n);
            s["ci95_low"] = json!(mean * 0.99);
            s["ci95_high"] = json!(mean * 1.01);
            // Figures an import accepts: 0 < min <= median, mean <= max.
            s["min"] = json!(mean * 0.9);
            s["max"] = json!(mean * 1.1);
            // The median's interval: median x (1 -/+ sd/mean), none below
            // 6 samples (as Summary::of).
            let rel = sd / mean;
            if n >= 6 {
                s["median_ci95"] = json!({"low": mean * (1.0 - rel), "high": mean * (1.0 + rel)});
            } else {
                s.as_object_mut().unwrap().remove("median_ci95");
            }
            r["energy"] = match energy {
                Some((method, scope, w)) => json!([{
                    "meter": "test", "scope": scope, "method": method, "covers": "test",
                    "interval_s": 0.001, "window_s": 1.0, "energy_j": w, "avg_w": w,
                    "idle_w": null, "active_w": null, "perf_per_w": tput / w,
                    "perf_per_active_w": null,
                    "perf_per_w_unit": "x/J", "flags": []
                }]),
                None => json!([]),
            };
            r
        })
        .collect();
    run["results"] = json!(results);
    run
}

// Reference: stream_triad 40 GB/s, gemm 200 GFLOP/s, nbody 8 G/s.
const REFERENCE: Figures = [
    ("stream_triad", 40.0, 1e-2, 1e-4, 10),
    ("gemm", 200.0, 1e-2, 1e-4, 10),
    ("nbody", 8.0, 1e-2, 1e-4, 10),
];
// alpha: ratios 2, 4, 0.5; measured 100 W.
const ALPHA: Figures = [
    ("stream_triad", 80.0, 1e-3, 1e-4, 20),
    ("gemm", 800.0, 1e-3, 1e-4, 20),
    ("nbody", 4.0, 1e-3, 1e-4, 10),
];
// hostile: ratios 1, 0.5, 2; estimated 50 W.
const HOSTILE_FIGURES: Figures = [
    ("stream_triad", 40.0, 2e-3, 1e-4, 1),
    ("gemm", 100.0, 2e-3, 2e-4, 20),
    ("nbody", 16.0, 1.05e-3, 1e-4, 10),
];

// A GPU: ratios 20, 40, 10 at a measured 300 W (gpu-board).
const GPU: Figures = [
    ("stream_triad", 800.0, 1e-4, 1e-5, 20),
    ("gemm", 8000.0, 1e-4, 1e-5, 20),
    ("nbody", 80.0, 1e-4, 1e-5, 20),
];
// lavapipe: ratios 5, 5, 5 at 20 W (the CPU's package): the best figure
// per watt if it were ranked.
const LAVAPIPE: Figures = [
    ("stream_triad", 200.0, 1e-3, 1e-4, 20),
    ("gemm", 1000.0, 1e-3, 1e-4, 20),
    ("nbody", 40.0, 1e-3, 1e-4, 20),
];
// beta: gemm 4.16 against alpha's 4 (both x/(1 -/+ 0.1)): not told apart;
// nbody 0.525 against alpha's 0.5.
const BETA: Figures = [
    ("stream_triad", 80.0, 1e-3, 1e-4, 20),
    ("gemm", 832.0, 1e-3, 1e-4, 20),
    ("nbody", 4.2, 1e-3, 1e-4, 20),
];

impl Fixture {
    /// A database holding alpha and the hostile host, and a reference file.
    fn new() -> Fixture {
        let f = Fixture {
            dir: TempDir::new().unwrap(),
        };
        f.write(
            "reference.json",
            &platform("refnode", "1111111111111111", "0.1", &REFERENCE, None),
        );
        let a = f.write(
            "alpha.json",
            &platform(
                "alpha",
                "aaaaaaaaaaaaaaaa",
                "0.1",
                &ALPHA,
                Some(("counter", "cpu-package", 100.0)),
            ),
        );
        let b = f.write(
            "hostile.json",
            &platform(
                HOSTILE,
                "bbbbbbbbbbbbbbbb",
                "0.1",
                &HOSTILE_FIGURES,
                Some(("estimated", "estimated", 50.0)),
            ),
        );
        f.hb().arg("import").arg(a).arg(b).assert().success();
        f
    }

    /// The fixture and a GPU node: its CPU, an H100-like GPU (gpu-board
    /// energy) and lavapipe (the same CPU behind wgpu, cpu-package energy),
    /// and beta, a CPU node that alpha cannot be told apart from in ml.
    fn with_gpu_host() -> Fixture {
        let f = Fixture::new();
        let host = |name: &str, figures: &Figures, energy, device: Option<[&str; 4]>| {
            let mut run = platform("gpuhost", "9999999999999999", "0.1", figures, energy);
            if let Some([backend, id, dname, dtype]) = device {
                for r in run["results"].as_array_mut().unwrap() {
                    r["backend"] = json!(backend);
                    r["device"] = json!(id);
                    r["device_name"] = json!(dname);
                    r["device_type"] = json!(dtype);
                }
            }
            f.write(name, &run)
        };
        let gpu = host(
            "gpu.json",
            &GPU,
            Some(("counter", "gpu-board", 300.0)),
            Some(["wgpu", "0", "NVIDIA H100", "discrete-gpu"]),
        );
        // The GPU's gemm warns of high variation: a contended node.
        let mut run: Value = serde_json::from_slice(&std::fs::read(&gpu).unwrap()).unwrap();
        for r in run["results"].as_array_mut().unwrap() {
            if r["kernel"] == "gemm" {
                r["warnings"] = json!([{"kind": "high_variation", "cv": 0.2}]);
            }
        }
        let gpu = f.write("gpu.json", &run);
        let lava = host(
            "lavapipe.json",
            &LAVAPIPE,
            Some(("counter", "cpu-package", 20.0)),
            Some(["wgpu", "1", "llvmpipe (LLVM 15.0.7, 256 bits)", "cpu"]),
        );
        let cpu = host("gpuhost-cpu.json", &ALPHA, None, None);
        let beta = f.write(
            "beta.json",
            &platform(
                "beta",
                "bbbbbbbb00000000",
                "0.1",
                &BETA,
                Some(("counter", "cpu-package", 100.0)),
            ),
        );
        f.hb()
            .arg("import")
            .args([gpu, lava, cpu, beta])
            .assert()
            .success();
        f
    }

    fn write(&self, name: &str, v: &Value) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
        p
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn hb(&self) -> Command {
        let mut c = Command::cargo_bin("hetbench").unwrap();
        c.env_remove("HETBENCH_DB")
            .env_remove("HETBENCH_RESULTS_DIR")
            .env_remove("HETBENCH_KERNELS_DIR")
            .env_remove("HETBENCH_REFERENCE")
            .arg("--db")
            .arg(self.path("db/hetbench.db"));
        c
    }

    /// `hetbench ARGS --json` with the fixture's reference where it applies
    /// (and `--allow-partial`: the fixture's platforms run 3 kernels of 12).
    fn json(&self, args: &[&str]) -> Value {
        let mut c = self.hb();
        c.args(args).arg("--json");
        if args[0] == "score" || args[0] == "summary" {
            c.arg("--reference").arg(self.path("reference.json"));
            c.arg("--allow-partial");
        }
        let out = c.assert().success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    }

    fn stdout(&self, args: &[&str]) -> String {
        let out = self.hb().args(args).assert().success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    }

    /// Runs and expects exit 2; returns stderr.
    fn bad(&self, args: &[&str]) -> String {
        let out = self.hb().args(args).assert().code(2);
        String::from_utf8(out.get_output().stderr.clone()).unwrap()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1e-12)
}

fn subject<'a>(score: &'a Value, host: &str) -> &'a Value {
    score["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["subject"]["hostname"] == host)
        .unwrap_or_else(|| panic!("no {host} in {score}"))
}

fn domain(s: &Value, d: &str) -> f64 {
    s["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["domain"] == d)
        .unwrap()["score"]
        .as_f64()
        .unwrap()
}

mod score {
    use super::*;

    #[test]
    fn geometric_means_of_ratios_per_domain_and_overall() {
        let f = Fixture::new();
        let s = f.json(&["score"]);
        assert_eq!(s["suite_version"], "0.1");
        assert!(s["reference"].as_str().unwrap().contains("refnode"));
        let a = subject(&s, "alpha");
        // One kernel per domain: the domain score is the kernel's ratio.
        assert!(close(domain(a, "simulation"), 4.0 / 8.0));
        assert!(close(domain(a, "ml"), 800.0 / 200.0));
        assert!(close(domain(a, "micro"), 80.0 / 40.0));
        // Micro not counted: sqrt(0.5 * 4).
        assert!(close(a["overall"].as_f64().unwrap(), 2f64.sqrt()));
        // Per watt at a measured 100 W: sqrt(0.005 * 0.04).
        assert!(close(
            a["overall_per_watt"].as_f64().unwrap(),
            0.0002f64.sqrt()
        ));
        assert_eq!(a["overall_per_watt_estimated"], false);
        let b = subject(&s, HOSTILE);
        assert!(close(b["overall"].as_f64().unwrap(), (2.0f64 * 0.5).sqrt()));
        // Estimated energy only: no score per watt by default.
        assert!(b["overall_per_watt"].is_null());

        // Intervals by hand. alpha's throughputs have median intervals of
        // x(1 -/+ 0.1), so each throughput's interval is t/1.1 .. t/0.9 and
        // the reference is a constant: gemm's ratio 4 spans 4/1.1 .. 4/0.9.
        let ci = |v: &Value| (v[0].as_f64().unwrap(), v[1].as_f64().unwrap());
        let gemm = a["kernels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kernel"] == "gemm")
            .unwrap();
        let (lo, hi) = ci(&gemm["ratio_ci95"]);
        assert!(close(lo, 4.0 / 1.1) && close(hi, 4.0 / 0.9), "{lo} {hi}");
        // overall = (0.5 * 4)^(1/2): each side sqrt(2 (0.5 ln f)^2) = ln f / sqrt 2.
        let (lo, hi) = ci(&a["overall_ci95"]);
        let r2 = 2f64.sqrt();
        assert!(close(lo, r2 * 1.1f64.powf(-1.0 / r2)), "{lo}");
        assert!(close(hi, r2 * (1.0 / 0.9f64).powf(1.0 / r2)), "{hi}");
        // Per watt at a measured (exact) 100 W: the same relative interval.
        let (lo, _) = ci(&a["overall_per_watt_ci95"]);
        assert!(close(lo, 0.0002f64.sqrt() * 1.1f64.powf(-1.0 / r2)));
        // The hostile host's stream_triad has 1 sample: no interval, and
        // micro does not count, so its overall still has one.
        assert!(b["overall_ci95"].is_array());
        assert_eq!(
            (a["covered"].as_u64(), a["of"].as_u64()),
            (Some(2), Some(10))
        );
        assert_eq!(s["weights"]["micro"], 0.0);
        assert_eq!(s["weights"]["ml"], 1.0);
    }

    #[test]
    fn a_partial_overall_is_refused_unless_asked() {
        let f = Fixture::new();
        let r = f.path("reference.json");
        let out = f
            .hb()
            .args(["score", "--json", "--reference", r.to_str().unwrap()])
            .assert()
            .success();
        let s: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let a = subject(&s, "alpha");
        assert!(a["overall"].is_null(), "{a}");
        let why = a["partial"].as_str().unwrap();
        assert!(why.contains("covers 2 of the suite's 10 kernels"), "{why}");
        assert!(
            why.contains("kalman_fit") && why.contains("--allow-partial"),
            "{why}"
        );
        let missing: Vec<&str> = a["missing"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        assert_eq!(missing.len(), 8, "{missing:?}");
        assert!(!missing.contains(&"gemm") && !missing.contains(&"stream_triad"));
        let text = f.stdout(&["score", "--reference", r.to_str().unwrap()]);
        assert!(text.contains("2/10") && text.contains("partial"), "{text}");
    }

    #[test]
    fn domain_weights_tilt_the_overall_and_bad_weights_are_refused() {
        let f = Fixture::new();
        // ml 3, simulation 1: (4^3 * 0.5)^(1/4) = 2^(5/4).
        let s = f.json(&["score", "--weights", "ml=3,simulation=1"]);
        let a = subject(&s, "alpha");
        assert!(close(a["overall"].as_f64().unwrap(), 2f64.powf(1.25)));
        assert_eq!(s["weights"]["ml"], 3.0);
        // A domain at 0 is left out, and coverage counts without it.
        let s = f.json(&["score", "--weights", "simulation=0,reconstruction=0"]);
        let a = subject(&s, "alpha");
        assert!(close(a["overall"].as_f64().unwrap(), 4.0));
        assert_eq!(a["of"], 3);
        let r = f.path("reference.json");
        for (bad, says) in [
            ("ml=-1", "ml=-1"),
            ("ml=abc", "'ml=abc' is not NAME=NUMBER"),
            ("physics=1", "unknown weight 'physics'"),
            ("gemm=0", "gemm=0: a weight must be a positive number"),
            (
                "simulation=0,reconstruction=0,ml=0",
                "every domain has weight 0",
            ),
        ] {
            let err = f.bad(&[
                "score",
                "--reference",
                r.to_str().unwrap(),
                "--weights",
                bad,
            ]);
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn micro_counts_when_asked() {
        let f = Fixture::new();
        let s = f.json(&["score", "--include-micro"]);
        let a = subject(&s, "alpha");
        // cbrt(0.5 * 4 * 2) = cbrt(4)
        assert!(close(a["overall"].as_f64().unwrap(), 4f64.cbrt()));
    }

    #[test]
    fn estimated_energy_is_allowed_only_when_asked_and_labelled() {
        let f = Fixture::new();
        let s = f.json(&["score", "--include-estimated"]);
        let b = subject(&s, HOSTILE);
        // Ratios 0.5 (gemm) and 2 (nbody) at 50 W: sqrt(0.01 * 0.04) = 0.02.
        assert!(close(b["overall_per_watt"].as_f64().unwrap(), 0.02));
        assert_eq!(b["overall_per_watt_estimated"], true);
        // The estimated 50 W spans x/÷1.5: with alpha-like timing intervals
        // the figure's interval is wider than the score's own.
        let (lo, hi) = (
            b["overall_per_watt_ci95"][0].as_f64().unwrap(),
            b["overall_per_watt_ci95"][1].as_f64().unwrap(),
        );
        assert!(lo < 0.02 / 1.3 && hi > 0.02 * 1.3, "{lo} {hi}");
        let text = f.stdout(&[
            "score",
            "--include-estimated",
            "--allow-partial",
            "--reference",
            f.path("reference.json").to_str().unwrap(),
        ]);
        assert!(
            text.contains("0.02000 [") && text.contains("] (ESTIMATED)"),
            "{text}"
        );
        let line = text.lines().find(|l| l.starts_with("alpha")).unwrap();
        assert!(
            line.contains("0.01414") && !line.contains("ESTIMATED"),
            "{line}"
        );
    }

    #[test]
    fn refuses_to_mix_suite_versions() {
        let f = Fixture::new();
        let c = f.write(
            "gamma.json",
            &platform("gamma", "cccccccccccccccc", "0.2", &ALPHA, None),
        );
        f.hb().arg("import").arg(c).assert().success();
        let r = f.path("reference.json");
        let err = f.bad(&["score", "--reference", r.to_str().unwrap()]);
        assert!(err.contains("suite") && err.contains("0.2"), "{err}");
        // Selecting one suite scores it; a suite other than the reference's is refused.
        let s = f.json(&["score", "--suite", "0.1"]);
        assert_eq!(s["subjects"].as_array().unwrap().len(), 2);
        let err = f.bad(&[
            "score",
            "--suite",
            "0.2",
            "--reference",
            r.to_str().unwrap(),
        ]);
        assert!(err.contains("never mixes suite versions"), "{err}");
        // Plots and reports refuse as well.
        let out = f.path("plots");
        f.bad(&["plot", "--out", out.to_str().unwrap()]);
    }

    #[test]
    fn the_builtin_reference_is_named() {
        // Results of the built-in reference's suite (the fixture's are 0.1).
        let f = Fixture::new();
        let suite = real_run()["run"]["suite_version"]
            .as_str()
            .unwrap()
            .to_string();
        let g = f.write(
            "gamma.json",
            &platform("gamma", "cccccccccccccccc", &suite, &ALPHA, None),
        );
        f.hb().arg("import").arg(g).assert().success();
        let out = f
            .hb()
            .args(["score", "--json", "--suite", &suite])
            .assert()
            .success();
        let s: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert!(
            s["reference"]
                .as_str()
                .unwrap()
                .starts_with("built-in vm-epyc-zen5-2vcpu.json"),
            "{}",
            s["reference"]
        );
    }

    #[test]
    fn an_empty_or_missing_database_is_bad_input() {
        let f = Fixture::new();
        let err = Command::cargo_bin("hetbench")
            .unwrap()
            .env_remove("HETBENCH_DB")
            .arg("--db")
            .arg(f.path("none.db"))
            .arg("score")
            .assert()
            .code(2);
        let err = String::from_utf8_lossy(&err.get_output().stderr).to_string();
        assert!(err.contains("no results database"), "{err}");
        assert!(!f.path("none.db").exists());
        // Filtered down to nothing.
        let err = f.bad(&["score", "--kernel", "gemm", "--host", "nobody"]);
        assert!(err.contains("no verified (ok) results"), "{err}");
    }
}

mod compare {
    use super::*;

    fn row<'a>(c: &'a Value, kernel: &str) -> &'a Value {
        c["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kernel"] == kernel)
            .unwrap()
    }

    #[test]
    fn ratios_intervals_and_significance_by_hand() {
        let f = Fixture::new();
        let c = f.json(&["compare", "--baseline", "alpha"]);
        assert_eq!(c["baseline"]["hostname"], "alpha");
        assert_eq!(c["rows"].as_array().unwrap().len(), 3);

        // gemm: the hostile host's 100 against alpha's 800, each with a
        // median interval of x(1 -/+ 0.1), so throughput intervals t/1.1 ..
        // t/0.9. Ratio 0.125; below: hostile's lower side ln 1.1 with
        // alpha's upper side ln(1/0.9); above: the other two.
        let g = row(&c, "gemm");
        let l = |x: f64| x.ln();
        assert!(close(g["ratio"].as_f64().unwrap(), 0.125));
        let side = (l(1.1).powi(2) + l(1.0 / 0.9).powi(2)).sqrt();
        assert!(close(
            g["ci95_low"].as_f64().unwrap(),
            0.125 * (-side).exp()
        ));
        assert!(close(g["ci95_high"].as_f64().unwrap(), 0.125 * side.exp()));
        assert_eq!(g["significant"], true);
        assert_eq!(g["verdict"], "slower");

        // nbody: 16 against 4, intervals x(1 -/+ 0.0952) and x(1 -/+ 0.1).
        let n = row(&c, "nbody");
        assert!(close(n["ratio"].as_f64().unwrap(), 4.0));
        assert_eq!(n["verdict"], "faster");

        // stream_triad: one sample on the other side: no interval, no test.
        let s = row(&c, "stream_triad");
        assert!(close(s["ratio"].as_f64().unwrap(), 0.5));
        assert!(s["significant"].is_null() && s["ci95_low"].is_null());
        assert!(s["verdict"].as_str().unwrap().starts_with("untested"));
    }

    #[test]
    fn overlapping_intervals_claim_no_difference() {
        let f = Fixture::new();
        // gemm at 104 against alpha's 100 (both x(1 -/+ 0.1)): a tie.
        let near: Figures = [
            ("stream_triad", 80.0, 1e-3, 1e-4, 20),
            ("gemm", 832.0, 1e-3, 1e-4, 20),
            ("nbody", 4.0, 1e-3, 1e-5, 20),
        ];
        let p = f.write(
            "near.json",
            &platform("near", "dddddddddddddddd", "0.1", &near, None),
        );
        f.hb().arg("import").arg(p).assert().success();
        let c = f.json(&["compare", "--baseline", "alpha"]);
        let g = c["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kernel"] == "gemm" && r["subject"]["hostname"] == "near")
            .unwrap();
        assert!(close(g["ratio"].as_f64().unwrap(), 1.04));
        assert_eq!(g["significant"], false);
        assert_eq!(g["verdict"], "no significant difference");
        // nbody: alpha 4 (x(1 -/+ 0.1)) against near's 4 (x(1 -/+ 0.01)): a tie.
        let n = c["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kernel"] == "nbody" && r["subject"]["hostname"] == "near")
            .unwrap();
        assert_eq!(n["verdict"], "no significant difference");
    }

    #[test]
    fn baseline_by_device_spec_and_platform_hash() {
        let f = Fixture::new();
        let spec = format!("{HOSTILE}/cpu:cpu0");
        let c = f.json(&["compare", "--baseline", &spec]);
        assert_eq!(c["baseline"]["hostname"], HOSTILE);
        // alpha against the hostile host: gemm's throughput 800 against 100.
        let g = row(&c, "gemm");
        assert!(close(g["ratio"].as_f64().unwrap(), 8.0));
        assert_eq!(g["verdict"], "faster");
        let c = f.json(&["compare", "--baseline", "aaaaaaaa"]);
        assert_eq!(c["baseline"]["hostname"], "alpha");
    }

    #[test]
    fn platforms_sharing_a_host_name_are_told_apart_and_labels_name_them() {
        let f = Fixture::new();
        // A second node called alpha (another platform hash), and one with
        // a label.
        let twin = platform("alpha", "abcdef0123456789", "0.1", &ALPHA, None);
        let mut labelled = platform("gamma", "cccccccccccccccc", "0.1", &ALPHA, None);
        for r in labelled["results"].as_array_mut().unwrap() {
            r["platform_label"] = json!("epyc-new");
        }
        let a = f.write("twin.json", &twin);
        let b = f.write("labelled.json", &labelled);
        f.hb().arg("import").arg(a).arg(b).assert().success();
        let err = f.bad(&["compare", "--baseline", "alpha/cpu:cpu0"]);
        assert!(err.contains("names 2 devices"), "{err}");
        // The short hash names each; the table shows it beside the name.
        assert!(
            err.contains("aaaaaaaa/cpu:cpu0") && err.contains("abcdef01/cpu:cpu0"),
            "{err}"
        );
        let c = f.json(&["compare", "--baseline", "abcdef01/cpu:cpu0"]);
        assert_eq!(c["baseline"]["platform_hash"], "abcdef0123456789");
        let labels: Vec<&str> = c["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["label"].as_str().unwrap())
            .collect();
        assert!(
            labels.iter().any(|l| l.starts_with("alpha [aaaaaaaa]: ")),
            "{labels:?}"
        );
        assert!(
            labels.iter().any(|l| l.starts_with("epyc-new: ")),
            "{labels:?}"
        );
        let c = f.json(&["compare", "--baseline", "epyc-new"]);
        assert_eq!(c["baseline"]["hostname"], "gamma");
        let c = f.json(&["compare", "--baseline", "epyc-new/cpu:cpu0"]);
        assert_eq!(c["baseline"]["hostname"], "gamma");
    }

    #[test]
    fn unknown_and_ambiguous_baselines_are_bad_input() {
        let f = Fixture::new();
        let err = f.bad(&["compare", "--baseline", "nosuchnode"]);
        assert!(err.contains("unknown baseline 'nosuchnode'"), "{err}");
        assert!(err.contains("alpha/cpu:cpu0"), "{err}");
        // `cpu0` is a device of both hosts.
        let err = f.bad(&["compare", "--baseline", "cpu0"]);
        assert!(err.contains("names 2 devices"), "{err}");
    }
}

mod plot {
    use super::*;
    use hetbench::report::data::Dataset;
    use hetbench::report::plot::{pareto, roofline};
    use hetbench::store::{Database, ResultFilter};

    #[test]
    fn writes_four_svgs_with_estimates_marked() {
        let f = Fixture::new();
        let out = f.path("plots");
        let r = f.path("reference.json");
        let listing = f.stdout(&[
            "plot",
            "--out",
            out.to_str().unwrap(),
            "--reference",
            r.to_str().unwrap(),
            "--include-estimated",
            "--allow-partial",
        ]);
        for name in ["perf-per-watt", "power-throughput", "roofline", "score"] {
            assert!(listing.contains(&format!("{name}.svg")), "{listing}");
            let svg = std::fs::read_to_string(out.join(format!("{name}.svg"))).unwrap();
            assert!(svg.starts_with("<svg"), "{name}");
            // Host names are escaped inside the SVG too.
            assert!(!svg.contains(HOSTILE), "{name}");
        }
        let ppw = std::fs::read_to_string(out.join("perf-per-watt.svg")).unwrap();
        assert!(ppw.contains("ESTIMATED or MODELED"));
        // The hostile host's gemm bar: 100 GFLOP/s / 50 W, marked.
        assert!(ppw.contains("2.000 EST."), "estimated bar not labelled");
        // alpha's measured bar: 800 / 100, not marked.
        assert!(ppw.lines().any(|l| l.trim() == "8.000"));
        let score = std::fs::read_to_string(out.join("score.svg")).unwrap();
        assert!(score.contains("0.02000 EST."));
        let roof = std::fs::read_to_string(out.join("roofline.svg")).unwrap();
        assert!(roof.contains("not vendor peaks"));
        assert!(roof.contains("(stream_triad beyond 4x cache, measured)"));

        // Measured figures only: no estimate mark anywhere.
        let out2 = f.path("plots-alpha");
        f.stdout(&[
            "plot",
            "--out",
            out2.to_str().unwrap(),
            "--host",
            "alpha",
            "--reference",
            r.to_str().unwrap(),
        ]);
        let ppw = std::fs::read_to_string(out2.join("perf-per-watt.svg")).unwrap();
        assert!(!ppw.contains("ESTIMATED") && !ppw.contains("EST."));
    }

    /// `hetbench plot --allow-partial` against the fixture's reference; the
    /// SVG `name`.
    fn plotted(f: &Fixture, name: &str) -> String {
        let out = f.path("plots");
        let r = f.path("reference.json");
        let (out_s, r_s) = (out.to_str().unwrap(), r.to_str().unwrap());
        f.stdout(&[
            "plot",
            "--out",
            out_s,
            "--reference",
            r_s,
            "--allow-partial",
        ]);
        std::fs::read_to_string(out.join(name)).unwrap()
    }

    #[test]
    fn scores_that_span_decades_get_a_log_axis_and_every_bar_its_value() {
        let draw = |f: &Fixture| plotted(f, "score.svg");
        // Scores 0.5 .. 4: linear.
        let svg = draw(&Fixture::new());
        assert!(!svg.contains("log axis"));
        // With the GPU node, 0.5 .. 40 (a factor of 80): log.
        let svg = draw(&Fixture::with_gpu_host());
        assert!(svg.contains("log axis"), "no log axis");
        // Every bar labelled: the GPU's 10 (simulation), 40 (ml), 20 (micro,
        // and overall), alpha's 0.5, 4 and 2, beta's 0.525 and 4.16.
        let labels: Vec<&str> = svg
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('<'))
            .collect();
        for v in [
            "10.000", "40.00", "20.00", "0.5000", "4.000", "2.000", "0.5250", "4.160",
        ] {
            assert!(labels.contains(&v), "no bar labelled {v}");
        }
    }

    #[test]
    fn the_summary_figure_draws_one_front_per_energy_scope_without_lavapipe() {
        let svg = plotted(&Fixture::with_gpu_host(), "summary.svg");
        // beta (score 1.478, 0.01478 per W) dominates alpha (1.414,
        // 0.01414) at cpu-package; the GPU is alone at gpu-board.
        assert!(
            svg.contains("beta: AMD EPYC (cpu:cpu0) (cpu-package, on the front)"),
            "{svg}"
        );
        assert!(
            svg.lines().any(|l| l
                .trim()
                .ends_with("] alpha: AMD EPYC (cpu:cpu0) (cpu-package)")),
            "alpha is not drawn off the front"
        );
        assert!(
            svg.contains("NVIDIA H100 (wgpu:0) (gpu-board, on the front)"),
            "{svg}"
        );
        assert!(
            !svg.contains("llvmpipe"),
            "lavapipe drawn as separate hardware"
        );
        // Estimated energy only with the flag, marked.
        assert!(!svg.contains("EST."));
    }

    fn dataset(f: &Fixture) -> Dataset {
        let db = Database::open(&f.path("db/hetbench.db").display().to_string()).unwrap();
        Dataset::new(&db.results(&ResultFilter::default()).unwrap().records)
    }

    #[test]
    fn pareto_front_ranks_measured_points_only_by_default() {
        let f = Fixture::new();
        let data = dataset(&f);
        let key = ("gemm".to_string(), "medium".to_string(), Precision::F32);
        // alpha: 800 at 100 W (measured); hostile: 100 at 50 W (estimated).
        let pts = pareto::points(&data, &key, false);
        let on: Vec<(f64, bool, bool)> = pts
            .iter()
            .map(|p| (p.watts, p.estimated, p.on_front))
            .collect();
        assert!(on.contains(&(100.0, false, true)));
        assert!(on.contains(&(50.0, true, false)));
        // With estimates allowed, the cheaper one joins the front.
        let pts = pareto::points(&data, &key, true);
        assert!(pts.iter().all(|p| p.on_front));
    }

    #[test]
    fn roofline_ceilings_come_from_measurements() {
        let f = Fixture::new();
        let data = dataset(&f);
        let alpha = data
            .subjects
            .keys()
            .find(|s| s.hostname == "alpha")
            .unwrap()
            .clone();
        let roof = roofline::roofline(&data, &alpha, Precision::F32).unwrap();
        let work = |k: &str| {
            let run = real_run();
            let r = run["results"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["kernel"] == k && r["size"] == "medium")
                .unwrap()
                .clone();
            (
                r["work"]["flops"].as_f64().unwrap(),
                r["work"]["bytes"].as_f64().unwrap(),
            )
        };
        // All alpha medians are 1 ms.
        let (_, triad_bytes) = work("stream_triad");
        assert!(close(roof.bandwidth_gbs.unwrap(), triad_bytes / 1e-3 / 1e9));
        // The compute ceiling is the best FLOP/s of any kernel: with equal
        // times, the kernel with the most FLOP.
        let (gemm_flops, gemm_bytes) = work("gemm");
        let (nbody_flops, _) = work("nbody");
        let (best, from) = if nbody_flops > gemm_flops {
            (nbody_flops, "nbody medium")
        } else {
            (gemm_flops, "gemm medium")
        };
        assert!(close(roof.peak_gflops, best / 1e-3 / 1e9));
        assert_eq!(roof.peak_from, from);
        let p = roof
            .points
            .iter()
            .find(|p| p.label == "gemm medium")
            .unwrap();
        assert!(close(p.intensity, gemm_flops / gemm_bytes));
    }

    #[test]
    fn f64_results_stand_under_their_own_compute_ceiling() {
        let f = Fixture::new();
        let mut data = dataset(&f);
        let alpha = data
            .subjects
            .keys()
            .find(|s| s.hostname == "alpha")
            .unwrap()
            .clone();
        // An f64 gemm at half the f32 one's FLOP/s (twice the time).
        let results = data.subjects.get_mut(&alpha).unwrap();
        let key = ("gemm".to_string(), "medium".to_string(), Precision::F32);
        let mut g64 = results[&key].clone();
        g64.precision = Precision::F64;
        let t = g64.timing.as_mut().unwrap();
        t.summary.median *= 2.0;
        let f32_gflops = {
            let w = results[&key].work.as_ref().unwrap();
            w.flops / results[&key].timing.as_ref().unwrap().summary.median / 1e9
        };
        results.insert(("gemm".into(), "medium".into(), Precision::F64), g64);
        let roofs = roofline::rooflines(&data);
        let mine: Vec<_> = roofs.iter().filter(|(s, _, _)| **s == alpha).collect();
        assert_eq!(
            mine.iter().map(|(_, p, _)| p.as_str()).collect::<Vec<_>>(),
            ["f32", "f64"]
        );
        let f64_roof = &mine[1].2;
        assert_eq!(f64_roof.points.len(), 1);
        assert!(close(f64_roof.peak_gflops, f32_gflops / 2.0));
        assert_eq!(f64_roof.peak_from, "gemm medium");
        // The f32 roof does not see the f64 result.
        assert!(
            mine[0]
                .2
                .points
                .iter()
                .all(|p| !close(p.gflops, f32_gflops / 2.0))
        );
        let rows = roofline::fractions(&data);
        let row = rows
            .iter()
            .find(|r| r[0].starts_with("alpha") && r[1] == "gemm" && r[3] == "f64")
            .unwrap();
        assert_eq!(row[8], "1.00", "{row:?}");
    }
}

mod report {
    use super::*;

    #[test]
    fn one_self_contained_escaped_html_file() {
        let f = Fixture::new();
        let out = f.path("report");
        let r = f.path("reference.json");
        let printed = f.stdout(&[
            "report",
            "--out",
            out.to_str().unwrap(),
            "--baseline",
            "alpha",
            "--reference",
            r.to_str().unwrap(),
            "--include-estimated",
            "--allow-partial",
        ]);
        let path = out.join("report.html");
        assert_eq!(printed.trim(), path.display().to_string());
        let html = std::fs::read_to_string(&path).unwrap();
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
        // Escaped everywhere; no script, no network.
        assert!(!html.contains(HOSTILE));
        assert!(!html.contains("<script"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        // The only URLs are the SVG namespace names.
        assert_eq!(
            html.matches("http").count(),
            html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        );
        assert!(html.contains("<style>"));
        // Five inline figures, the summary figure first, each with its provenance.
        assert_eq!(html.matches("<svg").count(), 5);
        assert_eq!(html.matches("<figcaption>Provenance:").count(), 5);
        assert!(html.find("<figure id=\"summary\">") < html.find("<figure id=\"perf-per-watt\">"));
        // Score, comparison, marked estimates, fingerprints.
        assert!(html.contains("<td>1.414 ["), "alpha's overall score");
        assert!(html.contains("<td class=\"est\">0.02000 (ESTIMATED)</td>"));
        assert!(html.contains("<td>slower</td>"));
        assert!(html.contains("platform aaaaaaaaaaaaaaaa"));
        assert!(html.contains("platform bbbbbbbbbbbbbbbb"));
        assert!(html.contains("AMD EPYC"));
        assert!(html.contains("refnode"), "the reference is named");
    }

    #[test]
    fn opens_with_the_summary_on_a_page_of_its_own() {
        let f = Fixture::with_gpu_host();
        let out = f.path("report");
        let r = f.path("reference.json");
        f.stdout(&[
            "report",
            "--out",
            out.to_str().unwrap(),
            "--reference",
            r.to_str().unwrap(),
            "--allow-partial",
        ]);
        let html = std::fs::read_to_string(out.join("report.html")).unwrap();
        let at = |what: &str| html.find(what).unwrap_or_else(|| panic!("no {what}"));
        // The summary comes first, then a page break, then the rest.
        assert!(at("<section id=\"summary\">") < at("<h2>Score</h2>"));
        assert!(html.contains("@page{size:A4"));
        assert!(html.contains("#summary{break-after:page}"));
        assert!(html.contains("table-layout:fixed"));
        // The same rows as `hetbench summary`: every cell, escaped.
        let s = f.json(&["summary"]);
        let end = at("</section>");
        let first = &html[..end];
        for sec in s["sections"].as_array().unwrap() {
            for r in std::iter::once(&sec["fastest"]).chain(sec["per_joule"].as_array().unwrap()) {
                if r.is_null() {
                    continue;
                }
                let claim = r["claim"].as_str().unwrap().replace('\'', "&#39;");
                assert!(first.contains(&claim), "{claim}");
            }
        }
        assert!(first.contains("gpuhost: NVIDIA H100 (wgpu:0) beats gpuhost: llvmpipe"));
        assert!(first.contains("not ranked per watt: gpuhost: llvmpipe"));
    }

    #[test]
    fn an_unknown_baseline_writes_nothing() {
        let f = Fixture::new();
        let out = f.path("report");
        let err = f.bad(&[
            "report",
            "--out",
            out.to_str().unwrap(),
            "--baseline",
            "nope",
        ]);
        assert!(err.contains("unknown baseline"), "{err}");
        assert!(!out.join("report.html").exists());
    }
}

/// Modeled results (the FPGA emulation) stay out of every ranking unless
/// `--include-modeled`: a third platform whose figures are modeled.
mod modeled {
    use super::*;
    use hetbench::report::data::{Dataset, rankable};
    use hetbench::report::plot::pareto;
    use hetbench::store::{Database, ResultFilter};

    // fpgahost: ratios 4, 4, 4 at a modeled 40 W; mean times 0.5 ms.
    const FPGA: Figures = [
        ("stream_triad", 160.0, 5e-4, 1e-5, 10),
        ("gemm", 800.0, 5e-4, 1e-5, 10),
        ("nbody", 32.0, 5e-4, 1e-5, 10),
    ];

    fn with_modeled() -> Fixture {
        let f = Fixture::new();
        let mut run = platform(
            "fpgahost",
            "ffffffffffffffff",
            "0.1",
            &FPGA,
            Some(("modeled", "modeled", 40.0)),
        );
        for r in run["results"].as_array_mut().unwrap() {
            r["backend"] = json!("fpga-emu");
            r["device"] = json!("fpga0");
            r["device_name"] = json!("AMD Alveo U250 (emulated)");
            r["device_type"] = json!("fpga-emulated");
            r["model"] = json!({ "model_version": "3" });
        }
        let p = f.write("fpga.json", &run);
        f.hb().arg("import").arg(p).assert().success();
        f
    }

    fn hosts(s: &Value) -> Vec<String> {
        s["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["subject"]["hostname"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn score_leaves_modeled_results_out_unless_asked() {
        let f = with_modeled();
        let s = f.json(&["score"]);
        assert!(!hosts(&s).contains(&"fpgahost".to_string()), "{s}");
        assert_eq!(s["modeled_left_out"], 3);
        // --include-estimated is not --include-modeled.
        let s = f.json(&["score", "--include-estimated"]);
        assert!(!hosts(&s).contains(&"fpgahost".to_string()));
        let s = f.json(&["score", "--include-modeled"]);
        let m = subject(&s, "fpgahost");
        assert_eq!(m["subject"]["modeled"], true);
        assert!(m["label"].as_str().unwrap().ends_with("[MODELED]"));
        // gemm (ml) and nbody (simulation) at ratio 4 each: overall 4; per
        // watt at a modeled 40 W: 0.1, labelled.
        assert!(close(m["overall"].as_f64().unwrap(), 4.0));
        assert!(close(m["overall_per_watt"].as_f64().unwrap(), 0.1));
        assert_eq!(m["overall_per_watt_estimated"], true);
        // The measured devices score as before.
        assert!(close(
            subject(&s, "alpha")["overall"].as_f64().unwrap(),
            2f64.sqrt()
        ));
        let text = f.stdout(&[
            "score",
            "--include-modeled",
            "--allow-partial",
            "--reference",
            f.path("reference.json").to_str().unwrap(),
        ]);
        assert!(
            text.contains("modeled results (FPGA emulation) included"),
            "{text}"
        );
        let line = text.lines().find(|l| l.starts_with("fpgahost")).unwrap();
        assert!(
            line.contains("[MODELED]") && line.contains("0.1000 (ESTIMATED)"),
            "{line}"
        );
        let text = f.stdout(&[
            "score",
            "--reference",
            f.path("reference.json").to_str().unwrap(),
        ]);
        assert!(
            text.contains("3 modeled result(s) (FPGA emulation) left out"),
            "{text}"
        );
        assert!(!text.contains("fpgahost"));
    }

    #[test]
    fn compare_leaves_modeled_devices_out_unless_asked() {
        let f = with_modeled();
        let c = f.json(&["compare", "--baseline", "alpha"]);
        let rows = c["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r["subject"]["hostname"] != "fpgahost"));
        let c = f.json(&["compare", "--baseline", "alpha", "--include-modeled"]);
        let g = c["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kernel"] == "gemm" && r["subject"]["hostname"] == "fpgahost")
            .unwrap();
        // 800 against a modeled 800: ratio 1, and a modeled figure has no
        // interval to test.
        assert!(close(g["ratio"].as_f64().unwrap(), 1.0));
        assert!(g["verdict"].as_str().unwrap().starts_with("untested"));
        assert!(g["label"].as_str().unwrap().ends_with("[MODELED]"));
        let err = f.bad(&["compare", "--baseline", "fpgahost"]);
        assert!(
            err.contains("modeled device") && err.contains("--include-modeled"),
            "{err}"
        );
        let c = f.json(&["compare", "--baseline", "fpgahost", "--include-modeled"]);
        assert_eq!(c["baseline"]["modeled"], true);
    }

    #[test]
    fn summary_ranks_modeled_devices_only_when_asked() {
        let f = with_modeled();
        // Not ranked, nor named, unless asked; then in its own scope, flagged.
        let s = f.json(&["summary"]);
        assert!(!s.to_string().contains("fpgahost"));
        let s = f.json(&["summary", "--include-modeled"]);
        let ml = s["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "ml")
            .unwrap();
        let modeled = ml["per_joule"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["energy_scope"] == "modeled")
            .unwrap();
        assert_eq!(modeled["leader"]["subject"]["hostname"], "fpgahost");
        assert_eq!(modeled["energy_method"], "modeled");
        let flags = modeled["leader"]["flags"].to_string();
        assert!(
            flags.contains("MODELED") && flags.contains("ESTIMATED energy"),
            "{flags}"
        );
    }

    #[test]
    fn plots_and_the_pareto_front_take_modeled_points_only_when_asked() {
        let f = with_modeled();
        let db = Database::open(&f.path("db/hetbench.db").display().to_string()).unwrap();
        let all = db.results(&ResultFilter::default()).unwrap().records;
        let (measured, left_out) = rankable(&all, false);
        assert_eq!(left_out, 3);
        assert!(measured.iter().all(|r| !r.is_modeled()));
        let key = ("gemm".to_string(), "medium".to_string(), Precision::F32);
        let data = Dataset::new(&rankable(&all, true).0);
        // fpgahost: 800 at a modeled 40 W beats alpha's 800 at 100 W, but
        // joins the front only with modeled points allowed.
        let front = |est: bool, modeled: bool| -> Vec<f64> {
            pareto::points_with(&data, &key, est, modeled)
                .iter()
                .filter(|p| p.on_front)
                .map(|p| p.watts)
                .collect()
        };
        assert_eq!(front(false, false), vec![100.0]);
        let with_estimates = front(true, false);
        assert!(with_estimates.contains(&50.0) && !with_estimates.contains(&40.0));
        let with_modeled = front(false, true);
        assert!(with_modeled.contains(&40.0) && !with_modeled.contains(&50.0));
        // The plot command draws no modeled device unless asked.
        let out = f.path("plots");
        let r = f.path("reference.json");
        f.stdout(&[
            "plot",
            "--out",
            out.to_str().unwrap(),
            "--reference",
            r.to_str().unwrap(),
        ]);
        let ppw = std::fs::read_to_string(out.join("perf-per-watt.svg")).unwrap();
        assert!(!ppw.contains("fpgahost"));
        f.stdout(&[
            "plot",
            "--out",
            out.to_str().unwrap(),
            "--reference",
            r.to_str().unwrap(),
            "--include-modeled",
        ]);
        let ppw = std::fs::read_to_string(out.join("perf-per-watt.svg")).unwrap();
        assert!(ppw.contains("fpgahost") && ppw.contains("[MODELED]"));
    }
}

/// `hetbench summary`: the leaders per domain and overall, from the score's
/// own figures, with claims only where the interval excludes a tie.
mod summary {
    use super::*;

    fn section<'a>(s: &'a Value, name: &str) -> &'a Value {
        s["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .unwrap_or_else(|| panic!("no section {name} in {s}"))
    }

    fn per_joule<'a>(sec: &'a Value, scope: &str) -> Option<&'a Value> {
        sec["per_joule"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["energy_scope"] == scope)
    }

    fn leader(r: &Value) -> (&str, &str) {
        (
            r["leader"]["subject"]["hostname"].as_str().unwrap(),
            r["leader"]["subject"]["device"].as_str().unwrap(),
        )
    }

    /// The score JSON's subject for host and device.
    fn scored<'a>(score: &'a Value, host: &str, device: &str) -> &'a Value {
        score["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["subject"]["hostname"] == host && s["subject"]["device"] == device)
            .unwrap()
    }

    /// Readings of several meters over one window: (meter, scope, watts).
    fn readings(run: &mut Value, meters: &[(&str, &str, f64)]) {
        for r in run["results"].as_array_mut().unwrap() {
            let tput = r["throughput"].as_f64().unwrap();
            r["energy"] = meters
                .iter()
                .map(|(meter, scope, w)| {
                    json!({
                        "meter": meter, "scope": scope, "method": "counter", "covers": "test",
                        "interval_s": 0.001, "window_s": 1.0, "energy_j": w, "avg_w": w,
                        "idle_w": null, "active_w": null, "perf_per_w": tput / w,
                        "perf_per_active_w": null, "perf_per_w_unit": "x/J", "flags": []
                    })
                })
                .collect();
        }
    }

    #[test]
    fn node_level_ranks_a_gpu_with_its_host_against_cpu_nodes() {
        let f = Fixture::new();
        // A GPU (ratios gemm 40, nbody 10) whose node draws 300 W on the
        // board, 80 W in the package and 20 W in DRAM: 400 W.
        let mut gpu = platform("gpunode", "9999999999999999", "0.1", &GPU, None);
        readings(
            &mut gpu,
            &[
                ("nvml:0", "gpu-board", 300.0),
                ("rapl:package-0", "cpu-package", 80.0),
                ("rapl:dram", "dram", 20.0),
            ],
        );
        for r in gpu["results"].as_array_mut().unwrap() {
            r["backend"] = json!("wgpu");
            r["device"] = json!("0");
            r["device_name"] = json!("NVIDIA H100");
            r["device_type"] = json!("discrete-gpu");
        }
        // delta: alpha's figures (gemm 4, nbody 0.5) at 100 + 25 W.
        let mut delta = platform("delta", "dddddddddddddddd", "0.1", &ALPHA, None);
        readings(
            &mut delta,
            &[
                ("rapl:package-0", "cpu-package", 100.0),
                ("rapl:dram", "dram", 25.0),
            ],
        );
        let (g, d) = (f.write("gpunode.json", &gpu), f.write("delta.json", &delta));
        f.hb().arg("import").args([g, d]).assert().success();

        // By default each scope is its own ranking: the GPU alone at gpu-board.
        let s = f.json(&["summary"]);
        let overall = section(&s, "overall");
        assert_eq!(
            leader(per_joule(overall, "gpu-board").unwrap()),
            ("gpunode", "0")
        );
        assert_eq!(per_joule(overall, "cpu-package").unwrap()["ranked"], 2);
        assert!(per_joule(overall, "node").is_none());

        // At node level, one ranking of every device with a node figure:
        // the GPU sqrt(40/400 x 10/400) = 0.05, alpha (100 W, no DRAM
        // meter) sqrt(4/100 x 0.5/100) = 0.014142, delta
        // sqrt(4/125 x 0.5/125) = 0.011314; the hostile host's estimate
        // gives no node figure.
        let s = f.json(&["summary", "--node-level"]);
        let overall = section(&s, "overall");
        let rankings = overall["per_joule"].as_array().unwrap();
        assert_eq!(rankings.len(), 1, "{overall}");
        let node = &rankings[0];
        assert_eq!(node["energy_scope"], "node");
        assert_eq!(leader(node), ("gpunode", "0"));
        assert_eq!(node["ranked"], 3, "{node}");
        assert!(close(
            node["leader"]["figure"]["value"].as_f64().unwrap(),
            0.05
        ));
        assert_eq!(node["runner_up"]["subject"]["hostname"], "alpha");
        assert!(close(
            node["runner_up"]["figure"]["value"].as_f64().unwrap(),
            (0.04f64 * 0.005).sqrt()
        ));
        assert!(close(
            node["ratio"]["value"].as_f64().unwrap(),
            0.05 / (0.04f64 * 0.005).sqrt()
        ));
        let score = f.json(&["score", "--node-level"]);
        let delta = scored(&score, "delta", "cpu0");
        assert!(close(
            delta["overall_per_watt"].as_f64().unwrap(),
            (0.032f64 * 0.004).sqrt()
        ));
        assert_eq!(delta["overall_per_watt_scope"], "node");
        // The terminal summary says what the node-level sum leaves out.
        let text = f.stdout(&[
            "summary",
            "--node-level",
            "--allow-partial",
            "--reference",
            f.path("reference.json").to_str().unwrap(),
        ]);
        assert!(
            text.contains("energy: node level (--node-level)") && text.contains("leaves out fans"),
            "{text}"
        );
    }

    #[test]
    fn names_the_fastest_and_most_efficient_with_the_scores_own_intervals() {
        let f = Fixture::with_gpu_host();
        let s = f.json(&["summary"]);
        let score = f.json(&["score"]);
        for (name, ratio) in [("simulation", 2.0), ("ml", 8.0), ("micro", 4.0)] {
            let sec = section(&s, name);
            let fast = &sec["fastest"];
            // The GPU (ratios 10, 40, 20) beats lavapipe (5 each).
            assert_eq!(leader(fast), ("gpuhost", "0"), "{name}: {fast}");
            assert_eq!(fast["runner_up"]["subject"]["device"], "1");
            assert_eq!(fast["verdict"], "beats");
            assert!(close(fast["ratio"]["value"].as_f64().unwrap(), ratio));
            let claim = fast["claim"].as_str().unwrap();
            assert!(
                claim.starts_with("gpuhost: NVIDIA H100 (wgpu:0) beats gpuhost: llvmpipe"),
                "{claim}"
            );
            // The figure and its interval are the score's, exactly.
            let d = scored(&score, "gpuhost", "0")["domains"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["domain"] == name)
                .unwrap()
                .clone();
            assert_eq!(fast["leader"]["figure"]["value"], d["score"]);
            assert_eq!(fast["leader"]["figure"]["ci95"], d["score_ci95"]);
            assert_eq!(fast["leader"]["covered"], d["covered"]);
            // Per watt, like with like: the GPU alone at gpu-board ...
            let gpu = per_joule(sec, "gpu-board").unwrap();
            assert_eq!(leader(gpu), ("gpuhost", "0"));
            assert_eq!(gpu["verdict"], "alone");
            assert_eq!(gpu["energy_method"], "counter");
            assert_eq!(gpu["leader"]["figure"]["value"], d["per_watt"]);
            assert_eq!(gpu["leader"]["figure"]["ci95"], d["per_watt_ci95"]);
            // ... and at cpu-package beta or alpha, never lavapipe (its
            // 5 / 20 W would lead).
            let cpu = per_joule(sec, "cpu-package").unwrap();
            assert_ne!(leader(cpu).1, "1", "{cpu}");
            assert_eq!(cpu["ranked"], 2, "{cpu}");
            assert!(!cpu.to_string().contains("llvmpipe"), "{cpu}");
        }
        // ml: the GPU's gemm warns of high variation; its nbody does not.
        let flags = section(&s, "ml")["fastest"]["leader"]["flags"].to_string();
        assert!(flags.contains("possibly contended"), "{flags}");
        let flags = section(&s, "simulation")["fastest"]["leader"]["flags"].to_string();
        assert!(!flags.contains("possibly contended"), "{flags}");
        // nbody is 1 of the suite's 4 simulation kernels.
        assert!(flags.contains("incomplete coverage 1/4"), "{flags}");
        // Micro is not counted in the overall score.
        assert_eq!(section(&s, "micro")["counted"], false);
        // Overall (with --allow-partial): sqrt(10 * 40) = 20, the score's figure.
        let o = &section(&s, "overall")["fastest"];
        assert_eq!(leader(o), ("gpuhost", "0"));
        let g = scored(&score, "gpuhost", "0");
        assert!(close(
            o["leader"]["figure"]["value"].as_f64().unwrap(),
            20.0
        ));
        assert_eq!(o["leader"]["figure"]["value"], g["overall"]);
        assert_eq!(o["leader"]["figure"]["ci95"], g["overall_ci95"]);
        assert_eq!(
            (o["leader"]["covered"].as_u64(), o["leader"]["of"].as_u64()),
            (Some(2), Some(10))
        );
        // lavapipe is listed, with the reason, among those not ranked per watt.
        let left: Vec<&Value> = s["not_ranked_per_watt"]
            .as_array()
            .unwrap()
            .iter()
            .collect();
        let lava = left
            .iter()
            .find(|l| l["label"].as_str().unwrap().contains("llvmpipe"))
            .unwrap();
        assert!(
            lava["reason"]
                .as_str()
                .unwrap()
                .contains("host CPU behind wgpu"),
            "{lava}"
        );
        // The text says the same.
        let text = f.stdout(&[
            "summary",
            "--allow-partial",
            "--reference",
            f.path("reference.json").to_str().unwrap(),
        ]);
        assert!(
            text.contains("most work per joule (gpu-board, counter)"),
            "{text}"
        );
        assert!(
            text.contains("not ranked per watt: gpuhost: llvmpipe"),
            "{text}"
        );
        assert!(text.contains("20.00 ["), "{text}");
    }

    #[test]
    fn no_claim_where_the_intervals_overlap() {
        let f = Fixture::with_gpu_host();
        let s = f.json(&["summary"]);
        // ml per watt at cpu-package: beta 8.32 W^-1 x 1e-3 x 5 against
        // alpha's 4e-2: ratio 1.04, intervals overlap.
        let r = per_joule(section(&s, "ml"), "cpu-package").unwrap();
        assert_eq!(leader(r), ("beta", "cpu0"));
        assert_eq!(r["verdict"], "not_told_apart");
        assert!(close(r["ratio"]["value"].as_f64().unwrap(), 1.04));
        let (lo, hi) = (
            r["ratio"]["ci95"][0].as_f64().unwrap(),
            r["ratio"]["ci95"][1].as_f64().unwrap(),
        );
        // Each side sqrt(ln(1.1)^2 + ln(1/0.9)^2).
        let side = (1.1f64.ln().powi(2) + (1.0f64 / 0.9).ln().powi(2)).sqrt();
        assert!(
            close(lo, 1.04 * (-side).exp()) && close(hi, 1.04 * side.exp()),
            "{lo} {hi}"
        );
        let claim = r["claim"].as_str().unwrap();
        assert!(
            claim.contains("are not told apart") && !claim.contains("beats"),
            "{claim}"
        );
        // Nor in the text, in any section.
        let text = f.stdout(&[
            "summary",
            "--allow-partial",
            "--reference",
            f.path("reference.json").to_str().unwrap(),
        ]);
        assert!(
            text.contains(
                "beta: AMD EPYC (cpu:cpu0) and alpha: AMD EPYC (cpu:cpu0) are not told apart"
            ),
            "{text}"
        );
        assert!(!text.contains("beta: AMD EPYC (cpu:cpu0) beats"), "{text}");
        assert!(!text.contains("alpha: AMD EPYC (cpu:cpu0) beats"), "{text}");
    }

    #[test]
    fn estimated_energy_ranks_only_when_asked_in_its_own_scope() {
        let f = Fixture::with_gpu_host();
        let s = f.json(&["summary"]);
        assert!(per_joule(section(&s, "ml"), "estimated").is_none());
        let s = f.json(&["summary", "--include-estimated"]);
        let r = per_joule(section(&s, "ml"), "estimated").unwrap();
        assert_eq!(leader(r).0, HOSTILE);
        assert!(
            r["leader"]["flags"]
                .to_string()
                .contains("ESTIMATED energy")
        );
        // Not beside measured cpu-package figures.
        let cpu = per_joule(section(&s, "ml"), "cpu-package").unwrap();
        assert_eq!(cpu["ranked"], 2);
    }

    #[test]
    fn without_allow_partial_there_is_no_overall_and_it_says_why() {
        let f = Fixture::with_gpu_host();
        let out = f
            .hb()
            .args(["summary", "--json", "--reference"])
            .arg(f.path("reference.json"))
            .assert()
            .success();
        let s: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let o = section(&s, "overall");
        assert!(o["fastest"].is_null());
        assert!(o["notes"].to_string().contains("--allow-partial"), "{o}");
    }

    #[test]
    fn bad_flags_exit_2() {
        let f = Fixture::with_gpu_host();
        let r = f.path("reference.json");
        for (args, says) in [
            (vec!["--weights", "ml=abc"], "'ml=abc' is not NAME=NUMBER"),
            (vec!["--weights", "physics=1"], "unknown weight 'physics'"),
            (vec!["--include-everything"], "--include-everything"),
        ] {
            let mut all = vec!["summary", "--reference", r.to_str().unwrap()];
            all.extend(args);
            let err = f.bad(&all);
            assert!(err.contains(says), "{err}");
        }
    }
}

/// The built-in reference covers the whole suite: every kernel of the
/// registry, at small and medium, in every precision its manifest lists.
/// A kernel added without a reference figure fails here.
#[test]
fn the_builtin_reference_covers_every_kernel_size_and_precision() {
    let reference = hetbench::report::score::Reference::builtin().unwrap();
    let registry = hetbench::kernels::Registry::builtin().unwrap();
    assert_eq!(reference.suite_version, hetbench::SUITE_VERSION);
    let mut missing = Vec::new();
    for k in &registry.kernels {
        for size in ["small", "medium"] {
            for p in &k.manifest.precisions {
                let key = (k.name().to_string(), size.to_string(), *p);
                match reference.throughput.get(&key) {
                    Some(t) if t.is_finite() && *t > 0.0 => {}
                    _ => missing.push(format!("{} {} {}", key.0, key.1, key.2)),
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "no reference figure for: {}",
        missing.join(", ")
    );
    assert!(
        reference.throughput.len() >= 36,
        "{}",
        reference.throughput.len()
    );
}

/// Imports host `rep` as three replicates of one series (`run --repeat
/// 3`), gemm at the given throughputs (stream_triad 80, nbody 4), each
/// with a median interval of x/(1 -/+ 0.1) and, where given, a counter
/// reading at the cpu-package of the given watts.
fn import_series(f: &Fixture, replicates: [(f64, Option<f64>); 3]) {
    let series = uuid::Uuid::new_v4().to_string();
    let mut files = Vec::new();
    for (i, (t, w)) in replicates.into_iter().enumerate() {
        let figures: Figures = [
            ("stream_triad", 80.0, 1e-3, 1e-4, 20),
            ("gemm", t, 1e-3, 1e-4, 20),
            ("nbody", 4.0, 1e-3, 1e-4, 20),
        ];
        let energy = w.map(|w| ("counter", "cpu-package", w));
        let mut run = platform("rep", "cccccccccccccccc", "0.1", &figures, energy);
        for r in run["results"].as_array_mut().unwrap() {
            r["replicate"] = json!({"series_id": series, "index": i + 1, "of": 3});
            r["recorded_at"] = json!(format!("2026-01-0{}T00:00:00Z", i + 2));
        }
        files.push(f.write(&format!("rep{i}.json"), &run));
    }
    f.hb().arg("import").args(&files).assert().success();
}

/// Three replicates of one series (`run --repeat 3`): gemm at 400, 1000 and
/// 600 (median 600, ratio 3 to the reference's 200), each with a median
/// interval of x/(1 -/+ 0.1): the score's ml figure is the median's, with
/// the envelope 400/1.1 .. 1000/0.9 over 200 as its interval.
#[test]
fn score_combines_the_replicates_of_a_series() {
    let f = Fixture::new();
    import_series(&f, [(400.0, None), (1000.0, None), (600.0, None)]);
    let score = f.json(&["score"]);
    let rep = subject(&score, "rep");
    assert!(close(domain(rep, "ml"), 3.0), "{rep}");
    let ml = rep["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["domain"] == "ml")
        .unwrap();
    let ci = ml["score_ci95"].as_array().unwrap();
    assert!(close(ci[0].as_f64().unwrap(), 400.0 / 1.1 / 200.0), "{ml}");
    assert!(close(ci[1].as_f64().unwrap(), 1000.0 / 0.9 / 200.0), "{ml}");
    // alpha and the hostile host are one run each: the intervals say so, once.
    let intervals = score["intervals"].as_str().unwrap();
    assert!(
        intervals.contains("6 of 9 measured figure(s) come from a single run"),
        "{intervals}"
    );
    let text = f.stdout(&[
        "summary",
        "--reference",
        f.path("reference.json").to_str().unwrap(),
        "--allow-partial",
    ]);
    assert_eq!(
        text.matches("leave out run-to-run variation").count(),
        1,
        "{text}"
    );
}

/// Three replicates of one series at gemm 400, 1000 and 600 GFLOP/s, read
/// at 100, 200 and 200 W on the cpu-package: 4, 5 and 3 GFLOP/J. By hand:
/// the combined figure is 600 (the median throughput; ml score 600 / 200 =
/// 3, against alpha's 800: 0.75) at 4 GFLOP/J (the median per joule, not
/// the middle replicate's 3), so a power of 600 / 4 = 150 W and an ml
/// score per watt of 3 / 150 = 0.02. Tables, score, summary and compare
/// all say so.
#[test]
fn tables_score_summary_and_compare_agree_on_a_series() {
    let f = Fixture::new();
    import_series(
        &f,
        [
            (400.0, Some(100.0)),
            (1000.0, Some(200.0)),
            (600.0, Some(200.0)),
        ],
    );

    // The compact table: one row for the series' gemm, 3 runs, 4 per J.
    let text = f.stdout(&["results", "--host", "rep"]);
    let gemm: Vec<&str> = text.lines().filter(|l| l.starts_with("gemm ")).collect();
    assert_eq!(gemm.len(), 1, "{text}");
    // The envelope: 400 / 1.1 = 600 x (1 - 39%), 1000 / 0.9 = 600 x (1 + 85%).
    for cell in [
        "  600.0  ",
        "  -39%..+85%  ",
        "  3 runs  ",
        "  4.000 x/J (cpu-package)",
    ] {
        assert!(gemm[0].contains(cell), "{cell}: {text}");
    }
    assert!(text.contains("3 row(s) combine the replicates"), "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 120), "{text}");
    // --wide: the combined row (time 1 ms x 600 / 600), then each replicate.
    let wide = f.stdout(&["results", "--host", "rep", "--wide"]);
    let gemm: Vec<&str> = wide
        .lines()
        .skip_while(|l| !l.starts_with("gemm "))
        .take(4)
        .collect();
    assert!(gemm[0].contains("  1.000 ms  ") && gemm[0].contains("  3 runs  "));
    for (line, (i, t)) in gemm[1..]
        .iter()
        .zip([(1, "400.0"), (2, "1000"), (3, "600.0")])
    {
        assert!(line.starts_with(&format!("  replicate {i}/3 ")), "{wide}");
        assert!(
            line.contains(&format!("  {t}  ")) && line.contains("  20  "),
            "{wide}"
        );
    }

    // Score: ml 3, per watt 3 / 150 W.
    let score = f.json(&["score"]);
    let rep = subject(&score, "rep");
    let ml = rep["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["domain"] == "ml")
        .unwrap()
        .clone();
    assert!(close(ml["score"].as_f64().unwrap(), 3.0), "{ml}");
    assert!(close(ml["per_watt"].as_f64().unwrap(), 0.02), "{ml}");

    // Summary: the same figures, as the score's.
    let s = f.json(&["summary"]);
    let sec = s["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "ml")
        .unwrap();
    let rep_in = |ranking: &Value| -> Value {
        ["leader", "runner_up"]
            .iter()
            .map(|k| ranking[k].clone())
            .find(|x| x["subject"]["hostname"] == "rep")
            .unwrap_or_else(|| panic!("no rep in {ranking}"))
    };
    let fast = rep_in(&sec["fastest"]);
    assert_eq!(fast["figure"]["value"], ml["score"], "{sec}");
    assert_eq!(fast["figure"]["ci95"], ml["score_ci95"], "{sec}");
    let per_joule = sec["per_joule"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["energy_scope"] == "cpu-package")
        .unwrap();
    let pj = rep_in(per_joule);
    assert_eq!(pj["figure"]["value"], ml["per_watt"], "{sec}");
    assert_eq!(pj["figure"]["ci95"], ml["per_watt_ci95"], "{sec}");

    // Compare against alpha (gemm 800 x/(1 -/+ 0.1)): 600 / 800 = 0.75;
    // its interval from the log sides ln(600 / (400 / 1.1)) and
    // ln(1000 / 0.9 / 600) of the series with alpha's ln(1 / 0.9), ln 1.1.
    let c = f.json(&["compare", "--baseline", "alpha"]);
    let g = c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kernel"] == "gemm" && r["subject"]["hostname"] == "rep")
        .unwrap();
    assert_eq!(g["throughput"], 600.0);
    assert!(close(g["ratio"].as_f64().unwrap(), 0.75), "{g}");
    let below = ((600.0f64 * 1.1 / 400.0).ln().powi(2) + (1.0f64 / 0.9).ln().powi(2)).sqrt();
    let above = ((1000.0f64 / 0.9 / 600.0).ln().powi(2) + 1.1f64.ln().powi(2)).sqrt();
    assert!(
        close(g["ci95_low"].as_f64().unwrap(), 0.75 * (-below).exp()),
        "{g}"
    );
    assert!(
        close(g["ci95_high"].as_f64().unwrap(), 0.75 * above.exp()),
        "{g}"
    );
    let text = f.stdout(&["compare", "--baseline", "alpha"]);
    assert!(
        text.lines().any(|l| l.starts_with("gemm ")
            && l.contains("rep:")
            && l.contains(" 600.0 ")
            && l.contains("  0.750  0.450 .. 1.399  ")),
        "{text}"
    );
}
