//! Perf/W per kernel across platforms and devices: one panel per kernel,
//! size and precision (their units differ), one bar per device, with the
//! 95% interval of the median time (order statistics) carried to perf/W as error bars
//! (the power's own uncertainty is not known and not included).

use std::collections::BTreeSet;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{
    Figure, LabelPlacer, LegendEntry, bar, centered, color, data_provenance, draw_legend,
    empty_svg, error_bar, estimated_legend_entry, fit_text, font, legend_height, letter_width,
    plot_err, unlabelled_note,
};
use crate::error::Error;
use crate::report::data::{Dataset, Key, Subject};
use crate::store::ResultRecord;

const WIDTH: u32 = 1000;
const PANEL_H: u32 = 300;

/// One bar: perf/W with its interval and whether it is estimated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerfPerWatt {
    pub value: f64,
    pub low: f64,
    pub high: f64,
    pub estimated: bool,
}

/// A result's gross perf/W from its primary reading, with the 95% interval
/// of the median time carried over (perf/W scales as 1 / time; the power is
/// taken as measured). Without a median interval the bar has no whisker.
pub fn perf_per_watt_of(r: &ResultRecord) -> Option<PerfPerWatt> {
    let e = r.primary_energy()?;
    let v = e.perf_per_w?;
    let (low, high) = match (r.throughput, r.throughput_interval()) {
        (Some(t), Some(ci)) if t > 0.0 => ((v * ci.low / t).min(v), (v * ci.high / t).max(v)),
        _ => (v, v),
    };
    Some(PerfPerWatt {
        value: v,
        low,
        high,
        estimated: !e.method.is_measured(),
    })
}

pub fn draw(data: &Dataset) -> Result<Figure, Error> {
    let subjects: Vec<_> = data.subjects.keys().cloned().collect();
    let keys: Vec<Key> = data
        .keys()
        .into_iter()
        .filter(|k| {
            data.subjects
                .values()
                .any(|m| m.get(k).and_then(perf_per_watt_of).is_some())
        })
        .collect();
    let title = "Performance per watt per kernel".to_string();
    if keys.is_empty() {
        return Ok(Figure {
            name: "perf-per-watt",
            title,
            svg: empty_svg(
                WIDTH,
                "no result carries an energy reading: nothing to plot",
            )?,
            provenance: data_provenance(data, 0),
        });
    }
    let mut legend: Vec<LegendEntry> = subjects
        .iter()
        .enumerate()
        .map(|(i, s)| LegendEntry {
            text: format!("[{}] {}", i + 1, s.label()),
            color: color(i),
            hollow: false,
        })
        .collect();
    let mut any_estimated = false;
    let mut methods = BTreeSet::new();
    let mut used = 0;
    for k in &keys {
        for m in data.subjects.values() {
            if let Some(r) = m.get(k)
                && let (Some(p), Some(e)) = (perf_per_watt_of(r), r.primary_energy())
            {
                any_estimated |= p.estimated;
                methods.insert(format!("{} ({})", e.method.as_str(), e.scope.as_str()));
                used += 1;
            }
        }
    }
    if any_estimated {
        legend.push(estimated_legend_entry());
    }
    let lh = legend_height(legend.len());
    let height = lh + PANEL_H * keys.len() as u32;
    let mut svg = String::new();
    let mut unlabelled = 0;
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (top, rest) = root.split_vertically(lh);
        draw_legend(&top, &legend)?;
        let panels = rest.split_evenly((keys.len(), 1));
        for (panel, key) in panels.iter().zip(&keys) {
            unlabelled += draw_panel(panel, data, &subjects, key)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(Figure {
        name: "perf-per-watt",
        title,
        svg,
        provenance: format!(
            "{}. Perf/W is throughput (work over the median time) per gross average watt of each result's primary energy reading; energy by {}. Error bars: the 95% interval of the median time (order statistics), carried to perf/W (power uncertainty not included).{}{}",
            data_provenance(data, used),
            methods.into_iter().collect::<Vec<_>>().join(", "),
            if any_estimated {
                " Outlined, hatched bars marked EST. use ESTIMATED or MODELED power."
            } else {
                ""
            },
            unlabelled_note(unlabelled)
        ),
    })
}

/// One kernel's panel: a bar per device with its interval and value; the
/// labels left out for want of room.
fn draw_panel<DB: DrawingBackend>(
    panel: &DrawingArea<DB, plotters::coord::Shift>,
    data: &Dataset,
    subjects: &[Subject],
    key: &Key,
) -> Result<usize, Error> {
    let n = subjects.len() as f64;
    let bars: Vec<(usize, &ResultRecord, PerfPerWatt)> = subjects
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let r = data.subjects[s].get(key)?;
            Some((i, r, perf_per_watt_of(r)?))
        })
        .collect();
    let unit = bars
        .first()
        .and_then(|(_, r, _)| r.primary_energy())
        .map(|e| e.perf_per_w_unit.clone())
        .unwrap_or_default();
    let ymax = bars.iter().map(|b| b.2.high).fold(0.0, f64::max) * 1.2;
    let ymax = if ymax > 0.0 { ymax } else { 1.0 };
    let mut chart = ChartBuilder::on(panel)
        .caption(
            fit_text(
                &format!("{} {} {}: {} (gross power)", key.0, key.1, key.2, unit),
                WIDTH - 20,
                16,
            ),
            font(16),
        )
        .margin(10)
        .x_label_area_size(24)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n, 0f64..ymax)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(unit.clone())
        .draw()
        .map_err(plot_err)?;
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let mut placer = LabelPlacer::new((xr.start - 40, yr.start - 30, xr.end + 40, yr.end));
    for (i, _r, p) in &bars {
        draw_bar(&mut chart, &mut placer, *i, p)?;
    }
    Ok(placer.left_out)
}

/// Device `i`'s bar (hatched and marked EST. when estimated), its error
/// bar, its value where there is room, and its legend number.
fn draw_bar<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    placer: &mut LabelPlacer,
    i: usize,
    p: &PerfPerWatt,
) -> Result<(), Error> {
    let (x0, x1) = (i as f64 + 0.15, i as f64 + 0.85);
    let c = color(i);
    if !p.estimated {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x0, 0.0), (x1, p.value)],
                c.filled(),
            )))
            .map_err(plot_err)?;
    }
    chart
        .draw_series(bar(x0, x1, p.value, c, p.estimated))
        .map_err(plot_err)?;
    chart
        .draw_series(error_bar(i as f64 + 0.5, 0.1, p.low, p.high))
        .map_err(plot_err)?;
    let label = if p.estimated {
        format!("{} {}", crate::report::table::format_value(p.value), "EST.")
    } else {
        crate::report::table::format_value(p.value)
    };
    // The value above its bar where it meets no neighbour's.
    let at = chart.backend_coord(&(i as f64 + 0.5, p.high));
    let half = (label.chars().count() as f64 * letter_width(12) / 2.0).ceil() as i32;
    if placer.place_box((at.0 - half, at.1 - 16, at.0 + half, at.1 - 2)) {
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((i as f64 + 0.5, p.high))
                    + Text::new(label, (0, -16), centered(12)),
            ))
            .map_err(plot_err)?;
    }
    // Each bar named by its legend number under the axis.
    chart
        .draw_series(std::iter::once(
            EmptyElement::at((i as f64 + 0.5, 0.0))
                + Text::new(format!("[{}]", i + 1), (0, 6), centered(13)),
        ))
        .map_err(plot_err)?;
    Ok(())
}
