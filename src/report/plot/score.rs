//! The score per platform and device: for each device, one bar per domain
//! and one for the overall score (reference = 1, drawn as a line), then the
//! overall score per watt, outlined and hatched where it used estimated or
//! modeled energy.

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::{
    Figure, LabelPlacer, LegendEntry, bar, centered, color, draw_legend, estimated_legend_entry,
    fit_text, font, legend_height, letter_width, plot_err, unlabelled_note,
};
use crate::error::Error;
use crate::kernel::manifest::Domain;
use crate::report::score::ScoreReport;
use crate::report::table::format_value;

const WIDTH: u32 = 1000;
/// Scores that span this factor or more get a log axis: on a linear one
/// the smallest bars would stand under 2% of the tallest, too short to see.
pub const LOG_SPAN: f64 = 50.0;
const PANEL_H: u32 = 340;
const DOMAINS: [Domain; 4] = [
    Domain::Simulation,
    Domain::Reconstruction,
    Domain::Ml,
    Domain::Micro,
];

pub fn draw(report: &ScoreReport) -> Result<Figure, Error> {
    let domains: Vec<Domain> = DOMAINS
        .into_iter()
        .filter(|d| {
            report
                .subjects
                .iter()
                .any(|s| s.domains.iter().any(|x| x.domain == *d))
        })
        .collect();
    let any_estimated = report
        .subjects
        .iter()
        .any(|s| s.overall_per_watt.is_some() && s.overall_per_watt_estimated);
    let legend = legend(report, &domains, any_estimated);
    let lh = legend_height(legend.len());
    let mut svg = String::new();
    let mut unlabelled = 0;
    {
        // The lower panel grows with the device list beside it.
        let lower_h = PANEL_H.max(40 + 18 * report.subjects.len() as u32);
        let root =
            SVGBackend::with_string(&mut svg, (WIDTH, lh + PANEL_H + lower_h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (top, rest) = root.split_vertically(lh);
        draw_legend(&top, &legend)?;
        let (upper, lower) = rest.split_vertically(PANEL_H);
        // Scores: a log axis where they span LOG_SPAN or more, so that no
        // bar is too short to see.
        let values: Vec<f64> = report
            .subjects
            .iter()
            .flat_map(|s| s.domains.iter().map(|d| d.score).chain(s.overall))
            .filter(|v| v.is_finite() && *v > 0.0)
            .collect();
        let hi = values.iter().copied().fold(1.0, f64::max);
        let lo = values.iter().copied().fold(1.0, f64::min);
        let panel = ScorePanel {
            report,
            domains: &domains,
            log: hi / lo >= LOG_SPAN,
        };
        if panel.log {
            unlabelled += panel.draw(&upper, (lo / 2.0..hi * 2.0).log_scale(), lo / 2.0)?;
        } else {
            unlabelled += panel.draw(&upper, 0f64..hi * 1.25, 0.0)?;
        }
        unlabelled += draw_per_watt(&lower, report)?;
        root.present().map_err(plot_err)?;
    }
    Ok(Figure {
        name: "score",
        title: "Score per platform and device".into(),
        svg,
        provenance: provenance(report, unlabelled),
    })
}

/// The legend: the domains shown, overall, and the estimated marking where
/// one is drawn.
fn legend(report: &ScoreReport, domains: &[Domain], any_estimated: bool) -> Vec<LegendEntry> {
    let mut legend: Vec<LegendEntry> = domains
        .iter()
        .enumerate()
        .map(|(i, d)| LegendEntry {
            text: if *d == Domain::Micro && !report.include_micro {
                "micro (shown, not counted in overall)".into()
            } else {
                d.as_str().into()
            },
            color: color(i + 1),
            hollow: false,
        })
        .collect();
    legend.push(LegendEntry {
        text: "overall (geometric mean of the counted domains)".into(),
        color: color(0),
        hollow: false,
    });
    if any_estimated {
        legend.push(estimated_legend_entry());
    }
    legend
}

/// The lower panel: the device list with its numbers, and each device's
/// overall score per watt; the labels left out for want of room.
fn draw_per_watt<DB: DrawingBackend>(
    lower: &DrawingArea<DB, plotters::coord::Shift>,
    report: &ScoreReport,
) -> Result<usize, Error> {
    let n = report.subjects.len();
    let mut unlabelled = 0;
    let (labels_area, pw_area) = lower.split_horizontally(WIDTH / 3);
    for (g, s) in report.subjects.iter().enumerate() {
        labels_area
            .draw(&Text::new(
                fit_text(&format!("[{}] {}", g + 1, s.label), WIDTH / 3 - 20, 12),
                (10, 30 + 18 * g as i32),
                font(12),
            ))
            .map_err(plot_err)?;
    }
    let pw_max = report
        .subjects
        .iter()
        .filter_map(|s| s.overall_per_watt)
        .fold(0.0, f64::max);
    if pw_max > 0.0 {
        let mut chart = ChartBuilder::on(&pw_area)
            .caption("Overall score per watt (gross)", font(16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..n as f64, 0f64..pw_max * 1.25)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("score / W")
            .draw()
            .map_err(plot_err)?;
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        let mut pw_labels = LabelPlacer::new((xr.start - 40, yr.start - 30, xr.end + 40, yr.end));
        for (g, s) in report.subjects.iter().enumerate() {
            let Some(v) = s.overall_per_watt else {
                continue;
            };
            let est = s.overall_per_watt_estimated;
            let (x0, x1) = (g as f64 + 0.2, g as f64 + 0.8);
            if !est {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, 0.0), (x1, v)],
                        color(0).filled(),
                    )))
                    .map_err(plot_err)?;
            }
            chart
                .draw_series(bar(x0, x1, v, color(0), est))
                .map_err(plot_err)?;
            let label = if est {
                format!("{} EST.", format_value(v))
            } else {
                format_value(v)
            };
            let at = chart.backend_coord(&(g as f64 + 0.5, v));
            let half = (label.chars().count() as f64 * letter_width(12) / 2.0).ceil() as i32;
            if pw_labels.place_box((at.0 - half, at.1 - 16, at.0 + half, at.1 - 2)) {
                chart
                    .draw_series(std::iter::once(
                        EmptyElement::at((g as f64 + 0.5, v))
                            + Text::new(label, (0, -16), centered(12)),
                    ))
                    .map_err(plot_err)?;
            }
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((g as f64 + 0.5, 0.0))
                        + Text::new(format!("[{}]", g + 1), (0, 6), centered(13)),
                ))
                .map_err(plot_err)?;
        }
        unlabelled += pw_labels.left_out;
    } else {
        pw_area
            .draw(&Text::new(
                if report.include_estimated {
                    "no energy reading: no score per watt".to_string()
                } else {
                    "no measured energy: no score per watt (--include-estimated allows estimates, labelled)".to_string()
                },
                (10, 30),
                font(13),
            ))
            .map_err(plot_err)?;
    }
    Ok(unlabelled)
}

/// What the score figure shows and how it was computed.
fn provenance(report: &ScoreReport, unlabelled: usize) -> String {
    format!(
        "Scores against reference {}: per kernel, throughput over the reference's; geometric mean over sizes, weighted geometric mean per domain, geometric mean of the {} domains overall. Score per watt: each kernel's ratio over the gross average watts of its primary energy reading, {}; hetbench {}.{}",
        report.reference,
        if report.include_micro {
            "four"
        } else {
            "non-micro"
        },
        match (report.include_estimated, report.include_modeled) {
            (false, false) => "measured readings only; modeled results (FPGA emulation) not scored",
            (true, false) =>
                "estimated readings included and marked EST.; modeled results not scored",
            (false, true) => "modeled results included (devices marked [MODELED], readings EST.)",
            (true, true) =>
                "estimated and modeled readings included and marked EST., modeled devices [MODELED]",
        },
        crate::HARNESS_VERSION,
        unlabelled_note(unlabelled)
    )
}

/// The score panel: one group of bars per device (its domains, then
/// overall), each bar labelled with its value, the reference at 1.
struct ScorePanel<'a> {
    report: &'a ScoreReport,
    domains: &'a [Domain],
    log: bool,
}

impl ScorePanel<'_> {
    /// Draws on `area` with score axis `y`, bars rising from `base`.
    fn draw<DB, Y>(
        &self,
        area: &DrawingArea<DB, plotters::coord::Shift>,
        y: Y,
        base: f64,
    ) -> Result<usize, Error>
    where
        DB: DrawingBackend,
        Y: AsRangedCoord<Value = f64>,
        Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let report = self.report;
        let n = report.subjects.len();
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "Score against the reference (= 1), suite {}{}",
                    report.suite_version,
                    if self.log { ", log axis" } else { "" }
                ),
                font(16),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..n as f64, y)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc(if self.log { "score (log)" } else { "score" })
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, 1.0), (n as f64, 1.0)],
                BLACK.stroke_width(1),
            )))
            .map_err(plot_err)?;
        // Bars per group: the domains, then overall.
        let w = 0.8 / (self.domains.len() + 1) as f64;
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        let mut placer = LabelPlacer::new((xr.start, yr.start - 40, xr.end, yr.end));
        for (g, s) in report.subjects.iter().enumerate() {
            let mut bars: Vec<(f64, RGBColor)> = self
                .domains
                .iter()
                .enumerate()
                .filter_map(|(i, d)| {
                    s.domains
                        .iter()
                        .find(|x| x.domain == *d)
                        .map(|x| (x.score, color(i + 1)))
                })
                .collect();
            if let Some(o) = s.overall {
                bars.push((o, color(0)));
            }
            for (j, (v, c)) in bars.iter().enumerate() {
                let x0 = g as f64 + 0.1 + j as f64 * w;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, base), (x0 + w * 0.9, *v)],
                        c.filled(),
                    )))
                    .map_err(plot_err)?;
                // Every bar's value, written upwards, where it does not
                // meet a neighbour's (too narrow bars: the tables have it).
                let text = format_value(*v);
                let at = chart.backend_coord(&(x0 + w * 0.45, *v));
                let len = (text.chars().count() as f64 * letter_width(10)).ceil() as i32;
                if placer.place_box((at.0 - 6, at.1 - 4 - len, at.0 + 6, at.1 - 4)) {
                    chart
                        .draw_series(std::iter::once(
                            EmptyElement::at((x0 + w * 0.45, *v))
                                + Text::new(
                                    text,
                                    (-6, -4),
                                    font(10).transform(FontTransform::Rotate270),
                                ),
                        ))
                        .map_err(plot_err)?;
                }
            }
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((g as f64 + 0.5, base))
                        + Text::new(format!("[{}]", g + 1), (0, 6), centered(13)),
                ))
                .map_err(plot_err)?;
        }
        Ok(placer.left_out)
    }
}
