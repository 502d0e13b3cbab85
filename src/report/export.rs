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
}

impl Format {
    pub const NAMES: [&'static str; 3] = ["json", "csv", "markdown"];

    pub fn parse(name: &str) -> crate::error::Result<Format> {
        match name {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "markdown" | "md" => Ok(Format::Markdown),
            _ => Err(crate::error::Error::UnknownName {
                what: "format",
                name: name.into(),
                valid: Self::NAMES.join(", "),
            }),
        }
    }

    pub fn exporter(self) -> Box<dyn Exporter> {
        match self {
            Format::Json => Box::new(JsonExporter),
            Format::Csv => Box::new(CsvExporter),
            Format::Markdown => Box::new(MarkdownExporter),
        }
    }
}

/// Every field of every record, as a JSON array.
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn serialize(&self, results: &[ResultRecord]) -> Result<Vec<u8>> {
        let mut v = serde_json::to_vec_pretty(results)?;
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

fn csv_field(s: &str) -> String {
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
        let opt = |v: Option<f64>| v.map(|v| format!("{v:e}")).unwrap_or_default();
        for r in results {
            let t = r.timing.as_ref();
            let s = t.map(|t| &t.summary);
            let e = r.primary_energy();
            let cells = [
                r.run_id.clone(),
                r.hostname.clone(),
                r.platform_hash.clone(),
                r.kernel.clone(),
                r.kernel_version.clone(),
                r.kernel_hash.clone(),
                r.size.clone(),
                r.precision.clone(),
                r.backend.clone(),
                r.device.clone(),
                r.device_name.clone(),
                r.device_type.clone(),
                r.status.as_str().into(),
                t.map(|t| t.timer.clone()).unwrap_or_default(),
                s.map(|s| s.n.to_string()).unwrap_or_default(),
                opt(s.map(|s| s.median)),
                opt(s.map(|s| s.mean)),
                opt(s.map(|s| s.stddev)),
                opt(s.map(|s| s.min)),
                opt(s.map(|s| s.max)),
                opt(r.median_interval().map(|c| c.low)),
                opt(r.median_interval().map(|c| c.high)),
                opt(r.throughput),
                opt(r.throughput_interval().map(|c| c.low)),
                opt(r.throughput_interval().map(|c| c.high)),
                r.throughput_unit.clone(),
                opt(r.verification.as_ref().map(|v| v.max_rel_error)),
                r.message.clone().unwrap_or_default(),
                e.map(|e| e.meter.clone()).unwrap_or_default(),
                e.map(|e| e.scope.as_str().to_string()).unwrap_or_default(),
                e.map(|e| e.method.as_str().to_string()).unwrap_or_default(),
                opt(e.map(|e| e.energy_j)),
                opt(e.map(|e| e.avg_w)),
                opt(e.and_then(|e| e.idle_w)),
                opt(e.and_then(|e| e.active_w)),
                opt(e.and_then(|e| e.perf_per_w)),
            ];
            out.push_str(
                &cells
                    .iter()
                    .map(|c| csv_field(c))
                    .collect::<Vec<_>>()
                    .join(","),
            );
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
        let escaped: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
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
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn markdown_escapes_pipes() {
        assert_eq!(MarkdownExporter.table_row(&["a|b", "c"]), "| a\\|b | c |\n");
        assert_eq!(MarkdownExporter.table_divider(2), "|---|---|\n");
    }
}
