//! Plots for decision makers, drawn with `plotters` into SVG strings, one
//! file per chart type (criterion's layout).
//!
//! SVG only: the SVG backend writes text as `<text font-family="sans-serif">`
//! and needs no font on the machine that draws it (layout uses plotters'
//! built-in text metrics), so a report can be built on a bare compute node
//! and read anywhere. PNG would need a TrueType font at build and draw time
//! (plotters' `ttf` feature); a browser prints the SVG when a raster is wanted.
//!
//! Every figure comes with its provenance (which runs, which energy methods,
//! what the error bars are), and every figure that shows energy marks
//! estimated and modeled readings: their bars are outlined and hatched
//! instead of filled, their points hollow, with a legend entry saying so.

pub mod cost_front;
pub mod pareto;
pub mod perf_per_watt;
pub mod roofline;
pub mod score;
pub mod summary;
pub mod tornado;

use std::collections::BTreeSet;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::Error;
use crate::report::data::Dataset;

/// One drawn figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// File name stem, e.g. `perf-per-watt`.
    pub name: &'static str,
    pub title: String,
    /// The SVG document.
    pub svg: String,
    /// Where the figure's numbers come from, in words.
    pub provenance: String,
}

/// The legend text that marks estimated and modeled energy.
pub const ESTIMATED_LEGEND: &str =
    "outlined, hatched or hollow: ESTIMATED or MODELED power, not measured";

/// The legend row that explains the hollow or hatched marks.
pub(crate) fn estimated_legend_entry() -> LegendEntry {
    LegendEntry {
        text: ESTIMATED_LEGEND.into(),
        color: RGBColor(90, 90, 90),
        hollow: true,
    }
}

/// Colour-blind-safe colours (Okabe and Ito), one per subject.
pub const COLORS: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

/// The colour of the `i`th subject: the eight Okabe-Ito colours, then
/// hues a golden angle apart at three lightnesses, each kept only if it
/// stands apart from every colour before it, so that no two of a figure's
/// devices share a colour however many there are.
pub fn color(i: usize) -> RGBColor {
    if let Some(c) = COLORS.get(i) {
        return *c;
    }
    let mut palette: Vec<RGBColor> = COLORS.to_vec();
    let mut k = 0;
    while palette.len() <= i {
        let c = candidate(k);
        k += 1;
        // Past a few thousand tries any new colour will do.
        if k > 5000 || palette.iter().all(|p| distance(*p, c) >= MIN_DISTANCE) {
            palette.push(c);
        }
    }
    palette[i]
}

/// The least sum of channel differences between two palette colours.
const MIN_DISTANCE: i32 = 48;

fn distance(a: RGBColor, b: RGBColor) -> i32 {
    (a.0 as i32 - b.0 as i32).abs()
        + (a.1 as i32 - b.1 as i32).abs()
        + (a.2 as i32 - b.2 as i32).abs()
}

/// The `k`th colour tried after the eight.
fn candidate(k: usize) -> RGBColor {
    let hue = ((k / 3) as f64 * 137.507_764 + 20.0) % 360.0;
    hsl(hue, 0.75, [0.35, 0.5, 0.68][k % 3])
}

/// HSL (hue in degrees, saturation and lightness in 0..1) to RGB.
fn hsl(h: f64, s: f64, l: f64) -> RGBColor {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let hp = h / 60.0;
    let x = c * (1.0 - (hp % 2.0 - 1.0).abs());
    let (r, g, b) = match hp as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    let byte = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    RGBColor(byte(r), byte(g), byte(b))
}

pub(crate) fn plot_err<E: std::fmt::Display>(e: E) -> Error {
    Error::Plot(e.to_string())
}

pub(crate) fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", size).into_font())
}

pub(crate) fn centered(size: u32) -> TextStyle<'static> {
    font(size).pos(Pos::new(HPos::Center, VPos::Top))
}

/// A legend row: a swatch and its text; `hollow` draws the swatch outlined
/// and hatched, as estimated figures are.
pub(crate) struct LegendEntry {
    pub text: String,
    pub color: RGBColor,
    pub hollow: bool,
}

/// The widest a character of [`font`] at `size` pixels is taken to be
/// (sans-serif capitals and wide glyphs; most are narrower), so that a
/// text cut to `width / LETTER_WIDTH` characters fits `width` in any
/// browser's sans-serif.
pub(crate) fn letter_width(size: u32) -> f64 {
    0.62 * size as f64
}

/// `text` cut in the middle to fit `width_px` at font `size`.
pub(crate) fn fit_text(text: &str, width_px: u32, size: u32) -> String {
    let max = (width_px as f64 / letter_width(size)).floor().max(4.0) as usize;
    crate::report::table::cut_middle(text, max)
}

/// Places point and bar labels without overlap: each label takes the
/// first of its candidate positions whose box (estimated with
/// [`letter_width`]) meets no placed box and stays inside the bounds; a
/// label with no such position is left out and counted, and the figure's
/// provenance says so (the tables hold every figure).
pub(crate) struct LabelPlacer {
    bounds: (i32, i32, i32, i32),
    placed: Vec<(i32, i32, i32, i32)>,
    pub left_out: usize,
}

impl LabelPlacer {
    /// A placer for labels inside `(x0, y0, x1, y1)`, pixels.
    pub(crate) fn new(bounds: (i32, i32, i32, i32)) -> LabelPlacer {
        LabelPlacer {
            bounds,
            placed: Vec::new(),
            left_out: 0,
        }
    }

    /// Reserves a box that labels must not cover (a marker, a caption).
    pub(crate) fn reserve(&mut self, b: (i32, i32, i32, i32)) {
        self.placed.push(b);
    }

    /// Reserves box `b` (pixels) when it is inside the bounds and meets no
    /// placed box; counts it left out otherwise.
    pub(crate) fn place_box(&mut self, b: (i32, i32, i32, i32)) -> bool {
        let inside = b.0 >= self.bounds.0
            && b.1 >= self.bounds.1
            && b.2 <= self.bounds.2
            && b.3 <= self.bounds.3;
        let free = self
            .placed
            .iter()
            .all(|p| b.2 <= p.0 || p.2 <= b.0 || b.3 <= p.1 || p.3 <= b.1);
        if inside && free {
            self.placed.push(b);
        } else {
            self.left_out += 1;
        }
        inside && free
    }

    /// The first of `offsets` (from `at` to the text's top-left corner;
    /// a negative x offset of `i32::MIN` means "ending left of `at`")
    /// where `text` at font `size` fits, reserved; `None` when none does.
    pub(crate) fn place(
        &mut self,
        at: (i32, i32),
        text: &str,
        size: u32,
        offsets: &[(i32, i32)],
    ) -> Option<(i32, i32)> {
        let w = (text.chars().count() as f64 * letter_width(size)).ceil() as i32;
        let h = size as i32 + 2;
        let left_out = self.left_out;
        for &(dx, dy) in offsets {
            let dx = if dx == i32::MIN { -w - 9 } else { dx };
            if self.place_box((at.0 + dx, at.1 + dy, at.0 + dx + w, at.1 + dy + h)) {
                self.left_out = left_out;
                return Some((dx, dy));
            }
        }
        self.left_out = left_out + 1;
        None
    }
}

/// The provenance's sentence on labels left out where they would overlap.
pub(crate) fn unlabelled_note(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(
            " {n} label(s) left out where they would overlap another; the tables give every figure."
        )
    }
}

/// Draws a legend in `area` (pixel coordinates), one entry per line, each
/// text cut in the middle to the area's width (the entry's index, where
/// it has one, stays: the tables give the whole name).
pub(crate) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    entries: &[LegendEntry],
) -> Result<(), Error> {
    let text_w = area.dim_in_pixel().0.saturating_sub(36 + 8);
    for (i, e) in entries.iter().enumerate() {
        let y = 8 + 20 * i as i32;
        let rect = [(12, y), (28, y + 14)];
        if e.hollow {
            area.draw(&Rectangle::new(rect, e.color.stroke_width(2)))
                .map_err(plot_err)?;
            for k in 0..3 {
                let x = 12 + 5 * k;
                area.draw(&PathElement::new(
                    vec![(x, y + 14), (x + 5, y)],
                    e.color.stroke_width(1),
                ))
                .map_err(plot_err)?;
            }
        } else {
            area.draw(&Rectangle::new(rect, e.color.filled()))
                .map_err(plot_err)?;
        }
        area.draw(&Text::new(fit_text(&e.text, text_w, 13), (36, y), font(13)))
            .map_err(plot_err)?;
    }
    Ok(())
}

/// The legend's height for `n` entries, pixels.
pub(crate) fn legend_height(n: usize) -> u32 {
    16 + 20 * n as u32
}

/// A bar from `(x0, 0)` to `(x1, v)`: filled when measured, outlined and
/// hatched when estimated or modeled.
pub(crate) fn bar(
    x0: f64,
    x1: f64,
    v: f64,
    c: RGBColor,
    estimated: bool,
) -> Vec<PathElement<(f64, f64)>> {
    let outline = vec![(x0, 0.0), (x0, v), (x1, v), (x1, 0.0), (x0, 0.0)];
    let mut out = vec![PathElement::new(outline, c.stroke_width(2))];
    if estimated {
        // Slanted hatch lines across the bar.
        for k in 0..10 {
            let y0 = v * k as f64 / 10.0;
            let y1 = (v * (k + 1) as f64 / 10.0).min(v);
            out.push(PathElement::new(
                vec![(x0, y0), (x1, y1)],
                c.stroke_width(1),
            ));
        }
    }
    out
}

/// A point's marks: a ring around it when it is on a Pareto front, then
/// the point itself, hollow when its energy is estimated or modeled.
pub(crate) fn point_marks(
    at: (f64, f64),
    c: RGBColor,
    hollow: bool,
    on_front: bool,
) -> Vec<Circle<(f64, f64), i32>> {
    let mut marks = Vec::new();
    if on_front {
        marks.push(Circle::new(at, 11, RGBColor(120, 120, 120).stroke_width(2)));
    }
    let style = if hollow {
        c.stroke_width(2)
    } else {
        c.filled()
    };
    marks.push(Circle::new(at, 6, style));
    marks
}

/// Vertical error bar with caps from `lo` to `hi` at `x`.
pub(crate) fn error_bar(x: f64, half_w: f64, lo: f64, hi: f64) -> Vec<PathElement<(f64, f64)>> {
    let s = BLACK.stroke_width(1);
    vec![
        PathElement::new(vec![(x, lo), (x, hi)], s),
        PathElement::new(vec![(x - half_w, lo), (x + half_w, lo)], s),
        PathElement::new(vec![(x - half_w, hi), (x + half_w, hi)], s),
    ]
}

/// `N results from M runs (run ids), suite S` for a figure's provenance.
pub(crate) fn data_provenance(data: &Dataset, used: usize) -> String {
    let runs = data.run_ids();
    let hosts: BTreeSet<&str> = data.subjects.keys().map(|s| s.hostname.as_str()).collect();
    format!(
        "{used} verified result(s) of {} device(s) on {} host(s) ({}), newest per kernel/size/precision, from run(s) {}; suite {}; hetbench {}",
        data.subjects.len(),
        hosts.len(),
        hosts.into_iter().collect::<Vec<_>>().join(", "),
        runs.into_iter().collect::<Vec<_>>().join(", "),
        data.suite_versions()
            .into_iter()
            .collect::<Vec<_>>()
            .join(", "),
        crate::HARNESS_VERSION
    )
}

/// An SVG saying there is nothing to draw, and why.
pub(crate) fn empty_svg(width: u32, message: &str) -> Result<String, Error> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, 60)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        root.draw(&Text::new(message.to_string(), (10, 20), font(14)))
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_do_not_repeat_after_eight_devices() {
        let all: Vec<(u8, u8, u8)> = (0..64)
            .map(|i| {
                let c = color(i);
                (c.0, c.1, c.2)
            })
            .collect();
        let distinct: BTreeSet<&(u8, u8, u8)> = all.iter().collect();
        assert_eq!(distinct.len(), 64);
        assert_eq!(color(8), candidate(0));
        // Pure red at full saturation and half lightness.
        assert_eq!(hsl(0.0, 1.0, 0.5), RGBColor(255, 0, 0));
        assert_eq!(hsl(120.0, 1.0, 0.5), RGBColor(0, 255, 0));
        // No two of the first 48 closer than MIN_DISTANCE.
        for i in 8..48 {
            for j in 0..i {
                assert!(
                    distance(color(i), color(j)) >= MIN_DISTANCE,
                    "colours {j} and {i}: {:?} {:?}",
                    color(j),
                    color(i)
                );
            }
        }
    }
}
