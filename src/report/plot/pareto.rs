//! Throughput against power, one panel per kernel, size and precision, with
//! the Pareto front marked: the devices that no other device beats on both
//! throughput and power. The front is drawn through measured points only
//! unless estimated ones are allowed (`--include-estimated`) or modeled ones
//! (`--include-modeled`; without it the dataset holds none), since ranking
//! an estimate against a measurement is what the honesty rules forbid.

use plotters::prelude::*;

use super::{
    Figure, LegendEntry, color, data_provenance, draw_legend, empty_svg, estimated_legend_entry,
    font, legend_height, plot_err, point_marks,
};
use crate::error::Error;
use crate::report::data::{Dataset, Key};
use crate::report::stats::pareto_front;

const WIDTH: u32 = 1000;
const PANEL_H: u32 = 340;

/// One device's point: (average watts, throughput, estimated?).
#[derive(Debug, Clone, PartialEq)]
pub struct PowerPoint {
    pub subject: usize,
    pub watts: f64,
    pub throughput: f64,
    pub estimated: bool,
    /// The reading is modeled (a subset of `estimated`, which marks every
    /// reading that is not measured).
    pub modeled: bool,
    pub on_front: bool,
}

/// The points of one key, with the front decided; estimated and modeled
/// points may be on it when `include_estimated`.
pub fn points(data: &Dataset, key: &Key, include_estimated: bool) -> Vec<PowerPoint> {
    points_with(data, key, include_estimated, include_estimated)
}

/// The points of one key; estimated points may be on the front when
/// `include_estimated`, modeled ones when `include_modeled`.
pub fn points_with(
    data: &Dataset,
    key: &Key,
    include_estimated: bool,
    include_modeled: bool,
) -> Vec<PowerPoint> {
    let mut pts: Vec<PowerPoint> = data
        .subjects
        .values()
        .enumerate()
        .filter_map(|(i, m)| {
            let r = m.get(key)?;
            let e = r.primary_energy().filter(|e| e.avg_w > 0.0)?;
            Some(PowerPoint {
                subject: i,
                watts: e.avg_w,
                throughput: r.throughput?,
                estimated: !e.method.is_measured(),
                modeled: e.method == crate::power::Method::Modeled,
                on_front: false,
            })
        })
        .collect();
    let ranked: Vec<usize> = (0..pts.len())
        .filter(|&i| {
            let p = &pts[i];
            !p.estimated || (p.modeled && include_modeled) || (!p.modeled && include_estimated)
        })
        .collect();
    let xy: Vec<(f64, f64)> = ranked
        .iter()
        .map(|&i| (pts[i].watts, pts[i].throughput))
        .collect();
    for j in pareto_front(&xy) {
        pts[ranked[j]].on_front = true;
    }
    pts
}

pub fn draw(
    data: &Dataset,
    include_estimated: bool,
    include_modeled: bool,
) -> Result<Figure, Error> {
    let keys: Vec<Key> = data
        .keys()
        .into_iter()
        .filter(|k| !points_with(data, k, include_estimated, include_modeled).is_empty())
        .collect();
    let title = "Throughput against power, with the Pareto front".to_string();
    if keys.is_empty() {
        return Ok(Figure {
            name: "power-throughput",
            title,
            svg: empty_svg(
                WIDTH,
                "no result carries an energy reading: nothing to plot",
            )?,
            provenance: data_provenance(data, 0),
        });
    }
    let all: Vec<Vec<PowerPoint>> = keys
        .iter()
        .map(|k| points_with(data, k, include_estimated, include_modeled))
        .collect();
    let any_estimated = all.iter().flatten().any(|p| p.estimated);
    let legend = legend(data, include_estimated, include_modeled, any_estimated);
    let lh = legend_height(legend.len());
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, lh + PANEL_H * keys.len() as u32))
            .into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (top, rest) = root.split_vertically(lh);
        draw_legend(&top, &legend)?;
        let panels = rest.split_evenly((keys.len(), 1));
        for ((panel, key), pts) in panels.iter().zip(&keys).zip(&all) {
            draw_panel(panel, data, key, pts)?;
        }
        root.present().map_err(plot_err)?;
    }
    let used = all.iter().map(Vec::len).sum();
    Ok(Figure {
        name: "power-throughput",
        title,
        svg,
        provenance: format!(
            "{}. Power is the gross average watts of each result's primary energy reading over its timed window; throughput is work over the median time. The Pareto front joins the points no other point beats on both axes{}.",
            data_provenance(data, used),
            match (include_estimated, include_modeled) {
                (false, false) =>
                    "; only measured points can be on it (hollow points marked EST. are estimates)",
                (true, false) => ", estimated points included",
                (false, true) => ", modeled points (FPGA emulation) included",
                (true, true) => ", estimated and modeled points included",
            }
        ),
    })
}

/// The legend: one entry per device, the front, and the estimated marking
/// where one is drawn.
fn legend(
    data: &Dataset,
    include_estimated: bool,
    include_modeled: bool,
    any_estimated: bool,
) -> Vec<LegendEntry> {
    let mut legend: Vec<LegendEntry> = data
        .subjects
        .keys()
        .enumerate()
        .map(|(i, s)| LegendEntry {
            text: s.label(),
            color: color(i),
            hollow: false,
        })
        .collect();
    legend.push(LegendEntry {
        text: format!(
            "grey line and large rings: Pareto front ({})",
            match (include_estimated, include_modeled) {
                (false, false) => "measured points only",
                (true, false) => "measured and estimated points",
                (false, true) => "measured and modeled points",
                (true, true) => "measured, estimated and modeled points",
            }
        ),
        color: RGBColor(120, 120, 120),
        hollow: false,
    });
    if any_estimated {
        legend.push(estimated_legend_entry());
    }
    legend
}

/// One kernel's panel: every point, the front joined by a grey line.
fn draw_panel<DB: DrawingBackend>(
    panel: &DrawingArea<DB, plotters::coord::Shift>,
    data: &Dataset,
    key: &Key,
    pts: &[PowerPoint],
) -> Result<(), Error> {
    let unit = data
        .subjects
        .values()
        .find_map(|m| m.get(key).map(|r| r.throughput_unit.clone()))
        .unwrap_or_default();
    let xmax = pts.iter().map(|p| p.watts).fold(0.0, f64::max) * 1.2;
    let ymax = pts.iter().map(|p| p.throughput).fold(0.0, f64::max) * 1.2;
    let mut chart = ChartBuilder::on(panel)
        .caption(format!("{} {} {}", key.0, key.1, key.2), font(16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..xmax.max(1e-9), 0f64..ymax.max(1e-9))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("average power, W (gross)")
        .y_desc(unit)
        .draw()
        .map_err(plot_err)?;
    let mut front: Vec<&PowerPoint> = pts.iter().filter(|p| p.on_front).collect();
    front.sort_by(|a, b| a.watts.total_cmp(&b.watts));
    if front.len() > 1 {
        chart
            .draw_series(std::iter::once(PathElement::new(
                front
                    .iter()
                    .map(|p| (p.watts, p.throughput))
                    .collect::<Vec<_>>(),
                RGBColor(120, 120, 120).stroke_width(3),
            )))
            .map_err(plot_err)?;
    }
    for p in pts {
        let c = color(p.subject);
        let at = (p.watts, p.throughput);
        chart
            .draw_series(point_marks(at, c, p.estimated, p.on_front))
            .map_err(plot_err)?;
        if p.estimated {
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at(at) + Text::new("EST.", (9, -6), font(11)),
                ))
                .map_err(plot_err)?;
        }
    }
    Ok(())
}
