//! Exporters, one per format behind one trait (hyperfine's design). Table
//! formats share [`MarkupExporter`] so that each only writes its syntax.

use crate::error::Result;
use crate::report::table;
use crate::store::ResultRecord;

/// Serialises results into one format.
pub trait Exporter {
    fn serialize(&self, results: &[ResultRecord]) -> Result<Vec<u8>>;
}

/// The formats `hetbench export` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Markdown,
    /// node_exporter's textfile collector (Prometheus/OpenMetrics text).
    OpenMetrics,
    /// One run as a HEP Benchmark Suite report: it needs the run and a
    /// score, so it is written by [`crate::report::hep_suite::document`],
    /// not by an [`Exporter`].
    HepBenchmarkSuite,
}

impl Format {
    pub const NAMES: [&'static str; 5] = [
        "json",
        "csv",
        "markdown",
        "openmetrics",
        "hep-benchmark-suite",
    ];

    pub fn parse(name: &str) -> crate::error::Result<Format> {
        match name {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "markdown" | "md" => Ok(Format::Markdown),
            "openmetrics" => Ok(Format::OpenMetrics),
            "hep-benchmark-suite" => Ok(Format::HepBenchmarkSuite),
            _ => Err(crate::error::Error::UnknownName {
                what: "format",
                name: name.into(),
                valid: Self::NAMES.join(", "),
            }),
        }
    }

    /// The exporter of a format that needs only the results; `None` for
    /// [`Format::HepBenchmarkSuite`].
    pub fn exporter(self) -> Option<Box<dyn Exporter>> {
        match self {
            Format::Json => Some(Box::new(JsonExporter)),
            Format::Csv => Some(Box::new(CsvExporter)),
            Format::Markdown => Some(Box::new(MarkdownExporter)),
            Format::OpenMetrics => Some(Box::new(OpenMetricsExporter)),
            Format::HepBenchmarkSuite => None,
        }
    }
}

/// node_exporter's textfile format ([`crate::report::openmetrics`]).
pub struct OpenMetricsExporter;

impl Exporter for OpenMetricsExporter {
    fn serialize(&self, results: &[ResultRecord]) -> Result<Vec<u8>> {
        Ok(crate::report::openmetrics::serialize(results))
    }
}

/// Every field of every record, as a JSON array.
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn serialize(&self, results: &[ResultRecord]) -> Result<Vec<u8>> {
        // serde_json escapes C0 controls; DEL and C1 (a raw CSI) are
        // escaped here, in JSON's own `\u009b` form.
        let text = serde_json::to_string_pretty(results)?;
        let mut v = table::escape_controls(&text, &['\n'])
            .into_owned()
            .into_bytes();
        v.push(b'\n');
        Ok(v)
    }
}

/// A flat table with the numeric fields in SI units, one row per result.
pub struct CsvExporter;

/// Columns of the CSV export (values in seconds, bytes, FLOP).
pub const CSV_COLUMNS: [&str; 36] = [
    "run_id",
    "hostname",
    "platform_hash",
    "kernel",
    "kernel_version",
    "kernel_hash",
    "size",
    "precision",
    "backend",
    "device",
    "device_name",
    "device_type",
    "status",
    "timer",
    "n",
    "median_s",
    "mean_s",
    "stddev_s",
    "min_s",
    "max_s",
    "median_ci95_low_s",
    "median_ci95_high_s",
    "throughput",
    "throughput_ci95_low",
    "throughput_ci95_high",
    "throughput_unit",
    "verify_max_rel_error",
    "message",
    "energy_meter",
    "energy_scope",
    "energy_method",
    "energy_j",
    "avg_w",
    "idle_w",
    "active_w",
    "perf_per_w",
];

/// A text cell of the CSV export: control characters escaped, a cell that a
/// spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab
/// or CR) prefixed with `'` as OWASP advises, quoted where needed.
fn csv_text(s: &str) -> String {
    let neutral = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    csv_quoted(&table::escape_controls(&neutral, &[]))
}

fn csv_quoted(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl Exporter for CsvExporter {
    fn serialize(&self, results: &[ResultRecord]) -> Result<Vec<u8>> {
        let mut out = CSV_COLUMNS.join(",");
        out.push('\n');
        // Numbers are written as numbers (a negative one stays one); only
        // text cells go through `csv_text`.
        let num = |v: Option<f64>| v.map(|v| format!("{v:e}")).unwrap_or_default();
        let text = |v: &str| csv_text(v);
        for r in results {
            let t = r.timing.as_ref();
            let s = t.map(|t| &t.summary);
            let e = r.primary_energy();
            let cells = [
                text(&r.run_id),
                text(&r.hostname),
                text(&r.platform_hash),
                text(&r.kernel),
                text(&r.kernel_version),
                text(&r.kernel_hash),
                text(&r.size),
                text(r.precision.as_str()),
                text(r.backend.as_str()),
                text(&r.device),
                text(&r.device_name),
                text(r.device_type.as_str()),
                text(r.status.as_str()),
                text(t.map(|t| t.timer.as_str()).unwrap_or_default()),
                s.map(|s| s.n.to_string()).unwrap_or_default(),
                num(s.map(|s| s.median)),
                num(s.map(|s| s.mean)),
                num(s.map(|s| s.stddev)),
                num(s.map(|s| s.min)),
                num(s.map(|s| s.max)),
                num(r.median_interval().map(|c| c.low)),
                num(r.median_interval().map(|c| c.high)),
                num(r.throughput),
                num(r.throughput_interval().map(|c| c.low)),
                num(r.throughput_interval().map(|c| c.high)),
                text(&r.throughput_unit),
                num(r.verification.as_ref().map(|v| v.max_rel_error)),
                text(r.message.as_deref().unwrap_or_default()),
                text(e.map(|e| e.meter.as_str()).unwrap_or_default()),
                text(e.map(|e| e.scope.as_str()).unwrap_or_default()),
                text(e.map(|e| e.method.as_str()).unwrap_or_default()),
                num(e.map(|e| e.energy_j)),
                num(e.map(|e| e.avg_w)),
                num(e.and_then(|e| e.idle_w)),
                num(e.and_then(|e| e.active_w)),
                num(e.and_then(|e| e.perf_per_w)),
            ];
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        Ok(out.into_bytes())
    }
}

/// A table format: writes a heading row, a separator and body rows.
pub trait MarkupExporter {
    fn table_row(&self, cells: &[&str]) -> String;
    fn table_divider(&self, columns: usize) -> String;
}

impl<T: MarkupExporter> Exporter for T {
    fn serialize(&self, results: &[ResultRecord]) -> Result<Vec<u8>> {
        let mut out = self.table_row(&table::HEADINGS);
        out.push_str(&self.table_divider(table::HEADINGS.len()));
        for r in results {
            let row = table::row(r);
            out.push_str(&self.table_row(&row.iter().map(|s| s.as_str()).collect::<Vec<_>>()));
        }
        Ok(out.into_bytes())
    }
}

pub struct MarkdownExporter;

impl MarkupExporter for MarkdownExporter {
    fn table_row(&self, cells: &[&str]) -> String {
        let escaped: Vec<String> = cells
            .iter()
            .map(|c| table::escape_controls(c, &[]).replace('|', "\\|"))
            .collect();
        format!("| {} |\n", escaped.join(" | "))
    }

    fn table_divider(&self, columns: usize) -> String {
        format!("|{}\n", "---|".repeat(columns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_text("plain"), "plain");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn csv_text_that_a_spreadsheet_would_run_is_neutralised() {
        assert_eq!(csv_text("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(
            csv_text("=HYPERLINK(\"http://x\",\"y\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""
        );
        for lead in ["+1", "-1+2", "@SUM(A1)"] {
            assert_eq!(csv_text(lead), format!("'{lead}"));
        }
        assert_eq!(csv_text("\tx"), "'\\u0009x");
        assert_eq!(csv_text("\r=x"), "'\\u000d=x");
        assert_eq!(csv_text("a\u{1b}[2Jb"), "a\\u001b[2Jb");
    }

    #[test]
    fn markdown_escapes_pipes() {
        assert_eq!(MarkdownExporter.table_row(&["a|b", "c"]), "| a\\|b | c |\n");
        assert_eq!(MarkdownExporter.table_divider(2), "|---|---|\n");
    }
}
