//! The preflight of the real binary on a node this test keeps busy: one
//! spinning thread per CPU in the test process, for the whole of each run.
//! Other processes busy on N of N CPUs always pass the busy threshold (a
//! quarter of the CPUs), so the assertions do not depend on timing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use assert_cmd::Command;

struct Spinners {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Spinners {
    fn start() -> Self {
        let n = std::thread::available_parallelism().unwrap().get();
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                })
            })
            .collect();
        Spinners { stop, threads }
    }
}

impl Drop for Spinners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn run(dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut c = Command::cargo_bin("hetbench").unwrap();
    c.env_remove("HETBENCH_DB")
        .env_remove("HETBENCH_CONFIG")
        .env_remove("HETBENCH_SYSFS_ROOT")
        .args(["--results-dir", dir.to_str().unwrap()])
        .args([
            "run",
            "--quick",
            "-b",
            "cpu",
            "-k",
            "stream_triad",
            "-s",
            "tiny",
            "--no-energy",
            "--idle-seconds",
            "0",
            "--threads",
            "1",
        ])
        .args(extra);
    c.output().unwrap()
}

#[test]
fn a_busy_node_is_warned_about_and_strict_refuses_storing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let _spin = Spinners::start();

    let strict = run(dir.path(), &["--strict"]);
    let err = String::from_utf8_lossy(&strict.stderr);
    assert_eq!(strict.status.code(), Some(4), "{err}");
    assert!(err.contains("warning: preflight: busy node"), "{err}");
    assert!(err.contains("--strict: the node is busy"), "{err}");
    assert!(!dir.path().join("hetbench.db").exists(), "{err}");
    assert!(!dir.path().join("runs").exists(), "{err}");

    let plain = run(dir.path(), &[]);
    let err = String::from_utf8_lossy(&plain.stderr);
    assert_eq!(plain.status.code(), Some(0), "{err}");
    let warning = err
        .lines()
        .find(|l| l.starts_with("warning: preflight: busy node"))
        .unwrap_or_else(|| panic!("no busy-node warning in:\n{err}"));
    // The spinning threads are this test process, named in the warning.
    let me = std::process::id().to_string();
    assert!(warning.contains(&format!("(pid {me})")), "{warning}");

    // The preflight is stored with the run's fingerprint.
    let runs: Vec<_> = std::fs::read_dir(dir.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(runs.len(), 1);
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&runs[0]).unwrap()).unwrap();
    let pf = &file["run"]["platform"]["preflight"];
    let other = pf["load"]["value"]["other_cpus"].as_f64().unwrap();
    let cpus = pf["load"]["value"]["logical_cpus"].as_u64().unwrap() as f64;
    assert!(other > 0.25 * cpus, "{pf}");
    assert_eq!(pf["advice"][0]["kind"], "busy_node", "{pf}");
    assert!(pf["throttling"].is_object(), "recorded at the end: {pf}");
}
