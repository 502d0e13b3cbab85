//! The FPGA-emulated backend: modeled results, their accuracy and assumptions.

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
