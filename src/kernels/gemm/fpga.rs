//! `gemm` on the FPGA emulation: hls4ml's dense layer with B stationary on
//! chip or, when B's banks do not fit at the DSP-bound reuse factor, B in
//! column tiles from off-chip memory (the faster design wins); tolerance
//! n(2Me + e^2) + e per entry (hard) plus a statistical term for Freivalds'
//! row checks.

use crate::error::Result;
use crate::fpga::card::Card;
use crate::fpga::fixed::Format;
use crate::fpga::model::{self, DenseShape, Design, Usage};
use crate::fpga::scalar::Scalar;
use crate::kernel::fpga::{EmuFn, FpgaKernel, f32_rel, fixed_instance, max_abs, quantize, to_f32, unsupported_format};
use crate::kernel::{Buffer, Buffers, Inputs, Tolerance};

pub(super) struct GemmFpga;

fn gemm_emulate<S: Scalar>(inputs: &Inputs) -> Result<Buffers> {
    let n = inputs.size.usize("n", super::MAX_N)?;
    let a = quantize::<S>(inputs.buffers.f32("a")?);
    let b = quantize::<S>(inputs.buffers.f32("b")?);
    let c = super::reference_generic(n, &a, &b);
    let mut out = Buffers::default();
    out.push("c", Buffer::F32(to_f32(&c)));
    Ok(out)
}

impl FpgaKernel for GemmFpga {
    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers> {
        let f = fixed_instance!(
            fmt,
            gemm_emulate,
            EmuFn,
            [(16, 6), (18, 8), (24, 12), (32, 16)]
        )
        .ok_or_else(|| unsupported_format(&fmt))?;
        f(inputs)
    }

    /// The faster of two designs (by the model's latency on `card`):
    /// [`gemm_stationary`] (B on chip whole) and, when B is too large for
    /// the multipliers' banks at the DSP-bound reuse factor, [`gemm_tiled`]
    /// (B in column tiles from off-chip memory). Stationary B needs one
    /// bank per multiplier, R words deep: beyond the LUTRAM depth the banks
    /// go to block RAM, whose count (not capacity) runs out first, and the
    /// reuse factor climbs far above what the DSPs need; tiling keeps R at
    /// the DSP bound and pays with A re-streamed once per tile.
    fn design(&self, card: &Card, fmt: &Format, inputs: &Inputs) -> Result<Design> {
        let n = inputs.size.usize("n", super::MAX_N)? as u64;
        let stationary = gemm_stationary(card, fmt, n);
        let tiled = gemm_tiled(card, fmt, n)?;
        let latency = |d: &Design| model::evaluate(card, fmt, d).latency_s;
        match (stationary, tiled) {
            (Ok(s), Some(mut t)) => {
                if latency(&t) < latency(&s) {
                    t.notes.push(format!(
                        "tiled: {:.3e} s against {:.3e} s with B stationary at R = {}",
                        latency(&t),
                        latency(&s),
                        s.reuse_factor
                    ));
                    Ok(t)
                } else {
                    Ok(s)
                }
            }
            (Err(_), Some(t)) => Ok(t),
            (s, _) => s,
        }
    }

    /// Inputs are quantised with error e <= `quant_error` each; products
    /// and the accumulator are exact; the output cast adds e. For an entry,
    /// |err| <= sum_k (|a_k| e + |b_k| e + e^2) + e <= n (2 M e + e^2) + e
    /// with M the largest |input|: that is `abs`, a hard bound. Freivalds'
    /// row checks sum n entry errors with random signs; `rel` = 16 e / n
    /// (x the row scale of about n^2/4) adds 4 n e for them.
    fn tolerance(&self, inputs: &Inputs, fmt: &Format) -> Result<(Tolerance, String)> {
        let n = inputs.size.usize("n", super::MAX_N)? as f64;
        let e = fmt.quant_error();
        let m = max_abs(fmt, inputs.buffers.f32("a")?).max(max_abs(fmt, inputs.buffers.f32("b")?));
        let abs = n * (2.0 * m * e + e * e) + e;
        let rel = 16.0 * e * m.max(1.0) / n + f32_rel(fmt);
        Ok((
            Tolerance { rel, abs },
            format!(
                "abs = n(2Me + e^2) + e, rel = 16e/n with n = {n}, e = {e:e} (quantisation error of {fmt}), M = {m}"
            ),
        ))
    }
}

/// `gemm` as hls4ml's dense layer: B (n x n) stationary on chip, loaded
/// once; the n rows of A stream through at II = R.
fn gemm_stationary(card: &Card, fmt: &Format, n: u64) -> Result<Design> {
    let shape = DenseShape {
        n_in: n,
        n_out: n,
        rows: n,
    };
    let (stage, usage, r, mut notes) = model::dense(card, fmt, "rows", shape, card.reuse_factor)?;
    let load = model::load_stage(card, fmt, "load B", n * n);
    let bytes = model::storage_bytes(fmt);
    notes.push("B is stationary on chip: A and C stream once, B loads once".into());
    Ok(Design {
        stages: vec![load, stage],
        usage,
        offchip_bytes: 3.0 * (n * n) as f64 * bytes,
        host_bytes: 3.0 * (n * n) as f64 * 4.0,
        reuse_requested: card.reuse_factor,
        reuse_factor: r,
        notes,
    })
}

/// `gemm` with B tiled from off-chip memory, `None` when B fits in one
/// tile. A tile is n x t columns of B, t as large as P multipliers (the
/// usable DSPs over the DSPs per multiply) hold in LUTRAM banks
/// ([`model::LUTRAM_DEPTH`] words each): t = floor(P * 64 / n), evened out
/// over ceil(n / t) tiles. Per tile: load it ([`model::load_stage`]), then
/// stream all n rows of A through a dense engine of n x t at its own reuse
/// factor. Off chip: B once, A once per tile, C once.
fn gemm_tiled(card: &Card, fmt: &Format, n: u64) -> Result<Option<Design>> {
    let avail = Usage::available(card);
    let multipliers = (avail.dsp / card.dsp_rule.blocks(fmt.width, fmt.width)).floor() as u64;
    let t0 = (multipliers * model::LUTRAM_DEPTH / n.max(1)).clamp(1, n.max(1));
    let tiles = n.div_ceil(t0);
    if tiles <= 1 {
        return Ok(None);
    }
    let t = n.div_ceil(tiles);
    let shape = DenseShape {
        n_in: n,
        n_out: t,
        rows: n,
    };
    let (mut rows, usage, r, mut notes) =
        model::dense(card, fmt, "rows of A, per tile", shape, card.reuse_factor)?;
    rows.repeat = tiles;
    let mut load = model::load_stage(card, fmt, "load a tile of B", n * t);
    load.repeat = tiles;
    notes.push(format!(
        "B streamed from off-chip memory in {tiles} tiles of {n} x {t}: per tile, load it, then stream the {n} rows of A (A read {tiles} times)"
    ));
    let nn = (n * n) as f64;
    Ok(Some(Design {
        stages: vec![load, rows],
        usage,
        offchip_bytes: (2 + tiles) as f64 * nn * model::storage_bytes(fmt),
        host_bytes: 3.0 * nn * 4.0,
        reuse_requested: card.reuse_factor,
        reuse_factor: r,
        notes,
    }))
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpga::card;
    use crate::kernels::testing::inputs;

    /// gemm n = 1024 on the U250, by hand. Stationary B: R = 114 (DSP
    /// bound) puts the banks in block RAM, one BRAM36 per two banks: 4600
    /// over 2016, then 2300 (R 228), then 1150 at R = 456; rows take 1023 *
    /// 456 + 465 cycles. Tiled: P = 9216 multipliers, t = floor(9216 * 64
    /// / 1024) = 576, 2 tiles of 512 columns; R = ceil(524288 / 9216) = 57
    /// in LUTRAM (9199 multipliers). Per tile: load 524288 values at 54 per
    /// cycle: 9709 + 64 = 9773 cycles; rows 1023 * 57 + (57 + 3 + 4 + 2) =
    /// 58377; two tiles 136300 cycles = 454.3 us (off chip: B, C and A
    /// twice, 16 MiB at 65.45 GB/s = 256 us): compute bound, faster than
    /// stationary (about 486,000 cycles).
    #[test]
    fn gemm_tiles_b_when_it_does_not_fit_by_hand() {
        let c = &card::load(None).unwrap()[0];
        let fmt = c.fixed_format().unwrap();
        let stationary = gemm_stationary(c, &fmt, 1024).unwrap();
        assert_eq!(stationary.reuse_factor, 456);
        let st = model::evaluate(c, &fmt, &stationary);
        assert_eq!(st.compute_cycles, 19_418 + 64 + 1023 * 456 + 465);
        let d = GemmFpga
            .design(c, &fmt, &inputs("gemm", &[("n", 1024)]))
            .unwrap();
        let ev = model::evaluate(c, &fmt, &d);
        assert_eq!(d.reuse_factor, 57);
        assert_eq!(d.stages[0].repeat, 2);
        assert_eq!(d.stages[1].trips, 1024);
        assert_eq!(ev.usage.dsp, 9199.0);
        assert_eq!(ev.compute_cycles, 136_300);
        assert_eq!(ev.bound, "compute");
        assert!((ev.latency_s - 136_300.0 / 300e6).abs() < 1e-15);
        assert_eq!(d.offchip_bytes, 4.0 * 1024.0 * 1024.0 * 4.0);
        assert!(
            d.notes.iter().any(|n| n.contains("2 tiles of 1024 x 512")),
            "{:?}",
            d.notes
        );
        // n = 512 fits stationary at the DSP-bound R = 29: no tiling.
        let small = GemmFpga
            .design(c, &fmt, &inputs("gemm", &[("n", 512)]))
            .unwrap();
        assert_eq!((small.reuse_factor, small.stages[1].repeat), (29, 1));
    }
}
