//! The store: `results` filters, exports, `import` and damaged or foreign records.

use super::*;

#[test]
fn results_filters_and_exports() {
    let s = Scratch::new();
    s.quick_run();
    let gemm = s.results_json(&["--kernel", "gemm"]);
    assert_eq!(gemm.len(), 1);
    assert_eq!(gemm[0]["kernel"], "gemm");
    assert_eq!(s.results_json(&["--limit", "2"]).len(), 2);
    s.hb()
        .args(["results", "--status", "bogus"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown status 'bogus'"));
    s.hb()
        .arg("results")
        .assert()
        .success()
        .stdout(predicate::str::is_match("(?m)^nbody +small +f32 +cpu").unwrap());

    let out = s
        .hb()
        .args(["export", "--format", "csv"])
        .assert()
        .success();
    let csv = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].starts_with("run_id,hostname,platform_hash,kernel,"));
    assert_eq!(lines[1].split(',').nth(3), Some("stream_triad"));

    let md = s.path("out.md");
    s.hb()
        .args(["export", "--format", "markdown", "--out"])
        .arg(&md)
        .assert()
        .success();
    let md = std::fs::read_to_string(md).unwrap();
    assert!(
        md.starts_with("| kernel | size | precision | backend |"),
        "{md}"
    );
    assert_eq!(md.lines().count(), 5);

    let out = s
        .hb()
        .args(["export", "--format", "json", "-k", "nbody"])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    s.hb()
        .args(["export", "--format", "xml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "valid formats: json, csv, markdown, openmetrics, hep-benchmark-suite",
        ));
}

/// The OpenMetrics export: every sample under its declared metric,
/// no two with the same labels, the throughput the stored one.
#[test]
fn openmetrics_export_is_well_formed_and_carries_the_stored_figures() {
    let s = Scratch::new();
    s.quick_run();
    s.quick_run();
    let out = s
        .hb()
        .args(["export", "--format", "openmetrics"])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let mut declared = std::collections::BTreeSet::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(kind, "gauge");
            assert!(declared.insert(name.to_string()), "{name} declared twice");
            current = name.to_string();
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let name = series.split('{').next().unwrap();
        assert_eq!(name, current, "a sample away from its metric: {line}");
        assert!(value.parse::<f64>().unwrap().is_finite(), "{line}");
        assert!(seen.insert(series.to_string()), "duplicate series {series}");
    }
    // Two runs of three kernels: one series per kernel (the newest).
    let ok: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("hetbench_result_ok{"))
        .collect();
    assert_eq!(ok.len(), 3, "{text}");
    let newest = s.results_json(&["--kernel", "gemm", "--limit", "1"]);
    let t = newest[0]["throughput"].as_f64().unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("hetbench_throughput{") && l.contains("kernel=\"gemm\""))
        .unwrap();
    let v: f64 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
    assert!((v - t).abs() <= 1e-9 * t, "{v} {t}");
    assert!(
        text.contains("scope=\"estimated\",method=\"estimated\""),
        "{text}"
    );
}

/// The HEP Benchmark Suite export: one run in the suite's layout, its
/// scores those of `score`; two runs at once are refused.
#[test]
fn hep_benchmark_suite_export_is_one_run_in_the_suites_layout() {
    let s = Scratch::new();
    s.quick_run();
    s.quick_run();
    s.hb()
        .args(["export", "--format", "hep-benchmark-suite"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("choose one with --run ID"));
    let run_id = s.results_json(&["--limit", "1"])[0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = s
        .hb()
        .args([
            "export",
            "--format",
            "hep-benchmark-suite",
            "--run",
            &run_id,
        ])
        .assert()
        .success();
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    for key in [
        "host",
        "suite",
        "_id",
        "_timestamp",
        "json_version",
        "profiles",
        "plugins",
    ] {
        assert!(doc.get(key).is_some(), "no {key}: {doc}");
    }
    assert!(doc["host"]["hostname"].is_string());
    assert!(doc["host"]["HW"]["CPU"]["CPU_Model"].is_string());
    let profile = &doc["profiles"]["hetbench"];
    assert_eq!(profile["run_id"], run_id.as_str());
    assert_eq!(profile["results"], 3);
    let gemm = &profile["devices"]["cpu:cpu0"]["kernels"]["gemm"];
    let score = s
        .hb()
        .args(["score", "--json", "--allow-partial", "--run", &run_id])
        .assert()
        .success();
    let score: Value = serde_json::from_slice(&score.get_output().stdout).unwrap();
    let want = score["subjects"][0]["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kernel"] == "gemm")
        .unwrap();
    assert_eq!(gemm["ratio"], want["ratio"]);
    assert_eq!(gemm["ratio_ci95"], want["ratio_ci95"]);
    // The energy, as plugin data: one reading per result, in watts.
    let during = doc["plugins"]["hetbench-energy"]["hetbench"]
        .as_object()
        .unwrap();
    assert_eq!(during.len(), 3);
    assert!(during.values().all(|m| m["config"]["unit"] == "W"
        && m["config"]["scope"].is_string()
        && m["values"][0].as_f64().unwrap() > 0.0));
}

#[test]
fn import_is_idempotent_by_run_id() {
    let s = Scratch::new();
    let run_file = s.quick_run();
    let other = s.path("other.db");
    s.hb()
        .arg("--db")
        .arg(&other)
        .arg("import")
        .arg(&run_file)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "(new), 3 results imported, 0 already present",
        ));
    s.hb()
        .arg("--db")
        .arg(&other)
        .arg("import")
        .arg(&run_file)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "(already known), 0 results imported, 3 already present",
        ));
    let out = s
        .hb()
        .arg("--db")
        .arg(&other)
        .args(["results", "--json"])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v.as_array().unwrap(), &s.results_json(&[]));
}

#[test]
fn corrupt_or_truncated_json_imports_nothing() {
    let s = Scratch::new();
    let run_file = s.quick_run();
    let text = std::fs::read_to_string(&run_file).unwrap();
    let truncated = s.path("truncated.json");
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    let other = s.path("other.db");
    // A good file followed by a truncated one: neither is imported.
    s.hb()
        .arg("--db")
        .arg(&other)
        .arg("import")
        .arg(&run_file)
        .arg(&truncated)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(truncated.display().to_string()))
        .stderr(predicate::str::contains("not valid JSON"));
    s.assert_empty(&other);

    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["schema_version"] = 99.into();
    let future = s.path("future.json");
    std::fs::write(&future, v.to_string()).unwrap();
    s.hb()
        .arg("import")
        .arg(&future)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unknown run-file schema version 99",
        ));

    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["results"][1]["run_id"] = "someone-else".into();
    let mixed = s.path("mixed.json");
    std::fs::write(&mixed, v.to_string()).unwrap();
    s.hb()
        .arg("import")
        .arg(&mixed)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("results[1].run_id"));
    // The original database still holds its three results.
    assert_eq!(s.results_json(&[]).len(), 3);
}

#[test]
fn impossible_figures_are_refused_with_the_field_named() {
    let s = Scratch::new();
    let run_file = s.quick_run();
    let text = std::fs::read_to_string(&run_file).unwrap();
    let other = s.path("other.db");
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit, &str); 5] = [
        (
            "negative min",
            |v| v["results"][0]["timing"]["summary"]["min"] = (-1.0).into(),
            "results[0] (stream_triad",
        ),
        (
            "negative stddev",
            |v| v["results"][1]["timing"]["summary"]["stddev"] = (-1.0).into(),
            "timing.summary.stddev: -1 is not a finite non-negative number",
        ),
        (
            "min above max",
            |v| v["results"][2]["timing"]["host"]["min"] = 1e9.into(),
            "timing.host: min 1000000000",
        ),
        (
            "ok but not verified",
            |v| v["results"][0]["verification"]["passed"] = false.into(),
            "status: ok but verification did not pass",
        ),
        (
            "negative power",
            |v| v["results"][0]["energy"][0]["avg_w"] = (-5.0).into(),
            "energy[0].avg_w",
        ),
    ];
    for (what, edit, says) in cases {
        let mut v: Value = serde_json::from_str(&text).unwrap();
        edit(&mut v);
        let bad = s.path("bad.json");
        std::fs::write(&bad, v.to_string()).unwrap();
        s.hb()
            .arg("--db")
            .arg(&other)
            .arg("import")
            .arg(&bad)
            .assert()
            .append_context("case", what)
            .code(2)
            .stderr(predicate::str::contains(bad.display().to_string()))
            .stderr(predicate::str::contains(says));
    }
    s.assert_empty(&other);
}

#[test]
fn an_unreadable_stored_record_is_skipped_and_named_not_fatal() {
    // A record stored by an earlier version with a non-finite figure
    // (serde_json wrote it as null) used to make every read fail.
    let s = Scratch::new();
    s.quick_run();
    let conn = rusqlite::Connection::open(s.db()).unwrap();
    let (id, json): (i64, String) = conn
        .query_row(
            "SELECT id, record_json FROM results ORDER BY id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let mut v: Value = serde_json::from_str(&json).unwrap();
    v["timing"]["summary"]["median"] = Value::Null;
    conn.execute(
        "UPDATE results SET record_json = ?1 WHERE id = ?2",
        rusqlite::params![v.to_string(), id],
    )
    .unwrap();
    drop(conn);
    for args in [
        &["results", "--json"][..],
        &["export", "--format", "csv"][..],
    ] {
        s.hb()
                .args(args)
                .assert()
                .success()
                .stderr(predicate::str::contains(format!(
                    "1 stored result record(s) could not be read and were skipped (first: row {id}, run "
                )));
    }
    assert_eq!(s.results_json(&[]).len(), 2);
}

#[test]
fn newer_schema_and_foreign_files_are_refused_untouched() {
    let s = Scratch::new();
    s.quick_run();
    {
        let conn = rusqlite::Connection::open(s.db()).unwrap();
        conn.execute("UPDATE schema_version SET version = 99", [])
            .unwrap();
    }
    let before = std::fs::read(s.db()).unwrap();
    s.hb()
        .args(["run", "--quick", "-b", "cpu", "-k", CORE])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "has schema version 99, newer than the 3",
        ));
    s.hb().arg("results").assert().code(2);
    assert_eq!(std::fs::read(s.db()).unwrap(), before);

    let garbage = s.path("garbage.db");
    std::fs::write(&garbage, vec![0x42u8; 8192]).unwrap();
    s.hb()
        .arg("--db")
        .arg(&garbage)
        .arg("results")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "is not a hetbench results database",
        ));
    assert_eq!(std::fs::read(&garbage).unwrap(), vec![0x42u8; 8192]);
}
