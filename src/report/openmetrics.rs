//! `hetbench export --format openmetrics`: the newest result of each kernel,
//! size, precision and device as Prometheus text exposition, for
//! node_exporter's textfile collector (`--collector.textfile.directory`;
//! write to a `.prom` file there, atomically: `--out DIR/x.prom.tmp` then
//! `mv`). Its rules shape the output: one `# HELP` and `# TYPE` per metric,
//! a metric's samples together, no two samples with the same labels (so
//! one result per label set: the newest), no timestamps (the collector
//! refuses them; `hetbench_result_recorded_seconds` says when instead),
//! label values escaped (`\\`, `\"`, `\n`).
//!
//! Every figure is a gauge in the SI unit its name ends with, or in the
//! kernel's unit named by the `unit` label (throughput: `GFLOP/s`, ...).
//! Energy metrics carry the reading's `scope` and `method` labels, so that
//! an estimated or modeled figure is never read as a measured one.

use std::collections::BTreeMap;

use crate::store::ResultRecord;

/// (name, help) of each metric, in output order.
const METRICS: [(&str, &str); 9] = [
    (
        "hetbench_result_ok",
        "1 when the newest result of this kernel, size, precision and device was measured and verified, 0 otherwise",
    ),
    (
        "hetbench_result_recorded_seconds",
        "When the result was recorded, seconds since the Unix epoch",
    ),
    (
        "hetbench_throughput",
        "Throughput from the median sample, in the unit label's unit",
    ),
    (
        "hetbench_throughput_ci95_low",
        "Lower end of the 95% interval of the median throughput",
    ),
    (
        "hetbench_throughput_ci95_high",
        "Upper end of the 95% interval of the median throughput",
    ),
    (
        "hetbench_median_seconds",
        "Median time of one kernel execution, seconds",
    ),
    (
        "hetbench_energy_average_watts",
        "Average power over the timed window, per meter, with its scope and method (estimated and modeled are labelled)",
    ),
    (
        "hetbench_energy_joules",
        "Energy over the timed window, per meter",
    ),
    (
        "hetbench_perf_per_watt",
        "Throughput per watt of the meter (work per joule), in the unit label's unit",
    ),
];

/// A label value, escaped as the text format wants.
fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c if c.is_control() => {}
            c => s.push(c),
        }
    }
    s
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// Seconds since the epoch of an RFC 3339 time, where it parses.
fn epoch_seconds(t: &str) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(t).ok()?;
    Some(t.timestamp_millis() as f64 / 1e3)
}

/// A sample's value: finite numbers only (the format's NaN would read as a
/// figure).
fn push(out: &mut BTreeMap<&'static str, Vec<String>>, name: &'static str, l: &str, v: f64) {
    if v.is_finite() {
        out.entry(name).or_default().push(format!("{name}{l} {v}"));
    }
}

/// The text exposition of `results` (the exporter is
/// [`crate::report::export::OpenMetricsExporter`]).
pub fn serialize(results: &[ResultRecord]) -> Vec<u8> {
    // The newest result per label set (records come oldest first).
    let mut newest: BTreeMap<[&str; 6], &ResultRecord> = BTreeMap::new();
    for r in results {
        let key = [
            r.hostname.as_str(),
            r.backend.as_str(),
            r.device.as_str(),
            r.kernel.as_str(),
            r.size.as_str(),
            r.precision.as_str(),
        ];
        match newest.get(&key) {
            Some(old) if old.recorded_at > r.recorded_at => {}
            _ => {
                newest.insert(key, r);
            }
        }
    }
    let mut samples: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for r in newest.values() {
        let base = [
            ("host", r.hostname.as_str()),
            ("platform", r.platform_label.as_deref().unwrap_or("")),
            ("kernel", r.kernel.as_str()),
            ("size", r.size.as_str()),
            ("precision", r.precision.as_str()),
            ("backend", r.backend.as_str()),
            ("device", r.device.as_str()),
            ("device_type", r.device_type.as_str()),
        ];
        let l = labels(&base);
        let ok = r.status.as_str() == "ok";
        push(
            &mut samples,
            "hetbench_result_ok",
            &l,
            f64::from(u8::from(ok)),
        );
        if let Some(t) = epoch_seconds(&r.recorded_at) {
            push(&mut samples, "hetbench_result_recorded_seconds", &l, t);
        }
        if !ok {
            continue;
        }
        let mut with_unit = base.to_vec();
        with_unit.push(("unit", r.throughput_unit.as_str()));
        let lu = labels(&with_unit);
        if let Some(t) = r.throughput {
            push(&mut samples, "hetbench_throughput", &lu, t);
        }
        if let Some(timing) = &r.timing {
            let s = &timing.summary;
            push(&mut samples, "hetbench_median_seconds", &l, s.median);
            if let Some(ci) = r.throughput_interval() {
                push(&mut samples, "hetbench_throughput_ci95_low", &lu, ci.low);
                push(&mut samples, "hetbench_throughput_ci95_high", &lu, ci.high);
            }
        }
        for e in &r.energy {
            let mut el = base.to_vec();
            el.extend([
                ("meter", e.meter.as_str()),
                ("scope", e.scope.as_str()),
                ("method", e.method.as_str()),
            ]);
            let le = labels(&el);
            push(&mut samples, "hetbench_energy_average_watts", &le, e.avg_w);
            push(&mut samples, "hetbench_energy_joules", &le, e.energy_j);
            if let Some(p) = e.perf_per_w {
                el.push(("unit", e.perf_per_w_unit.as_str()));
                push(&mut samples, "hetbench_perf_per_watt", &labels(&el), p);
            }
        }
    }
    let mut text = String::new();
    for (name, help) in METRICS {
        let Some(lines) = samples.get(name) else {
            continue;
        };
        text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
    }
    text.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_controls_dropped() {
        assert_eq!(
            labels(&[("a", "x\"y\\z\nw\u{1b}")]),
            "{a=\"x\\\"y\\\\z\\nw\"}"
        );
        assert_eq!(epoch_seconds("1970-01-01T00:01:40Z"), Some(100.0));
    }
}
