//! `cluster` on the FPGA emulation: raster-scan connected-component
//! labelling in bands (one cell per cycle per band, an equivalence table
//! per band, the bands joined at their boundaries, a second pass that
//! relabels); exact (tolerance 0): in `ap_fixed<36,18>` every f32 energy
//! and threshold that can decide a comparison is exact, and the labels are
//! integer logic.

use crate::error::{Error, Result};
use crate::fpga::card::Card;
use crate::fpga::fixed::{Format, o};
use crate::fpga::model::{self, Design, Stage, Usage};
use crate::fpga::scalar::Scalar;
use crate::kernel::fpga::{EmuFn, FpgaKernel, fixed_instance, quantize, unsupported_format};
use crate::kernel::{Buffer, Buffers, Inputs, Tolerance};

use super::Shape;

pub(super) struct ClusterFpga;

/// `ap_fixed<36,18>`: 17 bits of MeV above the sign (energies to 131 GeV,
/// beyond which AP_SAT keeps every decision) and 18 fraction bits, so that
/// every f32 of magnitude 2^5 = 32 MeV or more is exact.
const CLUSTER_WIDTH: u32 = 36;
const CLUSTER_INTEGER: i32 = 18;

fn cluster_emulate<S: Scalar>(inputs: &Inputs) -> Result<Buffers> {
    let s = Shape::from_size(&inputs.size)?;
    let b = &inputs.buffers;
    let energy = quantize::<S>(b.f32("energy")?);
    let [tc, ts] = super::thresholds(b.f32("sigma")?, s.thresholds);
    let labels = super::reference_generic(&energy, &quantize::<S>(&tc), &quantize::<S>(&ts), s.nphi);
    let mut out = Buffers::default();
    out.push("labels", Buffer::U32(labels));
    Ok(out)
}

/// Bytes per cell in the labelling pass: E and its two thresholds in, the
/// provisional label (u32) out.
fn pass_bytes(fmt: &Format) -> f64 {
    3.0 * model::storage_bytes(fmt) + 4.0
}

/// One band's scanner: |E| (a W-bit negate) and two W-bit comparators; the
/// 2 x 2 neighbourhood window of L-bit labels (left, and three from the row
/// above) with its minimum and union logic (six L-bit comparators and
/// selects, uncalibrated); the previous row's labels in block RAM; the
/// equivalence table, one L-bit entry per provisional label, at most one
/// per 2 x 2 block of the band (8-connected components are at least that
/// far apart).
fn band_unit(card: &Card, fmt: &Format, nphi: u64, rows: u64, label_bits: u32) -> Usage {
    let (w, l) = (fmt.width as f64, label_bits as f64);
    let avail = Usage::available(card);
    let row = model::buffer_blocks(card, nphi as f64 * l, 1, avail.bram);
    let table = model::buffer_blocks(card, table_entries(nphi, rows) as f64 * l, 1, avail.bram);
    Usage {
        lut: 3.0 * w + 6.0 * l,
        ff: 3.0 * w + 8.0 * l,
        bram: row.bram + table.bram,
        uram: row.uram + table.uram,
        ..Usage::default()
    }
}

fn table_entries(nphi: u64, rows: u64) -> u64 {
    rows.div_ceil(2) * nphi.div_ceil(2)
}

impl FpgaKernel for ClusterFpga {
    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers> {
        let f = fixed_instance!(fmt, cluster_emulate, EmuFn, [(36, 18)])
            .ok_or_else(|| unsupported_format(&fmt))?;
        f(inputs)
    }

    /// `ap_fixed<36,18,Q,AP_SAT>` with the card's Q: energies and noise
    /// are MeV up to about 10^5, outside the card's range (+-128 on the
    /// shipped cards), and a comparison is exact only where its threshold
    /// is on the format's grid (see `tolerance`). Saturation, not wrap: an
    /// energy beyond the range still exceeds every threshold.
    fn format(&self, card: Format) -> (Format, Option<String>) {
        let f = Format {
            width: CLUSTER_WIDTH,
            integer: CLUSTER_INTEGER,
            quant: card.quant,
            overflow: o::SAT,
        };
        let why = format!(
            "cluster runs in {f}: its energies (MeV, up to about 1e5) exceed {card}, and 18 fraction bits make every threshold of 32 MeV or more, and every f32 energy above it, exact"
        );
        (f, Some(why))
    }

    /// Bands of rows, each a raster-scan labeller at one cell per cycle
    /// (single-pass connected-component labelling with an equivalence
    /// table, as in Bailey and Johnston's FPGA design; that merges resolve
    /// at II = 1 through the table's forwarding is a model assumption), as
    /// many bands as the bandwidth feeds cells (E and two thresholds in, a
    /// provisional label out) and the resources allow. Stages: label (each
    /// row of a band plus 2 cycles for the phi wrap, which joins the first
    /// and last columns); join the bands across their boundary rows (nphi
    /// cells each, one at a time); resolve each band's table (its entries,
    /// a worst-case bound); relabel (read the provisional labels back, write
    /// the final ones). Off chip: 3 values in and 12 bytes of labels per
    /// cell.
    fn design(&self, card: &Card, fmt: &Format, inputs: &Inputs) -> Result<Design> {
        let s = Shape::from_size(&inputs.size)?;
        let (neta, nphi, cells) = (s.neta as u64, s.nphi as u64, s.cells() as u64);
        let label_bits = u64::BITS - cells.leading_zeros();
        let bw = card.memory.bandwidth_gbs.value * 1e9 * card.memory.efficiency.value;
        let clock = card.clock_mhz.value * 1e6;
        let fed = ((bw / (clock * pass_bytes(fmt))).floor() as u64).clamp(1, neta);
        let fits = |bands: u64| {
            let rows = neta.div_ceil(bands);
            let per = band_unit(card, fmt, nphi, rows, label_bits);
            model::lanes_that_fit(card, &per) >= bands
        };
        let bands = (1..=fed).rev().find(|&b| fits(b)).ok_or_else(|| Error::Unsupported {
            backend: "fpga-emu".into(),
            message: format!("cluster: one band of {neta} x {nphi} cells does not fit {}", card.name),
        })?;
        let rows = neta.div_ceil(bands);
        let per = band_unit(card, fmt, nphi, rows, label_bits);
        let n = bands as f64;
        let usage = Usage {
            lut: model::INTERFACE_LUT + n * per.lut,
            ff: model::INTERFACE_FF + n * per.ff,
            dsp: 0.0,
            bram: n * per.bram,
            uram: n * per.uram,
        };
        let mem = model::MEMORY_LATENCY_CYCLES;
        let stages = vec![
            Stage::new("label (raster scan per band)", rows * (nphi + 2), 1, mem + 6, bands),
            Stage::new("join bands", (bands - 1) * nphi, 1, 4, 1),
            Stage::new("resolve tables", table_entries(nphi, rows), 1, 2, bands),
            Stage::new("relabel", cells.div_ceil(bands), 1, mem + 2, bands),
        ];
        let notes = vec![
            format!(
                "{bands} bands of {rows} rows, fed {fed} cells per cycle at {} bytes each; {label_bits}-bit labels; no DSPs (comparisons and label logic in LUTs)",
                pass_bytes(fmt)
            ),
            "II = 1 per band: merges resolved through the equivalence table with forwarding (model assumption); table sizes and resolve times are worst-case bounds (one entry per 2 x 2 block)".into(),
        ];
        Ok(Design {
            stages,
            usage,
            offchip_bytes: cells as f64 * (3.0 * model::storage_bytes(fmt) + 12.0),
            host_bytes: cells as f64 * 12.0,
            reuse_requested: 1,
            reuse_factor: 1,
            notes,
        })
    }

    /// Exact where it must be: the labels are integer logic, and each
    /// decision |E| > T compares an f32 E with an f32 threshold T. With F
    /// fraction bits, every f32 of magnitude 2^(23 - F) or more is on the
    /// grid; if T >= 2^(23 - F) then |E| > T means |E| is on the grid too
    /// (exact, or saturated above T), and |E| <= T stays <= T after the
    /// monotone quantisation, so every decision is the f32 one. Quantised:
    /// energies below 2^(23 - F) MeV, which decide nothing. The tolerance is
    /// 0 (labels exactly equal); the derivation says whether the data meet
    /// the condition (a threshold below 2^(23 - F) or at the range's end
    /// could flip a decision, which the verification would then report).
    fn tolerance(&self, inputs: &Inputs, fmt: &Format) -> Result<(Tolerance, String)> {
        let s = Shape::from_size(&inputs.size)?;
        let [tc, ts] = super::thresholds(inputs.buffers.f32("sigma")?, s.thresholds);
        let lo = tc.iter().chain(&ts).fold(f64::INFINITY, |m, &t| m.min(t as f64));
        let hi = tc.iter().chain(&ts).fold(0.0f64, |m, &t| m.max(t as f64));
        let grid = (23.0 - fmt.frac() as f64).exp2();
        let holds = lo >= grid && hi < fmt.max_value();
        Ok((
            Tolerance { rel: 0.0, abs: 0.0 },
            format!(
                "exact: labels are integer logic; every decision |E| > T is the f32 one when each threshold T is in [2^(23 - F), MAX) = [{grid}, {}) MeV in {fmt}: here T is in [{lo}, {hi}] ({}); energies below {grid} MeV are quantised and decide nothing",
                fmt.max_value(),
                if holds { "holds" } else { "does NOT hold: decisions may flip" }
            ),
        ))
    }

    fn rel_error_of(&self) -> &'static str {
        "each cell's label (exact comparison)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpga::card;
    use crate::fpga::fixed::q;
    use crate::kernels::Registry;
    use crate::kernels::testing::inputs;

    type T = crate::fpga::ApFixed<36, 18, { q::RND_CONV }, { o::SAT }>;

    /// A row of 4 cells (one eta row, phi wraps), thresholds 100 (cell) and
    /// 200 (seed) MeV, by hand. Energies 100.00001, -250, 99.99999, 0.3:
    /// in f32 the first is 100.000008 (ulp 2^-17 at 64..128), on the grid of
    /// 2^-18, so it stays above 100 and takes part; -250 is a seed; the
    /// third is below 100 and its quantisation (to the nearest 2^-18) keeps
    /// it below; 0.3 is quantised (to 78643/2^18) and decides nothing. Cells
    /// 0 and 1 form one seeded cluster, label 0; cells 2 and 3 none.
    #[test]
    fn decisions_at_the_threshold_by_hand() {
        let e: Vec<T> = [100.00001f32, -250.0, 99.99999, 0.3]
            .iter()
            .map(|&x| T::from_f64(x as f64))
            .collect();
        assert_eq!(e[0].to_f64(), 100.00001f32 as f64);
        assert_eq!(e[3].raw(), 78643);
        let tc = vec![T::from_f64(100.0); 4];
        let ts = vec![T::from_f64(200.0); 4];
        let labels = super::super::reference_generic(&e, &tc, &ts, 4);
        assert_eq!(labels, vec![0, 0, super::super::NONE, super::super::NONE]);
        // With a coarser grid (10 fraction bits) 100.00001 rounds to 100
        // and drops out: why the kernel runs in 18 fraction bits.
        type C = crate::fpga::ApFixed<28, 18, { q::RND_CONV }, { o::SAT }>;
        assert_eq!(C::from_f64(100.00001f32 as f64).to_f64(), 100.0);
    }

    #[test]
    fn tiny_is_exact_on_every_card() {
        let reg = Registry::builtin().unwrap();
        let k = reg.get("cluster").unwrap();
        let x = inputs("cluster", &[]);
        for c in card::load(None).unwrap() {
            let (fmt, _) = ClusterFpga.format(c.fixed_format().unwrap());
            let mut out = ClusterFpga.emulate(&x, fmt).unwrap();
            let (tol, why) = ClusterFpga.tolerance(&x, &fmt).unwrap();
            assert!(why.contains("(holds)"), "{why}");
            let v = k.kernel.verify(&x, &out, tol).unwrap();
            assert!(v.passed && v.max_abs_error == 0.0, "{v:?}");
            let d = ClusterFpga.design(&c, &fmt, &x).unwrap();
            let ev = model::evaluate(&c, &fmt, &d);
            assert!(ev.usage.over(&ev.available).is_none());
            if let Some(Buffer::U32(l)) = out.get_mut("labels") {
                l[0] = l[0].wrapping_add(1);
            }
            assert!(!k.kernel.verify(&x, &out, tol).unwrap().passed);
        }
    }

    /// tiny (61 x 67 = 4087 cells) on the U250, by hand: 36-bit values
    /// take 8 bytes, 28 bytes per cell in the labelling pass: floor(65.45e9
    /// / 300e6 / 28) = 7 bands of ceil(61 / 7) = 9 rows. Label 9 x 69 =
    /// 621 trips, depth 70: 690 cycles; join 6 x 67 = 402 trips: 405;
    /// resolve 5 x 34 = 170 entries: 171; relabel ceil(4087 / 7) = 584
    /// trips, depth 66: 649. Each band: one BRAM36 for the row (67 x 12
    /// bits), one for the table (170 x 12 bits).
    #[test]
    fn tiny_on_the_u250_by_hand() {
        let c = &card::load(None).unwrap()[0];
        let (fmt, _) = ClusterFpga.format(c.fixed_format().unwrap());
        let d = ClusterFpga.design(c, &fmt, &inputs("cluster", &[])).unwrap();
        let cycles: Vec<u64> = d.stages.iter().map(Stage::cycles).collect();
        assert_eq!(cycles, vec![690, 405, 171, 649]);
        assert_eq!((d.stages[0].parallelism, d.usage.bram, d.usage.dsp), (7, 14.0, 0.0));
    }
}
