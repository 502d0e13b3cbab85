//! The terminal output of a quick `hetbench run`: one screen of stderr,
//! one line per kind of warning, skips in one note per reason, a tally
//! that matches what was stored, and `--verbose` with per-result details.

use assert_cmd::Command;

fn hetbench(dir: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("hetbench").unwrap();
    c.env_remove("HETBENCH_DB")
        .env_remove("HETBENCH_CONFIG")
        .env_remove("HETBENCH_SYSFS_ROOT")
        .env_remove("XDG_RUNTIME_DIR")
        .args(["--results-dir", dir.to_str().unwrap()]);
    c
}

const RUN: [&str; 8] = [
    "run",
    "--quick",
    "-s",
    "tiny",
    "-b",
    "cpu,fpga-emu",
    "--idle-seconds",
    "0",
];

#[test]
fn a_quick_run_prints_one_screen_and_a_tally_that_matches_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let out = hetbench(dir.path()).args(RUN).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines.len() <= 25, "{} lines:\n{err}", lines.len());
    // The results table and the modeled view fit 120 columns.
    let table = String::from_utf8_lossy(&out.stdout);
    let widest = |t: &str| t.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest(&table) <= 120, "{table}");
    assert!(
        table.starts_with("kernel ")
            && table.contains("modeled results (FPGA emulation, NOT measured"),
        "{table}"
    );
    // XDG_RUNTIME_DIR was unset: Mesa is given a private one, and is quiet.
    assert!(!err.contains("XDG_RUNTIME_DIR"), "{err}");
    // The FPGA kernels without a fixed-point path are one note per reason
    // (today only mc_transport, which gives its own; those that give none
    // would share one).
    let fixed: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("no fixed-point path"))
        .collect();
    assert!((1..=2).contains(&fixed.len()), "{err}");
    assert!(fixed.iter().all(|l| l.starts_with("note: ")), "{err}");
    assert!(
        fixed
            .iter()
            .any(|l| l.contains("mc_transport") && l.contains("needs log and exp")),
        "{err}"
    );
    assert!(
        !err.contains("shorter than 10x"),
        "the estimate has no interval: {err}"
    );

    let tally = lines
        .iter()
        .find_map(|l| l.strip_prefix("tally: "))
        .unwrap_or_else(|| panic!("no tally in:\n{err}"));
    let figures: Vec<usize> = tally
        .split(", ")
        .map(|p| p.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        err.contains("next: hetbench summary | hetbench report"),
        "{err}"
    );

    let stored = hetbench(dir.path())
        .args(["results", "--json"])
        .output()
        .unwrap();
    let records: Vec<serde_json::Value> = serde_json::from_slice(&stored.stdout).unwrap();
    let count = |names: &[&str]| {
        records
            .iter()
            .filter(|r| names.contains(&r["status"].as_str().unwrap()))
            .count()
    };
    let warnings: usize = records
        .iter()
        .map(|r| {
            r["warnings"].as_array().map_or(0, |w| w.len())
                + r["energy"].as_array().map_or(0, |e| {
                    e.iter()
                        .map(|m| m["flags"].as_array().map_or(0, |f| f.len()))
                        .sum()
                })
        })
        .sum();
    assert_eq!(
        figures,
        vec![
            count(&["ok"]),
            count(&["verify_failed"]),
            count(&["error", "timeout", "crashed"]),
            count(&["skipped"]),
            warnings
        ],
        "{tally}"
    );
    assert!(count(&["skipped"]) > 1, "the FPGA skips are there: {tally}");
    // The compact table counts the skipped results; `--wide` lists them
    // with every column.
    assert!(
        table.contains(&format!(
            "{} skipped result(s) not listed",
            count(&["skipped"])
        )),
        "{table}"
    );
    let wide = hetbench(dir.path())
        .args(["results", "--wide"])
        .output()
        .unwrap();
    let wide = String::from_utf8_lossy(&wide.stdout);
    assert!(
        wide.contains("median 95% CI") && widest(&wide) > 120,
        "{wide}"
    );
    assert_eq!(
        wide.lines().filter(|l| l.contains("  skipped  ")).count(),
        count(&["skipped"]),
        "{wide}"
    );

    // --verbose: each skipped result on its own line, with its device.
    let verbose = hetbench(dir.path())
        .args(RUN)
        .arg("--verbose")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&verbose.stderr);
    let per_result = err
        .lines()
        .filter(|l| l.starts_with("skipped: ") && l.contains(" on fpga-emu "))
        .count();
    assert_eq!(per_result, count(&["skipped"]), "{err}");
}
