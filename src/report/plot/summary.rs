//! The summary figure, first in the report: each device's overall score per
//! watt against its overall score, both with their 95% intervals, on log
//! axes (both are ratios to the reference), and the Pareto front: the
//! devices that no other beats on both speed and work per joule.
//!
//! Like the summary's rankings, a front joins devices of one energy scope
//! only (a `gpu-board` figure leaves out the host a `cpu-package` figure
//! is), and a CPU behind a GPU API (lavapipe, PoCL) is not drawn as
//! separate hardware. Estimated and modeled figures are drawn hollow and
//! marked, and are there only when `score` let them in.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::{
    Figure, LegendEntry, color, draw_legend, empty_svg, estimated_legend_entry, font,
    legend_height, plot_err, point_marks,
};
use crate::error::Error;
use crate::report::score::ScoreReport;
use crate::report::stats::pareto_front;
use crate::report::summary::cpu_behind_api;

const WIDTH: u32 = 1000;
const PANEL_H: u32 = 480;

/// One device's point.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryPoint {
    /// Its index in the score's subjects (the `[n]` of the score plot).
    pub subject: usize,
    pub score: f64,
    pub score_ci95: Option<(f64, f64)>,
    pub per_watt: f64,
    pub per_watt_ci95: Option<(f64, f64)>,
    pub scope: String,
    pub estimated: bool,
    pub on_front: bool,
}

/// The points of the score's devices with an overall score and score per
/// watt, the front decided per energy scope.
pub fn points(report: &ScoreReport) -> Vec<SummaryPoint> {
    let mut pts: Vec<SummaryPoint> = report
        .subjects
        .iter()
        .enumerate()
        .filter(|(_, s)| !cpu_behind_api(&s.subject))
        .filter_map(|(i, s)| {
            Some(SummaryPoint {
                subject: i,
                score: s.overall?,
                score_ci95: s.overall_ci95,
                per_watt: s.overall_per_watt?,
                per_watt_ci95: s.overall_per_watt_ci95,
                scope: s.overall_per_watt_scope.clone().unwrap_or_default(),
                estimated: s.overall_per_watt_estimated,
                on_front: false,
            })
        })
        .collect();
    let mut by_scope: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, p) in pts.iter().enumerate() {
        by_scope.entry(p.scope.clone()).or_default().push(i);
    }
    for idx in by_scope.values() {
        // Higher is better on both axes: the front of (-score, per watt).
        let xy: Vec<(f64, f64)> = idx
            .iter()
            .map(|&i| (-pts[i].score, pts[i].per_watt))
            .collect();
        for j in pareto_front(&xy) {
            pts[idx[j]].on_front = true;
        }
    }
    pts
}

pub fn draw(report: &ScoreReport) -> Result<Figure, Error> {
    let pts = points(report);
    let title = "Summary: work per joule against speed (overall score), with 95% intervals and the Pareto front".to_string();
    let provenance = format!(
        "Overall score and overall score per watt of `hetbench score` against reference {}, with their 95% intervals; one Pareto front per energy scope (like with like); CPUs behind a GPU API (lavapipe, PoCL) not drawn as separate hardware; hetbench {}.",
        report.reference,
        crate::HARNESS_VERSION
    );
    if pts.is_empty() {
        return Ok(Figure {
            name: "summary",
            title,
            svg: empty_svg(
                WIDTH,
                "no device has both an overall score and an overall score per watt (--allow-partial, --include-estimated)",
            )?,
            provenance,
        });
    }
    let legend = legend(report, &pts);
    let lh = legend_height(legend.len());
    let (x0, x1) = span(pts.iter().map(|p| (p.score, p.score_ci95)));
    let (y0, y1) = span(pts.iter().map(|p| (p.per_watt, p.per_watt_ci95)));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, lh + PANEL_H)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (top, panel) = root.split_vertically(lh);
        draw_legend(&top, &legend)?;
        let mut chart = ChartBuilder::on(&panel)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("overall score (log; reference = 1)")
            .y_desc("overall score per watt (log)")
            // Four significant digits, not the binary float's 17.
            .x_label_formatter(&|v| crate::report::table::format_value(*v))
            .y_label_formatter(&|v| crate::report::table::format_value(*v))
            .draw()
            .map_err(plot_err)?;
        let grey = RGBColor(120, 120, 120);
        let mut fronts: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
        for p in pts.iter().filter(|p| p.on_front) {
            fronts
                .entry(p.scope.as_str())
                .or_default()
                .push((p.score, p.per_watt));
        }
        for front in fronts.values_mut() {
            front.sort_by(|a, b| a.0.total_cmp(&b.0));
            if front.len() > 1 {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        front.clone(),
                        grey.stroke_width(3),
                    )))
                    .map_err(plot_err)?;
            }
        }
        for p in &pts {
            let c = color(p.subject);
            let at = (p.score, p.per_watt);
            let s = BLACK.stroke_width(1);
            if let Some((l, h)) = p.score_ci95 {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(l, p.per_watt), (h, p.per_watt)],
                        s,
                    )))
                    .map_err(plot_err)?;
            }
            if let Some((l, h)) = p.per_watt_ci95 {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(p.score, l), (p.score, h)],
                        s,
                    )))
                    .map_err(plot_err)?;
            }
            chart
                .draw_series(point_marks(at, c, p.estimated, p.on_front))
                .map_err(plot_err)?;
            let label = if p.estimated {
                format!("[{}] EST.", p.subject + 1)
            } else {
                format!("[{}]", p.subject + 1)
            };
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at(at) + Text::new(label, (10, 4), font(12)),
                ))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(Figure {
        name: "summary",
        title,
        svg,
        provenance,
    })
}

/// The legend: each point's device, scope and whether it is on the front,
/// then the estimated marking where one is drawn.
fn legend(report: &ScoreReport, pts: &[SummaryPoint]) -> Vec<LegendEntry> {
    let mut legend: Vec<LegendEntry> = pts
        .iter()
        .map(|p| LegendEntry {
            text: format!(
                "[{}] {} ({}{})",
                p.subject + 1,
                report.subjects[p.subject].label,
                p.scope,
                if p.on_front { ", on the front" } else { "" }
            ),
            color: color(p.subject),
            hollow: p.estimated,
        })
        .collect();
    if pts.iter().any(|p| p.estimated) {
        legend.push(estimated_legend_entry());
    }
    legend
}

/// The axis range that holds every value and interval, with room around.
fn span(values: impl Iterator<Item = (f64, Option<(f64, f64)>)>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, 0f64);
    for (v, ci) in values {
        let (l, h) = ci.unwrap_or((v, v));
        lo = lo.min(l.min(v));
        hi = hi.max(h.max(v));
    }
    (lo / 1.5, hi * 1.5)
}
