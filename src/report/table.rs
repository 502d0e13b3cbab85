//! The results table: one row per result, shared by the terminal view and
//! the Markdown and CSV exporters so that all show the same columns.

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

/// The 95% interval of a result's median time, or why it has none.
pub fn median_interval(r: &ResultRecord) -> String {
    match (r.median_interval(), &r.timing) {
        (Some(ci), _) => format!("{} .. {}", format_seconds(ci.low), format_seconds(ci.high)),
        (None, Some(_)) if r.is_modeled() => "MODELED".into(),
        (None, Some(t)) if t.summary.n < 6 => format!("n={} < 6", t.summary.n),
        _ => "-".into(),
    }
}

/// The cells of one result's row.
pub fn row(r: &ResultRecord) -> Vec<String> {
    let t = r.timing.as_ref().map(|t| &t.summary);
    vec![
        r.kernel.clone(),
        r.size.clone(),
        r.precision.clone(),
        r.backend.clone(),
        r.device_name.clone(),
        r.device_type.clone(),
        r.status.as_str().to_string(),
        t.map(|s| format_seconds(s.median))
            .unwrap_or_else(|| "-".into()),
        median_interval(r),
        // A throughput that failed verification is not a figure to quote.
        match (r.status, r.throughput) {
            (crate::store::Status::Ok, Some(v)) => format_value(v),
            _ => "-".into(),
        },
        r.throughput_unit.clone(),
        match t {
            Some(_) if r.is_modeled() => "-".into(),
            Some(s) => s.n.to_string(),
            None => "-".into(),
        },
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
    let mut widths: Vec<usize> = headings.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
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

/// The results table as plain text.
pub fn results_text(results: &[ResultRecord]) -> String {
    let rows: Vec<Vec<String>> = results.iter().map(row).collect();
    render_text(&HEADINGS, &rows)
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
}
