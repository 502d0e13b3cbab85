//! `run --dry-run`: every kernel, size and precision planned against the devices here.

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

/// The optional `xlarge` size: only by name, only the kernels that define
/// it (gemm, nbody), and within the common limits like every size: it
/// fits lavapipe and PoCL too.
#[test]
fn xlarge_runs_only_by_name_and_where_defined() {
    let results = TempDir::new().unwrap();
    let hb = || {
        let mut c = Command::cargo_bin("hetbench").unwrap();
        c.env_remove("HETBENCH_REQUIRE_BACKENDS")
            .env_remove("HETBENCH_KERNELS_DIR")
            .env_remove("HETBENCH_DB")
            .arg("--results-dir")
            .arg(results.path());
        c
    };
    for backend in ["cpu", "wgpu", "opencl"] {
        if !available(backend) {
            continue;
        }
        let out = hb()
            .args([
                "run",
                "--dry-run",
                "-b",
                backend,
                "-k",
                "all",
                "-s",
                "xlarge",
            ])
            .args(["-p", "all"])
            .assert()
            .success();
        let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        let rows = rows(&stdout);
        let kernels: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(kernels, ["gemm", "gemm", "nbody", "nbody"], "{stdout}");
        for r in &rows {
            assert_eq!(r[8], "yes", "{backend}: {r:?}");
        }
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(stderr.contains("not at size xlarge"), "{stderr}");
    }
    // `all` leaves it out.
    let out = hb()
        .args(["run", "--dry-run", "-b", "cpu", "-k", "gemm", "-s", "all"])
        .assert()
        .success();
    let sizes: Vec<String> = rows(&String::from_utf8_lossy(&out.get_output().stdout))
        .iter()
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(sizes, ["small", "medium", "large"]);
    // A plan of kernels none of which defines it is bad input, refused
    // before anything is created (no empty database left behind).
    hb().args(["run", "-b", "cpu", "-k", "stream_triad", "-s", "xlarge"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no kernel of the plan defines the optional size xlarge; kernels that do: gemm, nbody",
        ));
    assert_eq!(std::fs::read_dir(results.path()).unwrap().count(), 0);
}
