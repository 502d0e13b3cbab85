//! The tornado plot of `hetbench cost`'s sensitivity table: for the
//! cheapest device of one ranking, how far its EUR (left) and kgCO2e
//! (right) per unit of work move when each input is moved by the stated
//! fraction down and up, inputs sorted by how far they move the figure.

use plotters::prelude::*;

use super::{Figure, LegendEntry, centered, color, draw_legend, font, legend_height, plot_err};
use crate::error::Error;
use crate::report::cost::{CostReport, Ranking, SensitivityRow};

const WIDTH: u32 = 1000;
const ROW_H: u32 = 28;

/// The tornado of the first ranking that has a sensitivity table, or
/// `None` when none has.
pub fn draw(report: &CostReport) -> Result<Option<Figure>, Error> {
    let Some(ranking) = report.rankings.iter().find(|r| !r.sensitivity.is_empty()) else {
        return Ok(None);
    };
    let f = report.sensitivity_fraction;
    let legend = [
        LegendEntry {
            text: format!("input x(1 - {f})"),
            color: color(0),
            hollow: false,
        },
        LegendEntry {
            text: format!("input x(1 + {f})"),
            color: color(1),
            hollow: false,
        },
    ];
    let lh = legend_height(legend.len());
    let n = ranking.sensitivity.len();
    let height = lh + 90 + ROW_H * n as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (top, rest) = root.split_vertically(lh);
        draw_legend(&top, &legend)?;
        let (left, right) = rest.split_horizontally(WIDTH / 2);
        panel(&left, ranking, "EUR per unit of work", |s| s.eur_change)?;
        panel(&right, ranking, "kgCO2e per unit of work", |s| s.kg_change)?;
        root.present().map_err(plot_err)?;
    }
    Ok(Some(Figure {
        name: "cost-sensitivity",
        title: format!(
            "Sensitivity of {} ({}, {})",
            ranking.sensitivity_of, ranking.group, ranking.figure
        ),
        svg,
        provenance: format!(
            "hetbench cost: each input of the economics file moved by -/+{f} on its own, the others held; bars are the relative change of the cheapest device's figure. {}",
            report.intervals
        ),
    }))
}

/// One side of the tornado: inputs down the y axis, largest swing first.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    ranking: &Ranking,
    title: &str,
    change: impl Fn(&SensitivityRow) -> (f64, f64),
) -> Result<(), Error> {
    let mut rows: Vec<(&str, (f64, f64))> = ranking
        .sensitivity
        .iter()
        .map(|s| (s.input, change(s)))
        .filter(|(_, (lo, hi))| lo.is_finite() && hi.is_finite())
        .collect();
    let swing = |c: &(f64, f64)| c.0.abs().max(c.1.abs());
    rows.sort_by(|a, b| swing(&b.1).total_cmp(&swing(&a.1)));
    let reach = rows.iter().map(|r| swing(&r.1)).fold(0.01, f64::max) * 1.9 * 100.0;
    let n = rows.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, font(15))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(150)
        .build_cartesian_2d(-reach..reach, 0f64..n as f64)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_x_mesh()
        .y_labels(0)
        .x_desc("change, %")
        .draw()
        .map_err(plot_err)?;
    for (i, (input, (lo, hi))) in rows.iter().enumerate() {
        // Largest swing at the top.
        let y = (n - 1 - i) as f64;
        for (j, v) in [*lo, *hi].into_iter().enumerate() {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y + 0.2), (v * 100.0, y + 0.8)],
                    color(j).filled(),
                )))
                .map_err(plot_err)?;
        }
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((-reach, y + 0.5))
                    + Text::new(input.to_string(), (-145, -7), font(12)),
            ))
            .map_err(plot_err)?;
        let label = format!("{:+.1}% / {:+.1}%", lo * 100.0, hi * 100.0);
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((reach * 0.78, y + 0.5)) + Text::new(label, (0, -7), centered(11)),
            ))
            .map_err(plot_err)?;
    }
    Ok(())
}
