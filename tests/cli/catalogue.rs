//! The kernel catalogue: `list` by domain, the roofline view, `new-kernel`.

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
