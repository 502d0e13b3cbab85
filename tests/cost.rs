//! Integration tests of `hetbench cost`: a database of four platforms
//! (measured node-level energy, estimated and modeled energy), built from
//! the committed reference run with throughputs and powers set to values
//! whose cost and carbon are computed by hand below.
//!
//! Every platform runs `gemm` at size medium (the reference: 200 GFLOP/s),
//! with the median's 95% interval at median x (1 -/+ 0.1), so that the
//! throughput's interval is throughput / (1 +/- 0.1) and a figure per unit
//! of work whose numerator is exact spans value x (1 -/+ 0.1).
//!
//! Site: PUE 1.5, utilisation 0.5, 50 gCO2e/kWh, lifetime 4 years for all:
//! 8760 x 4 = 35040 h, 126144000 s.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{Value, json};
use tempfile::TempDir;

struct Fixture {
    dir: TempDir,
}

fn real_run() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("results/reference/vm-epyc-zen5-2vcpu.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The real run as host `host`, gemm medium only, at `tput` GFLOP/s (mean
/// and median 1 ms, median interval -/+ 10%), with one energy reading of
/// `watts` by `method` and `scope`, and its idle baseline `idle`.
fn platform(host: &str, hash: &str, tput: f64, energy: (&str, &str, f64, Option<f64>)) -> Value {
    let mut run = real_run();
    let id = uuid::Uuid::new_v4().to_string();
    run["run"]["run_id"] = json!(id);
    run["run"]["platform"]["hostname"] = json!(host);
    run["run"]["platform"]["hash"] = json!(hash);
    let (method, scope, w, idle) = energy;
    let results: Vec<Value> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["size"] == "medium" && r["kernel"] == "gemm" && r["precision"] == "f32")
        .map(|r| {
            let mut r = r.clone();
            let mean = 1e-3;
            r["run_id"] = json!(id);
            r["hostname"] = json!(host);
            r["platform_hash"] = json!(hash);
            r["throughput"] = json!(tput);
            let s = &mut r["timing"]["summary"];
            s["mean"] = json!(mean);
            s["median"] = json!(mean);
            s["stddev"] = json!(mean * 0.1);
            s["n"] = json!(20);
            s["ci95_low"] = json!(mean * 0.99);
            s["ci95_high"] = json!(mean * 1.01);
            s["min"] = json!(mean * 0.8);
            s["max"] = json!(mean * 1.2);
            s["median_ci95"] = json!({"low": mean * 0.9, "high": mean * 1.1});
            r["energy"] = json!([{
                "meter": "test", "scope": scope, "method": method, "covers": "test",
                "interval_s": 0.001, "window_s": 1.0, "energy_j": w, "avg_w": w,
                "idle_w": idle, "active_w": idle.map(|i| w - i), "perf_per_w": tput / w,
                "perf_per_active_w": idle.map(|i| tput / (w - i)),
                "perf_per_w_unit": "GFLOP/J", "flags": []
            }]);
            r
        })
        .collect();
    assert_eq!(results.len(), 1);
    run["results"] = json!(results);
    run
}

const ECONOMICS: &str = r#"
[site]
electricity_eur_per_kwh = 0.1
utilisation = 0.5
pue = 1.5
grid_gco2e_per_kwh = 50
idle_w = 20

[[platform]]
match = "cheapcpu"
purchase_eur = 2000
maintenance_eur_per_year = 0
lifetime_years = 4
rack_units = 1
embodied_kgco2e = 500
hs23 = 1000

[[platform]]
match = "gpubox"
purchase_eur = 20000
maintenance_eur_per_year = 0
lifetime_years = 4
rack_units = 2
components = { server-2socket = 1, gpu = 1 }
idle_w = 100

[[platform]]
match = "estbox"
purchase_eur = 1000
maintenance_eur_per_year = 0
lifetime_years = 4
rack_units = 1
embodied_kgco2e = 300

[[platform]]
match = "fpgahost"
purchase_eur = 8000
maintenance_eur_per_year = 100
lifetime_years = 4
rack_units = 1
components = { server-2socket = 1, accelerator-card = 1 }
idle_w = 10
"#;

impl Fixture {
    fn new() -> Fixture {
        let f = Fixture {
            dir: TempDir::new().unwrap(),
        };
        let files = [
            // Node-level, measured, idle 50 W measured: P = 125 W.
            f.write(
                "cheap.json",
                &platform(
                    "cheapcpu",
                    "cccccccccccccccc",
                    400.0,
                    ("sampled", "node", 200.0, Some(50.0)),
                ),
            ),
            // Node-level, measured, idle 100 W given: P = 300 W.
            f.write(
                "gpu.json",
                &platform(
                    "gpubox",
                    "dddddddddddddddd",
                    2000.0,
                    ("counter", "node", 500.0, None),
                ),
            ),
            // Estimated 100 W, the site's idle 20 W: P = 60 W.
            f.write(
                "est.json",
                &platform(
                    "estbox",
                    "eeeeeeeeeeeeeeee",
                    300.0,
                    ("estimated", "estimated", 100.0, None),
                ),
            ),
            f.write("fpga.json", &fpga()),
        ];
        f.hb().arg("import").args(files).assert().success();
        f.write(
            "reference.json",
            &platform(
                "refnode",
                "1111111111111111",
                200.0,
                ("sampled", "node", 100.0, None),
            ),
        );
        std::fs::write(f.path("economics.toml"), ECONOMICS).unwrap();
        f
    }

    fn write(&self, name: &str, v: &Value) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
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

    /// `hetbench cost` over `economics` with the fixture's reference.
    fn cost_cmd(&self, economics: &Path, args: &[&str]) -> Command {
        let mut c = self.hb();
        c.arg("cost")
            .arg("--economics")
            .arg(economics)
            .arg("--reference")
            .arg(self.path("reference.json"))
            .arg("--allow-partial")
            .args(args);
        c
    }

    fn json(&self, args: &[&str]) -> Value {
        self.json_with(ECONOMICS, args)
    }

    fn json_with(&self, economics: &str, args: &[&str]) -> Value {
        let p = self.path("e.toml");
        std::fs::write(&p, economics).unwrap();
        let out = self.cost_cmd(&p, args).arg("--json").assert().success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    }

    /// The terminal tables of `cost` over `economics`.
    fn text(&self, economics: &Path) -> String {
        let out = self.cost_cmd(economics, &[]).assert().success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    }

    /// Expects exit 2; returns stderr.
    fn bad(&self, economics: &str) -> String {
        let p = self.path("bad.toml");
        std::fs::write(&p, economics).unwrap();
        let out = self.cost_cmd(&p, &[]).assert().code(2);
        String::from_utf8(out.get_output().stderr.clone()).unwrap()
    }
}

/// fpgahost: modeled 40 W, 800 GFLOP/s (modeled: no interval).
fn fpga() -> Value {
    let mut run = platform(
        "fpgahost",
        "ffffffffffffffff",
        800.0,
        ("modeled", "modeled", 40.0, None),
    );
    for r in run["results"].as_array_mut().unwrap() {
        r["backend"] = json!("fpga-emu");
        r["device"] = json!("fpga0");
        r["device_name"] = json!("AMD Alveo U250 (emulated)");
        r["device_type"] = json!("fpga-emulated");
        r["model"] = json!({ "model_version": "3" });
    }
    run
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1e-12)
}

fn row<'a>(c: &'a Value, host: &str) -> &'a Value {
    c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["subject"]["hostname"] == host)
        .unwrap_or_else(|| panic!("no {host} in {c}"))
}

fn hosts(c: &Value) -> Vec<String> {
    c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["subject"]["hostname"].as_str().unwrap().to_string())
        .collect()
}

fn ranking<'a>(c: &'a Value, group: &str) -> &'a Value {
    c["rankings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"] == group)
        .unwrap_or_else(|| panic!("no ranking {group} in {c}"))
}

/// The sensitivity row of `input` in ranking `r`.
fn sensitivity<'a>(r: &'a Value, input: &str) -> &'a Value {
    r["sensitivity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["input"] == input)
        .unwrap()
}

fn cheapest(r: &Value) -> String {
    r["by_cost"][0][0].as_str().unwrap().to_string()
}

fn figure(v: &Value) -> (f64, f64, f64) {
    (
        v["value"].as_f64().unwrap(),
        v["ci95"][0].as_f64().unwrap(),
        v["ci95"][1].as_f64().unwrap(),
    )
}

const SECONDS: f64 = 126_144_000.0;
const HOURS: f64 = 35_040.0;

#[test]
fn measured_figures_by_hand() {
    let f = Fixture::new();
    let c = f.json(&[]);
    let r = row(&c, "cheapcpu");
    // P = 200 x 0.5 + 50 x 0.5 = 125 W; E = 0.125 kW x 35040 h x 1.5 = 6570 kWh.
    let kwh = 0.125 * HOURS * 1.5;
    assert!(close(kwh, 6570.0));
    let tco = 2000.0 + kwh * 0.1;
    // W = 400 GFLOP/s x 0.5 x 126144000 s = 2.52288e10 GFLOP.
    let work = 400.0 * 0.5 * SECONDS;
    let (v, lo, hi) = figure(&r["tco_eur"]);
    assert!(close(v, 2657.0) && close(v, tco) && close(lo, tco) && close(hi, tco));
    let (v, lo, hi) = figure(&r["eur_per_1e9"]);
    let eur = tco / work * 1e9;
    assert!(close(v, eur), "{v} {eur}");
    assert!(close(lo, eur * 0.9) && close(hi, eur * 1.1), "{lo} {hi}");
    // Operational 6570 kWh x 50 g = 328.5 kg, plus 500 kg embodied.
    let (v, _, _) = figure(&r["kg_per_1e9"]);
    assert!(close(v, (500.0 + 328.5) / work * 1e9));
    assert!(close(figure(&r["work_per_eur"]).0, work / tco));
    assert_eq!(r["energy"]["scope"], "node");
    assert_eq!(r["energy"]["method"], "sampled");
    assert_eq!(r["idle_origin"]["kind"], "measured");
    assert_eq!(r["estimated"], false);
    // The domain: score 400/200 = 2; TCO / (2 x 0.5 x 4 score-years).
    let d = c["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["subject"]["hostname"] == "cheapcpu" && d["domain"] == "ml")
        .unwrap();
    assert!(close(figure(&d["score"]).0, 2.0));
    let (v, lo, hi) = figure(&d["eur_per_score_year"]);
    assert!(close(v, tco / 4.0));
    assert!(close(lo, tco / 4.0 * 0.9) && close(hi, tco / 4.0 * 1.1));
    // HS23 1000: 1 kHS23 x 0.5 x 4 years = 2 kHS23-years.
    let h = &c["hs23"][0];
    assert!(close(figure(&h["eur_per_khs23_year"]).0, tco / 2.0));
    // gpubox: embodied estimated from the table, 636 + 318 kg, labelled.
    let g = row(&c, "gpubox");
    assert_eq!(g["idle_origin"]["kind"], "given");
    let gkwh = 0.3 * HOURS * 1.5;
    let gwork = 2000.0 * 0.5 * SECONDS;
    assert!(close(
        figure(&g["kg_per_1e9"]).0,
        (954.0 + gkwh * 0.05) / gwork * 1e9
    ));
    let text = f.text(&f.path("economics.toml"));
    assert!(text.contains("ESTIMATED: 1 x gpu at 318 kg"), "{text}");
    assert!(text.contains("node/sampled"), "{text}");
}

#[test]
fn estimated_power_is_wide_labelled_and_ranked_only_when_asked() {
    let f = Fixture::new();
    let c = f.json(&[]);
    let e = row(&c, "estbox");
    assert_eq!(e["estimated"], true);
    // Active 100 W x/÷ 1.5, idle 20 W (the site's) exact:
    // TCO at P = 100 x 0.5 + 10, and at the ends 100/1.5 and 150 W.
    let tco = |active: f64| 1000.0 + (active * 0.5 + 10.0) / 1000.0 * HOURS * 1.5 * 0.1;
    let (v, lo, hi) = figure(&e["tco_eur"]);
    assert!(close(v, tco(100.0)) && close(lo, tco(100.0 / 1.5)) && close(hi, tco(150.0)));
    assert_eq!(e["idle_origin"]["kind"], "given");
    // Cheapest if it were ranked; left out of the ranking unless asked.
    assert_eq!(
        cheapest(ranking(&c, "gemm medium f32")),
        row(&c, "cheapcpu")["label"].as_str().unwrap()
    );
    let with = f.json(&["--include-estimated"]);
    assert!(cheapest(ranking(&with, "gemm medium f32")).starts_with("estbox"));
    // Then the two cheapest are not like with like, and it says so.
    let note = ranking(&with, "gemm medium f32")["scope_note"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        note.contains("(estimated estimated)") && note.contains("(node measured)"),
        "{note}"
    );
    assert!(ranking(&c, "gemm medium f32")["scope_note"].is_null());
}

#[test]
fn the_ranking_flips_as_electricity_gets_dearer() {
    let f = Fixture::new();
    // Per 1.26144e11 GFLOP: cheapcpu 5 x (2000 + 6570 p), gpubox
    // 20000 + 15768 p; equal at p = 10000 / 17082.
    let flip = 10000.0 / 17082.0;
    let cheap_at = |price: f64| {
        let e = ECONOMICS.replace(
            "electricity_eur_per_kwh = 0.1",
            &format!("electricity_eur_per_kwh = {price}"),
        );
        let c = f.json_with(&e, &[]);
        let r = ranking(&c, "gemm medium f32").clone();
        assert!(close(r["break_even_eur_per_kwh"].as_f64().unwrap(), flip));
        cheapest(&r)
    };
    assert!(cheap_at(0.1).starts_with("cheapcpu"));
    assert!(cheap_at(0.5).starts_with("cheapcpu"));
    assert!(cheap_at(0.7).starts_with("gpubox"));
    assert!(cheap_at(1.0).starts_with("gpubox"));
    // Carbon: cheapcpu 5 x (500 + 6.57 g), gpubox 954 + 15.768 g per the
    // same work; equal at g = (2500 - 954) / (15.768 - 32.85) < 0: never.
    let c = f.json(&[]);
    let r = ranking(&c, "gemm medium f32");
    assert!(r["break_even_gco2e_per_kwh"].is_null());
    assert!(r["by_carbon"][0][0].as_str().unwrap().starts_with("gpubox"));
    assert!(close(
        r["by_carbon"][0][1].as_f64().unwrap(),
        (954.0 + 15768.0 * 0.05) / (2000.0 * 0.5 * SECONDS) * 1e9
    ));
    // The sensitivity: the price moved by 20% moves cheapcpu's EUR per
    // work by 20% of its energy share 657/2657.
    let s = sensitivity(r, "electricity_eur_per_kwh");
    assert!(close(
        s["eur_change"][1].as_f64().unwrap(),
        0.2 * 657.0 / 2657.0
    ));
}

#[test]
fn modeled_platforms_enter_only_when_asked_and_labelled() {
    let f = Fixture::new();
    let c = f.json(&[]);
    assert!(!hosts(&c).contains(&"fpgahost".to_string()));
    assert_eq!(c["modeled_left_out"], 1);
    let with = f.json(&["--include-modeled"]);
    let m = row(&with, "fpgahost");
    assert_eq!(m["modeled"], true);
    assert!(m["eur_per_1e9"]["ci95"].is_null());
    // P = 40 x 0.5 + 10 x 0.5 = 25 W; TCO = 8000 + 400 + E x 0.1.
    let tco = 8400.0 + 0.025 * HOURS * 1.5 * 0.1;
    assert!(close(m["tco_eur"]["value"].as_f64().unwrap(), tco));
    let p = f.path("economics.toml");
    let out = f.cost_cmd(&p, &["--include-modeled"]).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains("[MODELED]") && text.contains("(MODELED)"),
        "{text}"
    );
}

#[test]
fn bad_economics_fields_name_the_field_and_line() {
    let f = Fixture::new();
    let err = f.bad(&ECONOMICS.replace("pue = 1.5", "pue = 0.5"));
    assert!(
        err.contains("bad.toml:5:") && err.contains("site.pue"),
        "{err}"
    );
    let err = f.bad(&ECONOMICS.replace(
        "lifetime_years = 4\nrack_units = 2",
        "lifetime_years = -4\nrack_units = 2",
    ));
    assert!(
        err.contains(":22:") && err.contains("platform.lifetime_years"),
        "{err}"
    );
    let err = f.bad(&ECONOMICS.replace("utilisation = 0.5\n", ""));
    assert!(err.contains("utilisation"), "{err}");
    let err = f.bad(&ECONOMICS.replace("gpu = 1 }", "npu = 1 }"));
    assert!(
        err.contains("platform.components") && err.contains("npu"),
        "{err}"
    );
    // No idle baseline and no idle_w anywhere for estbox.
    let err = f.bad(&ECONOMICS.replace("idle_w = 20\n", ""));
    assert!(err.contains("idle_w") && err.contains("estbox"), "{err}");
}

/// A HEP Benchmark Suite report (the suite's layout, cut to a few fields).
fn suite_report(name: &str, score: f64) -> Value {
    serde_json::json!({
        "host": {"hostname": "cheapcpu", "HW": {"CPU": {"CPU_Model": "x"}}},
        "_timestamp": "2026-10-01T09:20:21Z",
        "json_version": "v3.0",
        "profiles": {"hepscore": {
            "settings": {"name": name, "method": "geometric_mean", "repetitions": 3},
            "wl-scores": {}, "score": score, "status": "success"}}
    })
}

#[test]
fn hs23_read_from_a_hep_benchmark_suite_report_costs_as_if_given() {
    let f = Fixture::new();
    let given = f.json(&[]);
    f.write(
        "reports/wn-hepscore.json",
        &suite_report("HEPscore23", 1000.0),
    );
    let from_report =
        ECONOMICS.replace("hs23 = 1000", "hs23_report = \"reports/wn-hepscore.json\"");
    let c = f.json_with(&from_report, &[]);
    let (a, b) = (&given["hs23"][0], &c["hs23"][0]);
    assert_eq!(b["hs23"], 1000.0);
    assert_eq!(b["hs23_origin"]["kind"], "report");
    assert!(close(
        figure(&a["eur_per_khs23_year"]).0,
        figure(&b["eur_per_khs23_year"]).0
    ));
    let text = f.text(&f.path("e.toml"));
    assert!(
        text.contains("from HEP Benchmark Suite report") && text.contains("host cheapcpu"),
        "{text}"
    );
    // A HEPscore19 report is another unit: refused, with the field and file.
    f.write(
        "reports/wn-hepscore.json",
        &suite_report("HEPscore19", 1000.0),
    );
    let err = f.bad(&from_report);
    assert!(
        err.contains("bad.toml:")
            && err.contains("platform.hs23_report")
            && err.contains("HEPscore19")
            && err.contains("wn-hepscore.json"),
        "{err}"
    );
    let err = f.bad(&from_report.replace("wn-hepscore.json", "missing.json"));
    assert!(err.contains("missing.json"), "{err}");
}

#[test]
fn the_shipped_example_parses() {
    let f = Fixture::new();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/economics-example.toml");
    // None of its platforms is in this database: nothing to cost, exit 2,
    // and the message names the devices it found.
    let out = f.cost_cmd(&example, &[]).assert().code(2);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(
        err.contains("no [[platform]] entry") && err.contains("cheapcpu"),
        "{err}"
    );
}

mod plan {
    use super::*;

    /// `hetbench plan` over the ml domain only (the fixture runs gemm).
    fn plan_cmd(f: &Fixture, args: &[&str]) -> Command {
        let mut c = f.hb();
        c.arg("plan")
            .arg("--economics")
            .arg(f.path("economics.toml"))
            .arg("--reference")
            .arg(f.path("reference.json"))
            .args([
                "--allow-partial",
                "--weights",
                "simulation=0,reconstruction=0,ml=1",
            ])
            .args([
                "--budget",
                "1000000",
                "--rack-units",
                "42",
                "--power-kw",
                "3",
            ])
            .args(args);
        c
    }

    #[test]
    fn the_power_cap_binds_not_the_budget() {
        let f = Fixture::new();
        let out = plan_cmd(&f, &["--json"]).assert().success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        // Per node: cheapcpu 2 points, 200 W x 1.5 = 0.3 kW, 1 U;
        // gpubox 10 points, 0.75 kW, 2 U. Within 3 kW: 4 gpubox = 40
        // points (3 gpubox + 2 cheapcpu: 34); TCO 4 x 21576.8 EUR.
        let best = &v["plan"]["best"];
        assert_eq!(best["nodes"].as_array().unwrap().len(), 1);
        assert!(best["nodes"][0][0].as_str().unwrap().starts_with("gpubox"));
        assert_eq!(best["nodes"][0][1], 4);
        assert!(close(best["throughput"].as_f64().unwrap(), 40.0));
        assert!(close(
            best["tco_eur"].as_f64().unwrap(),
            4.0 * (20000.0 + 0.3 * HOURS * 1.5 * 0.1)
        ));
        let binds: Vec<&str> = best["uses"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["binds"] == true)
            .map(|u| u["constraint"].as_str().unwrap())
            .collect();
        assert_eq!(binds, ["power cap"]);
        // The runner-up without gpubox: 10 cheapcpu, 20 points.
        assert!(close(
            v["plan"]["runners_up"][0][1]["throughput"]
                .as_f64()
                .unwrap(),
            20.0
        ));
        // estbox (estimated energy) is no candidate unless asked.
        let labels: Vec<&str> = v["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["label"].as_str().unwrap())
            .collect();
        assert!(
            !labels.iter().any(|l| l.starts_with("estbox")),
            "{labels:?}"
        );
    }

    #[test]
    fn a_node_with_two_devices_is_one_candidate_run_on_its_best_device() {
        let f = Fixture::new();
        // gpubox also has its OpenCL device, slower at gemm (500 GFLOP/s).
        let mut extra = platform(
            "gpubox",
            "dddddddddddddddd",
            500.0,
            ("counter", "node", 400.0, None),
        );
        extra["results"][0]["backend"] = json!("opencl");
        extra["results"][0]["device"] = json!("gpu0");
        extra["results"][0]["device_type"] = json!("discrete-gpu");
        let file = f.write("gpubox-opencl.json", &extra);
        f.hb().arg("import").arg(file).assert().success();
        let out = plan_cmd(&f, &["--json"]).assert().success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let gpubox: Vec<&Value> = v["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["label"].as_str().unwrap().starts_with("gpubox"))
            .collect();
        assert_eq!(gpubox.len(), 1, "{gpubox:?}");
        // ml runs on the faster cpu:cpu0 path: 2000/200 = 10 points.
        assert_eq!(gpubox[0]["uses"], json!(["ml: cpu:cpu0"]));
        assert!(close(gpubox[0]["throughput"].as_f64().unwrap(), 10.0));
        // The same optimum as with one device: 4 gpubox nodes, 40 points.
        let best = &v["plan"]["best"];
        assert_eq!(best["nodes"][0][1], 4);
        assert!(close(best["throughput"].as_f64().unwrap(), 40.0));
        let text = plan_cmd(&f, &[]).assert().success();
        let text = String::from_utf8(text.get_output().stdout.clone()).unwrap();
        assert!(text.contains("(ml: cpu:cpu0)"), "{text}");
    }

    #[test]
    fn an_infeasible_target_names_the_power_cap() {
        let f = Fixture::new();
        let out = plan_cmd(&f, &["--target", "100"]).assert().code(2);
        let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
        assert!(err.contains("power cap (3) cannot be met"), "{err}");
        assert!(err.contains("at most 40"), "{err}");
        assert!(
            !err.contains("budget (") && !err.contains("rack units ("),
            "{err}"
        );
    }
}

#[test]
fn the_report_carries_the_cost_tables_and_the_sensitivity_tornado() {
    let f = Fixture::new();
    let economics = f.path("e.toml");
    std::fs::write(&economics, ECONOMICS).unwrap();
    let out = f.path("report");
    let report = |extra: &[&str]| {
        let mut c = f.hb();
        c.arg("report")
            .arg("--out")
            .arg(&out)
            .arg("--reference")
            .arg(f.path("reference.json"))
            .arg("--allow-partial")
            .args(extra);
        c
    };
    report(&[]).assert().success();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("No cost section: no --economics FILE given"));
    report(&["--economics", economics.to_str().unwrap()])
        .assert()
        .success();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    // The same tables as `hetbench cost`, by their titles, and the figure the
    // JSON gives for the electricity price, in the tornado's label.
    let c = f.json(&[]);
    let r = ranking(&c, "gemm medium f32");
    let s = sensitivity(r, "electricity_eur_per_kwh");
    let up = s["eur_change"][1].as_f64().unwrap() * 100.0;
    let section = &html[html.find("<h2>Cost and carbon</h2>").unwrap()..];
    let section = &section[..section.find("<h2>Figures</h2>").unwrap()];
    assert!(section.contains("<h3>sensitivity of the cheapest device per group"));
    assert!(section.contains("id=\"cost-sensitivity\"") && section.contains("<svg"));
    assert!(section.contains("electricity_eur_per_kwh"));
    assert!(section.contains(&format!("/ {up:+.1}%")), "{up}");
    // Over every domain the fixture's nodes (gemm only) have no figures:
    // the plot of throughput against cost says why it is not there.
    assert!(
        section.contains("No throughput-against-cost plot"),
        "{section}"
    );
    // Weighted to ml, each node is a point: cheapcpu and gpubox, both on
    // the front (the cheaper does less), estbox (estimated) left out.
    report(&[
        "--economics",
        economics.to_str().unwrap(),
        "--weights",
        "simulation=0,reconstruction=0,ml=1",
    ])
    .assert()
    .success();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let section = &html[html.find("<h2>Cost and carbon</h2>").unwrap()..];
    let section = &section[..section.find("<h2>Figures</h2>").unwrap()];
    let fig = &section[section.find("id=\"cost-front\"").unwrap()..];
    let fig = &fig[..fig.find("</figure>").unwrap()];
    assert!(fig.contains("[1] cheapcpu (ml: cpu:cpu0)"), "{fig}");
    assert!(fig.contains("[2] gpubox (ml: cpu:cpu0)"), "{fig}");
    assert!(!fig.contains("estbox"), "{fig}");
    assert!(
        fig.contains("domain weights micro=0,ml=1,reconstruction=0,simulation=0"),
        "{fig}"
    );
    // A bad economics file fails the report (exit 2), as it fails `cost`.
    std::fs::write(&economics, "[site]\npue = -1\n").unwrap();
    report(&["--economics", economics.to_str().unwrap()])
        .assert()
        .code(2);
}

/// A GPU node without a node meter: its result read the GPU board (300 W,
/// idle 30 W), the CPU package (100 W, idle 40 W) and the DRAM (20 W, idle
/// 10 W) over one window. Cost uses their sum, the node-level figure that
/// `score --node-level` ranks, not the board alone. By hand: 420 W, idle
/// 80 W (measured, the sum's); P = 420 x 0.5 + 80 x 0.5 = 250 W;
/// E = 0.25 kW x 35040 h x 1.5 = 13140 kWh; TCO = 10000 + 1314 EUR.
#[test]
fn a_node_without_a_node_meter_is_costed_at_its_component_sum() {
    let f = Fixture::new();
    let mut run = platform(
        "sumbox",
        "5555555555555555",
        1000.0,
        ("counter", "gpu-board", 300.0, Some(30.0)),
    );
    for r in run["results"].as_array_mut().unwrap() {
        r["backend"] = json!("wgpu");
        r["device"] = json!("0");
        r["device_name"] = json!("NVIDIA H100");
        r["device_type"] = json!("discrete-gpu");
        let board = r["energy"][0].clone();
        let part = |meter: &str, scope: &str, w: f64, idle: f64| {
            let mut e = board.clone();
            e["meter"] = json!(meter);
            e["scope"] = json!(scope);
            e["avg_w"] = json!(w);
            e["energy_j"] = json!(w);
            e["idle_w"] = json!(idle);
            e["active_w"] = json!(w - idle);
            e["perf_per_w"] = json!(1000.0 / w);
            e["perf_per_active_w"] = json!(1000.0 / (w - idle));
            e
        };
        r["energy"] = json!([
            board,
            part("rapl:package-0", "cpu-package", 100.0, 40.0),
            part("rapl:dram", "dram", 20.0, 10.0)
        ]);
    }
    let file = f.write("sumbox.json", &run);
    f.hb().arg("import").arg(file).assert().success();
    let economics = format!(
        "{ECONOMICS}\n[[platform]]\nmatch = \"sumbox\"\npurchase_eur = 10000\nmaintenance_eur_per_year = 0\nlifetime_years = 4\nrack_units = 1\nembodied_kgco2e = 500\n"
    );
    let c = f.json_with(&economics, &[]);
    let r = row(&c, "sumbox");
    assert_eq!(r["energy"]["scope"], "node");
    assert_eq!(r["energy"]["component_sum"], true);
    let covers = r["energy"]["covers"].as_str().unwrap();
    assert!(
        covers.starts_with(
            "sum of cpu-package (rapl:package-0) + dram (rapl:dram) + gpu-board (test)"
        ) && covers.contains("leaves out fans"),
        "{covers}"
    );
    assert!(close(r["active"]["w"].as_f64().unwrap(), 420.0), "{r}");
    assert!(close(r["idle"]["w"].as_f64().unwrap(), 80.0), "{r}");
    assert_eq!(r["idle_origin"]["kind"], "measured");
    let kwh = 0.25 * HOURS * 1.5;
    assert!(close(kwh, 13140.0));
    let tco = 10000.0 + kwh * 0.1;
    assert!(close(figure(&r["tco_eur"]).0, tco), "{r}");
    let work = 1000.0 * 0.5 * SECONDS;
    assert!(close(figure(&r["eur_per_1e9"]).0, tco / work * 1e9), "{r}");
    // The same 420 W that `score --node-level` divides by: gemm at
    // 1000 / 200 = 5 over 420 W.
    let out = f
        .hb()
        .args([
            "score",
            "--node-level",
            "--allow-partial",
            "--json",
            "--reference",
        ])
        .arg(f.path("reference.json"))
        .assert()
        .success();
    let score: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let s = score["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["subject"]["hostname"] == "sumbox")
        .unwrap();
    let ml = s["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "ml")
        .unwrap();
    assert!(close(ml["per_watt"].as_f64().unwrap(), 5.0 / 420.0), "{ml}");
    // The terminal table labels it and says what the sum leaves out.
    let p = f.path("sum.toml");
    std::fs::write(&p, &economics).unwrap();
    let text = f.text(&p);
    assert!(text.contains("node/counter (component sum)"), "{text}");
    assert!(
        text.contains("node (component sum): a node without a node meter"),
        "{text}"
    );
}
