//! The modeled-results view: one row per result of the FPGA emulation with
//! the format, the accuracy against f64, II, latency, bound, resources and
//! power, then the assumptions of each card, so that nobody reads a modeled
//! figure without what it rests on.

use crate::fpga::model::Evaluation;
use crate::kernel::fpga::{Accuracy, ModelReport};
use crate::report::table::{cut_middle, format_seconds, format_value, render_text, wrap};
use crate::store::{ResultRecord, Status};

/// Headings of the modeled-results table.
pub const HEADINGS: [&str; 14] = [
    "kernel",
    "size",
    "card",
    "format",
    "R",
    "II",
    "latency",
    "bound",
    "DSP",
    "LUT",
    "BRAM",
    "URAM",
    "power",
    "accuracy vs f64",
];

/// Headings of the compact view's design table ([`modeled_text`] with a
/// width): the timing side of [`HEADINGS`], latency as time only.
pub const DESIGN_HEADINGS: [&str; 9] = [
    "kernel", "size", "card", "format", "R", "II", "latency", "bound", "power",
];

/// Headings of the compact view's resources-and-accuracy table.
pub const ACCURACY_HEADINGS: [&str; 11] = [
    "kernel",
    "size",
    "card",
    "DSP",
    "LUT",
    "BRAM",
    "URAM",
    "max abs",
    "max rel",
    "top class",
    "tolerance",
];

/// The narrowest a card name is cut to in the compact view.
const MIN_CARD_WIDTH: usize = 16;

fn percent(used: f64, avail: f64) -> String {
    if avail > 0.0 {
        format!("{:.0}%", 100.0 * used / avail)
    } else if used > 0.0 {
        "over".into()
    } else {
        "-".into()
    }
}

/// `ap_fixed<18,8,AP_RND_CONV,AP_SAT>` as `<18,8,RND_CONV,SAT>`.
fn short_format(f: &str) -> String {
    f.trim_start_matches("ap_fixed").replace("AP_", "")
}

/// The accuracy in a few words: max abs and rel error (and what rel is
/// of), the tolerance's verdict, mlp_jet's top-class agreement.
fn accuracy_cell(a: &Accuracy) -> String {
    let mut s = format!(
        "max abs {:.2e}, max rel {:.2e}",
        a.max_abs_error, a.max_rel_error
    );
    if let Some(agree) = a.top_class_agreement {
        s.push_str(&format!(", top class {:.4}%", 100.0 * agree));
    }
    s.push_str(if a.within_tolerance {
        " (within tolerance)"
    } else {
        " (BEYOND tolerance)"
    });
    s
}

/// The row of one modeled result.
fn row(r: &ResultRecord, m: &ModelReport) -> Vec<String> {
    let e = &m.evaluation;
    vec![
        r.kernel.clone(),
        r.size.clone(),
        e.card_name.clone(),
        short_format(&e.format),
        reuse_cell(e),
        e.ii.to_string(),
        format!("{} cyc, {}", e.latency_cycles, format_seconds(e.latency_s)),
        e.bound.clone(),
        percent(e.usage.dsp, e.available.dsp),
        percent(e.usage.lut, e.available.lut),
        percent(e.usage.bram, e.available.bram),
        percent(e.usage.uram, e.available.uram),
        format!("{} W", format_value(e.power.total_w)),
        accuracy_cell(&m.accuracy),
    ]
}

/// The reuse factor, with what was asked where the design had to differ.
fn reuse_cell(e: &Evaluation) -> String {
    if e.reuse_factor != e.reuse_requested {
        format!("{} (asked {})", e.reuse_factor, e.reuse_requested)
    } else {
        e.reuse_factor.to_string()
    }
}

/// The two rows of one modeled result in the compact view: design, then
/// resources and accuracy; the card's name cut to `card_max`.
fn compact_rows(r: &ResultRecord, m: &ModelReport, card_max: usize) -> (Vec<String>, Vec<String>) {
    let e = &m.evaluation;
    let a = &m.accuracy;
    let card = cut_middle(&e.card_name, card_max);
    let design = vec![
        r.kernel.clone(),
        r.size.clone(),
        card.clone(),
        short_format(&e.format),
        reuse_cell(e),
        e.ii.to_string(),
        format_seconds(e.latency_s),
        e.bound.clone(),
        format!("{} W", format_value(e.power.total_w)),
    ];
    let accuracy = vec![
        r.kernel.clone(),
        r.size.clone(),
        card,
        percent(e.usage.dsp, e.available.dsp),
        percent(e.usage.lut, e.available.lut),
        percent(e.usage.bram, e.available.bram),
        percent(e.usage.uram, e.available.uram),
        format!("{:.2e}", a.max_abs_error),
        format!("{:.2e}", a.max_rel_error),
        a.top_class_agreement
            .map_or("-".into(), |t| format!("{:.4}%", 100.0 * t)),
        if a.within_tolerance {
            "within"
        } else {
            "BEYOND"
        }
        .into(),
    ];
    (design, accuracy)
}

/// The assumptions of one card, in one line.
fn assumptions(e: &Evaluation) -> String {
    let uncalibrated: Vec<&str> = e
        .sources
        .iter()
        .filter(|(_, _, src)| src.trim_start().starts_with("uncalibrated"))
        .map(|(name, _, _)| name.as_str())
        .collect();
    let fig = |name: &str| {
        e.sources
            .iter()
            .find(|(n, _, _)| n == name)
            .map_or("?".to_string(), |(_, v, _)| v.to_string())
    };
    format!(
        "{} ({}, {}): clock {} MHz, toggle rate {}, reuse factor asked {}, usable share {}, memory {} GB/s x {}; uncalibrated: {}; model v{}",
        e.card_name,
        e.card,
        e.card_origin,
        e.clock_mhz,
        e.toggle_rate,
        e.reuse_requested,
        fig("resources.usable_fraction"),
        fig("memory.bandwidth_gbs"),
        fig("memory.efficiency"),
        if uncalibrated.is_empty() {
            "none".to_string()
        } else {
            uncalibrated.join(", ")
        },
        e.model_version
    )
}

/// The modeled results of `results` as text: a table, the assumptions of
/// each card and the notes on formats; `None` when no result is modeled.
/// Results whose report this version cannot read are listed as such.
/// With a `width` (a terminal), the table is split in two (design;
/// resources and accuracy), card names are cut in the middle where needed
/// and the prose is wrapped to fit; without, one table with every column.
pub fn modeled_text(results: &[ResultRecord], width: Option<usize>) -> Option<String> {
    let modeled: Vec<(&ResultRecord, Option<&ModelReport>)> = results
        .iter()
        .filter_map(|r| r.model.as_ref().map(|m| (r, m.report())))
        .collect();
    if modeled.is_empty() {
        return None;
    }
    // Each card's assumptions once, in the order the cards first appear.
    let mut cards: Vec<(String, String)> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut unreadable = Vec::new();
    for (r, report) in &modeled {
        let Some(m) = report else {
            unreadable.push(format!("{} {} on {}", r.kernel, r.size, r.device));
            continue;
        };
        if !cards.iter().any(|(id, _)| *id == m.evaluation.card) {
            cards.push((m.evaluation.card.clone(), assumptions(&m.evaluation)));
        }
        if m.card_format.is_some() {
            // The adapter's reason is the design's first note.
            let note = format!(
                "{}: {}",
                r.kernel,
                m.evaluation.notes.first().map_or("", String::as_str)
            );
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
        if r.status == Status::VerifyFailed {
            notes.push(format!(
                "{} {} on {}: outputs beyond the format's tolerance ({})",
                r.kernel, r.size, m.evaluation.card_name, m.accuracy.detail
            ));
        }
    }
    let readable: Vec<(&ResultRecord, &ModelReport)> = modeled
        .iter()
        .filter_map(|(r, m)| m.map(|m| (*r, m)))
        .collect();
    let fit = |line: &str| match width {
        Some(w) => wrap(line, w, 4),
        None => line.to_string(),
    };
    let mut s = fit(
        "modeled results (FPGA emulation, NOT measured: outputs bit-accurate in fixed point; time, resources and power from the model; resources as % of the usable share)",
    );
    s.push('\n');
    match width {
        None => {
            let rows: Vec<Vec<String>> = readable.iter().map(|(r, m)| row(r, m)).collect();
            s.push_str(&render_text(&HEADINGS, &rows));
        }
        Some(w) => s.push_str(&compact_tables(&readable, w)),
    }
    s.push_str("assumptions:\n");
    for (_, line) in &cards {
        s.push_str(&fit(&format!("  {line}")));
        s.push('\n');
    }
    for n in notes {
        s.push_str(&fit(&format!("  {n}")));
        s.push('\n');
    }
    for u in unreadable {
        s.push_str(&fit(&format!(
            "  report unreadable (another model version?): {u}"
        )));
        s.push('\n');
    }
    Some(s)
}

/// The compact view's two tables, card names cut until both fit `width`
/// (no narrower than 16 characters).
fn compact_tables(readable: &[(&ResultRecord, &ModelReport)], width: usize) -> String {
    let tables_at = |card_max: usize| -> (Vec<Vec<String>>, Vec<Vec<String>>) {
        readable
            .iter()
            .map(|(r, m)| compact_rows(r, m, card_max))
            .unzip()
    };
    let widest = |text: &str| text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut card_max = readable
        .iter()
        .map(|(_, m)| m.evaluation.card_name.chars().count())
        .max()
        .unwrap_or(0);
    loop {
        let (design, accuracy) = tables_at(card_max);
        let text = format!(
            "{}\n{}",
            render_text(&DESIGN_HEADINGS, &design),
            render_text(&ACCURACY_HEADINGS, &accuracy)
        );
        let over = widest(&text).saturating_sub(width);
        if over == 0 || card_max <= MIN_CARD_WIDTH {
            return text;
        }
        card_max = card_max.saturating_sub(over).max(MIN_CARD_WIDTH);
    }
}

/// The assumptions of a modeled result, in one line: card, clock, reuse
/// factor, format, toggle rate and model version.
pub fn model_line(label: &str, m: &ModelReport) -> String {
    let e = &m.evaluation;
    format!(
        "model: {label}: {}, {} MHz, reuse factor {}, {}, toggle {} (modeled, model v{})",
        e.card_name,
        e.clock_mhz,
        reuse_cell(e),
        e.format,
        e.toggle_rate,
        e.model_version,
    )
}
