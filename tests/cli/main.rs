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

mod catalogue;
mod dry_run;
mod energy;
mod fleet;
mod fpga;
mod hostile;
mod inspect;
mod rapl;
mod robustness;
mod run;
mod shaders;
mod store;
