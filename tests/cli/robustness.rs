//! Crashes, hangs, interrupts, concurrent writers and refused sizes.

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
