//! A roofline per device: each kernel's achieved FLOP/s against its
//! arithmetic intensity (FLOP per byte of its work model), under two
//! ceilings that are themselves measurements on that device, not vendor
//! figures: the bandwidth ceiling is the best `stream_triad` throughput
//! whose working set is at least four times the device's last-level cache
//! (the largest measured where the device does not report its cache), the
//! compute ceiling the best `fma_peak` throughput (the micro-kernel made for
//! it), or, on a device without one, the best FLOP/s any kernel reached.
//! Compute ceilings are per precision: f64 results stand under the f64
//! `fma_peak`, f32 ones under the f32 one (the bandwidth ceiling, in bytes,
//! is shared). A device whose
//! ceilings come from its own results says where it stands against what it
//! has shown it can do; the plot says so in its captions.

use plotters::prelude::*;

use super::{
    Figure, LabelPlacer, LegendEntry, color, data_provenance, draw_legend, fit_text, font,
    legend_height, plot_err, unlabelled_note,
};
use crate::error::Error;
use crate::kernel::Precision;
use crate::measure::CACHE_FACTOR;
use crate::report::data::{Dataset, Subject};
use crate::store::ResultRecord;

const WIDTH: u32 = 1000;
const PANEL_H: u32 = 380;

/// A kernel's point on the roofline.
#[derive(Debug, Clone, PartialEq)]
pub struct RoofPoint {
    pub label: String,
    /// FLOP per byte.
    pub intensity: f64,
    /// GFLOP/s achieved (work FLOP over the median time).
    pub gflops: f64,
}

/// One device's roofline.
#[derive(Debug, Clone, PartialEq)]
pub struct Roofline {
    /// GB/s from the best stream_triad result, if any.
    pub bandwidth_gbs: Option<f64>,
    /// The best GFLOP/s measured and the result that reached it.
    pub peak_gflops: f64,
    pub peak_from: String,
    pub points: Vec<RoofPoint>,
}

/// The bandwidth ceiling: the best `stream_triad` GB/s among the results
/// that measure memory, not cache: a working set (the triad's bytes, its
/// three arrays) at least `CACHE_FACTOR` times the device's last-level
/// cache; where the device reports no cache size, the largest working set
/// measured only.
pub fn bandwidth_ceiling<'a>(results: impl Iterator<Item = &'a ResultRecord>) -> Option<f64> {
    let triads: Vec<(f64, f64, Option<u64>)> = results
        .filter(|r| r.kernel == "stream_triad" && r.status == crate::store::Status::Ok)
        .filter_map(|r| {
            let w = r.work.as_ref()?;
            let t = r.timing.as_ref()?.summary.median;
            (w.bytes > 0.0 && t > 0.0).then_some((
                w.bytes,
                w.bytes / t / 1e9,
                r.last_level_cache_bytes,
            ))
        })
        .collect();
    let largest = triads.iter().map(|t| t.0).reduce(f64::max)?;
    triads
        .iter()
        .filter(|(bytes, _, cache)| match cache {
            Some(c) => *bytes >= CACHE_FACTOR * *c as f64,
            None => *bytes >= largest,
        })
        .map(|t| t.1)
        .reduce(f64::max)
}

fn gflops(r: &ResultRecord) -> Option<f64> {
    let w = r.work.as_ref()?;
    let t = r.timing.as_ref()?.summary.median;
    (w.flops > 0.0 && t > 0.0).then(|| w.flops / t / 1e9)
}

/// The rooflines of every device, one per precision its results with a
/// FLOP and byte work model have (f32 first).
pub fn rooflines(data: &Dataset) -> Vec<(&Subject, Precision, Roofline)> {
    let mut out = Vec::new();
    for (subject, results) in &data.subjects {
        let precisions: std::collections::BTreeSet<Precision> =
            results.values().map(|r| r.precision).collect();
        for p in precisions {
            if let Some(roof) = roofline(data, subject, p) {
                out.push((subject, p, roof));
            }
        }
    }
    out
}

/// The roofline of one device in `precision`, if any of its results in
/// that precision has FLOPs and bytes.
pub fn roofline(data: &Dataset, subject: &Subject, precision: Precision) -> Option<Roofline> {
    let all = data.subjects.get(subject)?;
    let results: Vec<&ResultRecord> = all.values().filter(|r| r.precision == precision).collect();
    let bandwidth_gbs = bandwidth_ceiling(all.values());
    let mut points = Vec::new();
    let fma_peak = results
        .iter()
        .filter(|r| r.kernel == "fma_peak")
        .filter_map(|r| gflops(r).map(|g| (g, format!("{} {}", r.kernel, r.size))))
        .reduce(|a, b| if b.0 > a.0 { b } else { a });
    let mut peak = (0.0, String::new());
    for r in results.iter().copied() {
        let (Some(g), Some(w)) = (gflops(r), r.work.as_ref()) else {
            continue;
        };
        if w.bytes <= 0.0 {
            continue;
        }
        let label = format!("{} {}", r.kernel, r.size);
        if g > peak.0 {
            peak = (g, label.clone());
        }
        points.push(RoofPoint {
            label,
            intensity: w.flops / w.bytes,
            gflops: g,
        });
    }
    if let Some(f) = fma_peak {
        peak = f;
    }
    (!points.is_empty()).then_some(Roofline {
        bandwidth_gbs,
        peak_gflops: peak.0,
        peak_from: peak.1,
        points,
    })
}

impl Roofline {
    /// The attainable GFLOP/s at `intensity` FLOP/byte: min(compute
    /// ceiling, bandwidth ceiling x intensity).
    pub fn bound(&self, intensity: f64) -> f64 {
        match self.bandwidth_gbs {
            Some(bw) => self.peak_gflops.min(bw * intensity),
            None => self.peak_gflops,
        }
    }
}

/// Each result's place under its device's measured roofline of its
/// precision, as table rows: device, kernel, size, precision, FLOP/byte,
/// GFLOP/s, GB/s, bound, fraction.
pub fn fractions(data: &Dataset) -> Vec<Vec<String>> {
    use crate::report::table::format_value;
    let mut rows = Vec::new();
    for (subject, precision, roof) in rooflines(data) {
        let Some(results) = data.subjects.get(subject) else {
            continue;
        };
        for r in results.values().filter(|r| r.precision == precision) {
            let (Some(w), Some(t)) = (r.work.as_ref(), r.timing.as_ref()) else {
                continue;
            };
            let secs = t.summary.median;
            if w.flops <= 0.0 || w.bytes <= 0.0 || secs <= 0.0 {
                continue;
            }
            let ai = w.flops / w.bytes;
            let achieved = w.flops / secs / 1e9;
            let bound = roof.bound(ai);
            let limit = match roof.bandwidth_gbs {
                Some(bw) if bw * ai < roof.peak_gflops => "memory",
                _ => "compute",
            };
            rows.push(vec![
                subject.label(),
                r.kernel.clone(),
                r.size.clone(),
                precision.to_string(),
                format_value(ai),
                format_value(achieved),
                format_value(w.bytes / secs / 1e9),
                format!("{} ({limit})", format_value(bound)),
                format!("{:.2}", achieved / bound),
            ]);
        }
    }
    rows
}

/// The ceilings each device's fractions are measured against, in words.
pub fn ceilings(data: &Dataset) -> Vec<String> {
    rooflines(data)
        .into_iter()
        .map(|(s, precision, roof)| {
            format!(
                "{} [{precision}]: bandwidth {}, compute {} GFLOP/s ({})",
                s.label(),
                roof.bandwidth_gbs
                    .map(|b| format!("{b:.1} GB/s (stream_triad)"))
                    .unwrap_or_else(|| "unknown (no stream_triad result beyond the caches)".into()),
                crate::report::table::format_value(roof.peak_gflops),
                if roof.peak_from.starts_with("fma_peak") {
                    format!("{}, measured peak", roof.peak_from)
                } else {
                    format!(
                        "best measured, {}; run fma_peak for the peak",
                        roof.peak_from
                    )
                }
            )
        })
        .collect()
}

pub fn draw(data: &Dataset) -> Result<Figure, Error> {
    let index: std::collections::BTreeMap<&Subject, usize> = data
        .subjects
        .keys()
        .enumerate()
        .map(|(i, s)| (s, i))
        .collect();
    let roofs: Vec<(usize, String, Roofline)> = rooflines(data)
        .into_iter()
        .map(|(s, p, r)| (index[s], format!("{} [{p}]", s.label()), r))
        .collect();
    let title = "Roofline per device (measured ceilings)".to_string();
    if roofs.is_empty() {
        return Ok(Figure {
            name: "roofline",
            title,
            svg: super::empty_svg(
                WIDTH,
                "no result has a FLOP and byte work model: no roofline",
            )?,
            provenance: data_provenance(data, 0),
        });
    }
    let legend = vec![
        LegendEntry {
            text: "roof: min(bandwidth ceiling x intensity, compute ceiling); both measured on the device, not vendor peaks".into(),
            color: RGBColor(60, 60, 60),
            hollow: false,
        },
    ];
    let lh = legend_height(legend.len());
    let mut svg = String::new();
    let mut notes = Vec::new();
    let mut unlabelled = 0;
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, lh + PANEL_H * roofs.len() as u32))
            .into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (top, rest) = root.split_vertically(lh);
        draw_legend(&top, &legend)?;
        let panels = rest.split_evenly((roofs.len(), 1));
        for (panel, (i, subject, roof)) in panels.iter().zip(&roofs) {
            let (note, left_out) = draw_panel(panel, color(*i), subject, roof)?;
            notes.push(note);
            unlabelled += left_out;
        }
        root.present().map_err(plot_err)?;
    }
    let used = roofs.iter().map(|r| r.2.points.len()).sum();
    Ok(Figure {
        name: "roofline",
        title,
        svg,
        provenance: format!(
            "{}. Points: work-model FLOP over the median time, against FLOP per byte of the work model. Ceilings are measured on each device, not vendor peaks: {}.{}",
            data_provenance(data, used),
            notes.join("; "),
            unlabelled_note(unlabelled)
        ),
    })
}

/// One device's panel: its roof, its points, and the ceilings' label; the
/// provenance note and the labels left out for want of room.
fn draw_panel<DB: DrawingBackend>(
    panel: &DrawingArea<DB, plotters::coord::Shift>,
    c: RGBColor,
    subject: &str,
    roof: &Roofline,
) -> Result<(String, usize), Error> {
    let Bounds {
        ridge,
        xmin,
        xmax,
        ymin,
        ymax,
    } = Bounds::of(roof);
    let bw_text = match roof.bandwidth_gbs {
        Some(bw) => format!(
            "bandwidth ceiling {:.1} GB/s (stream_triad beyond 4x cache, measured)",
            bw
        ),
        None => "no stream_triad result beyond the caches: no bandwidth ceiling".into(),
    };
    let compute_text = format!(
        "compute ceiling {:.1} GFLOP/s (best measured: {})",
        roof.peak_gflops, roof.peak_from
    );
    let note = format!("{subject}: {bw_text}; {compute_text}");
    let mut chart = ChartBuilder::on(panel)
        .caption(fit_text(subject, WIDTH - 20, 16), font(16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (xmin.max(1e-6)..xmax.max(1e-5)).log_scale(),
            (ymin.max(1e-6)..ymax.max(1e-5)).log_scale(),
        )
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("arithmetic intensity, FLOP/byte (work model)")
        .y_desc("GFLOP/s")
        .draw()
        .map_err(plot_err)?;
    // The roof.
    let roof_line = roof_line(roof, ridge, xmin, xmax);
    chart
        .draw_series(std::iter::once(PathElement::new(
            roof_line,
            RGBColor(60, 60, 60).stroke_width(2),
        )))
        .map_err(plot_err)?;
    // Labels inside the plotting area, never over a point or another label.
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let mut placer = LabelPlacer::new((xr.start, yr.start, xr.end, yr.end));
    let ceilings = fit_text(
        &format!("{compute_text}; {bw_text}"),
        (xr.end - xr.start - 8).max(0) as u32,
        12,
    );
    let at = chart.backend_coord(&(xmin, roof.peak_gflops));
    let ceiling_at = placer.place(at, &ceilings, 12, &[(4, -18), (4, 4)]);
    if let Some(offset) = ceiling_at {
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((xmin, roof.peak_gflops)) + Text::new(ceilings, offset, font(12)),
            ))
            .map_err(plot_err)?;
    }
    for p in &roof.points {
        let at = chart.backend_coord(&(p.intensity, p.gflops));
        placer.reserve((at.0 - 7, at.1 - 7, at.0 + 7, at.1 + 7));
    }
    for p in &roof.points {
        let at = chart.backend_coord(&(p.intensity, p.gflops));
        let offset = placer.place(
            at,
            &p.label,
            12,
            &[
                (9, 2),
                (i32::MIN, 2),
                (9, -16),
                (i32::MIN, -16),
                (-20, 9),
                (-20, -24),
            ],
        );
        let mark = EmptyElement::at((p.intensity, p.gflops)) + Circle::new((0, 0), 6, c.filled());
        match offset {
            Some(offset) => chart
                .draw_series(std::iter::once(
                    mark + Text::new(p.label.clone(), offset, font(12)),
                ))
                .map_err(plot_err)?,
            None => chart.draw_series(std::iter::once(mark)).map_err(plot_err)?,
        };
    }
    Ok((note, placer.left_out))
}

/// A panel's axis ranges: the points and the ridge with room around them.
struct Bounds {
    ridge: Option<f64>,
    xmin: f64,
    xmax: f64,
    ymin: f64,
    ymax: f64,
}

impl Bounds {
    fn of(roof: &Roofline) -> Bounds {
        let ridge = roof.bandwidth_gbs.map(|bw| roof.peak_gflops / bw);
        let xs = roof
            .points
            .iter()
            .map(|p| p.intensity)
            .chain(ridge)
            .collect::<Vec<_>>();
        let xmin = xs.iter().copied().fold(f64::INFINITY, f64::min) / 4.0;
        let xmax = xs.iter().copied().fold(0.0, f64::max) * 4.0;
        let ymin = roof
            .points
            .iter()
            .map(|p| p.gflops)
            .fold(f64::INFINITY, f64::min)
            .min(
                roof.bandwidth_gbs
                    .map(|bw| bw * xmin)
                    .unwrap_or(f64::INFINITY),
            )
            / 2.0;
        let ymax = roof.peak_gflops * 3.0;
        Bounds {
            ridge,
            xmin,
            xmax,
            ymin,
            ymax,
        }
    }
}

/// The roof's corners: the bandwidth slope up to the ridge, then the
/// compute ceiling; flat where there is no bandwidth ceiling.
fn roof_line(roof: &Roofline, ridge: Option<f64>, xmin: f64, xmax: f64) -> Vec<(f64, f64)> {
    let mut roof_line = Vec::new();
    match (roof.bandwidth_gbs, ridge) {
        (Some(bw), Some(ridge)) => {
            roof_line.push((xmin, bw * xmin));
            roof_line.push((ridge, roof.peak_gflops));
        }
        _ => roof_line.push((xmin, roof.peak_gflops)),
    }
    roof_line.push((xmax, roof.peak_gflops));
    roof_line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunFile;

    fn triads() -> Vec<ResultRecord> {
        let file: RunFile = serde_json::from_str(include_str!(
            "../../../results/reference/vm-epyc-zen5-2vcpu.json"
        ))
        .unwrap();
        file.results
            .into_iter()
            .filter(|r| r.kernel == "stream_triad")
            .collect()
    }

    /// The reference VM's triads: small f32 50 MB at 36.4 GB/s (in its
    /// L3), small f64 101 MB at 33.2, medium f32 403 MB at 32.3, medium
    /// f64 805 MB at 32.7.
    #[test]
    fn the_bandwidth_ceiling_comes_from_working_sets_beyond_the_cache() {
        let with_cache = |cache: Option<u64>, keep: &dyn Fn(&ResultRecord) -> bool| {
            let rs: Vec<ResultRecord> = triads()
                .into_iter()
                .filter(|r| keep(r))
                .map(|mut r| {
                    r.last_level_cache_bytes = cache;
                    r
                })
                .collect();
            bandwidth_ceiling(rs.iter())
        };
        let all = |_: &ResultRecord| true;
        let gbs = |v: Option<f64>| v.map(|v| (v * 10.0).round() / 10.0);
        // A 32 MiB cache: 4x is 134 MB, so only the medium sizes count.
        assert_eq!(gbs(with_cache(Some(32 << 20), &all)), Some(32.7));
        // A 480 MiB cache: no working set reaches 4x (2 GB): no ceiling.
        assert_eq!(with_cache(Some(480 << 20), &all), None);
        // No cache size: the largest working set only (medium f32 once
        // medium f64 is gone), never the cache-resident 36.4 GB/s.
        let no_medium_f64 =
            |r: &ResultRecord| !(r.size == "medium" && r.precision == Precision::F64);
        assert_eq!(gbs(with_cache(None, &no_medium_f64)), Some(32.3));
    }
}
