//! The HS23 figure of a node, read from the JSON report of the HEP
//! Benchmark Suite (`bmkrun`), so that a centre states cost and carbon per
//! kHS23-year, the unit WLCG pledges and accounts in, from the report it
//! already has rather than a number copied by hand.
//!
//! The fields read (the suite's report layout, `json_version` v2 and
//! later; everything else in the document is ignored):
//!
//! | field | use |
//! |---|---|
//! | `profiles.hepscore.score` | the HS23 figure: a finite number > 0 |
//! | `profiles.hepscore.status` | must be `success` |
//! | `profiles.hepscore.settings.name` (HEPscore 1.5+) or `.app_info.name` (older) | must be `HEPscore23`: a HEPscore19 or HEPscore23Beta score is another unit |
//! | `host.hostname` | shown with the figure, so that a report of the wrong node is seen |
//! | `_timestamp`, `profiles.hepscore.settings.repetitions` | shown with the figure |
//!
//! Anything else is an error naming the file and the field, exit 2.
//!
//! The other way, [`document`] writes one run as a suite report (`hetbench
//! export --format hep-benchmark-suite`), so that a site's pipeline that
//! ingests the suite's reports (AMQ, OpenSearch) takes hetbench's too: the
//! same `host` (`hostname`, `SW`, `HW.CPU`, `HW.MEMORY`), `suite`, `_id`,
//! `_timestamp`, `_timestamp_end` and `json_version` keys, a `hetbench`
//! profile beside where `hepscore` would be (per device: the overall, domain
//! and kernel scores against the reference, each with its 95% interval and
//! coverage), and the energy as plugin data in the suite's plugin layout
//! (`plugins.<plugin>.<phase>.<metric>` with `values`, `statistics` and
//! `config.unit`): the idle baseline in phase `pre`, each result's reading
//! in phase `hetbench`, each with its scope and method.

use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::report::score::ScoreReport;
use crate::store::{ResultRecord, RunRecord};

/// The report layout version [`document`] writes (the suite's v2 layout).
pub const JSON_VERSION: &str = "v2.0";

/// The HEPscore configuration whose score is HS23.
pub const HS23_NAME: &str = "HEPscore23";

/// The HS23 figure of one HEP Benchmark Suite report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hs23Report {
    pub path: String,
    pub score: f64,
    pub hostname: Option<String>,
    pub timestamp: Option<String>,
    pub repetitions: Option<u64>,
}

impl Hs23Report {
    /// Where the figure came from, for provenance columns.
    pub fn source(&self) -> String {
        let mut s = format!("HEP Benchmark Suite report {}", self.path);
        if let Some(h) = &self.hostname {
            s.push_str(&format!(", host {h}"));
        }
        if let Some(t) = &self.timestamp {
            s.push_str(&format!(", {t}"));
        }
        if let Some(r) = self.repetitions {
            s.push_str(&format!(", {r} repetition(s)"));
        }
        s
    }
}

/// Reads the HS23 figure of the report at `path`.
pub fn read(path: &Path) -> Result<Hs23Report> {
    let text = crate::input::read_text(path, crate::input::RUN_FILE_LIMIT)?;
    parse(&text, &path.display().to_string())
}

/// Parses report text; `path` names it in errors.
pub fn parse(text: &str, path: &str) -> Result<Hs23Report> {
    let bad = |message: String| Error::InvalidValue {
        what: format!("HEP Benchmark Suite report {path}"),
        message,
    };
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        bad(format!(
            "not JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
    })?;
    let hepscore = doc
        .pointer("/profiles/hepscore")
        .ok_or_else(|| bad("no `profiles.hepscore`: the suite ran no HEPscore".into()))?;
    let name = ["/settings/name", "/app_info/name"]
        .iter()
        .find_map(|p| hepscore.pointer(p))
        .ok_or_else(|| {
            bad("no `profiles.hepscore.settings.name` (or `.app_info.name`): which HEPscore this is is not said".into())
        })?;
    if name.as_str() != Some(HS23_NAME) {
        return Err(bad(format!(
            "`profiles.hepscore` name is {name}, not \"{HS23_NAME}\": its score is not HS23"
        )));
    }
    match hepscore.get("status") {
        Some(Value::String(s)) if s == "success" => {}
        Some(other) => {
            return Err(bad(format!(
                "`profiles.hepscore.status` is {other}, not \"success\": its score is not a whole HS23"
            )));
        }
        None => return Err(bad("no `profiles.hepscore.status`".into())),
    }
    let score = match hepscore.get("score").and_then(Value::as_f64) {
        Some(s) if s.is_finite() && s > 0.0 => s,
        _ => {
            return Err(bad(format!(
                "`profiles.hepscore.score` is {}, not a number > 0",
                hepscore.get("score").unwrap_or(&Value::Null)
            )));
        }
    };
    let text_at = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    Ok(Hs23Report {
        path: path.to_string(),
        score,
        hostname: text_at(&doc, "/host/hostname"),
        timestamp: text_at(&doc, "/_timestamp"),
        repetitions: hepscore
            .pointer("/settings/repetitions")
            .and_then(Value::as_u64),
    })
}

/// One run as a HEP Benchmark Suite report: its node, the scores of its
/// devices in `score` (computed over this run's results; where there is
/// none, why) and its energy.
pub fn document(
    run: &RunRecord,
    results: &[ResultRecord],
    score: std::result::Result<&ScoreReport, String>,
) -> Value {
    let p = &run.platform;
    let devices = devices(&score);
    let ok = results.iter().filter(|r| r.status.as_str() == "ok").count();
    let status = if ok == results.len() && run.status.as_str() == "finished" {
        "success"
    } else {
        "partial"
    };
    let (pre, during) = energy_plugin(run, results);
    json!({
        "host": {
            "hostname": p.hostname,
            "tags": {"platform_label": p.label, "platform_hash": p.hash},
            "SW": {"os_version": format!("{} {}", p.os, p.os_version), "kernel_version": p.kernel_version},
            "HW": {
                "CPU": {"Architecture": p.arch, "CPU_Model": p.cpu.brand, "Vendor_ID": p.cpu.vendor,
                        "CPU": p.cpu.logical_cpus.to_string(),
                        "Cores": p.cpu.physical_cores.map(|c| c.to_string()),
                        "CPU_Max_Speed_MHz": p.cpu.frequency_mhz.to_string()},
                "MEMORY": {"Mem_Total": (p.memory_bytes / 1024).to_string()},
            },
        },
        "suite": {"version": format!("hetbench {}", run.harness_version),
                  "flags": {"command": run.command},
                  "benchmark_version": {"hetbench": run.suite_version}},
        "_id": format!("{}_{}", p.hostname, run.started_at),
        "_timestamp": run.started_at,
        "_timestamp_end": run.finished_at,
        "json_version": JSON_VERSION,
        "profiles": {"hetbench": {
            "run_id": run.run_id,
            "status": status,
            "results": results.len(), "ok": ok,
            "reference": score.as_ref().ok().map(|s| s.reference.clone()),
            "intervals": score.as_ref().ok().map(|s| s.intervals.clone()),
            "score_note": score.as_ref().err(),
            "method": "geometric_mean",
            "devices": devices,
        }},
        "plugins": {"hetbench-energy": {"pre": pre, "hetbench": during}},
    })
}

/// The score per device: overall, per domain and per kernel, each with
/// its interval and energy basis.
fn devices(score: &std::result::Result<&ScoreReport, String>) -> serde_json::Map<String, Value> {
    let interval = |ci: Option<(f64, f64)>| ci.map(|(l, h)| json!([l, h]));
    let mut devices = serde_json::Map::new();
    let subjects = score.as_ref().map(|s| s.subjects.as_slice()).unwrap_or(&[]);
    for s in subjects {
        let domains: serde_json::Map<String, Value> = s
            .domains
            .iter()
            .map(|d| {
                (
                    d.domain.as_str().to_string(),
                    json!({"score": d.score, "score_ci95": interval(d.score_ci95),
                           "score_per_watt": d.per_watt, "score_per_watt_ci95": interval(d.per_watt_ci95),
                           "energy_scope": d.per_watt_scope, "energy_method": d.per_watt_method,
                           "counted": d.counted, "covered": d.covered, "of": d.of}),
                )
            })
            .collect();
        let kernels: serde_json::Map<String, Value> = s
            .kernels
            .iter()
            .map(|k| {
                (
                    k.kernel.clone(),
                    json!({"domain": k.domain.as_str(), "ratio": k.ratio, "ratio_ci95": interval(k.ratio_ci95),
                           "ratio_per_watt": k.per_watt, "ratio_per_watt_ci95": interval(k.per_watt_ci95),
                           "energy_estimated": k.per_watt_estimated,
                           "sizes": k.ratios.iter().map(|(size, precision, r)| json!({"size": size, "precision": precision, "ratio": r})).collect::<Vec<_>>()}),
                )
            })
            .collect();
        devices.insert(
            format!("{}:{}", s.subject.backend, s.subject.device),
            json!({"name": s.subject.device_name, "device_type": s.subject.device_type,
                   "modeled": s.subject.modeled,
                   "score": s.overall, "score_ci95": interval(s.overall_ci95),
                   "score_per_watt": s.overall_per_watt, "score_per_watt_ci95": interval(s.overall_per_watt_ci95),
                   "energy_scope": s.overall_per_watt_scope, "energy_method": s.overall_per_watt_method,
                   "energy_estimated": s.overall_per_watt_estimated,
                   "covered": s.covered, "of": s.of, "missing": s.missing, "partial": s.partial,
                   "domains": domains, "kernels": kernels}),
        );
    }
    devices
}

/// The energy plugin's idle readings ("pre") and each result's readings.
fn energy_plugin(
    run: &RunRecord,
    results: &[ResultRecord],
) -> (
    serde_json::Map<String, Value>,
    serde_json::Map<String, Value>,
) {
    let metric = |w: f64, unit: &str, config: Value| {
        let mut config = config;
        config["unit"] = json!(unit);
        json!({"values": [w], "statistics": {"min": w, "mean": w, "median": w, "max": w,
               "total_count": 1, "valid_count": 1}, "config": config})
    };
    let mut pre = serde_json::Map::new();
    for i in &run.idle {
        pre.insert(
            format!("{} idle power", i.meter),
            metric(
                i.avg_w,
                "W",
                json!({"scope": i.scope.as_str(), "method": i.method.as_str(), "seconds": i.seconds}),
            ),
        );
    }
    let mut during = serde_json::Map::new();
    for r in results {
        for e in &r.energy {
            let mut m = metric(
                e.avg_w,
                "W",
                json!({"scope": e.scope.as_str(), "method": e.method.as_str(), "covers": e.covers,
                       "energy_j": e.energy_j, "window_s": e.window_s, "idle_w": e.idle_w,
                       "perf_per_w": e.perf_per_w, "perf_per_w_unit": e.perf_per_w_unit}),
            );
            m["tend"] = json!(r.recorded_at);
            during.insert(
                format!(
                    "{} {} {} {}:{} {}",
                    r.kernel, r.size, r.precision, r.backend, r.device, e.meter
                ),
                m,
            );
        }
    }
    (pre, during)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of a suite report, cut to what is read plus a neighbour.
    fn report(name: &str, status: &str, score: &str) -> String {
        format!(
            r#"{{"host": {{"hostname": "wn042.site.example", "HW": {{}}}},
                "_timestamp": "2026-10-01T09:20:21Z", "json_version": "v3.0",
                "profiles": {{"DB12": {{"value": 20.8}},
                  "hepscore": {{"settings": {{"name": "{name}", "repetitions": 3}},
                                "score": {score}, "status": "{status}",
                                "score_per_core": 13.7}}}}}}"#
        )
    }

    #[test]
    fn reads_the_hepscore23_score_and_its_provenance() {
        let r = parse(&report("HEPscore23", "success", "875.9"), "r.json").unwrap();
        assert_eq!(r.score, 875.9);
        assert_eq!(r.hostname.as_deref(), Some("wn042.site.example"));
        assert_eq!(r.repetitions, Some(3));
        assert_eq!(
            r.source(),
            "HEP Benchmark Suite report r.json, host wn042.site.example, 2026-10-01T09:20:21Z, 3 repetition(s)"
        );
        // The older layout names the configuration under app_info.
        let old = r#"{"profiles": {"hepscore": {"app_info": {"name": "HEPscore23"},
                      "score": 512, "status": "success"}}}"#;
        assert_eq!(parse(old, "o.json").unwrap().score, 512.0);
    }

    #[test]
    fn another_unit_or_a_failed_run_is_refused_naming_the_field() {
        for (text, want) in [
            (report("HEPscore19", "success", "875.9"), "HEPscore19"),
            (
                report("HEPscore23Beta", "success", "875.9"),
                "HEPscore23Beta",
            ),
            (report("HEPscore23", "failed", "875.9"), "status"),
            (report("HEPscore23", "success", "-1"), "score"),
            (report("HEPscore23", "success", "\"n/a\""), "score"),
            (
                r#"{"profiles": {"DB12": {}}}"#.to_string(),
                "profiles.hepscore",
            ),
            ("{not json".to_string(), "not JSON (line 1"),
        ] {
            let err = parse(&text, "r.json").unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("r.json") && msg.contains(want), "{msg}");
            assert_eq!(err.exit_code(), crate::error::EXIT_BAD_INPUT);
        }
    }
}
