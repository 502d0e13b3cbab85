//! The results table: one row per result, shared by the terminal view,
//! the HTML report and the Markdown and CSV exporters so that all show the
//! same columns. The terminal tables show the replicates of a `run
//! --repeat` series as one combined row (median throughput, interval over
//! the replicates, `3 runs` in `n`), as hyperfine prints one line per
//! command over its runs; `--wide` lists each replicate under it and
//! `--json` gives every record, as hyperfine's exports give every run.
//! The exporters write every record as stored.

use crate::backends::{BackendKind, DeviceType};
use crate::report::data::{Listed, listed};
use crate::store::ResultRecord;

/// Column headings of the results table.
pub const HEADINGS: [&str; 13] = [
    "kernel",
    "size",
    "precision",
    "backend",
    "device",
    "type",
    "status",
    "median",
    "median 95% CI",
    "throughput",
    "unit",
    "n",
    "perf/W",
];

/// The primary perf/W of a result with its unit and, unless measured, its
/// method in capitals (ESTIMATED, MODELED), so that no reader mistakes it.
pub fn perf_per_w(r: &ResultRecord) -> String {
    match r.primary_energy() {
        Some(e) if r.status == crate::store::Status::Ok => match e.perf_per_w {
            Some(v) if e.method.is_measured() => {
                format!(
                    "{} {} ({})",
                    format_value(v),
                    e.perf_per_w_unit,
                    e.scope.as_str()
                )
            }
            Some(v) => format!(
                "{} {} ({})",
                format_value(v),
                e.perf_per_w_unit,
                e.method.as_str().to_uppercase()
            ),
            None => "-".into(),
        },
        _ => "-".into(),
    }
}

/// A duration in seconds with a readable unit.
pub fn format_seconds(s: f64) -> String {
    let (v, unit) = if s >= 1.0 {
        (s, "s")
    } else if s >= 1e-3 {
        (s * 1e3, "ms")
    } else if s >= 1e-6 {
        (s * 1e6, "µs")
    } else {
        (s * 1e9, "ns")
    };
    format!("{v:.3} {unit}")
}

/// A number with about four significant digits.
pub fn format_value(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    format!("{v:.digits$}")
}

/// The 95% interval of a result's median time, or why it has none; of a
/// combined figure, the interval over its replicates.
pub fn median_interval(r: &ResultRecord) -> String {
    if let Some(c) = &r.combined {
        return match c.time_ci95 {
            Some(ci) => format!("{} .. {}", format_seconds(ci.low), format_seconds(ci.high)),
            None => "-".into(),
        };
    }
    match (r.median_interval(), &r.timing) {
        (Some(ci), _) => format!("{} .. {}", format_seconds(ci.low), format_seconds(ci.high)),
        (None, Some(_)) if r.is_modeled() => "MODELED".into(),
        (None, Some(t)) if t.summary.n < 6 => format!("n={} < 6", t.summary.n),
        _ => "-".into(),
    }
}

/// The `n` cell: the samples of one run, or `3 runs` for a figure that
/// combines the replicates of a series; `-` for a modeled result.
fn count_cell(r: &ResultRecord) -> String {
    match (&r.combined, &r.timing) {
        (Some(c), _) => format!(
            "{} run{}",
            c.replicates,
            if c.replicates == 1 { "" } else { "s" }
        ),
        (None, Some(_)) if r.is_modeled() => "-".into(),
        (None, Some(t)) => t.summary.n.to_string(),
        (None, None) => "-".into(),
    }
}

/// The cells of one result's row; a combined figure's median time is
/// the time its throughput stands for.
pub fn row(r: &ResultRecord) -> Vec<String> {
    let t = r.timing.as_ref().map(|t| &t.summary);
    let median = match &r.combined {
        Some(c) => c.time_s,
        None => t.map(|s| s.median),
    };
    vec![
        r.kernel.clone(),
        r.size.clone(),
        r.precision.to_string(),
        r.backend.to_string(),
        r.device_name.clone(),
        r.device_type.to_string(),
        r.status.as_str().to_string(),
        median.map(format_seconds).unwrap_or_else(|| "-".into()),
        median_interval(r),
        // A throughput that failed verification is not a figure to quote.
        match (r.status, r.throughput) {
            (crate::store::Status::Ok, Some(v)) => format_value(v),
            _ => "-".into(),
        },
        r.throughput_unit.clone(),
        count_cell(r),
        perf_per_w(r),
    ]
}

/// `text` with each control character (C0, DEL, C1: ESC sequences, CR,
/// backspace, ...) other than those in `keep` written out as `\u001b`, so
/// that a name imported from a run file cannot drive the reader's terminal.
/// The form is JSON's, so it may be applied to JSON text too.
pub fn escape_controls<'a>(text: &'a str, keep: &[char]) -> std::borrow::Cow<'a, str> {
    if !text.chars().any(|c| c.is_control() && !keep.contains(&c)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() && !keep.contains(&c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// An aligned plain-text table. Cells have their control characters
/// escaped ([`escape_controls`]).
pub fn render_text(headings: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| escape_controls(cell, &[]).into_owned())
                .collect()
        })
        .collect();
    let widths = column_widths(headings, &rows);
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(cell);
            if i + 1 < widths.len() {
                s.push_str(&" ".repeat(w - cell.chars().count()));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(headings.to_vec());
    out.push('\n');
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(|s| s.as_str())
            .collect(),
    ));
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row.iter().map(|s| s.as_str()).collect()));
        out.push('\n');
    }
    out
}

/// The results table as plain text, every result a row, except that the
/// replicates of a `run --repeat` series are combined into one row (the
/// figure score and summary use, [`crate::report::data::listed`]) with
/// each replicate listed under it, marked `replicate i/N`.
pub fn results_text(results: &[ResultRecord]) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for item in listed(results) {
        match item {
            Listed::Result(r) => rows.push(row(r)),
            Listed::Series {
                combined,
                replicates,
            } => {
                rows.push(row(&combined));
                let mut replicates = replicates;
                replicates.sort_by_key(|r| r.replicate.as_ref().map(|x| x.index));
                for r in replicates {
                    let mut cells = row(r);
                    if let Some(x) = &r.replicate {
                        cells[0] = format!("  replicate {}/{}", x.index, x.of);
                    }
                    rows.push(cells);
                }
            }
        }
    }
    render_text(&HEADINGS, &rows)
}

/// The note under a compact table where a row combines replicates,
/// wrapped to `width`.
fn series_note(series: usize, width: usize) -> String {
    let note = format!(
        "{series} row(s) combine the replicates of a `run --repeat` series: the median throughput with a 95% interval over the replicates, as score and summary use it; `--wide` lists each replicate, `--json` every record"
    );
    format!("{}\n", wrap(&note, width, 2))
}

/// The width that terminal tables and notes fit unless `--wide` is given.
pub const TERMINAL_WIDTH: usize = 120;

/// The narrowest a device name is cut to in the compact table.
const MIN_DEVICE_NAME: usize = 8;

/// The narrowest the compact table's device column is cut to.
const MIN_DEVICE_CELL: usize = 20;

/// Column headings of the compact results table ([`results_text_compact`]).
pub const COMPACT_HEADINGS: [&str; 9] = [
    "kernel", "size", "prec", "device", "unit", "per s", "95% CI", "n", "per J",
];

/// `text` cut to at most `max` characters in the middle, `…` marking the
/// cut, so that both a vendor's prefix and a model's suffix stay readable.
pub fn cut_middle(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_string();
    }
    if max <= 1 {
        return "…".chars().take(max).collect();
    }
    let keep = max - 1;
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let mut out: String = text.chars().take(head).collect();
    out.push('…');
    out.extend(text.chars().skip(n - tail));
    out
}

/// A device name cut to `max` characters: a trailing parenthesis (a
/// driver's version, `llvmpipe (LLVM 15.0.6, 256 bits)`) goes first, as
/// `(…)`, then the middle ([`cut_middle`]).
fn cut_name(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    if let Some(open) = name.find(" (").filter(|_| name.ends_with(')')) {
        let short = format!("{} (…)", &name[..open]);
        if short.chars().count() <= max {
            return short;
        }
    }
    cut_middle(name, max)
}

/// A relative share as a percentage with one decimal below 10%.
fn percent(x: f64) -> String {
    let p = 100.0 * x;
    if p < 10.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

/// The throughput's 95% interval relative to the throughput
/// (`-3.1%..+4.0%`), or why there is none.
fn relative_interval(r: &ResultRecord) -> String {
    if r.status != crate::store::Status::Ok {
        return "-".into();
    }
    if r.is_modeled() {
        return "MODELED".into();
    }
    match (r.throughput, r.throughput_interval(), &r.timing) {
        (Some(t), Some(ci), _) if t > 0.0 => format!(
            "-{}..+{}",
            percent((1.0 - ci.low / t).max(0.0)),
            percent((ci.high / t - 1.0).max(0.0))
        ),
        (_, None, Some(timing)) if timing.summary.n < 6 => "n<6".into(),
        _ => "-".into(),
    }
}

/// The compact device cell, `backend: name`, at most `cell_max`
/// characters, the name cut to fit ([`cut_name`]); ` [cpu]` appended,
/// never cut, where a GPU API drives a CPU (lavapipe, PoCL), since the
/// compact table has no type column. The emulated cards' "(emulated)" is
/// left to the backend's name.
fn device_cell(r: &ResultRecord, cell_max: usize) -> String {
    let name = escape_controls(&r.device_name, &[]);
    let name = if r.is_modeled() {
        name.trim_end_matches(" (emulated)")
    } else {
        &name
    };
    let marker = if r.device_type == DeviceType::Cpu && r.backend != BackendKind::Cpu {
        " [cpu]"
    } else {
        ""
    };
    let prefix = format!("{}: ", r.backend);
    let fixed = prefix.chars().count() + marker.len();
    let name_max = cell_max.saturating_sub(fixed).max(MIN_DEVICE_NAME);
    format!("{prefix}{}{marker}", cut_name(name, name_max))
}

/// The work unit of a throughput unit (`GB` of `GB/s`).
fn work_unit(throughput_unit: &str) -> &str {
    throughput_unit
        .strip_suffix("/s")
        .unwrap_or(throughput_unit)
}

/// The compact perf/W cell: the work per joule in the row's work unit,
/// then the energy's scope, or its method in capitals where it was not
/// measured (ESTIMATED, MODELED); the unit written out only where it is
/// not the row's work unit per joule.
fn per_joule(r: &ResultRecord) -> String {
    let Some(e) = r.primary_energy() else {
        return "-".into();
    };
    let Some(v) = e
        .perf_per_w
        .filter(|_| r.status == crate::store::Status::Ok)
    else {
        return "-".into();
    };
    let unit = if e.perf_per_w_unit == format!("{}/J", work_unit(&r.throughput_unit)) {
        String::new()
    } else {
        format!(" {}", e.perf_per_w_unit)
    };
    let how = if e.method.is_measured() {
        e.scope.as_str().to_string()
    } else {
        e.method.as_str().to_uppercase()
    };
    format!("{}{unit} ({how})", format_value(v))
}

/// One result's row of the compact table. The kernel and the method
/// marks (ESTIMATED, MODELED) are never cut; a result that is not `ok`
/// shows its status where its throughput would be.
fn compact_row(r: &ResultRecord, name_max: usize) -> Vec<String> {
    let throughput = match (r.status, r.throughput) {
        (crate::store::Status::Ok, Some(v)) => format_value(v),
        (crate::store::Status::Ok, None) => "-".into(),
        (status, _) => status.as_str().to_string(),
    };
    vec![
        r.kernel.clone(),
        r.size.clone(),
        r.precision.to_string(),
        device_cell(r, name_max),
        work_unit(&r.throughput_unit).to_string(),
        throughput,
        relative_interval(r),
        count_cell(r),
        per_joule(r),
    ]
}

/// Each column's width in characters: its widest cell or heading.
fn column_widths(headings: &[&str], rows: &[Vec<String>]) -> Vec<usize> {
    let mut widths: Vec<usize> = headings.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    widths
}

/// The width of `rows` rendered by [`render_text`] under `headings`, its
/// cells escaped as it escapes them.
fn rendered_width(headings: &[&str], rows: &[Vec<String>]) -> usize {
    let escaped: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|c| escape_controls(c, &[]).into_owned())
                .collect()
        })
        .collect();
    let widths = column_widths(headings, &escaped);
    widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1)
}

/// The results table for a terminal of `width` columns: the work unit
/// once, then work per second with its interval relative to it and work
/// per joule with its scope or method; backend and device in one column, device names cut until the table fits (the column no narrower
/// than 20 characters), skipped results counted below instead
/// of listed. `--wide` gives [`results_text`], every column uncut.
pub fn results_text_compact(results: &[ResultRecord], width: usize) -> String {
    let rows_listed: Vec<Listed> = listed(results);
    let series = rows_listed
        .iter()
        .filter(|l| matches!(l, Listed::Series { .. }))
        .count();
    let all: Vec<&ResultRecord> = rows_listed
        .iter()
        .map(|l| match l {
            Listed::Result(r) => *r,
            Listed::Series { combined, .. } => combined.as_ref(),
        })
        .collect();
    let shown: Vec<&ResultRecord> = all
        .iter()
        .copied()
        .filter(|r| r.status != crate::store::Status::Skipped)
        .collect();
    let skipped = all.len() - shown.len();
    let mut cell_max = usize::MAX;
    let rows_at =
        |max: usize| -> Vec<Vec<String>> { shown.iter().map(|r| compact_row(r, max)).collect() };
    let mut rows = rows_at(cell_max);
    loop {
        let over = rendered_width(&COMPACT_HEADINGS, &rows).saturating_sub(width);
        let widest = rows.iter().map(|r| r[3].chars().count()).max().unwrap_or(0);
        if over == 0 || widest <= MIN_DEVICE_CELL {
            break;
        }
        cell_max = widest.saturating_sub(over).max(MIN_DEVICE_CELL);
        rows = rows_at(cell_max);
    }
    let mut out = if rows.is_empty() {
        String::new()
    } else {
        render_text(&COMPACT_HEADINGS, &rows)
    };
    if series > 0 {
        out.push_str(&series_note(series, width));
    }
    if skipped > 0 {
        out.push_str(&format!(
            "{skipped} skipped result(s) not listed; `--wide` lists them, with every column\n"
        ));
    }
    out
}

/// `text` wrapped at spaces into lines of at most `width` characters,
/// the lines after the first indented by `indent` spaces; a word longer
/// than a line stays whole on its own line.
pub fn wrap(text: &str, width: usize, indent: usize) -> String {
    let lead = text.len() - text.trim_start_matches(' ').len();
    let mut out = String::new();
    let mut line = " ".repeat(lead);
    let mut fresh = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let len = word.chars().count();
        if !fresh && line.chars().count() + 1 + len > width {
            out.push_str(&line);
            out.push('\n');
            line = " ".repeat(indent);
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        line.push_str(word);
        fresh = false;
    }
    out.push_str(&line);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_digits() {
        assert_eq!(format_seconds(2.5), "2.500 s");
        assert_eq!(format_seconds(0.0125), "12.500 ms");
        assert_eq!(format_seconds(3e-6), "3.000 µs");
        assert_eq!(format_value(1234.5678), "1235");
        assert_eq!(format_value(12.345678), "12.35");
        assert_eq!(format_value(0.012345), "0.01235");
    }

    #[test]
    fn control_characters_are_escaped_in_cells() {
        assert_eq!(escape_controls("plain é", &[]), "plain é");
        assert_eq!(
            escape_controls("a\u{1b}[31mred\r\u{9b}\u{7f}", &[]),
            "a\\u001b[31mred\\u000d\\u009b\\u007f"
        );
        assert_eq!(escape_controls("a\nb\tc", &['\n']), "a\nb\\u0009c");
        let text = render_text(&["k"], &[vec!["x\u{1b}]0;pwned\u{7}".into()]]);
        assert!(!text.contains('\u{1b}') && text.contains("x\\u001b]0;pwned\\u0007"));
    }

    #[test]
    fn text_table_aligns_columns() {
        let t = render_text(&["a", "bb"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "a    bb\n---  --\nxyz  1\n");
    }

    /// The results of the committed reference run.
    fn reference_results() -> Vec<ResultRecord> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("results/reference/vm-epyc-zen5-2vcpu.json");
        let run: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        serde_json::from_value(run["results"].clone()).unwrap()
    }

    fn widest(text: &str) -> usize {
        text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
    }

    #[test]
    fn names_are_cut_where_they_say_least() {
        assert_eq!(cut_middle("abcdefghij", 10), "abcdefghij");
        assert_eq!(cut_middle("abcdefghij", 5), "ab…ij");
        assert_eq!(cut_middle("abcdefghij", 6), "abc…ij");
        assert_eq!(
            cut_name("llvmpipe (LLVM 15.0.6, 256 bits)", 20),
            "llvmpipe (…)"
        );
        assert_eq!(
            cut_name("pthread-skylake-avx512-AMD EPYC", 15),
            "pthread…MD EPYC"
        );
        assert_eq!(wrap("one two three four", 9, 2), "one two\n  three\n  four");
        assert_eq!(
            wrap("  a verylongword b", 6, 4),
            "  a\n    verylongword\n    b"
        );
    }

    #[test]
    fn the_compact_table_fits_120_columns_with_long_hostile_names() {
        let mut results = reference_results();
        assert!(results.len() > 10);
        let long = "NVIDIA H200 NVL \u{1b}[31m Tensor Core GPU with a very long marketing name (driver 565.57.01, CUDA 12.7)";
        for (i, r) in results.iter_mut().enumerate() {
            match i % 3 {
                0 => {
                    r.device_name = long.into();
                    r.backend = BackendKind::Opencl;
                    r.device_type = DeviceType::Cpu;
                }
                1 => r.device_name = format!("{long} #{i}"),
                _ => {}
            }
        }
        results[1].status = crate::store::Status::Skipped;
        let wide = results_text(&results);
        assert!(widest(&wide) > 200, "{wide}");
        let text = results_text_compact(&results, TERMINAL_WIDTH);
        assert!(widest(&text) <= TERMINAL_WIDTH, "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        // One row per result not skipped, the skipped one counted below.
        let rows = text
            .lines()
            .skip(2)
            .filter(|l| !l.contains("skipped"))
            .count();
        assert_eq!(rows, results.len() - 1, "{text}");
        assert!(
            text.ends_with(
                "1 skipped result(s) not listed; `--wide` lists them, with every column\n"
            )
        );
        for (r, line) in results
            .iter()
            .filter(|r| r.status != crate::store::Status::Skipped)
            .zip(text.lines().skip(2))
        {
            // The kernel and the method are never cut, the CPU behind a GPU
            // API is marked, the throughput is the stored one.
            assert!(line.starts_with(&format!("{} ", r.kernel)), "{line}");
            if r.backend == BackendKind::Opencl {
                assert!(
                    line.contains("opencl: NVIDIA") && line.contains(") [cpu]"),
                    "{line}"
                );
            }
            let e = r.primary_energy().unwrap();
            if !e.method.is_measured() {
                assert!(
                    line.contains(&format!("({})", e.method.as_str().to_uppercase())),
                    "{line}"
                );
            }
            assert!(
                line.contains(&format!("  {}  ", format_value(r.throughput.unwrap()))),
                "{line}"
            );
        }
    }

    #[test]
    fn the_interval_is_the_throughputs_relative_to_it() {
        let mut r = reference_results().remove(0);
        let t = r.throughput.unwrap();
        let ci = r.throughput_interval().unwrap();
        let cell = relative_interval(&r);
        assert_eq!(
            cell,
            format!(
                "-{}..+{}",
                percent(1.0 - ci.low / t),
                percent(ci.high / t - 1.0)
            )
        );
        r.status = crate::store::Status::VerifyFailed;
        assert_eq!(relative_interval(&r), "-");
        assert_eq!(compact_row(&r, 40)[5], "verify_failed");
    }
}
