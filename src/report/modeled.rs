//! The modeled-results view: one row per result of the FPGA emulation with
//! the format, the accuracy against f64, II, latency, bound, resources and
//! power, then the assumptions of each card, so that nobody reads a modeled
//! figure without what it rests on.

use crate::fpga::model::Evaluation;
use crate::kernel::fpga::{Accuracy, ModelReport};
use crate::report::table::{format_seconds, format_value, render_text};
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
    let reuse = if e.reuse_factor != e.reuse_requested {
        format!("{} (asked {})", e.reuse_factor, e.reuse_requested)
    } else {
        e.reuse_factor.to_string()
    };
    vec![
        r.kernel.clone(),
        r.size.clone(),
        e.card_name.clone(),
        short_format(&e.format),
        reuse,
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
pub fn modeled_text(results: &[ResultRecord]) -> Option<String> {
    let modeled: Vec<&ResultRecord> = results.iter().filter(|r| r.model.is_some()).collect();
    if modeled.is_empty() {
        return None;
    }
    let mut rows = Vec::new();
    // Each card's assumptions once, in the order the cards first appear.
    let mut cards: Vec<(String, String)> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut unreadable = Vec::new();
    for r in &modeled {
        let Some(model) = &r.model else { continue };
        match model.report() {
            Some(m) => {
                rows.push(row(r, m));
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
            None => unreadable.push(format!("{} {} on {}", r.kernel, r.size, r.device)),
        }
    }
    let mut s = String::from(
        "modeled results (FPGA emulation, NOT measured: outputs bit-accurate in fixed point; time, resources and power from the model; resources as % of the usable share)\n",
    );
    s.push_str(&render_text(&HEADINGS, &rows));
    s.push_str("assumptions:\n");
    for (_, line) in &cards {
        s.push_str(&format!("  {line}\n"));
    }
    for n in notes {
        s.push_str(&format!("  {n}\n"));
    }
    for u in unreadable {
        s.push_str(&format!(
            "  report unreadable (another model version?): {u}\n"
        ));
    }
    Some(s)
}

/// The assumptions of a modeled result, in one line: card, clock, reuse
/// factor, format, toggle rate and model version.
pub fn model_line(label: &str, m: &ModelReport) -> String {
    let e = &m.evaluation;
    let reuse = if e.reuse_requested != e.reuse_factor {
        format!("{} (asked {})", e.reuse_factor, e.reuse_requested)
    } else {
        e.reuse_factor.to_string()
    };
    format!(
        "model: {label}: {}, {} MHz, reuse factor {reuse}, {}, toggle {} (modeled, model v{})",
        e.card_name, e.clock_mhz, e.format, e.toggle_rate, e.model_version,
    )
}
