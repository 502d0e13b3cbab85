//! Throughput against cost and against carbon, per node, with the Pareto
//! front: what `hetbench plan` chooses among, drawn for a committee. Each
//! point is one candidate node of the plan (a CPU+GPU node once, each
//! domain on its best device), its mix-weighted score points per node
//! against its lifetime TCO (left) and its lifetime kgCO2e (right), both
//! per node, log axes. The front joins the nodes no other beats on both
//! (less cost or carbon, more throughput). Estimated energy is drawn hollow
//! and marked, and is there only with `--include-estimated`; modeled nodes
//! only with `--include-modeled`, marked MODELED.

use plotters::prelude::*;

use super::{
    Figure, LegendEntry, color, draw_legend, estimated_legend_entry, font, legend_height, plot_err,
    point_marks,
};
use crate::error::Error;
use crate::report::cost::CostReport;
use crate::report::node_mix::{self, Candidate};
use crate::report::score::DOMAINS;
use crate::report::stats::pareto_front;

const WIDTH: u32 = 1000;
const PANEL_H: u32 = 440;

/// The indices of `cands` on the front of (`x` less is better, throughput
/// more is better).
pub fn front(cands: &[Candidate], x: impl Fn(&Candidate) -> f64) -> Vec<usize> {
    let xy: Vec<(f64, f64)> = cands.iter().map(|c| (x(c), c.throughput)).collect();
    pareto_front(&xy)
}

/// The figure, or `None` when there are no candidate nodes (no per-domain
/// figures: the cost section says why).
pub fn draw(report: &CostReport) -> Result<Option<Figure>, Error> {
    let (cands, _) = node_mix::candidates(report, &report.weights, report.include_estimated)?;
    if cands.is_empty() {
        return Ok(None);
    }
    let weights = report
        .weights
        .iter()
        .filter(|(k, _)| DOMAINS.iter().any(|d| d.as_str() == k.as_str()))
        .map(|(k, w)| format!("{k}={w}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut legend: Vec<LegendEntry> = cands
        .iter()
        .enumerate()
        .map(|(i, c)| LegendEntry {
            text: format!(
                "[{}] {}{} ({})",
                i + 1,
                c.label,
                c.flag
                    .filter(|f| !c.label.contains(f))
                    .map(|f| format!(" [{f}]"))
                    .unwrap_or_default(),
                c.uses.join(", ")
            ),
            color: color(i),
            hollow: c.flag.is_some(),
        })
        .collect();
    if cands.iter().any(|c| c.flag.is_some()) {
        legend.push(estimated_legend_entry());
    }
    let lh = legend_height(legend.len());
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, lh + PANEL_H)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (top, rest) = root.split_vertically(lh);
        draw_legend(&top, &legend)?;
        let (left, right) = rest.split_horizontally(WIDTH / 2);
        panel(&left, &cands, "lifetime TCO per node, EUR (log)", |c| {
            c.tco_eur
        })?;
        panel(&right, &cands, "lifetime kgCO2e per node (log)", |c| {
            c.kgco2e
        })?;
        root.present().map_err(plot_err)?;
    }
    Ok(Some(Figure {
        name: "cost-front",
        title: "Throughput per node against its lifetime cost and carbon, with the Pareto front"
            .into(),
        svg,
        provenance: format!(
            "hetbench cost and plan over {}: one point per candidate node (each domain on the node's best device), mix-weighted score points per node (domain weights {weights}) against lifetime TCO and kgCO2e (embodied + operational) per node; points without intervals (the tables above give them); the line joins the nodes no other beats on both axes.",
            report.economics.path
        ),
    }))
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    cands: &[Candidate],
    x_desc: &str,
    x: impl Fn(&Candidate) -> f64 + Copy,
) -> Result<(), Error> {
    let span = |v: &mut dyn Iterator<Item = f64>| {
        let (lo, hi) = v.fold((f64::INFINITY, 0f64), |(l, h), x| (l.min(x), h.max(x)));
        (lo / 1.6, hi * 1.6)
    };
    let (x0, x1) = span(&mut cands.iter().map(x));
    let (y0, y1) = span(&mut cands.iter().map(|c| c.throughput));
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("score points per node (log)")
        .x_labels(5)
        .draw()
        .map_err(plot_err)?;
    let on_front = front(cands, x);
    let mut line: Vec<(f64, f64)> = on_front
        .iter()
        .map(|&i| (x(&cands[i]), cands[i].throughput))
        .collect();
    line.sort_by(|a, b| a.0.total_cmp(&b.0));
    if line.len() > 1 {
        chart
            .draw_series(std::iter::once(PathElement::new(
                line,
                RGBColor(120, 120, 120).stroke_width(3),
            )))
            .map_err(plot_err)?;
    }
    for (i, c) in cands.iter().enumerate() {
        let at = (x(c), c.throughput);
        chart
            .draw_series(point_marks(
                at,
                color(i),
                c.flag.is_some(),
                on_front.contains(&i),
            ))
            .map_err(plot_err)?;
        chart
            .draw_series(std::iter::once(
                EmptyElement::at(at) + Text::new(format!("[{}]", i + 1), (10, 4), font(12)),
            ))
            .map_err(plot_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(label: &str, t: f64, eur: f64, kg: f64) -> Candidate {
        Candidate {
            label: label.into(),
            uses: vec![],
            throughput: t,
            tco_eur: eur,
            kgco2e: kg,
            wall_kw: 1.0,
            rack_units: 1.0,
            flag: None,
        }
    }

    #[test]
    fn the_front_keeps_the_nodes_no_other_beats_on_both() {
        // b costs more than a for less work: off the front by cost; by
        // carbon it is the cleanest, so on that front.
        let c = [
            cand("a", 10.0, 1000.0, 500.0),
            cand("b", 8.0, 1500.0, 100.0),
            cand("c", 20.0, 3000.0, 900.0),
        ];
        let mut by_cost = front(&c, |c| c.tco_eur);
        by_cost.sort();
        assert_eq!(by_cost, vec![0, 2]);
        let mut by_kg = front(&c, |c| c.kgco2e);
        by_kg.sort();
        assert_eq!(by_kg, vec![0, 1, 2]);
    }
}
