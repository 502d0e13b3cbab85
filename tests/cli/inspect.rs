//! `info`, `list` and `--help`: what the harness says about the node and itself.

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
        .stdout(predicate::str::is_match("(?m)^  opencl +(available|unavailable: .+)$").unwrap())
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
